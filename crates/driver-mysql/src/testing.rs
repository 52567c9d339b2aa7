//! Helpers for tests that need a scratch MySQL or MariaDB database of their own (this crate's
//! tests, the CLI's test suite and `cargo xtask bench`).
//!
//! The server is the one of [`admin_url`]: `FERRY_TEST_MYSQL_URL` when it is set, else a
//! throwaway MariaDB of the test binary's own ([`throwaway`]: `mariadb-install-db` +
//! `mariadbd` in a temporary directory, `innodb_flush_log_at_trx_commit=0`, on a free port;
//! stopped and removed when the process ends, however it ends; see
//! [`ferry_core::testkit::server`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_core::DriverError> {
//! use ferry_driver_mysql::testing;
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
use crate::url::{with_database, Target};
use mysql_async::prelude::Queryable;

pub use ferry_core::scratch::unique_name;

/// The environment variable naming the test server's admin URL.
pub const URL_VAR: &str = "FERRY_TEST_MYSQL_URL";

/// The URL of a database on the test server that may create and drop databases:
/// `FERRY_TEST_MYSQL_URL` when it is set (an existing server), else that of the [`throwaway`]
/// server (`mysql://root@127.0.0.1:PORT/test`), started at the first call.
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

/// The throwaway MariaDB of this process, started at the first call and shared by every later
/// one (whatever `FERRY_TEST_MYSQL_URL` says): `root` without a password (from 127.0.0.1 and
/// the unix socket), a database `test`, `utf8mb4`, `innodb_flush_log_at_trx_commit=0`, its
/// unix socket in its temporary directory. A failure to start is remembered and returned to
/// every caller.
pub fn throwaway() -> Result<&'static Throwaway, String> {
    static SERVER: OnceLock<Result<Throwaway, String>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            Throwaway::start(Kind::Mariadb, &|url| {
                query_works(url, Duration::from_secs(5))
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Connect to `url` and run `SELECT 1` within `timeout`, on a thread with a current-thread
/// runtime of its own (so that it works from within a runtime too).
fn query_works(url: &str, timeout: Duration) -> Result<(), String> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
        runtime.block_on(async {
            let query = async {
                let target = Target::parse(&url).map_err(|e| e.to_string())?;
                let mut conn = crate::conn::open(&target)
                    .await
                    .map_err(|e| e.to_string())?;
                let result = conn.query_drop("SELECT 1").await.map_err(|e| e.to_string());
                let _ = conn.disconnect().await;
                result
            };
            tokio::time::timeout(timeout, query)
                .await
                .map_err(|_| "SELECT 1 timed out".to_owned())?
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the readiness check panicked".to_owned()))
}

/// Create database `name` on the test server and return its URL (the admin URL with the
/// database replaced). One that exists already is an error.
pub async fn create_database(name: &str) -> Result<String, DriverError> {
    if !Server::of_url(&server_url()?)?
        .create_database(name)
        .await?
    {
        return Err(DriverError::query(format!(
            "database `{name}` already exists"
        )));
    }
    Ok(with_database(&server_url()?, name))
}

/// Drop database `name` from the test server (if it exists).
pub async fn drop_database(name: &str) -> Result<(), DriverError> {
    Server::of_url(&server_url()?)?
        .drop_database(name)
        .await
        .map(drop)
}

/// [`try_admin_url`], with a throwaway server's failure to start as a connection error.
fn server_url() -> Result<String, DriverError> {
    try_admin_url().map_err(|e| DriverError::new(DriverErrorKind::Connect, e))
}
