//! Each measured run starts on a settled server: the pages earlier runs dirtied are written
//! out first, so that the server's background flushing of one run's writes does not land on
//! the next run (whichever tool that is). Without it, P1 of the same tool on MariaDB spread
//! over 5.5-9 s within one bench, the floor's and ferry's alike.
//!
//! - MySQL/MariaDB: `innodb_max_dirty_pages_pct` is set to 0 until
//!   `Innodb_buffer_pool_pages_dirty` is (nearly) 0, then put back (needs the privilege to
//!   set a global variable; without it the bench says so once and goes on unsettled);
//! - PostgreSQL: `CHECKPOINT` (superuser or `pg_checkpoint`);
//! - SQLite: nothing (each run has a file of its own).

use std::cell::Cell;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use super::{block_on, Backend};

/// The dirty pages left that count as settled (a server's own housekeeping dirties a few).
const SETTLED_PAGES: u64 = 16;

/// How long settling may take before the run goes ahead anyway.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// Settles the test server of a backend before each measured run.
#[derive(Default)]
pub(super) struct Settler {
    /// Settling failed once (said on stderr): not tried again.
    off: Cell<bool>,
    /// MySQL's `innodb_max_dirty_pages_pct` as it was before the first settling: what each
    /// settling puts back.
    mysql_pct: Cell<Option<f64>>,
}

impl Settler {
    /// Settle the server of `backend`; a failure is said once and then ignored.
    pub(super) fn settle(&self, backend: Backend) {
        if self.off.get() {
            return;
        }
        let result = match backend {
            Backend::Mysql => block_on(mysql(&self.mysql_pct)),
            Backend::Postgres => block_on(postgres()),
            Backend::Sqlite => Ok(()),
        };
        if let Err(e) = result {
            eprintln!(
                "{}: cannot settle the server between runs ({e}); measuring without",
                backend.name()
            );
            self.off.set(true);
        }
    }
}

async fn mysql(was: &Cell<Option<f64>>) -> Result<(), String> {
    let url = ferry_driver_mysql::testing::try_admin_url()?;
    let text = |e: mysql_async::Error| e.to_string();
    let mut conn = tokio::time::timeout(Duration::from_secs(10), mysql_async::Conn::from_url(url))
        .await
        .map_err(|_| "no connection within 10 s".to_owned())?
        .map_err(text)?;
    let pct = match was.get() {
        Some(pct) => pct,
        None => {
            let pct: Option<f64> = conn
                .query_first("SELECT @@GLOBAL.innodb_max_dirty_pages_pct")
                .await
                .map_err(text)?;
            let pct = pct.ok_or("no innodb_max_dirty_pages_pct")?;
            was.set(Some(pct));
            pct
        }
    };
    conn.query_drop("SET GLOBAL innodb_max_dirty_pages_pct = 0")
        .await
        .map_err(text)?;
    let started = Instant::now();
    let waited = loop {
        let dirty: Option<(String, u64)> = conn
            .query_first("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
            .await
            .map_err(text)?;
        if dirty.is_none_or(|(_, pages)| pages <= SETTLED_PAGES) || started.elapsed() > SETTLE_LIMIT
        {
            break Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Put back whatever happened above.
    conn.query_drop(format!("SET GLOBAL innodb_max_dirty_pages_pct = {pct}"))
        .await
        .map_err(text)?;
    waited
}

async fn postgres() -> Result<(), String> {
    let url = ferry_driver_postgres::testing::try_admin_url()?;
    let (client, connection) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_postgres::connect(&url, tokio_postgres::NoTls),
    )
    .await
    .map_err(|_| "no connection within 10 s".to_owned())?
    .map_err(|e| e.to_string())?;
    let task = tokio::spawn(connection);
    let result = client
        .batch_execute("CHECKPOINT")
        .await
        .map_err(|e| e.to_string());
    drop(client);
    let _ = task.await;
    result
}
