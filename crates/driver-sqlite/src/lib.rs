//! SQLite driver for [ferry](https://github.com/ferry-migrations/ferry), on [rusqlite] with a
//! bundled SQLite.
//!
//! [`connect`] opens a database from an `sqlite:` URL and returns a [`SqliteDriver`], which
//! implements [`ferry_core::Driver`]:
//!
//! - **URLs**: `sqlite:PATH`, `sqlite://PATH` and `sqlite::memory:`, with
//!   `?mode=ro|rw|rwc|memory` (`rwc`, create when missing, is the default); the grammar is
//!   [`ferry_core::driver::SqliteUrl`]. The database file is created only by a command that writes:
//!   until then a missing file reads as an empty database, so `ferry check` and `--preview`
//!   leave no file behind. `ro` and `rw` refuse a missing file when connecting.
//! - **Off the caller's executor**: rusqlite blocks, so each driver owns a worker thread
//!   (named `ferry-sqlite`) that holds the connection. Every method sends its work there and
//!   awaits the answer through a oneshot future that needs no particular async runtime; a
//!   lock wait of many seconds leaves the caller's executor free. Dropping the driver ends
//!   the thread and closes the connection, which rolls back a lock transaction still open.
//! - **Lock**: SQLite's own write lock. [`Driver::lock`] runs `BEGIN IMMEDIATE` with
//!   `busy_timeout` set to the lock timeout and holds that transaction for the whole run, so
//!   a killed process leaves nothing of its run recorded without its effects, and the lock
//!   dies with the connection. Taking the lock again while this connection holds it does
//!   nothing (no nested `BEGIN`), and one [`Driver::unlock`] commits the transaction.
//! - **Transactions**: [`Driver::execute_in_transaction`] runs each migration and its row in
//!   a savepoint of the lock's transaction; a failure rolls back to the savepoint and keeps
//!   the lock. [`Driver::execute`] (a `no-transaction` section, e.g. `VACUUM`) commits the
//!   lock's transaction, runs the batch in autocommit mode and takes the lock again.
//! - **Row writes**: [`Driver::write`] under the lock joins the lock's transaction, so this
//!   connection reads the row at once; it is committed by the next [`Driver::execute`] (a
//!   dirty row is on disk before the SQL it guards runs) or at the latest by
//!   [`Driver::unlock`]. Without the lock it commits at once.
//! - **Session state** (SPEC §7): after each migration the pragmas it changed are set back,
//!   `temp` objects dropped and databases it attached detached (`session.rs`).
//! - **The application's connection**: [`SqliteDriver::from_connection`] moves a
//!   `rusqlite::Connection` the program holds to the worker thread, and
//!   [`SqliteDriver::into_connection`] gives it back; `rusqlite` is re-exported.
//! - **Errors**: statement failures keep SQLite's message and result code (`SQLITE_ERROR`,
//!   `SQLITE_BUSY`, ...) and name the line within the section. Outside the lock, statements
//!   wait up to 60 s for another connection's commit before failing as busy.
//! - **Snapshot** ([`Driver::snapshot_parts`], for `ferry verify`): the main database in
//!   parts by owner, the lower-cased `tbl_name` of `sqlite_schema` (a table with its columns,
//!   indexes, constraints and triggers; a view with its triggers). A whole read is at most
//!   four queries joining `sqlite_schema` with the table-valued pragmas; a read of some
//!   owners scans `sqlite_schema` for their rows only and runs their tables' pragmas. Unnamed
//!   constraints are named by their content (`posts.fk(user_id)->users(id)`).
//! - **Change tracking** ([`Driver::track_changes`], [`Driver::changed_owners`]): an
//!   authorizer that always allows notes the owners each statement creates or drops in
//!   `main`. Statements it cannot see through (`ALTER TABLE`, virtual tables, rollbacks, DDL
//!   in attached databases) are answered by comparing the `sqlite_schema` rows of each owner
//!   with those before the statement; where even that cannot be sure (a rollback outside a batch, hand-written
//!   `sqlite_schema`, a dot in a table's name), the answer is "read everything".
//! - **Steps** ([`Driver::execute_step`], for `verify`): under the lock, a savepoint of the
//!   lock's transaction, rolled back whole when a statement fails.
//!
//! ```
//! # async fn demo() -> Result<(), ferry_core::DriverError> {
//! use ferry_core::{Driver, TableName};
//! let mut driver = ferry_driver_sqlite::connect("sqlite::memory:", TableName::default()).await?;
//! assert!(!driver.table_exists().await?);
//! driver.ensure_table().await?;
//! assert!(driver.applied(None).await?.is_empty());
//! # Ok(()) }
//! ```
//!
//! [rusqlite]: https://docs.rs/rusqlite

/// The client crate this driver is built on: `rusqlite`, whose `Connection` [`SqliteDriver::from_connection`] takes, in the version
/// this driver uses.
pub use rusqlite;

mod conn;
mod error;
pub mod file;
mod lint;
mod session;
mod snapshot;
pub mod testing;
mod track;
mod url;
mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ferry_core::driver::{
    AppliedMigration, BoxFuture, Capabilities, DriverResult, LockChoice, LockHolder, LockMechanism,
    RowChange, SqliteUrl,
};
use ferry_core::schema::{Part, Schema};
use ferry_core::sql::Dialect;
use ferry_core::{Driver, DriverError, LockKind, LockOptions, TableName};

use crate::conn::Conn;
use crate::worker::Worker;

/// A ferry [`Driver`] for one SQLite database, whose connection lives on a worker thread.
///
/// Create it with [`connect`]. The connection (and with it the migration lock) closes when
/// the driver is dropped.
pub struct SqliteDriver {
    worker: Worker<Conn>,
    target: SqliteUrl,
    table: TableName,
    /// The lock asked for: only to say, in [`Driver::lock_choice`], that SQLite keeps its own.
    lock_kind: LockKind,
}

impl std::fmt::Debug for SqliteDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDriver")
            .field("target", &self.target)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// Open the SQLite database named by `url` with tracking table `table`.
///
/// Errors have kind [`ferry_core::DriverErrorKind::Config`] for an invalid URL and
/// [`ferry_core::DriverErrorKind::Connect`] when the file cannot be opened, or is missing and
/// the mode (`ro`, `rw`) forbids creating it. A missing file otherwise is not an error: it is
/// created by the first write. Works on any async runtime, or none.
pub async fn connect(url: &str, table: TableName) -> Result<SqliteDriver, DriverError> {
    SqliteDriver::connect(url, table).await
}

impl SqliteDriver {
    /// Open a database from a URL; see the free function [`connect`].
    pub async fn connect(url: &str, table: TableName) -> Result<SqliteDriver, DriverError> {
        let target = url::parse(url)?;
        let (open_target, open_table) = (target.clone(), table.clone());
        let worker =
            Worker::start("ferry-sqlite", move || Conn::open(open_target, open_table)).await?;
        Ok(SqliteDriver {
            worker,
            target,
            table,
            lock_kind: LockKind::Auto,
        })
    }

    /// A driver on the application's own connection, with tracking table `table`, for a
    /// program that already holds one: ferry migrates through it, and
    /// [`SqliteDriver::into_connection`] gives it back.
    ///
    /// The connection must not be inside a transaction (the migration lock is a `BEGIN
    /// IMMEDIATE` of its own): that is an error of kind [`ferry_core::DriverErrorKind::Config`].
    /// While ferry has it, it lives on the driver's worker thread with a `busy_timeout` of
    /// 60 s (set back when it is given back), and after each migration its session is put
    /// back as it was given (pragmas, `temp` objects, attached databases).
    ///
    /// ```
    /// # async fn demo() -> Result<(), ferry_core::DriverError> {
    /// use ferry_core::{Driver, TableName};
    /// use ferry_driver_sqlite::SqliteDriver;
    /// let conn = rusqlite::Connection::open_in_memory().unwrap();
    /// let mut driver = SqliteDriver::from_connection(conn, TableName::default()).await?;
    /// driver.ensure_table().await?;
    /// let conn = driver.into_connection().await?;
    /// let rows: i64 = conn
    ///     .query_row("SELECT COUNT(*) FROM ferry_migrations", [], |r| r.get(0))
    ///     .unwrap();
    /// assert_eq!(rows, 0);
    /// # Ok(()) }
    /// ```
    pub async fn from_connection(
        connection: rusqlite::Connection,
        table: TableName,
    ) -> Result<SqliteDriver, DriverError> {
        let open_table = table.clone();
        let worker = Worker::start("ferry-sqlite", move || {
            Conn::from_connection(connection, open_table)
        })
        .await?;
        let target = worker.call(|c| Ok(c.target().clone())).await?;
        Ok(SqliteDriver {
            worker,
            target,
            table,
            lock_kind: LockKind::Auto,
        })
    }

    /// The connection given to [`SqliteDriver::from_connection`], given back: a lock
    /// transaction still open (after an error) rolled back, its `busy_timeout` as it was.
    /// For a driver made by [`connect`], the connection it opened (an error when the database
    /// file was never created).
    pub async fn into_connection(self) -> Result<rusqlite::Connection, DriverError> {
        let describe = url::describe(&self.target);
        self.worker.into_state()?.into_connection()?.ok_or_else(|| {
            DriverError::new(
                ferry_core::DriverErrorKind::Other,
                format!("the SQLite database {describe} was never opened: nothing to give back"),
            )
        })
    }

    /// The tracking table's name.
    pub fn table(&self) -> &TableName {
        &self.table
    }

    /// The database: a file and its mode, or in memory.
    pub fn target(&self) -> &SqliteUrl {
        &self.target
    }

    /// See [`Driver::table_exists`]. False, without creating it, while the file is missing.
    pub async fn table_exists(&mut self) -> DriverResult<bool> {
        self.worker.call(Conn::table_exists).await
    }

    /// See [`Driver::ensure_table`]. Creates the database file when it is missing.
    pub async fn ensure_table(&mut self) -> DriverResult<()> {
        self.worker.call(Conn::ensure_table).await
    }

    /// See [`Driver::lock`]: `BEGIN IMMEDIATE`, waiting at most `timeout` for another writer.
    pub async fn lock(&mut self, timeout: Duration) -> DriverResult<()> {
        self.worker.call(move |c| c.lock(timeout)).await
    }

    /// See [`Driver::unlock`]: commits the lock's transaction.
    pub async fn unlock(&mut self) -> DriverResult<()> {
        self.worker.call(Conn::unlock).await
    }

    /// See [`Driver::applied`]. Empty, without creating it, while the file is missing.
    pub async fn applied(&mut self, app: Option<&str>) -> DriverResult<Vec<AppliedMigration>> {
        let app = app.map(str::to_owned);
        self.worker.call(move |c| c.applied(app.as_deref())).await
    }

    /// See [`Driver::execute_in_transaction`]: a savepoint of the lock's transaction.
    pub async fn execute_in_transaction(
        &mut self,
        sql: &str,
        change: &RowChange,
    ) -> DriverResult<()> {
        let (sql, change) = (sql.to_owned(), change.clone());
        self.worker
            .call(move |c| c.execute_in_transaction(&sql, &change))
            .await
    }

    /// See [`Driver::execute`]. SQLite never wraps a batch in an implicit transaction, so
    /// `no_transaction` changes nothing: under the lock, its transaction is committed, the
    /// batch runs in autocommit mode and the lock is taken again.
    pub async fn execute(&mut self, sql: &str, no_transaction: bool) -> DriverResult<()> {
        let _ = no_transaction;
        let sql = sql.to_owned();
        self.worker.call(move |c| c.execute(&sql)).await
    }

    /// See [`Driver::execute_statement`]: as [`SqliteDriver::execute`], the session reset
    /// after the `last` statement or a failure only.
    pub async fn execute_statement(&mut self, sql: &str, last: bool) -> DriverResult<()> {
        let sql = sql.to_owned();
        self.worker
            .call(move |c| c.execute_statement(&sql, last))
            .await
    }

    /// See [`Driver::write`]. Under the lock, part of the lock's transaction.
    pub async fn write(&mut self, change: &RowChange) -> DriverResult<()> {
        let change = change.clone();
        self.worker.call(move |c| c.write(&change)).await
    }

    /// See [`Driver::snapshot`]: the main database, whole. Empty, without creating
    /// it, while the file is missing.
    pub async fn snapshot(&mut self) -> DriverResult<Schema> {
        self.worker.call(Conn::snapshot).await
    }
}

impl Driver for SqliteDriver {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            transactional_ddl: true,
            dialect: Dialect::Sqlite,
        }
    }

    fn table(&self) -> &TableName {
        SqliteDriver::table(self)
    }

    fn table_exists(&mut self) -> BoxFuture<'_, DriverResult<bool>> {
        Box::pin(SqliteDriver::table_exists(self))
    }

    fn ensure_table(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(SqliteDriver::ensure_table(self))
    }

    fn set_lock_options(&mut self, options: LockOptions) {
        self.lock_kind = options.kind;
    }

    fn lock_choice(&mut self) -> BoxFuture<'_, DriverResult<LockChoice>> {
        let reason = match self.lock_kind {
            LockKind::Auto => "SQLite's BEGIN IMMEDIATE, held for the run".to_owned(),
            kind => format!(
                "SQLite's BEGIN IMMEDIATE, held for the run; lock = {kind} applies to PostgreSQL and MySQL only"
            ),
        };
        Box::pin(std::future::ready(Ok(LockChoice::new(
            LockMechanism::WriteLock,
            reason,
        ))))
    }

    fn lock_holder(&mut self) -> BoxFuture<'_, DriverResult<Option<LockHolder>>> {
        // SQLite does not say which process holds a file's write lock.
        Box::pin(std::future::ready(Ok(None)))
    }

    fn lock(&mut self, timeout: Duration) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(SqliteDriver::lock(self, timeout))
    }

    fn unlock(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(SqliteDriver::unlock(self))
    }

    fn applied<'a>(
        &'a mut self,
        app: Option<&'a str>,
    ) -> BoxFuture<'a, DriverResult<Vec<AppliedMigration>>> {
        Box::pin(SqliteDriver::applied(self, app))
    }

    fn execute_in_transaction<'a>(
        &'a mut self,
        sql: &'a str,
        change: &'a RowChange,
    ) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(SqliteDriver::execute_in_transaction(self, sql, change))
    }

    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        no_transaction: bool,
    ) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(SqliteDriver::execute(self, sql, no_transaction))
    }

    fn write<'a>(&'a mut self, change: &'a RowChange) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(SqliteDriver::write(self, change))
    }

    fn counts_statements(&self) -> bool {
        true
    }

    fn execute_statement<'a>(
        &'a mut self,
        sql: &'a str,
        _no_transaction: bool,
        last: bool,
    ) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(SqliteDriver::execute_statement(self, sql, last))
    }

    fn begin_atomic(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(self.worker.call(|c| c.begin_atomic()))
    }

    fn end_atomic(&mut self, commit: bool) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(self.worker.call(move |c| c.end_atomic(commit)))
    }

    fn snapshot_parts<'a>(
        &'a mut self,
        owners: Option<&'a BTreeSet<String>>,
    ) -> BoxFuture<'a, DriverResult<BTreeMap<String, Part>>> {
        let owners = owners.cloned();
        Box::pin(self.worker.call(move |c| c.snapshot_parts(owners.as_ref())))
    }

    fn track_changes(&mut self) -> BoxFuture<'_, DriverResult<bool>> {
        Box::pin(self.worker.call(Conn::track_changes))
    }

    fn changed_owners(&mut self) -> BoxFuture<'_, DriverResult<Option<BTreeSet<String>>>> {
        Box::pin(self.worker.call(Conn::changed_owners))
    }

    fn execute_step<'a>(
        &'a mut self,
        sql: &'a str,
        no_transaction: bool,
    ) -> BoxFuture<'a, DriverResult<()>> {
        let sql = sql.to_owned();
        Box::pin(
            self.worker
                .call(move |c| c.execute_step(&sql, no_transaction)),
        )
    }

    fn relax_durability(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(self.worker.call(Conn::relax_durability))
    }

    fn lint_section<'a>(
        &'a mut self,
        statements: &'a [String],
        no_transaction: bool,
        continues: bool,
    ) -> BoxFuture<'a, DriverResult<ferry_core::driver::lint::LintRun>> {
        let statements = statements.to_vec();
        Box::pin(
            self.worker
                .call(move |c| lint::lint_section(c, &statements, no_transaction, continues)),
        )
    }
}
