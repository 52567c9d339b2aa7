//! `cargo xtask bench`: ferry's command phases against the database's own client (the floor).
//!
//! A benchmark, not a test: it asserts nothing about speed. It builds ferry in release mode,
//! writes one app of N migrations (each a `CREATE TABLE` and a `CREATE INDEX`, down a
//! `DROP TABLE`) to a temporary folder, and runs each phase as a whole process (start
//! included), measured with `wait4`: wall time, CPU (user + system) and peak RSS.
//!
//! Phases, each on a fresh database, K rounds, the median reported:
//! - P1 `forwards all`; P1a `forwards all --atomic` (PostgreSQL, SQLite);
//! - P2 `check` with everything applied; P3 `forwards all` with nothing pending;
//! - P4 `backwards bench all -y`;
//! - P5 `check` on a second app of `--large` migrations (recorded with `--fake`), and P5f
//!   `forwards all` with nothing pending on it;
//! - `ferry --version`.
//!
//! The floor is the database's own client (`psql`, `mariadb`, `sqlite3`; for SQLite without
//! its shell, rusqlite in this process) running the same SQL: a script with one transaction
//! per migration (its section, then one tracking-row write), and for P2/P3/P5 one `SELECT` of
//! the tracking rows. `--peers` adds sqlx-cli when `sqlx` is on the `PATH`.
//!
//! Results go to `target/bench/bench-<N>.json`; `--write-docs` rewrites the marked section of
//! `docs/benchmarks.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::{build_ferry, target_dir, workspace_root};

pub mod drift;
pub mod fleet;
mod floor;
pub mod history;
pub mod lint;
mod measure;
mod report;
mod runner;
mod settle;
pub mod verify;
mod workload;

use floor::*;
pub use measure::{measure_helper, HELPER};
use report::*;
use runner::*;
use settle::Settler;
use workload::*;

/// The app the generated project holds.
const APP: &str = "bench";
/// The app of `--large` migrations (P5).
const LARGE_APP: &str = "large";
/// Where `--write-docs` puts the table.
const DOCS: &str = "docs/benchmarks.md";
const BEGIN_MARK: &str = "<!-- cargo xtask bench: begin (generated, do not edit by hand) -->";
const END_MARK: &str = "<!-- cargo xtask bench: end -->";

/// A backend the benchmark runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Backend {
    /// PostgreSQL, on the server of `--postgres` / `FERRY_TEST_POSTGRES_URL`
    Postgres,
    /// SQLite, files in a temporary folder
    Sqlite,
    /// MySQL or MariaDB, on the server of `--mysql` / `FERRY_TEST_MYSQL_URL`
    Mysql,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
            Backend::Mysql => "mysql",
        }
    }
}

/// Options of `cargo xtask bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Number of migrations in the generated app (N)
    #[arg(long, default_value_t = 1000)]
    migrations: usize,
    /// Fresh databases per phase; the median is reported (K)
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Number of migrations of the second app, for P5 (`check` at scale) and its slope
    #[arg(long, default_value_t = 10_000)]
    large: usize,
    /// Backends to run on (default: all three)
    #[arg(long, value_enum, value_delimiter = ',')]
    backends: Vec<Backend>,
    /// PostgreSQL server, a URL that may CREATE DATABASE (default: FERRY_TEST_POSTGRES_URL, else a throwaway server of its own, with fsync off: name a real server for numbers to publish)
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// MySQL/MariaDB server, a URL that may CREATE DATABASE (default: FERRY_TEST_MYSQL_URL, else a throwaway MariaDB of its own, with durability off: name a real server for numbers to publish)
    #[arg(long, value_name = "URL")]
    mysql: Option<String>,
    /// Also run sqlx-cli on the same workload, when `sqlx` is on the PATH
    #[arg(long)]
    peers: bool,
    /// Use this ferry binary instead of building one
    #[arg(long, value_name = "PATH")]
    ferry: Option<PathBuf>,
    /// Rewrite the generated section of docs/benchmarks.md with this run's table
    #[arg(long)]
    write_docs: bool,
    /// Measure fleet runs instead (`ferry --fleet`, SPEC §11): PostgreSQL databases and
    /// SQLite files migrated with --parallel 1, 4, 8, 16, a shell loop and xargs -P 8
    #[arg(long)]
    fleet: bool,
    /// With --fleet: PostgreSQL databases (0 for none)
    #[arg(long, default_value_t = 100, requires = "fleet")]
    fleet_postgres: usize,
    /// With --fleet: SQLite files (0 for none)
    #[arg(long, default_value_t = 1000, requires = "fleet")]
    fleet_sqlite: usize,
    /// With --fleet: PostgreSQL schemas of one database (schema per tenant; 0 for none)
    #[arg(long, default_value_t = 100, requires = "fleet")]
    fleet_schemas: usize,
    /// With --fleet: migrations per target
    #[arg(long, default_value_t = 20, requires = "fleet")]
    fleet_migrations: usize,
    /// Measure `ferry verify` instead, against plain up + down + up (--backends applies)
    #[arg(long, conflicts_with = "fleet")]
    verify: bool,
    /// With --verify: migrations in the app
    #[arg(long, default_value_t = 300, requires = "verify")]
    verify_migrations: usize,
    /// Measure `ferry drift` instead, against `forwards all` of the same history (--backends applies)
    #[arg(long, conflicts_with_all = ["fleet", "verify"])]
    drift: bool,
    /// With --drift: migrations in the app
    #[arg(long, default_value_t = 300, requires = "drift")]
    drift_migrations: usize,
    /// Measure `ferry lint --all` instead, against `forwards all` of the same migrations on an
    /// empty database (--backends applies)
    #[arg(long, conflicts_with_all = ["fleet", "verify", "drift"])]
    lint: bool,
    /// With --lint: migrations in the app
    #[arg(long, default_value_t = 100, requires = "lint")]
    lint_migrations: usize,
}

impl BenchArgs {
    /// The variant CI runs so that the harness cannot rot: N = 50, K = 1, every backend.
    pub fn ci() -> Self {
        BenchArgs {
            migrations: 50,
            runs: 1,
            large: 200,
            backends: Vec::new(),
            postgres: None,
            mysql: None,
            peers: false,
            ferry: None,
            write_docs: false,
            fleet: false,
            fleet_postgres: 0,
            fleet_sqlite: 0,
            fleet_schemas: 0,
            fleet_migrations: 0,
            verify: false,
            verify_migrations: 0,
            drift: false,
            drift_migrations: 0,
            lint: false,
            lint_migrations: 0,
        }
    }
}

/// What one process cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
    /// Peak resident set size, bytes.
    rss: u64,
}

/// The runs of one phase by one tool on one backend.
#[derive(Debug, Default)]
struct Series {
    runs: Vec<Cost>,
}

impl Series {
    fn median(&self) -> Option<Cost> {
        if self.runs.is_empty() {
            return None;
        }
        let med = |mut v: Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let mut rss: Vec<u64> = self.runs.iter().map(|c| c.rss).collect();
        rss.sort_unstable();
        Some(Cost {
            wall: med(self.runs.iter().map(|c| c.wall).collect()),
            cpu: med(self.runs.iter().map(|c| c.cpu).collect()),
            rss: rss[rss.len() / 2],
        })
    }
}

/// The phases, in the order they are reported.
const PHASES: [(&str, &str); 9] = [
    ("P1", "apply all"),
    ("P1a", "apply all, --atomic"),
    ("P2", "check, all applied"),
    ("P3", "forwards, nothing pending"),
    ("P4", "revert all"),
    ("P5", "check, large app"),
    ("P5f", "forwards, nothing pending, large app"),
    ("V", "ferry --version"),
    ("", ""),
];

/// Series by (backend, phase, tool), tool being `ferry`, `floor` or `sqlx`.
type Results = BTreeMap<(Backend, &'static str, &'static str), Series>;

/// Run `cargo xtask bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.migrations == 0 || args.runs == 0 || args.large == 0 {
        bail!("--migrations, --runs and --large must be at least 1");
    }
    let backends = if args.backends.is_empty() {
        vec![Backend::Postgres, Backend::Sqlite, Backend::Mysql]
    } else {
        let mut b = args.backends.clone();
        b.sort();
        b.dedup();
        b
    };
    if let Some(url) = &args.postgres {
        std::env::set_var(ferry_driver_postgres::testing::URL_VAR, url);
    }
    if let Some(url) = &args.mysql {
        std::env::set_var(ferry_driver_mysql::testing::URL_VAR, url);
    }
    let binary = match &args.ferry {
        Some(path) => path.clone(),
        None => build_ferry(None, None)?,
    };
    let server = |b: Backend| match b {
        Backend::Postgres => Some(ferry_driver_postgres::testing::admin_url()),
        Backend::Mysql => Some(ferry_driver_mysql::testing::admin_url()),
        Backend::Sqlite => None,
    };
    if args.lint {
        return lint::run(&lint::LintBench {
            ferry: binary,
            migrations: args.lint_migrations.max(1),
            backends: backends.iter().map(|&b| (b.name(), server(b))).collect(),
            runs: args.runs,
            write_docs: args.write_docs,
        });
    }
    if args.drift {
        return drift::run(&drift::DriftBench {
            ferry: binary,
            migrations: args.drift_migrations.max(1),
            backends: backends.iter().map(|&b| (b.name(), server(b))).collect(),
            runs: args.runs,
            write_docs: args.write_docs,
        });
    }
    if args.verify {
        let server = |b: Backend| match b {
            Backend::Postgres => Some(ferry_driver_postgres::testing::admin_url()),
            Backend::Mysql => Some(ferry_driver_mysql::testing::admin_url()),
            Backend::Sqlite => None,
        };
        return verify::run(&verify::VerifyBench {
            ferry: binary,
            migrations: args.verify_migrations.max(1),
            backends: backends.iter().map(|&b| (b.name(), server(b))).collect(),
            runs: args.runs,
            write_docs: args.write_docs,
        });
    }
    if args.fleet {
        return fleet::run(&fleet::FleetBench {
            ferry: binary,
            postgres: args.fleet_postgres,
            sqlite: args.fleet_sqlite,
            schemas: args.fleet_schemas,
            migrations: args.fleet_migrations.max(1),
            write_docs: args.write_docs,
        });
    }
    let dir = tempfile::Builder::new()
        .prefix("ferry-bench-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let project = Project::write(dir.path(), args.migrations, args.large)?;
    let sqlx = if args.peers {
        find_on_path("sqlx")
    } else {
        None
    };
    if args.peers && sqlx.is_none() {
        eprintln!("--peers: no `sqlx` on the PATH; sqlx-cli is left out");
    }
    let bench = Bench {
        binary,
        project,
        dir: dir.path().to_owned(),
        runs: args.runs,
        sqlx,
        settler: Settler::default(),
    };
    eprintln!(
        "project: {} (app `{APP}`: {} migrations, app `{LARGE_APP}`: {})",
        dir.path().display(),
        args.migrations,
        args.large
    );

    let mut results = Results::new();
    let mut floors = BTreeMap::new();
    for &backend in &backends {
        let floor = Floor::find(backend);
        eprintln!("{}: floor = {}", backend.name(), floor.describe());
        bench.backend(backend, &floor, &mut results)?;
        floors.insert(backend, floor.describe());
    }
    let machine = machine(&backends)?;
    let table = table(&results, &backends, args, &machine, &floors);
    println!("{table}");

    let out = target_dir().join("bench");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join(format!("bench-{}.json", args.migrations));
    let json = to_json(&results, args, &machine, &floors);
    std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    if args.write_docs {
        write_docs(&table)?;
        eprintln!("rewrote the generated section of {DOCS}");
    }
    Ok(())
}
