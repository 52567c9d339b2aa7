//! Applying one step: a section's SQL and its tracking-row change, in one transaction where
//! the backend allows it, otherwise under the dirty protocol (SPEC §5.1.6, §5.2.6).

use std::time::Instant;

use chrono::Utc;

use super::report::PlannedMigration;
use crate::driver::error::{DriverError, DriverErrorKind};
use crate::driver::tracking::{statement_digest, RowChange, TrackingRow, DOWN_PROGRESS};
use crate::driver::{CountedRun, CountedStop, Driver};
use crate::error::{Error, Result};
use crate::project::migration::{Migration, Section};
use crate::sql;

/// What a step does to the tracking table.
#[derive(Debug, Clone)]
pub(crate) enum Bookkeeping {
    /// Forwards: record the migration as applied.
    Record(TrackingRow),
    /// Backwards: forget the migration's row.
    Forget,
}

/// The tracking row that records `migration` of `app` as applied now.
pub(crate) fn new_row(app: &str, migration: &Migration) -> TrackingRow {
    TrackingRow {
        app_name: app.to_owned(),
        migration_id: migration.id.clone(),
        description: migration.description.clone(),
        checksum: migration.checksum.clone(),
        down_sql: migration.down.as_ref().map(|d| d.sql.clone()),
        applied_at: Utc::now(),
        duration_ms: 0,
        dirty: false,
    }
}

/// Runs the steps of one command one after the other. Under the dirty protocol the last
/// write of a step (the clean of a forwards step, the delete of a backwards step) is not sent
/// on its own: it waits for the next step's first write and goes with it in one transaction,
/// with that step's SQL where the next step is under the dirty protocol too
/// ([`Driver::write_then_execute`], else [`Driver::write_all`]), or is written by
/// [`Stepper::finish`]. Where DDL commits implicitly (MySQL) that is one commit and one round
/// trip per migration instead of two and three; the row of a migration whose SQL ran stays
/// dirty until then, which is what a crash at that point showed before too.
#[derive(Debug, Default)]
pub(crate) struct Stepper {
    /// The deferred last write of the previous step, and that step.
    deferred: Option<(RowChange, PlannedMigration)>,
}

impl Stepper {
    /// Apply `section` of `planned` with its bookkeeping:
    /// - a blank section only changes the row;
    /// - a section that can run in a transaction (not `no-transaction`, and DDL is
    ///   transactional on this backend or the section is DML only) runs with the row change in
    ///   one transaction;
    /// - otherwise the row is written dirty first (a new dirty row, or the existing row marked
    ///   dirty), the SQL runs, and the row is cleared (forwards, with the time the SQL and
    ///   those row writes took) or deleted (backwards), that last write deferred as the type
    ///   says. A failure leaves the dirty row for `ferry resolve`.
    ///
    /// The previous step's deferred write is made in every case, before anything of this
    /// step runs (with this step's first write where that is a row write).
    pub(crate) async fn step(
        &mut self,
        driver: &mut dyn Driver,
        planned: &PlannedMigration,
        section: &Section,
        bookkeeping: Bookkeeping,
    ) -> Result<()> {
        let key = || (planned.app_name.clone(), planned.migration_id.clone());
        let forwards = matches!(bookkeeping, Bookkeeping::Record(_));
        let (in_transaction, before, after) = match bookkeeping {
            Bookkeeping::Record(row) => {
                let (app_name, migration_id) = key();
                (
                    RowChange::Insert(row.clone()),
                    RowChange::Insert(TrackingRow { dirty: true, ..row }),
                    RowChange::MarkClean {
                        app_name,
                        migration_id,
                        duration_ms: None,
                    },
                )
            }
            Bookkeeping::Forget => {
                let delete = || {
                    let (app_name, migration_id) = key();
                    RowChange::Delete {
                        app_name,
                        migration_id,
                    }
                };
                let (app_name, migration_id) = key();
                (
                    delete(),
                    RowChange::MarkDirty {
                        app_name,
                        migration_id,
                    },
                    delete(),
                )
            }
        };
        let execute_error = |dirty: bool| {
            move |source: DriverError| match source.kind {
                DriverErrorKind::LockLost => lock_lost(planned, source),
                _ => Error::Execute {
                    app: planned.app_name.clone(),
                    id: planned.migration_id.clone(),
                    file: section.file.clone(),
                    line: source.line.map(|l| section.file_line(l)),
                    source,
                    dirty,
                },
            }
        };

        let caps = driver.capabilities();
        if sql::is_blank(&section.sql, caps.dialect) {
            return self.write_with(driver, planned, in_transaction).await;
        }
        let transactional = !section.no_transaction
            && (caps.transactional_ddl || sql::is_dml_only(&section.sql, caps.dialect));
        if transactional {
            self.finish(driver).await?;
            return driver
                .execute_in_transaction(&section.sql, &in_transaction)
                .await
                .map_err(execute_error(false));
        }
        if driver.counts_statements() {
            return self
                .step_counted(driver, planned, section, !forwards, before, after)
                .await;
        }
        // The deferred write, this step's dirty row and its SQL: one call, so that a driver
        // can send them in one round trip. The duration recorded includes those writes.
        let deferred = self.deferred.take();
        let changes: Vec<RowChange> = deferred
            .iter()
            .map(|(change, _)| change.clone())
            .chain(std::iter::once(before))
            .collect();
        let started = Instant::now();
        match driver
            .write_then_execute(&changes, &section.sql, section.no_transaction)
            .await
        {
            Err(e) => {
                // As in `write_with`: the deferred write alone, where that can be helped.
                if let Some((change, _)) = &deferred {
                    let _ = driver.write(change).await;
                }
                Err(record_error(planned, e))
            }
            Ok(Err(e)) => Err(execute_error(true)(e)),
            Ok(Ok(())) => {
                self.deferred = Some((after.with_duration(started.elapsed()), planned.clone()));
                Ok(())
            }
        }
    }

    /// The dirty protocol counting statements (SPEC §14): the deferred write and the dirty
    /// row, then each statement with a progress update after it. The first statement
    /// failing puts the row back as it was (nothing took effect: forwards deletes the new
    /// row, `failed` and pending; backwards clears `dirty`, still applied); a later one leaves
    /// it dirty with the statements done (of the down section where `down`).
    async fn step_counted(
        &mut self,
        driver: &mut dyn Driver,
        planned: &PlannedMigration,
        section: &Section,
        down: bool,
        before: RowChange,
        after: RowChange,
    ) -> Result<()> {
        let dialect = driver.capabilities().dialect;
        let statements = sql::split_statements(&section.sql, dialect);
        let started = Instant::now();
        // The dirty row says from the start that no statement ran yet (one transaction).
        let zero = RowChange::Progress {
            app_name: planned.app_name.clone(),
            migration_id: planned.migration_id.clone(),
            statements_done: 0,
            progress_checksum: progress_text(down, String::new()),
        };
        // Written with the first statement (one round trip where the driver can).
        let mut first: Vec<RowChange> = self.deferred.iter().map(|(c, _)| c.clone()).collect();
        first.extend([before, zero]);
        let deferred = self.deferred.take();
        match run_counted(driver, planned, section, &statements, 0, down, first).await {
            Ok(()) => {
                self.deferred = Some((after.with_duration(started.elapsed()), planned.clone()));
                Ok(())
            }
            Err(Counted::Statement(0, source)) => {
                let (app_name, migration_id) =
                    (planned.app_name.clone(), planned.migration_id.clone());
                let undo = if down {
                    RowChange::MarkClean {
                        app_name,
                        migration_id,
                        duration_ms: None,
                    }
                } else {
                    RowChange::Delete {
                        app_name,
                        migration_id,
                    }
                };
                // Nothing took effect; a failure to undo the row change leaves it dirty.
                let undone = driver.write(&undo).await.is_ok();
                Err(counted_error(
                    planned,
                    section,
                    &statements,
                    0,
                    source,
                    !undone,
                    down,
                ))
            }
            Err(Counted::Statement(i, source)) => Err(counted_error(
                planned,
                section,
                &statements,
                i,
                source,
                true,
                down,
            )),
            Err(Counted::First(source)) => {
                // As in `write_with`: the deferred write alone, where that can be helped.
                if let Some((deferred, _)) = deferred {
                    let _ = driver.write(&deferred).await;
                }
                Err(record_error(planned, source))
            }
            Err(Counted::Record(source)) => Err(record_error(planned, source)),
        }
    }

    /// Write `change` of `planned` together with the deferred write, if any. When the two
    /// fail together, the deferred one is tried again alone, so that a migration that ran is
    /// not left dirty by the next one's failure where that can be helped.
    async fn write_with(
        &mut self,
        driver: &mut dyn Driver,
        planned: &PlannedMigration,
        change: RowChange,
    ) -> Result<()> {
        let Some((deferred, _)) = self.deferred.take() else {
            return driver
                .write(&change)
                .await
                .map_err(|e| record_error(planned, e));
        };
        match driver.write_all(&[deferred.clone(), change]).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = driver.write(&deferred).await;
                Err(record_error(planned, e))
            }
        }
    }

    /// Make the deferred write, if any: at the end of a run, before a step that does not
    /// start with a row write, and before `--clean` deletes files.
    pub(crate) async fn finish(&mut self, driver: &mut dyn Driver) -> Result<()> {
        match self.deferred.take() {
            Some((change, planned)) => driver
                .write(&change)
                .await
                .map_err(|e| record_error(&planned, e)),
            None => Ok(()),
        }
    }

    /// Run `body` (the steps), then make the deferred write: on success its error is the
    /// result; after a failure it is made as well (best effort) and the failure returned.
    pub(crate) async fn finish_after<T>(
        &mut self,
        driver: &mut dyn Driver,
        result: Result<T>,
    ) -> Result<T> {
        let finished = self.finish(driver).await;
        match (result, finished) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e),
            (Ok(r), Ok(())) => Ok(r),
        }
    }
}

/// How [`run_counted`] stopped.
#[derive(Debug)]
pub(crate) enum Counted {
    /// The statement of this 0-based index failed (the ones before it ran and are recorded).
    Statement(usize, DriverError),
    /// A progress update failed (after its statement ran; the next one did not run).
    Record(DriverError),
    /// The writes asked for before the first statement failed (nothing ran).
    First(DriverError),
}

/// Run `statements[from..]` of `section`, writing the progress after each but the last
/// (SPEC §14): `statements_done` and the digests of the statements done so far (marked as the
/// down section's where `down`). `first` (the dirty row, say) is written before the first of
/// them. Each write is committed before the statement after it runs; the driver sends them
/// together where it can ([`Driver::execute_counted`]: one round trip for the whole section on
/// MySQL), so a statement's progress costs one commit.
pub(crate) async fn run_counted(
    driver: &mut dyn Driver,
    planned: &PlannedMigration,
    section: &Section,
    statements: &[sql::Statement<'_>],
    from: usize,
    down: bool,
    first: Vec<RowChange>,
) -> std::result::Result<(), Counted> {
    let n = statements.len();
    if from >= n {
        return match first.is_empty() {
            true => Ok(()),
            false => driver.write_all(&first).await.map_err(Counted::First),
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
        first: &first,
        progress: &progress,
        no_transaction: section.no_transaction,
    };
    match driver.execute_counted(&run).await {
        Ok(()) => Ok(()),
        Err(CountedStop::Changes(0, e)) => Err(Counted::First(e)),
        Err(CountedStop::Changes(_, e)) => Err(Counted::Record(e)),
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

fn lock_lost(planned: &PlannedMigration, source: DriverError) -> Error {
    Error::LockLost {
        app: planned.app_name.clone(),
        id: planned.migration_id.clone(),
        source,
    }
}

/// A failed tracking-row write of `planned`.
fn record_error(planned: &PlannedMigration, source: DriverError) -> Error {
    match source.kind {
        DriverErrorKind::LockLost => lock_lost(planned, source),
        _ => Error::db(format!(
            "recording migration {} {}",
            planned.app_name, planned.migration_id
        ))(source),
    }
}

/// Apply one step on its own (`--rehearse`, where every step is in the run's transaction):
/// [`Stepper::step`] with nothing deferred before or after.
pub(crate) async fn apply_step(
    driver: &mut dyn Driver,
    planned: &PlannedMigration,
    section: &Section,
    bookkeeping: Bookkeeping,
) -> Result<()> {
    let mut stepper = Stepper::default();
    let result = stepper.step(driver, planned, section, bookkeeping).await;
    stepper.finish_after(driver, result).await
}

/// Apply a bare row change (`--fake`, `clean`, `resolve`): no SQL runs.
pub(crate) async fn write_row(
    driver: &mut dyn Driver,
    change: &RowChange,
    context: impl Into<String>,
) -> Result<()> {
    driver.write(change).await.map_err(Error::db(context))
}
