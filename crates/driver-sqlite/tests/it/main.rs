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
    let row = RowChange::Insert(ferry_core::TrackingRow {
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

mod library {
    //! The library API of `ferry-core` as a Rust program uses it, on SQLite.

    use super::block_on;
    use ferry_core::{
        run_backwards, run_forwards, AppConfig, AppRegistry, Confirm, ConfirmRequest, Error,
        Migration, Migrator, Status, TableName,
    };

    struct Answer(bool);

    impl Confirm for Answer {
        fn confirm(&self, request: &ConfirmRequest) -> ferry_core::Result<bool> {
            assert_eq!(request.question, "Reverse 2 migration(s)?");
            assert_eq!(request.items[0].migration_id, "2", "newest first");
            Ok(self.0)
        }
    }

    fn migrator(confirm: bool) -> (tempfile::TempDir, Migrator) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("lib.db").display());
        let app = AppConfig::embedded(
            "embedded",
            vec![
                Migration::new(
                    "1",
                    "one",
                    "CREATE TABLE one (id INTEGER);",
                    Some("DROP TABLE one;"),
                ),
                Migration::new(
                    "2",
                    "two",
                    "CREATE TABLE two (id INTEGER);",
                    Some("DROP TABLE two;"),
                ),
            ],
        );
        let driver = block_on(ferry_driver_sqlite::connect(&url, TableName::default())).unwrap();
        let m = Migrator::new(AppRegistry::new(vec![app]).unwrap(), Box::new(driver))
            .with_confirm(Answer(confirm));
        (dir, m)
    }

    #[test]
    fn declined_confirmation_is_an_unsuccessful_result() {
        let (_dir, mut m) = migrator(false);
        assert!(
            block_on(run_forwards(&mut m, "embedded", Some("all"), false, false))
                .unwrap()
                .success
        );
        let r = block_on(run_backwards(
            &mut m,
            "embedded",
            Some("all"),
            false,
            false,
            false,
        ))
        .unwrap();
        assert!(!r.success);
        assert_eq!(r.message.as_deref(), Some("Not proceeding."));
        let statuses = block_on(
            ferry_core::CheckMigrationManager::new("embedded").get_migration_statuses(&mut m),
        )
        .unwrap();
        assert!(statuses
            .iter()
            .all(|s| s.status == Status::Applied && s.has_ran));
    }

    #[test]
    fn accepted_confirmation_reverses_and_unknown_ids_are_unsuccessful() {
        let (_dir, mut m) = migrator(true);
        let r = block_on(run_forwards(&mut m, "embedded", Some("42"), false, false)).unwrap();
        assert!(!r.success, "unknown ID");
        block_on(ferry_core::forwards(&mut m, "embedded")).unwrap();
        let r = block_on(run_backwards(
            &mut m,
            "embedded",
            Some("all"),
            false,
            false,
            false,
        ))
        .unwrap();
        assert!(r.success);
        assert_eq!(r.migrations.len(), 2);
        block_on(ferry_core::forwards(&mut m, "embedded")).unwrap();
        let err = block_on(ferry_core::backwards(&mut m, "embedded", Some("7"), true)).unwrap_err();
        assert!(matches!(err, Error::Unsuccessful(_)), "{err:?}");
        let err = block_on(run_forwards(&mut m, "nope", Some("all"), false, false)).unwrap_err();
        assert!(err.to_string().contains("known apps: embedded"), "{err}");
    }
}
