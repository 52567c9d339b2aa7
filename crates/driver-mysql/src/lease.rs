//! The lease lock on MySQL and MariaDB (protocol in [`ferry_core::lock`]): taking it, renewing
//! it from a second connection, fencing each migration, releasing it.

use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeZone, Utc};
use ferry_core::{Backoff, DriverError, DriverErrorKind, DriverResult, LeaseSql, LockHolder};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use tokio::task::JoinHandle;

use crate::bind;
use crate::error::db_error;
use crate::url::Target;

/// A lease this connection holds, and the task renewing it.
pub(crate) struct Lease {
    sql: LeaseSql,
    renewer: JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Dropping the task drops its connection; the row expires within one lease.
        self.renewer.abort();
    }
}

impl Lease {
    /// Take the lease of `sql` on `conn`, polling until `timeout`, then start renewing it
    /// every `renew_every` from a connection of its own to `target`.
    pub(crate) async fn take(
        conn: &mut Conn,
        target: &Target,
        sql: LeaseSql,
        renew_every: Duration,
        timeout: Duration,
    ) -> DriverResult<Lease> {
        let deadline = Instant::now() + timeout;
        let mut backoff = Backoff::new();
        loop {
            if try_take(conn, &sql).await? {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(DriverError::lock_timeout());
            }
            tokio::time::sleep(backoff.next_delay().min(deadline - now)).await;
        }
        let mut renewal = match crate::conn::open(target).await {
            Ok(renewal) => renewal,
            Err(e) => {
                let _ = release(conn, &sql).await;
                return Err(DriverError::new(
                    e.kind,
                    format!("opening the connection that renews the lock's lease: {e}"),
                ));
            }
        };
        let renew_sql = sql.clone();
        let renewer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(renew_every).await;
                let (text, values) = renew_sql.renew();
                // Zero rows: lost, and the fence stops the run at its next migration. An error
                // may pass: try again next time (the lease lasts three renewal periods).
                if renewal.exec_drop(text, bind(values)).await.is_ok()
                    && renewal.affected_rows() == 0
                {
                    return;
                }
            }
        });
        Ok(Lease { sql, renewer })
    }

    /// Check, inside the caller's transaction (or alone), that the lease still names this run,
    /// renewing it; fail with [`ferry_core::DriverErrorKind::LockLost`] when it does not.
    pub(crate) async fn fence(&self, conn: &mut Conn) -> DriverResult<()> {
        let (text, values) = self.sql.renew();
        conn.exec_drop(text, bind(values))
            .await
            .map_err(|e| db_error(&e))?;
        if conn.affected_rows() > 0 {
            return Ok(());
        }
        let now_held = holder(conn, &self.sql).await.ok().flatten();
        Err(DriverError::lock_lost(
            now_held.as_ref().map(|h| h.owner.as_str()),
        ))
    }

    /// Stop renewing and delete this run's row.
    pub(crate) async fn release(self, conn: &mut Conn) -> DriverResult<()> {
        self.renewer.abort();
        release(conn, &self.sql).await
    }
}

/// One attempt: delete an expired row, insert ours unless a row exists, read who holds it.
async fn try_take(conn: &mut Conn, sql: &LeaseSql) -> DriverResult<bool> {
    for (text, values) in [sql.delete_expired(), sql.insert()] {
        conn.exec_drop(text, bind(values))
            .await
            .map_err(|e| db_error(&e))?;
    }
    Ok(holder(conn, sql)
        .await?
        .is_some_and(|h| h.owner == sql.owner()))
}

async fn release(conn: &mut Conn, sql: &LeaseSql) -> DriverResult<()> {
    let (text, values) = sql.release();
    conn.exec_drop(text, bind(values))
        .await
        .map_err(|e| db_error(&e))
}

/// The row of the lock key, if there is one. The lock table must exist.
pub(crate) async fn holder(conn: &mut Conn, sql: &LeaseSql) -> DriverResult<Option<LockHolder>> {
    let (text, values) = sql.holder();
    let row: Option<Row> = conn
        .exec_first(text, bind(values))
        .await
        .map_err(|e| db_error(&e))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (owner, since, expires): (String, NaiveDateTime, NaiveDateTime) =
        mysql_async::from_row_opt(row).map_err(|e| {
            DriverError::new(
                DriverErrorKind::Other,
                format!("unexpected row in the lock table: {e}"),
            )
        })?;
    Ok(Some(LockHolder {
        owner,
        since: Some(Utc.from_utc_datetime(&since)),
        expires: Some(Utc.from_utc_datetime(&expires)),
    }))
}
