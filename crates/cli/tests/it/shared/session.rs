//! The session state of one migration (or verify step) does not carry into the next, on every
//! backend.

use crate::support::{Backend, Project};

use super::CASCADE;

backends!(
    session_state_does_not_carry_into_the_next_migration,
    verify_steps_start_from_the_session_state_of_the_run,
);

/// Each migration starts from the session state the run's connection began with (SPEC §7):
/// the first migration changes the session (PostgreSQL: `search_path`, a temporary table
/// shadowing a real one, in a transaction and in a `no-transaction` section; MySQL:
/// `sql_mode`, `FOREIGN_KEY_CHECKS`, `time_zone`; SQLite: `foreign_keys` off and
/// `legacy_alter_table` on, outside a transaction), the later ones would fail or build another
/// schema if that carried over. One run gives the schema that one run per migration gives.
fn session_state_does_not_carry_into_the_next_migration(b: Backend) {
    let p = Project::new(b);
    let (first, second, third) = match b {
        Backend::Postgres | Backend::PgBouncer => (
            "-- ferry:up\nCREATE SCHEMA other;\nCREATE TABLE shadow (id INT);\nSET search_path TO other;\nCREATE TEMP TABLE shadow (id INT, extra INT);\n-- ferry:down\nDROP TABLE public.shadow;\nDROP SCHEMA other;\n",
            "-- ferry:up no-transaction\nCREATE TABLE t2 (id INT);\nSET search_path TO other;\n-- ferry:down no-transaction\nDROP TABLE public.t2;\n",
            "-- ferry:up\nCREATE TABLE t3 (id INT);\nCREATE VIEW v AS SELECT * FROM shadow;\n-- ferry:down\nDROP VIEW public.v;\nDROP TABLE public.t3;\n",
        ),
        Backend::Mysql => (
            "-- ferry:up\nSET sql_mode = 'ANSI_QUOTES';\nSET FOREIGN_KEY_CHECKS = 0;\nSET time_zone = '+05:00';\nCREATE TABLE q (s VARCHAR(5));\n-- ferry:down\nDROP TABLE q;\n",
            // DML only: in a transaction with its row. Under ANSI_QUOTES "ok" is a column.
            "-- ferry:up\nINSERT INTO q VALUES (\"ok\");\n-- ferry:down\nDELETE FROM q;\n",
            "-- ferry:up\nCREATE TABLE t3 (id INT PRIMARY KEY);\n-- ferry:down\nDROP TABLE t3;\n",
        ),
        Backend::Sqlite => (
            "-- ferry:up no-transaction\nPRAGMA foreign_keys = OFF;\nPRAGMA legacy_alter_table = ON;\nCREATE TABLE sp (id INTEGER PRIMARY KEY);\n-- ferry:down no-transaction\nDROP TABLE sp;\n",
            CASCADE,
            // Without legacy_alter_table, the rename rewrites the view.
            "-- ferry:up\nCREATE TABLE la (id INTEGER);\nCREATE VIEW lav AS SELECT id FROM la;\nALTER TABLE la RENAME TO lb;\n-- ferry:down\nDROP VIEW lav;\nDROP TABLE lb;\n",
        ),
    };
    p.write("users", "1_change_the_session.sql", first);
    p.write("users", "2_second.sql", second);
    p.write("users", "3_third.sql", third);
    p.run(&["forwards", "all"]).expect(0);
    let snapshot = || {
        let mut d = p.db.driver();
        p.db.rt.block_on(d.snapshot()).unwrap()
    };
    let one_run = snapshot();
    p.run(&["backwards", "users", "all", "-y"]).expect(0);
    for id in ["1", "2", "3"] {
        p.run(&["forwards", "users", id]).expect(0);
    }
    assert_eq!(one_run, snapshot(), "one run against one run per migration");
    if matches!(b, Backend::Postgres | Backend::PgBouncer) {
        // In the connection's own schema: neither in `other` nor temporary.
        for (kind, name) in [("table", "t2"), ("table", "t3"), ("view", "v")] {
            assert!(
                one_run.get(kind, name).is_some(),
                "{kind} {name}: {one_run:?}"
            );
        }
    }
}

/// Each step of `verify` starts from the session state the run began with, also after a
/// failure (SPEC §7): a first migration changes the session (PostgreSQL `search_path`;
/// MariaDB `FOREIGN_KEY_CHECKS = 0` before its second up fails; SQLite `foreign_keys` outside
/// a transaction), and the second migration is judged as it would be alone.
fn verify_steps_start_from_the_session_state_of_the_run(b: Backend) {
    let p = Project::new(b);
    let (first, second, verdicts) = match b {
        Backend::Postgres | Backend::PgBouncer => (
            "-- ferry:up\nCREATE SCHEMA vs;\nSET search_path TO vs;\n-- ferry:down\nDROP SCHEMA vs CASCADE;\n",
            // In `vs`, the down would find no `public.vt`.
            "-- ferry:up\nCREATE TABLE vt (id INT);\n-- ferry:down\nDROP TABLE public.vt;\n",
            ["reversible", "reversible"],
        ),
        Backend::Mysql => (
            // The down leaves the table: not-reversible, and the up run again to bring the
            // schema forward fails after turning the checks off.
            "-- ferry:up\nSET FOREIGN_KEY_CHECKS = 0;\nCREATE TABLE vp (id INT PRIMARY KEY);\n-- ferry:down\nSELECT 1;\n",
            // With the checks on, dropping the referenced table first fails.
            "-- ferry:up\nCREATE TABLE vparent (id INT PRIMARY KEY);\nCREATE TABLE vchild (id INT PRIMARY KEY, p INT, CONSTRAINT vchild_p FOREIGN KEY (p) REFERENCES vparent (id));\n-- ferry:down\nDROP TABLE vparent;\nDROP TABLE vchild;\n",
            ["not-reversible", "not-reversible"],
        ),
        Backend::Sqlite => (
            "-- ferry:up no-transaction\nPRAGMA foreign_keys = OFF;\nCREATE TABLE sp (id INTEGER PRIMARY KEY);\n-- ferry:down no-transaction\nDROP TABLE sp;\n",
            CASCADE,
            ["reversible", "reversible"],
        ),
    };
    p.write("users", "1_change_the_session.sql", first);
    p.write("users", "2_second.sql", second);
    let r = p.run(&["verify", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let found: Vec<&str> = v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(found, verdicts, "{v}");
    if b == Backend::Mysql {
        r.expect(1);
        let error = v["migrations"][1]["differences"][0]["after"]
            .as_str()
            .unwrap();
        assert!(error.contains("foreign key"), "{error}");
    } else {
        r.expect(0);
    }
}
