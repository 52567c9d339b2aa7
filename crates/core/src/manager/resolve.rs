//! `resolve` (SPEC §5.5): clear a dirty row after a human has inspected the database, or
//! accept the edited file of a `changed` migration (`--accept-changed`).

use super::apply::write_row;
use super::context::{Migrator, Rows};
use super::counted::{counted_error, run_counted, statement_at, Counted, Writes};
use super::locked::{confirm_and_lock, Locked, Replan};
use super::plan::{self, planned, Empty, Plan};
use super::report::{ConfirmRequest, Event, MigrationResult, Outcome, PlannedMigration};
use crate::driver::tracking::{statement_digest, AppliedMigration, RowChange};
use crate::error::{Error, Result};
use crate::project::migration::{compare_ids, Migration, Section};
use crate::project::registry::AppConfig;
use crate::sql;

/// Clears a dirty row after a human has inspected the database, or records the current
/// checksum and down section of a `changed` migration (`accept_changed`).
///
/// ```no_run
/// # async fn demo(migrator: &mut ferry_core::Migrator) -> ferry_core::Result<()> {
/// use ferry_core::ResolveManager;
/// let manager = ResolveManager {
///     accept_changed: true,
///     auto_agree: true,
///     ..ResolveManager::new("blog", "3")
/// };
/// manager.run(migrator).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveManager {
    /// The app.
    pub app_name: String,
    /// The migration's ID.
    pub migration_id: String,
    /// For a dirty migration: `true` keeps the row as applied (`--applied`), `false`
    /// deletes it (`--reverted`). Ignored with `accept_changed`.
    pub applied: bool,
    /// For a dirty migration whose statements were counted (SPEC §14): run the statements
    /// after the last one that ran (`--resume`), when those that ran are unchanged in the
    /// file, and clear `dirty`. Takes precedence over `applied`.
    pub resume: bool,
    /// For a `changed` migration (applied, its up section edited since): record the file's
    /// current checksum and down section (`--accept-changed`), after reporting what changed
    /// ([`Event::Changed`]) and asking, unless `auto_agree`. Any other status is refused.
    pub accept_changed: bool,
    /// Do not ask before `accept_changed` writes.
    pub auto_agree: bool,
}

impl ResolveManager {
    /// A manager for `migration_id` of `app_name` that keeps a dirty row as applied
    /// (`--applied`); set the fields for the other resolutions.
    pub fn new(app_name: impl Into<String>, migration_id: impl Into<String>) -> Self {
        ResolveManager {
            app_name: app_name.into(),
            migration_id: migration_id.into(),
            applied: true,
            resume: false,
            accept_changed: false,
            auto_agree: false,
        }
    }

    /// Run the manager.
    pub async fn run(&self, m: &mut Migrator) -> Result<MigrationResult> {
        let app = m.registry.get(&self.app_name)?.clone();
        if self.accept_changed {
            return self.accept_changed(m, app).await;
        }
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
        if self.resume {
            let row = row.clone();
            return self.resume(m, app, &row).await;
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

impl ResolveManager {
    /// SPEC §14.3 `--resume`, under the lock: check that the statements that ran are
    /// unchanged in the file, run the rest under the counted dirty protocol, then clear
    /// `dirty` and record the file's checksum and down section. A row left dirty by a
    /// backwards run resumes its down section (the file's, else the stored `down_sql`) and
    /// is then deleted: the migration is reverted.
    async fn resume(
        &self,
        m: &mut Migrator,
        app: &str,
        row: &AppliedMigration,
    ) -> Result<MigrationResult> {
        let refuse = |reason: String| Error::ResumeRefused {
            app: app.to_owned(),
            id: row.migration_id.clone(),
            reason,
        };
        let Some(done) = row.statements_done else {
            return Err(refuse(
                "its progress is unknown (its statements were not counted); inspect the database and use --applied or --reverted".into(),
            ));
        };
        if !m.driver.counts_statements() {
            return Err(refuse(format!(
                "the {} driver does not count statements",
                m.driver.backend()
            )));
        }
        let down = row.progress_is_down();
        let files = m.load_all(&[m.registry.get(app)?.clone()])?;
        let file = files[0]
            .iter()
            .find(|f| compare_ids(&f.id, &row.migration_id).is_eq());
        let section = match (file, down) {
            (Some(f), false) => f.up.clone(),
            (None, false) => return Err(refuse("its file is missing".into())),
            (Some(Migration { down: Some(d), .. }), true) => d.clone(),
            (_, true) => match &row.down_sql {
                Some(sql) => Section::new(sql.clone()),
                None => return Err(refuse("its down section is missing from the file and from the tracking row; inspect the database and use --applied or --reverted".into())),
            },
        };
        let description = file.map_or(row.description.as_str(), |f| f.description.as_str());
        let dialect = m.driver.capabilities().dialect;
        let statements = sql::split_statements(&section.sql, dialect);
        let done = usize::try_from(done).unwrap_or(usize::MAX);
        let of = if down { " of its down section" } else { "" };
        if done > statements.len() {
            return Err(refuse(format!(
                "{done} statements{of} ran, and the file now has {}",
                statements.len()
            )));
        }
        let recorded = row.progress_digests();
        for (i, statement) in statements[..done].iter().enumerate() {
            if recorded.get(i).copied() != Some(statement_digest(statement.text).as_str()) {
                return Err(refuse(format!(
                    "statement {} ({}){of} changed since it ran; put it back as it ran, or inspect the database and use --applied or --reverted",
                    i + 1,
                    statement_at(&section, statement)
                )));
            }
        }
        let planned = planned(app, &row.migration_id, description);
        let counted = run_counted(
            m.driver.as_mut(),
            &planned,
            &section,
            &statements,
            done,
            down,
            &Writes::default(),
        )
        .await;
        match counted {
            Ok(()) => {}
            Err(Counted::Statement(i, source)) => {
                return Err(counted_error(
                    &planned,
                    &section,
                    &statements,
                    i,
                    source,
                    true,
                    down,
                ))
            }
            Err(Counted::Writes(_, source)) => {
                return Err(Error::db("recording the migration's progress")(source))
            }
        }
        let (app_name, migration_id) = (app.to_owned(), row.migration_id.clone());
        let (changes, state) = if down {
            let forget = RowChange::Delete {
                app_name,
                migration_id,
            };
            (vec![forget], "it is reverted (row deleted)")
        } else {
            let changes = vec![
                RowChange::MarkClean {
                    app_name: app_name.clone(),
                    migration_id: migration_id.clone(),
                    duration_ms: None,
                },
                RowChange::AcceptChanged {
                    app_name,
                    migration_id,
                    checksum: file.map(|f| f.checksum.clone()).unwrap_or_default(),
                    down_sql: file.and_then(|f| f.down.as_ref().map(|d| d.sql.clone())),
                },
            ];
            (changes, "it is applied")
        };
        m.driver
            .write_all(&changes)
            .await
            .map_err(Error::db("updating the tracking row"))?;
        Ok(MigrationResult {
            migrations: vec![planned.clone()],
            ..MigrationResult::new(
                Outcome::Done,
                format!(
                    "Resumed {app} {}: ran statements {}..{}{of}; {state}",
                    row.migration_id,
                    done + 1,
                    statements.len()
                ),
            )
        })
    }
}

/// What `--accept-changed` writes, and what it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Accept {
    planned: PlannedMigration,
    recorded_checksum: String,
    recorded_down: Option<String>,
    file_checksum: String,
    file_down: Option<String>,
}

impl ResolveManager {
    /// SPEC §5.5 `--accept-changed`: show what changed, ask, then record the file's checksum
    /// and down section under the lock, refusing if the row changed meanwhile.
    async fn accept_changed(&self, m: &mut Migrator, app: AppConfig) -> Result<MigrationResult> {
        let apps = vec![app];
        let files = m.load_all(&apps)?;
        let rows = m.read_rows(&apps).await?;
        let shown = accept_plan(&apps[0], &files[0], &rows, &self.migration_id)?;
        let step = &shown.steps[0];
        m.report(Event::Changed {
            migration: &step.planned,
            recorded_checksum: &step.recorded_checksum,
            file_checksum: &step.file_checksum,
            recorded_down: step.recorded_down.as_deref(),
            file_down: step.file_down.as_deref(),
        });
        let request = (!self.auto_agree).then(|| ConfirmRequest {
            question: format!(
                "Accept the edited file of {} {}? Its tracking row will record the file's checksum and down section; no SQL runs.",
                step.planned.app_name, step.planned.migration_id
            ),
            items: vec![step.planned.clone()],
        });
        let id = self.migration_id.clone();
        let replan = |_: &_, rows: &Rows| accept_plan(&apps[0], &files[0], rows, &id);
        let locked = confirm_and_lock(
            m,
            request,
            Replan {
                rows_of: &apps,
                plan: &replan,
                describe: |a: &Accept| a.planned.clone(),
                changed: "the migration's tracking row changed while waiting for confirmation; nothing was changed; run the command again",
                atomic: false,
            },
        )
        .await?;
        let now = match locked {
            Locked::Stop(result) => return Ok(result),
            Locked::Run(mut steps) => steps.remove(0),
        };
        let result = async {
            if now != *step {
                return Err(Error::Unsuccessful(
                    "the migration's tracking row changed while waiting for confirmation; nothing was changed; run the command again".into(),
                ));
            }
            let change = RowChange::AcceptChanged {
                app_name: now.planned.app_name.clone(),
                migration_id: now.planned.migration_id.clone(),
                checksum: now.file_checksum.clone(),
                down_sql: now.file_down.clone(),
            };
            write_row(m.driver.as_mut(), &change, "updating the tracking row").await?;
            Ok(MigrationResult {
                migrations: vec![now.planned.clone()],
                ..MigrationResult::new(
                    Outcome::Done,
                    format!(
                        "Accepted the changed migration {} {}: its tracking row now records the file's checksum and down section",
                        now.planned.app_name, now.planned.migration_id
                    ),
                )
            })
        }
        .await;
        m.unlock(result).await
    }
}

/// The one-step plan of `--accept-changed`, or the refusal naming the migration's status.
fn accept_plan(
    app: &AppConfig,
    files: &[Migration],
    rows: &Rows,
    id: &str,
) -> Result<Plan<Accept>> {
    let row = rows
        .of(&app.name)
        .iter()
        .find(|r| compare_ids(&r.migration_id, id).is_eq());
    let file = files.iter().find(|f| compare_ids(&f.id, id).is_eq());
    let refuse = |status: &str, id: &str| Error::NotChanged {
        app: app.name.clone(),
        id: id.to_owned(),
        status: status.to_owned(),
    };
    let (row, file) = match (row, file) {
        (None, None) => return Err(refuse("unknown", id)),
        (None, Some(f)) => return Err(refuse("pending", &f.id)),
        (Some(r), None) if r.dirty => return Err(refuse("dirty", &r.migration_id)),
        (Some(r), None) => return Err(refuse("missing", &r.migration_id)),
        (Some(r), Some(_)) if r.dirty => return Err(refuse("dirty", &r.migration_id)),
        (Some(r), Some(f)) if r.checksum == f.checksum => {
            return Err(refuse("applied", &r.migration_id))
        }
        (Some(r), Some(f)) => (r, f),
    };
    Ok(Plan {
        steps: vec![Accept {
            planned: plan::planned(&app.name, &row.migration_id, &file.description),
            recorded_checksum: row.checksum.clone(),
            recorded_down: row.down_sql.clone(),
            file_checksum: file.checksum.clone(),
            file_down: file.down.as_ref().map(|d| d.sql.clone()),
        }],
        notes: Vec::new(),
        empty: Empty::NothingToDo("nothing to accept"),
    })
}
