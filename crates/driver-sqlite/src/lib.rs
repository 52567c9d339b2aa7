//! SQLite driver for ferry, on rusqlite with a bundled SQLite.
//!
//! URLs: `sqlite:PATH`, `sqlite://PATH` and `sqlite::memory:`; `?mode=ro|rw|rwc` is honoured
//! (`rwc`, create when missing, is the default). The database file is created only by a
//! command that writes: until then a missing file reads as an empty database, so `ferry check`
//! and `--preview` leave no file behind.
//!
//! The migration lock is SQLite's own write lock: [`Driver::lock`] runs `BEGIN IMMEDIATE` with
//! `busy_timeout` set to the lock timeout and holds that transaction for the whole run. Each
//! migration then runs inside a savepoint of it, and [`Driver::unlock`] commits. A killed
//! process therefore leaves nothing of its run recorded without its effects, and the lock
//! dies with the process.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ferry_core::sql::{line_of_offset, Dialect};
use ferry_core::{
    AppliedMigration, BoxFuture, Capabilities, Driver, DriverError, DriverErrorKind, DriverResult,
    Placeholders, RowChange, TableName, TrackingRow, TrackingSql, Value,
};
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::ToSqlOutput;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension, ToSql};

/// The default `busy_timeout` outside the lock: how long a read waits for a writer's commit.
const DEFAULT_BUSY: Duration = Duration::from_secs(60);

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Memory,
    File {
        path: PathBuf,
        create: bool,
        read_only: bool,
    },
}

/// A connection to one SQLite database.
pub struct SqliteDriver {
    target: Target,
    conn: Option<Connection>,
    table: TableName,
    /// The tracking-table statements.
    sql: TrackingSql,
    locked: bool,
    lock_timeout: Duration,
}

impl std::fmt::Debug for SqliteDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDriver")
            .field("target", &self.target)
            .field("table", &self.table)
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

/// Open the SQLite database named by `url` with tracking table `table`.
///
/// ```
/// # async fn demo() -> Result<(), ferry_core::DriverError> {
/// use ferry_core::{Driver, TableName};
/// let mut driver = ferry_driver_sqlite::connect("sqlite::memory:", TableName::default()).await?;
/// assert!(!driver.table_exists().await?);
/// # Ok(()) }
/// ```
pub async fn connect(url: &str, table: TableName) -> Result<SqliteDriver, DriverError> {
    SqliteDriver::open(url, table)
}

impl SqliteDriver {
    /// Open the SQLite database named by `url` (synchronously).
    pub fn open(url: &str, table: TableName) -> Result<SqliteDriver, DriverError> {
        let target = parse_url(url)?;
        let quoted = match table.schema() {
            Some(s) => format!("\"{s}\".\"{}\"", table.name()),
            None => format!("\"{}\"", table.name()),
        };
        let mut driver = SqliteDriver {
            target,
            conn: None,
            sql: TrackingSql::new(Placeholders::Question, &quoted),
            table,
            locked: false,
            lock_timeout: DEFAULT_BUSY,
        };
        let exists = match &driver.target {
            Target::Memory => true,
            Target::File { path, .. } => path.exists(),
        };
        if exists {
            driver.connection()?;
        } else if let Target::File {
            path,
            create: false,
            ..
        } = &driver.target
        {
            return Err(DriverError::new(
                DriverErrorKind::Connect,
                format!(
                    "cannot open SQLite database {}: the file does not exist (mode forbids creating it)",
                    path.display()
                ),
            ));
        }
        Ok(driver)
    }

    /// The open connection, creating the database file when it does not exist yet.
    fn connection(&mut self) -> DriverResult<&Connection> {
        if self.conn.is_none() {
            let conn = match &self.target {
                Target::Memory => Connection::open_in_memory(),
                Target::File {
                    path, read_only, ..
                } => {
                    let flags = if *read_only {
                        OpenFlags::SQLITE_OPEN_READ_ONLY
                    } else {
                        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
                    } | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI;
                    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                        if !parent.is_dir() {
                            return Err(DriverError::new(
                                DriverErrorKind::Connect,
                                format!(
                                    "cannot open SQLite database {}: the folder {} does not exist",
                                    path.display(),
                                    parent.display()
                                ),
                            ));
                        }
                    }
                    Connection::open_with_flags(path, flags)
                }
            }
            .map_err(|e| {
                DriverError::new(
                    DriverErrorKind::Connect,
                    format!("cannot open SQLite database {}: {e}", self.describe()),
                )
            })?;
            conn.busy_timeout(DEFAULT_BUSY).map_err(convert)?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_ref().expect("connection just opened"))
    }

    /// True when the database file has not been created yet (nothing has been written).
    fn not_created(&self) -> bool {
        self.conn.is_none()
    }

    fn describe(&self) -> String {
        match &self.target {
            Target::Memory => ":memory:".into(),
            Target::File { path, .. } => path.display().to_string(),
        }
    }

    fn quoted_table(&self) -> String {
        match self.table.schema() {
            Some(s) => format!("\"{s}\".\"{}\"", self.table.name()),
            None => format!("\"{}\"", self.table.name()),
        }
    }

    fn do_table_exists(&mut self) -> DriverResult<bool> {
        if self.not_created() {
            return Ok(false);
        }
        let schema = self.table.schema().unwrap_or("main").to_owned();
        let name = self.table.name().to_owned();
        let sql =
            format!("SELECT 1 FROM \"{schema}\".sqlite_master WHERE type = 'table' AND name = ?1");
        let conn = self.connection()?;
        conn.query_row(&sql, params![name], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(convert)
    }

    fn do_ensure_table(&mut self) -> DriverResult<()> {
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
                UNIQUE (app_name, migration_id)
            )",
            self.quoted_table()
        );
        self.connection()?.execute_batch(&sql).map_err(convert)
    }

    fn do_lock(&mut self, timeout: Duration) -> DriverResult<()> {
        if self.locked {
            return Ok(());
        }
        self.lock_timeout = timeout;
        self.begin_immediate()?;
        self.locked = true;
        Ok(())
    }

    fn begin_immediate(&mut self) -> DriverResult<()> {
        let timeout = self.lock_timeout;
        let conn = self.connection()?;
        conn.busy_timeout(timeout).map_err(convert)?;
        let result = conn.execute_batch("BEGIN IMMEDIATE");
        conn.busy_timeout(timeout.max(DEFAULT_BUSY))
            .map_err(convert)?;
        match result {
            Ok(()) => Ok(()),
            Err(e) if is_busy(&e) => Err(DriverError::lock_timeout()),
            Err(e) => Err(convert(e)),
        }
    }

    fn do_unlock(&mut self) -> DriverResult<()> {
        if !self.locked {
            return Ok(());
        }
        self.locked = false;
        let conn = self.connection()?;
        if conn.is_autocommit() {
            return Ok(());
        }
        conn.execute_batch("COMMIT").map_err(convert)
    }

    fn do_applied(&mut self, app: Option<&str>) -> DriverResult<Vec<AppliedMigration>> {
        if self.not_created() {
            return Ok(Vec::new());
        }
        let (sql, values) = self.sql.select(app);
        let sql = sql.to_owned();
        let conn = self.connection()?;
        let mut stmt = conn.prepare(&sql).map_err(convert)?;
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
                })
            })
            .map_err(convert)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(convert)
    }

    fn do_write(&mut self, change: &RowChange) -> DriverResult<()> {
        let (sql, values) = self.sql.change(change);
        let sql = sql.to_owned();
        self.connection()?
            .execute(&sql, params_from_iter(values.into_iter().map(Bind)))
            .map(|_| ())
            .map_err(convert)
    }

    fn do_execute_in_transaction(&mut self, sql: &str, change: &RowChange) -> DriverResult<()> {
        let (begin, commit, rollback) = if self.locked {
            (
                "SAVEPOINT ferry_migration",
                "RELEASE ferry_migration",
                "ROLLBACK TO ferry_migration; RELEASE ferry_migration",
            )
        } else {
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        };
        if self.locked {
            self.connection()?.execute_batch(begin).map_err(convert)?;
        } else {
            self.lock_timeout = DEFAULT_BUSY;
            self.begin_immediate()?;
        }
        let started = Instant::now();
        let result = run_batch(self.connection()?, sql)
            .and_then(|()| self.do_write(&change.clone().with_duration(started.elapsed())));
        let conn = self.connection()?;
        match result {
            Ok(()) => conn.execute_batch(commit).map_err(convert),
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch(rollback);
                }
                Err(e)
            }
        }
    }

    fn do_execute(&mut self, sql: &str) -> DriverResult<()> {
        // Outside any transaction: commit what the lock's transaction holds (the dirty row
        // among it), run the batch, and take the write lock again.
        let relock = self.locked;
        if relock {
            let conn = self.connection()?;
            if !conn.is_autocommit() {
                conn.execute_batch("COMMIT").map_err(convert)?;
            }
        }
        let result = run_batch(self.connection()?, sql);
        if relock {
            if let Err(e) = self.begin_immediate() {
                self.locked = false;
                return Err(result.err().unwrap_or(e));
            }
        }
        result
    }
}

/// Run a batch statement by statement (as `execute_batch` does), keeping track of where each
/// statement starts so that an error can name its line.
fn run_batch(conn: &Connection, sql: &str) -> DriverResult<()> {
    let mut batch = rusqlite::Batch::new(conn, sql);
    let mut pos = 0usize;
    loop {
        let mut stmt = match batch.next() {
            Ok(Some(stmt)) => stmt,
            Ok(None) => return Ok(()),
            Err(e) => {
                let line = match &e {
                    rusqlite::Error::SqlInputError { offset, .. } => {
                        // The offset is relative to the text after the last statement run.
                        let rel = usize::try_from(*offset).unwrap_or(0);
                        Some(line_of_offset(sql, pos + rel))
                    }
                    _ => Some(line_of_offset(sql, first_token(sql, pos))),
                };
                return Err(convert(e).with_line(line));
            }
        };
        let text = stmt.expanded_sql().unwrap_or_default();
        let start = if text.is_empty() {
            pos
        } else {
            sql[pos..].find(&text).map_or(pos, |i| pos + i)
        };
        let line = line_of_offset(sql, first_token(sql, start));
        // Step once, as `execute_batch` does: a statement that returns rows (a PRAGMA, a
        // SELECT) is run, not read.
        if let Err(e) = stmt.raw_query().next() {
            return Err(convert(e).with_line(Some(line)));
        }
        pos = if text.is_empty() {
            pos
        } else {
            start + text.len()
        };
    }
}

/// The offset of the first token at or after `pos` (skipping whitespace and comments).
fn first_token(sql: &str, pos: usize) -> usize {
    ferry_core::sql::split_statements(&sql[pos..], Dialect::Sqlite)
        .first()
        .map_or(pos, |s| pos + s.offset)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn convert(e: rusqlite::Error) -> DriverError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let mut err = DriverError::query(msg.clone().unwrap_or_else(|| f.to_string()));
            err.code = Some(format!("SQLITE_{:?}", f.code).to_uppercase());
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) {
                err.message = format!(
                    "{}: the database is locked by another connection",
                    err.message
                );
            }
            err
        }
        rusqlite::Error::SqlInputError { msg, .. } => DriverError::query(msg.clone()),
        _ => DriverError::new(DriverErrorKind::Other, e.to_string()),
    }
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

fn parse_url(url: &str) -> Result<Target, DriverError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| {
            DriverError::new(
                DriverErrorKind::Config,
                format!("not an SQLite URL: {}", ferry_core::redact_url(url)),
            )
        })?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    let mut create = true;
    let mut read_only = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("mode", "ro")) => {
                read_only = true;
                create = false;
            }
            Some(("mode", "rw")) => create = false,
            Some(("mode", "rwc")) => {}
            Some(("mode", "memory")) => return Ok(Target::Memory),
            _ => {
                return Err(DriverError::new(
                    DriverErrorKind::Config,
                    format!(
                    "unknown SQLite URL option `{pair}`; the only option is mode=ro|rw|rwc|memory"
                ),
                ))
            }
        }
    }
    if path == ":memory:" || path.is_empty() && query.contains("memory") {
        return Ok(Target::Memory);
    }
    if path.is_empty() {
        return Err(DriverError::new(
            DriverErrorKind::Config,
            "the SQLite URL has no path: write sqlite:PATH, e.g. sqlite:app.db",
        ));
    }
    Ok(Target::File {
        path: Path::new(path).to_owned(),
        create,
        read_only,
    })
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

    fn table_exists(&mut self) -> BoxFuture<'_, DriverResult<bool>> {
        Box::pin(std::future::ready(self.do_table_exists()))
    }

    fn ensure_table(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(std::future::ready(self.do_ensure_table()))
    }

    fn lock(&mut self, timeout: Duration) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(std::future::ready(self.do_lock(timeout)))
    }

    fn unlock(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(std::future::ready(self.do_unlock()))
    }

    fn applied<'a>(
        &'a mut self,
        app: Option<&'a str>,
    ) -> BoxFuture<'a, DriverResult<Vec<AppliedMigration>>> {
        Box::pin(std::future::ready(self.do_applied(app)))
    }

    fn execute_in_transaction<'a>(
        &'a mut self,
        sql: &'a str,
        change: &'a RowChange,
    ) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(std::future::ready(
            self.do_execute_in_transaction(sql, change),
        ))
    }

    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        _no_transaction: bool,
    ) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(std::future::ready(self.do_execute(sql)))
    }

    fn write<'a>(&'a mut self, change: &'a RowChange) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(std::future::ready(self.do_write(change)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(parse_url("sqlite::memory:").unwrap(), Target::Memory);
        assert_eq!(
            parse_url("sqlite://data/app.db").unwrap(),
            Target::File {
                path: "data/app.db".into(),
                create: true,
                read_only: false
            }
        );
        assert!(matches!(
            parse_url("sqlite:/tmp/x.db?mode=ro").unwrap(),
            Target::File {
                read_only: true,
                ..
            }
        ));
        assert!(parse_url("sqlite:x.db?bogus=1").is_err());
        assert!(parse_url("sqlite:").is_err());
    }

    #[test]
    fn batch_errors_name_the_line() {
        let conn = Connection::open_in_memory().unwrap();
        let err = run_batch(
            &conn,
            "CREATE TABLE a (x INT);\n\nINSERT INTO nope VALUES (1);",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3), "{err:?}");
        let err = run_batch(&conn, "SELECT 1;\n-- c\nSELEC 2;").unwrap_err();
        assert_eq!(err.line, Some(3), "{err:?}");
        run_batch(
            &conn,
            "CREATE TABLE t (x INT);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET x = x + 1;\n  SELECT 1;\nEND;\nINSERT INTO t VALUES (1);",
        )
        .unwrap();
    }
}
