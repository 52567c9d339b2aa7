//! The in-memory driver's own model: batches, transactions, failures and the shared lock.

use std::time::{Duration, Instant};

use chrono::Utc;
use ferry_core::driver::{RowChange, TrackingRow};
use ferry_core::testkit::{block_on, MemoryDatabase};
use ferry_core::{Driver, DriverErrorKind, TableName};

fn insert(app: &str, id: &str) -> RowChange {
    RowChange::Insert(TrackingRow {
        app_name: app.into(),
        migration_id: id.into(),
        description: format!("migration {id}"),
        checksum: "0".repeat(64),
        down_sql: None,
        applied_at: Utc::now(),
        duration_ms: 0,
        dirty: false,
    })
}

#[test]
fn execute_keeps_the_statements_before_a_failure_and_names_its_line() {
    let db = MemoryDatabase::new();
    let mut d = db.open(TableName::default());
    let err = block_on(d.execute(
        "CREATE TABLE t (id INT);\n\n-- a comment\nINSERT INTO missing VALUES (1);\nCREATE TABLE u (id INT);",
        false,
    ))
    .unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Query);
    assert_eq!(err.line, Some(4));
    assert_eq!(err.message, "no such table: missing");
    assert_eq!(db.tables(), ["t"]);
    assert_eq!(db.executed(), ["CREATE TABLE t (id INT)"]);
}

#[test]
fn a_transaction_rolls_back_its_statements_and_row_change() {
    let db = MemoryDatabase::new();
    let mut d = db.open(TableName::default());
    block_on(d.ensure_table()).unwrap();
    db.fail_on("boom");
    let err = block_on(d.execute_in_transaction(
        "CREATE TABLE t (id INT);\nSELECT 'boom';",
        &insert("a", "1"),
    ))
    .unwrap_err();
    assert_eq!(err.line, Some(2));
    assert!(db.tables().is_empty());
    assert!(block_on(d.applied(None)).unwrap().is_empty());

    db.clear_failures();
    block_on(d.execute_in_transaction("CREATE TABLE t (id INT);", &insert("a", "1"))).unwrap();
    assert_eq!(db.tables(), ["t"]);
    assert_eq!(block_on(d.applied(Some("a"))).unwrap().len(), 1);
    // The row change itself can fail (UNIQUE), rolling back the SQL before it.
    let err = block_on(d.execute_in_transaction("DROP TABLE t;", &insert("a", "1"))).unwrap_err();
    assert!(err.message.starts_with("UNIQUE constraint failed"), "{err}");
    assert_eq!(db.tables(), ["t"]);
}

#[test]
fn without_transactional_ddl_ddl_commits_implicitly() {
    let db = MemoryDatabase::new().with_transactional_ddl(false);
    let mut d = db.open(TableName::default());
    assert!(!d.capabilities().transactional_ddl);
    block_on(d.ensure_table()).unwrap();
    let err = block_on(d.execute_in_transaction(
        "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\nINSERT INTO missing VALUES (1);",
        &insert("a", "1"),
    ))
    .unwrap_err();
    assert_eq!(err.line, Some(3));
    assert_eq!(db.tables(), ["t"], "the CREATE TABLE committed implicitly");
    assert!(block_on(d.applied(None)).unwrap().is_empty());
}

#[test]
fn connections_share_rows_and_tracking_tables_are_keyed_by_name() {
    let db = MemoryDatabase::new();
    let one = TableName::parse("one").unwrap();
    let mut a = db.open(one.clone());
    let mut b = db.open(one.clone());
    let mut other = db.open(TableName::parse("other").unwrap());
    block_on(a.ensure_table()).unwrap();
    block_on(a.write(&insert("x", "1"))).unwrap();
    assert_eq!(block_on(b.applied(None)).unwrap().len(), 1);
    assert!(!block_on(other.table_exists()).unwrap());
    assert_eq!(
        block_on(other.applied(None)).unwrap_err().message,
        "no such table: other"
    );
    assert_eq!(db.tracking_rows(&one).len(), 1);
    assert_eq!(db.tracking_reads(), 2);
}

#[test]
fn a_waiting_lock_is_taken_as_soon_as_the_holder_releases_it() {
    let db = MemoryDatabase::new();
    let table = TableName::default();
    let mut holder = db.open(table.clone());
    block_on(holder.lock(Duration::from_secs(1))).unwrap();
    assert!(db.is_locked(&table));
    // Taking the lock it already holds succeeds at once.
    block_on(holder.lock(Duration::from_secs(1))).unwrap();
    let waiter = {
        let db = db.clone();
        let table = table.clone();
        std::thread::spawn(move || {
            let mut d = db.open(table);
            let started = Instant::now();
            block_on(d.lock(Duration::from_secs(30))).unwrap();
            started.elapsed()
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    drop(holder);
    let waited = waiter.join().unwrap();
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    assert!(
        waited < Duration::from_secs(10),
        "woken by the release, not the timeout"
    );
    assert!(!db.is_locked(&table), "the waiter's connection was dropped");
}

#[test]
fn the_snapshot_lists_user_tables_without_the_tracking_table() {
    use ferry_core::testkit::snapshot::{assert_change, assert_left_out};
    let db = MemoryDatabase::new();
    let mut d = db.open(TableName::default());
    block_on(d.ensure_table()).unwrap();
    block_on(d.execute("CREATE TABLE ferry_migrations_lock (x INT);", false)).unwrap();
    let s = block_on(d.snapshot()).unwrap();
    assert!(s.is_empty(), "{s:?}");
    assert_left_out(&s, "ferry_migrations");
    let s = block_on(assert_change(
        &mut d,
        s,
        "CREATE TABLE Posts (id INT);",
        &[("table", "posts", "exists")],
    ));
    let s = block_on(assert_change(
        &mut d,
        s,
        "INSERT INTO posts VALUES (1);",
        &[],
    ));
    block_on(assert_change(
        &mut d,
        s,
        "DROP TABLE posts;",
        &[("table", "posts", "exists")],
    ));
}

#[test]
fn a_preload_is_what_the_first_command_reads() {
    use ferry_core::{AppConfig, AppRegistry, CheckMigrationManager, Migrator, Preload, Status};
    let dir = tempfile::tempdir().unwrap();
    let write = |folder: &str, name: &str| {
        let folder = dir.path().join(folder);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(name), "-- ferry:up\nCREATE TABLE t (id INT);\n").unwrap();
    };
    write("now", "1_one.sql");
    write("before", "1_one.sql");
    write("before", "2_two.sql");
    let registry = |folder: &str| {
        AppRegistry::new(vec![AppConfig::new("a", dir.path().join(folder))]).unwrap()
    };
    // The preload read app `a` as it was (two files); the first command uses that, the next
    // one reads the folder (one file).
    let preload = Preload::start(&registry("before"), "all");
    let db = MemoryDatabase::new();
    let mut m = Migrator::new(registry("now"), Box::new(db.open(TableName::default())))
        .with_preload(preload);
    let ids = |statuses: Vec<ferry_core::MigrationStatus>| -> Vec<(String, Status)> {
        statuses
            .into_iter()
            .map(|s| (s.migration_id, s.status))
            .collect()
    };
    let first = block_on(CheckMigrationManager::new("all").get_migration_statuses(&mut m));
    assert_eq!(
        ids(first.unwrap()),
        [("1".into(), Status::Pending), ("2".into(), Status::Pending)]
    );
    let second = block_on(CheckMigrationManager::new("a").get_migration_statuses(&mut m));
    assert_eq!(ids(second.unwrap()), [("1".into(), Status::Pending)]);

    // A file error found by the preload is the command's error.
    write("bad", "x_bad.sql");
    let preload = Preload::start(&registry("bad"), "a");
    let mut m = Migrator::new(registry("bad"), Box::new(db.open(TableName::default())))
        .with_preload(preload);
    let err = block_on(CheckMigrationManager::new("a").get_migration_statuses(&mut m)).unwrap_err();
    assert!(err.to_string().contains("x_bad.sql"), "{err}");
}
