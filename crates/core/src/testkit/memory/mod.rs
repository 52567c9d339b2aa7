//! An in-memory [`Driver`]: tracking rows, a migration lock and a toy SQL model, so that
//! core's planning rules can be tested without a database.
//!
//! A [`MemoryDatabase`] is the "server": every [`MemoryDriver`] opened on it (a
//! "connection") sees the same tracking tables, the same user tables and the same locks.
//!
//! The SQL model is deliberately tiny. A batch is split with [`crate::sql::split_statements`]
//! and each statement is matched against:
//! - `CREATE TABLE [IF NOT EXISTS] name` creates `name` (an error if it exists);
//! - `DROP TABLE [IF EXISTS] name` drops it (an error if it does not exist);
//! - `INSERT INTO name`, `DELETE FROM name` and `UPDATE name` fail when `name` does not exist;
//! - anything else succeeds and does nothing.
//!
//! Table names are compared case-insensitively, without quotes. A statement containing a
//! substring registered with [`MemoryDatabase::fail_on`] fails. Every failure carries the
//! 1-based line of the failing statement within the batch ([`DriverError::line`]).
//!
//! ```
//! use ferry_core::testkit::{block_on, MemoryDatabase};
//! use ferry_core::{Driver, DriverErrorKind, TableName};
//!
//! let db = MemoryDatabase::new();
//! let mut conn = db.open(TableName::default());
//! block_on(conn.execute("CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);", false)).unwrap();
//! assert!(db.has_table("t"));
//!
//! db.fail_on("VALUES (2)");
//! let err = block_on(conn.execute("SELECT 1;\nINSERT INTO t VALUES (2);", false)).unwrap_err();
//! assert_eq!(err.kind, DriverErrorKind::Query);
//! assert_eq!(err.line, Some(2));
//! assert_eq!(db.executed(), ["CREATE TABLE t (id INT)", "INSERT INTO t VALUES (1)", "SELECT 1"]);
//! ```

mod lock;
mod state;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::driver::{
    AppliedMigration, BoxFuture, Capabilities, DriverResult, LockChoice, LockHolder, LockMechanism,
    RowChange,
};
use crate::schema::{Part, Schema};
use crate::sql::{split_statements, Dialect};
use crate::testkit::DriverFactory;
use crate::{Driver, LockOptions, TableName};

pub use lock::block_on;
use lock::LockFuture;
use state::State;

/// The shared state behind every [`MemoryDriver`] opened on it: tracking tables (keyed by
/// [`TableName`]), user tables, migration locks, the log of executed statements and the
/// statements made to fail. Cloning it gives another handle to the same database.
///
/// It is also a [`DriverFactory`], so `run_conformance(&MemoryDatabase::new())` runs the
/// conformance suite on it.
#[derive(Debug, Clone, Default)]
pub struct MemoryDatabase {
    state: Arc<Mutex<State>>,
}

impl MemoryDatabase {
    /// An empty database whose DDL is transactional (like PostgreSQL and SQLite).
    pub fn new() -> Self {
        Self::default()
    }

    /// Set whether DDL is transactional, as reported by [`Driver::capabilities`] of every
    /// connection. With `false` the database behaves like MySQL: a `CREATE TABLE` or
    /// `DROP TABLE` inside [`Driver::execute_in_transaction`] commits implicitly, so a later
    /// failure rolls back only what came after it.
    pub fn with_transactional_ddl(self, transactional_ddl: bool) -> Self {
        self.state().transactional_ddl = transactional_ddl;
        self
    }

    /// Open a connection whose tracking table is `table`.
    pub fn open(&self, table: TableName) -> MemoryDriver {
        let id = {
            let mut state = self.state();
            state.last_connection += 1;
            state.last_connection
        };
        MemoryDriver {
            db: self.clone(),
            table,
            id,
            changed: None,
        }
    }

    /// Make every later statement whose text contains `pattern` fail (until
    /// [`MemoryDatabase::clear_failures`]).
    pub fn fail_on(&self, pattern: impl Into<String>) {
        self.state().fail_on.push(pattern.into());
    }

    /// Forget every pattern given to [`MemoryDatabase::fail_on`].
    pub fn clear_failures(&self) {
        self.state().fail_on.clear();
    }

    /// Every statement that ran successfully, in order, as split from its batch (without the
    /// terminating `;`). Statements later rolled back with their transaction stay in the log.
    pub fn executed(&self) -> Vec<String> {
        self.state().log.clone()
    }

    /// Empty the log of executed statements.
    pub fn clear_log(&self) {
        self.state().log.clear();
    }

    /// The user tables that exist, in lower case and sorted.
    pub fn tables(&self) -> Vec<String> {
        self.state().data.tables.iter().cloned().collect()
    }

    /// Whether the user table `name` exists (case-insensitive).
    pub fn has_table(&self, name: &str) -> bool {
        self.state()
            .data
            .tables
            .contains(&name.to_ascii_lowercase())
    }

    /// The rows of tracking table `table` in apply order; empty when the table does not exist.
    pub fn tracking_rows(&self, table: &TableName) -> Vec<AppliedMigration> {
        self.state()
            .data
            .tracking
            .get(table)
            .map(|t| t.rows.clone())
            .unwrap_or_default()
    }

    /// How many times a connection read tracking rows ([`Driver::applied`]): one query each.
    pub fn tracking_reads(&self) -> usize {
        self.state().reads
    }

    /// Whether a connection holds the migration lock of tracking table `table`.
    pub fn is_locked(&self, table: &TableName) -> bool {
        self.state().locks.contains_key(table)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DriverFactory for MemoryDatabase {
    fn connect<'a>(&'a self, table: &'a TableName) -> BoxFuture<'a, Box<dyn Driver>> {
        let driver: Box<dyn Driver> = Box::new(self.open(table.clone()));
        Box::pin(std::future::ready(driver))
    }
}

/// A connection to a [`MemoryDatabase`] with one tracking table. Its backend name is
/// `memory` and its dialect [`Dialect::Sqlite`]. Its migration lock is released by
/// [`Driver::unlock`] and when it is dropped; taking the lock it already holds succeeds at
/// once.
///
/// ```
/// use ferry_core::testkit::{block_on, MemoryDriver};
/// use ferry_core::{AppConfig, AppRegistry, ForwardsMigrationManager, Migration, Migrator};
///
/// let driver = MemoryDriver::new();
/// let db = driver.database().clone();
/// let app = AppConfig::embedded("users", vec![
///     Migration::new("1", "create users", "CREATE TABLE users (id INT);", Some("DROP TABLE users;")),
/// ]);
/// let mut m = Migrator::new(AppRegistry::new(vec![app]).unwrap(), Box::new(driver));
/// let result = block_on(ForwardsMigrationManager::new("users").run(&mut m)).unwrap();
/// assert_eq!(result.migrations.len(), 1);
/// assert!(db.has_table("users"));
/// ```
#[derive(Debug)]
pub struct MemoryDriver {
    db: MemoryDatabase,
    table: TableName,
    id: u64,
    /// The tables created or dropped since the last [`Driver::changed_owners`], once
    /// [`Driver::track_changes`] was called.
    changed: Option<std::collections::BTreeSet<String>>,
}

impl Default for MemoryDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryDriver {
    /// A connection to a new, empty [`MemoryDatabase`] with the default tracking table.
    pub fn new() -> Self {
        MemoryDatabase::new().open(TableName::default())
    }

    /// The database this connection is open on.
    pub fn database(&self) -> &MemoryDatabase {
        &self.db
    }

    /// The tracking table this connection uses.
    pub fn table(&self) -> &TableName {
        &self.table
    }

    fn release(&self) {
        let mut state = self.db.state();
        if state.locks.get(&self.table) == Some(&self.id) {
            state.locks.remove(&self.table);
            for waker in state.waiters.remove(&self.table).unwrap_or_default() {
                waker.wake();
            }
        }
    }
}

impl Drop for MemoryDriver {
    fn drop(&mut self) {
        self.release();
    }
}

impl Driver for MemoryDriver {
    fn backend(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            transactional_ddl: self.db.state().transactional_ddl,
            dialect: Dialect::Sqlite,
        }
    }

    fn table(&self) -> &TableName {
        MemoryDriver::table(self)
    }

    fn table_exists(&mut self) -> BoxFuture<'_, DriverResult<bool>> {
        let exists = self.db.state().data.tracking.contains_key(&self.table);
        Box::pin(std::future::ready(Ok(exists)))
    }

    fn ensure_table(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        self.db
            .state()
            .data
            .tracking
            .entry(self.table.clone())
            .or_default();
        Box::pin(std::future::ready(Ok(())))
    }

    fn set_lock_options(&mut self, _options: LockOptions) {
        // One kind of lock only: the in-process lock below.
    }

    fn lock_choice(&mut self) -> BoxFuture<'_, DriverResult<LockChoice>> {
        Box::pin(std::future::ready(Ok(LockChoice::new(
            LockMechanism::WriteLock,
            "the in-memory database's own lock",
        ))))
    }

    fn lock_holder(&mut self) -> BoxFuture<'_, DriverResult<Option<LockHolder>>> {
        let holder = self.db.state().locks.get(&self.table).map(|id| LockHolder {
            owner: format!("memory connection {id}"),
            since: None,
            expires: None,
        });
        Box::pin(std::future::ready(Ok(holder)))
    }

    fn lock(&mut self, timeout: Duration) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(LockFuture::new(
            self.db.clone(),
            self.table.clone(),
            self.id,
            Instant::now() + timeout,
        ))
    }

    fn unlock(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        self.release();
        Box::pin(std::future::ready(Ok(())))
    }

    fn applied<'a>(
        &'a mut self,
        app: Option<&'a str>,
    ) -> BoxFuture<'a, DriverResult<Vec<AppliedMigration>>> {
        let mut state = self.db.state();
        state.reads += 1;
        let result = state.tracking(&self.table).map(|t| {
            t.rows
                .iter()
                .filter(|r| app.is_none_or(|a| r.app_name == a))
                .cloned()
                .collect()
        });
        Box::pin(std::future::ready(result))
    }

    fn execute_in_transaction<'a>(
        &'a mut self,
        sql: &'a str,
        change: &'a RowChange,
    ) -> BoxFuture<'a, DriverResult<()>> {
        let mut state = self.db.state();
        let mut committed = state.data.clone();
        let started = Instant::now();
        let mut result = Ok(());
        for stmt in split_statements(sql, Dialect::Sqlite) {
            match state.run(sql, &stmt) {
                // Without transactional DDL, DDL commits implicitly (MySQL).
                Ok(true) if !state.transactional_ddl => committed = state.data.clone(),
                Ok(_) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let result = result.and_then(|()| {
            state.apply(
                &self.table,
                &change.clone().with_duration(started.elapsed()),
            )
        });
        if result.is_err() {
            state.data = committed;
        }
        Box::pin(std::future::ready(result))
    }

    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        _no_transaction: bool,
    ) -> BoxFuture<'a, DriverResult<()>> {
        let mut state = self.db.state();
        let before = self.changed.as_ref().map(|_| state.data.tables.clone());
        let result = split_statements(sql, Dialect::Sqlite)
            .iter()
            .try_for_each(|stmt| state.run(sql, stmt).map(|_| ()));
        if let (Some(changed), Some(before)) = (&mut self.changed, before) {
            changed.extend(before.symmetric_difference(&state.data.tables).cloned());
        }
        Box::pin(std::future::ready(result))
    }

    fn write<'a>(&'a mut self, change: &'a RowChange) -> BoxFuture<'a, DriverResult<()>> {
        let result = self.db.state().apply(&self.table, change);
        Box::pin(std::future::ready(result))
    }

    /// Tracks the tables each [`Driver::execute`] creates or drops.
    fn track_changes(&mut self) -> BoxFuture<'_, DriverResult<bool>> {
        self.changed = Some(std::collections::BTreeSet::new());
        Box::pin(std::future::ready(Ok(true)))
    }

    fn changed_owners(
        &mut self,
    ) -> BoxFuture<'_, DriverResult<Option<std::collections::BTreeSet<String>>>> {
        let changed = self.changed.as_mut().map(std::mem::take);
        Box::pin(std::future::ready(Ok(changed)))
    }

    /// One part per user table, owned by the table, holding one `table` object (the toy model
    /// knows no columns); not this connection's tracking table and its lock table.
    fn snapshot_parts<'a>(
        &'a mut self,
        owners: Option<&'a std::collections::BTreeSet<String>>,
    ) -> BoxFuture<'a, DriverResult<std::collections::BTreeMap<String, Part>>> {
        let tracking = self.table.name().to_ascii_lowercase();
        let lease = self.table.lease_table().name().to_ascii_lowercase();
        let parts = self
            .db
            .state()
            .data
            .tables
            .iter()
            .filter(|t| **t != tracking && **t != lease)
            .filter(|t| owners.is_none_or(|o| o.contains(*t)))
            .map(|t| {
                let mut schema = Schema::default();
                schema.add("table", t.as_str());
                (t.clone(), Part::new(schema))
            })
            .collect();
        Box::pin(std::future::ready(Ok(parts)))
    }
}
