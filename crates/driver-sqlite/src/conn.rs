//! The connection and everything that blocks on it. A [`Conn`] lives on the driver's worker
//! thread (see [`crate::worker`]); its methods are the blocking halves of the [`Driver`]
//! methods, named like them and in the same order.
//!
//! [`Driver`]: ferry_core::Driver

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ferry_core::driver::url::quote_ident;
use ferry_core::driver::{
    AppliedMigration, DriverResult, Placeholders, RowChange, SqliteMode, SqliteUrl, TrackingRow,
    TrackingSql, Value,
};
use ferry_core::schema::{Part, Schema};
use ferry_core::sql::{split_statements, Dialect};
use ferry_core::{DriverError, DriverErrorKind, TableName};
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::ToSqlOutput;
use rusqlite::{params, params_from_iter, Connection, ErrorCode, OptionalExtension, ToSql};

use crate::error::{db_error, is_busy, statement_error};
use crate::session::Session;
use crate::track::Tracking;
use crate::url;

/// The `busy_timeout` outside the lock: how long a statement waits for another connection's
/// commit.
const DEFAULT_BUSY: Duration = Duration::from_secs(60);

/// One SQLite database and, once it exists, the connection to it.
pub(crate) struct Conn {
    target: SqliteUrl,
    /// `None` until the database file exists: reads of a missing file see an empty database,
    /// and the first write creates it.
    conn: Option<Connection>,
    table: TableName,
    /// The quoted table name.
    quoted: String,
    /// The tracking-table statements.
    sql: TrackingSql,
    /// Whether this connection holds the lock, i.e. has the lock's `BEGIN IMMEDIATE`
    /// transaction open.
    locked: bool,
    /// The lock timeout of the current lock, for taking it again after [`Conn::execute`].
    lock_timeout: Duration,
    /// Which snapshot owners the SQL changes, once [`Conn::track_changes`] was called.
    tracking: Option<Tracking>,
    /// The connection's state when it was opened, put back after each migration.
    session: Session,
    /// An application's own connection ([`Conn::from_connection`]): its `busy_timeout`,
    /// set back when it is given back.
    given_busy: Option<Duration>,
    /// `ferry lint`: the state at the end of the last section measured ([`crate::lint`]).
    pub(crate) lint_carry: Option<crate::lint::Carry>,
}

impl Conn {
    /// The database of `target`, opened at once when it exists. A missing file that the
    /// mode forbids creating is an error.
    pub(crate) fn open(target: SqliteUrl, table: TableName) -> DriverResult<Conn> {
        let quoted = match table.schema() {
            Some(s) => format!("{}.{}", quote_ident(s, '"'), quote_ident(table.name(), '"')),
            None => quote_ident(table.name(), '"'),
        };
        let conn = if url::exists(&target)? {
            Some(url::open(&target, DEFAULT_BUSY)?)
        } else {
            None
        };
        let session = conn.as_ref().map(Session::capture).unwrap_or_default();
        Ok(Conn {
            target,
            conn,
            sql: TrackingSql::new(Placeholders::Question, &quoted),
            quoted,
            table,
            locked: false,
            lock_timeout: DEFAULT_BUSY,
            tracking: None,
            session,
            given_busy: None,
            lint_carry: None,
        })
    }

    /// An application's own connection, outside any transaction (the lock is a `BEGIN
    /// IMMEDIATE` of its own). Its `busy_timeout` is ferry's until [`Conn::into_connection`].
    pub(crate) fn from_connection(conn: Connection, table: TableName) -> DriverResult<Conn> {
        if !conn.is_autocommit() {
            return Err(DriverError::new(
                DriverErrorKind::Config,
                "the SQLite connection given to ferry is inside a transaction: commit or roll it back first",
            ));
        }
        let busy: i64 = conn
            .pragma_query_value(None, "busy_timeout", |row| row.get(0))
            .map_err(db_error)?;
        conn.busy_timeout(DEFAULT_BUSY).map_err(db_error)?;
        let target = match conn.path().filter(|p| !p.is_empty()) {
            Some(path) => SqliteUrl::File {
                path: path.into(),
                mode: SqliteMode::ReadWrite,
            },
            None => SqliteUrl::Memory,
        };
        let quoted = match table.schema() {
            Some(s) => format!("{}.{}", quote_ident(s, '"'), quote_ident(table.name(), '"')),
            None => quote_ident(table.name(), '"'),
        };
        let session = Session::capture(&conn);
        Ok(Conn {
            target,
            conn: Some(conn),
            sql: TrackingSql::new(Placeholders::Question, &quoted),
            quoted,
            table,
            locked: false,
            lock_timeout: DEFAULT_BUSY,
            tracking: None,
            session,
            given_busy: Some(Duration::from_millis(busy.max(0) as u64)),
            lint_carry: None,
        })
    }

    /// The connection, given back: a lock transaction still open rolled back, change
    /// tracking off, its `busy_timeout` as it was given ([`Conn::from_connection`]). `None`
    /// when the database file was never created.
    pub(crate) fn into_connection(mut self) -> DriverResult<Option<Connection>> {
        let Some(conn) = self.conn.take() else {
            return Ok(None);
        };
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK").map_err(db_error)?;
        }
        if let Some(tracking) = self.tracking.take() {
            tracking.stop(&conn);
        }
        if let Some(busy) = self.given_busy {
            conn.busy_timeout(busy).map_err(db_error)?;
        }
        Ok(Some(conn))
    }

    /// The database.
    pub(crate) fn target(&self) -> &SqliteUrl {
        &self.target
    }

    /// The connection, creating the database file when it does not exist yet.
    pub(crate) fn connection(&mut self) -> DriverResult<&Connection> {
        Ok(self.open_tracked()?.0)
    }

    /// The connection (creating the database file when it does not exist yet), and the
    /// change tracking, when on.
    fn open_tracked(&mut self) -> DriverResult<(&Connection, Option<&Tracking>)> {
        let conn = match self.conn {
            Some(ref conn) => conn,
            None => {
                let conn = url::open(&self.target, DEFAULT_BUSY)?;
                self.session = Session::capture(&conn);
                if let Some(tracking) = &self.tracking {
                    tracking.attach(&conn);
                }
                self.conn.insert(conn)
            }
        };
        Ok((conn, self.tracking.as_ref()))
    }

    /// Put the connection back in the state it was opened in ([`crate::session`]), after a
    /// migration's SQL ran, also when it failed; `ran`'s error comes first.
    pub(crate) fn after_reset(&mut self, ran: DriverResult<()>) -> DriverResult<()> {
        let reset = match &self.conn {
            Some(conn) => self.session.restore(conn).map_err(db_error),
            None => Ok(()),
        };
        ran.and(reset)
    }

    /// Run a batch of migration SQL (see [`run_batch`]).
    fn run(&mut self, sql: &str) -> DriverResult<()> {
        let (conn, tracking) = self.open_tracked()?;
        run_batch(conn, sql, tracking)
    }

    pub(crate) fn table_exists(&mut self) -> DriverResult<bool> {
        let Some(conn) = &self.conn else {
            return Ok(false);
        };
        let schema = self.table.schema().unwrap_or("main");
        let sql =
            format!("SELECT 1 FROM \"{schema}\".sqlite_master WHERE type = 'table' AND name = ?1");
        conn.query_row(&sql, params![self.table.name()], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(db_error)
    }

    pub(crate) fn ensure_table(&mut self) -> DriverResult<()> {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                app_name TEXT NOT NULL,
                migration_id TEXT NOT NULL,
                description TEXT NOT NULL,
                checksum TEXT NOT NULL,
                down_sql TEXT NULL,
                applied_at TEXT NOT NULL,
                duration_ms INTEGER NOT NULL,
                dirty INTEGER NOT NULL DEFAULT 0,
                statements_done INTEGER NULL,
                progress_checksum TEXT NULL,
                UNIQUE (app_name, migration_id)
            )",
            self.quoted
        );
        // A table made before the progress columns (SPEC §14): add them, under the lock's
        // write transaction.
        let schema = self.table.schema().unwrap_or("main").to_owned();
        let name = self.table.name().to_owned();
        let quoted = self.quoted.clone();
        let conn = self.connection()?;
        conn.execute_batch(&sql).map_err(db_error)?;
        let have: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info(?1, ?2) \
                 WHERE name IN ('statements_done', 'progress_checksum')",
                params![name, schema],
                |r| r.get(0),
            )
            .map_err(db_error)?;
        if have >= 2 {
            return Ok(());
        }
        for (column, ty) in [
            ("statements_done", "INTEGER"),
            ("progress_checksum", "TEXT"),
        ] {
            let exists: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM pragma_table_info(?1, ?2) WHERE name = ?3",
                    params![name, schema, column],
                    |r| r.get(0),
                )
                .map_err(db_error)?;
            if exists == 0 {
                conn.execute_batch(&format!(
                    "ALTER TABLE {quoted} ADD COLUMN {column} {ty} NULL"
                ))
                .map_err(db_error)?;
            }
        }
        Ok(())
    }

    /// Take the lock: `BEGIN IMMEDIATE`, waiting for another writer at most `timeout`. While
    /// the lock's transaction is open, taking it again does nothing.
    pub(crate) fn lock(&mut self, timeout: Duration) -> DriverResult<()> {
        if self.locked && self.conn.as_ref().is_some_and(|c| !c.is_autocommit()) {
            return Ok(());
        }
        self.locked = false;
        self.begin_immediate(timeout)?;
        self.lock_timeout = timeout;
        self.locked = true;
        Ok(())
    }

    fn begin_immediate(&mut self, timeout: Duration) -> DriverResult<()> {
        let conn = self.connection()?;
        conn.busy_timeout(timeout).map_err(db_error)?;
        let result = conn.execute_batch("BEGIN IMMEDIATE");
        conn.busy_timeout(timeout.max(DEFAULT_BUSY))
            .map_err(db_error)?;
        match result {
            Ok(()) => Ok(()),
            Err(e) if is_busy(&e) => Err(DriverError::lock_timeout()),
            Err(e) => Err(db_error(e)),
        }
    }

    /// The run-wide transaction of `--atomic` is the lock's own: nothing to start, but the
    /// lock must be held.
    pub(crate) fn begin_atomic(&mut self) -> DriverResult<()> {
        match &self.conn {
            Some(conn) if self.locked && !conn.is_autocommit() => Ok(()),
            _ => Err(DriverError::new(
                ferry_core::DriverErrorKind::Other,
                "a run-wide transaction needs the migration lock",
            )),
        }
    }

    /// End the run-wide transaction: commit it with the lock's release, or roll back the
    /// lock's transaction now, every migration of the run with it.
    pub(crate) fn end_atomic(&mut self, commit: bool) -> DriverResult<()> {
        if commit {
            return Ok(());
        }
        match &self.conn {
            Some(conn) if !conn.is_autocommit() => conn.execute_batch("ROLLBACK").map_err(db_error),
            _ => Ok(()),
        }
    }

    /// Release the lock: commit its transaction.
    pub(crate) fn unlock(&mut self) -> DriverResult<()> {
        if !self.locked {
            return Ok(());
        }
        self.locked = false;
        match &self.conn {
            Some(conn) if !conn.is_autocommit() => conn.execute_batch("COMMIT").map_err(db_error),
            _ => Ok(()),
        }
    }

    pub(crate) fn applied(&mut self, app: Option<&str>) -> DriverResult<Vec<AppliedMigration>> {
        let Some(conn) = &self.conn else {
            return Ok(Vec::new());
        };
        let (sql, values) = match conn.prepare(self.sql.select(app).0) {
            // A table made before the progress columns (SPEC §14), not upgraded yet.
            Err(e) if e.to_string().contains("no such column") => self.sql.select_legacy(app),
            _ => self.sql.select(app),
        };
        let mut stmt = conn.prepare(sql).map_err(db_error)?;
        let rows = stmt
            .query_map(params_from_iter(values.into_iter().map(Bind)), |r| {
                let applied_at: String = r.get(6)?;
                Ok(AppliedMigration {
                    row_id: r.get(0)?,
                    row: TrackingRow {
                        app_name: r.get(1)?,
                        migration_id: r.get(2)?,
                        description: r.get(3)?,
                        checksum: r.get(4)?,
                        down_sql: r.get(5)?,
                        applied_at: parse_time(&applied_at),
                        duration_ms: r.get(7)?,
                        dirty: r.get::<_, i64>(8)? != 0,
                    },
                    statements_done: r.get(9)?,
                    progress_checksum: r.get(10)?,
                })
            })
            .map_err(db_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
    }

    /// Run `sql` and apply `change` in a savepoint of the lock's transaction (or, without the
    /// lock, in a transaction of their own).
    pub(crate) fn execute_in_transaction(
        &mut self,
        sql: &str,
        change: &RowChange,
    ) -> DriverResult<()> {
        self.in_transaction("ferry_migration", |this| {
            let started = Instant::now();
            this.run(sql)?;
            this.write(&change.clone().with_duration(started.elapsed()))
        })
    }

    /// See [`ferry_core::Driver::execute_step`]: `no_transaction` as [`Conn::execute`];
    /// otherwise as [`Conn::execute_in_transaction`], without a row change.
    pub(crate) fn execute_step(&mut self, sql: &str, no_transaction: bool) -> DriverResult<()> {
        if no_transaction {
            return self.execute(sql);
        }
        self.in_transaction("ferry_step", |this| this.run(sql))
    }

    /// Run `body` in the savepoint `name` of the lock's transaction (or, without the lock, in
    /// a transaction of its own), rolled back when it fails.
    pub(crate) fn in_transaction(
        &mut self,
        name: &str,
        body: impl FnOnce(&mut Self) -> DriverResult<()>,
    ) -> DriverResult<()> {
        let (commit, rollback) = if self.locked {
            self.connection()?
                .execute_batch(&format!("SAVEPOINT {name}"))
                .map_err(db_error)?;
            (
                format!("RELEASE {name}"),
                format!("ROLLBACK TO {name}; RELEASE {name}"),
            )
        } else {
            self.begin_immediate(DEFAULT_BUSY)?;
            ("COMMIT".to_owned(), "ROLLBACK".to_owned())
        };
        let result = body(self);
        let conn = self.connection()?;
        let ended = match result {
            Ok(()) => conn.execute_batch(&commit).map_err(db_error),
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch(&rollback);
                }
                Err(e)
            }
        };
        self.after_reset(ended)
    }

    /// Run `sql` outside any transaction. Under the lock, commit what the lock's transaction
    /// holds (a dirty row written just before, among it), run the batch, and take the lock
    /// again.
    pub(crate) fn execute(&mut self, sql: &str) -> DriverResult<()> {
        self.execute_reset(sql, true)
    }

    /// One statement of a counted `no-transaction` section (SPEC §14): as [`Self::execute`],
    /// the session reset after the `last` statement or a failure only.
    pub(crate) fn execute_statement(&mut self, sql: &str, last: bool) -> DriverResult<()> {
        self.execute_reset(sql, last)
    }

    fn execute_reset(&mut self, sql: &str, reset: bool) -> DriverResult<()> {
        let relock = self.locked;
        if relock {
            let conn = self.connection()?;
            if !conn.is_autocommit() {
                conn.execute_batch("COMMIT").map_err(db_error)?;
            }
        }
        let ran = self.run(sql);
        let result = if reset || ran.is_err() {
            self.after_reset(ran)
        } else {
            ran
        };
        if relock {
            if let Err(e) = self.begin_immediate(self.lock_timeout) {
                self.locked = false;
                return Err(result.err().unwrap_or(e));
            }
        }
        result
    }

    /// See [`ferry_core::Driver::snapshot_parts`]: the main database's schema in parts by
    /// owner, without the tracking table (see [`crate::snapshot`]). Empty, without creating
    /// it, while the file is missing.
    pub(crate) fn snapshot_parts(
        &mut self,
        owners: Option<&BTreeSet<String>>,
    ) -> DriverResult<BTreeMap<String, Part>> {
        let Some(conn) = &self.conn else {
            return Ok(BTreeMap::new());
        };
        // Owners known to have no rows now (dropped since the last change) are not read.
        let empty = match (owners, &self.tracking) {
            (Some(_), Some(tracking)) => tracking.empty(),
            _ => BTreeSet::new(),
        };
        let mut parts = if empty.is_empty() {
            crate::snapshot::read(conn, owners, &empty)?
        } else {
            let rest: BTreeSet<String> = owners
                .into_iter()
                .flatten()
                .filter(|o| !empty.contains(*o))
                .cloned()
                .collect();
            crate::snapshot::read(conn, Some(&rest), &empty)?
        };
        let in_main = self
            .table
            .schema()
            .is_none_or(|s| s.eq_ignore_ascii_case("main"));
        if in_main {
            let table = self.table.name();
            for part in parts.values_mut() {
                part.objects = std::mem::take(&mut part.objects).without_table(table);
            }
            parts.retain(|_, part| !part.objects.is_empty());
        }
        Ok(parts)
    }

    /// The whole schema: every part of [`Conn::snapshot_parts`].
    pub(crate) fn snapshot(&mut self) -> DriverResult<Schema> {
        let mut schema = Schema::default();
        for part in self.snapshot_parts(None)?.into_values() {
            schema.extend(part.objects);
        }
        Ok(schema)
    }

    /// See [`ferry_core::Driver::track_changes`]: from now on, the authorizer notes what the
    /// SQL changes (see [`crate::track`]).
    pub(crate) fn track_changes(&mut self) -> DriverResult<bool> {
        if let (Some(conn), Some(old)) = (&self.conn, &self.tracking) {
            old.stop(conn);
        }
        self.tracking = Some(Tracking::start(self.conn.as_ref()));
        Ok(true)
    }

    /// See [`ferry_core::Driver::changed_owners`]; `None` before [`Conn::track_changes`].
    pub(crate) fn changed_owners(&mut self) -> DriverResult<Option<BTreeSet<String>>> {
        match &self.tracking {
            Some(tracking) => tracking.changed_owners(self.conn.as_ref()),
            None => Ok(None),
        }
    }

    /// See [`ferry_core::Driver::relax_durability`]: no syncing, the rollback journal in
    /// memory. Creates the file.
    pub(crate) fn relax_durability(&mut self) -> DriverResult<()> {
        let conn = self.connection()?;
        conn.pragma_update(None, "synchronous", "OFF")
            .map_err(db_error)?;
        conn.query_row("PRAGMA journal_mode = MEMORY", [], |_| Ok(()))
            .map_err(db_error)
    }

    /// Apply a row change. Under the lock it joins the lock's transaction: this connection
    /// reads it at once, and the next [`Conn::execute`] or [`Conn::unlock`] commits it.
    pub(crate) fn write(&mut self, change: &RowChange) -> DriverResult<()> {
        let (sql, values) = self.sql.change(change);
        let sql = sql.to_owned();
        self.connection()?
            .execute(&sql, params_from_iter(values.into_iter().map(Bind)))
            .map(|_| ())
            .map_err(db_error)
    }
}

/// Run a batch statement by statement, keeping track of where each statement starts so that
/// an error can name its line. The batch is split by ferry's lexer first and each statement is
/// prepared on its own: SQLite copies the whole rest of the text it is handed on every prepare,
/// which over a long batch of small statements is quadratic. With `tracking`, each statement
/// is shown to it between its preparation and its run (see [`crate::track`]).
fn run_batch(conn: &Connection, sql: &str, tracking: Option<&Tracking>) -> DriverResult<()> {
    if let Some(tracking) = tracking {
        tracking.before_batch();
    }
    for statement in split_statements(sql, Dialect::Sqlite) {
        run_statements(conn, sql, statement.text, statement.offset, tracking)?;
    }
    Ok(())
}

/// Run `part` (found at byte `offset` of `sql`) with rusqlite's batch: normally one statement,
/// more if the lexer found no boundary SQLite would.
fn run_statements(
    conn: &Connection,
    sql: &str,
    part: &str,
    offset: usize,
    tracking: Option<&Tracking>,
) -> DriverResult<()> {
    let mut batch = rusqlite::Batch::new(conn, part);
    // The end of the last statement run: a syntax error's offset counts from here.
    let mut pos = 0usize;
    loop {
        let mut stmt = match batch.next() {
            Ok(Some(stmt)) => stmt,
            Ok(None) => return Ok(()),
            // Only the tracking's authorizer refuses statements, and only when it failed
            // (rusqlite fails it on names that are not UTF-8): run without it. The batch
            // prepares the same statement again.
            Err(e) if is_refused(&e) && tracking.is_some_and(Tracking::is_hooked) => {
                if let Some(tracking) = tracking {
                    tracking.stop(conn);
                }
                continue;
            }
            Err(e) => return Err(statement_error(e, sql, offset + pos)),
        };
        if let Some(tracking) = tracking {
            tracking.before_step(conn);
        }
        let text = stmt.expanded_sql().unwrap_or_default();
        let start = if text.is_empty() {
            pos
        } else {
            part[pos..].find(&text).map_or(pos, |i| pos + i)
        };
        // Step once, as `execute_batch` does: a statement that returns rows (a PRAGMA, a
        // SELECT) is run, not read.
        let stepped = stmt.raw_query().next().map(|_| ());
        if let Some(tracking) = tracking {
            tracking.after_step(stepped.is_ok());
        }
        if let Err(e) = stepped {
            return Err(statement_error(e, sql, offset + start));
        }
        pos = if text.is_empty() {
            pos
        } else {
            start + text.len()
        };
    }
}

/// Whether SQLite refused to prepare a statement because the authorizer said no.
fn is_refused(e: &rusqlite::Error) -> bool {
    let code = match e {
        rusqlite::Error::SqliteFailure(f, _) => f.code,
        rusqlite::Error::SqlInputError { error, .. } => error.code,
        _ => return false,
    };
    code == ErrorCode::AuthorizationForStatementDenied
}

/// A tracking-table parameter as an SQLite value: booleans as 0/1, times as RFC 3339 text.
struct Bind<'a>(Value<'a>);

impl ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Text(v) => v.into(),
            Value::NullableText(v) => {
                v.map_or(ToSqlOutput::from(rusqlite::types::Null), Into::into)
            }
            Value::Int(v) => v.into(),
            Value::NullableInt(v) => v.map_or(ToSqlOutput::from(rusqlite::types::Null), Into::into),
            Value::Bool(v) => i64::from(v).into(),
            Value::Time(v) => format_time(v).into(),
        })
    }
}

fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").map(|n| n.and_utc())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_errors_name_the_line() {
        let conn = Connection::open_in_memory().unwrap();
        let err = run_batch(
            &conn,
            "CREATE TABLE a (x INT);\n\nINSERT INTO nope VALUES (1);",
            None,
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3), "{err:?}");
        let err = run_batch(&conn, "SELECT 1;\n-- c\nSELEC 2;", None).unwrap_err();
        assert_eq!(err.line, Some(3), "{err:?}");
        run_batch(
            &conn,
            "CREATE TABLE t (x INT);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET x = x + 1;\n  SELECT 1;\nEND;\nINSERT INTO t VALUES (1);",
            None,
        )
        .unwrap();
    }
}
