//! The helpers of the planning tests: running a command on a fixture and rendering the outcome
//! (the only code that knows ferry's API), then parsing fixtures and command lines.

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
pub(crate) fn check(fixture: &str, command: &str, expect: &str) {
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
