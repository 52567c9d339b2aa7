//! The one sequence every writing command follows once it has a plan: confirm → lock →
//! re-read → re-plan → refuse if changed (SPEC §5.2.5, §7).

use super::context::{Migrator, Rows};
use super::plan::Plan;
use super::report::{ConfirmRequest, MigrationResult, PlannedMigration};
use crate::error::{Error, Result};
use crate::project::registry::{AppConfig, AppRegistry};

/// What the sequence came to.
pub(crate) enum Locked<S> {
    /// Run these steps. The lock is held: the caller runs them and passes the result through
    /// [`Migrator::unlock`].
    Run(Vec<S>),
    /// Nothing to run (declined, or nothing left to do under the lock). The lock is not held.
    Stop(MigrationResult),
}

/// How a command re-plans under the lock.
pub(crate) struct Replan<'a, S> {
    /// The apps whose tracking rows the plan reads.
    pub rows_of: &'a [AppConfig],
    /// The plan, from the rows read under the lock.
    pub plan: &'a (dyn Fn(&AppRegistry, &Rows) -> Result<Plan<S>> + Sync),
    /// The migration a step names, to compare with what was confirmed.
    pub describe: fn(&S) -> PlannedMigration,
    /// The refusal when the plan changed after the user confirmed it.
    pub changed: &'static str,
    /// Open the run-wide transaction under the lock (`--atomic`, `--rehearse`). The caller
    /// ends it, and a `Stop` ends it here (rolled back).
    pub atomic: bool,
}

/// Ask `request` (when one is needed), take the migration lock, read the rows again and plan
/// again under it. What the user agreed to must be what runs: when the plan under the lock
/// differs from `confirmed`, refuse with nothing changed. Without a prompt, the plan made
/// under the lock is the one to run (another run may have done part of it already).
pub(crate) async fn confirm_and_lock<S>(
    m: &mut Migrator,
    request: Option<ConfirmRequest>,
    replan: Replan<'_, S>,
) -> Result<Locked<S>> {
    let asked = match request {
        Some(request) => {
            if !m.confirm.confirm(&request)? {
                return Ok(Locked::Stop(MigrationResult::declined()));
            }
            Some(request.items)
        }
        None => None,
    };
    m.lock_for(replan.atomic).await?;
    let planned = async {
        let rows = m.read_existing_rows(replan.rows_of).await?;
        let plan = (replan.plan)(&m.registry, &rows)?;
        if let Some(stop) = plan.stop() {
            return Ok(Locked::Stop(stop));
        }
        if let Some(confirmed) = asked {
            let now: Vec<PlannedMigration> = plan.steps.iter().map(replan.describe).collect();
            if now != confirmed {
                return Err(Error::Unsuccessful(replan.changed.into()));
            }
        }
        Ok(Locked::Run(plan.steps))
    }
    .await;
    match planned {
        Ok(Locked::Run(steps)) => Ok(Locked::Run(steps)),
        other => {
            if replan.atomic {
                let _ = m.driver.end_atomic(false).await;
            }
            m.unlock(other).await
        }
    }
}
