//! Helpers for tests that need a scratch PostgreSQL database (this crate's tests and the
//! CLI's test suite).
//!
//! The server is the one of [`admin_url`]: `FERRY_TEST_POSTGRES_URL`, or
//! `postgres://postgres@127.0.0.1:5432/postgres`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ferry_core::DriverError;

use crate::conn::{connect_client, with_database};
use crate::error::query_error;

/// The environment variable naming the test server's admin URL.
pub const URL_VAR: &str = "FERRY_TEST_POSTGRES_URL";

/// The URL of a database on the test server that may create and drop databases:
/// `FERRY_TEST_POSTGRES_URL`, or `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn admin_url() -> String {
    std::env::var(URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Create database `name` on the test server and return its URL (the admin URL with the
/// database replaced).
pub async fn create_database(name: &str) -> Result<String, DriverError> {
    let admin = admin_url();
    let client = connect_client(&admin).await?;
    client
        .batch_execute(&format!("CREATE DATABASE {}", quoted(name)))
        .await
        .map_err(|e| query_error(&e))?;
    Ok(with_database(&admin, name))
}

/// Drop database `name` from the test server (if it exists), closing its connections.
pub async fn drop_database(name: &str) -> Result<(), DriverError> {
    let client = connect_client(&admin_url()).await?;
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quoted(name)
        ))
        .await
        .map_err(|e| query_error(&e))
}

/// A database name unlikely to clash with any other test's, even across processes:
/// `ferry_t_<prefix>_<pid>_<nanos>_<counter>`, lower case, at most 60 characters.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000_000);
    let suffix = format!("_{}_{nanos}_{count}", std::process::id());
    let budget = 60usize.saturating_sub("ferry_t_".len() + suffix.len());
    let prefix: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(budget)
        .collect();
    format!("ferry_t_{prefix}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_short_distinct_and_lower_case() {
        let a = unique_name("Some-Very-Long-Prefix-That-Goes-On-And-On-And-On-Forever");
        let b = unique_name("Some-Very-Long-Prefix-That-Goes-On-And-On-And-On-Forever");
        assert_ne!(a, b);
        assert!(a.len() <= 60, "{a}");
        assert_eq!(a, a.to_ascii_lowercase());
        assert!(a.starts_with("ferry_t_some_very"));
    }
}
