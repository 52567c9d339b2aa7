//! Helpers for tests that need a scratch PostgreSQL database of their own (this crate's
//! tests, the CLI's test suite and `cargo xtask bench`).
//!
//! The server is the one of [`admin_url`]: `FERRY_TEST_POSTGRES_URL` when it is set, else a
//! throwaway PostgreSQL of the test binary's own ([`throwaway`]: `initdb` + `postgres` in a
//! temporary directory, fsync off, on a free port; stopped and removed when the process ends,
//! however it ends; see [`ferry_core::testkit::server`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_core::DriverError> {
//! use ferry_driver_postgres::testing;
//! let name = testing::unique_name("demo");
//! let url = testing::create_database(&name).await?;
//! // ... connect to `url` and test ...
//! testing::drop_database(&name).await?;
//! # Ok(()) }
//! ```

use std::sync::OnceLock;
use std::time::Duration;

use ferry_core::testkit::server::{configured, Kind, Throwaway};
use ferry_core::{DriverError, DriverErrorKind};

use crate::server::Server;
use crate::url::with_database;

pub mod pgbouncer;

pub use ferry_core::scratch::unique_name;
pub use pgbouncer::PgBouncer;

/// The environment variable naming the test server's admin URL.
pub const URL_VAR: &str = "FERRY_TEST_POSTGRES_URL";

/// The URL of a database on the test server that may create and drop databases:
/// `FERRY_TEST_POSTGRES_URL` when it is set (an existing server), else that of the
/// [`throwaway`] server (`postgres://postgres@127.0.0.1:PORT/postgres`), started at the first
/// call.
///
/// # Panics
///
/// When the variable is unset and the throwaway server cannot start; the message says why
/// (such as the Debian package to install). [`try_admin_url`] returns that instead.
pub fn admin_url() -> String {
    try_admin_url().unwrap_or_else(|e| panic!("{e}"))
}

/// [`admin_url`], with the throwaway server's failure to start as an error.
pub fn try_admin_url() -> Result<String, String> {
    match configured(URL_VAR) {
        Some(url) => Ok(url),
        None => throwaway().map(|server| server.url().to_owned()),
    }
}

/// The throwaway PostgreSQL of this process, started at the first call and shared by every
/// later one (whatever `FERRY_TEST_POSTGRES_URL` says): user `postgres` with trust
/// authentication, `fsync`, `full_page_writes` and `synchronous_commit` off, its unix socket
/// in its temporary directory. A failure to start is remembered and returned to every caller.
pub fn throwaway() -> Result<&'static Throwaway, String> {
    static SERVER: OnceLock<Result<Throwaway, String>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            Throwaway::start(Kind::Postgres, &|url| {
                pgbouncer::query_works(url, Duration::from_secs(5))
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Create database `name` on the test server and return its URL (the admin URL with the
/// database replaced). One that exists already is an error.
pub async fn create_database(name: &str) -> Result<String, DriverError> {
    if !Server::via(&server_url()?)?.create_database(name).await? {
        return Err(DriverError::query(format!(
            "database \"{name}\" already exists"
        )));
    }
    Ok(with_database(&server_url()?, name))
}

/// Drop database `name` from the test server (if it exists), closing its connections.
pub async fn drop_database(name: &str) -> Result<(), DriverError> {
    Server::via(&server_url()?)?
        .drop_database(name, true)
        .await
        .map(drop)
}

/// [`try_admin_url`], with a throwaway server's failure to start as a connection error.
fn server_url() -> Result<String, DriverError> {
    try_admin_url().map_err(|e| DriverError::new(DriverErrorKind::Connect, e))
}
