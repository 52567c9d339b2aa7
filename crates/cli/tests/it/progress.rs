//! The running line of a slow migration (SPEC §16.12): after 2 s, one line every
//! `FERRY_PROGRESS_INTERVAL` seconds on a non-terminal (30 s by default; 1 s here), a line
//! rewritten in place on a terminal and cleared before the next output; nothing for a quick
//! migration, nothing with `-q`.

use std::time::{Duration, Instant};

use crate::support::{run_in_pty, Backend, Project, Run};

/// SQL that runs for about `secs` seconds; SQLite has no sleep, so a recursive CTE of
/// `rows` rows stands in (its speed depends on the machine: see [`slow_run`]).
fn slow_sql(backend: Backend, secs: u32, rows: u64) -> String {
    match backend {
        Backend::Postgres | Backend::PgBouncer => format!("SELECT pg_sleep({secs});"),
        Backend::Mysql => format!("SELECT SLEEP({secs});"),
        Backend::Sqlite => format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) SELECT count(*) FROM c;"
        ),
    }
}

/// `forwards all` with `extra` arguments on a migration that runs for more than 3 s, and
/// how long it took. On SQLite the CTE grows until the run is slow enough on this machine.
fn slow_run(project: &Project, extra: &[&str]) -> (Run, Duration) {
    let backend = project.db.backend;
    let mut rows: u64 = 20_000_000;
    loop {
        project.write(
            "users",
            "1_slow.sql",
            &format!(
                "-- ferry:up\n{}\n-- ferry:down\nSELECT 1;\n",
                slow_sql(backend, 4, rows)
            ),
        );
        let started = Instant::now();
        let mut args = vec!["forwards", "all"];
        args.extend_from_slice(extra);
        let output = project
            .ferry()
            .env("FERRY_PROGRESS_INTERVAL", "1")
            .args(&args)
            .write_stdin("")
            .output()
            .unwrap();
        let took = started.elapsed();
        let run = Run::from(output);
        run.expect(0);
        if took >= Duration::from_secs(3) || backend != Backend::Sqlite {
            return (run, took);
        }
        project.run(&["backwards", "all", "-y"]).expect(0);
        rows *= 4;
        assert!(rows <= 20_000_000 * 256, "SQLite never took 3 s");
    }
}

fn running_line(backend: Backend) {
    let project = Project::new(backend);
    // A quick migration: no running line.
    project.table_migration("blog", "1", "posts");
    let quick = project
        .ferry()
        .env("FERRY_PROGRESS_INTERVAL", "1")
        .args(["forwards", "blog"])
        .write_stdin("")
        .output()
        .unwrap();
    let quick = Run::from(quick);
    quick.expect(0);
    assert!(!quick.stderr.contains("running"), "{}", quick.stderr);

    // A slow one on a non-terminal, after a quick one in the same run (the watching thread
    // is not woken for each migration): a line a second from 2 s on, each its own line,
    // before the `applied` line.
    project.table_migration("users", "0", "comments");
    let (run, took) = slow_run(&project, &[]);
    let quick = run
        .stderr
        .find("users 0")
        .expect("the quick migration ran first");
    assert!(
        quick < run.stderr.find("running").unwrap_or(0),
        "{}",
        run.stderr
    );
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("running users 1 slow ("))
        .collect();
    assert!(!lines.is_empty(), "took {took:?}:\n{}", run.stderr);
    assert!(
        lines.len() as u64 <= took.as_secs(),
        "took {took:?}:\n{}",
        run.stderr
    );
    assert!(lines[0].ends_with(" s)"), "{}", run.stderr);
    // One line per interval: none repeated (the first is not followed by a second at once).
    let distinct: std::collections::BTreeSet<&&str> = lines.iter().collect();
    assert_eq!(distinct.len(), lines.len(), "{}", run.stderr);
    let first: u64 = lines[0]["running users 1 slow (".len()..lines[0].len() - 3]
        .parse()
        .unwrap();
    assert!(first >= 2, "{}", run.stderr);
    // The slow migration's `applied` line is the last one.
    let applied = run.stderr.rfind("applied").unwrap();
    assert!(
        run.stderr.find("running").unwrap() < applied,
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains('\r') && !run.stderr.contains('\x1b'),
        "{:?}",
        run.stderr
    );

    // With -q: none.
    project.run(&["backwards", "all", "-y"]).expect(0);
    let (quiet, took) = slow_run(&project, &["-q"]);
    assert!(took >= Duration::from_secs(3) || backend == Backend::Sqlite);
    assert!(!quiet.stderr.contains("running"), "{}", quiet.stderr);
}

/// On a terminal: one line rewritten in place, cleared before `applied`.
fn live_line(backend: Backend) {
    let project = Project::new(backend);
    project.write(
        "users",
        "1_slow.sql",
        &format!(
            "-- ferry:up\n{}\n-- ferry:down\nSELECT 1;\n",
            slow_sql(backend, 4, 0)
        ),
    );
    let run = run_in_pty(&project, &["forwards", "all"], "");
    run.expect(0);
    // `script` puts everything on its stdout.
    let out = &run.stdout;
    assert!(
        out.contains("\r\x1b[2Krunning users 1 slow (2 s)"),
        "{out:?}"
    );
    assert!(
        out.contains("\r\x1b[2Krunning users 1 slow (3 s)"),
        "{out:?}"
    );
    assert!(!out.contains("running users 1 slow (2 s)\n"), "{out:?}");
    assert!(
        out.contains("\r\x1b[2Kapplied"),
        "cleared before `applied`: {out:?}"
    );
}

mod sqlite {
    #[test]
    fn running_line() {
        super::running_line(super::Backend::Sqlite)
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    #[test]
    fn running_line() {
        super::running_line(super::Backend::Postgres)
    }
    #[test]
    fn live_line() {
        super::live_line(super::Backend::Postgres)
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    #[test]
    fn running_line() {
        super::running_line(super::Backend::Mysql)
    }
    #[test]
    fn live_line() {
        super::live_line(super::Backend::Mysql)
    }
}
