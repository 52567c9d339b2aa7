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
//!   [`DriverErrorKind::DatabaseMissing`]; a server that speaks another protocol, or
//!   nothing, is named within 5 s.
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
mod error;
mod lease;
mod lint;
mod probe;
pub mod server;
mod session;
mod snapshot;
#[cfg(feature = "testing")]
pub mod testing;
mod url;

use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeZone, Utc};
use ferry_core::driver::lease::{Held, Lease, LockSite};
use ferry_core::driver::lock::{
    lease_owner, LeaseSql, LockChoice, LockHolder, LockMechanism, LockOptions,
};
use ferry_core::driver::url::{quote_ident, Backend};
use ferry_core::driver::watch::ProbeFn;
use ferry_core::driver::{
    AppliedMigration, BoxFuture, DriverResult, Placeholders, RowChange, TrackingRow, TrackingSql,
    Value,
};
use ferry_core::sql::{is_blank, Dialect};
use ferry_core::{Driver, DriverError, DriverErrorKind, TableName};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row};

use crate::error::{connect_error, db_error, statement_error};
use crate::lease::{Store, TOKIO};
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
    /// For the application's own connection ([`MysqlDriver::from_conn`]), the statement that
    /// puts its session back as it was given, run by [`MysqlDriver::into_conn`].
    given: Option<String>,
}

/// Connect to the MySQL or MariaDB server of `url`, with tracking table `table`.
///
/// `url` is `mysql://` or `mariadb://`, with optional `socket=PATH` and `ssl-mode=...`
/// parameters. A schema part in `table` (`db.table`) names another database. Failures to
/// connect (refused, authentication, unknown database, TLS) are errors of kind
/// [`DriverErrorKind::Connect`] whose one-line message names the host (or socket) and the
/// database, never the password; an invalid URL is [`DriverErrorKind::Config`].
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

    async fn table_exists(&mut self) -> DriverResult<bool> {
        let name = self.table.name().to_owned();
        self.relation_exists(&name).await
    }

    async fn ensure_table(&mut self) -> DriverResult<()> {
        self.ensure_database().await?;
        self.conn
            .query_drop(format!(
                "CREATE TABLE IF NOT EXISTS {} (\
                 id BIGINT AUTO_INCREMENT PRIMARY KEY, \
                 app_name VARCHAR(255) NOT NULL, \
                 migration_id VARCHAR(255) NOT NULL, \
                 description TEXT NOT NULL, \
                 checksum CHAR(64) NOT NULL, \
                 down_sql LONGTEXT NULL, \
                 applied_at DATETIME(6) NOT NULL, \
                 duration_ms BIGINT NOT NULL, \
                 dirty BOOLEAN NOT NULL DEFAULT FALSE, \
                 statements_done BIGINT NULL, \
                 progress_checksum LONGTEXT NULL, \
                 UNIQUE KEY (app_name, migration_id)\
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
                self.quoted
            ))
            .await
            .map_err(|e| db_error(&e))?;
        self.upgrade_table().await
    }

    /// Add the progress columns (SPEC §14) to a tracking table made before them; called
    /// under the migration lock by the first command that writes. One catalog query when
    /// the table has them.
    async fn upgrade_table(&mut self) -> DriverResult<()> {
        let have: Option<i64> = self
            .conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.columns \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
                 AND column_name IN ('statements_done', 'progress_checksum')",
                (self.database.clone(), self.table.name().to_owned()),
            )
            .await
            .map_err(|e| db_error(&e))?;
        if have.unwrap_or(0) >= 2 {
            return Ok(());
        }
        let mut clauses = Vec::new();
        for (column, ty) in [
            ("statements_done", "BIGINT"),
            ("progress_checksum", "LONGTEXT"),
        ] {
            let exists: Option<i64> = self
                .conn
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.columns \
                     WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
                     AND column_name = ?",
                    (self.database.clone(), self.table.name().to_owned(), column),
                )
                .await
                .map_err(|e| db_error(&e))?;
            if exists.unwrap_or(0) == 0 {
                clauses.push(format!("ADD COLUMN {column} {ty} NULL"));
            }
        }
        self.conn
            .query_drop(format!(
                "ALTER TABLE {} {}",
                self.quoted,
                clauses.join(", ")
            ))
            .await
            .map_err(|e| db_error(&e))
    }

    async fn lock_holder(&mut self) -> DriverResult<Option<LockHolder>> {
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

    async fn lock(&mut self, timeout: Duration) -> DriverResult<()> {
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

    async fn unlock(&mut self) -> DriverResult<()> {
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

    async fn applied(&mut self, app: Option<&str>) -> DriverResult<Vec<AppliedMigration>> {
        let (sql, values) = self.sql.select(app);
        let rows: Vec<Row> = match self.conn.exec(sql, bind(values)).await {
            Ok(rows) => rows,
            // A table made before the progress columns (SPEC §14), not upgraded yet.
            Err(e) if db_error(&e).sqlstate.as_deref() == Some("42S22") => {
                let (sql, values) = self.sql.select_legacy(app);
                self.conn
                    .exec(sql, bind(values))
                    .await
                    .map_err(|_| db_error(&e))?
            }
            Err(e) => return Err(db_error(&e)),
        };
        rows.into_iter()
            .map(|row| {
                let (
                    row_id,
                    app_name,
                    migration_id,
                    description,
                    checksum,
                    down_sql,
                    applied_at,
                    duration_ms,
                    dirty,
                    statements_done,
                    progress_checksum,
                ): RowTuple = mysql_async::from_row_opt(row).map_err(|e| {
                    DriverError::new(
                        DriverErrorKind::Other,
                        format!("unexpected row in the tracking table: {e}"),
                    )
                })?;
                Ok(AppliedMigration {
                    row_id,
                    row: TrackingRow {
                        app_name,
                        migration_id,
                        description,
                        checksum,
                        down_sql,
                        applied_at: Utc.from_utc_datetime(&applied_at),
                        duration_ms,
                        dirty,
                    },
                    statements_done,
                    progress_checksum,
                })
            })
            .collect()
    }

    async fn execute_in_transaction(&mut self, sql: &str, change: &RowChange) -> DriverResult<()> {
        let ran = self
            .transaction(async |this: &mut Self| {
                let started = Instant::now();
                this.run_sql(sql).await?;
                this.write_row(&change.clone().with_duration(started.elapsed()))
                    .await
            })
            .await;
        self.after_reset(ran).await
    }

    /// Put the session back as it was at connect ([`session`]) after SQL that ran (`ran`),
    /// also when it failed: one round trip. `ran`'s error comes first.
    async fn after_reset(&mut self, ran: DriverResult<()>) -> DriverResult<()> {
        let reset = self
            .conn
            .query_drop(&self.restore)
            .await
            .map_err(|e| db_error(&e));
        ran.and(reset)
    }

    /// Run `body` in a transaction: committed (after the lease fence, where a lease is held)
    /// when it succeeds, rolled back when anything fails.
    async fn transaction(
        &mut self,
        body: impl AsyncFnOnce(&mut Self) -> DriverResult<()>,
    ) -> DriverResult<()> {
        self.conn
            .query_drop("START TRANSACTION")
            .await
            .map_err(|e| db_error(&e))?;
        let result = async {
            body(self).await?;
            self.commit().await
        }
        .await;
        if result.is_err() {
            // Best effort: a broken connection rolls back by itself.
            let _ = self.conn.query_drop("ROLLBACK").await;
        }
        result
    }

    async fn execute(&mut self, sql: &str, _no_transaction: bool) -> DriverResult<()> {
        if let Held::Lease(lease) = &self.held {
            lease
                .fence(&mut Store::new(&mut self.conn, &self.target))
                .await?;
        }
        let ran = self.run_sql(sql).await;
        self.after_reset(ran).await
    }

    /// One statement of a counted section (SPEC §14): the session is reset after the last
    /// one or a failure only.
    async fn execute_statement(&mut self, sql: &str, last: bool) -> DriverResult<()> {
        if let Held::Lease(lease) = &self.held {
            lease
                .fence(&mut Store::new(&mut self.conn, &self.target))
                .await?;
        }
        let ran = self.run_sql(sql).await;
        if last || ran.is_err() {
            return self.after_reset(ran).await;
        }
        ran
    }

    async fn write(&mut self, change: &RowChange) -> DriverResult<()> {
        if !matches!(self.held, Held::Lease(_)) {
            return self.write_row(change).await;
        }
        self.transaction(async |this: &mut Self| this.write_row(change).await)
            .await
    }

    /// Several row changes in one transaction: one commit where the dirty protocol would
    /// make one per change (the previous migration's clean and the next one's dirty row).
    /// Without a lease, and when every value can be written as a literal that reads the same
    /// whatever the session's `sql_mode` ([`inline`]), the transaction is one multi-statement
    /// batch: one round trip. Otherwise each change is a prepared statement, and the lease
    /// is fenced before `COMMIT`.
    async fn write_all(&mut self, changes: &[RowChange]) -> DriverResult<()> {
        if let [one] = changes {
            return self.write(one).await;
        }
        if let Some(statements) = self.inline_changes(changes) {
            let batch = format!("START TRANSACTION;\n{};\nCOMMIT", statements.join(";\n"));
            let result = self.conn.query_drop(batch).await.map_err(|e| db_error(&e));
            if result.is_err() {
                // A failed statement ends the batch before `COMMIT`.
                let _ = self.conn.query_drop("ROLLBACK").await;
            }
            return result;
        }
        self.transaction(async |this: &mut Self| {
            for change in changes {
                this.write_row(change).await?;
            }
            Ok(())
        })
        .await
    }

    /// [`Driver::write_then_execute`] in one round trip where [`Self::write_all`] would be
    /// one batch: `START TRANSACTION; <changes>; COMMIT;` followed by the section's
    /// statements in the same multi-statement batch. The server stops at the first statement
    /// that fails; the result sets read before it tell whether that was a change (rolled back,
    /// the section not run) or the section's statement (the changes committed, as the dirty
    /// protocol needs).
    async fn write_then_execute(
        &mut self,
        changes: &[RowChange],
        sql: &str,
        no_transaction: bool,
    ) -> DriverResult<DriverResult<()>> {
        let statements = self.inline_changes(changes);
        let (Some(statements), false) = (statements, is_blank(sql, Dialect::MySql)) else {
            self.write_all(changes).await?;
            return Ok(self.execute(sql, no_transaction).await);
        };
        self.changes.observe(sql);
        let tracking = statements.len() + 2;
        let batch = format!(
            "START TRANSACTION;\n{};\nCOMMIT;\n{sql}",
            statements.join(";\n")
        );
        let (outcome, completed) = self.run_batch(&batch).await;
        let ran = match outcome {
            Ok(()) => Ok(()),
            Err(e) if completed < tracking => {
                let _ = self.conn.query_drop("ROLLBACK").await;
                return Err(db_error(&e));
            }
            Err(e) => Err(statement_error(&e, sql, completed - tracking)),
        };
        Ok(self.after_reset(ran).await)
    }

    /// [`Driver::write_then_execute_statement`] in one round trip where [`Self::write_all`]
    /// would be one batch: `START TRANSACTION; <changes>; COMMIT;` and the statement, as
    /// [`Self::write_then_execute`] does for a whole section; the session is reset after the
    /// `last` statement or a failure only, as [`Self::execute_statement`] does.
    async fn write_then_execute_statement(
        &mut self,
        changes: &[RowChange],
        sql: &str,
        last: bool,
    ) -> DriverResult<DriverResult<()>> {
        let inlined = match changes {
            [] => None,
            _ => self.inline_changes(changes),
        };
        let (Some(statements), false) = (inlined, is_blank(sql, Dialect::MySql)) else {
            if !changes.is_empty() {
                self.write_all(changes).await?;
            }
            return Ok(self.execute_statement(sql, last).await);
        };
        self.changes.observe(sql);
        let tracking = statements.len() + 2;
        let batch = format!(
            "START TRANSACTION;\n{};\nCOMMIT;\n{sql}",
            statements.join(";\n")
        );
        let (outcome, completed) = self.run_batch(&batch).await;
        let ran = match outcome {
            Ok(()) => Ok(()),
            Err(e) if completed < tracking => {
                let _ = self.conn.query_drop("ROLLBACK").await;
                // The section stops here: put the session back as it began.
                let _ = self.after_reset(Ok(())).await;
                return Err(db_error(&e));
            }
            Err(e) => Err(statement_error(&e, sql, completed - tracking)),
        };
        if last || ran.is_err() {
            return Ok(self.after_reset(ran).await);
        }
        Ok(ran)
    }

    /// The statements of `changes` with their values inlined ([`inline`]), when there is no
    /// lease (whose fence must be read before `COMMIT`) and every value can be inlined.
    fn inline_changes(&self, changes: &[RowChange]) -> Option<Vec<String>> {
        if matches!(self.held, Held::Lease(_)) {
            return None;
        }
        changes
            .iter()
            .map(|change| {
                let (sql, values) = self.sql.change(change);
                inline(sql, values)
            })
            .collect()
    }

    /// Fence the lease, when one is held, then commit. The fence comes last so that the
    /// lease row is locked only for a moment and the renewal connection never waits on it.
    async fn commit(&mut self) -> DriverResult<()> {
        if let Held::Lease(lease) = &self.held {
            lease
                .fence(&mut Store::new(&mut self.conn, &self.target))
                .await?;
        }
        self.conn
            .query_drop("COMMIT")
            .await
            .map_err(|e| db_error(&e))
    }

    /// Run a section's SQL as one multi-statement batch (MySQL wraps it in no implicit
    /// transaction, so `no-transaction` changes nothing).
    async fn run_sql(&mut self, sql: &str) -> DriverResult<()> {
        self.changes.observe(sql);
        if is_blank(sql, Dialect::MySql) {
            return Ok(());
        }
        let (outcome, completed) = self.run_batch(sql).await;
        outcome.map_err(|e| statement_error(&e, sql, completed))
    }

    /// Run a multi-statement batch; its outcome and how many statements completed before the
    /// one that failed. An error of the first statement is returned by `query_iter`; a later
    /// statement's error is read while the previous result set is consumed, kept pending by
    /// mysql_async, and returned by the next read (another `collect` or the final
    /// `drop_result`). So the failing statement's index is the number of result sets consumed
    /// successfully.
    async fn run_batch(&mut self, batch: &str) -> (Result<(), mysql_async::Error>, usize) {
        let mut completed = 0usize;
        let outcome = async {
            let mut result = self.conn.query_iter(batch).await?;
            while !result.is_empty() {
                result.for_each(drop).await?;
                completed += 1;
            }
            result.drop_result().await
        }
        .await;
        (outcome, completed)
    }

    async fn write_row(&mut self, change: &RowChange) -> DriverResult<()> {
        let (sql, values) = self.sql.change(change);
        self.conn
            .exec_drop(sql, bind(values))
            .await
            .map_err(|e| db_error(&e))
    }

    /// The lock `lock` takes, and why.
    fn choice(&self) -> LockChoice {
        let site = LockSite {
            pooled: self.pooled.clone(),
            other_engine: None,
            middle: "a proxy",
            server: "the server",
        };
        LockChoice::decide(self.lock_options.kind, site)
    }

    async fn lock_advisory(&mut self, timeout: Duration) -> DriverResult<()> {
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

    async fn lock_lease(&mut self, timeout: Duration) -> DriverResult<()> {
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
    fn lease_sql(&self, owner: &str) -> LeaseSql {
        let (database, options) = (self.database.as_deref(), &self.lock_options);
        LeaseSql::for_tracking(Dialect::MySql, database, &self.table, owner, options)
    }

    /// The connection as the lease lock's store.
    fn store(&mut self) -> Store<&mut Conn, &Target> {
        Store::new(&mut self.conn, &self.target)
    }

    /// Whether the table `name` exists in the tracking table's database.
    async fn relation_exists(&mut self, name: &str) -> DriverResult<bool> {
        let count: Option<i64> = self
            .conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?",
                (self.database.clone(), name.to_owned()),
            )
            .await
            .map_err(|e| db_error(&e))?;
        Ok(count.unwrap_or(0) > 0)
    }

    /// Create the database named with the tracking table, when one is named.
    async fn ensure_database(&mut self) -> DriverResult<()> {
        let Some(schema) = self.table.schema() else {
            return Ok(());
        };
        self.conn
            .query_drop(format!(
                "CREATE DATABASE IF NOT EXISTS {}",
                quote_ident(schema, '`')
            ))
            .await
            .map_err(|e| db_error(&e))
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
        _continues: bool,
    ) -> BoxFuture<'a, DriverResult<ferry_core::driver::lint::LintRun>> {
        ferry_core::driver::watch::watched!(self, true, &TOKIO, self.lint_section(statements))
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

/// `sql` (a tracking statement of [`TrackingSql`]) with each `?` placeholder replaced by its
/// value as a literal, escaped by mysql_common (`Value::as_sql`) with quotes doubled. That
/// literal reads the same with and without `NO_BACKSLASH_ESCAPES` as long as the text holds
/// no backslash and no NUL: `None` when a value does, and the caller binds instead. `?` is
/// looked for outside backquoted identifiers only (a database name may hold one).
fn inline(sql: &str, values: Vec<Value<'_>>) -> Option<String> {
    let mut literals = Vec::with_capacity(values.len());
    for value in values {
        if let Value::Text(t) | Value::NullableText(Some(t)) = value {
            if t.contains(['\\', '\0']) {
                return None;
            }
        }
        literals.push(mysql_value(value).as_sql(true));
    }
    let mut literals = literals.into_iter();
    let mut out = String::with_capacity(sql.len() + 256);
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '`' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push_str(&literals.next()?),
            _ => out.push(c),
        }
    }
    literals.next().is_none().then_some(out)
}

/// A tracking row as mysql_async decodes it, in [`ferry_core::driver::COLUMNS`] order.
type RowTuple = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    NaiveDateTime,
    i64,
    bool,
    Option<i64>,
    Option<String>,
);
