//! The boundary between core and the database backends.
//!
//! A driver does dialect and transport only: it creates the tracking table, takes and releases
//! the migration lock, reads the tracking rows and runs SQL text with or without a tracking row
//! change in the same transaction. Which migrations run, in what order, and which plans are
//! refused is decided in core (see [`crate::Migrator`]).

pub(crate) mod counted;
pub(crate) mod error;
pub mod lease;
pub mod lint;
pub mod lock;
pub(crate) mod redact;
pub mod rt;
pub(crate) mod sqlite_url;
pub(crate) mod table_name;
pub(crate) mod tracking;
pub mod url;
pub mod watch;
pub mod wire;

// What a driver crate needs, under `ferry_core::driver::` (the crate root keeps the
// application's API).
pub use self::counted::{CountedRun, CountedStop};
pub use self::error::{DriverError, DriverErrorKind};
pub use self::lock::{
    lease_owner, Backoff, LeaseSql, LockChoice, LockHolder, LockKind, LockMechanism, LockOptions,
};
pub use self::redact::redact_url;
pub use self::sqlite_url::{resolve_sqlite_path, SqliteMode, SqliteUrl};
pub use self::table_name::TableName;
pub use self::tracking::{
    progress_checksum, statement_digest, AppliedMigration, Placeholders, RowChange, TrackingRow,
    TrackingSql, Value, COLUMNS, PROGRESS_COLUMNS,
};

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed, sendable future: the return type of every async [`Driver`] method.
///
/// Native `async fn` in traits is not `dyn`-compatible, and the CLI holds its driver as
/// `Box<dyn Driver>`, so the trait returns boxed futures instead.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The result type of driver operations.
pub type DriverResult<T> = Result<T, DriverError>;

/// When a driver call has waited this long for the server, the driver starts checking on a
/// connection of its own that the server is reachable and still working on the call.
pub const PROBE_AFTER: Duration = Duration::from_secs(15);

/// How often, after [`PROBE_AFTER`], the driver checks again.
pub const PROBE_EVERY: Duration = Duration::from_secs(15);

/// What a backend can do, as far as core's planning cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// DDL statements run inside a transaction and roll back with it (PostgreSQL, SQLite).
    /// When false (MySQL, MariaDB), core runs every migration that contains DDL under the
    /// dirty protocol: the row is written `dirty = true` first and cleared after success.
    pub transactional_ddl: bool,
    /// The SQL dialect, for the lexer in [`crate::sql`].
    pub dialect: crate::sql::Dialect,
}

/// The database side of ferry. One implementation per backend.
///
/// Contract (checked by the conformance suite in `ferry_core::testkit`, true on every backend):
/// - [`Driver::lock`] takes a database-wide migration lock of the kind set with
///   [`Driver::set_lock_options`] (see [`crate::driver::lock`]), polling until `timeout` and then
///   failing with [`DriverErrorKind::LockTimeout`]. Taking it again on the connection that
///   holds it succeeds at once and does not stack: one [`Driver::unlock`] releases it.
///   Releasing a lock that is not held is not an error. An advisory or write lock dies with
///   the connection; a lease lock expires within one lease when its holder is gone.
/// - While a lease lock is held, every [`Driver::execute_in_transaction`], [`Driver::write`]
///   and [`Driver::execute`] first checks (in the same transaction, where there is one) that
///   the lease still names this run, and fails with [`DriverErrorKind::LockLost`] otherwise,
///   changing nothing.
/// - [`Driver::execute_in_transaction`] runs the SQL batch and the row change in one
///   transaction: both commit or neither does.
/// - [`Driver::execute`] runs the SQL batch outside any transaction (PostgreSQL sends each
///   statement of a `no_transaction` section alone).
/// - [`Driver::write`] applies a row change at once: this connection reads it back
///   immediately, and it is committed before the next [`Driver::execute`] starts (so a dirty
///   row is on disk before the SQL it guards runs) and at the latest by [`Driver::unlock`].
///   PostgreSQL and MySQL commit it at once; SQLite, whose lock is a write transaction held
///   for the run, commits it with that transaction.
/// - [`Driver::applied`] reads rows in apply order with one query, filtered by app when asked.
/// - Nothing from an app name, migration ID or description is pasted into SQL text: the
///   tracking statements come from [`crate::driver::TrackingSql`] with bound [`crate::driver::Value`]s.
///
/// `Any` is a supertrait so that a [`crate::Migrator`] can give a driver back as the type it
/// was made with ([`crate::Migrator::into_driver_as`]): a driver on an application's own
/// client gives the client back.
pub trait Driver: Send + std::any::Any {
    /// The backend's short name: `sqlite`, `postgres` or `mysql`.
    fn backend(&self) -> &'static str;

    /// What the backend can do.
    fn capabilities(&self) -> Capabilities;

    /// The tracking table this driver reads and writes.
    fn table(&self) -> &TableName;

    /// Whether the tracking table exists. Read-only.
    fn table_exists(&mut self) -> BoxFuture<'_, DriverResult<bool>>;

    /// Create the tracking table (and its schema, where one is named) when missing.
    fn ensure_table(&mut self) -> BoxFuture<'_, DriverResult<()>>;

    /// Choose the lock [`Driver::lock`] takes. Drivers start with [`LockOptions::default`];
    /// a backend with one kind of lock only (SQLite) keeps it whatever is asked.
    fn set_lock_options(&mut self, options: LockOptions);

    /// The lock [`Driver::lock`] takes and why, deciding [`crate::LockKind::Auto`] (which may
    /// ask the server, once). Read-only.
    fn lock_choice(&mut self) -> BoxFuture<'_, DriverResult<LockChoice>>;

    /// Who holds the migration lock now, where the backend can tell (`None`: nobody, or
    /// unknown). Read-only: it creates nothing.
    fn lock_holder(&mut self) -> BoxFuture<'_, DriverResult<Option<LockHolder>>>;

    /// Take the migration lock, waiting at most `timeout`.
    fn lock(&mut self, timeout: Duration) -> BoxFuture<'_, DriverResult<()>>;

    /// Release the migration lock. Releasing a lock that is not held is not an error.
    fn unlock(&mut self) -> BoxFuture<'_, DriverResult<()>>;

    /// The tracking rows in apply order (ascending `row_id`), only those of `app` when given.
    /// The tracking table must exist.
    fn applied<'a>(
        &'a mut self,
        app: Option<&'a str>,
    ) -> BoxFuture<'a, DriverResult<Vec<AppliedMigration>>>;

    /// Run `sql` (a multi-statement batch) and apply `change` in one transaction. The driver
    /// records the time the SQL took with [`RowChange::with_duration`] before applying it.
    fn execute_in_transaction<'a>(
        &'a mut self,
        sql: &'a str,
        change: &'a RowChange,
    ) -> BoxFuture<'a, DriverResult<()>>;

    /// Run `sql` outside any transaction. `no_transaction` is true for a section marked
    /// `no-transaction`, where the backend must not wrap the batch in an implicit transaction.
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        no_transaction: bool,
    ) -> BoxFuture<'a, DriverResult<()>>;

    /// Run a section as a migration step without a tracking row (`verify`): in a
    /// transaction of its own unless `no_transaction` (where the backend's DDL is
    /// transactional), or, under a lock whose transaction spans the run (SQLite), in a
    /// savepoint of it. The default runs [`Driver::execute`], whose batch is one implicit
    /// transaction on PostgreSQL, and MySQL's DDL commits anyway.
    fn execute_step<'a>(
        &'a mut self,
        sql: &'a str,
        no_transaction: bool,
    ) -> BoxFuture<'a, DriverResult<()>> {
        self.execute(sql, no_transaction)
    }

    /// Whether the driver runs a section statement by statement under the dirty protocol
    /// ([`Driver::execute_statement`], SPEC §14). The default does not: core then runs the
    /// section whole with [`Driver::execute`] and counts no statements.
    fn counts_statements(&self) -> bool {
        false
    }

    /// Run one statement of a section whose statements are counted (SPEC §14), outside any
    /// transaction, as [`Driver::execute`] does, except that the session is put back as it
    /// began only after the `last` statement or one that fails: a `SET` of one statement
    /// holds for the next ones of the same section. The default is [`Driver::execute`].
    fn execute_statement<'a>(
        &'a mut self,
        sql: &'a str,
        no_transaction: bool,
        last: bool,
    ) -> BoxFuture<'a, DriverResult<()>> {
        let _ = last;
        self.execute(sql, no_transaction)
    }

    /// The counted dirty protocol's step (SPEC §14): apply `changes` as [`Driver::write_all`]
    /// does (the progress of the statements before, or the dirty row and what was deferred
    /// before it), then, once they are committed, run the statement `sql` as
    /// [`Driver::execute_statement`] does. The outer error is the changes' (the statement did
    /// not run); the inner result is the statement's. The default makes the two calls (the
    /// first only when `changes` is not empty); a driver may send both in one round trip.
    fn write_then_execute_statement<'a>(
        &'a mut self,
        changes: &'a [RowChange],
        sql: &'a str,
        no_transaction: bool,
        last: bool,
    ) -> BoxFuture<'a, DriverResult<DriverResult<()>>> {
        Box::pin(async move {
            if !changes.is_empty() {
                self.write_all(changes).await?;
            }
            Ok(self.execute_statement(sql, no_transaction, last).await)
        })
    }

    /// Run a counted section (SPEC §14): each statement as
    /// [`Driver::write_then_execute_statement`] would, after its changes
    /// ([`CountedRun::changes`]), the session put back after the last statement or a failure;
    /// stop at the first failure. The default makes those calls one by one
    /// ([`CountedRun::one_by_one`]); a driver whose server stops a multi-statement batch at its
    /// first failing statement may send several steps in one round trip, with the same
    /// commits in the same order.
    fn execute_counted<'a>(
        &'a mut self,
        run: &'a CountedRun<'a>,
    ) -> BoxFuture<'a, Result<(), CountedStop>> {
        Box::pin(run.one_by_one(self, 0))
    }

    /// Apply a row change on its own (see the trait docs for when it is committed).
    fn write<'a>(&'a mut self, change: &'a RowChange) -> BoxFuture<'a, DriverResult<()>>;

    /// Apply several row changes in order, in one transaction where the driver can (all or
    /// none, one commit). The default writes them one after the other with
    /// [`Driver::write`]: each as durable as alone, in the same order. Core uses it to send
    /// the end of one migration's dirty protocol with the start of the next one's.
    fn write_all<'a>(&'a mut self, changes: &'a [RowChange]) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(async move {
            for change in changes {
                self.write(change).await?;
            }
            Ok(())
        })
    }

    /// The dirty protocol's first half: apply `changes` as [`Driver::write_all`] does, then,
    /// once they are committed, run `sql` as [`Driver::execute`] does. The outer error is the
    /// changes' (the SQL did not run); the inner result is the SQL's. The default makes the
    /// two calls; a driver may send both in one round trip.
    fn write_then_execute<'a>(
        &'a mut self,
        changes: &'a [RowChange],
        sql: &'a str,
        no_transaction: bool,
    ) -> BoxFuture<'a, DriverResult<DriverResult<()>>> {
        Box::pin(async move {
            self.write_all(changes).await?;
            Ok(self.execute(sql, no_transaction).await)
        })
    }

    /// Start a run-wide transaction (`forwards --atomic` and `--rehearse`, SPEC §10): until
    /// [`Driver::end_atomic`], every [`Driver::execute_in_transaction`] and [`Driver::write`]
    /// joins it instead of committing on its own. Called with the lock held; only on backends
    /// with transactional DDL. The default says the backend cannot.
    fn begin_atomic(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        let backend = self.backend();
        Box::pin(std::future::ready(Err(DriverError::new(
            DriverErrorKind::Other,
            format!("the {backend} driver cannot run migrations in one transaction"),
        ))))
    }

    /// End the run-wide transaction: commit it (`commit`, after the lease fence where a lease
    /// is held) or roll it back. Ending one that is not open does nothing.
    fn end_atomic(&mut self, commit: bool) -> BoxFuture<'_, DriverResult<()>> {
        let _ = commit;
        Box::pin(std::future::ready(Ok(())))
    }

    /// Schema per tenant (SPEC §11): run migrations with `schema` as the `search_path`, set in
    /// each transaction and never for the session, so that it holds behind a transaction-mode
    /// pooler. The caller names the tracking table in that schema. The default says the
    /// backend has no such schemas.
    fn use_schema(&mut self, schema: &str) -> DriverResult<()> {
        Err(DriverError::new(
            DriverErrorKind::Config,
            format!(
                "schema `{schema}`: schema-per-tenant targets are for PostgreSQL, not {}",
                self.backend()
            ),
        ))
    }

    /// Point this connection at another tracking table of the same database, as if it had
    /// been opened with `table` (a fleet's next tenant, SPEC §11, read on a connection whose
    /// catalog caches are warm): what belonged to the last table (its tenant schema, change
    /// tracking, lint state) is forgotten. Only between commands, with no lock held and no
    /// transaction open. Returns whether it did; the default cannot, and then the caller
    /// opens a new connection.
    fn switch_table(&mut self, table: TableName) -> DriverResult<bool> {
        let _ = table;
        Ok(false)
    }

    /// Run a read-only query and return its first column as text, NULLs left out
    /// (`schemas_query`, SPEC §11). The default says the backend cannot.
    fn query_column<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, DriverResult<Vec<String>>> {
        let _ = sql;
        let backend = self.backend();
        Box::pin(std::future::ready(Err(DriverError::new(
            DriverErrorKind::Config,
            format!("the {backend} driver cannot run schemas_query"),
        ))))
    }

    /// Start recording which snapshot owners ([`crate::schema::Part`]) the following SQL
    /// changes, for [`Driver::changed_owners`] (`verify`, on its scratch database). Returns
    /// whether the driver can; the default cannot, and then every snapshot is read whole.
    fn track_changes(&mut self) -> BoxFuture<'_, DriverResult<bool>> {
        Box::pin(std::future::ready(Ok(false)))
    }

    /// The owners that may have changed since the last call (or since
    /// [`Driver::track_changes`]), and forget them. Sound: an owner not named did not change,
    /// unless it depends on one named ([`crate::schema::Part::depends_on`]). `None` when the
    /// driver cannot tell what changed (the default): the caller reads everything again.
    fn changed_owners(
        &mut self,
    ) -> BoxFuture<'_, DriverResult<Option<std::collections::BTreeSet<String>>>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Prepare a connection to a scratch database (`verify`): give up durability where
    /// the session can (nothing written there needs to survive a crash). The default does
    /// nothing.
    fn relax_durability(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// The schema as the catalog describes it now ([`crate::schema`], SPEC §9.3) in parts by
    /// owner, leaving out the tracking table and its lock table: every owner (`None`), or only
    /// `owners` (an owner asked for and not returned has no objects now). Read-only. A whole
    /// read is a few catalog queries whatever the schema's size, never one per object; a read
    /// of some owners costs what they hold (SQLite reads a handful of tables with a pragma
    /// each, cheaper than preparing its joins again). The default says the
    /// backend cannot.
    fn snapshot_parts<'a>(
        &'a mut self,
        owners: Option<&'a std::collections::BTreeSet<String>>,
    ) -> BoxFuture<'a, DriverResult<std::collections::BTreeMap<String, crate::schema::Part>>> {
        let _ = owners;
        let backend = self.backend();
        Box::pin(std::future::ready(Err(DriverError::new(
            DriverErrorKind::Other,
            format!("the {backend} driver cannot read a schema snapshot"),
        ))))
    }

    /// `ferry lint` (SPEC §13.1), on a scratch database only: run `statements` (one
    /// section's, in order) in one transaction, or each on its own when `no_transaction`,
    /// and read a [`lint::LintState`] before the first and after each one (see
    /// [`crate::driver::lint`]); commit what ran, so that the next section sees it. A failing
    /// statement ends the section (rolled back where the backend can) and is reported in
    /// [`lint::LintRun::failed`], not as the call's error. `continues`: the previous call
    /// on this connection was a `lint_section` that succeeded, and nothing ran since, so the
    /// driver may take the state it saw at that one's end as this one's start instead of
    /// reading it whole. The default says the backend cannot.
    fn lint_section<'a>(
        &'a mut self,
        statements: &'a [String],
        no_transaction: bool,
        continues: bool,
    ) -> BoxFuture<'a, DriverResult<lint::LintRun>> {
        let _ = (statements, no_transaction, continues);
        let backend = self.backend();
        Box::pin(std::future::ready(Err(DriverError::new(
            DriverErrorKind::Other,
            format!("the {backend} driver cannot measure migrations for `ferry lint`"),
        ))))
    }

    /// The whole schema as the catalog describes it now: every part of
    /// [`Driver::snapshot_parts`] in one [`crate::schema::Schema`].
    fn snapshot(&mut self) -> BoxFuture<'_, DriverResult<crate::schema::Schema>> {
        Box::pin(async move {
            let mut schema = crate::schema::Schema::default();
            for part in self.snapshot_parts(None).await?.into_values() {
                schema.extend(part.objects);
            }
            Ok(schema)
        })
    }
}
