//! `clean` (SPEC §5.4): forget `missing` rows.

use super::apply::write_row;
use super::context::Migrator;
use super::locked::{confirm_and_lock, Locked, Replan};
use super::plan;
use super::plural;
use super::report::{ConfirmRequest, Event, MigrationResult, Outcome, PlannedMigration};
use crate::driver::tracking::RowChange;
use crate::error::Result;

/// Forgets `missing` rows (applied, file gone) of an app or of every app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanManager {
    /// An app name, or `all`.
    pub app_name: String,
    /// Do not ask for confirmation.
    pub auto_agree: bool,
    /// Only report what would be forgotten.
    pub preview: bool,
}

impl CleanManager {
    /// Run the manager.
    pub async fn run(&self, m: &mut Migrator) -> Result<MigrationResult> {
        let apps = m.select_apps(&self.app_name)?;
        let files = m.load_all(&apps)?;
        let rows = m.read_rows(&apps).await?;
        let plan = plan::missing(&apps, &files, &rows);
        if let Some(stop) = plan.stop() {
            return Ok(stop);
        }
        if self.preview {
            for p in &plan.steps {
                m.report(Event::PreviewForget { migration: p });
            }
            return Ok(MigrationResult {
                migrations: plan.steps,
                ..MigrationResult::new(Outcome::Preview, "preview only: nothing was changed")
            });
        }
        let request = (!self.auto_agree).then(|| ConfirmRequest {
            question: format!(
                "Forget {} missing migration(s)? Their tracking rows will be deleted; no SQL runs.",
                plan.steps.len()
            ),
            items: plan.steps.clone(),
        });
        let replan = |_: &_, rows: &_| Ok(plan::missing(&apps, &files, rows));
        let locked = confirm_and_lock(
            m,
            request,
            Replan {
                rows_of: &apps,
                plan: &replan,
                describe: PlannedMigration::clone,
                changed: "the missing migrations changed while waiting for confirmation; nothing was forgotten; run the command again",
                atomic: false,
            },
        )
        .await?;
        let steps = match locked {
            Locked::Stop(result) => return Ok(result),
            Locked::Run(steps) => steps,
        };
        let result = forget(m, steps).await;
        m.unlock(result).await
    }
}

async fn forget(m: &mut Migrator, steps: Vec<PlannedMigration>) -> Result<MigrationResult> {
    let mut result = MigrationResult::new(Outcome::Done, "");
    for p in steps {
        let change = RowChange::Delete {
            app_name: p.app_name.clone(),
            migration_id: p.migration_id.clone(),
        };
        write_row(m.driver.as_mut(), &change, "deleting a tracking row").await?;
        m.report(Event::Notice(format!(
            "forgot {} {} {}",
            p.app_name, p.migration_id, p.description
        )));
        result.migrations.push(p);
    }
    let n = result.migrations.len();
    result.message = Some(format!("Forgot {n} missing migration{}", plural(n)));
    Ok(result)
}
