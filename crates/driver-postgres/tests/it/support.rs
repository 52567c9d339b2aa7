//! Shared helpers: a fresh database per test, drivers on it, the conformance factory, tracking
//! rows.

use std::future::Future;

use chrono::Utc;
use ferry_core::driver::{BoxFuture, TrackingRow};
use ferry_core::scratch::with_scratch_database;
use ferry_core::testkit::DriverFactory;
use ferry_core::{Driver, TableName};
use ferry_driver_postgres::{connect, testing, PostgresDriver};

/// Run `body` with the URL of a fresh database, dropping the database afterwards (also when
/// `body` panics).
pub(crate) async fn with_database<Fut: Future<Output = ()>>(
    prefix: &str,
    body: impl FnOnce(String) -> Fut,
) {
    with_scratch_database(
        prefix,
        testing::create_database,
        testing::drop_database,
        body,
    )
    .await;
}

/// A driver on `url` with tracking table `table`.
pub(crate) async fn open(url: &str, table: &str) -> PostgresDriver {
    connect(url, TableName::parse(table).unwrap())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

/// Connections to one database for the conformance suite.
pub(crate) struct Factory {
    pub(crate) url: String,
}

impl DriverFactory for Factory {
    fn connect<'a>(&'a self, table: &'a TableName) -> BoxFuture<'a, Box<dyn Driver>> {
        Box::pin(async move {
            let driver = connect(&self.url, table.clone())
                .await
                .unwrap_or_else(|e| panic!("connect: {e}"));
            Box::new(driver) as Box<dyn Driver>
        })
    }
}

pub(crate) fn row(app: &str, id: &str) -> TrackingRow {
    TrackingRow {
        app_name: app.to_owned(),
        migration_id: id.to_owned(),
        description: format!("migration {id}"),
        checksum: "abc".to_owned(),
        down_sql: Some(String::new()),
        applied_at: Utc::now(),
        duration_ms: 12345,
        dirty: false,
    }
}

/// `SELECT` returning one text value.
pub(crate) async fn scalar(d: &PostgresDriver, sql: &str) -> Option<String> {
    let rows = d.client().simple_query(sql).await.unwrap();
    rows.into_iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_owned)),
        _ => None,
    })?
}
