//! `cargo xtask bench --verify`: what `ferry verify` (SPEC §9) costs on a long history,
//! against plain `forwards all`, `backwards all -y`, `forwards all` on the same backend.
//!
//! One app of N migrations (300 by default), in two histories ([`super::history`]): the
//! synthetic one (each `CREATE TABLE` + `CREATE INDEX`, down `DROP TABLE`) and one shaped like
//! a real application's (foreign keys, views over joins re-created, trigger functions and
//! procedures replaced, enums extended). Verify runs with `-v`, whose last line says how much of its time went to
//! schema snapshots. Each backend runs `--runs` times on fresh databases and the medians are
//! reported. A benchmark: it asserts nothing about time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

const APP: &str = "big";

/// The histories measured, each on every backend.
const SHAPES: [super::history::Shape; 2] = [
    super::history::Shape::Synthetic,
    super::history::Shape::RealApp,
];

/// What to measure.
pub struct VerifyBench {
    /// The release binary.
    pub ferry: PathBuf,
    /// Migrations in the app.
    pub migrations: usize,
    /// `(backend, server URL)`: SQLite needs none.
    pub backends: Vec<(&'static str, Option<String>)>,
    /// Runs per backend, each on fresh databases; medians are reported.
    pub runs: usize,
    /// Rewrite the verify section of docs/benchmarks.md with the table.
    pub write_docs: bool,
}

/// Run the benchmark and print a Markdown table.
pub fn run(b: &VerifyBench) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("ferry-verify-bench-")
        .tempdir()?;
    let folder = dir.path().join("migrations").join(APP);
    std::fs::write(
        dir.path().join("ferry.toml"),
        format!("[[app]]\nname = \"{APP}\"\nmigrations = \"migrations/{APP}\"\n"),
    )?;
    let mut text = String::from(
        "| backend | history | up + down + up | verify | ratio | per migration | of which snapshots | read whole |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (shape, (backend, server)) in SHAPES
        .iter()
        .flat_map(|shape| b.backends.iter().map(move |backend| (*shape, backend)))
    {
        super::history::write(&folder, shape, backend, b.migrations)?;
        let history = shape.name();
        let mut runs = Vec::new();
        for run in 1..=b.runs.max(1) {
            let (plain, verify, snapshots, whole) =
                measure(b, dir.path(), backend, server.as_deref())?;
            eprintln!(
                "{backend} {history} run {run}: up + down + up {:.2} s, verify {:.2} s ({:.1}×), snapshots {:.2} s, {whole} read whole",
                plain.as_secs_f64(),
                verify.as_secs_f64(),
                verify.as_secs_f64() / plain.as_secs_f64().max(1e-9),
                snapshots.as_secs_f64()
            );
            runs.push((plain, verify, snapshots, whole));
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let plain = median(runs.iter().map(|r| r.0.as_secs_f64()).collect());
        let verify = median(runs.iter().map(|r| r.1.as_secs_f64()).collect());
        let snapshots = median(runs.iter().map(|r| r.2.as_secs_f64()).collect());
        // The ratio of each run's own pair: the machine's drift between runs cancels out.
        let ratio = median(
            runs.iter()
                .map(|r| r.1.as_secs_f64() / r.0.as_secs_f64().max(1e-9))
                .collect(),
        );
        let share = snapshots / verify.max(1e-9) * 100.0;
        let whole = runs.iter().map(|r| r.3).max().unwrap_or(0);
        let per_migration = verify * 1000.0 / b.migrations as f64;
        let line = format!(
            "| {backend} | {history} | {plain:.2} s | {verify:.2} s | {ratio:.1}× | {per_migration:.1} ms | {snapshots:.2} s ({share:.0} %) | {whole} |\n"
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
            "verify-bench",
            &format!("cargo xtask bench --verify --runs {} --write-docs", b.runs),
            &text,
        )?;
    }
    Ok(())
}

/// Plain up + down + up on a fresh database, then verify (on its own scratch database).
fn measure(
    b: &VerifyBench,
    project: &Path,
    backend: &str,
    server: Option<&str>,
) -> Result<(Duration, Duration, Duration, u64)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let name = ferry_core::scratch::unique_name("vbench");
    let url = match backend {
        "sqlite" => {
            // A fresh file for each run.
            let _ = std::fs::remove_file(project.join("plain.db"));
            format!("sqlite:{}", project.join("plain.db").display())
        }
        "postgres" => rt
            .block_on(ferry_driver_postgres::testing::create_database(&name))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        _ => rt
            .block_on(ferry_driver_mysql::testing::create_database(&name))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let ferry = |args: &[&str]| -> Result<String> {
        let out = Command::new(&b.ferry)
            .current_dir(project)
            .args(["-d", &url])
            .args(args)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            bail!(
                "ferry {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let result = (|| {
        let started = Instant::now();
        ferry(&["-q", "forwards", "all"])?;
        ferry(&["-q", "backwards", APP, "all", "-y"])?;
        ferry(&["-q", "forwards", "all"])?;
        let plain = started.elapsed();
        // Verify's scratch database goes on the same server (or a temporary SQLite file).
        let scratch = server.map_or_else(|| url.clone(), str::to_owned);
        let started = Instant::now();
        let out = Command::new(&b.ferry)
            .current_dir(project)
            .args(["-v", "verify", "--scratch-url", &scratch])
            .args(["-d", &url])
            .stdin(Stdio::null())
            .output()?;
        let verify = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!("ferry verify failed: {stderr}");
        }
        // `time: T ms over N migrations, S ms of it in schema snapshots`
        let line = stderr
            .lines()
            .find(|l| l.starts_with("time:"))
            .context("verify -v printed no time line")?;
        let snapshots_ms: u64 = line
            .split(", ")
            .nth(1)
            .and_then(|part| part.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .context("cannot read the snapshot time")?;
        // `(W read whole, ...`: how many snapshots change tracking could not spare.
        let whole: u64 = line
            .split_once(" (")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .context("cannot read how many snapshots were read whole")?;
        Ok((plain, verify, Duration::from_millis(snapshots_ms), whole))
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
