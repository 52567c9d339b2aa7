//! The managers: planning and running forwards, backwards, check, clean and resolve.
//!
//! Every writing command follows the same shape:
//! 1. read the migration files of the apps involved (file errors stop everything here);
//! 2. read the tracking rows without writing anything (a missing table reads as empty);
//! 3. plan, refusing unsafe plans before any change;
//! 4. `preview` prints the plan and stops; otherwise ask for confirmation where needed;
//! 5. take the migration lock, create the tracking table if needed, read the rows again and
//!    plan again under the lock, then run the plan and release the lock on every path.
//!
//! Step 5's re-read is what makes N concurrent runs apply each migration exactly once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{AppConfig, AppRegistry};
use crate::driver::{AppliedMigration, Driver, NewRow, RowChange};
use crate::error::{Error, Result};
use crate::migration::{compare_ids, Migration, Section};
use crate::sql;

/// Which way a migration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Applying the up section.
    Forwards,
    /// Applying the down section.
    Backwards,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Forwards => "forwards",
            Direction::Backwards => "backwards",
        })
    }
}

/// A migration named in a plan, a prompt or a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedMigration {
    /// The app.
    pub app_name: String,
    /// The migration ID.
    pub migration_id: String,
    /// The description.
    pub description: String,
}

/// What a confirmation prompt is about.
#[derive(Debug, Clone)]
pub struct ConfirmRequest {
    /// The question, e.g. `Reverse 2 migration(s)?`.
    pub question: String,
    /// The migrations concerned, in the order they would run.
    pub items: Vec<PlannedMigration>,
}

/// Asks the user to confirm a plan. The CLI's implementation reads the terminal; core never
/// touches stdin or stdout.
pub trait Confirm: Send + Sync {
    /// `Ok(true)` to proceed, `Ok(false)` when declined, `Err` when no answer can be had
    /// (e.g. [`Error::ConfirmationUnavailable`] when stdin is not a terminal).
    fn confirm(&self, request: &ConfirmRequest) -> Result<bool>;
}

/// A [`Confirm`] that cannot ask: every confirmation fails with
/// [`Error::ConfirmationUnavailable`]. The default of [`Migrator`]: pass `auto_agree` to
/// commands that would prompt.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConfirm;

impl Confirm for NoConfirm {
    fn confirm(&self, _: &ConfirmRequest) -> Result<bool> {
        Err(Error::ConfirmationUnavailable(
            "confirmation needed but no prompt is available; pass auto_agree (`-y`) to proceed"
                .into(),
        ))
    }
}

/// Progress and diagnostics from a run. Rendering is the caller's business.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A migration is about to run.
    Started {
        /// The migration.
        migration: &'a PlannedMigration,
        /// Which way.
        direction: Direction,
    },
    /// A migration finished successfully.
    Finished {
        /// The migration.
        migration: &'a PlannedMigration,
        /// Which way.
        direction: Direction,
        /// How long it took.
        elapsed: Duration,
        /// Recorded without running its SQL (`--fake`).
        faked: bool,
    },
    /// The SQL that would run (`--preview`).
    Preview {
        /// The migration.
        migration: &'a PlannedMigration,
        /// Which way.
        direction: Direction,
        /// The SQL.
        sql: &'a str,
    },
    /// A tracking row `clean` would forget (`--preview`).
    PreviewForget {
        /// The migration.
        migration: &'a PlannedMigration,
    },
    /// Something the user should know but that does not stop the run.
    Warning(String),
    /// Information.
    Notice(String),
    /// A file was deleted by `--clean`.
    Deleted(&'a Path),
}

/// Receives [`Event`]s.
pub trait Reporter: Send + Sync {
    /// Handle one event.
    fn report(&self, event: Event<'_>);
}

/// A [`Reporter`] that drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullReporter;

impl Reporter for NullReporter {
    fn report(&self, _: Event<'_>) {}
}

/// The outcome of a command, as in Piccolo: `success` is false for a declined prompt or an
/// unknown ID; infrastructure failures are `Err` instead.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MigrationResult {
    /// Whether the command did what was asked (or found nothing to do).
    pub success: bool,
    /// A message for the user.
    pub message: Option<String>,
    /// The migrations run, reversed, faked or forgotten, in order.
    pub migrations: Vec<PlannedMigration>,
}

impl MigrationResult {
    fn ok(message: impl Into<String>) -> Self {
        MigrationResult {
            success: true,
            message: Some(message.into()),
            migrations: Vec::new(),
        }
    }

    fn failed(message: impl Into<String>) -> Self {
        MigrationResult {
            success: false,
            message: Some(message.into()),
            migrations: Vec::new(),
        }
    }
}

/// The status of one migration, as `ferry check` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Applied, and the file's up section is unchanged.
    Applied,
    /// A file with no tracking row.
    Pending,
    /// Applied, but the file's up section has changed since.
    Changed,
    /// Applied, but the file is gone.
    Missing,
    /// Left dirty by a run that failed outside a transaction.
    Dirty,
}

impl Status {
    /// The status as the lower-case word used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::Pending => "pending",
            Status::Changed => "changed",
            Status::Missing => "missing",
            Status::Dirty => "dirty",
        }
    }
}

/// One row of `ferry check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    /// The app.
    pub app_name: String,
    /// The migration ID.
    pub migration_id: String,
    /// The description (from the file, else from the tracking row).
    pub description: String,
    /// True for `applied`, `changed`, `missing` and `dirty`.
    pub has_ran: bool,
    /// The status.
    pub status: Status,
    /// When it was applied (UTC), if it was.
    pub applied_at: Option<DateTime<Utc>>,
}

/// The context every manager runs in: the apps, a database connection, and how to ask and
/// report.
pub struct Migrator {
    registry: AppRegistry,
    driver: Box<dyn Driver>,
    lock_timeout: Duration,
    confirm: Box<dyn Confirm>,
    reporter: Box<dyn Reporter>,
}

impl std::fmt::Debug for Migrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrator")
            .field("registry", &self.registry)
            .field("backend", &self.driver.backend())
            .field("lock_timeout", &self.lock_timeout)
            .finish_non_exhaustive()
    }
}

impl Migrator {
    /// A migrator over `registry` and `driver`, with a 60 s lock timeout, no prompt
    /// ([`NoConfirm`]) and no reporting ([`NullReporter`]).
    pub fn new(registry: AppRegistry, driver: Box<dyn Driver>) -> Self {
        Migrator {
            registry,
            driver,
            lock_timeout: Duration::from_secs(60),
            confirm: Box::new(NoConfirm),
            reporter: Box::new(NullReporter),
        }
    }

    /// How long to wait for the migration lock.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How to ask for confirmation.
    pub fn with_confirm(mut self, confirm: impl Confirm + 'static) -> Self {
        self.confirm = Box::new(confirm);
        self
    }

    /// Where progress goes.
    pub fn with_reporter(mut self, reporter: impl Reporter + 'static) -> Self {
        self.reporter = Box::new(reporter);
        self
    }

    /// The apps.
    pub fn registry(&self) -> &AppRegistry {
        &self.registry
    }

    /// The driver.
    pub fn driver_mut(&mut self) -> &mut dyn Driver {
        self.driver.as_mut()
    }

    fn report(&self, event: Event<'_>) {
        self.reporter.report(event);
    }

    /// The apps a command names: one app, or every app in dependency order for `all`.
    fn select_apps(&self, app_name: &str, migration_id: Option<&str>) -> Result<Vec<AppConfig>> {
        if app_name == "all" {
            if let Some(id) = migration_id {
                if id != "all" {
                    return Err(Error::Usage(format!(
                        "a migration ID cannot be given with app `all` (got `{id}`); omit it, or name one app"
                    )));
                }
            }
            Ok(self
                .registry
                .dependency_order()
                .into_iter()
                .cloned()
                .collect())
        } else {
            Ok(vec![self.registry.get(app_name)?.clone()])
        }
    }

    /// Read tracking rows without writing: a missing table reads as no rows.
    async fn read_rows(
        &mut self,
        apps: &[AppConfig],
    ) -> Result<HashMap<String, Vec<AppliedMigration>>> {
        let exists = self
            .driver
            .table_exists()
            .await
            .map_err(Error::db("reading the tracking table"))?;
        if !exists {
            return Ok(HashMap::new());
        }
        self.read_existing_rows(apps).await
    }

    /// Read tracking rows without writing, as [`Migrator::read_rows`], but when a row is
    /// dirty, look again under the migration lock: a row that is dirty only because another
    /// run is applying that migration right now is not a failure, and must not refuse this run.
    async fn read_settled_rows(
        &mut self,
        apps: &[AppConfig],
    ) -> Result<HashMap<String, Vec<AppliedMigration>>> {
        let rows = self.read_rows(apps).await?;
        if !rows.values().flatten().any(|r| r.dirty) {
            return Ok(rows);
        }
        self.lock().await?;
        let settled = self.read_existing_rows(apps).await;
        let unlocked = self.driver.unlock().await;
        let settled = settled?;
        unlocked.map_err(Error::db("releasing the migration lock"))?;
        Ok(settled)
    }

    async fn read_existing_rows(
        &mut self,
        apps: &[AppConfig],
    ) -> Result<HashMap<String, Vec<AppliedMigration>>> {
        let filter = match apps {
            [one] => Some(one.name.as_str()),
            _ => None,
        };
        let rows = self
            .driver
            .applied(filter)
            .await
            .map_err(Error::db("reading the tracking table"))?;
        let mut by_app: HashMap<String, Vec<AppliedMigration>> = HashMap::new();
        for row in rows {
            by_app.entry(row.app_name.clone()).or_default().push(row);
        }
        Ok(by_app)
    }

    /// Take the lock and make sure the tracking table exists.
    async fn lock(&mut self) -> Result<()> {
        self.driver
            .lock(self.lock_timeout)
            .await
            .map_err(Error::db("taking the migration lock"))?;
        if let Err(e) = self.driver.ensure_table().await {
            let _ = self.driver.unlock().await;
            return Err(Error::db("creating the tracking table")(e));
        }
        Ok(())
    }

    async fn unlock(&mut self, result: Result<MigrationResult>) -> Result<MigrationResult> {
        let unlocked = self.driver.unlock().await;
        match (result, unlocked) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(Error::db("releasing the migration lock")(e)),
            (Ok(r), Ok(())) => Ok(r),
        }
    }

    fn transactional(&self, section: &Section) -> bool {
        let caps = self.driver.capabilities();
        !section.no_transaction
            && (caps.transactional_ddl || sql::is_dml_only(&section.sql, caps.dialect))
    }

    fn is_blank(&self, section: &Section) -> bool {
        sql::is_blank(&section.sql, self.driver.capabilities().dialect)
    }

    /// Run one section with its row change: in one transaction where possible, otherwise
    /// under the dirty protocol (`before` written first, `after` on success).
    async fn run_section(
        &mut self,
        planned: &PlannedMigration,
        section: &Section,
        in_tx: RowChange,
        before: RowChange,
        after: RowChange,
    ) -> Result<()> {
        let exec_err = |dirty: bool| {
            move |source: crate::DriverError| Error::Execute {
                app: planned.app_name.clone(),
                id: planned.migration_id.clone(),
                file: section.file.clone(),
                line: source.line.map(|l| section.file_line(l)),
                source,
                dirty,
            }
        };
        if self.is_blank(section) {
            return self.driver.write(&in_tx).await.map_err(Error::db(format!(
                "recording migration {} {}",
                planned.app_name, planned.migration_id
            )));
        }
        if self.transactional(section) {
            return self
                .driver
                .execute_in_transaction(&section.sql, &in_tx)
                .await
                .map_err(exec_err(false));
        }
        let context = format!(
            "recording migration {} {}",
            planned.app_name, planned.migration_id
        );
        self.driver
            .write(&before)
            .await
            .map_err(Error::db(context.clone()))?;
        let started = Instant::now();
        self.driver
            .execute(&section.sql, section.no_transaction)
            .await
            .map_err(exec_err(true))?;
        // Clearing a forwards row records how long the SQL took.
        let after = match after {
            RowChange::MarkClean {
                app_name,
                migration_id,
                duration_ms: None,
            } => RowChange::MarkClean {
                app_name,
                migration_id,
                duration_ms: Some(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)),
            },
            other => other,
        };
        self.driver.write(&after).await.map_err(Error::db(context))
    }
}

fn planned(app: &str, id: &str, description: &str) -> PlannedMigration {
    PlannedMigration {
        app_name: app.to_owned(),
        migration_id: id.to_owned(),
        description: description.to_owned(),
    }
}

impl Migrator {
    /// Read every app's migrations (file errors stop everything), warning about apps whose
    /// folder does not exist.
    fn load_all(&self, apps: &[AppConfig]) -> Result<Vec<Vec<Migration>>> {
        for app in apps {
            if let Some(dir) = app.migrations_dir.as_deref().filter(|d| !d.exists()) {
                self.report(Event::Warning(format!(
                    "the migrations folder of app `{}` does not exist: {}; it has no migrations (create it, or run `ferry new {} <description>`)",
                    app.name,
                    dir.display(),
                    app.name
                )));
            }
        }
        apps.iter().map(AppConfig::migrations).collect()
    }
}

fn find_dirty(app: &str, rows: &[AppliedMigration]) -> Result<()> {
    match rows.iter().find(|r| r.dirty) {
        Some(r) => Err(Error::Dirty {
            app: app.to_owned(),
            id: r.migration_id.clone(),
        }),
        None => Ok(()),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

// ---------------------------------------------------------------------------------------------
// forwards

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
    /// `all` (default), `1` (the first pending one) or a migration ID (pending ones up to it).
    pub migration_id: String,
    /// Record without running the SQL.
    pub fake: bool,
    /// Only report the SQL that would run.
    pub preview: bool,
    /// Do not ask before faking more than one migration.
    pub auto_agree: bool,
}

enum ForwardsPlan {
    Run(Vec<Migration>),
    AlreadyApplied(String),
    UnknownId(String),
    Nothing,
}

impl ForwardsMigrationManager {
    /// A manager for `app_name` with the defaults: every pending migration, no fake, no preview.
    pub fn new(app_name: impl Into<String>) -> Self {
        ForwardsMigrationManager {
            app_name: app_name.into(),
            migration_id: "all".into(),
            fake: false,
            preview: false,
            auto_agree: false,
        }
    }

    /// Run the manager.
    pub async fn run(&self, m: &mut Migrator) -> Result<MigrationResult> {
        let id = (self.migration_id != "all").then_some(self.migration_id.as_str());
        let apps = m.select_apps(&self.app_name, id)?;
        let files = m.load_all(&apps)?;

        let rows = if self.preview {
            m.read_rows(&apps).await?
        } else {
            m.read_settled_rows(&apps).await?
        };
        let plans = self.plan(m, &apps, &files, &rows, true)?;
        if let Some(result) = outcome_without_run(&plans) {
            return Ok(result);
        }
        if self.preview {
            let mut result = MigrationResult::ok("preview only: nothing was run");
            for (app, plan) in apps.iter().zip(&plans) {
                if let ForwardsPlan::Run(list) = plan {
                    for mig in list {
                        let p = planned(&app.name, &mig.id, &mig.description);
                        m.report(Event::Preview {
                            migration: &p,
                            direction: Direction::Forwards,
                            sql: &mig.up.sql,
                        });
                        result.migrations.push(p);
                    }
                }
            }
            return Ok(result);
        }
        let first: Vec<PlannedMigration> = planned_list(&apps, &plans);
        if self.fake && first.len() > 1 && !self.auto_agree {
            let request = ConfirmRequest {
                question: format!("Fake {} migration(s)?", first.len()),
                items: first.clone(),
            };
            if !m.confirm.confirm(&request)? {
                return Ok(MigrationResult::failed("Not proceeding."));
            }
        }

        m.lock().await?;
        let result = self.run_locked(m, &apps, &files, &first).await;
        m.unlock(result).await
    }

    async fn run_locked(
        &self,
        m: &mut Migrator,
        apps: &[AppConfig],
        files: &[Vec<Migration>],
        confirmed: &[PlannedMigration],
    ) -> Result<MigrationResult> {
        let rows = m.read_existing_rows(apps).await?;
        let plans = self.plan(m, apps, files, &rows, false)?;
        if let Some(result) = outcome_without_run(&plans) {
            return Ok(result);
        }
        let now_planned = planned_list(apps, &plans);
        if self.fake && confirmed.len() > 1 && !self.auto_agree && now_planned != confirmed {
            return Err(Error::Unsuccessful(
                "the migration state changed while waiting for confirmation; nothing was recorded; run the command again".into(),
            ));
        }
        let mut result = MigrationResult {
            success: true,
            message: None,
            migrations: Vec::new(),
        };
        for (app, plan) in apps.iter().zip(plans) {
            let ForwardsPlan::Run(list) = plan else {
                continue;
            };
            for mig in list {
                let p = planned(&app.name, &mig.id, &mig.description);
                m.report(Event::Started {
                    migration: &p,
                    direction: Direction::Forwards,
                });
                let started = Instant::now();
                let row = |dirty: bool, duration_ms: i64| {
                    RowChange::Insert(NewRow {
                        app_name: app.name.clone(),
                        migration_id: mig.id.clone(),
                        description: mig.description.clone(),
                        checksum: mig.checksum.clone(),
                        down_sql: mig.down.as_ref().map(|d| d.sql.clone()),
                        applied_at: Utc::now(),
                        duration_ms,
                        dirty,
                    })
                };
                if self.fake {
                    m.driver
                        .write(&row(false, 0))
                        .await
                        .map_err(Error::db(format!(
                            "recording migration {} {}",
                            app.name, mig.id
                        )))?;
                } else {
                    let clean = RowChange::MarkClean {
                        app_name: app.name.clone(),
                        migration_id: mig.id.clone(),
                        duration_ms: None,
                    };
                    m.run_section(&p, &mig.up, row(false, 0), row(true, 0), clean)
                        .await?;
                }
                m.report(Event::Finished {
                    migration: &p,
                    direction: Direction::Forwards,
                    elapsed: started.elapsed(),
                    faked: self.fake,
                });
                result.migrations.push(p);
            }
        }
        let n = result.migrations.len();
        result.message = Some(if self.fake {
            format!("Faked {n} migration{}", plural(n))
        } else {
            format!("Applied {n} migration{}", plural(n))
        });
        Ok(result)
    }

    fn plan(
        &self,
        m: &Migrator,
        apps: &[AppConfig],
        files: &[Vec<Migration>],
        rows: &HashMap<String, Vec<AppliedMigration>>,
        warn: bool,
    ) -> Result<Vec<ForwardsPlan>> {
        let empty = Vec::new();
        let mut plans = Vec::new();
        for (app, files) in apps.iter().zip(files) {
            let rows = rows.get(&app.name).unwrap_or(&empty);
            find_dirty(&app.name, rows)?;
            let applied = |id: &str| {
                rows.iter()
                    .any(|r| compare_ids(&r.migration_id, id).is_eq())
            };
            if warn {
                for mig in files {
                    if let Some(row) = rows
                        .iter()
                        .find(|r| compare_ids(&r.migration_id, &mig.id).is_eq())
                    {
                        if row.checksum != mig.checksum {
                            m.report(Event::Warning(format!(
                                "migration {} {} was changed after it was applied (checksum differs); the change will not be run{}",
                                app.name,
                                mig.id,
                                mig.file().map(|f| format!(": {}", f.display())).unwrap_or_default()
                            )));
                        }
                    }
                }
            }
            let pending: Vec<&Migration> = files.iter().filter(|f| !applied(&f.id)).collect();
            let chosen: Vec<&Migration> = match self.migration_id.as_str() {
                "all" => pending,
                "1" => pending.into_iter().take(1).collect(),
                id => {
                    if applied(id) {
                        plans.push(ForwardsPlan::AlreadyApplied(id.to_owned()));
                        continue;
                    }
                    if !files.iter().any(|f| compare_ids(&f.id, id).is_eq()) {
                        plans.push(ForwardsPlan::UnknownId(format!(
                            "migration ID {id} is not a migration of app `{}`; run `ferry check {}` to see its migrations",
                            app.name, app.name
                        )));
                        continue;
                    }
                    pending
                        .into_iter()
                        .filter(|f| compare_ids(&f.id, id).is_le())
                        .collect()
                }
            };
            if chosen.is_empty() {
                plans.push(ForwardsPlan::Nothing);
                continue;
            }
            if warn {
                if let Some(highest) = rows
                    .iter()
                    .map(|r| r.migration_id.as_str())
                    .max_by(|a, b| compare_ids(a, b))
                {
                    for mig in &chosen {
                        if compare_ids(&mig.id, highest).is_lt() {
                            m.report(Event::Warning(format!(
                                "migration {} {} is out of order: it is older than {}, which is already applied",
                                app.name, mig.id, highest
                            )));
                        }
                    }
                }
            }
            plans.push(ForwardsPlan::Run(chosen.into_iter().cloned().collect()));
        }
        Ok(plans)
    }
}

fn planned_list(apps: &[AppConfig], plans: &[ForwardsPlan]) -> Vec<PlannedMigration> {
    apps.iter()
        .zip(plans)
        .flat_map(|(app, plan)| match plan {
            ForwardsPlan::Run(list) => list
                .iter()
                .map(|mig| planned(&app.name, &mig.id, &mig.description))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn outcome_without_run(plans: &[ForwardsPlan]) -> Option<MigrationResult> {
    if plans.iter().any(|p| matches!(p, ForwardsPlan::Run(_))) {
        return None;
    }
    for plan in plans {
        match plan {
            ForwardsPlan::UnknownId(message) => return Some(MigrationResult::failed(message)),
            ForwardsPlan::AlreadyApplied(id) => {
                return Some(MigrationResult::ok(format!(
                    "Migration {id} is already applied; nothing to do"
                )))
            }
            _ => {}
        }
    }
    Some(MigrationResult::ok("No migrations need to be run"))
}

/// Run migrations forwards: Piccolo's `run_forwards`. `migration_id` is `all` by default.
pub async fn run_forwards(
    m: &mut Migrator,
    app_name: &str,
    migration_id: &str,
    fake: bool,
    preview: bool,
) -> Result<MigrationResult> {
    ForwardsMigrationManager {
        app_name: app_name.to_owned(),
        migration_id: migration_id.to_owned(),
        fake,
        preview,
        auto_agree: false,
    }
    .run(m)
    .await
}

/// Run every pending migration of `app_name` (or of every app, for `all`), turning an
/// unsuccessful result into [`Error::Unsuccessful`]: Piccolo's `forwards` command.
///
/// ```no_run
/// # async fn demo(migrator: &mut ferry_core::Migrator) -> ferry_core::Result<()> {
/// ferry_core::forwards(migrator, "all").await?;
/// # Ok(()) }
/// ```
pub async fn forwards(m: &mut Migrator, app_name: &str) -> Result<MigrationResult> {
    into_error(run_forwards(m, app_name, "all", false, false).await)
}

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

// ---------------------------------------------------------------------------------------------
// backwards

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
    /// `1` (default: the most recently applied), `all`, or an applied ID (it and everything
    /// applied after it).
    pub migration_id: String,
    /// Do not ask for confirmation.
    pub auto_agree: bool,
    /// Delete the reversed migrations' files.
    pub clean: bool,
    /// Only report the SQL that would run.
    pub preview: bool,
}

#[derive(Debug, Clone)]
struct BackStep {
    planned: PlannedMigration,
    down: Section,
    files: Vec<PathBuf>,
    dir: Option<PathBuf>,
}

enum BackwardsPlan {
    Run(Vec<BackStep>),
    NotApplied(String),
    Nothing,
}

impl BackwardsMigrationManager {
    /// A manager for `app_name` with the defaults: reverse the last migration, ask first.
    pub fn new(app_name: impl Into<String>) -> Self {
        BackwardsMigrationManager {
            app_name: app_name.into(),
            migration_id: "1".into(),
            auto_agree: false,
            clean: false,
            preview: false,
        }
    }

    /// Run the manager over every app it names.
    pub async fn run(&self, m: &mut Migrator) -> Result<MigrationResult> {
        // With app `all`, the default `1` and `all` both mean every applied migration of
        // every app, as in Piccolo; any other ID is a usage error.
        let id = match (self.app_name == "all", self.migration_id.as_str()) {
            (true, "1") | (true, "all") | (false, _) => None,
            (true, other) => Some(other),
        };
        let apps = m.select_apps(&self.app_name, id)?;
        self.run_apps(m, apps).await
    }

    /// Reverse migrations of one app: Piccolo's `run_migrations_backwards(app_config)`.
    pub async fn run_migrations_backwards(
        &self,
        m: &mut Migrator,
        app_config: &AppConfig,
    ) -> Result<MigrationResult> {
        self.run_apps(m, vec![app_config.clone()]).await
    }

    async fn run_apps(&self, m: &mut Migrator, apps: Vec<AppConfig>) -> Result<MigrationResult> {
        let all_apps = self.app_name == "all";
        let migration_id = if all_apps {
            "all"
        } else {
            self.migration_id.as_str()
        };
        // Reverse dependency order.
        let apps: Vec<AppConfig> = apps.into_iter().rev().collect();
        let files = m.load_all(&apps)?;
        let every_app: Vec<AppConfig> = m.registry.apps().to_vec();

        let rows = if self.preview {
            m.read_rows(&every_app).await?
        } else {
            m.read_settled_rows(&every_app).await?
        };
        let plan = self.plan(m, &apps, &files, &rows, migration_id, true)?;
        let steps = match plan {
            Ok(steps) => steps,
            Err(result) => return Ok(result),
        };
        if self.clean {
            check_deletable(&steps)?;
        }
        if self.preview {
            let mut result = MigrationResult::ok("preview only: nothing was changed");
            for step in &steps {
                m.report(Event::Preview {
                    migration: &step.planned,
                    direction: Direction::Backwards,
                    sql: &step.down.sql,
                });
                result.migrations.push(step.planned.clone());
            }
            return Ok(result);
        }
        let confirmed: Vec<PlannedMigration> = steps.iter().map(|s| s.planned.clone()).collect();
        if !self.auto_agree {
            let request = ConfirmRequest {
                question: format!("Reverse {} migration(s)?", confirmed.len()),
                items: confirmed.clone(),
            };
            if !m.confirm.confirm(&request)? {
                return Ok(MigrationResult::failed("Not proceeding."));
            }
        }
        m.lock().await?;
        let result = self
            .run_locked(m, &apps, &files, &every_app, migration_id, &confirmed)
            .await;
        m.unlock(result).await
    }

    async fn run_locked(
        &self,
        m: &mut Migrator,
        apps: &[AppConfig],
        files: &[Vec<Migration>],
        every_app: &[AppConfig],
        migration_id: &str,
        confirmed: &[PlannedMigration],
    ) -> Result<MigrationResult> {
        let rows = m.read_existing_rows(every_app).await?;
        let steps = match self.plan(m, apps, files, &rows, migration_id, false)? {
            Ok(steps) => steps,
            Err(result) => return Ok(result),
        };
        // What the user agreed to must be what runs. Without a prompt (`auto_agree`), the plan
        // made under the lock is the one to run (another run may have reversed some already).
        let now: Vec<PlannedMigration> = steps.iter().map(|s| s.planned.clone()).collect();
        if !self.auto_agree && now != confirmed {
            return Err(Error::Unsuccessful(
                "the applied migrations changed while waiting for confirmation; nothing was reversed; run the command again".into(),
            ));
        }
        if self.clean {
            check_deletable(&steps)?;
        }
        let mut result = MigrationResult {
            success: true,
            message: None,
            migrations: Vec::new(),
        };
        for step in steps {
            let p = &step.planned;
            m.report(Event::Started {
                migration: p,
                direction: Direction::Backwards,
            });
            let started = Instant::now();
            let delete = RowChange::Delete {
                app_name: p.app_name.clone(),
                migration_id: p.migration_id.clone(),
            };
            let dirty = RowChange::MarkDirty {
                app_name: p.app_name.clone(),
                migration_id: p.migration_id.clone(),
            };
            m.run_section(p, &step.down, delete.clone(), dirty, delete)
                .await?;
            m.report(Event::Finished {
                migration: p,
                direction: Direction::Backwards,
                elapsed: started.elapsed(),
                faked: false,
            });
            if self.clean {
                for file in &step.files {
                    std::fs::remove_file(file).map_err(|source| Error::Io {
                        path: file.clone(),
                        source,
                    })?;
                    m.report(Event::Deleted(file));
                }
            }
            result.migrations.push(step.planned.clone());
        }
        let n = result.migrations.len();
        result.message = Some(format!("Reversed {n} migration{}", plural(n)));
        Ok(result)
    }

    #[allow(clippy::type_complexity)]
    fn plan(
        &self,
        m: &Migrator,
        apps: &[AppConfig],
        files: &[Vec<Migration>],
        rows: &HashMap<String, Vec<AppliedMigration>>,
        migration_id: &str,
        notify: bool,
    ) -> Result<std::result::Result<Vec<BackStep>, MigrationResult>> {
        let empty = Vec::new();
        let mut plans = Vec::new();
        for (app, files) in apps.iter().zip(files) {
            let rows = rows.get(&app.name).unwrap_or(&empty);
            if rows.is_empty() {
                plans.push(BackwardsPlan::Nothing);
                continue;
            }
            find_dirty(&app.name, rows)?;
            let selected: &[AppliedMigration] = match migration_id {
                "all" => rows,
                "1" => &rows[rows.len() - 1..],
                id => match rows
                    .iter()
                    .position(|r| compare_ids(&r.migration_id, id).is_eq())
                {
                    Some(pos) => &rows[pos..],
                    None => {
                        let ids: Vec<&str> = rows.iter().map(|r| r.migration_id.as_str()).collect();
                        plans.push(BackwardsPlan::NotApplied(format!(
                            "migration {id} of app `{}` is not applied; applied IDs: {}",
                            app.name,
                            ids.join(", ")
                        )));
                        continue;
                    }
                },
            };
            let mut steps = Vec::new();
            for row in selected.iter().rev() {
                let file = files
                    .iter()
                    .find(|f| compare_ids(&f.id, &row.migration_id).is_eq());
                let down = match file {
                    Some(f) => f.down.clone(),
                    None => {
                        if row.down_sql.is_some() && notify {
                            m.report(Event::Notice(format!(
                                "the file of migration {} {} is gone; using the down SQL stored when it was applied",
                                app.name, row.migration_id
                            )));
                        }
                        row.down_sql.clone().map(Section::new)
                    }
                };
                let Some(down) = down else {
                    return Err(Error::Irreversible {
                        app: app.name.clone(),
                        id: row.migration_id.clone(),
                    });
                };
                steps.push(BackStep {
                    planned: planned(
                        &app.name,
                        &row.migration_id,
                        file.map_or(row.description.as_str(), |f| f.description.as_str()),
                    ),
                    down,
                    files: file.map(|f| f.files.clone()).unwrap_or_default(),
                    dir: app.migrations_dir.clone(),
                });
            }
            plans.push(BackwardsPlan::Run(steps));
        }

        if !plans.iter().any(|p| matches!(p, BackwardsPlan::Run(_))) {
            for plan in &plans {
                if let BackwardsPlan::NotApplied(message) = plan {
                    return Ok(Err(MigrationResult::failed(message.clone())));
                }
            }
            return Ok(Err(MigrationResult::ok("No migrations to reverse")));
        }
        let steps: Vec<BackStep> = plans
            .into_iter()
            .flat_map(|p| match p {
                BackwardsPlan::Run(steps) => steps,
                _ => Vec::new(),
            })
            .collect();

        // Refuse to empty an app while an app that depends on it keeps applied migrations.
        let reversed = |app: &str| steps.iter().filter(|s| s.planned.app_name == app).count();
        let applied = |app: &str| rows.get(app).map_or(0, Vec::len);
        for app in apps {
            let n = reversed(&app.name);
            if n == 0 || n < applied(&app.name) {
                continue;
            }
            let dependants: Vec<String> = m
                .registry
                .dependants_of(&app.name)
                .into_iter()
                .filter(|d| applied(&d.name) > reversed(&d.name))
                .map(|d| d.name.clone())
                .collect();
            if !dependants.is_empty() {
                return Err(Error::DependantsApplied {
                    app: app.name.clone(),
                    dependants,
                });
            }
        }
        Ok(Ok(steps))
    }
}

fn check_deletable(steps: &[BackStep]) -> Result<()> {
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
            if meta.file_type().is_symlink() {
                return Err(Error::UnsafeDelete {
                    path: file.clone(),
                    reason: "it is a symbolic link (`--clean` deletes only regular files)".into(),
                });
            }
            if !meta.is_file() {
                return Err(Error::UnsafeDelete {
                    path: file.clone(),
                    reason: "it is not a regular file".into(),
                });
            }
            let parent = file
                .parent()
                .and_then(|p| p.canonicalize().ok())
                .unwrap_or_default();
            if parent != dir {
                return Err(Error::UnsafeDelete {
                    path: file.clone(),
                    reason: format!("it is not inside the app's folder {}", dir.display()),
                });
            }
        }
    }
    Ok(())
}

/// Reverse migrations: Piccolo's `run_backwards`. `migration_id` is `1` by default.
pub async fn run_backwards(
    m: &mut Migrator,
    app_name: &str,
    migration_id: &str,
    auto_agree: bool,
    clean: bool,
    preview: bool,
) -> Result<MigrationResult> {
    BackwardsMigrationManager {
        app_name: app_name.to_owned(),
        migration_id: migration_id.to_owned(),
        auto_agree,
        clean,
        preview,
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
/// ferry_core::backwards(migrator, "blog", "1", true).await?;
/// # Ok(()) }
/// ```
pub async fn backwards(
    m: &mut Migrator,
    app_name: &str,
    migration_id: &str,
    auto_agree: bool,
) -> Result<MigrationResult> {
    into_error(run_backwards(m, app_name, migration_id, auto_agree, false, false).await)
}

// ---------------------------------------------------------------------------------------------
// check

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
        let apps = m.select_apps(&self.app_name, None)?;
        let files = m.load_all(&apps)?;
        let rows = m.read_rows(&apps).await?;
        let empty = Vec::new();
        let mut out = Vec::new();
        for (app, files) in apps.iter().zip(&files) {
            let rows = rows.get(&app.name).unwrap_or(&empty);
            let mut entries: Vec<MigrationStatus> = Vec::new();
            for mig in files {
                let row = rows
                    .iter()
                    .find(|r| compare_ids(&r.migration_id, &mig.id).is_eq());
                let status = match row {
                    None => Status::Pending,
                    Some(r) if r.dirty => Status::Dirty,
                    Some(r) if r.checksum != mig.checksum => Status::Changed,
                    Some(_) => Status::Applied,
                };
                entries.push(MigrationStatus {
                    app_name: app.name.clone(),
                    migration_id: mig.id.clone(),
                    description: mig.description.clone(),
                    has_ran: row.is_some(),
                    status,
                    applied_at: row.map(|r| r.applied_at),
                });
            }
            for row in rows {
                if files
                    .iter()
                    .any(|f| compare_ids(&f.id, &row.migration_id).is_eq())
                {
                    continue;
                }
                entries.push(MigrationStatus {
                    app_name: app.name.clone(),
                    migration_id: row.migration_id.clone(),
                    description: row.description.clone(),
                    has_ran: true,
                    status: if row.dirty {
                        Status::Dirty
                    } else {
                        Status::Missing
                    },
                    applied_at: Some(row.applied_at),
                });
            }
            entries.sort_by(|a, b| compare_ids(&a.migration_id, &b.migration_id));
            out.extend(entries);
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// clean and resolve

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
        let apps = m.select_apps(&self.app_name, None)?;
        let files = m.load_all(&apps)?;
        let rows = m.read_rows(&apps).await?;
        let missing = missing_rows(&apps, &files, &rows);
        if missing.is_empty() {
            return Ok(MigrationResult::ok("No missing migrations to forget"));
        }
        if self.preview {
            for p in &missing {
                m.report(Event::PreviewForget { migration: p });
            }
            return Ok(MigrationResult {
                success: true,
                message: Some("preview only: nothing was changed".into()),
                migrations: missing,
            });
        }
        if !self.auto_agree {
            let request = ConfirmRequest {
                question: format!(
                    "Forget {} missing migration(s)? Their tracking rows will be deleted; no SQL runs.",
                    missing.len()
                ),
                items: missing.clone(),
            };
            if !m.confirm.confirm(&request)? {
                return Ok(MigrationResult::failed("Not proceeding."));
            }
        }
        m.lock().await?;
        let result = async {
            let rows = m.read_existing_rows(&apps).await?;
            let now = missing_rows(&apps, &files, &rows);
            let mut result = MigrationResult::ok("");
            for p in now.into_iter().filter(|p| missing.contains(p)) {
                m.driver
                    .write(&RowChange::Delete {
                        app_name: p.app_name.clone(),
                        migration_id: p.migration_id.clone(),
                    })
                    .await
                    .map_err(Error::db("deleting a tracking row"))?;
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
        .await;
        m.unlock(result).await
    }
}

fn missing_rows(
    apps: &[AppConfig],
    files: &[Vec<Migration>],
    rows: &HashMap<String, Vec<AppliedMigration>>,
) -> Vec<PlannedMigration> {
    let mut out = Vec::new();
    for (app, files) in apps.iter().zip(files) {
        for row in rows.get(&app.name).map(Vec::as_slice).unwrap_or_default() {
            if !row.dirty
                && !files
                    .iter()
                    .any(|f| compare_ids(&f.id, &row.migration_id).is_eq())
            {
                out.push(planned(&app.name, &row.migration_id, &row.description));
            }
        }
    }
    out
}

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
        let result = async {
            let rows = m.read_existing_rows(std::slice::from_ref(&app)).await?;
            let rows = rows.get(&app.name).cloned().unwrap_or_default();
            let Some(row) = rows
                .iter()
                .find(|r| compare_ids(&r.migration_id, &self.migration_id).is_eq())
            else {
                return Err(Error::NotDirty {
                    app: app.name.clone(),
                    id: self.migration_id.clone(),
                    applied: false,
                });
            };
            if !row.dirty {
                return Err(Error::NotDirty {
                    app: app.name.clone(),
                    id: row.migration_id.clone(),
                    applied: true,
                });
            }
            let change = if self.applied {
                RowChange::MarkClean {
                    app_name: app.name.clone(),
                    migration_id: row.migration_id.clone(),
                    duration_ms: None,
                }
            } else {
                RowChange::Delete {
                    app_name: app.name.clone(),
                    migration_id: row.migration_id.clone(),
                }
            };
            m.driver
                .write(&change)
                .await
                .map_err(Error::db("updating the tracking row"))?;
            Ok(MigrationResult {
                success: true,
                message: Some(format!(
                    "Marked {} {} as {}",
                    app.name,
                    row.migration_id,
                    if self.applied {
                        "applied"
                    } else {
                        "reverted (row deleted)"
                    }
                )),
                migrations: vec![planned(&app.name, &row.migration_id, &row.description)],
            })
        }
        .await;
        m.unlock(result).await
    }
}
