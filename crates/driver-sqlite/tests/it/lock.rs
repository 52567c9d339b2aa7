//! The lock as one transaction with a savepoint per migration, `no-transaction` sections, and
//! the worker thread while waiting.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::DriverErrorKind;
use ferry_driver_sqlite::testing::database_url;

use crate::support::{assert_locked_out, ids, open, row};

/// The driver blocks on its worker thread, not on the caller's: on a current-thread runtime
/// a timer task keeps ticking while `lock` waits for another connection's lock.
#[tokio::test(flavor = "current_thread")]
async fn waiting_for_the_lock_leaves_the_executor_free() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "executor");
    let mut holder = open(&url).await;
    holder.ensure_table().await.unwrap();
    holder.lock(Duration::from_secs(5)).await.unwrap();
    let mut waiter = open(&url).await;

    let ticks = Arc::new(AtomicU32::new(0));
    let ticker = tokio::spawn({
        let ticks = Arc::clone(&ticks);
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let started = Instant::now();
    let err = waiter
        .lock(Duration::from_millis(800))
        .await
        .expect_err("the lock is held");
    let waited = started.elapsed();
    let ticked = ticks.load(Ordering::SeqCst);
    ticker.abort();
    assert_eq!(err.kind, DriverErrorKind::LockTimeout);
    assert!(waited >= Duration::from_millis(700), "waited {waited:?}");
    assert!(
        ticked >= 10,
        "the timer ticked {ticked} times in {waited:?}: the lock wait blocked the executor"
    );
}

/// Dropping the driver waits for its worker to close the connection, so the lock (and its
/// uncommitted work) is gone when `drop` returns.
#[tokio::test]
async fn dropping_the_driver_releases_the_lock_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "drop");
    let mut a = open(&url).await;
    a.ensure_table().await.unwrap();
    let mut b = open(&url).await;
    a.lock(Duration::from_secs(5)).await.unwrap();
    a.write(&row("1", false)).await.unwrap();
    drop(a);
    b.lock(Duration::ZERO)
        .await
        .expect("the lock is free without waiting");
    assert!(ids(&mut b).await.is_empty(), "rolled back");
    b.unlock().await.unwrap();
}

/// The lock is one `BEGIN IMMEDIATE` transaction: taking it again does not nest, each
/// migration is a savepoint that a failure rolls back alone, rows are visible to the locking
/// connection at once and to others after the one `unlock`.
#[tokio::test]
async fn lock_is_one_transaction_with_a_savepoint_per_migration() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "savepoints");
    let mut a = open(&url).await;
    a.ensure_table().await.unwrap();
    let mut b = open(&url).await;

    a.lock(Duration::from_secs(5)).await.unwrap();
    a.lock(Duration::from_secs(5))
        .await
        .expect("taking the lock again succeeds at once");
    a.execute_in_transaction("CREATE TABLE one (x INT);", &row("1", false))
        .await
        .unwrap();
    let err = a
        .execute_in_transaction(
            "CREATE TABLE two (x INT);\nINSERT INTO missing VALUES (1);",
            &row("2", false),
        )
        .await
        .unwrap_err();
    assert_eq!(err.line, Some(2), "{err}");
    // Only the failed savepoint was rolled back: `two` is gone, migration 1 and the lock stay.
    a.execute_in_transaction("CREATE TABLE two (x INT);", &row("2", false))
        .await
        .unwrap();
    a.write(&row("3", true)).await.unwrap();
    assert_eq!(
        ids(&mut a).await,
        ["1", "2", "3"],
        "visible to the lock holder"
    );
    assert!(ids(&mut b).await.is_empty(), "committed before unlock");
    assert_locked_out(&mut b, "the lock survives a failed migration").await;

    a.unlock().await.unwrap();
    assert_eq!(ids(&mut b).await, ["1", "2", "3"], "one unlock commits");
    b.lock(Duration::from_secs(1))
        .await
        .expect("one unlock releases a lock taken twice");
    b.unlock().await.unwrap();
}

/// A `no-transaction` section commits the lock's transaction (the dirty row first), runs
/// outside any transaction (`VACUUM` refuses to run in one) and takes the lock again, also
/// when it fails.
#[tokio::test]
async fn no_transaction_commits_runs_and_relocks() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "vacuum");
    let mut a = open(&url).await;
    a.ensure_table().await.unwrap();
    let mut b = open(&url).await;

    a.lock(Duration::from_secs(5)).await.unwrap();
    a.write(&row("1", true)).await.unwrap();
    assert!(ids(&mut b).await.is_empty());
    a.execute("VACUUM;", true).await.expect("VACUUM runs");
    assert_eq!(ids(&mut b).await, ["1"], "the dirty row is committed");
    assert_locked_out(&mut b, "the lock is taken again").await;

    let err = a.execute("SELECT 1;\nSELEC 2;", true).await.unwrap_err();
    assert_eq!(err.line, Some(2), "{err}");
    assert_locked_out(&mut b, "the lock is taken again after a failure").await;
    a.unlock().await.unwrap();
    b.lock(Duration::from_secs(1)).await.unwrap();
    b.unlock().await.unwrap();
}
