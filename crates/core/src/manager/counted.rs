//! The dirty protocol counting statements (SPEC §14): a section run statement by statement,
//! its progress committed before each next statement, and how a step under it shares its
//! commits with the steps before and after it.

use std::time::Instant;

use super::apply::{lock_lost, record_error, DirtyRows, Next, Stepper};
use super::report::PlannedMigration;
use crate::driver::error::{DriverError, DriverErrorKind};
use crate::driver::tracking::{statement_digest, RowChange, DOWN_PROGRESS};
use crate::driver::{CountedRun, CountedStop, Driver};
use crate::error::{Error, Result};
use crate::project::migration::Section;
use crate::sql;

impl Stepper {
    /// Apply a counted section: the deferred write and the dirty row (unless it was written
    /// ahead), then each statement with a progress update after it. The first statement
    /// failing puts the row back as it was (nothing took effect: forwards deletes the new
    /// row, `failed` and pending; backwards clears `dirty`, still applied); a later one leaves
    /// it dirty with the statements done (of the down section where `rows.down`).
    ///
    /// A section of two or more statements writes no commit of its own before its first
    /// statement where it can: when its dirty row was written ahead, the previous step's
    /// clean row goes with its first progress count; when `next` is a counted section of two
    /// or more statements too, that step's dirty row goes with this one's last progress
    /// count. Each count is still committed before the statement after it, so a crash leaves
    /// every dirty row at most one statement behind; it can leave two rows dirty (this one
    /// and the next, that one with none of its statements recorded).
    pub(super) async fn step_counted(
        &mut self,
        driver: &mut dyn Driver,
        planned: &PlannedMigration,
        section: &Section,
        rows: DirtyRows,
        ahead: bool,
        next: Option<&Next<'_>>,
    ) -> Result<()> {
        let dialect = driver.capabilities().dialect;
        let statements = sql::split_statements(&section.sql, dialect);
        let n = statements.len();
        let started = Instant::now();
        let deferred = self.deferred.take();
        let mut writes = Writes::default();
        // The previous step's clean row: with the first progress count when this step's dirty
        // row is already there, else before the first statement with the dirty row.
        let deferred_at = usize::from(ahead && n >= 2);
        if let Some((change, _)) = &deferred {
            writes.add(deferred_at, change.clone());
        }
        if !ahead {
            // The dirty row says from the start that no statement ran yet.
            writes
                .first
                .extend([rows.before, zero_progress(planned, rows.down)]);
        }
        let next = next.filter(|next| n >= 2 && next.counted_statements(driver) >= 2);
        if let Some(next) = next {
            writes.add(n - 1, next.dirty_row());
            writes.add(n - 1, zero_progress(&next.planned, false));
        }
        let result =
            run_counted(driver, planned, section, &statements, 0, rows.down, &writes).await;
        let committed = |at: usize| match &result {
            Ok(()) => true,
            Err(Counted::Statement(i, _)) => at <= *i,
            Err(Counted::Writes(i, _)) => at < *i,
        };
        // After a failure, in one transaction (best effort): the previous step's clean row
        // where it was not committed, and the next step's dirty row deleted where it was.
        let mut repair = Vec::new();
        if let Some((change, _)) = &deferred {
            if !committed(deferred_at) {
                repair.push(change.clone());
            }
        }
        if let Some(next) = next {
            if committed(n - 1) {
                repair.push(forget(&next.planned));
            }
        }
        match result {
            Ok(()) => {
                let after = rows.after.with_duration(started.elapsed());
                self.deferred = Some((after, planned.clone()));
                self.ahead = next.map(|next| next.planned.clone());
                Ok(())
            }
            Err(Counted::Statement(0, source)) => {
                // Nothing took effect; a failure to undo the row change leaves it dirty.
                repair.push(match rows.down {
                    true => RowChange::MarkClean {
                        app_name: planned.app_name.clone(),
                        migration_id: planned.migration_id.clone(),
                        duration_ms: None,
                    },
                    false => forget(planned),
                });
                let undone = driver.write_all(&repair).await.is_ok();
                Err(counted_error(
                    planned,
                    section,
                    &statements,
                    0,
                    source,
                    !undone,
                    rows.down,
                ))
            }
            Err(failed) => {
                if !repair.is_empty() {
                    let _ = driver.write_all(&repair).await;
                }
                Err(match failed {
                    Counted::Statement(i, source) => {
                        counted_error(planned, section, &statements, i, source, true, rows.down)
                    }
                    Counted::Writes(_, source) => record_error(planned, source),
                })
            }
        }
    }
}

/// The row changes a counted run commits besides its progress.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    /// Before statement 0.
    pub(crate) first: Vec<RowChange>,
    /// With the progress before statement `i`: `(i, change)`, `i > 0`.
    pub(crate) extra: Vec<(usize, RowChange)>,
}

impl Writes {
    fn add(&mut self, at: usize, change: RowChange) {
        match at {
            0 => self.first.push(change),
            _ => self.extra.push((at, change)),
        }
    }
}

/// The change that deletes the row of `planned`.
pub(crate) fn forget(planned: &PlannedMigration) -> RowChange {
    RowChange::Delete {
        app_name: planned.app_name.clone(),
        migration_id: planned.migration_id.clone(),
    }
}

/// The progress of a dirty row none of whose statements ran yet.
fn zero_progress(planned: &PlannedMigration, down: bool) -> RowChange {
    RowChange::Progress {
        app_name: planned.app_name.clone(),
        migration_id: planned.migration_id.clone(),
        statements_done: 0,
        progress_checksum: progress_text(down, String::new()),
    }
}

/// How [`run_counted`] stopped.
#[derive(Debug)]
pub(crate) enum Counted {
    /// The statement of this 0-based index failed (the ones before it ran and are recorded).
    Statement(usize, DriverError),
    /// The writes before the statement of this index failed: rolled back, it did not run.
    Writes(usize, DriverError),
}

/// Run `statements[from..]` of `section`, writing the progress after each but the last
/// (SPEC §14): `statements_done` and the digests of the statements done so far (marked as the
/// down section's where `down`), with `writes`. Each write is committed before the statement
/// after it runs; the driver sends them together where it can ([`Driver::execute_counted`]:
/// one round trip for the whole section on MySQL), so a statement's progress costs one commit.
pub(crate) async fn run_counted(
    driver: &mut dyn Driver,
    planned: &PlannedMigration,
    section: &Section,
    statements: &[sql::Statement<'_>],
    from: usize,
    down: bool,
    writes: &Writes,
) -> std::result::Result<(), Counted> {
    let n = statements.len();
    if from >= n {
        return match writes.first.is_empty() {
            true => Ok(()),
            false => driver
                .write_all(&writes.first)
                .await
                .map_err(|e| Counted::Writes(from, e)),
        };
    }
    let texts: Vec<&str> = statements[from..].iter().map(|s| s.text).collect();
    // Each statement's digest once: the progress before statement i lists those of 0..i.
    let digests: Vec<String> = statements[..n - 1]
        .iter()
        .map(|s| statement_digest(s.text))
        .collect();
    let progress = |i: usize| {
        let done = from + i;
        RowChange::Progress {
            app_name: planned.app_name.clone(),
            migration_id: planned.migration_id.clone(),
            statements_done: i64::try_from(done).unwrap_or(i64::MAX),
            progress_checksum: progress_text(down, digests[..done].join(",")),
        }
    };
    let run = CountedRun {
        statements: &texts,
        first: &writes.first,
        extra: &writes.extra,
        progress: &progress,
        no_transaction: section.no_transaction,
    };
    match driver.execute_counted(&run).await {
        Ok(()) => Ok(()),
        Err(CountedStop::Changes(i, e)) => Err(Counted::Writes(from + i, e)),
        Err(CountedStop::Statement(i, e)) => Err(Counted::Statement(from + i, e)),
    }
}

/// The `progress_checksum` of the statements done, from their `digests` joined: after
/// [`DOWN_PROGRESS`] where they are a down section's.
fn progress_text(down: bool, digests: String) -> String {
    match down {
        true => format!("{DOWN_PROGRESS}{digests}"),
        false => digests,
    }
}

/// Where statement `i` of `section` starts: `FILE:LINE`, or `line N` without a file.
pub(crate) fn statement_at(section: &Section, statement: &sql::Statement<'_>) -> String {
    let line = section.file_line(statement.line);
    match &section.file {
        Some(file) => format!("{}:{line}", file.display()),
        None => format!("line {line}"),
    }
}

/// The error of statement `i` of `statements` failing: `failed` (not dirty) at the first
/// statement of a fresh run, else dirty with the statements done.
pub(crate) fn counted_error(
    planned: &PlannedMigration,
    section: &Section,
    statements: &[sql::Statement<'_>],
    i: usize,
    source: DriverError,
    dirty: bool,
    down: bool,
) -> Error {
    if source.kind == DriverErrorKind::LockLost {
        return lock_lost(planned, source);
    }
    let statement = &statements[i];
    let line = source
        .line
        .map(|l| section.file_line(statement.line + l.saturating_sub(1)));
    if i == 0 {
        return Error::Execute {
            app: planned.app_name.clone(),
            id: planned.migration_id.clone(),
            file: section.file.clone(),
            line: line.or(Some(section.file_line(statement.line))),
            source,
            dirty,
        };
    }
    Error::ExecutePartial {
        app: planned.app_name.clone(),
        id: planned.migration_id.clone(),
        file: section.file.clone(),
        line,
        at: statement_at(section, statement),
        source,
        done: i,
        total: statements.len(),
        down,
    }
}
