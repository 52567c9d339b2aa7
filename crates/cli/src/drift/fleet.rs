//! `ferry drift --fleet` (SPEC §12.5): every target's live database read (its rows and schema,
//! under its lock), `--parallel` at once; one replay per distinct applied history (same app,
//! ID and checksum in the same order, on the same backend), so that a fleet at one version
//! costs one replay plus one snapshot per target; then one report line per target.
//!
//! Schema-per-tenant targets (PostgreSQL) compare the objects of their schema only
//! ([`ferry_core::drift::in_schema`]); their replay runs in a schema of the scratch database
//! named after the first of them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferry_core::drift::{in_schema, read_live, LiveDatabase, Replay};
use ferry_core::fleet::Target;
use ferry_core::schema::Schema;
use ferry_core::url::{quote_ident, Backend};
use ferry_core::{redact_url, AppRegistry, Config, LockOptions, Migrator, TableName};
use serde_json::json;
use tokio::task::JoinSet;

use super::DriftReport;
use crate::args::{DriftArgs, Format, GlobalOpts};
use crate::exit::{Ending, Failure};
use crate::render::{out, table, Style};

/// One target's outcome.
struct TargetDrift {
    target: String,
    /// Its time: reading it and comparing (the shared replay not counted).
    duration: Duration,
    outcome: Result<DriftReport, String>,
}

impl TargetDrift {
    fn result(&self) -> &'static str {
        match &self.outcome {
            Ok(r) if r.differences.is_empty() => "no drift",
            Ok(_) => "drift",
            Err(_) => "failed",
        }
    }
}

/// What every target's read needs.
#[derive(Clone)]
struct Reader {
    registry: AppRegistry,
    table: TableName,
    lock: LockOptions,
    lock_timeout: Duration,
}

impl Reader {
    /// Read one target's live database: its rows and its schema (a tenant's schema only).
    async fn read(&self, target: &Target) -> Result<LiveDatabase, String> {
        let table = match &target.schema {
            Some(schema) => TableName::parse(&format!("{schema}.{}", self.table.name()))
                .map_err(|why| format!("schema `{schema}`: {why}"))?,
            None => self.table.clone(),
        };
        let mut driver = crate::drivers::driver_for_url(&target.url, table)
            .await
            .map_err(|e| format!("connecting to {}: {e}", redact_url(&target.url)))?;
        if let Some(schema) = &target.schema {
            driver.use_schema(schema).map_err(|e| e.to_string())?;
        }
        driver.set_lock_options(self.lock);
        let mut m =
            Migrator::new(self.registry.clone(), driver).with_lock_timeout(self.lock_timeout);
        let mut live = read_live(&mut m).await.map_err(|e| e.to_string())?;
        if let Some(schema) = &target.schema {
            live.schema = in_schema(&live.schema, schema);
        }
        Ok(live)
    }
}

/// Which targets may share a replay: same backend, same kind of target (database or tenant
/// schema), same applied history.
type HistoryKey = (Option<Backend>, bool, Vec<(String, String, String)>);

/// Run `ferry drift --fleet`.
pub(crate) async fn run(
    a: &DriftArgs,
    g: &GlobalOpts,
    config: &Config,
    style: Style,
) -> Result<Ending, Failure> {
    // File errors stop everything before any target is touched (exit 2).
    let files = super::read_files(config)?;
    let table = crate::table_name(g, config)?;
    let targets = crate::fleet::targets(g, config, &table).await?;
    if targets.is_empty() {
        style.info("no fleet target selected; nothing to do");
    }
    let reader = Reader {
        registry: config.registry.clone(),
        table: table.clone(),
        lock: LockOptions::new(g.lock.or(config.lock).unwrap_or_default())
            .with_lease(config.lock_lease.unwrap_or(LockOptions::DEFAULT_LEASE)),
        lock_timeout: Duration::from_secs_f64(g.lock_timeout),
    };
    let parallel = usize::from(g.fleet.parallel.unwrap_or(4)).max(1);
    let lives = read_all(&reader, &targets, parallel).await;

    // Plan every target's replay; group the targets by history.
    let mut plans: Vec<Result<Replay, String>> = Vec::new();
    let mut groups: Vec<(HistoryKey, Vec<usize>)> = Vec::new();
    for (i, (target, live)) in targets.iter().zip(&lives).enumerate() {
        let plan = live
            .0
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|live| Replay::plan(&live.applied, &files).map_err(|e| e.to_string()));
        if let Ok(replay) = &plan {
            let key = (
                Backend::of_url(&target.url),
                target.schema.is_some(),
                replay.history.clone(),
            );
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        plans.push(plan);
    }

    // One replay per group.
    let mut expected: HashMap<usize, Result<Schema, String>> = HashMap::new();
    for (_, members) in &groups {
        let first = members[0];
        let target = &targets[first];
        let Ok(replay) = &plans[first] else { continue };
        if style.verbose {
            eprintln!(
                "replaying {} migration(s) for {} target(s) with the history of {}",
                replay.steps.len(),
                members.len(),
                target.name
            );
        }
        let base = a.scratch_url.as_deref().unwrap_or(&target.url);
        let schema = replay_for(replay, base, target, &table, style).await;
        if let Err(Failure::Interrupted(m)) = schema {
            return Err(Failure::Interrupted(m));
        }
        let schema = schema.map_err(|f| match f {
            Failure::Core(e) => redact_url(&e.to_string()),
            Failure::Usage(m) | Failure::Failed(m) | Failure::Interrupted(m) => m,
            Failure::CommandLine => "invalid command line".into(),
        });
        for &i in members {
            expected.insert(i, schema.clone());
        }
    }

    let mut results = Vec::new();
    for (i, (target, (live, read_time))) in targets.iter().zip(lives).enumerate() {
        let started = Instant::now();
        let outcome = match (live.as_ref(), &plans[i], expected.get(&i)) {
            (Err(e), _, _) | (_, Err(e), _) => Err(e.clone()),
            (Ok(live), Ok(replay), Some(Ok(schema))) => super::report(live, replay, schema, config)
                .map_err(|f| match f {
                    Failure::Core(e) => e.to_string(),
                    _ => "cannot compare".into(),
                }),
            (_, _, Some(Err(e))) => Err(e.clone()),
            (Ok(_), Ok(_), None) => Err("not replayed".into()),
        };
        results.push(TargetDrift {
            target: target.name.clone(),
            duration: read_time + started.elapsed(),
            outcome,
        });
    }
    results.sort_by(|a, b| a.target.cmp(&b.target));
    let replays = groups.len();
    print(&results, a.format, replays, style);
    Ok(Ending::Fleet {
        all_succeeded: results.iter().all(|r| r.result() == "no drift"),
    })
}

/// Read every target, `parallel` at once; the results in the targets' order, each with the
/// time it took.
async fn read_all(
    reader: &Reader,
    targets: &[Target],
    parallel: usize,
) -> Vec<(Result<LiveDatabase, String>, Duration)> {
    let mut results: Vec<Option<(Result<LiveDatabase, String>, Duration)>> =
        (0..targets.len()).map(|_| None).collect();
    let mut running = JoinSet::new();
    let mut queue = targets.iter().cloned().enumerate();
    loop {
        while running.len() < parallel {
            let Some((i, target)) = queue.next() else {
                break;
            };
            let reader = reader.clone();
            running.spawn(async move {
                let started = Instant::now();
                let live = reader.read(&target).await;
                (i, live.map_err(|e| redact_url(&e)), started.elapsed())
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        if let Ok((i, live, took)) = joined {
            results[i] = Some((live, took));
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or((
                Err("the target's task ended unexpectedly".into()),
                Duration::ZERO,
            ))
        })
        .collect()
}

/// The expected schema of `replay` for targets like `target`: on a scratch database on the
/// server of `base`; for a tenant schema, in a schema of that name there, and only its objects.
async fn replay_for(
    replay: &Replay,
    base: &str,
    target: &Target,
    table: &TableName,
    style: Style,
) -> Result<Schema, Failure> {
    let Some(schema) = &target.schema else {
        return super::expected_schema(replay, base, table.clone(), style).await;
    };
    let scratch_table =
        TableName::parse(&format!("{schema}.{}", table.name())).map_err(Failure::Usage)?;
    crate::scratch::with_scratch(
        base,
        "ferry_drift",
        false,
        scratch_table,
        style,
        async |mut d| {
            let failed = |e: ferry_core::DriverError| {
                Failure::Failed(format!(
                    "preparing schema {schema} on the scratch database: {}",
                    redact_url(&e.to_string())
                ))
            };
            d.execute(
                &format!("CREATE SCHEMA {}", quote_ident(schema, '"')),
                false,
            )
            .await
            .map_err(failed)?;
            d.use_schema(schema).map_err(failed)?;
            let all = replay.run(d.as_mut()).await.map_err(Failure::from)?;
            Ok(in_schema(&all, schema))
        },
    )
    .await
}

/// The report: a table, or one JSON object per target per line and a summary line.
fn print(results: &[TargetDrift], format: Format, replays: usize, style: Style) {
    let count = |r: &str| results.iter().filter(|t| t.result() == r).count();
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    match format {
        Format::Json => {
            let mut text = String::new();
            for r in results {
                let report = match &r.outcome {
                    Ok(report) => report.json(),
                    Err(_) => json!({
                        "drift": null, "replayed": 0, "changed": [], "differences": [],
                    }),
                };
                let mut line = json!({ "target": r.target, "result": r.result() });
                if let (Some(line), Some(report)) = (line.as_object_mut(), report.as_object()) {
                    line.extend(report.clone());
                }
                line["duration_ms"] = json!(ms(r.duration));
                line["error"] = json!(r.outcome.as_ref().err());
                text.push_str(&format!("{line}\n"));
            }
            let summary = json!({ "summary": {
                "no_drift": count("no drift"),
                "drift": count("drift"),
                "failed": count("failed"),
                "replays": replays,
            }});
            text.push_str(&format!("{summary}\n"));
            out(&text);
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|r| {
                    let (differences, detail) = match &r.outcome {
                        Ok(report) => (
                            report.differences.len().to_string(),
                            report
                                .differences
                                .first()
                                .map_or_else(|| "-".to_owned(), ToString::to_string),
                        ),
                        Err(e) => ("-".to_owned(), e.lines().next().unwrap_or("").to_owned()),
                    };
                    vec![
                        r.target.clone(),
                        r.result().to_owned(),
                        differences,
                        format!("{} ms", r.duration.as_millis()),
                        detail,
                    ]
                })
                .collect();
            out(&table(
                &[
                    "TARGET",
                    "RESULT",
                    "DIFFERENCES",
                    "TIME",
                    "FIRST DIFFERENCE OR ERROR",
                ],
                &rows,
            ));
            style.info(&format!(
                "{} target(s): {} no drift, {} drift, {} failed; {replays} replay(s)",
                results.len(),
                count("no drift"),
                count("drift"),
                count("failed"),
            ));
        }
    }
}
