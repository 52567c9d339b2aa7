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

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::sql::{line_of_offset, split_statements, Dialect, Statement};
use crate::testkit::DriverFactory;
use crate::{
    AppliedMigration, BoxFuture, Capabilities, Driver, DriverError, DriverResult, RowChange,
    TableName,
};

/// One tracking table.
#[derive(Debug, Clone, Default)]
struct Tracking {
    rows: Vec<AppliedMigration>,
    last_id: i64,
}

/// Everything a transaction can roll back.
#[derive(Debug, Clone, Default)]
struct Data {
    tracking: HashMap<TableName, Tracking>,
    /// User tables, lower case.
    tables: BTreeSet<String>,
}

#[derive(Debug)]
struct State {
    data: Data,
    /// Tracking table → the connection holding its migration lock.
    locks: HashMap<TableName, u64>,
    /// Tasks waiting for a lock, woken when it is released.
    waiters: HashMap<TableName, Vec<Waker>>,
    log: Vec<String>,
    fail_on: Vec<String>,
    transactional_ddl: bool,
    last_connection: u64,
    /// How many times the tracking rows were read.
    reads: usize,
}

impl Default for State {
    fn default() -> Self {
        State {
            data: Data::default(),
            locks: HashMap::new(),
            waiters: HashMap::new(),
            log: Vec::new(),
            fail_on: Vec::new(),
            transactional_ddl: true,
            last_connection: 0,
            reads: 0,
        }
    }
}

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

fn no_such_table(name: &str) -> String {
    format!("no such table: {name}")
}

impl State {
    fn tracking(&mut self, table: &TableName) -> DriverResult<&mut Tracking> {
        self.data
            .tracking
            .get_mut(table)
            .ok_or_else(|| DriverError::query(no_such_table(&table.to_string())))
    }

    /// Apply a row change.
    fn apply(&mut self, table: &TableName, change: &RowChange) -> DriverResult<()> {
        let tracking = self.tracking(table)?;
        match change {
            RowChange::Insert(row) => {
                if tracking
                    .rows
                    .iter()
                    .any(|r| r.app_name == row.app_name && r.migration_id == row.migration_id)
                {
                    return Err(DriverError::query(format!(
                        "UNIQUE constraint failed: {table}.app_name, {table}.migration_id"
                    )));
                }
                tracking.last_id += 1;
                tracking.rows.push(AppliedMigration {
                    row_id: tracking.last_id,
                    row: row.clone(),
                });
            }
            RowChange::Delete {
                app_name,
                migration_id,
            } => tracking
                .rows
                .retain(|r| !(&r.app_name == app_name && &r.migration_id == migration_id)),
            RowChange::MarkDirty {
                app_name,
                migration_id,
            } => {
                for r in tracking
                    .rows
                    .iter_mut()
                    .filter(|r| &r.app_name == app_name && &r.migration_id == migration_id)
                {
                    r.row.dirty = true;
                }
            }
            RowChange::MarkClean {
                app_name,
                migration_id,
                duration_ms,
            } => {
                for r in tracking
                    .rows
                    .iter_mut()
                    .filter(|r| &r.app_name == app_name && &r.migration_id == migration_id)
                {
                    r.row.dirty = false;
                    if let Some(ms) = duration_ms {
                        r.row.duration_ms = *ms;
                    }
                }
            }
        }
        Ok(())
    }

    /// Run one statement of `sql`; on failure the error names its line within `sql`.
    /// Returns whether the statement was DDL.
    fn run(&mut self, sql: &str, stmt: &Statement<'_>) -> DriverResult<bool> {
        let at_line = |message: String| {
            DriverError::query(message).with_line(Some(line_of_offset(sql, stmt.offset)))
        };
        if let Some(pattern) = self.fail_on.iter().find(|p| stmt.text.contains(p.as_str())) {
            return Err(at_line(format!(
                "statement made to fail by fail_on(\"{pattern}\")"
            )));
        }
        let spaced = stmt.text.replace('(', " ( ");
        let words: Vec<&str> = spaced.split_whitespace().collect();
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let keyword = |i: usize, k: &str| upper.get(i).is_some_and(|w| w == k);
        let name = |i: usize| {
            words
                .get(i)
                .map(|w| {
                    w.trim_matches(|c| matches!(c, '"' | '`' | '[' | ']'))
                        .to_ascii_lowercase()
                })
                .unwrap_or_default()
        };
        let tables = &mut self.data.tables;
        let mut ddl = false;
        if keyword(0, "CREATE") && keyword(1, "TABLE") {
            ddl = true;
            let if_not_exists = keyword(2, "IF") && keyword(3, "NOT") && keyword(4, "EXISTS");
            let table = name(if if_not_exists { 5 } else { 2 });
            if !tables.insert(table.clone()) && !if_not_exists {
                return Err(at_line(format!("table {table} already exists")));
            }
        } else if keyword(0, "DROP") && keyword(1, "TABLE") {
            ddl = true;
            let if_exists = keyword(2, "IF") && keyword(3, "EXISTS");
            let table = name(if if_exists { 4 } else { 2 });
            if !tables.remove(&table) && !if_exists {
                return Err(at_line(no_such_table(&table)));
            }
        } else {
            let target = if keyword(0, "INSERT") || keyword(0, "DELETE") {
                upper
                    .iter()
                    .position(|w| w == "INTO" || w == "FROM")
                    .map(|i| name(i + 1))
            } else if keyword(0, "UPDATE") {
                Some(name(1))
            } else {
                None
            };
            if let Some(table) = target.filter(|t| !tables.contains(t)) {
                return Err(at_line(no_such_table(&table)));
            }
        }
        self.log.push(stmt.text.to_owned());
        Ok(ddl)
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

    fn lock(&mut self, timeout: Duration) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(LockFuture {
            db: self.db.clone(),
            table: self.table.clone(),
            id: self.id,
            deadline: Instant::now() + timeout,
            timer: None,
        })
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
        let result = split_statements(sql, Dialect::Sqlite)
            .iter()
            .try_for_each(|stmt| state.run(sql, stmt).map(|_| ()));
        Box::pin(std::future::ready(result))
    }

    fn write<'a>(&'a mut self, change: &'a RowChange) -> BoxFuture<'a, DriverResult<()>> {
        let result = self.db.state().apply(&self.table, change);
        Box::pin(std::future::ready(result))
    }
}

/// Wakes a waiting [`LockFuture`] at its deadline, unless cancelled first.
#[derive(Debug)]
struct Timer {
    state: Mutex<TimerState>,
    changed: Condvar,
}

#[derive(Debug)]
struct TimerState {
    cancelled: bool,
    waker: Waker,
}

impl Timer {
    fn start(deadline: Instant, waker: Waker) -> Arc<Timer> {
        let timer = Arc::new(Timer {
            state: Mutex::new(TimerState {
                cancelled: false,
                waker,
            }),
            changed: Condvar::new(),
        });
        let t = Arc::clone(&timer);
        std::thread::spawn(move || {
            let mut state = t.state.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if state.cancelled {
                    return;
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                state = t
                    .changed
                    .wait_timeout(state, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            state.waker.wake_by_ref();
        });
        timer
    }

    fn set_waker(&self, waker: &Waker) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !state.waker.will_wake(waker) {
            state.waker = waker.clone();
        }
    }

    fn cancel(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cancelled = true;
        self.changed.notify_all();
    }
}

/// Takes the lock when it is free; otherwise waits to be woken by its release or by the
/// timer at the deadline. No runtime needed: the timer is a std thread.
struct LockFuture {
    db: MemoryDatabase,
    table: TableName,
    id: u64,
    deadline: Instant,
    timer: Option<Arc<Timer>>,
}

impl Future for LockFuture {
    type Output = DriverResult<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        {
            let mut state = this.db.state();
            match state.locks.get(&this.table) {
                None => {
                    state.locks.insert(this.table.clone(), this.id);
                    return Poll::Ready(Ok(()));
                }
                Some(&holder) if holder == this.id => return Poll::Ready(Ok(())),
                Some(_) => {}
            }
            if Instant::now() >= this.deadline {
                return Poll::Ready(Err(DriverError::lock_timeout()));
            }
            let waiters = state.waiters.entry(this.table.clone()).or_default();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
        }
        match &this.timer {
            Some(timer) => timer.set_waker(cx.waker()),
            None => this.timer = Some(Timer::start(this.deadline, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for LockFuture {
    fn drop(&mut self) {
        if let Some(timer) = &self.timer {
            timer.cancel();
        }
    }
}

/// Run a future to completion on the current thread, parking between polls. Enough for
/// ferry's futures, which need no runtime (the [`MemoryDriver`]'s lock wakes itself).
///
/// ```
/// assert_eq!(ferry_core::testkit::block_on(async { 1 + 1 }), 2);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}
