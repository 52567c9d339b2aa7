//! `ferry drift --fleet` (SPEC §12.5): every target's live database read (its rows and schema,
//! under its lock), `--parallel` at once; one replay per distinct applied history (same app,
//! ID and checksum in the same order, on the same backend), started by the first target of
//! that history and run while the reading goes on, so that a fleet at one version costs one
//! replay plus one snapshot per target. Each target is compared as soon as its history's
//! expected schema is known, and its snapshot dropped; then one report line per target.
//!
//! Schema-per-tenant targets (PostgreSQL) compare the objects of their schema only
//! ([`ferry_core::drift::in_schema`]); their replay runs in a schema of the scratch database
//! named after the first of them.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use ferry_core::drift::{in_schema, read_live, LiveDatabase, Replay};
use ferry_core::driver::redact_url;
use ferry_core::driver::url::{quote_ident, Backend};
use ferry_core::fleet::Target;
use ferry_core::schema::Schema;
use ferry_core::{AppRegistry, Config, Driver, LockOptions, Migrator, TableName};
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
    /// Connections of finished tenant reads, reused by the next tenant of their database.
    idle: std::sync::Arc<std::sync::Mutex<IdleDrivers>>,
}

impl Reader {
    /// Read one target's live database: its rows and its schema (a tenant's schema only).
    async fn read(&self, target: &Target) -> Result<LiveDatabase, String> {
        let table = match &target.schema {
            Some(schema) => TableName::parse(&format!("{schema}.{}", self.table.name()))
                .map_err(|why| format!("schema `{schema}`: {why}"))?,
            None => self.table.clone(),
        };
        let mut driver = match self.idle_driver(target, &table)? {
            Some(driver) => driver,
            None => crate::drivers::driver_for_url(&target.url, table)
                .await
                .map_err(|e| format!("connecting to {}: {e}", redact_url(&target.url)))?,
        };
        if let Some(schema) = &target.schema {
            driver.use_schema(schema).map_err(|e| e.to_string())?;
        }
        driver.set_lock_options(self.lock);
        let mut m =
            Migrator::new(self.registry.clone(), driver).with_lock_timeout(self.lock_timeout);
        let mut live = read_live(&mut m).await.map_err(|e| e.to_string())?;
        if let Some(schema) = &target.schema {
            live.schema = in_schema(&live.schema, schema);
            // Only after a read that succeeded: the lock was released, nothing is open.
            self.lock_idle()
                .entry(target.url.clone())
                .or_default()
                .push(m.into_driver());
        }
        Ok(live)
    }

    /// A connection left by a tenant read of the same database, switched to `table`: the
    /// tenants of one database are read on `--parallel` connections, whose catalog caches
    /// are warm after the first tenant (a new connection plans every catalog query cold).
    /// When there is none, one idle connection to another database is closed, since the
    /// caller opens one: the fleet never holds more than `--parallel` connections.
    fn idle_driver(
        &self,
        target: &Target,
        table: &TableName,
    ) -> Result<Option<Box<dyn Driver>>, String> {
        let mut idle = self.lock_idle();
        if target.schema.is_some() {
            while let Some(mut driver) = idle.get_mut(&target.url).and_then(Vec::pop) {
                if driver
                    .switch_table(table.clone())
                    .map_err(|e| e.to_string())?
                {
                    return Ok(Some(driver));
                }
            }
        }
        if let Some(drivers) = idle.values_mut().find(|drivers| !drivers.is_empty()) {
            drop(drivers.pop());
        }
        Ok(None)
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, IdleDrivers> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Connections free for the next tenant, by the URL of their database.
type IdleDrivers = HashMap<String, Vec<Box<dyn Driver>>>;

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
    let targets = crate::fleet::targets(g, config, &table, style).await?;
    if targets.is_empty() {
        style.info("no fleet target selected; nothing to do");
    }
    let reader = Reader {
        registry: config.registry.clone(),
        table: table.clone(),
        lock: LockOptions::new(g.lock.or(config.lock).unwrap_or_default())
            .with_lease(config.lock_lease.unwrap_or(LockOptions::DEFAULT_LEASE)),
        lock_timeout: Duration::from_secs_f64(g.lock_timeout),
        idle: std::sync::Arc::default(),
    };
    let parallel = usize::from(g.fleet.parallel.unwrap_or(4)).max(1);

    // Targets are read `parallel` at once; the first target of each history starts its
    // replay (one at a time, while reading goes on). A target is compared as soon as its
    // history's expected schema is known, and its snapshot dropped: only the targets read
    // while their history's replay runs wait, in `waiting`.
    let mut results: Vec<Option<TargetDrift>> = (0..targets.len()).map(|_| None).collect();
    let mut expected: HashMap<HistoryKey, Result<Schema, String>> = HashMap::new();
    let mut waiting: HashMap<HistoryKey, Vec<(usize, LiveDatabase, Replay, Duration)>> =
        HashMap::new();
    let mut replays: VecDeque<(HistoryKey, Replay, usize)> = VecDeque::new();
    let mut replay_count = 0;
    let mut replaying: Option<ReplayFuture<'_>> = None;
    let mut reading = JoinSet::new();
    let mut queue = targets.iter().cloned().enumerate();
    let compare = |i: usize,
                   live: &LiveDatabase,
                   replay: &Replay,
                   schema: &Result<Schema, String>,
                   took: Duration| {
        let started = Instant::now();
        let outcome = schema.as_ref().map_err(Clone::clone).and_then(|schema| {
            super::report(live, replay, schema, config).map_err(|f| match f {
                Failure::Core(e) => e.to_string(),
                _ => "cannot compare".into(),
            })
        });
        TargetDrift {
            target: targets[i].name.clone(),
            duration: took + started.elapsed(),
            outcome,
        }
    };
    loop {
        while reading.len() < parallel {
            let Some((i, target)) = queue.next() else {
                break;
            };
            let reader = reader.clone();
            reading.spawn(async move {
                let started = Instant::now();
                let live = reader.read(&target).await;
                (i, live.map_err(|e| redact_url(&e)), started.elapsed())
            });
        }
        if replaying.is_none() {
            if let Some((key, replay, i)) = replays.pop_front() {
                replay_count += 1;
                let target = targets[i].clone();
                let base = a.scratch_url.clone().unwrap_or_else(|| target.url.clone());
                if style.verbose {
                    eprintln!(
                        "replaying {} migration(s) with the history of {}",
                        replay.steps.len(),
                        target.name
                    );
                }
                let table = &table;
                replaying = Some(Box::pin(async move {
                    let schema = replay_for(&replay, &base, &target, table, style).await;
                    (key, schema)
                }));
            }
        }
        if reading.is_empty() && replaying.is_none() {
            break;
        }
        tokio::select! {
            Some(joined) = reading.join_next(), if !reading.is_empty() => {
                let Ok((i, live, took)) = joined else { continue };
                let planned = live.and_then(|live| {
                    Replay::plan(&live.applied, &files)
                        .map(|replay| (live, replay))
                        .map_err(|e| e.to_string())
                });
                let (live, replay) = match planned {
                    Ok(planned) => planned,
                    Err(e) => {
                        results[i] = Some(TargetDrift {
                            target: targets[i].name.clone(),
                            duration: took,
                            outcome: Err(e),
                        });
                        continue;
                    }
                };
                let key: HistoryKey = (
                    Backend::of_url(&targets[i].url),
                    targets[i].schema.is_some(),
                    replay.history.clone(),
                );
                if let Some(schema) = expected.get(&key) {
                    results[i] = Some(compare(i, &live, &replay, schema, took));
                } else {
                    let list = waiting.entry(key.clone()).or_default();
                    if list.is_empty() {
                        replays.push_back((key, replay.clone(), i));
                    }
                    list.push((i, live, replay, took));
                }
            }
            (key, schema) = async { replaying.as_mut().expect("checked").await }, if replaying.is_some() => {
                replaying = None;
                let schema = match schema {
                    Err(Failure::Interrupted(m)) => return Err(Failure::Interrupted(m)),
                    other => other.map_err(|f| match f {
                        Failure::Core(e) => redact_url(&e.to_string()),
                        Failure::Usage(m) | Failure::Failed(m) | Failure::Interrupted(m) => m,
                        Failure::CommandLine => "invalid command line".into(),
                    }),
                };
                for (i, live, replay, took) in waiting.remove(&key).unwrap_or_default() {
                    results[i] = Some(compare(i, &live, &replay, &schema, took));
                }
                expected.insert(key, schema);
            }
        }
    }
    let mut results: Vec<TargetDrift> = results
        .into_iter()
        .zip(&targets)
        .map(|(r, t)| {
            r.unwrap_or_else(|| TargetDrift {
                target: t.name.clone(),
                duration: Duration::ZERO,
                outcome: Err("the target's task ended unexpectedly".into()),
            })
        })
        .collect();
    results.sort_by(|a, b| a.target.cmp(&b.target));
    print(&results, a.format, replay_count, style);
    Ok(Ending::Fleet {
        all_succeeded: results.iter().all(|r| r.result() == "no drift"),
    })
}

/// A replay in progress: the history it is for, and the expected schema.
type ReplayFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = (HistoryKey, Result<Schema, Failure>)> + 'a>,
>;

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
