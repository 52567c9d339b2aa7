//! `ferry drift` and `ferry schema` (SPEC §12) on every backend: hand changes reported by
//! name, `drift_ignore`, the refusals, changed files, the live database left as it was, and
//! the schema printed stably.

use crate::support::{Backend, Project, CONFIG};

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod fleet;

backends!(
    drift_reports_each_hand_change_by_name,
    drift_refuses_dirty_rows_and_missing_files_and_lists_changed_ones,
    schema_prints_the_live_schema_sorted_and_stable,
    drift_drops_its_scratch_database_on_ctrl_c,
    drift_drops_its_scratch_database_on_sigterm,
    drift_names_every_kind_of_hand_change,
);

/// Two apps, three tables: blog's posts were applied between users' two migrations.
fn history(p: &Project) {
    p.write(
        "users",
        "1_people.sql",
        "-- ferry:up\nCREATE TABLE people (id INTEGER PRIMARY KEY, email VARCHAR(50) NOT NULL);\nCREATE INDEX people_email ON people (email);\n-- ferry:down\nDROP TABLE people;\n",
    );
    p.write(
        "blog",
        "2_posts.sql",
        "-- ferry:up\nCREATE TABLE posts (id INTEGER PRIMARY KEY, title VARCHAR(20));\n-- ferry:down\nDROP TABLE posts;\n",
    );
}

/// The name of index `name` of table `people` as snapshots give it: MySQL's index names are
/// per table.
fn people_index(b: Backend, name: &str) -> String {
    match b {
        Backend::Mysql => format!("people.{name}"),
        _ => name.to_owned(),
    }
}

/// Run `sql` on the project's database, statement by statement.
fn on_live(p: &Project, statements: &[&str]) {
    let mut d = p.db.driver();
    for sql in statements {
        p.db.rt
            .block_on(d.execute(sql, false))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// The scratch database a `ferry -v drift` run used is gone.
fn assert_scratch_dropped(p: &Project, stderr: &str) {
    let url = stderr
        .lines()
        .find_map(|l| l.strip_prefix("scratch database: "))
        .unwrap_or_else(|| panic!("no scratch database line:\n{stderr}"));
    if let Some(path) = url.strip_prefix("sqlite:") {
        assert!(!std::path::Path::new(path).exists(), "{path} left behind");
        return;
    }
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    assert!(name.starts_with("ferry_drift_"), "{url}");
    let mut d = p.db.driver();
    let quote = if p.db.backend == Backend::Mysql {
        '`'
    } else {
        '"'
    };
    // Creating it again succeeds only if it is gone.
    let create = format!("CREATE DATABASE {quote}{name}{quote}");
    p.db.rt
        .block_on(d.execute(&create, true))
        .unwrap_or_else(|e| panic!("the scratch database {name} is still there: {e}"));
    let drop = format!("DROP DATABASE {quote}{name}{quote}");
    p.db.rt.block_on(d.execute(&drop, true)).unwrap();
}

fn drift_reports_each_hand_change_by_name(b: Backend) {
    let p = Project::new(b);
    history(&p);
    p.run(&["forwards", "all"]).expect(0);
    // No drift after forwards; the live database is left exactly as it was.
    let before = p.db.dump();
    let r = p.run(&["-v", "drift"]);
    r.expect(0)
        .stderr_has("no drift: the database matches its 2 applied migrations");
    assert_eq!(r.stdout, "");
    assert_scratch_dropped(&p, &r.stderr);
    p.db.assert_unchanged(&before, "drift reads only");

    // What a DBA does by hand.
    let mut changes = vec![
        "CREATE TABLE hand_made (id INTEGER PRIMARY KEY, note VARCHAR(10))",
        "CREATE INDEX hand_idx ON people (email, id)",
        "ALTER TABLE people ADD COLUMN nickname VARCHAR(30)",
    ];
    changes.push(match b {
        Backend::Mysql => "DROP INDEX people_email ON people",
        _ => "DROP INDEX people_email",
    });
    match b {
        Backend::Mysql => changes.push("ALTER TABLE posts MODIFY title VARCHAR(40)"),
        Backend::Postgres | Backend::PgBouncer => {
            changes.push("ALTER TABLE posts ALTER COLUMN title TYPE VARCHAR(40)")
        }
        // SQLite cannot change a column's type in place.
        Backend::Sqlite => {}
    }
    on_live(&p, &changes);
    let before = p.db.dump();
    let r = p.run(&["-v", "drift"]);
    r.expect(1)
        .stdout_has("table hand_made: extra no → yes\n")
        .stdout_has(&format!(
            "index {}: extra no → yes\n",
            people_index(b, "hand_idx")
        ))
        .stdout_has("column people.nickname: extra no → yes\n")
        .stdout_has(&format!(
            "index {}: absent yes → no\n",
            people_index(b, "people_email")
        ))
        .stderr_has("drift: ");
    assert_scratch_dropped(&p, &r.stderr);
    // The columns of a whole extra table are not listed again.
    assert!(!r.stdout.contains("hand_made.id"), "{}", r.stdout);
    let type_line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("column posts.title: type "));
    if b == Backend::Sqlite {
        assert_eq!(type_line, None);
    } else {
        let line = type_line.unwrap_or_else(|| panic!("no type difference:\n{}", r.stdout));
        let (expected, actual) = line.split_once(" → ").unwrap();
        assert!(expected.contains("20") && actual.contains("40"), "{line}");
    }
    p.db.assert_unchanged(&before, "drift reads only, also when it finds drift");

    // JSON: the shape of SPEC §12.4.
    let r = p.run(&["drift", "--format", "json"]);
    r.expect(1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["drift"], true);
    assert_eq!(v["replayed"], 2);
    assert_eq!(v["changed"], serde_json::json!([]));
    let differences = v["differences"].as_array().unwrap();
    let lines = r.stdout.matches("\"object\"").count();
    assert_eq!(differences.len(), lines);
    assert!(
        differences.contains(&serde_json::json!({
            "object": "table", "name": "hand_made", "property": "extra",
            "expected": "no", "actual": "yes",
        })),
        "{v}"
    );

    // drift_ignore leaves out what its globs name, a table's indexes with it.
    std::fs::write(
        p.path("ferry.toml"),
        format!("drift_ignore = [\"hand_*\", \"people.hand_*\"]\nlock_lease = 3\n{CONFIG}"),
    )
    .unwrap();
    let r = p.run(&["drift"]);
    r.expect(1).stdout_has("column people.nickname: extra");
    assert!(!r.stdout.contains("hand_"), "{}", r.stdout);
    // Undo the hand changes that drift_ignore does not cover: no drift again.
    let mut undo = vec!["ALTER TABLE people DROP COLUMN nickname"];
    undo.push("CREATE INDEX people_email ON people (email)");
    match b {
        Backend::Mysql => undo.push("ALTER TABLE posts MODIFY title VARCHAR(20)"),
        Backend::Postgres | Backend::PgBouncer => {
            undo.push("ALTER TABLE posts ALTER COLUMN title TYPE VARCHAR(20)")
        }
        Backend::Sqlite => {}
    }
    on_live(&p, &undo);
    p.run(&["drift"]).expect(0);
    // A bad glob is a configuration error (exit 2).
    std::fs::write(
        p.path("ferry.toml"),
        format!("drift_ignore = [\"[\"]\n{CONFIG}"),
    )
    .unwrap();
    p.run(&["drift"]).expect(2).stderr_has("drift_ignore: `[`");
}

fn drift_refuses_dirty_rows_and_missing_files_and_lists_changed_ones(b: Backend) {
    let p = Project::new(b);
    history(&p);
    p.run(&["forwards", "all"]).expect(0);
    // A changed file is replayed as it is now, and listed.
    p.write(
        "users",
        "1_people.sql",
        "-- ferry:up\n-- edited after it was applied\nCREATE TABLE people (id INTEGER PRIMARY KEY, email VARCHAR(50) NOT NULL);\nCREATE INDEX people_email ON people (email);\n-- ferry:down\nDROP TABLE people;\n",
    );
    let r = p.run(&["drift"]);
    r.expect(0)
        .stdout_has("changed users 1: the file was edited after it was applied")
        .stderr_has("users 1: the file changed after it was applied");
    let r = p.run(&["drift", "--format", "json"]);
    r.expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "drift": false, "replayed": 2,
            "changed": [{"app_name": "users", "migration_id": "1"}],
            "differences": [],
        })
    );
    // A missing file cannot be replayed.
    let posts = p.path("migrations/blog/2_posts.sql");
    let text = std::fs::read_to_string(&posts).unwrap();
    std::fs::remove_file(&posts).unwrap();
    let r = p.run(&["drift"]);
    r.expect(1)
        .stderr_has("cannot replay applied migration blog 2: no migration file");
    assert_eq!(r.stdout, "");
    std::fs::write(&posts, text).unwrap();
    // A dirty row: nothing is replayed.
    p.write(
        "blog",
        "3_outside.sql",
        // Its first statement runs: a failing first statement leaves no dirty row (SPEC §14).
        "-- ferry:up no-transaction\nCREATE TABLE drift_half (id INT);\nINSERT INTO no_such_table (id) VALUES (1);\n-- ferry:down\n",
    );
    p.run(&["forwards", "all"]).expect(1);
    let before = p.db.dump();
    let r = p.run(&["drift"]);
    r.expect(1).stderr_has("dirty migration blog 3");
    assert_eq!(r.stdout, "");
    p.db.assert_unchanged(&before, "a refused drift changes nothing");
    // A file error is exit 2, before anything connects.
    p.write("blog", "4_bad.sql", "no marker\n");
    p.run(&["drift"]).expect(2).stderr_has("4_bad.sql");
}

fn schema_prints_the_live_schema_sorted_and_stable(b: Backend) {
    let p = Project::new(b);
    history(&p);
    p.run(&["forwards", "all"]).expect(0);
    let before = p.db.dump();
    let first = p.run(&["schema"]);
    first.expect(0);
    let second = p.run(&["schema"]);
    second.expect(0);
    assert_eq!(first.stdout, second.stdout, "two runs print the same bytes");
    p.db.assert_unchanged(&before, "schema reads only");
    let lines: Vec<&str> = first.stdout.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "sorted");
    for wanted in [
        "table people",
        "table posts",
        "column people.email: nullable no",
        &format!("index {}: columns email", people_index(b, "people_email")),
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(wanted)),
            "no line {wanted:?}:\n{}",
            first.stdout
        );
    }
    assert!(
        !first.stdout.contains("ferry_migrations"),
        "the tracking and lock tables are left out:\n{}",
        first.stdout
    );
    let r = p.run(&["schema", "--format", "json"]);
    r.expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let objects = v["objects"].as_array().unwrap();
    assert!(objects.iter().any(|o| o["object"] == "column"
        && o["name"] == "people.email"
        && o["properties"]["nullable"] == "no"));
}

/// SPEC §12.2 with §9.1: Ctrl-C during the replay drops the scratch database, exit 130. (The
/// slow migration is recorded with `--fake`, so only the replay runs it.)
fn drift_drops_its_scratch_database_on_ctrl_c(b: Backend) {
    drift_drops_its_scratch_database_on(
        b,
        "INT",
        130,
        "interrupted; the scratch database was dropped",
    );
}

/// As Ctrl-C, for SIGTERM (a CI job cancelled): the scratch database is dropped before the
/// process ends, with the exit code the signal stands for (143).
fn drift_drops_its_scratch_database_on_sigterm(b: Backend) {
    drift_drops_its_scratch_database_on(
        b,
        "TERM",
        143,
        "terminated; the scratch database was dropped",
    );
}

fn drift_drops_its_scratch_database_on(b: Backend, signal: &str, code: i32, says: &str) {
    let p = Project::new(b);
    p.write(
        "users",
        "1_slow.sql",
        &format!(
            "-- ferry:up\nCREATE TABLE s1 (id INTEGER);\n{}\n-- ferry:down\nDROP TABLE s1;\n",
            b.slow_sql()
        ),
    );
    p.run(&["forwards", "all", "--fake", "-y"]).expect(0);
    let child = p.spawn(&["drift", "-v"]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(says), "{stderr}");
    assert_scratch_dropped(&p, &stderr);
}

/// Each kind of hand change a DBA makes, of the kinds the backend has, is one line naming the
/// object: a dropped column, a view, a default, a check constraint, a trigger, a type.
fn drift_names_every_kind_of_hand_change(b: Backend) {
    let p = Project::new(b);
    history(&p);
    p.run(&["forwards", "all"]).expect(0);
    // (statements, a fragment of the line that must report it)
    let mut cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["ALTER TABLE posts DROP COLUMN title"],
            "column posts.title: absent yes → no",
        ),
        (
            vec!["CREATE VIEW hand_view AS SELECT id FROM people"],
            "view hand_view: extra no → yes",
        ),
    ];
    match b {
        Backend::Sqlite => cases.push((
            vec!["CREATE TRIGGER hand_trg AFTER INSERT ON people BEGIN SELECT 1; END"],
            "hand_trg: extra no → yes",
        )),
        Backend::Mysql => cases.extend([
            (
                vec!["ALTER TABLE people ALTER COLUMN email SET DEFAULT 'x'"],
                "column people.email: default ",
            ),
            (
                vec!["ALTER TABLE people ADD CONSTRAINT hand_chk CHECK (id > 0)"],
                "hand_chk: extra no → yes",
            ),
            (
                vec!["CREATE TRIGGER hand_trg BEFORE INSERT ON people FOR EACH ROW SET NEW.id = NEW.id"],
                "hand_trg: extra no → yes",
            ),
        ]),
        Backend::Postgres | Backend::PgBouncer => cases.extend([
            (
                vec!["ALTER TABLE people ALTER COLUMN email SET DEFAULT 'x'"],
                "column people.email: default ",
            ),
            (
                vec!["ALTER TABLE people ADD CONSTRAINT hand_chk CHECK (id > 0)"],
                "hand_chk: extra no → yes",
            ),
            (
                vec![
                    "CREATE FUNCTION hand_fn() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
                    "CREATE TRIGGER hand_trg BEFORE INSERT ON people FOR EACH ROW EXECUTE FUNCTION hand_fn()",
                ],
                "hand_trg: extra no → yes",
            ),
            (vec!["CREATE TYPE hand_mood AS ENUM ('a', 'b')"], "hand_mood: extra no → yes"),
        ]),
    }
    for (statements, _) in &cases {
        on_live(&p, statements);
    }
    let r = p.run(&["drift"]);
    r.expect(1);
    for (_, fragment) in &cases {
        assert!(
            r.stdout.lines().any(|l| l.contains(fragment)),
            "no line with {fragment:?}:\n{}",
            r.stdout
        );
    }
}

/// A PostgreSQL tracking table in a schema of its own (`--table ops.tracking`): that schema is
/// not drift.
#[cfg(feature = "postgres")]
#[test]
fn drift_with_the_tracking_table_in_a_schema_of_its_own() {
    let p = Project::new(Backend::Postgres);
    history(&p);
    p.run(&["--table", "ops.tracking", "forwards", "all"])
        .expect(0);
    p.run(&["--table", "ops.tracking", "drift"])
        .expect(0)
        .stderr_has("no drift: the database matches its 2 applied migrations");
}
