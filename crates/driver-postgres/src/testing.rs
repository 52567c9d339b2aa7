//! Helpers for tests that need a scratch PostgreSQL database of their own (this crate's
//! tests, the CLI's test suite and `cargo xtask bench`).
//!
//! The server is the one of [`admin_url`]: `FERRY_TEST_POSTGRES_URL`, or
//! `postgres://postgres@127.0.0.1:5432/postgres`.
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

use ferry_core::DriverError;

use crate::server::Server;
use crate::url::with_database;

pub mod pgbouncer;

pub use ferry_core::scratch::unique_name;
pub use pgbouncer::PgBouncer;

/// The environment variable naming the test server's admin URL.
pub const URL_VAR: &str = "FERRY_TEST_POSTGRES_URL";

/// The URL of a database on the test server that may create and drop databases:
/// `FERRY_TEST_POSTGRES_URL`, or `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn admin_url() -> String {
    ferry_core::scratch::server_url(URL_VAR, "postgres://postgres@127.0.0.1:5432/postgres")
}

/// Create database `name` on the test server and return its URL (the admin URL with the
/// database replaced). One that exists already is an error.
pub async fn create_database(name: &str) -> Result<String, DriverError> {
    if !Server::via(&admin_url())?.create_database(name).await? {
        return Err(DriverError::query(format!(
            "database \"{name}\" already exists"
        )));
    }
    Ok(with_database(&admin_url(), name))
}

/// Drop database `name` from the test server (if it exists), closing its connections.
pub async fn drop_database(name: &str) -> Result<(), DriverError> {
    Server::via(&admin_url())?
        .drop_database(name, true)
        .await
        .map(drop)
}
