//! `lint` (SPEC §13): what a migration will lock and rewrite, measured on a scratch database.
//!
//! 1. [`LintPlan::pending`] (or [`LintPlan::every`] for `--all`): which migrations are judged,
//!    and what the scratch database receives first, unjudged: the configured database's
//!    applied migrations in its apply order ([`Replay`]), then the pending migrations of the
//!    apps the selection depends on.
//! 2. [`LintPlan::run`]: on the scratch database, the replay, then each migration in order;
//!    a judged one goes through [`Driver::lint_section`] (the driver measures), whose
//!    observations [`classify`] turns into [`Finding`]s (`classify.rs`: the rules, the same
//!    for every backend).

mod classify;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

pub use classify::{classify, Finding};

use crate::driver::tracking::AppliedMigration;
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::manager::Migrator;
use crate::project::migration::{LintLevel, Migration};
use crate::project::registry::AppRegistry;
use crate::verify::drift::{apply_up, Replay};

/// One migration to run on the scratch database after the replay.
#[derive(Debug, Clone)]
pub struct LintStep {
    /// Its app.
    pub app_name: String,
    /// The migration.
    pub migration: Migration,
    /// Judged (measured and reported), or only applied because a judged one may need it.
    pub judged: bool,
}

/// What `lint` runs on its scratch database.
#[derive(Debug, Clone, Default)]
pub struct LintPlan {
    /// The configured database's applied migrations, replayed first, up only (empty with
    /// `--all`).
    pub replay: Replay,
    /// Then these, in order.
    pub steps: Vec<LintStep>,
}

/// What `lint` found for one judged migration.
#[derive(Debug, Clone)]
pub struct LintedMigration {
    /// The app.
    pub app_name: String,
    /// The migration ID.
    pub migration_id: String,
    /// The migration's main file, if it came from one.
    pub file: Option<PathBuf>,
    /// The findings, in statement order; none means `ok`.
    pub findings: Vec<Finding>,
    /// A statement failed: what the database said, naming the file and line. Nothing after
    /// this migration was run.
    pub failed: Option<String>,
}

impl LintedMigration {
    /// The levels of `deny` that a finding of this migration has and its file does not
    /// accept (`-- ferry:allow`).
    pub fn denied(&self, deny: &[LintLevel]) -> Vec<LintLevel> {
        let mut levels: Vec<LintLevel> = self
            .findings
            .iter()
            .filter(|f| !f.allowed)
            .filter_map(|f| f.level)
            .filter(|l| deny.contains(l))
            .collect();
        levels.sort();
        levels.dedup();
        levels
    }
}

impl LintPlan {
    /// The plan for migrations pending on the configured database: `applied` (its tracking
    /// rows, apply order) replayed from `files` (each app's migrations), then, in dependency
    /// order and ID order, the migrations not applied of `app` (or of every app for `all`),
    /// judged, and of the apps it depends on, not judged. A dirty row or an applied
    /// migration without a file refuses, as `drift` does.
    pub fn pending(
        registry: &AppRegistry,
        applied: &[AppliedMigration],
        files: &HashMap<String, Vec<Migration>>,
        app: &str,
    ) -> Result<LintPlan> {
        let replay = Replay::plan(applied, files)?;
        let done: HashSet<(&str, &str)> = applied
            .iter()
            .map(|r| (r.row.app_name.as_str(), r.row.migration_id.as_str()))
            .collect();
        let mut steps = Vec::new();
        for (name, judged) in selection(registry, app)? {
            for m in files.get(&name).into_iter().flatten() {
                if !done.contains(&(name.as_str(), m.id.as_str())) {
                    steps.push(LintStep {
                        app_name: name.clone(),
                        migration: m.clone(),
                        judged,
                    });
                }
            }
        }
        Ok(LintPlan { replay, steps })
    }

    /// The plan for `--all`: every migration of `app` (or of every app), judged, in
    /// dependency order and ID order, on a scratch database that starts empty (the apps it
    /// depends on get all their migrations first, not judged). The configured database is
    /// not read.
    pub fn every(
        registry: &AppRegistry,
        files: &HashMap<String, Vec<Migration>>,
        app: &str,
    ) -> Result<LintPlan> {
        let mut steps = Vec::new();
        for (name, judged) in selection(registry, app)? {
            for m in files.get(&name).into_iter().flatten() {
                steps.push(LintStep {
                    app_name: name.clone(),
                    migration: m.clone(),
                    judged,
                });
            }
        }
        Ok(LintPlan {
            replay: Replay::default(),
            steps,
        })
    }

    /// How many migrations are judged.
    pub fn judged(&self) -> usize {
        self.steps.iter().filter(|s| s.judged).count()
    }

    /// Run the plan on `scratch` (a scratch database: it is written), under its migration
    /// lock: the replay, then every step, each judged one measured with
    /// [`Driver::lint_section`] and classified. A judged migration whose statement fails is
    /// reported with `failed` and ends the run; an unjudged one that fails is an error.
    pub async fn run(&self, scratch: &mut dyn Driver) -> Result<Vec<LintedMigration>> {
        scratch
            .relax_durability()
            .await
            .map_err(Error::db("preparing the scratch database"))?;
        scratch
            .lock(Migrator::MAX_LOCK_TIMEOUT)
            .await
            .map_err(Error::db("taking the scratch database's migration lock"))?;
        let result = self.run_locked(scratch).await;
        let unlocked = scratch.unlock().await;
        let linted = result?;
        unlocked.map_err(Error::db("releasing the scratch database's lock"))?;
        Ok(linted)
    }

    /// [`LintPlan::run`] under the scratch database's lock (on SQLite a transaction that
    /// spans the run, each migration in a savepoint of it: nothing is synced to disk until
    /// the end).
    async fn run_locked(&self, scratch: &mut dyn Driver) -> Result<Vec<LintedMigration>> {
        self.replay.apply(scratch).await?;
        let mut out = Vec::new();
        // Whether the last thing run on the scratch database was a judged migration that
        // succeeded ([`Driver::lint_section`]'s `continues`).
        let mut continues = false;
        for step in &self.steps {
            if !step.judged {
                continues = false;
                apply_up(scratch, &step.app_name, &step.migration)
                    .await
                    .map_err(|e| {
                        Error::Unsuccessful(format!(
                            "applying a migration the judged ones depend on: {e}"
                        ))
                    })?;
                continue;
            }
            let linted = lint_one(scratch, &step.app_name, &step.migration, continues).await?;
            let stop = linted.failed.is_some();
            continues = !stop;
            out.push(linted);
            if stop {
                break;
            }
        }
        Ok(out)
    }
}

/// The tracking rows of the migrator's (configured) database, every app's, in apply order,
/// read as `check` reads them: without the migration lock (a lint in CI never waits for, nor
/// delays, a run), creating and writing nothing. No tracking table reads as no rows.
pub async fn read_applied(m: &mut Migrator) -> Result<Vec<AppliedMigration>> {
    let exists = m
        .driver
        .table_exists()
        .await
        .map_err(Error::db("reading the tracking table"))?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(m.read_existing_rows(&[]).await?.into_apply_order())
}

/// The apps a run covers, in dependency order, each with whether it is judged: `app` (or
/// every app for `all`), and the apps it depends on, directly or not.
fn selection(registry: &AppRegistry, app: &str) -> Result<Vec<(String, bool)>> {
    let order = registry.dependency_order();
    if app == "all" {
        return Ok(order.iter().map(|a| (a.name.clone(), true)).collect());
    }
    registry.get(app)?;
    let mut needed: HashSet<String> = HashSet::from([app.to_owned()]);
    for a in order.iter().rev() {
        if needed.contains(&a.name) {
            needed.extend(a.depends_on.iter().cloned());
        }
    }
    Ok(order
        .iter()
        .filter(|a| needed.contains(&a.name))
        .map(|a| (a.name.clone(), a.name == app))
        .collect())
}

/// Measure one migration's up section and classify what was seen.
async fn lint_one(
    scratch: &mut dyn Driver,
    app: &str,
    migration: &Migration,
    continues: bool,
) -> Result<LintedMigration> {
    let up = &migration.up;
    let dialect = scratch.capabilities().dialect;
    let parts = crate::sql::split_statements(&up.sql, dialect);
    let statements: Vec<String> = parts.iter().map(|s| s.text.to_owned()).collect();
    let lines: Vec<usize> = parts.iter().map(|s| up.file_line(s.line)).collect();
    let mut linted = LintedMigration {
        app_name: app.to_owned(),
        migration_id: migration.id.clone(),
        file: migration.file().map(std::path::Path::to_path_buf),
        findings: Vec::new(),
        failed: None,
    };
    if statements.is_empty() {
        return Ok(linted);
    }
    let run = scratch
        .lint_section(&statements, up.no_transaction, continues)
        .await
        .map_err(Error::db("measuring a migration on the scratch database"))?;
    linted.findings = classify(&run, &statements, &lines);
    for finding in &mut linted.findings {
        finding.allowed = finding.level.is_some_and(|l| migration.allow.contains(&l));
    }
    if let Some((index, source)) = run.failed {
        let line_in_statement = source.line.unwrap_or(1);
        let error = Error::Execute {
            app: app.to_owned(),
            id: migration.id.clone(),
            file: up.file.clone(),
            line: Some(lines[index] + line_in_statement.saturating_sub(1)),
            source: crate::driver::DriverError {
                line: None,
                ..source
            },
            dirty: false,
        };
        linted.failed = Some(error.to_string());
    }
    Ok(linted)
}
