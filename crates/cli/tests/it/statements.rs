//! Statement-level progress of the dirty protocol (SPEC §14, issue 23): where the first
//! statement fails nothing is dirty; a later failure records how many statements ran;
//! `resolve --resume` runs the rest when the statements that ran are unchanged; tracking tables
//! made before the progress columns are upgraded in place by the first command that writes.

use crate::support::{Backend, Project};

/// `check --format json` as parsed JSON rows.
fn check_json(p: &Project) -> Vec<serde_json::Value> {
    let r = p.run(&["check", "users", "--format", "json"]);
    r.expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v["migrations"].as_array().unwrap().clone()
}

/// Run `sql` on the project's database outside ferry.
fn raw(p: &Project, sql: &str) -> Result<(), String> {
    let mut d = p.db.driver();
    p.db.rt
        .block_on(d.execute(sql, true))
        .map_err(|e| e.to_string())
}

#[cfg(feature = "mysql")]
mod mysql {
    use super::*;
    use crate::support::v;

    const THREE: &str = "-- ferry:up\nCREATE TABLE s_a (id INT);\n\nCREATE TABLE s_b (id INT);\nCREATE TABLE s_c (id INT);\n-- ferry:down\nDROP TABLE s_c;\nDROP TABLE s_b;\nDROP TABLE s_a;\n";

    /// A typo in the only statement: nothing took effect, so no dirty row (the issue's
    /// `VARCHR` case), and the fixed file runs.
    #[test]
    fn first_statement_failure_is_not_dirty() {
        let p = Project::new(Backend::Mysql);
        let path = p.write(
            "users",
            "1_typo.sql",
            "-- ferry:up\nCREATE TABLE t1 (name VARCHR(10));\n-- ferry:down\nDROP TABLE t1;\n",
        );
        let r = p.run(&["forwards", "users"]);
        r.expect(1).stderr_has(&format!("{}:2", path.display()));
        assert!(!r.stderr.contains("dirty"), "{}", r.stderr);
        assert_eq!(p.ids("users", "pending"), v(&["1"]));
        assert_eq!(p.ids("users", "dirty"), Vec::<String>::new());
        // Also the first of several statements.
        p.write(
            "users",
            "1_typo.sql",
            &THREE.replace("CREATE TABLE s_a (id INT)", "CREATE TABLE s_a (id INTT)"),
        );
        p.run(&["forwards", "users"]).expect(1);
        assert_eq!(p.ids("users", "pending"), v(&["1"]));
        p.write("users", "1_typo.sql", THREE);
        p.run(&["forwards", "users"]).expect(0);
        assert_eq!(p.ids("users", "applied"), v(&["1"]));
    }

    /// Statement 2 of 3 fails: dirty with 1 done, in the error, `check` and its JSON; the
    /// fixed file resumes at statement 2 (statement 1 is not run again: it would fail).
    #[test]
    fn failure_at_statement_2_then_resume() {
        let p = Project::new(Backend::Mysql);
        let bad = THREE.replace("CREATE TABLE s_b (id INT)", "CREATE TABLE s_b (id INTT)");
        let path = p.write("users", "1_three.sql", &bad);
        p.run(&["forwards", "users"])
            .expect(1)
            .stderr_has(&format!(
                "dirty: 1 of 3 statements ran; failed at {}:4",
                path.display()
            ))
            .stderr_has("ferry resolve users 1 --resume");
        assert_eq!(p.ids("users", "dirty"), v(&["1"]));
        let rows = check_json(&p);
        assert_eq!(rows[0]["statements_done"], 1);
        assert_eq!(rows[0]["statements_total"], 3);
        p.run(&["check", "users"]).expect(0).stdout_has(&format!(
            "users 1: dirty: 1 of 3 statements ran; failed at {}:4",
            path.display()
        ));
        p.run(&["check", "users", "-v"])
            .expect(0)
            .stdout_has(&format!(
            "statement 2 ({}:4) may have run: a crash between a statement and its progress update",
            path.display()
        ));
        // Still broken: the resume fails again at statement 2, still dirty with 1 done.
        p.run(&["resolve", "users", "1", "--resume"])
            .expect(1)
            .stderr_has("dirty: 1 of 3 statements ran");
        p.write("users", "1_three.sql", THREE);
        p.run(&["resolve", "users", "1", "--resume"])
            .expect(0)
            .stderr_has("ran statements 2..3");
        assert_eq!(p.ids("users", "applied"), v(&["1"]));
        let rows = check_json(&p);
        assert_eq!(rows[0]["status"], "applied");
        assert_eq!(rows[0]["statements_done"], serde_json::Value::Null);
        // Every table is there once: backwards drops all three.
        p.run(&["backwards", "users", "-y"]).expect(0);
        p.run(&["forwards", "users"]).expect(0);
    }

    /// The last statement fails: 2 of 3 done. Editing a statement that ran refuses the
    /// resume, naming it; a resumed migration that fails again keeps its progress.
    #[test]
    fn failure_at_last_statement_refusal_and_resume() {
        let p = Project::new(Backend::Mysql);
        let bad = THREE.replace("CREATE TABLE s_c (id INT)", "CREATE TABLE s_c (id INTT)");
        let path = p.write("users", "1_three.sql", &bad);
        p.run(&["forwards", "users"]).expect(1).stderr_has(&format!(
            "dirty: 2 of 3 statements ran; failed at {}:5",
            path.display()
        ));
        // Statement 1 edited (and 3 fixed): refused, naming statement 1, nothing run.
        p.write(
            "users",
            "1_three.sql",
            &THREE.replace("s_a (id INT)", "s_a (id BIGINT)"),
        );
        p.run(&["resolve", "users", "1", "--resume"])
            .expect(1)
            .stderr_has(&format!(
                "statement 1 ({}:2) changed since it ran",
                path.display()
            ));
        // Statement 2 edited: refused, naming statement 2.
        p.write(
            "users",
            "1_three.sql",
            &THREE.replace("s_b (id INT)", "s_b (id BIGINT)"),
        );
        p.run(&["resolve", "users", "1", "--resume"])
            .expect(1)
            .stderr_has(&format!(
                "statement 2 ({}:4) changed since it ran",
                path.display()
            ));
        assert_eq!(p.ids("users", "dirty"), v(&["1"]));
        let rows = check_json(&p);
        assert_eq!(rows[0]["statements_done"], 2);
        // Fixed: statement 3 runs, the row is clean and records the file as it is now.
        p.write("users", "1_three.sql", THREE);
        p.run(&["resolve", "users", "1", "--resume"])
            .expect(0)
            .stderr_has("ran statements 3..3");
        assert_eq!(p.ids("users", "applied"), v(&["1"]));
    }

    /// A `SET` of one statement holds for the next statements of the same section (the
    /// session is reset after the migration, not between its statements).
    #[test]
    fn session_state_holds_across_counted_statements() {
        let p = Project::new(Backend::Mysql);
        p.write(
            "users",
            "1_fk.sql",
            "-- ferry:up\nSET FOREIGN_KEY_CHECKS = 0;\nCREATE TABLE child (id INT, parent_id INT, FOREIGN KEY (parent_id) REFERENCES parent (id));\nCREATE TABLE parent (id INT PRIMARY KEY);\n-- ferry:down\nDROP TABLE child;\nDROP TABLE parent;\n",
        );
        p.run(&["forwards", "users"]).expect(0);
        assert_eq!(p.ids("users", "applied"), v(&["1"]));
    }

    /// Statements the server might read otherwise than ferry split them (a comment inside, a
    /// backslash) end their batch: a failure after them is still placed exactly, and the
    /// resume starts at the statement that failed.
    #[test]
    fn statements_that_end_their_batch_keep_the_count() {
        let p = Project::new(Backend::Mysql);
        let good = "-- ferry:up\nCREATE TABLE s_a (id INT -- the key\n);\nINSERT INTO s_a /* one */ VALUES (1);\nCREATE TABLE s_b (v VARCHAR(10) DEFAULT 'a\\\\b');\nCREATE TABLE s_c (id INT);\nCREATE TABLE s_d (id INT);\n-- ferry:down\nDROP TABLE s_d;\nDROP TABLE s_c;\nDROP TABLE s_b;\nDROP TABLE s_a;\n";
        let path = p.write(
            "users",
            "1_mixed.sql",
            &good.replace("s_c (id INT)", "s_c (id INTT)"),
        );
        p.run(&["forwards", "users"]).expect(1).stderr_has(&format!(
            "dirty: 3 of 5 statements ran; failed at {}:6",
            path.display()
        ));
        assert_eq!(check_json(&p)[0]["statements_done"], 3);
        p.write("users", "1_mixed.sql", good);
        p.run(&["resolve", "users", "1", "--resume"])
            .expect(0)
            .stderr_has("ran statements 4..5");
        // Each statement ran once: the backwards drops every table, the forwards makes them.
        p.run(&["backwards", "users", "-y"]).expect(0);
        p.run(&["forwards", "users"]).expect(0);
    }

    /// A section longer than one batch (its progress texts grow with the statements done):
    /// statement 1,001 of 1,202 fails, 1,000 are recorded, and the resume runs the rest once
    /// each (the last statement fails, inserting a duplicate, unless the table holds exactly
    /// 1,200 rows).
    #[test]
    fn long_section_spans_batches() {
        let p = Project::new(Backend::Mysql);
        let file = |failing: bool| {
            let mut text = String::from("-- ferry:up\nCREATE TABLE big (id INT PRIMARY KEY);\n");
            for i in 1..=1200 {
                let id = if failing && i == 1000 { 1 } else { i };
                text.push_str(&format!("INSERT INTO big VALUES ({id});\n"));
            }
            text.push_str(
                "INSERT INTO big SELECT 1 FROM big HAVING COUNT(*) <> 1200;\n\
                 -- ferry:down\nDROP TABLE big;\n",
            );
            text
        };
        let path = p.write("users", "1_big.sql", &file(true));
        p.run(&["forwards", "users"]).expect(1).stderr_has(&format!(
            "dirty: 1000 of 1202 statements ran; failed at {}:1002",
            path.display()
        ));
        assert_eq!(check_json(&p)[0]["statements_done"], 1000);
        p.write("users", "1_big.sql", &file(false));
        p.run(&["resolve", "users", "1", "--resume"])
            .expect(0)
            .stderr_has("ran statements 1001..1202");
        assert_eq!(p.ids("users", "applied"), v(&["1"]));
    }

    /// `--resume` on a clean or unknown migration, and together with `--applied`.
    #[test]
    fn resume_refusals() {
        let p = Project::new(Backend::Mysql);
        p.write("users", "1_three.sql", THREE);
        p.run(&["forwards", "users"]).expect(0);
        p.run(&["resolve", "users", "1", "--resume"])
            .expect(1)
            .stderr_has("is not dirty");
        p.run(&["resolve", "users", "1", "--resume", "--applied"])
            .expect(2);
    }
}

/// The tracking table as the previous release created it, per backend (copied from its
/// `CREATE TABLE`).
fn old_ddl(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "CREATE TABLE IF NOT EXISTS \"ferry_migrations\" (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                app_name TEXT NOT NULL,
                migration_id TEXT NOT NULL,
                description TEXT NOT NULL,
                checksum TEXT NOT NULL,
                down_sql TEXT NULL,
                applied_at TEXT NOT NULL,
                duration_ms INTEGER NOT NULL,
                dirty INTEGER NOT NULL DEFAULT 0,
                UNIQUE (app_name, migration_id)
            )"
        }
        Backend::Postgres | Backend::PgBouncer => {
            "CREATE TABLE IF NOT EXISTS \"ferry_migrations\" (
             id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
             app_name TEXT NOT NULL,
             migration_id TEXT NOT NULL,
             description TEXT NOT NULL,
             checksum TEXT NOT NULL,
             down_sql TEXT NULL,
             applied_at TIMESTAMPTZ NOT NULL,
             duration_ms BIGINT NOT NULL,
             dirty BOOLEAN NOT NULL DEFAULT FALSE,
             UNIQUE (app_name, migration_id)\n)"
        }
        Backend::Mysql => {
            "CREATE TABLE IF NOT EXISTS `ferry_migrations` (\
             id BIGINT AUTO_INCREMENT PRIMARY KEY, \
             app_name VARCHAR(255) NOT NULL, \
             migration_id VARCHAR(255) NOT NULL, \
             description TEXT NOT NULL, \
             checksum CHAR(64) NOT NULL, \
             down_sql LONGTEXT NULL, \
             applied_at DATETIME(6) NOT NULL, \
             duration_ms BIGINT NOT NULL, \
             dirty BOOLEAN NOT NULL DEFAULT FALSE, \
             UNIQUE KEY (app_name, migration_id)\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        }
    }
}

/// A tracking table of the previous release, with a row applied by it: `check` reads it
/// without changing it; the first `forwards` adds the progress columns (once: a second run
/// changes nothing) and keeps the row.
fn old_tracking_table_is_upgraded(backend: Backend) {
    let p = Project::new(backend);
    p.table_migration("users", "1", "up_a");
    p.run(&["forwards", "users"]).expect(0);
    // Replace the table with the old one holding the same row.
    raw(&p, "DROP TABLE ferry_migrations").unwrap();
    raw(&p, old_ddl(backend)).unwrap();
    raw(
        &p,
        "INSERT INTO ferry_migrations (app_name, migration_id, description, checksum, down_sql, applied_at, duration_ms, dirty) \
         SELECT 'users', '1', 'old', 'x', NULL, CURRENT_TIMESTAMP, 1, FALSE",
    )
    .unwrap();
    let probe =
        "UPDATE ferry_migrations SET statements_done = NULL, progress_checksum = NULL WHERE 1 = 0";
    assert!(
        raw(&p, probe).is_err(),
        "the old table has no progress columns"
    );
    let rows = check_json(&p);
    assert_eq!(rows[0]["status"], "changed");
    assert_eq!(rows[0]["statements_done"], serde_json::Value::Null);
    assert!(raw(&p, probe).is_err(), "check changes nothing");
    p.table_migration("users", "2", "up_b");
    p.run(&["forwards", "users"]).expect(0);
    raw(&p, probe).expect("forwards added the progress columns");
    p.table_migration("users", "3", "up_c");
    p.run(&["forwards", "users"]).expect(0);
    let rows = check_json(&p);
    let ids: Vec<_> = rows.iter().map(|r| r["migration_id"].clone()).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(rows[1]["status"], "applied");
}

#[cfg(feature = "sqlite")]
#[test]
fn old_tracking_table_is_upgraded_sqlite() {
    old_tracking_table_is_upgraded(Backend::Sqlite);
}

#[cfg(feature = "postgres")]
#[test]
fn old_tracking_table_is_upgraded_postgres() {
    old_tracking_table_is_upgraded(Backend::Postgres);
}

#[cfg(feature = "postgres")]
#[test]
fn old_tracking_table_is_upgraded_pgbouncer() {
    old_tracking_table_is_upgraded(Backend::PgBouncer);
}

#[cfg(feature = "mysql")]
#[test]
fn old_tracking_table_is_upgraded_mysql() {
    old_tracking_table_is_upgraded(Backend::Mysql);
}

/// A `no-transaction` section counts its statements on every backend (SPEC §14): a failing
/// first statement leaves no dirty row; statement 2 or n failing leaves the count; an edit of
/// a statement that ran refuses `--resume`; the fixed file resumes where it stopped.
fn no_transaction_section_counts_statements(backend: Backend) {
    let p = Project::new(backend);
    let good = "-- ferry:up no-transaction\nCREATE TABLE nt_a (id INT);\nCREATE TABLE nt_b (id INT);\nCREATE TABLE nt_c (id INT);\n-- ferry:down\nDROP TABLE nt_c;\nDROP TABLE nt_b;\nDROP TABLE nt_a;\n";
    let broken = |table: &str| {
        good.replace(
            &format!("CREATE TABLE {table} (id INT)"),
            "INSERT INTO no_such_table VALUES (1)",
        )
    };
    // Statement 1: failed, not dirty.
    let path = p.write("users", "1_nt.sql", &broken("nt_a"));
    let r = p.run(&["forwards", "users"]);
    r.expect(1);
    assert!(!r.stderr.contains("dirty"), "{}", r.stderr);
    assert_eq!(p.ids("users", "pending"), ["1"]);
    // Statement 2 of 3.
    p.write("users", "1_nt.sql", &broken("nt_b"));
    p.run(&["forwards", "users"]).expect(1).stderr_has(&format!(
        "dirty: 1 of 3 statements ran; failed at {}:3",
        path.display()
    ));
    let rows = check_json(&p);
    assert_eq!(rows[0]["statements_done"], 1);
    assert_eq!(rows[0]["statements_total"], 3);
    // Statement 1 edited: refused.
    p.write(
        "users",
        "1_nt.sql",
        &good.replace("nt_a (id INT)", "nt_a (id BIGINT)"),
    );
    p.run(&["resolve", "users", "1", "--resume"])
        .expect(1)
        .stderr_has(&format!(
            "statement 1 ({}:2) changed since it ran",
            path.display()
        ));
    // Statement 3 broken now: the resume runs 2, fails at 3 (n), 2 of 3 done.
    p.write("users", "1_nt.sql", &broken("nt_c"));
    p.run(&["resolve", "users", "1", "--resume"])
        .expect(1)
        .stderr_has(&format!(
            "dirty: 2 of 3 statements ran; failed at {}:4",
            path.display()
        ));
    assert_eq!(check_json(&p)[0]["statements_done"], 2);
    p.write("users", "1_nt.sql", good);
    p.run(&["resolve", "users", "1", "--resume"])
        .expect(0)
        .stderr_has("ran statements 3..3");
    assert_eq!(p.ids("users", "applied"), ["1"]);
    // Each table exists once: the down section drops all three, and up runs again.
    p.run(&["backwards", "users", "-y"]).expect(0);
    p.run(&["forwards", "users"]).expect(0);
}

#[cfg(feature = "sqlite")]
#[test]
fn no_transaction_section_counts_statements_sqlite() {
    no_transaction_section_counts_statements(Backend::Sqlite);
}

#[cfg(feature = "postgres")]
#[test]
fn no_transaction_section_counts_statements_postgres() {
    no_transaction_section_counts_statements(Backend::Postgres);
}

#[cfg(feature = "postgres")]
#[test]
fn no_transaction_section_counts_statements_pgbouncer() {
    no_transaction_section_counts_statements(Backend::PgBouncer);
}

#[cfg(feature = "mysql")]
#[test]
fn no_transaction_section_counts_statements_mysql() {
    no_transaction_section_counts_statements(Backend::Mysql);
}

/// A counted section of two or more statements writes the next one's dirty row with its last
/// progress count, and that one clears the row before it with its first (one commit per
/// two-statement migration): a failure puts both back. Migration 2 failing at its last
/// statement leaves it dirty and 3 pending, not dirty; migration 5 failing at its first leaves
/// 4 applied (its row cleared all the same) and 5 and 6 pending.
fn rows_written_ahead_are_taken_back(backend: Backend) {
    let p = Project::new(backend);
    let two = |n: u32, second: &str| {
        format!("-- ferry:up no-transaction\nCREATE TABLE w{n}_a (id INT);\n{second};\n-- ferry:down\nDROP TABLE w{n}_b;\nDROP TABLE w{n}_a;\n")
    };
    let good = |n: u32| two(n, &format!("CREATE TABLE w{n}_b (id INT)"));
    let broken = "INSERT INTO no_such_table VALUES (1)";
    p.write("users", "1_one.sql", &good(1));
    let path = p.write("users", "2_two.sql", &two(2, broken));
    p.write("users", "3_three.sql", &good(3));
    p.run(&["forwards", "users"]).expect(1).stderr_has(&format!(
        "dirty: 1 of 2 statements ran; failed at {}:3",
        path.display()
    ));
    assert_eq!(p.ids("users", "applied"), ["1"]);
    assert_eq!(p.ids("users", "dirty"), ["2"]);
    assert_eq!(p.ids("users", "pending"), ["3"]);
    p.write("users", "2_two.sql", &good(2));
    p.run(&["resolve", "users", "2", "--resume"]).expect(0);
    p.run(&["forwards", "users"]).expect(0);
    assert_eq!(p.ids("users", "applied"), ["1", "2", "3"]);

    p.write("users", "4_four.sql", &good(4));
    let five = good(5).replace("CREATE TABLE w5_a (id INT)", broken);
    p.write("users", "5_five.sql", &five);
    p.write("users", "6_six.sql", &good(6));
    let r = p.run(&["forwards", "users"]);
    r.expect(1);
    assert!(!r.stderr.contains("dirty"), "{}", r.stderr);
    assert_eq!(p.ids("users", "applied"), ["1", "2", "3", "4"]);
    assert_eq!(p.ids("users", "pending"), ["5", "6"]);
    assert_eq!(p.ids("users", "dirty"), Vec::<String>::new());
    p.write("users", "5_five.sql", &good(5));
    p.run(&["forwards", "users"]).expect(0);
    // Each table exists once: the down sections drop them all, and up makes them again.
    p.run(&["backwards", "users", "all", "-y"]).expect(0);
    p.run(&["forwards", "users"]).expect(0);
    assert_eq!(p.ids("users", "applied"), ["1", "2", "3", "4", "5", "6"]);
}

#[cfg(feature = "sqlite")]
#[test]
fn rows_written_ahead_are_taken_back_sqlite() {
    rows_written_ahead_are_taken_back(Backend::Sqlite);
}

#[cfg(feature = "postgres")]
#[test]
fn rows_written_ahead_are_taken_back_postgres() {
    rows_written_ahead_are_taken_back(Backend::Postgres);
}

#[cfg(feature = "postgres")]
#[test]
fn rows_written_ahead_are_taken_back_pgbouncer() {
    rows_written_ahead_are_taken_back(Backend::PgBouncer);
}

#[cfg(feature = "mysql")]
#[test]
fn rows_written_ahead_are_taken_back_mysql() {
    rows_written_ahead_are_taken_back(Backend::Mysql);
}

/// A down section under the dirty protocol counts its statements like an up section: its
/// first statement failing leaves the migration applied and not dirty; statement 2 failing
/// leaves it dirty with `1 of 3 statements of its down section ran`, in the error, `check`
/// and its JSON (`statements_of: "down"`); the refusal of the next run names `--resume`,
/// which (after fixing statement 2) runs statements 2..3 of the down section and deletes the
/// row. MySQL/MariaDB: plain DDL; PostgreSQL and SQLite: a `no-transaction` down section.
fn down_section_counts_statements(backend: Backend) {
    let p = Project::new(backend);
    let down = if backend == Backend::Mysql {
        "-- ferry:down"
    } else {
        "-- ferry:down no-transaction"
    };
    let good = format!("-- ferry:up\nCREATE TABLE nd_a (id INT);\nCREATE TABLE nd_b (id INT);\nCREATE TABLE nd_c (id INT);\n{down}\nDROP TABLE nd_c;\nDROP TABLE nd_b;\nDROP TABLE nd_a;\n");
    let broken =
        |table: &str| good.replace(&format!("DROP TABLE {table}"), "DROP TABLE nd_nothing");
    let path = p.write("users", "1_nd.sql", &good);
    p.run(&["forwards", "users"]).expect(0);
    // Statement 1 of the down section fails: nothing took effect, still applied, not dirty.
    p.write("users", "1_nd.sql", &broken("nd_c"));
    let r = p.run(&["backwards", "users", "-y"]);
    r.expect(1).stderr_has(&format!("{}:6", path.display()));
    assert!(!r.stderr.contains("dirty"), "{}", r.stderr);
    assert_eq!(p.ids("users", "applied"), ["1"]);
    assert_eq!(
        check_json(&p)[0]["statements_done"],
        serde_json::Value::Null
    );
    // Statement 2 fails: dirty, 1 of 3 of the down section done.
    p.write("users", "1_nd.sql", &broken("nd_b"));
    p.run(&["backwards", "users", "-y"])
        .expect(1)
        .stderr_has(&format!(
            "dirty: 1 of 3 statements of its down section ran; failed at {}:7",
            path.display()
        ))
        .stderr_has("ferry resolve users 1 --resume");
    assert_eq!(p.ids("users", "dirty"), ["1"]);
    let rows = check_json(&p);
    assert_eq!(rows[0]["statements_done"], 1);
    assert_eq!(rows[0]["statements_total"], 3);
    assert_eq!(rows[0]["statements_of"], "down");
    p.run(&["check", "users", "-v"])
        .expect(0)
        .stdout_has(&format!(
            "users 1: dirty: 1 of 3 statements of its down section ran; failed at {}:7",
            path.display()
        ))
        .stdout_has("statement 2 of the down section");
    // Both directions are refused, naming --resume.
    for command in ["forwards", "backwards"] {
        p.run(&[command, "users", "-y"])
            .expect(1)
            .stderr_has("1 statement(s) of its down section ran")
            .stderr_has("ferry resolve users 1 --resume");
    }
    // Still broken: the resume fails at statement 2 again, still 1 done.
    p.run(&["resolve", "users", "1", "--resume"])
        .expect(1)
        .stderr_has("dirty: 1 of 3 statements of its down section ran");
    // Statement 1 of the down section edited: refused, naming it.
    p.write(
        "users",
        "1_nd.sql",
        &good.replace("DROP TABLE nd_c;", "DROP TABLE IF EXISTS nd_c;"),
    );
    p.run(&["resolve", "users", "1", "--resume"])
        .expect(1)
        .stderr_has(&format!(
            "statement 1 ({}:6) of its down section changed since it ran",
            path.display()
        ));
    p.write("users", "1_nd.sql", &good);
    p.run(&["resolve", "users", "1", "--resume"])
        .expect(0)
        .stderr_has("ran statements 2..3 of its down section; it is reverted");
    assert_eq!(p.ids("users", "pending"), ["1"]);
    // Every table was dropped exactly once: the up section runs again.
    p.run(&["forwards", "users"]).expect(0);
    assert_eq!(p.ids("users", "applied"), ["1"]);
}

#[cfg(feature = "sqlite")]
#[test]
fn down_section_counts_statements_sqlite() {
    down_section_counts_statements(Backend::Sqlite);
}

#[cfg(feature = "postgres")]
#[test]
fn down_section_counts_statements_postgres() {
    down_section_counts_statements(Backend::Postgres);
}

#[cfg(feature = "mysql")]
#[test]
fn down_section_counts_statements_mysql() {
    down_section_counts_statements(Backend::Mysql);
}
