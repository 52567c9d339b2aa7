//! `cargo xtask bench`: wall times of ferry's commands on a generated project.
//!
//! A benchmark, not a test: it asserts nothing about speed. It builds ferry in release mode,
//! writes one app of N migrations (each a `CREATE TABLE` and an `INSERT`) to a temporary
//! folder, and times the release binary end to end (process start included) against a fresh
//! database per round: `check` with nothing applied (mostly parsing), `forwards all`, `check`,
//! `check --format json` and `backwards bench all -y`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::build_ferry;

/// The app the generated project holds.
const APP: &str = "bench";

/// Options of `cargo xtask bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Number of migrations in the generated app
    #[arg(long, default_value_t = 500)]
    migrations: usize,
    /// Fresh databases to run the whole sequence on
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Runs of each `check` per round
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Also run against this PostgreSQL server (a URL that may CREATE DATABASE; a scratch database is created and dropped)
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Also run against this MySQL/MariaDB server (a URL that may CREATE DATABASE; a scratch database is created and dropped)
    #[arg(long, value_name = "URL")]
    mysql: Option<String>,
    /// Use this ferry binary instead of building one
    #[arg(long, value_name = "PATH")]
    ferry: Option<PathBuf>,
}

/// Timings of one operation on one backend.
struct Samples {
    backend: &'static str,
    operation: &'static str,
    times: Vec<Duration>,
}

/// Run `cargo xtask bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.migrations == 0 || args.rounds == 0 || args.runs == 0 {
        bail!("--migrations, --rounds and --runs must be at least 1");
    }
    let binary = match &args.ferry {
        Some(path) => path.clone(),
        None => {
            let mut features = vec!["sqlite".to_owned()];
            if args.postgres.is_some() {
                features.push("postgres".into());
            }
            if args.mysql.is_some() {
                features.push("mysql".into());
            }
            build_ferry(Some(&features), None)?
        }
    };
    let project = tempfile::Builder::new()
        .prefix("ferry-bench-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let config = write_project(project.path(), args.migrations)?;
    let bench = Bench {
        binary,
        config,
        runs: args.runs,
    };
    eprintln!(
        "project: {} ({} migrations in app `{APP}`)",
        project.path().display(),
        args.migrations
    );

    let mut all = Vec::new();
    all.extend(bench.backend("sqlite", args.rounds, |round| {
        let path = project.path().join(format!("bench-{round}.db"));
        Ok(Scratch::Sqlite(format!("sqlite:{}", path.display())))
    })?);
    if let Some(url) = &args.postgres {
        std::env::set_var(ferry_driver_postgres::testing::URL_VAR, url);
        all.extend(bench.backend("postgres", args.rounds, |_| {
            let name = ferry_driver_postgres::testing::unique_name("bench");
            let url = block_on(ferry_driver_postgres::testing::create_database(&name))?;
            Ok(Scratch::Postgres { name, url })
        })?);
    }
    if let Some(url) = &args.mysql {
        std::env::set_var(ferry_driver_mysql::testing::URL_VAR, url);
        all.extend(bench.backend("mysql", args.rounds, |_| {
            let name = ferry_driver_mysql::testing::unique_name("bench");
            let url = block_on(ferry_driver_mysql::testing::create_database(&name))?;
            Ok(Scratch::Mysql { name, url })
        })?);
    }
    print_table(&all, args.migrations);
    Ok(())
}

/// A database made for one round, dropped again by [`Scratch::drop_database`].
enum Scratch {
    Sqlite(String),
    Postgres { name: String, url: String },
    Mysql { name: String, url: String },
}

impl Scratch {
    fn url(&self) -> &str {
        match self {
            Scratch::Sqlite(url) => url,
            Scratch::Postgres { url, .. } | Scratch::Mysql { url, .. } => url,
        }
    }

    fn drop_database(&self) -> Result<()> {
        match self {
            Scratch::Sqlite(_) => Ok(()),
            Scratch::Postgres { name, .. } => {
                block_on(ferry_driver_postgres::testing::drop_database(name))
            }
            Scratch::Mysql { name, .. } => {
                block_on(ferry_driver_mysql::testing::drop_database(name))
            }
        }
    }
}

fn block_on<T, E: std::fmt::Display>(
    future: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    runtime.block_on(future).map_err(|e| anyhow::anyhow!("{e}"))
}

struct Bench {
    binary: PathBuf,
    config: PathBuf,
    runs: usize,
}

impl Bench {
    /// Run every round on one backend.
    fn backend(
        &self,
        backend: &'static str,
        rounds: usize,
        mut fresh: impl FnMut(usize) -> Result<Scratch>,
    ) -> Result<Vec<Samples>> {
        let names = [
            "check (nothing applied)",
            "forwards all",
            "check",
            "check --format json",
            "backwards all -y",
        ];
        let mut samples: Vec<Samples> = names
            .iter()
            .map(|&operation| Samples {
                backend,
                operation,
                times: Vec::new(),
            })
            .collect();
        for round in 0..rounds {
            eprintln!("{backend}: round {} of {rounds}", round + 1);
            let scratch = fresh(round)?;
            let result = self.round(scratch.url(), &mut samples);
            let dropped = scratch.drop_database();
            result?;
            dropped?;
        }
        Ok(samples)
    }

    fn round(&self, url: &str, samples: &mut [Samples]) -> Result<()> {
        for _ in 0..self.runs {
            samples[0].times.push(self.time(url, &["check"])?);
        }
        samples[1].times.push(self.time(url, &["forwards", "all"])?);
        for _ in 0..self.runs {
            samples[2].times.push(self.time(url, &["check"])?);
        }
        for _ in 0..self.runs {
            samples[3]
                .times
                .push(self.time(url, &["check", "--format", "json"])?);
        }
        samples[4]
            .times
            .push(self.time(url, &["backwards", APP, "all", "-y"])?);
        Ok(())
    }

    /// Run ferry once and return its wall time; a non-zero exit is an error.
    fn time(&self, url: &str, args: &[&str]) -> Result<Duration> {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("-c")
            .arg(&self.config)
            .args(["-d", url, "-q", "--no-dotenv", "--color", "never"])
            .args(args)
            .current_dir(self.config.parent().unwrap_or(Path::new(".")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let output = cmd
            .output()
            .with_context(|| format!("cannot run {}", self.binary.display()))?;
        let elapsed = started.elapsed();
        if !output.status.success() {
            bail!(
                "`ferry {}` failed ({}):\n{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(elapsed)
    }
}

/// Write `ferry.toml` and `migrations/bench/` with `n` migrations; return the config's path.
fn write_project(dir: &Path, n: usize) -> Result<PathBuf> {
    let config = dir.join("ferry.toml");
    std::fs::write(
        &config,
        format!("[[app]]\nname = \"{APP}\"\nmigrations = \"migrations/{APP}\"\n"),
    )?;
    let migrations = dir.join("migrations").join(APP);
    std::fs::create_dir_all(&migrations)?;
    let width = n.to_string().len().max(4);
    for i in 1..=n {
        let text = format!(
            "-- ferry:description Create table {i}\n\
             -- ferry:up\n\
             CREATE TABLE bench_{i} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);\n\
             INSERT INTO bench_{i} (id, name) VALUES (1, 'row {i}');\n\
             \n\
             -- ferry:down\n\
             DROP TABLE bench_{i};\n"
        );
        let path = migrations.join(format!("{i:0width$}_create_table_{i}.sql"));
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(config)
}

fn print_table(all: &[Samples], migrations: usize) {
    println!("ferry wall times, one app of {migrations} migrations (process start included)\n");
    println!(
        "{:<10} {:<25} {:>5} {:>11} {:>11} {:>11}",
        "BACKEND", "OPERATION", "RUNS", "MIN", "MEDIAN", "MAX"
    );
    for s in all.iter().filter(|s| !s.times.is_empty()) {
        let mut times = s.times.clone();
        times.sort();
        let median = if times.len() % 2 == 1 {
            times[times.len() / 2]
        } else {
            (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2
        };
        println!(
            "{:<10} {:<25} {:>5} {:>11} {:>11} {:>11}",
            s.backend,
            s.operation,
            times.len(),
            ms(times[0]),
            ms(median),
            ms(times[times.len() - 1])
        );
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
