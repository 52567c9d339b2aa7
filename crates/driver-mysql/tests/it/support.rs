//! Shared helpers: a fresh database per test, drivers and plain connections on it, the
//! conformance factory, tracking rows.

use std::future::Future;

use chrono::Utc;
use ferry_core::driver::{BoxFuture, TrackingRow};
use ferry_core::scratch::with_scratch_database;
use ferry_core::testkit::DriverFactory;
use ferry_core::{Driver, TableName};
use ferry_driver_mysql::{connect, testing, MysqlDriver};
use mysql_async::prelude::Queryable;

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
pub(crate) async fn open(url: &str, table: &str) -> MysqlDriver {
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
        checksum: "a".repeat(64),
        down_sql: Some(String::new()),
        applied_at: Utc::now(),
        duration_ms: 12345,
        dirty: false,
    }
}

/// A plain client connection, for looking at the database behind the driver's back.
pub(crate) async fn raw(url: &str) -> mysql_async::Conn {
    mysql_async::Conn::new(mysql_async::Opts::from_url(url).expect("plain URL"))
        .await
        .expect("raw connection")
}

/// `SELECT` returning one number, on a connection of its own.
pub(crate) async fn count(url: &str, sql: &str) -> i64 {
    let mut conn = raw(url).await;
    let n: Option<i64> = conn.query_first(sql).await.expect("count query");
    conn.disconnect().await.unwrap();
    n.unwrap_or(-1)
}

/// `url` with `extra` appended to its query string.
pub(crate) fn with_param(url: &str, extra: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{extra}")
}
