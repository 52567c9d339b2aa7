//! The bad-input corpus (issue 11: "never panic, never hang, and prove it").
//!
//! Every directory under `tests/fixtures/bad/` is one case: a `case.toml` (format below) and
//! the project files it needs (`ferry.toml`, `migrations/...`, `.env`). The runner copies the
//! case into a temporary folder, creates what git cannot hold (symlinks, permissions, huge
//! files, non-UTF-8 bytes), runs the real `ferry` binary there with stdin closed and checks:
//!
//! - the exit code is the one documented in the case (SPEC §5.7), never 101;
//! - on an error (exit 1 or 2) exactly one stderr line starts with `error:` and it contains the
//!   expected text (for command-line errors found by clap, `clap = true`: clap's usage format,
//!   the expected text anywhere in stderr); stdout is empty;
//! - on success (exit 0) no stderr line starts with `error:`;
//! - no `panicked` / `RUST_BACKTRACE` anywhere, and the run ends within 30 s;
//! - a `secret` (a password in a URL) appears nowhere in the output;
//! - the database is the same before and after (SQLite: schema and every row through rusqlite;
//!   PostgreSQL: `pg_dump`; MySQL: `mysqldump`), unless `changes_db = true`.
//!
//! Every case runs on SQLite (`FERRY_DATABASE_URL=sqlite:<tmp>/test.db`); cases with
//! `db = true` run on PostgreSQL and MySQL too, each on a fresh database (`TestDb`).
//!
//! A case with `known_defect = "..."` documents a defect that is not fixed yet: only "no
//! panic" and "no hang" are checked (not even those when the defect is one: `known_panic =
//! true`, `known_hang = true`), and the runner prints whether the defect still shows.
//!
//! `case.toml` keys:
//!
//! ```toml
//! args = ["forwards", "users"]   # the command line after `ferry`; an element may also be
//!                                # { repeat = "a", count = 1000 } or { hex = "ff" } (raw bytes)
//! exit = 2                       # expected exit code
//! stderr = "1_a.sql:3"           # text the error line must contain (`{dir}`: the case folder)
//! stdout = "..."                 # optional: text stdout must contain (exit 0 cases)
//! clap = true                    # optional: a command-line error in clap's format
//! db = true                      # optional: also run on PostgreSQL and MySQL
//! changes_db = true              # optional: the command is expected to change the database
//! secret = "s3cret"              # optional: must never be printed
//! env = { FERRY_DATABASE_URL = "" }   # optional environment (`{dir}` substituted)
//! setup = "notes"                # optional: how the case is prepared, for readers
//! known_defect = "..."           # optional: see above
//! known_hang = true              # optional, with known_defect: the run may time out
//! known_panic = true             # optional, with known_defect: the run may panic
//! timeout = 10                   # optional: seconds (default and maximum 30)
//! mkdir = ["migrations/users"]   # optional: empty folders (git keeps none)
//! [[before]]                     # optional steps before the snapshot, in order:
//! args = ["forwards", "users", "1"]   # a ferry run and its expected exit code,
//! exit = 0
//! [[before]]
//! remove = "migrations/users/2_b.sql" # or a file to delete,
//! [[before]]
//! rename = ["later/2_c.sql", "migrations/users/2_c.sql"]  # or a file to move
//! [[symlink]]                    # optional: `from` (in the case folder) -> `to`
//! from = "migrations/users"
//! to = "/nonexistent/target"
//! [[big_file]]                   # optional: head, then `line` repeated `count` times or
//! path = "migrations/users/1_big.sql"  # until the file holds `mb` MiB, then tail
//! head = "-- ferry:up\n"
//! line = "SELECT 1;\n"
//! mb = 20
//! tail = ""
//! [[bytes_file]]                 # optional: raw bytes; with name_hex, `path` is the folder
//! path = "migrations/users/1_bin.sql"  # and the file name is those bytes
//! hex = "2d2d20666572"
//! [[chmod]]                      # optional: permissions; when the file stays readable
//! path = "migrations/users/1_a.sql"    # (running as root) the case is skipped, with a note
//! mode = 0
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::support::{Backend, TestDb};

/// The longest any run may take.
const MAX_SECONDS: u64 = 30;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    args: Vec<Arg>,
    exit: i32,
    #[serde(default)]
    stderr: Option<String>,
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    clap: bool,
    #[serde(default)]
    db: bool,
    #[serde(default)]
    changes_db: bool,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(dead_code)]
    setup: Option<String>,
    #[serde(default)]
    known_defect: Option<String>,
    #[serde(default)]
    known_hang: bool,
    #[serde(default)]
    known_panic: bool,
    #[serde(default)]
    timeout: Option<u64>,
    #[serde(default)]
    mkdir: Vec<String>,
    #[serde(default)]
    before: Vec<Step>,
    #[serde(default)]
    symlink: Vec<Symlink>,
    #[serde(default)]
    big_file: Vec<BigFile>,
    #[serde(default)]
    bytes_file: Vec<BytesFile>,
    #[serde(default)]
    chmod: Vec<Chmod>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Arg {
    Text(String),
    Repeat { repeat: String, count: usize },
    Bytes { hex: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    #[serde(default)]
    args: Vec<Arg>,
    #[serde(default)]
    exit: i32,
    #[serde(default)]
    remove: Option<String>,
    #[serde(default)]
    rename: Option<(String, String)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Symlink {
    from: String,
    to: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BigFile {
    path: String,
    #[serde(default)]
    head: String,
    line: String,
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    mb: Option<usize>,
    #[serde(default)]
    tail: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BytesFile {
    path: String,
    #[serde(default)]
    name_hex: Option<String>,
    hex: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Chmod {
    path: String,
    mode: u32,
}

/// The corpus folder.
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad")
}

/// Every case, by folder name.
fn load_cases() -> Vec<(String, Case)> {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(corpus_dir()).expect("tests/fixtures/bad") {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(entry.path().join("case.toml"))
            .unwrap_or_else(|e| panic!("{name}/case.toml: {e}"));
        let case: Case = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}/case.toml: {e}"));
        cases.push((name, case));
    }
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits: {hex}"
    );
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn os_arg(arg: &Arg, dir: &Path) -> OsString {
    match arg {
        Arg::Text(t) => OsString::from(t.replace("{dir}", &dir.display().to_string())),
        Arg::Repeat { repeat, count } => OsString::from(repeat.repeat(*count)),
        Arg::Bytes { hex } => {
            use std::os::unix::ffi::OsStringExt;
            OsString::from_vec(hex_bytes(hex))
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else if entry.file_name() != "case.toml" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Lay out the case in `dir`. `Err` names why the case cannot run here (a skip).
fn prepare(case: &Case, src: &Path, dir: &Path) -> Result<(), String> {
    copy_tree(src, dir);
    for d in &case.mkdir {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let parent = |p: &Path| std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    for s in &case.symlink {
        let from = dir.join(&s.from);
        parent(&from);
        std::os::unix::fs::symlink(&s.to, &from).unwrap();
    }
    for b in &case.big_file {
        let path = dir.join(&b.path);
        parent(&path);
        let mut text = String::with_capacity(b.mb.unwrap_or(0) << 20);
        text.push_str(&b.head);
        match (b.count, b.mb) {
            (Some(n), _) => text.push_str(&b.line.repeat(n)),
            (None, Some(mb)) => {
                while text.len() < mb << 20 {
                    text.push_str(&b.line);
                }
            }
            (None, None) => panic!("big_file {}: give count or mb", b.path),
        }
        text.push_str(&b.tail);
        std::fs::write(&path, text).unwrap();
    }
    for b in &case.bytes_file {
        let path = match &b.name_hex {
            Some(name) => {
                use std::os::unix::ffi::OsStringExt;
                dir.join(&b.path).join(OsString::from_vec(hex_bytes(name)))
            }
            None => dir.join(&b.path),
        };
        parent(&path);
        std::fs::write(&path, hex_bytes(&b.hex)).unwrap();
    }
    for c in &case.chmod {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(&c.path);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(c.mode)).unwrap();
        let still_readable = if path.is_dir() {
            std::fs::read_dir(&path).is_ok()
        } else {
            std::fs::read(&path).is_ok()
        };
        if still_readable {
            return Err(format!(
                "{} stays readable after chmod {:o} (running as root?)",
                c.path, c.mode
            ));
        }
    }
    Ok(())
}

/// Give back permissions so that the temporary folder can be removed.
fn unprepare(case: &Case, dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for c in &case.chmod {
        let _ = std::fs::set_permissions(dir.join(&c.path), std::fs::Permissions::from_mode(0o755));
    }
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    timed_out: bool,
}

/// Run `ferry args` in `dir` with stdin closed, killing it after `limit`.
fn run_ferry(
    dir: &Path,
    url: &str,
    case_env: &BTreeMap<String, String>,
    args: &[OsString],
    limit: Duration,
) -> Ran {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("ferry"));
    cmd.current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("FERRY_") || k == "DATABASE_URL" || k.starts_with("RUST_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("FERRY_DATABASE_URL", url).env("NO_COLOR", "1");
    for (k, v) in case_env {
        cmd.env(k, v.replace("{dir}", &dir.display().to_string()));
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("start ferry");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    Ran {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out_thread.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err_thread.join().unwrap()).into_owned(),
        elapsed,
        timed_out,
    }
}

/// The problems of a run against the case's expectations (empty: as documented).
/// With `as_documented`, a known defect is judged like any case (to tell whether it is fixed).
fn judge(case: &Case, ran: &Ran, dir: &Path, as_documented: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fail = |p: String| problems.push(p);
    if ran.timed_out {
        fail(format!(
            "did not finish within {} s (killed)",
            ran.elapsed.as_secs()
        ));
    }
    if ran.code == Some(101) {
        fail("exit 101 (panic)".into());
    }
    for (stream, text) in [("stderr", &ran.stderr), ("stdout", &ran.stdout)] {
        for bad in ["panicked", "RUST_BACKTRACE"] {
            if text.contains(bad) {
                fail(format!("{stream} contains {bad:?}"));
            }
        }
    }
    if case.known_defect.is_some() && !as_documented {
        return problems;
    }
    if let Some(secret) = &case.secret {
        if ran.stderr.contains(secret.as_str()) || ran.stdout.contains(secret.as_str()) {
            fail(format!("the secret {secret:?} was printed"));
        }
    }
    if ran.code != Some(case.exit) {
        fail(format!("exit {:?}, expected {}", ran.code, case.exit));
    }
    let error_lines: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    let expected = case
        .stderr
        .as_ref()
        .map(|s| s.replace("{dir}", &dir.display().to_string()));
    if case.exit == 0 {
        if !error_lines.is_empty() {
            fail(format!("an error line on success: {:?}", error_lines[0]));
        }
        if let Some(e) = &expected {
            if !ran.stderr.contains(e.as_str()) {
                fail(format!("stderr lacks {e:?}"));
            }
        }
        if let Some(s) = &case.stdout {
            if !ran.stdout.contains(s.as_str()) {
                fail(format!("stdout lacks {s:?}"));
            }
        }
        return problems;
    }
    if !ran.stdout.is_empty() {
        fail(format!(
            "stdout is not empty on error: {:?}",
            clip(&ran.stdout)
        ));
    }
    let Some(expected) = expected else {
        fail("the case names no expected stderr text".into());
        return problems;
    };
    if case.clap {
        let clap_format = ran.stderr.contains("Usage:")
            || ran.stderr.contains("For more information, try '--help'.");
        if !clap_format || error_lines.len() > 1 {
            fail("stderr is not clap's usage error format".into());
        }
        if !ran.stderr.contains(expected.as_str()) {
            fail(format!("stderr lacks {expected:?}"));
        }
    } else if error_lines.len() != 1 {
        fail(format!(
            "{} lines start with `error:`, expected exactly one",
            error_lines.len()
        ));
    } else if !error_lines[0].contains(expected.as_str()) {
        fail(format!("the error line lacks {expected:?}"));
    }
    problems
}

/// The lines only `before` has (`-`) and only `after` has (`+`).
fn line_diff(before: &str, after: &str) -> String {
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    let mut out = String::new();
    for l in b.iter().filter(|l| !a.contains(l)) {
        out.push_str(&format!("- {l}\n"));
    }
    for l in a.iter().filter(|l| !b.contains(l)) {
        out.push_str(&format!("+ {l}\n"));
    }
    clip(&out)
}

fn clip(text: &str) -> String {
    let mut t: String = text.chars().take(1500).collect();
    if t.len() < text.len() {
        t.push_str("...");
    }
    t
}

/// A dump of the database that compares equal when nothing changed.
fn snapshot(db: &TestDb, dir: &Path) -> String {
    match db.backend {
        Backend::Sqlite => sqlite_dump(&dir.join("test.db")),
        Backend::Postgres | Backend::PgBouncer => {
            let out = Command::new("pg_dump")
                .args(["--no-owner", "--no-privileges", &db.url])
                .output()
                .expect("run pg_dump");
            assert!(
                out.status.success(),
                "pg_dump: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout)
                .lines()
                // `\restrict` keys are random per run; sequences advance in rolled-back
                // transactions (SPEC §10 excepts them too).
                .filter(|l| {
                    !l.starts_with("\\restrict")
                        && !l.starts_with("\\unrestrict")
                        && !l.starts_with("SELECT pg_catalog.setval")
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        Backend::Mysql => mysql_dump(&db.url),
    }
}

fn sqlite_dump(path: &Path) -> String {
    use rusqlite::types::Value;
    if !path.exists() {
        return "(no database file)".into();
    }
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the SQLite database");
    let mut dump = String::new();
    let mut objects: Vec<(String, String, Option<String>)> = Vec::new();
    {
        let mut stmt = conn
            .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap();
        for row in rows {
            objects.push(row.unwrap());
        }
    }
    for (kind, name, sql) in &objects {
        dump.push_str(&format!(
            "{kind} {name}: {}\n",
            sql.as_deref().unwrap_or("")
        ));
        if kind != "table" {
            continue;
        }
        let mut stmt = conn
            .prepare(&format!(
                "SELECT * FROM \"{}\" ORDER BY rowid",
                name.replace('"', "\"\"")
            ))
            .or_else(|_| conn.prepare(&format!("SELECT * FROM \"{}\"", name.replace('"', "\"\""))))
            .unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let values: Vec<String> = (0..n)
                .map(|i| format!("{:?}", row.get::<_, Value>(i).unwrap()))
                .collect();
            dump.push_str(&format!("  {}\n", values.join(" | ")));
        }
    }
    dump
}

fn mysql_dump(url: &str) -> String {
    // mysql://user[:password]@host[:port]/database[?...]
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('?').next().unwrap();
    let (auth, hostpart) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, database) = hostpart.split_once('/').expect("a database in the URL");
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    let tool = if Path::new("/usr/bin/mariadb-dump").exists() {
        "mariadb-dump"
    } else {
        "mysqldump"
    };
    let out = Command::new(tool)
        .args([
            "--skip-dump-date",
            "--skip-comments",
            "--routines",
            "-u",
            user,
            "-h",
            host,
            "-P",
            port,
            database,
        ])
        .env("MYSQL_PWD", password)
        .output()
        .expect("run mysqldump");
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // AUTO_INCREMENT counters advance in rolled-back transactions.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut cleaned = String::new();
    for line in text.lines() {
        let mut l = line.to_owned();
        if let Some(i) = l.find(" AUTO_INCREMENT=") {
            let end = l[i + 16..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(l.len(), |j| i + 16 + j);
            l.replace_range(i..end, "");
        }
        cleaned.push_str(&l);
        cleaned.push('\n');
    }
    cleaned
}

/// What happened to one case on one backend.
enum Verdict {
    Pass,
    Skipped(String),
    KnownDefect { still_shows: bool },
    Fail(Vec<String>),
}

fn run_case(name: &str, case: &Case, backend: Backend) -> Verdict {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    if let Err(why) = prepare(case, &corpus_dir().join(name), &dir) {
        unprepare(case, &dir);
        return Verdict::Skipped(why);
    }
    let db = TestDb::create(backend, &dir);
    let limit = Duration::from_secs(case.timeout.unwrap_or(MAX_SECONDS).min(MAX_SECONDS));
    let mut problems = Vec::new();
    for (i, step) in case.before.iter().enumerate() {
        if let Some(path) = &step.remove {
            std::fs::remove_file(dir.join(path)).unwrap();
            continue;
        }
        if let Some((from, to)) = &step.rename {
            std::fs::rename(dir.join(from), dir.join(to)).unwrap();
            continue;
        }
        let args: Vec<OsString> = step.args.iter().map(|a| os_arg(a, &dir)).collect();
        let ran = run_ferry(
            &dir,
            &db.url,
            &case.env,
            &args,
            Duration::from_secs(MAX_SECONDS),
        );
        if ran.code != Some(step.exit) {
            problems.push(format!(
                "before step {} ({args:?}): exit {:?}, expected {}\n{}",
                i + 1,
                ran.code,
                step.exit,
                clip(&ran.stderr)
            ));
        }
    }
    if !problems.is_empty() {
        unprepare(case, &dir);
        return Verdict::Fail(problems);
    }
    let before = snapshot(&db, &dir);
    let args: Vec<OsString> = case.args.iter().map(|a| os_arg(a, &dir)).collect();
    let ran = run_ferry(&dir, &db.url, &case.env, &args, limit);
    let mut problems = judge(case, &ran, &dir, false);
    if ran.timed_out && case.known_hang {
        problems.retain(|p| !p.starts_with("did not finish"));
    }
    if case.known_panic {
        problems.retain(|p| !(p.starts_with("exit 101") || p.contains("contains \"")));
    }
    if case.known_defect.is_none() && !case.changes_db {
        let after = snapshot(&db, &dir);
        if before != after {
            problems.push(format!(
                "the database changed\n{}",
                line_diff(&before, &after)
            ));
        }
    }
    unprepare(case, &dir);
    if !problems.is_empty() {
        problems.push(format!(
            "exit {:?} after {:.1} s\n--- stdout\n{}\n--- stderr\n{}",
            ran.code,
            ran.elapsed.as_secs_f64(),
            clip(&ran.stdout),
            clip(&ran.stderr)
        ));
        return Verdict::Fail(problems);
    }
    if case.known_defect.is_some() {
        // Does the case now behave as documented? Then the defect is fixed.
        let fixed = judge(case, &ran, &dir, true).is_empty();
        return Verdict::KnownDefect {
            still_shows: !fixed,
        };
    }
    Verdict::Pass
}

fn run_corpus(backend: Backend) {
    let start = Instant::now();
    let cases = load_cases();
    let mut failures = Vec::new();
    let (mut ran, mut passed) = (0, 0);
    for (name, case) in &cases {
        if backend != Backend::Sqlite && !case.db {
            continue;
        }
        ran += 1;
        match run_case(name, case, backend) {
            Verdict::Pass => passed += 1,
            Verdict::Skipped(why) => eprintln!("{backend:?} {name}: skipped: {why}"),
            Verdict::KnownDefect { still_shows } => eprintln!(
                "{backend:?} {name}: known defect ({}): {}",
                if still_shows {
                    "still shows"
                } else {
                    "NO LONGER SHOWS: remove `known_defect` from the case"
                },
                case.known_defect.as_deref().unwrap_or("")
            ),
            Verdict::Fail(problems) => {
                failures.push(format!("{backend:?} {name}:\n  {}", problems.join("\n  ")))
            }
        }
    }
    eprintln!(
        "corpus on {backend:?}: {ran} case(s), {passed} as documented, {} failed, {:.1} s",
        failures.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// The corpus is the size issue 11 asks for, and every case file parses.
#[test]
fn corpus_is_complete() {
    let cases = load_cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let db = cases.iter().filter(|(_, c)| c.db).count();
    assert!(db >= 10, "{db} cases with db = true");
    for (name, case) in &cases {
        assert!(
            case.exit == 0 || case.stderr.is_some(),
            "{name}: an error case names the text its error line must hold"
        );
        assert!(
            !(case.known_hang || case.known_panic) || case.known_defect.is_some(),
            "{name}: known_hang / known_panic go with known_defect"
        );
    }
}

#[test]
fn corpus_sqlite() {
    run_corpus(Backend::Sqlite);
}

#[cfg(feature = "postgres")]
#[test]
fn corpus_postgres() {
    run_corpus(Backend::Postgres);
}

#[cfg(feature = "mysql")]
#[test]
fn corpus_mysql() {
    run_corpus(Backend::Mysql);
}
