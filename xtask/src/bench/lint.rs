//! `cargo xtask bench --lint`: what `ferry lint` (SPEC §13) costs, against `forwards all` of
//! the same migrations on an empty database (issue 22: lint at most 2× it).
//!
//! An app of N migrations (100 by default), each `CREATE TABLE` + `CREATE INDEX` and an
//! `ALTER TABLE ... ADD COLUMN` of the previous migration's table, so that every migration
//! has a pre-existing table to measure and the set of pre-existing relations grows. Per
//! backend and run: a fresh database, `forwards all` timed; then `ferry lint --all` (every
//! migration judged on an empty scratch database on the same server, or a temporary SQLite
//! file) timed. Medians of `--runs`. A benchmark: it asserts nothing about time.

use std::path::PathBuf;

use anyhow::Result;

const APP: &str = "big";

/// What to measure.
pub struct LintBench {
    /// The release binary.
    pub ferry: PathBuf,
    /// Migrations in the app.
    pub migrations: usize,
    /// `(backend, server URL)`: SQLite needs none.
    pub backends: Vec<(&'static str, Option<String>)>,
    /// Runs per backend, each on a fresh database; medians are reported.
    pub runs: usize,
    /// Rewrite the lint section of docs/benchmarks.md with the table.
    pub write_docs: bool,
}

/// Run the benchmark and print a Markdown table.
pub fn run(b: &LintBench) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("ferry-lint-bench-")
        .tempdir()?;
    let folder = dir.path().join("migrations").join(APP);
    std::fs::create_dir_all(&folder)?;
    for i in 1..=b.migrations {
        let alter = if i > 1 {
            format!("ALTER TABLE t{} ADD COLUMN c{i} INTEGER;\n", i - 1)
        } else {
            String::new()
        };
        std::fs::write(
            folder.join(format!("{:014}_t{i}.sql", 20240000000000u64 + i as u64)),
            format!(
                "-- ferry:up\nCREATE TABLE t{i} (id INTEGER PRIMARY KEY, name VARCHAR(50), created_at TIMESTAMP);\nCREATE INDEX t{i}_name ON t{i} (name);\n{alter}-- ferry:down\nDROP TABLE t{i};\n"
            ),
        )?;
    }
    std::fs::write(
        dir.path().join("ferry.toml"),
        format!("[[app]]\nname = \"{APP}\"\nmigrations = \"migrations/{APP}\"\n"),
    )?;
    let mut text = String::from(
        "| backend | migrations | forwards all | lint --all | ratio | per migration |\n|---|---|---|---|---|---|\n",
    );
    for (backend, server) in &b.backends {
        let mut runs = Vec::new();
        for run in 1..=b.runs.max(1) {
            let (forwards, lint) = super::drift::forwards_then(
                &b.ferry,
                dir.path(),
                backend,
                server.as_deref(),
                |scratch| {
                    vec![
                        "lint".into(),
                        "--all".into(),
                        "--scratch-url".into(),
                        scratch.into(),
                    ]
                },
            )?;
            eprintln!(
                "{backend} run {run}: forwards all {:.2} s, lint --all {:.2} s ({:.2}×)",
                forwards.as_secs_f64(),
                lint.as_secs_f64(),
                lint.as_secs_f64() / forwards.as_secs_f64().max(1e-9)
            );
            runs.push((forwards.as_secs_f64(), lint.as_secs_f64()));
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let forwards = median(runs.iter().map(|r| r.0).collect());
        let lint = median(runs.iter().map(|r| r.1).collect());
        let ratio = median(runs.iter().map(|r| r.1 / r.0.max(1e-9)).collect());
        let per_migration = lint * 1000.0 / b.migrations as f64;
        let line = format!(
            "| {backend} | {} | {forwards:.2} s | {lint:.2} s | {ratio:.2}× | {per_migration:.1} ms |\n",
            b.migrations
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
            "lint-bench",
            &format!(
                "cargo xtask bench --lint --lint-migrations {} --runs {} --write-docs",
                b.migrations, b.runs
            ),
            &text,
        )?;
    }
    Ok(())
}
