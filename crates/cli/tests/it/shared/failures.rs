//! What goes wrong on every backend: changed and missing files, a failing migration, dirty
//! rows, a table name taken by the application, a database that does not exist.

use crate::support::{v, Backend, Project};

use super::three;

backends!(
    changed_and_missing_statuses,
    failing_migration_in_the_middle,
    dirty_row_blocks_until_resolved,
    tracking_table_name_taken_by_an_application_table,
    missing_database_gets_the_create_hint,
);

fn changed_and_missing_statuses(b: Backend) {
    let p = Project::new(b);
    let f1 = p.table_migration("users", "1", "g1");
    let f2 = p.table_migration("users", "2", "g2");
    p.table_migration("users", "3", "g3");
    p.run(&["forwards", "users", "2"]).expect(0);
    // Editing the down section does not change the checksum; editing the up section does.
    let text = std::fs::read_to_string(&f1)
        .unwrap()
        .replace("DROP TABLE g1;", "DROP TABLE g1; -- edited");
    std::fs::write(&f1, text).unwrap();
    assert_eq!(p.ids("users", "applied"), v(&["1", "2"]));
    std::fs::write(
        &f1,
        std::fs::read_to_string(&f1)
            .unwrap()
            .replace("(id INTEGER PRIMARY KEY)", "(id INTEGER PRIMARY KEY) "),
    )
    .unwrap();
    std::fs::remove_file(&f2).unwrap();
    let st = p.statuses();
    let got: Vec<_> = st.iter().map(|(_, i, s)| format!("{i}:{s}")).collect();
    assert_eq!(got, ["1:changed", "2:missing", "3:pending"]);
    let r = p.run(&["check", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let rows = json["migrations"].as_array().unwrap();
    assert_eq!(rows[0]["has_ran"], true);
    assert_eq!(rows[1]["has_ran"], true);
    assert_eq!(rows[2]["has_ran"], false);
    assert!(rows[2]["applied_at"].is_null());
    assert!(chrono::DateTime::parse_from_rfc3339(rows[0]["applied_at"].as_str().unwrap()).is_ok());
    p.run(&["check", "--strict"]).expect(3);
    p.run(&["forwards", "users"])
        .expect(0)
        .stderr_has("changed");
    // clean forgets the missing row only.
    p.run(&["clean", "users", "--preview"])
        .expect(0)
        .stdout_has("users 2");
    assert_eq!(p.ids("users", "missing"), v(&["2"]));
    p.run(&["clean", "users"]).expect(1);
    p.run(&["clean", "users", "-y"]).expect(0);
    let got: Vec<_> = p
        .statuses()
        .iter()
        .map(|(_, i, s)| format!("{i}:{s}"))
        .collect();
    assert_eq!(got, ["1:changed", "3:applied"]);
}

fn failing_migration_in_the_middle(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "h1");
    let bad = p.write(
        "users",
        "2_broken.sql",
        "-- ferry:up\nINSERT INTO h1 (id) VALUES (1);\nINSERT INTO no_such_table (id) VALUES (1);\n-- ferry:down\n",
    );
    p.table_migration("users", "3", "h3");
    let r = p.run(&["forwards", "users"]);
    r.expect(1)
        .stderr_has("users 2")
        .stderr_has(&bad.display().to_string());
    assert_eq!(p.ids("users", "applied"), v(&["1"]));
    assert_eq!(p.ids("users", "pending"), v(&["2", "3"]));
    if b != Backend::Sqlite || r.stderr.contains(":3)") {
        // The line of the failing statement within the file.
        r.stderr_has(":3)");
    }
    // The first insert of the failed migration was rolled back with it.
    p.write(
        "users",
        "2_broken.sql",
        "-- ferry:up\nINSERT INTO h1 (id) VALUES (1);\n-- ferry:down\nDELETE FROM h1;\n",
    );
    p.run(&["forwards", "users"]).expect(0);
}

fn dirty_row_blocks_until_resolved(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "i1");
    p.write(
        "users",
        "2_outside.sql",
        // Two statements: on MySQL a failing first statement leaves no dirty row (SPEC §14).
        "-- ferry:up no-transaction\nINSERT INTO i1 (id) VALUES (1);\nINSERT INTO no_such_table (id) VALUES (1);\n-- ferry:down\n",
    );
    p.run(&["forwards", "users"]).expect(1);
    assert_eq!(p.ids("users", "dirty"), v(&["2"]));
    p.run(&["check", "--strict"]).expect(3);
    p.run(&["forwards", "users"])
        .expect(1)
        .stderr_has("ferry resolve users 2");
    p.run(&["backwards", "users", "-y"])
        .expect(1)
        .stderr_has("dirty");
    p.run(&["resolve", "users", "1", "--applied"])
        .expect(1)
        .stderr_has("not dirty");
    p.run(&["resolve", "users", "2"]).expect(2);
    p.run(&["resolve", "users", "2", "--reverted"]).expect(0);
    assert_eq!(p.ids("users", "pending"), v(&["2"]));
    p.write("users", "2_outside.sql", "-- ferry:up no-transaction\nCREATE TABLE i2 (id INTEGER);\n-- ferry:down no-transaction\nDROP TABLE i2;\n");
    p.run(&["forwards", "users"]).expect(0);
    assert_eq!(p.ids("users", "applied"), v(&["1", "2"]));
    p.run(&["backwards", "users", "-y"]).expect(0);
}

fn tracking_table_name_taken_by_an_application_table(b: Backend) {
    let p = Project::new(b);
    three(&p);
    let mut d = p.db.driver();
    p.db.rt
        .block_on(d.execute("CREATE TABLE effects (id INTEGER);", false))
        .unwrap();
    for args in [
        &["--table", "effects", "forwards", "all"][..],
        &["--table", "effects", "check"][..],
    ] {
        p.run(args)
            .expect(1)
            .stderr_has("table `effects` exists but is not a ferry tracking table")
            .stderr_has("nothing was changed")
            .stderr_has("--table NAME");
    }
    // Nothing ran: the default table is still free and every migration pending.
    assert!(!p.db.table_exists());
    assert!(p.statuses().iter().all(|s| s.2 == "pending"));
}

/// A database that does not exist (PostgreSQL 3D000, MySQL 1049, an SQLite file the URL's
/// mode forbids creating) is one error line with the hint `ferry database create`, exit 1,
/// nothing created (SPEC §16.5).
fn missing_database_gets_the_create_hint(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "nodb");
    let (name, url) = match b {
        Backend::Sqlite => (
            "missing.db",
            format!("sqlite:{}?mode=ro", p.path("missing.db").display()),
        ),
        _ => (
            "ferry_no_such_database",
            ferry_core::driver::url::with_database(&p.db.url, "ferry_no_such_database").unwrap(),
        ),
    };
    for command in ["check", "forwards"] {
        let r = p.run(&["-d", &url, command, "all"]);
        r.expect(1)
            .stderr_has(name)
            .stderr_has("; hint: create it with `ferry database create`");
        let errors = r.stderr.lines().filter(|l| l.starts_with("error")).count();
        assert_eq!(errors, 1, "one error line:\n{}", r.stderr);
    }
    match b {
        // verify needs only the server; PostgreSQL reaches it through the URL's database,
        // so it says how to give it one that exists.
        Backend::Postgres | Backend::PgBouncer => {
            p.run(&["-d", &url, "verify"])
                .expect(1)
                .stderr_has("ferry_no_such_database")
                .stderr_has("--scratch-url");
        }
        // MySQL reaches the server without a database: verify runs on its scratch database.
        Backend::Mysql => {
            p.run(&["-d", &url, "verify"]).expect(0);
        }
        Backend::Sqlite => {}
    }
    assert!(!p.path("missing.db").exists());
    assert!(!p.db.table_exists(), "nothing written");
}
