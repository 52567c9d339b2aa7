//! The managers: planning and running forwards, backwards, check, clean and resolve.
//!
//! Every writing command follows the same shape:
//! 1. parse the target ([`target`]) and read the migration files of the apps involved (file
//!    errors stop everything here);
//! 2. read the tracking rows without writing anything (a missing table reads as empty);
//! 3. plan ([`plan`], pure), refusing unsafe plans before any change;
//! 4. `preview` prints the plan and stops; otherwise ask for confirmation where needed;
//! 5. take the migration lock, create the tracking table if needed, read the rows again and
//!    plan again under the lock ([`locked`]), then apply each step ([`apply`]) and release the
//!    lock on every path.
//!
//! Step 5's re-read is what makes N concurrent runs apply each migration exactly once.
//!
//! | file | holds |
//! |---|---|
//! | `report.rs` | [`MigrationResult`], [`Outcome`], [`Event`], [`Confirm`], [`MigrationStatus`] |
//! | `context.rs` | [`Migrator`]: lock, unlock, rows, files |
//! | `target.rs` | [`ForwardsTarget`], [`BackwardsTarget`] |
//! | `plan/` | files + rows + target → plan or refusal |
//! | `apply.rs` | one step: transaction or dirty protocol |
//! | `counted.rs` | one step under the dirty protocol counting statements (SPEC §14) |
//! | `locked.rs` | confirm → lock → re-read → re-plan → refuse if changed |
//! | `forwards.rs` … `resolve.rs` | one command each |
//! | `startup.rs` | [`Migrator::forwards_all`], [`crate::Embedded::migrate`]: one call at a program's start |

mod apply;
mod backwards;
mod check;
mod clean;
mod context;
mod counted;
mod forwards;
mod locked;
mod plan;
mod report;
mod resolve;
mod selector;
mod startup;
mod target;

pub use backwards::{backwards, run_backwards, BackwardsMigrationManager};
pub use check::CheckMigrationManager;
pub use clean::CleanManager;
pub use context::{Migrator, Preload};
pub use forwards::{forwards, run_forwards, ForwardsMigrationManager};
pub use report::{
    Confirm, ConfirmRequest, Direction, Event, MigrationResult, MigrationStatus, NoConfirm,
    NullReporter, Outcome, PlannedMigration, Progress, Reporter, Status,
};
pub use resolve::ResolveManager;
pub use selector::Apps;
pub use startup::IntoDriver;
pub use target::{BackwardsTarget, ForwardsTarget};

use crate::error::{Error, Result};
use crate::text::plural;
use plan::Note;

/// The keyword that names every app, or every migration.
pub(crate) const ALL: &str = "all";

fn report_notes(m: &Migrator, notes: &[Note]) {
    for note in notes {
        m.report(match note {
            Note::Warning(text) => Event::Warning(text.clone()),
            Note::Notice(text) => Event::Notice(text.clone()),
        });
    }
}

/// Piccolo's `forwards`/`backwards` commands: an unsuccessful result becomes an error.
fn into_error(result: Result<MigrationResult>) -> Result<MigrationResult> {
    let result = result?;
    if result.success {
        Ok(result)
    } else {
        Err(Error::Unsuccessful(
            result
                .message
                .unwrap_or_else(|| "the command did not succeed".into()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Library users spawn managers on multi-threaded executors: their futures must be `Send`.
    #[allow(dead_code)]
    async fn manager_futures_are_send(m: &mut Migrator) {
        let forwards = ForwardsMigrationManager::new("a");
        let f = forwards.run(m);
        assert_send(&f);
        drop(f);
        let backwards = BackwardsMigrationManager::new("a");
        let f = backwards.run(m);
        assert_send(&f);
        drop(f);
        let clean = CleanManager {
            app_name: "a".into(),
            auto_agree: true,
            preview: false,
        };
        let f = clean.run(m);
        assert_send(&f);
        drop(f);
        let check = CheckMigrationManager::new("a");
        let f = check.get_migration_statuses(m);
        assert_send(&f);
    }
}
