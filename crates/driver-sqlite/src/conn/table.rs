//! The tracking table on the connection: whether it exists, creating it, reading its rows and
//! writing a row change (values bound as SQLite values).

use chrono::{DateTime, Utc};
use ferry_core::driver::{AppliedMigration, DriverResult, RowChange, TrackingRow, Value};
use rusqlite::types::ToSqlOutput;
use rusqlite::{params, params_from_iter, OptionalExtension, ToSql};

use crate::error::db_error;

use super::Conn;

impl Conn {
    pub(crate) fn table_exists(&mut self) -> DriverResult<bool> {
        let Some(conn) = &self.conn else {
            return Ok(false);
        };
        let schema = self.table.schema().unwrap_or("main");
        let sql =
            format!("SELECT 1 FROM \"{schema}\".sqlite_master WHERE type = 'table' AND name = ?1");
        conn.query_row(&sql, params![self.table.name()], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(db_error)
    }

    pub(crate) fn ensure_table(&mut self) -> DriverResult<()> {
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
                statements_done INTEGER NULL,
                progress_checksum TEXT NULL,
                UNIQUE (app_name, migration_id)
            )",
            self.quoted
        );
        // A table made before the progress columns (SPEC §14): add them, under the lock's
        // write transaction.
        let schema = self.table.schema().unwrap_or("main").to_owned();
        let name = self.table.name().to_owned();
        let quoted = self.quoted.clone();
        let conn = self.connection()?;
        conn.execute_batch(&sql).map_err(db_error)?;
        let have: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info(?1, ?2) \
                 WHERE name IN ('statements_done', 'progress_checksum')",
                params![name, schema],
                |r| r.get(0),
            )
            .map_err(db_error)?;
        if have >= 2 {
            return Ok(());
        }
        for (column, ty) in [
            ("statements_done", "INTEGER"),
            ("progress_checksum", "TEXT"),
        ] {
            let exists: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM pragma_table_info(?1, ?2) WHERE name = ?3",
                    params![name, schema, column],
                    |r| r.get(0),
                )
                .map_err(db_error)?;
            if exists == 0 {
                conn.execute_batch(&format!(
                    "ALTER TABLE {quoted} ADD COLUMN {column} {ty} NULL"
                ))
                .map_err(db_error)?;
            }
        }
        Ok(())
    }

    pub(crate) fn applied(&mut self, app: Option<&str>) -> DriverResult<Vec<AppliedMigration>> {
        let Some(conn) = &self.conn else {
            return Ok(Vec::new());
        };
        let (sql, values) = match conn.prepare(self.sql.select(app).0) {
            // A table made before the progress columns (SPEC §14), not upgraded yet.
            Err(e) if e.to_string().contains("no such column") => self.sql.select_legacy(app),
            _ => self.sql.select(app),
        };
        let mut stmt = conn.prepare(sql).map_err(db_error)?;
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
                    statements_done: r.get(9)?,
                    progress_checksum: r.get(10)?,
                })
            })
            .map_err(db_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
    }

    /// Apply a row change. Under the lock it joins the lock's transaction: this connection
    /// reads it at once, and the next [`Conn::execute`] or [`Conn::unlock`] commits it.
    pub(crate) fn write(&mut self, change: &RowChange) -> DriverResult<()> {
        let (sql, values) = self.sql.change(change);
        let sql = sql.to_owned();
        self.connection()?
            .execute(&sql, params_from_iter(values.into_iter().map(Bind)))
            .map(|_| ())
            .map_err(db_error)
    }
}

/// A tracking-table parameter as an SQLite value: booleans as 0/1, times as RFC 3339 text.
pub(super) struct Bind<'a>(Value<'a>);

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

pub(super) fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(super) fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").map(|n| n.and_utc())
        })
        .unwrap_or_default()
}
