//! Helpers for tests that need a scratch MySQL or MariaDB database of their own (this crate's
//! tests, the CLI's test suite and `cargo xtask bench`).
//!
//! The server is the one of [`admin_url`]: `FERRY_TEST_MYSQL_URL`, or
//! `mysql://root@127.0.0.1:3306/test`.
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

use ferry_core::DriverError;

use crate::server::Server;
use crate::url::with_database;

pub use ferry_core::scratch::unique_name;

/// The environment variable naming the test server's admin URL.
pub const URL_VAR: &str = "FERRY_TEST_MYSQL_URL";

/// The URL of a database on the test server that may create and drop databases:
/// `FERRY_TEST_MYSQL_URL`, or `mysql://root@127.0.0.1:3306/test`.
pub fn admin_url() -> String {
    ferry_core::scratch::server_url(URL_VAR, "mysql://root@127.0.0.1:3306/test")
}

/// Create database `name` on the test server and return its URL (the admin URL with the
/// database replaced). One that exists already is an error.
pub async fn create_database(name: &str) -> Result<String, DriverError> {
    if !Server::of_url(&admin_url())?.create_database(name).await? {
        return Err(DriverError::query(format!(
            "database `{name}` already exists"
        )));
    }
    Ok(with_database(&admin_url(), name))
}

/// Drop database `name` from the test server (if it exists).
pub async fn drop_database(name: &str) -> Result<(), DriverError> {
    Server::of_url(&admin_url())?
        .drop_database(name)
        .await
        .map(drop)
}
