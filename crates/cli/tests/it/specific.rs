//! Cases that belong to one backend.

#[cfg(feature = "mysql")]
use crate::support::v;
use crate::support::{Backend, Project};

/// MySQL commits DDL implicitly: a failure in the second statement leaves a dirty row, the next
/// run is refused with the resolve hint, and `resolve` clears it either way.
#[cfg(feature = "mysql")]
#[test]
fn mysql_ddl_failure_leaves_a_dirty_row_resolvable_both_ways() {
    let p = Project::new(Backend::Mysql);
    let path = p.write(
        "users",
        "1_two_statements.sql",
        "-- ferry:up\nCREATE TABLE dirty_a (id INT);\nINSERT INTO no_such_table VALUES (1);\n-- ferry:down\nDROP TABLE dirty_a;\n",
    );
    let r = p.run(&["forwards", "users"]);
    r.expect(1)
        .stderr_has(&format!("{}:3", path.display()))
        .stderr_has(&format!(
            "dirty: 1 of 2 statements ran; failed at {}:3",
            path.display()
        ))
        .stderr_has("ferry resolve users 1 --applied");
    assert_eq!(p.ids("users", "dirty"), v(&["1"]));
    p.run(&["forwards", "users"])
        .expect(1)
        .stderr_has("ferry resolve users 1");
    // The first statement ran: the human sees the table and keeps the migration as applied.
    p.run(&["resolve", "users", "1", "--applied"]).expect(0);
    assert_eq!(p.ids("users", "applied"), v(&["1"]));
    p.run(&["backwards", "users", "-y"]).expect(0);

    // The other way: clean up by hand, then mark it reverted and run it again, fixed.
    p.run(&["forwards", "users"]).expect(1);
    p.write(
        "users",
        "1_two_statements.sql",
        "-- ferry:up\nDROP TABLE dirty_a;\nCREATE TABLE dirty_a (id INT);\n-- ferry:down\nDROP TABLE dirty_a;\n",
    );
    p.run(&["resolve", "users", "1", "--reverted"]).expect(0);
    assert_eq!(p.ids("users", "pending"), v(&["1"]));
    p.run(&["forwards", "users"]).expect(0);
}

/// DML-only migrations run in a real transaction on MySQL: a failure leaves no row at all.
#[cfg(feature = "mysql")]
#[test]
fn mysql_dml_only_migration_is_transactional() {
    let p = Project::new(Backend::Mysql);
    p.table_migration("users", "1", "dml_t");
    p.write(
        "users",
        "2_dml.sql",
        "-- ferry:up\nINSERT INTO dml_t (id) VALUES (1);\nINSERT INTO dml_t (id) VALUES (1);\n-- ferry:down\nDELETE FROM dml_t;\n",
    );
    p.run(&["forwards", "users"])
        .expect(1)
        .stderr_has("users 2");
    assert_eq!(
        p.ids("users", "pending"),
        v(&["2"]),
        "no dirty row: the transaction rolled back"
    );
    p.write(
        "users",
        "2_dml.sql",
        "-- ferry:up\nINSERT INTO dml_t (id) VALUES (1);\n-- ferry:down\nDELETE FROM dml_t;\n",
    );
    p.run(&["forwards", "users"]).expect(0);
}

/// Stored procedures and triggers run as written, without DELIMITER.
#[cfg(feature = "mysql")]
#[test]
fn mysql_procedures_and_triggers_run_as_written() {
    let p = Project::new(Backend::Mysql);
    p.write(
        "users",
        "1_routines.sql",
        "-- ferry:up\nCREATE TABLE audit (n INT);\nCREATE TABLE items (id INT);\nCREATE TRIGGER items_ai AFTER INSERT ON items FOR EACH ROW\nBEGIN\n  INSERT INTO audit VALUES (NEW.id);\nEND;\nCREATE PROCEDURE add_item(IN x INT)\nBEGIN\n  INSERT INTO items VALUES (x);\n  INSERT INTO items VALUES (x + 1);\nEND;\nCALL add_item(1);\n-- ferry:down\nDROP PROCEDURE add_item;\nDROP TRIGGER items_ai;\nDROP TABLE items;\nDROP TABLE audit;\n",
    );
    p.run(&["forwards", "users"]).expect(0);
    p.run(&["backwards", "users", "-y"]).expect(0);
}

/// PostgreSQL: several CREATE INDEX CONCURRENTLY and ALTER TYPE ... ADD VALUE in
/// `no-transaction` sections; dollar-quoted bodies and DO blocks unchanged; errors carry the
/// SQLSTATE and the line in the file.
#[cfg(feature = "postgres")]
#[test]
fn postgres_no_transaction_sections_and_dollar_quotes() {
    let p = Project::new(Backend::Postgres);
    p.write(
        "users",
        "1_base.sql",
        "-- ferry:up\nCREATE TYPE mood AS ENUM ('ok');\nCREATE TABLE people (id INT, name TEXT, m mood);\nCREATE FUNCTION greet(t TEXT) RETURNS TEXT AS $$\nBEGIN\n  RETURN 'hi; ' || t; -- a comment; with semicolons\nEND;\n$$ LANGUAGE plpgsql;\nDO $do$ BEGIN PERFORM greet('x'); END $do$;\n-- ferry:down\nDROP FUNCTION greet(TEXT);\nDROP TABLE people;\nDROP TYPE mood;\n",
    );
    p.write(
        "users",
        "2_concurrently.sql",
        "-- ferry:up no-transaction\nCREATE INDEX CONCURRENTLY people_id ON people (id);\nCREATE INDEX CONCURRENTLY people_name ON people (name);\nALTER TYPE mood ADD VALUE 'great';\n-- ferry:down no-transaction\nDROP INDEX CONCURRENTLY people_name;\nDROP INDEX CONCURRENTLY people_id;\n",
    );
    p.run(&["forwards", "users"]).expect(0);
    let bad = p.write(
        "users",
        "3_bad.sql",
        "-- ferry:up\nSELECT 1;\n\nSELEC broken;\n-- ferry:down\n",
    );
    p.run(&["forwards", "users"])
        .expect(1)
        .stderr_has("42601")
        .stderr_has(&format!("{}:4", bad.display()));
    std::fs::remove_file(bad).unwrap();
    p.run(&["backwards", "users", "all", "-y"]).expect(0);
}

/// PostgreSQL: a schema-qualified tracking table, created with its schema.
#[cfg(feature = "postgres")]
#[test]
fn postgres_schema_qualified_table() {
    let p = Project::new(Backend::Postgres);
    p.table_migration("users", "1", "qualified");
    p.run(&["--table", "ops.ferry_migrations", "forwards", "users"])
        .expect(0);
    p.run(&["--table", "ops.ferry_migrations", "check", "--strict"])
        .expect(0);
    // The default table is another table: there, everything is pending.
    p.run(&["check", "--strict"]).expect(3);
}

/// `host:port` of a server URL (`scheme://user@host:port/db?...`).
#[cfg(all(feature = "postgres", feature = "mysql"))]
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap().to_owned()
}

/// Run `ferry check` with `url` in an empty project; its result and how long it took.
#[cfg(all(feature = "postgres", feature = "mysql"))]
fn check_with(url: &str) -> (crate::support::Run, std::time::Duration) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("migrations/app")).unwrap();
    let started = std::time::Instant::now();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("ferry"))
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("FERRY_DATABASE_URL")
        .env("NO_COLOR", "1")
        .args(["-d", url, "check"])
        .output()
        .unwrap();
    (out.into(), started.elapsed())
}

/// A URL pointed at a server of the other protocol fails within 5 s (well under the 30 s
/// `connect_timeout`), naming what answered (SPEC §16.10): a mysql:// URL at PostgreSQL's
/// port, a postgres:// URL at MariaDB's.
#[cfg(all(feature = "postgres", feature = "mysql"))]
#[test]
fn a_url_at_the_other_protocols_port_says_what_answered() {
    let postgres = host_port(&ferry_driver_postgres::testing::admin_url());
    let mysql = host_port(&ferry_driver_mysql::testing::admin_url());
    for (url, said) in [
        (
            format!("mysql://root@{postgres}/test"),
            "speaks the PostgreSQL protocol, not MySQL's",
        ),
        (
            format!("postgres://postgres@{mysql}/test"),
            "speaks the MySQL protocol (",
        ),
        (
            format!("postgres://postgres@{mysql}/test?sslmode=disable"),
            "speaks the MySQL protocol (",
        ),
        (
            format!("mariadb://root@{postgres}/test?ssl-mode=DISABLED"),
            "speaks the PostgreSQL protocol",
        ),
    ] {
        let (r, took) = check_with(&url);
        r.expect(1).stderr_has(said);
        assert!(took < std::time::Duration::from_secs(10), "{url}: {took:?}");
        assert_eq!(
            r.stderr.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{}",
            r.stderr
        );
    }
}

/// A server that accepts the connection and says nothing fails within 5 s for both
/// protocols, saying so.
#[cfg(all(feature = "postgres", feature = "mysql"))]
#[test]
fn a_silent_server_fails_within_seconds() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming().flatten() {
            open.push(stream); // Accepted, never answered.
        }
    });
    for url in [
        format!("postgres://u@127.0.0.1:{port}/db"),
        format!("mysql://u@127.0.0.1:{port}/db"),
    ] {
        let (r, took) = check_with(&url);
        r.expect(1)
            .stderr_has("the server accepted the connection and said nothing for");
        assert!(took < std::time::Duration::from_secs(10), "{url}: {took:?}");
    }
}
