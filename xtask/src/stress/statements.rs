//! The `crash-statements` scenario (MariaDB, SPEC §14): `forwards all` and `backwards all -y`
//! killed with SIGKILL at a seeded moment while multi-statement DDL migrations run, then
//! repaired exactly as docs/src/locks-and-recovery.md says ("The crash window"): read
//! `check --format json` and `check -v`, look at the database for the statement after
//! `statements_done`, undo it by hand if it ran (or use `--applied` / `--reverted` when it was
//! the last one), `ferry resolve --resume`, then run the command to the end. Every table must
//! then be present exactly once (forwards) or gone (backwards), and every migration applied
//! (or pending).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};

use super::db::{Db, Kind};
use super::ferry::Ferry;
use super::project::{self, Project};
use super::{Outcome, Rng, Settings};

/// The longest any one ferry run may take before it counts as hung.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// How long the server may take to end a dead client's session.
const SESSION_END_LIMIT: Duration = Duration::from_secs(15);

/// Migrations of the project (each DDL statement commits on its own on MariaDB: a few tens of
/// ms each).
const MIGRATIONS: usize = 10;

/// `(migration ID, status)` of each migration, as `check --format json` lists them.
type Statuses = Vec<(String, String)>;

/// A dirty row as `check --format json` shows it.
#[derive(Debug)]
struct DirtyRow {
    id: String,
    done: Option<usize>,
    total: Option<usize>,
    down: bool,
}

/// The scenario; on every backend but MariaDB there is nothing to count under DDL, so it runs
/// only there (PostgreSQL and SQLite count `no-transaction` sections, tested in the CLI
/// tests).
pub fn crash_statements(
    ferry: &Ferry,
    settings: &Settings,
    kind: Kind,
    rng: &mut Rng,
    o: &mut Outcome,
) -> Result<()> {
    let project = project::ddl_app(MIGRATIONS)?;
    let db = Db::create(kind, project.dir())?;
    let mut kills = Vec::new();
    let mut problems = Vec::new();
    let mut repaired = 0;
    'rounds: for round in 1..=settings.kills {
        for backwards in [false, true] {
            let args: &[&str] = if backwards {
                &["backwards", "all", "-y"]
            } else {
                &["forwards", "all"]
            };
            // The seeded moment: once the database shows `after` statements done (tables
            // created, or dropped), and then `jitter` ms more, so that the kill lands anywhere
            // in a statement's cycle (the statement, its progress update, the next one).
            let statements = 4 * MIGRATIONS as u64;
            let after = 1 + rng.up_to(statements - 2);
            let jitter = rng.up_to(40);
            let mut running = ferry.start(
                ferry.command(project.dir(), Some(&db.url), args),
                &args.join(" "),
            )?;
            let started = Instant::now();
            while !running.exited() && started.elapsed() < RUN_LIMIT {
                let tables = db.tables()?.iter().filter(|t| t.starts_with("s_")).count() as u64;
                let done = if backwards {
                    statements - tables
                } else {
                    tables
                };
                if done >= after {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(Duration::from_millis(jitter));
            let delay = started.elapsed().as_millis() as u64;
            let run = running.kill_after(Duration::ZERO)?;
            let mut found = Vec::new();
            if !run.killed && !run.exited(0) {
                found.push(format!(
                    "a run that was not killed failed: {}",
                    run.describe()
                ));
            }
            if let Err(e) = db.wait_sessions_gone(SESSION_END_LIMIT) {
                found.push(e.to_string());
            }
            let repair = repair(ferry, &project, &db, &mut found)?;
            repaired += repair.len();

            // Then the command to the end, and everything is in place (or gone) exactly once.
            let to_end: Vec<&str> = args
                .iter()
                .copied()
                .chain(["--lock-timeout", "5"])
                .collect();
            let next = ferry.run(project.dir(), &db.url, &to_end, RUN_LIMIT)?;
            if !next.exited(0) {
                found.push(format!("the run to the end: {}", next.describe()));
            } else {
                expect_end(ferry, &project, &db, !backwards, &mut found)?;
            }
            kills.push(json!({
                "round": round,
                "command": format!("ferry {}", args.join(" ")),
                "kill_after_statements": after,
                "jitter_ms": jitter,
                "delay_ms": delay,
                "killed_mid_run": run.killed,
                "dirty": repair,
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
    }

    let mid = kills
        .iter()
        .filter(|k| k["killed_mid_run"] == json!(true))
        .count();
    o.summary = format!(
        "{} kills over {MIGRATIONS} migrations of 4 DDL statements each (after a seeded number of statements and 0-40 ms; {mid} mid-run, {repaired} dirty row(s) left): {}",
        kills.len(),
        if problems.is_empty() {
            "check -v named the statement to inspect; the documented repair and --resume always ended with every table once"
        } else {
            "see problems"
        }
    );
    o.details = json!({
        "migrations": MIGRATIONS,
        "statements_per_migration": 4,
        "kills": kills.len(),
        "killed_mid_run": mid,
        "dirty_rows_repaired": repaired,
        "rng_stream": kind as u64,
        "runs": kills,
    });
    o.problems.extend(problems);
    Ok(())
}

/// After a kill: at most two dirty rows (a migration and, forwards, the one after it, whose
/// row is written ahead with the last progress count of the one before: none of its
/// statements recorded), each counted, with the tables its count implies; repaired oldest
/// first by the documented steps. Returns what was found and done for each.
fn repair(
    ferry: &Ferry,
    project: &Project,
    db: &Db,
    found: &mut Vec<String>,
) -> Result<Vec<Value>> {
    let (statuses, dirty) = read_check(ferry, project, db)?;
    let tables = db.tables()?;
    // Clean migrations: applied ⇔ all four tables, pending ⇔ none.
    for (id, status) in &statuses {
        let present = project::ddl_tables(id)
            .iter()
            .filter(|t| tables.contains(*t))
            .count();
        match (status.as_str(), present) {
            ("applied", 4) | ("pending", 0) | ("dirty", _) => {}
            _ => found.push(format!("{id} is `{status}` with {present} of its 4 tables")),
        }
    }
    match dirty.as_slice() {
        [] | [_] => {}
        [first, second] => {
            let position = |id: &str| statuses.iter().position(|(i, _)| i == id);
            let next = position(&first.id).map(|p| p + 1) == position(&second.id);
            if first.down || second.down || !next || second.done != Some(0) {
                found.push(format!(
                    "dirty rows {first:?} and {second:?}: two only for a migration and the next, that one with 0 statements recorded, forwards"
                ));
                return Ok(Vec::new());
            }
        }
        more => {
            found.push(format!("{} dirty rows (at most two expected)", more.len()));
            return Ok(Vec::new());
        }
    }
    let mut repaired = Vec::new();
    for row in &dirty {
        match repair_row(ferry, project, db, &tables, row, found)? {
            Some(value) => repaired.push(value),
            None => break,
        }
    }
    Ok(repaired)
}

/// The documented steps for one dirty row; `None` when it is not as the count says.
fn repair_row(
    ferry: &Ferry,
    project: &Project,
    db: &Db,
    tables: &BTreeSet<String>,
    row: &DirtyRow,
    found: &mut Vec<String>,
) -> Result<Option<Value>> {
    let (Some(done), Some(total)) = (row.done, row.total) else {
        found.push(format!(
            "dirty {} has no statement count (statements_done {:?}, statements_total {:?})",
            row.id, row.done, row.total
        ));
        return Ok(None);
    };
    // The statements in the order they run: up creates a, b, c, d; down drops d, c, b, a.
    let mut order = project::ddl_tables(&row.id);
    if row.down {
        order.reverse();
    }
    if total != order.len() || done >= total {
        found.push(format!("dirty {}: {done} of {total} statements", row.id));
        return Ok(None);
    }
    let ran = |t: &String| tables.contains(t) != row.down;
    // Statements 1..done ran; done+2..n did not; done+1 may have (the crash window).
    for (i, t) in order.iter().enumerate() {
        if (i < done && !ran(t)) || (i > done && ran(t)) {
            found.push(format!(
                "dirty {}: {done} statement(s) recorded, but statement {} ({t}) {}",
                row.id,
                i + 1,
                if ran(t) { "ran" } else { "did not run" }
            ));
        }
    }
    // `check -v` names that statement, with its place in the file.
    let verbose = ferry.run(project.dir(), &db.url, &["check", "-v"], RUN_LIMIT)?;
    let of = if row.down { " of the down section" } else { "" };
    let named = format!("statement {}{of} (", done + 1);
    if !verbose.exited(0) || !verbose.stdout.contains(&named) {
        found.push(format!(
            "`check -v` does not name `{named}...`: {}",
            verbose.stdout.trim()
        ));
    }
    // The documented steps.
    let next = &order[done];
    let next_ran = ran(next);
    let last = done + 1 == total;
    let (by_hand, resolution) = match (next_ran, last, row.down) {
        (false, _, _) => (None, "--resume"),
        (true, true, false) => (None, "--applied"),
        (true, true, true) => (None, "--reverted"),
        (true, false, false) => (Some(format!("DROP TABLE {next}")), "--resume"),
        (true, false, true) => (Some(format!("CREATE TABLE {next} (id INT)")), "--resume"),
    };
    if let Some(sql) = &by_hand {
        db.exec(sql)?;
    }
    let resolve = ferry.run(
        project.dir(),
        &db.url,
        &["resolve", "ddl", &row.id, resolution, "--lock-timeout", "5"],
        RUN_LIMIT,
    )?;
    if !resolve.exited(0) {
        found.push(format!("resolve {resolution}: {}", resolve.describe()));
    }
    Ok(Some(json!({
        "id": row.id,
        "section": if row.down { "down" } else { "up" },
        "statements_done": done,
        "statements_total": total,
        "next_statement_ran": next_ran,
        "undone_by_hand": by_hand,
        "resolved": resolution.trim_start_matches('-'),
    })))
}

/// `check --format json`: each migration's status, and the dirty rows.
fn read_check(ferry: &Ferry, project: &Project, db: &Db) -> Result<(Statuses, Vec<DirtyRow>)> {
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
    let mut statuses = Vec::new();
    let mut dirty = Vec::new();
    for m in json["migrations"]
        .as_array()
        .context("no `migrations` array")?
    {
        let id = m["migration_id"].as_str().unwrap_or_default().to_owned();
        let status = m["status"].as_str().unwrap_or_default().to_owned();
        if status == "dirty" {
            let number = |key: &str| m[key].as_u64().map(|n| n as usize);
            dirty.push(DirtyRow {
                id: id.clone(),
                done: number("statements_done"),
                total: number("statements_total"),
                down: m["statements_of"] == "down",
            });
        }
        statuses.push((id, status));
    }
    Ok((statuses, dirty))
}

/// Problems unless every migration is applied with its four tables (`forwards`), or every
/// one is pending with none left (`backwards`), and no other table of the project exists.
fn expect_end(
    ferry: &Ferry,
    project: &Project,
    db: &Db,
    forwards: bool,
    found: &mut Vec<String>,
) -> Result<()> {
    let (statuses, _) = read_check(ferry, project, db)?;
    let want = if forwards { "applied" } else { "pending" };
    let wrong: Vec<String> = statuses
        .iter()
        .filter(|(_, s)| s != want)
        .map(|(id, s)| format!("{id} {s}"))
        .collect();
    if statuses.len() != MIGRATIONS || !wrong.is_empty() {
        found.push(format!(
            "{} of {MIGRATIONS} migrations {want}; not: {}",
            statuses.len() - wrong.len(),
            wrong.join(", ")
        ));
    }
    let present: BTreeSet<String> = db
        .tables()?
        .into_iter()
        .filter(|t| t.starts_with("s_"))
        .collect();
    let expected: BTreeSet<String> = if forwards {
        (1..=MIGRATIONS)
            .flat_map(|i| project::ddl_tables(&project::ddl_id(i)))
            .collect()
    } else {
        BTreeSet::new()
    };
    if present != expected {
        let missing: Vec<&String> = expected.difference(&present).collect();
        let extra: Vec<&String> = present.difference(&expected).collect();
        found.push(format!(
            "tables after the run: missing {missing:?}, not expected {extra:?}"
        ));
    }
    Ok(())
}
