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

use ferry_core::url::{one_line, quote_ident};
use ferry_core::{DriverError, DriverErrorKind};
use mysql_async::prelude::Queryable;

use crate::url::{with_database, Target};

pub use ferry_core::scratch::unique_name;

/// The environment variable naming the test server's admin URL.
pub const URL_VAR: &str = "FERRY_TEST_MYSQL_URL";

/// The URL of a database on the test server that may create and drop databases:
/// `FERRY_TEST_MYSQL_URL`, or `mysql://root@127.0.0.1:3306/test`.
pub fn admin_url() -> String {
    ferry_core::scratch::server_url(URL_VAR, "mysql://root@127.0.0.1:3306/test")
}

/// Create database `name` on the test server and return its URL (the admin URL with the
/// database replaced).
pub async fn create_database(name: &str) -> Result<String, DriverError> {
    admin(&format!("CREATE DATABASE {}", quote_ident(name, '`'))).await?;
    Ok(with_database(&admin_url(), name))
}

/// Drop database `name` from the test server (if it exists).
pub async fn drop_database(name: &str) -> Result<(), DriverError> {
    admin(&format!(
        "DROP DATABASE IF EXISTS {}",
        quote_ident(name, '`')
    ))
    .await
}

/// Run `statement` on a connection of its own to [`admin_url`].
async fn admin(statement: &str) -> Result<(), DriverError> {
    let target = Target::parse(&admin_url())?;
    let mut conn = crate::conn::open(&target).await?;
    let result = conn.query_drop(statement).await;
    let _ = conn.disconnect().await;
    result.map_err(|e| {
        DriverError::new(
            DriverErrorKind::Query,
            target.scrub(&one_line(&format!("{statement}: {e}"))),
        )
    })
}
