//! Concurrent runs and the lock on every backend: one run applies each migration, lock
//! timeouts, killed runs, and the lease lock (`--lock table`) where there is one.

use crate::support::{v, Backend, Project};

use super::three;

backends!(
    concurrent_runs_apply_each_migration_once,
    concurrent_backwards_reverse_one_each,
    lock_timeout_fails_cleanly,
    killed_run_leaves_nothing_half_recorded,
);

fn concurrent_runs_apply_each_migration_once(b: Backend) {
    let p = Project::new(b);
    p.write(
        "users",
        "1_counter.sql",
        "-- ferry:up\nCREATE TABLE runs (n INTEGER);\n-- ferry:down\nDROP TABLE runs;\n",
    );
    for i in 2..=6 {
        p.write(
            "users",
            &format!("{i}_count.sql"),
            "-- ferry:up\nINSERT INTO runs (n) VALUES (1);\n-- ferry:down\nDELETE FROM runs;\n",
        );
    }
    p.table_migration("blog", "7", "concurrent_posts");
    let n = match b {
        Backend::Sqlite => 4,
        Backend::PgBouncer => 16,
        _ => 8,
    };
    p.run_concurrently(n, &["forwards", "all"]);
    assert!(p.statuses().iter().all(|s| s.2 == "applied"));
    // Every run released its lock: no advisory lock, no lease row.
    if b != Backend::Sqlite {
        p.run(&["check", "-v"])
            .expect(0)
            .stderr_has("lock held by: nobody");
    }
    // Each insert ran exactly once: five rows. A migration that counts them proves it.
    p.write("blog", "8_assert.sql", "-- ferry:up\nCREATE TABLE exactly_five AS SELECT COUNT(*) AS c FROM runs;\n-- ferry:down\nDROP TABLE exactly_five;\n");
    p.run(&["forwards", "blog"]).expect(0);
    p.write(
        "blog",
        "9_check.sql",
        "-- ferry:up\nINSERT INTO concurrent_posts (id) SELECT c FROM exactly_five;\nINSERT INTO concurrent_posts (id) VALUES (5);\n-- ferry:down\n",
    );
    // The second insert collides with the first (primary key 5) only if the count was 5.
    p.run(&["forwards", "blog"]).expect(1);
}

fn concurrent_backwards_reverse_one_each(b: Backend) {
    let p = Project::new(b);
    for (id, t) in [("1", "r1"), ("2", "r2"), ("3", "r3"), ("4", "r4")] {
        p.table_migration("users", id, t);
    }
    p.run(&["forwards", "users"]).expect(0);
    // Three runs of "reverse the last one" at once: each reverses one, as run one after another.
    p.run_concurrently(3, &["backwards", "users", "-y"]);
    assert_eq!(p.ids("users", "applied"), v(&["1"]));
}

fn lock_timeout_fails_cleanly(b: Backend) {
    let p = Project::new(b);
    three(&p);
    let mut holder = p.db.driver();
    let rt = &p.db.rt;
    rt.block_on(holder.ensure_table()).unwrap();
    rt.block_on(holder.lock(std::time::Duration::from_secs(5)))
        .unwrap();
    let started = std::time::Instant::now();
    let r = p.run(&["--lock-timeout", "1", "forwards", "all"]);
    r.expect(1)
        .stderr_has("another ferry run holds the lock")
        .stderr_has("(waited 1");
    if b != Backend::Sqlite {
        // The holder is named: the lease's owner, or the server connection.
        let holder = match b {
            Backend::PgBouncer => format!(":{}:", std::process::id()),
            Backend::Postgres => "PostgreSQL backend pid".to_owned(),
            _ => "of `root`".to_owned(),
        };
        r.stderr_has("holds the lock: ").stderr_has(&holder);
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    rt.block_on(holder.unlock()).unwrap();
    drop(holder);
    assert!(p.statuses().iter().all(|s| s.2 == "pending"));
    p.run(&["forwards", "all", "--lock-timeout", "10"])
        .expect(0);
}

fn killed_run_leaves_nothing_half_recorded(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "k1");
    p.write(
        "users",
        "2_slow.sql",
        &format!(
            "-- ferry:up\nCREATE TABLE k2 (id INTEGER);\n{}\n-- ferry:down\nDROP TABLE k2;\n",
            b.slow_sql()
        ),
    );
    let mut child = p.spawn(&["forwards", "users"]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    child.kill().unwrap();
    child.wait().unwrap();
    let st = p.statuses();
    assert!(
        !st.iter().any(|(_, id, s)| id == "2" && s == "applied"),
        "a killed migration is never recorded as applied: {st:?}"
    );
    // The lock died with the process: the next run (with a fast migration 2) completes.
    p.write(
        "users",
        "2_slow.sql",
        "-- ferry:up\nCREATE TABLE k2b (id INTEGER);\n-- ferry:down\nDROP TABLE k2b;\n",
    );
    if !p.ids("users", "dirty").is_empty() {
        p.run(&["resolve", "users", "2", "--reverted"]).expect(0);
    }
    p.run(&["forwards", "users", "--lock-timeout", "40"])
        .expect(0);
    assert_eq!(p.ids("users", "applied"), v(&["1", "2"]));
}

/// The lease lock (`--lock table`, SPEC §7) where there is one: not on SQLite, which always
/// uses its write lock.
macro_rules! lease_backends {
    ($($case:ident),* $(,)?) => {
        mod lease {
            #[cfg(feature = "postgres")]
            mod postgres {
                $( #[test] fn $case() { super::super::$case(super::super::Backend::Postgres) } )*
            }
            #[cfg(feature = "mysql")]
            mod mysql {
                $( #[test] fn $case() { super::super::$case(super::super::Backend::Mysql) } )*
            }
            #[cfg(feature = "postgres")]
            mod pgbouncer {
                $( #[test] fn $case() { super::super::$case(super::super::Backend::PgBouncer) } )*
            }
        }
    };
}

lease_backends!(
    auto_picks_the_lock_for_the_connection,
    lease_lock_applies_each_migration_once_and_leaves_no_row,
    lease_of_a_killed_run_expires,
    lease_taken_over_stops_the_run_before_it_commits,
    lease_is_renewed_during_a_long_migration,
);

/// A statement that sleeps `secs` seconds and changes nothing (DML, so it runs in a
/// transaction on every backend).
fn sleep_sql(b: Backend, secs: u32) -> String {
    match b {
        Backend::Mysql => format!("SELECT SLEEP({secs});"),
        _ => format!("SELECT pg_sleep({secs});"),
    }
}

/// Wait (at most 30 s) until `check -v` names a lock holder other than nobody; return it.
fn wait_for_holder(p: &Project) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = p.run(&["check", "-v", "--lock", "table"]);
        if let Some(line) = r.stderr.lines().find(|l| l.starts_with("lock held by: ")) {
            if line != "lock held by: nobody" {
                return line.to_owned();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no run took the lock:\n{}",
            r.stderr
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn auto_picks_the_lock_for_the_connection(b: Backend) {
    let p = Project::new(b);
    let r = p.run(&["check", "-v"]);
    r.expect(0);
    if b == Backend::PgBouncer {
        r.stderr_has(
            "lock: table lease lock (lock = auto, and the connection goes through a pooler",
        );
    } else {
        r.stderr_has("lock: advisory lock (lock = auto on a direct connection");
    }
    p.run(&["check", "-v", "--lock", "table"])
        .expect(0)
        .stderr_has("lock: table lease lock (lock = table)");
    p.run(&["check", "--lock", "session"])
        .expect(2)
        .stderr_has("possible values: auto, advisory, table");
}

fn lease_lock_applies_each_migration_once_and_leaves_no_row(b: Backend) {
    let p = Project::new(b);
    p.write(
        "users",
        "1_runs.sql",
        "-- ferry:up\nCREATE TABLE runs (n INTEGER);\n-- ferry:down\nDROP TABLE runs;\n",
    );
    for i in 2..=5 {
        p.write(
            "users",
            &format!("{i}_count.sql"),
            "-- ferry:up\nINSERT INTO runs (n) VALUES (1);\n-- ferry:down\nDELETE FROM runs;\n",
        );
    }
    p.run_concurrently(8, &["forwards", "all", "--lock", "table"]);
    assert!(p.statuses().iter().all(|s| s.2 == "applied"));
    p.run(&["check", "-v", "--lock", "table"])
        .expect(0)
        .stderr_has("lock held by: nobody");
    // Each insert ran once: four rows (the insert collides on the key 4 only then).
    p.write("blog", "6_count.sql", "-- ferry:up\nCREATE TABLE four (id INTEGER PRIMARY KEY);\nINSERT INTO four (id) SELECT COUNT(*) FROM runs;\nINSERT INTO four (id) VALUES (4);\n-- ferry:down\n");
    p.run(&["forwards", "blog", "--lock", "table"])
        .expect(1)
        .stderr_has("blog 6");
}

fn lease_of_a_killed_run_expires(b: Backend) {
    let p = Project::with_config(b, &format!("lock_lease = 2\n{}", crate::support::CONFIG));
    p.table_migration("users", "1", "e1");
    p.write(
        "users",
        "2_slow.sql",
        &format!("-- ferry:up\n{}\n-- ferry:down\n", sleep_sql(b, 30)),
    );
    let mut child = p.spawn(&["forwards", "users", "--lock", "table"]);
    let holder = wait_for_holder(&p);
    assert!(holder.contains("lease expires"), "{holder}");
    // Killed during the slow migration, once the first is recorded clean (a kill during the
    // first would rightly leave it dirty, which is not what this test is about).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while p.ids("users", "applied") != v(&["1"]) {
        assert!(
            std::time::Instant::now() < deadline,
            "migration 1 never recorded"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The next run takes the lock once the lease has run out (2 s after the last renewal).
    p.write(
        "users",
        "2_slow.sql",
        "-- ferry:up\nSELECT 1;\n-- ferry:down\n",
    );
    let started = std::time::Instant::now();
    p.run(&[
        "forwards",
        "users",
        "--lock",
        "table",
        "--lock-timeout",
        "30",
    ])
    .expect(0);
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(10),
        "the killed run's lease should expire within one lease: took {took:?}"
    );
    assert_eq!(p.ids("users", "applied"), v(&["1", "2"]));
    p.run(&["check", "-v", "--lock", "table"])
        .expect(0)
        .stderr_has("lock held by: nobody");
}

fn lease_taken_over_stops_the_run_before_it_commits(b: Backend) {
    let p = Project::new(b);
    p.write(
        "users",
        "1_runs.sql",
        "-- ferry:up\nCREATE TABLE runs (n INTEGER);\n-- ferry:down\nDROP TABLE runs;\n",
    );
    for i in 2..=5 {
        p.write(
            "users",
            &format!("{i}_count.sql"),
            &format!(
                "-- ferry:up\nINSERT INTO runs (n) VALUES (1);\n{}\n-- ferry:down\nDELETE FROM runs;\n",
                sleep_sql(b, 1)
            ),
        );
    }
    let child = p.spawn(&["forwards", "users", "--lock", "table"]);
    wait_for_holder(&p);
    // Once migration 1 (DDL: outside a transaction on MySQL) is in, while the slow ones run,
    // another run takes the lease over, as if this one's had expired.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while p.ids("users", "applied").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "migration 1 never applied"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let later = match b {
        Backend::Mysql => "UTC_TIMESTAMP(6) + INTERVAL 1 HOUR",
        _ => "now() + INTERVAL '1 hour'",
    };
    let mut intruder = p.db.driver();
    p.db.rt
        .block_on(intruder.execute(
            &format!(
                "UPDATE ferry_migrations_lock SET owner = 'intruder:1:x', expires_at = {later}"
            ),
            false,
        ))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lost the migration lock"), "{stderr}");
    assert!(stderr.contains("intruder:1:x"), "{stderr}");
    // The run left the intruder's lease alone.
    let r = p.run(&["check", "-v", "--lock", "table"]);
    r.expect(0).stderr_has("lock held by: intruder:1:x");
    let applied = p.ids("users", "applied").len();
    assert!((1..5).contains(&applied), "stopped part-way: {applied}");
    assert!(p.ids("users", "dirty").is_empty());
    // Once the intruder is gone, the rest applies, and every insert ran exactly once.
    p.db.rt
        .block_on(intruder.execute("DELETE FROM ferry_migrations_lock", false))
        .unwrap();
    p.run(&["forwards", "users", "--lock", "table"]).expect(0);
    p.write("blog", "6_count.sql", "-- ferry:up\nCREATE TABLE four (id INTEGER PRIMARY KEY);\nINSERT INTO four (id) SELECT COUNT(*) FROM runs;\nINSERT INTO four (id) VALUES (4);\n-- ferry:down\n");
    p.run(&["forwards", "blog"]).expect(1).stderr_has("blog 6");
}

fn lease_is_renewed_during_a_long_migration(b: Backend) {
    // A 1 s lease and a 4 s migration: only the renewal keeps the second run out.
    let p = Project::with_config(b, &format!("lock_lease = 1\n{}", crate::support::CONFIG));
    p.write(
        "users",
        "1_runs.sql",
        "-- ferry:up\nCREATE TABLE runs (n INTEGER);\n-- ferry:down\nDROP TABLE runs;\n",
    );
    p.write(
        "users",
        "2_long.sql",
        &format!(
            "-- ferry:up\nINSERT INTO runs (n) VALUES (1);\n{}\n-- ferry:down\nDELETE FROM runs;\n",
            sleep_sql(b, 4)
        ),
    );
    let first = p.spawn(&["forwards", "users", "--lock", "table"]);
    wait_for_holder(&p);
    let second = p.spawn(&[
        "forwards",
        "users",
        "--lock",
        "table",
        "--lock-timeout",
        "30",
    ]);
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("lost the migration lock"), "{stderr}");
    }
    assert_eq!(p.ids("users", "applied"), v(&["1", "2"]));
    // The long migration's insert ran once.
    p.write("blog", "3_once.sql", "-- ferry:up\nCREATE TABLE once_only (id INTEGER PRIMARY KEY);\nINSERT INTO once_only (id) SELECT COUNT(*) FROM runs;\nINSERT INTO once_only (id) VALUES (1);\n-- ferry:down\n");
    p.run(&["forwards", "blog"]).expect(1).stderr_has("blog 3");
}
