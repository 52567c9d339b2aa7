//! Conformance cases on the `Driver` contract itself.

use std::time::{Duration, Instant};

use crate::driver::RowChange;
use crate::{AppConfig, DriverErrorKind, ForwardsMigrationManager, Status, TableName};

use super::*;

/// The tracking table is created only by writing commands and reads as empty before.
pub(super) async fn table_lifecycle(factory: &dyn DriverFactory) {
    let table = TableName::parse("ck_lifecycle").unwrap();
    let mut d = factory.connect(&table).await;
    assert!(
        !d.table_exists().await.unwrap(),
        "table_lifecycle: table exists before creation"
    );
    d.ensure_table().await.unwrap();
    d.ensure_table().await.unwrap();
    assert!(
        d.table_exists().await.unwrap(),
        "table_lifecycle: table missing after ensure_table"
    );
    assert!(
        d.applied(None).await.unwrap().is_empty(),
        "table_lifecycle: new table not empty"
    );

    // check and preview never create the table.
    let mut m = migrator(
        factory,
        "ck_readonly_trk",
        vec![AppConfig::embedded(
            "ro",
            vec![mig(
                "1",
                "CREATE TABLE ck_ro (id INTEGER)",
                Some("DROP TABLE ck_ro"),
            )],
        )],
    )
    .await;
    assert_eq!(statuses(&mut m, "ro").await, st(&[("1", Status::Pending)]));
    let preview = ForwardsMigrationManager {
        preview: true,
        ..ForwardsMigrationManager::new("ro")
    }
    .run(&mut m)
    .await
    .unwrap();
    assert_eq!(
        preview.migrations.len(),
        1,
        "table_lifecycle: preview plans one migration"
    );
    assert!(
        !m.driver_mut().table_exists().await.unwrap(),
        "table_lifecycle: check or preview created the tracking table"
    );
}

/// Row changes round-trip every column: values are bound (quotes, Unicode), `NULL` down SQL
/// stays `NULL`, `applied_at` keeps its microseconds, and mark-dirty, mark-clean (with and
/// without a duration) and delete touch only their own row.
pub(super) async fn row_changes_round_trip(factory: &dyn DriverFactory) {
    let table = TableName::parse("ck_rows_trk").unwrap();
    let mut d = factory.connect(&table).await;
    d.ensure_table().await.unwrap();
    let app = "a'; DROP TABLE ck_rows_trk; --";
    let mut odd = tracking_row(app, "007");
    odd.description = "it's \"quoted\" — ünïcode 🚢".into();
    odd.down_sql = None;
    odd.dirty = true;
    let plain = tracking_row("ck_rows_b", "1");
    d.write(&RowChange::Insert(odd.clone())).await.unwrap();
    d.write(&RowChange::Insert(plain.clone())).await.unwrap();
    let all = d.applied(None).await.unwrap();
    assert_eq!(all.len(), 2, "rows: both inserted");
    assert!(all[0].row_id < all[1].row_id, "rows: apply order");
    assert_eq!(all[0].row, odd, "rows: every column round-trips");
    assert_eq!(all[1].row, plain, "rows: every column round-trips");
    assert_eq!(d.applied(Some(app)).await.unwrap().len(), 1, "rows: filter");
    assert!(d.applied(Some("ck_rows_none")).await.unwrap().is_empty());

    d.write(&RowChange::MarkClean {
        app_name: app.into(),
        migration_id: "007".into(),
        duration_ms: Some(42),
    })
    .await
    .unwrap();
    let row = &d.applied(Some(app)).await.unwrap()[0];
    assert_eq!(
        (row.dirty, row.duration_ms),
        (false, 42),
        "rows: mark clean"
    );
    d.write(&RowChange::MarkDirty {
        app_name: "ck_rows_b".into(),
        migration_id: "1".into(),
    })
    .await
    .unwrap();
    assert!(
        d.applied(Some("ck_rows_b")).await.unwrap()[0].dirty,
        "rows: mark dirty"
    );
    d.write(&RowChange::MarkClean {
        app_name: "ck_rows_b".into(),
        migration_id: "1".into(),
        duration_ms: None,
    })
    .await
    .unwrap();
    let row = &d.applied(Some("ck_rows_b")).await.unwrap()[0];
    assert_eq!(
        (row.dirty, row.duration_ms),
        (false, 999_999),
        "rows: mark clean without a duration keeps it"
    );
    assert_eq!(d.applied(Some(app)).await.unwrap()[0].duration_ms, 42);
    d.write(&RowChange::Delete {
        app_name: app.into(),
        migration_id: "007".into(),
    })
    .await
    .unwrap();
    assert!(
        d.applied(Some(app)).await.unwrap().is_empty(),
        "rows: delete"
    );
    assert_eq!(
        d.applied(None).await.unwrap().len(),
        1,
        "rows: delete one row"
    );
}

/// `execute_in_transaction` commits the SQL and the row change together or not at all: a
/// failing statement leaves no row, a failing row change undoes the SQL, and the row records
/// the duration the driver measured.
pub(super) async fn transaction_is_atomic(factory: &dyn DriverFactory) {
    let table = TableName::parse("ck_atomic_trk").unwrap();
    let mut d = factory.connect(&table).await;
    d.ensure_table().await.unwrap();
    d.execute("CREATE TABLE ck_atomic (id INTEGER PRIMARY KEY);", false)
        .await
        .unwrap();
    let err = d
        .execute_in_transaction(
            "INSERT INTO ck_atomic (id) VALUES (1);\nINSERT INTO ck_atomic_missing (id) VALUES (1);",
            &RowChange::Insert(tracking_row("ck_at", "1")),
        )
        .await
        .expect_err("transaction: the second statement fails");
    assert_eq!(err.kind, DriverErrorKind::Query, "transaction: kind");
    if let Some(line) = err.line {
        assert_eq!(line, 2, "transaction: error line");
    }
    assert!(
        d.applied(Some("ck_at")).await.unwrap().is_empty(),
        "transaction: no row after a failing statement"
    );
    // A failing row change (a duplicate key) undoes the SQL before it.
    d.write(&RowChange::Insert(tracking_row("ck_at", "2")))
        .await
        .unwrap();
    d.execute_in_transaction(
        "INSERT INTO ck_atomic (id) VALUES (2);",
        &RowChange::Insert(tracking_row("ck_at", "2")),
    )
    .await
    .expect_err("transaction: the duplicate row fails");
    // Neither insert stayed (else these collide), and the connection is usable.
    d.execute_in_transaction(
        "INSERT INTO ck_atomic (id) VALUES (1);\nINSERT INTO ck_atomic (id) VALUES (2);",
        &RowChange::Insert(tracking_row("ck_at", "3")),
    )
    .await
    .expect("transaction: both earlier inserts were rolled back");
    let rows = d.applied(Some("ck_at")).await.unwrap();
    let ids: Vec<_> = rows.iter().map(|r| r.migration_id.as_str()).collect();
    assert_eq!(ids, ["2", "3"], "transaction: rows");
    assert!(
        rows[1].duration_ms < 999_999,
        "transaction: the row records the measured duration"
    );
    d.execute_in_transaction(
        "DELETE FROM ck_atomic;",
        &RowChange::Delete {
            app_name: "ck_at".into(),
            migration_id: "3".into(),
        },
    )
    .await
    .expect("transaction: delete");
    let rows = d.applied(Some("ck_at")).await.unwrap();
    assert_eq!(rows.len(), 1, "transaction: deleted with its SQL");
    d.execute("DROP TABLE ck_atomic;", false).await.unwrap();
}

/// The migration lock excludes a second connection and times out cleanly.
pub(super) async fn lock_excludes_and_times_out(factory: &dyn DriverFactory) {
    let table = TableName::parse("ck_lock").unwrap();
    let mut a = factory.connect(&table).await;
    let mut b = factory.connect(&table).await;
    a.ensure_table().await.unwrap();
    a.unlock()
        .await
        .expect("lock: releasing a lock not held is not an error");
    a.lock(Duration::from_secs(5))
        .await
        .expect("lock: first lock");
    a.lock(Duration::from_secs(5))
        .await
        .expect("lock: taken again by the connection that holds it");
    let started = Instant::now();
    let err = b
        .lock(Duration::from_secs(1))
        .await
        .expect_err("lock: second lock must time out");
    assert_eq!(err.kind, DriverErrorKind::LockTimeout, "lock: kind");
    assert_eq!(
        err.message, "another ferry run holds the lock",
        "lock: message"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "lock: waited for the timeout"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "lock: timeout honoured"
    );
    b.unlock()
        .await
        .expect("lock: releasing a lock another connection holds is not an error");
    let err = b
        .lock(Duration::ZERO)
        .await
        .expect_err("lock: another connection's unlock leaves the lock held");
    assert_eq!(err.kind, DriverErrorKind::LockTimeout, "lock: zero timeout");
    // Taken twice, released once: the lock does not stack.
    a.unlock().await.unwrap();
    b.lock(Duration::from_secs(5))
        .await
        .expect("lock: free after one unlock");
    b.unlock().await.unwrap();
    // Dropping a connection releases its lock (a lease lock: once its lease runs out, so a
    // driver tested on it should use a short lease).
    a.lock(Duration::from_secs(5)).await.unwrap();
    drop(a);
    let mut c = factory.connect(&table).await;
    c.lock(Duration::from_secs(10))
        .await
        .expect("lock: released when the connection closes");
    c.unlock().await.unwrap();
    b.unlock().await.unwrap();
}

/// The `Driver` contract: a `write` is read back at once by its connection, is committed
/// before the next `execute` runs, and at the latest by `unlock`.
pub(super) async fn write_is_visible_then_committed(factory: &dyn DriverFactory) {
    let table = TableName::parse("ck_write").unwrap();
    let mut a = factory.connect(&table).await;
    let mut b = factory.connect(&table).await;
    a.lock(Duration::from_secs(5)).await.unwrap();
    a.ensure_table().await.unwrap();
    let row = crate::driver::TrackingRow {
        app_name: "w".into(),
        migration_id: "1".into(),
        description: "write".into(),
        checksum: crate::checksum(""),
        down_sql: None,
        applied_at: chrono::Utc::now(),
        duration_ms: 0,
        dirty: true,
    };
    a.write(&RowChange::Insert(row)).await.unwrap();
    let own = a.applied(Some("w")).await.unwrap();
    assert_eq!(own.len(), 1, "write: visible to its own connection at once");
    a.execute("SELECT 1", false).await.unwrap();
    let other = b.applied(Some("w")).await.unwrap();
    assert!(
        other.len() == 1 && other[0].dirty,
        "write: a dirty row is committed before the SQL it guards runs"
    );
    a.write(&RowChange::MarkClean {
        app_name: "w".into(),
        migration_id: "1".into(),
        duration_ms: Some(7),
    })
    .await
    .unwrap();
    a.unlock().await.unwrap();
    let other = b.applied(Some("w")).await.unwrap();
    assert!(
        other.len() == 1 && !other[0].dirty && other[0].duration_ms == 7,
        "write: committed by unlock at the latest"
    );
}
