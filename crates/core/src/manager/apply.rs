//! Applying one step: a section's SQL and its tracking-row change, in one transaction where
//! the backend allows it, otherwise under the dirty protocol (SPEC §5.1.6, §5.2.6).

use std::time::Instant;

use chrono::Utc;

use super::report::PlannedMigration;
use crate::driver::error::{DriverError, DriverErrorKind};
use crate::driver::tracking::{RowChange, TrackingRow};
use crate::driver::Driver;
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
/// dirty until then, which is what a crash at that point showed before too. A counted section
/// (SPEC §14) shares its commits with the steps around it as well (`counted.rs`).
#[derive(Debug, Default)]
pub(crate) struct Stepper {
    /// The deferred last write of the previous step, and that step.
    pub(super) deferred: Option<(RowChange, PlannedMigration)>,
    /// The step whose dirty row the previous step wrote ahead (see [`Stepper::step_counted`]).
    pub(super) ahead: Option<PlannedMigration>,
}

/// The step after the one being applied (forwards), so that its dirty row can be written
/// ahead with this one's last progress count.
#[derive(Debug)]
pub(crate) struct Next<'a> {
    pub(crate) planned: PlannedMigration,
    pub(crate) app: &'a str,
    pub(crate) migration: &'a Migration,
}

impl Next<'_> {
    /// Its statements, when it runs under the counted dirty protocol on `driver`; else 0.
    pub(super) fn counted_statements(&self, driver: &dyn Driver) -> usize {
        let section = &self.migration.up;
        match counted(driver, section) {
            true => sql::split_statements(&section.sql, driver.capabilities().dialect).len(),
            false => 0,
        }
    }

    /// Its row, dirty (made only when it is written ahead).
    pub(super) fn dirty_row(&self) -> RowChange {
        RowChange::Insert(TrackingRow {
            dirty: true,
            ..new_row(self.app, self.migration)
        })
    }
}

/// A step's row changes under the dirty protocol.
pub(super) struct DirtyRows {
    /// Before its SQL: the row written dirty.
    pub(super) before: RowChange,
    /// After its SQL: the row cleared (forwards) or deleted (backwards).
    pub(super) after: RowChange,
    /// The step runs a down section.
    pub(super) down: bool,
}

/// Whether `section` can run in one transaction with its row change: not `no-transaction`,
/// and DDL is transactional on this backend or the section is DML only.
fn transactional(driver: &dyn Driver, section: &Section) -> bool {
    let caps = driver.capabilities();
    !section.no_transaction
        && (caps.transactional_ddl || sql::is_dml_only(&section.sql, caps.dialect))
}

/// Whether `section` runs under the dirty protocol counting statements (SPEC §14).
fn counted(driver: &dyn Driver, section: &Section) -> bool {
    driver.counts_statements()
        && !sql::is_blank(&section.sql, driver.capabilities().dialect)
        && !transactional(driver, section)
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
    /// step runs (with this step's first write where that is a row write), or for a counted
    /// section with its first progress count. `next` is the step after this one, when known.
    pub(crate) async fn step(
        &mut self,
        driver: &mut dyn Driver,
        planned: &PlannedMigration,
        section: &Section,
        bookkeeping: Bookkeeping,
        next: Option<&Next<'_>>,
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

        let counted = counted(driver, section);
        // A dirty row written ahead for this step, used only by the step it was written for.
        let ahead = match self.ahead.take() {
            Some(ahead) if counted && forwards && ahead == *planned => true,
            Some(ahead) => {
                let forget = super::counted::forget(&ahead);
                driver
                    .write(&forget)
                    .await
                    .map_err(|e| record_error(&ahead, e))?;
                false
            }
            None => false,
        };
        if counted {
            let rows = DirtyRows {
                before,
                after,
                down: !forwards,
            };
            return self
                .step_counted(driver, planned, section, rows, ahead, next)
                .await;
        }
        if sql::is_blank(&section.sql, driver.capabilities().dialect) {
            return self.write_with(driver, planned, in_transaction).await;
        }
        if transactional(driver, section) {
            self.finish(driver).await?;
            return driver
                .execute_in_transaction(&section.sql, &in_transaction)
                .await
                .map_err(execute_error(false));
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
    /// A dirty row written ahead for a step that did not run is deleted with it.
    pub(crate) async fn finish(&mut self, driver: &mut dyn Driver) -> Result<()> {
        let deferred = self.deferred.take();
        let ahead = self.ahead.take();
        let mut changes: Vec<RowChange> = deferred.iter().map(|(c, _)| c.clone()).collect();
        changes.extend(ahead.iter().map(super::counted::forget));
        match deferred.as_ref().map(|(_, p)| p).or(ahead.as_ref()) {
            Some(planned) => driver
                .write_all(&changes)
                .await
                .map_err(|e| record_error(planned, e)),
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

pub(super) fn lock_lost(planned: &PlannedMigration, source: DriverError) -> Error {
    Error::LockLost {
        app: planned.app_name.clone(),
        id: planned.migration_id.clone(),
        source,
    }
}

/// A failed tracking-row write of `planned`.
pub(super) fn record_error(planned: &PlannedMigration, source: DriverError) -> Error {
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
    let result = stepper
        .step(driver, planned, section, bookkeeping, None)
        .await;
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
