//! The CI recipe of docs/src/fleets.md, step by step (SPEC §11): a first run fails on one
//! target without `--keep-going`, so the targets after it are `skipped`; the cause is fixed;
//! `--rerun-failed report.json` runs the failed and the skipped targets (not those already
//! done); `check --fleet --strict` then finds the whole fleet migrated.

use std::collections::BTreeSet;

use super::{report, write_migrations, Databases, CONFIG};
use crate::support::{Backend, Project, Run};

/// How the fleet is listed.
#[derive(Clone, Copy)]
enum Kind {
    /// One database per target: an SQLite glob, or `[[target]]` entries on a server.
    Databases,
    /// PostgreSQL schema per tenant (`schemas = [..]`).
    Schemas,
}

const N: usize = 4;

fn recipe(backend: Backend, kind: Kind) {
    let project = Project::with_config(backend, "");
    write_migrations(&project, "t");
    // The fleet, with a way to run SQL on target `i`, and its target names.
    let (names, dbs, config): (Vec<String>, Option<Databases>, String) = match kind {
        Kind::Databases => {
            let dbs = Databases::create_n(backend, &project, N);
            let config = match backend {
                Backend::Sqlite => {
                    "[[target]]\nname = \"tenants\"\ndatabase_url = \"sqlite:tenants/*.db\"\n"
                        .to_owned()
                }
                _ => dbs
                    .list
                    .iter()
                    .map(|(name, url, _)| {
                        format!("[[target]]\nname = \"{name}\"\ndatabase_url = \"{url}\"\n")
                    })
                    .collect(),
            };
            let names = dbs.list.iter().map(|(name, _, _)| name.clone()).collect();
            (names, Some(dbs), config)
        }
        Kind::Schemas => {
            let names: Vec<String> = (0..N).map(|i| format!("tenant_{i:02}")).collect();
            let mut admin = project.db.driver();
            let setup: String = names
                .iter()
                .map(|s| format!("CREATE SCHEMA {s};"))
                .collect();
            project.db.rt.block_on(admin.execute(&setup, true)).unwrap();
            let list = names
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ");
            (names, None, format!("schemas = [{list}]\n"))
        }
    };
    std::fs::write(project.path("ferry.toml"), format!("{config}{CONFIG}")).unwrap();
    let execute = |i: usize, sql: &str| match (&dbs, kind) {
        (Some(dbs), _) => dbs.execute(i, sql),
        (None, _) => {
            let sql = sql.replace("TABLE ", &format!("TABLE {}.", names[i]));
            let mut admin = project.db.driver();
            project.db.rt.block_on(admin.execute(&sql, true)).unwrap();
        }
    };
    // The second target already has the first migration's table: it fails there.
    execute(1, "CREATE TABLE t0 (id INTEGER PRIMARY KEY)");

    // Step 1: the run, one target at a time, without --keep-going.
    let first = project.run(&[
        "forwards",
        "all",
        "--fleet",
        "--parallel",
        "1",
        "--format",
        "json",
    ]);
    first.expect(1);
    let lines = report(&first);
    let result = |run: &Run, i: usize| report(run)[&names[i]]["result"].clone();
    assert_eq!(result(&first, 0), "ok", "{}", first.stdout);
    assert_eq!(result(&first, 1), "failed", "{}", first.stdout);
    for i in 2..N {
        assert_eq!(result(&first, i), "skipped", "{}", first.stdout);
    }
    assert_eq!(lines["summary"]["summary"]["skipped"], N - 2);
    std::fs::write(project.path("report.json"), &first.stdout).unwrap();
    project.run(&["check", "--fleet", "--strict"]).expect(3);

    // Step 2: the fix. The failed migration's first statement failed, so no backend left a
    // dirty row (SPEC §14): dropping the table in the way is all it takes.
    execute(1, "DROP TABLE t0");

    // Step 3: the retry runs the failed and the skipped targets, not the one done.
    let rerun = project.run(&[
        "forwards",
        "all",
        "--fleet",
        "--rerun-failed",
        "report.json",
        "--format",
        "json",
    ]);
    rerun.expect(0);
    let again: BTreeSet<String> = report(&rerun)
        .into_keys()
        .filter(|k| k != "summary")
        .collect();
    assert_eq!(
        again,
        names[1..].iter().cloned().collect(),
        "{}",
        rerun.stdout
    );
    let lines = report(&rerun);
    for name in &names[1..] {
        assert_eq!(lines[name]["result"], "ok", "{}", rerun.stdout);
        assert_eq!(lines[name]["applied"], 3);
    }

    // Step 4: the whole fleet is migrated.
    project.run(&["check", "--fleet", "--strict"]).expect(0);
    // A report in which every target is done reruns nothing.
    std::fs::write(project.path("done.json"), &rerun.stdout).unwrap();
    let none = project.run(&[
        "forwards",
        "all",
        "--fleet",
        "--rerun-failed",
        "done.json",
        "--format",
        "json",
    ]);
    none.expect(0).stderr_has("nothing to do");
    assert_eq!(report(&none).len(), 1, "{}", none.stdout);
}

mod sqlite {
    #[test]
    fn ci_recipe_on_files() {
        super::recipe(super::Backend::Sqlite, super::Kind::Databases)
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    #[test]
    fn ci_recipe_on_databases() {
        super::recipe(super::Backend::Postgres, super::Kind::Databases)
    }

    #[test]
    fn ci_recipe_on_schemas() {
        super::recipe(super::Backend::Postgres, super::Kind::Schemas)
    }
}

#[cfg(feature = "postgres")]
mod pgbouncer {
    #[test]
    fn ci_recipe_on_schemas() {
        super::recipe(super::Backend::PgBouncer, super::Kind::Schemas)
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    #[test]
    fn ci_recipe_on_databases() {
        super::recipe(super::Backend::Mysql, super::Kind::Databases)
    }
}
