//! The scenarios. Each fills an [`Outcome`]: problems (empty when it passed), notes, a
//! one-line summary and details for the report. A harness error (a database that cannot be
//! created, say) is a problem of the scenario too.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};

use super::db::{self, Db, Kind, EXECUTIONS, STRESS_PASSWORD, STRESS_USER};
use super::ferry::{tail, Ferry, Run};
use super::project::{self, Mig, Project};
use super::proxy::Proxy;
use super::{Outcome, Rng, Settings};

/// The longest any one ferry run may take before it counts as hung.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// How long the server may take to end a dead client's session.
const SESSION_END_LIMIT: Duration = Duration::from_secs(15);

/// Run `body` on a fresh [`Outcome`], timing it; an error or a panic becomes a problem.
pub fn timed(
    kind: Kind,
    scenario: &'static str,
    body: impl FnOnce(&mut Outcome) -> Result<()>,
) -> Outcome {
    let mut outcome = Outcome::new(kind.name(), scenario);
    let started = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut outcome)));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => outcome.problems.push(format!("harness error: {e:#}")),
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            outcome.problems.push(format!("harness panicked: {text}"));
        }
    }
    if outcome.summary.is_empty() {
        outcome.summary = "did not finish".to_owned();
    }
    outcome.duration = started.elapsed();
    // Whatever ferry printed, the harness never shows the secret.
    for text in outcome.problems.iter_mut().chain(outcome.notes.iter_mut()) {
        *text = text.replace(STRESS_PASSWORD, "<PASSWORD>");
    }
    outcome
}

// ---------------------------------------------------------------------------------------
// What ferry says and what is in the database

/// ferry's view (`check --format json`) and the database's (tables, side table) of a project.
struct State {
    /// Status of each migration of the project.
    statuses: BTreeMap<Mig, String>,
    /// Rows of `check` that are not migrations of the project.
    strangers: Vec<String>,
    tables: BTreeSet<String>,
    /// How many side-table rows each migration has.
    executions: BTreeMap<Mig, usize>,
    /// Side-table rows of no migration of the project.
    stray_executions: usize,
}

impl State {
    fn read(ferry: &Ferry, project: &Project, db: &Db) -> Result<State> {
        let run = ferry.run(
            project.dir(),
            &db.url,
            &["check", "--format", "json"],
            RUN_LIMIT,
        )?;
        if !run.exited(0) {
            return Err(anyhow!("{}", run.describe()));
        }
        let json: Value = serde_json::from_str(&run.stdout)
            .with_context(|| format!("`ferry check --format json` printed {}", run.stdout))?;
        let known: BTreeSet<&Mig> = project.migrations.iter().collect();
        let mut statuses = BTreeMap::new();
        let mut strangers = Vec::new();
        for m in json["migrations"]
            .as_array()
            .context("no `migrations` array")?
        {
            let mig = Mig {
                app: m["app_name"].as_str().unwrap_or_default().to_owned(),
                id: m["migration_id"].as_str().unwrap_or_default().to_owned(),
            };
            let status = m["status"].as_str().unwrap_or_default().to_owned();
            if known.contains(&mig) {
                statuses.insert(mig, status);
            } else {
                strangers.push(format!("{} {} {status}", mig.app, mig.id));
            }
        }
        let mut executions: BTreeMap<Mig, usize> = BTreeMap::new();
        let mut stray_executions = 0;
        for (app, id) in db.executions()? {
            let mig = Mig { app, id };
            if known.contains(&mig) {
                *executions.entry(mig).or_default() += 1;
            } else {
                stray_executions += 1;
            }
        }
        Ok(State {
            statuses,
            strangers,
            tables: db.tables()?,
            executions,
            stray_executions,
        })
    }

    fn status(&self, mig: &Mig) -> &str {
        self.statuses
            .get(mig)
            .map_or("(no row in check)", String::as_str)
    }

    fn with_status(&self, status: &str) -> Vec<&Mig> {
        self.statuses
            .iter()
            .filter(|(_, s)| *s == status)
            .map(|(m, _)| m)
            .collect()
    }

    fn runs_of(&self, mig: &Mig) -> usize {
        self.executions.get(mig).copied().unwrap_or(0)
    }

    /// What contradicts "applied ⇔ its table exists ⇔ exactly one side-table row; pending ⇔
    /// neither". Dirty migrations are returned apart, not judged.
    fn inconsistencies(&self, project: &Project) -> (Vec<String>, Vec<Mig>) {
        let mut problems = Vec::new();
        let mut dirty = Vec::new();
        for mig in &project.migrations {
            let status = self.status(mig);
            let table = self.tables.contains(&mig.table());
            let runs = self.runs_of(mig);
            match status {
                "applied" if !table || runs != 1 => problems.push(format!(
                    "{} {} is recorded applied but its table {} and it ran {runs} time(s)",
                    mig.app,
                    mig.id,
                    if table { "exists" } else { "does not exist" }
                )),
                "pending" if table || runs != 0 => problems.push(format!(
                    "{} {} is not recorded but its table {} and it ran {runs} time(s)",
                    mig.app,
                    mig.id,
                    if table { "exists" } else { "does not exist" }
                )),
                "applied" | "pending" => {}
                "dirty" => dirty.push(mig.clone()),
                other => problems.push(format!("{} {} has status `{other}`", mig.app, mig.id)),
            }
        }
        if !self.strangers.is_empty() {
            problems.push(format!(
                "check lists rows of no migration: {}",
                self.strangers.join(", ")
            ));
        }
        if self.stray_executions > 0 {
            problems.push(format!(
                "{} side-table row(s) of no migration",
                self.stray_executions
            ));
        }
        (problems, dirty)
    }
}

/// The dirty rows found after a failure: none allowed on PostgreSQL and SQLite (each
/// migration commits with its row); on MySQL one, or two when the second has no statement
/// recorded (a migration's row is written ahead, with the last progress count of the one
/// before it). Each is resolved as the docs say: make the database match one end by hand (the
/// side-table row), then `ferry resolve --applied` when the migration's table exists,
/// `--reverted` when not. Returns what was done, for the report.
fn handle_dirty(
    ferry: &Ferry,
    project: &Project,
    db: &Db,
    dirty: &[Mig],
    problems: &mut Vec<String>,
) -> Result<Vec<Value>> {
    if dirty.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = dirty
        .iter()
        .map(|m| format!("{} {}", m.app, m.id))
        .collect();
    if db.kind != Kind::Mysql {
        problems.push(format!(
            "dirty row(s) on {}, where every migration commits with its row: {}",
            db.kind.name(),
            names.join(", ")
        ));
        return Ok(Vec::new());
    }
    let mut unstarted = 0;
    for mig in dirty {
        let done = db.count(&format!(
            "SELECT count(*) FROM ferry_migrations WHERE app_name = '{}' AND migration_id = '{}' AND statements_done = 0",
            mig.app, mig.id
        ))?;
        unstarted += usize::from(done > 0);
    }
    if dirty.len() > 2 || (dirty.len() == 2 && unstarted == 0) {
        problems.push(format!(
            "{} dirty rows (one expected, or two of which one has no statement recorded): {}",
            dirty.len(),
            names.join(", ")
        ));
        return Ok(Vec::new());
    }
    let mut resolved = Vec::new();
    for mig in dirty {
        resolved.push(resolve_dirty(ferry, project, db, mig, problems)?);
    }
    Ok(resolved)
}

/// One dirty row resolved as [`handle_dirty`] says.
fn resolve_dirty(
    ferry: &Ferry,
    project: &Project,
    db: &Db,
    mig: &Mig,
    problems: &mut Vec<String>,
) -> Result<Value> {
    let table = db.tables()?.contains(&mig.table());
    let runs = db.count(&format!(
        "SELECT count(*) FROM {EXECUTIONS} WHERE app = '{}' AND id = '{}'",
        mig.app, mig.id
    ))?;
    let mut fixed = "nothing";
    if table && runs == 0 {
        db.exec(&format!(
            "INSERT INTO {EXECUTIONS} (app, id) VALUES ('{}', '{}')",
            mig.app, mig.id
        ))?;
        fixed = "inserted its side-table row";
    } else if !table && runs > 0 {
        db.exec(&format!(
            "DELETE FROM {EXECUTIONS} WHERE app = '{}' AND id = '{}'",
            mig.app, mig.id
        ))?;
        fixed = "deleted its side-table row";
    } else if runs > 1 {
        problems.push(format!("dirty {} {} ran {runs} times", mig.app, mig.id));
    }
    let end = if table { "--applied" } else { "--reverted" };
    let run = ferry.run(
        project.dir(),
        &db.url,
        &["resolve", &mig.app, &mig.id, end, "--lock-timeout", "10"],
        RUN_LIMIT,
    )?;
    if !run.exited(0) {
        problems.push(format!("resolving the dirty row: {}", run.describe()));
    }
    Ok(json!({
        "app": mig.app,
        "id": mig.id,
        "table_existed": table,
        "side_table_rows": runs,
        "fixed_by_hand": fixed,
        "resolved": end.trim_start_matches('-'),
    }))
}

/// Problems unless every migration is applied, once, with its table.
fn expect_all_applied(state: &State, project: &Project, problems: &mut Vec<String>) {
    // A dirty row is "not applied" below.
    let (mut found, _dirty) = state.inconsistencies(project);
    let not_applied: Vec<String> = project
        .migrations
        .iter()
        .filter(|m| state.status(m) != "applied")
        .map(|m| format!("{} {} ({})", m.app, m.id, state.status(m)))
        .collect();
    if !not_applied.is_empty() {
        found.push(format!(
            "{} of {} migrations not applied: {}",
            not_applied.len(),
            project.migrations.len(),
            shorten(&not_applied)
        ));
    }
    problems.extend(found);
}

/// Problems unless nothing is applied, no tracking row, no side-table row, no table left.
fn expect_nothing_applied(
    state: &State,
    project: &Project,
    db: &Db,
    problems: &mut Vec<String>,
) -> Result<()> {
    let (found, _) = state.inconsistencies(project);
    problems.extend(found);
    let still: Vec<String> = project
        .migrations
        .iter()
        .filter(|m| state.status(m) != "pending")
        .map(|m| format!("{} {} ({})", m.app, m.id, state.status(m)))
        .collect();
    if !still.is_empty() {
        problems.push(format!(
            "{} migration(s) not reversed: {}",
            still.len(),
            shorten(&still)
        ));
    }
    let rows = db.count(&format!("SELECT count(*) FROM {EXECUTIONS}"))?;
    if rows != 0 {
        problems.push(format!(
            "{rows} side-table row(s) left after reversing everything"
        ));
    }
    let tracking = db.tracking_rows()?;
    if tracking != 0 {
        problems.push(format!(
            "{tracking} tracking row(s) left after reversing everything"
        ));
    }
    let tables: Vec<&String> = state
        .tables
        .iter()
        .filter(|t| t.starts_with("t_"))
        .collect();
    if !tables.is_empty() {
        problems.push(format!("{} migration table(s) left", tables.len()));
    }
    Ok(())
}

/// At most 5 items, then "and N more".
fn shorten(items: &[String]) -> String {
    if items.len() <= 5 {
        items.join(", ")
    } else {
        format!("{}, and {} more", items[..5].join(", "), items.len() - 5)
    }
}

/// Problems for locks left behind once the runs are over (polling a little: a session that
/// just ended may still be on its way out).
fn expect_no_locks(db: &Db, when: &str, problems: &mut Vec<String>) -> Result<()> {
    let left = db.wait_locks_gone(Duration::from_secs(2))?;
    if !left.is_empty() {
        problems.push(format!("{when}: lock left: {}", left.join("; ")));
    }
    Ok(())
}

/// The `lock:` line of `ferry -v check` (what lock kind `auto` chose and why).
fn lock_line(ferry: &Ferry, project: &Project, url: &str) -> Result<String> {
    let run = ferry.run(project.dir(), url, &["-v", "check"], RUN_LIMIT)?;
    Ok(run
        .stderr
        .lines()
        .find(|l| l.starts_with("lock:"))
        .map_or_else(|| "(no lock: line)".to_owned(), str::to_owned))
}

/// A run must end with exit 1, an `error:` line, and no panic.
fn expect_clean_error(run: &Run, problems: &mut Vec<String>) {
    if !run.exited(1) {
        problems.push(format!("expected exit 1: {}", run.describe()));
    }
    if !run.stderr.lines().any(|l| l.starts_with("error:")) {
        problems.push(format!("no `error:` line: {}", tail(&run.stderr, 6)));
    }
    if run.stderr.contains("panicked") {
        problems.push(format!("ferry panicked: {}", tail(&run.stderr, 6)));
    }
}

// ---------------------------------------------------------------------------------------
// Concurrency

/// Start `n` runs of `args` at once and wait for all of them.
fn run_many(
    ferry: &Ferry,
    project: &Project,
    url: &str,
    n: usize,
    args: &[&str],
) -> Result<Vec<Run>> {
    let running = (0..n)
        .map(|_| {
            ferry.start(
                ferry.command(project.dir(), Some(url), args),
                &args.join(" "),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    running.into_iter().map(|r| r.wait(RUN_LIMIT)).collect()
}

/// What a batch of concurrent runs did, for the report; problems for those that did not
/// exit 0.
fn batch(runs: &[Run], idle_text: &str, wall: Duration, problems: &mut Vec<String>) -> Value {
    let failed: Vec<&Run> = runs.iter().filter(|r| !r.exited(0)).collect();
    for run in failed.iter().take(3) {
        problems.push(run.describe());
    }
    if failed.len() > 3 {
        problems.push(format!("... {} runs did not exit 0 in all", failed.len()));
    }
    let mut exits: BTreeMap<String, usize> = BTreeMap::new();
    for run in runs {
        *exits.entry(run.status()).or_default() += 1;
    }
    let idle = runs.iter().filter(|r| r.stderr.contains(idle_text)).count();
    json!({
        "exits": exits,
        "runners_that_found_nothing_to_do": idle,
        "wall_ms": wall.as_millis() as u64,
        "slowest_run_ms": runs.iter().map(|r| r.elapsed.as_millis() as u64).max().unwrap_or(0),
    })
}

/// 16 concurrent `forwards all`, then 16 concurrent `backwards all -y` (through a PgBouncer
/// in transaction mode with a pool of 4 when `through_bouncer`).
pub fn concurrency(
    ferry: &Ferry,
    settings: &Settings,
    kind: Kind,
    through_bouncer: bool,
    o: &mut Outcome,
) -> Result<()> {
    let n = settings.concurrency_migrations;
    let runners = settings.runners;
    let project = project::three_apps(kind, n, None)?;
    let db = Db::create(kind, project.dir())?;
    // Declared after `db`, so dropped before it: its server connections would hold the
    // database open.
    let bouncer = if through_bouncer {
        Some(ferry_driver_postgres::testing::PgBouncer::start(4).map_err(|e| anyhow!(e))?)
    } else {
        None
    };
    let url = match &bouncer {
        Some(b) => b.url(&db.name),
        None => db.url.clone(),
    };
    let lock = lock_line(ferry, &project, &url)?;
    let mut problems = Vec::new();

    let started = Instant::now();
    let runs = run_many(ferry, &project, &url, runners, &["forwards", "all"])?;
    let forwards = batch(
        &runs,
        "No migrations need to be run",
        started.elapsed(),
        &mut problems,
    );
    let state = State::read(ferry, &project, &db)?;
    expect_all_applied(&state, &project, &mut problems);
    let duplicates: Vec<String> = state
        .executions
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(m, n)| format!("{} {} ran {n} times", m.app, m.id))
        .collect();
    expect_no_locks(&db, "after the forwards runs", &mut problems)?;

    let started = Instant::now();
    let runs = run_many(ferry, &project, &url, runners, &["backwards", "all", "-y"])?;
    let backwards = batch(
        &runs,
        "No migrations to reverse",
        started.elapsed(),
        &mut problems,
    );
    let state = State::read(ferry, &project, &db)?;
    expect_nothing_applied(&state, &project, &db, &mut problems)?;
    expect_no_locks(&db, "after the backwards runs", &mut problems)?;

    o.summary = format!(
        "{runners} runners x `forwards all` then `backwards all -y`, {n} migrations in 3 apps{}: {}",
        if through_bouncer { " through PgBouncer (transaction mode, pool 4)" } else { "" },
        if problems.is_empty() {
            "each applied once and reversed once, all exited 0, no lock left"
        } else {
            "see problems"
        }
    );
    o.details = json!({
        "runners": runners * 2,
        "migrations": n,
        "apps": 3,
        "through_pgbouncer": through_bouncer,
        "lock": lock,
        "forwards": forwards,
        "backwards": backwards,
        "duplicate_runs": duplicates,
    });
    o.problems.extend(problems);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Crash

/// Kill `forwards all` and `backwards all -y` with SIGKILL after random delays; after each
/// kill, check consistency and that the next run neither waits nor fails.
pub fn crash(
    ferry: &Ferry,
    settings: &Settings,
    kind: Kind,
    rng: &mut Rng,
    o: &mut Outcome,
) -> Result<()> {
    let n = settings.crash_migrations;
    let project = project::three_apps(kind, n, Some(kind.short_work()))?;
    let db = Db::create(kind, project.dir())?;
    let mut kills = Vec::new();
    let mut problems = Vec::new();
    let (mut forwards_delays, mut backwards_delays) = (Vec::new(), Vec::new());

    'rounds: for round in 1..=settings.kills {
        for backwards in [false, true] {
            let args: &[&str] = if backwards {
                &["backwards", "all", "-y"]
            } else {
                &["forwards", "all"]
            };
            let delay = rng.up_to(settings.max_kill_delay_ms);
            let delays = if backwards {
                &mut backwards_delays
            } else {
                &mut forwards_delays
            };
            delays.push(delay);
            let running = ferry.start(
                ferry.command(project.dir(), Some(&db.url), args),
                &args.join(" "),
            )?;
            let run = running.kill_after(Duration::from_millis(delay))?;
            let mut found = Vec::new();
            if !run.killed && !run.exited(0) {
                found.push(format!(
                    "a run that was not killed failed: {}",
                    run.describe()
                ));
            }
            let cleanup = match db.wait_sessions_gone(SESSION_END_LIMIT) {
                Ok(took) => Some(took.as_millis() as u64),
                Err(e) => {
                    found.push(e.to_string());
                    None
                }
            };
            let state = State::read(ferry, &project, &db)?;
            let applied_at_kill = state.with_status("applied").len();
            let dirty_at_kill = state.with_status("dirty").len();
            let (inconsistent, dirty) = state.inconsistencies(&project);
            found.extend(inconsistent);
            let resolved = handle_dirty(ferry, &project, &db, &dirty, &mut found)?;

            // The next run must not wait for a lock, and must finish the work.
            let next = ferry.run(
                project.dir(),
                &db.url,
                &["forwards", "all", "--lock-timeout", "5"],
                RUN_LIMIT,
            )?;
            if !next.exited(0) {
                found.push(format!("the next run: {}", next.describe()));
            } else {
                let state = State::read(ferry, &project, &db)?;
                expect_all_applied(&state, &project, &mut found);
            }
            expect_no_locks(&db, "after the next run", &mut found)?;

            kills.push(json!({
                "round": round,
                "command": format!("ferry {}", args.join(" ")),
                "delay_ms": delay,
                "killed_mid_run": run.killed,
                "exit": if run.killed { Value::Null } else { json!(run.code) },
                "applied_after_kill": applied_at_kill,
                "dirty_after_kill": dirty_at_kill,
                "server_cleanup_ms": cleanup,
                "dirty_resolved": resolved,
                "next_run_ms": next.elapsed.as_millis() as u64,
                "problems": found,
            }));
            if !found.is_empty() {
                for f in found {
                    problems.push(format!(
                        "round {round}, `{}` killed at {delay} ms: {f}",
                        args.join(" ")
                    ));
                }
                break 'rounds;
            }
        }
        // Back to nothing applied for the next round; this run must not wait either.
        let reset = ferry.run(
            project.dir(),
            &db.url,
            &["backwards", "all", "-y", "--lock-timeout", "5"],
            RUN_LIMIT,
        )?;
        if !reset.exited(0) {
            problems.push(format!(
                "round {round}, reversing everything: {}",
                reset.describe()
            ));
            break;
        }
        let state = State::read(ferry, &project, &db)?;
        let before = problems.len();
        expect_nothing_applied(&state, &project, &db, &mut problems)?;
        if problems.len() > before {
            break;
        }
    }
    expect_no_locks(&db, "after the runs", &mut problems)?;

    let mid = kills
        .iter()
        .filter(|k| k["killed_mid_run"] == json!(true))
        .count();
    let list = |d: &[u64]| {
        if d.is_empty() {
            "-".to_owned()
        } else {
            d.iter().map(u64::to_string).collect::<Vec<_>>().join("/")
        }
    };
    o.summary = format!(
        "{} kills over {n} migrations ({mid} mid-run), delays forwards {} ms, backwards {} ms: {}",
        kills.len(),
        list(&forwards_delays),
        list(&backwards_delays),
        if problems.is_empty() {
            "consistent after each; the next run (--lock-timeout 5) always finished the work"
        } else {
            "see problems"
        }
    );
    let dirty_resolutions: usize = kills
        .iter()
        .map(|k| k["dirty_resolved"].as_array().map_or(0, Vec::len))
        .sum();
    if dirty_resolutions > 0 {
        o.notes.push(format!(
            "{dirty_resolutions} dirty row(s) resolved by hand (MySQL's dirty protocol: DDL commits on its own)"
        ));
    }
    o.details = json!({
        "migrations": n,
        "kills": kills.len(),
        "killed_mid_run": mid,
        "max_kill_delay_ms": settings.max_kill_delay_ms,
        "rng_stream": kind as u64,
        "runs": kills,
    });
    o.problems.extend(problems);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Connection loss

/// How long the slow migration of the cut scenario sleeps on the server.
const SLOW_SECS: u32 = 4;

/// Cut every connection (through a proxy) while ferry runs a slow migration.
pub fn connection_cut(ferry: &Ferry, kind: Kind, o: &mut Outcome) -> Result<()> {
    let project = project::slow_app(kind, SLOW_SECS)?;
    let db = Db::create(kind, project.dir())?;
    let proxy = Proxy::forward(db.server_address()?)?;
    let url = db::with_authority(&db.url, None, Some(&proxy.address()));
    let mut problems = Vec::new();

    let mut running = ferry.start(
        ferry.command(project.dir(), Some(&url), &["forwards", "all"]),
        "forwards all (through the proxy)",
    )?;
    let marker = Kind::slow_marker(SLOW_SECS);
    let waited = Instant::now();
    let mut started = false;
    while waited.elapsed() < Duration::from_secs(30) {
        if db.active_query(&marker)? {
            started = true;
            break;
        }
        if running.exited() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !started {
        problems.push("the slow migration never ran on the server".to_owned());
    }
    std::thread::sleep(Duration::from_millis(300));
    let cut_at = Instant::now();
    let cut = proxy.cut();
    let run = running.wait(Duration::from_secs(60))?;
    let after_cut = cut_at.elapsed();
    expect_clean_error(&run, &mut problems);
    let error_line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_owned();

    let cleanup = db.wait_sessions_gone(SESSION_END_LIMIT);
    if let Err(e) = &cleanup {
        problems.push(e.to_string());
    }
    let state = State::read(ferry, &project, &db)?;
    let statuses: Vec<String> = project
        .migrations
        .iter()
        .map(|m| format!("{} {}", m.id, state.status(m)))
        .collect();
    let (inconsistent, dirty) = state.inconsistencies(&project);
    problems.extend(inconsistent);
    let resolved = handle_dirty(ferry, &project, &db, &dirty, &mut problems)?;

    let rerun = ferry.run(
        project.dir(),
        &db.url,
        &["forwards", "all", "--lock-timeout", "15"],
        RUN_LIMIT,
    )?;
    if rerun.exited(0) {
        let state = State::read(ferry, &project, &db)?;
        expect_all_applied(&state, &project, &mut problems);
    } else {
        problems.push(format!(
            "the rerun against the server: {}",
            rerun.describe()
        ));
    }
    expect_no_locks(&db, "after the rerun", &mut problems)?;

    o.summary = format!(
        "cut {cut} connection(s) during a {SLOW_SECS} s migration: ferry {} {:.1} s later, then {}; rerun {}",
        run.status(),
        after_cut.as_secs_f64(),
        statuses.join(", "),
        rerun.status(),
    );
    if !resolved.is_empty() {
        o.notes.push(
            "the cut migration was left dirty (MySQL's dirty protocol) and resolved by hand"
                .to_owned(),
        );
    }
    o.details = json!({
        "cut_connections": cut,
        "connections_through_proxy": proxy.accepted(),
        "exit": run.code,
        "status": run.status(),
        "seconds_from_cut_to_exit": after_cut.as_secs_f64(),
        "error_line": error_line,
        "statuses_after_cut": statuses,
        "server_cleanup_ms": cleanup.ok().map(|d| d.as_millis() as u64),
        "dirty_resolved": resolved,
        "rerun": rerun.status(),
    });
    o.problems.extend(problems);
    Ok(())
}

/// The `connect_timeout` the silent-server check puts in the URL.
const CONNECT_TIMEOUT_SECS: u64 = 3;

/// ferry against a listener that accepts connections and never answers.
pub fn silent_server(ferry: &Ferry, kind: Kind, o: &mut Outcome) -> Result<()> {
    let proxy = Proxy::silent()?;
    let project = project::three_apps(kind, 3, None)?;
    // With a password: the timeout message must not show it either.
    let scheme = if kind == Kind::Mysql {
        "mysql"
    } else {
        "postgres"
    };
    let base = format!(
        "{scheme}://{STRESS_USER}:{STRESS_PASSWORD}@{}/stress_silent",
        proxy.address()
    );
    let url = db::with_param(&base, &format!("connect_timeout={CONNECT_TIMEOUT_SECS}"));
    // ferry must exit within connect_timeout + 5 s; it is watched for twice the timeout
    // plus 10 s, so that the report says how late a late exit was.
    let observe = |timeout: u64| Duration::from_secs(2 * timeout + 10);
    let mut timeout = CONNECT_TIMEOUT_SECS;
    let mut run = ferry.run(project.dir(), &url, &["forwards", "all"], observe(timeout))?;
    let mut unsupported = None;
    let mut leaked = run.output().contains(STRESS_PASSWORD);
    if run.exited(2) && run.stderr.contains("connect_timeout") {
        // This build does not know the parameter: check the default instead.
        unsupported = Some(tail(&run.stderr, 1));
        timeout = 30;
        run = ferry.run(project.dir(), &base, &["forwards", "all"], observe(timeout))?;
        leaked |= run.output().contains(STRESS_PASSWORD);
    }
    let mut problems = Vec::new();
    if leaked {
        problems.push("the password of the URL appears in ferry's output".to_owned());
    }
    let limit = Duration::from_secs(timeout + 5);
    if run.hung {
        problems.push(format!(
            "ferry had not exited {} s after it started (connect_timeout {timeout} s, limit {} s); killed",
            run.elapsed.as_secs(),
            limit.as_secs()
        ));
    } else {
        expect_clean_error(&run, &mut problems);
        if run.elapsed > limit {
            problems.push(format!(
                "ferry took {:.1} s (connect_timeout {timeout} s, limit {} s)",
                run.elapsed.as_secs_f64(),
                limit.as_secs()
            ));
        }
        let says = run.stderr.to_lowercase();
        if !says.contains("timed out") && !says.contains("timeout") {
            problems.push(format!(
                "the error does not say it timed out: {}",
                tail(&run.stderr, 3)
            ));
        }
    }
    if let Some(message) = &unsupported {
        o.notes.push(format!(
            "this build rejects `connect_timeout` in a {} URL ({message}); checked the default 30 s instead",
            kind.name()
        ));
    }
    o.summary = format!(
        "a listener that never answers, connect_timeout {timeout} s{}: {}",
        if unsupported.is_some() {
            " (the default)"
        } else {
            ""
        },
        if run.hung {
            format!(
                "ferry had not exited after {:.0} s (killed)",
                run.elapsed.as_secs_f64()
            )
        } else {
            format!(
                "ferry {} after {:.1} s",
                run.status(),
                run.elapsed.as_secs_f64()
            )
        }
    );
    o.details = json!({
        "connect_timeout_s": timeout,
        "connect_timeout_in_url": unsupported.is_none(),
        "limit_s": limit.as_secs(),
        "status": run.status(),
        "elapsed_ms": run.elapsed.as_millis() as u64,
        "error": tail(&run.stderr, 2),
        "connections_accepted": proxy.accepted(),
    });
    o.problems.extend(problems);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Secrets

/// A wrong password, which must not appear either.
const WRONG_PASSWORD: &str = "Wr0ng-stress-pw";

/// One run of the secrets scenario.
struct Case {
    name: &'static str,
    /// The database URL given with `-d`, or through `FERRY_DATABASE_URL` when `env`.
    url: Option<String>,
    env: bool,
    args: Vec<&'static str>,
    /// The exit code this case exercises (`None`: any).
    expect: Option<i32>,
}

/// A port of 127.0.0.1 that nothing listens on (free a moment ago).
fn closed_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Runs with a password in every URL, successes and errors, `-v`: the password must appear
/// nowhere in their output.
pub fn secrets(ferry: &Ferry, kind: Kind, o: &mut Outcome) -> Result<()> {
    db::ensure_stress_user(kind)?;
    let project = project::three_apps(kind, 6, None)?;
    let db = Db::create(kind, project.dir())?;
    db.hand_to_stress_user()?;
    let user = format!("{STRESS_USER}:{STRESS_PASSWORD}");
    let good = db::with_authority(&db.url, Some(&user), None);
    let wrong_db = db::with_database(&good, "ferry_stress_no_such_db");
    let wrong_port =
        db::with_authority(&good, None, Some(&format!("127.0.0.1:{}", closed_port()?)));
    let wrong_pw = db::with_authority(
        &db.url,
        Some(&format!("{STRESS_USER}:{WRONG_PASSWORD}")),
        None,
    );
    let bad_param = db::with_param(
        &good,
        if kind == Kind::Mysql {
            "ssl-mode=sometimes"
        } else {
            "sslmode=sometimes"
        },
    );
    // A project whose URL is in its ferry.toml, with a migration that fails.
    project.write(
        "broken.toml",
        &format!(
            "database_url = \"{good}\"\n\n[[app]]\nname = \"broken\"\nmigrations = \"broken\"\n"
        ),
    )?;
    project.write(
        "broken/001_broken.sql",
        "-- ferry:up\nCREATE TABLE broken_t (id INTEGER PRIMARY KEY);\nTHIS IS NOT SQL;\n-- ferry:down\nDROP TABLE broken_t;\n",
    )?;
    // A project whose one migration holds the lock for a while.
    let sleep = kind.slow_work(3);
    project.write(
        "holder.toml",
        "[[app]]\nname = \"holder\"\nmigrations = \"holder\"\n",
    )?;
    project.write(
        "holder/001_hold.sql",
        &format!("-- ferry:up\n{sleep}\n-- ferry:down\n"),
    )?;

    let case = |name, url: &str, args: &[&'static str], expect| Case {
        name,
        url: Some(url.to_owned()),
        env: false,
        args: args.to_vec(),
        expect,
    };
    let mut cases = vec![
        case("forwards -v", &good, &["-v", "forwards", "all"], Some(0)),
        case("check -v", &good, &["-v", "check"], Some(0)),
        case(
            "check --format json -v",
            &good,
            &["-v", "check", "--format", "json"],
            Some(0),
        ),
        Case {
            name: "check -v, URL in FERRY_DATABASE_URL",
            url: Some(good.clone()),
            env: true,
            args: vec!["-v", "check"],
            expect: Some(0),
        },
        Case {
            name: "forwards -v, URL in ferry.toml, failing migration",
            url: None,
            env: false,
            args: vec!["-v", "-c", "broken.toml", "forwards", "all"],
            expect: Some(1),
        },
        case(
            "backwards -v",
            &good,
            &["-v", "backwards", "all", "-y"],
            Some(0),
        ),
        case(
            "forwards -v, wrong database",
            &wrong_db,
            &["-v", "forwards", "all"],
            Some(1),
        ),
        case("check, wrong database", &wrong_db, &["check"], Some(1)),
        case(
            "forwards -v, wrong port",
            &wrong_port,
            &["-v", "forwards", "all"],
            Some(1),
        ),
        case(
            "check -v, wrong port",
            &wrong_port,
            &["-v", "check"],
            Some(1),
        ),
        // With trust authentication (the test servers) a wrong password may still get in.
        case(
            "check -v, wrong password",
            &wrong_pw,
            &["-v", "check"],
            None,
        ),
        case(
            "check -v, bad URL parameter",
            &bad_param,
            &["-v", "check"],
            Some(2),
        ),
    ];
    if kind == Kind::Mysql {
        cases.push(case(
            "forwards -v, wrong password",
            &wrong_pw,
            &["-v", "forwards", "all"],
            None,
        ));
    }

    let mut problems = Vec::new();
    let mut reports = Vec::new();
    let mut check = |name: &str, run: &Run, expect: Option<i32>, problems: &mut Vec<String>| {
        let output = run.output();
        let found =
            output.matches(STRESS_PASSWORD).count() + output.matches(WRONG_PASSWORD).count();
        if found > 0 {
            problems.push(format!("{name}: the password appears {found} time(s)"));
        }
        if let Some(code) = expect {
            if !run.exited(code) {
                problems.push(format!(
                    "{name}: expected exit {code} (the case did not exercise what it should): {} {}",
                    run.status(),
                    run.stderr_tail()
                ));
            }
        }
        if run.stderr.contains("panicked") {
            problems.push(format!("{name}: ferry panicked"));
        }
        reports.push(json!({
            "case": name,
            "status": run.status(),
            "output_bytes": output.len(),
            "password_occurrences": found,
        }));
    };
    for c in &cases {
        let mut cmd = ferry.command(
            project.dir(),
            if c.env { None } else { c.url.as_deref() },
            &c.args,
        );
        if c.env {
            cmd.env("FERRY_DATABASE_URL", c.url.as_deref().unwrap_or_default());
        }
        let run = ferry.start(cmd, &c.args.join(" "))?.wait(RUN_LIMIT)?;
        check(c.name, &run, c.expect, &mut problems);
    }

    // Another run holds the lock: the timeout message names the holder, never the password.
    let holder = ferry.start(
        ferry.command(
            project.dir(),
            Some(&good),
            &["-v", "-c", "holder.toml", "forwards", "all"],
        ),
        "forwards all (lock holder)",
    )?;
    let waited = Instant::now();
    while !db.active_query(&Kind::slow_marker(3))? && waited.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let waiter = ferry.run(
        project.dir(),
        &good,
        &["-v", "forwards", "all", "--lock-timeout", "1"],
        RUN_LIMIT,
    )?;
    check(
        "forwards -v, lock held by another run",
        &waiter,
        Some(1),
        &mut problems,
    );
    let holder = holder.wait(RUN_LIMIT)?;
    check(
        "forwards -v, the lock holder",
        &holder,
        Some(0),
        &mut problems,
    );

    let runs = reports.len();
    o.summary = format!(
        "{runs} runs with a password in the URL (ok, wrong database, wrong port, wrong password, bad parameter, failing migration, lock held, -v): {}",
        if problems.iter().any(|p| p.contains("password appears")) {
            "the password leaked"
        } else {
            "the password appears 0 times"
        }
    );
    o.details = json!({ "runs": runs, "cases": reports });
    o.problems.extend(problems);
    Ok(())
}
