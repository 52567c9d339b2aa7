//! Opening a connection: TLS options by `ssl-mode`, and the `PREFERRED` fallback to plain.

use std::time::Instant;

use ferry_core::DriverError;
use mysql_async::{Conn, Opts, OptsBuilder, SslOpts};

use crate::error::connect_error;
use crate::url::{SslMode, Target};

/// Open a connection to `target`, applying its `ssl-mode`. The whole of it (TCP, TLS,
/// handshake, authentication, the `PREFERRED` fallback) is bounded by the target's
/// `connect_timeout`, and a timeout says how long ferry really waited.
pub(crate) async fn open(target: &Target) -> Result<Conn, DriverError> {
    let started = Instant::now();
    match tokio::time::timeout(target.connect_timeout, open_unbounded(target)).await {
        Ok(result) => result,
        Err(_) => Err(target.connect_error(&format!(
            "no answer, gave up after {} (connect_timeout)",
            ferry_core::seconds_text(started.elapsed())
        ))),
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
