//! The `ferry` command-line interface: argument parsing, configuration precedence, prompts,
//! rendering and exit codes. Everything else lives in `ferry-core` and the driver crates.
//!
//! Exit codes (SPEC §5.7), decided in one place, [`exit_code`]:
//! 0 success or nothing to do · 1 failed, refused, declined, or the database failed ·
//! 2 usage, configuration or migration-file error · 3 `check --strict` found work.

pub mod args;
pub mod drivers;
pub mod render;

use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use ferry_core::{
    BackwardsMigrationManager, CheckMigrationManager, CleanManager, Config, Error, ErrorClass,
    ForwardsMigrationManager, MigrationResult, Migrator, ResolveManager, Status, TableName,
};

use crate::args::{Cli, ColorChoice, Command, Format, GlobalOpts};
use crate::render::{out, CliReporter, Style, TerminalConfirm};

/// Exit code: success or nothing to do.
pub const EXIT_OK: i32 = 0;
/// Exit code: the operation failed, was refused or declined, or the database failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: usage, configuration or migration-file error.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: `check --strict` found migrations that are not applied.
pub const EXIT_STRICT: i32 = 3;

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

/// What went wrong, classified for the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Usage or configuration problem (exit 2).
    Usage(String),
    /// The operation failed (exit 1).
    Failed(String),
    /// An error from core, classified by [`exit_code`].
    Core(Box<Error>),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(Box::new(e))
    }
}

/// The exit code of a failure.
pub fn exit_code(failure: &Failure) -> i32 {
    match failure {
        Failure::Usage(_) => EXIT_USAGE,
        Failure::Failed(_) => EXIT_FAILED,
        Failure::Core(e) => match e.class() {
            ErrorClass::Input => EXIT_USAGE,
            _ => EXIT_FAILED,
        },
    }
}

/// Run ferry with the process's arguments and return the exit code.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> i32 {
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return EXIT_USAGE;
        }
    };
    let style = style_for(&cli.global);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            style.error(&format!("cannot start the async runtime: {e}"));
            return EXIT_FAILED;
        }
    };
    match runtime.block_on(run(cli, style)) {
        Ok(code) => code,
        Err(failure) => {
            let message = match &failure {
                Failure::Usage(m) | Failure::Failed(m) => m.clone(),
                Failure::Core(e) => e.to_string(),
            };
            style.error(&message);
            exit_code(&failure)
        }
    }
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

async fn run(cli: Cli, style: Style) -> Result<i32, Failure> {
    let g = cli.global;
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::Failed(format!("cannot read the working directory: {e}")))?;
    match &cli.command {
        Command::Completions(a) => {
            let mut buf = Vec::new();
            clap_complete::generate(a.shell, &mut command(), "ferry", &mut buf);
            out(&String::from_utf8_lossy(&buf));
            return Ok(EXIT_OK);
        }
        Command::Init => {
            let path = ferry_core::init_project(&cwd)?;
            out(&format!("{}\n", path.display()));
            style.info(&format!(
                "created {} and {}; add [[app]] entries, then `ferry new <app> <description>`",
                path.display(),
                cwd.join("migrations").display()
            ));
            return Ok(EXIT_OK);
        }
        _ => {}
    }

    if !g.no_dotenv {
        let env_file = cwd.join(".env");
        if env_file.is_file() {
            dotenvy::from_path(&env_file).map_err(|e| {
                // A parse error carries the offending text, which may hold a password.
                let why = match e {
                    dotenvy::Error::LineParse(_, index) => {
                        format!("a line cannot be parsed (at character {index})")
                    }
                    other => ferry_core::redact_url(&other.to_string()),
                };
                Failure::Usage(format!(
                    "{}: cannot read the .env file: {why}; fix it or pass --no-dotenv",
                    env_file.display()
                ))
            })?;
        }
    }
    let config = match &g.config {
        Some(path) => {
            if !path.is_file() {
                return Err(Failure::Usage(format!(
                    "config file {} not found",
                    path.display()
                )));
            }
            Config::load(path)?
        }
        None => Config::discover(&cwd)?,
    };
    if style.verbose {
        match &config.path {
            Some(p) => eprintln!("config: {}", p.display()),
            None => eprintln!(
                "config: no ferry.toml found; apps are the folders of {}",
                cwd.join("migrations").display()
            ),
        }
    }

    // Commands that name one app check it before anything touches the database.
    let named_app = match &cli.command {
        Command::Forwards(a) => Some(a.app.as_str()),
        Command::Backwards(a) => Some(a.app.as_str()),
        Command::Check(a) => a.app.as_deref(),
        Command::Clean(a) => a.app.as_deref(),
        Command::Resolve(a) => Some(a.app.as_str()),
        Command::New(a) => Some(a.app.as_str()),
        _ => None,
    };
    if let Some(app) = named_app.filter(|a| *a != "all") {
        if let Err(e) = config.registry.get(app) {
            let hint = if config.path.is_none() {
                "; no ferry.toml was found (run `ferry init`), so apps are the sub-folders of ./migrations"
            } else {
                ""
            };
            return Err(Failure::Failed(format!("{e}{hint}")));
        }
    }
    if let Command::New(a) = &cli.command {
        if a.app == "all" {
            return Err(Failure::Usage(
                "`ferry new` needs one app, not `all`".into(),
            ));
        }
        let app = config.registry.get(&a.app)?;
        let path = ferry_core::new_migration(app, &a.description.join(" "), chrono::Utc::now())?;
        out(&format!("{}\n", path.display()));
        return Ok(EXIT_OK);
    }
    // `all` with an explicit migration ID is a usage error (the defaults differ per command,
    // so it is caught here, where an omitted ID can be told from an explicit one).
    let all_with_id = match &cli.command {
        Command::Forwards(a) if a.app == "all" => a.migration_id.as_deref(),
        Command::Backwards(a) if a.app == "all" => a.migration_id.as_deref(),
        _ => None,
    };
    if let Some(id) = all_with_id.filter(|id| *id != "all") {
        return Err(Failure::Usage(format!(
            "a migration ID cannot be given with app `all` (got `{id}`); omit it, or name one app"
        )));
    }

    let table_text = g
        .table
        .clone()
        .or_else(|| config.table.clone())
        .unwrap_or_else(|| TableName::DEFAULT.to_owned());
    let table = TableName::parse(&table_text).map_err(Failure::Usage)?;
    let url = database_url(&g, &config)?;
    if style.verbose {
        eprintln!("database: {}", ferry_core::redact_url(&url));
        eprintln!("tracking table: {table}");
    }
    let driver = drivers::driver_for_url(&url, table).await.map_err(|e| {
        let message = ferry_core::redact_url(&e.to_string());
        match e.kind {
            ferry_core::DriverErrorKind::Config => Failure::Usage(message),
            _ => Failure::Failed(message),
        }
    })?;
    let mut migrator = Migrator::new(config.registry.clone(), driver)
        .with_lock_timeout(Duration::from_secs_f64(g.lock_timeout))
        .with_confirm(TerminalConfirm)
        .with_reporter(CliReporter { style });

    let result = match cli.command {
        Command::Forwards(a) => {
            ForwardsMigrationManager {
                app_name: a.app,
                migration_id: a.migration_id.unwrap_or_else(|| "all".into()),
                fake: a.fake,
                preview: a.preview,
                auto_agree: a.auto_agree,
            }
            .run(&mut migrator)
            .await
        }
        Command::Backwards(a) => {
            let default_id = if a.app == "all" { "all" } else { "1" };
            BackwardsMigrationManager {
                app_name: a.app,
                migration_id: a.migration_id.unwrap_or_else(|| default_id.into()),
                auto_agree: a.auto_agree,
                clean: a.clean,
                preview: a.preview,
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
        Command::New(_) | Command::Init | Command::Completions(_) => unreachable!("handled above"),
    }
    .map_err(map_lock_error)?;
    Ok(finish(result, style))
}

fn map_lock_error(e: Error) -> Failure {
    if e.is_lock_timeout() {
        Failure::Failed(
            "another ferry run holds the lock (waited --lock-timeout seconds); try again when it has finished, or raise --lock-timeout".into(),
        )
    } else {
        Failure::Core(Box::new(e))
    }
}

fn finish(result: MigrationResult, style: Style) -> i32 {
    let message = result.message.clone().unwrap_or_default();
    if result.success {
        if !message.is_empty() {
            style.info(&message);
        }
        EXIT_OK
    } else {
        if message == "Not proceeding." {
            eprintln!("{message}");
        } else {
            style.error(&message);
        }
        EXIT_FAILED
    }
}

async fn check(
    migrator: &mut Migrator,
    app: &str,
    format: Format,
    strict: bool,
    style: Style,
) -> Result<i32, Failure> {
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
        }
    }
    if strict && statuses.iter().any(|s| s.status != Status::Applied) {
        return Ok(EXIT_STRICT);
    }
    Ok(EXIT_OK)
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
            })
        })
        .collect()
}

/// The database URL by precedence: `-d`, `FERRY_DATABASE_URL`, `DATABASE_URL`, then
/// `database_url` in ferry.toml (whose relative SQLite path is relative to the config's folder).
fn database_url(g: &GlobalOpts, config: &Config) -> Result<String, Failure> {
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
