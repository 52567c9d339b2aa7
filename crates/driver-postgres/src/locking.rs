//! The migration lock: the advisory lock, the lease lock, the choice between them and who
//! holds them.

use std::time::{Duration, Instant};

use ferry_core::driver::lease::{Held, Lease, LockSite};
use ferry_core::driver::lock::{
    lease_owner, LeaseSql, LockChoice, LockHolder, LockKind, LockMechanism,
};
use ferry_core::driver::rt::poll_until;
use ferry_core::driver::DriverResult;
use ferry_core::sql::Dialect;
use ferry_core::DriverError;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::error::db_error;
use crate::lease::{Store, TOKIO};
use crate::url::Target;
use crate::PostgresDriver;

impl PostgresDriver {
    pub(crate) async fn lock_holder(&mut self) -> DriverResult<Option<LockHolder>> {
        let lease_table = self.table.lease_table();
        if self.relation_exists(lease_table.name()).await? {
            if let Some(holder) = Lease::holder(&mut self.store(), &self.lease_sql("")).await? {
                return Ok(Some(holder));
            }
        }
        self.advisory_holder().await
    }

    pub(crate) async fn lock(&mut self, timeout: Duration) -> DriverResult<()> {
        if self.held.is_held() {
            // Taken once per connection: advisory locks stack, and a lease is one row.
            return Ok(());
        }
        if self.choice().mechanism == LockMechanism::Lease {
            return self.lock_lease(timeout).await;
        }
        match self.lock_advisory(timeout).await {
            Err(e) if self.lock_options.kind == LockKind::Auto && advisory_unsupported(&e) => {
                self.fallback = Some(LockChoice::new(
                    LockMechanism::Lease,
                    format!(
                        "lock = auto, and the server does not support pg_try_advisory_lock ({e})"
                    ),
                ));
                self.lock_lease(timeout).await
            }
            other => other,
        }
    }

    pub(crate) async fn unlock(&mut self) -> DriverResult<()> {
        let held = std::mem::take(&mut self.held);
        if !held.release(&mut self.store()).await? {
            return Ok(());
        }
        // Returns false (with a warning notice) when the lock is not held: not an error.
        self.client
            .query_typed_one(
                "SELECT pg_advisory_unlock($1)",
                &[(&self.table.lock_key(), Type::INT8)],
            )
            .await
            .map(drop)
            .map_err(|e| db_error(&e))
    }

    /// The lock `lock` takes, and why.
    pub(crate) fn choice(&self) -> LockChoice {
        if let Some(fallback) = &self.fallback {
            return fallback.clone();
        }
        let site = LockSite {
            pooled: self.server.pooled(),
            other_engine: self.server.other_engine(),
            middle: "a pooler",
            server: "PostgreSQL",
        };
        LockChoice::decide(self.lock_options.kind, site)
    }

    pub(crate) async fn lock_advisory(&mut self, timeout: Duration) -> DriverResult<()> {
        poll_until(Instant::now() + timeout, &TOKIO, self, |this| {
            Box::pin(this.try_advisory())
        })
        .await?;
        self.held = Held::Advisory;
        Ok(())
    }

    /// One attempt at the advisory lock.
    pub(crate) async fn try_advisory(&self) -> DriverResult<bool> {
        self.client
            .query_typed_one(
                "SELECT pg_try_advisory_lock($1)",
                &[(&self.table.lock_key(), Type::INT8)],
            )
            .await
            .map(|row| row.get::<_, bool>(0))
            .map_err(|e| db_error(&e))
    }

    pub(crate) async fn lock_lease(&mut self, timeout: Duration) -> DriverResult<()> {
        let deadline = Instant::now() + timeout;
        self.ensure_schema().await?;
        let sql = self.lease_sql(&lease_owner());
        let lease_table = self.table.lease_table();
        self.create_if_missing(sql.create(), lease_table.name())
            .await?;
        let options = self.lock_options;
        let lease = Lease::take(&mut self.store(), &TOKIO, sql, &options, deadline).await?;
        self.held = Held::Lease(Box::new(lease));
        Ok(())
    }

    /// The lease statements for `owner`.
    pub(crate) fn lease_sql(&self, owner: &str) -> LeaseSql {
        let (schema, options) = (self.schema.as_deref(), &self.lock_options);
        LeaseSql::for_tracking(Dialect::Postgres, schema, &self.table, owner, options)
    }

    /// The connection as the lease lock's store.
    pub(crate) fn store(&self) -> Store<&Client, &Target> {
        Store {
            client: &self.client,
            target: &self.target,
        }
    }

    /// The connection holding the advisory lock, if one does.
    pub(crate) async fn advisory_holder(&self) -> DriverResult<Option<LockHolder>> {
        // A bigint advisory key is stored as two oids: the high and the low 32 bits.
        let key = self.table.lock_key() as u64;
        let (high, low) = ((key >> 32) as i64, (key & 0xffff_ffff) as i64);
        let rows = self
            .client
            .query_typed(
                "SELECT a.pid, COALESCE(a.application_name, ''), \
                 COALESCE(host(a.client_addr), 'a local socket'), a.backend_start \
                 FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
                 AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) \
                 AND l.classid = ($1::int8)::oid AND l.objid = ($2::int8)::oid LIMIT 1",
                &[(&high, Type::INT8), (&low, Type::INT8)],
            )
            .await
            .map_err(|e| db_error(&e))?;
        Ok(rows.first().map(|row| {
            let pid: i32 = row.get(0);
            let application: String = row.get(1);
            let client: String = row.get(2);
            LockHolder {
                owner: format!(
                    "PostgreSQL backend pid {pid} (application `{application}`, from {client})"
                ),
                since: row.get(3),
                expires: None,
            }
        }))
    }
}

/// Whether `pg_try_advisory_lock` failed because the engine lacks it (not supported, or no
/// such function), rather than for a passing reason.
pub(crate) fn advisory_unsupported(error: &DriverError) -> bool {
    matches!(error.sqlstate.as_deref(), Some("0A000" | "42883"))
}
