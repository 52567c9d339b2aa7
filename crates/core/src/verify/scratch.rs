//! Scratch databases: throw-away databases on a server, made for one test (or one check) and
//! dropped after it.
//!
//! The drivers' `testing` modules create and drop them (on the server of
//! `testkit::server`, with the `testkit` feature, when no URL is configured); this module names them and
//! (with the `testkit` feature) runs a test body on one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The longest name [`unique_name`] returns: below PostgreSQL's 63-byte and MySQL's 64-character
/// identifier limits.
pub const MAX_NAME_LEN: usize = 60;

/// A database name unlikely to clash with any other, even across processes and machines
/// sharing a server: `ferry_t_<prefix>_<pid>_<nanos>_<counter>`, lower case, at most
/// [`MAX_NAME_LEN`] characters. The prefix is shortened to fit and every character of it
/// that is not an ASCII letter or digit becomes `_`, so the name needs no quoting.
///
/// ```
/// let a = ferry_core::scratch::unique_name("My-Test");
/// assert!(a.starts_with("ferry_t_my_test_"));
/// assert_ne!(a, ferry_core::scratch::unique_name("My-Test"));
/// ```
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000_000);
    let suffix = format!("_{}_{nanos}_{count}", std::process::id());
    let budget = MAX_NAME_LEN.saturating_sub("ferry_t_".len() + suffix.len());
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

/// Run `body` with the URL of a new scratch database named after `prefix`, then drop the
/// database, also when `body` panics (the panic is resumed after the drop). `create_database`
/// makes the database and returns its URL, `drop_database` removes it: a driver's
/// `testing::create_database` and `testing::drop_database`. Panics when either fails.
///
/// ```ignore
/// // In a driver crate's tests, with `ferry-core = { features = ["testkit"] }`:
/// with_scratch_database("lock", testing::create_database, testing::drop_database, |url| async move {
///     // ... connect to `url` and test ...
/// })
/// .await;
/// ```
#[cfg(feature = "testkit")]
pub async fn with_scratch_database<Fut>(
    prefix: &str,
    create_database: impl std::ops::AsyncFnOnce(
        &str,
    )
        -> Result<String, crate::driver::error::DriverError>,
    drop_database: impl std::ops::AsyncFnOnce(&str) -> Result<(), crate::driver::error::DriverError>,
    body: impl FnOnce(String) -> Fut,
) where
    Fut: std::future::Future<Output = ()>,
{
    use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
    use std::task::Poll;

    let name = unique_name(prefix);
    let url = create_database(&name)
        .await
        .unwrap_or_else(|e| panic!("cannot create scratch database {name}: {e}"));
    let mut body = std::pin::pin!(body(url));
    // Poll the body under `catch_unwind`, so that a failing assertion still drops the
    // database. The body is not polled again after it panicked.
    let outcome = std::future::poll_fn(|cx| {
        match catch_unwind(AssertUnwindSafe(|| body.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await;
    drop_database(&name)
        .await
        .unwrap_or_else(|e| panic!("cannot drop scratch database {name}: {e}"));
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_short_distinct_and_lower_case() {
        let long = "Some-Very-Long-Prefix-That-Goes-On-And-On-And-On-Forever";
        let a = unique_name(long);
        let b = unique_name(long);
        assert_ne!(a, b);
        assert!(a.len() <= MAX_NAME_LEN, "{a}");
        assert_eq!(a, a.to_ascii_lowercase());
        assert!(a.starts_with("ferry_t_some_very"), "{a}");
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        let short = unique_name("x");
        assert!(short.starts_with("ferry_t_x_"), "{short}");
        assert!(unique_name("").starts_with("ferry_t__"));
    }
}
