//! MySQL and MariaDB driver for [ferry](https://github.com/ferry-migrations/ferry), built on
//! [mysql_async] with TLS by [rustls].
//!
//! [`connect`] opens **one** connection (not a pool) and returns a [`MysqlDriver`], which
//! implements [`ferry_core::Driver`]:
//!
//! - **URLs**: `mysql://user:password@host:port/database` or `mariadb://...`, with the query
//!   parameters `socket=PATH` (connect through a unix socket) and
//!   `ssl-mode=DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY` (case-insensitive;
//!   default `PREFERRED` over TCP, `DISABLED` over a socket). Other `mysql_async` URL
//!   parameters pass through. The session time zone is set to UTC.
//! - **SQL**: a section is sent as one multi-statement batch, so `BEGIN ... END` bodies of
//!   procedures and triggers run as written (no `DELIMITER`); every result set is drained.
//!   MySQL commits DDL implicitly, so the driver reports `transactional_ddl: false` and core
//!   runs DDL under its dirty protocol; DML-only sections run in a real transaction with
//!   their tracking row.
//! - **Tracking table**: `ferry_migrations` or `database.table`, created with
//!   [`Driver::ensure_table`]; every value is bound as a parameter.
//! - **Lock** ([`ferry_core::driver::lock`]): `advisory` is a session-level `GET_LOCK` named by
//!   [`TableName::lock_name`], taken once per connection (`GET_LOCK` nests); it dies with the
//!   connection. `table` is the lease lock in `<tracking table>_lock`, renewed from a second
//!   connection. `auto` takes `GET_LOCK` on a direct connection and the lease lock through a
//!   proxy that multiplexes connections (ProxySQL and the like), recognised at connect by a
//!   `CONNECTION_ID()` that differs from the id of the handshake.
//! - **The application's connection**: [`MysqlDriver::from_conn`] and
//!   [`MysqlDriver::from_pool`] migrate through a `mysql_async` connection the program holds
//!   (or one of its pool), and [`MysqlDriver::into_conn`] gives it back with the program's
//!   session; `mysql_async` is re-exported.
//! - **Session state** (SPEC §7): the session variables that change what SQL does, read at
//!   connect, and the database are set back after each migration's SQL, in one statement
//!   (one round trip); the connection is not reset, which would release `GET_LOCK`.
//! - **Errors**: statement failures keep the server's error number, SQLSTATE and the line of
//!   the failing statement within the SQL text; connection failures name the host (or
//!   socket) and database, never the password; an unknown database (1049) is
//!   [`ferry_core::DriverErrorKind::DatabaseMissing`]; a server that speaks another
//!   protocol, or nothing, is named within 5 s.
//! - **Snapshot** ([`Driver::snapshot`], for `ferry verify`): the connected database, one
//!   query per `information_schema` view, all in one round trip (and one more for MariaDB's
//!   sequences); indexes are named `table.index`, their names being unique per table only.
//!   It is read in parts by owner ([`Driver::snapshot_parts`]): `table:NAME` for a table,
//!   view or sequence with its columns, indexes, constraints and triggers (depending on the
//!   tables its foreign keys reference), `function:NAME` and `procedure:NAME` for routines.
//! - **Changed owners** ([`Driver::track_changes`], [`Driver::changed_owners`]): MySQL keeps
//!   no log of catalog changes, so while tracking the driver collects the identifier tokens
//!   of every SQL batch it runs (quoted names whole, comments included) and names the owners
//!   whose names, or whose triggers' names, a token matches, ignoring ASCII case. Dynamic
//!   SQL and routine calls (`CALL`, `PREPARE`, `EXECUTE`), `EVENT`, `DATABASE`/`SCHEMA`/
//!   `USE`, `sql_mode`, `BINLOG`, privilege statements and SQL text outside ASCII make the
//!   answer unknown, and the next snapshot is read whole; an event in the database, or a
//!   name outside printable ASCII, ends tracking (the list and the reasons are in
//!   `changes.rs`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_core::DriverError> {
//! use ferry_core::{Driver, TableName};
//! let mut driver = ferry_driver_mysql::connect(
//!     "mysql://root@127.0.0.1:3306/app?ssl-mode=DISABLED",
//!     TableName::default(),
//! )
//! .await?;
//! assert_eq!(driver.backend(), "mysql");
//! driver.ensure_table().await?;
//! # Ok(()) }
//! ```
//!
//! [mysql_async]: https://docs.rs/mysql_async
//! [rustls]: https://docs.rs/rustls

/// The client crate this driver is built on: `mysql_async`, whose `Conn` and `Pool` [`MysqlDriver::from_conn`] and [`MysqlDriver::from_pool`] take, in the version
/// this driver uses.
pub use mysql_async;

mod changes;
mod conn;
mod counted;
mod error;
mod lease;
mod lint;
mod locking;
mod probe;
mod run;
pub mod server;
mod session;
mod snapshot;
mod table;
#[cfg(feature = "testing")]
pub mod testing;
mod url;

use ferry_core::driver::lease::Held;
use ferry_core::driver::lock::LockOptions;
use ferry_core::driver::url::{quote_ident, Backend};
use ferry_core::driver::watch::ProbeFn;
use ferry_core::driver::{
    BoxFuture, CountedRun, CountedStop, DriverResult, Placeholders, RowChange, TrackingSql, Value,
};
use ferry_core::{Driver, DriverError, TableName};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params};

use crate::error::{connect_error, db_error};
use crate::lease::TOKIO;
use crate::url::Target;

/// A ferry [`Driver`] for MySQL and MariaDB: one `mysql_async` connection and a tracking
/// table.
///
/// Create it with [`connect`]. The connection (and with it the migration lock) closes when
/// the driver is dropped.
pub struct MysqlDriver {
    conn: Conn,
    target: Target,
    table: TableName,
    /// The database holding the tracking table: the one named, else the URL's (`None` when
    /// the URL named none).
    database: Option<String>,
    /// The quoted, qualified table name for SQL text.
    quoted: String,
    /// The tracking-table statements.
    sql: TrackingSql,
    /// The `GET_LOCK` name.
    lock_name: String,
    /// Why the connection looks multiplexed by a proxy, if it does.
    pooled: Option<String>,
    /// The lock asked for.
    lock_options: LockOptions,
    /// The lock this connection holds.
    held: Held,
    /// Why the connection is no longer used, once the liveness watch gave up on it.
    lost: Option<DriverError>,
    /// The server's kind and version, for the snapshot's queries (asked once).
    server: Option<snapshot::Server>,
    /// What the SQL run since the last snapshot may have changed (`verify`).
    changes: changes::Changes,
    /// The statement that puts the session back as it was at connect ([`session`]), run
    /// after each migration's SQL.
    restore: String,
    /// A statement of the counted section running now may have changed the session
    /// ([`session::keeps_session`]): restore it after the section's last statement.
    touched: bool,
    /// The state the last `lint_section` ended with, for the next one to start from.
    lint_carry: Option<ferry_core::driver::lint::LintState>,
    /// For the application's own connection ([`MysqlDriver::from_conn`]), the statement that
    /// puts its session back as it was given, run by [`MysqlDriver::into_conn`].
    given: Option<String>,
}

/// Connect to the MySQL or MariaDB server of `url`, with tracking table `table`.
///
/// `url` is `mysql://` or `mariadb://`, with optional `socket=PATH` and `ssl-mode=...`
/// parameters. A schema part in `table` (`db.table`) names another database. Failures to
/// connect (refused, authentication, unknown database, TLS) are errors of kind
/// [`ferry_core::DriverErrorKind::Connect`] whose one-line message names the host (or socket)
/// and the database, never the password; an invalid URL is
/// [`ferry_core::DriverErrorKind::Config`].
///
/// Must be called within a tokio runtime.
pub async fn connect(url: &str, table: TableName) -> Result<MysqlDriver, DriverError> {
    MysqlDriver::connect(url, table).await
}

// The `Driver` methods are inherent async fns of the same names, in the trait's order, then
// their helpers; `impl Driver` below only boxes them.
impl MysqlDriver {
    /// Open a connection from a URL; see the free function [`connect`].
    pub async fn connect(url: &str, table: TableName) -> Result<MysqlDriver, DriverError> {
        let target = Target::parse(url)?;
        let conn = conn::open(&target).await?;
        Self::on_conn(conn, target, table, false).await
    }

    /// A driver on the application's own connection, with tracking table `table`, for a
    /// program that already holds one: ferry migrates through it, and
    /// [`MysqlDriver::into_conn`] gives it back as the application gave it.
    ///
    /// - `url` names the same server and database: ferry opens short connections of its own
    ///   there (the liveness probe of a call that waits long, the lease lock's renewal). A
    ///   connection on another database than the one the URL names is an error of kind
    ///   [`ferry_core::DriverErrorKind::Config`].
    /// - The migration lock (`GET_LOCK`) belongs to the session: the connection must be a
    ///   session of its own (a direct connection or a session-mode proxy), used by nothing
    ///   else while ferry has it (it is moved in), outside any transaction (one inside is an
    ///   error of kind [`ferry_core::DriverErrorKind::Config`]).
    /// - While ferry has it the session time zone is UTC; after each migration the session
    ///   variables ferry restores are put back, and [`MysqlDriver::into_conn`] puts back
    ///   those of the application (read when it was given, time zone included).
    ///
    /// ```no_run
    /// # async fn demo(url: &str) -> Result<(), ferry_core::DriverError> {
    /// use ferry_core::TableName;
    /// use ferry_driver_mysql::MysqlDriver;
    /// let conn = mysql_async::Conn::from_url(url).await.unwrap();
    /// let driver = MysqlDriver::from_conn(conn, url, TableName::default()).await?;
    /// // ... migrate with it (`Embedded::migrate_with`, a `Migrator`) ...
    /// let conn = driver.into_conn().await?;
    /// # let _ = conn; Ok(()) }
    /// ```
    pub async fn from_conn(
        conn: Conn,
        url: &str,
        table: TableName,
    ) -> Result<MysqlDriver, DriverError> {
        let target = Target::parse(url)?;
        Self::on_conn(conn, target, table, true).await
    }

    /// A driver on a connection taken from the application's pool (see
    /// [`MysqlDriver::from_conn`] for `url` and what ferry does with the session). Dropping
    /// the driver gives the connection back to the pool (which resets it, as
    /// `mysql_async` pools do by default); the migration lock was released by the command
    /// that took it.
    pub async fn from_pool(
        pool: &mysql_async::Pool,
        url: &str,
        table: TableName,
    ) -> Result<MysqlDriver, DriverError> {
        let target = Target::parse(url)?;
        let conn = pool
            .get_conn()
            .await
            .map_err(|e| connect_error(&target, &e))?;
        Self::on_conn(conn, target, table, true).await
    }

    /// The connection given to [`MysqlDriver::from_conn`] (or opened by [`connect`]), given
    /// back with the session variables it was given with (for a connection ferry opened:
    /// UTC, as it ran).
    pub async fn into_conn(mut self) -> Result<Conn, DriverError> {
        if let Some(given) = self.given.take() {
            self.conn
                .query_drop(&given)
                .await
                .map_err(|e| db_error(&e))?;
        }
        Ok(self.conn)
    }

    /// The driver on `conn`, connected to `target`; `given`: the application's connection,
    /// whose session is read first to be put back by [`MysqlDriver::into_conn`].
    async fn on_conn(
        mut conn: Conn,
        target: Target,
        table: TableName,
        given: bool,
    ) -> Result<MysqlDriver, DriverError> {
        type Setup = (Option<String>, Option<u64>);
        let first: Result<Option<Setup>, mysql_async::Error> =
            conn.query_first("SELECT DATABASE(), CONNECTION_ID()").await;
        let (current_db, server_id) = first
            .map_err(|e| connect_error(&target, &e))?
            .unwrap_or_default();
        let pooled = server_id.filter(|id| *id != u64::from(conn.id())).map(|id| {
            format!(
                "the connection goes through a proxy: the server's connection id {id} is not the id {} of the handshake",
                conn.id()
            )
        });
        let given = if given {
            // `@@in_transaction`: MySQL 5.7+, MariaDB 10.3+; where the server lacks it, the
            // check is skipped.
            let in_transaction: Option<Option<i64>> =
                conn.query_first("SELECT @@in_transaction").await.ok();
            if in_transaction.flatten() == Some(1) {
                return Err(DriverError::new(
                    ferry_core::DriverErrorKind::Config,
                    "the connection given to ferry is inside a transaction: commit or roll it back first (ferry runs transactions of its own)",
                ));
            }
            if let (None, Some(named)) = (&pooled, &target.database) {
                if current_db.as_deref() != Some(named.as_str()) {
                    return Err(DriverError::new(
                        ferry_core::DriverErrorKind::Config,
                        format!(
                            "the connection given to ferry uses database {} but the URL names \"{named}\" at {}: ferry's own connections (liveness probe, lease lock) must reach the same database",
                            current_db.as_deref().map_or("none".to_owned(), |d| format!("\"{d}\"")),
                            target.location
                        ),
                    ));
                }
            }
            Some(
                session::capture(&mut conn, current_db.as_deref())
                    .await
                    .map_err(|e| connect_error(&target, &e))?,
            )
        } else {
            None
        };
        conn.query_drop("SET time_zone = '+00:00'")
            .await
            .map_err(|e| connect_error(&target, &e))?;
        let restore = session::capture(&mut conn, current_db.as_deref())
            .await
            .map_err(|e| connect_error(&target, &e))?;
        let database = table.schema().map(str::to_owned).or(current_db);
        let quoted = match &database {
            Some(db) => format!(
                "{}.{}",
                quote_ident(db, '`'),
                quote_ident(table.name(), '`')
            ),
            None => quote_ident(table.name(), '`'),
        };
        let lock_name = table.lock_name(database.as_deref().unwrap_or(""));
        Ok(MysqlDriver {
            conn,
            target,
            table,
            database,
            sql: TrackingSql::new(Placeholders::Question, &quoted),
            quoted,
            lock_name,
            pooled,
            lock_options: LockOptions::default(),
            held: Held::None,
            lost: None,
            server: None,
            changes: changes::Changes::default(),
            restore,
            touched: false,
            lint_carry: None,
            given,
        })
    }

    /// The liveness probe for calls on this connection: the connection is watched by its id
    /// on a direct connection; behind a proxy, only whether the server answers.
    fn probe(&self) -> impl ferry_core::driver::watch::Probe {
        let target = self.target.clone();
        let session = self.pooled.is_none().then(|| self.conn.id());
        let ask = move || probe::ask(target.clone(), session);
        ProbeFn::new(self.target.connect_timeout, ask)
    }

    /// The tracking table's name as given to [`connect`].
    pub fn table(&self) -> &TableName {
        &self.table
    }

    /// The `GET_LOCK` name this driver uses: `ferry:<database>.<table>` (hashed past 64
    /// characters; see [`TableName::lock_name`]).
    pub fn lock_name(&self) -> &str {
        &self.lock_name
    }
}

impl Driver for MysqlDriver {
    ferry_core::driver::watch::watched_driver_methods!(
        &TOKIO,
        Backend::Mysql,
        transactional_ddl = false
    );

    fn write_all<'a>(&'a mut self, changes: &'a [RowChange]) -> BoxFuture<'a, DriverResult<()>> {
        ferry_core::driver::watch::watched!(self, true, &TOKIO, self.write_all(changes))
    }

    fn write_then_execute<'a>(
        &'a mut self,
        changes: &'a [RowChange],
        sql: &'a str,
        no_transaction: bool,
    ) -> BoxFuture<'a, DriverResult<DriverResult<()>>> {
        ferry_core::driver::watch::watched!(
            self,
            true,
            &TOKIO,
            self.write_then_execute(changes, sql, no_transaction)
        )
    }

    fn snapshot(&mut self) -> BoxFuture<'_, DriverResult<ferry_core::schema::Schema>> {
        ferry_core::driver::watch::watched!(self, true, &TOKIO, self.snapshot())
    }

    fn counts_statements(&self) -> bool {
        true
    }

    fn lint_section<'a>(
        &'a mut self,
        statements: &'a [String],
        _no_transaction: bool,
        continues: bool,
    ) -> BoxFuture<'a, DriverResult<ferry_core::driver::lint::LintRun>> {
        ferry_core::driver::watch::watched!(
            self,
            true,
            &TOKIO,
            self.lint_section(statements, continues)
        )
    }

    fn write_then_execute_statement<'a>(
        &'a mut self,
        changes: &'a [RowChange],
        sql: &'a str,
        _no_transaction: bool,
        last: bool,
    ) -> BoxFuture<'a, DriverResult<DriverResult<()>>> {
        ferry_core::driver::watch::watched!(
            self,
            true,
            &TOKIO,
            self.write_then_execute_statement(changes, sql, last)
        )
    }

    fn execute_statement<'a>(
        &'a mut self,
        sql: &'a str,
        _no_transaction: bool,
        last: bool,
    ) -> BoxFuture<'a, DriverResult<()>> {
        ferry_core::driver::watch::watched!(self, true, &TOKIO, self.execute_statement(sql, last))
    }

    /// Steps in batches (`counted.rs`): a two-statement migration is one round trip.
    fn execute_counted<'a>(
        &'a mut self,
        run: &'a CountedRun<'a>,
    ) -> BoxFuture<'a, Result<(), CountedStop>> {
        Box::pin(async move {
            let mut i = 0;
            while i < run.statements.len() {
                let Some(chunk) = self.chunk(run, i) else {
                    run.step(self, i).await?;
                    i += 1;
                    continue;
                };
                let (from, end) = (chunk.start(), chunk.end());
                let this = &mut *self;
                let chunk = &chunk;
                let ran: DriverResult<_> = ferry_core::driver::watch::watched!(
                    this,
                    true,
                    &TOKIO,
                    this.run_chunk(run, chunk)
                )
                .await;
                match ran {
                    // The watch gave up on the connection: how far the batch got is unknown.
                    Err(e) => return Err(CountedStop::Changes(from, e)),
                    Ok(stopped) => stopped?,
                }
                i = end;
            }
            Ok(())
        })
    }
}

impl std::fmt::Debug for MysqlDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlDriver")
            .field("table", &self.table.to_string())
            .field("database", &self.database)
            .field("lock_name", &self.lock_name)
            .field("pooled", &self.pooled.is_some())
            .finish_non_exhaustive()
    }
}

/// The tracking-table parameters as mysql_async values.
pub(crate) fn bind(values: Vec<Value<'_>>) -> Params {
    if values.is_empty() {
        return Params::Empty;
    }
    Params::Positional(values.into_iter().map(mysql_value).collect())
}

fn mysql_value(value: Value<'_>) -> mysql_async::Value {
    match value {
        Value::Text(v) => v.into(),
        Value::NullableText(v) => v.into(),
        Value::Int(v) => v.into(),
        Value::NullableInt(v) => v.into(),
        Value::Bool(v) => v.into(),
        Value::Time(v) => v.naive_utc().into(),
    }
}
