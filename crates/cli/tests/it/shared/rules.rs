//! Issue 20 on every backend: one app refused while its dependencies are pending (SPEC
//! §5.1.11), dependants through other apps (§5.2.10), `backwards --fake` (§5.2.11),
//! `resolve --accept-changed` (§5.5), `ran` lines of `--atomic`/`--rehearse` (§16.6) and
//! `--format json` of forwards and backwards on one database (§16.4).

use crate::support::{run_in_pty, v, Backend, Project};

backends!(
    one_app_is_refused_while_its_dependencies_are_pending,
    dependants_through_other_apps_refuse_a_reversal,
    backwards_fake_deletes_rows_and_leaves_the_schema,
    accept_changed_records_the_edited_file,
    atomic_and_rehearse_say_ran,
    json_report_of_forwards_and_backwards,
);

fn three(p: &Project) {
    p.table_migration("users", "1", "users");
    p.table_migration("users", "2", "profiles");
    p.table_migration("blog", "3", "posts");
}

fn one_app_is_refused_while_its_dependencies_are_pending(b: Backend) {
    let p = Project::new(b);
    three(&p);
    let before = p.db.dump();
    for args in [
        &["forwards", "blog"][..],
        &["forwards", "blog", "3"],
        &["forwards", "blog", "--fake", "-y"],
    ] {
        p.run(args)
            .expect(1)
            .stderr_has("refusing to run migrations of `blog`")
            .stderr_has("`users` (2 pending migrations)")
            .stderr_has("ferry forwards all");
        p.db.assert_unchanged(&before, "refused before anything runs");
    }
    // A preview still shows the SQL, with a warning.
    p.run(&["forwards", "blog", "--preview"])
        .expect(0)
        .stdout_has("CREATE TABLE posts")
        .stderr_has("without --preview this run would be refused");
    p.db.assert_unchanged(&before, "a preview writes nothing");
    // One pending dependency is enough.
    p.run(&["forwards", "users", "1"]).expect(0);
    p.run(&["forwards", "blog"])
        .expect(1)
        .stderr_has("`users` (1 pending migration)");
    assert!(p.ids("blog", "applied").is_empty());
    p.run(&["forwards", "users"]).expect(0);
    p.run(&["forwards", "blog"]).expect(0);
    assert_eq!(p.ids("blog", "applied"), v(&["3"]));
}

const CHAIN: &str = r#"
[[app]]
name = "top"
migrations = "migrations/top"
depends_on = ["mid"]

[[app]]
name = "mid"
migrations = "migrations/mid"
depends_on = ["base"]

[[app]]
name = "base"
migrations = "migrations/base"
"#;

fn dependants_through_other_apps_refuse_a_reversal(b: Backend) {
    let p = Project::with_config(b, CHAIN);
    p.table_migration("base", "1", "chain_base");
    p.table_migration("top", "1", "chain_top");
    std::fs::create_dir_all(p.path("migrations/mid")).unwrap();
    p.run(&["forwards", "all"]).expect(0);
    // mid has no migration at all; top, which depends on it, has one applied.
    let before = p.db.dump();
    p.run(&["backwards", "base", "-y"])
        .expect(1)
        .stderr_has("refusing to reverse every migration of `base`: top depend(s) on it");
    p.db.assert_unchanged(&before, "refused: nothing changed");
    p.run(&["backwards", "base", "--fake", "-y"]).expect(1);
    p.db.assert_unchanged(&before, "refused: nothing changed");
    p.run(&["backwards", "all", "-y"]).expect(0);
    assert_eq!(p.ids("base", "pending"), v(&["1"]));
    assert_eq!(p.ids("top", "pending"), v(&["1"]));
}

fn backwards_fake_deletes_rows_and_leaves_the_schema(b: Backend) {
    let p = Project::new(b);
    three(&p);
    p.run(&["forwards", "all"]).expect(0);
    // The prompt rules of a reversal: no terminal, no -y: nothing changed.
    let before = p.db.dump();
    p.run(&["backwards", "blog", "--fake"])
        .expect(1)
        .stderr_has("stdin is not a terminal");
    p.db.assert_unchanged(&before, "no answer: nothing changed");
    let r = run_in_pty(&p, &["backwards", "users", "2", "--fake"], "n\n");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("Not proceeding."), "{r:?}");
    p.db.assert_unchanged(&before, "declined: nothing changed");
    let r = run_in_pty(&p, &["backwards", "users", "2", "--fake"], "y\n");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("faked     users 2 create profiles"),
        "{r:?}"
    );
    assert_eq!(p.ids("users", "pending"), v(&["2"]));
    // `all` with --fake: every row goes, every table stays.
    p.run(&["backwards", "all", "--fake", "-y"])
        .expect(0)
        .stderr_has("faked     blog 3 create posts")
        .stderr_has("faked     users 1 create users")
        .stderr_has("no down SQL ran");
    assert_eq!(p.ids("users", "pending"), v(&["1", "2"]));
    assert_eq!(p.ids("blog", "pending"), v(&["3"]));
    // The tables are still there: applying the migrations again collides with them, and
    // faking them forwards brings back the state before.
    p.run(&["forwards", "users", "1"])
        .expect(1)
        .stderr_has("users 1");
    // Its first statement failed: nothing took effect, no dirty row on any backend (SPEC §14).
    assert_eq!(p.ids("users", "pending"), v(&["1", "2"]));
    p.run(&["forwards", "all", "--fake", "-y"]).expect(0);
    p.run(&["backwards", "all", "-y"]).expect(0);
    p.run(&["forwards", "all"]).expect(0);
}

fn accept_changed_records_the_edited_file(b: Backend) {
    let p = Project::new(b);
    three(&p);
    p.run(&["forwards", "all"]).expect(0);
    // Not changed: refused with its status, whatever the answer.
    p.run(&["resolve", "users", "1", "--accept-changed", "-y"])
        .expect(1)
        .stderr_has("migration users 1 is not changed (its status is applied)");
    p.table_migration("users", "4", "later");
    p.run(&["resolve", "users", "4", "--accept-changed", "-y"])
        .expect(1)
        .stderr_has("its status is pending");
    std::fs::remove_file(p.path("migrations/users/4_create_later.sql")).unwrap();
    // Edit migration users 2: up and down.
    p.write(
        "users",
        "2_create_profiles.sql",
        "-- ferry:up\nCREATE TABLE profiles (id INTEGER PRIMARY KEY, bio VARCHAR(20));\n-- ferry:down\nDELETE FROM users;\nDROP TABLE profiles;\n",
    );
    assert_eq!(p.ids("users", "changed"), v(&["2"]));
    let before = p.db.dump();
    p.run(&["resolve", "users", "2", "--accept-changed"])
        .expect(1)
        .stderr_has("stdin is not a terminal");
    p.db.assert_unchanged(&before, "no answer: nothing changed");
    let r = run_in_pty(&p, &["resolve", "users", "2", "--accept-changed"], "n\n");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("Not proceeding."), "{r:?}");
    p.db.assert_unchanged(&before, "declined: nothing changed");
    assert_eq!(p.ids("users", "changed"), v(&["2"]));
    let r = run_in_pty(&p, &["resolve", "users", "2", "--accept-changed"], "y\n");
    assert_eq!(r.code, 0, "{r:?}");
    for shown in [
        "checksum recorded: ",
        "checksum of file: ",
        "+ DELETE FROM users;",
        "  DROP TABLE profiles;",
        "Accepted the changed migration users 2",
    ] {
        assert!(r.stdout.contains(shown), "shows {shown:?}: {r:?}");
    }
    assert_eq!(p.ids("users", "applied"), v(&["1", "2"]));
    // The row holds the file's down section now.
    let mut d = p.db.driver();
    let rows = p.db.rt.block_on(d.applied(Some("users"))).unwrap();
    let row = rows.iter().find(|r| r.migration_id == "2").unwrap();
    assert_eq!(
        row.down_sql.as_deref(),
        Some("DELETE FROM users;\nDROP TABLE profiles;\n")
    );
    assert_eq!(
        row.checksum,
        ferry_core::checksum("CREATE TABLE profiles (id INTEGER PRIMARY KEY, bio VARCHAR(20));\n")
    );
    // Accepted once: now it is applied, and a second time is refused.
    p.run(&["resolve", "users", "2", "--accept-changed", "-y"])
        .expect(1)
        .stderr_has("its status is applied");
}

fn atomic_and_rehearse_say_ran(b: Backend) {
    if b == Backend::Mysql {
        return; // Both are refused on MySQL (tested in shared/atomic.rs).
    }
    let p = Project::new(b);
    p.table_migration("users", "1", "ran_a");
    p.table_migration("users", "2", "ran_b");
    p.run(&["forwards", "users", "--rehearse"])
        .expect(0)
        .stderr_has("ran       users 1 create ran a")
        .stderr_has("ran       users 2 create ran b")
        .stderr_has("rolled back");
    p.write(
        "users",
        "3_broken.sql",
        "-- ferry:up\nINSERT INTO no_such_table VALUES (1);\n-- ferry:down\n",
    );
    let r = p.run(&["forwards", "users", "--atomic"]);
    r.expect(1)
        .stderr_has("ran       users 1 create ran a")
        .stderr_has("rolled back: nothing was applied");
    assert!(!r.stderr.contains("applied   "), "{}", r.stderr);
    let r = p.run(&["forwards", "users", "--rehearse"]);
    r.expect(1).stderr_has("rolled back: nothing was changed");
    assert!(!r.stderr.contains("applied   "), "{}", r.stderr);
    std::fs::remove_file(p.path("migrations/users/3_broken.sql")).unwrap();
    let r = p.run(&["forwards", "users", "--atomic"]);
    r.expect(0)
        .stderr_has("ran       users 2 create ran b")
        .stderr_has("Applied 2 migrations in one transaction: committed");
    assert!(!r.stderr.contains("applied   "), "{}", r.stderr);
    assert_eq!(p.ids("users", "applied"), v(&["1", "2"]));
}

/// The JSON report on stdout.
fn report(stdout: &str) -> serde_json::Value {
    assert_eq!(stdout.lines().count(), 1, "one line of JSON: {stdout}");
    serde_json::from_str(stdout).expect("JSON")
}

/// `(app, id, result)` of each migration of a report.
fn results(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = |k: &str| m[k].as_str().unwrap().to_owned();
            (text("app_name"), text("migration_id"), text("result"))
        })
        .collect()
}

fn row(app: &str, id: &str, result: &str) -> (String, String, String) {
    (app.into(), id.into(), result.into())
}

fn json_report_of_forwards_and_backwards(b: Backend) {
    let p = Project::new(b);
    three(&p);
    let r = p.run(&["forwards", "all", "--format", "json"]);
    r.expect(0).stderr_has("applied   users 1 create users");
    let j = report(&r.stdout);
    assert_eq!(
        results(&j),
        [
            row("users", "1", "applied"),
            row("users", "2", "applied"),
            row("blog", "3", "applied")
        ]
    );
    let first = &j["migrations"][0];
    assert_eq!(first["description"], "create users");
    assert!(first["duration_ms"].is_u64(), "{first}");
    assert!(first["error"].is_null(), "{first}");
    assert_eq!(j["summary"]["outcome"], "done");
    assert_eq!(j["summary"]["applied"], 3);
    assert_eq!(j["summary"]["failed"], 0);
    // Nothing to do is a report too.
    let j = report(
        &p.run(&["forwards", "all", "--format", "json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(results(&j), []);
    assert_eq!(j["summary"]["outcome"], "nothing_to_do");
    // A failure: the report names the failing migration and its error; exit 1.
    p.table_migration("blog", "4", "posts_two");
    p.write(
        "blog",
        "5_broken.sql",
        "-- ferry:up\nINSERT INTO no_such_table VALUES (1);\n-- ferry:down\n",
    );
    let r = p.run(&["forwards", "blog", "--format", "json"]);
    r.expect(1).stderr_has("blog 5");
    let j = report(&r.stdout);
    assert_eq!(
        results(&j),
        [row("blog", "4", "applied"), row("blog", "5", "failed")]
    );
    let failed = &j["migrations"][1];
    assert!(
        failed["error"].as_str().unwrap().contains("no_such_table"),
        "{failed}"
    );
    assert_eq!(j["summary"]["outcome"], "failed");
    assert_eq!(j["summary"]["failed"], 1);
    assert_eq!(j["summary"]["applied"], 1);
    std::fs::remove_file(p.path("migrations/blog/5_broken.sql")).unwrap();
    // A refusal before anything runs still prints the report.
    let r = p.run(&["backwards", "users", "all", "-y", "--format", "json"]);
    r.expect(1);
    let j = report(&r.stdout);
    assert_eq!(results(&j), []);
    assert!(
        j["summary"]["message"].as_str().unwrap().contains("blog"),
        "{j}"
    );
    // Backwards: reversed, and faked.
    let j = report(
        &p.run(&["backwards", "blog", "-y", "--format", "json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(results(&j), [row("blog", "4", "reversed")]);
    assert_eq!(j["summary"]["reversed"], 1);
    let j = report(
        &p.run(&["backwards", "blog", "--fake", "-y", "--format", "json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(results(&j), [row("blog", "3", "faked")]);
    assert_eq!(j["summary"]["faked"], 1);
    p.run(&["forwards", "blog", "3", "--fake"]).expect(0);
    // --preview prints SQL: it does not mix with JSON.
    p.run(&["backwards", "blog", "--preview", "--format", "json"])
        .expect(2)
        .stderr_has("--preview");
    if b == Backend::Mysql {
        return;
    }
    // --atomic: rolled back, so the migrations before the failure are skipped, not applied.
    p.table_migration("blog", "6", "posts_six");
    p.write(
        "blog",
        "7_broken.sql",
        "-- ferry:up\nINSERT INTO no_such_table VALUES (1);\n-- ferry:down\n",
    );
    let r = p.run(&["forwards", "blog", "--atomic", "--format", "json"]);
    r.expect(1);
    let j = report(&r.stdout);
    assert_eq!(
        results(&j),
        [
            row("blog", "4", "skipped"),
            row("blog", "6", "skipped"),
            row("blog", "7", "failed")
        ]
    );
    assert_eq!(j["summary"]["transaction"], "rolled_back");
    assert_eq!(j["summary"]["applied"], 0);
    let j = report(
        &p.run(&["forwards", "blog", "--rehearse", "--format", "json"])
            .expect(1)
            .stdout,
    );
    assert_eq!(
        results(&j),
        [
            row("blog", "4", "rehearsed"),
            row("blog", "6", "rehearsed"),
            row("blog", "7", "failed")
        ]
    );
    assert_eq!(j["summary"]["transaction"], "rolled_back");
    std::fs::remove_file(p.path("migrations/blog/7_broken.sql")).unwrap();
    let j = report(
        &p.run(&["forwards", "blog", "--atomic", "--format", "json"])
            .expect(0)
            .stdout,
    );
    assert_eq!(
        results(&j),
        [row("blog", "4", "applied"), row("blog", "6", "applied")]
    );
    assert_eq!(j["summary"]["transaction"], "committed");
}
