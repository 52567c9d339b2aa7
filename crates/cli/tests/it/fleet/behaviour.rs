//! How a fleet run goes, on an SQLite fleet (the cheapest to make): no new target after a
//! failure unless `--keep-going`, canaries, one prompt for `backwards`, usage errors.

use super::{report, write_migrations, CONFIG};
use crate::support::{run_in_pty, Backend, Project, Run};

/// An SQLite fleet of `n` files matched by the configured URL `sqlite:tenants/*.db`, the
/// app's migrations written; `fail` files already hold the first migration's table.
fn sqlite_fleet(n: usize, fail: &[usize]) -> Project {
    let project = Project::with_config(Backend::Sqlite, CONFIG);
    write_migrations(&project, "t");
    std::fs::create_dir_all(project.path("tenants")).unwrap();
    for i in 0..n {
        let path = project.path(&format!("tenants/db{i:02}.db"));
        let conn = rusqlite::Connection::open(&path).unwrap();
        if fail.contains(&i) {
            conn.execute_batch("CREATE TABLE t0 (id INTEGER PRIMARY KEY)")
                .unwrap();
        }
    }
    project
}

/// `ferry` in `project` with the configured URL the glob of [`sqlite_fleet`].
fn run_glob(project: &Project, args: &[&str]) -> Run {
    let output = project
        .ferry()
        .env("FERRY_DATABASE_URL", "sqlite:tenants/*.db")
        .args(args)
        .write_stdin("")
        .output()
        .unwrap();
    Run::from(output)
}

/// Run a fleet command with `--format json` (it must exit `code`): each target's result, in
/// name order.
fn fleet_results(project: &Project, args: &[&str], code: i32) -> Vec<String> {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let run = run_glob(project, &all);
    run.expect(code);
    results(&run).into_iter().map(|(_, r)| r).collect()
}

fn results(run: &Run) -> Vec<(String, String)> {
    report(run)
        .into_iter()
        .filter(|(k, _)| k != "summary")
        .map(|(k, v)| (k, v["result"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn after_a_failure_nothing_new_starts_unless_keep_going() {
    let project = sqlite_fleet(5, &[1]);
    let run = run_glob(
        &project,
        &[
            "--fleet",
            "--parallel",
            "1",
            "forwards",
            "all",
            "--format",
            "json",
        ],
    );
    run.expect(1);
    let names: Vec<String> = results(&run).into_iter().map(|(name, _)| name).collect();
    let expected: Vec<String> = (0..5).map(|i| format!("tenants/db{i:02}.db")).collect();
    assert_eq!(names, expected);
    let found: Vec<String> = results(&run).into_iter().map(|(_, r)| r).collect();
    assert_eq!(found, ["ok", "failed", "skipped", "skipped", "skipped"]);
    // With --keep-going every other target runs; a canary failure stops even that.
    let found = fleet_results(&project, &["--fleet", "--keep-going", "forwards", "all"], 1);
    assert_eq!(found, ["nothing to do", "failed", "ok", "ok", "ok"]);
    let project = sqlite_fleet(5, &[1]);
    let args = [
        "--fleet",
        "--keep-going",
        "--canary",
        "2",
        "forwards",
        "all",
    ];
    let found = fleet_results(&project, &args, 1);
    assert_eq!(found, ["ok", "failed", "skipped", "skipped", "skipped"]);
}

#[test]
fn backwards_asks_once_for_the_whole_fleet() {
    let project = sqlite_fleet(3, &[]);
    run_glob(&project, &["--fleet", "forwards", "all"]).expect(0);
    // stdin is not a terminal: refused before anything changes.
    run_glob(&project, &["--fleet", "backwards", "app", "all"])
        .expect(1)
        .stderr_has("stdin is not a terminal");
    run_glob(&project, &["--fleet", "check", "--strict"]).expect(0);
    // On a terminal: one question for the whole fleet.
    let args = [
        "-d",
        "sqlite:tenants/*.db",
        "--fleet",
        "backwards",
        "app",
        "all",
    ];
    let declined = run_in_pty(&project, &args, "n\n");
    assert!(
        declined
            .stdout
            .contains("Reverse 9 migration(s) on 3 target(s)? [y/N]"),
        "{}",
        declined.stdout
    );
    assert!(
        declined.stdout.contains("Not proceeding."),
        "{}",
        declined.stdout
    );
    run_glob(&project, &["--fleet", "check", "--strict"]).expect(0);
    let agreed = run_in_pty(&project, &args, "y\n");
    assert!(
        agreed.stdout.contains("tenants/db01.db  ok"),
        "{}",
        agreed.stdout
    );
    run_glob(&project, &["--fleet", "check", "--strict"]).expect(3);
    run_glob(&project, &["--fleet", "forwards", "all"]).expect(0);
    let run = run_glob(
        &project,
        &[
            "--fleet",
            "backwards",
            "app",
            "all",
            "-y",
            "--format",
            "json",
        ],
    );
    run.expect(0);
    for (_, line) in report(&run).into_iter().filter(|(k, _)| k != "summary") {
        assert_eq!(line["result"], "ok");
        assert_eq!(line["applied"], 3);
    }
    run_glob(&project, &["--fleet", "check", "--strict"]).expect(3);
    let table = run_glob(&project, &["--fleet", "check"]);
    table
        .expect(0)
        .stdout_has("TARGET")
        .stdout_has("PENDING")
        .stdout_has("tenants/db02.db");
}

/// `--atomic` per target: a target whose run fails keeps nothing of it (and reports 0
/// applied); the others apply everything.
#[test]
fn atomic_is_all_or_nothing_per_target() {
    let project = sqlite_fleet(3, &[]);
    // db01 already holds the second migration's table: its run fails there.
    let conn = rusqlite::Connection::open(project.path("tenants/db01.db")).unwrap();
    conn.execute_batch("CREATE TABLE t1 (id INTEGER PRIMARY KEY)")
        .unwrap();
    drop(conn);
    let run = run_glob(
        &project,
        &[
            "--fleet",
            "--keep-going",
            "forwards",
            "all",
            "--atomic",
            "--format",
            "json",
        ],
    );
    run.expect(1);
    let lines = report(&run);
    assert_eq!(lines["tenants/db01.db"]["result"], "failed");
    assert_eq!(lines["tenants/db01.db"]["applied"], 0);
    assert_eq!(lines["tenants/db02.db"]["applied"], 3);
    let check = run_glob(&project, &["--fleet", "check", "--format", "json"]);
    let states = report(&check);
    assert_eq!(states["tenants/db01.db"]["apps"][0]["applied"], 0);
    assert_eq!(states["tenants/db01.db"]["apps"][0]["pending"], 3);
}

/// On a terminal, progress is one live line of counts.
#[test]
fn a_terminal_gets_one_live_line() {
    let project = sqlite_fleet(3, &[]);
    let run = run_in_pty(
        &project,
        &["-d", "sqlite:tenants/*.db", "--fleet", "check"],
        "",
    );
    assert!(
        run.stdout.contains("fleet: 3/3 targets done"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("[1/3]"), "{}", run.stdout);
}

/// A broken migration file stops the fleet before any target is touched, with the exit code
/// of a file error (2), as a single run does.
#[test]
fn a_file_error_touches_no_target() {
    let project = sqlite_fleet(2, &[]);
    project.write(
        "app",
        "20240101000009_broken.sql",
        "CREATE TABLE x (id INTEGER);\n",
    );
    run_glob(&project, &["--fleet", "forwards", "all"])
        .expect(2)
        .stderr_has("20240101000009_broken.sql");
    for i in 0..2 {
        let size = std::fs::metadata(project.path(&format!("tenants/db{i:02}.db")))
            .unwrap()
            .len();
        assert_eq!(size, 0, "db{i:02} was written");
    }
}

#[test]
fn fleet_usage_errors() {
    let project = sqlite_fleet(2, &[]);
    run_glob(&project, &["forwards", "all", "--parallel", "2"])
        .expect(2)
        .stderr_has("--parallel");
    run_glob(&project, &["verify", "--fleet"]).expect(2);
    run_glob(&project, &["new", "app", "more", "--fleet"]).expect(2);
    assert_eq!(
        std::fs::read_dir(project.path("migrations/app"))
            .unwrap()
            .count(),
        3
    );
    run_glob(
        &project,
        &["--fleet", "forwards", "all", "--partition", "3/2"],
    )
    .expect(2);
    run_glob(&project, &["--fleet", "forwards", "all", "--parallel", "0"]).expect(2);
    run_glob(
        &project,
        &["--fleet", "forwards", "all", "--target", "nope"],
    )
    .expect(1)
    .stderr_has("nope");
    // The same name twice is a configuration error.
    std::fs::write(
        project.path("ferry.toml"),
        format!("{CONFIG}[[target]]\nname = \"tenants/db00.db\"\ndatabase_url = \"sqlite:x.db\"\n"),
    )
    .unwrap();
    run_glob(&project, &["--fleet", "check"])
        .expect(2)
        .stderr_has("named twice");
    // A rerun of a report with no failure runs nothing.
    std::fs::write(project.path("ferry.toml"), CONFIG).unwrap();
    let run = run_glob(
        &project,
        &["--fleet", "forwards", "all", "--format", "json"],
    );
    run.expect(0);
    std::fs::write(project.path("ok.json"), &run.stdout).unwrap();
    run_glob(
        &project,
        &["--fleet", "forwards", "all", "--rerun-failed", "ok.json"],
    )
    .expect(0);
    std::fs::write(project.path("bad.json"), "not json\n").unwrap();
    run_glob(
        &project,
        &["--fleet", "forwards", "all", "--rerun-failed", "bad.json"],
    )
    .expect(2)
    .stderr_has("bad.json:1");
}

/// A fleet whose sources yield no target: exit 0, a warning naming each source, nothing run.
#[test]
fn sources_that_yield_nothing_are_named() {
    let project = sqlite_fleet(0, &[]);
    std::fs::write(project.path("none.txt"), "# no tenant yet\n").unwrap();
    std::fs::write(
        project.path("ferry.toml"),
        format!("targets_file = \"none.txt\"\n[[target]]\nname = \"shards\"\ndatabase_url = \"sqlite:shards/*.db\"\n{CONFIG}"),
    )
    .unwrap();
    for command in [
        &["forwards", "all"][..],
        &["check"],
        &["backwards", "all", "-y"],
    ] {
        let mut args = vec!["--fleet"];
        args.extend_from_slice(command);
        let run = run_glob(&project, &args);
        run.expect(0)
            .stderr_has("warning: fleet source targets_file")
            .stderr_has("none.txt")
            .stderr_has("[[target]] `shards` (`sqlite:")
            .stderr_has("shards/*.db` matched no file)")
            .stderr_has("the database URL `sqlite:")
            .stderr_has("tenants/*.db` (it matched no file)");
    }
    assert!(!project.path("shards").exists() && !project.path("tenants/db00.db").exists());
    // Beside a source that yields targets, the empty one is still named.
    let project = sqlite_fleet(2, &[]);
    std::fs::write(
        project.path("ferry.toml"),
        format!("[[target]]\nname = \"shards\"\ndatabase_url = \"sqlite:shards/*.db\"\n{CONFIG}"),
    )
    .unwrap();
    let run = run_glob(
        &project,
        &["--fleet", "forwards", "all", "--format", "json"],
    );
    run.expect(0).stderr_has("`shards`");
    assert_eq!(report(&run).len(), 3, "{}", run.stdout);
}
