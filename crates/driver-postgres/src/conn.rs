//! Opening a connection: TLS set-up by `sslmode`, and the `prefer` fallback to plain.

use std::error::Error as StdError;
use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::BufReader;
use std::pin::Pin;
use std::sync::Arc;

use std::time::{Duration, Instant};

use ferry_core::driver::url::Backend;
use ferry_core::driver::wire::{Heard, POSTGRES_SSL_REQUEST};
use ferry_core::{DriverError, DriverErrorKind};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::config::{Host, SslMode as PgSslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::error_text;
use crate::url::{SslMode, Target};

/// Open a connection to `target`, spawning its connection task on the current tokio runtime.
/// The whole of it (TCP, TLS, startup, authentication, the `prefer` fallback) is bounded by
/// the target's `connect_timeout`. A server that speaks another protocol, or accepts the
/// connection and then says nothing, fails sooner, naming what it saw
/// ([`ferry_core::driver::wire`]): when connecting fails without an answer from a PostgreSQL server,
/// or is still going after [`ferry_core::driver::wire::SNIFF_AFTER`], a second connection asks the server what it is.
pub(crate) async fn open(target: &Target) -> Result<Client, DriverError> {
    let started = Instant::now();
    ferry_core::driver::wire::open_naming_the_server(
        &crate::lease::TOKIO,
        Backend::Postgres,
        target.connect_timeout,
        open_unbounded(target),
        |e| e.sqlstate.is_some(),
        || sniff(target, started),
        |text| target.connect_error(text),
    )
    .await
}

/// How long the second connection waits for the TCP connection, for a greeting, and for the
/// answer to its `SSLRequest`.
const LISTEN: Duration = Duration::from_millis(1000);

/// What the first TCP host of `target` is ([`ferry_core::driver::wire`]); `None` when it cannot be
/// reached (a unix socket is not asked: only PostgreSQL makes those).
async fn sniff(target: &Target, started: Instant) -> Option<Heard> {
    let ports = target.config.get_ports();
    let (host, port) =
        target
            .config
            .get_hosts()
            .iter()
            .enumerate()
            .find_map(|(i, host)| match host {
                Host::Tcp(h) => Some((
                    h.clone(),
                    ports.get(i).or(ports.first()).copied().unwrap_or(5432),
                )),
                #[cfg(unix)]
                Host::Unix(_) => None,
            })?;
    let mut stream = tokio::time::timeout(LISTEN, TcpStream::connect((host.as_str(), port)))
        .await
        .ok()?
        .ok()?;
    let mut buf = [0u8; 256];
    match tokio::time::timeout(LISTEN, stream.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => return Some(Heard::Closed),
        Ok(Ok(n)) => return Some(Heard::from_greeting(&buf[..n])),
        Err(_) => {}
    }
    stream.write_all(&POSTGRES_SSL_REQUEST).await.ok()?;
    match tokio::time::timeout(LISTEN, stream.read(&mut buf)).await {
        Ok(Ok(n)) => Some(Heard::from_ssl_reply(&buf[..n])),
        Ok(Err(_)) => Some(Heard::Closed),
        Err(_) => Some(Heard::Silence(started.elapsed())),
    }
}

async fn open_unbounded(target: &Target) -> Result<Client, DriverError> {
    let mut config = target.config.clone();
    // PostgreSQL never offers TLS on a unix socket; libpq ignores sslmode there.
    if target.ssl_mode == SslMode::Disable || target.all_unix() {
        config.ssl_mode(PgSslMode::Disable);
        return open_plain(target, &config).await;
    }
    config.ssl_mode(if target.ssl_mode == SslMode::Prefer {
        PgSslMode::Prefer
    } else {
        PgSslMode::Require
    });
    let tls = MakeTls(MakeRustlsConnect::new(tls_config(target)?));
    match config.connect(tls).await {
        Ok((client, connection)) => {
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(client)
        }
        Err(e) if target.ssl_mode == SslMode::Prefer && is_tls_failure(&e) => {
            // `prefer`: the TLS attempt failed, try without.
            config.ssl_mode(PgSslMode::Disable);
            open_plain(target, &config).await
        }
        Err(e) => Err(connect_error(target, &e)),
    }
}

async fn open_plain(target: &Target, config: &Config) -> Result<Client, DriverError> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| connect_error(target, &e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A failed connection attempt to `target`, keeping the SQLSTATE and hint of a server's
/// refusal; a database that does not exist is [`DriverErrorKind::DatabaseMissing`]:
/// SQLSTATE `3D000` from PostgreSQL, or PgBouncer's relay of that refusal (`08P01` with
/// the server's message, or its own `no such database`).
fn connect_error(target: &Target, error: &tokio_postgres::Error) -> DriverError {
    let mut e = target.connect_error(&error_text(error));
    if let Some(db) = error.as_db_error() {
        e.sqlstate = Some(db.code().code().to_owned());
        e.hint = db.hint().map(str::to_owned);
        let message = db.message();
        let relayed = *db.code() == SqlState::PROTOCOL_VIOLATION
            && ((message.starts_with("database \"") && message.ends_with("\" does not exist"))
                || message.starts_with("no such database"));
        if *db.code() == SqlState::INVALID_CATALOG_NAME || relayed {
            e.kind = DriverErrorKind::DatabaseMissing;
        }
    }
    e
}

/// An error of the TLS layer: a host name rustls cannot use, or a failed handshake. The TLS
/// connector wraps its errors in it, so that `sslmode=prefer` recognises a TLS failure by
/// type in the error's source chain ([`is_tls_failure`]). Shows as the wrapped error.
#[derive(Debug)]
struct TlsFailure(Box<dyn StdError + Send + Sync>);

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for TlsFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// Whether `error` was caused by the TLS layer (a [`TlsFailure`] in its source chain).
fn is_tls_failure(error: &(dyn StdError + 'static)) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.is::<TlsFailure>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Wraps [`MakeRustlsConnect`] so that a unix-socket host (no host name; the server never
/// offers TLS there) does not fail before the server is even asked, and so that its errors
/// are [`TlsFailure`]s.
#[derive(Clone)]
struct MakeTls(MakeRustlsConnect);

impl<S> MakeTlsConnect<S> for MakeTls
where
    MakeRustlsConnect: MakeTlsConnect<S>,
    <MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect: TlsConnect<S> + 'static,
    <<MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect as TlsConnect<S>>::Future: Send + 'static,
    S: 'static,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = Tls<<MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect>;
    type Error = TlsFailure;

    fn make_tls_connect(&mut self, hostname: &str) -> Result<Self::TlsConnect, Self::Error> {
        let hostname = if hostname.is_empty() {
            "localhost"
        } else {
            hostname
        };
        self.0
            .make_tls_connect(hostname)
            .map(Tls)
            .map_err(|e| TlsFailure(e.into()))
    }
}

/// A TLS connector whose handshake errors are [`TlsFailure`]s.
struct Tls<T>(T);

impl<S, T> TlsConnect<S> for Tls<T>
where
    T: TlsConnect<S> + 'static,
    T::Future: Send + 'static,
    S: 'static,
{
    type Stream = T::Stream;
    type Error = TlsFailure;
    type Future = Pin<Box<dyn Future<Output = Result<T::Stream, TlsFailure>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let handshake = self.0.connect(stream);
        Box::pin(async move { handshake.await.map_err(|e| TlsFailure(e.into())) })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn root_store(target: &Target) -> Result<RootCertStore, DriverError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = &target.root_cert {
        let unreadable = |e: &dyn fmt::Display| {
            DriverError::new(
                DriverErrorKind::Config,
                format!("cannot read sslrootcert {}: {e}", path.display()),
            )
        };
        let file = File::open(path).map_err(|e| unreadable(&e))?;
        let mut reader = BufReader::new(file);
        for cert in rustls_pemfile::certs(&mut reader) {
            let cert = cert.map_err(|e| unreadable(&e))?;
            roots.add(cert).map_err(|e| unreadable(&e))?;
        }
        if roots.is_empty() {
            return Err(unreadable(&"no PEM certificate found"));
        }
    } else {
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if roots.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
    }
    Ok(roots)
}

/// Accepts any certificate (`sslmode=require` / `prefer`: encryption without authentication),
/// still checking the handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Verifies the chain but not the host name (`sslmode=verify-ca`).
#[derive(Debug)]
struct VerifyCa(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for VerifyCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name: a name error means the chain was fine.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn tls_config(target: &Target) -> Result<ClientConfig, DriverError> {
    let provider = provider();
    let tls_error = |e: &dyn fmt::Display| target.connect_error(&format!("TLS set-up: {e}"));
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(&e))?;
    let config = match target.ssl_mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth(),
        SslMode::VerifyCa => {
            let verifier = WebPkiServerVerifier::builder_with_provider(
                Arc::new(root_store(target)?),
                provider,
            )
            .build()
            .map_err(|e| tls_error(&e))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(VerifyCa(verifier)))
                .with_no_client_auth()
        }
        SslMode::VerifyFull => builder
            .with_root_certificates(root_store(target)?)
            .with_no_client_auth(),
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// The request code of an `SSLRequest` packet; a `StartupMessage` carries the protocol
    /// version (3.0) in its place.
    const SSL_REQUEST: u32 = 80_877_103;
    const PROTOCOL_3: u32 = 196_608;

    /// A fake server on 127.0.0.1: for every connection it reads the first packet's code,
    /// records it and, for an `SSLRequest`, answers `reply`, then hangs up. Returns the port
    /// and the codes seen.
    async fn fake_server(reply: &'static [u8]) -> (u16, Arc<Mutex<Vec<u32>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let codes = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut head = [0u8; 8];
                if socket.read_exact(&mut head).await.is_err() {
                    continue;
                }
                let code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
                codes.lock().unwrap().push(code);
                if code == SSL_REQUEST {
                    let _ = socket.write_all(reply).await;
                    // Let the client read the reply (and fail its handshake) before hanging up.
                    let mut rest = [0u8; 512];
                    let _ =
                        tokio::time::timeout(Duration::from_millis(500), socket.read(&mut rest))
                            .await;
                }
            }
        });
        (port, seen)
    }

    #[tokio::test]
    async fn prefer_retries_without_tls_only_after_a_tls_failure() {
        // (`open_unbounded`: `open` would also ask the fake server what it is.)
        // The server accepts TLS, then sends bytes that are no TLS record: the handshake
        // fails, and `prefer` tries again without TLS.
        let (port, seen) = fake_server(b"Snot a TLS server hello").await;
        let url = format!("postgres://u@127.0.0.1:{port}/db?sslmode=prefer");
        let err = open_unbounded(&Target::parse(&url).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Connect, "{err}");
        assert_eq!(*seen.lock().unwrap(), [SSL_REQUEST, PROTOCOL_3]);

        // `require` does not fall back.
        let (port, seen) = fake_server(b"Snot a TLS server hello").await;
        let url = format!("postgres://u@127.0.0.1:{port}/db?sslmode=require");
        let err = open_unbounded(&Target::parse(&url).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Connect, "{err}");
        assert!(err.message.contains("TLS"), "{err}");
        assert_eq!(*seen.lock().unwrap(), [SSL_REQUEST]);

        // A server hanging up before it answers is no TLS failure: no second attempt.
        let (port, seen) = fake_server(b"").await;
        let url = format!("postgres://u@127.0.0.1:{port}/db?sslmode=prefer");
        let err = open_unbounded(&Target::parse(&url).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Connect, "{err}");
        assert_eq!(*seen.lock().unwrap(), [SSL_REQUEST]);
    }

    #[test]
    fn tls_failures_are_found_in_the_source_chain() {
        #[derive(Debug)]
        struct Outer(TlsFailure);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("error performing TLS handshake")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, "corrupt message");
        let failure = Outer(TlsFailure(Box::new(io)));
        assert!(is_tls_failure(&failure));
        assert_eq!(failure.0.to_string(), "corrupt message");
        let plain = std::io::Error::other("TLS mentioned, but not a TLS failure");
        assert!(!is_tls_failure(&plain));
    }
}
