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
//!   read from `pg_catalog` in nine queries sent at once, in parts by owner (`snapshot/`;
//!   in a tenant's schema, [`Driver::use_schema`], that schema only); objects in the current
//!   schema (as at connect) are unqualified, others `schema.name`; extension members are left
//!   out. [`Driver::changed_owners`] says which owners (relations, types, functions and
//!   procedures) the DDL since the last snapshot changed, from event triggers (`changes/`; a
//!   superuser on a direct connection, otherwise every snapshot is read whole).
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
mod locking;
mod pooler;
mod probe;
mod run;
pub mod server;
mod snapshot;
mod table;
#[cfg(feature = "testing")]
pub mod testing;
mod url;

use ferry_core::driver::lease::Held;
use ferry_core::driver::lock::{LockChoice, LockOptions};
use ferry_core::driver::url::{quote_ident, Backend};
use ferry_core::driver::watch::ProbeFn;
use ferry_core::driver::{BoxFuture, DriverResult, Placeholders, TrackingSql, Value};
use ferry_core::{Driver, DriverError, TableName};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use crate::error::db_error;
use crate::lease::TOKIO;
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
    /// The tenant's schema as named ([`Driver::use_schema`]): a whole snapshot reads its
    /// objects only ([`crate::snapshot`]).
    tenant: Option<String>,
    /// Change tracking for `verify`'s snapshots, once [`Driver::track_changes`] turned it on
    /// ([`crate::changes`]).
    changes: Option<changes::Changes>,
    /// `ferry lint`: the state at the end of the last section measured ([`crate::lint`]).
    lint_carry: Option<ferry_core::driver::lint::LintState>,
    /// `ferry lint`: the reads after a statement, prepared once per session ([`crate::lint`]).
    lint_reads: Option<lint::LintReads>,
    /// A tenant's whole snapshot: its statements, prepared once per session on a direct
    /// connection ([`crate::snapshot`]); kept by [`Driver::switch_table`].
    tenant_reads: Option<snapshot::TenantReads>,
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
            tenant: None,
            changes: None,
            lint_carry: None,
            lint_reads: None,
            tenant_reads: None,
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
        self.tenant = Some(schema.to_owned());
        Ok(())
    }

    fn switch_table(&mut self, table: TableName) -> DriverResult<bool> {
        if !matches!(self.held, Held::None) || self.atomic || self.lost.is_some() {
            return Ok(false);
        }
        let schema = match table.schema() {
            Some(schema) => Some(schema.to_owned()),
            None => self.home_schema.clone(),
        };
        self.quoted = qualified(schema.as_deref(), table.name());
        self.sql = TrackingSql::new(Placeholders::Dollar, &self.quoted);
        self.schema = schema;
        self.table = table;
        self.sequence = None;
        self.search_path = None;
        self.tenant = None;
        self.changes = None;
        self.lint_carry = None;
        Ok(true)
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

/// `"schema"."name"`, or `"name"` without a schema.
fn qualified(schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote_ident(schema, '"'), quote_ident(name, '"')),
        None => quote_ident(name, '"'),
    }
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
