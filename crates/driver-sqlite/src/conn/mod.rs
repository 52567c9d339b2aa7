//! The connection and everything that blocks on it. A [`Conn`] lives on the driver's worker
//! thread (see [`crate::worker`]); its methods are the blocking halves of the [`Driver`]
//! methods, named like them and in the same order, those of the tracking table in `table.rs`
//! and those running migration SQL in `run.rs`.
//!
//! [`Driver`]: ferry_core::Driver

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ferry_core::driver::url::quote_ident;
use ferry_core::driver::{DriverResult, Placeholders, SqliteMode, SqliteUrl, TrackingSql};
use ferry_core::schema::{Part, Schema};
use ferry_core::{DriverError, DriverErrorKind, TableName};
use rusqlite::Connection;

use crate::error::{db_error, is_busy};
use crate::session::Session;
use crate::track::Tracking;
use crate::url;

mod run;
mod table;

use run::run_batch;

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
}
