//! Applying one step: a section's SQL and its tracking-row change, in one transaction where
//! the backend allows it, otherwise under the dirty protocol (SPEC §5.1.6, §5.2.6).

use std::time::Instant;

use chrono::Utc;

use super::report::PlannedMigration;
use crate::driver::{Driver, DriverError, DriverErrorKind};
use crate::error::{Error, Result};
use crate::migration::{Migration, Section};
use crate::sql;
use crate::tracking::{RowChange, TrackingRow};

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

/// Apply `section` of `planned` with its bookkeeping:
/// - a blank section only changes the row;
/// - a section that can run in a transaction (not `no-transaction`, and DDL is transactional
///   on this backend or the section is DML only) runs with the row change in one transaction;
/// - otherwise the row is written dirty first (a new dirty row, or the existing row marked
///   dirty), the SQL runs, and the row is cleared (forwards, with the time the SQL took) or
///   deleted (backwards). A failure leaves the dirty row for `ferry resolve`.
pub(crate) async fn apply_step(
    driver: &mut dyn Driver,
    planned: &PlannedMigration,
    section: &Section,
    bookkeeping: Bookkeeping,
) -> Result<()> {
    let key = || (planned.app_name.clone(), planned.migration_id.clone());
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
    let record_error = || {
        Error::db(format!(
            "recording migration {} {}",
            planned.app_name, planned.migration_id
        ))
    };
    let lock_lost = |source: DriverError| Error::LockLost {
        app: planned.app_name.clone(),
        id: planned.migration_id.clone(),
        source,
    };
    let record_error = |source: DriverError| match source.kind {
        DriverErrorKind::LockLost => lock_lost(source),
        _ => record_error()(source),
    };
    let execute_error = |dirty: bool| {
        move |source: DriverError| match source.kind {
            DriverErrorKind::LockLost => lock_lost(source),
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
        return driver.write(&in_transaction).await.map_err(record_error);
    }
    let transactional = !section.no_transaction
        && (caps.transactional_ddl || sql::is_dml_only(&section.sql, caps.dialect));
    if transactional {
        return driver
            .execute_in_transaction(&section.sql, &in_transaction)
            .await
            .map_err(execute_error(false));
    }
    driver.write(&before).await.map_err(record_error)?;
    let started = Instant::now();
    driver
        .execute(&section.sql, section.no_transaction)
        .await
        .map_err(execute_error(true))?;
    let after = after.with_duration(started.elapsed());
    driver.write(&after).await.map_err(record_error)
}

/// Apply a bare row change (`--fake`, `clean`, `resolve`): no SQL runs.
pub(crate) async fn write_row(
    driver: &mut dyn Driver,
    change: &RowChange,
    context: impl Into<String>,
) -> Result<()> {
    driver.write(change).await.map_err(Error::db(context))
}
