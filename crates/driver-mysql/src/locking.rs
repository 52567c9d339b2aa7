//! The migration lock: the named lock (`GET_LOCK`), the lease lock, the choice between them
//! and who holds them.

use std::time::{Duration, Instant};

use chrono::Utc;
use ferry_core::driver::lease::{Held, Lease, LockSite};
use ferry_core::driver::lock::{lease_owner, LeaseSql, LockChoice, LockHolder, LockMechanism};
use ferry_core::driver::DriverResult;
use ferry_core::sql::Dialect;
use ferry_core::DriverError;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use crate::error::db_error;
use crate::lease::{Store, TOKIO};
use crate::url::Target;
use crate::MysqlDriver;

impl MysqlDriver {
    pub(crate) async fn lock_holder(&mut self) -> DriverResult<Option<LockHolder>> {
        let lease_table = self.table.lease_table();
        if self.relation_exists(lease_table.name()).await? {
            let sql = self.lease_sql("");
            if let Some(holder) = Lease::holder(&mut self.store(), &sql).await? {
                return Ok(Some(holder));
            }
        }
        let row: Option<Row> = self
            .conn
            .exec_first(
                "SELECT p.ID, p.USER, p.HOST, p.TIME FROM information_schema.PROCESSLIST p \
                 WHERE p.ID = IS_USED_LOCK(?)",
                (self.lock_name.clone(),),
            )
            .await
            .map_err(|e| db_error(&e))?;
        type Process = (u64, Option<String>, Option<String>, Option<i64>);
        let process = row
            .map(mysql_async::from_row_opt::<Process>)
            .and_then(Result::ok);
        Ok(process.map(|(id, user, host, secs)| LockHolder {
            owner: format!(
                "connection {id} of `{}` from {}",
                user.unwrap_or_default(),
                host.unwrap_or_else(|| "an unknown host".to_owned())
            ),
            since: secs
                .and_then(chrono::TimeDelta::try_seconds)
                .map(|age| Utc::now() - age),
            expires: None,
        }))
    }

    pub(crate) async fn lock(&mut self, timeout: Duration) -> DriverResult<()> {
        if self.held.is_held() {
            // Taken once per connection: `GET_LOCK` nests on MySQL 5.7+ and MariaDB (one
            // `RELEASE_LOCK` per `GET_LOCK`), and a lease is one row.
            return Ok(());
        }
        match self.choice().mechanism {
            LockMechanism::Lease => self.lock_lease(timeout).await,
            _ => self.lock_advisory(timeout).await,
        }
    }

    pub(crate) async fn unlock(&mut self) -> DriverResult<()> {
        let held = std::mem::take(&mut self.held);
        if !held.release(&mut self.store()).await? {
            return Ok(());
        }
        // 1 released, 0 held by another session, NULL not held: none is an error.
        let _: Option<Option<i64>> = self
            .conn
            .exec_first("SELECT RELEASE_LOCK(?)", (self.lock_name.clone(),))
            .await
            .map_err(|e| db_error(&e))?;
        Ok(())
    }

    /// The lock `lock` takes, and why.
    pub(crate) fn choice(&self) -> LockChoice {
        let site = LockSite {
            pooled: self.pooled.clone(),
            other_engine: None,
            middle: "a proxy",
            server: "the server",
        };
        LockChoice::decide(self.lock_options.kind, site)
    }

    pub(crate) async fn lock_advisory(&mut self, timeout: Duration) -> DriverResult<()> {
        // Whole seconds, rounded up.
        let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        let got: Option<Option<i64>> = self
            .conn
            .exec_first("SELECT GET_LOCK(?, ?)", (self.lock_name.clone(), secs))
            .await
            .map_err(|e| db_error(&e))?;
        match got.flatten() {
            Some(1) => {
                self.held = Held::Advisory;
                Ok(())
            }
            _ => Err(DriverError::lock_timeout()),
        }
    }

    pub(crate) async fn lock_lease(&mut self, timeout: Duration) -> DriverResult<()> {
        let deadline = Instant::now() + timeout;
        self.ensure_database().await?;
        let sql = self.lease_sql(&lease_owner());
        self.conn
            .query_drop(sql.create())
            .await
            .map_err(|e| db_error(&e))?;
        let options = self.lock_options;
        let lease = Lease::take(&mut self.store(), &TOKIO, sql, &options, deadline).await?;
        self.held = Held::Lease(Box::new(lease));
        Ok(())
    }

    /// The lease statements for `owner`.
    pub(crate) fn lease_sql(&self, owner: &str) -> LeaseSql {
        let (database, options) = (self.database.as_deref(), &self.lock_options);
        LeaseSql::for_tracking(Dialect::MySql, database, &self.table, owner, options)
    }

    /// The connection as the lease lock's store.
    pub(crate) fn store(&mut self) -> Store<&mut Conn, &Target> {
        Store::new(&mut self.conn, &self.target)
    }
}
