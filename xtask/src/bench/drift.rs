//! `cargo xtask bench --drift`: what `ferry drift` (SPEC §12) costs on a long history, against
//! `forwards all` of the same history on an empty database (issue 21: drift at most 1.5× it).
//!
//! The app of `--verify` (N migrations, 300 by default), in its two histories
//! ([`super::history`]: synthetic, and shaped like a real application's).
//! Per backend and run: a fresh database, `forwards all` timed, then `ferry drift` on it timed
//! (its scratch database on the same server, or a temporary SQLite file). Medians of `--runs`.
//! A benchmark: it asserts nothing about time, but a drift run that finds drift is an error.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

const APP: &str = "big";

/// The histories measured, each on every backend.
const SHAPES: [super::history::Shape; 2] = [
    super::history::Shape::Synthetic,
    super::history::Shape::RealApp,
];

/// What to measure.
pub struct DriftBench {
    /// The release binary.
    pub ferry: PathBuf,
    /// Migrations in the app.
    pub migrations: usize,
    /// `(backend, server URL)`: SQLite needs none.
    pub backends: Vec<(&'static str, Option<String>)>,
    /// Runs per backend, each on a fresh database; medians are reported.
    pub runs: usize,
    /// Rewrite the drift section of docs/benchmarks.md with the table.
    pub write_docs: bool,
}

/// Run the benchmark and print a Markdown table.
pub fn run(b: &DriftBench) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("ferry-drift-bench-")
        .tempdir()?;
    let folder = dir.path().join("migrations").join(APP);
    std::fs::write(
        dir.path().join("ferry.toml"),
        format!("[[app]]\nname = \"{APP}\"\nmigrations = \"migrations/{APP}\"\n"),
    )?;
    let mut text = String::from(
        "| backend | history | forwards all | drift | ratio | per migration |\n|---|---|---|---|---|---|\n",
    );
    for (shape, (backend, server)) in SHAPES
        .iter()
        .flat_map(|shape| b.backends.iter().map(move |backend| (*shape, backend)))
    {
        super::history::write(&folder, shape, backend, b.migrations)?;
        let history = shape.name();
        let mut runs = Vec::new();
        for run in 1..=b.runs.max(1) {
            let (forwards, drift) = forwards_then(
                &b.ferry,
                dir.path(),
                backend,
                server.as_deref(),
                |scratch| vec!["drift".into(), "--scratch-url".into(), scratch.into()],
            )?;
            eprintln!(
                "{backend} {history} run {run}: forwards all {:.2} s, drift {:.2} s ({:.2}×)",
                forwards.as_secs_f64(),
                drift.as_secs_f64(),
                drift.as_secs_f64() / forwards.as_secs_f64().max(1e-9)
            );
            runs.push((forwards, drift));
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let forwards = median(runs.iter().map(|r| r.0.as_secs_f64()).collect());
        let drift = median(runs.iter().map(|r| r.1.as_secs_f64()).collect());
        let ratio = median(
            runs.iter()
                .map(|r| r.1.as_secs_f64() / r.0.as_secs_f64().max(1e-9))
                .collect(),
        );
        let per_migration = drift * 1000.0 / b.migrations as f64;
        let line = format!(
            "| {backend} | {history} | {forwards:.2} s | {drift:.2} s | {ratio:.2}× | {per_migration:.1} ms |\n"
        );
        eprint!("{line}");
        text.push_str(&line);
    }
    if b.runs > 1 {
        text.push_str(&format!(
            "\nMedians of {} runs on fresh databases; the ratio is the median of each run's own.\n",
            b.runs
        ));
    }
    print!("{text}");
    if b.write_docs {
        super::report::write_marked(
            "drift-bench",
            &format!("cargo xtask bench --drift --runs {} --write-docs", b.runs),
            &text,
        )?;
    }
    Ok(())
}

/// `forwards all` on a fresh database, then the command `then(scratch server URL)` gives, on
/// it; both timed. (Also `bench --lint`'s.)
pub(super) fn forwards_then(
    ferry: &Path,
    project: &Path,
    backend: &str,
    server: Option<&str>,
    then: impl Fn(&str) -> Vec<String>,
) -> Result<(Duration, Duration)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let name = ferry_core::scratch::unique_name("dbench");
    let url = match backend {
        "sqlite" => {
            let _ = std::fs::remove_file(project.join("live.db"));
            format!("sqlite:{}", project.join("live.db").display())
        }
        "postgres" => rt
            .block_on(ferry_driver_postgres::testing::create_database(&name))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        _ => rt
            .block_on(ferry_driver_mysql::testing::create_database(&name))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let ferry = |args: &[&str]| -> Result<Duration> {
        let started = Instant::now();
        let out = Command::new(ferry)
            .current_dir(project)
            .args(["-q", "-d", &url])
            .args(args)
            .stdin(Stdio::null())
            .output()?;
        let took = started.elapsed();
        if !out.status.success() {
            bail!(
                "ferry {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(took)
    };
    let result = (|| {
        let forwards = ferry(&["forwards", "all"])?;
        let scratch = server.map_or_else(|| url.clone(), str::to_owned);
        let args = then(&scratch);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let second = ferry(&args)?;
        Ok((forwards, second))
    })();
    match backend {
        "postgres" => {
            let _ = rt.block_on(ferry_driver_postgres::testing::drop_database(&name));
        }
        "mysql" => {
            let _ = rt.block_on(ferry_driver_mysql::testing::drop_database(&name));
        }
        _ => {}
    }
    result
}
