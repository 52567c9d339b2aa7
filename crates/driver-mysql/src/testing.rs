//! Helpers for tests that need a MySQL or MariaDB database of their own.
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

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ferry_core::{DriverError, DriverErrorKind};
use mysql_async::prelude::Queryable;

use crate::url::{one_line, with_database, Target};

/// The environment variable naming the administrative test URL.
pub const URL_ENV: &str = "FERRY_TEST_MYSQL_URL";

/// The administrative URL for tests: `FERRY_TEST_MYSQL_URL`, or
/// `mysql://root@127.0.0.1:3306/test` when unset.
pub fn admin_url() -> String {
    std::env::var(URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// Create the database `name` through [`admin_url`] and return a URL for it (the admin URL
/// with its database replaced).
pub async fn create_database(name: &str) -> Result<String, DriverError> {
    admin(&format!("CREATE DATABASE `{}`", name.replace('`', "``"))).await?;
    Ok(database_url(name))
}

/// The URL of database `name` on the test server: [`admin_url`] with its database replaced.
/// Nothing is created.
pub fn database_url(name: &str) -> String {
    with_database(&admin_url(), name)
}

/// Drop the database `name` (if it exists) through [`admin_url`].
pub async fn drop_database(name: &str) -> Result<(), DriverError> {
    admin(&format!(
        "DROP DATABASE IF EXISTS `{}`",
        name.replace('`', "``")
    ))
    .await
}

/// A database name unique to this process and call: `ferry_t_<prefix>_<pid>_<nanos>_<n>`,
/// at most 60 characters.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000_000);
    let prefix: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(16)
        .collect();
    let mut name = format!("ferry_t_{prefix}_{}_{nanos}_{n}", std::process::id());
    name.truncate(60);
    name
}

async fn admin(statement: &str) -> Result<(), DriverError> {
    let url = admin_url();
    let target = Target::parse(&url)?;
    let mut conn = crate::open(&target).await?;
    let result = conn.query_drop(statement).await;
    let _ = conn.disconnect().await;
    result.map_err(|e| {
        DriverError::new(
            DriverErrorKind::Query,
            target.scrub(&one_line(&format!("{statement}: {e}"))),
        )
    })
}
