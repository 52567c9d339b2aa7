//! `ferry lint` (SPEC §13): per backend, a table of cases whose answer the servers' own
//! documentation gives (what rewrites, what locks, what is instant), each a pending
//! migration on its own tables, judged in one run; and on every backend, `--deny` with
//! `-- ferry:allow`, the JSON shape, pending-only against `--all`, the configured database
//! left byte-identical, the scratch database dropped, and an unknown allow level.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::{Backend, Project};

macro_rules! lint_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $case() { super::$case(super::Backend::Sqlite) } )*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $( #[test] fn $case() { super::$case(super::Backend::Postgres) } )*
        }
        #[cfg(feature = "mysql")]
        mod mysql {
            $( #[test] fn $case() { super::$case(super::Backend::Mysql) } )*
        }
    };
}

lint_backends!(
    lint_reads_only_denies_and_accepts,
    lint_all_judges_every_migration_on_an_empty_scratch,
    lint_refuses_an_unknown_allow_level,
    lint_names_a_failing_statement,
);

/// `ferry lint --format json` of the project: each judged migration's findings as
/// `level object` (`(allowed)` appended when accepted), by migration ID.
fn findings(p: &Project, args: &[&str], code: i32) -> BTreeMap<String, BTreeSet<String>> {
    let mut all = vec!["lint", "--format", "json"];
    all.extend_from_slice(args);
    let r = p.run(&all);
    r.expect(code);
    let v: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: not JSON:\n{}\n{}", r.stdout, r.stderr));
    let mut out = BTreeMap::new();
    for m in v["migrations"].as_array().unwrap() {
        let mut set = BTreeSet::new();
        for f in m["findings"].as_array().unwrap() {
            let allowed = if f["allowed"].as_bool().unwrap() {
                " (allowed)"
            } else {
                ""
            };
            set.insert(format!(
                "{} {}{allowed}",
                f["level"].as_str().unwrap(),
                f["object"].as_str().unwrap()
            ));
        }
        out.insert(m["migration_id"].as_str().unwrap().to_owned(), set);
    }
    out
}

/// Write the cases as pending migrations `2_..`, `3_..` of app `users` after `setup`
/// (migration 1, applied), lint them in one run and compare each migration's findings.
fn run_cases(b: Backend, setup: &str, cases: &[(&str, &str, &[&str])]) {
    let p = Project::new(b);
    p.write("users", "1_setup.sql", &format!("-- ferry:up\n{setup}"));
    p.run(&["forwards", "all"]).expect(0);
    for (i, (header, sql, _)) in cases.iter().enumerate() {
        p.write(
            "users",
            &format!("{}_case.sql", i + 2),
            &format!("{header}\n{sql}\n"),
        );
    }
    let before = p.db.dump();
    let found = findings(&p, &["users"], 0);
    p.db.assert_unchanged(&before, "lint reads the configured database only");
    let mut wrong = Vec::new();
    for (i, (_, sql, expected)) in cases.iter().enumerate() {
        let id = (i + 2).to_string();
        let got: BTreeSet<String> = found.get(&id).cloned().unwrap_or_default();
        let want: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        if got != want {
            wrong.push(format!("{sql}\n  expected {want:?}\n  got      {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(found.len(), cases.len(), "{found:?}");
}

const UP: &str = "-- ferry:up";

#[cfg(feature = "postgres")]
#[test]
fn postgres_cases_from_the_documentation() {
    let setup = "
CREATE TABLE t_big (id int PRIMARY KEY, v int);
CREATE TABLE t_var (id int, s varchar(10));
CREATE TABLE t_add (id int);
CREATE TABLE t_vol (id int);
CREATE TABLE t_clock (id int);
CREATE TABLE t_idx (id int, v int);
CREATE TABLE t_conc (id int, v int);
CREATE TABLE fk_parent (id int PRIMARY KEY);
CREATE TABLE fk_child (id int, pid int);
CREATE TABLE fk_later (id int, pid int);
CREATE TABLE t_drop (id int, c int);
CREATE TABLE t_ren (id int, c int);
CREATE TABLE t_nn (id int, c int);
CREATE TABLE t_held (id int);
INSERT INTO t_big SELECT g, g FROM generate_series(1, 50) g;
INSERT INTO fk_parent SELECT g FROM generate_series(1, 50) g;
INSERT INTO fk_child SELECT g, g FROM generate_series(1, 50) g;
INSERT INTO t_nn SELECT g, g FROM generate_series(1, 50) g;
";
    run_cases(
        Backend::Postgres,
        setup,
        &[
            // "Changing the type of an existing column will normally cause the entire table
            // and its indexes to be rewritten."
            (
                UP,
                "ALTER TABLE t_big ALTER COLUMN v TYPE bigint;",
                &["rewrites table t_big"],
            ),
            // "... increasing the length limit of a varchar column does not require a rewrite".
            (UP, "ALTER TABLE t_var ALTER COLUMN s TYPE varchar(20);", &[]),
            // PostgreSQL 11+: a non-volatile default is stored in the catalog.
            (UP, "ALTER TABLE t_add ADD COLUMN c int DEFAULT 7;", &[]),
            // "... adding a column with a volatile DEFAULT ... will require the entire table
            // and its indexes to be rewritten."
            (
                UP,
                "ALTER TABLE t_vol ADD COLUMN r float8 DEFAULT random();",
                &["rewrites table t_vol"],
            ),
            (
                UP,
                "ALTER TABLE t_clock ADD COLUMN ts timestamptz DEFAULT clock_timestamp();",
                &["rewrites table t_clock"],
            ),
            // CREATE INDEX takes SHARE: "protects a table against concurrent data changes".
            (
                UP,
                "CREATE INDEX t_idx_v ON t_idx (v);",
                &["blocks-writes table t_idx"],
            ),
            // CONCURRENTLY takes SHARE UPDATE EXCLUSIVE, outside a transaction block.
            (
                "-- ferry:up no-transaction",
                "CREATE INDEX CONCURRENTLY t_conc_v ON t_conc (v);",
                &[],
            ),
            // ADD FOREIGN KEY: SHARE ROW EXCLUSIVE on both tables while the rows are checked.
            (
                UP,
                "ALTER TABLE fk_child ADD FOREIGN KEY (pid) REFERENCES fk_parent (id);",
                &["blocks-writes table fk_child", "blocks-writes table fk_parent"],
            ),
            // NOT VALID skips the check: the lock is held for a moment.
            (
                UP,
                "ALTER TABLE fk_later ADD FOREIGN KEY (pid) REFERENCES fk_parent (id) NOT VALID;",
                &[],
            ),
            (
                UP,
                "ALTER TABLE t_drop DROP COLUMN c;",
                &["destructive column t_drop.c"],
            ),
            (
                UP,
                "ALTER TABLE t_ren RENAME COLUMN c TO d;",
                &["destructive column t_ren.c"],
            ),
            // SET NOT NULL scans the table under ACCESS EXCLUSIVE.
            (
                UP,
                "ALTER TABLE t_nn ALTER COLUMN c SET NOT NULL;",
                &["blocks-all table t_nn"],
            ),
            // An instant change is not instant when the lock is held while more runs.
            (
                UP,
                "ALTER TABLE t_held ADD COLUMN c int;\nSELECT pg_sleep(0);",
                &["blocks-all table t_held"],
            ),
            // A table an earlier pending migration created is pre-existing for the next one
            // (PostgreSQL carries the state from one judged migration to the next).
            (
                UP,
                "CREATE TABLE carried (id int PRIMARY KEY, v int, w int);",
                &[],
            ),
            (
                UP,
                "CREATE INDEX carried_v ON carried (v);",
                &["blocks-writes table carried"],
            ),
            (
                UP,
                "ALTER TABLE carried DROP COLUMN w;",
                &["destructive column carried.w"],
            ),
            // Only tables created by the migration itself.
            (
                UP,
                "CREATE TABLE fresh (id int PRIMARY KEY, v int);\nINSERT INTO fresh VALUES (1, 1);\nCREATE INDEX fresh_v ON fresh (v);\nALTER TABLE fresh ALTER COLUMN v TYPE bigint;\nALTER TABLE fresh RENAME COLUMN v TO w;",
                &[],
            ),
        ],
    );
}

/// Table `people` with a row, applied; migration 2 (pending) rewrites or rebuilds it and
/// drops a column; migration 3 (pending) is harmless.
fn history(p: &Project, b: Backend) {
    p.write(
        "users",
        "1_people.sql",
        "-- ferry:up\nCREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(20), age INTEGER);\nINSERT INTO people (id, name, age) VALUES (1, 'a', 30);\n",
    );
    p.run(&["forwards", "all"]).expect(0);
    let risky = match b {
        Backend::Mysql => {
            "ALTER TABLE people MODIFY age BIGINT;\nALTER TABLE people DROP COLUMN name;"
        }
        Backend::Sqlite => "ALTER TABLE people DROP COLUMN name;",
        _ => {
            "ALTER TABLE people ALTER COLUMN age TYPE BIGINT;\nALTER TABLE people DROP COLUMN name;"
        }
    };
    p.write("users", "2_risky.sql", &format!("-- ferry:up\n{risky}\n"));
    p.write(
        "users",
        "3_fine.sql",
        "-- ferry:up\nCREATE TABLE notes (id INTEGER PRIMARY KEY);\n",
    );
}

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
    assert!(name.starts_with("ferry_lint_"), "{url}");
    let quote = if p.db.backend == Backend::Mysql {
        '`'
    } else {
        '"'
    };
    let mut d = p.db.driver();
    let create = format!("CREATE DATABASE {quote}{name}{quote}");
    p.db.rt
        .block_on(d.execute(&create, true))
        .unwrap_or_else(|e| panic!("the scratch database {name} is still there: {e}"));
    let drop = format!("DROP DATABASE {quote}{name}{quote}");
    p.db.rt.block_on(d.execute(&drop, true)).unwrap();
}

fn lint_reads_only_denies_and_accepts(b: Backend) {
    let p = Project::new(b);
    history(&p, b);
    let before = p.db.dump();

    // Table output: one line per migration and per finding; the database named first.
    let r = p.run(&["-v", "lint"]);
    r.expect(0)
        .stdout_has("users 3: ok\n")
        .stdout_has("  destructive column people.name at ")
        .stdout_has("2_risky.sql:");
    assert!(
        r.stderr.starts_with("database: "),
        "the database is named first:\n{}",
        r.stderr
    );
    assert!(
        !r.stdout.contains("users 1:"),
        "applied migrations are not judged"
    );
    assert_scratch_dropped(&p, &r.stderr);
    p.db.assert_unchanged(&before, "lint reads the configured database only");

    // --deny: exit 1 naming the migration and level; a level not found passes.
    let r = p.run(&["lint", "--deny", "destructive"]);
    r.expect(1)
        .stderr_has("denied findings in users 2 (destructive)");
    p.run(&["lint", "--deny", "blocks-writes"]).expect(0);
    // An unknown --deny level is a usage error.
    p.run(&["lint", "--deny", "slow"])
        .expect(2)
        .stderr_has("unknown lint level `slow`");

    // JSON: the shape of SPEC §13.4.
    let r = p.run(&["lint", "--format", "json"]);
    r.expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let migrations = v["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), 2, "{v}");
    assert_eq!(migrations[0]["app_name"], "users");
    assert_eq!(migrations[0]["migration_id"], "2");
    let f = migrations[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["level"] == "destructive")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(f["object"], "column people.name");
    let line = if b == Backend::Sqlite { 2 } else { 3 };
    assert_eq!(f["statement_line"], line, "{f}");
    assert!(f["lock"].is_string() && f["detail"].as_str().unwrap().contains("dropped"));
    assert_eq!(migrations[1]["findings"].as_array().unwrap().len(), 0);

    // `-- ferry:allow` in the file accepts the level for that migration.
    let text = std::fs::read_to_string(p.path("migrations/users/2_risky.sql")).unwrap();
    p.write(
        "users",
        "2_risky.sql",
        &format!("-- ferry:allow destructive, rewrites\n{text}"),
    );
    let found = findings(&p, &["--deny", "destructive,rewrites"], 0);
    assert!(
        found["2"].contains("destructive column people.name (allowed)"),
        "{found:?}"
    );
    p.run(&["lint", "--deny", "destructive"])
        .expect(0)
        .stdout_has("  destructive (allowed) column people.name");
    p.db.assert_unchanged(&before, "lint reads the configured database only");
}

fn lint_all_judges_every_migration_on_an_empty_scratch(b: Backend) {
    let p = Project::new(b);
    history(&p, b);
    // Pending only: 2 and 3.
    let pending = findings(&p, &[], 0);
    assert_eq!(pending.keys().collect::<Vec<_>>(), ["2", "3"]);
    // --all: 1 too, and then on an empty scratch, where people is created by 1.
    let every = findings(&p, &["--all"], 0);
    assert_eq!(every.keys().collect::<Vec<_>>(), ["1", "2", "3"]);
    assert!(every["1"].is_empty(), "{every:?}");
    assert_eq!(every["2"], pending["2"]);
    // One app: blog has no migrations, users' are judged.
    let users = findings(&p, &["--all", "users"], 0);
    assert_eq!(users.len(), 3);
    // Nothing pending after forwards: nothing judged, exit 0.
    p.run(&["forwards", "all"]).expect(0);
    let r = p.run(&["lint"]);
    r.expect(0).stderr_has("no pending migrations to judge");
}

fn lint_refuses_an_unknown_allow_level(b: Backend) {
    let p = Project::new(b);
    p.write(
        "users",
        "1_people.sql",
        "-- ferry:up\n-- ferry:allow rewrites,sluggish\nCREATE TABLE people (id INTEGER PRIMARY KEY);\n",
    );
    let r = p.run(&["lint"]);
    r.expect(2)
        .stderr_has("1_people.sql")
        .stderr_has(":2")
        .stderr_has("unknown lint level `sluggish`");
    // In a pair's `.down.sql` file (lint judges up sections): refused too, naming file:line.
    let p = Project::new(b);
    p.write(
        "users",
        "1_people.up.sql",
        "CREATE TABLE people (id INTEGER PRIMARY KEY);\n",
    );
    p.write(
        "users",
        "1_people.down.sql",
        "DROP TABLE people;\n-- ferry:allow destructive\n",
    );
    p.run(&["lint"])
        .expect(2)
        .stderr_has("1_people.down.sql")
        .stderr_has(":2")
        .stderr_has("not in the .down.sql file");
}

#[test]
fn sqlite_cases_from_the_documentation() {
    let setup = "
CREATE TABLE t_add (id INTEGER PRIMARY KEY);
CREATE TABLE t_rebuild (id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE t_drop (id INTEGER PRIMARY KEY, c INTEGER);
CREATE TABLE t_ren (id INTEGER PRIMARY KEY, c INTEGER);
CREATE TABLE t_idx (id INTEGER PRIMARY KEY, v INTEGER);
INSERT INTO t_rebuild VALUES (1, 'a');
";
    run_cases(
        Backend::Sqlite,
        setup,
        &[
            // ADD COLUMN changes only the schema text ("the content of the table is not touched").
            (UP, "ALTER TABLE t_add ADD COLUMN c INTEGER DEFAULT 3;", &[]),
            // The documented twelve steps of a change ALTER TABLE cannot make: a new table,
            // the rows copied, the old one dropped, the new one renamed.
            (
                UP,
                "CREATE TABLE t_rebuild_new (id INTEGER PRIMARY KEY, v TEXT NOT NULL);\nINSERT INTO t_rebuild_new SELECT id, v FROM t_rebuild;\nDROP TABLE t_rebuild;\nALTER TABLE t_rebuild_new RENAME TO t_rebuild;",
                &["destructive table t_rebuild", "rewrites table t_rebuild"],
            ),
            (
                UP,
                "ALTER TABLE t_drop DROP COLUMN c;",
                &["destructive column t_drop.c"],
            ),
            (
                UP,
                "ALTER TABLE t_ren RENAME COLUMN c TO d;",
                &["destructive column t_ren.c"],
            ),
            (UP, "CREATE INDEX t_idx_v ON t_idx (v);", &[]),
            (
                UP,
                "CREATE TABLE fresh (id INTEGER PRIMARY KEY, v INTEGER);\nCREATE INDEX fresh_v ON fresh (v);\nALTER TABLE fresh RENAME TO fresher;",
                &[],
            ),
        ],
    );
}

#[cfg(feature = "mysql")]
#[test]
fn mariadb_cases_from_the_documentation() {
    let setup = "
CREATE TABLE t_add (id INT PRIMARY KEY, v INT) ENGINE=InnoDB;
CREATE TABLE t_wide (id INT PRIMARY KEY, v INT) ENGINE=InnoDB;
CREATE TABLE t_idx (id INT PRIMARY KEY, v INT) ENGINE=InnoDB;
CREATE TABLE t_drop (id INT PRIMARY KEY, c INT) ENGINE=InnoDB;
CREATE TABLE t_ren (id INT PRIMARY KEY, c INT) ENGINE=InnoDB;
CREATE TABLE t_note (id INT PRIMARY KEY, v INT) ENGINE=InnoDB;
CREATE TABLE t_moved (id INT PRIMARY KEY) ENGINE=InnoDB;
CREATE TABLE t_gone (id INT PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO t_wide VALUES (1, 1), (2, 2);
INSERT INTO t_idx VALUES (1, 1), (2, 2);
";
    run_cases(
        Backend::Mysql,
        setup,
        &[
            // MariaDB 10.3+ / MySQL 8.0: ADD COLUMN (last) is instant.
            (UP, "ALTER TABLE t_add ADD COLUMN c INT;", &[]),
            // A wider integer changes the row format: neither INSTANT nor INPLACE.
            (
                UP,
                "ALTER TABLE t_wide MODIFY v BIGINT;",
                &["rewrites table t_wide"],
            ),
            // The clause is appended on a line of its own, after a trailing comment.
            (
                UP,
                "ALTER TABLE t_note MODIFY v BIGINT -- widen it\n;",
                &["rewrites table t_note"],
            ),
            // A secondary index is built INPLACE with LOCK=NONE: writes go on.
            (UP, "CREATE INDEX t_idx_v ON t_idx (v);", &[]),
            (
                UP,
                "ALTER TABLE t_drop DROP COLUMN c;",
                &["destructive column t_drop.c"],
            ),
            (
                UP,
                "ALTER TABLE t_ren RENAME COLUMN c TO d;",
                &["destructive column t_ren.c"],
            ),
            (
                UP,
                "CREATE TABLE fresh (id INT PRIMARY KEY, v INT);\nALTER TABLE fresh MODIFY v BIGINT;",
                &[],
            ),
            // A table renamed or dropped: read whole after the statement, not by its name.
            (
                UP,
                "ALTER TABLE t_moved RENAME TO t_moved_too;",
                &["destructive table t_moved"],
            ),
            (UP, "DROP TABLE t_gone;", &["destructive table t_gone"]),
        ],
    );
}

fn lint_names_a_failing_statement(b: Backend) {
    let p = Project::new(b);
    p.write(
        "users",
        "1_people.sql",
        "-- ferry:up\nCREATE TABLE people (id INTEGER PRIMARY KEY);\nALTER TABLE no_such_table ADD COLUMN x INTEGER;\nCREATE TABLE after_it (id INTEGER PRIMARY KEY);\n",
    );
    p.write(
        "users",
        "2_later.sql",
        "-- ferry:up\nCREATE TABLE later (id INTEGER PRIMARY KEY);\n",
    );
    let before = p.db.dump();
    let r = p.run(&["lint"]);
    r.expect(1)
        .stdout_has("users 1: failed\n")
        .stderr_has("1_people.sql:3");
    // The statement after the failing one is not blamed (PostgreSQL was sent it already,
    // and refused it in the failed transaction).
    assert!(!r.stderr.contains("1_people.sql:4"), "{}", r.stderr);
    // The run stops there: the later migration is not judged.
    assert!(!r.stdout.contains("users 2"), "{}", r.stdout);
    p.db.assert_unchanged(&before, "lint reads the configured database only");
}
