//! The planning rules of SPEC §5 and §6, table-driven on the in-memory driver.
//!
//! Every test is data: a fixture (apps, migration files, tracking rows), a command line and
//! the expected outcome as text, compared by [`check`]. Only the helpers in the first part of
//! this file touch ferry's API (managers, results, tracking rows), so that an API change
//! means adapting them, not the tests. Tests are named after the rule they cover.
//!
//! Fixture:
//! ```text
//! //- app a          an app, in registry order; `//- app b: a` depends on `a`
//! 3 [flags]          the file `3_make_a_3.sql`: up `CREATE TABLE a_3 (id INT);`,
//!                    down `DROP TABLE a_3;`, description `make a 3`. Flags:
//!                    irreversible (no down), empty-down, fails (the up's second statement
//!                    fails), down-fails (likewise for the down), no-tx, down-no-tx,
//!                    pair (`.up.sql` + `.down.sql`), symlink (a link to a file outside),
//!                    dml (up `INSERT INTO a_1 VALUES (3);`, down `DELETE FROM a_1 ...`)
//! //- rows           tracking rows, in apply order (and the tables their ups created)
//! a 3 [flags]        dirty, changed (checksum differs), no-down (down_sql NULL),
//!                    empty-down (down_sql ''), old-down (down_sql `DROP TABLE old_down;`
//!                    where the file says otherwise); a row without a file is `missing`, its
//!                    description is `recorded a_3`
//! //- non-transactional-ddl   DDL commits implicitly, as on MySQL
//! //- answer yes|no  how the prompt answers (default: it cannot ask, as without a terminal)
//! ```
//!
//! Command: `VERB APP [ID] [--fake] [--preview] [-y] [--clean] [--applied|--reverted]
//! [--accept-changed] [--json] [--out-of-order=warn|allow|refuse]`, VERB one of `forwards`, `backwards`, `check`, `clean`, `resolve` (the managers) or
//! `run_forwards`, `run_backwards`, `forwards()`, `backwards()`, `run_migrations_backwards` (the
//! free functions and Piccolo's per-app entry point).
//!
//! Outcome, one item per line: the prompts (`confirm: ...`) and events (`forwards a 1`,
//! `fake a 1`, `backwards a 1`, `preview forwards a 1: SQL`, `preview forget a 1`,
//! `warning: ..`, `notice: ..`, `deleted: ..`) in the order they happened; the result
//! (`ok: MESSAGE [MIGRATIONS]`, `failed: MESSAGE`, `error KIND: MESSAGE`, or for `check` one
//! line per status and `queries: N`, or one JSON object per status with `--json`); the
//! tracking rows after (`rows: a 1, a 2*`, apply order, `*` = dirty, `~` = the checksum of a
//! `changed` row, `^` = the down SQL of an `old-down` row); the tables that exist
//! (`tables: a_1 a_2`); with `--clean`, the files left (`files: a/1_make_a_1.sql`).
//! Paths start with `$DIR`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::DateTime;
use ferry_core::driver::{RowChange, TrackingRow};
use ferry_core::testkit::{block_on, MemoryDatabase};
use ferry_core::{
    backwards, checksum, forwards, run_backwards, run_forwards, AppConfig, AppRegistry,
    BackwardsMigrationManager, CheckMigrationManager, CleanManager, Confirm, ConfirmRequest,
    Driver, Error, Event, ForwardsMigrationManager, MigrationResult, MigrationStatus, Migrator,
    OutOfOrder, PlannedMigration, Reporter, ResolveManager, TableName,
};

// ---------------------------------------------------------------------------------------------
// Helpers: the only code that knows ferry's API.

/// Run `command` on `fixture` and compare the outcome with `expect` (lines trimmed, blank
/// lines ignored; an expected line ending in `...` matches any line that starts with the text
/// before it).
#[track_caller]
fn check(fixture: &str, command: &str, expect: &str) {
    let actual = outcome(fixture, command);
    let expect = normalize(expect);
    let line_matches = |(e, a): (&str, &str)| match e.strip_suffix("...") {
        Some(prefix) => a.starts_with(prefix),
        None => e == a,
    };
    let matches = expect.lines().count() == actual.lines().count()
        && expect.lines().zip(actual.lines()).all(line_matches);
    if !matches {
        panic!("\ncommand: {command}\n--- expected:\n{expect}\n--- actual:\n{actual}\n---\n");
    }
}

fn outcome(fixture: &str, command: &str) -> String {
    let fx = parse_fixture(fixture);
    let dir = tempfile::tempdir().expect("temp dir");
    write_files(dir.path(), &fx);
    let mut lines = Vec::new();
    let registry = match AppRegistry::new(
        fx.apps
            .iter()
            .map(|a| AppConfig::new(&a.name, dir.path().join(&a.name)).depends_on(&a.depends_on))
            .collect(),
    ) {
        Ok(registry) => registry,
        Err(e) => return render_paths(&format!("error {}: {e}", error_kind(&e)), dir.path()),
    };
    let db = MemoryDatabase::new().with_transactional_ddl(!fx.non_transactional_ddl);
    seed_rows(&db, &registry, &fx.rows);
    let transcript = Transcript::default();
    let mut m = Migrator::new(registry, Box::new(db.open(TableName::default())))
        .with_out_of_order(parse_command(command).out_of_order)
        .with_lock_timeout(Duration::from_secs(2))
        .with_reporter(transcript.clone())
        .with_confirm(Prompt {
            answer: fx.answer,
            transcript: transcript.clone(),
        });
    let cmd = parse_command(command);
    let reads_before = db.tracking_reads();
    let result = run(&mut m, &cmd);
    lines.extend(transcript.take());
    match result {
        Output::Result(Ok(r)) => lines.push(render_result(&r)),
        Output::Statuses(Ok(statuses)) if cmd.json => {
            lines.extend(
                statuses
                    .iter()
                    .map(|s| serde_json::to_string(s).expect("json")),
            );
        }
        Output::Statuses(Ok(statuses)) => {
            lines.extend(statuses.iter().map(render_status));
            lines.push(format!("queries: {}", db.tracking_reads() - reads_before));
        }
        Output::Result(Err(e)) | Output::Statuses(Err(e)) => {
            lines.push(format!("error {}: {e}", error_kind(&e)));
        }
    }
    drop(m);
    lines.push(render_rows(&db));
    let tables = db.tables();
    lines.push(format!(
        "tables: {}",
        if tables.is_empty() {
            "(none)".to_owned()
        } else {
            tables.join(" ")
        }
    ));
    if cmd.clean {
        lines.push(render_files(dir.path(), &fx));
    }
    render_paths(&lines.join("\n"), dir.path())
}

/// What a command returned.
enum Output {
    Result(ferry_core::Result<MigrationResult>),
    Statuses(ferry_core::Result<Vec<MigrationStatus>>),
}

/// Call the manager API for one command line.
fn run(m: &mut Migrator, c: &Command) -> Output {
    let app = c.app.clone();
    let id = c.id.clone();
    let backwards_manager = || BackwardsMigrationManager {
        app_name: app.clone(),
        migration_id: id.clone(),
        auto_agree: c.yes,
        clean: c.clean,
        preview: c.preview,
        fake: c.fake,
    };
    Output::Result(match c.verb.as_str() {
        "forwards" => block_on(
            ForwardsMigrationManager {
                app_name: app.clone(),
                migration_id: id.clone(),
                fake: c.fake,
                preview: c.preview,
                auto_agree: c.yes,
                atomic: false,
                rehearse: false,
            }
            .run(m),
        ),
        "run_forwards" => block_on(run_forwards(m, &app, id.as_deref(), c.fake, c.preview)),
        "forwards()" => block_on(forwards(m, &app)),
        "backwards" => block_on(backwards_manager().run(m)),
        "run_backwards" => block_on(run_backwards(
            m,
            &app,
            id.as_deref(),
            c.yes,
            c.clean,
            c.preview,
        )),
        "backwards()" => block_on(backwards(m, &app, id.as_deref(), c.yes)),
        "run_migrations_backwards" => match m.registry().get(&app).cloned() {
            Ok(config) => block_on(backwards_manager().run_migrations_backwards(m, &config)),
            Err(e) => Err(e),
        },
        "check" => {
            return Output::Statuses(block_on(
                CheckMigrationManager::new(app).get_migration_statuses(m),
            ))
        }
        "clean" => block_on(
            CleanManager {
                app_name: app,
                auto_agree: c.yes,
                preview: c.preview,
            }
            .run(m),
        ),
        "resolve" => block_on(
            ResolveManager {
                app_name: app,
                migration_id: id.clone().unwrap_or_default(),
                applied: c.applied,
                resume: false,
                accept_changed: c.accept_changed,
                auto_agree: c.yes,
            }
            .run(m),
        ),
        other => panic!("unknown verb `{other}`"),
    })
}

/// Write the fixture's tracking rows (in order, so in apply order) and create the tables
/// their up sections made; then forget the statements that ran.
fn seed_rows(db: &MemoryDatabase, registry: &AppRegistry, rows: &[FixtureRow]) {
    if rows.is_empty() {
        return;
    }
    let mut d = db.open(TableName::default());
    block_on(d.ensure_table()).expect("create the tracking table");
    for (i, r) in rows.iter().enumerate() {
        let has = |flag: &str| r.flags.iter().any(|f| f == flag);
        let file = registry
            .get(&r.app)
            .expect("rows name a known app")
            .migrations()
            .expect("valid migration files")
            .into_iter()
            .find(|m| m.id == r.id);
        let table = format!("{}_{}", r.app, r.id);
        let up = format!("CREATE TABLE {table} (id INT);\n");
        let checksum = match &file {
            _ if has("changed") => "0".repeat(64),
            Some(m) => m.checksum.clone(),
            None => checksum(&up),
        };
        let down_sql = match &file {
            _ if has("old-down") => Some(OLD_DOWN.to_owned()),
            _ if has("no-down") => None,
            _ if has("empty-down") => Some(String::new()),
            Some(m) => m.down.as_ref().map(|d| d.sql.clone()),
            None => Some(format!("DROP TABLE {table};\n")),
        };
        let minute = i64::try_from(i + 1).expect("few rows");
        let row = TrackingRow {
            app_name: r.app.clone(),
            migration_id: r.id.clone(),
            description: format!("recorded {table}"),
            checksum,
            down_sql,
            applied_at: DateTime::from_timestamp(1_767_225_600 + 60 * minute, 0).expect("time"),
            duration_ms: 1,
            dirty: has("dirty"),
        };
        block_on(d.write(&RowChange::Insert(row))).expect("seed a row");
        block_on(d.execute(&up, false)).expect("seed a table");
    }
    db.clear_log();
}

/// The down SQL a row seeded with the flag `old-down` records.
const OLD_DOWN: &str = "DROP TABLE old_down;\n";

/// `rows: a 1, a 2*` in apply order, `*` = dirty, `~` = the checksum seeded by `changed`,
/// `^` = the down SQL seeded by `old-down`.
fn render_rows(db: &MemoryDatabase) -> String {
    let table = TableName::default();
    if !block_on(db.open(table.clone()).table_exists()).expect("table_exists") {
        return "rows: (no table)".to_owned();
    }
    let rows: Vec<String> = db
        .tracking_rows(&table)
        .iter()
        .map(|r| {
            let dirty = if r.dirty { "*" } else { "" };
            let changed = if r.checksum == "0".repeat(64) {
                "~"
            } else {
                ""
            };
            let old_down = if r.down_sql.as_deref() == Some(OLD_DOWN) {
                "^"
            } else {
                ""
            };
            format!(
                "{} {}{dirty}{changed}{old_down}",
                r.app_name, r.migration_id
            )
        })
        .collect();
    if rows.is_empty() {
        "rows: (none)".to_owned()
    } else {
        format!("rows: {}", rows.join(", "))
    }
}

fn render_result(r: &MigrationResult) -> String {
    let verdict = if r.success { "ok" } else { "failed" };
    let message = r.message.as_deref().unwrap_or("");
    if r.migrations.is_empty() {
        format!("{verdict}: {message}")
    } else {
        format!("{verdict}: {message} [{}]", render_planned(&r.migrations))
    }
}

fn render_status(s: &MigrationStatus) -> String {
    let ran = match (s.has_ran, s.applied_at) {
        (true, Some(at)) => format!("ran {}", at.format("%H:%M")),
        (false, None) => "-".to_owned(),
        (has_ran, at) => format!("has_ran={has_ran} applied_at={at:?}"),
    };
    format!(
        "{} {} {} {ran} ({})",
        s.app_name,
        s.migration_id,
        s.status.as_str(),
        s.description
    )
}

fn render_planned(list: &[PlannedMigration]) -> String {
    list.iter()
        .map(|p| format!("{} {}", p.app_name, p.migration_id))
        .collect::<Vec<_>>()
        .join(", ")
}

fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::Config { .. } => "Config",
        Error::MigrationFile { .. } => "MigrationFile",
        Error::Usage(_) => "Usage",
        Error::UnknownApp { .. } => "UnknownApp",
        Error::Dirty { .. } => "Dirty",
        Error::Irreversible { .. } => "Irreversible",
        Error::DependantsApplied { .. } => "DependantsApplied",
        Error::DependenciesPending { .. } => "DependenciesPending",
        Error::NotChanged { .. } => "NotChanged",
        Error::UnsafeDelete { .. } => "UnsafeDelete",
        Error::ConfirmationUnavailable(_) => "ConfirmationUnavailable",
        Error::Execute { dirty: true, .. } => "Execute(dirty)",
        Error::Execute { .. } => "Execute",
        Error::NotDirty { .. } => "NotDirty",
        Error::Database { .. } => "Database",
        Error::Unsuccessful(_) => "Unsuccessful",
        Error::Io { .. } => "Io",
        Error::OutOfOrder { .. } => "OutOfOrder",
        _ => "Other",
    }
}

/// Records events and prompts, in order.
#[derive(Debug, Clone, Default)]
struct Transcript(Arc<Mutex<Vec<String>>>);

impl Transcript {
    fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl Reporter for Transcript {
    fn report(&self, event: Event<'_>) {
        let one = |p: &PlannedMigration| format!("{} {}", p.app_name, p.migration_id);
        self.push(match event {
            Event::Started { .. } => return,
            Event::Finished {
                migration,
                direction,
                faked,
                ..
            } => {
                let verb = if faked {
                    "fake".to_owned()
                } else {
                    direction.to_string()
                };
                format!("{verb} {}", one(migration))
            }
            Event::Preview {
                migration,
                direction,
                sql,
            } => format!(
                "preview {direction} {}: {}",
                one(migration),
                sql.trim().replace('\n', " ")
            ),
            Event::PreviewForget { migration } => format!("preview forget {}", one(migration)),
            Event::Changed {
                migration,
                recorded_checksum,
                file_checksum,
                recorded_down,
                file_down,
            } => format!(
                "changed {}: checksum {}.. -> {}.., down {:?} -> {:?}",
                one(migration),
                &recorded_checksum[..8],
                &file_checksum[..8],
                recorded_down.map(str::trim),
                file_down.map(str::trim)
            ),
            Event::Ran { migration, .. } => format!("ran {}", one(migration)),
            Event::Warning(w) => format!("warning: {w}"),
            Event::Notice(n) => format!("notice: {n}"),
            Event::Deleted(path) => format!("deleted: {}", path.display()),
            other => format!("event: {other:?}"),
        });
    }
}

/// Answers every prompt with `answer`, or fails as the CLI does without a terminal.
struct Prompt {
    answer: Option<bool>,
    transcript: Transcript,
}

impl Confirm for Prompt {
    fn confirm(&self, request: &ConfirmRequest) -> ferry_core::Result<bool> {
        let items: Vec<String> = request
            .items
            .iter()
            .map(|p| format!("{} {} ({})", p.app_name, p.migration_id, p.description))
            .collect();
        self.transcript.push(format!(
            "confirm: {} [{}]",
            request.question,
            items.join(", ")
        ));
        self.answer.ok_or_else(|| {
            Error::ConfirmationUnavailable("stdin is not a terminal; pass -y".into())
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers: fixtures and command lines (no ferry API).

#[derive(Debug, Default)]
struct Fixture {
    apps: Vec<FixtureApp>,
    rows: Vec<FixtureRow>,
    non_transactional_ddl: bool,
    answer: Option<bool>,
}

#[derive(Debug)]
struct FixtureApp {
    name: String,
    depends_on: Vec<String>,
    migrations: Vec<FixtureMigration>,
}

#[derive(Debug)]
struct FixtureMigration {
    id: String,
    flags: Vec<String>,
}

#[derive(Debug)]
struct FixtureRow {
    app: String,
    id: String,
    flags: Vec<String>,
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

fn parse_fixture(text: &str) -> Fixture {
    let mut fx = Fixture::default();
    let mut in_rows = false;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(directive) = line.strip_prefix("//-") {
            let w = words(directive);
            match w.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                ["app", name, ..] => {
                    in_rows = false;
                    fx.apps.push(FixtureApp {
                        name: name.trim_end_matches(':').to_owned(),
                        depends_on: w[2..].to_vec(),
                        migrations: Vec::new(),
                    });
                }
                ["rows"] => in_rows = true,
                ["non-transactional-ddl"] => fx.non_transactional_ddl = true,
                ["answer", "yes"] => fx.answer = Some(true),
                ["answer", "no"] => fx.answer = Some(false),
                _ => panic!("unknown fixture directive: {line}"),
            }
            continue;
        }
        let w = words(line);
        if in_rows {
            fx.rows.push(FixtureRow {
                app: w[0].clone(),
                id: w[1].clone(),
                flags: w[2..].to_vec(),
            });
        } else {
            fx.apps
                .last_mut()
                .expect("a migration line before any `//- app`")
                .migrations
                .push(FixtureMigration {
                    id: w[0].clone(),
                    flags: w[1..].to_vec(),
                });
        }
    }
    fx
}

/// Write each app's migration files into `root/<app>/`.
fn write_files(root: &Path, fx: &Fixture) {
    for app in &fx.apps {
        let dir = root.join(&app.name);
        std::fs::create_dir_all(&dir).unwrap();
        for m in &app.migrations {
            let has = |flag: &str| m.flags.iter().any(|f| f == flag);
            let table = format!("{}_{}", app.name, m.id);
            let mut up = if has("dml") {
                format!("INSERT INTO {}_1 VALUES ({});\n", app.name, m.id)
            } else {
                format!("CREATE TABLE {table} (id INT);\n")
            };
            if has("fails") {
                up.push_str("INSERT INTO nowhere VALUES (1);\n");
            }
            let down = if has("irreversible") {
                None
            } else if has("empty-down") {
                Some(String::new())
            } else if has("dml") {
                Some(format!("DELETE FROM {}_1 WHERE id = {};\n", app.name, m.id))
            } else if has("down-fails") {
                Some(format!(
                    "DROP TABLE {table};\nINSERT INTO nowhere VALUES (1);\n"
                ))
            } else {
                Some(format!("DROP TABLE {table};\n"))
            };
            let stem = format!("{}_make_{table}", m.id);
            let mut files = Vec::new();
            if has("pair") {
                let nt = |yes: bool| if yes { "-- ferry:no-transaction\n" } else { "" };
                files.push((
                    format!("{stem}.up.sql"),
                    format!("{}{up}", nt(has("no-tx"))),
                ));
                if let Some(down) = down {
                    files.push((
                        format!("{stem}.down.sql"),
                        format!("{}{down}", nt(has("down-no-tx"))),
                    ));
                }
            } else {
                let nt = |yes: bool| if yes { " no-transaction" } else { "" };
                let mut text = format!("-- ferry:up{}\n{up}", nt(has("no-tx")));
                if let Some(down) = down {
                    text.push_str(&format!("-- ferry:down{}\n{down}", nt(has("down-no-tx"))));
                }
                files.push((format!("{stem}.sql"), text));
            }
            for (name, text) in files {
                if has("symlink") {
                    let outside = root.join("outside");
                    std::fs::create_dir_all(&outside).unwrap();
                    std::fs::write(outside.join(&name), text).unwrap();
                    symlink(&outside.join(&name), &dir.join(&name));
                } else {
                    std::fs::write(dir.join(name), text).unwrap();
                }
            }
        }
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

#[cfg(not(unix))]
fn symlink(_: &Path, _: &Path) {
    panic!("symlink fixtures need unix");
}

#[derive(Debug, Default)]
struct Command {
    verb: String,
    app: String,
    id: Option<String>,
    fake: bool,
    preview: bool,
    yes: bool,
    clean: bool,
    applied: bool,
    accept_changed: bool,
    json: bool,
    out_of_order: OutOfOrder,
}

fn parse_command(line: &str) -> Command {
    let mut c = Command::default();
    let mut positional = Vec::new();
    for word in line.split_whitespace() {
        match word {
            "--fake" => c.fake = true,
            "--preview" => c.preview = true,
            "-y" => c.yes = true,
            "--clean" => c.clean = true,
            "--applied" => c.applied = true,
            "--reverted" => c.applied = false,
            "--accept-changed" => c.accept_changed = true,
            "--json" => c.json = true,
            policy if policy.starts_with("--out-of-order=") => {
                c.out_of_order = policy["--out-of-order=".len()..].parse().expect("a policy");
            }
            flag if flag.starts_with('-') => panic!("unknown flag {flag}"),
            word => positional.push(word.to_owned()),
        }
    }
    let mut positional = positional.into_iter();
    c.verb = positional.next().expect("a verb");
    c.app = positional.next().unwrap_or_else(|| "all".to_owned());
    c.id = positional.next();
    c
}

/// `files: a/1_make_a_1.sql ...`: the migration files left, for `--clean`.
fn render_files(root: &Path, fx: &Fixture) -> String {
    let mut files = Vec::new();
    for app in &fx.apps {
        let mut names: Vec<String> = std::fs::read_dir(root.join(&app.name))
            .unwrap()
            .map(|e| format!("{}/{}", app.name, e.unwrap().file_name().to_string_lossy()))
            .collect();
        names.sort();
        files.extend(names);
    }
    format!("files: {}", files.join(" "))
}

fn normalize(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Temp paths as `$DIR`, separators as `/`.
fn render_paths(text: &str, root: &Path) -> String {
    let mut text = text.to_owned();
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    for dir in [canonical, root.to_owned()] {
        text = text.replace(&dir.display().to_string(), "$DIR");
    }
    normalize(&text.replace('\\', "/"))
}

// ---------------------------------------------------------------------------------------------
// §5.1 forwards

#[test]
fn forwards_5_1_1_pending_in_ascending_id_order() {
    check(
        r"
        //- app a
        10
        007
        9
        2
        ",
        "forwards a",
        r"
        forwards a 2
        forwards a 007
        forwards a 9
        forwards a 10
        ok: Applied 4 migrations [a 2, a 007, a 9, a 10]
        rows: a 2, a 007, a 9, a 10
        tables: a_007 a_10 a_2 a_9
        ",
    );
}

#[test]
fn forwards_5_1_1_applied_files_are_not_pending() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        ",
        "forwards a",
        r"
        forwards a 2
        forwards a 3
        ok: Applied 2 migrations [a 2, a 3]
        rows: a 1, a 2, a 3
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn forwards_5_1_2_all_runs_every_pending() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        ",
        "forwards a all",
        r"
        forwards a 2
        forwards a 3
        ok: Applied 2 migrations [a 2, a 3]
        rows: a 1, a 2, a 3
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn forwards_5_1_2_one_runs_the_first_pending() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        ",
        "forwards a 1",
        r"
        forwards a 2
        ok: Applied 1 migration [a 2]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_1_2_id_runs_pending_up_to_it() {
    check(
        r"
        //- app a
        1
        2
        3
        4
        //- rows
        a 1
        ",
        "forwards a 3",
        r"
        forwards a 2
        forwards a 3
        ok: Applied 2 migrations [a 2, a 3]
        rows: a 1, a 2, a 3
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn forwards_5_1_2_applied_id_is_already_applied() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 2
        ",
        "forwards a 2",
        r"
        ok: Migration 2 is already applied; nothing to do
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_1_2_unknown_id_fails() {
    check(
        r"
        //- app a
        1
        2
        ",
        "run_forwards a 5",
        r"
        failed: migration ID 5 is not a migration of app `a`; run `ferry check a` to see its migrations
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_2_unknown_id_fails_when_nothing_pending() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        ",
        "forwards a 5",
        r"
        failed: migration ID 5 is not a migration of app `a`; run `ferry check a` to see its migrations
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_3_nothing_pending() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        ",
        "forwards a",
        r"
        ok: No migrations need to be run
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_3_no_migrations_at_all() {
    check(
        r"
        //- app a
        ",
        "forwards a",
        r"
        ok: No migrations need to be run
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_4_out_of_order_warns() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 3
        ",
        "forwards a",
        r"
        warning: migration a 2 is out of order: it is older than 3, which is already applied
        forwards a 2
        ok: Applied 1 migration [a 2]
        rows: a 1, a 3, a 2
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn forwards_5_1_12_out_of_order_allowed_runs_silently() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 3
        ",
        "forwards a --out-of-order=allow",
        r"
        forwards a 2
        ok: Applied 1 migration [a 2]
        rows: a 1, a 3, a 2
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn forwards_5_1_12_out_of_order_refused_runs_nothing_in_any_app() {
    check(
        r"
        //- app a
        1
        5
        //- app b
        1
        2
        3
        4
        //- rows
        b 1
        b 4
        ",
        "forwards all --out-of-order=refuse",
        r"
        error OutOfOrder: refusing to apply migrations of `b` out of order: 2, 3 are older than 4, which is already applied; nothing was run (out-of-order policy `refuse`: apply them with --out-of-order warn, or give them IDs above 4)
        rows: b 1, b 4
        tables: b_1 b_4
        ",
    );
}

#[test]
fn forwards_5_1_12_refuse_lets_in_order_migrations_run() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        ",
        "forwards a --out-of-order=refuse",
        r"
        forwards a 2
        forwards a 3
        ok: Applied 2 migrations [a 2, a 3]
        rows: a 1, a 2, a 3
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn forwards_5_1_5_dirty_refuses() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 2 dirty
        ",
        "forwards a",
        r"
        error Dirty: app `a` has a dirty migration 2: a run that could not use a transaction failed part-way, so some of its statements may have run; inspect the database, then run `ferry resolve a 2 --applied` (its changes are in place) or `ferry resolve a 2 --reverted` (they are not)
        rows: a 1, a 2*
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_1_5_dirty_row_without_file_refuses() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 9 dirty
        ",
        "forwards a",
        r"
        error Dirty: app `a` has a dirty migration 9: a run that could not use a transaction failed part-way, so some of its statements may have run; inspect the database, then run `ferry resolve a 9 --applied` (its changes are in place) or `ferry resolve a 9 --reverted` (they are not)
        rows: a 1, a 9*
        tables: a_1 a_9
        ",
    );
}

#[test]
fn forwards_5_1_5_dirty_row_of_another_app_does_not_refuse() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        //- rows
        b 1 dirty
        ",
        "forwards a",
        r"
        forwards a 1
        ok: Applied 1 migration [a 1]
        rows: b 1*, a 1
        tables: a_1 b_1
        ",
    );
}

#[test]
fn forwards_5_1_5_changed_checksum_warns() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1 changed
        ",
        "forwards a",
        r"
        warning: migration a 1 was changed after it was applied (checksum differs); the change will not be run: $DIR/a/1_make_a_1.sql
        forwards a 2
        ok: Applied 1 migration [a 2]
        rows: a 1~, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_1_6_failure_rolls_back_the_migration_and_its_row() {
    check(
        r"
        //- app a
        1
        2 fails
        ",
        "forwards a",
        r"
        forwards a 1
        error Execute: migration a 2 failed ($DIR/a/2_make_a_2.sql:3): no such table: nowhere
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_6_without_transactional_ddl_failure_leaves_dirty_row() {
    check(
        r"
        //- non-transactional-ddl
        //- app a
        1
        2 fails
        ",
        "forwards a",
        r"
        forwards a 1
        error Execute(dirty): migration a 2 failed ($DIR/a/2_make_a_2.sql:3): no such table: nowhere
        the migration ran outside a transaction, so the statements before the failing one may have taken effect; it is marked dirty and a is blocked until you inspect the database and run `ferry resolve a 2 --applied` (its changes are in place) or `ferry resolve a 2 --reverted` (they are not)
        rows: a 1, a 2*
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_1_6_no_transaction_failure_leaves_dirty_row() {
    check(
        r"
        //- app a
        1
        2 fails no-tx
        ",
        "forwards a",
        r"
        forwards a 1
        error Execute(dirty): migration a 2 failed ($DIR/a/2_make_a_2.sql:3): no such table: nowhere
        the migration ran outside a transaction, so the statements before the failing one may have taken effect; it is marked dirty and a is blocked until you inspect the database and run `ferry resolve a 2 --applied` (its changes are in place) or `ferry resolve a 2 --reverted` (they are not)
        rows: a 1, a 2*
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_1_6_dirty_protocol_clears_the_row_on_success() {
    check(
        r"
        //- non-transactional-ddl
        //- app a
        1
        2 no-tx
        ",
        "forwards a",
        r"
        forwards a 1
        forwards a 2
        ok: Applied 2 migrations [a 1, a 2]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_1_6_dml_only_migration_keeps_its_transaction_without_transactional_ddl() {
    check(
        r"
        //- non-transactional-ddl
        //- app a
        1
        2 dml fails
        ",
        "forwards a",
        r"
        forwards a 1
        error Execute: migration a 2 failed ($DIR/a/2_make_a_2.sql:3): no such table: nowhere
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_7_failure_stops_keeps_earlier_and_names_file_and_line() {
    check(
        r"
        //- app a
        1
        2 fails
        3
        ",
        "forwards a",
        r"
        forwards a 1
        error Execute: migration a 2 failed ($DIR/a/2_make_a_2.sql:3): no such table: nowhere
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_8_fake_one_records_without_running() {
    check(
        r"
        //- app a
        1
        ",
        "forwards a --fake",
        r"
        fake a 1
        ok: Faked 1 migration [a 1]
        rows: a 1
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_8_fake_many_asks_first() {
    check(
        r"
        //- answer yes
        //- app a
        1
        2
        ",
        "forwards a --fake",
        r"
        confirm: Fake 2 migration(s)? [a 1 (make a 1), a 2 (make a 2)]
        fake a 1
        fake a 2
        ok: Faked 2 migrations [a 1, a 2]
        rows: a 1, a 2
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_8_fake_declined_records_nothing() {
    check(
        r"
        //- answer no
        //- app a
        1
        2
        ",
        "forwards a --fake",
        r"
        confirm: Fake 2 migration(s)? [a 1 (make a 1), a 2 (make a 2)]
        failed: Not proceeding.
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_8_fake_without_terminal_records_nothing() {
    check(
        r"
        //- app a
        1
        2
        ",
        "forwards a --fake",
        r"
        confirm: Fake 2 migration(s)? [a 1 (make a 1), a 2 (make a 2)]
        error ConfirmationUnavailable: stdin is not a terminal; pass -y
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_8_fake_auto_agree_does_not_ask() {
    check(
        r"
        //- app a
        1
        2
        ",
        "forwards a --fake -y",
        r"
        fake a 1
        fake a 2
        ok: Faked 2 migrations [a 1, a 2]
        rows: a 1, a 2
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_9_preview_only_reads() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        ",
        "forwards a --preview",
        r"
        preview forwards a 2: CREATE TABLE a_2 (id INT);
        preview forwards a 3: CREATE TABLE a_3 (id INT);
        ok: preview only: nothing was run [a 2, a 3]
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_9_preview_creates_no_table_and_asks_nothing() {
    check(
        r"
        //- app a
        1
        2
        ",
        "forwards a --preview --fake",
        r"
        preview forwards a 1: CREATE TABLE a_1 (id INT);
        preview forwards a 2: CREATE TABLE a_2 (id INT);
        ok: preview only: nothing was run [a 1, a 2]
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_10_all_runs_apps_in_dependency_order() {
    check(
        r"
        //- app b: a
        1
        2
        //- app a
        1
        2
        ",
        "forwards() all",
        r"
        forwards a 1
        forwards a 2
        forwards b 1
        forwards b 2
        ok: Applied 4 migrations [a 1, a 2, b 1, b 2]
        rows: a 1, a 2, b 1, b 2
        tables: a_1 a_2 b_1 b_2
        ",
    );
}

#[test]
fn forwards_5_1_10_all_with_an_id_is_a_usage_error() {
    check(
        r"
        //- app a
        1
        2
        ",
        "forwards all 2",
        r"
        error Usage: a migration ID cannot be given with app `all` (got `2`); omit it, or name one app
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_10_all_with_1_is_a_usage_error() {
    check(
        r"
        //- app a
        1
        2
        ",
        "forwards all 1",
        r"
        error Usage: a migration ID cannot be given with app `all` (got `1`); omit it, or name one app
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_10_all_with_all_runs_everything() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        ",
        "forwards all all",
        r"
        forwards a 1
        forwards b 1
        ok: Applied 2 migrations [a 1, b 1]
        rows: a 1, b 1
        tables: a_1 b_1
        ",
    );
}

#[test]
fn forwards_5_1_10_all_stops_at_the_first_failing_app() {
    check(
        r"
        //- app a
        1
        2 fails
        //- app b: a
        1
        ",
        "forwards all",
        r"
        forwards a 1
        error Execute: migration a 2 failed ($DIR/a/2_make_a_2.sql:3): no such table: nowhere
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_10_a_dirty_app_refuses_the_whole_run() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        2
        //- rows
        b 1 dirty
        ",
        "forwards all",
        r"
        error Dirty: app `b` has a dirty migration 1: a run that could not use a transaction failed part-way, so some of its statements may have run; inspect the database, then run `ferry resolve b 1 --applied` (its changes are in place) or `ferry resolve b 1 --reverted` (they are not)
        rows: b 1*
        tables: b_1
        ",
    );
}

#[test]
fn forwards_5_7_unknown_app_is_an_error() {
    check(
        r"
        //- app a
        1
        ",
        "forwards nope",
        r"
        error UnknownApp: unknown app `nope`; known apps: a
        rows: (no table)
        tables: (none)
        ",
    );
}

// ---------------------------------------------------------------------------------------------
// §5.2 backwards

#[test]
fn backwards_5_2_1_the_stack_is_apply_order_not_id_order() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 3
        a 1
        a 2
        ",
        "backwards a -y",
        r"
        backwards a 2
        ok: Reversed 1 migration [a 2]
        rows: a 3, a 1
        tables: a_1 a_3
        ",
    );
}

#[test]
fn backwards_5_2_1_all_reverses_in_reverse_apply_order() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 3
        a 1
        a 2
        ",
        "backwards a all -y",
        r"
        backwards a 2
        backwards a 1
        backwards a 3
        ok: Reversed 3 migrations [a 2, a 1, a 3]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_2_one_reverses_the_most_recent() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a 1 -y",
        r"
        backwards a 2
        ok: Reversed 1 migration [a 2]
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_2_id_reverses_it_and_everything_applied_after() {
    check(
        r"
        //- app a
        1
        2
        3
        4
        //- rows
        a 1
        a 3
        a 4
        a 2
        ",
        "backwards a 3 -y",
        r"
        backwards a 2
        backwards a 4
        backwards a 3
        ok: Reversed 3 migrations [a 2, a 4, a 3]
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_2_id_not_applied_fails_listing_applied_ids() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 2
        ",
        "run_backwards a 3 -y",
        r"
        failed: migration 3 of app `a` is not applied; applied IDs: 1, 2
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_2_id_not_applied_is_an_error_from_backwards_fn() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 2
        ",
        "backwards() a 3 -y",
        r"
        error Unsuccessful: migration 3 of app `a` is not applied; applied IDs: 1, 2
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[ignore = "SPEC 5.2.2: an ID that is not applied must fail (exit 1); with nothing applied ferry reports success \"No migrations to reverse\" (5.2.3). Arguable: 5.1.2 says the error applies also when nothing is pending"]
#[test]
fn backwards_5_2_2_id_not_applied_fails_even_when_nothing_is_applied() {
    check(
        r"
        //- app a
        1
        2
        ",
        "backwards a 2 -y",
        r"
        failed: migration 2 of app `a` is not applied...
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_3_nothing_applied() {
    check(
        r"
        //- app a
        1
        2
        ",
        "backwards a -y",
        r"
        ok: No migrations to reverse
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_3_nothing_applied_in_this_app() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        //- rows
        b 1
        ",
        "backwards a all -y",
        r"
        ok: No migrations to reverse
        rows: b 1
        tables: b_1
        ",
    );
}

#[test]
fn backwards_5_2_4_file_gone_uses_stored_down_sql_with_a_notice() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "backwards a -y",
        r"
        notice: the file of migration a 2 is gone; using the down SQL stored when it was applied
        backwards a 2
        ok: Reversed 1 migration [a 2]
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_4_irreversible_in_range_is_refused_before_any_change() {
    check(
        r"
        //- app a
        1 irreversible
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a all -y",
        r"
        error Irreversible: migration a 1 is irreversible (it has no `-- ferry:down` section); nothing was reversed
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_4_file_gone_without_stored_down_sql_is_irreversible() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2 no-down
        ",
        "backwards a -y",
        r"
        error Irreversible: migration a 2 is irreversible (it has no `-- ferry:down` section); nothing was reversed
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_4_empty_down_section_only_deletes_the_row() {
    check(
        r"
        //- app a
        1 empty-down
        //- rows
        a 1
        ",
        "backwards a -y",
        r"
        backwards a 1
        ok: Reversed 1 migration [a 1]
        rows: (none)
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_4_stored_empty_down_only_deletes_the_row() {
    check(
        r"
        //- app a
        //- rows
        a 1 empty-down
        ",
        "backwards a -y",
        r"
        notice: the file of migration a 1 is gone; using the down SQL stored when it was applied
        backwards a 1
        ok: Reversed 1 migration [a 1]
        rows: (none)
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_5_asks_and_proceeds_on_yes() {
    check(
        r"
        //- answer yes
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a all",
        r"
        confirm: Reverse 2 migration(s)? [a 2 (make a 2), a 1 (make a 1)]
        backwards a 2
        backwards a 1
        ok: Reversed 2 migrations [a 2, a 1]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_5_declined_changes_nothing() {
    check(
        r"
        //- answer no
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a all",
        r"
        confirm: Reverse 2 migration(s)? [a 2 (make a 2), a 1 (make a 1)]
        failed: Not proceeding.
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_5_without_terminal_changes_nothing() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a",
        r"
        confirm: Reverse 1 migration(s)? [a 2 (make a 2)]
        error ConfirmationUnavailable: stdin is not a terminal; pass -y
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_5_auto_agree_does_not_ask() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a -y",
        r"
        backwards a 2
        ok: Reversed 1 migration [a 2]
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_6_failure_stops_and_keeps_reversals_done() {
    check(
        r"
        //- app a
        1
        2 down-fails
        3
        //- rows
        a 1
        a 2
        a 3
        ",
        "backwards a all -y",
        r"
        backwards a 3
        error Execute: migration a 2 failed ($DIR/a/2_make_a_2.sql:5): no such table: nowhere
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_6_without_transactional_ddl_failure_leaves_dirty_row() {
    check(
        r"
        //- non-transactional-ddl
        //- app a
        1
        2 down-fails
        3
        //- rows
        a 1
        a 2
        a 3
        ",
        "backwards a all -y",
        r"
        backwards a 3
        error Execute(dirty): migration a 2 failed ($DIR/a/2_make_a_2.sql:5): no such table: nowhere
        the migration ran outside a transaction, so the statements before the failing one may have taken effect; it is marked dirty and a is blocked until you inspect the database and run `ferry resolve a 2 --applied` (its changes are in place) or `ferry resolve a 2 --reverted` (they are not)
        rows: a 1, a 2*
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_6_no_transaction_failure_leaves_dirty_row() {
    check(
        r"
        //- app a
        1
        2 down-fails down-no-tx
        //- rows
        a 1
        a 2
        ",
        "backwards a all -y",
        r"
        error Execute(dirty): migration a 2 failed ($DIR/a/2_make_a_2.sql:5): no such table: nowhere
        the migration ran outside a transaction, so the statements before the failing one may have taken effect; it is marked dirty and a is blocked until you inspect the database and run `ferry resolve a 2 --applied` (its changes are in place) or `ferry resolve a 2 --reverted` (they are not)
        rows: a 1, a 2*
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_6_dirty_refuses() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2 dirty
        ",
        "backwards a -y",
        r"
        error Dirty: app `a` has a dirty migration 2: a run that could not use a transaction failed part-way, so some of its statements may have run; inspect the database, then run `ferry resolve a 2 --applied` (its changes are in place) or `ferry resolve a 2 --reverted` (they are not)
        rows: a 1, a 2*
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_7_clean_deletes_the_reversed_files() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 2
        a 3
        ",
        "backwards a 2 -y --clean",
        r"
        backwards a 3
        deleted: $DIR/a/3_make_a_3.sql
        backwards a 2
        deleted: $DIR/a/2_make_a_2.sql
        ok: Reversed 2 migrations [a 3, a 2]
        rows: a 1
        tables: a_1
        files: a/1_make_a_1.sql
        ",
    );
}

#[test]
fn backwards_5_2_7_clean_deletes_both_files_of_a_pair() {
    check(
        r"
        //- app a
        1 pair
        2 pair
        //- rows
        a 1
        a 2
        ",
        "backwards a -y --clean",
        r"
        backwards a 2
        deleted: $DIR/a/2_make_a_2.up.sql
        deleted: $DIR/a/2_make_a_2.down.sql
        ok: Reversed 1 migration [a 2]
        rows: a 1
        tables: a_1
        files: a/1_make_a_1.down.sql a/1_make_a_1.up.sql
        ",
    );
}

#[test]
fn backwards_5_2_7_clean_with_the_file_gone_deletes_nothing() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "backwards a -y --clean",
        r"
        notice: the file of migration a 2 is gone; using the down SQL stored when it was applied
        backwards a 2
        ok: Reversed 1 migration [a 2]
        rows: a 1
        tables: a_1
        files: a/1_make_a_1.sql
        ",
    );
}

#[test]
fn backwards_5_2_7_clean_keeps_the_file_of_a_failed_reversal() {
    check(
        r"
        //- app a
        1
        2 down-fails
        3
        //- rows
        a 1
        a 2
        a 3
        ",
        "backwards a all -y --clean",
        r"
        backwards a 3
        deleted: $DIR/a/3_make_a_3.sql
        error Execute: migration a 2 failed ($DIR/a/2_make_a_2.sql:5): no such table: nowhere
        rows: a 1, a 2
        tables: a_1 a_2
        files: a/1_make_a_1.sql a/2_make_a_2.sql
        ",
    );
}

#[cfg(unix)]
#[test]
fn backwards_5_2_7_clean_refuses_a_symlink_before_any_change() {
    check(
        r"
        //- app a
        1
        2 symlink
        //- rows
        a 1
        a 2
        ",
        "backwards a all -y --clean",
        r"
        error UnsafeDelete: refusing to delete $DIR/a/2_make_a_2.sql: it is a symbolic link (`--clean` deletes only regular files); nothing was changed
        rows: a 1, a 2
        tables: a_1 a_2
        files: a/1_make_a_1.sql a/2_make_a_2.sql
        ",
    );
}

#[test]
fn backwards_5_2_8_preview_shows_down_sql_newest_first() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a all --preview",
        r"
        preview backwards a 2: DROP TABLE a_2;
        preview backwards a 1: DROP TABLE a_1;
        ok: preview only: nothing was changed [a 2, a 1]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_8_preview_uses_stored_down_sql() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "backwards a --preview",
        r"
        notice: the file of migration a 2 is gone; using the down SQL stored when it was applied
        preview backwards a 2: DROP TABLE a_2;
        ok: preview only: nothing was changed [a 2]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_8_preview_with_clean_deletes_nothing() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a all --preview --clean",
        r"
        preview backwards a 2: DROP TABLE a_2;
        preview backwards a 1: DROP TABLE a_1;
        ok: preview only: nothing was changed [a 2, a 1]
        rows: a 1, a 2
        tables: a_1 a_2
        files: a/1_make_a_1.sql a/2_make_a_2.sql
        ",
    );
}

#[test]
fn backwards_5_2_9_all_reverses_apps_in_reverse_dependency_order_with_one_prompt() {
    check(
        r"
        //- answer yes
        //- app a
        1
        2
        //- app b: a
        1
        //- app c
        1
        //- rows
        a 1
        b 1
        c 1
        a 2
        ",
        "backwards all",
        r"
        confirm: Reverse 4 migration(s)? [b 1 (make b 1), c 1 (make c 1), a 2 (make a 2), a 1 (make a 1)]
        backwards b 1
        backwards c 1
        backwards a 2
        backwards a 1
        ok: Reversed 4 migrations [b 1, c 1, a 2, a 1]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_9_all_with_an_id_is_a_usage_error() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards all 2 -y",
        r"
        error Usage: a migration ID cannot be given with app `all` (got `2`); omit it, or name one app
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_9_all_with_all_reverses_everything() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        //- rows
        a 1
        b 1
        ",
        "run_backwards all all -y",
        r"
        backwards b 1
        backwards a 1
        ok: Reversed 2 migrations [b 1, a 1]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_9_all_with_an_explicit_1_is_a_usage_error_as_in_the_cli() {
    check(
        r"
        //- app a
        1
        2
        //- app b
        1
        //- rows
        a 1
        b 1
        a 2
        ",
        "backwards all 1 -y",
        r"
        error Usage: a migration ID cannot be given with app `all` (got `1`); omit it, or name one app
        rows: a 1, b 1, a 2
        tables: a_1 a_2 b_1
        ",
    );
}

#[test]
fn backwards_5_2_9_all_without_an_id_reverses_everything() {
    check(
        r"
        //- app a
        1
        2
        //- app b
        1
        //- rows
        a 1
        b 1
        a 2
        ",
        "backwards all -y",
        r"
        backwards b 1
        backwards a 2
        backwards a 1
        ok: Reversed 3 migrations [b 1, a 2, a 1]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_9_all_with_clean_deletes_every_reversed_file() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        2
        //- rows
        a 1
        b 1
        ",
        "backwards all -y --clean",
        r"
        backwards b 1
        deleted: $DIR/b/1_make_b_1.sql
        backwards a 1
        deleted: $DIR/a/1_make_a_1.sql
        ok: Reversed 2 migrations [b 1, a 1]
        rows: (none)
        tables: (none)
        files: b/2_make_b_2.sql
        ",
    );
}

#[test]
fn backwards_5_2_10_refuses_to_empty_a_dependency_of_an_applied_app() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- rows
        a 1
        b 1
        ",
        "backwards a -y",
        r"
        error DependantsApplied: refusing to reverse every migration of `a`: b depend(s) on it and still have applied migrations; reverse them first (or use `ferry backwards all`)
        rows: a 1, b 1
        tables: a_1 b_1
        ",
    );
}

#[test]
fn backwards_5_2_10_names_every_applied_dependant() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- app c: a
        1
        //- app d: a
        1
        //- rows
        a 1
        b 1
        d 1
        ",
        "backwards a all -y",
        r"
        error DependantsApplied: refusing to reverse every migration of `a`: b, d depend(s) on it and still have applied migrations; reverse them first (or use `ferry backwards all`)
        rows: a 1, b 1, d 1
        tables: a_1 b_1 d_1
        ",
    );
}

#[test]
fn backwards_5_2_10_partial_reversal_of_a_dependency_is_allowed() {
    check(
        r"
        //- app a
        1
        2
        //- app b: a
        1
        //- rows
        a 1
        a 2
        b 1
        ",
        "backwards a -y",
        r"
        backwards a 2
        ok: Reversed 1 migration [a 2]
        rows: a 1, b 1
        tables: a_1 b_1
        ",
    );
}

#[test]
fn backwards_5_2_10_emptying_a_dependency_without_applied_dependants_is_allowed() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- rows
        a 1
        ",
        "backwards a -y",
        r"
        backwards a 1
        ok: Reversed 1 migration [a 1]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_10_run_migrations_backwards_refuses_too() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- rows
        a 1
        b 1
        ",
        "run_migrations_backwards a all -y",
        r"
        error DependantsApplied: refusing to reverse every migration of `a`: b depend(s) on it and still have applied migrations; reverse them first (or use `ferry backwards all`)
        rows: a 1, b 1
        tables: a_1 b_1
        ",
    );
}

#[test]
fn backwards_5_7_unknown_app_is_an_error() {
    check(
        r"
        //- app a
        1
        ",
        "backwards nope -y",
        r"
        error UnknownApp: unknown app `nope`; known apps: a
        rows: (no table)
        tables: (none)
        ",
    );
}

// ---------------------------------------------------------------------------------------------
// §5.3 check

#[test]
fn check_5_3_1_one_row_per_file_and_per_row_without_file() {
    check(
        r"
        //- app a
        1
        2
        3
        4
        5
        //- rows
        a 1
        a 2 changed
        a 3 dirty
        a 9
        a 8 dirty
        ",
        "check a",
        r"
        a 1 applied ran 00:01 (make a 1)
        a 2 changed ran 00:02 (make a 2)
        a 3 dirty ran 00:03 (make a 3)
        a 4 pending - (make a 4)
        a 5 pending - (make a 5)
        a 8 dirty ran 00:05 (recorded a_8)
        a 9 missing ran 00:04 (recorded a_9)
        queries: 1
        rows: a 1, a 2~, a 3*, a 9, a 8*
        tables: a_1 a_2 a_3 a_8 a_9
        ",
    );
}

#[test]
fn check_5_3_1_ids_match_as_numbers() {
    // A row `7` is the file `007`'s (IDs compare as numbers; the fixture's checksums differ,
    // hence `changed` rather than `pending` plus `missing`); `0010` has no file.
    check(
        r"
        //- app a
        007
        9
        //- rows
        a 7
        a 0010
        ",
        "check a",
        r"
        a 007 changed ran 00:01 (make a 007)
        a 9 pending - (make a 9)
        a 0010 missing ran 00:02 (recorded a_0010)
        queries: 1
        rows: a 7, a 0010
        tables: a_0010 a_7
        ",
    );
}

#[test]
fn check_5_3_1_dirty_wins_over_changed() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1 changed dirty
        ",
        "check a",
        r"
        a 1 dirty ran 00:01 (make a 1)
        queries: 1
        rows: a 1*~
        tables: a_1
        ",
    );
}

#[test]
fn check_5_3_2_apps_in_dependency_order_migrations_in_id_order() {
    check(
        r"
        //- app b: a
        1
        2
        //- app a
        1
        2
        3
        //- rows
        a 3
        b 2
        a 1
        a 5
        ",
        "check all",
        r"
        a 1 applied ran 00:03 (make a 1)
        a 2 pending - (make a 2)
        a 3 applied ran 00:01 (make a 3)
        a 5 missing ran 00:04 (recorded a_5)
        b 1 pending - (make b 1)
        b 2 applied ran 00:02 (make b 2)
        queries: 1
        rows: a 3, b 2, a 1, a 5
        tables: a_1 a_3 a_5 b_2
        ",
    );
}

#[test]
fn check_5_3_3_json_fields() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 2 changed
        a 9
        ",
        "check a --json",
        r#"
        {"app_name":"a","migration_id":"1","description":"make a 1","has_ran":true,"status":"applied","applied_at":"2026-01-01T00:01:00Z"}
        {"app_name":"a","migration_id":"2","description":"make a 2","has_ran":true,"status":"changed","applied_at":"2026-01-01T00:02:00Z"}
        {"app_name":"a","migration_id":"3","description":"make a 3","has_ran":false,"status":"pending","applied_at":null}
        {"app_name":"a","migration_id":"9","description":"recorded a_9","has_ran":true,"status":"missing","applied_at":"2026-01-01T00:03:00Z"}
        rows: a 1, a 2~, a 9
        tables: a_1 a_2 a_9
        "#,
    );
}

#[test]
fn check_5_3_4_unknown_app_is_an_error() {
    check(
        r"
        //- app a
        1
        ",
        "check nope",
        r"
        error UnknownApp: unknown app `nope`; known apps: a
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn check_5_3_4_reads_the_tracking_table_once() {
    check(
        r"
        //- app a
        1
        2
        3
        //- app b
        1
        2
        //- rows
        a 1
        b 1
        a 2
        ",
        "check all",
        r"
        a 1 applied ran 00:01 (make a 1)
        a 2 applied ran 00:03 (make a 2)
        a 3 pending - (make a 3)
        b 1 applied ran 00:02 (make b 1)
        b 2 pending - (make b 2)
        queries: 1
        rows: a 1, b 1, a 2
        tables: a_1 a_2 b_1
        ",
    );
}

#[test]
fn check_5_3_4_creates_no_table() {
    check(
        r"
        //- app a
        1
        2
        ",
        "check a",
        r"
        a 1 pending - (make a 1)
        a 2 pending - (make a 2)
        queries: 0
        rows: (no table)
        tables: (none)
        ",
    );
}

// ---------------------------------------------------------------------------------------------
// §5.4 clean

#[test]
fn clean_5_4_forgets_missing_rows_after_asking() {
    check(
        r"
        //- answer yes
        //- app a
        1
        //- rows
        a 1
        a 2
        a 3
        ",
        "clean a",
        r"
        confirm: Forget 2 missing migration(s)? Their tracking rows will be deleted; no SQL runs. [a 2 (recorded a_2), a 3 (recorded a_3)]
        notice: forgot a 2 recorded a_2
        notice: forgot a 3 recorded a_3
        ok: Forgot 2 missing migrations [a 2, a 3]
        rows: a 1
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn clean_5_4_declined_changes_nothing() {
    check(
        r"
        //- answer no
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "clean a",
        r"
        confirm: Forget 1 missing migration(s)? Their tracking rows will be deleted; no SQL runs. [a 2 (recorded a_2)]
        failed: Not proceeding.
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn clean_5_4_without_terminal_changes_nothing() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "clean a",
        r"
        confirm: Forget 1 missing migration(s)? Their tracking rows will be deleted; no SQL runs. [a 2 (recorded a_2)]
        error ConfirmationUnavailable: stdin is not a terminal; pass -y
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn clean_5_4_auto_agree_does_not_ask() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "clean a -y",
        r"
        notice: forgot a 2 recorded a_2
        ok: Forgot 1 missing migration [a 2]
        rows: a 1
        tables: a_1 a_2
        ",
    );
}

#[test]
fn clean_5_4_touches_only_that_app() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        //- rows
        a 2
        b 2
        a 1
        ",
        "clean a -y",
        r"
        notice: forgot a 2 recorded a_2
        ok: Forgot 1 missing migration [a 2]
        rows: b 2, a 1
        tables: a_1 a_2 b_2
        ",
    );
}

#[test]
fn clean_5_4_all_forgets_missing_rows_of_every_app() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        //- rows
        a 2
        b 2
        a 1
        ",
        "clean all -y",
        r"
        notice: forgot a 2 recorded a_2
        notice: forgot b 2 recorded b_2
        ok: Forgot 2 missing migrations [a 2, b 2]
        rows: a 1
        tables: a_1 a_2 b_2
        ",
    );
}

#[test]
fn clean_5_4_preview_changes_nothing() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "clean a --preview",
        r"
        preview forget a 2
        ok: preview only: nothing was changed [a 2]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn clean_5_4_nothing_missing() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        ",
        "clean a",
        r"
        ok: No missing migrations to forget
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn clean_5_4_dirty_rows_are_not_forgotten() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2 dirty
        ",
        "clean a -y",
        r"
        ok: No missing migrations to forget
        rows: a 1, a 2*
        tables: a_1 a_2
        ",
    );
}

#[test]
fn clean_5_7_unknown_app_is_an_error() {
    check(
        r"
        //- app a
        1
        ",
        "clean nope -y",
        r"
        error UnknownApp: unknown app `nope`; known apps: a
        rows: (no table)
        tables: (none)
        ",
    );
}

// ---------------------------------------------------------------------------------------------
// §5.5 resolve

#[test]
fn resolve_5_5_applied_keeps_the_row() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2 dirty
        ",
        "resolve a 2 --applied",
        r"
        ok: Marked a 2 as applied [a 2]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn resolve_5_5_reverted_deletes_the_row() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2 dirty
        ",
        "resolve a 2 --reverted",
        r"
        ok: Marked a 2 as reverted (row deleted) [a 2]
        rows: a 1
        tables: a_1 a_2
        ",
    );
}

#[test]
fn resolve_5_5_a_clean_row_is_not_dirty() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "resolve a 2 --applied",
        r"
        error NotDirty: migration a 2 is not dirty (it is applied)
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn resolve_5_5_a_migration_without_row_is_not_dirty() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        ",
        "resolve a 2 --reverted",
        r"
        error NotDirty: migration a 2 is not dirty (it has no tracking row)
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn resolve_5_7_unknown_app_is_an_error() {
    check(
        r"
        //- app a
        1
        ",
        "resolve nope 1 --applied",
        r"
        error UnknownApp: unknown app `nope`; known apps: a
        rows: (no table)
        tables: (none)
        ",
    );
}

// ---------------------------------------------------------------------------------------------
// §6 app ordering

#[test]
fn order_6_waves_keep_registry_order() {
    check(
        r"
        //- app c: a b
        1
        //- app b
        1
        //- app a
        1
        ",
        "forwards all",
        r"
        forwards b 1
        forwards a 1
        forwards c 1
        ok: Applied 3 migrations [b 1, a 1, c 1]
        rows: b 1, a 1, c 1
        tables: a_1 b_1 c_1
        ",
    );
}

#[test]
fn order_6_chain_runs_dependencies_first() {
    check(
        r"
        //- app c: b
        1
        //- app b: a
        1
        //- app a
        1
        ",
        "forwards all",
        r"
        forwards a 1
        forwards b 1
        forwards c 1
        ok: Applied 3 migrations [a 1, b 1, c 1]
        rows: a 1, b 1, c 1
        tables: a_1 b_1 c_1
        ",
    );
}

#[test]
fn order_6_backwards_uses_the_reverse_order() {
    check(
        r"
        //- app c: a b
        1
        //- app b
        1
        //- app a
        1
        //- rows
        a 1
        b 1
        c 1
        ",
        "backwards all -y",
        r"
        backwards c 1
        backwards a 1
        backwards b 1
        ok: Reversed 3 migrations [c 1, a 1, b 1]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn order_6_check_uses_dependency_order() {
    check(
        r"
        //- app c: a b
        1
        //- app b
        1
        //- app a
        1
        //- rows
        c 1
        ",
        "check all",
        r"
        b 1 pending - (make b 1)
        a 1 pending - (make a 1)
        c 1 applied ran 00:01 (make c 1)
        queries: 1
        rows: c 1
        tables: c_1
        ",
    );
}

#[test]
fn order_6_cycle_is_a_configuration_error() {
    check(
        r"
        //- app a: c
        1
        //- app b: a
        1
        //- app c: b
        1
        ",
        "check all",
        r"
        error Config: dependency cycle between apps: a -> c -> b -> a; remove one of these `depends_on` entries
        ",
    );
}

#[test]
fn order_6_reversing_a_dependency_of_a_dependency_is_refused() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- app c: b
        1
        //- rows
        a 1
        b 1
        c 1
        ",
        "backwards b -y",
        r"
        error DependantsApplied: refusing to reverse every migration of `b`: c depend(s) on it and still have applied migrations; reverse them first (or use `ferry backwards all`)
        rows: a 1, b 1, c 1
        tables: a_1 b_1 c_1
        ",
    );
}

#[test]
fn order_6_reversing_a_transitive_dependency_is_refused() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- app c: b
        1
        //- rows
        a 1
        c 1
        ",
        "backwards a -y",
        r"
        error DependantsApplied: refusing to reverse every migration of `a`: c depend(s) on it and still have applied migrations; reverse them first (or use `ferry backwards all`)
        rows: a 1, c 1
        tables: a_1 c_1
        ",
    );
}

// ---------------------------------------------------------------------------------------------
// SPEC §5.1.11: one app whose dependencies, directly or through other apps, have pending
// migrations.

/// `c` depends on `b`, which depends on `a`; `a` has one pending, `b` two, `c` one.
const CHAIN_PENDING: &str = r"
    //- app a
    1
    2
    //- app b: a
    1
    2
    //- app c: b
    1
    //- rows
    a 1
";

#[test]
fn forwards_5_1_11_pending_dependencies_refuse_one_app() {
    check(
        CHAIN_PENDING,
        "forwards c",
        r"
        error DependenciesPending: refusing to run migrations of `c`: it depends on apps with pending migrations: `a` (1 pending migration), `b` (2 pending migrations); nothing was run; run `ferry forwards all` (dependencies first)
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_11_pending_dependencies_refuse_an_id_too() {
    check(
        CHAIN_PENDING,
        "forwards c 1",
        r"
        error DependenciesPending: refusing to run migrations of `c`: it depends on apps with pending migrations: `a` (1 pending migration), `b` (2 pending migrations); nothing was run; run `ferry forwards all` (dependencies first)
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_11_pending_dependencies_refuse_fake() {
    check(
        CHAIN_PENDING,
        "forwards c --fake -y",
        r"
        error DependenciesPending: refusing to run migrations of `c`: it depends on apps with pending migrations: `a` (1 pending migration), `b` (2 pending migrations); nothing was run; run `ferry forwards all` (dependencies first)
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_11_preview_warns_and_shows_the_sql() {
    check(
        CHAIN_PENDING,
        "forwards c --preview",
        r"
        warning: `c` depends on apps with pending migrations: `a` (1 pending migration), `b` (2 pending migrations); without --preview this run would be refused; run `ferry forwards all`
        preview forwards c 1: CREATE TABLE c_1 (id INT);
        ok: preview only: nothing was run [c 1]
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_11_nothing_pending_in_the_app_is_no_refusal() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- rows
        b 1
        ",
        "forwards b",
        r"
        ok: No migrations need to be run
        rows: b 1
        tables: b_1
        ",
    );
}

#[test]
fn forwards_5_1_11_applied_dependencies_let_the_app_run() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- app c: b
        1
        //- rows
        a 1
        b 1
        ",
        "forwards c",
        r"
        forwards c 1
        ok: Applied 1 migration [c 1]
        rows: a 1, b 1, c 1
        tables: a_1 b_1 c_1
        ",
    );
}

#[test]
fn forwards_5_1_11_an_app_that_is_not_a_dependency_does_not_count() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        //- app c: b
        1
        //- rows
        b 1
        ",
        "forwards c",
        r"
        forwards c 1
        ok: Applied 1 migration [c 1]
        rows: b 1, c 1
        tables: b_1 c_1
        ",
    );
}

#[test]
fn forwards_5_1_11_all_runs_dependencies_first() {
    check(
        CHAIN_PENDING,
        "forwards all",
        r"
        forwards a 2
        forwards b 1
        forwards b 2
        forwards c 1
        ok: Applied 4 migrations [a 2, b 1, b 2, c 1]
        rows: a 1, a 2, b 1, b 2, c 1
        tables: a_1 a_2 b_1 b_2 c_1
        ",
    );
}

// ---------------------------------------------------------------------------------------------
// SPEC §5.2.10: dependants through other apps.

#[test]
fn backwards_5_2_10_transitive_dependants_are_named() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- app c: b
        1
        //- app d: c
        1
        //- rows
        a 1
        b 1
        d 1
        ",
        "backwards a all -y",
        r"
        error DependantsApplied: refusing to reverse every migration of `a`: b, d depend(s) on it and still have applied migrations; reverse them first (or use `ferry backwards all`)
        rows: a 1, b 1, d 1
        tables: a_1 b_1 d_1
        ",
    );
}

#[test]
fn backwards_5_2_10_transitive_dependants_reversed_in_the_same_command_are_fine() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- app c: b
        1
        //- rows
        a 1
        c 1
        ",
        "backwards all -y",
        r"
        backwards c 1
        backwards a 1
        ok: Reversed 2 migrations [c 1, a 1]
        rows: (none)
        tables: (none)
        ",
    );
}

// ---------------------------------------------------------------------------------------------
// SPEC §5.2.11: backwards --fake.

#[test]
fn backwards_5_2_11_fake_deletes_rows_and_runs_no_sql() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 2
        a 3
        ",
        "backwards a 2 --fake -y",
        r"
        fake a 3
        fake a 2
        ok: Faked the reversal of 2 migrations: tracking rows deleted, no down SQL ran [a 3, a 2]
        rows: a 1
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_asks_first() {
    check(
        r"
        //- answer yes
        //- app a
        1
        //- rows
        a 1
        ",
        "backwards a --fake",
        r"
        confirm: Reverse 1 migration(s) with --fake? Their tracking rows will be deleted; no down SQL runs. [a 1 (make a 1)]
        fake a 1
        ok: Faked the reversal of 1 migration: tracking rows deleted, no down SQL ran [a 1]
        rows: (none)
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_declined_changes_nothing() {
    check(
        r"
        //- answer no
        //- app a
        1
        //- rows
        a 1
        ",
        "backwards a all --fake",
        r"
        confirm: Reverse 1 migration(s) with --fake? Their tracking rows will be deleted; no down SQL runs. [a 1 (make a 1)]
        failed: Not proceeding.
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_without_a_terminal_changes_nothing() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        ",
        "backwards a --fake",
        r"
        confirm: Reverse 1 migration(s) with --fake? Their tracking rows will be deleted; no down SQL runs. [a 1 (make a 1)]
        error ConfirmationUnavailable: stdin is not a terminal; pass -y
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_forgets_an_irreversible_migration() {
    check(
        r"
        //- app a
        1 irreversible
        //- rows
        a 1 no-down
        ",
        "backwards a --fake -y",
        r"
        fake a 1
        ok: Faked the reversal of 1 migration: tracking rows deleted, no down SQL ran [a 1]
        rows: (none)
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_preview_lists_the_rows() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a all --fake --preview",
        r"
        preview forget a 2
        preview forget a 1
        ok: preview only: nothing was changed [a 2, a 1]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_keeps_the_dependant_rule() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- rows
        a 1
        b 1
        ",
        "backwards a --fake -y",
        r"
        error DependantsApplied: ...
        rows: a 1, b 1
        tables: a_1 b_1
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_all_apps() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- rows
        a 1
        b 1
        ",
        "backwards all --fake -y",
        r"
        fake b 1
        fake a 1
        ok: Faked the reversal of 2 migrations: tracking rows deleted, no down SQL ran [b 1, a 1]
        rows: (none)
        tables: a_1 b_1
        ",
    );
}

// ---------------------------------------------------------------------------------------------
// SPEC §5.5: resolve --accept-changed.

#[test]
fn resolve_5_5_accept_changed_records_the_file() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2 changed old-down
        ",
        "resolve a 2 --accept-changed -y",
        r"
        changed a 2: checksum 00000000.. -> ...
        ok: Accepted the changed migration a 2: its tracking row now records the file's checksum and down section [a 2]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn resolve_5_5_accept_changed_shows_the_down_sections() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1 changed old-down
        ",
        "resolve a 1 --accept-changed -y",
        r#"
        changed a 1: checksum 00000000.. -> 9e6c4ae0.., down Some("DROP TABLE old_down;") -> Some("DROP TABLE a_1;")
        ok: Accepted the changed migration a 1: ...
        rows: a 1
        tables: a_1
        "#,
    );
}

#[test]
fn resolve_5_5_accept_changed_asks_first() {
    check(
        r"
        //- answer yes
        //- app a
        1
        //- rows
        a 1 changed
        ",
        "resolve a 1 --accept-changed",
        r"
        changed a 1: ...
        confirm: Accept the edited file of a 1? Its tracking row will record the file's checksum and down section; no SQL runs. [a 1 (make a 1)]
        ok: Accepted the changed migration a 1: ...
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn resolve_5_5_accept_changed_declined_changes_nothing() {
    check(
        r"
        //- answer no
        //- app a
        1
        //- rows
        a 1 changed old-down
        ",
        "resolve a 1 --accept-changed",
        r"
        changed a 1: ...
        confirm: Accept the edited file of a 1? ...
        failed: Not proceeding.
        rows: a 1~^
        tables: a_1
        ",
    );
}

#[test]
fn resolve_5_5_accept_changed_without_a_terminal_changes_nothing() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1 changed
        ",
        "resolve a 1 --accept-changed",
        r"
        changed a 1: ...
        confirm: Accept the edited file of a 1? ...
        error ConfirmationUnavailable: stdin is not a terminal; pass -y
        rows: a 1~
        tables: a_1
        ",
    );
}

#[test]
fn resolve_5_5_accept_changed_refuses_every_other_status() {
    let fixture = r"
        //- app a
        1
        2
        3
        4
        //- rows
        a 1
        a 3 dirty
        a 5
        ";
    for (id, status) in [
        ("1", "its status is applied"),
        ("2", "its status is pending"),
        ("3", "its status is dirty"),
        ("5", "its status is missing"),
        ("6", "the app has no file and no tracking row with that ID"),
    ] {
        check(
            fixture,
            &format!("resolve a {id} --accept-changed -y"),
            &format!(
                r"
                error NotChanged: migration a {id} is not changed ({status}): --accept-changed is for a `changed` migration only (applied, its file edited since; see `ferry check a`); nothing was changed
                rows: a 1, a 3*, a 5
                tables: a_1 a_3 a_5
                "
            ),
        );
    }
}
