//! `ferry::migrate` and `ferry::connect` on real databases: SQLite files, and scratch
//! databases on the PostgreSQL and MySQL/MariaDB test servers (`FERRY_TEST_POSTGRES_URL`,
//! `FERRY_TEST_MYSQL_URL`, else throwaway servers). Every test creates its own database and
//! drops it at the end. A backend's tests need its feature (all three by default).

use ferry::embedded::{EmbeddedApp, EmbeddedFile};
use ferry::{CheckMigrationManager, DriverErrorKind, Embedded, Error, Status, TableName};

const CREATE: EmbeddedFile = EmbeddedFile {
    name: "0001_create_notes.sql",
    path: "migrations/0001_create_notes.sql",
    bytes: b"-- ferry:up\nCREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(100));\n-- ferry:down\nDROP TABLE notes;\n",
};
const TAGS: EmbeddedFile = EmbeddedFile {
    name: "0002_create_tags.sql",
    path: "migrations/0002_create_tags.sql",
    bytes:
        b"-- ferry:up\nCREATE TABLE tags (id INT PRIMARY KEY);\n-- ferry:down\nDROP TABLE tags;\n",
};
// Fails unless 0001 really ran: the report cannot claim it without the table.
const FIRST_NOTE: EmbeddedFile = EmbeddedFile {
    name: "0003_first_note.sql",
    path: "migrations/0003_first_note.sql",
    bytes: b"-- ferry:up\nINSERT INTO notes (id, body) VALUES (1, 'first');\n-- ferry:down\nDELETE FROM notes WHERE id = 1;\n",
};

/// 0001 and 0003: what the first release of the program embeds.
const RELEASE_1: Embedded = Embedded::new(&[EmbeddedApp {
    name: "notes",
    dir: "migrations",
    depends_on: &[],
    files: &[CREATE, FIRST_NOTE],
}]);

/// 0001, 0002 and 0003: 0002 arrived after 0003 was applied (a merged branch).
const RELEASE_2: Embedded = Embedded::new(&[EmbeddedApp {
    name: "notes",
    dir: "migrations",
    depends_on: &[],
    files: &[CREATE, TAGS, FIRST_NOTE],
}]);

#[cfg(feature = "postgres")]
async fn on_postgres<Fut: std::future::Future<Output = ()>>(body: impl FnOnce(String) -> Fut) {
    use ferry_driver_postgres::testing;
    ferry_core::scratch::with_scratch_database(
        "facade",
        testing::create_database,
        testing::drop_database,
        body,
    )
    .await;
}

#[cfg(feature = "mysql")]
async fn on_mysql<Fut: std::future::Future<Output = ()>>(body: impl FnOnce(String) -> Fut) {
    use ferry_driver_mysql::testing;
    ferry_core::scratch::with_scratch_database(
        "facade",
        testing::create_database,
        testing::drop_database,
        body,
    )
    .await;
}

/// The statuses of every migration on `url`, as `ferry check` reads them.
async fn statuses(url: &str) -> Vec<(String, Status)> {
    let driver = ferry::connect(url, TableName::default()).await.unwrap();
    let mut migrator = RELEASE_2.migrator(driver).unwrap();
    CheckMigrationManager::new("all")
        .get_migration_statuses(&mut migrator)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.migration_id, s.status))
        .collect()
}

/// One program's life on `url`: first start applies 0001 and 0003, a second start has
/// nothing to do, the next release applies 0002 with an out-of-order warning.
async fn startup_scenario(url: &str, shown: &str) {
    let applied = ferry::migrate(url, RELEASE_1).await.unwrap();
    let ids: Vec<&str> = applied
        .migrations
        .iter()
        .map(|m| m.migration_id.as_str())
        .collect();
    assert_eq!(ids, ["0001", "0003"], "{applied}");
    let text = applied.to_string();
    assert!(
        text.starts_with(&format!("{shown}: applied 2 migrations")),
        "{text}"
    );
    assert!(text.contains("\n  notes 0001 create notes"), "{text}");
    assert!(applied.warnings.is_empty(), "{applied}");

    let again = ferry::migrate(url, RELEASE_1).await.unwrap();
    assert!(again.is_up_to_date(), "{again}");
    assert_eq!(
        again.to_string(),
        format!("{shown}: up to date, no migration to apply")
    );

    let next = ferry::migrate(url, RELEASE_2).await.unwrap();
    let ids: Vec<&str> = next
        .migrations
        .iter()
        .map(|m| m.migration_id.as_str())
        .collect();
    assert_eq!(ids, ["0002"], "{next}");
    assert_eq!(next.warnings.len(), 1, "{next}");
    assert!(next.warnings[0].contains("0002"), "{next}");
    assert!(
        next.to_string().contains("\nwarning: "),
        "the one call shows ferry's warnings: {next}"
    );

    let all = statuses(url).await;
    assert_eq!(
        all,
        [
            ("0001".to_owned(), Status::Applied),
            ("0002".to_owned(), Status::Applied),
            ("0003".to_owned(), Status::Applied),
        ]
    );
}

/// Four instances of a program starting at once: each migration is applied once.
async fn concurrent_startup(url: &str) {
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move { ferry::migrate(&url, RELEASE_2).await })
        })
        .collect();
    let mut applied = Vec::new();
    for task in tasks {
        let report = task.await.unwrap().unwrap();
        applied.extend(report.migrations.into_iter().map(|m| m.migration_id));
    }
    applied.sort();
    assert_eq!(applied, ["0001", "0002", "0003"]);
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread")]
async fn migrate_at_startup_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("app.db").display());
    startup_scenario(&url, &url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
async fn migrate_at_startup_on_postgres() {
    on_postgres(async |url: String| {
        let shown = ferry_core::driver::redact_url(&url);
        startup_scenario(&url, &shown).await;
    })
    .await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread")]
async fn migrate_at_startup_on_mysql() {
    on_mysql(async |url: String| {
        let shown = ferry_core::driver::redact_url(&url);
        startup_scenario(&url, &shown).await;
    })
    .await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_startups_apply_each_migration_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_startup(&format!("sqlite:{}", dir.path().join("app.db").display())).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_startups_apply_each_migration_once_on_postgres() {
    on_postgres(async |url: String| concurrent_startup(&url).await).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_startups_apply_each_migration_once_on_mysql() {
    on_mysql(async |url: String| concurrent_startup(&url).await).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_migration_is_an_error_naming_it() {
    const BROKEN: Embedded = Embedded::new(&[EmbeddedApp {
        name: "notes",
        dir: "migrations",
        depends_on: &[],
        files: &[FIRST_NOTE],
    }]);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("app.db").display());
    let err = ferry::migrate(&url, BROKEN).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("0003"), "{text}");
    assert!(text.contains("notes"), "{text}");
}

/// A program's own connection: migrated through, then given back and used.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread")]
async fn migrate_with_the_applications_sqlite_connection_gives_it_back() {
    use ferry::sqlite::{rusqlite, SqliteDriver};
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    let driver = SqliteDriver::from_connection(conn, TableName::default())
        .await
        .unwrap();
    let (applied, driver) = ferry::migrate_with(driver, RELEASE_1).await.unwrap();
    assert_eq!(
        applied.to_string(),
        "sqlite database: applied 2 migrations\n  notes 0001 create notes\n  notes 0003 first note"
    );
    let conn = driver.into_connection().await.unwrap();
    let body: String = conn
        .query_row("SELECT body FROM notes WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(body, "first");
}

/// The same through the program's tokio-postgres client, whose connection task it keeps.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
async fn migrate_with_the_applications_postgres_client_gives_it_back() {
    use ferry::postgres::{tokio_postgres, PostgresDriver};
    on_postgres(async |url: String| {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(connection);
        let driver = PostgresDriver::from_client(client, &url, TableName::default())
            .await
            .unwrap();
        let (applied, driver) = ferry::migrate_with(driver, RELEASE_1).await.unwrap();
        assert_eq!(applied.migrations.len(), 2, "{applied}");
        let client = driver.into_client();
        let row = client
            .query_one("SELECT body FROM notes WHERE id = 1", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "first");
        drop(client);
        task.await.unwrap().unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsupported_url_is_a_config_error_without_its_password() {
    let err = ferry::migrate("redis://app:hunter2@cache/0", RELEASE_1)
        .await
        .unwrap_err();
    let Error::Driver(e) = &err else {
        panic!("not a driver error: {err:?}");
    };
    assert_eq!(e.kind, DriverErrorKind::Config);
    assert!(e.message.contains("unsupported database URL"), "{e}");
    assert!(!e.message.contains("hunter2"), "{e}");
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_postgres_database_is_database_missing() {
    on_postgres(async |url: String| {
        let gone = ferry_core::driver::url::with_database(&url, "ferry_no_such_db").unwrap();
        let err = ferry::connect(&gone, TableName::default())
            .await
            .err()
            .expect("connected to a database that does not exist");
        assert_eq!(err.kind, DriverErrorKind::DatabaseMissing, "{err}");
    })
    .await;
}

#[test]
fn the_compiled_backends_follow_the_features() {
    let names: Vec<&str> = ferry::backends().iter().map(|b| b.as_str()).collect();
    assert_eq!(cfg!(feature = "postgres"), names.contains(&"postgres"));
    assert_eq!(cfg!(feature = "sqlite"), names.contains(&"sqlite"));
    assert_eq!(cfg!(feature = "mysql"), names.contains(&"mysql"));
}

/// With a backend left out (`cargo test -p ferry --no-default-features --features sqlite`),
/// its URLs are refused naming the feature.
#[cfg(not(feature = "mysql"))]
#[tokio::test(flavor = "multi_thread")]
async fn a_backend_left_out_is_an_error_naming_its_feature() {
    let err = ferry::connect("mysql://root@127.0.0.1/app", TableName::default())
        .await
        .err()
        .expect("connected without the mysql feature");
    assert_eq!(err.kind, DriverErrorKind::Config);
    assert!(err.message.contains("feature `mysql`"), "{err}");
}
