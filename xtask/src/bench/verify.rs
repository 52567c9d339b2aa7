//! `cargo xtask bench --verify`: what `ferry verify` (SPEC §9) costs on a long history,
//! against plain `forwards all`, `backwards all -y`, `forwards all` on the same backend.
//!
//! One app of N migrations (300 by default), each `CREATE TABLE` + `CREATE INDEX`, down
//! `DROP TABLE`. Verify runs with `-v`, whose last line says how much of its time went to
//! schema snapshots. A benchmark: it asserts nothing about time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

const APP: &str = "big";

/// What to measure.
pub struct VerifyBench {
    /// The release binary.
    pub ferry: PathBuf,
    /// Migrations in the app.
    pub migrations: usize,
    /// `(backend, server URL)`: SQLite needs none.
    pub backends: Vec<(&'static str, Option<String>)>,
}

/// Run the benchmark and print a Markdown table.
pub fn run(b: &VerifyBench) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("ferry-verify-bench-")
        .tempdir()?;
    let folder = dir.path().join("migrations").join(APP);
    std::fs::create_dir_all(&folder)?;
    for i in 1..=b.migrations {
        std::fs::write(
            folder.join(format!("{:014}_t{i}.sql", 20240000000000u64 + i as u64)),
            format!(
                "-- ferry:up\nCREATE TABLE t{i} (id INTEGER PRIMARY KEY, name VARCHAR(50), created_at TIMESTAMP);\nCREATE INDEX t{i}_name ON t{i} (name);\n-- ferry:down\nDROP TABLE t{i};\n"
            ),
        )?;
    }
    std::fs::write(
        dir.path().join("ferry.toml"),
        format!("[[app]]\nname = \"{APP}\"\nmigrations = \"migrations/{APP}\"\n"),
    )?;
    let mut text = String::from(
        "| backend | up + down + up | verify | ratio | of which snapshots |\n|---|---|---|---|---|\n",
    );
    for (backend, server) in &b.backends {
        let (plain, verify, snapshots) = measure(b, dir.path(), backend, server.as_deref())?;
        let ratio = verify.as_secs_f64() / plain.as_secs_f64().max(1e-9);
        let share = snapshots.as_secs_f64() / verify.as_secs_f64().max(1e-9) * 100.0;
        let line = format!(
            "| {backend} | {:.2} s | {:.1} s | {ratio:.1}× | {:.1} s ({share:.0} %) |\n",
            plain.as_secs_f64(),
            verify.as_secs_f64(),
            snapshots.as_secs_f64()
        );
        eprint!("{line}");
        text.push_str(&line);
    }
    print!("{text}");
    Ok(())
}

/// Plain up + down + up on a fresh database, then verify (on its own scratch database).
fn measure(
    b: &VerifyBench,
    project: &Path,
    backend: &str,
    server: Option<&str>,
) -> Result<(Duration, Duration, Duration)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let name = ferry_core::scratch::unique_name("vbench");
    let url = match backend {
        "sqlite" => format!("sqlite:{}", project.join("plain.db").display()),
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
        Ok((plain, verify, Duration::from_millis(snapshots_ms)))
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
