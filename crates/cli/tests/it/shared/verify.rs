//! `ferry verify` on every backend: the scratch database, each migration's verdict, objects
//! left behind, `--keep` and `--scratch-url`.

use crate::support::{Backend, Project};

backends!(
    verify_gives_each_migration_its_verdict,
    verify_drops_its_scratch_database_on_ctrl_c,
    verify_sees_every_kind_of_object_left_behind,
    verify_keep_and_scratch_url,
    verify_reads_the_schema_whole_once,
    verify_runs_no_transaction_sections_outside_a_transaction,
);

/// The scratch database a `ferry verify -v` run used, from its stderr.
fn scratch_url(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("scratch database: "))
        .unwrap_or_else(|| panic!("no scratch database line:\n{stderr}"))
        .to_owned()
}

/// Whether the scratch database of `url` still exists.
fn scratch_exists(p: &Project, url: &str) -> bool {
    if let Some(path) = url.strip_prefix("sqlite:") {
        return std::path::Path::new(path).exists();
    }
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let mut d = p.db.driver();
    // Creating it again succeeds only if it is gone; then drop it again.
    let quote = if p.db.backend == Backend::Mysql {
        '`'
    } else {
        '"'
    };
    let created =
        p.db.rt
            .block_on(d.execute(&format!("CREATE DATABASE {quote}{name}{quote}"), true));
    if created.is_ok() {
        let _ =
            p.db.rt
                .block_on(d.execute(&format!("DROP DATABASE {quote}{name}{quote}"), true));
    }
    created.is_err()
}

/// After its first snapshot, verify reads again only what each step changed, a renamed table
/// and the foreign key that names it included: one whole read for the run. Behind a
/// transaction-mode pooler (no event triggers on a session of its own) every snapshot is
/// read whole, and the verdicts are the same.
fn verify_reads_the_schema_whole_once(b: Backend) {
    let p = Project::new(b);
    for (i, table) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        p.table_migration("users", &(i + 1).to_string(), table);
    }
    p.write(
        "users",
        "6_child.sql",
        "-- ferry:up\nCREATE TABLE kid (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a (id));\n-- ferry:down\nDROP TABLE kid;\n",
    );
    p.write(
        "users",
        "7_rename.sql",
        "-- ferry:up\nALTER TABLE a RENAME TO aa;\n-- ferry:down\nALTER TABLE aa RENAME TO a;\n",
    );
    let r = p.run(&["-v", "verify"]);
    r.expect(0);
    // S0 of the first migration, then S1, S2, S3 of each of the seven.
    let whole = if b == Backend::PgBouncer { 22 } else { 1 };
    r.stderr_has(&format!(
        "({whole} read whole, the others only where the schema changed)"
    ));
}

/// SPEC §9.5: a `no-transaction` section runs in verify as in forwards, outside any
/// transaction (verify's own included: on SQLite its lock is one), with statements that a
/// transaction refuses; the migrations after it are judged as usual.
fn verify_runs_no_transaction_sections_outside_a_transaction(b: Backend) {
    let p = Project::new(b);
    p.write(
        "users",
        "1_table.sql",
        "-- ferry:up\nCREATE TABLE nt (id INTEGER PRIMARY KEY, x INTEGER);\n-- ferry:down\nDROP TABLE nt;\n",
    );
    let (up, down) = match b {
        Backend::Sqlite => (
            "CREATE INDEX nt_x ON nt (x);\nVACUUM;",
            "DROP INDEX nt_x;\nVACUUM;",
        ),
        Backend::Mysql => ("CREATE INDEX nt_x ON nt (x);", "DROP INDEX nt_x ON nt;"),
        Backend::Postgres | Backend::PgBouncer => (
            "CREATE INDEX CONCURRENTLY nt_x ON nt (x);",
            "DROP INDEX CONCURRENTLY nt_x;",
        ),
    };
    p.write(
        "users",
        "2_outside.sql",
        &format!("-- ferry:up no-transaction\n{up}\n-- ferry:down no-transaction\n{down}\n"),
    );
    p.table_migration("users", "3", "after_nt");
    let r = p.run(&["verify", "--format", "json"]);
    r.expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let verdicts: Vec<&str> = v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["reversible"; 3], "{v}");
}

fn verify_gives_each_migration_its_verdict(b: Backend) {
    let p = Project::new(b);
    let sqlite = b == Backend::Sqlite;
    p.write("users", "1_ok.sql", "-- ferry:up\nCREATE TABLE v1 (id INTEGER PRIMARY KEY, name VARCHAR(20));\nCREATE INDEX v1_name ON v1 (name);\n-- ferry:down\nDROP TABLE v1;\n");
    p.write(
        "users",
        "2_forgets_index.sql",
        "-- ferry:up\nCREATE INDEX v1_name_id ON v1 (name, id);\n-- ferry:down\nSELECT 1;\n",
    );
    p.write("users", "3_leaves_column.sql", "-- ferry:up\nALTER TABLE v1 ADD COLUMN extra INTEGER;\nALTER TABLE v1 ADD COLUMN extra2 INTEGER;\n-- ferry:down\nALTER TABLE v1 DROP COLUMN extra;\n");
    p.write("users", "4_not_rerunnable.sql", "-- ferry:up\nCREATE TABLE v4 (id INTEGER);\nINSERT INTO v1 (id, name) VALUES (99, 'x');\n-- ferry:down\nDROP TABLE v4;\n");
    p.write(
        "users",
        "5_irreversible.sql",
        "-- ferry:up\nCREATE TABLE v5 (id INTEGER);\n",
    );
    if !sqlite {
        p.write("users", "6_default.sql", "-- ferry:up\nALTER TABLE v1 ALTER COLUMN name SET DEFAULT 'x';\n-- ferry:down\nSELECT 1;\n");
    }
    p.write("users", "7_wrong_column.sql", "-- ferry:up\nALTER TABLE v1 ADD COLUMN a7 INTEGER;\n-- ferry:down\nALTER TABLE v1 DROP COLUMN extra2;\n");
    p.write("blog", "8_broken.sql", "-- ferry:up\nCREATE TABLE v8 (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n-- ferry:down\nDROP TABLE v8;\n");
    p.table_migration("blog", "9", "v9");
    let before = p.db.dump();
    let r = p.run(&["verify", "--format", "json", "-v"]);
    r.expect(1).stderr_has("failed verification");
    p.db.assert_unchanged(&before, "verify never writes the configured database");
    assert!(
        !scratch_exists(&p, &scratch_url(&r.stderr)),
        "the scratch database is dropped"
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let list = v["migrations"].as_array().unwrap();
    let of = |id: &str| {
        list.iter()
            .find(|m| m["migration_id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {v}"))
    };
    let has = |id: &str, object: &str, name: &str, property: &str| {
        let m = of(id);
        assert!(
            m["differences"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["object"] == object && d["name"] == name && d["property"] == property),
            "{id}: no {object} {name} {property} in {m}"
        );
    };
    assert_eq!(of("1")["verdict"], "reversible", "{v}");
    assert_eq!(of("1")["differences"].as_array().unwrap().len(), 0);
    assert_eq!(of("2")["verdict"], "not-reversible", "{v}");
    // MySQL index names are unique per table only: they are named `table.index`.
    let index = if b == Backend::Mysql {
        "v1.v1_name_id"
    } else {
        "v1_name_id"
    };
    has("2", "index", index, "exists");
    assert_eq!(of("3")["verdict"], "not-reversible", "{v}");
    has("3", "column", "v1.extra2", "exists");
    assert_eq!(of("4")["verdict"], "not-reappliable", "{v}");
    has("4", "step", "up again", "error");
    assert_eq!(of("5")["verdict"], "irreversible", "{v}");
    if !sqlite {
        assert_eq!(of("6")["verdict"], "not-reversible", "{v}");
        has("6", "column", "v1.name", "default");
    }
    assert_eq!(of("7")["verdict"], "not-reversible", "{v}");
    has("7", "column", "v1.a7", "exists");
    has("7", "column", "v1.extra2", "exists");
    assert_eq!(of("8")["verdict"], "failed", "{v}");
    has("8", "step", "up", "error");
    let error = of("8")["differences"][0]["after"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("8_broken.sql"), "{error}");
    assert_eq!(of("9")["verdict"], "skipped", "{v}");
    for m in list {
        assert!(
            m["duration_ms"].is_u64() && m["description"].is_string(),
            "{m}"
        );
    }
    // The table output: a line per migration, differences as `kind name: property before → after`.
    let r = p.run(&["verify", "users"]);
    r.expect(1)
        .stdout_has("users 1 ok: reversible")
        .stdout_has("users 2 forgets index: not-reversible")
        .stdout_has(&format!("    index {index}: exists no → yes"));
    // One app: its dependencies applied first, not judged; a clean app passes.
    std::fs::remove_file(p.path("migrations/blog/8_broken.sql")).unwrap();
    for name in [
        "2_forgets_index",
        "3_leaves_column",
        "4_not_rerunnable",
        "6_default",
        "7_wrong_column",
    ] {
        let _ = std::fs::remove_file(p.path(&format!("migrations/users/{name}.sql")));
    }
    let r = p.run(&["verify", "blog"]);
    r.expect(0).stdout_has("blog 9 create v9: reversible");
    assert!(!r.stdout.contains("users 1"), "{}", r.stdout);
}

fn verify_drops_its_scratch_database_on_ctrl_c(b: Backend) {
    let p = Project::new(b);
    p.write(
        "users",
        "1_slow.sql",
        &format!(
            "-- ferry:up\nCREATE TABLE s1 (id INTEGER);\n{}\n-- ferry:down\nDROP TABLE s1;\n",
            b.slow_sql()
        ),
    );
    let child = p.spawn(&["verify", "-v"]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted; the scratch database was dropped"),
        "{stderr}"
    );
    assert!(!scratch_exists(&p, &scratch_url(&stderr)), "{stderr}");
}

/// Downs that forget one object each, of every kind the backend has: each is
/// `not-reversible`, naming that object.
fn verify_sees_every_kind_of_object_left_behind(b: Backend) {
    let p = Project::new(b);
    p.write("users", "1_base.sql", "-- ferry:up\nCREATE TABLE k1 (id INTEGER PRIMARY KEY, name VARCHAR(20));\nCREATE TABLE k2 (id INTEGER PRIMARY KEY, k1_id INTEGER);\n-- ferry:down\nDROP TABLE k2;\nDROP TABLE k1;\n");
    // (id, up, object kind, object name, property)
    let mut cases: Vec<(&str, String, &str, String, &str)> = vec![(
        "2",
        "CREATE VIEW k_view AS SELECT id FROM k1;".into(),
        "view",
        "k_view".into(),
        "exists",
    )];
    match b {
        Backend::Sqlite => cases.push((
            "3",
            "CREATE TRIGGER k_trg AFTER INSERT ON k1 BEGIN SELECT 1; END;".into(),
            "trigger",
            "k1.k_trg".into(),
            "exists",
        )),
        Backend::Mysql => cases.extend([
            ("3", "ALTER TABLE k1 ADD CONSTRAINT k1_positive CHECK (id > 0);".into(), "check constraint", "k1.k1_positive".into(), "exists"),
            ("4", "ALTER TABLE k1 MODIFY name VARCHAR(20) NOT NULL;".into(), "column", "k1.name".into(), "nullable"),
            ("5", "ALTER TABLE k2 ADD CONSTRAINT k2_fk FOREIGN KEY (k1_id) REFERENCES k1 (id) ON DELETE CASCADE;".into(), "foreign key", "k2.k2_fk".into(), "exists"),
            ("6", "CREATE TRIGGER k_trg BEFORE INSERT ON k1 FOR EACH ROW SET NEW.name = 'x';".into(), "trigger", "k1.k_trg".into(), "exists"),
            ("7", "CREATE FUNCTION k_fn() RETURNS INT DETERMINISTIC RETURN 1;".into(), "function", "k_fn()".into(), "exists"),
        ]),
        _ => cases.extend([
            ("3", "ALTER TABLE k1 ADD CONSTRAINT k1_positive CHECK (id > 0);".into(), "check constraint", "k1.k1_positive".into(), "exists"),
            ("4", "ALTER TABLE k1 ALTER COLUMN name SET NOT NULL;".into(), "column", "k1.name".into(), "nullable"),
            ("5", "ALTER TABLE k2 ADD CONSTRAINT k2_fk FOREIGN KEY (k1_id) REFERENCES k1 (id) ON DELETE CASCADE;".into(), "foreign key", "k2.k2_fk".into(), "exists"),
            ("6", "CREATE TYPE k_mood AS ENUM ('ok');".into(), "enum type", "k_mood".into(), "exists"),
            ("7", "CREATE SEQUENCE k_seq;".into(), "sequence", "k_seq".into(), "exists"),
            ("8", "CREATE FUNCTION k_fn() RETURNS integer LANGUAGE sql AS 'SELECT 1';".into(), "function", "k_fn()".into(), "exists"),
        ]),
    }
    for (id, up, ..) in &cases {
        p.write(
            "users",
            &format!("{id}_forgets.sql"),
            &format!("-- ferry:up\n{up}\n-- ferry:down\nSELECT 1;\n"),
        );
    }
    let r = p.run(&["verify", "users", "--format", "json"]);
    r.expect(1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let list = v["migrations"].as_array().unwrap();
    assert_eq!(list[0]["verdict"], "reversible", "{v}");
    for (id, _, object, name, property) in &cases {
        let m = list
            .iter()
            .find(|m| m["migration_id"] == *id)
            .unwrap_or_else(|| panic!("no {id} in {v}"));
        assert_eq!(m["verdict"], "not-reversible", "{id}: {m}");
        assert!(
            m["differences"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["object"] == *object
                    && d["name"] == name.as_str()
                    && d["property"] == *property),
            "{id}: no {object} {name} {property} in {m}"
        );
    }
}

/// `--keep` leaves the scratch database and prints its URL; `--scratch-url` puts it on another
/// server (here: the test server's admin database), whose own database is not touched.
fn verify_keep_and_scratch_url(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "kp");
    let r = p.run(&["verify", "--keep"]);
    r.expect(0);
    let url = r
        .stdout
        .lines()
        .find(|l| l.contains("ferry_verify_"))
        .unwrap_or_else(|| panic!("no URL printed:\n{}", r.stdout))
        .to_owned();
    assert!(scratch_exists(&p, &url), "kept: {url}");
    if let Some(path) = url.strip_prefix("sqlite:") {
        std::fs::remove_file(path).unwrap();
    } else {
        let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
        let drop = match b {
            Backend::Mysql => format!("DROP DATABASE `{name}`"),
            _ => format!("DROP DATABASE \"{name}\" WITH (FORCE)"),
        };
        let mut d = p.db.driver();
        p.db.rt.block_on(d.execute(&drop, true)).unwrap();
    }
    if b == Backend::Sqlite {
        return;
    }
    let server = match b {
        Backend::Mysql => ferry_driver_mysql::testing::admin_url(),
        _ => ferry_driver_postgres::testing::admin_url(),
    };
    let r = p.run(&["verify", "-v", "--scratch-url", &server]);
    r.expect(0).stdout_has("users 1 create kp: reversible");
    let scratch = scratch_url(&r.stderr);
    assert!(scratch.contains("ferry_verify_"), "{scratch}");
    assert!(!scratch_exists(&p, &scratch));
    assert!(
        !p.db.table_exists(),
        "the configured database is not touched"
    );
}
