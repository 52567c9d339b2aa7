//! The lease lock of [`crate::driver::lock`] written once for every server driver: taking it by
//! polling ([`Lease::take`]), renewing it from a second connection in a background task of the
//! driver's [`Runtime`], fencing each migration's transaction ([`Lease::fence`]) and releasing
//! it ([`Lease::release`]). A driver gives its client as a [`LeaseConn`] (three primitives:
//! run a statement, read the holder row, open a second connection).
//!
//! Also shared by the server drivers: the lock a connection holds ([`Held`]) and the choice
//! between the advisory and the lease lock ([`LockChoice::decide`] over a [`LockSite`]).

use std::time::Instant;

use crate::driver::error::DriverError;
use crate::driver::lock::{LeaseSql, LockChoice, LockHolder, LockKind, LockMechanism, LockOptions};
use crate::driver::rt::{poll_until, AbortOnDrop, Runtime};
use crate::driver::table_name::TableName;
use crate::driver::tracking::Value;
use crate::driver::url::quote_ident;
use crate::driver::{BoxFuture, DriverResult};
use crate::sql::Dialect;

/// A statement of [`LeaseSql`]: the SQL text and the values to bind.
pub type Statement<'a> = (&'a str, Vec<Value<'a>>);

/// What [`LeaseConn::holder`] gives.
pub type HolderResult = DriverResult<Option<LockHolder>>;

/// A connection as the lease lock needs it. Errors are the driver's own (with SQLSTATE and the
/// like), as for any other statement.
pub trait LeaseConn: Send {
    /// Run `statement` (one of [`LeaseSql`]'s); how many rows it changed.
    fn exec<'a>(&'a mut self, statement: Statement<'a>) -> BoxFuture<'a, DriverResult<u64>>;

    /// Run the holder query ([`LeaseSql::holder`]): its one row (owner, acquired at, expires
    /// at) as a [`LockHolder`], if there is a row.
    fn holder<'a>(&'a mut self, statement: Statement<'a>) -> BoxFuture<'a, HolderResult>;

    /// Open a second connection to the same server, for the task that renews the lease.
    fn open_renewal(&self) -> BoxFuture<'static, DriverResult<Box<dyn LeaseConn>>>;
}

/// A lease this connection holds, and the task renewing it (stopped when dropped: its
/// connection closes, and the row expires within one lease).
#[derive(Debug)]
pub struct Lease {
    sql: LeaseSql,
    renewer: AbortOnDrop,
}

impl Lease {
    /// Take the lease of `sql` on `conn`, polling until `deadline` ([`poll_until`]), then
    /// start renewing it every [`LockOptions::renew_every`] on a connection of its own
    /// ([`LeaseConn::open_renewal`]), in a task of `rt`. When that connection cannot be
    /// opened, the lease just taken is released again and the error says which connection
    /// failed.
    pub async fn take(
        conn: &mut impl LeaseConn,
        rt: &'static dyn Runtime,
        sql: LeaseSql,
        options: &LockOptions,
        deadline: Instant,
    ) -> DriverResult<Lease> {
        let mut taking = (&mut *conn, &sql);
        poll_until(deadline, rt, &mut taking, |(conn, sql)| {
            Box::pin(try_take(*conn, sql))
        })
        .await?;
        let mut renewal = match conn.open_renewal().await {
            Ok(renewal) => renewal,
            Err(e) => {
                let _ = release(conn, &sql).await;
                return Err(DriverError::new(
                    e.kind,
                    format!("opening the connection that renews the lock's lease: {e}"),
                ));
            }
        };
        let renew_every = options.renew_every();
        let renew_sql = sql.clone();
        let renewer = rt.spawn(Box::pin(async move {
            loop {
                rt.sleep(renew_every).await;
                let (text, values) = renew_sql.renew();
                // Zero rows: lost, and the fence stops the run at its next migration. An error
                // may pass: try again next time (the lease lasts three renewal periods).
                if let Ok(0) = renewal.exec((text, values)).await {
                    return;
                }
            }
        }));
        Ok(Lease { sql, renewer })
    }

    /// Check, inside the caller's transaction (or alone), that the lease still names this run,
    /// renewing it; fail with [`crate::DriverErrorKind::LockLost`] when it does not.
    pub async fn fence(&self, conn: &mut impl LeaseConn) -> DriverResult<()> {
        let (text, values) = self.sql.renew();
        if conn.exec((text, values)).await? > 0 {
            return Ok(());
        }
        let now_held = Lease::holder(conn, &self.sql).await.ok().flatten();
        Err(DriverError::lock_lost(
            now_held.as_ref().map(|h| h.owner.as_str()),
        ))
    }

    /// The row of the lock key of `sql`, if there is one. The lock table must exist.
    pub async fn holder(
        conn: &mut impl LeaseConn,
        sql: &LeaseSql,
    ) -> DriverResult<Option<LockHolder>> {
        let (text, values) = sql.holder();
        conn.holder((text, values)).await
    }

    /// Stop renewing and delete this run's row.
    pub async fn release(self, conn: &mut impl LeaseConn) -> DriverResult<()> {
        let Lease { sql, renewer } = self;
        drop(renewer);
        release(conn, &sql).await
    }
}

/// One attempt: delete an expired row, insert ours unless a row exists, read who holds it.
async fn try_take(conn: &mut impl LeaseConn, sql: &LeaseSql) -> DriverResult<bool> {
    for (text, values) in [sql.delete_expired(), sql.insert()] {
        conn.exec((text, values)).await?;
    }
    Ok(Lease::holder(conn, sql)
        .await?
        .is_some_and(|h| h.owner == sql.owner()))
}

async fn release(conn: &mut impl LeaseConn, sql: &LeaseSql) -> DriverResult<()> {
    let (text, values) = sql.release();
    conn.exec((text, values)).await.map(drop)
}

impl LeaseSql {
    /// The statements for the lease lock of the tracking table `table` in `schema` (or the
    /// connection's default, `None`): the lock table is `<table>_lock` in the same schema, the
    /// lock key `schema.table` (or `table`), the lease that of `options`. For PostgreSQL and
    /// MySQL.
    ///
    /// ```
    /// use ferry_core::sql::Dialect;
    /// use ferry_core::driver::LeaseSql;
    /// use ferry_core::{LockOptions, TableName};
    /// let table = TableName::parse("ferry_migrations").unwrap();
    /// let sql = LeaseSql::for_tracking(Dialect::MySql, Some("app"), &table, "me", &LockOptions::default());
    /// assert!(sql.create().contains("`app`.`ferry_migrations_lock`"));
    /// assert_eq!(sql.holder().1[0], ferry_core::driver::Value::Text("app.ferry_migrations"));
    /// ```
    pub fn for_tracking(
        dialect: Dialect,
        schema: Option<&str>,
        table: &TableName,
        owner: &str,
        options: &LockOptions,
    ) -> LeaseSql {
        let quote = if dialect == Dialect::Postgres {
            '"'
        } else {
            '`'
        };
        let lock_table = quote_ident(table.lease_table().name(), quote);
        let (quoted, key) = match schema {
            Some(schema) => (
                format!("{}.{lock_table}", quote_ident(schema, quote)),
                format!("{schema}.{}", table.name()),
            ),
            None => (lock_table, table.name().to_owned()),
        };
        LeaseSql::new(dialect, &quoted, &key, owner, options.lease)
    }
}

/// The lock a server driver's connection holds. The lock is taken once per connection
/// (advisory locks stack, and a lease is one row), so a driver's `lock` returns at once while
/// [`Held::is_held`].
#[derive(Debug, Default)]
pub enum Held {
    /// No lock.
    #[default]
    None,
    /// The session's advisory lock.
    Advisory,
    /// The lease lock.
    Lease(Box<Lease>),
}

impl Held {
    /// Whether a lock is held.
    pub fn is_held(&self) -> bool {
        !matches!(self, Held::None)
    }

    /// The lease, when the lease lock is held (its fence belongs in every transaction that
    /// records a migration).
    pub fn lease(&self) -> Option<&Lease> {
        match self {
            Held::Lease(lease) => Some(lease),
            _ => None,
        }
    }

    /// `none`, `advisory` or `lease`, for `Debug` output.
    pub fn name(&self) -> &'static str {
        match self {
            Held::None => "none",
            Held::Advisory => "advisory",
            Held::Lease(_) => "lease",
        }
    }

    /// Give up what was held (the caller has left [`Held::None`] in its place, with
    /// [`std::mem::take`]): the lease is released on `conn` ([`Lease::release`]); `true` when
    /// the advisory lock was held, which the caller releases.
    pub async fn release(self, conn: &mut impl LeaseConn) -> DriverResult<bool> {
        match self {
            Held::None => Ok(false),
            Held::Advisory => Ok(true),
            Held::Lease(lease) => lease.release(conn).await.map(|()| false),
        }
    }
}

/// What a server driver learned about its connection that bears on the lock choice.
#[derive(Debug, Clone, Default)]
pub struct LockSite {
    /// Why the connection looks pooled or proxied (so a session lock is not the run's), if it
    /// does.
    pub pooled: Option<String>,
    /// Why the engine has no working advisory locks, if it has none.
    pub other_engine: Option<String>,
    /// What sits between client and server when pooled, for the advice: `a pooler`, `a proxy`.
    pub middle: &'static str,
    /// The server a direct connection reaches, for the reason: `PostgreSQL`, `the server`.
    pub server: &'static str,
}

impl LockChoice {
    /// The lock a server driver takes for `kind` at `site`, and why: `table` takes the lease
    /// lock; `advisory` the advisory lock, saying so when the connection looks pooled; `auto`
    /// the lease lock on another engine or through a pooler, the advisory lock otherwise.
    ///
    /// ```
    /// use ferry_core::driver::lease::LockSite;
    /// use ferry_core::driver::{LockChoice, LockMechanism};
    /// use ferry_core::LockKind;
    /// let site = LockSite { middle: "a proxy", server: "the server", ..LockSite::default() };
    /// let pooled = LockSite { pooled: Some("it is pooled".into()), ..site.clone() };
    /// assert_eq!(LockChoice::decide(LockKind::Auto, site).mechanism, LockMechanism::Advisory);
    /// assert_eq!(
    ///     LockChoice::decide(LockKind::Auto, pooled.clone()).to_string(),
    ///     "table lease lock (lock = auto, and it is pooled)"
    /// );
    /// assert!(LockChoice::decide(LockKind::Advisory, pooled).reason.ends_with("behind a proxy"));
    /// ```
    pub fn decide(kind: LockKind, site: LockSite) -> LockChoice {
        match kind {
            LockKind::Table => LockChoice::new(LockMechanism::Lease, "lock = table"),
            LockKind::Advisory => LockChoice::new(
                LockMechanism::Advisory,
                match site.pooled {
                    Some(why) => format!(
                        "lock = advisory, although {why}; use lock = auto or table behind {}",
                        site.middle
                    ),
                    None => "lock = advisory".to_owned(),
                },
            ),
            LockKind::Auto => match site.other_engine.or(site.pooled) {
                Some(why) => {
                    LockChoice::new(LockMechanism::Lease, format!("lock = auto, and {why}"))
                }
                None => LockChoice::new(
                    LockMechanism::Advisory,
                    format!("lock = auto on a direct connection to {}", site.server),
                ),
            },
        }
    }
}
