//! `forwards` (SPEC §5.1): Piccolo's `ForwardsMigrationManager`, `run_forwards` and `forwards`.

use std::time::Instant;

use super::apply::{apply_step, new_row, write_row, Bookkeeping, Next, Stepper};
use super::context::Migrator;
use super::locked::{confirm_and_lock, Locked, Replan};
use super::plan::{self, ForwardsStep};
use super::report::{ConfirmRequest, Direction, Event, MigrationResult, Outcome, PlannedMigration};
use super::target::ForwardsTarget;
use super::{into_error, plural, report_notes, ALL};
use crate::driver::tracking::RowChange;
use crate::error::{Error, Result};
use crate::project::registry::AppConfig;

/// Runs migrations forwards. Piccolo's `ForwardsMigrationManager`.
///
/// ```no_run
/// # async fn demo(migrator: &mut ferry_core::Migrator) -> ferry_core::Result<()> {
/// use ferry_core::ForwardsMigrationManager;
/// let result = ForwardsMigrationManager::new("all").run(migrator).await?;
/// assert!(result.success);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardsMigrationManager {
    /// An app name, or `all`.
    pub app_name: String,
    /// As typed: `None` or `all` (every pending migration), `1` (the first pending one) or a
    /// migration ID (pending ones up to it). See [`ForwardsTarget::parse`].
    pub migration_id: Option<String>,
    /// Record without running the SQL.
    pub fake: bool,
    /// Only report the SQL that would run.
    pub preview: bool,
    /// Do not ask before faking more than one migration.
    pub auto_agree: bool,
    /// Apply every planned migration, with its tracking row, in one transaction: all or
    /// nothing (SPEC §10). Refused on backends without transactional DDL and for a plan with
    /// a `no-transaction` migration.
    pub atomic: bool,
    /// Run what would be applied in one transaction under the lock and always roll it back
    /// (SPEC §10).
    pub rehearse: bool,
}

impl ForwardsMigrationManager {
    /// A manager for `app_name` with the defaults: every pending migration, no fake, no preview.
    pub fn new(app_name: impl Into<String>) -> Self {
        ForwardsMigrationManager {
            app_name: app_name.into(),
            migration_id: None,
            fake: false,
            preview: false,
            auto_agree: false,
            atomic: false,
            rehearse: false,
        }
    }

    /// Run the manager.
    pub async fn run(&self, m: &mut Migrator) -> Result<MigrationResult> {
        let target = ForwardsTarget::parse(&self.app_name, self.migration_id.as_deref())?;
        let one_transaction = (self.atomic || self.rehearse) && !self.preview;
        if one_transaction {
            self.check_one_transaction(m)?;
        }
        let apps = m.select_apps(&self.app_name)?;
        let files = m.load_all(&apps)?;
        // §5.1.11: one app's dependencies, whose pending migrations refuse the run.
        let deps = if self.app_name == ALL {
            Vec::new()
        } else {
            plan::dependencies(&m.registry, &self.app_name)
        };
        let dep_files = m.load_all(&deps)?;
        let read: Vec<AppConfig> = apps.iter().chain(&deps).cloned().collect();
        let rows = if self.preview {
            m.read_rows(&read).await?
        } else {
            m.read_settled_rows(&read).await?
        };
        let policy = m.out_of_order;
        let plan = plan::forwards(&apps, &files, &rows, &target, policy)?;
        report_notes(m, &plan.notes);
        if let Some(stop) = plan.stop() {
            return Ok(stop);
        }
        let pending = plan::pending_dependencies(&deps, &dep_files, &rows);
        if self.preview {
            if !pending.is_empty() {
                m.report(Event::Warning(format!(
                    "`{}` depends on apps with pending migrations: {}; without --preview this run would be refused; run `ferry forwards all`",
                    self.app_name,
                    crate::error::pending_text(&pending)
                )));
            }
            return Ok(preview(m, &plan.steps));
        }
        if !pending.is_empty() {
            return Err(dependencies_pending(&self.app_name, pending));
        }
        if self.atomic {
            refuse_no_transaction(&plan.steps)?;
        }
        let planned: Vec<PlannedMigration> = plan.steps.iter().map(ForwardsStep::planned).collect();
        let request =
            (self.fake && planned.len() > 1 && !self.auto_agree).then(|| ConfirmRequest {
                question: format!("Fake {} migration(s)?", planned.len()),
                items: planned,
            });
        let replan = |_: &_, rows: &_| {
            let plan = plan::forwards(&apps, &files, rows, &target, policy)?;
            let pending = plan::pending_dependencies(&deps, &dep_files, rows);
            if !pending.is_empty() && !plan.steps.is_empty() {
                return Err(dependencies_pending(&self.app_name, pending));
            }
            Ok(plan)
        };
        let locked = confirm_and_lock(
            m,
            request,
            Replan {
                rows_of: &read,
                plan: &replan,
                describe: ForwardsStep::planned,
                changed: "the migration state changed while waiting for confirmation; nothing was recorded; run the command again",
                atomic: one_transaction,
            },
        )
        .await?;
        match locked {
            Locked::Stop(result) => Ok(result),
            Locked::Run(steps) if self.rehearse => {
                let result = self.rehearse(m, steps).await;
                let rolled_back = m.driver.end_atomic(false).await;
                let result = match (result, rolled_back) {
                    (Ok(_), Err(e)) => Err(Error::db("rolling the rehearsal back")(e)),
                    (result, _) => result,
                };
                if result.is_err() {
                    m.report(Event::Notice(
                        "--rehearse: rolled back: nothing was changed".into(),
                    ));
                }
                m.unlock(result).await
            }
            Locked::Run(steps) if self.atomic => {
                let result = async {
                    refuse_no_transaction(&steps)?;
                    self.apply(m, steps).await
                }
                .await;
                let result = match result {
                    Ok(mut done) => match m.driver.end_atomic(true).await {
                        Ok(()) => {
                            let n = done.migrations.len();
                            let verb = if self.fake { "Faked" } else { "Applied" };
                            done.message = Some(format!(
                                "{verb} {n} migration{} in one transaction: committed",
                                plural(n)
                            ));
                            Ok(done)
                        }
                        Err(e) => {
                            m.report(Event::Notice(
                                "--atomic: rolled back: nothing was applied".into(),
                            ));
                            Err(Error::db("committing the run's transaction")(e))
                        }
                    },
                    Err(e) => {
                        let _ = m.driver.end_atomic(false).await;
                        m.report(Event::Notice(
                            "--atomic: rolled back: nothing was applied".into(),
                        ));
                        Err(e)
                    }
                };
                m.unlock(result).await
            }
            Locked::Run(steps) => {
                let result = self.apply(m, steps).await;
                m.unlock(result).await
            }
        }
    }

    /// `--atomic` and `--rehearse` need DDL that rolls back; refuse the flags where it does
    /// not, before anything happens.
    fn check_one_transaction(&self, m: &Migrator) -> Result<()> {
        if self.atomic && self.rehearse {
            return Err(Error::Usage(
                "--atomic and --rehearse cannot be combined: a rehearsal is already one transaction (rolled back)".into(),
            ));
        }
        if self.rehearse && self.fake {
            return Err(Error::Usage(
                "--rehearse and --fake cannot be combined: a rehearsal runs the SQL".into(),
            ));
        }
        if m.driver.capabilities().transactional_ddl {
            return Ok(());
        }
        let backend = m.driver.backend();
        Err(Error::Unsuccessful(if self.rehearse {
            format!("--rehearse is not possible on {backend}: it commits DDL implicitly, so a rehearsal could change the database; nothing was changed. Use `ferry verify` to try the migrations on a scratch database")
        } else {
            format!("--atomic is not possible on {backend}: it commits DDL implicitly, so the migrations cannot run in one transaction; nothing was changed. Run without --atomic")
        }))
    }

    /// SPEC §10 `--rehearse`: run each step in the run-wide transaction (rolled back by the
    /// caller), reporting each; a `no-transaction` migration is skipped and ends its app's
    /// rehearsal; the first failure stops it all.
    async fn rehearse(
        &self,
        m: &mut Migrator,
        steps: Vec<ForwardsStep>,
    ) -> Result<MigrationResult> {
        let mut result = MigrationResult::new(Outcome::Done, "");
        let mut stopped_apps: Vec<String> = Vec::new();
        for step in steps {
            let p = step.planned();
            if stopped_apps.contains(&p.app_name) {
                m.report(Event::Skipped {
                    migration: &p,
                    reason: "follows a no-transaction migration",
                });
                continue;
            }
            if step.migration.up.no_transaction {
                m.report(Event::Skipped {
                    migration: &p,
                    reason: "no-transaction",
                });
                stopped_apps.push(p.app_name.clone());
                continue;
            }
            m.report(Event::Started {
                migration: &p,
                direction: Direction::Forwards,
            });
            let started = Instant::now();
            let row = new_row(&step.app, &step.migration);
            apply_step(
                m.driver.as_mut(),
                &p,
                &step.migration.up,
                Bookkeeping::Record(row),
            )
            .await?;
            m.report(Event::Rehearsed {
                migration: &p,
                elapsed: started.elapsed(),
            });
            result.migrations.push(p);
        }
        let n = result.migrations.len();
        result.message = Some(format!(
            "Rehearsal: {n} migration{} would apply; nothing was changed (the transaction was rolled back)",
            plural(n)
        ));
        Ok(result)
    }

    /// Apply (or fake) the steps in order, stopping at the first failure (SPEC §5.1.7).
    async fn apply(&self, m: &mut Migrator, steps: Vec<ForwardsStep>) -> Result<MigrationResult> {
        let mut stepper = Stepper::default();
        let result = self.apply_with(m, &mut stepper, steps).await;
        stepper.finish_after(m.driver.as_mut(), result).await
    }

    async fn apply_with(
        &self,
        m: &mut Migrator,
        stepper: &mut Stepper,
        steps: Vec<ForwardsStep>,
    ) -> Result<MigrationResult> {
        let mut result = MigrationResult::new(Outcome::Done, "");
        for (i, step) in steps.iter().enumerate() {
            m.check_stop()?;
            let p = step.planned();
            m.report(Event::Started {
                migration: &p,
                direction: Direction::Forwards,
            });
            let started = Instant::now();
            let row = new_row(&step.app, &step.migration);
            if self.fake {
                let context = format!("recording migration {} {}", p.app_name, p.migration_id);
                write_row(m.driver.as_mut(), &RowChange::Insert(row), context).await?;
            } else {
                let up = &step.migration.up;
                let next = steps.get(i + 1).map(|s| Next {
                    planned: s.planned(),
                    app: &s.app,
                    migration: &s.migration,
                });
                let row = Bookkeeping::Record(row);
                stepper
                    .step(m.driver.as_mut(), &p, up, row, next.as_ref())
                    .await?;
            }
            if self.atomic && !self.fake {
                // §16.6: applied only once the run's transaction commits.
                m.report(Event::Ran {
                    migration: &p,
                    elapsed: started.elapsed(),
                });
            } else {
                m.report(Event::Finished {
                    migration: &p,
                    direction: Direction::Forwards,
                    elapsed: started.elapsed(),
                    faked: self.fake,
                });
            }
            result.migrations.push(p);
        }
        let n = result.migrations.len();
        let verb = if self.fake { "Faked" } else { "Applied" };
        result.message = Some(format!("{verb} {n} migration{}", plural(n)));
        Ok(result)
    }
}

/// SPEC §5.1.11: the refusal for one app whose dependencies have pending migrations.
fn dependencies_pending(app: &str, pending: Vec<(String, usize)>) -> Error {
    Error::DependenciesPending {
        app: app.to_owned(),
        pending,
    }
}

/// `--atomic` runs every step in one transaction: a `no-transaction` step cannot be in it.
fn refuse_no_transaction(steps: &[ForwardsStep]) -> Result<()> {
    match steps.iter().find(|s| s.migration.up.no_transaction) {
        Some(step) => Err(Error::Unsuccessful(format!(
            "--atomic cannot include migration {} {}{}: it is marked no-transaction; nothing was changed. Apply the migrations before it with --atomic up to the one before, then this one on its own",
            step.app,
            step.migration.id,
            step.migration
                .file()
                .map(|f| format!(" ({})", f.display()))
                .unwrap_or_default()
        ))),
        None => Ok(()),
    }
}

/// SPEC §5.1.9: report the SQL that would run; nothing is written.
fn preview(m: &Migrator, steps: &[ForwardsStep]) -> MigrationResult {
    let mut result = MigrationResult::new(Outcome::Preview, "preview only: nothing was run");
    for step in steps {
        let p = step.planned();
        m.report(Event::Preview {
            migration: &p,
            direction: Direction::Forwards,
            sql: &step.migration.up.sql,
        });
        result.migrations.push(p);
    }
    result
}

/// Run migrations forwards: Piccolo's `run_forwards`. `migration_id` as typed; `None` means
/// Piccolo's default, `all`.
pub async fn run_forwards(
    m: &mut Migrator,
    app_name: &str,
    migration_id: Option<&str>,
    fake: bool,
    preview: bool,
) -> Result<MigrationResult> {
    ForwardsMigrationManager {
        app_name: app_name.to_owned(),
        migration_id: migration_id.map(str::to_owned),
        fake,
        preview,
        auto_agree: false,
        atomic: false,
        rehearse: false,
    }
    .run(m)
    .await
}

/// Run every pending migration of `app_name` (or of every app, for `all`), turning an
/// unsuccessful result into [`crate::Error::Unsuccessful`]: Piccolo's `forwards` command.
///
/// ```no_run
/// # async fn demo(migrator: &mut ferry_core::Migrator) -> ferry_core::Result<()> {
/// ferry_core::forwards(migrator, "all").await?;
/// # Ok(()) }
/// ```
pub async fn forwards(m: &mut Migrator, app_name: &str) -> Result<MigrationResult> {
    into_error(run_forwards(m, app_name, None, false, false).await)
}
