//! `cargo xtask bench --fleet`: a fleet run (SPEC §11) against the ways teams do it today.
//!
//! PostgreSQL databases and SQLite files (100 and 1,000 by default), 20 migrations each,
//! migrated by `ferry --fleet forwards all --parallel P` for P = 1, 4, 8, 16, by a shell loop
//! of single `ferry -d URL forwards all` runs, and by `xargs -P 8` of the same. Every mode
//! starts from unmigrated targets and is checked afterwards (`check --fleet --strict`). Peak
//! RSS of the fleet process at P = 1 and P = 16 gives the memory per running target. Then, on
//! the migrated fleet, `check --fleet`, `drift --fleet` (one replay for the whole fleet) and
//! `drift` of one target. PostgreSQL schemas of one database (100 by default, schema per
//! tenant) are migrated by `ferry --fleet forwards all --parallel 8` only, then measured the
//! same way on the migrated fleet. A benchmark: it asserts nothing about time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The fleet's app.
const APP: &str = "bench";
/// The `--parallel` values measured.
const PARALLEL: [usize; 4] = [1, 4, 8, 16];

/// What to measure.
pub struct FleetBench {
    /// The release binary.
    pub ferry: PathBuf,
    /// PostgreSQL databases (0: none).
    pub postgres: usize,
    /// SQLite files (0: none).
    pub sqlite: usize,
    /// PostgreSQL schemas of one database (0: none).
    pub schemas: usize,
    /// Migrations per target.
    pub migrations: usize,
    /// Rewrite the fleet section of docs/benchmarks.md.
    pub write_docs: bool,
}

/// One mode's wall time (and the fleet process's CPU time and peak RSS, where measured).
struct Sample {
    backend: &'static str,
    targets: usize,
    mode: String,
    wall: Duration,
    /// CPU time (user + system) and peak RSS of the `ferry --fleet` process.
    process: Option<(Duration, u64)>,
    /// The share of the machine's CPU time that was busy during the run (the database
    /// server's work included): near 100 % means the machine, not ferry, bounds the run.
    busy: Option<f64>,
}

/// Run the benchmark.
pub fn run(b: &FleetBench) -> Result<()> {
    let mut samples = Vec::new();
    if b.sqlite > 0 {
        let dir = project(b.migrations)?;
        let urls: Vec<String> = (0..b.sqlite)
            .map(|i| {
                format!(
                    "sqlite:{}",
                    dir.path().join(format!("tenants/t{i:04}.db")).display()
                )
            })
            .collect();
        std::fs::create_dir_all(dir.path().join("tenants"))?;
        let config = format!("database_url = \"sqlite:tenants/*.db\"\n{}", app_config());
        std::fs::write(dir.path().join("ferry.toml"), config)?;
        let reset = |_: &Path| -> Result<()> {
            for url in &urls {
                let path = url.trim_start_matches("sqlite:");
                let _ = std::fs::remove_file(path);
                std::fs::write(path, "")?;
            }
            Ok(())
        };
        samples.extend(measure_backend(b, "sqlite", dir.path(), &urls, &reset)?);
    }
    if b.postgres > 0 {
        let dir = project(b.migrations)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut names = Vec::new();
        let mut urls = Vec::new();
        for _ in 0..b.postgres {
            let name = ferry_driver_postgres::testing::unique_name("fleet");
            let url = rt
                .block_on(ferry_driver_postgres::testing::create_database(&name))
                .map_err(|e| anyhow::anyhow!("creating a PostgreSQL database: {e}"))?;
            names.push(name);
            urls.push(url);
        }
        let mut config = String::new();
        for (i, url) in urls.iter().enumerate() {
            config.push_str(&format!(
                "[[target]]\nname = \"t{i:04}\"\ndatabase_url = \"{url}\"\n"
            ));
        }
        config.push_str(&app_config());
        std::fs::write(dir.path().join("ferry.toml"), config)?;
        let reset = |project: &Path| -> Result<()> {
            // Unmigrated again: every target reversed, not timed.
            let status = Command::new(&b.ferry)
                .current_dir(project)
                .args([
                    "-q",
                    "--fleet",
                    "--parallel",
                    "16",
                    "backwards",
                    APP,
                    "all",
                    "-y",
                ])
                .stdout(Stdio::null())
                .status()?;
            if !status.success() {
                bail!("resetting the PostgreSQL fleet failed ({status})");
            }
            Ok(())
        };
        let result = measure_backend(b, "postgres", dir.path(), &urls, &reset);
        for name in &names {
            let _ = rt.block_on(ferry_driver_postgres::testing::drop_database(name));
        }
        samples.extend(result?);
    }
    if b.schemas > 0 {
        samples.extend(schema_fleet(b)?);
    }
    let table = render(&samples, b.migrations);
    print!("{table}");
    write_json(&samples)?;
    if b.write_docs {
        super::report::write_marked(
            "fleet-bench",
            "cargo xtask bench --fleet --write-docs",
            &table,
        )?;
    }
    Ok(())
}

/// The ferry.toml lines of the fleet's app.
fn app_config() -> String {
    format!("[[app]]\nname = \"{APP}\"\nmigrations = \"migrations/{APP}\"\n")
}

/// A project folder with the app's migrations.
fn project(migrations: usize) -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("ferry-fleet-bench-")
        .tempdir()?;
    let folder = dir.path().join("migrations").join(APP);
    std::fs::create_dir_all(&folder)?;
    for i in 1..=migrations {
        std::fs::write(
            folder.join(format!("{:014}_t{i}.sql", 20240101000000u64 + i as u64)),
            format!(
                "-- ferry:up\nCREATE TABLE t{i} (id INTEGER PRIMARY KEY, name VARCHAR(50));\nCREATE INDEX t{i}_name ON t{i} (name);\n-- ferry:down\nDROP TABLE t{i};\n"
            ),
        )?;
    }
    Ok(dir)
}

/// Every mode on one backend, each from unmigrated targets.
fn measure_backend(
    b: &FleetBench,
    backend: &'static str,
    project: &Path,
    urls: &[String],
    reset: &dyn Fn(&Path) -> Result<()>,
) -> Result<Vec<Sample>> {
    let list = project.join("urls.txt");
    std::fs::write(&list, urls.join("\n") + "\n")?;
    let ferry = b.ferry.display().to_string();
    let mut samples = Vec::new();
    let mut sample =
        |mode: String, wall: Duration, process: Option<(Duration, u64)>, busy: Option<f64>| {
            eprintln!("{backend} {mode}: {:.2} s", wall.as_secs_f64());
            samples.push(Sample {
                backend,
                targets: urls.len(),
                mode,
                wall,
                process,
                busy,
            });
        };
    for parallel in PARALLEL {
        reset(project)?;
        let p = parallel.to_string();
        let before = cpu_counters();
        let (wall, cpu, rss) = measured(
            project,
            &b.ferry,
            &["-q", "--fleet", "--parallel", &p, "forwards", "all"],
        )?;
        check_migrated(b, project)?;
        sample(
            format!("ferry --fleet --parallel {parallel}"),
            wall,
            Some((cpu, rss)),
            busy_share(before, cpu_counters()),
        );
    }
    let loop_script = format!(
        "while read -r url; do '{ferry}' -q -d \"$url\" forwards all || exit 1; done < urls.txt"
    );
    let xargs_script = format!("xargs -P 8 -I{{}} '{ferry}' -q -d {{}} forwards all < urls.txt");
    for (mode, script) in [
        ("shell loop of `ferry forwards all`", loop_script),
        ("xargs -P 8 of `ferry forwards all`", xargs_script),
    ] {
        reset(project)?;
        let before = cpu_counters();
        let started = Instant::now();
        let status = Command::new("sh")
            .current_dir(project)
            .args(["-c", &script])
            .status()?;
        let wall = started.elapsed();
        if !status.success() {
            bail!("{mode} failed ({status})");
        }
        check_migrated(b, project)?;
        sample(
            mode.to_owned(),
            wall,
            None,
            busy_share(before, cpu_counters()),
        );
    }
    // Drift of the migrated fleet (SPEC §12.5, issue 21: at most 2× one `check --fleet`
    // plus one replay, the cost of `drift` on one target).
    let first = urls.first().context("a fleet of no target")?;
    for (mode, args) in [
        (
            "check --fleet --parallel 8".to_owned(),
            vec!["-q", "--fleet", "--parallel", "8", "check", "--strict"],
        ),
        (
            "drift --fleet --parallel 8".to_owned(),
            vec!["-q", "--fleet", "--parallel", "8", "drift"],
        ),
        (
            "drift of one target (one replay)".to_owned(),
            vec!["-q", "-d", first.as_str(), "drift"],
        ),
    ] {
        let before = cpu_counters();
        let (wall, cpu, rss) = measured(project, &b.ferry, &args)?;
        sample(
            mode,
            wall,
            Some((cpu, rss)),
            busy_share(before, cpu_counters()),
        );
    }
    Ok(samples)
}

/// A fleet of PostgreSQL schemas in one database: migrated once by the fleet, then checked
/// and drifted.
fn schema_fleet(b: &FleetBench) -> Result<Vec<Sample>> {
    let dir = project(b.migrations)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let name = ferry_driver_postgres::testing::unique_name("fleet_schemas");
    let url = rt
        .block_on(ferry_driver_postgres::testing::create_database(&name))
        .map_err(|e| anyhow::anyhow!("creating a PostgreSQL database: {e}"))?;
    let result = (|| -> Result<Vec<Sample>> {
        let schemas: Vec<String> = (0..b.schemas).map(|i| format!("tenant{i:04}")).collect();
        let create: Vec<String> = schemas
            .iter()
            .map(|s| format!("CREATE SCHEMA {s};"))
            .collect();
        rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            let task = tokio::spawn(connection);
            client.batch_execute(&create.join("\n")).await?;
            drop(client);
            let _ = task.await;
            Ok::<_, tokio_postgres::Error>(())
        })
        .context("creating the tenants' schemas")?;
        let list: Vec<String> = schemas.iter().map(|s| format!("\"{s}\"")).collect();
        let config = format!(
            "database_url = \"{url}\"\nschemas = [{}]\n{}",
            list.join(", "),
            app_config()
        );
        std::fs::write(dir.path().join("ferry.toml"), config)?;
        let mut samples = Vec::new();
        let backend = "postgres schemas";
        for (mode, args) in [
            (
                "ferry --fleet --parallel 8".to_owned(),
                vec!["-q", "--fleet", "--parallel", "8", "forwards", "all"],
            ),
            (
                "check --fleet --parallel 8".to_owned(),
                vec!["-q", "--fleet", "--parallel", "8", "check", "--strict"],
            ),
            (
                "drift --fleet --parallel 8".to_owned(),
                vec!["-q", "--fleet", "--parallel", "8", "drift"],
            ),
            (
                "drift of one target (one replay)".to_owned(),
                vec!["-q", "--fleet", "--target", "tenant0000", "drift"],
            ),
        ] {
            let before = cpu_counters();
            let (wall, cpu, rss) = measured(dir.path(), &b.ferry, &args)?;
            eprintln!("{backend} {mode}: {:.2} s", wall.as_secs_f64());
            samples.push(Sample {
                backend,
                targets: schemas.len(),
                mode,
                wall,
                process: Some((cpu, rss)),
                busy: busy_share(before, cpu_counters()),
            });
        }
        Ok(samples)
    })();
    let _ = rt.block_on(ferry_driver_postgres::testing::drop_database(&name));
    result
}

/// Run ferry through xtask's measuring helper: wall time, CPU time and peak RSS.
fn measured(project: &Path, ferry: &Path, args: &[&str]) -> Result<(Duration, Duration, u64)> {
    let report = project.join("measure.txt");
    let status = Command::new(std::env::current_exe()?)
        .current_dir(project)
        .arg(super::HELPER)
        .arg(&report)
        .arg(ferry)
        .args(args)
        .stdout(Stdio::null())
        .status()?;
    let text = std::fs::read_to_string(&report).context("the measuring helper wrote nothing")?;
    let fields: Vec<u64> = text
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let [code, wall_us, cpu_us, rss] = fields[..] else {
        bail!("unexpected measurement: {text}");
    };
    if !status.success() || code != 0 {
        bail!("ferry {} failed (exit {code})", args.join(" "));
    }
    Ok((
        Duration::from_micros(wall_us),
        Duration::from_micros(cpu_us),
        rss,
    ))
}

/// The machine's busy and total CPU time so far (`/proc/stat`, in ticks), where readable.
fn cpu_counters() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
    let total: u64 = ticks.iter().take(8).sum();
    Some((total - idle, total))
}

/// The busy share of the machine between two readings of [`cpu_counters`].
fn busy_share(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<f64> {
    let ((b0, t0), (b1, t1)) = (before?, after?);
    (t1 > t0).then(|| (b1 - b0) as f64 / (t1 - t0) as f64)
}

/// Every target fully migrated.
fn check_migrated(b: &FleetBench, project: &Path) -> Result<()> {
    let status = Command::new(&b.ferry)
        .current_dir(project)
        .args(["-q", "--fleet", "--parallel", "16", "check", "--strict"])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!(
            "after the run, `check --fleet --strict` says not every target is migrated ({status})"
        );
    }
    Ok(())
}

/// The Markdown table and the ratios the targets are stated in.
fn render(samples: &[Sample], migrations: usize) -> String {
    let mut text = String::from(
        "| backend | targets × migrations | mode | wall | vs. shell loop | ferry CPU | peak RSS | machine busy |\n|---|---|---|---|---|---|---|---|\n",
    );
    for s in samples {
        let ratio = samples
            .iter()
            .find(|o| o.backend == s.backend && o.mode.starts_with("shell loop"))
            .map_or("-".to_owned(), |o| {
                format!(
                    "{:.2}×",
                    s.wall.as_secs_f64() / o.wall.as_secs_f64().max(1e-9)
                )
            });
        let (cpu, rss) = match s.process {
            Some((cpu, rss)) => (
                format!("{:.2} s", cpu.as_secs_f64()),
                format!("{:.1} MB", rss as f64 / 1e6),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let busy = s
            .busy
            .map_or("-".to_owned(), |b| format!("{:.0} %", b * 100.0));
        text.push_str(&format!(
            "| {} | {} × {migrations} | {} | {:.2} s | {ratio} | {cpu} | {rss} | {busy} |\n",
            s.backend,
            s.targets,
            s.mode,
            s.wall.as_secs_f64()
        ));
    }
    // Issue 21: drift of the whole fleet at most 2× one `check --fleet` plus one replay (the
    // drift of one target).
    for backend in ["sqlite", "postgres", "postgres schemas"] {
        let wall = |mode: &str| {
            samples
                .iter()
                .find(|s| s.backend == backend && s.mode.starts_with(mode))
                .map(|s| s.wall.as_secs_f64())
        };
        if let (Some(check), Some(drift), Some(one)) = (
            wall("check --fleet"),
            wall("drift --fleet"),
            wall("drift of one target"),
        ) {
            let target = 2.0 * check + one;
            let verdict = if drift <= target { "met" } else { "**missed**" };
            text.push_str(&format!(
                "\n{backend}: drift --fleet {drift:.2} s against 2 × check {check:.2} s + one drift {one:.2} s = {target:.2} s ({:.2}×): {verdict}.\n",
                drift / target
            ));
        }
    }
    for backend in ["sqlite", "postgres"] {
        let rss = |p: usize| {
            samples
                .iter()
                .find(|s| s.backend == backend && s.mode.ends_with(&format!("--parallel {p}")))
                .and_then(|s| s.process.map(|(_, rss)| rss))
        };
        if let (Some(one), Some(sixteen)) = (rss(1), rss(16)) {
            let per = (sixteen as f64 - one as f64) / 15.0 / 1e6;
            text.push_str(&format!(
                "\n{backend}: peak RSS grows by {per:.2} MB per concurrently running target (--parallel 16 against 1).\n"
            ));
        }
    }
    text
}

fn write_json(samples: &[Sample]) -> Result<()> {
    let dir = crate::target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let list: Vec<serde_json::Value> = samples
        .iter()
        .map(|s| {
            serde_json::json!({
                "backend": s.backend,
                "targets": s.targets,
                "mode": s.mode,
                "wall_ms": s.wall.as_millis() as u64,
                "cpu_ms": s.process.map(|(cpu, _)| cpu.as_millis() as u64),
                "machine_busy": s.busy,
                "peak_rss_bytes": s.process.map(|(_, rss)| rss),
            })
        })
        .collect();
    let path = dir.join("fleet.json");
    std::fs::write(&path, serde_json::to_string_pretty(&list)?)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
