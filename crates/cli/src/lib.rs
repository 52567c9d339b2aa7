//! The `ferry` command-line interface: argument parsing, configuration precedence, prompts,
//! rendering and exit codes. Everything else lives in `ferry-core` and the driver crates.
//!
//! Exit codes (SPEC §5.7) are decided in one place, [`exit::exit_code`].

pub mod args;
mod argv;
mod database;
mod drift;
pub mod drivers;
pub mod exit;
mod fleet;
mod lint;
mod output;
pub mod render;
mod scratch;
pub mod session;
mod show;
mod ticker;
mod verify;

use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use ferry_core::{
    BackwardsMigrationManager, BackwardsTarget, CheckMigrationManager, CleanManager, Config,
    ForwardsMigrationManager, ForwardsTarget, LockOptions, MigrationResult, Migrator, Outcome,
    Preload, ResolveManager, Status, TableName,
};

use crate::args::{Cli, ColorChoice, Command, Format, GlobalOpts};
pub use crate::exit::{exit_code, Ending, Failure, EXIT_FAILED, EXIT_OK, EXIT_STRICT, EXIT_USAGE};
use crate::output::json::{Collector, Transaction};
use crate::render::{out, CliReporter, Style, TerminalConfirm};

/// The version line: the crate version and the backends compiled in.
pub fn version() -> &'static str {
    let text = format!(
        "{} (backends: {})",
        env!("CARGO_PKG_VERSION"),
        drivers::compiled_backends().join(", ")
    );
    Box::leak(text.into_boxed_str())
}

/// The full clap command, as the binary uses it. xtask builds man pages and completions
/// from this same definition.
pub fn command() -> clap::Command {
    Cli::command().version(version())
}

/// Run ferry with the process's arguments and return the exit code.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> i32 {
    let ended = parse_and_run(args);
    exit_code(&ended)
}

fn parse_and_run(args: Vec<std::ffi::OsString>) -> Result<Ending, Failure> {
    let mut cli = match command()
        .try_get_matches_from(argv::hoist_fleet_options(args))
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(option) = argv::fleet_option_misplaced(&e) {
                eprintln!(
                    "error: {option} is a fleet option of forwards, backwards, check and drift"
                );
                return Err(Failure::CommandLine);
            }
            let _ = e.print();
            return if e.use_stderr() {
                Err(Failure::CommandLine)
            } else {
                Ok(Ending::Printed)
            };
        }
    };
    if let Some(fleet) = cli.command.fleet() {
        cli.global.fleet = fleet.clone();
    }
    let style = style_for(&cli.global);
    let ended = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(cli, style)),
        Err(e) => Err(Failure::Failed(format!(
            "cannot start the async runtime: {e}"
        ))),
    };
    if let Err(failure) = &ended {
        match failure {
            Failure::CommandLine => {}
            Failure::Usage(m) | Failure::Failed(m) | Failure::Interrupted(m) => style.error(m),
            Failure::Core(e) => style.error(&e.to_string()),
        }
    }
    ended
}

fn style_for(g: &GlobalOpts) -> Style {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let (err, out) = match g.color {
        ColorChoice::Always => (true, true),
        ColorChoice::Never => (false, false),
        ColorChoice::Auto => (
            !no_color && std::io::stderr().is_terminal(),
            !no_color && std::io::stdout().is_terminal(),
        ),
    };
    Style {
        color_err: err,
        color_out: out,
        verbose: g.verbose && !g.quiet,
        quiet: g.quiet,
    }
}

async fn run(cli: Cli, style: Style) -> Result<Ending, Failure> {
    let g = cli.global;
    if let Some(option) = g.fleet.stray_option() {
        return Err(Failure::Usage(format!(
            "{option} is a fleet option: add --fleet"
        )));
    }
    let fleet_command = matches!(
        cli.command,
        Command::Forwards(_) | Command::Backwards(_) | Command::Check(_) | Command::Drift(_)
    );
    if g.fleet.fleet && !fleet_command {
        return Err(fleet::not_a_fleet_command());
    }
    match &cli.command {
        Command::Completions(a) => {
            let mut buf = Vec::new();
            clap_complete::generate(a.shell, &mut command(), "ferry", &mut buf);
            out(&String::from_utf8_lossy(&buf));
            return Ok(Ending::Printed);
        }
        Command::Init(a) => {
            let cwd = std::env::current_dir()
                .map_err(|e| Failure::Failed(format!("cannot read the working directory: {e}")))?;
            let path = ferry_core::scaffold::init_project(&cwd, &a.apps)?;
            out(&format!("{}\n", path.display()));
            let next = match a.apps.first() {
                Some(app) => format!("then `ferry new {app} <description>`"),
                None => "add apps with [[app]] entries (or start over with `ferry init --app NAME`), then `ferry new <app> <description>`".to_owned(),
            };
            style.info(&format!(
                "created {} and {}; {next}",
                path.display(),
                cwd.join("migrations").display()
            ));
            return Ok(Ending::Printed);
        }
        _ => {}
    }

    let session = session::Session::open(&g)?;
    if cli.command.needs_apps() {
        session.require_apps()?;
    }
    let config = &session.config;

    // Commands that name one app check it before anything touches the database.
    let named_app = match &cli.command {
        Command::Forwards(a) => Some(a.app.as_str()),
        Command::Backwards(a) => Some(a.app.as_str()),
        Command::Check(a) => a.app.as_deref(),
        Command::Clean(a) => a.app.as_deref(),
        Command::Resolve(a) => Some(a.app.as_str()),
        Command::New(a) => Some(a.app.as_str()),
        Command::Verify(a) => a.app.as_deref(),
        Command::Lint(a) => a.app.as_deref(),
        Command::Show(a) => Some(a.app.as_str()),
        _ => None,
    };
    if let Some(app) = named_app.filter(|a| *a != "all") {
        config.registry.get(app)?;
    }
    if let Command::New(a) = &cli.command {
        if style.verbose {
            session.describe_config();
        }
        if a.app == "all" {
            return Err(Failure::Usage(
                "`ferry new` needs one app, not `all`".into(),
            ));
        }
        let app = config.registry.get(&a.app)?;
        let path =
            ferry_core::scaffold::new_migration(app, &a.description.join(" "), chrono::Utc::now())?;
        out(&format!("{}\n", path.display()));
        return Ok(Ending::Printed);
    }
    match &cli.command {
        Command::Show(a) => return show::run(a, config),
        Command::Database(a) => {
            // `announce` prints the database line and refuses an SQLite glob (a fleet).
            let db = session.announce(&g, style)?;
            return database::run(a, &db.url, style).await;
        }
        _ => {}
    }
    // Targets are parsed by core; parsing them here, before connecting, reports `all` with an
    // explicit migration ID as the usage error it is even when no database is reachable.
    match &cli.command {
        Command::Forwards(a) => drop(ForwardsTarget::parse(&a.app, a.migration_id.as_deref())?),
        Command::Backwards(a) => drop(BackwardsTarget::parse(&a.app, a.migration_id.as_deref())?),
        _ => {}
    }

    let report_format = match &cli.command {
        Command::Forwards(a) => Some(a.format),
        Command::Backwards(a) => Some(a.format),
        _ => None,
    };
    if g.fleet.fleet {
        session.announce_fleet(&g, style);
        if style.verbose {
            session.describe_config();
        }
        return fleet::run(&cli.command, &g, config, style).await;
    }
    let preview = match &cli.command {
        Command::Forwards(a) => a.preview,
        Command::Backwards(a) => a.preview,
        _ => false,
    };
    let json = report_format == Some(Format::Json);
    if json && preview {
        return Err(Failure::Usage(
            "--format json cannot be combined with --preview, which prints SQL; drop one of them"
                .into(),
        ));
    }
    if let Command::Verify(a) = &cli.command {
        session.announce_scratch(&g, a.scratch_url.as_deref(), style)?;
        if style.verbose {
            session.describe_config();
        }
        return verify::run(a, &g, config, style).await;
    }

    if let Command::Lint(a) = &cli.command {
        if a.all {
            // The configured database is not read: name the server the scratch goes on.
            let base = session
                .announce_scratch(&g, a.scratch_url.as_deref(), style)?
                .url;
            let table = session.table(&g)?;
            if style.verbose {
                session.describe_config();
            }
            return lint::run(a, &g, config, &base, table, style).await;
        }
    }
    let table = session.table(&g)?;
    let url = session.announce(&g, style)?.url;
    if style.verbose {
        session.describe_config();
        eprintln!("tracking table: {table}");
    }
    match &cli.command {
        Command::Drift(a) => return drift::run(a, &g, config, &url, table, style).await,
        Command::Schema(a) => return drift::schema(a, &url, table, &g, config).await,
        Command::Lint(a) => return lint::run(a, &g, config, &url, table, style).await,
        _ => {}
    }
    // The files of the commands that read them are read while we connect.
    let preload = match &cli.command {
        Command::Forwards(a) => Some(a.app.as_str()),
        Command::Backwards(a) => Some(a.app.as_str()),
        Command::Check(a) => Some(a.app.as_deref().unwrap_or("all")),
        Command::Clean(a) => Some(a.app.as_deref().unwrap_or("all")),
        _ => None,
    }
    .map(|app| Preload::start(&config.registry, app));
    let mut driver = drivers::driver_for_url(&url, table).await.map_err(|e| {
        let message = ferry_core::driver::redact_url(&e.to_string());
        match e.kind {
            ferry_core::DriverErrorKind::Config => Failure::Usage(message),
            _ => Failure::Failed(message),
        }
    })?;
    let lock = LockOptions::new(g.lock.or(config.lock).unwrap_or_default())
        .with_lease(config.lock_lease.unwrap_or(LockOptions::DEFAULT_LEASE));
    driver.set_lock_options(lock);
    if style.verbose {
        describe_lock(driver.as_mut(), matches!(cli.command, Command::Check(_))).await;
    }
    let transaction = match &cli.command {
        Command::Forwards(a) if a.atomic => Transaction::Atomic,
        Command::Forwards(a) if a.rehearse => Transaction::Rehearsal,
        _ => Transaction::PerMigration,
    };
    let reporter = Collector::new(CliReporter::new(style), json, transaction);
    let out_of_order = match &cli.command {
        Command::Forwards(a) => a.out_of_order,
        _ => None,
    };
    let mut migrator = Migrator::new(config.registry.clone(), driver)
        .with_out_of_order(out_of_order.or(config.out_of_order).unwrap_or_default())
        .with_lock_timeout(Duration::from_secs_f64(g.lock_timeout))
        .with_confirm(TerminalConfirm)
        .with_reporter(reporter.clone());
    if let Some(preload) = preload {
        migrator = migrator.with_preload(preload);
    }

    let result = match cli.command {
        Command::Forwards(a) => {
            ForwardsMigrationManager {
                app_name: a.app,
                migration_id: a.migration_id,
                fake: a.fake,
                preview: a.preview,
                auto_agree: a.auto_agree,
                atomic: a.atomic,
                rehearse: a.rehearse,
            }
            .run(&mut migrator)
            .await
        }
        Command::Backwards(a) => {
            BackwardsMigrationManager {
                app_name: a.app,
                migration_id: a.migration_id,
                auto_agree: a.auto_agree,
                clean: a.clean,
                preview: a.preview,
                fake: a.fake,
            }
            .run(&mut migrator)
            .await
        }
        Command::Clean(a) => {
            CleanManager {
                app_name: a.app.unwrap_or_else(|| "all".into()),
                auto_agree: a.auto_agree,
                preview: a.preview,
            }
            .run(&mut migrator)
            .await
        }
        Command::Resolve(a) => {
            ResolveManager {
                app_name: a.app,
                migration_id: a.migration_id,
                applied: a.applied,
                resume: a.resume,
                accept_changed: a.accept_changed,
                auto_agree: a.auto_agree,
            }
            .run(&mut migrator)
            .await
        }
        Command::Check(a) => {
            return check(
                &mut migrator,
                a.app.as_deref().unwrap_or("all"),
                a.format,
                a.strict,
                style,
            )
            .await
        }
        Command::New(_)
        | Command::Init(_)
        | Command::Completions(_)
        | Command::Verify(_)
        | Command::Show(_)
        | Command::Database(_)
        | Command::Drift(_)
        | Command::Lint(_)
        | Command::Schema(_) => {
            unreachable!("handled above")
        }
    };
    Ok(finish(reporter.finish(result)?, style))
}

/// `--verbose`: the lock this run takes and why; for `check`, who holds it now.
async fn describe_lock(driver: &mut dyn ferry_core::Driver, holder: bool) {
    match driver.lock_choice().await {
        Ok(choice) => eprintln!("lock: {choice}"),
        Err(e) => eprintln!(
            "lock: cannot tell which ({})",
            ferry_core::driver::redact_url(&e.to_string())
        ),
    }
    if holder {
        match driver.lock_holder().await {
            Ok(Some(holder)) => eprintln!("lock held by: {holder}"),
            Ok(None) => eprintln!("lock held by: nobody"),
            Err(e) => eprintln!(
                "lock held by: cannot tell ({})",
                ferry_core::driver::redact_url(&e.to_string())
            ),
        }
    }
}

/// Say how a manager's run ended: the message on stderr, as an error when it failed (a
/// declined prompt's "Not proceeding." is said plainly).
fn finish(result: MigrationResult, style: Style) -> Ending {
    let message = result.message.unwrap_or_default();
    match result.outcome {
        Outcome::Declined => eprintln!("{message}"),
        outcome if !outcome.is_success() => style.error(&message),
        _ if !message.is_empty() => style.info(&message),
        _ => {}
    }
    Ending::Outcome(result.outcome)
}

async fn check(
    migrator: &mut Migrator,
    app: &str,
    format: Format,
    strict: bool,
    style: Style,
) -> Result<Ending, Failure> {
    let statuses = CheckMigrationManager::new(app)
        .get_migration_statuses(migrator)
        .await
        .map_err(Failure::from)?;
    match format {
        Format::Json => {
            let value = serde_json::json!({ "migrations": statuses_json(&statuses) });
            out(&format!("{value}\n"));
        }
        Format::Table => {
            out(&render::check_table(&statuses, style.color_out));
            // SPEC §14: how far each dirty migration got.
            for s in &statuses {
                if let Some(progress) = &s.progress {
                    out(&format!(
                        "{} {}: {}\n",
                        s.app_name,
                        s.migration_id,
                        progress.describe()
                    ));
                    if style.verbose {
                        out(&render::crash_window(s, progress));
                    }
                }
            }
        }
    }
    Ok(Ending::Check {
        strict_found_work: strict && statuses.iter().any(|s| s.status != Status::Applied),
    })
}

fn statuses_json(statuses: &[ferry_core::MigrationStatus]) -> Vec<serde_json::Value> {
    statuses
        .iter()
        .map(|s| {
            serde_json::json!({
                "app_name": s.app_name,
                "migration_id": s.migration_id,
                "description": s.description,
                "has_ran": s.has_ran,
                "status": s.status.as_str(),
                "applied_at": s.applied_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
                "statements_done": s.progress.as_ref().map(|p| p.statements_done),
                "statements_total": s.progress.as_ref().and_then(|p| p.statements_total),
                "statements_of": s.progress.as_ref().map(|p| if p.down { "down" } else { "up" }),
            })
        })
        .collect()
}

/// The tracking table: `--table`, then `table` in ferry.toml, then the default.
pub(crate) fn table_name(g: &GlobalOpts, config: &Config) -> Result<TableName, Failure> {
    let text = g
        .table
        .clone()
        .or_else(|| config.table.clone())
        .unwrap_or_else(|| TableName::DEFAULT.to_owned());
    TableName::parse(&text).map_err(Failure::Usage)
}

/// The database URL by precedence: `-d`, `FERRY_DATABASE_URL`, `DATABASE_URL`, then
/// `database_url` in ferry.toml (whose relative SQLite path is relative to the config's folder).
pub(crate) fn database_url(g: &GlobalOpts, config: &Config) -> Result<String, Failure> {
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    g.database_url
        .clone()
        .or_else(|| from_env("FERRY_DATABASE_URL"))
        .or_else(|| from_env("DATABASE_URL"))
        .or_else(|| config.database_url.clone())
        .ok_or_else(|| {
            Failure::Usage(
                "no database URL: pass -d/--database-url, set FERRY_DATABASE_URL or DATABASE_URL (a .env file works), or set database_url in ferry.toml".into(),
            )
        })
}
