//! Integration tests of the SQLite driver: the core conformance suite and SQLite specifics.

use std::future::Future;
use std::path::PathBuf;
use std::task::{Context, Poll, Waker};

use ferry_core::testkit::{run_conformance, DriverFactory};
use ferry_core::{BoxFuture, Driver, DriverErrorKind, RowChange, TableName};

/// The SQLite driver never suspends, so polling once with a no-op waker drives it to the end.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

struct Factory {
    path: PathBuf,
}

impl DriverFactory for Factory {
    fn connect<'a>(&'a self, table: &'a TableName) -> BoxFuture<'a, Box<dyn Driver>> {
        let url = format!("sqlite:{}", self.path.display());
        Box::pin(async move {
            let driver = ferry_driver_sqlite::connect(&url, table.clone())
                .await
                .expect("open the test database");
            Box::new(driver) as Box<dyn Driver>
        })
    }
}

#[test]
fn conformance() {
    let dir = tempfile::tempdir().unwrap();
    let factory = Factory {
        path: dir.path().join("conformance.db"),
    };
    block_on(run_conformance(&factory));
}

#[test]
fn read_only_use_creates_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("never.db");
    let mut d = ferry_driver_sqlite::SqliteDriver::open(
        &format!("sqlite://{}", path.display()),
        TableName::default(),
    )
    .unwrap();
    assert!(!block_on(d.table_exists()).unwrap());
    assert!(block_on(d.applied(None)).unwrap().is_empty());
    assert!(!path.exists(), "a read created the database file");
    block_on(d.ensure_table()).unwrap();
    assert!(path.exists());
}

#[test]
fn missing_folder_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}/no/such/dir/x.db", dir.path().display());
    let mut d = ferry_driver_sqlite::SqliteDriver::open(&url, TableName::default()).unwrap();
    let err = block_on(d.ensure_table()).unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Connect);
    assert!(err.message.contains("does not exist"), "{err}");
}

#[test]
fn failed_transaction_rolls_back_sql_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("tx.db").display());
    let mut d = ferry_driver_sqlite::SqliteDriver::open(&url, TableName::default()).unwrap();
    block_on(d.ensure_table()).unwrap();
    let row = RowChange::Insert(ferry_core::NewRow {
        app_name: "a".into(),
        migration_id: "1".into(),
        description: "d".into(),
        checksum: "c".into(),
        down_sql: None,
        applied_at: chrono::Utc::now(),
        duration_ms: 0,
        dirty: false,
    });
    let err = block_on(d.execute_in_transaction(
        "CREATE TABLE kept (x INT);\nINSERT INTO missing VALUES (1);",
        &row,
    ))
    .unwrap_err();
    assert_eq!(err.line, Some(2));
    assert!(block_on(d.applied(None)).unwrap().is_empty());
    // `kept` was rolled back: creating it again works.
    block_on(d.execute_in_transaction("CREATE TABLE kept (x INT);", &row)).unwrap();
    assert_eq!(block_on(d.applied(None)).unwrap().len(), 1);
}
