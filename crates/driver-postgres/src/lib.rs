//! PostgreSQL driver for [ferry](https://github.com/ferry-migrations/ferry), built on
//! [tokio-postgres] with TLS by [rustls].
//!
//! [`connect`] opens a connection from a `postgres://` or `postgresql://` URL and returns a
//! [`PostgresDriver`], which implements [`ferry_core::Driver`]:
//!
//! - **URLs**: user, password, host, port, database, unix-socket hosts
//!   (`?host=/var/run/postgresql`), and every parameter tokio-postgres knows, plus
//!   `sslmode=disable|prefer|require|verify-ca|verify-full` (default `prefer`) and
//!   `sslrootcert=PATH` (PEM; default: the system store, falling back to the Mozilla roots).
//!   `require` encrypts without authenticating the server, `verify-ca` checks the chain,
//!   `verify-full` checks the chain and the host name.
//! - **SQL**: a section runs as one simple-query batch, so dollar-quoted bodies and `DO`
//!   blocks go to the server unchanged. A `no-transaction` section is split by
//!   [`ferry_core::sql::split_statements`] and each statement is sent alone (PostgreSQL runs a
//!   multi-statement query as one implicit transaction, which `CREATE INDEX CONCURRENTLY`
//!   refuses).
//! - **Tracking table**: `ferry_migrations` or `schema.table`, created with
//!   [`Driver::ensure_table`]; every value is bound as a parameter.
//! - **Poolers**: every parameterised statement goes through the unnamed statement
//!   (`query_typed`: parse, bind and execute in one round trip), never a named prepared
//!   statement, and no later statement relies on session state; so everything works through
//!   a transaction-mode pooler such as PgBouncer. (The one exception, `verify`'s change
//!   tracking, with its temporary log and prepared statements, runs on a direct connection
//!   only.) A pooler or proxy is recognised at connect:
//!   the backend pid the server announced differs from `pg_backend_pid()` (see `pooler.rs`).
//! - **Lock** ([`ferry_core::driver::lock`]): `advisory` is a session-level advisory lock keyed by
//!   [`TableName::lock_key`], polled with `pg_try_advisory_lock` (never the blocking
//!   `pg_advisory_lock`, which deadlocks with `CREATE INDEX CONCURRENTLY` running on another
//!   connection), taken once per connection; it dies with the connection. `table` is the
//!   lease lock in `<tracking table>_lock`, renewed from a second connection. `auto` takes
//!   the advisory lock on a direct connection to PostgreSQL, and the lease lock through a
//!   pooler, on an engine that is not PostgreSQL, or where `pg_try_advisory_lock` is not
//!   supported.
//! - **Session state** (SPEC §7): after each migration's SQL the session is reset
//!   (`RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL; DISCARD TEMP`, then the driver's
//!   own settings again), inside the migration's transaction before `COMMIT` (pipelined, no
//!   extra round trip; through a transaction-mode pooler, on the same server connection),
//!   or after SQL run outside a transaction (one round trip).
//! - **The application's client**: [`PostgresDriver::from_client`] migrates through a
//!   `tokio_postgres::Client` the program holds (its connection task stays the program's) and
//!   [`PostgresDriver::into_client`] gives it back; `tokio_postgres` is re-exported.
//! - **Errors**: statement failures keep the SQLSTATE, detail, hint and the line of the
//!   error position within the SQL text; connection failures name the host and database,
//!   never the password; a missing database is [`ferry_core::DriverErrorKind::DatabaseMissing`];
//!   a server that speaks another protocol, or nothing, is named within 5 s.
//! - **Snapshot** ([`Driver::snapshot_parts`], for `ferry verify`): every non-system schema
//!   read from `pg_catalog` in nine queries, in parts by owner (`snapshot.rs`); objects in the
//!   current schema (as at connect) are unqualified, others `schema.name`; extension members
//!   are left out. [`Driver::changed_owners`] says which owners the DDL since the last
//!   snapshot changed, from event triggers (`changes.rs`; a superuser on a direct connection,
//!   otherwise every snapshot is read whole).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_core::DriverError> {
//! use ferry_core::{Driver, TableName};
//! let mut driver = ferry_driver_postgres::connect(
//!     "postgres://app@localhost/app?sslmode=verify-full",
//!     TableName::default(),
//! )
//! .await?;
//! driver.ensure_table().await?;
//! let rows = driver.applied(Some("users")).await?;
//! # let _ = rows; Ok(()) }
//! ```
//!
//! [tokio-postgres]: https://docs.rs/tokio-postgres
//! [rustls]: https://docs.rs/rustls

/// The client crate this driver is built on: `tokio-postgres`, whose `Client` [`PostgresDriver::from_client`] takes, in the version
/// this driver uses.
pub use tokio_postgres;

mod changes;
mod conn;
mod error;
mod lease;
mod lint;
mod pooler;
mod probe;
pub mod server;
mod snapshot;
#[cfg(feature = "testing")]
pub mod testing;
mod url;

use std::time::{Duration, Instant};

use ferry_core::driver::lease::{Held, Lease, LockSite};
use ferry_core::driver::lock::{
    lease_owner, LeaseSql, LockChoice, LockHolder, LockKind, LockMechanism, LockOptions,
};
use ferry_core::driver::rt::poll_until;
use ferry_core::driver::url::{quote_ident, Backend};
use ferry_core::driver::watch::ProbeFn;
use ferry_core::driver::{
    AppliedMigration, BoxFuture, DriverResult, Placeholders, RowChange, TrackingRow, TrackingSql,
    Value,
};
use ferry_core::sql::{split_statements, Dialect};
use ferry_core::{Driver, DriverError, TableName};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use crate::error::{db_error, statement_error};
use crate::lease::{Store, TOKIO};
use crate::url::Target;

/// A ferry [`Driver`] for PostgreSQL: one tokio-postgres connection and a tracking table.
///
/// Create it with [`connect`]. The connection (and with it an advisory lock) closes when the
/// driver is dropped; a lease lock's renewal stops then, and its row expires within one lease.
pub struct PostgresDriver {
    client: Client,
    target: Target,
    table: TableName,
    /// The schema holding the tracking table: the one named, else `current_schema()` when the
    /// connection was opened (so that a migration changing `search_path` does not move it).
    schema: Option<String>,
    /// `current_schema()` when the connection was opened: a snapshot names the objects in it
    /// without their schema.
    home_schema: Option<String>,
    /// The quoted, qualified table name for SQL text.
    quoted: String,
    /// The tracking-table statements.
    sql: TrackingSql,
    /// What was learned about the server at connect.
    server: Server,
    /// The lock asked for.
    lock_options: LockOptions,
    /// The lease lock, when `auto` found the advisory lock unsupported.
    fallback: Option<LockChoice>,
    /// The lock this connection holds.
    held: Held,
    /// Why the connection is no longer used, once the liveness watch gave up on it.
    lost: Option<DriverError>,
    /// A run-wide transaction is open ([`Driver::begin_atomic`]).
    atomic: bool,
    /// The tracking table's identity sequence as it was when the run-wide transaction began
    /// (name, `last_value`, `is_called`), to put back after a rollback: sequences are not
    /// transactional, and a rehearsal must leave the tracking table as it found it.
    sequence: Option<(String, i64, bool)>,
    /// Schema per tenant ([`Driver::use_schema`]): `SET LOCAL search_path TO` this (quoted)
    /// at the start of every transaction.
    search_path: Option<String>,
    /// Change tracking for `verify`'s snapshots, once [`Driver::track_changes`] turned it on
    /// ([`crate::changes`]).
    changes: Option<changes::Changes>,
    /// `ferry lint`: the state at the end of the last section measured ([`crate::lint`]).
    lint_carry: Option<ferry_core::driver::lint::LintState>,
    /// `ferry lint`: the reads after a statement, prepared once per session ([`crate::lint`]).
    lint_reads: Option<lint::LintReads>,
    /// The session settings this driver made itself (at connect, [`Driver::relax_durability`]),
    /// made again after every reset: with the startup parameters, the run's starting state.
    session: Vec<&'static str>,
}

/// Whether `client` is inside a transaction: in a simple query outside one, the statement's
/// transaction starts with it (`now()` is its start, the extended protocol's is earlier).
async fn in_transaction(client: &Client) -> Result<bool, DriverError> {
    let messages = client
        .simple_query("SELECT now() = statement_timestamp()")
        .await
        .map_err(|e| db_error(&e))?;
    Ok(!messages
        .iter()
        .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("t"))))
}

/// What the server said about itself at connect.
#[derive(Debug, Clone)]
struct Server {
    /// `pg_backend_pid()`.
    backend_pid: i32,
    /// The backend pid announced at connect, where it could be read.
    announced_pid: Option<i32>,
    /// `version()`.
    version: String,
}

impl Server {
    /// Why the connection looks pooled, if it does.
    fn pooled(&self) -> Option<String> {
        match self.announced_pid {
            Some(announced) if announced != self.backend_pid => Some(format!(
                "the connection goes through a pooler or proxy: the server's backend pid {} is not the pid {announced} announced at connect",
                self.backend_pid
            )),
            _ => None,
        }
    }

    /// Why the engine is not plain PostgreSQL, if it is not.
    fn other_engine(&self) -> Option<String> {
        let first = self.version.split_whitespace().next().unwrap_or("");
        (first != "PostgreSQL").then(|| {
            format!(
                "the server is {} rather than PostgreSQL, without working advisory locks",
                if first.is_empty() { "unknown" } else { first }
            )
        })
    }
}

/// Open a connection from a `postgres://` or `postgresql://` URL, with tracking table `table`.
///
/// Errors have kind [`ferry_core::DriverErrorKind::Config`] for an invalid URL and
/// [`ferry_core::DriverErrorKind::Connect`] when the server cannot be reached, refuses the
/// login, has no such database or fails the TLS handshake; their one-line message names the
/// host (or socket) and the database, never the password.
///
/// Must be called within a tokio runtime: the connection task is spawned with
/// [`tokio::spawn`].
pub async fn connect(url: &str, table: TableName) -> Result<PostgresDriver, DriverError> {
    PostgresDriver::connect(url, table).await
}

// The `Driver` methods are inherent async fns of the same names, in the trait's order, then
// their helpers; `impl Driver` below only boxes them.
impl PostgresDriver {
    /// Open a connection from a URL; see the free function [`connect`].
    pub async fn connect(url: &str, table: TableName) -> Result<PostgresDriver, DriverError> {
        let target = Target::parse(url)?;
        let client = conn::open(&target).await?;
        Self::on_client(client, target, table, true).await
    }

    /// A driver on the application's own client, with tracking table `table`, for a program
    /// that already holds one: ferry migrates through it, and
    /// [`PostgresDriver::into_client`] gives it back.
    ///
    /// - `url` names the same database: ferry opens short connections of its own there (the
    ///   liveness probe of a call that waits long, the lease lock's renewal). A client on
    ///   another database than the URL's is an error of kind
    ///   [`ferry_core::DriverErrorKind::Config`].
    /// - The client must be a **session**: a direct connection, or a pooler in session mode.
    ///   The advisory lock belongs to the server session, and ferry's transactions and
    ///   session reset assume one; through a pooler in transaction mode (recognised as for
    ///   [`connect`]) `auto` takes the lease lock, as it does for a URL. Nothing else may use
    ///   the client while ferry has it (it is moved in), and it must not be inside a
    ///   transaction (an error of kind [`ferry_core::DriverErrorKind::Config`]).
    /// - The connection task stays the application's: ferry never spawns, awaits or ends it.
    ///   Dropping the driver instead of calling [`PostgresDriver::into_client`] drops the
    ///   client, which closes the connection as tokio-postgres does.
    /// - After each migration the session is reset (`RESET ALL`, `DISCARD TEMP`, role and
    ///   session authorization), so a client given back holds the server's defaults, not
    ///   settings the application made before handing it over. ferry sets nothing of its own
    ///   on it.
    ///
    /// ```no_run
    /// # async fn demo(url: &str) -> Result<(), ferry_core::DriverError> {
    /// use ferry_core::TableName;
    /// use ferry_driver_postgres::PostgresDriver;
    /// let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    /// tokio::spawn(connection); // the application's connection task
    /// let driver = PostgresDriver::from_client(client, url, TableName::default()).await?;
    /// // ... migrate with it (`Embedded::migrate_with`, a `Migrator`) ...
    /// let client = driver.into_client();
    /// # let _ = client; Ok(()) }
    /// ```
    pub async fn from_client(
        client: Client,
        url: &str,
        table: TableName,
    ) -> Result<PostgresDriver, DriverError> {
        let target = Target::parse(url)?;
        Self::on_client(client, target, table, false).await
    }

    /// The client given to [`PostgresDriver::from_client`] (or opened by [`connect`]), given
    /// back. Its session was reset after the last migration; the migration lock was released
    /// by the command that took it.
    pub fn into_client(self) -> Client {
        self.client
    }

    /// The driver on `client`, connected to `target`; `own`: the driver opened it (and may
    /// make session settings of its own).
    async fn on_client(
        client: Client,
        target: Target,
        table: TableName,
        own: bool,
    ) -> Result<PostgresDriver, DriverError> {
        let announced_pid = pooler::announced_pid(&client).await;
        let row = client
            .query_typed_one(
                "SELECT pg_backend_pid(), current_schema()::text, version(), current_database()::text",
                &[],
            )
            .await
            .map_err(|e| db_error(&e))?;
        let server = Server {
            backend_pid: row.get(0),
            announced_pid,
            version: row.get(2),
        };
        if !own && in_transaction(&client).await? {
            return Err(DriverError::new(
                ferry_core::DriverErrorKind::Config,
                "the client given to ferry is inside a transaction: commit or roll it back first (ferry runs transactions of its own)",
            ));
        }
        let database: String = row.get(3);
        // A pooler may name a database by an alias of its own: only a direct connection is
        // checked.
        if !own && server.pooled().is_none() && database != target.database {
            return Err(DriverError::new(
                ferry_core::DriverErrorKind::Config,
                format!(
                    "the client given to ferry is connected to database \"{database}\" but the URL names \"{}\" at {}: ferry's own connections (liveness probe, lease lock) must reach the client's database",
                    target.database, target.location
                ),
            ));
        }
        let mut session = Vec::new();
        if own && server.pooled().is_none() {
            // Have the server notice a vanished client during a long statement (PostgreSQL
            // 14+), so that a killed run's backend stops and its advisory lock goes with it.
            // Older servers reject the setting; that is not an error. Never through a pooler:
            // the setting would stay on a server connection other clients use.
            const CHECK: &str = "SET client_connection_check_interval = 1000";
            if client.batch_execute(CHECK).await.is_ok() {
                session.push(CHECK);
            }
        }
        let home_schema = row.get::<_, Option<String>>(1);
        let schema = match table.schema() {
            Some(schema) => Some(schema.to_owned()),
            None => home_schema.clone(),
        };
        let quoted = qualified(schema.as_deref(), table.name());
        Ok(PostgresDriver {
            client,
            target,
            table,
            schema,
            home_schema,
            sql: TrackingSql::new(Placeholders::Dollar, &quoted),
            quoted,
            server,
            lock_options: LockOptions::default(),
            fallback: None,
            held: Held::None,
            lost: None,
            atomic: false,
            sequence: None,
            search_path: None,
            changes: None,
            lint_carry: None,
            lint_reads: None,
            session,
        })
    }

    /// The tracking table's name.
    pub fn table(&self) -> &TableName {
        &self.table
    }

    /// The underlying tokio-postgres client, for callers that need more than [`Driver`].
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The liveness probe for calls on this connection: the session is watched by its backend
    /// pid on a direct connection; behind a pooler, only whether the server answers.
    fn probe(&self) -> impl ferry_core::driver::watch::Probe {
        let target = self.target.clone();
        let pid = self.server.backend_pid;
        let session = self.server.pooled().is_none().then_some(pid);
        let ask = move || probe::ask(target.clone(), session);
        ProbeFn::new(self.target.connect_timeout, ask)
    }

    /// Whether the connection goes through a pooler or proxy (see the crate docs).
    pub fn is_pooled(&self) -> bool {
        self.server.pooled().is_some()
    }

    async fn table_exists(&mut self) -> DriverResult<bool> {
        self.relation_exists(self.table.name()).await
    }

    async fn ensure_table(&mut self) -> DriverResult<()> {
        self.ensure_schema().await?;
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {} (\n\
             id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n\
             app_name TEXT NOT NULL,\n\
             migration_id TEXT NOT NULL,\n\
             description TEXT NOT NULL,\n\
             checksum TEXT NOT NULL,\n\
             down_sql TEXT NULL,\n\
             applied_at TIMESTAMPTZ NOT NULL,\n\
             duration_ms BIGINT NOT NULL,\n\
             dirty BOOLEAN NOT NULL DEFAULT FALSE,\n\
             statements_done BIGINT NULL,\n\
             progress_checksum TEXT NULL,\n\
             UNIQUE (app_name, migration_id)\n)",
            self.quoted
        );
        let name = self.table.name().to_owned();
        self.create_if_missing(&create, &name).await?;
        self.upgrade_table().await
    }

    /// Add the progress columns (SPEC §14) to a tracking table made before them; called
    /// under the migration lock by the first command that writes. One catalog query when
    /// the table has them.
    async fn upgrade_table(&mut self) -> DriverResult<()> {
        let have: i64 = self
            .client
            .query_typed_one(
                "SELECT COUNT(*) FROM pg_attribute WHERE attrelid = to_regclass($1) \
                 AND attname IN ('statements_done', 'progress_checksum') AND NOT attisdropped",
                &[(&self.quoted, Type::TEXT)],
            )
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| db_error(&e))?;
        if have >= 2 {
            return Ok(());
        }
        self.client
            .batch_execute(&format!(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS statements_done BIGINT NULL, \
                 ADD COLUMN IF NOT EXISTS progress_checksum TEXT NULL",
                self.quoted
            ))
            .await
            .map_err(|e| db_error(&e))
    }

    async fn lock_holder(&mut self) -> DriverResult<Option<LockHolder>> {
        let lease_table = self.table.lease_table();
        if self.relation_exists(lease_table.name()).await? {
            if let Some(holder) = Lease::holder(&mut self.store(), &self.lease_sql("")).await? {
                return Ok(Some(holder));
            }
        }
        self.advisory_holder().await
    }

    async fn lock(&mut self, timeout: Duration) -> DriverResult<()> {
        if self.held.is_held() {
            // Taken once per connection: advisory locks stack, and a lease is one row.
            return Ok(());
        }
        if self.choice().mechanism == LockMechanism::Lease {
            return self.lock_lease(timeout).await;
        }
        match self.lock_advisory(timeout).await {
            Err(e) if self.lock_options.kind == LockKind::Auto && advisory_unsupported(&e) => {
                self.fallback = Some(LockChoice::new(
                    LockMechanism::Lease,
                    format!(
                        "lock = auto, and the server does not support pg_try_advisory_lock ({e})"
                    ),
                ));
                self.lock_lease(timeout).await
            }
            other => other,
        }
    }

    async fn unlock(&mut self) -> DriverResult<()> {
        let held = std::mem::take(&mut self.held);
        if !held.release(&mut self.store()).await? {
            return Ok(());
        }
        // Returns false (with a warning notice) when the lock is not held: not an error.
        self.client
            .query_typed_one(
                "SELECT pg_advisory_unlock($1)",
                &[(&self.table.lock_key(), Type::INT8)],
            )
            .await
            .map(drop)
            .map_err(|e| db_error(&e))
    }

    async fn applied(&mut self, app: Option<&str>) -> DriverResult<Vec<AppliedMigration>> {
        let (sql, values) = self.sql.select(app);
        let rows = match self.client.query_typed(sql, &typed(&values)).await {
            Ok(rows) => rows,
            // A table made before the progress columns (SPEC §14), not upgraded yet.
            Err(e) if db_error(&e).sqlstate.as_deref() == Some("42703") && !self.atomic => {
                let (sql, values) = self.sql.select_legacy(app);
                self.client
                    .query_typed(sql, &typed(&values))
                    .await
                    .map_err(|_| db_error(&e))?
            }
            Err(e) => return Err(db_error(&e)),
        };
        rows.iter()
            .map(|row| {
                Ok(AppliedMigration {
                    row_id: row.try_get(0)?,
                    row: TrackingRow {
                        app_name: row.try_get(1)?,
                        migration_id: row.try_get(2)?,
                        description: row.try_get(3)?,
                        checksum: row.try_get(4)?,
                        down_sql: row.try_get(5)?,
                        applied_at: row.try_get(6)?,
                        duration_ms: row.try_get(7)?,
                        dirty: row.try_get(8)?,
                    },
                    // NULL of the legacy select reads as text (SPEC §14 upgrade).
                    statements_done: match row.columns()[9].type_() {
                        &Type::INT8 => row.try_get(9)?,
                        _ => None,
                    },
                    progress_checksum: row.try_get(10)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(|e| db_error(&e))
    }

    async fn execute_in_transaction(&mut self, sql: &str, change: &RowChange) -> DriverResult<()> {
        if !self.atomic && !matches!(self.held, Held::Lease(_)) {
            return self.pipelined_transaction(sql, change).await;
        }
        self.transaction(async |this: &mut Self| {
            let started = Instant::now();
            this.run_sql(sql, false).await?;
            let change = change.clone().with_duration(started.elapsed());
            this.reset_session().await?;
            this.write_row(&change).await
        })
        .await
    }

    async fn execute(&mut self, sql: &str, no_transaction: bool) -> DriverResult<()> {
        if let Held::Lease(lease) = &self.held {
            lease.fence(&mut self.store()).await?;
        }
        let Some(path) = self.search_path.clone() else {
            if !no_transaction && !self.atomic {
                // One implicit transaction, the reset pipelined after it: no extra wait.
                let reset = self.reset_sql();
                let (ran, reset) = tokio::join!(
                    biased;
                    self.run_sql(sql, false),
                    self.client.batch_execute(&reset)
                );
                return ran.and(reset.map_err(|e| db_error(&e)));
            }
            let ran = self.run_sql(sql, no_transaction).await;
            return self.after_reset(ran).await;
        };
        if !no_transaction {
            // The tenant's search_path lives in a transaction: run the batch in one.
            return self
                .transaction(async |this: &mut Self| {
                    this.run_sql(sql, false).await?;
                    this.reset_session().await
                })
                .await;
        }
        if let Some(why) = self.server.pooled() {
            return Err(DriverError::new(
                ferry_core::DriverErrorKind::Other,
                format!(
                    "a no-transaction section cannot run in schema {path}: {why}, and there search_path can only be set inside a transaction; run it over a direct connection"
                ),
            ));
        }
        // A direct connection is ours alone: the session's search_path, put back after.
        self.client
            .batch_execute(&format!("SET search_path TO {path}"))
            .await
            .map_err(|e| db_error(&e))?;
        let result = self.run_sql(sql, true).await;
        self.after_reset(result).await
    }

    /// One statement of a counted `no-transaction` section (SPEC §14): the session is reset
    /// after the last one or a failure only. In a tenant's schema, where `search_path` is set
    /// per call, each statement runs as [`Self::execute`] runs a section.
    async fn execute_statement(&mut self, sql: &str, last: bool) -> DriverResult<()> {
        if self.search_path.is_some() {
            return self.execute(sql, true).await;
        }
        if let Held::Lease(lease) = &self.held {
            lease.fence(&mut self.store()).await?;
        }
        let ran = self.run_sql(sql, true).await;
        if last || ran.is_err() {
            return self.after_reset(ran).await;
        }
        ran
    }

    /// The statements that bring the session back to the state the connection began with
    /// (SPEC §7): every setting back to its value from the server's configuration and the
    /// startup parameters (`RESET ALL`, and the role and session user, which it leaves), the
    /// temporary objects dropped, then the settings this driver made itself. Allowed inside
    /// a transaction, where it is transactional like `SET`. While `verify` tracks changes,
    /// whose log lives in `pg_temp`, only the other temporary relations are dropped.
    fn reset_sql(&self) -> String {
        let mut sql = String::from("RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL; ");
        sql.push_str(if self.changes.is_some() {
            DROP_OTHER_TEMP
        } else {
            "DISCARD TEMP"
        });
        for set in &self.session {
            sql.push_str("; ");
            sql.push_str(set);
        }
        sql
    }

    /// Reset the session ([`Self::reset_sql`]): one round trip.
    async fn reset_session(&self) -> DriverResult<()> {
        self.client
            .batch_execute(&self.reset_sql())
            .await
            .map_err(|e| db_error(&e))
    }

    /// Reset the session after `ran`, SQL that ran outside a transaction (whose settings no
    /// rollback undid), also when it failed; `ran`'s error comes first.
    async fn after_reset(&self, ran: DriverResult<()>) -> DriverResult<()> {
        let reset = self.reset_session().await;
        ran.and(reset)
    }

    async fn write(&mut self, change: &RowChange) -> DriverResult<()> {
        if matches!(self.held, Held::Lease(_)) && !self.atomic {
            self.transaction(async |this: &mut Self| this.write_row(change).await)
                .await
        } else {
            self.write_row(change).await
        }
    }

    /// Run `body` in a transaction that, while a lease is held, also fences the lease just
    /// before it commits (at the end, so that the lease row is locked only for a moment and
    /// the renewal connection never waits on it).
    async fn transaction(
        &mut self,
        body: impl AsyncFnOnce(&mut Self) -> DriverResult<()>,
    ) -> DriverResult<()> {
        if self.atomic {
            // Inside the run-wide transaction: a failure aborts it, and the caller rolls it
            // back with `end_atomic(false)`.
            return body(self).await;
        }
        self.client
            .batch_execute(&self.begin())
            .await
            .map_err(|e| db_error(&e))?;
        let result = async {
            body(self).await?;
            if let Held::Lease(lease) = &self.held {
                lease.fence(&mut self.store()).await?;
            }
            self.client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| db_error(&e))
        }
        .await;
        if result.is_err() {
            // Nothing more to do if this fails too: the connection is gone or the
            // transaction is already over.
            let _ = self.client.batch_execute("ROLLBACK").await;
        }
        result
    }

    /// [`Self::execute_in_transaction`] in two round trips instead of five: `BEGIN` is sent
    /// with the section, the session reset with the row change and `COMMIT`, each group
    /// pipelined (tokio-postgres writes them all before reading any answer). Only without a
    /// lease: its fence must be read before `COMMIT` is sent. A failed reset or row change
    /// leaves the transaction aborted, and PostgreSQL answers the `COMMIT` after it by
    /// rolling back; the error is the first failure's.
    async fn pipelined_transaction(&mut self, sql: &str, change: &RowChange) -> DriverResult<()> {
        let started = Instant::now();
        let begin = self.begin();
        // `biased`: polled in order, so `BEGIN` is queued first.
        let (begun, ran) = tokio::join!(
            biased;
            self.client.batch_execute(&begin),
            self.run_sql(sql, false)
        );
        let result = match (begun.map_err(|e| db_error(&e)), ran) {
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(())) => {
                let change = change.clone().with_duration(started.elapsed());
                // The session reset goes in the transaction, before the row change (which
                // then runs as the session's own user, whatever role the SQL set) and
                // `COMMIT`: through a transaction-mode pooler, that is the server connection
                // the SQL ran on.
                let reset = self.reset_sql();
                let (was_reset, written, committed) = tokio::join!(
                    biased;
                    self.client.batch_execute(&reset),
                    self.write_row(&change),
                    self.client.batch_execute("COMMIT")
                );
                match (
                    was_reset.map_err(|e| db_error(&e)),
                    written,
                    committed.map_err(|e| db_error(&e)),
                ) {
                    (Err(e), _, _) | (Ok(()), Err(e), _) | (Ok(()), Ok(()), Err(e)) => Err(e),
                    (Ok(()), Ok(()), Ok(())) => return Ok(()),
                }
            }
        };
        // Nothing more to do if this fails too: the connection is gone or the transaction
        // is already over.
        let _ = self.client.batch_execute("ROLLBACK").await;
        result
    }

    /// Run a section's SQL: one simple-query batch, or, for `no_transaction`, each statement
    /// alone (PostgreSQL runs a multi-statement query as one implicit transaction, which
    /// `CREATE INDEX CONCURRENTLY` and the like refuse).
    async fn run_sql(&self, sql: &str, no_transaction: bool) -> DriverResult<()> {
        if no_transaction {
            for statement in split_statements(sql, Dialect::Postgres) {
                self.run_batch(sql, statement.text, statement.offset)
                    .await?;
            }
            Ok(())
        } else {
            self.run_batch(sql, sql, 0).await
        }
    }

    async fn write_row(&self, change: &RowChange) -> DriverResult<()> {
        let (sql, values) = self.sql.change(change);
        self.client
            .execute_typed(sql, &typed(&values))
            .await
            .map(|_| ())
            .map_err(|e| db_error(&e))
    }

    async fn begin_atomic(&mut self) -> DriverResult<()> {
        self.sequence = self.tracking_sequence().await?;
        self.client
            .batch_execute(&self.begin())
            .await
            .map_err(|e| db_error(&e))?;
        self.atomic = true;
        Ok(())
    }

    /// The tracking table's identity sequence and its state, when the table exists.
    async fn tracking_sequence(&self) -> DriverResult<Option<(String, i64, bool)>> {
        if !self.relation_exists(self.table.name()).await? {
            return Ok(None);
        }
        let name: Option<String> = self
            .client
            .query_typed_one(
                "SELECT pg_get_serial_sequence($1, 'id')",
                &[(&self.quoted, Type::TEXT)],
            )
            .await
            .map_err(|e| db_error(&e))?
            .get(0);
        let Some(name) = name else {
            return Ok(None);
        };
        // `name` comes from the catalog, already quoted where needed.
        let row = self
            .client
            .query_typed_one(&format!("SELECT last_value, is_called FROM {name}"), &[])
            .await
            .map_err(|e| db_error(&e))?;
        Ok(Some((name, row.get(0), row.get(1))))
    }

    async fn end_atomic(&mut self, commit: bool) -> DriverResult<()> {
        if !std::mem::replace(&mut self.atomic, false) {
            return Ok(());
        }
        let ended = async {
            if !commit {
                return Err(None);
            }
            if let Held::Lease(lease) = &self.held {
                lease.fence(&mut self.store()).await.map_err(Some)?;
            }
            self.client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| Some(db_error(&e)))
        }
        .await;
        let sequence = self.sequence.take();
        match ended {
            Ok(()) => Ok(()),
            Err(failure) => {
                let mut rolled_back = self
                    .client
                    .batch_execute("ROLLBACK")
                    .await
                    .map_err(|e| db_error(&e));
                if let (Ok(()), Some((name, value, called))) = (&rolled_back, sequence) {
                    rolled_back = self
                        .client
                        .query_typed(
                            "SELECT setval($1::regclass, $2, $3)",
                            &[
                                (&name, Type::TEXT),
                                (&value, Type::INT8),
                                (&called, Type::BOOL),
                            ],
                        )
                        .await
                        .map(drop)
                        .map_err(|e| db_error(&e));
                }
                match failure {
                    Some(e) => Err(e),
                    None => rolled_back,
                }
            }
        }
    }

    /// Send `sent`, found at byte `offset` of `sql`, as one simple-query batch.
    /// The statement that opens a transaction: `BEGIN`, with the tenant's `search_path`.
    fn begin(&self) -> String {
        match &self.search_path {
            Some(path) => format!("BEGIN; SET LOCAL search_path TO {path}"),
            None => "BEGIN".to_owned(),
        }
    }

    async fn run_batch(&self, sql: &str, sent: &str, offset: usize) -> DriverResult<()> {
        self.client
            .batch_execute(sent)
            .await
            .map_err(|e| statement_error(&e, sql, sent, offset))
    }

    /// The lock `lock` takes, and why.
    fn choice(&self) -> LockChoice {
        if let Some(fallback) = &self.fallback {
            return fallback.clone();
        }
        let site = LockSite {
            pooled: self.server.pooled(),
            other_engine: self.server.other_engine(),
            middle: "a pooler",
            server: "PostgreSQL",
        };
        LockChoice::decide(self.lock_options.kind, site)
    }

    async fn lock_advisory(&mut self, timeout: Duration) -> DriverResult<()> {
        poll_until(Instant::now() + timeout, &TOKIO, self, |this| {
            Box::pin(this.try_advisory())
        })
        .await?;
        self.held = Held::Advisory;
        Ok(())
    }

    /// One attempt at the advisory lock.
    async fn try_advisory(&self) -> DriverResult<bool> {
        self.client
            .query_typed_one(
                "SELECT pg_try_advisory_lock($1)",
                &[(&self.table.lock_key(), Type::INT8)],
            )
            .await
            .map(|row| row.get::<_, bool>(0))
            .map_err(|e| db_error(&e))
    }

    async fn lock_lease(&mut self, timeout: Duration) -> DriverResult<()> {
        let deadline = Instant::now() + timeout;
        self.ensure_schema().await?;
        let sql = self.lease_sql(&lease_owner());
        let lease_table = self.table.lease_table();
        self.create_if_missing(sql.create(), lease_table.name())
            .await?;
        let options = self.lock_options;
        let lease = Lease::take(&mut self.store(), &TOKIO, sql, &options, deadline).await?;
        self.held = Held::Lease(Box::new(lease));
        Ok(())
    }

    /// The lease statements for `owner`.
    fn lease_sql(&self, owner: &str) -> LeaseSql {
        let (schema, options) = (self.schema.as_deref(), &self.lock_options);
        LeaseSql::for_tracking(Dialect::Postgres, schema, &self.table, owner, options)
    }

    /// The connection as the lease lock's store.
    fn store(&self) -> Store<&Client, &Target> {
        Store {
            client: &self.client,
            target: &self.target,
        }
    }

    /// The connection holding the advisory lock, if one does.
    async fn advisory_holder(&self) -> DriverResult<Option<LockHolder>> {
        // A bigint advisory key is stored as two oids: the high and the low 32 bits.
        let key = self.table.lock_key() as u64;
        let (high, low) = ((key >> 32) as i64, (key & 0xffff_ffff) as i64);
        let rows = self
            .client
            .query_typed(
                "SELECT a.pid, COALESCE(a.application_name, ''), \
                 COALESCE(host(a.client_addr), 'a local socket'), a.backend_start \
                 FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
                 AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) \
                 AND l.classid = ($1::int8)::oid AND l.objid = ($2::int8)::oid LIMIT 1",
                &[(&high, Type::INT8), (&low, Type::INT8)],
            )
            .await
            .map_err(|e| db_error(&e))?;
        Ok(rows.first().map(|row| {
            let pid: i32 = row.get(0);
            let application: String = row.get(1);
            let client: String = row.get(2);
            LockHolder {
                owner: format!(
                    "PostgreSQL backend pid {pid} (application `{application}`, from {client})"
                ),
                since: row.get(3),
                expires: None,
            }
        }))
    }

    /// Whether the table `name` exists in the tracking table's schema.
    async fn relation_exists(&self, name: &str) -> DriverResult<bool> {
        let row = self
            .client
            .query_typed_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = COALESCE($1::text, current_schema()) \
                 AND c.relname = $2::text AND c.relkind IN ('r', 'p'))",
                &[(&self.schema, Type::TEXT), (&name, Type::TEXT)],
            )
            .await
            .map_err(|e| db_error(&e))?;
        Ok(row.get::<_, bool>(0))
    }

    /// Create the schema named with the tracking table, when one is named.
    async fn ensure_schema(&self) -> DriverResult<()> {
        let Some(schema) = self.table.schema() else {
            return Ok(());
        };
        let create = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema, '"'));
        match self.client.batch_execute(&create).await {
            Ok(()) => Ok(()),
            // Two runs creating it at once: one of them fails, and the schema exists.
            Err(e) if is_creation_race(&e) => Ok(()),
            Err(e) => Err(db_error(&e)),
        }
    }

    /// Run `create` (a `CREATE TABLE IF NOT EXISTS` of table `name`), tolerating another
    /// run creating the same table at the same moment.
    async fn create_if_missing(&self, create: &str, name: &str) -> DriverResult<()> {
        match self.client.batch_execute(create).await {
            Ok(()) => Ok(()),
            Err(e) if is_creation_race(&e) && self.relation_exists(name).await? => Ok(()),
            Err(e) => Err(db_error(&e)),
        }
    }
}

impl Driver for PostgresDriver {
    ferry_core::driver::watch::watched_driver_methods!(
        &TOKIO,
        Backend::Postgres,
        transactional_ddl = true
    );

    fn counts_statements(&self) -> bool {
        true
    }

    fn execute_statement<'a>(
        &'a mut self,
        sql: &'a str,
        _no_transaction: bool,
        last: bool,
    ) -> BoxFuture<'a, DriverResult<()>> {
        ferry_core::driver::watch::watched!(self, true, &TOKIO, self.execute_statement(sql, last))
    }

    fn begin_atomic(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        ferry_core::driver::watch::watched!(self, true, &TOKIO, self.begin_atomic())
    }

    fn lint_section<'a>(
        &'a mut self,
        statements: &'a [String],
        no_transaction: bool,
        continues: bool,
    ) -> BoxFuture<'a, DriverResult<ferry_core::driver::lint::LintRun>> {
        ferry_core::driver::watch::watched!(
            self,
            true,
            &TOKIO,
            self.lint_section(statements, no_transaction, continues)
        )
    }

    fn end_atomic(&mut self, commit: bool) -> BoxFuture<'_, DriverResult<()>> {
        ferry_core::driver::watch::watched!(self, true, &TOKIO, self.end_atomic(commit))
    }

    /// A simple query (no prepared statement, as everywhere in this driver).
    fn query_column<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, DriverResult<Vec<String>>> {
        ferry_core::driver::watch::watched!(self, true, &TOKIO, async {
            let messages = self
                .client
                .simple_query(sql)
                .await
                .map_err(|e| db_error(&e))?;
            Ok(messages
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                    _ => None,
                })
                .collect())
        })
    }

    fn use_schema(&mut self, schema: &str) -> DriverResult<()> {
        self.search_path = Some(quote_ident(schema, '"'));
        Ok(())
    }

    /// `synchronous_commit = off` for the session, on a direct connection only (behind a
    /// pooler the setting would stay with a server connection other clients get).
    fn relax_durability(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(async {
            if self.is_pooled() {
                return Ok(());
            }
            const RELAX: &str = "SET synchronous_commit = off";
            self.client
                .batch_execute(RELAX)
                .await
                .map_err(|e| db_error(&e))?;
            self.session.push(RELAX);
            Ok(())
        })
    }
}

impl std::fmt::Debug for PostgresDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDriver")
            .field("table", &self.table.to_string())
            .field("server", &self.server)
            .field("held", &self.held.name())
            .finish_non_exhaustive()
    }
}

/// Drop the temporary relations of the session except the change log of `verify`
/// ([`crate::changes`]), whose event triggers see these drops as changes to `pg_temp`, which
/// no snapshot reads.
const DROP_OTHER_TEMP: &str = "DO $ferry$ DECLARE r record; BEGIN \
    FOR r IN SELECT c.relname, c.relkind FROM pg_catalog.pg_class c \
    WHERE c.relnamespace = pg_catalog.pg_my_temp_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') \
    AND c.relname NOT LIKE 'ferry\\_changes%' LOOP \
    EXECUTE format('DROP %s IF EXISTS pg_temp.%I CASCADE', CASE r.relkind WHEN 'v' THEN 'VIEW' \
    WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' \
    ELSE 'TABLE' END, r.relname); \
    END LOOP; END $ferry$";

/// `"schema"."name"`, or `"name"` without a schema.
fn qualified(schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote_ident(schema, '"'), quote_ident(name, '"')),
        None => quote_ident(name, '"'),
    }
}

/// Whether `pg_try_advisory_lock` failed because the engine lacks it (not supported, or no
/// such function), rather than for a passing reason.
fn advisory_unsupported(error: &DriverError) -> bool {
    matches!(error.sqlstate.as_deref(), Some("0A000" | "42883"))
}

/// Whether a `CREATE ... IF NOT EXISTS` failed only because another session created the same
/// object at the same moment (a unique violation in the catalog, or "already exists").
fn is_creation_race(error: &tokio_postgres::Error) -> bool {
    matches!(
        error.code().map(|c| c.code()),
        Some("23505" | "42P07" | "42P06" | "42710")
    )
}

/// The tracking-table parameters as tokio-postgres values with their types, for the unnamed
/// statement (`query_typed`), which needs no prepare round trip and no named statement.
pub(crate) fn typed<'a>(values: &'a [Value<'a>]) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    values
        .iter()
        .map(|value| -> (&(dyn ToSql + Sync), Type) {
            match value {
                Value::Text(v) => (v, Type::TEXT),
                Value::NullableText(v) => (v, Type::TEXT),
                Value::Int(v) => (v, Type::INT8),
                Value::NullableInt(v) => (v, Type::INT8),
                Value::Bool(v) => (v, Type::BOOL),
                Value::Time(v) => (v, Type::TIMESTAMPTZ),
            }
        })
        .collect()
}
