//! The driver conformance suite: the same cases, run by every driver crate against its own
//! database with its own connection factory.
//!
//! ```ignore
//! // In a driver crate's tests, with `ferry-core = { features = ["testkit"] }`:
//! ferry_core::testkit::run_conformance(&MyFactory { url }).await;
//! ```
//!
//! Each case uses its own tracking table and its own app and table names, so the cases can
//! share one database. A failing case panics with its name.

use std::time::{Duration, Instant};

use chrono::TimeZone;

use crate::{
    AppConfig, AppRegistry, BackwardsMigrationManager, BoxFuture, CheckMigrationManager,
    CleanManager, Driver, DriverErrorKind, Error, ForwardsMigrationManager, Migration, Migrator,
    ResolveManager, RowChange, Status, TableName, TrackingRow,
};

/// Opens connections to the database under test.
pub trait DriverFactory: Send + Sync {
    /// Open a new connection to the (same) test database with tracking table `table`.
    fn connect<'a>(&'a self, table: &'a TableName) -> BoxFuture<'a, Box<dyn Driver>>;
}

/// Run every conformance case. Panics on the first failure, naming the case.
pub async fn run_conformance(factory: &dyn DriverFactory) {
    table_lifecycle(factory).await;
    row_changes_round_trip(factory).await;
    transaction_is_atomic(factory).await;
    apply_and_reverse(factory).await;
    partial_failure(factory).await;
    no_transaction_and_dirty(factory).await;
    lock_excludes_and_times_out(factory).await;
    write_is_visible_then_committed(factory).await;
    checksum_missing_and_clean(factory).await;
    rows_are_filtered_by_app(factory).await;
    stored_down_sql_and_irreversible(factory).await;
    fake_records_without_running(factory).await;
    empty_down_is_a_no_op(factory).await;
}

fn mig(id: &str, up: &str, down: Option<&str>) -> Migration {
    Migration::new(id, format!("migration {id}"), up, down)
}

/// A tracking row whose `applied_at` has microseconds and whose duration no real run takes.
fn tracking_row(app: &str, id: &str) -> TrackingRow {
    TrackingRow {
        app_name: app.into(),
        migration_id: id.into(),
        description: format!("migration {id}"),
        checksum: "a".repeat(64),
        down_sql: Some(String::new()),
        applied_at: chrono::Utc
            .with_ymd_and_hms(2024, 2, 29, 23, 59, 58)
            .unwrap()
            + chrono::Duration::microseconds(123_456),
        duration_ms: 999_999,
        dirty: false,
    }
}

async fn migrator(factory: &dyn DriverFactory, table: &str, apps: Vec<AppConfig>) -> Migrator {
    let table = TableName::parse(table).expect("valid table name");
    let driver = factory.connect(&table).await;
    Migrator::new(AppRegistry::new(apps).expect("valid registry"), driver)
}

async fn statuses(m: &mut Migrator, app: &str) -> Vec<(String, Status)> {
    CheckMigrationManager::new(app)
        .get_migration_statuses(m)
        .await
        .expect("check succeeds")
        .into_iter()
        .map(|s| (s.migration_id, s.status))
        .collect()
}

fn st(list: &[(&str, Status)]) -> Vec<(String, Status)> {
    list.iter().map(|(i, s)| (i.to_string(), *s)).collect()
}

async fn forwards(m: &mut Migrator, app: &str) -> crate::Result<crate::MigrationResult> {
    ForwardsMigrationManager::new(app).run(m).await
}

async fn backwards_all(m: &mut Migrator, app: &str) -> crate::Result<crate::MigrationResult> {
    BackwardsMigrationManager {
        migration_id: Some("all".into()),
        auto_agree: true,
        ..BackwardsMigrationManager::new(app)
    }
    .run(m)
    .await
}

/// The tracking table is created only by writing commands and reads as empty before.
async fn table_lifecycle(factory: &dyn DriverFactory) {
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
async fn row_changes_round_trip(factory: &dyn DriverFactory) {
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
async fn transaction_is_atomic(factory: &dyn DriverFactory) {
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

/// Forwards applies in ID order with rows in apply order; backwards reverses newest first.
async fn apply_and_reverse(factory: &dyn DriverFactory) {
    let apps = vec![AppConfig::embedded(
        "ck_app",
        vec![
            mig(
                "10",
                "INSERT INTO ck_people (id) VALUES (1);",
                Some("DELETE FROM ck_people;"),
            ),
            mig(
                "007",
                "CREATE TABLE ck_people (id INTEGER PRIMARY KEY);",
                Some("DROP TABLE ck_people;"),
            ),
            mig(
                "9",
                "CREATE TABLE ck_pets (id INTEGER PRIMARY KEY);",
                Some("DROP TABLE ck_pets;"),
            ),
        ],
    )];
    let mut m = migrator(factory, "ck_apply_trk", apps).await;
    let r = forwards(&mut m, "ck_app")
        .await
        .expect("apply_and_reverse: forwards");
    assert!(r.success);
    let ids: Vec<_> = r
        .migrations
        .iter()
        .map(|p| p.migration_id.as_str())
        .collect();
    assert_eq!(ids, ["007", "9", "10"], "apply_and_reverse: ID order");
    let rows = m.driver_mut().applied(Some("ck_app")).await.unwrap();
    let row_ids: Vec<_> = rows.iter().map(|r| r.migration_id.as_str()).collect();
    assert_eq!(
        row_ids,
        ["007", "9", "10"],
        "apply_and_reverse: apply order and exact IDs"
    );
    assert!(rows.windows(2).all(|w| w[0].row_id < w[1].row_id));
    assert!(rows.iter().all(|r| !r.dirty && r.checksum.len() == 64));

    let again = forwards(&mut m, "ck_app").await.unwrap();
    assert!(
        again.success && again.migrations.is_empty(),
        "apply_and_reverse: second run does nothing"
    );

    let one = BackwardsMigrationManager {
        auto_agree: true,
        ..BackwardsMigrationManager::new("ck_app")
    }
    .run(&mut m)
    .await
    .unwrap();
    assert_eq!(
        one.migrations[0].migration_id, "10",
        "apply_and_reverse: `1` reverses the newest"
    );
    let rest = backwards_all(&mut m, "ck_app").await.unwrap();
    let ids: Vec<_> = rest
        .migrations
        .iter()
        .map(|p| p.migration_id.as_str())
        .collect();
    assert_eq!(ids, ["9", "007"], "apply_and_reverse: newest first");
    assert!(m
        .driver_mut()
        .applied(Some("ck_app"))
        .await
        .unwrap()
        .is_empty());
    // The tables are gone: applying again works.
    forwards(&mut m, "ck_app")
        .await
        .expect("apply_and_reverse: re-apply after reversal");
    backwards_all(&mut m, "ck_app").await.unwrap();
}

/// A failing migration stops the run: earlier ones stay, the failing one leaves no row.
async fn partial_failure(factory: &dyn DriverFactory) {
    let apps = vec![AppConfig::embedded(
        "ck_fail",
        vec![
            mig("1", "CREATE TABLE ck_fail_a (id INTEGER PRIMARY KEY);", Some("DROP TABLE ck_fail_a;")),
            mig("2", "INSERT INTO ck_fail_a (id) VALUES (1);\nINSERT INTO ck_no_such_table (id) VALUES (1);", Some("")),
            mig("3", "CREATE TABLE ck_fail_c (id INTEGER PRIMARY KEY);", Some("DROP TABLE ck_fail_c;")),
        ],
    )];
    let mut m = migrator(factory, "ck_partial_trk", apps).await;
    let err = forwards(&mut m, "ck_fail")
        .await
        .expect_err("partial_failure: forwards must fail");
    match &err {
        Error::Execute {
            app,
            id,
            line,
            source,
            ..
        } => {
            assert_eq!(
                (app.as_str(), id.as_str()),
                ("ck_fail", "2"),
                "partial_failure: names the migration"
            );
            assert_eq!(source.kind, DriverErrorKind::Query);
            if let Some(line) = line {
                assert_eq!(*line, 2, "partial_failure: error line within the section");
            }
        }
        other => panic!("partial_failure: unexpected error {other:?}"),
    }
    let expected = [
        ("1", Status::Applied),
        ("2", Status::Pending),
        ("3", Status::Pending),
    ];
    assert_eq!(
        statuses(&mut m, "ck_fail").await,
        st(&expected),
        "partial_failure: statuses"
    );
    // The failed migration's first statement was rolled back with it (where DML is transactional).
    let mut fixed = migrator(
        factory,
        "ck_partial_trk",
        vec![AppConfig::embedded(
            "ck_fail",
            vec![
                mig(
                    "1",
                    "CREATE TABLE ck_fail_a (id INTEGER PRIMARY KEY);",
                    Some("DROP TABLE ck_fail_a;"),
                ),
                mig(
                    "2",
                    "INSERT INTO ck_fail_a (id) VALUES (1);",
                    Some("DELETE FROM ck_fail_a;"),
                ),
                mig(
                    "3",
                    "CREATE TABLE ck_fail_c (id INTEGER PRIMARY KEY);",
                    Some("DROP TABLE ck_fail_c;"),
                ),
            ],
        )],
    )
    .await;
    forwards(&mut fixed, "ck_fail")
        .await
        .expect("partial_failure: the rolled-back insert does not collide");
    backwards_all(&mut fixed, "ck_fail").await.unwrap();
}

/// `no-transaction` sections run under the dirty protocol; a failure leaves a dirty row that
/// blocks both directions until resolved.
async fn no_transaction_and_dirty(factory: &dyn DriverFactory) {
    let good = mig(
        "1",
        "CREATE TABLE ck_nt (id INTEGER PRIMARY KEY);",
        Some("DROP TABLE ck_nt;"),
    )
    .with_no_transaction(true, true);
    let bad = mig("2", "INSERT INTO ck_nt_missing (id) VALUES (1);", Some(""))
        .with_no_transaction(true, false);
    let mut m = migrator(
        factory,
        "ck_dirty_trk",
        vec![AppConfig::embedded("ck_nt", vec![good, bad])],
    )
    .await;
    assert!(
        forwards(&mut m, "ck_nt").await.is_err(),
        "no_transaction: migration 2 must fail"
    );
    let expected = [("1", Status::Applied), ("2", Status::Dirty)];
    assert_eq!(
        statuses(&mut m, "ck_nt").await,
        st(&expected),
        "no_transaction: dirty row visible"
    );
    assert!(
        matches!(forwards(&mut m, "ck_nt").await, Err(Error::Dirty { .. })),
        "no_transaction: forwards refuses while dirty"
    );
    assert!(
        matches!(
            backwards_all(&mut m, "ck_nt").await,
            Err(Error::Dirty { .. })
        ),
        "no_transaction: backwards refuses while dirty"
    );
    ResolveManager {
        app_name: "ck_nt".into(),
        migration_id: "2".into(),
        applied: false,
    }
    .run(&mut m)
    .await
    .expect("no_transaction: resolve --reverted");
    assert_eq!(
        statuses(&mut m, "ck_nt").await,
        st(&[("1", Status::Applied), ("2", Status::Pending)])
    );
    assert!(
        ResolveManager {
            app_name: "ck_nt".into(),
            migration_id: "1".into(),
            applied: true
        }
        .run(&mut m)
        .await
        .is_err(),
        "no_transaction: resolving a clean row is an error"
    );
    // resolve --applied keeps the row.
    m.driver_mut().lock(Duration::from_secs(5)).await.unwrap();
    m.driver_mut()
        .write(&RowChange::MarkDirty {
            app_name: "ck_nt".into(),
            migration_id: "1".into(),
        })
        .await
        .unwrap();
    m.driver_mut().unlock().await.unwrap();
    ResolveManager {
        app_name: "ck_nt".into(),
        migration_id: "1".into(),
        applied: true,
    }
    .run(&mut m)
    .await
    .expect("no_transaction: resolve --applied");
    assert_eq!(statuses(&mut m, "ck_nt").await[0].1, Status::Applied);
    let r = BackwardsMigrationManager {
        auto_agree: true,
        ..BackwardsMigrationManager::new("ck_nt")
    }
    .run(&mut m)
    .await
    .expect("no_transaction: reversal outside a transaction");
    assert_eq!(r.migrations.len(), 1);
    assert!(m
        .driver_mut()
        .applied(Some("ck_nt"))
        .await
        .unwrap()
        .is_empty());
}

/// The migration lock excludes a second connection and times out cleanly.
async fn lock_excludes_and_times_out(factory: &dyn DriverFactory) {
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
    // Dropping a connection releases its lock.
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
async fn write_is_visible_then_committed(factory: &dyn DriverFactory) {
    let table = TableName::parse("ck_write").unwrap();
    let mut a = factory.connect(&table).await;
    let mut b = factory.connect(&table).await;
    a.lock(Duration::from_secs(5)).await.unwrap();
    a.ensure_table().await.unwrap();
    let row = crate::TrackingRow {
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

/// `changed` and `missing` statuses; `clean` forgets missing rows of one app only.
async fn checksum_missing_and_clean(factory: &dyn DriverFactory) {
    let v1 = vec![
        mig(
            "1",
            "CREATE TABLE ck_sum (id INTEGER PRIMARY KEY);",
            Some("DROP TABLE ck_sum;"),
        ),
        mig(
            "2",
            "INSERT INTO ck_sum (id) VALUES (1);",
            Some("DELETE FROM ck_sum;"),
        ),
    ];
    let mut m = migrator(
        factory,
        "ck_checksum_trk",
        vec![AppConfig::embedded("ck_sum", v1)],
    )
    .await;
    forwards(&mut m, "ck_sum").await.unwrap();
    let edited = vec![mig(
        "1",
        "CREATE TABLE ck_sum (id INTEGER PRIMARY KEY); -- edited",
        Some("DROP TABLE ck_sum;"),
    )];
    let mut m = migrator(
        factory,
        "ck_checksum_trk",
        vec![AppConfig::embedded("ck_sum", edited)],
    )
    .await;
    assert_eq!(
        statuses(&mut m, "ck_sum").await,
        st(&[("1", Status::Changed), ("2", Status::Missing)]),
        "checksum: changed and missing"
    );
    let statuses_json = CheckMigrationManager::new("ck_sum")
        .get_migration_statuses(&mut m)
        .await
        .unwrap();
    assert!(statuses_json
        .iter()
        .all(|s| s.has_ran && s.applied_at.is_some()));
    let r = CleanManager {
        app_name: "ck_sum".into(),
        auto_agree: true,
        preview: false,
    }
    .run(&mut m)
    .await
    .unwrap();
    assert_eq!(r.migrations.len(), 1, "clean: forgets the missing row");
    assert_eq!(
        statuses(&mut m, "ck_sum").await,
        st(&[("1", Status::Changed)])
    );
    backwards_all(&mut m, "ck_sum").await.unwrap();
}

/// One app's commands never touch another app's rows, even with the same IDs.
async fn rows_are_filtered_by_app(factory: &dyn DriverFactory) {
    let a = AppConfig::embedded(
        "ck_one",
        vec![mig(
            "1",
            "CREATE TABLE ck_one (id INTEGER);",
            Some("DROP TABLE ck_one;"),
        )],
    );
    let b = AppConfig::embedded(
        "ck_two",
        vec![mig(
            "1",
            "CREATE TABLE ck_two (id INTEGER);",
            Some("DROP TABLE ck_two;"),
        )],
    );
    let mut m = migrator(factory, "ck_filter_trk", vec![a, b]).await;
    forwards(&mut m, "all").await.unwrap();
    backwards_all(&mut m, "ck_one").await.unwrap();
    assert_eq!(
        statuses(&mut m, "ck_one").await,
        st(&[("1", Status::Pending)])
    );
    assert_eq!(
        statuses(&mut m, "ck_two").await,
        st(&[("1", Status::Applied)]),
        "filter: other app untouched"
    );
    backwards_all(&mut m, "all").await.unwrap();
}

/// A missing file reverses with the stored down SQL; an irreversible one is refused first.
async fn stored_down_sql_and_irreversible(factory: &dyn DriverFactory) {
    let full = vec![
        mig(
            "1",
            "CREATE TABLE ck_keep (id INTEGER);",
            Some("DROP TABLE ck_keep;"),
        ),
        mig("2", "CREATE TABLE ck_irrev (id INTEGER);", None),
        mig(
            "3",
            "CREATE TABLE ck_gone (id INTEGER);",
            Some("DROP TABLE ck_gone;"),
        ),
    ];
    let mut m = migrator(
        factory,
        "ck_stored_trk",
        vec![AppConfig::embedded("ck_st", full)],
    )
    .await;
    forwards(&mut m, "ck_st").await.unwrap();
    // The down section is stored as it was; an irreversible migration stores NULL.
    let stored: Vec<Option<String>> = m
        .driver_mut()
        .applied(Some("ck_st"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.row.down_sql)
        .collect();
    assert_eq!(
        stored,
        [
            Some("DROP TABLE ck_keep;".to_owned()),
            None,
            Some("DROP TABLE ck_gone;".to_owned())
        ],
        "stored down_sql"
    );
    let without_3 = vec![
        mig(
            "1",
            "CREATE TABLE ck_keep (id INTEGER);",
            Some("DROP TABLE ck_keep;"),
        ),
        mig("2", "CREATE TABLE ck_irrev (id INTEGER);", None),
    ];
    let mut m = migrator(
        factory,
        "ck_stored_trk",
        vec![AppConfig::embedded("ck_st", without_3)],
    )
    .await;
    let err = backwards_all(&mut m, "ck_st")
        .await
        .expect_err("irreversible: refused");
    assert!(
        matches!(&err, Error::Irreversible { id, .. } if id == "2"),
        "irreversible: {err:?}"
    );
    assert_eq!(
        m.driver_mut().applied(Some("ck_st")).await.unwrap().len(),
        3,
        "irreversible: nothing changed"
    );
    let r = BackwardsMigrationManager {
        auto_agree: true,
        ..BackwardsMigrationManager::new("ck_st")
    }
    .run(&mut m)
    .await
    .expect("stored down SQL: reverse the migration whose file is gone");
    assert_eq!(r.migrations[0].migration_id, "3");
    // The table was really dropped: creating it again works.
    let mut again = migrator(
        factory,
        "ck_stored_trk",
        vec![AppConfig::embedded(
            "ck_st2",
            vec![mig(
                "1",
                "CREATE TABLE ck_gone (id INTEGER);",
                Some("DROP TABLE ck_gone;"),
            )],
        )],
    )
    .await;
    forwards(&mut again, "ck_st2")
        .await
        .expect("stored down SQL ran");
    backwards_all(&mut again, "ck_st2").await.unwrap();
}

/// `fake` records without running the SQL.
async fn fake_records_without_running(factory: &dyn DriverFactory) {
    let fake = vec![mig(
        "1",
        "CREATE TABLE ck_fake (id INTEGER);",
        Some("DROP TABLE ck_fake;"),
    )];
    let mut m = migrator(
        factory,
        "ck_fake_trk",
        vec![AppConfig::embedded("ck_fk", fake)],
    )
    .await;
    let r = ForwardsMigrationManager {
        fake: true,
        auto_agree: true,
        ..ForwardsMigrationManager::new("ck_fk")
    }
    .run(&mut m)
    .await
    .unwrap();
    assert_eq!(r.migrations.len(), 1);
    assert_eq!(
        statuses(&mut m, "ck_fk").await,
        st(&[("1", Status::Applied)])
    );
    let real = vec![mig(
        "1",
        "CREATE TABLE ck_fake (id INTEGER);",
        Some("DROP TABLE ck_fake;"),
    )];
    let mut m2 = migrator(
        factory,
        "ck_fake_trk",
        vec![AppConfig::embedded("ck_fk2", real)],
    )
    .await;
    forwards(&mut m2, "ck_fk2")
        .await
        .expect("fake: the table was not created");
    backwards_all(&mut m2, "ck_fk2").await.unwrap();
}

/// An empty down section reverses by deleting the row only.
async fn empty_down_is_a_no_op(factory: &dyn DriverFactory) {
    let list = vec![
        mig(
            "1",
            "CREATE TABLE ck_noop (id INTEGER);",
            Some("-- nothing to undo\n"),
        ),
        mig("2", "CREATE TABLE ck_noop_empty (id INTEGER);", Some("")),
    ];
    let mut m = migrator(
        factory,
        "ck_noop_trk",
        vec![AppConfig::embedded("ck_no", list)],
    )
    .await;
    forwards(&mut m, "ck_no").await.unwrap();
    let rows = m.driver_mut().applied(Some("ck_no")).await.unwrap();
    assert_eq!(
        rows[1].down_sql.as_deref(),
        Some(""),
        "empty down: stored as ''"
    );
    backwards_all(&mut m, "ck_no")
        .await
        .expect("empty down: reversal succeeds");
    assert!(m
        .driver_mut()
        .applied(Some("ck_no"))
        .await
        .unwrap()
        .is_empty());
    // The table is still there: a migration dropping it works.
    let drop = vec![mig("1", "DROP TABLE ck_noop;", None)];
    let mut m2 = migrator(
        factory,
        "ck_noop_trk",
        vec![AppConfig::embedded("ck_no2", drop)],
    )
    .await;
    forwards(&mut m2, "ck_no2")
        .await
        .expect("empty down: nothing ran");
}
