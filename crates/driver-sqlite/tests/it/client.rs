//! Migrating through the application's own `rusqlite::Connection`
//! ([`SqliteDriver::from_connection`]) and using it afterwards.

use ferry_core::{AppConfig, AppRegistry, DriverErrorKind, Migration, Migrator, TableName};
use ferry_driver_sqlite::SqliteDriver;
use rusqlite::Connection;

/// 0001 leaves session state behind (a `temp` table, a pragma); 0002 needs 0001's table.
fn apps(broken: bool) -> AppRegistry {
    let mut migrations = vec![
        Migration::new(
            "0001",
            "create notes",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n\
             CREATE TEMP TABLE scratch (x INTEGER);\n\
             PRAGMA recursive_triggers = ON;",
            Some("DROP TABLE notes;"),
        ),
        Migration::new(
            "0002",
            "first note",
            "INSERT INTO notes (id, body) VALUES (1, 'first');",
            Some("DELETE FROM notes;"),
        ),
    ];
    if broken {
        migrations.push(Migration::new(
            "0003",
            "broken",
            "INSERT INTO no_such_table VALUES (1);",
            None,
        ));
    }
    AppRegistry::new(vec![AppConfig::embedded("notes", migrations)]).unwrap()
}

fn scalar(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// A connection as an application holds it: its own busy timeout and pragma.
fn app_connection(dir: &tempfile::TempDir) -> Connection {
    let conn = Connection::open(dir.path().join("app.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_millis(1234))
        .unwrap();
    conn.execute_batch("PRAGMA automatic_index = OFF;").unwrap();
    conn
}

#[tokio::test]
async fn migrate_through_the_applications_connection_then_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let conn = app_connection(&dir);
    let driver = SqliteDriver::from_connection(conn, TableName::default())
        .await
        .unwrap();
    let mut migrator = Migrator::new(apps(false), Box::new(driver));
    let result = migrator.forwards_all().await.unwrap();
    assert_eq!(result.migrations.len(), 2);
    let conn = migrator
        .into_driver_as::<SqliteDriver>()
        .expect("the driver given")
        .into_connection()
        .await
        .unwrap();

    // The migrations ran on it and were recorded.
    assert_eq!(scalar(&conn, "SELECT COUNT(*) FROM notes"), 1);
    assert_eq!(scalar(&conn, "SELECT COUNT(*) FROM ferry_migrations"), 2);
    // Its session is as the application gave it: no temp table, the pragma the migration set
    // put back, the application's own settings kept.
    assert_eq!(
        scalar(
            &conn,
            "SELECT COUNT(*) FROM temp.sqlite_master WHERE name = 'scratch'"
        ),
        0
    );
    assert_eq!(scalar(&conn, "PRAGMA recursive_triggers"), 0);
    assert_eq!(scalar(&conn, "PRAGMA automatic_index"), 0);
    assert_eq!(scalar(&conn, "PRAGMA busy_timeout"), 1234);
    assert!(conn.is_autocommit(), "no transaction left open");
    // And the application goes on using it.
    conn.execute("INSERT INTO notes (id, body) VALUES (2, 'second')", [])
        .unwrap();
    assert_eq!(scalar(&conn, "SELECT COUNT(*) FROM notes"), 2);
}

#[tokio::test]
async fn after_a_failed_migration_the_connection_comes_back_outside_any_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let driver = SqliteDriver::from_connection(app_connection(&dir), TableName::default())
        .await
        .unwrap();
    let mut migrator = Migrator::new(apps(true), Box::new(driver));
    let err = migrator.forwards_all().await.unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");
    let conn = migrator
        .into_driver_as::<SqliteDriver>()
        .unwrap()
        .into_connection()
        .await
        .unwrap();
    assert!(conn.is_autocommit());
    // 0001 and 0002 committed before 0003 failed; 0003 left nothing.
    assert_eq!(scalar(&conn, "SELECT COUNT(*) FROM ferry_migrations"), 2);
    // Another connection can write: ferry's lock is gone.
    let other = Connection::open(dir.path().join("app.db")).unwrap();
    other
        .execute("INSERT INTO notes (id, body) VALUES (3, 'third')", [])
        .unwrap();
}

#[tokio::test]
async fn a_connection_inside_a_transaction_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conn = app_connection(&dir);
    conn.execute_batch("BEGIN").unwrap();
    let err = SqliteDriver::from_connection(conn, TableName::default())
        .await
        .expect_err("accepted a connection inside a transaction");
    assert_eq!(err.kind, DriverErrorKind::Config);
    assert!(err.message.contains("inside a transaction"), "{err}");
}
