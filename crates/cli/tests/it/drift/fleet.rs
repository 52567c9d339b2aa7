//! `ferry drift --fleet` (SPEC §12.5): one line per target, one replay per applied history,
//! on SQLite files and on PostgreSQL tenant schemas (directly, through PgBouncer, and read one
//! tenant after another on one connection).

use super::history;
#[cfg(feature = "postgres")]
use super::on_live;
#[cfg(feature = "postgres")]
use crate::support::CONFIG;
use crate::support::{Backend, Project};

/// The fleet's JSON lines by target, and the summary.
fn fleet_report(
    stdout: &str,
) -> (
    std::collections::BTreeMap<String, serde_json::Value>,
    serde_json::Value,
) {
    let mut lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let summary = lines.pop().expect("a summary line");
    let by_target = lines
        .into_iter()
        .map(|l| (l["target"].as_str().unwrap().to_owned(), l))
        .collect();
    (by_target, summary["summary"].clone())
}

/// SPEC §12.5 on a glob of SQLite files: one line per target; targets with one history share
/// one replay (two histories here: two replays for five targets).
#[cfg(feature = "sqlite")]
#[test]
fn drift_fleet_of_sqlite_files_replays_each_history_once() {
    let p = Project::new(Backend::Sqlite);
    history(&p);
    std::fs::create_dir(p.path("fleet")).unwrap();
    for i in 0..5 {
        std::fs::write(p.path(&format!("fleet/t{i}.db")), "").unwrap();
    }
    let glob = format!("sqlite:{}/fleet/*.db", p.dir.path().display());
    p.run(&["-d", &glob, "--fleet", "forwards", "all"])
        .expect(0);
    // t4 is one migration behind: a history of its own.
    p.run(&[
        "-d",
        &glob,
        "--fleet",
        "--target",
        "fleet/t4.db",
        "backwards",
        "blog",
        "-y",
    ])
    .expect(0);
    let mut d = ferry_driver_sqlite_connect(&p.path("fleet/t1.db"));
    p.db.rt
        .block_on(d.execute("CREATE TABLE hand_made (id INTEGER)", false))
        .unwrap();
    let r = p.run(&["-d", &glob, "drift", "--fleet", "--format", "json"]);
    r.expect(1);
    let (targets, summary) = fleet_report(&r.stdout);
    assert_eq!(
        summary,
        serde_json::json!({"no_drift": 4, "drift": 1, "failed": 0, "replays": 2})
    );
    assert_eq!(targets.len(), 5);
    assert_eq!(targets["fleet/t1.db"]["result"], "drift");
    assert_eq!(
        targets["fleet/t1.db"]["differences"][0]["name"], "hand_made",
        "{}",
        r.stdout
    );
    assert_eq!(targets["fleet/t4.db"]["replayed"], 1);
    assert_eq!(targets["fleet/t0.db"]["replayed"], 2);
    assert_eq!(targets["fleet/t0.db"]["error"], serde_json::Value::Null);
    // The table: one line per target and a header.
    let r = p.run(&["-d", &glob, "--fleet", "drift"]);
    r.expect(1)
        .stderr_has("5 target(s): 4 no drift, 1 drift, 0 failed; 2 replay(s)");
    assert_eq!(r.stdout.lines().count(), 6, "{}", r.stdout);
    assert!(r
        .stdout
        .lines()
        .any(|l| l.starts_with("fleet/t1.db") && l.contains("table hand_made: extra no → yes")));
    // Without the hand change, the fleet has no drift.
    p.db.rt
        .block_on(d.execute("DROP TABLE hand_made", false))
        .unwrap();
    p.run(&["-d", &glob, "drift", "--fleet"]).expect(0);
    // A dirty target fails, naming its migration; the others are still compared.
    let mut t2 = ferry_driver_sqlite_connect(&p.path("fleet/t2.db"));
    p.db.rt
        .block_on(t2.execute(
            "UPDATE ferry_migrations SET dirty = 1 WHERE migration_id = '2'",
            false,
        ))
        .unwrap();
    drop(t2);
    let r = p.run(&["-d", &glob, "drift", "--fleet", "--format", "json"]);
    r.expect(1);
    let (targets, summary) = fleet_report(&r.stdout);
    assert_eq!(
        summary,
        serde_json::json!({"no_drift": 4, "drift": 0, "failed": 1, "replays": 2})
    );
    assert_eq!(targets["fleet/t2.db"]["result"], "failed");
    let error = targets["fleet/t2.db"]["error"].as_str().unwrap();
    assert!(error.contains("dirty migration blog 2"), "{error}");
}

#[cfg(feature = "sqlite")]
fn ferry_driver_sqlite_connect(path: &std::path::Path) -> Box<dyn ferry_core::Driver> {
    let url = format!("sqlite:{}", path.display());
    Box::new(
        crate::support::runtime()
            .block_on(ferry_driver_sqlite::connect(
                &url,
                ferry_core::TableName::default(),
            ))
            .unwrap(),
    )
}

/// A project whose fleet is `tenants`, schemas of the live database, each migrated.
#[cfg(feature = "postgres")]
fn migrated_tenants(b: Backend, tenants: &[&str]) -> Project {
    let list: Vec<String> = tenants.iter().map(|t| format!("\"{t}\"")).collect();
    let p = Project::with_config(b, &format!("schemas = [{}]\n{CONFIG}", list.join(", ")));
    history(&p);
    let create: Vec<String> = tenants
        .iter()
        .map(|t| format!("CREATE SCHEMA {t}"))
        .collect();
    on_live(&p, &create.iter().map(String::as_str).collect::<Vec<_>>());
    p.run(&["--fleet", "forwards", "all"]).expect(0);
    p
}

/// SPEC §12.5 on PostgreSQL schemas: each tenant's schema against the replay, which all
/// tenants at one version share; directly and through PgBouncer.
#[cfg(feature = "postgres")]
fn drift_fleet_of_schemas(b: Backend) {
    let p = migrated_tenants(b, &["tenant_a", "tenant_b", "tenant_c"]);
    p.run(&["--fleet", "drift"])
        .expect(0)
        .stderr_has("3 target(s): 3 no drift, 0 drift, 0 failed; 1 replay(s)");
    on_live(
        &p,
        &[
            "CREATE INDEX hand_idx ON tenant_b.people (email, id)",
            "ALTER TABLE tenant_c.posts ALTER COLUMN title TYPE VARCHAR(40)",
            // Outside every tenant's schema: no tenant's drift (each reads its own schema).
            "CREATE TABLE public.outside (id INT)",
        ],
    );
    let before = p.db.dump();
    let r = p.run(&["--fleet", "drift", "--format", "json"]);
    r.expect(1);
    p.db.assert_unchanged(&before, "drift --fleet reads only");
    let (targets, summary) = fleet_report(&r.stdout);
    assert_eq!(
        summary,
        serde_json::json!({"no_drift": 1, "drift": 2, "failed": 0, "replays": 1})
    );
    assert_eq!(targets["tenant_a"]["differences"], serde_json::json!([]));
    assert_eq!(
        targets["tenant_b"]["differences"],
        serde_json::json!([{"object": "index", "name": "hand_idx", "property": "extra",
            "expected": "no", "actual": "yes"}])
    );
    let c = &targets["tenant_c"]["differences"][0];
    assert_eq!(
        (c["name"].as_str(), c["property"].as_str()),
        (Some("posts.title"), Some("type"))
    );
}

/// SPEC §12.5 with `--parallel 1`: every tenant is read on the connection the one before it
/// left (switched to the tenant's tracking table): tenants at two versions get two replays,
/// and each tenant's rows and schema are its own.
#[cfg(feature = "postgres")]
fn drift_fleet_of_schemas_on_one_connection(b: Backend) {
    let p = migrated_tenants(b, &["tenant_a", "tenant_b", "tenant_c", "tenant_d"]);
    // tenant_b one version behind: its own rows must be read, not tenant_a's.
    p.run(&["--fleet", "--target", "tenant_b", "backwards", "blog", "-y"])
        .expect(0);
    p.run(&["--fleet", "--parallel", "1", "drift"])
        .expect(0)
        .stderr_has("4 target(s): 4 no drift, 0 drift, 0 failed; 2 replay(s)");
    on_live(
        &p,
        &[
            "CREATE INDEX hand_idx ON tenant_c.people (email, id)",
            // What tenant_b lacks by its history: drift there only.
            "CREATE TABLE tenant_b.posts (id INTEGER PRIMARY KEY, title VARCHAR(20))",
        ],
    );
    let r = p.run(&["--fleet", "--parallel", "1", "drift", "--format", "json"]);
    r.expect(1);
    let (targets, summary) = fleet_report(&r.stdout);
    assert_eq!(
        summary,
        serde_json::json!({"no_drift": 2, "drift": 2, "failed": 0, "replays": 2})
    );
    for clean in ["tenant_a", "tenant_d"] {
        assert_eq!(
            targets[clean]["differences"],
            serde_json::json!([]),
            "{clean}"
        );
    }
    assert_eq!(
        targets["tenant_c"]["differences"],
        serde_json::json!([{"object": "index", "name": "hand_idx", "property": "extra",
            "expected": "no", "actual": "yes"}])
    );
    let extra: Vec<&str> = targets["tenant_b"]["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["property"] == "extra")
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(extra, ["posts"], "{}", r.stdout);
}

#[cfg(feature = "postgres")]
#[test]
fn drift_fleet_of_postgres_schemas_on_one_connection() {
    drift_fleet_of_schemas_on_one_connection(Backend::Postgres);
}

#[cfg(feature = "postgres")]
#[test]
fn drift_fleet_of_postgres_schemas_on_one_connection_through_pgbouncer() {
    drift_fleet_of_schemas_on_one_connection(Backend::PgBouncer);
}

#[cfg(feature = "postgres")]
#[test]
fn drift_fleet_of_postgres_schemas() {
    drift_fleet_of_schemas(Backend::Postgres);
}

#[cfg(feature = "postgres")]
#[test]
fn drift_fleet_of_postgres_schemas_through_pgbouncer() {
    drift_fleet_of_schemas(Backend::PgBouncer);
}
