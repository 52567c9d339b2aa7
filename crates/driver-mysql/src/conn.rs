//! Opening a connection: TLS options by `ssl-mode`, and the `PREFERRED` fallback to plain.

use std::time::{Duration, Instant};

use ferry_core::driver::url::Backend;
use ferry_core::driver::wire::{Heard, POSTGRES_SSL_REQUEST};
use ferry_core::DriverError;
use mysql_async::{Conn, Opts, OptsBuilder, SslOpts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::connect_error;
use crate::url::{SslMode, Target};

/// Open a connection to `target`, applying its `ssl-mode`. The whole of it (TCP, TLS,
/// handshake, authentication, the `PREFERRED` fallback) is bounded by the target's
/// `connect_timeout`, and a timeout says how long ferry really waited. A server that speaks
/// another protocol, or accepts the connection and then says nothing, fails sooner, naming
/// what it saw ([`ferry_core::driver::wire`]): when connecting fails without an answer from a MySQL
/// server, or is still going after [`ferry_core::driver::wire::SNIFF_AFTER`], a second connection asks the server
/// what it is.
pub(crate) async fn open(target: &Target) -> Result<Conn, DriverError> {
    let started = Instant::now();
    ferry_core::driver::wire::open_naming_the_server(
        &crate::lease::TOKIO,
        Backend::Mysql,
        target.connect_timeout,
        open_unbounded(target),
        |e| e.code.is_some(),
        || sniff(target, started),
        |text| target.connect_error(text),
    )
    .await
}

/// How long the second connection waits for the TCP connection, for a greeting, and for the
/// answer to a PostgreSQL `SSLRequest`.
const LISTEN: Duration = Duration::from_millis(1000);

/// What the server of `target` is ([`ferry_core::driver::wire`]); `None` when it cannot be reached
/// or is a unix socket.
async fn sniff(target: &Target, started: Instant) -> Option<Heard> {
    if target.opts.socket().is_some() {
        return None;
    }
    let host = target.opts.ip_or_hostname().to_owned();
    let port = target.opts.tcp_port();
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

async fn open_unbounded(target: &Target) -> Result<Conn, DriverError> {
    if target.ssl_mode != SslMode::Disabled {
        // mysql_async builds its rustls configuration with the process-wide crypto provider;
        // pin it to ring so that a second provider compiled into the binary cannot make that
        // choice ambiguous. Ignored when the application installed one already.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let result = match target.ssl_mode {
        SslMode::Preferred => match attempt(target, ssl_opts(target.ssl_mode)).await {
            Ok(conn) => Ok(conn),
            // The server answered (authentication, unknown database): TLS was not the problem.
            Err(err @ (_, true)) => Err(err),
            // No TLS on the server, or the handshake failed: fall back to plain.
            Err(_) => attempt(target, None).await,
        },
        mode => attempt(target, ssl_opts(mode)).await,
    };
    result.map_err(|(error, _)| error)
}

/// One connection attempt with the TLS options `ssl`. A failure says whether the server
/// itself answered (with an error of its own).
async fn attempt(target: &Target, ssl: Option<SslOpts>) -> Result<Conn, (DriverError, bool)> {
    let opts = Opts::from(OptsBuilder::from_opts(target.opts.clone()).ssl_opts(ssl));
    Conn::new(opts).await.map_err(|e| {
        (
            connect_error(target, &e),
            matches!(e, mysql_async::Error::Server(_)),
        )
    })
}

/// The TLS options of a mode (for `PREFERRED`, those of the TLS attempt).
fn ssl_opts(mode: SslMode) -> Option<SslOpts> {
    match mode {
        SslMode::Disabled => None,
        SslMode::Preferred | SslMode::Required => {
            Some(SslOpts::default().with_danger_accept_invalid_certs(true))
        }
        SslMode::VerifyCa => Some(SslOpts::default().with_danger_skip_domain_validation(true)),
        SslMode::VerifyIdentity => Some(SslOpts::default()),
    }
}
