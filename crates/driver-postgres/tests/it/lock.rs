//! The polled advisory lock.

use std::time::{Duration, Instant};

use ferry_core::{Driver, DriverErrorKind};

use crate::support::{open, scalar, with_database};

#[tokio::test(flavor = "multi_thread")]
async fn lock_polls_until_released() {
    with_database("lock", |url| async move {
        let mut a = open(&url, "ferry_migrations").await;
        let mut b = open(&url, "ferry_migrations").await;
        a.lock(Duration::from_secs(5)).await.unwrap();
        // The poller does not sleep past the deadline.
        let started = Instant::now();
        let err = b.lock(Duration::from_secs(1)).await.unwrap_err();
        let waited = started.elapsed();
        assert_eq!(err.kind, DriverErrorKind::LockTimeout);
        assert!(waited >= Duration::from_millis(950), "{waited:?}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        // A waiter gets the lock soon after it is released (the poll interval is capped).
        let waiter = tokio::spawn(async move {
            let started = Instant::now();
            b.lock(Duration::from_secs(10)).await.unwrap();
            started.elapsed()
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        a.unlock().await.unwrap();
        let waited = waiter.await.unwrap();
        assert!(waited < Duration::from_secs(3), "{waited:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_is_per_tracking_table() {
    with_database("locktable", |url| async move {
        let mut a = open(&url, "ferry_migrations").await;
        let mut other = open(&url, "ops.ferry_migrations").await;
        a.lock(Duration::from_secs(1)).await.unwrap();
        other.lock(Duration::ZERO).await.expect("independent lock");
        other.unlock().await.unwrap();
        a.unlock().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_waiter_does_not_deadlock_with_create_index_concurrently() {
    with_database("cic", |url| async move {
        let mut a = open(&url, "ferry_migrations").await;
        let mut b = open(&url, "ferry_migrations").await;
        a.execute(
            "CREATE TABLE big AS SELECT g AS x, md5(g::text) AS y FROM generate_series(1, 200000) g;",
            false,
        )
        .await
        .unwrap();
        a.lock(Duration::from_secs(5)).await.unwrap();
        let waiter = tokio::spawn(async move {
            let result = b.lock(Duration::from_secs(60)).await;
            (b, result)
        });
        // Let B start polling before the index build starts.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let build = tokio::time::timeout(
            Duration::from_secs(60),
            a.execute(
                "CREATE INDEX CONCURRENTLY big_x ON big (x);\nCREATE INDEX CONCURRENTLY big_y ON big (y);",
                true,
            ),
        )
        .await
        .expect("CREATE INDEX CONCURRENTLY must not wait for the lock poller");
        build.unwrap();
        a.unlock().await.unwrap();
        let (mut b, result) = tokio::time::timeout(Duration::from_secs(30), waiter)
            .await
            .expect("waiter finishes")
            .unwrap();
        result.unwrap();
        b.unlock().await.unwrap();
        assert_eq!(
            scalar(&a, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname IN ('big_x', 'big_y') AND i.indisvalid").await.as_deref(),
            Some("2")
        );
    })
    .await;
}

/// `switch_table` (a fleet's next tenant on the same connection): refused while the lock is
/// held; afterwards the lock, the rows and the table are the new table's.
#[tokio::test(flavor = "multi_thread")]
async fn switch_table_moves_lock_and_rows_to_the_new_table() {
    with_database("switch", |url| async move {
        let mut a = open(&url, "ferry_migrations").await;
        let mut other = open(&url, "ops.ferry_migrations").await;
        a.ensure_table().await.unwrap();
        a.lock(Duration::from_secs(1)).await.unwrap();
        let ops = ferry_core::TableName::parse("ops.ferry_migrations").unwrap();
        assert!(
            !a.switch_table(ops.clone()).unwrap(),
            "switched holding the lock"
        );
        a.unlock().await.unwrap();
        assert!(a.switch_table(ops).unwrap());
        assert_eq!(a.table().to_string(), "ops.ferry_migrations");
        assert!(
            !a.table_exists().await.unwrap(),
            "still reads the old table"
        );
        // The new table's lock: `other`, on that table, cannot take it meanwhile.
        a.lock(Duration::from_secs(1)).await.unwrap();
        let err = other.lock(Duration::ZERO).await.unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::LockTimeout);
        a.unlock().await.unwrap();
        other.lock(Duration::ZERO).await.expect("released");
        other.unlock().await.unwrap();
    })
    .await;
}
