//! `ferry drift` and `ferry schema` (SPEC §12) on every backend: hand changes reported by
//! name, `drift_ignore`, the refusals, changed files, the live database left as it was, and
//! the schema printed stably.

use crate::support::{Backend, Project, CONFIG};

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

/// The fleet's JSON lines by target, and the summary.
fn fleet_report(
    stdout: &str,
) -> (
    std::collections::BTreeMap<String, serde_json::Value>,
    serde_json::Value,
) {
    let mut lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let summary = lines.pop().expect("a summary line");
    let by_target = lines
        .into_iter()
        .map(|l| (l["target"].as_str().unwrap().to_owned(), l))
        .collect();
    (by_target, summary["summary"].clone())
}

/// SPEC §12.5 on a glob of SQLite files: one line per target; targets with one history share
/// one replay (two histories here: two replays for five targets).
#[cfg(feature = "sqlite")]
#[test]
fn drift_fleet_of_sqlite_files_replays_each_history_once() {
    let p = Project::new(Backend::Sqlite);
    history(&p);
    std::fs::create_dir(p.path("fleet")).unwrap();
    for i in 0..5 {
        std::fs::write(p.path(&format!("fleet/t{i}.db")), "").unwrap();
    }
    let glob = format!("sqlite:{}/fleet/*.db", p.dir.path().display());
    p.run(&["-d", &glob, "--fleet", "forwards", "all"])
        .expect(0);
    // t4 is one migration behind: a history of its own.
    p.run(&[
        "-d",
        &glob,
        "--fleet",
        "--target",
        "fleet/t4.db",
        "backwards",
        "blog",
        "-y",
    ])
    .expect(0);
    let mut d = ferry_driver_sqlite_connect(&p.path("fleet/t1.db"));
    p.db.rt
        .block_on(d.execute("CREATE TABLE hand_made (id INTEGER)", false))
        .unwrap();
    let r = p.run(&["-d", &glob, "drift", "--fleet", "--format", "json"]);
    r.expect(1);
    let (targets, summary) = fleet_report(&r.stdout);
    assert_eq!(
        summary,
        serde_json::json!({"no_drift": 4, "drift": 1, "failed": 0, "replays": 2})
    );
    assert_eq!(targets.len(), 5);
    assert_eq!(targets["fleet/t1.db"]["result"], "drift");
    assert_eq!(
        targets["fleet/t1.db"]["differences"][0]["name"], "hand_made",
        "{}",
        r.stdout
    );
    assert_eq!(targets["fleet/t4.db"]["replayed"], 1);
    assert_eq!(targets["fleet/t0.db"]["replayed"], 2);
    assert_eq!(targets["fleet/t0.db"]["error"], serde_json::Value::Null);
    // The table: one line per target and a header.
    let r = p.run(&["-d", &glob, "--fleet", "drift"]);
    r.expect(1)
        .stderr_has("5 target(s): 4 no drift, 1 drift, 0 failed; 2 replay(s)");
    assert_eq!(r.stdout.lines().count(), 6, "{}", r.stdout);
    assert!(r
        .stdout
        .lines()
        .any(|l| l.starts_with("fleet/t1.db") && l.contains("table hand_made: extra no → yes")));
    // Without the hand change, the fleet has no drift.
    p.db.rt
        .block_on(d.execute("DROP TABLE hand_made", false))
        .unwrap();
    p.run(&["-d", &glob, "drift", "--fleet"]).expect(0);
    // A dirty target fails, naming its migration; the others are still compared.
    let mut t2 = ferry_driver_sqlite_connect(&p.path("fleet/t2.db"));
    p.db.rt
        .block_on(t2.execute(
            "UPDATE ferry_migrations SET dirty = 1 WHERE migration_id = '2'",
            false,
        ))
        .unwrap();
    drop(t2);
    let r = p.run(&["-d", &glob, "drift", "--fleet", "--format", "json"]);
    r.expect(1);
    let (targets, summary) = fleet_report(&r.stdout);
    assert_eq!(
        summary,
        serde_json::json!({"no_drift": 4, "drift": 0, "failed": 1, "replays": 2})
    );
    assert_eq!(targets["fleet/t2.db"]["result"], "failed");
    let error = targets["fleet/t2.db"]["error"].as_str().unwrap();
    assert!(error.contains("dirty migration blog 2"), "{error}");
}

#[cfg(feature = "sqlite")]
fn ferry_driver_sqlite_connect(path: &std::path::Path) -> Box<dyn ferry_core::Driver> {
    let url = format!("sqlite:{}", path.display());
    Box::new(
        crate::support::runtime()
            .block_on(ferry_driver_sqlite::connect(
                &url,
                ferry_core::TableName::default(),
            ))
            .unwrap(),
    )
}

/// SPEC §12.5 on PostgreSQL schemas: each tenant's schema against the replay, which all
/// tenants at one version share; directly and through PgBouncer.
#[cfg(feature = "postgres")]
fn drift_fleet_of_schemas(b: Backend) {
    let tenants = ["tenant_a", "tenant_b", "tenant_c"];
    let list: Vec<String> = tenants.iter().map(|t| format!("\"{t}\"")).collect();
    let p = Project::with_config(b, &format!("schemas = [{}]\n{CONFIG}", list.join(", ")));
    history(&p);
    let create: Vec<String> = tenants
        .iter()
        .map(|t| format!("CREATE SCHEMA {t}"))
        .collect();
    on_live(&p, &create.iter().map(String::as_str).collect::<Vec<_>>());
    p.run(&["--fleet", "forwards", "all"]).expect(0);
    p.run(&["--fleet", "drift"])
        .expect(0)
        .stderr_has("3 target(s): 3 no drift, 0 drift, 0 failed; 1 replay(s)");
    on_live(
        &p,
        &[
            "CREATE INDEX hand_idx ON tenant_b.people (email, id)",
            "ALTER TABLE tenant_c.posts ALTER COLUMN title TYPE VARCHAR(40)",
            // Outside every tenant's schema: no tenant's drift (each reads its own schema).
            "CREATE TABLE public.outside (id INT)",
        ],
    );
    let before = p.db.dump();
    let r = p.run(&["--fleet", "drift", "--format", "json"]);
    r.expect(1);
    p.db.assert_unchanged(&before, "drift --fleet reads only");
    let (targets, summary) = fleet_report(&r.stdout);
    assert_eq!(
        summary,
        serde_json::json!({"no_drift": 1, "drift": 2, "failed": 0, "replays": 1})
    );
    assert_eq!(targets["tenant_a"]["differences"], serde_json::json!([]));
    assert_eq!(
        targets["tenant_b"]["differences"],
        serde_json::json!([{"object": "index", "name": "hand_idx", "property": "extra",
            "expected": "no", "actual": "yes"}])
    );
    let c = &targets["tenant_c"]["differences"][0];
    assert_eq!(
        (c["name"].as_str(), c["property"].as_str()),
        (Some("posts.title"), Some("type"))
    );
}

/// SPEC §12.5 with `--parallel 1`: every tenant is read on the connection the one before it
/// left (switched to the tenant's tracking table): tenants at two versions get two replays,
/// and each tenant's rows and schema are its own.
#[cfg(feature = "postgres")]
fn drift_fleet_of_schemas_on_one_connection(b: Backend) {
    let tenants = ["tenant_a", "tenant_b", "tenant_c", "tenant_d"];
    let list: Vec<String> = tenants.iter().map(|t| format!("\"{t}\"")).collect();
    let p = Project::with_config(b, &format!("schemas = [{}]\n{CONFIG}", list.join(", ")));
    history(&p);
    let create: Vec<String> = tenants
        .iter()
        .map(|t| format!("CREATE SCHEMA {t}"))
        .collect();
    on_live(&p, &create.iter().map(String::as_str).collect::<Vec<_>>());
    p.run(&["--fleet", "forwards", "all"]).expect(0);
    // tenant_b one version behind: its own rows must be read, not tenant_a's.
    p.run(&["--fleet", "--target", "tenant_b", "backwards", "blog", "-y"])
        .expect(0);
    p.run(&["--fleet", "--parallel", "1", "drift"])
        .expect(0)
        .stderr_has("4 target(s): 4 no drift, 0 drift, 0 failed; 2 replay(s)");
    on_live(
        &p,
        &[
            "CREATE INDEX hand_idx ON tenant_c.people (email, id)",
            // What tenant_b lacks by its history: drift there only.
            "CREATE TABLE tenant_b.posts (id INTEGER PRIMARY KEY, title VARCHAR(20))",
        ],
    );
    let r = p.run(&["--fleet", "--parallel", "1", "drift", "--format", "json"]);
    r.expect(1);
    let (targets, summary) = fleet_report(&r.stdout);
    assert_eq!(
        summary,
        serde_json::json!({"no_drift": 2, "drift": 2, "failed": 0, "replays": 2})
    );
    for clean in ["tenant_a", "tenant_d"] {
        assert_eq!(
            targets[clean]["differences"],
            serde_json::json!([]),
            "{clean}"
        );
    }
    assert_eq!(
        targets["tenant_c"]["differences"],
        serde_json::json!([{"object": "index", "name": "hand_idx", "property": "extra",
            "expected": "no", "actual": "yes"}])
    );
    let extra: Vec<&str> = targets["tenant_b"]["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["property"] == "extra")
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(extra, ["posts"], "{}", r.stdout);
}

#[cfg(feature = "postgres")]
#[test]
fn drift_fleet_of_postgres_schemas_on_one_connection() {
    drift_fleet_of_schemas_on_one_connection(Backend::Postgres);
}

#[cfg(feature = "postgres")]
#[test]
fn drift_fleet_of_postgres_schemas_on_one_connection_through_pgbouncer() {
    drift_fleet_of_schemas_on_one_connection(Backend::PgBouncer);
}

#[cfg(feature = "postgres")]
#[test]
fn drift_fleet_of_postgres_schemas() {
    drift_fleet_of_schemas(Backend::Postgres);
}

#[cfg(feature = "postgres")]
#[test]
fn drift_fleet_of_postgres_schemas_through_pgbouncer() {
    drift_fleet_of_schemas(Backend::PgBouncer);
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
