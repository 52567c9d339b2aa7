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
//! - **Lock**: a session-level advisory lock keyed by [`TableName::lock_key`], polled with
//!   `pg_try_advisory_lock` (never the blocking `pg_advisory_lock`, which deadlocks with
//!   `CREATE INDEX CONCURRENTLY` running on another connection), taken once per connection
//!   (advisory locks stack). It dies with the connection.
//! - **Errors**: statement failures keep the SQLSTATE, detail, hint and the line of the
//!   error position within the SQL text; connection failures name the host and database,
//!   never the password.
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

mod conn;
mod error;
pub mod testing;
mod url;

use std::time::{Duration, Instant};

use ferry_core::sql::{split_statements, Dialect};
use ferry_core::url::{quote_ident, Backend};
use ferry_core::{
    AppliedMigration, BoxFuture, Capabilities, Driver, DriverError, DriverResult, Placeholders,
    RowChange, TableName, TrackingRow, TrackingSql, Value,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use crate::error::{db_error, statement_error};
use crate::url::Target;

/// A ferry [`Driver`] for PostgreSQL: one tokio-postgres connection and a tracking table.
///
/// Create it with [`connect`]. The connection (and with it the migration lock) closes when
/// the driver is dropped.
pub struct PostgresDriver {
    client: Client,
    table: TableName,
    /// The schema holding the tracking table: the one named, else `current_schema()` when the
    /// connection was opened (so that a migration changing `search_path` does not move it).
    schema: Option<String>,
    /// The quoted, qualified table name for SQL text.
    quoted: String,
    /// The tracking-table statements.
    sql: TrackingSql,
    /// Whether this connection holds the migration lock.
    locked: bool,
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
        let client = conn::open(&Target::parse(url)?).await?;
        // Have the server notice a vanished client during a long statement (PostgreSQL 14+),
        // so that a killed run's backend stops and its advisory lock goes with it. Older
        // servers reject the setting; that is not an error.
        let _ = client
            .batch_execute("SET client_connection_check_interval = 1000")
            .await;
        let schema = match table.schema() {
            Some(schema) => Some(schema.to_owned()),
            None => client
                .query_one("SELECT current_schema()::text", &[])
                .await
                .map_err(|e| db_error(&e))?
                .get::<_, Option<String>>(0),
        };
        let quoted = match &schema {
            Some(schema) => format!(
                "{}.{}",
                quote_ident(schema, '"'),
                quote_ident(table.name(), '"')
            ),
            None => quote_ident(table.name(), '"'),
        };
        Ok(PostgresDriver {
            client,
            table,
            schema,
            sql: TrackingSql::new(Placeholders::Dollar, &quoted),
            quoted,
            locked: false,
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

    async fn table_exists(&mut self) -> DriverResult<bool> {
        let row = self
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = COALESCE($1::text, current_schema()) \
                 AND c.relname = $2::text AND c.relkind IN ('r', 'p'))",
                &[&self.schema, &self.table.name()],
            )
            .await
            .map_err(|e| db_error(&e))?;
        Ok(row.get::<_, bool>(0))
    }

    async fn ensure_table(&mut self) -> DriverResult<()> {
        if let Some(schema) = self.table.schema() {
            self.client
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {}",
                    quote_ident(schema, '"')
                ))
                .await
                .map_err(|e| db_error(&e))?;
        }
        self.client
            .batch_execute(&format!(
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
            ))
            .await
            .map_err(|e| db_error(&e))
    }

    async fn lock(&mut self, timeout: Duration) -> DriverResult<()> {
        if self.locked {
            // Session advisory locks stack; take it once per connection.
            return Ok(());
        }
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(50);
        loop {
            if self.try_lock().await? {
                self.locked = true;
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(DriverError::lock_timeout());
            }
            tokio::time::sleep(jittered(delay).min(deadline - now)).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }

    async fn unlock(&mut self) -> DriverResult<()> {
        // Returns false (with a warning notice) when the lock is not held: not an error.
        self.client
            .query_one("SELECT pg_advisory_unlock($1)", &[&self.table.lock_key()])
            .await
            .map_err(|e| db_error(&e))?;
        self.locked = false;
        Ok(())
    }

    async fn applied(&mut self, app: Option<&str>) -> DriverResult<Vec<AppliedMigration>> {
        let (sql, values) = self.sql.select(app);
        let rows = self
            .client
            .query(sql, &bind(&values))
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
        self.client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| db_error(&e))?;
        let result = async {
            let started = Instant::now();
            self.execute(sql, false).await?;
            self.write(&change.clone().with_duration(started.elapsed()))
                .await?;
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

    async fn execute(&mut self, sql: &str, no_transaction: bool) -> DriverResult<()> {
        if no_transaction {
            // Each statement alone: PostgreSQL runs a multi-statement query as one implicit
            // transaction, which `CREATE INDEX CONCURRENTLY` and the like refuse.
            for statement in split_statements(sql, Dialect::Postgres) {
                self.run_batch(sql, statement.text, statement.offset)
                    .await?;
            }
            Ok(())
        } else {
            self.run_batch(sql, sql, 0).await
        }
    }

    async fn write(&mut self, change: &RowChange) -> DriverResult<()> {
        let (sql, values) = self.sql.change(change);
        self.client
            .execute(sql, &bind(&values))
            .await
            .map(|_| ())
            .map_err(|e| db_error(&e))
    }

    /// Send `sent`, found at byte `offset` of `sql`, as one simple-query batch.
    async fn run_batch(&self, sql: &str, sent: &str, offset: usize) -> DriverResult<()> {
        self.client
            .batch_execute(sent)
            .await
            .map_err(|e| statement_error(&e, sql, sent, offset))
    }

    async fn try_lock(&self) -> DriverResult<bool> {
        self.client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&self.table.lock_key()])
            .await
            .map(|row| row.get::<_, bool>(0))
            .map_err(|e| db_error(&e))
    }
}

// Each async method boxes the inherent method of the same name (inherent methods take
// precedence over trait methods).
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

    fn table_exists(&mut self) -> BoxFuture<'_, DriverResult<bool>> {
        Box::pin(self.table_exists())
    }

    fn ensure_table(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(self.ensure_table())
    }

    fn lock(&mut self, timeout: Duration) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(self.lock(timeout))
    }

    fn unlock(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(self.unlock())
    }

    fn applied<'a>(
        &'a mut self,
        app: Option<&'a str>,
    ) -> BoxFuture<'a, DriverResult<Vec<AppliedMigration>>> {
        Box::pin(self.applied(app))
    }

    fn execute_in_transaction<'a>(
        &'a mut self,
        sql: &'a str,
        change: &'a RowChange,
    ) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(self.execute_in_transaction(sql, change))
    }

    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        no_transaction: bool,
    ) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(self.execute(sql, no_transaction))
    }

    fn write<'a>(&'a mut self, change: &'a RowChange) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(self.write(change))
    }
}

impl std::fmt::Debug for PostgresDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDriver")
            .field("table", &self.table.to_string())
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

/// The tracking-table parameters as tokio-postgres values.
fn bind<'a>(values: &'a [Value<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| -> &(dyn ToSql + Sync) {
            match value {
                Value::Text(v) => v,
                Value::NullableText(v) => v,
                Value::Int(v) => v,
                Value::NullableInt(v) => v,
                Value::Bool(v) => v,
                Value::Time(v) => v,
            }
        })
        .collect()
}

/// Nanoseconds of the system clock, as a cheap source of jitter.
fn clock_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) ^ d.as_secs())
}

/// The next poll delay: `base` plus up to half of it again, at random.
fn jittered(base: Duration) -> Duration {
    let base_ms = u64::try_from(base.as_millis()).unwrap_or(u64::MAX).max(1);
    let jitter = clock_nanos() % (base_ms / 2 + 1);
    Duration::from_millis(base_ms + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..100 {
            let d = jittered(Duration::from_millis(100));
            assert!(d >= Duration::from_millis(100) && d <= Duration::from_millis(150));
        }
    }
}
