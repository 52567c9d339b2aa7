//! `verify` (SPEC §9): prove, on a scratch database, that each down section undoes its up
//! section. The caller opens the [`Migrator`] on the scratch database (and creates and drops
//! it); this module runs the steps and judges them from schema snapshots ([`crate::schema`]).

use std::collections::BTreeSet;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::manager::Migrator;
use crate::project::migration::{Migration, Section};
use crate::project::registry::AppConfig;
use crate::schema::Difference;
use crate::verify::snapshot::{Snapshot, Tracker};

/// What verify found for one migration, the first that applies (SPEC §9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first up failed: the app's later migrations, and apps depending on it, are skipped.
    Failed,
    /// No down section: up only.
    Irreversible,
    /// The down failed, or did not bring the schema back to what it was before the up.
    NotReversible,
    /// The second up failed, or did not give the schema the first up gave.
    NotReappliable,
    /// Down undoes up, and up runs again to the same schema.
    Reversible,
    /// Not run: an earlier migration of its app, or an app it depends on, failed.
    Skipped,
}

impl Verdict {
    /// The spelling in output: `reversible`, `not-reversible`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Failed => "failed",
            Verdict::Irreversible => "irreversible",
            Verdict::NotReversible => "not-reversible",
            Verdict::NotReappliable => "not-reappliable",
            Verdict::Reversible => "reversible",
            Verdict::Skipped => "skipped",
        }
    }

    /// Whether this verdict makes `ferry verify` exit 1.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Verdict::Failed | Verdict::NotReversible | Verdict::NotReappliable
        )
    }
}

/// One migration's verdict, with what differs and how long its steps took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedMigration {
    /// The app.
    pub app_name: String,
    /// The migration.
    pub migration_id: String,
    /// Its description.
    pub description: String,
    /// The verdict.
    pub verdict: Verdict,
    /// S2 against S0 (`not-reversible`), S3 against S1 (`not-reappliable`), else none; a
    /// failing step is one difference whose property is `error`.
    pub differences: Vec<Difference>,
    /// The time its steps and snapshots took, in whole milliseconds.
    pub duration_ms: u64,
    /// The same, exactly (a sum of many is not a sum of rounded milliseconds).
    pub duration: std::time::Duration,
    /// Of that, the time its schema snapshots took.
    pub snapshot_time: std::time::Duration,
    /// How many of its snapshots were read whole; the others were read again only where
    /// the schema changed ([`crate::snapshot`]).
    pub whole_snapshots: u64,
}

/// Runs verify over an app (its dependencies applied first, up only) or `all`.
///
/// ```no_run
/// # async fn demo(scratch: &mut ferry_core::Migrator) -> ferry_core::Result<()> {
/// let results = ferry_core::VerifyManager::new("all").run(scratch).await?;
/// assert!(results.iter().all(|r| !r.verdict.is_failure()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyManager {
    /// An app name, or `all`.
    pub app_name: String,
}

impl VerifyManager {
    /// A manager for `app_name` (or `all`).
    pub fn new(app_name: impl Into<String>) -> Self {
        VerifyManager {
            app_name: app_name.into(),
        }
    }

    /// Run it on the migrator's database, which must be a scratch database: it is written.
    /// The run holds the scratch database's migration lock (on SQLite, its transaction spans
    /// the run, and each step is a savepoint of it).
    pub async fn run(&self, m: &mut Migrator) -> Result<Vec<VerifiedMigration>> {
        let judged = m.select_apps(&self.app_name)?;
        m.driver
            .relax_durability()
            .await
            .map_err(Error::db("preparing the scratch database"))?;
        m.driver
            .lock(m.lock_timeout)
            .await
            .map_err(Error::db("taking the scratch database's migration lock"))?;
        let result = self.run_locked(m, &judged).await;
        m.unlock(result).await
    }

    async fn run_locked(
        &self,
        m: &mut Migrator,
        judged: &[AppConfig],
    ) -> Result<Vec<VerifiedMigration>> {
        let prerequisites = prerequisites(m, judged);
        let judged_files = m.load_all(judged)?;
        let prerequisite_files = m.load_all(&prerequisites)?;
        for (app, migrations) in prerequisites.iter().zip(&prerequisite_files) {
            for migration in migrations {
                run_section(m, app, migration, &migration.up, "up")
                    .await
                    .map_err(|d| {
                        Error::Unsuccessful(format!(
                            "applying {} {} (a dependency of {}) failed: {}; nothing was judged",
                            app.name, migration.id, self.app_name, d.after
                        ))
                    })?;
            }
        }
        let mut failed_apps: BTreeSet<String> = BTreeSet::new();
        let mut results = Vec::new();
        // The schema as the last step left it, when known: the next migration's S0.
        let mut current: Option<Snapshot> = None;
        let mut snapshots = Snapshots {
            tracker: Tracker::start(m.driver.as_mut())
                .await
                .map_err(Error::db("reading the scratch database's schema"))?,
        };
        for (app, migrations) in judged.iter().zip(&judged_files) {
            let blocked = app.depends_on.iter().any(|d| failed_apps.contains(d));
            let mut failed = blocked;
            for migration in migrations {
                if failed {
                    results.push(verified(app, migration, Verdict::Skipped, Vec::new(), 0));
                    continue;
                }
                let (result, after) =
                    judge(m, &mut snapshots, app, migration, current.take()).await?;
                current = after;
                failed = result.verdict == Verdict::Failed;
                results.push(result);
            }
            if failed {
                failed_apps.insert(app.name.clone());
            }
        }
        Ok(results)
    }
}

/// The apps the judged ones depend on, directly or not, that are not judged themselves, in
/// dependency order.
fn prerequisites(m: &Migrator, judged: &[AppConfig]) -> Vec<AppConfig> {
    let judged_names: BTreeSet<&str> = judged.iter().map(|a| a.name.as_str()).collect();
    let mut needed: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = judged
        .iter()
        .flat_map(|a| a.depends_on.iter().cloned())
        .collect();
    while let Some(name) = queue.pop() {
        if judged_names.contains(name.as_str()) || !needed.insert(name.clone()) {
            continue;
        }
        if let Ok(app) = m.registry.get(&name) {
            queue.extend(app.depends_on.iter().cloned());
        }
    }
    m.registry
        .dependency_order()
        .into_iter()
        .filter(|a| needed.contains(&a.name))
        .cloned()
        .collect()
}

/// S0, up, S1, down, S2, up, S3: the verdict of one migration, and the schema it leaves
/// behind when that is known (S3, or S1 for an irreversible one). `s0`: the schema now, when
/// the previous migration's judgement knows it (one snapshot fewer).
async fn judge(
    m: &mut Migrator,
    snapshots: &mut Snapshots,
    app: &AppConfig,
    migration: &Migration,
    s0: Option<Snapshot>,
) -> Result<(VerifiedMigration, Option<Snapshot>)> {
    let started = Instant::now();
    let mut in_snapshots = Spent::default();
    let s0 = match s0 {
        Some(s0) => s0,
        None => snapshots.take(m, &mut in_snapshots).await?,
    };
    let done = |verdict: Verdict, differences, in_snapshots: Spent| {
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let elapsed = started.elapsed();
        let mut result = verified(app, migration, verdict, differences, ms(elapsed));
        result.duration = elapsed;
        result.snapshot_time = in_snapshots.time;
        result.whole_snapshots = in_snapshots.whole;
        Ok((result, None))
    };
    if let Err(error) = run_section(m, app, migration, &migration.up, "up").await {
        snapshots.tracker.forget();
        return done(Verdict::Failed, vec![error], in_snapshots);
    }
    let s1 = snapshots.take(m, &mut in_snapshots).await?;
    let Some(down) = &migration.down else {
        return done(Verdict::Irreversible, Vec::new(), in_snapshots)
            .map(|(result, _)| (result, Some(s1)));
    };
    if let Err(error) = run_section(m, app, migration, down, "down").await {
        snapshots.tracker.forget();
        return done(Verdict::NotReversible, vec![error], in_snapshots);
    }
    let s2 = snapshots.take(m, &mut in_snapshots).await?;
    let left_behind = s0.differences(&s2);
    if !left_behind.is_empty() {
        // Bring the schema forward again as far as it goes, for the migrations after it.
        let _ = run_section(m, app, migration, &migration.up, "up again").await;
        snapshots.tracker.forget();
        return done(Verdict::NotReversible, left_behind, in_snapshots);
    }
    if let Err(error) = run_section(m, app, migration, &migration.up, "up again").await {
        snapshots.tracker.forget();
        return done(Verdict::NotReappliable, vec![error], in_snapshots);
    }
    let s3 = snapshots.take(m, &mut in_snapshots).await?;
    let changed = s1.differences(&s3);
    if !changed.is_empty() {
        return done(Verdict::NotReappliable, changed, in_snapshots);
    }
    done(Verdict::Reversible, Vec::new(), in_snapshots).map(|(result, _)| (result, Some(s3)))
}

fn verified(
    app: &AppConfig,
    migration: &Migration,
    verdict: Verdict,
    differences: Vec<Difference>,
    duration_ms: u64,
) -> VerifiedMigration {
    VerifiedMigration {
        app_name: app.name.clone(),
        migration_id: migration.id.clone(),
        description: migration.description.clone(),
        verdict,
        differences,
        duration_ms,
        duration: std::time::Duration::ZERO,
        snapshot_time: std::time::Duration::ZERO,
        whole_snapshots: 0,
    }
}

/// The scratch database's snapshots, read again only where a step changed the schema
/// ([`Tracker`]): what keeps verify near the cost of its steps.
struct Snapshots {
    tracker: Tracker,
}

/// What a migration's snapshots cost.
#[derive(Debug, Clone, Copy, Default)]
struct Spent {
    time: std::time::Duration,
    /// Snapshots read whole.
    whole: u64,
}

impl Snapshots {
    /// The schema now, what it cost added to `spent`.
    async fn take(&mut self, m: &mut Migrator, spent: &mut Spent) -> Result<Snapshot> {
        let taken = Instant::now();
        let whole = self.tracker.reads().whole;
        let snapshot = self
            .tracker
            .take(m.driver.as_mut())
            .await
            .map_err(Error::db("reading the scratch database's schema"));
        spent.time += taken.elapsed();
        spent.whole += self.tracker.reads().whole - whole;
        snapshot
    }
}

/// Run one section as forwards would (`no-transaction` sections outside a transaction); a
/// failure is the step's `error` difference, naming the file and line as forwards does.
async fn run_section(
    m: &mut Migrator,
    app: &AppConfig,
    migration: &Migration,
    section: &Section,
    step: &str,
) -> std::result::Result<(), Difference> {
    let blank = crate::sql::is_blank(&section.sql, m.driver.capabilities().dialect);
    if blank {
        return Ok(());
    }
    m.driver
        .execute_step(&section.sql, section.no_transaction)
        .await
        .map_err(|source| {
            let error = Error::Execute {
                app: app.name.clone(),
                id: migration.id.clone(),
                file: section.file.clone(),
                line: source.line.map(|l| section.file_line(l)),
                source,
                dirty: false,
            };
            Difference::new("step", step, "error", "", error.to_string())
        })
}
