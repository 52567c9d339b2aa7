//! Migrating through the application's own tokio-postgres client
//! ([`PostgresDriver::from_client`]) and using it afterwards.

use ferry_core::{AppConfig, AppRegistry, DriverErrorKind, Migration, Migrator, TableName};
use ferry_driver_postgres::PostgresDriver;
use tokio_postgres::{Client, NoTls};

/// 0001 leaves session state behind (a setting, a temporary table); 0002 needs 0001's table.
fn apps() -> AppRegistry {
    AppRegistry::new(vec![AppConfig::embedded(
        "notes",
        vec![
            Migration::new(
                "0001",
                "create notes",
                "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT);\n\
                 CREATE TEMP TABLE scratch (x INT);\n\
                 SET statement_timeout = 4321;",
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

/// A client as an application makes it: its connection task spawned by the application.
async fn app_client(url: &str) -> (Client, tokio::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, task)
}

async fn text(client: &Client, sql: &str) -> String {
    let rows = client.simple_query(sql).await.unwrap();
    rows.into_iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_through_the_applications_client_then_use_it() {
    crate::support::with_database("client", async |url: String| {
        let (client, task) = app_client(&url).await;
        let driver = PostgresDriver::from_client(client, &url, TableName::default())
            .await
            .unwrap();
        let mut migrator = Migrator::new(apps(), Box::new(driver));
        let result = migrator.forwards_all().await.unwrap();
        assert_eq!(result.migrations.len(), 2);
        let client = migrator
            .into_driver_as::<PostgresDriver>()
            .expect("the driver given")
            .into_client();

        // The connection task is still the application's, and running.
        assert!(!task.is_finished());
        assert!(!client.is_closed());
        // The migrations ran on the database and were recorded.
        assert_eq!(text(&client, "SELECT count(*) FROM notes").await, "1");
        assert_eq!(
            text(&client, "SELECT count(*) FROM ferry_migrations").await,
            "2"
        );
        // The session was reset: no setting or temporary table of the migration's, and the
        // advisory lock released.
        assert_eq!(text(&client, "SHOW statement_timeout").await, "0");
        assert_eq!(
            text(
                &client,
                "SELECT count(*) FROM pg_class WHERE relname = 'scratch' AND relpersistence = 't'"
            )
            .await,
            "0"
        );
        assert_eq!(
            text(
                &client,
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            )
            .await,
            "0"
        );
        assert_eq!(
            // Outside a transaction, a statement's transaction starts with it.
            text(&client, "SELECT now() = statement_timestamp()").await,
            "t",
            "no transaction left open"
        );
        // And the application goes on using it.
        client
            .execute("INSERT INTO notes (id, body) VALUES (2, 'second')", &[])
            .await
            .unwrap();
        assert_eq!(text(&client, "SELECT count(*) FROM notes").await, "2");
        drop(client);
        task.await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_on_another_database_than_the_url_is_refused() {
    crate::support::with_database("client_other", async |url: String| {
        let (client, _task) = app_client(&url).await;
        let other = ferry_core::driver::url::with_database(&url, "postgres").unwrap();
        let err = PostgresDriver::from_client(client, &other, TableName::default())
            .await
            .expect_err("accepted a client on another database");
        assert_eq!(err.kind, DriverErrorKind::Config);
        assert!(err.message.contains("\"postgres\""), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_inside_a_transaction_is_refused() {
    crate::support::with_database("client_tx", async |url: String| {
        let (client, _task) = app_client(&url).await;
        client.batch_execute("BEGIN").await.unwrap();
        let err = PostgresDriver::from_client(client, &url, TableName::default())
            .await
            .expect_err("accepted a client inside a transaction");
        assert_eq!(err.kind, DriverErrorKind::Config);
        assert!(err.message.contains("inside a transaction"), "{err}");
    })
    .await;
}
