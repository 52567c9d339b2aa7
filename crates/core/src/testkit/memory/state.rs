//! The database behind every connection: tracking tables, user tables and locks, the toy SQL
//! model, and row changes.

use std::collections::{BTreeSet, HashMap};
use std::task::Waker;

use crate::driver::{AppliedMigration, DriverResult, RowChange};
use crate::sql::{line_of_offset, Statement};
use crate::{DriverError, TableName};

/// One tracking table.
#[derive(Debug, Clone, Default)]
pub(super) struct Tracking {
    pub(super) rows: Vec<AppliedMigration>,
    pub(super) last_id: i64,
}

/// Everything a transaction can roll back.
#[derive(Debug, Clone, Default)]
pub(super) struct Data {
    pub(super) tracking: HashMap<TableName, Tracking>,
    /// User tables, lower case.
    pub(super) tables: BTreeSet<String>,
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) data: Data,
    /// Tracking table → the connection holding its migration lock.
    pub(super) locks: HashMap<TableName, u64>,
    /// Tasks waiting for a lock, woken when it is released.
    pub(super) waiters: HashMap<TableName, Vec<Waker>>,
    pub(super) log: Vec<String>,
    pub(super) fail_on: Vec<String>,
    pub(super) transactional_ddl: bool,
    pub(super) last_connection: u64,
    /// How many times the tracking rows were read.
    pub(super) reads: usize,
}

impl Default for State {
    fn default() -> Self {
        State {
            data: Data::default(),
            locks: HashMap::new(),
            waiters: HashMap::new(),
            log: Vec::new(),
            fail_on: Vec::new(),
            transactional_ddl: true,
            last_connection: 0,
            reads: 0,
        }
    }
}

fn no_such_table(name: &str) -> String {
    format!("no such table: {name}")
}

impl State {
    pub(super) fn tracking(&mut self, table: &TableName) -> DriverResult<&mut Tracking> {
        self.data
            .tracking
            .get_mut(table)
            .ok_or_else(|| DriverError::query(no_such_table(&table.to_string())))
    }

    /// Apply a row change.
    pub(super) fn apply(&mut self, table: &TableName, change: &RowChange) -> DriverResult<()> {
        let tracking = self.tracking(table)?;
        match change {
            RowChange::Insert(row) => {
                if tracking
                    .rows
                    .iter()
                    .any(|r| r.app_name == row.app_name && r.migration_id == row.migration_id)
                {
                    return Err(DriverError::query(format!(
                        "UNIQUE constraint failed: {table}.app_name, {table}.migration_id"
                    )));
                }
                tracking.last_id += 1;
                tracking.rows.push(AppliedMigration {
                    row_id: tracking.last_id,
                    row: row.clone(),
                    statements_done: None,
                    progress_checksum: None,
                });
            }
            RowChange::Delete {
                app_name,
                migration_id,
            } => tracking
                .rows
                .retain(|r| !(&r.app_name == app_name && &r.migration_id == migration_id)),
            RowChange::MarkDirty {
                app_name,
                migration_id,
            } => {
                for r in tracking
                    .rows
                    .iter_mut()
                    .filter(|r| &r.app_name == app_name && &r.migration_id == migration_id)
                {
                    r.row.dirty = true;
                }
            }
            RowChange::MarkClean {
                app_name,
                migration_id,
                duration_ms,
            } => {
                for r in tracking
                    .rows
                    .iter_mut()
                    .filter(|r| &r.app_name == app_name && &r.migration_id == migration_id)
                {
                    r.row.dirty = false;
                    r.statements_done = None;
                    r.progress_checksum = None;
                    if let Some(ms) = duration_ms {
                        r.row.duration_ms = *ms;
                    }
                }
            }
            RowChange::Progress {
                app_name,
                migration_id,
                statements_done,
                progress_checksum,
            } => {
                for r in tracking
                    .rows
                    .iter_mut()
                    .filter(|r| &r.app_name == app_name && &r.migration_id == migration_id)
                {
                    r.statements_done = Some(*statements_done);
                    r.progress_checksum = Some(progress_checksum.clone());
                }
            }
            RowChange::AcceptChanged {
                app_name,
                migration_id,
                checksum,
                down_sql,
            } => {
                for r in tracking
                    .rows
                    .iter_mut()
                    .filter(|r| &r.app_name == app_name && &r.migration_id == migration_id)
                {
                    r.row.checksum = checksum.clone();
                    r.row.down_sql = down_sql.clone();
                }
            }
        }
        Ok(())
    }

    /// Run one statement of `sql`; on failure the error names its line within `sql`.
    /// Returns whether the statement was DDL.
    pub(super) fn run(&mut self, sql: &str, stmt: &Statement<'_>) -> DriverResult<bool> {
        let at_line = |message: String| {
            DriverError::query(message).with_line(Some(line_of_offset(sql, stmt.offset)))
        };
        if let Some(pattern) = self.fail_on.iter().find(|p| stmt.text.contains(p.as_str())) {
            return Err(at_line(format!(
                "statement made to fail by fail_on(\"{pattern}\")"
            )));
        }
        let spaced = stmt.text.replace('(', " ( ");
        let words: Vec<&str> = spaced.split_whitespace().collect();
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let keyword = |i: usize, k: &str| upper.get(i).is_some_and(|w| w == k);
        let name = |i: usize| {
            words
                .get(i)
                .map(|w| {
                    w.trim_matches(|c| matches!(c, '"' | '`' | '[' | ']'))
                        .to_ascii_lowercase()
                })
                .unwrap_or_default()
        };
        let tables = &mut self.data.tables;
        let mut ddl = false;
        if keyword(0, "CREATE") && keyword(1, "TABLE") {
            ddl = true;
            let if_not_exists = keyword(2, "IF") && keyword(3, "NOT") && keyword(4, "EXISTS");
            let table = name(if if_not_exists { 5 } else { 2 });
            if !tables.insert(table.clone()) && !if_not_exists {
                return Err(at_line(format!("table {table} already exists")));
            }
        } else if keyword(0, "DROP") && keyword(1, "TABLE") {
            ddl = true;
            let if_exists = keyword(2, "IF") && keyword(3, "EXISTS");
            let table = name(if if_exists { 4 } else { 2 });
            if !tables.remove(&table) && !if_exists {
                return Err(at_line(no_such_table(&table)));
            }
        } else {
            let target = if keyword(0, "INSERT") || keyword(0, "DELETE") {
                upper
                    .iter()
                    .position(|w| w == "INTO" || w == "FROM")
                    .map(|i| name(i + 1))
            } else if keyword(0, "UPDATE") {
                Some(name(1))
            } else {
                None
            };
            if let Some(table) = target.filter(|t| !tables.contains(t)) {
                return Err(at_line(no_such_table(&table)));
            }
        }
        self.log.push(stmt.text.to_owned());
        Ok(ddl)
    }
}
