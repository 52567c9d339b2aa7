//! A fleet reports how far a dirty migration got on each target (SPEC §11, §14): three
//! databases, one of which already holds the table of the migration's second statement, so
//! that target is left dirty with one of three statements done. `forwards --fleet` and
//! `check --fleet` say so per target, in the table and in the JSON lines; the next fleet run
//! is refused there with `--resume` in its message, and resuming that target ends the fleet
//! migrated. MySQL/MariaDB counts the statements of DDL migrations; PostgreSQL and SQLite
//! those of `no-transaction` sections.

use super::{report, Databases, CONFIG};
use crate::support::{Backend, Project};

const ID: &str = "20240101000001";

fn dirty_progress_per_target(backend: Backend) {
    let project = Project::with_config(backend, "");
    let dbs = Databases::create_n(backend, &project, 3);
    let mut config = String::new();
    for (name, url, _) in &dbs.list {
        config.push_str(&format!(
            "[[target]]\nname = \"{name}\"\ndatabase_url = \"{url}\"\n"
        ));
    }
    std::fs::write(project.path("ferry.toml"), format!("{config}{CONFIG}")).unwrap();
    // MySQL's DDL runs under the dirty protocol anyway; elsewhere a no-transaction section.
    let marker = if backend == Backend::Mysql {
        "-- ferry:up"
    } else {
        "-- ferry:up no-transaction"
    };
    let path = project.write(
        "app",
        &format!("{ID}_three.sql"),
        &format!(
            "{marker}\nCREATE TABLE fp_a (id INTEGER);\nCREATE TABLE fp_b (id INTEGER);\nCREATE TABLE fp_c (id INTEGER);\n-- ferry:down\nDROP TABLE fp_c;\nDROP TABLE fp_b;\nDROP TABLE fp_a;\n"
        ),
    );
    let at = format!("{}:3", path.display());
    // On db01, statement 2 fails: its table is there already.
    dbs.execute(1, "CREATE TABLE fp_b (id INTEGER)");
    let (ok, dirty) = (dbs.list[0].0.clone(), dbs.list[1].0.clone());

    let run = project.run(&[
        "forwards",
        "all",
        "--fleet",
        "--keep-going",
        "--format",
        "json",
    ]);
    run.expect(1);
    let lines = report(&run);
    assert_eq!(lines[&dirty]["result"], "failed", "{}", run.stdout);
    assert!(lines[&dirty]["error"]
        .as_str()
        .unwrap()
        .contains(&format!("dirty: 1 of 3 statements ran; failed at {at}")));
    assert_eq!(
        lines[&dirty]["dirty"],
        serde_json::json!({"app_name": "app", "migration_id": ID, "statements_done": 1, "statements_total": 3, "statements_of": "up"})
    );
    for target in [&ok, &dbs.list[2].0] {
        assert_eq!(lines[target]["result"], "ok");
        assert!(lines[target]["dirty"].is_null());
    }

    // check --fleet: JSON lines and the table, per target.
    let check = project.run(&["check", "--fleet", "--format", "json"]);
    check.expect(0);
    let states = report(&check);
    let app = &states[&dirty]["apps"][0];
    assert_eq!(app["dirty"], 1, "{}", check.stdout);
    assert_eq!(app["progress"][0]["statements_done"], 1);
    assert_eq!(app["progress"][0]["statements_total"], 3);
    assert_eq!(app["progress"][0]["migration_id"], ID);
    assert_eq!(states[&ok]["apps"][0]["progress"], serde_json::json!([]));
    project
        .run(&["check", "--fleet"])
        .expect(0)
        .stdout_has(&format!(
            "{dirty} app {ID}: dirty: 1 of 3 statements ran; failed at {at}"
        ));

    // The next run is refused on that target only, naming --resume, and its table says how
    // far the migration got.
    let again = project.run(&["forwards", "all", "--fleet", "--keep-going"]);
    again
        .expect(1)
        .stdout_has(&format!("{dirty} app {ID}: dirty: 1 statement(s) ran"))
        .stderr_has(&format!("ferry resolve app {ID} --resume"));

    // Repaired by the documented steps: statement 2 did not run (its table is the one put
    // there by hand), so drop that table and resume; the fleet is then fully migrated.
    dbs.execute(1, "DROP TABLE fp_b");
    let url = dbs.list[1].1.clone();
    project
        .run(&["-d", &url, "resolve", "app", ID, "--resume"])
        .expect(0)
        .stderr_has("ran statements 2..3");
    let done = report(&project.run(&["check", "--fleet", "--format", "json", "--strict"]));
    for (name, _, _) in &dbs.list {
        assert_eq!(done[name]["apps"][0]["applied"], 1, "{name}");
        assert_eq!(done[name]["apps"][0]["dirty"], 0, "{name}");
    }
}

#[cfg(feature = "mysql")]
#[test]
fn dirty_progress_per_target_mysql() {
    dirty_progress_per_target(Backend::Mysql);
}

#[cfg(feature = "postgres")]
#[test]
fn dirty_progress_per_target_postgres() {
    dirty_progress_per_target(Backend::Postgres);
}

#[test]
fn dirty_progress_per_target_sqlite() {
    dirty_progress_per_target(Backend::Sqlite);
}
