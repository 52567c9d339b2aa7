//! The `GET_LOCK` lock: timeouts in whole seconds, one lock per tracking table.

use std::time::{Duration, Instant};

use ferry_core::{Driver, DriverErrorKind};

use crate::support::{open, with_database};

#[tokio::test(flavor = "multi_thread")]
async fn lock_timeout_rounds_up_to_seconds() {
    with_database("lock", |url| async move {
        let mut a = open(&url, "ferry_migrations").await;
        let mut b = open(&url, "ferry_migrations").await;
        a.lock(Duration::from_secs(1)).await.unwrap();
        // `GET_LOCK` waits whole seconds: 1.5 s becomes 2 s, not 1 s.
        let started = Instant::now();
        let err = b.lock(Duration::from_millis(1500)).await.unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::LockTimeout);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(1500), "{waited:?}");
        a.unlock().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_is_per_tracking_table() {
    with_database("locktable", |url| async move {
        let mut a = open(&url, "ferry_migrations").await;
        let mut other = open(&url, "other_table").await;
        a.lock(Duration::from_secs(1)).await.unwrap();
        other.lock(Duration::ZERO).await.expect("independent lock");
        other.unlock().await.unwrap();
        a.unlock().await.unwrap();
    })
    .await;
}
