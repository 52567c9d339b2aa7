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
//! - **Lock** ([`ferry_core::lock`]): `advisory` is a session-level advisory lock keyed by
//!   [`TableName::lock_key`], polled with `pg_try_advisory_lock` (never the blocking
//!   `pg_advisory_lock`, which deadlocks with `CREATE INDEX CONCURRENTLY` running on another
//!   connection), taken once per connection; it dies with the connection. `table` is the
//!   lease lock in `<tracking table>_lock`, renewed from a second connection. `auto` takes
//!   the advisory lock on a direct connection to PostgreSQL, and the lease lock through a
//!   pooler, on an engine that is not PostgreSQL, or where `pg_try_advisory_lock` is not
//!   supported.
//! - **Errors**: statement failures keep the SQLSTATE, detail, hint and the line of the
//!   error position within the SQL text; connection failures name the host and database,
//!   never the password.
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

mod changes;
mod conn;
mod error;
mod lease;
mod pooler;
mod probe;
mod snapshot;
#[cfg(feature = "testing")]
pub mod testing;
mod url;

use std::time::{Duration, Instant};

use ferry_core::sql::{split_statements, Dialect};
use ferry_core::url::{quote_ident, Backend};
use ferry_core::{
    lease_owner, AppliedMigration, Backoff, BoxFuture, Capabilities, Driver, DriverError,
    DriverResult, LeaseSql, LockChoice, LockHolder, LockKind, LockMechanism, LockOptions,
    Placeholders, RowChange, TableName, TrackingRow, TrackingSql, Value,
};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use crate::error::{db_error, statement_error};
use crate::lease::Lease;
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

/// The lock a connection holds.
enum Held {
    None,
    Advisory,
    Lease(Box<Lease>),
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
        let announced_pid = pooler::announced_pid(&client).await;
        let row = client
            .query_typed_one(
                "SELECT pg_backend_pid(), current_schema()::text, version()",
                &[],
            )
            .await
            .map_err(|e| db_error(&e))?;
        let server = Server {
            backend_pid: row.get(0),
            announced_pid,
            version: row.get(2),
        };
        if server.pooled().is_none() {
            // Have the server notice a vanished client during a long statement (PostgreSQL
            // 14+), so that a killed run's backend stops and its advisory lock goes with it.
            // Older servers reject the setting; that is not an error. Never through a pooler:
            // the setting would stay on a server connection other clients use.
            let _ = client
                .batch_execute("SET client_connection_check_interval = 1000")
                .await;
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
    fn probe(&self) -> probe::Probe {
        probe::Probe {
            target: self.target.clone(),
            session: self
                .server
                .pooled()
                .is_none()
                .then_some(self.server.backend_pid),
        }
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
             UNIQUE (app_name, migration_id)\n)",
            self.quoted
        );
        let name = self.table.name().to_owned();
        self.create_if_missing(&create, &name).await
    }

    fn set_lock_options(&mut self, options: LockOptions) {
        self.lock_options = options;
    }

    async fn lock_choice(&mut self) -> DriverResult<LockChoice> {
        Ok(self.choice())
    }

    async fn lock_holder(&mut self) -> DriverResult<Option<LockHolder>> {
        let lease_table = self.table.lease_table();
        if self.relation_exists(lease_table.name()).await? {
            if let Some(holder) = lease::holder(&self.client, &self.lease_sql("")).await? {
                return Ok(Some(holder));
            }
        }
        self.advisory_holder().await
    }

    async fn lock(&mut self, timeout: Duration) -> DriverResult<()> {
        if !matches!(self.held, Held::None) {
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
        match std::mem::replace(&mut self.held, Held::None) {
            Held::None => Ok(()),
            Held::Advisory => {
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
            Held::Lease(lease) => lease.release(&self.client).await,
        }
    }

    async fn applied(&mut self, app: Option<&str>) -> DriverResult<Vec<AppliedMigration>> {
        let (sql, values) = self.sql.select(app);
        let rows = self
            .client
            .query_typed(sql, &typed(&values))
            .await
            .map_err(|e| db_error(&e))?;
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
            this.write_row(&change.clone().with_duration(started.elapsed()))
                .await
        })
        .await
    }

    async fn execute(&mut self, sql: &str, no_transaction: bool) -> DriverResult<()> {
        if let Held::Lease(lease) = &self.held {
            lease.fence(&self.client).await?;
        }
        let Some(path) = self.search_path.clone() else {
            return self.run_sql(sql, no_transaction).await;
        };
        if !no_transaction {
            // The tenant's search_path lives in a transaction: run the batch in one.
            return self
                .transaction(async |this: &mut Self| this.run_sql(sql, false).await)
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
        let reset = self
            .client
            .batch_execute("RESET search_path")
            .await
            .map_err(|e| db_error(&e));
        result.and(reset)
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
                lease.fence(&self.client).await?;
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

    /// [`Self::execute_in_transaction`] in two round trips instead of four: `BEGIN` is sent
    /// with the section, the row change with `COMMIT`, each pair pipelined (tokio-postgres
    /// writes both before reading either answer). Only without a lease: its fence must be
    /// read before `COMMIT` is sent. A failed row change leaves the transaction aborted, and
    /// PostgreSQL answers the `COMMIT` after it by rolling back; the error is the row
    /// change's.
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
                let (written, committed) = tokio::join!(
                    biased;
                    self.write_row(&change),
                    self.client.batch_execute("COMMIT")
                );
                match (written, committed.map_err(|e| db_error(&e))) {
                    (Err(e), _) | (Ok(()), Err(e)) => Err(e),
                    (Ok(()), Ok(())) => return Ok(()),
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
                lease.fence(&self.client).await.map_err(Some)?;
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
        let pooled = self.server.pooled();
        match self.lock_options.kind {
            LockKind::Table => LockChoice::new(LockMechanism::Lease, "lock = table"),
            LockKind::Advisory => LockChoice::new(
                LockMechanism::Advisory,
                match pooled {
                    Some(why) => format!(
                        "lock = advisory, although {why}; use lock = auto or table behind a pooler"
                    ),
                    None => "lock = advisory".to_owned(),
                },
            ),
            LockKind::Auto => match self.server.other_engine().or(pooled) {
                Some(why) => {
                    LockChoice::new(LockMechanism::Lease, format!("lock = auto, and {why}"))
                }
                None => LockChoice::new(
                    LockMechanism::Advisory,
                    "lock = auto on a direct connection to PostgreSQL",
                ),
            },
        }
    }

    async fn lock_advisory(&mut self, timeout: Duration) -> DriverResult<()> {
        let deadline = Instant::now() + timeout;
        let mut backoff = Backoff::new();
        loop {
            let got = self
                .client
                .query_typed_one(
                    "SELECT pg_try_advisory_lock($1)",
                    &[(&self.table.lock_key(), Type::INT8)],
                )
                .await
                .map(|row| row.get::<_, bool>(0))
                .map_err(|e| db_error(&e))?;
            if got {
                self.held = Held::Advisory;
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(DriverError::lock_timeout());
            }
            tokio::time::sleep(backoff.next_delay().min(deadline - now)).await;
        }
    }

    async fn lock_lease(&mut self, timeout: Duration) -> DriverResult<()> {
        let started = Instant::now();
        self.ensure_schema().await?;
        let sql = self.lease_sql(&lease_owner());
        let lease_table = self.table.lease_table();
        self.create_if_missing(sql.create(), lease_table.name())
            .await?;
        let left = timeout.saturating_sub(started.elapsed());
        let lease = Lease::take(
            &self.client,
            &self.target,
            sql,
            self.lock_options.renew_every(),
            left,
        )
        .await?;
        self.held = Held::Lease(Box::new(lease));
        Ok(())
    }

    /// The lease statements for `owner`, keyed by the tracking table's qualified name.
    fn lease_sql(&self, owner: &str) -> LeaseSql {
        let lease_table = self.table.lease_table();
        let key = match &self.schema {
            Some(schema) => format!("{schema}.{}", self.table.name()),
            None => self.table.name().to_owned(),
        };
        LeaseSql::new(
            Dialect::Postgres,
            &qualified(self.schema.as_deref(), lease_table.name()),
            &key,
            owner,
            self.lock_options.lease,
        )
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

// Each async method boxes the inherent method of the same name (inherent methods take
// precedence over trait methods), under the liveness watch.
/// [`ferry_core::watched!`] on tokio's timer.
macro_rules! watch {
    ($self:ident, $idle_is_lost:expr, $call:expr) => {
        ferry_core::watched!($self, $idle_is_lost, tokio::time::sleep, $call)
    };
}

impl Driver for PostgresDriver {
    fn backend(&self) -> &'static str {
        Backend::Postgres.as_str()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            transactional_ddl: true,
            dialect: Dialect::Postgres,
        }
    }

    fn table(&self) -> &TableName {
        PostgresDriver::table(self)
    }

    fn table_exists(&mut self) -> BoxFuture<'_, DriverResult<bool>> {
        watch!(self, true, self.table_exists())
    }

    fn ensure_table(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        watch!(self, true, self.ensure_table())
    }

    fn set_lock_options(&mut self, options: LockOptions) {
        self.set_lock_options(options);
    }

    fn lock_choice(&mut self) -> BoxFuture<'_, DriverResult<LockChoice>> {
        Box::pin(self.lock_choice())
    }

    fn lock_holder(&mut self) -> BoxFuture<'_, DriverResult<Option<LockHolder>>> {
        watch!(self, true, self.lock_holder())
    }

    fn lock(&mut self, timeout: Duration) -> BoxFuture<'_, DriverResult<()>> {
        watch!(self, false, self.lock(timeout))
    }

    fn unlock(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        watch!(self, true, self.unlock())
    }

    fn applied<'a>(
        &'a mut self,
        app: Option<&'a str>,
    ) -> BoxFuture<'a, DriverResult<Vec<AppliedMigration>>> {
        watch!(self, true, self.applied(app))
    }

    fn execute_in_transaction<'a>(
        &'a mut self,
        sql: &'a str,
        change: &'a RowChange,
    ) -> BoxFuture<'a, DriverResult<()>> {
        watch!(self, true, self.execute_in_transaction(sql, change))
    }

    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        no_transaction: bool,
    ) -> BoxFuture<'a, DriverResult<()>> {
        watch!(self, true, self.execute(sql, no_transaction))
    }

    fn write<'a>(&'a mut self, change: &'a RowChange) -> BoxFuture<'a, DriverResult<()>> {
        watch!(self, true, self.write(change))
    }

    fn begin_atomic(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        watch!(self, true, self.begin_atomic())
    }

    fn end_atomic(&mut self, commit: bool) -> BoxFuture<'_, DriverResult<()>> {
        watch!(self, true, self.end_atomic(commit))
    }

    fn track_changes(&mut self) -> BoxFuture<'_, DriverResult<bool>> {
        watch!(self, true, self.track_changes())
    }

    fn changed_owners(
        &mut self,
    ) -> BoxFuture<'_, DriverResult<Option<std::collections::BTreeSet<String>>>> {
        watch!(self, true, self.changed_owners())
    }

    fn snapshot_parts<'a>(
        &'a mut self,
        owners: Option<&'a std::collections::BTreeSet<String>>,
    ) -> BoxFuture<'a, DriverResult<std::collections::BTreeMap<String, ferry_core::schema::Part>>>
    {
        watch!(self, true, self.snapshot_parts(owners))
    }

    /// A simple query (no prepared statement, as everywhere in this driver).
    fn query_column<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, DriverResult<Vec<String>>> {
        watch!(self, true, async {
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
            self.client
                .batch_execute("SET synchronous_commit = off")
                .await
                .map_err(|e| db_error(&e))
        })
    }
}

impl std::fmt::Debug for PostgresDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = match self.held {
            Held::None => "none",
            Held::Advisory => "advisory",
            Held::Lease(_) => "lease",
        };
        f.debug_struct("PostgresDriver")
            .field("table", &self.table.to_string())
            .field("server", &self.server)
            .field("held", &held)
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
