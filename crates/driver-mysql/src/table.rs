//! The tracking table: whether it exists, creating and upgrading it (and its database), and
//! reading its rows.

use chrono::{NaiveDateTime, TimeZone, Utc};
use ferry_core::driver::url::quote_ident;
use ferry_core::driver::{AppliedMigration, DriverResult, TrackingRow};
use ferry_core::{DriverError, DriverErrorKind};
use mysql_async::prelude::Queryable;
use mysql_async::Row;

use crate::error::db_error;
use crate::{bind, MysqlDriver};

impl MysqlDriver {
    pub(crate) async fn table_exists(&mut self) -> DriverResult<bool> {
        let name = self.table.name().to_owned();
        self.relation_exists(&name).await
    }

    pub(crate) async fn ensure_table(&mut self) -> DriverResult<()> {
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
    pub(crate) async fn upgrade_table(&mut self) -> DriverResult<()> {
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

    pub(crate) async fn applied(
        &mut self,
        app: Option<&str>,
    ) -> DriverResult<Vec<AppliedMigration>> {
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

    /// Whether the table `name` exists in the tracking table's database.
    pub(crate) async fn relation_exists(&mut self, name: &str) -> DriverResult<bool> {
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
    pub(crate) async fn ensure_database(&mut self) -> DriverResult<()> {
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
