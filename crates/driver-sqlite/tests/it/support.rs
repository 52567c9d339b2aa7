//! Shared helpers: opening a driver, tracking rows, the applied ids, asserting the lock is held
//! elsewhere.

use std::time::Duration;

use ferry_core::driver::{RowChange, TrackingRow};
use ferry_core::{DriverErrorKind, TableName};
use ferry_driver_sqlite::SqliteDriver;

pub(crate) async fn open(url: &str) -> SqliteDriver {
    ferry_driver_sqlite::connect(url, TableName::default())
        .await
        .unwrap()
}

pub(crate) fn row(id: &str, dirty: bool) -> RowChange {
    RowChange::Insert(TrackingRow {
        app_name: "a".into(),
        migration_id: id.into(),
        description: "d".into(),
        checksum: "c".into(),
        down_sql: None,
        applied_at: chrono::Utc::now(),
        duration_ms: 0,
        dirty,
    })
}

pub(crate) async fn ids(driver: &mut SqliteDriver) -> Vec<String> {
    let rows = driver.applied(None).await.unwrap();
    rows.into_iter().map(|r| r.row.migration_id).collect()
}

/// Asserts that `driver` cannot take the lock, because another connection holds it.
pub(crate) async fn assert_locked_out(driver: &mut SqliteDriver, context: &str) {
    let err = driver
        .lock(Duration::from_millis(200))
        .await
        .expect_err(context);
    assert_eq!(err.kind, DriverErrorKind::LockTimeout, "{context}");
}
