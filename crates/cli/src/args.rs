//! The command-line interface definition (clap). The binary, the man pages and the shell
//! completions all come from [`crate::command`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Database schema migrations for PostgreSQL, SQLite and MySQL/MariaDB, organised in apps.
#[derive(Debug, Parser)]
#[command(name = "ferry", about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options accepted before or after the subcommand.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Global options: every subcommand takes them, listed under their own heading.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Global options")]
pub struct GlobalOpts {
    /// Path to ferry.toml (default: the nearest one in this folder or its ancestors)
    #[arg(short = 'c', long = "config", global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Database URL (overrides FERRY_DATABASE_URL, DATABASE_URL and database_url in ferry.toml)
    #[arg(short = 'd', long = "database-url", global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Tracking table name (PostgreSQL may write schema.table) [default: ferry_migrations]
    #[arg(long = "table", global = true, value_name = "NAME")]
    pub table: Option<String>,
    /// Seconds to wait for another ferry run's migration lock
    #[arg(long = "lock-timeout", global = true, value_name = "SECONDS", default_value = "60", value_parser = parse_seconds)]
    pub lock_timeout: f64,
    /// Migration lock: auto (advisory on a direct connection, a lease row behind a pooler), advisory or table [default: auto, or `lock` in ferry.toml]
    #[arg(long = "lock", global = true, value_name = "KIND", value_parser = lock_kind_parser())]
    pub lock: Option<ferry_core::LockKind>,
    /// Print more detail (config file, redacted URL, each migration as it starts)
    #[arg(short = 'v', long = "verbose", global = true)]
    pub verbose: bool,
    /// Print only warnings, errors and results (wins over --verbose)
    #[arg(short = 'q', long = "quiet", global = true)]
    pub quiet: bool,
    /// When to use colours (honours NO_COLOR)
    #[arg(long = "color", global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Do not read a .env file (from the working directory, else beside ferry.toml)
    #[arg(long = "no-dotenv", global = true)]
    pub no_dotenv: bool,
    /// The fleet options of the subcommand (`forwards`, `backwards`, `check`, `drift`), copied here
    /// after parsing; not parsed as global options (see [`Command::fleet`]).
    #[arg(skip)]
    pub fleet: FleetOpts,
}

/// `--fleet` and its options (SPEC §11): options of `forwards`, `backwards`, `check` and `drift` only.
/// Given before the subcommand, they are moved after it before parsing
/// (`argv::hoist_fleet_options`), so that both places work.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Fleet options")]
pub struct FleetOpts {
    /// Run forwards, backwards, check or drift on every fleet target (target entries, targets_file, schemas, schemas_query, an SQLite glob)
    #[arg(long)]
    pub fleet: bool,
    /// With --fleet: only this target (repeatable)
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
    /// With --fleet: the K-th of N slices of the name-sorted targets (index mod N = K-1)
    #[arg(long, value_name = "K/N")]
    pub partition: Option<ferry_core::fleet::Partition>,
    /// With --fleet: how many targets run at once, 1 to 512 [default: 4]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=512))]
    pub parallel: Option<u16>,
    /// With --fleet: run the first N targets first; any failure among them stops the fleet
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub canary: Option<u32>,
    /// With --fleet: keep starting targets after one fails
    #[arg(long = "keep-going")]
    pub keep_going: bool,
    /// With --fleet: only the targets of this JSON report (--format json output) that are not ok or nothing to do
    #[arg(long = "rerun-failed", value_name = "REPORT")]
    pub rerun_failed: Option<PathBuf>,
}

impl FleetOpts {
    /// The first fleet option given without `--fleet`, spelled as on the command line.
    pub fn stray_option(&self) -> Option<&'static str> {
        if self.fleet {
            return None;
        }
        [
            (!self.targets.is_empty(), "--target"),
            (self.partition.is_some(), "--partition"),
            (self.parallel.is_some(), "--parallel"),
            (self.canary.is_some(), "--canary"),
            (self.keep_going, "--keep-going"),
            (self.rerun_failed.is_some(), "--rerun-failed"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }
}

impl Command {
    /// The fleet options of a command that takes them (`forwards`, `backwards`, `check`, `drift`).
    pub fn fleet(&self) -> Option<&FleetOpts> {
        match self {
            Command::Forwards(a) => Some(&a.fleet),
            Command::Backwards(a) => Some(&a.fleet),
            Command::Check(a) => Some(&a.fleet),
            Command::Drift(a) => Some(&a.fleet),
            _ => None,
        }
    }

    /// Whether the command works on the project's apps, so that finding none (no ferry.toml,
    /// no `./migrations`) is a usage error (SPEC §16.3).
    pub fn needs_apps(&self) -> bool {
        matches!(
            self,
            Command::Forwards(_)
                | Command::Backwards(_)
                | Command::Check(_)
                | Command::Clean(_)
                | Command::Resolve(_)
                | Command::Verify(_)
                | Command::Drift(_)
                | Command::Lint(_)
                | Command::New(_)
                | Command::Show(_)
        )
    }
}

/// `--out-of-order` values, listed in `--help` and completions.
fn out_of_order_parser() -> impl clap::builder::TypedValueParser<Value = ferry_core::OutOfOrder> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(["warn", "allow", "refuse"])
        // Only the three words get here, and each parses.
        .map(|word| word.parse().unwrap_or_default())
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    let max = ferry_core::Migrator::MAX_LOCK_TIMEOUT.as_secs();
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=max as f64).contains(&v) => Ok(v),
        Ok(v) if v.is_finite() && v > 0.0 => Err(format!(
            "`{text}` seconds is too long: the lock timeout is at most {max} seconds (7 days)"
        )),
        _ => Err(format!(
            "`{text}` is not a number of seconds (e.g. 60 or 0.5)"
        )),
    }
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and NO_COLOR is not set
    Auto,
    /// Always colour
    Always,
    /// Never colour
    Never,
}

/// `check --format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned table
    Table,
    /// One JSON object: {"migrations": [...]}
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations of an app (or of every app, in dependency order)
    #[command(visible_alias = "migrate")]
    Forwards(ForwardsArgs),
    /// Reverse applied migrations of an app (or of every app, in reverse dependency order)
    #[command(visible_alias = "rollback")]
    Backwards(BackwardsArgs),
    /// Show the status of every migration
    #[command(visible_alias = "status")]
    Check(CheckArgs),
    /// Forget tracking rows whose migration file is gone (status `missing`)
    Clean(CleanArgs),
    /// Clear a dirty migration after inspecting the database
    Resolve(ResolveArgs),
    /// Prove on a scratch database that each down section undoes its up section
    Verify(VerifyArgs),
    /// Compare the database's schema with what its applied migrations give on a scratch database
    Drift(DriftArgs),
    /// Measure on a scratch database what each pending migration locks and rewrites
    #[command(after_help = LINT_EXAMPLES)]
    Lint(LintArgs),
    /// Print the database's schema, one line per object property
    Schema(SchemaArgs),
    /// Write a new migration file from the template
    New(NewArgs),
    /// Write a commented ferry.toml and a migrations/ folder here
    Init(InitArgs),
    /// Print one migration's SQL (its up section, or --down) from its file
    Show(ShowArgs),
    /// Create, drop or wait for the configured database
    #[command(subcommand)]
    Database(DatabaseCommand),
    /// Print a shell completion script
    Completions(CompletionsArgs),
}

/// `ferry forwards`.
#[derive(Debug, Args)]
pub struct ForwardsArgs {
    /// The app, or `all` for every app in dependency order
    pub app: String,
    /// `all` (default), `1` (the first pending one) or a migration ID (pending ones up to it)
    pub migration_id: Option<String>,
    /// Record the migrations as applied without running their SQL
    #[arg(long)]
    pub fake: bool,
    /// Print the SQL that would run; change nothing
    #[arg(long)]
    pub preview: bool,
    /// Do not ask for confirmation (needed with --fake for more than one migration)
    #[arg(short = 'y', long = "auto-agree", alias = "auto_agree")]
    pub auto_agree: bool,
    /// Apply every migration in one transaction: all or nothing (PostgreSQL, SQLite)
    #[arg(long, conflicts_with_all = ["rehearse", "preview"])]
    pub atomic: bool,
    /// Run what would be applied in one transaction and roll it back: change nothing (PostgreSQL, SQLite)
    #[arg(long, conflicts_with_all = ["fake", "preview"])]
    pub rehearse: bool,
    /// A pending migration older than an applied one: warn (default) and run it, allow it silently, or refuse the run [overrides `out_of_order` of ferry.toml]
    #[arg(long, value_name = "POLICY", value_parser = out_of_order_parser())]
    pub out_of_order: Option<ferry_core::OutOfOrder>,
    /// json: one object with each migration's result on stdout (with --fleet: the fleet report as JSON lines)
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// `--fleet` and its options.
    #[command(flatten)]
    pub fleet: FleetOpts,
}

/// `ferry backwards`.
#[derive(Debug, Args)]
pub struct BackwardsArgs {
    /// The app, or `all` for every app in reverse dependency order
    pub app: String,
    /// `1` (default: the last applied), `all`, or an applied ID (it and everything applied after it)
    pub migration_id: Option<String>,
    /// Do not ask for confirmation
    #[arg(short = 'y', long = "auto-agree", alias = "auto_agree")]
    pub auto_agree: bool,
    /// Delete the files of the reversed migrations
    #[arg(long)]
    pub clean: bool,
    /// Print the down SQL that would run; change nothing
    #[arg(long)]
    pub preview: bool,
    /// Delete the tracking rows without running the down SQL (undoes a mistaken forwards --fake)
    #[arg(long)]
    pub fake: bool,
    /// json: one object with each migration's result on stdout (with --fleet: the fleet report as JSON lines)
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// `--fleet` and its options.
    #[command(flatten)]
    pub fleet: FleetOpts,
}

/// `ferry check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The app, or `all` (default)
    pub app: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Exit with code 3 when any migration is not `applied`
    #[arg(long)]
    pub strict: bool,
    /// `--fleet` and its options.
    #[command(flatten)]
    pub fleet: FleetOpts,
}

/// `ferry verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The app (its dependencies are applied first, not judged), or `all` (default)
    pub app: Option<String>,
    /// Create the scratch database on this server instead of the configured one's
    #[arg(long = "scratch-url", value_name = "URL")]
    pub scratch_url: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Leave the scratch database in place and print its URL
    #[arg(long)]
    pub keep: bool,
}

/// `ferry drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Create the scratch database on this server instead of the configured one's
    #[arg(long = "scratch-url", value_name = "URL")]
    pub scratch_url: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// `--fleet` and its options.
    #[command(flatten)]
    pub fleet: FleetOpts,
}

/// `ferry lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// The app (the pending migrations of the apps it depends on are applied first, not
    /// judged), or `all` (default)
    pub app: Option<String>,
    /// Create the scratch database on this server instead of the configured one's
    #[arg(long = "scratch-url", value_name = "URL")]
    pub scratch_url: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Exit 1 when a judged migration has a finding of these levels that its file does not
    /// accept with `-- ferry:allow` (rewrites, blocks-all, blocks-writes, destructive)
    #[arg(long, value_name = "LEVEL[,LEVEL]", value_parser = parse_levels)]
    pub deny: Option<Levels>,
    /// Judge every migration of the selection, on a scratch database that starts empty (the
    /// configured database is not read)
    #[arg(long)]
    pub all: bool,
}

const LINT_EXAMPLES: &str = "Examples:
  ferry lint                                  judge every pending migration
  ferry lint blog --format json               one app's pending migrations, as JSON
  ferry lint --deny rewrites,blocks-all       exit 1 on a rewrite or a long full lock (CI)
  ferry lint --all --scratch-url postgres://ci@localhost/postgres
                                              every migration, on another server

A migration file accepts a level with a line `-- ferry:allow rewrites` (before or in its up section).";

/// The levels of `lint --deny`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Levels(pub Vec<ferry_core::LintLevel>);

fn parse_levels(text: &str) -> Result<Levels, String> {
    ferry_core::LintLevel::parse_list(text).map(Levels)
}

/// `ferry schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = SchemaFormat::Text)]
    pub format: SchemaFormat,
}

/// `schema --format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormat {
    /// One line per object property, sorted
    Text,
    /// One JSON object: {"objects": [...]}
    Json,
}

/// `ferry clean`.
#[derive(Debug, Args)]
pub struct CleanArgs {
    /// The app, or `all` (default)
    pub app: Option<String>,
    /// Do not ask for confirmation
    #[arg(short = 'y', long = "auto-agree", alias = "auto_agree")]
    pub auto_agree: bool,
    /// Print the rows that would be forgotten; change nothing
    #[arg(long)]
    pub preview: bool,
}

/// `ferry resolve`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("outcome").required(true).args(["applied", "reverted", "resume", "accept_changed"])))]
pub struct ResolveArgs {
    /// The app
    pub app: String,
    /// The dirty (or, with --accept-changed, changed) migration's ID
    pub migration_id: String,
    /// Its changes are in place: keep it as applied
    #[arg(long)]
    pub applied: bool,
    /// Its changes are not in place: delete its tracking row
    #[arg(long)]
    pub reverted: bool,
    /// Run the statements after the last one that ran (statement-counted migrations: MySQL/MariaDB)
    #[arg(long)]
    pub resume: bool,
    /// A changed migration (file edited after it was applied): record the file's checksum and down section
    #[arg(long = "accept-changed")]
    pub accept_changed: bool,
    /// Do not ask for confirmation (--accept-changed)
    #[arg(
        short = 'y',
        long = "auto-agree",
        alias = "auto_agree",
        requires = "accept_changed"
    )]
    pub auto_agree: bool,
}

/// `ferry new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The app
    pub app: String,
    /// The migration's description (the words are joined with spaces)
    #[arg(required = true, num_args = 1..)]
    pub description: Vec<String>,
}

/// `ferry init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Add an app: an `[[app]]` entry in ferry.toml and its folder migrations/NAME (repeatable)
    #[arg(long = "app", value_name = "NAME")]
    pub apps: Vec<String>,
}

/// `ferry show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The app
    pub app: String,
    /// The migration's ID
    pub migration_id: String,
    /// Print the down section instead of the up section
    #[arg(long)]
    pub down: bool,
}

/// `ferry database`.
#[derive(Debug, Subcommand)]
pub enum DatabaseCommand {
    /// Create the configured database (SQLite: the file); one that exists is left alone
    Create,
    /// Drop the configured database (SQLite: delete the file), after asking
    Drop(DatabaseDropArgs),
    /// Wait until the database server accepts a connection (exit 1 after the timeout)
    Wait(DatabaseWaitArgs),
}

/// `ferry database drop`.
#[derive(Debug, Args)]
pub struct DatabaseDropArgs {
    /// Do not ask for confirmation
    #[arg(short = 'y', long = "auto-agree", alias = "auto_agree")]
    pub auto_agree: bool,
}

/// `ferry database wait`.
#[derive(Debug, Args)]
pub struct DatabaseWaitArgs {
    /// Give up after this many seconds
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_wait)]
    pub timeout: f64,
}

fn parse_wait(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{text}` is not a number of seconds from 0 to 86400 (e.g. 30 or 0.5)"
        )),
    }
}

/// `ferry completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `--lock`: one of auto, advisory, table (listed for completions and `--help`).
fn lock_kind_parser() -> impl clap::builder::TypedValueParser<Value = ferry_core::LockKind> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(["auto", "advisory", "table"])
        .try_map(|text| text.parse::<ferry_core::LockKind>())
}
