//! `check` (SPEC §5.3): Piccolo's `CheckMigrationManager`.

use super::context::Migrator;
use super::plan;
use super::report::MigrationStatus;
use crate::error::Result;

/// Reports the status of every migration. Piccolo's `CheckMigrationManager`.
///
/// ```no_run
/// # async fn demo(migrator: &mut ferry_core::Migrator) -> ferry_core::Result<()> {
/// use ferry_core::{CheckMigrationManager, Status};
/// let statuses = CheckMigrationManager::new("all").get_migration_statuses(migrator).await?;
/// let pending = statuses.iter().filter(|s| s.status == Status::Pending).count();
/// println!("{pending} pending");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckMigrationManager {
    /// An app name, or `all`.
    pub app_name: String,
}

impl CheckMigrationManager {
    /// A manager for `app_name` (or `all`).
    pub fn new(app_name: impl Into<String>) -> Self {
        CheckMigrationManager {
            app_name: app_name.into(),
        }
    }

    /// One status per migration file plus one per applied row without a file, apps in
    /// dependency order, migrations in ID order. Read-only: one query to the tracking table.
    pub async fn get_migration_statuses(&self, m: &mut Migrator) -> Result<Vec<MigrationStatus>> {
        let apps = m.select_apps(&self.app_name)?;
        let files = m.load_all(&apps)?;
        let rows = m.read_rows(&apps).await?;
        let dialect = m.driver.capabilities().dialect;
        Ok(plan::statuses(&apps, &files, &rows, dialect))
    }
}
