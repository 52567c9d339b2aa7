//! Running migration SQL on the connection: in a savepoint or transaction with its row
//! change, outside one, statement by statement, and the session put back after it.

use std::time::Instant;

use ferry_core::driver::{DriverResult, RowChange};
use ferry_core::sql::{split_statements, Dialect};
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::{Connection, ErrorCode};

use crate::error::{db_error, statement_error};
use crate::track::Tracking;

use super::{Conn, DEFAULT_BUSY};

impl Conn {
    /// Run `sql` and apply `change` in a savepoint of the lock's transaction (or, without the
    /// lock, in a transaction of their own).
    pub(crate) fn execute_in_transaction(
        &mut self,
        sql: &str,
        change: &RowChange,
    ) -> DriverResult<()> {
        self.in_transaction("ferry_migration", |this| {
            let started = Instant::now();
            this.run(sql)?;
            this.write(&change.clone().with_duration(started.elapsed()))
        })
    }

    /// See [`ferry_core::Driver::execute_step`]: `no_transaction` as [`Conn::execute`];
    /// otherwise as [`Conn::execute_in_transaction`], without a row change.
    pub(crate) fn execute_step(&mut self, sql: &str, no_transaction: bool) -> DriverResult<()> {
        if no_transaction {
            return self.execute(sql);
        }
        self.in_transaction("ferry_step", |this| this.run(sql))
    }

    /// Run `body` in the savepoint `name` of the lock's transaction (or, without the lock, in
    /// a transaction of its own), rolled back when it fails.
    pub(crate) fn in_transaction(
        &mut self,
        name: &str,
        body: impl FnOnce(&mut Self) -> DriverResult<()>,
    ) -> DriverResult<()> {
        let (commit, rollback) = if self.locked {
            self.connection()?
                .execute_batch(&format!("SAVEPOINT {name}"))
                .map_err(db_error)?;
            (
                format!("RELEASE {name}"),
                format!("ROLLBACK TO {name}; RELEASE {name}"),
            )
        } else {
            self.begin_immediate(DEFAULT_BUSY)?;
            ("COMMIT".to_owned(), "ROLLBACK".to_owned())
        };
        let result = body(self);
        let conn = self.connection()?;
        let ended = match result {
            Ok(()) => conn.execute_batch(&commit).map_err(db_error),
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch(&rollback);
                }
                Err(e)
            }
        };
        self.after_reset(ended)
    }

    /// Run `sql` outside any transaction. Under the lock, commit what the lock's transaction
    /// holds (a dirty row written just before, among it), run the batch, and take the lock
    /// again.
    pub(crate) fn execute(&mut self, sql: &str) -> DriverResult<()> {
        self.execute_reset(sql, true)
    }

    /// One statement of a counted `no-transaction` section (SPEC §14): as [`Self::execute`],
    /// the session reset after the `last` statement or a failure only.
    pub(crate) fn execute_statement(&mut self, sql: &str, last: bool) -> DriverResult<()> {
        self.execute_reset(sql, last)
    }

    pub(super) fn execute_reset(&mut self, sql: &str, reset: bool) -> DriverResult<()> {
        let relock = self.locked;
        if relock {
            let conn = self.connection()?;
            if !conn.is_autocommit() {
                conn.execute_batch("COMMIT").map_err(db_error)?;
            }
        }
        let ran = self.run(sql);
        let result = if reset || ran.is_err() {
            self.after_reset(ran)
        } else {
            ran
        };
        if relock {
            if let Err(e) = self.begin_immediate(self.lock_timeout) {
                self.locked = false;
                return Err(result.err().unwrap_or(e));
            }
        }
        result
    }
}

/// Run a batch statement by statement, keeping track of where each statement starts so that
/// an error can name its line. The batch is split by ferry's lexer first and each statement is
/// prepared on its own: SQLite copies the whole rest of the text it is handed on every prepare,
/// which over a long batch of small statements is quadratic. With `tracking`, each statement
/// is shown to it between its preparation and its run (see [`crate::track`]).
pub(super) fn run_batch(
    conn: &Connection,
    sql: &str,
    tracking: Option<&Tracking>,
) -> DriverResult<()> {
    if let Some(tracking) = tracking {
        tracking.before_batch();
    }
    for statement in split_statements(sql, Dialect::Sqlite) {
        run_statements(conn, sql, statement.text, statement.offset, tracking)?;
    }
    Ok(())
}

/// Run `part` (found at byte `offset` of `sql`) with rusqlite's batch: normally one statement,
/// more if the lexer found no boundary SQLite would.
pub(super) fn run_statements(
    conn: &Connection,
    sql: &str,
    part: &str,
    offset: usize,
    tracking: Option<&Tracking>,
) -> DriverResult<()> {
    let mut batch = rusqlite::Batch::new(conn, part);
    // The end of the last statement run: a syntax error's offset counts from here.
    let mut pos = 0usize;
    loop {
        let mut stmt = match batch.next() {
            Ok(Some(stmt)) => stmt,
            Ok(None) => return Ok(()),
            // Only the tracking's authorizer refuses statements, and only when it failed
            // (rusqlite fails it on names that are not UTF-8): run without it. The batch
            // prepares the same statement again.
            Err(e) if is_refused(&e) && tracking.is_some_and(Tracking::is_hooked) => {
                if let Some(tracking) = tracking {
                    tracking.stop(conn);
                }
                continue;
            }
            Err(e) => return Err(statement_error(e, sql, offset + pos)),
        };
        if let Some(tracking) = tracking {
            tracking.before_step(conn);
        }
        let text = stmt.expanded_sql().unwrap_or_default();
        let start = if text.is_empty() {
            pos
        } else {
            part[pos..].find(&text).map_or(pos, |i| pos + i)
        };
        // Step once, as `execute_batch` does: a statement that returns rows (a PRAGMA, a
        // SELECT) is run, not read.
        let stepped = stmt.raw_query().next().map(|_| ());
        if let Some(tracking) = tracking {
            tracking.after_step(stepped.is_ok());
        }
        if let Err(e) = stepped {
            return Err(statement_error(e, sql, offset + start));
        }
        pos = if text.is_empty() {
            pos
        } else {
            start + text.len()
        };
    }
}

/// Whether SQLite refused to prepare a statement because the authorizer said no.
pub(super) fn is_refused(e: &rusqlite::Error) -> bool {
    let code = match e {
        rusqlite::Error::SqliteFailure(f, _) => f.code,
        rusqlite::Error::SqlInputError { error, .. } => error.code,
        _ => return false,
    };
    code == ErrorCode::AuthorizationForStatementDenied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_errors_name_the_line() {
        let conn = Connection::open_in_memory().unwrap();
        let err = run_batch(
            &conn,
            "CREATE TABLE a (x INT);\n\nINSERT INTO nope VALUES (1);",
            None,
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3), "{err:?}");
        let err = run_batch(&conn, "SELECT 1;\n-- c\nSELEC 2;", None).unwrap_err();
        assert_eq!(err.line, Some(3), "{err:?}");
        run_batch(
            &conn,
            "CREATE TABLE t (x INT);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET x = x + 1;\n  SELECT 1;\nEND;\nINSERT INTO t VALUES (1);",
            None,
        )
        .unwrap();
    }
}
