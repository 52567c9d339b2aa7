//! What every run starts from (SPEC §2, §16.1–16.3, 16.8, 16.9): the database line and where
//! the URL came from, `.env` lookup, the override warning, SQLite globs without `--fleet`,
//! no apps, per-command `--help`, aliases. The database line's cases run on every backend.

use std::path::Path;

use crate::support::{Backend, Project, Run};

backends!(
    database_line_comes_first_with_its_source,
    dotenv_in_the_working_directory_else_beside_ferry_toml,
    override_of_a_different_database_url_is_a_warning,
);

const SECRET: &str = "s3cret";

/// `url` with the password `s3cret` (PostgreSQL and PgBouncer trust any password; MariaDB's
/// root has none, so there the connection fails). SQLite URLs have no password.
fn with_password(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if rest.contains('@') => {
            let (user, host) = rest.split_once('@').unwrap();
            let user = user.split(':').next().unwrap();
            format!("{scheme}://{user}:{SECRET}@{host}")
        }
        _ => url.to_owned(),
    }
}

/// Another database on the same server (never connected to), with a password.
fn elsewhere(b: Backend, url: &str) -> String {
    match b {
        Backend::Sqlite => "sqlite:elsewhere.db".to_owned(),
        _ => {
            with_password(&ferry_core::driver::url::with_database(url, "ferry_elsewhere").unwrap())
        }
    }
}

/// Whether connecting with [`with_password`]'s URL works on this backend.
fn password_accepted(b: Backend) -> bool {
    b != Backend::Mysql
}

#[track_caller]
fn assert_first_line(r: &Run, line: &str) {
    assert_eq!(
        r.stderr.lines().next(),
        Some(line),
        "the database line comes first\n--- stderr\n{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains(SECRET) && !r.stdout.contains(SECRET),
        "the password is printed\n--- stdout\n{}\n--- stderr\n{}",
        r.stdout,
        r.stderr
    );
}

fn run_in(p: &Project, dir: &Path, env_url: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = p.ferry();
    cmd.current_dir(dir);
    match env_url {
        Some(url) => cmd.env("FERRY_DATABASE_URL", url),
        None => cmd.env_remove("FERRY_DATABASE_URL"),
    };
    Run::from(cmd.args(args).write_stdin("").output().unwrap())
}

/// SPEC §16.1: forwards, check, backwards, clean, resolve and verify say first which database
/// they use, password hidden, and where its URL came from; `-q` silences the line, `-v` does
/// not repeat it.
fn database_line_comes_first_with_its_source(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "first_line");
    let env_line = format!(
        "database: {} (from FERRY_DATABASE_URL in the environment)",
        p.db.url
    );
    for args in [
        &["forwards", "all"][..],
        &["check"],
        &["backwards", "users", "-y"],
        &["clean", "-y"],
        &["resolve", "users", "1", "--reverted"],
        &["verify"],
    ] {
        assert_first_line(&p.run(args), &env_line);
    }
    let quiet = p.run(&["-q", "check"]);
    quiet.expect(0);
    assert!(!quiet.stderr.contains("database:"), "{}", quiet.stderr);
    let verbose = p.run(&["-v", "check"]);
    verbose.expect(0);
    assert_first_line(&verbose, &env_line);
    assert_eq!(
        verbose.stderr.matches("database:").count(),
        1,
        "{}",
        verbose.stderr
    );

    // -d, with a password.
    let secret_url = with_password(&p.db.url);
    let r = p.run(&["check", "-d", &secret_url]);
    r.expect(if password_accepted(b) { 0 } else { 1 });
    assert_first_line(
        &r,
        &format!(
            "database: {} (from -d/--database-url)",
            ferry_core::driver::redact_url(&secret_url)
        ),
    );
    if secret_url != p.db.url {
        assert!(r.stderr.lines().next().unwrap().contains(":***@"));
    }
    // verify --scratch-url names its own source.
    let r = p.run(&["verify", "--scratch-url", &p.db.url]);
    r.expect(0);
    assert_first_line(&r, &format!("database: {} (from --scratch-url)", p.db.url));
}

/// SPEC §2: the `.env` of the working directory, else the one beside ferry.toml (found from a
/// sub-folder); the line names the file; `--no-dotenv` reads neither.
fn dotenv_in_the_working_directory_else_beside_ferry_toml(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "dotenv");
    let secret_url = with_password(&p.db.url);
    let shown = ferry_core::driver::redact_url(&secret_url);
    std::fs::write(p.path(".env"), format!("DATABASE_URL={secret_url}\n")).unwrap();
    let sub = p.path("sub/deeper");
    std::fs::create_dir_all(&sub).unwrap();
    let code = if password_accepted(b) { 0 } else { 1 };

    // In the project folder: its .env.
    let r = run_in(&p, p.dir.path(), None, &["forwards", "all"]);
    r.expect(code);
    let beside = format!(
        "database: {shown} (from DATABASE_URL in {})",
        p.path(".env").display()
    );
    assert_first_line(&r, &beside);
    // From a sub-folder without a .env: the one beside ferry.toml.
    let r = run_in(&p, &sub, None, &["check"]);
    r.expect(code);
    assert_first_line(&r, &beside);
    // A .env in the working directory wins over the one beside ferry.toml.
    std::fs::write(
        sub.join(".env"),
        format!("FERRY_DATABASE_URL={}\n", p.db.url),
    )
    .unwrap();
    let r = run_in(&p, &sub, None, &["check", "--strict"]);
    r.expect(if password_accepted(b) { 0 } else { 3 });
    assert_first_line(
        &r,
        &format!(
            "database: {} (from FERRY_DATABASE_URL in {})",
            p.db.url,
            sub.join(".env").display()
        ),
    );
    // The environment wins over any .env, and says so.
    let r = run_in(&p, &sub, Some(&p.db.url), &["check"]);
    r.expect(0);
    assert_first_line(
        &r,
        &format!(
            "database: {} (from FERRY_DATABASE_URL in the environment)",
            p.db.url
        ),
    );
    // --no-dotenv: no URL at all.
    let r = run_in(&p, &sub, None, &["--no-dotenv", "check"]);
    r.expect(2).stderr_has("no database URL");
}

/// SPEC §16.1: a URL from the environment or `.env` that overrides a different `database_url`
/// of ferry.toml gets a warning naming both (passwords hidden); the same database (a relative
/// SQLite path resolved against the config's folder) gets none, nor does `-d`.
fn override_of_a_different_database_url_is_a_warning(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "override");
    let config = std::fs::read_to_string(p.path("ferry.toml")).unwrap();
    let set_config_url = |url: &str| {
        std::fs::write(
            p.path("ferry.toml"),
            format!("database_url = \"{url}\"\n{config}"),
        )
        .unwrap();
    };
    let other = elsewhere(b, &p.db.url);
    set_config_url(&other);
    let r = p.run(&["forwards", "all"]);
    r.expect(0);
    assert_first_line(
        &r,
        &format!(
            "database: {} (from FERRY_DATABASE_URL in the environment)",
            p.db.url
        ),
    );
    let config_path = p.path("ferry.toml");
    let other_shown = match b {
        Backend::Sqlite => format!("sqlite:{}", p.path("elsewhere.db").display()),
        _ => ferry_core::driver::redact_url(&other),
    };
    r.stderr_has(&format!(
        "warning: FERRY_DATABASE_URL {} overrides database_url {other_shown} of {}",
        p.db.url,
        config_path.display()
    ));
    // From .env, the warning names the file.
    std::fs::write(p.path(".env"), format!("DATABASE_URL={}\n", p.db.url)).unwrap();
    let r = run_in(&p, p.dir.path(), None, &["check"]);
    r.expect(0).stderr_has(&format!(
        "warning: DATABASE_URL (from {}) {} overrides database_url {other_shown} of {}",
        p.path(".env").display(),
        p.db.url,
        config_path.display()
    ));
    // With -q the line goes, the warning stays.
    let r = p.run(&["-q", "check"]);
    r.expect(0).stderr_has("warning: FERRY_DATABASE_URL");
    assert!(!r.stderr.contains("database:"), "{}", r.stderr);
    // -d is no override to warn about.
    let r = p.run(&["check", "-d", &p.db.url]);
    r.expect(0);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    // The same database: no warning (SQLite: the config's relative path, resolved).
    let same = match b {
        Backend::Sqlite => "sqlite:test.db".to_owned(),
        _ => p.db.url.clone(),
    };
    set_config_url(&same);
    let r = run_in(&p, &p.path("migrations"), Some(&p.db.url), &["check"]);
    r.expect(0);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    assert!(
        !p.path("elsewhere.db").exists(),
        "the overridden database is not opened"
    );
}

/// SPEC §16.2: an SQLite glob without `--fleet` is a usage error pointing to `--fleet`, and
/// creates no file (not even one named with the glob's characters). (`?` starts the URL's
/// options, so it is no glob character in a URL.)
#[cfg(feature = "sqlite")]
#[test]
fn sqlite_glob_without_fleet_is_refused_and_creates_nothing() {
    let p = Project::new(Backend::Sqlite);
    p.table_migration("users", "1", "glob");
    std::fs::create_dir_all(p.path("tenants")).unwrap();
    let listing = || {
        let mut all: Vec<_> = walk(p.dir.path());
        all.sort();
        all
    };
    let before = listing();
    for args in [
        &["-d", "sqlite:tenants/*.db", "forwards", "all"][..],
        &["-d", "sqlite:tenants/t*", "check"],
        &["-d", "sqlite:tenants/[ab].db", "backwards", "users", "-y"],
    ] {
        let r = p.run(args);
        r.expect(2).stderr_has("--fleet").stderr_has("SQLite glob");
        assert_eq!(listing(), before, "{args:?} created a file");
    }
    // Configured in ferry.toml, the same.
    let config = std::fs::read_to_string(p.path("ferry.toml")).unwrap();
    std::fs::write(
        p.path("ferry.toml"),
        format!("database_url = \"sqlite:tenants/*.db\"\n{config}"),
    )
    .unwrap();
    let before = listing();
    let r = run_in(&p, p.dir.path(), None, &["forwards", "all"]);
    r.expect(2).stderr_has("--fleet").stderr_has(&format!(
        "database_url in {}",
        p.path("ferry.toml").display()
    ));
    assert_eq!(listing(), before);
    // With --fleet the glob is the fleet: the database line, then the fleet's sources.
    rusqlite::Connection::open(p.path("tenants/a.db")).unwrap();
    let r = run_in(&p, p.dir.path(), None, &["--fleet", "status"]);
    r.expect(0);
    let mut lines = r.stderr.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "database: sqlite:{} (from database_url in {})",
                p.path("tenants/*.db").display(),
                p.path("ferry.toml").display()
            )
            .as_str()
        ),
        "{}",
        r.stderr
    );
    assert_eq!(
        lines.next(),
        Some("fleet: targets from the files matching the SQLite glob above")
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// SPEC §16.3: no ferry.toml up the tree and no ./migrations: exit 2 saying where ferry
/// looked, for every command that needs apps; `init` still works there.
#[test]
fn no_apps_is_a_usage_error_saying_where_ferry_looked() {
    let dir = tempfile::tempdir().unwrap();
    let ferry = || {
        let mut c = assert_cmd::Command::cargo_bin("ferry").unwrap();
        c.current_dir(dir.path())
            .env("FERRY_DATABASE_URL", "sqlite:x.db")
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1");
        c
    };
    for args in [
        &["forwards", "all"][..],
        &["check"],
        &["backwards", "all", "-y"],
        &["clean"],
        &["verify"],
        &["new", "users", "x"],
    ] {
        let r = Run::from(ferry().args(args).output().unwrap());
        r.expect(2)
            .stderr_has(&format!(
                "no ferry.toml in {} or any folder above it",
                dir.path().display()
            ))
            .stderr_has(&dir.path().join("migrations").display().to_string());
        assert!(
            !dir.path().join("x.db").exists(),
            "{args:?}: nothing created"
        );
    }
    // An empty ./migrations folder is a project without apps yet: no error.
    std::fs::create_dir(dir.path().join("migrations")).unwrap();
    Run::from(ferry().args(["check"]).output().unwrap()).expect(0);
    std::fs::remove_dir(dir.path().join("migrations")).unwrap();
    ferry().arg("init").assert().code(0);
    Run::from(ferry().args(["check"]).output().unwrap()).expect(0);
}

/// SPEC §16.8: `ferry <command> --help` lists the command's own options; the fleet options
/// only for forwards, backwards, check and drift; global options under their own heading.
#[test]
fn help_lists_each_commands_own_options() {
    let help = |args: &[&str]| {
        let out = assert_cmd::Command::cargo_bin("ferry")
            .unwrap()
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let fleet_options = [
        "--fleet",
        "--target",
        "--partition",
        "--parallel",
        "--canary",
        "--keep-going",
        "--rerun-failed",
    ];
    for (command, own, fleet) in [
        (
            "forwards",
            &["--fake", "--preview", "--atomic", "--rehearse"][..],
            true,
        ),
        ("migrate", &["--fake"], true),
        ("backwards", &["--clean", "--preview"], true),
        ("rollback", &["--clean"], true),
        ("check", &["--strict", "--format"], true),
        ("status", &["--strict"], true),
        ("clean", &["--preview", "--auto-agree"], false),
        ("resolve", &["--applied", "--reverted"], false),
        ("verify", &["--scratch-url", "--keep"], false),
        ("drift", &["--scratch-url", "--format"], true),
        ("schema", &["--format"], false),
        ("new", &[], false),
        ("init", &["--app"], false),
        ("completions", &[], false),
    ] {
        let text = help(&[command, "--help"]);
        let (own_part, global_part) = text
            .split_once("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("{command}: no global options heading\n{text}"));
        for option in own {
            assert!(
                own_part.contains(option),
                "{command} lacks {option}\n{text}"
            );
        }
        for option in fleet_options {
            assert_eq!(
                own_part.contains(option),
                fleet,
                "{command}: {option}\n{text}"
            );
            assert!(!global_part.contains(option), "{command}: {option}\n{text}");
        }
        assert_eq!(
            own_part.contains("\nFleet options:\n"),
            fleet,
            "{command}\n{text}"
        );
        for global in ["--config", "--database-url", "--no-dotenv", "--quiet"] {
            assert!(!own_part.contains(global), "{command}: {global}\n{text}");
            assert!(global_part.contains(global), "{command}: {global}\n{text}");
        }
    }
    // The aliases are shown in the command list.
    let top = help(&["--help"])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for alias in ["[alias: migrate]", "[alias: rollback]", "[alias: status]"] {
        assert!(top.contains(alias), "{alias}\n{top}");
    }
    assert!(!top.contains("--fleet"), "{top}");
}

/// SPEC §16.9 and §11: the aliases run their commands, and fleet options work before or after
/// the subcommand (aliases too); on another command, or without --fleet, they are usage errors.
#[cfg(feature = "sqlite")]
#[test]
fn aliases_and_fleet_options_anywhere() {
    let p = Project::new(Backend::Sqlite);
    p.table_migration("users", "1", "aliased");
    p.run(&["migrate", "all"]).expect(0).stderr_has("applied");
    p.run(&["status", "--strict"])
        .expect(0)
        .stdout_has("applied");
    p.run(&["rollback", "users", "-y"])
        .expect(0)
        .stderr_has("reversed");
    p.run(&["status", "--strict"]).expect(3);

    std::fs::create_dir_all(p.path("tenants")).unwrap();
    rusqlite::Connection::open(p.path("tenants/a.db")).unwrap();
    rusqlite::Connection::open(p.path("tenants/b.db")).unwrap();
    let glob = "sqlite:tenants/*.db";
    for args in [
        &["-d", glob, "--fleet", "--parallel", "1", "migrate", "all"][..],
        &[
            "-d",
            glob,
            "forwards",
            "all",
            "--fleet",
            "--target",
            "tenants/a.db",
        ],
        &["--fleet", "-d", glob, "--keep-going", "status", "--strict"],
        &["-d", glob, "check", "--fleet", "--strict"],
    ] {
        p.run(args).expect(0);
    }
    for (args, message) in [
        (
            &["--fleet", "clean"][..],
            "--fleet is a fleet option of forwards, backwards, check and drift",
        ),
        (
            &["resolve", "users", "1", "--applied", "--canary", "1"],
            "--canary is a fleet option",
        ),
        (
            &["--parallel", "2", "status"],
            "--parallel is a fleet option: add --fleet",
        ),
        (&["--fleet"], "--fleet is a fleet option"),
    ] {
        let r = p.run(args);
        r.expect(2).stderr_has(message);
    }
}

/// SPEC §16.1 with `--fleet`: the configured database when the fleet uses it (the database of
/// `schemas`, password hidden), then the sources of targets.
#[cfg(feature = "postgres")]
#[test]
fn fleet_names_its_database_and_sources() {
    let p = Project::new(Backend::Postgres);
    p.table_migration("users", "1", "fleet_line");
    let secret_url = with_password(&p.db.url);
    let config = std::fs::read_to_string(p.path("ferry.toml")).unwrap();
    std::fs::write(
        p.path("ferry.toml"),
        format!(
            "schemas = [\"tenant_a\", \"tenant_b\"]\n[[target]]\nname = \"whole\"\ndatabase_url = \"{secret_url}\"\n{config}"
        ),
    )
    .unwrap();
    let r = p.run(&["--fleet", "forwards", "all"]);
    r.expect(0);
    let mut lines = r.stderr.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "database: {} (from FERRY_DATABASE_URL in the environment)",
                p.db.url
            )
            .as_str()
        ),
        "{}",
        r.stderr
    );
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "fleet: targets from 1 [[target]] entry in {}, schemas (2) on the database above",
                p.path("ferry.toml").display()
            )
            .as_str()
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(SECRET) && !r.stdout.contains(SECRET));
    // Without schemas the URL is no target: no database line, only the sources.
    std::fs::write(
        p.path("ferry.toml"),
        format!("[[target]]\nname = \"whole\"\ndatabase_url = \"{secret_url}\"\n{config}"),
    )
    .unwrap();
    let r = p.run(&["--fleet", "check", "--strict"]);
    r.expect(0);
    assert_eq!(
        r.stderr.lines().next(),
        Some(
            format!(
                "fleet: targets from 1 [[target]] entry in {}",
                p.path("ferry.toml").display()
            )
            .as_str()
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(SECRET) && !r.stdout.contains(SECRET));
}
