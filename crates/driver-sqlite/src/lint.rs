//! `ferry lint`'s measurement (SPEC §13.1) on a scratch database: the section's statements
//! one by one (in a transaction of their own, or in a savepoint of the lock's, unless
//! `no-transaction`), and after each, from `sqlite_master` and `pragma_table_info`, the
//! tables and indexes with their `rowid` in `sqlite_master` as identity (a rename keeps it)
//! and their root page (a table rebuilt under its old name has a new one), and each table's
//! columns by name with `notnull`. SQLite has no lock modes per table: a write transaction
//! excludes every other writer of the file until it commits, whatever it does.
//!
//! A section that ran leaves its last state for the next one to start from when the caller
//! says nothing ran in between (`continues`): one read of `sqlite_master` per statement, none
//! before a section that follows a judged one.

use std::collections::HashMap;
use std::sync::Arc;

use ferry_core::driver::lint::{LintColumn, LintRelation, LintRun, LintState, LintStep};
use ferry_core::driver::{DriverError, DriverResult};
use rusqlite::Connection;

use crate::conn::Conn;
use crate::error::{db_error, statement_error};

/// See [`ferry_core::Driver::lint_section`].
pub(crate) fn lint_section(
    conn: &mut Conn,
    statements: &[String],
    no_transaction: bool,
    continues: bool,
) -> DriverResult<LintRun> {
    let carried = conn.lint_carry.take();
    let (before, mut cache) = match carried {
        Some(Carry { state, cache }) if continues => (Some(state), cache),
        Some(Carry { cache, .. }) => (None, cache),
        None => (None, Columns::new()),
    };
    let before = match before {
        Some(state) => state,
        None => state(conn.connection()?, &mut cache)?,
    };
    let mut run = LintRun {
        before,
        ..LintRun::default()
    };
    let mut failed: Option<(usize, DriverError)> = None;
    let mut body = |this: &mut Conn| -> DriverResult<()> {
        for (i, statement) in statements.iter().enumerate() {
            let c = this.connection()?;
            if let Err(e) = c.execute_batch(statement) {
                let error = statement_error(e, statement, 0);
                failed = Some((i, error.clone()));
                return Err(error);
            }
            run.steps.push(LintStep {
                state: state(c, &mut cache)?,
                algorithm: None,
                in_transaction: !no_transaction,
            });
        }
        Ok(())
    };
    let ran = if no_transaction {
        let ran = body(conn);
        conn.after_reset(ran)
    } else {
        conn.in_transaction("ferry_lint", body)
    };
    match (ran, failed) {
        (_, Some(failed)) => {
            run.failed = Some(failed);
            Ok(run)
        }
        (Err(e), None) => Err(e),
        (Ok(()), None) => {
            let state = run.steps.last().map_or(&run.before, |s| &s.state).clone();
            conn.lint_carry = Some(Carry { state, cache });
            Ok(run)
        }
    }
}

/// The state a section ended with, for the next one to start from, and the columns read.
pub(crate) struct Carry {
    state: LintState,
    cache: Columns,
}

/// Each relation by `sqlite_master` rowid, with what it was read from (type, name, root page,
/// `CREATE` text): every change to a table's columns rewrites that text, so a relation whose
/// row is the same is shared with the state before (a statement costs what it changed, not
/// what the file holds).
type Columns = HashMap<i64, (Row, Arc<LintRelation>)>;

/// A `sqlite_master` row: type, name, root page, `CREATE` text.
type Row = (String, String, Option<i64>, String);

fn state(conn: &Connection, cache: &mut Columns) -> DriverResult<LintState> {
    let mut state = LintState::default();
    let mut stmt = conn
        .prepare_cached(
            "SELECT rowid, type, name, rootpage, coalesce(sql, '') FROM sqlite_master \
             WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        )
        .map_err(db_error)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                (
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, String>(4)?,
                ),
            ))
        })
        .map_err(db_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    let mut columns = conn
        .prepare_cached("SELECT name, \"notnull\" FROM pragma_table_info(?1)")
        .map_err(db_error)?;
    for (rowid, row) in rows {
        if let Some((seen, relation)) = cache.get(&rowid) {
            if *seen == row {
                state
                    .relations
                    .insert(rowid.to_string(), Arc::clone(relation));
                continue;
            }
        }
        let (kind, name, root, _) = &row;
        let mut relation = LintRelation {
            kind: kind.clone(),
            name: name.clone(),
            storage: root.map(|r| r.to_string()),
            ..LintRelation::default()
        };
        if kind == "table" {
            for column in columns
                .query_map([name], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
                })
                .map_err(db_error)?
            {
                let (column, not_null) = column.map_err(db_error)?;
                relation.columns.insert(
                    column.clone(),
                    LintColumn {
                        name: column,
                        not_null,
                    },
                );
            }
        }
        let relation = Arc::new(relation);
        state
            .relations
            .insert(rowid.to_string(), Arc::clone(&relation));
        cache.insert(rowid, (row, relation));
    }
    Ok(state)
}
