//! `cargo xtask ci [STEP...]`: the checks CI makes, in one place.
//!
//! `.ci/run` (local CI: it starts the database services, then runs every step) and
//! `.github/workflows/ci.yml` (one job per step or group of steps) both call this, so the two
//! cannot drift apart. Each step can be run alone, e.g. `cargo xtask ci core-tree msrv`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use crate::{cargo, target_dir, workspace_root};

/// Options of `cargo xtask ci`.
#[derive(Debug, Args)]
pub struct CiArgs {
    /// Steps to run, in the order given [default: all of them, in the order listed here]
    #[arg(value_enum, value_name = "STEP")]
    steps: Vec<Step>,
}

/// One check. The order of the variants is the order `cargo xtask ci` runs them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Step {
    /// cargo fmt --all --check
    Fmt,
    /// cargo clippy on all targets and features, warnings denied
    Clippy,
    /// cargo doc --no-deps with rustdoc warnings denied
    Docs,
    /// ferry-core's dependency tree holds no driver, database client, runtime or clap
    CoreTree,
    /// ARCHITECTURE.md's paths exist, and ferry-core's modules import only downward (xtask/src/tidy.rs)
    Tidy,
    /// each one-backend ferry (the CLI and the `ferry` crate) builds, and its tree holds no other backend's client
    BackendTrees,
    /// no dependency needs a newer Rust than the workspace's rust-version
    Msrv,
    /// the README quick start on a copy of examples/blog
    Quickstart,
    /// cargo test --workspace (the README's test command), with a fixed property-test seed
    Test,
    /// cargo xtask bench at N = 50, K = 1 on every backend, so that the harness cannot rot (asserts nothing about time)
    Bench,
    /// cargo xtask stress --short: concurrent runs, kills, cut connections, secrets on every backend
    Stress,
}

/// What ferry-core must never depend on (SPEC §1).
const NOT_IN_CORE: [&str; 5] = ["tokio-postgres", "rusqlite", "mysql_async", "clap", "tokio"];

/// Each backend feature of ferry-cli and the database client it pulls in.
const BACKEND_CLIENTS: [(&str, &str); 3] = [
    ("sqlite", "rusqlite"),
    ("postgres", "tokio-postgres"),
    ("mysql", "mysql_async"),
];

/// Run `cargo xtask ci`.
pub fn run(args: &CiArgs) -> Result<()> {
    let all = args.steps.is_empty();
    let steps = if all {
        Step::value_variants().to_vec()
    } else {
        args.steps.clone()
    };
    for &step in &steps {
        let name = step_name(step);
        println!("\n==> {name}");
        let result = match step {
            Step::Fmt => cargo_ok("fmt --all -- --check"),
            Step::Clippy => {
                cargo_ok("clippy --workspace --all-targets --all-features -- -D warnings")
            }
            Step::Docs => run_ok(cargo().env("RUSTDOCFLAGS", "-D warnings").args([
                "doc",
                "--workspace",
                "--no-deps",
            ])),
            Step::CoreTree => core_tree(),
            Step::Tidy => crate::tidy::run(),
            Step::BackendTrees => backend_trees(),
            Step::Msrv => msrv(),
            Step::Quickstart => quickstart(),
            Step::Test => run_ok(
                cargo()
                    .args(["test", "--workspace"])
                    .env("PROPTEST_RNG_SEED", proptest_seed()),
            ),
            Step::Bench => crate::bench::run(&crate::bench::BenchArgs::ci()),
            Step::Stress => crate::stress::run(&crate::stress::StressArgs::short()),
        };
        result.with_context(|| format!("ci step `{name}` failed"))?;
    }
    println!();
    if all {
        println!("ci: all checks passed");
    } else {
        let names: Vec<_> = steps.iter().map(|&s| step_name(s)).collect();
        println!("ci: passed: {}", names.join(", "));
    }
    Ok(())
}

/// The seed of the property tests' random cases in CI, so that a CI run is reproducible:
/// `PROPTEST_RNG_SEED` when it is set, else [`PROPTEST_SEED`]. (Plain `cargo test` draws a new
/// seed each run and keeps exploring; a failure it finds is saved under
/// `proptest-regressions/`, which is committed and replayed first by every run.)
fn proptest_seed() -> String {
    std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .filter(|seed| !seed.trim().is_empty())
        .unwrap_or_else(|| PROPTEST_SEED.to_string())
}

/// The property tests' seed in CI (see [`proptest_seed`]).
const PROPTEST_SEED: u64 = 20261207;

/// The step's name on the command line (`core-tree`).
fn step_name(step: Step) -> String {
    step.to_possible_value()
        .expect("no step is skipped")
        .get_name()
        .to_owned()
}

/// `cmd` as a shell would show it, for messages.
fn shown(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Run `cmd` in the workspace root with our stdout and stderr; fail unless it succeeds.
fn run_ok(cmd: &mut Command) -> Result<()> {
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(workspace_root());
    }
    let status = cmd
        .status()
        .with_context(|| format!("cannot run `{}`", shown(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", shown(cmd));
    }
    Ok(())
}

/// Run `cargo ARGS` (split at spaces) in the workspace root; fail unless it succeeds.
fn cargo_ok(args: &str) -> Result<()> {
    run_ok(cargo().args(args.split_whitespace()))
}

/// Run `cmd` in the workspace root and return its stdout; fail unless it succeeds.
fn stdout_of(cmd: &mut Command) -> Result<String> {
    let output = cmd
        .current_dir(workspace_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run `{}`", shown(cmd)))?;
    if !output.status.success() {
        bail!("`{}` failed ({})", shown(cmd), output.status);
    }
    String::from_utf8(output.stdout).with_context(|| format!("`{}` printed non-UTF-8", shown(cmd)))
}

/// The packages (`name`) in `cargo tree ARGS -e normal --prefix none`.
fn tree(args: &[&str]) -> Result<Vec<String>> {
    let text = stdout_of(
        cargo()
            .arg("tree")
            .args(args)
            .args(["-e", "normal", "--prefix", "none"]),
    )?;
    Ok(text
        .lines()
        .filter_map(|l| l.split(" v").next())
        .map(str::to_owned)
        .collect())
}

fn core_tree() -> Result<()> {
    // ferry-build is a build-dependency of users' programs: the same rule (SPEC §1, §15).
    for package in ["ferry-core", "ferry-build"] {
        let deps = tree(&["-p", package])?;
        let found: Vec<_> = NOT_IN_CORE
            .iter()
            .filter(|d| deps.iter().any(|p| p == *d))
            .collect();
        if !found.is_empty() {
            bail!("{package} depends on {found:?} (SPEC §1: no driver, client, runtime or clap)");
        }
        println!("{package}'s tree holds none of {}", NOT_IN_CORE.join(", "));
    }
    Ok(())
}

fn backend_trees() -> Result<()> {
    let exe = target_dir()
        .join("debug")
        .join(if cfg!(windows) { "ferry.exe" } else { "ferry" });
    for (backend, own) in BACKEND_CLIENTS {
        let features = [
            "-p",
            "ferry-cli",
            "--no-default-features",
            "--features",
            backend,
        ];
        run_ok(cargo().args(["build", "-q"]).args(features))?;
        let deps = tree(&features)?;
        if !deps.iter().any(|p| p == own) {
            bail!("the {backend}-only build does not depend on {own}: is `cargo tree` output parsed right?");
        }
        for (_, client) in BACKEND_CLIENTS.iter().filter(|(b, _)| *b != backend) {
            if deps.iter().any(|p| p == client) {
                bail!("the {backend}-only build depends on {client}");
            }
        }
        let version = stdout_of(Command::new(&exe).arg("--version"))?;
        let size = std::fs::metadata(&exe)
            .with_context(|| format!("cannot read {}", exe.display()))?
            .len();
        println!(
            "{backend}-only: {}, debug binary {} KiB",
            version.trim(),
            size / 1024
        );
    }
    // The `ferry` crate, a program's dependency: the same rule for its features (SPEC §1).
    for (backend, own) in BACKEND_CLIENTS {
        let features = [
            "-p",
            "ferry",
            "--no-default-features",
            "--features",
            backend,
        ];
        run_ok(cargo().args(["build", "-q"]).args(features))?;
        let deps = tree(&features)?;
        if !deps.iter().any(|p| p == own) {
            bail!("the {backend}-only ferry crate does not depend on {own}");
        }
        for (_, client) in BACKEND_CLIENTS.iter().filter(|(b, _)| *b != backend) {
            if deps.iter().any(|p| p == client) {
                bail!("the {backend}-only ferry crate depends on {client}");
            }
        }
        println!("ferry crate, {backend} only: {own} and no other client");
    }
    // Leave the usual all-backends debug binary in place.
    cargo_ok("build -q -p ferry-cli")
}

/// `1.85` or `1.89.0` as (major, minor, patch).
fn rust_version(text: &str) -> Result<(u64, u64, u64)> {
    let parts: Vec<_> = text.split('.').map(str::parse::<u64>).collect();
    match parts[..] {
        [Ok(a), Ok(b)] => Ok((a, b, 0)),
        [Ok(a), Ok(b), Ok(c)] => Ok((a, b, c)),
        _ => bail!("`{text}` is not a Rust version"),
    }
}

fn msrv() -> Result<()> {
    let json = stdout_of(cargo().args(["metadata", "--format-version", "1"]))?;
    let meta: serde_json::Value = serde_json::from_str(&json).context("bad cargo metadata")?;
    let members = meta["workspace_members"]
        .as_array()
        .context("no workspace_members")?;
    let (mut declared, mut deps) = (BTreeSet::new(), Vec::new());
    for p in meta["packages"]
        .as_array()
        .context("no packages in cargo metadata")?
    {
        let Some(rv) = p["rust_version"].as_str() else {
            continue;
        };
        if members.contains(&p["id"]) {
            declared.insert(rv);
        } else {
            let name = p["name"].as_str().unwrap_or("?");
            let version = p["version"].as_str().unwrap_or("?");
            deps.push((rust_version(rv)?, rv, format!("{name} v{version}")));
        }
    }
    let [msrv_text] = declared.iter().copied().collect::<Vec<_>>()[..] else {
        bail!("the workspace packages declare rust-versions {declared:?}, not exactly one");
    };
    let msrv = rust_version(msrv_text)?;
    deps.sort_by(|a, b| b.cmp(a));
    let offenders: Vec<_> = deps.iter().filter(|d| d.0 > msrv).collect();
    for (_, rv, package) in &offenders {
        eprintln!("  {package} needs Rust {rv}");
    }
    if !offenders.is_empty() {
        bail!(
            "{} dependencies need a newer Rust than the declared rust-version {msrv_text}",
            offenders.len()
        );
    }
    if let Some((_, rv, package)) = deps.first() {
        let n = deps.len();
        println!("{n} dependencies declare a rust-version, the highest is {rv} ({package}): all <= {msrv_text}");
    }
    // The msrv job of the GitHub workflow compiles with the declared Rust: it must install it.
    let pin = format!("uses: dtolnay/rust-toolchain@{msrv_text}");
    let workflow = workspace_root().join(".github/workflows/ci.yml");
    let yml = std::fs::read_to_string(&workflow)
        .with_context(|| format!("cannot read {}", workflow.display()))?;
    if !yml.lines().any(|l| l.trim_end().ends_with(&pin)) {
        bail!("{} has no step `{pin}` (the msrv job)", workflow.display());
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let rustc = stdout_of(Command::new(rustc).arg("-V"))?;
    let active = rustc.split([' ', '-']).nth(1).unwrap_or_default();
    let active = rust_version(active)?;
    if (active.0, active.1) == (msrv.0, msrv.1) {
        cargo_ok("check --workspace --all-targets --locked")
    } else {
        println!(
            "{}: not {msrv_text}; the msrv job of ci.yml compiles on {msrv_text}",
            rustc.trim()
        );
        Ok(())
    }
}

fn quickstart() -> Result<()> {
    let root = workspace_root();
    let work = tempfile::tempdir().context("cannot create a temporary folder")?;
    let blog = work.path().join("blog");
    copy_dir(&root.join("examples/blog"), &blog)?;
    let manifest = root.join("Cargo.toml");
    for args in [&["forwards", "all"][..], &["check", "--strict"]] {
        run_ok(
            cargo()
                .current_dir(&blog)
                .env("CARGO_TARGET_DIR", target_dir())
                .env_remove("FERRY_DATABASE_URL")
                .env_remove("DATABASE_URL")
                .args(["run", "-q", "--manifest-path"])
                .arg(&manifest)
                .args(["-p", "ferry-cli", "--"])
                .args(args),
        )?;
    }
    Ok(())
}

/// Copy the folder `from` to `to`, recursively.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}
