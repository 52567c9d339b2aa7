//! `--fleet` (SPEC §11): one command over many databases. Core lists and picks the targets
//! ([`ferry_core::fleet`]); this module connects to each, runs the manager, and reports:
//! `run.rs` schedules the targets (parallelism, canary, stop on failure, Ctrl-C), `report.rs`
//! renders the results and reads a previous report for `--rerun-failed`.

mod report;
mod run;

use std::sync::Arc;
use std::time::Duration;

use ferry_core::driver::redact_url;
use ferry_core::fleet::{self, Target};
use ferry_core::{
    BackwardsMigrationManager, Config, LockOptions, MigrationResult, Migrator, Outcome, Preload,
    TableName,
};

use crate::args::{BackwardsArgs, Command, Format, ForwardsArgs, GlobalOpts};
use crate::exit::{Ending, Failure};
use crate::render::Style;

/// What each target gets: everything but its URL, shared by every target's task.
#[derive(Clone)]
pub(crate) struct Job {
    config: Arc<Config>,
    table: TableName,
    lock: LockOptions,
    lock_timeout: Duration,
    out_of_order: ferry_core::OutOfOrder,
    work: Work,
    /// The migration files, read once for every target.
    files: Arc<Preload>,
}

/// The command run on each target.
#[derive(Clone)]
enum Work {
    Forwards {
        app: String,
        migration_id: Option<String>,
        fake: bool,
        atomic: bool,
    },
    Backwards {
        app: String,
        migration_id: Option<String>,
    },
    Check {
        app: String,
    },
}

impl Work {
    /// The app (or `all`) the command names.
    fn app(&self) -> &str {
        match self {
            Work::Forwards { app, .. } | Work::Backwards { app, .. } | Work::Check { app } => app,
        }
    }
}

/// Run a fleet command: `forwards`, `backwards`, `check` or `drift` with `--fleet`.
pub(crate) async fn run(
    command: &Command,
    g: &GlobalOpts,
    config: &Config,
    style: Style,
) -> Result<Ending, Failure> {
    let (work, format) = match command {
        Command::Forwards(a) => (forwards_work(a)?, a.format),
        Command::Backwards(a) => (backwards_work(a)?, a.format),
        Command::Check(a) => (
            Work::Check {
                app: a.app.clone().unwrap_or_else(|| "all".into()),
            },
            a.format,
        ),
        Command::Drift(a) => return crate::drift::fleet::run(a, g, config, style).await,
        _ => return Err(not_a_fleet_command()),
    };
    // File errors stop everything before any target is touched (exit 2), and the files are
    // read once, not once per target.
    let files = Arc::new(Preload::read_now(&config.registry, work.app())?);
    let table = crate::table_name(g, config)?;
    let targets = targets(g, config, &table, style).await?;
    if targets.is_empty() {
        style.info("no fleet target selected; nothing to do");
    }
    if style.verbose {
        for target in &targets {
            eprintln!("target {}: {}", target.name, describe(target));
        }
    }
    let job = Job {
        config: Arc::new(config.clone()),
        table,
        lock: LockOptions::new(g.lock.or(config.lock).unwrap_or_default())
            .with_lease(config.lock_lease.unwrap_or(LockOptions::DEFAULT_LEASE)),
        lock_timeout: Duration::from_secs_f64(g.lock_timeout),
        out_of_order: match command {
            Command::Forwards(a) => a.out_of_order,
            _ => None,
        }
        .or(config.out_of_order)
        .unwrap_or_default(),
        work,
        files,
    };
    let options = run::Options {
        parallel: usize::from(g.fleet.parallel.unwrap_or(4)),
        canary: g.fleet.canary.map_or(0, |n| n as usize),
        keep_going: g.fleet.keep_going,
        style,
    };
    match &job.work {
        Work::Check { .. } => {
            let strict = matches!(command, Command::Check(a) if a.strict);
            let results = run::check_all(&job, &targets, &options).await;
            report::print_check(&results, format, style);
            Ok(Ending::FleetCheck {
                unreadable: results.iter().any(|r| r.outcome.is_err()),
                strict_found_work: strict && results.iter().any(report::CheckResult::has_work),
            })
        }
        Work::Backwards { .. } => {
            let auto_agree = matches!(command, Command::Backwards(a) if a.auto_agree);
            if !auto_agree && !run::confirm_backwards(&job, &targets, &options).await? {
                eprintln!("Not proceeding.");
                return Ok(Ending::Outcome(Outcome::Declined));
            }
            Ok(finish(
                run::run_all(&job, targets, &options).await,
                format,
                style,
            ))
        }
        Work::Forwards { .. } => Ok(finish(
            run::run_all(&job, targets, &options).await,
            format,
            style,
        )),
    }
}

/// `--fleet` with a command other than forwards, backwards, check and drift.
pub(crate) fn not_a_fleet_command() -> Failure {
    Failure::Usage("--fleet applies to forwards, backwards, check and drift".into())
}

fn finish(results: Vec<report::TargetResult>, format: Format, style: Style) -> Ending {
    report::print_run(&results, format, style);
    Ending::Fleet {
        all_succeeded: results.iter().all(|r| r.result.is_success()),
    }
}

fn forwards_work(a: &ForwardsArgs) -> Result<Work, Failure> {
    for (given, option) in [(a.preview, "--preview"), (a.rehearse, "--rehearse")] {
        if given {
            return Err(Failure::Usage(format!(
                "{option} is not a fleet option: run it on one target (drop --fleet, pass -d URL)"
            )));
        }
    }
    if a.fake && !a.auto_agree {
        return Err(Failure::Usage(
            "--fake with --fleet records rows on every target without a prompt: add -y to confirm"
                .into(),
        ));
    }
    Ok(Work::Forwards {
        app: a.app.clone(),
        migration_id: a.migration_id.clone(),
        fake: a.fake,
        atomic: a.atomic,
    })
}

fn backwards_work(a: &BackwardsArgs) -> Result<Work, Failure> {
    for (given, option) in [
        (a.preview, "--preview"),
        (a.clean, "--clean"),
        (a.fake, "--fake"),
    ] {
        if given {
            return Err(Failure::Usage(format!(
                "{option} is not a fleet option: run it on one target (drop --fleet, pass -d URL)"
            )));
        }
    }
    Ok(Work::Backwards {
        app: a.app.clone(),
        migration_id: a.migration_id.clone(),
    })
}

/// The selected targets: the fleet from the config (with `schemas_query` answered; a warning
/// for each source that yielded no target), then `--target` and `--partition`, then
/// `--rerun-failed`.
pub(crate) async fn targets(
    g: &GlobalOpts,
    config: &Config,
    table: &TableName,
    style: Style,
) -> Result<Vec<Target>, Failure> {
    // A relative SQLite path from -d or the environment is relative to the working directory
    // (SPEC §2); the config's own is already absolute.
    let cwd = std::env::current_dir().unwrap_or_default();
    let url = crate::database_url(g, config)
        .ok()
        .map(|u| ferry_core::driver::resolve_sqlite_path(&u, &cwd));
    let mut queried = Vec::new();
    if let Some(query) = &config.fleet.schemas_query {
        let url = url.as_deref().ok_or_else(|| {
            Failure::Usage(
                "schemas_query needs a database URL (database_url, -d, FERRY_DATABASE_URL or DATABASE_URL) to run on".into(),
            )
        })?;
        let mut driver = crate::drivers::driver_for_url(url, table.clone())
            .await
            .map_err(|e| {
                Failure::Failed(format!("schemas_query: {}", redact_url(&e.to_string())))
            })?;
        queried = driver.query_column(query).await.map_err(|e| {
            Failure::Failed(format!(
                "schemas_query failed: {}; fix it in ferry.toml",
                redact_url(&e.to_string())
            ))
        })?;
    }
    let listing = fleet::list(
        &config.fleet,
        config.path.as_deref(),
        &config.root,
        url.as_deref(),
        &queried,
    )?;
    for source in &listing.empty_sources {
        style.warn(&format!("fleet source {source} yielded no target"));
    }
    let Some(path) = &g.fleet.rerun_failed else {
        return Ok(fleet::select(
            listing.targets,
            &g.fleet.targets,
            g.fleet.partition,
        )?);
    };
    // The report's targets still to do, among those `--target` and `--partition` select
    // from the whole fleet (so that a slice's report and the slice agree).
    let again = report::to_rerun(path)?;
    if let Some(gone) = again
        .iter()
        .find(|name| !listing.targets.iter().any(|t| &t.name == *name))
    {
        return Err(Failure::Failed(format!(
            "{}: the report names target `{gone}`, which the fleet no longer has; `ferry check --fleet` lists them",
            path.display()
        )));
    }
    if again.is_empty() {
        style.info(&format!(
            "{}: every target of the report is `ok` or `nothing to do`",
            path.display()
        ));
    }
    let selected = fleet::select(listing.targets, &g.fleet.targets, g.fleet.partition)?;
    Ok(selected
        .into_iter()
        .filter(|t| again.contains(&t.name))
        .collect())
}

/// A target's URL (password hidden) and schema, for `-v`.
fn describe(target: &Target) -> String {
    match &target.schema {
        Some(schema) => format!("{} (schema {schema})", redact_url(&target.url)),
        None => redact_url(&target.url),
    }
}

/// Open a migrator on one target: its driver, with the tenant schema and the lock options.
async fn migrator(
    job: &Job,
    target: &Target,
    reporter: impl ferry_core::Reporter + 'static,
) -> ferry_core::Result<Migrator> {
    let table = match &target.schema {
        Some(schema) => TableName::parse(&format!("{schema}.{}", job.table.name()))
            .map_err(|why| ferry_core::Error::Usage(format!("schema `{schema}`: {why}")))?,
        None => job.table.clone(),
    };
    let database = |context: String| move |source| ferry_core::Error::Database { context, source };
    let mut driver = crate::drivers::driver_for_url(&target.url, table)
        .await
        .map_err(database(format!(
            "connecting to {}",
            redact_url(&target.url)
        )))?;
    if let Some(schema) = &target.schema {
        driver
            .use_schema(schema)
            .map_err(database("choosing the tenant schema".into()))?;
    }
    let migrator = Migrator::new(job.config.registry.clone(), driver)
        .with_lock_options(job.lock)
        .with_lock_timeout(job.lock_timeout)
        .with_out_of_order(job.out_of_order)
        .with_reporter(reporter);
    Ok(match job.files.try_clone() {
        Some(files) => migrator.with_preload(files),
        None => migrator,
    })
}

/// How many migrations `backwards` would reverse on a target (its preview, no lock).
async fn backwards_count(job: &Job, target: &Target) -> ferry_core::Result<usize> {
    let Work::Backwards { app, migration_id } = &job.work else {
        return Ok(0);
    };
    let mut m = migrator(job, target, ferry_core::NullReporter).await?;
    let result: MigrationResult = BackwardsMigrationManager {
        app_name: app.clone(),
        migration_id: migration_id.clone(),
        auto_agree: true,
        clean: false,
        preview: true,
        fake: false,
    }
    .run(&mut m)
    .await?;
    Ok(result.migrations.len())
}
