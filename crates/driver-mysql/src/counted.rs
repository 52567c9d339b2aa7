//! A counted section (SPEC §14) in as few round trips as the protocol allows.
//!
//! The server runs a multi-statement batch in order and stops at its first failing statement,
//! so a batch of steps, each `START TRANSACTION; <row changes>; COMMIT;` followed by the
//! section's statement, makes the same commits in the same order as one batch per step: each
//! progress count is committed before the statement after it runs, and nothing after a failing
//! statement runs. The result sets read before the failure say where it stopped.
//!
//! A statement is followed by the next step in the same batch only when the server is sure to
//! read it as ferry split it, whatever the session's `sql_mode` ([`chainable`]); otherwise it
//! ends its batch, as every statement did before. Steps whose row changes cannot be inlined
//! (a lease to fence before `COMMIT`, a value with a backslash) run one round trip each, and a
//! batch stops growing at [`BATCH_TEXT`] bytes (progress texts grow with the statements done).

use ferry_core::driver::lease::Held;
use ferry_core::driver::{CountedRun, CountedStop, DriverResult};
use mysql_async::prelude::Queryable;

use crate::error::{db_error, statement_error};
use crate::session::keeps_session;
use crate::MysqlDriver;

/// The size past which a batch takes no further step (one step alone may be larger).
const BATCH_TEXT: usize = 64 * 1024;

/// Steps `from..from + tracking.len()` of a run as one multi-statement batch.
pub(crate) struct Chunk {
    batch: String,
    /// For each step, how many tracking statements come before its statement.
    tracking: Vec<usize>,
    from: usize,
}

impl Chunk {
    /// The chunk's first step.
    pub(crate) fn start(&self) -> usize {
        self.from
    }

    /// The step after the chunk's last.
    pub(crate) fn end(&self) -> usize {
        self.from + self.tracking.len()
    }
}

impl MysqlDriver {
    /// The steps from `from` that go in one batch; `None` when step `from` itself cannot
    /// (under a lease, or when its changes cannot be inlined or its statement is blank).
    pub(crate) fn chunk(&self, run: &CountedRun<'_>, from: usize) -> Option<Chunk> {
        if matches!(self.held, Held::Lease(_)) {
            return None;
        }
        let mut chunk = Chunk {
            batch: String::new(),
            tracking: Vec::new(),
            from,
        };
        for i in from..run.statements.len() {
            let sql = run.statements[i];
            let changes = run.changes(i);
            let inlined = match changes.is_empty() {
                true => Vec::new(),
                false => match self.inline_changes(&changes) {
                    Some(statements) => statements,
                    None => break,
                },
            };
            let size = sql.len() + inlined.iter().map(|s| s.len() + 2).sum::<usize>();
            if i > from && chunk.batch.len() + size > BATCH_TEXT {
                break;
            }
            let chained = chainable(sql);
            if !chained && ferry_core::sql::is_blank(sql, ferry_core::sql::Dialect::MySql) {
                break;
            }
            if i > from {
                chunk.batch.push_str(";\n");
            }
            if !inlined.is_empty() {
                chunk.batch.push_str("START TRANSACTION;\n");
                for statement in &inlined {
                    chunk.batch.push_str(statement);
                    chunk.batch.push_str(";\n");
                }
                chunk.batch.push_str("COMMIT;\n");
            }
            chunk.tracking.push(match inlined.len() {
                0 => 0,
                n => n + 2,
            });
            chunk.batch.push_str(sql);
            if !chained {
                break;
            }
        }
        (!chunk.tracking.is_empty()).then_some(chunk)
    }

    /// Run `chunk` of `run`: where it stopped, if it did. The session is put back after a
    /// failure, and after the run's last statement unless every statement kept it
    /// ([`keeps_session`]), as statement-by-statement runs do. The outer result is only ever
    /// `Ok`: it is the liveness watch's, whose macro wants a `DriverResult`.
    pub(crate) async fn run_chunk(
        &mut self,
        run: &CountedRun<'_>,
        chunk: &Chunk,
    ) -> DriverResult<Result<(), CountedStop>> {
        for sql in &run.statements[chunk.from..chunk.end()] {
            self.changes.observe(sql);
        }
        let (outcome, completed) = self.run_batch(&chunk.batch).await;
        // Result sets before step j's tracking statements.
        let mut at = 0;
        for (j, &tracking) in chunk.tracking.iter().enumerate() {
            let step = chunk.from + j;
            let sql = run.statements[step];
            let last_in_chunk = j + 1 == chunk.tracking.len();
            if let Err(e) = &outcome {
                if completed < at + tracking {
                    // A row change failed: rolled back, its statement not run.
                    let _ = self.conn.query_drop("ROLLBACK").await;
                    self.touched = false;
                    let _ = self.after_reset(Ok(())).await;
                    return Ok(Err(CountedStop::Changes(step, db_error(e))));
                }
                if completed == at + tracking || last_in_chunk {
                    self.touched = false;
                    let error = statement_error(e, sql, completed - at - tracking);
                    let _ = self.after_reset(Ok(())).await;
                    return Ok(Err(CountedStop::Statement(step, error)));
                }
            }
            self.touched |= !keeps_session(sql);
            at += tracking + 1;
        }
        if chunk.end() < run.statements.len() || !std::mem::take(&mut self.touched) {
            return Ok(Ok(()));
        }
        let last = chunk.end() - 1;
        Ok(self
            .after_reset(Ok(()))
            .await
            .map_err(|e| CountedStop::Statement(last, e)))
    }
}

/// Whether the server reads `statement` as one statement ending where its text ends, in
/// every `sql_mode`, so that more statements may follow it in the same batch: it starts with
/// a letter, holds no backslash (escapes read differently with `NO_BACKSLASH_ESCAPES` and
/// `ANSI_QUOTES`) and no comment (`--` needs a space after it on the server, `/*!` runs), and
/// every quote it opens it closes.
pub(crate) fn chainable(statement: &str) -> bool {
    let bytes = statement.as_bytes();
    if !bytes.first().is_some_and(u8::is_ascii_alphabetic) {
        return false;
    }
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match (quote, b) {
            (_, b'\\') => return false,
            (Some(q), _) if b == q => {
                // A doubled quote stays inside.
                if bytes.get(i + 1) == Some(&q) {
                    i += 1;
                } else {
                    quote = None;
                }
            }
            (Some(_), _) => {}
            (None, b'\'' | b'"' | b'`') => quote = Some(b),
            (None, b'#') => return false,
            (None, b'-') if bytes.get(i + 1) == Some(&b'-') => return false,
            (None, b'/') if bytes.get(i + 1) == Some(&b'*') => return false,
            (None, _) => {}
        }
        i += 1;
    }
    quote.is_none()
}

#[cfg(test)]
mod tests {
    use super::chainable;

    #[test]
    fn chainable_statements() {
        for sql in [
            "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(5) DEFAULT 'a;b')",
            "ALTER TABLE `odd``name` ADD COLUMN `x-y` INT COMMENT 'it''s -- fine'",
            "INSERT INTO t VALUES ('#', \"/*\")",
            "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END",
        ] {
            assert!(chainable(sql), "{sql}");
        }
        for sql in [
            "",
            " CREATE TABLE t (a INT)",
            "(SELECT 1)",
            "INSERT INTO t VALUES ('a\\'b')",
            "CREATE TABLE t (a INT) -- note",
            "CREATE TABLE t (a INT DEFAULT 1--1)",
            "CREATE TABLE t (a INT) # note",
            "CREATE TABLE t (a INT) /*!50100 ENGINE=InnoDB */",
            "SELECT 'open",
            "SELECT `open",
            "SELECT \"open",
        ] {
            assert!(!chainable(sql), "{sql}");
        }
    }
}
