//! PostgreSQL schema per tenant (SPEC §11): `schemas`, `schemas_query`, directly and through
//! PgBouncer, where `search_path` must be set in each transaction.

use std::collections::BTreeSet;

use ferry_core::{Driver, TableName};

use super::{report, rerun_failed, write_migrations, CONFIG, SIZE};
use crate::support::{runtime, Backend, Project, Run};

/// Schema per tenant: 20 schemas of the project's database, each with its own tables and
/// tracking table; one of them fails; through PgBouncer too (search_path per transaction).
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
    let again = rerun_failed(&project, &run);
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

/// A `schemas_query` that returns no row: an empty fleet, exit 0, the query named.
fn empty_schemas_query(backend: Backend) {
    let project = Project::with_config(backend, "");
    std::fs::write(
        project.path("ferry.toml"),
        format!("schemas_query = \"SELECT nspname FROM pg_namespace WHERE nspname = 'no_such_tenant'\"\n{CONFIG}"),
    )
    .unwrap();
    write_migrations(&project, "t");
    project
        .run(&["forwards", "all", "--fleet"])
        .expect(0)
        .stderr_has("warning: fleet source schemas_query (it returned no row) yielded no target");
    assert!(!project.db.table_exists());
}

/// The project's database, directly (not through the test's PgBouncer).
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

/// Ctrl-C: running targets stop after their current migration and are reported `failed`
/// with `interrupted`; the report is still printed.
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

mod postgres {
    #[test]
    fn fleet_of_schemas() {
        super::fleet_of_schemas(super::Backend::Postgres, false)
    }
    #[test]
    fn empty_schemas_query() {
        super::empty_schemas_query(super::Backend::Postgres)
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
