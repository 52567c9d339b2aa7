//! Connection URLs, TLS set-up and connection errors.

use std::fmt::Write as _;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ferry_core::{redact_url, DriverError, DriverErrorKind};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::{Host, SslMode as PgSslMode};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How long a connection attempt may take when the URL sets no `connect_timeout`.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The `sslmode` of a URL, as libpq understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            // `allow` means "plain first, TLS if the server insists"; PostgreSQL servers never
            // insist, so it behaves like `prefer` without the attempt. Treat it as `prefer`.
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// A parsed connection URL.
pub(crate) struct ConnectOptions {
    pub(crate) config: Config,
    pub(crate) ssl_mode: SslMode,
    pub(crate) root_cert: Option<PathBuf>,
    /// `host:port` (or socket path) list, for messages.
    pub(crate) target: String,
    /// The database name, for messages.
    pub(crate) database: String,
}

fn config_error(url: &str, reason: impl std::fmt::Display) -> DriverError {
    DriverError::new(
        DriverErrorKind::Config,
        format!(
            "invalid PostgreSQL URL `{}`: {}",
            redact_url(url),
            one_line(&reason.to_string())
        ),
    )
}

/// Decode `%XX` escapes (and leave anything malformed as it is).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse a `postgres://` / `postgresql://` URL. `sslmode` and `sslrootcert` are taken out of
/// the query string (tokio-postgres does not know `verify-ca`, `verify-full` or root
/// certificates) and handled here.
pub(crate) fn parse_url(url: &str) -> Result<ConnectOptions, DriverError> {
    let mut ssl_mode = SslMode::Prefer;
    let mut root_cert = None;
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut kept = Vec::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match percent_decode(key).as_str() {
            "sslmode" => {
                let value = percent_decode(value);
                ssl_mode = SslMode::parse(&value).ok_or_else(|| {
                    config_error(
                        url,
                        format!(
                            "unknown sslmode `{value}` (use disable, prefer, require, verify-ca or verify-full)"
                        ),
                    )
                })?;
            }
            "sslrootcert" => root_cert = Some(percent_decode(value)),
            _ => kept.push(pair),
        }
    }
    let mut stripped = base.to_owned();
    if !kept.is_empty() {
        stripped.push('?');
        stripped.push_str(&kept.join("&"));
    }
    let mut config = Config::from_str(&stripped).map_err(|e| config_error(url, error_text(&e)))?;

    if config.get_hosts().is_empty() {
        // libpq's default: the local socket directory, else localhost.
        #[cfg(unix)]
        {
            if Path::new("/var/run/postgresql").is_dir() {
                config.host_path("/var/run/postgresql");
            } else {
                config.host("localhost");
            }
        }
        #[cfg(not(unix))]
        config.host("localhost");
    }
    if config.get_user().is_none() {
        let user = std::env::var("PGUSER")
            .or_else(|_| std::env::var("USER"))
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "postgres".to_owned());
        config.user(user);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("ferry");
    }

    // `sslrootcert=system` means the system store, as in libpq 16.
    let root_cert = match root_cert {
        Some(path) if path == "system" => None,
        Some(path) => {
            // libpq: with a root certificate given, `require` verifies the chain.
            if ssl_mode == SslMode::Require {
                ssl_mode = SslMode::VerifyCa;
            }
            Some(PathBuf::from(path))
        }
        None => None,
    };

    let ports = config.get_ports();
    let port_of = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
    let target = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| match host {
            Host::Tcp(h) if h.contains(':') => format!("[{h}]:{}", port_of(i)),
            Host::Tcp(h) => format!("{h}:{}", port_of(i)),
            #[cfg(unix)]
            Host::Unix(dir) => format!("{}/.s.PGSQL.{}", dir.display(), port_of(i)),
        })
        .collect::<Vec<_>>()
        .join(",");
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("")
        .to_owned();
    Ok(ConnectOptions {
        config,
        ssl_mode,
        root_cert,
        target,
        database,
    })
}

/// Flatten text to one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of a tokio-postgres error with its causes (tokio-postgres' `Display` shows only
/// the kind, e.g. "error connecting to server").
pub(crate) fn error_text(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = db.message().to_owned();
        if let Some(detail) = db.detail() {
            let _ = write!(text, " ({detail})");
        }
        return one_line(&text);
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    one_line(&text)
}

fn connect_error(options: &ConnectOptions, reason: &str) -> DriverError {
    DriverError::new(
        DriverErrorKind::Connect,
        format!(
            "cannot connect to PostgreSQL at {} database \"{}\": {}",
            options.target,
            options.database,
            one_line(reason)
        ),
    )
}

fn connect_error_from(options: &ConnectOptions, error: &tokio_postgres::Error) -> DriverError {
    let mut e = connect_error(options, &error_text(error));
    if let Some(db) = error.as_db_error() {
        e.sqlstate = Some(db.code().code().to_owned());
        e.hint = db.hint().map(str::to_owned);
    }
    e
}

/// Wraps [`MakeRustlsConnect`] so that a unix-socket host (no host name; the server never
/// offers TLS there) does not fail before the server is even asked.
#[derive(Clone)]
struct MakeTls(MakeRustlsConnect);

impl<S> MakeTlsConnect<S> for MakeTls
where
    MakeRustlsConnect: MakeTlsConnect<S>,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<S>>::Error;

    fn make_tls_connect(&mut self, hostname: &str) -> Result<Self::TlsConnect, Self::Error> {
        let hostname = if hostname.is_empty() {
            "localhost"
        } else {
            hostname
        };
        self.0.make_tls_connect(hostname)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn root_store(options: &ConnectOptions) -> Result<RootCertStore, DriverError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = &options.root_cert {
        let unreadable = |e: &dyn std::fmt::Display| {
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

fn tls_config(options: &ConnectOptions) -> Result<ClientConfig, DriverError> {
    let provider = provider();
    let tls_error = |e: &dyn std::fmt::Display| connect_error(options, &format!("TLS set-up: {e}"));
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(&e))?;
    let config = match options.ssl_mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth(),
        SslMode::VerifyCa => {
            let verifier = WebPkiServerVerifier::builder_with_provider(
                Arc::new(root_store(options)?),
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
            .with_root_certificates(root_store(options)?)
            .with_no_client_auth(),
    };
    Ok(config)
}

/// Connect a client, spawning its connection task on the current tokio runtime.
pub(crate) async fn connect_client(url: &str) -> Result<Client, DriverError> {
    let mut options = parse_url(url)?;
    #[cfg(unix)]
    let all_unix = options
        .config
        .get_hosts()
        .iter()
        .all(|h| matches!(h, Host::Unix(_)));
    #[cfg(not(unix))]
    let all_unix = false;
    // PostgreSQL never offers TLS on a unix socket; libpq ignores sslmode there.
    if options.ssl_mode == SslMode::Disable || all_unix {
        options.config.ssl_mode(PgSslMode::Disable);
        return connect_plain(&options).await;
    }
    let pg_mode = if options.ssl_mode == SslMode::Prefer {
        PgSslMode::Prefer
    } else {
        PgSslMode::Require
    };
    options.config.ssl_mode(pg_mode);
    let tls = MakeTls(MakeRustlsConnect::new(tls_config(&options)?));
    match options.config.connect(tls).await {
        Ok((client, connection)) => {
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(client)
        }
        Err(e)
            if options.ssl_mode == SslMode::Prefer
                && e.as_db_error().is_none()
                && e.to_string().contains("TLS") =>
        {
            // `prefer`: the TLS attempt failed, try without.
            options.config.ssl_mode(PgSslMode::Disable);
            connect_plain(&options).await
        }
        Err(e) => Err(connect_error_from(&options, &e)),
    }
}

async fn connect_plain(options: &ConnectOptions) -> Result<Client, DriverError> {
    let (client, connection) = options
        .config
        .connect(NoTls)
        .await
        .map_err(|e| connect_error_from(options, &e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Replace the database of a `postgres://` URL.
pub(crate) fn with_database(url: &str, database: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={database}");
    };
    let rest = scheme_end + 3;
    let authority_end = url[rest..].find(['/', '?']).map_or(url.len(), |i| rest + i);
    let path_end = url[authority_end..]
        .find('?')
        .map_or(url.len(), |i| authority_end + i);
    format!("{}/{}{}", &url[..authority_end], database, &url[path_end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ssl_parameters() {
        let o = parse_url(
            "postgres://u:pw@db.example:6543/app?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(o.ssl_mode, SslMode::VerifyFull);
        assert_eq!(o.root_cert.as_deref(), Some(Path::new("/tmp/ca.pem")));
        assert_eq!(o.target, "db.example:6543");
        assert_eq!(o.database, "app");
        assert_eq!(
            o.config.get_connect_timeout(),
            Some(&Duration::from_secs(5))
        );
    }

    #[test]
    fn unix_socket_host() {
        let o = parse_url("postgresql://root@/test?host=/var/run/postgresql").unwrap();
        assert_eq!(o.target, "/var/run/postgresql/.s.PGSQL.5432");
        assert_eq!(o.ssl_mode, SslMode::Prefer);
    }

    #[test]
    fn bad_sslmode_is_config_error_without_password() {
        let e = parse_url("postgres://u:s3cret@h/db?sslmode=sometimes")
            .err()
            .unwrap();
        assert_eq!(e.kind, DriverErrorKind::Config);
        assert!(!e.message.contains("s3cret"), "{}", e.message);
    }

    #[test]
    fn require_with_root_cert_verifies_ca() {
        let o = parse_url("postgres://h/db?sslmode=require&sslrootcert=/x.pem").unwrap();
        assert_eq!(o.ssl_mode, SslMode::VerifyCa);
    }

    #[test]
    fn replaces_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://root@/test?host=/var/run/postgresql", "x"),
            "postgresql://root@/x?host=/var/run/postgresql"
        );
    }

    #[test]
    fn decodes_percent() {
        assert_eq!(percent_decode("a%2Fb%"), "a/b%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
