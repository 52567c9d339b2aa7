//! `resolve` (SPEC §5.5): clear a dirty row after a human has inspected the database.

use super::apply::write_row;
use super::context::Migrator;
use super::plan::planned;
use super::report::{MigrationResult, Outcome};
use crate::driver::tracking::RowChange;
use crate::error::{Error, Result};
use crate::project::migration::compare_ids;

/// Clears a dirty row after a human has inspected the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveManager {
    /// The app.
    pub app_name: String,
    /// The dirty migration's ID.
    pub migration_id: String,
    /// `true`: keep the row as applied (`--applied`); `false`: delete it (`--reverted`).
    pub applied: bool,
}

impl ResolveManager {
    /// Run the manager.
    pub async fn run(&self, m: &mut Migrator) -> Result<MigrationResult> {
        let app = m.registry.get(&self.app_name)?.clone();
        m.lock().await?;
        let result = self.resolve(m, &app.name).await;
        m.unlock(result).await
    }

    async fn resolve(&self, m: &mut Migrator, app: &str) -> Result<MigrationResult> {
        let rows = m
            .read_existing_rows(&[m.registry.get(app)?.clone()])
            .await?;
        let row = rows
            .of(app)
            .iter()
            .find(|r| compare_ids(&r.migration_id, &self.migration_id).is_eq())
            .ok_or_else(|| Error::NotDirty {
                app: app.to_owned(),
                id: self.migration_id.clone(),
                applied: false,
            })?;
        if !row.dirty {
            return Err(Error::NotDirty {
                app: app.to_owned(),
                id: row.migration_id.clone(),
                applied: true,
            });
        }
        let (app_name, migration_id) = (app.to_owned(), row.migration_id.clone());
        let (change, state) = if self.applied {
            let change = RowChange::MarkClean {
                app_name,
                migration_id,
                duration_ms: None,
            };
            (change, "applied")
        } else {
            let change = RowChange::Delete {
                app_name,
                migration_id,
            };
            (change, "reverted (row deleted)")
        };
        write_row(m.driver.as_mut(), &change, "updating the tracking row").await?;
        Ok(MigrationResult {
            migrations: vec![planned(app, &row.migration_id, &row.description)],
            ..MigrationResult::new(
                Outcome::Done,
                format!("Marked {app} {} as {state}", row.migration_id),
            )
        })
    }
}
