//! Fleet runs (SPEC §11, issue 13) against real databases: 20 databases per backend (SQLite
//! files through a glob, PostgreSQL and MariaDB databases through `[[target]]` and
//! `targets_file`), 20 PostgreSQL schemas (directly and through PgBouncer), with targets that
//! are up to date, unreachable, dirty, or fail a migration.
//!
//! `mod.rs` holds what the cases share and the fleet of databases on every backend;
//! `schemas.rs` the PostgreSQL schema-per-tenant cases; `behaviour.rs` how a run goes
//! (stopping, canaries, the prompt, usage errors) on an SQLite fleet; `recipe.rs` the CI
//! recipe of docs/src/fleets.md, step by step.

mod behaviour;
mod progress;
mod recipe;
#[cfg(feature = "postgres")]
mod schemas;

use std::collections::BTreeSet;

use ferry_core::{Driver, TableName};
use serde_json::Value;

use crate::support::{runtime, Backend, Project, Run};

/// The fleet's app: three tables, one migration each.
pub(super) const CONFIG: &str = "[[app]]\nname = \"app\"\nmigrations = \"migrations/app\"\n";
const IDS: [&str; 3] = ["20240101000001", "20240101000002", "20240101000003"];
const SIZE: usize = 20;
/// A password that must never be printed.
const SECRET: &str = "s3cr3t-fleet";

/// The fleet's databases besides the project's own, dropped with the value.
struct Databases {
    backend: Backend,
    /// `(target name, url, server-side database name)`.
    list: Vec<(String, String, String)>,
}

impl Databases {
    fn create(backend: Backend, project: &Project) -> Databases {
        Self::create_n(backend, project, SIZE)
    }

    /// `n` databases (SQLite: files `tenants/dbNN.db` of the project).
    fn create_n(backend: Backend, project: &Project, n: usize) -> Databases {
        let rt = runtime();
        let list = (0..n)
            .map(|i| {
                let name = format!("db{i:02}");
                match backend {
                    Backend::Sqlite => {
                        let path = project.path(&format!("tenants/{name}.db"));
                        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                        std::fs::write(&path, "").unwrap();
                        (
                            format!("tenants/{name}.db"),
                            format!("sqlite:{}", path.display()),
                            name,
                        )
                    }
                    Backend::Postgres | Backend::PgBouncer => {
                        let db = ferry_driver_postgres::testing::unique_name("fleet");
                        let url = rt
                            .block_on(ferry_driver_postgres::testing::create_database(&db))
                            .unwrap();
                        (name, url, db)
                    }
                    Backend::Mysql => {
                        let db = ferry_driver_mysql::testing::unique_name("fleet");
                        let url = rt
                            .block_on(ferry_driver_mysql::testing::create_database(&db))
                            .unwrap();
                        (name, url, db)
                    }
                }
            })
            .collect();
        Databases { backend, list }
    }

    /// Run `sql` outside a transaction on target `i`.
    fn execute(&self, i: usize, sql: &str) {
        let url = self.list[i].1.clone();
        let sql = sql.to_owned();
        runtime().block_on(async move {
            let mut d: Box<dyn Driver> = match self.backend {
                Backend::Sqlite => Box::new(
                    ferry_driver_sqlite::connect(&url, TableName::default())
                        .await
                        .unwrap(),
                ),
                Backend::Postgres | Backend::PgBouncer => Box::new(
                    ferry_driver_postgres::connect(&url, TableName::default())
                        .await
                        .unwrap(),
                ),
                Backend::Mysql => Box::new(
                    ferry_driver_mysql::connect(&url, TableName::default())
                        .await
                        .unwrap(),
                ),
            };
            d.execute(&sql, true).await.unwrap();
        });
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        let rt = runtime();
        for (_, _, db) in &self.list {
            let _ = match self.backend {
                Backend::Sqlite => Ok(()),
                Backend::Postgres | Backend::PgBouncer => {
                    rt.block_on(ferry_driver_postgres::testing::drop_database(db))
                }
                Backend::Mysql => rt.block_on(ferry_driver_mysql::testing::drop_database(db)),
            };
        }
    }
}

/// The app's three migrations; `prefix` names their tables.
pub(super) fn write_migrations(project: &Project, prefix: &str) {
    for (n, id) in IDS.iter().enumerate() {
        project.write(
            "app",
            &format!("{id}_t{}.sql", n + 1),
            &format!(
                "-- ferry:up\nCREATE TABLE {prefix}{n} (id INTEGER PRIMARY KEY);\n-- ferry:down\nDROP TABLE {prefix}{n};\n"
            ),
        );
    }
}

/// Save `run`'s JSON report and run `forwards all --fleet --rerun-failed` on it: the targets
/// that ran again.
pub(super) fn rerun_failed(project: &Project, run: &Run) -> BTreeSet<String> {
    std::fs::write(project.path("report.json"), &run.stdout).unwrap();
    let rerun = project.run(&[
        "forwards",
        "all",
        "--fleet",
        "--rerun-failed",
        "report.json",
        "--format",
        "json",
    ]);
    report(&rerun)
        .into_keys()
        .filter(|k| k != "summary")
        .collect()
}

/// The JSON lines of a fleet report, by target (the summary line under `"summary"`).
pub(super) fn report(run: &Run) -> std::collections::BTreeMap<String, Value> {
    run.stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{e}: {line}\n--- stderr\n{}", run.stderr));
            let key = v["target"].as_str().unwrap_or("summary").to_owned();
            (key, v)
        })
        .collect()
}

fn assert_no_secret(run: &Run) {
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "a password was printed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

/// Some targets up to date, one unreachable, one dirty, one failing a migration: each gets
/// its result, the others are fully migrated, `--rerun-failed` picks exactly the failed
/// ones, and `--partition` slices are disjoint and cover the fleet.
fn fleet_of_databases(backend: Backend) {
    let unreachable = match backend {
        Backend::Sqlite => "sqlite:/nonexistent-ferry-folder/x.db?mode=rw".to_owned(),
        Backend::Mysql => format!("mysql://fleet:{SECRET}@127.0.0.1:1/nowhere?connect_timeout=3"),
        _ => format!("postgres://fleet:{SECRET}@127.0.0.1:1/nowhere?connect_timeout=3"),
    };
    let mut config = format!("[[target]]\nname = \"down\"\ndatabase_url = \"{unreachable}\"\n");
    let project = Project::with_config(backend, "");
    let dbs = Databases::create(backend, &project);
    if backend == Backend::Sqlite {
        // A glob as a target's URL: one target per file, named by its path.
        config.push_str("[[target]]\nname = \"tenants\"\ndatabase_url = \"sqlite:tenants/*.db\"\n");
    } else {
        // Half as [[target]] entries, half in a targets file.
        let mut file = String::from("# the second half of the fleet\n");
        for (i, (name, url, _)) in dbs.list.iter().enumerate() {
            if i % 2 == 0 {
                config.push_str(&format!(
                    "[[target]]\nname = \"{name}\"\ndatabase_url = \"{url}\"\n"
                ));
            } else {
                file.push_str(&format!("{name} {url}  # tenant {i}\n"));
            }
        }
        std::fs::write(project.path("fleet.txt"), file).unwrap();
        config.insert_str(0, "targets_file = \"fleet.txt\"\n");
    }
    std::fs::write(project.path("ferry.toml"), format!("{config}{CONFIG}")).unwrap();
    write_migrations(&project, "fleet_t");
    let name = |i: usize| dbs.list[i].0.clone();
    let single = |i: usize, args: &[&str]| {
        let mut all = vec!["-d", &dbs.list[i].1];
        all.extend_from_slice(args);
        project.run(&all).expect(0);
    };
    // 0..4 up to date; 5 dirty; 6 fails its second migration.
    for i in 0..4 {
        single(i, &["forwards", "all"]);
    }
    single(5, &["forwards", "app", "1"]);
    dbs.execute(5, "UPDATE ferry_migrations SET dirty = TRUE");
    dbs.execute(6, "CREATE TABLE fleet_t1 (id INTEGER PRIMARY KEY)");

    let run = project.run(&[
        "--fleet",
        "forwards",
        "all",
        "--keep-going",
        "--format",
        "json",
    ]);
    run.expect(1);
    assert_no_secret(&run);
    let lines = report(&run);
    assert_eq!(lines.len(), SIZE + 2, "{}", run.stdout);
    let result = |target: &str| lines[target]["result"].as_str().unwrap().to_owned();
    assert_eq!(result("down"), "failed");
    assert!(lines["down"]["error"].as_str().is_some());
    assert_eq!(result(&name(5)), "failed");
    assert!(lines[&name(5)]["error"].as_str().unwrap().contains("dirty"));
    assert_eq!(result(&name(6)), "failed");
    assert_eq!(lines[&name(6)]["applied"], 1, "{}", run.stdout);
    for i in 0..4 {
        assert_eq!(result(&name(i)), "nothing to do");
        assert_eq!(lines[&name(i)]["applied"], 0);
    }
    for i in (4..5).chain(7..SIZE) {
        assert_eq!(result(&name(i)), "ok");
        assert_eq!(lines[&name(i)]["applied"], 3);
        assert!(lines[&name(i)]["error"].is_null());
    }
    assert_eq!(
        lines["summary"]["summary"],
        serde_json::json!({"ok": SIZE - 6, "nothing_to_do": 4, "failed": 3, "skipped": 0})
    );

    // Every healthy target is fully migrated; check reads the unreachable one as an error.
    let check = project.run(&["check", "--fleet", "--format", "json", "--strict"]);
    check.expect(1);
    assert_no_secret(&check);
    let states = report(&check);
    for i in (0..5).chain(7..SIZE) {
        let app = &states[&name(i)]["apps"][0];
        assert_eq!(app["applied"], 3, "{}", name(i));
        assert_eq!(app["pending"], 0, "{}", name(i));
    }
    assert_eq!(states[&name(5)]["apps"][0]["dirty"], 1);
    assert_eq!(states[&name(6)]["apps"][0]["applied"], 1);
    assert!(states["down"]["error"].as_str().is_some());

    // --rerun-failed runs exactly the failed targets.
    let again = rerun_failed(&project, &run);
    let failed: BTreeSet<String> = ["down".to_owned(), name(5), name(6)].into();
    assert_eq!(again, failed);

    // Partitions are disjoint and cover the fleet.
    let mut seen = Vec::new();
    for k in 1..=3 {
        let part = format!("{k}/3");
        let r = project.run(&["check", "--fleet", "--partition", &part, "--format", "json"]);
        seen.extend(report(&r).into_keys());
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), SIZE + 1);
    assert_eq!(unique.len(), SIZE + 1);
}

mod sqlite {
    #[test]
    fn fleet_of_databases() {
        super::fleet_of_databases(super::Backend::Sqlite)
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    #[test]
    fn fleet_of_databases() {
        super::fleet_of_databases(super::Backend::Postgres)
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    #[test]
    fn fleet_of_databases() {
        super::fleet_of_databases(super::Backend::Mysql)
    }
}
