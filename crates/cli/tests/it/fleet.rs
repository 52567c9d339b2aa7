//! Fleet runs (SPEC §11, issue 13) against real databases: 20 databases per backend (SQLite
//! files through a glob, PostgreSQL and MariaDB databases through `[[target]]` and
//! `targets_file`), 20 PostgreSQL schemas (directly and through PgBouncer), with targets that
//! are up to date, unreachable, dirty, or fail a migration.

use std::collections::BTreeSet;

use ferry_core::{Driver, TableName};
use serde_json::Value;

use crate::support::{run_in_pty, runtime, Backend, Project, Run};

/// The fleet's app: three tables, one migration each.
const CONFIG: &str = "[[app]]\nname = \"app\"\nmigrations = \"migrations/app\"\n";
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
        let rt = runtime();
        let list = (0..SIZE)
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
fn write_migrations(project: &Project, prefix: &str) {
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

/// The JSON lines of a fleet report, by target (the summary line under `"summary"`).
fn report(run: &Run) -> std::collections::BTreeMap<String, Value> {
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
    std::fs::write(project.path("report.json"), &run.stdout).unwrap();
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
    let rerun = project.run(&[
        "forwards",
        "all",
        "--fleet",
        "--rerun-failed",
        "report.json",
        "--format",
        "json",
    ]);
    rerun.expect(1);
    let again: BTreeSet<String> = report(&rerun)
        .into_keys()
        .filter(|k| k != "summary")
        .collect();
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

/// Schema per tenant: 20 schemas of the project's database, each with its own tables and
/// tracking table; one of them fails; through PgBouncer too (search_path per transaction).
#[cfg(feature = "postgres")]
fn fleet_of_schemas(backend: Backend, from_query: bool) {
    let project = Project::with_config(backend, "");
    let schemas: Vec<String> = (0..SIZE).map(|i| format!("tenant_{i:02}")).collect();
    let source = if from_query {
        "schemas_query = \"SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\\\_%' ORDER BY 1\"\n".to_owned()
    } else {
        format!(
            "schemas = [{}]\n",
            schemas
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    std::fs::write(project.path("ferry.toml"), format!("{source}{CONFIG}")).unwrap();
    write_migrations(&project, "t");
    let mut admin = project.db.driver();
    let setup: String = schemas
        .iter()
        .map(|s| format!("CREATE SCHEMA {s};"))
        .collect();
    project.db.rt.block_on(admin.execute(&setup, true)).unwrap();
    // tenant_03 already has the second migration's table: it fails there, and only there.
    project
        .db
        .rt
        .block_on(admin.execute("CREATE TABLE tenant_03.t1 (id INTEGER PRIMARY KEY)", true))
        .unwrap();
    // tenant_00 and tenant_01 are up to date; tenant_05 is left dirty.
    project
        .run(&[
            "--fleet",
            "--target",
            "tenant_00",
            "--target",
            "tenant_01",
            "forwards",
            "all",
        ])
        .expect(0);
    project
        .run(&["--fleet", "--target", "tenant_05", "forwards", "app", "1"])
        .expect(0);
    project
        .db
        .rt
        .block_on(admin.execute("UPDATE tenant_05.ferry_migrations SET dirty = TRUE", true))
        .unwrap();

    let run = project.run(&[
        "forwards",
        "all",
        "--fleet",
        "--keep-going",
        "--parallel",
        "8",
        "--format",
        "json",
    ]);
    run.expect(1);
    let lines = report(&run);
    assert_eq!(lines.len(), SIZE + 1, "{}", run.stdout);
    for s in &schemas {
        let expected = match s.as_str() {
            "tenant_00" | "tenant_01" => "nothing to do",
            "tenant_03" | "tenant_05" => "failed",
            _ => "ok",
        };
        assert_eq!(lines[s]["result"], expected, "{s}: {}", run.stdout);
    }
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
    let again: BTreeSet<String> = report(&rerun)
        .into_keys()
        .filter(|k| k != "summary")
        .collect();
    assert_eq!(
        again,
        BTreeSet::from(["tenant_03".to_owned(), "tenant_05".to_owned()])
    );
    let mut seen = BTreeSet::new();
    for part in ["1/2", "2/2"] {
        let r = project.run(&["check", "--fleet", "--partition", part, "--format", "json"]);
        for name in report(&r).into_keys() {
            assert!(seen.insert(name.clone()), "{name} in two slices");
        }
    }
    assert_eq!(seen, schemas.iter().cloned().collect::<BTreeSet<_>>());
    // Tables and tracking rows are in each tenant's schema, none in public.
    let count = |sql: &str| -> i64 {
        let rows = runtime().block_on(async {
            let mut d = ferry_driver_postgres::connect(&direct_url(&project), TableName::default())
                .await
                .unwrap();
            d.query_column(sql).await.unwrap()
        });
        rows[0].parse().unwrap()
    };
    assert_eq!(
        count("SELECT count(*) FROM information_schema.tables WHERE table_schema LIKE 'tenant%' AND table_name = 't2'"),
        (SIZE - 2) as i64
    );
    assert_eq!(
        count("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 't%'"),
        0
    );
    assert_eq!(count("SELECT count(*) FROM tenant_07.ferry_migrations"), 3);
    let check = project.run(&["check", "--fleet", "--format", "json"]);
    check.expect(0);
    let states = report(&check);
    assert_eq!(states["tenant_03"]["apps"][0]["applied"], 1);
    assert_eq!(states["tenant_05"]["apps"][0]["dirty"], 1);
    assert_eq!(states["tenant_19"]["apps"][0]["applied"], 3);
}

/// The project's database, directly (not through the test's PgBouncer).
#[cfg(feature = "postgres")]
fn direct_url(project: &Project) -> String {
    match &project.db.bouncer {
        Some(_) => {
            let name = project.db.url.rsplit('/').next().unwrap();
            let name = name.split('?').next().unwrap();
            let admin = ferry_driver_postgres::testing::admin_url();
            let (server, _) = admin.rsplit_once('/').unwrap();
            format!("{server}/{name}")
        }
        None => project.db.url.clone(),
    }
}

/// An SQLite fleet of `n` files matched by the configured URL `sqlite:tenants/*.db`, the
/// app's migrations written; `fail` files already hold the first migration's table.
fn sqlite_fleet(n: usize, fail: &[usize]) -> Project {
    let project = Project::with_config(Backend::Sqlite, CONFIG);
    write_migrations(&project, "t");
    std::fs::create_dir_all(project.path("tenants")).unwrap();
    for i in 0..n {
        let path = project.path(&format!("tenants/db{i:02}.db"));
        let conn = rusqlite::Connection::open(&path).unwrap();
        if fail.contains(&i) {
            conn.execute_batch("CREATE TABLE t0 (id INTEGER PRIMARY KEY)")
                .unwrap();
        }
    }
    project
}

/// `ferry` in `project` with the configured URL the glob of [`sqlite_fleet`].
fn run_glob(project: &Project, args: &[&str]) -> Run {
    let output = project
        .ferry()
        .env("FERRY_DATABASE_URL", "sqlite:tenants/*.db")
        .args(args)
        .write_stdin("")
        .output()
        .unwrap();
    Run::from(output)
}

fn results(run: &Run) -> Vec<(String, String)> {
    report(run)
        .into_iter()
        .filter(|(k, _)| k != "summary")
        .map(|(k, v)| (k, v["result"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn after_a_failure_nothing_new_starts_unless_keep_going() {
    let project = sqlite_fleet(5, &[1]);
    let run = run_glob(
        &project,
        &[
            "--fleet",
            "--parallel",
            "1",
            "forwards",
            "all",
            "--format",
            "json",
        ],
    );
    run.expect(1);
    let expected = [
        ("ok", 0),
        ("failed", 1),
        ("skipped", 2),
        ("skipped", 3),
        ("skipped", 4),
    ];
    let found = results(&run);
    for (result, i) in expected {
        assert_eq!(
            found[i],
            (format!("tenants/db{i:02}.db"), result.to_owned())
        );
    }
    // With --keep-going every other target runs; a canary failure stops even that.
    let run = run_glob(
        &project,
        &[
            "--fleet",
            "--keep-going",
            "forwards",
            "all",
            "--format",
            "json",
        ],
    );
    run.expect(1);
    let found: Vec<String> = results(&run).into_iter().map(|(_, r)| r).collect();
    assert_eq!(found, ["nothing to do", "failed", "ok", "ok", "ok"]);
    let project = sqlite_fleet(5, &[1]);
    let run = run_glob(
        &project,
        &[
            "--fleet",
            "--keep-going",
            "--canary",
            "2",
            "forwards",
            "all",
            "--format",
            "json",
        ],
    );
    run.expect(1);
    let found: Vec<String> = results(&run).into_iter().map(|(_, r)| r).collect();
    assert_eq!(found, ["ok", "failed", "skipped", "skipped", "skipped"]);
}

#[test]
fn backwards_asks_once_for_the_whole_fleet() {
    let project = sqlite_fleet(3, &[]);
    run_glob(&project, &["--fleet", "forwards", "all"]).expect(0);
    // stdin is not a terminal: refused before anything changes.
    run_glob(&project, &["--fleet", "backwards", "app", "all"])
        .expect(1)
        .stderr_has("stdin is not a terminal");
    run_glob(&project, &["--fleet", "check", "--strict"]).expect(0);
    // On a terminal: one question for the whole fleet.
    let args = [
        "-d",
        "sqlite:tenants/*.db",
        "--fleet",
        "backwards",
        "app",
        "all",
    ];
    let declined = run_in_pty(&project, &args, "n\n");
    assert!(
        declined
            .stdout
            .contains("Reverse 9 migration(s) on 3 target(s)? [y/N]"),
        "{}",
        declined.stdout
    );
    assert!(
        declined.stdout.contains("Not proceeding."),
        "{}",
        declined.stdout
    );
    run_glob(&project, &["--fleet", "check", "--strict"]).expect(0);
    let agreed = run_in_pty(&project, &args, "y\n");
    assert!(
        agreed.stdout.contains("tenants/db01.db  ok"),
        "{}",
        agreed.stdout
    );
    run_glob(&project, &["--fleet", "check", "--strict"]).expect(3);
    run_glob(&project, &["--fleet", "forwards", "all"]).expect(0);
    let run = run_glob(
        &project,
        &[
            "--fleet",
            "backwards",
            "app",
            "all",
            "-y",
            "--format",
            "json",
        ],
    );
    run.expect(0);
    for (_, line) in report(&run).into_iter().filter(|(k, _)| k != "summary") {
        assert_eq!(line["result"], "ok");
        assert_eq!(line["applied"], 3);
    }
    run_glob(&project, &["--fleet", "check", "--strict"]).expect(3);
    let table = run_glob(&project, &["--fleet", "check"]);
    table
        .expect(0)
        .stdout_has("TARGET")
        .stdout_has("PENDING")
        .stdout_has("tenants/db02.db");
}

#[test]
fn fleet_usage_errors() {
    let project = sqlite_fleet(2, &[]);
    run_glob(&project, &["forwards", "all", "--parallel", "2"])
        .expect(2)
        .stderr_has("--parallel");
    run_glob(&project, &["forwards", "all", "--format", "json"]).expect(2);
    run_glob(&project, &["verify", "--fleet"]).expect(2);
    run_glob(
        &project,
        &["--fleet", "forwards", "all", "--partition", "3/2"],
    )
    .expect(2);
    run_glob(&project, &["--fleet", "forwards", "all", "--parallel", "0"]).expect(2);
    run_glob(
        &project,
        &["--fleet", "forwards", "all", "--target", "nope"],
    )
    .expect(1)
    .stderr_has("nope");
    // The same name twice is a configuration error.
    std::fs::write(
        project.path("ferry.toml"),
        format!("{CONFIG}[[target]]\nname = \"tenants/db00.db\"\ndatabase_url = \"sqlite:x.db\"\n"),
    )
    .unwrap();
    run_glob(&project, &["--fleet", "check"])
        .expect(2)
        .stderr_has("named twice");
    // A rerun of a report with no failure runs nothing.
    std::fs::write(project.path("ferry.toml"), CONFIG).unwrap();
    let run = run_glob(
        &project,
        &["--fleet", "forwards", "all", "--format", "json"],
    );
    run.expect(0);
    std::fs::write(project.path("ok.json"), &run.stdout).unwrap();
    run_glob(
        &project,
        &["--fleet", "forwards", "all", "--rerun-failed", "ok.json"],
    )
    .expect(0);
    std::fs::write(project.path("bad.json"), "not json\n").unwrap();
    run_glob(
        &project,
        &["--fleet", "forwards", "all", "--rerun-failed", "bad.json"],
    )
    .expect(2)
    .stderr_has("bad.json:1");
}

/// Ctrl-C: running targets stop after their current migration and are reported `failed`
/// with `interrupted`; the report is still printed.
#[cfg(feature = "postgres")]
#[test]
fn ctrl_c_stops_targets_after_their_current_migration() {
    let project = Project::with_config(
        Backend::Postgres,
        &format!("schemas = [\"s1\", \"s2\", \"s3\"]\n{CONFIG}"),
    );
    write_migrations(&project, "t");
    project.write("app", "20240101000001_t1.sql", "-- ferry:up\nSELECT pg_sleep(2);\nCREATE TABLE t0 (id INTEGER PRIMARY KEY);\n-- ferry:down\nDROP TABLE t0;\n");
    let child = project.spawn(&["--fleet", "forwards", "all", "--format", "json"]);
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let run = Run::from(child.wait_with_output().unwrap());
    run.expect(1);
    for (_, line) in report(&run).into_iter().filter(|(k, _)| k != "summary") {
        assert_eq!(line["result"], "failed", "{}", run.stdout);
        assert_eq!(line["error"], "interrupted");
        assert_eq!(line["applied"], 1);
    }
    let check = project.run(&["--fleet", "check", "--format", "json"]);
    for (_, line) in report(&check) {
        assert_eq!(line["apps"][0]["applied"], 1);
        assert_eq!(line["apps"][0]["pending"], 2);
    }
}

/// A `no-transaction` section in a tenant schema: the session's search_path on a direct
/// connection; refused behind a pooler, where it could not be set for it alone.
#[cfg(feature = "postgres")]
fn no_transaction_in_a_schema(backend: Backend) {
    let project = Project::with_config(backend, &format!("schemas = [\"s1\"]\n{CONFIG}"));
    write_migrations(&project, "t");
    project.write(
        "app",
        "20240101000004_index.sql",
        "-- ferry:up no-transaction\nCREATE INDEX CONCURRENTLY t0_id ON t0 (id);\n-- ferry:down\nDROP INDEX t0_id;\n",
    );
    let run = project.run(&["--fleet", "forwards", "all", "--format", "json"]);
    let line = &report(&run)["s1"];
    if backend == Backend::PgBouncer {
        run.expect(1);
        assert_eq!(line["applied"], 3);
        assert!(
            line["error"].as_str().unwrap().contains("no-transaction"),
            "{line}"
        );
    } else {
        run.expect(0);
        assert_eq!(line["applied"], 4);
        let rows = runtime().block_on(async {
            let mut d = ferry_driver_postgres::connect(&project.db.url, TableName::default())
                .await
                .unwrap();
            d.query_column("SELECT schemaname FROM pg_indexes WHERE indexname = 't0_id'")
                .await
                .unwrap()
        });
        assert_eq!(rows, ["s1"]);
    }
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
    #[test]
    fn fleet_of_schemas() {
        super::fleet_of_schemas(super::Backend::Postgres, false)
    }
    #[test]
    fn fleet_of_schemas_from_a_query() {
        super::fleet_of_schemas(super::Backend::Postgres, true)
    }
    #[test]
    fn no_transaction_in_a_schema() {
        super::no_transaction_in_a_schema(super::Backend::Postgres)
    }
}

#[cfg(feature = "postgres")]
mod pgbouncer {
    #[test]
    fn fleet_of_schemas() {
        super::fleet_of_schemas(super::Backend::PgBouncer, false)
    }
    #[test]
    fn no_transaction_in_a_schema() {
        super::no_transaction_in_a_schema(super::Backend::PgBouncer)
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    #[test]
    fn fleet_of_databases() {
        super::fleet_of_databases(super::Backend::Mysql)
    }
}
