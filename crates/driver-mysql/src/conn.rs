//! Opening a connection: TLS options by `ssl-mode`, and the `PREFERRED` fallback to plain.

use std::time::Duration;

use ferry_core::DriverError;
use mysql_async::{Conn, Opts, OptsBuilder, SslOpts};

use crate::error::connect_error;
use crate::url::{SslMode, Target};

/// How long establishing a connection may take before it is reported as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Open a connection to `target`, applying its `ssl-mode`.
pub(crate) async fn open(target: &Target) -> Result<Conn, DriverError> {
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
    match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err((
            connect_error(target, &e),
            matches!(e, mysql_async::Error::Server(_)),
        )),
        Err(_) => Err((
            target.connect_error(&format!("timed out after {} s", CONNECT_TIMEOUT.as_secs())),
            false,
        )),
    }
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
