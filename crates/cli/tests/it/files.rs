//! Behaviour that does not depend on the backend, run on SQLite: file format, configuration,
//! scaffolding and the binary's own surface.

use crate::support::{v, Backend, Project};

fn sqlite() -> Project {
    Project::new(Backend::Sqlite)
}

#[test]
fn crlf_bom_and_pair_form_files_work() {
    let p = sqlite();
    p.write("users", "1_crlf.sql", "\u{feff}-- ferry:description CRLF file\r\n-- ferry:up\r\nCREATE TABLE crlf (id INTEGER);\r\n-- ferry:down\r\nDROP TABLE crlf;\r\n");
    p.write(
        "users",
        "2_add-user_index.up.sql",
        "CREATE TABLE pair (id INTEGER);\n",
    );
    p.write("users", "2_add-user_index.down.sql", "DROP TABLE pair;\n");
    p.write(
        "users",
        "3_v2.1_fix.up.sql",
        "-- ferry:no-transaction\nCREATE TABLE irreversible_pair (id INTEGER);\n",
    );
    p.write("users", "notes.txt", "ignored");
    p.run(&["forwards", "users"]).expect(0);
    let r = p.run(&["check", "users"]);
    r.expect(0)
        .stdout_has("CRLF file")
        .stdout_has("add-user index")
        .stdout_has("v2.1 fix");
    p.run(&["backwards", "users", "all", "-y"])
        .expect(1)
        .stderr_has("irreversible");
    p.run(&["backwards", "users", "2", "-y"]).expect(1);
    p.run(&["backwards", "users", "-y"]).expect(1);
    // Same checksum for CRLF and LF: rewriting the file with LF keeps it `applied`.
    p.write("users", "1_crlf.sql", "-- ferry:description CRLF file\n-- ferry:up\nCREATE TABLE crlf (id INTEGER);\n-- ferry:down\nDROP TABLE crlf;\n");
    assert_eq!(p.ids("users", "applied"), v(&["1", "2", "3"]));
}

#[test]
fn malformed_files_name_file_and_line_and_run_nothing() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "1_x.sql",
            "CREATE TABLE a (id INT);\n-- ferry:up\n",
            ":1: SQL before the first marker",
        ),
        (
            "1_x.sql",
            "-- ferry:down\nDROP TABLE a;\n",
            "no `-- ferry:up` marker",
        ),
        (
            "1_x.sql",
            "-- ferry:up\nA;\n-- ferry:down\nB;\n-- ferry:down\n",
            ":5: repeated marker",
        ),
        (
            "1_x.sql",
            "-- ferry:up\n-- ferry:sideways\n",
            ":2: unknown directive",
        ),
        (
            "1_x.sql",
            "-- ferry:up wrong-option\n",
            ":1: unknown option",
        ),
        ("x1_bad.sql", "-- ferry:up\n", "does not match"),
        (
            "1_x.down.sql",
            "DROP TABLE a;\n",
            "down file without its up file",
        ),
    ];
    for (name, text, expected) in cases {
        let p = sqlite();
        p.table_migration("users", "0", "fine");
        let path = p.write("users", name, text);
        let r = p.run(&["forwards", "users"]);
        r.expect(2)
            .stderr_has(&path.display().to_string())
            .stderr_has(expected);
        assert!(!p.path("test.db").exists(), "{name}: nothing may run");
    }
    // Invalid UTF-8 and duplicate IDs.
    let p = sqlite();
    let path = p.path("migrations/users/1_bin.sql");
    std::fs::write(&path, b"-- ferry:up\nSELECT '\xff';\n").unwrap();
    p.run(&["check"])
        .expect(2)
        .stderr_has("1_bin.sql:2")
        .stderr_has("UTF-8");
    std::fs::remove_file(&path).unwrap();
    p.table_migration("users", "7", "seven");
    p.table_migration("users", "007", "seven_again");
    p.run(&["forwards", "all"])
        .expect(2)
        .stderr_has("duplicate migration ID");
}

#[test]
fn configuration_errors_exit_2() {
    let cycle = "[[app]]\nname = \"a\"\ndepends_on = [\"b\"]\n[[app]]\nname = \"b\"\ndepends_on = [\"a\"]\n";
    let p = Project::with_config(Backend::Sqlite, cycle);
    p.run(&["check"]).expect(2).stderr_has("a -> b -> a");
    for (config, expected) in [
        ("[[app]]\nname = \"all\"\n", "reserved"),
        ("[[app]]\nname = \"a\"\n[[app]]\nname = \"a\"\n", "twice"),
        ("[[app]]\nname = \"a\"\ndepends_on = [\"ghost\"]\n", "ghost"),
        ("[[app]]\nname = \"bad name\"\n", "invalid app name"),
        ("tabel = \"x\"\n", "tabel"),
        ("table = \"drop table;\"\n", "invalid tracking table name"),
    ] {
        let p = Project::with_config(Backend::Sqlite, config);
        p.run(&["check"])
            .expect(2)
            .stderr_has(expected)
            .stderr_has("ferry.toml");
    }
    let p = sqlite();
    p.run(&["check", "--format", "yaml"]).expect(2);
    p.run(&["frobnicate"]).expect(2);
    p.run(&["--table", "bad-name", "check"]).expect(2);
}

#[test]
fn out_of_range_lock_timeouts_are_usage_errors_not_panics() {
    let p = sqlite();
    for value in ["2592000", "1e19", "1e300", "-1", "NaN", "inf"] {
        let arg = format!("--lock-timeout={value}");
        let r = p.run(&[&arg, "forwards", "all"]);
        let r = r.expect(2).stderr_has("--lock-timeout");
        assert!(
            !r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE"),
            "{value}: {}",
            r.stderr
        );
    }
    p.run(&["--lock-timeout", "604800", "forwards", "all"])
        .expect(0);
}

#[test]
fn url_precedence_dotenv_and_missing_url() {
    let p = sqlite();
    p.table_migration("users", "1", "prec");
    let cfg_db = p.path("from_config.db");
    std::fs::write(
        p.path("ferry.toml"),
        format!(
            "database_url = \"sqlite:from_config.db\"\n{}",
            crate::support::CONFIG
        ),
    )
    .unwrap();
    // Config only (relative to the config's folder, even from a sub-folder).
    std::fs::create_dir_all(p.path("sub")).unwrap();
    p.ferry()
        .current_dir(p.path("sub"))
        .env_remove("FERRY_DATABASE_URL")
        .args(["forwards", "users"])
        .assert()
        .code(0);
    assert!(cfg_db.exists());
    // .env beats the config; FERRY_DATABASE_URL beats .env's DATABASE_URL; -d beats all.
    std::fs::write(p.path(".env"), "DATABASE_URL=sqlite:from_dotenv.db\n").unwrap();
    p.ferry()
        .env_remove("FERRY_DATABASE_URL")
        .args(["forwards", "users"])
        .assert()
        .code(0);
    assert!(p.path("from_dotenv.db").exists());
    p.ferry()
        .env_remove("FERRY_DATABASE_URL")
        .args(["--no-dotenv", "check", "users", "--strict"])
        .assert()
        .code(0);
    p.ferry().args(["forwards", "users"]).assert().code(0);
    assert!(p.path("test.db").exists());
    p.ferry()
        .args(["forwards", "users", "-d", "sqlite:from_flag.db"])
        .assert()
        .code(0);
    assert!(p.path("from_flag.db").exists());
    // No URL anywhere.
    let q = sqlite();
    q.table_migration("users", "1", "x");
    let out = q
        .ferry()
        .env_remove("FERRY_DATABASE_URL")
        .args(["check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database URL"));
}

#[test]
fn passwords_never_appear() {
    let p = sqlite();
    p.table_migration("users", "1", "x");
    for url in [
        "postgres://ferry:s3cret@127.0.0.1:1/nope",
        "mysql://ferry:s3cret@127.0.0.1:1/nope",
        "oracle://ferry:s3cret@127.0.0.1:1/nope",
    ] {
        let out = p.ferry().args(["-v", "check", "-d", url]).output().unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("s3cret"), "{url}: {all}");
        assert_ne!(out.status.code(), Some(0), "{all}");
    }
    // Nor from a malformed .env or ferry.toml, whose error messages quote no source text.
    std::fs::write(
        p.path(".env"),
        "DATABASE_URL=\"postgres://u:s3cret@h/db\nBROKEN s3cret\n",
    )
    .unwrap();
    let r = p.run(&["check"]);
    r.expect(2).stderr_has(".env");
    assert!(!r.stderr.contains("s3cret"), "{}", r.stderr);
    std::fs::remove_file(p.path(".env")).unwrap();
    std::fs::write(
        p.path("ferry.toml"),
        "database_url = \"postgres://u:s3cret@h/db\n",
    )
    .unwrap();
    let r = p.run(&["check"]);
    r.expect(2).stderr_has("ferry.toml").stderr_has("line 1");
    assert!(!r.stderr.contains("s3cret"), "{}", r.stderr);
}

#[test]
fn new_and_init_write_files() {
    let dir = tempfile::tempdir().unwrap();
    let ferry = || {
        let mut c = assert_cmd::Command::cargo_bin("ferry").unwrap();
        c.current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("FERRY_DATABASE_URL");
        c
    };
    ferry().arg("init").assert().code(0);
    assert!(dir.path().join("ferry.toml").is_file() && dir.path().join("migrations").is_dir());
    ferry().arg("init").assert().code(1);
    std::fs::write(dir.path().join("ferry.toml"), "[[app]]\nname = \"users\"\n").unwrap();
    let out = ferry()
        .args(["new", "users", "Add", "user", "index!"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let path = std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let name = path.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.ends_with("_add_user_index.sql") && name.len() == 14 + "_add_user_index.sql".len(),
        "{name}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("-- ferry:up")
            && text.contains("-- ferry:down")
            && text.contains("Add user index!")
    );
    // A clash within the app bumps the ID by one second.
    let out2 = ferry()
        .args(["new", "users", "Add", "user", "index!"])
        .output()
        .unwrap();
    let path2 = String::from_utf8(out2.stdout).unwrap();
    assert_ne!(path.display().to_string(), path2.trim());
    ferry().args(["new", "ghost", "x"]).assert().code(1);
}

#[test]
fn init_with_apps_is_ready_for_new() {
    let dir = tempfile::tempdir().unwrap();
    let ferry = || {
        let mut c = assert_cmd::Command::cargo_bin("ferry").unwrap();
        c.current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("FERRY_DATABASE_URL");
        c
    };
    // A bad name writes nothing.
    let out = ferry()
        .args(["init", "--app", "bad name"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid app name `bad name`"));
    assert!(!dir.path().join("ferry.toml").exists());
    ferry()
        .args(["init", "--app", "users", "--app", "blog"])
        .assert()
        .code(0);
    assert!(dir.path().join("migrations/users").is_dir());
    assert!(dir.path().join("migrations/blog").is_dir());
    ferry()
        .args(["new", "users", "create", "users"])
        .assert()
        .code(0);
    // Again: refused, naming the file, nothing changed.
    let out = ferry().args(["init", "--app", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ferry.toml already exists; nothing was changed"),
        "{stderr}"
    );
    // A config without apps: the lines to add.
    std::fs::write(
        dir.path().join("ferry.toml"),
        "database_url = \"sqlite:x.db\"\n",
    )
    .unwrap();
    let out = ferry().args(["new", "posts", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("append the lines `[[app]]` and `name = \"posts\"` to ferry.toml"),
        "{stderr}"
    );
}

#[test]
fn limits_are_the_same_on_every_backend_and_checked_when_read() {
    let long_app = "a".repeat(256);
    let p = Project::with_config(
        Backend::Sqlite,
        &format!("[[app]]\nname = \"{long_app}\"\n"),
    );
    p.run(&["check"])
        .expect(2)
        .stderr_has("is 256 characters long; the limit is 255 on every backend");
    // A file name cannot hold a 256-digit ID (`check_limits` covers embedded migrations).
    let p = sqlite();
    p.write(
        "users",
        "1_x.sql",
        &format!(
            "-- ferry:description {}\n-- ferry:up\nSELECT 1;\n",
            "d".repeat(1001)
        ),
    );
    p.run(&["forwards", "all"])
        .expect(2)
        .stderr_has("1_x.sql: description is 1001 characters long; the limit is 1000");
    assert!(!p.db.table_exists(), "nothing was written");
}

#[test]
fn no_config_uses_migration_folders() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("migrations/zeta")).unwrap();
    std::fs::create_dir_all(dir.path().join("migrations/alpha")).unwrap();
    std::fs::write(
        dir.path().join("migrations/zeta/1_z.sql"),
        "-- ferry:up\nCREATE TABLE z (id INTEGER);\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("migrations/alpha/1_a.sql"),
        "-- ferry:up\nCREATE TABLE a (id INTEGER);\n",
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("ferry")
        .unwrap()
        .current_dir(dir.path())
        .env("FERRY_DATABASE_URL", "sqlite:nocfg.db")
        .args(["forwards", "all"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.find("alpha 1").unwrap() < err.find("zeta 1").unwrap(),
        "{err}"
    );
}

#[test]
fn version_completions_and_global_options_anywhere() {
    let out = assert_cmd::Command::cargo_bin("ferry")
        .unwrap()
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for (built, name) in [
        (cfg!(feature = "sqlite"), "sqlite"),
        (cfg!(feature = "postgres"), "postgres"),
        (cfg!(feature = "mysql"), "mysql"),
    ] {
        assert_eq!(text.contains(name), built, "{text}");
    }
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = assert_cmd::Command::cargo_bin("ferry")
            .unwrap()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&out.stdout).contains("forwards"));
    }
    let p = sqlite();
    p.table_migration("users", "1", "anywhere");
    p.run(&[
        "-q",
        "forwards",
        "users",
        "--lock-timeout",
        "5",
        "--color",
        "never",
    ])
    .expect(0);
    p.run(&["check", "--verbose"])
        .expect(0)
        .stderr_has("tracking table: ferry_migrations");
}

#[test]
fn check_output_goes_to_stdout_in_table_order() {
    let p = sqlite();
    p.table_migration("users", "10", "u10");
    p.table_migration("users", "9", "u9");
    p.table_migration("blog", "1", "b1");
    let r = p.run(&["check"]);
    r.expect(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("APP") && lines[0].contains("STATUS"));
    assert!(lines[1].starts_with("users") && lines[1].contains(" 9 "));
    assert!(lines[2].starts_with("users") && lines[2].contains(" 10 "));
    assert!(lines[3].starts_with("blog"));
    // stderr holds only the database line.
    assert_eq!(
        r.stderr,
        format!(
            "database: {} (from FERRY_DATABASE_URL in the environment)\n",
            p.db.url
        )
    );
    p.run(&["check", "users", "--format", "json"])
        .expect(0)
        .stdout_has("{\"migrations\":[{\"app_name\":\"users\",\"migration_id\":\"9\"");
}

#[test]
fn sqlite_no_transaction_section_runs_outside_the_lock_transaction() {
    // VACUUM cannot run inside a transaction: it proves the section really ran outside one,
    // between migrations that run inside the run's write lock.
    let p = sqlite();
    p.table_migration("users", "1", "before_vacuum");
    p.write(
        "users",
        "2_vacuum.sql",
        "-- ferry:up no-transaction\nVACUUM;\n-- ferry:down no-transaction\nVACUUM;\n",
    );
    p.table_migration("users", "3", "after_vacuum");
    p.write(
        "users",
        "4_slow_outside.sql",
        "-- ferry:up no-transaction\nWITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) FROM c;\n-- ferry:down\n",
    );
    p.run(&["forwards", "users"]).expect(0);
    assert_eq!(p.ids("users", "applied"), v(&["1", "2", "3", "4"]));
    // The dirty protocol's row records the time the SQL took when it is cleared.
    let mut d = p.db.driver();
    let rows = p.db.rt.block_on(d.applied(Some("users"))).unwrap();
    assert!(rows.iter().all(|r| !r.dirty));
    assert!(rows[3].duration_ms > 0, "{:?}", rows[3]);
    p.run(&["backwards", "users", "-y"]).expect(0);
    p.run(&["backwards", "users", "all", "-y"]).expect(0);
    assert_eq!(p.ids("users", "pending"), v(&["1", "2", "3", "4"]));
}
