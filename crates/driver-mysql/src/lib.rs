//! MySQL and MariaDB driver for [ferry](https://github.com/ferry-migrations/ferry), built on
//! [`mysql_async`] with rustls.
//!
//! [`connect`] opens **one** connection (not a pool), so that the migration lock, a
//! session-level `GET_LOCK`, dies with it. The session time zone is set to UTC.
//!
//! URLs: `mysql://user:password@host:port/database` or `mariadb://...`, with the query
//! parameters `socket=PATH` (connect through a unix socket) and
//! `ssl-mode=DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY` (case-insensitive; default
//! `PREFERRED` over TCP, `DISABLED` over a socket). Other `mysql_async` URL parameters pass
//! through.
//!
//! A migration section is sent as one multi-statement batch, so `BEGIN ... END` bodies of
//! procedures and triggers run as written (no `DELIMITER`). Every result set is drained; a
//! failing statement is reported with the server's error number, SQLSTATE and the line of the
//! statement within the section. MySQL commits DDL implicitly, so the driver reports
//! `transactional_ddl: false` and core runs DDL under its dirty protocol; DML-only sections
//! run in a real transaction with their tracking row.
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

use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeZone, Utc};
use ferry_core::sql::{self, Dialect};
use ferry_core::{
    AppliedMigration, BoxFuture, Capabilities, Driver, DriverError, DriverErrorKind, DriverResult,
    Placeholders, RowChange, TableName, TrackingRow, TrackingSql,
};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row};

pub mod testing;
mod url;

use crate::url::{one_line, SslMode, Target};

/// How long establishing a connection may take before it is reported as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest lock name MySQL and MariaDB accept.
const MAX_LOCK_NAME: usize = 64;

/// A ferry [`Driver`] for MySQL and MariaDB over one `mysql_async` connection.
///
/// Made by [`connect`]; use it through the [`Driver`] trait.
pub struct MysqlDriver {
    conn: Conn,
    table: TableName,
    /// The tracking table, quoted and qualified with its database where one is known.
    quoted: String,
    /// The tracking-table statements.
    sql: TrackingSql,
    /// The database holding the tracking table (`None` when the URL named none).
    database: Option<String>,
    lock_name: String,
}

impl std::fmt::Debug for MysqlDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlDriver")
            .field("table", &self.table.to_string())
            .field("database", &self.database)
            .field("lock_name", &self.lock_name)
            .finish_non_exhaustive()
    }
}

/// Connect to the MySQL or MariaDB server of `url`, with tracking table `table`.
///
/// `url` is `mysql://` or `mariadb://`, with optional `socket=PATH` and `ssl-mode=...`
/// parameters. A schema part in `table` (`db.table`) names another database. Failures to
/// connect (refused, authentication, unknown database, TLS) are errors of kind
/// [`DriverErrorKind::Connect`] whose one-line message names the host (or socket) and the
/// database, never the password; an invalid URL is [`DriverErrorKind::Config`].
pub async fn connect(url: &str, table: TableName) -> Result<MysqlDriver, DriverError> {
    let target = Target::parse(url)?;
    let mut conn = open(&target).await?;
    let setup: Result<Option<String>, mysql_async::Error> = async {
        conn.query_drop("SET time_zone = '+00:00'").await?;
        let db: Option<Option<String>> = conn.query_first("SELECT DATABASE()").await?;
        Ok(db.flatten())
    }
    .await;
    let current_db = setup.map_err(|e| target.connect_error(&reason(&e)))?;
    let database = table.schema().map(str::to_owned).or(current_db);
    let quoted = match &database {
        Some(db) => format!("{}.{}", quote_ident(db), quote_ident(table.name())),
        None => quote_ident(table.name()),
    };
    let lock_name = lock_name(database.as_deref().unwrap_or(""), table.name());
    Ok(MysqlDriver {
        conn,
        table,
        sql: TrackingSql::new(Placeholders::Question, &quoted),
        quoted,
        database,
        lock_name,
    })
}

/// Open the connection, applying the URL's `ssl-mode`.
pub(crate) async fn open(target: &Target) -> Result<Conn, DriverError> {
    if target.ssl_mode != SslMode::Disabled {
        // mysql_async builds its rustls configuration with the process-wide crypto provider;
        // pin it to ring so that a second provider compiled into the binary cannot make that
        // choice ambiguous. Ignored when the application installed one already.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let attempt = |ssl| async move {
        match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(target.opts_with(ssl))).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err((reason(&e), matches!(e, mysql_async::Error::Server(_)))),
            Err(_) => Err((
                format!("timed out after {} s", CONNECT_TIMEOUT.as_secs()),
                false,
            )),
        }
    };
    let result = match target.ssl_mode {
        SslMode::Preferred => match attempt(target.ssl_mode.ssl_opts()).await {
            Ok(conn) => Ok(conn),
            // The server answered (authentication, unknown database): TLS was not the problem.
            Err(err @ (_, true)) => Err(err),
            // No TLS on the server, or the handshake failed: fall back to plain.
            Err(_) => attempt(None).await,
        },
        mode => attempt(mode.ssl_opts()).await,
    };
    result.map_err(|(why, _)| target.connect_error(&why))
}

/// The reason part of a connection error.
fn reason(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => s.message.clone(),
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => {
            match io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                Some(tls) => format!("TLS handshake failed: {tls}"),
                None => io.to_string(),
            }
        }
        mysql_async::Error::Io(mysql_async::IoError::Tls(tls)) => format!("TLS error: {tls}"),
        mysql_async::Error::Driver(d) => d.to_string(),
        other => other.to_string(),
    }
}

/// Quote an identifier with backticks.
fn quote_ident(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// The `GET_LOCK` name: `ferry:<db>.<table>`, hashed when longer than MySQL allows.
fn lock_name(database: &str, table: &str) -> String {
    let full = format!("ferry:{database}.{table}");
    if full.len() <= MAX_LOCK_NAME {
        return full;
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(full.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("ferry:{}", &hex[..MAX_LOCK_NAME - "ferry:".len()])
}

/// A statement failure, keeping the server's error number and SQLSTATE.
fn query_error(e: mysql_async::Error) -> DriverError {
    match e {
        mysql_async::Error::Server(s) => {
            let mut err = DriverError::query(one_line(&s.message));
            err.code = Some(s.code.to_string());
            err.sqlstate = Some(s.state);
            err
        }
        other => DriverError::new(DriverErrorKind::Other, one_line(&other.to_string())),
    }
}

/// Run `sql` as one multi-statement batch, draining every result set. On failure the error
/// carries the line of the failing statement.
async fn run_batch(conn: &mut Conn, sql: &str) -> DriverResult<()> {
    if sql::is_blank(sql, Dialect::MySql) {
        return Ok(());
    }
    // How many statements completed before the one that failed. An error of the first
    // statement is returned by `query_iter`; a later statement's error is read while the
    // previous result set is consumed, kept pending by mysql_async, and returned by the next
    // read (another `collect` or the final `drop_result`). So the failing statement's index
    // is the number of result sets consumed successfully.
    let mut completed = 0usize;
    let outcome: Result<(), mysql_async::Error> = async {
        let mut result = conn.query_iter(sql).await?;
        while !result.is_empty() {
            result.for_each(drop).await?;
            completed += 1;
        }
        result.drop_result().await
    }
    .await;
    outcome.map_err(|e| {
        let line = sql::split_statements(sql, Dialect::MySql)
            .get(completed)
            .map(|s| s.line);
        query_error(e).with_line(line)
    })
}

/// The tracking-table parameters as mysql_async values.
fn bind(values: Vec<ferry_core::Value<'_>>) -> Params {
    use ferry_core::Value as V;
    if values.is_empty() {
        return Params::Empty;
    }
    Params::Positional(
        values
            .into_iter()
            .map(|value| match value {
                V::Text(v) => v.into(),
                V::NullableText(v) => v.into(),
                V::Int(v) => v.into(),
                V::NullableInt(v) => v.into(),
                V::Bool(v) => v.into(),
                V::Time(v) => v.naive_utc().into(),
            })
            .collect(),
    )
}

async fn apply_change(conn: &mut Conn, sql: &TrackingSql, change: &RowChange) -> DriverResult<()> {
    let (stmt, values) = sql.change(change);
    conn.exec_drop(stmt, bind(values))
        .await
        .map_err(query_error)
}

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
);

impl MysqlDriver {
    /// The tracking table's name as given to [`connect`].
    pub fn table(&self) -> &TableName {
        &self.table
    }

    /// The `GET_LOCK` name this driver uses: `ferry:<database>.<table>` (hashed past 64
    /// characters).
    pub fn lock_name(&self) -> &str {
        &self.lock_name
    }

    async fn table_exists_impl(&mut self) -> DriverResult<bool> {
        let count: Option<i64> = self
            .conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?",
                (self.database.clone(), self.table.name().to_owned()),
            )
            .await
            .map_err(query_error)?;
        Ok(count.unwrap_or(0) > 0)
    }

    async fn ensure_table_impl(&mut self) -> DriverResult<()> {
        if let Some(schema) = self.table.schema() {
            self.conn
                .query_drop(format!(
                    "CREATE DATABASE IF NOT EXISTS {}",
                    quote_ident(schema)
                ))
                .await
                .map_err(query_error)?;
        }
        let ddl = format!(
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
             UNIQUE KEY (app_name, migration_id)\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            self.quoted
        );
        self.conn.query_drop(ddl).await.map_err(query_error)
    }

    async fn lock_impl(&mut self, timeout: Duration) -> DriverResult<()> {
        // Whole seconds, rounded up.
        let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        let got: Option<Option<i64>> = self
            .conn
            .exec_first("SELECT GET_LOCK(?, ?)", (self.lock_name.clone(), secs))
            .await
            .map_err(query_error)?;
        match got.flatten() {
            Some(1) => Ok(()),
            _ => Err(DriverError::lock_timeout()),
        }
    }

    async fn unlock_impl(&mut self) -> DriverResult<()> {
        // 1 released, 0 held by another session, NULL not held: none is an error.
        let _: Option<Option<i64>> = self
            .conn
            .exec_first("SELECT RELEASE_LOCK(?)", (self.lock_name.clone(),))
            .await
            .map_err(query_error)?;
        Ok(())
    }

    async fn applied_impl(&mut self, app: Option<&str>) -> DriverResult<Vec<AppliedMigration>> {
        let (stmt, values) = self.sql.select(app);
        let params = bind(values);
        let rows: Vec<Row> = self.conn.exec(stmt, params).await.map_err(query_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
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
            ): RowTuple = mysql_async::from_row_opt(row).map_err(|e| {
                DriverError::new(
                    DriverErrorKind::Other,
                    format!("unexpected row in the tracking table: {e}"),
                )
            })?;
            out.push(AppliedMigration {
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
            });
        }
        Ok(out)
    }

    async fn execute_in_transaction_impl(
        &mut self,
        sql: &str,
        change: &RowChange,
    ) -> DriverResult<()> {
        self.conn
            .query_drop("START TRANSACTION")
            .await
            .map_err(query_error)?;
        let conn = &mut self.conn;
        let tracking = &self.sql;
        let result = async {
            let started = Instant::now();
            run_batch(conn, sql).await?;
            let change = change.clone().with_duration(started.elapsed());
            apply_change(conn, tracking, &change).await?;
            conn.query_drop("COMMIT").await.map_err(query_error)
        }
        .await;
        if result.is_err() {
            // Best effort: a broken connection rolls back by itself.
            let _ = self.conn.query_drop("ROLLBACK").await;
        }
        result
    }
}

impl Driver for MysqlDriver {
    fn backend(&self) -> &'static str {
        "mysql"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            transactional_ddl: false,
            dialect: Dialect::MySql,
        }
    }

    fn table_exists(&mut self) -> BoxFuture<'_, DriverResult<bool>> {
        Box::pin(self.table_exists_impl())
    }

    fn ensure_table(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(self.ensure_table_impl())
    }

    fn lock(&mut self, timeout: Duration) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(self.lock_impl(timeout))
    }

    fn unlock(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        Box::pin(self.unlock_impl())
    }

    fn applied<'a>(
        &'a mut self,
        app: Option<&'a str>,
    ) -> BoxFuture<'a, DriverResult<Vec<AppliedMigration>>> {
        Box::pin(self.applied_impl(app))
    }

    fn execute_in_transaction<'a>(
        &'a mut self,
        sql: &'a str,
        change: &'a RowChange,
    ) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(self.execute_in_transaction_impl(sql, change))
    }

    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        _no_transaction: bool,
    ) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(run_batch(&mut self.conn, sql))
    }

    fn write<'a>(&'a mut self, change: &'a RowChange) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(apply_change(&mut self.conn, &self.sql, change))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_fit_mysql() {
        assert_eq!(
            lock_name("app", "ferry_migrations"),
            "ferry:app.ferry_migrations"
        );
        let long = lock_name(&"d".repeat(64), &"t".repeat(63));
        assert_eq!(long.len(), MAX_LOCK_NAME);
        assert!(long.starts_with("ferry:"));
        assert_eq!(long, lock_name(&"d".repeat(64), &"t".repeat(63)));
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("a`b"), "`a``b`");
    }
}
