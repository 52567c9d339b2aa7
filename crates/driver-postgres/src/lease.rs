//! The lease lock on PostgreSQL (protocol in [`ferry_core::lock`]): taking it, renewing it
//! from a second connection, fencing each migration's transaction, releasing it.

use std::time::{Duration, Instant};

use ferry_core::{Backoff, DriverError, DriverResult, LeaseSql, LockHolder};
use tokio::task::JoinHandle;
use tokio_postgres::Client;

use crate::error::db_error;
use crate::typed;
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
    /// Take the lease of `sql` on `client`, polling until `timeout`, then start renewing it
    /// every `renew_every` from a connection of its own to `target`.
    pub(crate) async fn take(
        client: &Client,
        target: &Target,
        sql: LeaseSql,
        renew_every: Duration,
        timeout: Duration,
    ) -> DriverResult<Lease> {
        let deadline = Instant::now() + timeout;
        let mut backoff = Backoff::new();
        loop {
            if try_take(client, &sql).await? {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(DriverError::lock_timeout());
            }
            tokio::time::sleep(backoff.next_delay().min(deadline - now)).await;
        }
        let renewal = match crate::conn::open(target).await {
            Ok(renewal) => renewal,
            Err(e) => {
                let _ = release(client, &sql).await;
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
                if let Ok(0) = renewal.execute_typed(text, &typed(&values)).await {
                    return;
                }
            }
        });
        Ok(Lease { sql, renewer })
    }

    /// Check, inside the caller's transaction (or alone), that the lease still names this run,
    /// renewing it; fail with [`ferry_core::DriverErrorKind::LockLost`] when it does not.
    pub(crate) async fn fence(&self, client: &Client) -> DriverResult<()> {
        let (text, values) = self.sql.renew();
        let renewed = client
            .execute_typed(text, &typed(&values))
            .await
            .map_err(|e| db_error(&e))?;
        if renewed > 0 {
            return Ok(());
        }
        let now_held = holder(client, &self.sql).await.ok().flatten();
        Err(DriverError::lock_lost(
            now_held.as_ref().map(|h| h.owner.as_str()),
        ))
    }

    /// Stop renewing and delete this run's row.
    pub(crate) async fn release(self, client: &Client) -> DriverResult<()> {
        self.renewer.abort();
        release(client, &self.sql).await
    }
}

/// One attempt: delete an expired row, insert ours unless a row exists, read who holds it.
async fn try_take(client: &Client, sql: &LeaseSql) -> DriverResult<bool> {
    for (text, values) in [sql.delete_expired(), sql.insert()] {
        client
            .execute_typed(text, &typed(&values))
            .await
            .map_err(|e| db_error(&e))?;
    }
    Ok(holder(client, sql)
        .await?
        .is_some_and(|h| h.owner == sql.owner()))
}

async fn release(client: &Client, sql: &LeaseSql) -> DriverResult<()> {
    let (text, values) = sql.release();
    client
        .execute_typed(text, &typed(&values))
        .await
        .map(|_| ())
        .map_err(|e| db_error(&e))
}

/// The row of the lock key, if there is one. The lock table must exist.
pub(crate) async fn holder(client: &Client, sql: &LeaseSql) -> DriverResult<Option<LockHolder>> {
    let (text, values) = sql.holder();
    let rows = client
        .query_typed(text, &typed(&values))
        .await
        .map_err(|e| db_error(&e))?;
    rows.first()
        .map(|row| {
            Ok(LockHolder {
                owner: row.try_get(0)?,
                since: Some(row.try_get(1)?),
                expires: Some(row.try_get(2)?),
            })
        })
        .transpose()
        .map_err(|e: tokio_postgres::Error| db_error(&e))
}
