//! The results: the table, the JSON file and the generated section of the docs.

use super::*;

/// The machine, in one line, and the servers' versions.
pub(super) fn machine(backends: &[Backend]) -> Result<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or_else(|| "?".into(), |kb| format!("{:.0}", kb / 1024.0 / 1024.0));
    let mut servers = Vec::new();
    for &backend in backends {
        let version = match backend {
            Backend::Postgres => block_on(async {
                let url = ferry_driver_postgres::testing::admin_url();
                let (client, conn) =
                    tokio_postgres::connect(&psql_url(&url), tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                let row = client.query_one("SHOW server_version", &[]).await?;
                Ok::<_, tokio_postgres::Error>(format!("PostgreSQL {}", row.get::<_, String>(0)))
            })
            .unwrap_or_else(|e| format!("PostgreSQL (version unknown: {e})")),
            Backend::Mysql => block_on(async {
                use mysql_async::prelude::Queryable;
                let url = ferry_driver_mysql::testing::admin_url();
                let mut conn = mysql_async::Conn::from_url(url).await?;
                let v: Option<String> = conn.query_first("SELECT VERSION()").await?;
                let _ = conn.disconnect().await;
                Ok::<_, mysql_async::Error>(format!("MySQL/MariaDB {}", v.unwrap_or_default()))
            })
            .unwrap_or_else(|e| format!("MySQL (version unknown: {e})")),
            Backend::Sqlite => format!("SQLite {} (bundled)", rusqlite::version()),
        };
        servers.push(version);
    }
    Ok(format!(
        "{model}, {cores} cores, {mem_gib} GiB, Linux {}; {}; servers on 127.0.0.1 (TCP)",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        servers.join(", ")
    ))
}

pub(super) fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

pub(super) fn mib(bytes: u64) -> String {
    if bytes == 0 {
        "–".into()
    } else {
        format!("{:.1} MB", bytes as f64 / 1_000_000.0)
    }
}

/// The Markdown table of a run.
pub(super) fn table(
    results: &Results,
    backends: &[Backend],
    args: &BenchArgs,
    machine: &str,
    floors: &BTreeMap<Backend, String>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "N = {} migrations (each `CREATE TABLE` + `CREATE INDEX`, down `DROP TABLE`), P5 at \
         N = {}; median of K = {} runs, each phase a whole process on a fresh database; the \
         ratio is the median of each run's ratio to the floor run of its round (the two run back to back, \
         in turn first). \
         Machine: {machine}.\n",
        args.migrations, args.large, args.runs
    );
    let with_sqlx = results.keys().any(|(_, _, tool)| *tool == "sqlx");
    let _ = write!(
        out,
        "| backend | phase | floor (wall) | ferry wall | ferry CPU | ferry peak RSS | ratio to floor |"
    );
    if with_sqlx {
        let _ = write!(out, " sqlx-cli wall | sqlx-cli ratio |");
    }
    out.push('\n');
    out.push_str("|---|---|---|---|---|---|---|");
    if with_sqlx {
        out.push_str("---|---|");
    }
    out.push('\n');
    for &backend in backends {
        for (phase, what) in PHASES.iter().filter(|(p, _)| !p.is_empty()) {
            let get = |tool| {
                results
                    .get(&(backend, *phase, tool))
                    .and_then(Series::median)
            };
            let Some(ferry) = get("ferry") else { continue };
            let floor = get("floor").or_else(|| {
                (*phase == "P1a")
                    .then(|| results.get(&(backend, "P1", "floor")))
                    .flatten()
                    .and_then(Series::median)
            });
            let floor_runs = results
                .get(&(backend, if *phase == "P1a" { "P1" } else { phase }, "floor"))
                .map(|s| s.runs.as_slice())
                .unwrap_or_default();
            // The median of each run's ratio to the floor run next to it (the pairs ran back
            // to back); without pairs, the ratio of the medians.
            let ratio = |tool: &str, c: Cost| {
                let runs = results
                    .get(&(backend, *phase, tool))
                    .map(|s| s.runs.as_slice())
                    .unwrap_or_default();
                if !floor_runs.is_empty() && runs.len() == floor_runs.len() {
                    let mut ratios: Vec<f64> = runs
                        .iter()
                        .zip(floor_runs)
                        .map(|(r, f)| r.wall.as_secs_f64() / f.wall.as_secs_f64())
                        .collect();
                    ratios.sort_by(f64::total_cmp);
                    return format!("{:.2}×", ratios[ratios.len() / 2]);
                }
                floor.map_or_else(
                    || "–".to_owned(),
                    |f| format!("{:.2}×", c.wall.as_secs_f64() / f.wall.as_secs_f64()),
                )
            };
            let _ = write!(
                out,
                "| {} | {phase} {what} | {} | {} | {} | {} | {} |",
                backend.name(),
                floor.map_or_else(|| "–".to_owned(), |f| ms(f.wall)),
                ms(ferry.wall),
                ms(ferry.cpu),
                mib(ferry.rss),
                ratio("ferry", ferry)
            );
            if with_sqlx {
                match get("sqlx") {
                    Some(s) => {
                        let _ = write!(out, " {} | {} |", ms(s.wall), ratio("sqlx", s));
                    }
                    None => out.push_str(" – | – |"),
                }
            }
            out.push('\n');
        }
    }
    out.push('\n');
    for &backend in backends {
        let get = |phase| {
            results
                .get(&(backend, phase, "ferry"))
                .and_then(Series::median)
        };
        if let (Some(small), Some(large)) = (get("P2"), get("P5")) {
            // A slope over a few hundred migrations is noise.
            if args.large >= args.migrations + 1000 {
                let slope = (large.wall.as_secs_f64() - small.wall.as_secs_f64())
                    / (args.large - args.migrations) as f64;
                let _ = writeln!(
                    out,
                    "- {}: `check` costs {:.1} µs per migration (slope of P2 → P5 wall time); \
                     floor: {}.",
                    backend.name(),
                    slope * 1e6,
                    floors.get(&backend).map_or("?", String::as_str)
                );
            }
        }
    }
    out
}

pub(super) fn to_json(
    results: &Results,
    args: &BenchArgs,
    machine: &str,
    floors: &BTreeMap<Backend, String>,
) -> serde_json::Value {
    let series: Vec<_> = results
        .iter()
        .map(|((backend, phase, tool), s)| {
            let median = s.median();
            json!({
                "backend": backend.name(),
                "phase": phase,
                "tool": tool,
                "runs": s.runs.iter().map(|c| json!({
                    "wall_ms": c.wall.as_secs_f64() * 1000.0,
                    "cpu_ms": c.cpu.as_secs_f64() * 1000.0,
                    "peak_rss_bytes": c.rss,
                })).collect::<Vec<_>>(),
                "median_wall_ms": median.map(|c| c.wall.as_secs_f64() * 1000.0),
                "median_cpu_ms": median.map(|c| c.cpu.as_secs_f64() * 1000.0),
                "median_peak_rss_bytes": median.map(|c| c.rss),
            })
        })
        .collect();
    json!({
        "migrations": args.migrations,
        "large": args.large,
        "runs": args.runs,
        "machine": machine,
        "floors": floors.iter().map(|(b, f)| (b.name().to_owned(), json!(f))).collect::<serde_json::Map<_, _>>(),
        "series": series,
    })
}

/// Replace the generated section of docs/benchmarks.md (between the marks) with `table`,
/// adding the section at the end the first time.
pub(super) fn write_docs(table: &str) -> Result<()> {
    let path = workspace_root().join(DOCS);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let body = format!("{BEGIN_MARK}\n{table}{END_MARK}");
    let new = match (text.find(BEGIN_MARK), text.find(END_MARK)) {
        (Some(begin), Some(end)) if begin < end => {
            format!("{}{body}{}", &text[..begin], &text[end + END_MARK.len()..])
        }
        _ => format!(
            "{}\n## Command phases (`cargo xtask bench`)\n\n{body}\n",
            text.trim_end_matches('\n').to_owned() + "\n"
        ),
    };
    std::fs::write(&path, new).with_context(|| format!("cannot write {}", path.display()))
}

/// Replace the text between `<!-- {name}:begin -->` and `<!-- {name}:end -->` in
/// docs/benchmarks.md with the date, the command that made it, and `table`.
pub(super) fn write_marked(name: &str, command: &str, table: &str) -> Result<()> {
    let (begin_mark, end_mark) = (
        format!("<!-- {name}:begin -->"),
        format!("<!-- {name}:end -->"),
    );
    let path = workspace_root().join(DOCS);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let (Some(begin), Some(end)) = (text.find(&begin_mark), text.find(&end_mark)) else {
        anyhow::bail!(
            "{} has no {begin_mark} … {end_mark} markers",
            path.display()
        );
    };
    let date = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()?;
    let new = format!(
        "{}{begin_mark}\nLast run: {} (`{command}`).\n\n{table}{}",
        &text[..begin],
        String::from_utf8_lossy(&date.stdout).trim(),
        &text[end..]
    );
    std::fs::write(&path, new).with_context(|| format!("cannot write {}", path.display()))
}
