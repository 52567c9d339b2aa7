//! ferry's build tasks, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`):
//!
//! - `dist`: release archives with the binary, shell completions, man pages and docs;
//! - `bench`: ferry's command phases against the database's own client (wall, CPU, peak RSS);
//! - `ci`: the checks CI makes (`.ci/run` and `.github/workflows/ci.yml` both call it);
//! - `stress`: ferry as separate processes under concurrency, kills, lost connections and
//!   with passwords in its URLs, against real databases.

mod bench;
mod ci;
mod dist;
mod stress;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

/// ferry's build tasks (run them as `cargo xtask <task>`)
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build ferry in release mode and pack it into target/dist with completions, man pages and docs
    Dist(dist::DistArgs),
    /// Measure ferry's command phases against the database's own client (a benchmark, not a test)
    Bench(bench::BenchArgs),
    /// Run CI's checks: the named steps, or all of them in order
    Ci(ci::CiArgs),
    /// Stress ferry against real databases: concurrent runs, kill -9, cut connections, silent servers, secrets
    Stress(stress::StressArgs),
}

fn main() -> Result<()> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == bench::HELPER) {
        return bench::measure_helper(&args[2..]);
    }
    match Cli::parse().task {
        Task::Dist(args) => dist::run(&args),
        Task::Bench(args) => bench::run(&args),
        Task::Ci(args) => ci::run(&args),
        Task::Stress(args) => stress::run(&args),
    }
}

/// The workspace root (the parent of this crate's folder).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_owned()
}

/// The cargo that runs us (`cargo xtask` sets `CARGO`), else `cargo` from `PATH`.
///
/// Without the variables `cargo run` sets for the program it runs (`CARGO_MANIFEST_DIR`,
/// `CARGO_PKG_*`, ...): build scripts that watch them (ring's does) would otherwise see them
/// change between a nested build and a plain one, and rebuild half the tree each time.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "OUT_DIR"
            )
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Where cargo puts build output: `CARGO_TARGET_DIR` (relative to the root), else `target/`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// ferry's version, without the backend list `ferry_cli::command()` appends.
fn ferry_version() -> String {
    ferry_cli::command()
        .get_version()
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or(env!("CARGO_PKG_VERSION"))
        .to_owned()
}

/// The backends ferry-cli has as cargo features, in the order `ferry --version` lists them.
const BACKENDS: [&str; 3] = ["postgres", "sqlite", "mysql"];

/// Parse a `--features` list (`sqlite`, `postgres,mysql`) into backend names.
fn parse_features(list: &str) -> Result<Vec<String>> {
    let features: Vec<String> = list
        .split([',', ' '])
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    if features.is_empty() {
        bail!("--features needs at least one of: {}", BACKENDS.join(", "));
    }
    for f in &features {
        if !BACKENDS.contains(&f.as_str()) {
            bail!(
                "unknown feature `{f}`; ferry-cli's features are {}",
                BACKENDS.join(", ")
            );
        }
    }
    Ok(features)
}

/// Run `cargo build --release -p ferry-cli` with `features` (all backends when `None`) for
/// `target` (the host when `None`), and return the path of the built binary.
fn build_ferry(features: Option<&[String]>, target: Option<&str>) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.current_dir(workspace_root()).args([
        "build",
        "--release",
        "-p",
        "ferry-cli",
        "--bin",
        "ferry",
    ]);
    if let Some(target) = target {
        cmd.args(["--target", target]);
    }
    if let Some(features) = features {
        cmd.args(["--no-default-features", "--features", &features.join(",")]);
    }
    eprintln!("running {cmd:?}");
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let mut dir = target_dir();
    if let Some(target) = target {
        dir.push(target);
    }
    dir.push("release");
    let windows = target.map_or(cfg!(windows), |t| t.contains("windows"));
    let binary = dir.join(if windows { "ferry.exe" } else { "ferry" });
    if !binary.is_file() {
        bail!(
            "cargo build succeeded but {} does not exist",
            binary.display()
        );
    }
    Ok(binary)
}

/// The host triple, from `rustc -vV`.
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .context("cannot run `rustc -vV`")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_owned())
        .context("`rustc -vV` printed no `host:` line")
}
