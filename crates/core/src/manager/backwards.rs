//! `backwards` (SPEC §5.2): Piccolo's `BackwardsMigrationManager`, `run_backwards` and
//! `backwards`.

use std::time::Instant;

use super::apply::{write_row, Bookkeeping, Stepper};
use super::context::Migrator;
use super::locked::{confirm_and_lock, Locked, Replan};
use super::plan::{self, BackwardsStep};
use super::report::{ConfirmRequest, Direction, Event, MigrationResult, Outcome, PlannedMigration};
use super::target::BackwardsTarget;
use super::{into_error, plural, report_notes};
use crate::driver::tracking::RowChange;
use crate::error::{Error, Result};
use crate::project::registry::AppConfig;

/// Reverses migrations. Piccolo's `BackwardsMigrationManager`.
///
/// ```no_run
/// # async fn demo(migrator: &mut ferry_core::Migrator) -> ferry_core::Result<()> {
/// use ferry_core::BackwardsMigrationManager;
/// let manager = BackwardsMigrationManager {
///     auto_agree: true,
///     ..BackwardsMigrationManager::new("blog")
/// };
/// let result = manager.run(migrator).await?;
/// println!("{:?}", result.message);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackwardsMigrationManager {
    /// An app name, or `all`.
    pub app_name: String,
    /// As typed: `None` (the most recently applied one; every one for app `all`), `1`, `all`,
    /// or an applied ID (it and everything applied after it). See [`BackwardsTarget::parse`].
    pub migration_id: Option<String>,
    /// Do not ask for confirmation.
    pub auto_agree: bool,
    /// Delete the reversed migrations' files.
    pub clean: bool,
    /// Only report the SQL that would run.
    pub preview: bool,
    /// Delete the tracking rows without running the down SQL (SPEC §5.2.11): undoes a
    /// mistaken `forwards --fake`. Asks as a reversal does, unless `auto_agree`.
    pub fake: bool,
}

impl BackwardsMigrationManager {
    /// A manager for `app_name` with the defaults: reverse the last migration (every one for
    /// `all`), ask first.
    pub fn new(app_name: impl Into<String>) -> Self {
        BackwardsMigrationManager {
            app_name: app_name.into(),
            migration_id: None,
            auto_agree: false,
            clean: false,
            preview: false,
            fake: false,
        }
    }

    /// Run the manager over every app it names.
    pub async fn run(&self, m: &mut Migrator) -> Result<MigrationResult> {
        let target = BackwardsTarget::parse(&self.app_name, self.migration_id.as_deref())?;
        let apps = m.select_apps(&self.app_name)?;
        self.run_apps(m, apps, &target).await
    }

    /// Reverse migrations of one app: Piccolo's `run_migrations_backwards(app_config)`.
    pub async fn run_migrations_backwards(
        &self,
        m: &mut Migrator,
        app_config: &AppConfig,
    ) -> Result<MigrationResult> {
        let target = BackwardsTarget::parse(&app_config.name, self.migration_id.as_deref())?;
        self.run_apps(m, vec![app_config.clone()], &target).await
    }

    async fn run_apps(
        &self,
        m: &mut Migrator,
        apps: Vec<AppConfig>,
        target: &BackwardsTarget,
    ) -> Result<MigrationResult> {
        // SPEC §6: reverse dependency order.
        let apps: Vec<AppConfig> = apps.into_iter().rev().collect();
        let files = m.load_all(&apps)?;
        // Every app's rows: rule 10 looks at the dependants too.
        let every_app: Vec<AppConfig> = m.registry.apps().to_vec();
        let rows = if self.preview {
            m.read_rows(&every_app).await?
        } else {
            m.read_settled_rows(&every_app).await?
        };
        let plan = plan::backwards(&m.registry, &apps, &files, &rows, target, self.fake)?;
        report_notes(m, &plan.notes);
        if let Some(stop) = plan.stop() {
            return Ok(stop);
        }
        if self.clean {
            check_deletable(&plan.steps)?;
        }
        if self.preview {
            return Ok(preview(m, &plan.steps, self.fake));
        }
        let planned: Vec<PlannedMigration> = plan.steps.iter().map(|s| s.planned.clone()).collect();
        let request = (!self.auto_agree).then(|| ConfirmRequest {
            question: if self.fake {
                format!(
                    "Reverse {} migration(s) with --fake? Their tracking rows will be deleted; no down SQL runs.",
                    planned.len()
                )
            } else {
                format!("Reverse {} migration(s)?", planned.len())
            },
            items: planned,
        });
        let replan = |registry: &_, rows: &_| {
            plan::backwards(registry, &apps, &files, rows, target, self.fake)
        };
        let locked = confirm_and_lock(
            m,
            request,
            Replan {
                rows_of: &every_app,
                plan: &replan,
                describe: |s: &BackwardsStep| s.planned.clone(),
                changed: "the applied migrations changed while waiting for confirmation; nothing was reversed; run the command again",
                atomic: false,
            },
        )
        .await?;
        match locked {
            Locked::Stop(result) => Ok(result),
            Locked::Run(steps) => {
                let result = self.reverse(m, steps).await;
                m.unlock(result).await
            }
        }
    }

    /// Reverse the steps newest first, deleting files with `--clean` (SPEC §5.2.6–7).
    async fn reverse(
        &self,
        m: &mut Migrator,
        steps: Vec<BackwardsStep>,
    ) -> Result<MigrationResult> {
        if self.clean {
            check_deletable(&steps)?;
        }
        let mut stepper = Stepper::default();
        let result = self.reverse_with(m, &mut stepper, steps).await;
        stepper.finish_after(m.driver.as_mut(), result).await
    }

    async fn reverse_with(
        &self,
        m: &mut Migrator,
        stepper: &mut Stepper,
        steps: Vec<BackwardsStep>,
    ) -> Result<MigrationResult> {
        let mut result = MigrationResult::new(Outcome::Done, "");
        for step in steps {
            m.check_stop()?;
            let p = &step.planned;
            m.report(Event::Started {
                migration: p,
                direction: Direction::Backwards,
            });
            let started = Instant::now();
            if self.fake {
                let change = RowChange::Delete {
                    app_name: p.app_name.clone(),
                    migration_id: p.migration_id.clone(),
                };
                let context = format!(
                    "deleting the row of migration {} {}",
                    p.app_name, p.migration_id
                );
                write_row(m.driver.as_mut(), &change, context).await?;
            } else {
                stepper
                    .step(m.driver.as_mut(), p, &step.down, Bookkeeping::Forget, None)
                    .await?;
            }
            m.report(Event::Finished {
                migration: p,
                direction: Direction::Backwards,
                elapsed: started.elapsed(),
                faked: self.fake,
            });
            if self.clean {
                // The row goes before its files do.
                stepper.finish(m.driver.as_mut()).await?;
                for file in &step.files {
                    std::fs::remove_file(file).map_err(|source| Error::Io {
                        path: file.clone(),
                        source,
                    })?;
                    m.report(Event::Deleted(file));
                }
            }
            result.migrations.push(step.planned);
        }
        let n = result.migrations.len();
        result.message = Some(if self.fake {
            format!(
                "Faked the reversal of {n} migration{}: tracking rows deleted, no down SQL ran",
                plural(n)
            )
        } else {
            format!("Reversed {n} migration{}", plural(n))
        });
        Ok(result)
    }
}

/// SPEC §5.2.8: report the down SQL that would run, newest first (with `fake`, the rows
/// that would be deleted); nothing is changed.
fn preview(m: &Migrator, steps: &[BackwardsStep], fake: bool) -> MigrationResult {
    let mut result = MigrationResult::new(Outcome::Preview, "preview only: nothing was changed");
    for step in steps {
        if fake {
            m.report(Event::PreviewForget {
                migration: &step.planned,
            });
        } else {
            m.report(Event::Preview {
                migration: &step.planned,
                direction: Direction::Backwards,
                sql: &step.down.sql,
            });
        }
        result.migrations.push(step.planned.clone());
    }
    result
}

/// SPEC §5.2.7: `--clean` deletes only regular files inside the app's folder; anything else
/// is refused before anything changes.
fn check_deletable(steps: &[BackwardsStep]) -> Result<()> {
    for step in steps {
        let Some(dir) = &step.dir else { continue };
        let dir = dir.canonicalize().map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        for file in &step.files {
            let meta = std::fs::symlink_metadata(file).map_err(|source| Error::Io {
                path: file.clone(),
                source,
            })?;
            let refuse = |reason: String| Error::UnsafeDelete {
                path: file.clone(),
                reason,
            };
            if meta.file_type().is_symlink() {
                return Err(refuse(
                    "it is a symbolic link (`--clean` deletes only regular files)".into(),
                ));
            }
            if !meta.is_file() {
                return Err(refuse("it is not a regular file".into()));
            }
            let parent = file
                .parent()
                .and_then(|p| p.canonicalize().ok())
                .unwrap_or_default();
            if parent != dir {
                return Err(refuse(format!(
                    "it is not inside the app's folder {}",
                    dir.display()
                )));
            }
        }
    }
    Ok(())
}

/// Reverse migrations: Piccolo's `run_backwards`. `migration_id` as typed; `None` means the
/// default (`1`, or every migration for app `all`).
pub async fn run_backwards(
    m: &mut Migrator,
    app_name: &str,
    migration_id: Option<&str>,
    auto_agree: bool,
    clean: bool,
    preview: bool,
) -> Result<MigrationResult> {
    BackwardsMigrationManager {
        app_name: app_name.to_owned(),
        migration_id: migration_id.map(str::to_owned),
        auto_agree,
        clean,
        preview,
        fake: false,
    }
    .run(m)
    .await
}

/// Reverse migrations, turning an unsuccessful result (declined, not applied) into
/// [`Error::Unsuccessful`]: Piccolo's `backwards` command.
///
/// ```no_run
/// # async fn demo(migrator: &mut ferry_core::Migrator) -> ferry_core::Result<()> {
/// // Reverse the last migration of `blog` without asking.
/// ferry_core::backwards(migrator, "blog", Some("1"), true).await?;
/// # Ok(()) }
/// ```
pub async fn backwards(
    m: &mut Migrator,
    app_name: &str,
    migration_id: Option<&str>,
    auto_agree: bool,
) -> Result<MigrationResult> {
    into_error(run_backwards(m, app_name, migration_id, auto_agree, false, false).await)
}
