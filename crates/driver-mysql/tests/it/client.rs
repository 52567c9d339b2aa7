//! Migrating through the application's own `mysql_async` connection or pool
//! ([`MysqlDriver::from_conn`], [`MysqlDriver::from_pool`]) and using it afterwards.

use ferry_core::{AppConfig, AppRegistry, DriverErrorKind, Migration, Migrator, TableName};
use ferry_driver_mysql::MysqlDriver;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool};

/// 0001 changes a session variable; 0002 needs 0001's table.
fn apps() -> AppRegistry {
    AppRegistry::new(vec![AppConfig::embedded(
        "notes",
        vec![
            Migration::new(
                "0001",
                "create notes",
                "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT);\n\
                 SET SESSION foreign_key_checks = 0;",
                Some("DROP TABLE notes;"),
            ),
            Migration::new(
                "0002",
                "first note",
                "INSERT INTO notes (id, body) VALUES (1, 'first');",
                Some("DELETE FROM notes;"),
            ),
        ],
    )])
    .unwrap()
}

async fn value(conn: &mut Conn, sql: &str) -> Option<String> {
    conn.query_first::<Option<String>, _>(sql)
        .await
        .unwrap()
        .flatten()
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_through_the_applications_conn_then_use_it() {
    crate::support::with_database("client", async |url: String| {
        // The application's connection, with settings of its own.
        let mut conn = Conn::from_url(url.as_str()).await.unwrap();
        conn.query_drop("SET SESSION time_zone = '+02:00', SESSION lock_wait_timeout = 77")
            .await
            .unwrap();
        let driver = MysqlDriver::from_conn(conn, &url, TableName::default())
            .await
            .unwrap();
        let lock_name = driver.lock_name().to_owned();
        let mut migrator = Migrator::new(apps(), Box::new(driver));
        let result = migrator.forwards_all().await.unwrap();
        assert_eq!(result.migrations.len(), 2);
        let mut conn = migrator
            .into_driver_as::<MysqlDriver>()
            .expect("the driver given")
            .into_conn()
            .await
            .unwrap();

        // The migrations ran and were recorded.
        assert_eq!(
            value(&mut conn, "SELECT COUNT(*) FROM notes")
                .await
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            value(&mut conn, "SELECT COUNT(*) FROM ferry_migrations")
                .await
                .as_deref(),
            Some("2")
        );
        // The session is as the application gave it: its own settings back (ferry ran in
        // UTC), the migration's setting undone, the lock released.
        assert_eq!(
            value(&mut conn, "SELECT @@session.time_zone")
                .await
                .as_deref(),
            Some("+02:00")
        );
        assert_eq!(
            value(&mut conn, "SELECT @@session.lock_wait_timeout")
                .await
                .as_deref(),
            Some("77")
        );
        assert_eq!(
            value(&mut conn, "SELECT @@session.foreign_key_checks")
                .await
                .as_deref(),
            Some("1")
        );
        let holder: Option<Option<u64>> = conn
            .exec_first("SELECT IS_USED_LOCK(?)", (lock_name,))
            .await
            .unwrap();
        assert_eq!(holder.flatten(), None, "the migration lock is released");
        // And the application goes on using it.
        conn.query_drop("INSERT INTO notes (id, body) VALUES (2, 'second')")
            .await
            .unwrap();
        assert_eq!(
            value(&mut conn, "SELECT COUNT(*) FROM notes")
                .await
                .as_deref(),
            Some("2")
        );
        conn.disconnect().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_through_a_connection_of_the_applications_pool_then_use_the_pool() {
    crate::support::with_database("client_pool", async |url: String| {
        let pool = Pool::new(url.as_str());
        let driver = MysqlDriver::from_pool(&pool, &url, TableName::default())
            .await
            .unwrap();
        let mut migrator = Migrator::new(apps(), Box::new(driver));
        assert_eq!(migrator.forwards_all().await.unwrap().migrations.len(), 2);
        drop(migrator); // the connection goes back to the pool

        let mut conn = pool.get_conn().await.unwrap();
        assert_eq!(
            value(&mut conn, "SELECT COUNT(*) FROM notes")
                .await
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            value(&mut conn, "SELECT @@session.foreign_key_checks")
                .await
                .as_deref(),
            Some("1")
        );
        drop(conn);
        pool.disconnect().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conn_on_another_database_than_the_url_is_refused() {
    crate::support::with_database("client_other", async |url: String| {
        let conn = Conn::from_url(url.as_str()).await.unwrap();
        let other = ferry_core::driver::url::with_database(&url, "mysql").unwrap();
        let err = MysqlDriver::from_conn(conn, &other, TableName::default())
            .await
            .expect_err("accepted a connection on another database");
        assert_eq!(err.kind, DriverErrorKind::Config);
        assert!(err.message.contains("\"mysql\""), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conn_inside_a_transaction_is_refused() {
    crate::support::with_database("client_tx", async |url: String| {
        let mut conn = Conn::from_url(url.as_str()).await.unwrap();
        conn.query_drop("BEGIN").await.unwrap();
        let err = MysqlDriver::from_conn(conn, &url, TableName::default())
            .await
            .expect_err("accepted a connection inside a transaction");
        assert_eq!(err.kind, DriverErrorKind::Config);
        assert!(err.message.contains("inside a transaction"), "{err}");
    })
    .await;
}
