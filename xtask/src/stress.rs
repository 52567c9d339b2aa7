//! `cargo xtask stress`: ferry under concurrency, crashes, lost connections and with secrets in
//! its URLs, as separate processes against real databases (SPEC §2, §5, §7).
//!
//! It builds the `ferry` binary once (debug) and runs these scenarios on each backend, each on
//! a fresh database (an SQLite file, a new PostgreSQL or MariaDB database) that is dropped
//! afterwards:
//!
//! - `concurrency`: 16 `ferry forwards all` at once over a project of three apps
//!   (`depends_on` between them) whose migrations each create a table and insert their own
//!   row into a side table `executions(app, id)`; every migration must run exactly once and
//!   every runner exit 0. Then 16 `ferry backwards all -y` at once: everything reversed once,
//!   no rows left. On PostgreSQL also through a PgBouncer in transaction mode (pool of 4),
//!   `concurrency-pgbouncer`.
//! - `crash`: `forwards all` and `backwards all -y` killed (SIGKILL) after a delay drawn from
//!   the seeded RNG, on migrations that take a little time. After each kill: what is recorded
//!   applied exists, what is not does not (MariaDB: at most one `dirty` row, resolved by
//!   hand as the docs say), no lock left (the next run with `--lock-timeout 5` finishes the
//!   work; no advisory lock on PostgreSQL).
//! - `crash-statements` (MariaDB): `forwards all` and `backwards all -y` killed at a seeded
//!   moment while migrations of four DDL statements each run under the counted dirty protocol
//!   (SPEC §14). After each kill: at most one dirty row, with a statement count that matches
//!   the tables in place (the statement after the count may have run: the crash window), and
//!   `check -v` naming that statement; then the repair of docs/src/locks-and-recovery.md (undo
//!   that statement by hand if it ran, or `--applied`/`--reverted` when it was the last;
//!   `resolve --resume`), and the command run to the end: every table present exactly once
//!   (or gone), every migration applied (or pending).
//! - `connection-cut`: a TCP proxy in front of the server cuts every connection while ferry
//!   runs a slow migration: ferry exits 1 with an `error:` line, nothing is half-recorded, and
//!   a run straight to the server completes.
//! - `silent-server`: a listener that accepts connections and never answers, with
//!   `connect_timeout=3` in the URL: ferry exits 1 within 8 s saying it timed out.
//! - `secrets`: a password in every URL, through successful runs and errors, with `-v`: the
//!   password appears nowhere in stdout or stderr.
//!
//! One line per scenario and backend (`ok` / `FAILED` and what was found), a summary, and a
//! JSON report in `<target dir>/stress/report.json`. Exits non-zero when anything failed.

mod db;
mod ferry;
mod project;
mod proxy;
mod scenarios;
mod statements;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use crate::{cargo, target_dir, workspace_root};
use db::Kind;

/// Options of `cargo xtask stress`.
#[derive(Debug, Args)]
pub struct StressArgs {
    /// Backend to stress
    #[arg(long, value_enum, default_value_t = BackendArg::All)]
    backend: BackendArg,
    /// Seed of the random kill delays [default: from the clock; printed]
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// 20 kills of each command per backend instead of 3
    #[arg(long, conflicts_with = "short")]
    long: bool,
    /// The fast variant for CI: 20 migrations in the concurrency runs, 2 kills of each command
    #[arg(long)]
    short: bool,
    /// Rewrite the measured part of docs/reliability.md from this run
    #[arg(long)]
    write_docs: bool,
}

impl StressArgs {
    /// The arguments of `--short` on every backend, as `cargo xtask ci stress` runs it.
    pub fn short() -> StressArgs {
        StressArgs {
            backend: BackendArg::All,
            seed: None,
            long: false,
            short: true,
            write_docs: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
    Mysql,
    All,
}

/// How much of everything, by `--short` / default / `--long`.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `short`, `default` or `long`.
    pub mode: &'static str,
    /// Concurrent runners in the concurrency scenarios.
    pub runners: usize,
    /// Migrations of the concurrency project.
    pub concurrency_migrations: usize,
    /// Migrations of the crash project (each takes about 50 ms).
    pub crash_migrations: usize,
    /// Kills of `forwards all`, and as many of `backwards all -y`, per backend.
    pub kills: usize,
    /// Kill delays are drawn from `0..=max_kill_delay_ms`.
    pub max_kill_delay_ms: u64,
    /// The seed everything random derives from.
    pub seed: u64,
}

/// The outcome of one scenario on one backend.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub backend: &'static str,
    pub scenario: &'static str,
    /// What was wrong; empty when the scenario passed.
    pub problems: Vec<String>,
    /// Things worth knowing that are not failures.
    pub notes: Vec<String>,
    /// One line saying what was run and found.
    pub summary: String,
    /// Everything the report should hold (runners, kills, delays, connections cut, ...).
    pub details: Value,
    pub duration: Duration,
}

impl Outcome {
    pub fn new(backend: &'static str, scenario: &'static str) -> Outcome {
        Outcome {
            backend,
            scenario,
            problems: Vec::new(),
            notes: Vec::new(),
            summary: String::new(),
            details: json!({}),
            duration: Duration::ZERO,
        }
    }

    fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The line printed for it.
    fn line(&self) -> String {
        let verdict = if self.ok() { "ok" } else { "FAILED" };
        let mut line = format!(
            "{verdict:<6} {:<8} {:<21} {} ({:.1} s)",
            self.backend,
            self.scenario,
            self.summary,
            self.duration.as_secs_f64()
        );
        for p in &self.problems {
            line.push_str(&format!("\n         problem: {p}"));
        }
        for n in &self.notes {
            line.push_str(&format!("\n         note: {n}"));
        }
        line
    }

    fn to_json(&self) -> Value {
        json!({
            "scenario": self.scenario,
            "result": if self.ok() { "ok" } else { "failed" },
            "summary": self.summary,
            "problems": self.problems,
            "notes": self.notes,
            "duration_ms": self.duration.as_millis() as u64,
            "details": self.details,
        })
    }
}

/// A tiny xorshift64 generator: the kill delays are reproducible from `--seed`.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for `seed` mixed with `stream` (one stream per backend), via splitmix64 so
    /// that nearby seeds give unrelated sequences and the state is never zero.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut z = seed
            .wrapping_add(stream.wrapping_mul(0xA076_1D64_78BD_642F))
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..=max`.
    pub fn up_to(&mut self, max: u64) -> u64 {
        self.next_u64() % (max + 1)
    }
}

/// Run `cargo xtask stress`.
pub fn run(args: &StressArgs) -> Result<()> {
    let started = Instant::now();
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 % 1_000_000_000)
    });
    let settings = if args.short {
        Settings {
            mode: "short",
            runners: 16,
            concurrency_migrations: 20,
            crash_migrations: 30,
            kills: 2,
            max_kill_delay_ms: 1500,
            seed,
        }
    } else {
        Settings {
            mode: if args.long { "long" } else { "default" },
            runners: 16,
            concurrency_migrations: 50,
            crash_migrations: 50,
            kills: if args.long { 20 } else { 3 },
            max_kill_delay_ms: 1500,
            seed,
        }
    };
    let kinds: Vec<Kind> = match args.backend {
        BackendArg::Sqlite => vec![Kind::Sqlite],
        BackendArg::Postgres => vec![Kind::Postgres],
        BackendArg::Mysql => vec![Kind::Mysql],
        BackendArg::All => vec![Kind::Sqlite, Kind::Postgres, Kind::Mysql],
    };

    let binary = build_ferry_debug()?;
    println!(
        "stress ({}): seed {seed} (rerun with `cargo xtask stress --seed {seed}{}`), backends {}, binary {}",
        settings.mode,
        match settings.mode {
            "short" => " --short",
            "long" => " --long",
            _ => "",
        },
        kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
        binary.display()
    );
    let ferry = ferry::Ferry::new(binary.clone());

    // The silent-server checks mostly wait (up to 35 s when a timeout is not honoured): they
    // run beside everything else.
    let silent: Vec<_> = kinds
        .iter()
        .filter(|k| k.is_server())
        .map(|&kind| {
            let ferry = ferry.clone();
            std::thread::spawn(move || {
                scenarios::timed(kind, "silent-server", |o| {
                    scenarios::silent_server(&ferry, kind, o)
                })
            })
        })
        .collect();

    let mut outcomes = Vec::new();
    let mut record = |outcome: Outcome| {
        println!("{}", outcome.line());
        outcomes.push(outcome);
    };
    for &kind in &kinds {
        let mut rng = Rng::new(seed, kind as u64);
        record(scenarios::timed(kind, "concurrency", |o| {
            scenarios::concurrency(&ferry, &settings, kind, false, o)
        }));
        if kind == Kind::Postgres {
            record(scenarios::timed(kind, "concurrency-pgbouncer", |o| {
                scenarios::concurrency(&ferry, &settings, kind, true, o)
            }));
        }
        record(scenarios::timed(kind, "crash", |o| {
            scenarios::crash(&ferry, &settings, kind, &mut rng, o)
        }));
        if kind == Kind::Mysql {
            record(scenarios::timed(kind, "crash-statements", |o| {
                statements::crash_statements(&ferry, &settings, kind, &mut rng, o)
            }));
        }
        if kind.is_server() {
            record(scenarios::timed(kind, "connection-cut", |o| {
                scenarios::connection_cut(&ferry, kind, o)
            }));
            record(scenarios::timed(kind, "secrets", |o| {
                scenarios::secrets(&ferry, kind, o)
            }));
        }
    }
    for handle in silent {
        match handle.join() {
            Ok(outcome) => record(outcome),
            Err(_) => bail!("the silent-server check panicked"),
        }
    }

    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok()).collect();
    let elapsed = started.elapsed();
    let report = report_json(&settings, &kinds, &binary, &outcomes, elapsed);
    let path = write_report(&report)?;
    if args.write_docs {
        let docs = write_docs(&settings, &outcomes)?;
        println!("wrote {}", docs.display());
    }
    println!();
    println!(
        "stress ({}): {} of {} scenario runs passed, {} failed, in {:.0} s; seed {seed}; report {}",
        settings.mode,
        outcomes.len() - failed.len(),
        outcomes.len(),
        failed.len(),
        elapsed.as_secs_f64(),
        path.display()
    );
    if !failed.is_empty() {
        let names: Vec<String> = failed
            .iter()
            .map(|o| format!("{} {}", o.backend, o.scenario))
            .collect();
        bail!("stress: failed: {}", names.join(", "));
    }
    Ok(())
}

/// Build the debug `ferry` with every backend (`cargo build -p ferry-cli --bin ferry`) and
/// return its path.
fn build_ferry_debug() -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.current_dir(workspace_root())
        .args(["build", "-p", "ferry-cli", "--bin", "ferry"]);
    eprintln!("running cargo build -p ferry-cli --bin ferry");
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let binary = target_dir()
        .join("debug")
        .join(if cfg!(windows) { "ferry.exe" } else { "ferry" });
    if !binary.is_file() {
        bail!(
            "cargo build succeeded but {} does not exist",
            binary.display()
        );
    }
    Ok(binary)
}

/// The report: settings, then per backend its seed, runners, kills, connections cut and every
/// scenario's result with its details.
fn report_json(
    settings: &Settings,
    kinds: &[Kind],
    binary: &std::path::Path,
    outcomes: &[Outcome],
    elapsed: Duration,
) -> Value {
    let mut backends = serde_json::Map::new();
    for &kind in kinds {
        let mine: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.backend == kind.name())
            .collect();
        let sum = |key: &str| -> u64 {
            mine.iter()
                .map(|o| o.details[key].as_u64().unwrap_or(0))
                .sum()
        };
        backends.insert(
            kind.name().to_owned(),
            json!({
                "seed": settings.seed,
                "rng_stream": kind as u64,
                "runners": sum("runners"),
                "kills": sum("kills"),
                "cut_connections": sum("cut_connections"),
                "result": if mine.iter().all(|o| o.ok()) { "ok" } else { "failed" },
                "scenarios": mine.iter().map(|o| o.to_json()).collect::<Vec<_>>(),
            }),
        );
    }
    let failed = outcomes.iter().filter(|o| !o.ok()).count();
    json!({
        "tool": "cargo xtask stress",
        "mode": settings.mode,
        "seed": settings.seed,
        "rerun": format!(
            "cargo xtask stress --seed {}{}",
            settings.seed,
            match settings.mode { "short" => " --short", "long" => " --long", _ => "" }
        ),
        "settings": {
            "runners": settings.runners,
            "concurrency_migrations": settings.concurrency_migrations,
            "crash_migrations": settings.crash_migrations,
            "kills_per_command": settings.kills,
            "max_kill_delay_ms": settings.max_kill_delay_ms,
        },
        "ferry": ferry_version(binary),
        "finished_at_unix": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "duration_ms": elapsed.as_millis() as u64,
        "summary": {
            "scenario_runs": outcomes.len(),
            "ok": outcomes.len() - failed,
            "failed": failed,
        },
        "backends": backends,
    })
}

/// `ferry --version` of the binary under test.
fn ferry_version(binary: &std::path::Path) -> String {
    std::process::Command::new(binary)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The markers around the part of docs/reliability.md that `--write-docs` rewrites.
const DOCS_BEGIN: &str = "<!-- stress:begin (written by `cargo xtask stress --write-docs`) -->";
const DOCS_END: &str = "<!-- stress:end -->";

/// Rewrite the measured part of docs/reliability.md: the run's settings, then per backend a
/// table of scenario, result and what it found.
fn write_docs(settings: &Settings, outcomes: &[Outcome]) -> Result<PathBuf> {
    let path = workspace_root().join("docs/src/reliability.md");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let (Some(begin), Some(end)) = (text.find(DOCS_BEGIN), text.find(DOCS_END)) else {
        bail!(
            "{} lacks the markers {DOCS_BEGIN} and {DOCS_END}",
            path.display()
        );
    };
    let mut table = format!(
        "{DOCS_BEGIN}\n\nRun: `cargo xtask stress --seed {}{}` ({} mode: {} concurrent runners, {} migrations in the concurrency runs, {} migrations and {} kills of each command in the crash runs, kill delays up to {} ms).\n",
        settings.seed,
        match settings.mode {
            "short" => " --short",
            "long" => " --long",
            _ => "",
        },
        settings.mode,
        settings.runners,
        settings.concurrency_migrations,
        settings.crash_migrations,
        settings.kills,
        settings.max_kill_delay_ms
    );
    let mut backends: Vec<&str> = outcomes.iter().map(|o| o.backend).collect();
    backends.dedup();
    for backend in backends {
        table.push_str(&format!(
            "\n### {backend}\n\n| scenario | result | what was tried and found |\n|---|---|---|\n"
        ));
        for o in outcomes.iter().filter(|o| o.backend == backend) {
            let mut found = o.summary.replace('|', "\\|");
            for problem in &o.problems {
                found.push_str(&format!("; problem: {}", problem.replace('|', "\\|")));
            }
            table.push_str(&format!(
                "| {} | {} | {} |\n",
                o.scenario,
                if o.ok() { "held" } else { "FAILED" },
                found
            ));
        }
    }
    table.push('\n');
    let rewritten = format!("{}{table}{}", &text[..begin], &text[end..]);
    std::fs::write(&path, rewritten).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Write the report to `<target dir>/stress/report.json`; return its path.
fn write_report(report: &Value) -> Result<PathBuf> {
    let dir = target_dir().join("stress");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("report.json");
    let text = serde_json::to_string_pretty(report).context("cannot render the report")?;
    std::fs::write(&path, text + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn the_rng_is_reproducible_and_streams_differ() {
        let a: Vec<u64> = {
            let mut r = Rng::new(42, 1);
            (0..5).map(|_| r.up_to(1500)).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(42, 1);
            (0..5).map(|_| r.up_to(1500)).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::new(42, 2);
            (0..5).map(|_| r.up_to(1500)).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|&d| d <= 1500));
        assert_ne!(Rng::new(0, 0).0, 0);
    }
}
