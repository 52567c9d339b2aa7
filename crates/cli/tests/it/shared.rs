//! The CLI suite shared by every backend: each case is a function of the backend, and the
//! `backends!` macro instantiates it once per backend (`sqlite::`, `postgres::`, `mysql::`,
//! and `pgbouncer::`: PostgreSQL through a transaction-mode PgBouncer).

use crate::support::{run_in_pty, v, Backend, Project, CONFIG};

macro_rules! backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $case() { super::$case(super::Backend::Sqlite) } )*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $( #[test] fn $case() { super::$case(super::Backend::Postgres) } )*
        }
        #[cfg(feature = "mysql")]
        mod mysql {
            $( #[test] fn $case() { super::$case(super::Backend::Mysql) } )*
        }
        #[cfg(feature = "postgres")]
        mod pgbouncer {
            $( #[test] fn $case() { super::$case(super::Backend::PgBouncer) } )*
        }
    };
}

mod rules;

backends!(
    forwards_all_in_dependency_order,
    forwards_migration_id_forms,
    backwards_migration_id_forms,
    all_with_an_id_is_a_usage_error,
    backwards_follows_apply_order,
    out_of_order_policy_from_config_and_option,
    declined_prompt_changes_nothing,
    stdin_not_a_terminal_changes_nothing,
    preview_writes_nothing,
    clean_deletes_exactly_the_reversed_files,
    irreversible_is_refused_before_any_change,
    stored_down_sql_when_the_file_is_gone,
    changed_and_missing_statuses,
    failing_migration_in_the_middle,
    dirty_row_blocks_until_resolved,
    concurrent_runs_apply_each_migration_once,
    concurrent_backwards_reverse_one_each,
    lock_timeout_fails_cleanly,
    killed_run_leaves_nothing_half_recorded,
    reversing_a_dependency_under_a_dependant_is_refused,
    fake_records_and_asks_for_more_than_one,
    unknown_app_lists_the_known_ones,
    tracking_table_name_taken_by_an_application_table,
    atomic_is_all_or_nothing,
    rehearse_changes_nothing_and_finds_failures,
    verify_gives_each_migration_its_verdict,
    verify_drops_its_scratch_database_on_ctrl_c,
    verify_sees_every_kind_of_object_left_behind,
    verify_keep_and_scratch_url,
    verify_reads_the_schema_whole_once,
    verify_runs_no_transaction_sections_outside_a_transaction,
    missing_database_gets_the_create_hint,
    session_state_does_not_carry_into_the_next_migration,
    verify_steps_start_from_the_session_state_of_the_run,
);

fn three(p: &Project) {
    p.table_migration("users", "1", "users");
    p.table_migration("users", "2", "profiles");
    p.table_migration("blog", "3", "posts");
}

fn forwards_all_in_dependency_order(b: Backend) {
    let p = Project::new(b);
    three(&p);
    let r = p.run(&["forwards", "all"]);
    r.expect(0);
    // Progress on stderr names app, ID, description and time.
    let users_at = r
        .stderr
        .find("users 1 create users")
        .expect("progress line");
    let blog_at = r.stderr.find("blog 3 create posts").expect("progress line");
    assert!(
        users_at < blog_at,
        "users (a dependency) runs first:\n{}",
        r.stderr
    );
    assert!(r.stderr.contains(" ms)"), "{}", r.stderr);
    let st = p.statuses();
    let apps: Vec<_> = st.iter().map(|(a, i, s)| format!("{a}/{i}/{s}")).collect();
    assert_eq!(
        apps,
        ["users/1/applied", "users/2/applied", "blog/3/applied"]
    );
    p.run(&["forwards", "all"])
        .expect(0)
        .stderr_has("No migrations need to be run");
    let table = p.run(&["check"]);
    table
        .expect(0)
        .stdout_has("APP")
        .stdout_has("MIGRATION ID")
        .stdout_has("APPLIED AT");
    p.run(&["check", "--strict"]).expect(0);
}

fn forwards_migration_id_forms(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "a1");
    p.table_migration("users", "2", "a2");
    p.table_migration("users", "003", "a3");
    p.table_migration("users", "4", "a4");
    p.run(&["forwards", "users", "1"]).expect(0);
    assert_eq!(p.ids("users", "applied"), v(&["1"]));
    p.run(&["forwards", "users", "3"]).expect(0);
    assert_eq!(
        p.ids("users", "applied"),
        v(&["1", "2", "003"]),
        "an ID applies up to it; 003 keeps its zeros"
    );
    p.run(&["forwards", "users", "2"])
        .expect(0)
        .stderr_has("already applied");
    p.run(&["forwards", "users", "99"]).expect(1);
    assert_eq!(
        p.ids("users", "pending"),
        v(&["4"]),
        "unknown ID ran nothing"
    );
    p.run(&["forwards", "users"]).expect(0);
    p.run(&["forwards", "users", "99"]).expect(1);
    p.run(&["forwards", "users", "1"])
        .expect(0)
        .stderr_has("No migrations need to be run");
    p.run(&["check", "users", "--strict"]).expect(0);
}

fn backwards_migration_id_forms(b: Backend) {
    let p = Project::new(b);
    p.run(&["backwards", "users", "-y"])
        .expect(0)
        .stderr_has("No migrations to reverse");
    for (id, t) in [("1", "b1"), ("2", "b2"), ("3", "b3"), ("4", "b4")] {
        p.table_migration("users", id, t);
    }
    p.run(&["forwards", "users"]).expect(0);
    p.run(&["backwards", "users", "-y"]).expect(0);
    assert_eq!(
        p.ids("users", "applied"),
        v(&["1", "2", "3"]),
        "default `1` reverses the newest"
    );
    let r = p.run(&["backwards", "users", "4", "-y"]);
    r.expect(1).stderr_has("not applied").stderr_has("1, 2, 3");
    assert_eq!(
        p.ids("users", "applied"),
        v(&["1", "2", "3"]),
        "nothing changed"
    );
    p.run(&["backwards", "users", "2", "--auto_agree"])
        .expect(0);
    assert_eq!(
        p.ids("users", "applied"),
        v(&["1"]),
        "an ID reverses it and everything after"
    );
    p.run(&["forwards", "users"]).expect(0);
    p.run(&["backwards", "users", "all", "-y"]).expect(0);
    assert!(p.ids("users", "applied").is_empty());
}

fn all_with_an_id_is_a_usage_error(b: Backend) {
    let p = Project::new(b);
    three(&p);
    p.run(&["forwards", "all", "1"]).expect(2);
    p.run(&["forwards", "all", "3"]).expect(2);
    assert!(!p.db.table_exists(), "usage errors touch nothing");
    p.run(&["forwards", "all", "all"]).expect(0);
    p.run(&["backwards", "all", "1", "-y"]).expect(2);
    p.run(&["backwards", "all", "2", "-y"]).expect(2);
    assert_eq!(p.statuses().iter().filter(|s| s.2 == "applied").count(), 3);
    let r = p.run(&["backwards", "all", "-y"]);
    r.expect(0);
    let blog_at = r.stderr.find("blog 3").unwrap();
    let users_at = r.stderr.find("users 2").unwrap();
    assert!(
        blog_at < users_at,
        "reverse dependency order:\n{}",
        r.stderr
    );
    assert!(p.statuses().iter().all(|s| s.2 == "pending"));
}

fn backwards_follows_apply_order(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "c1");
    p.table_migration("users", "3", "c3");
    p.run(&["forwards", "users"]).expect(0);
    p.table_migration("users", "2", "c2");
    p.run(&["forwards", "users"])
        .expect(0)
        .stderr_has("out of order");
    // 2 was applied last, so it is the first to be reversed.
    p.run(&["backwards", "users", "-y"])
        .expect(0)
        .stderr_has("users 2");
    assert_eq!(p.ids("users", "applied"), v(&["1", "3"]));
    // Reversing from 3 (applied second) takes only 3: 2 is no longer applied.
    p.run(&["forwards", "users"]).expect(0);
    p.run(&["backwards", "users", "3", "-y"]).expect(0);
    assert_eq!(
        p.ids("users", "applied"),
        v(&["1"]),
        "3 and 2 (applied after 3) are reversed"
    );
}

/// SPEC §5.1.12: `out_of_order = "refuse"` refuses before anything runs, in every app;
/// `--out-of-order allow` overrides it and runs the migration without a warning.
fn out_of_order_policy_from_config_and_option(b: Backend) {
    let p = Project::with_config(b, &format!("out_of_order = \"refuse\"\n{CONFIG}"));
    p.table_migration("users", "1", "oo1");
    p.table_migration("users", "3", "oo3");
    p.run(&["forwards", "all"]).expect(0);
    p.table_migration("users", "2", "oo2");
    p.table_migration("blog", "4", "oo4");
    p.run(&["forwards", "all"])
        .expect(1)
        .stderr_has("refusing to apply migrations of `users` out of order: 2 is older than 3, which is already applied; nothing was run");
    assert_eq!(p.ids("users", "pending"), v(&["2"]));
    assert_eq!(
        p.ids("blog", "pending"),
        v(&["4"]),
        "nothing ran in any app"
    );
    p.run(&["forwards", "all", "--out-of-order", "sometimes"])
        .expect(2)
        .stderr_has("invalid value 'sometimes' for '--out-of-order <POLICY>'");
    let r = p.run(&["forwards", "all", "--out-of-order", "allow"]);
    r.expect(0);
    assert!(!r.stderr.contains("out of order"), "{}", r.stderr);
    assert_eq!(p.ids("users", "applied"), v(&["1", "2", "3"]));
    assert_eq!(p.ids("blog", "applied"), v(&["4"]));
}

fn declined_prompt_changes_nothing(b: Backend) {
    let p = Project::new(b);
    three(&p);
    p.run(&["forwards", "all"]).expect(0);
    let r = run_in_pty(&p, &["backwards", "users", "2"], "n\n");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("users 2 create profiles"),
        "the prompt lists the migrations: {r:?}"
    );
    assert!(r.stdout.contains("Reverse 1 migration(s)? [y/N]"), "{r:?}");
    assert!(r.stdout.contains("Not proceeding."), "{r:?}");
    assert_eq!(p.ids("users", "applied"), v(&["1", "2"]));
    let r = run_in_pty(&p, &["backwards", "blog"], "YES\n");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(p.ids("blog", "pending"), v(&["3"]));
}

fn stdin_not_a_terminal_changes_nothing(b: Backend) {
    let p = Project::new(b);
    three(&p);
    p.run(&["forwards", "all"]).expect(0);
    // stdin holds a "y", but it is not a terminal: ferry must refuse without reading it.
    let out = p
        .ferry()
        .args(["backwards", "users"])
        .write_stdin("y\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a terminal") && err.contains("-y"),
        "{err}"
    );
    assert_eq!(p.ids("users", "applied"), v(&["1", "2"]));
}

fn preview_writes_nothing(b: Backend) {
    let p = Project::new(b);
    three(&p);
    let r = p.run(&["forwards", "all", "--preview"]);
    r.expect(0)
        .stdout_has("-- users 1 create users (forwards)\nCREATE TABLE users")
        .stdout_has("-- blog 3 create posts (forwards)");
    assert!(!p.db.table_exists(), "preview created the tracking table");
    p.run(&["check"]).expect(0);
    assert!(!p.db.table_exists(), "check created the tracking table");
    p.run(&["forwards", "all"]).expect(0);
    let r = p.run(&["backwards", "all", "--preview"]);
    r.expect(0)
        .stdout_has("-- blog 3 create posts (backwards)\nDROP TABLE posts;");
    let first = r.stdout.find("users 2").unwrap();
    let second = r.stdout.find("users 1").unwrap();
    assert!(first < second, "newest first");
    assert_eq!(p.statuses().iter().filter(|s| s.2 == "applied").count(), 3);
}

fn clean_deletes_exactly_the_reversed_files(b: Backend) {
    let p = Project::new(b);
    let f1 = p.table_migration("users", "1", "d1");
    let f2 = p.table_migration("users", "2", "d2");
    let f3 = p.table_migration("users", "3", "d3");
    p.run(&["forwards", "users"]).expect(0);
    p.run(&["backwards", "users", "2", "-y", "--clean"])
        .expect(0);
    assert!(f1.exists() && !f2.exists() && !f3.exists());
    assert_eq!(p.ids("users", "applied"), v(&["1"]));
    // `--clean` works with app `all` too; its preview deletes nothing.
    let post = p.table_migration("blog", "9", "d9");
    p.run(&["forwards", "blog"]).expect(0);
    p.run(&["backwards", "all", "-y", "--clean", "--preview"])
        .expect(0);
    assert!(post.exists() && f1.exists(), "preview deletes nothing");
    p.run(&["backwards", "all", "-y", "--clean"]).expect(0);
    assert!(!post.exists() && !f1.exists());
    let f1 = p.table_migration("users", "1", "d1");
    p.run(&["forwards", "users"]).expect(0);
    #[cfg(unix)]
    {
        // A symlinked migration file is refused before anything changes.
        let target = p.path("elsewhere.sql");
        std::fs::rename(&f1, &target).unwrap();
        std::os::unix::fs::symlink(&target, &f1).unwrap();
        p.run(&["backwards", "users", "-y", "--clean"])
            .expect(1)
            .stderr_has("symbolic link");
        assert!(target.exists() && f1.exists());
        assert_eq!(p.ids("users", "applied"), v(&["1"]));
    }
}

fn irreversible_is_refused_before_any_change(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "e1");
    p.write(
        "users",
        "2_irreversible.sql",
        "-- ferry:up\nCREATE TABLE e2 (id INTEGER);\n",
    );
    p.table_migration("users", "3", "e3");
    p.run(&["forwards", "users"]).expect(0);
    let r = p.run(&["backwards", "users", "all", "-y"]);
    r.expect(1).stderr_has("irreversible").stderr_has("users 2");
    assert_eq!(
        p.ids("users", "applied"),
        v(&["1", "2", "3"]),
        "not even 3 was reversed"
    );
    p.run(&["backwards", "users", "-y"]).expect(0);
}

fn stored_down_sql_when_the_file_is_gone(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "f1");
    let f2 = p.table_migration("users", "2", "f2");
    p.run(&["forwards", "users"]).expect(0);
    std::fs::remove_file(&f2).unwrap();
    assert_eq!(p.ids("users", "missing"), v(&["2"]));
    p.run(&["backwards", "users", "-y"])
        .expect(0)
        .stderr_has("stored");
    // The table was really dropped: applying the migration again works.
    p.table_migration("users", "2", "f2");
    p.run(&["forwards", "users"]).expect(0);
}

fn changed_and_missing_statuses(b: Backend) {
    let p = Project::new(b);
    let f1 = p.table_migration("users", "1", "g1");
    let f2 = p.table_migration("users", "2", "g2");
    p.table_migration("users", "3", "g3");
    p.run(&["forwards", "users", "2"]).expect(0);
    // Editing the down section does not change the checksum; editing the up section does.
    let text = std::fs::read_to_string(&f1)
        .unwrap()
        .replace("DROP TABLE g1;", "DROP TABLE g1; -- edited");
    std::fs::write(&f1, text).unwrap();
    assert_eq!(p.ids("users", "applied"), v(&["1", "2"]));
    std::fs::write(
        &f1,
        std::fs::read_to_string(&f1)
            .unwrap()
            .replace("(id INTEGER PRIMARY KEY)", "(id INTEGER PRIMARY KEY) "),
    )
    .unwrap();
    std::fs::remove_file(&f2).unwrap();
    let st = p.statuses();
    let got: Vec<_> = st.iter().map(|(_, i, s)| format!("{i}:{s}")).collect();
    assert_eq!(got, ["1:changed", "2:missing", "3:pending"]);
    let r = p.run(&["check", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let rows = json["migrations"].as_array().unwrap();
    assert_eq!(rows[0]["has_ran"], true);
    assert_eq!(rows[1]["has_ran"], true);
    assert_eq!(rows[2]["has_ran"], false);
    assert!(rows[2]["applied_at"].is_null());
    assert!(chrono::DateTime::parse_from_rfc3339(rows[0]["applied_at"].as_str().unwrap()).is_ok());
    p.run(&["check", "--strict"]).expect(3);
    p.run(&["forwards", "users"])
        .expect(0)
        .stderr_has("changed");
    // clean forgets the missing row only.
    p.run(&["clean", "users", "--preview"])
        .expect(0)
        .stdout_has("users 2");
    assert_eq!(p.ids("users", "missing"), v(&["2"]));
    p.run(&["clean", "users"]).expect(1);
    p.run(&["clean", "users", "-y"]).expect(0);
    let got: Vec<_> = p
        .statuses()
        .iter()
        .map(|(_, i, s)| format!("{i}:{s}"))
        .collect();
    assert_eq!(got, ["1:changed", "3:applied"]);
}

fn failing_migration_in_the_middle(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "h1");
    let bad = p.write(
        "users",
        "2_broken.sql",
        "-- ferry:up\nINSERT INTO h1 (id) VALUES (1);\nINSERT INTO no_such_table (id) VALUES (1);\n-- ferry:down\n",
    );
    p.table_migration("users", "3", "h3");
    let r = p.run(&["forwards", "users"]);
    r.expect(1)
        .stderr_has("users 2")
        .stderr_has(&bad.display().to_string());
    assert_eq!(p.ids("users", "applied"), v(&["1"]));
    assert_eq!(p.ids("users", "pending"), v(&["2", "3"]));
    if b != Backend::Sqlite || r.stderr.contains(":3)") {
        // The line of the failing statement within the file.
        r.stderr_has(":3)");
    }
    // The first insert of the failed migration was rolled back with it.
    p.write(
        "users",
        "2_broken.sql",
        "-- ferry:up\nINSERT INTO h1 (id) VALUES (1);\n-- ferry:down\nDELETE FROM h1;\n",
    );
    p.run(&["forwards", "users"]).expect(0);
}

fn dirty_row_blocks_until_resolved(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "i1");
    p.write(
        "users",
        "2_outside.sql",
        // Two statements: on MySQL a failing first statement leaves no dirty row (SPEC §14).
        "-- ferry:up no-transaction\nINSERT INTO i1 (id) VALUES (1);\nINSERT INTO no_such_table (id) VALUES (1);\n-- ferry:down\n",
    );
    p.run(&["forwards", "users"]).expect(1);
    assert_eq!(p.ids("users", "dirty"), v(&["2"]));
    p.run(&["check", "--strict"]).expect(3);
    p.run(&["forwards", "users"])
        .expect(1)
        .stderr_has("ferry resolve users 2");
    p.run(&["backwards", "users", "-y"])
        .expect(1)
        .stderr_has("dirty");
    p.run(&["resolve", "users", "1", "--applied"])
        .expect(1)
        .stderr_has("not dirty");
    p.run(&["resolve", "users", "2"]).expect(2);
    p.run(&["resolve", "users", "2", "--reverted"]).expect(0);
    assert_eq!(p.ids("users", "pending"), v(&["2"]));
    p.write("users", "2_outside.sql", "-- ferry:up no-transaction\nCREATE TABLE i2 (id INTEGER);\n-- ferry:down no-transaction\nDROP TABLE i2;\n");
    p.run(&["forwards", "users"]).expect(0);
    assert_eq!(p.ids("users", "applied"), v(&["1", "2"]));
    p.run(&["backwards", "users", "-y"]).expect(0);
}

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

fn reversing_a_dependency_under_a_dependant_is_refused(b: Backend) {
    let p = Project::new(b);
    three(&p);
    p.run(&["forwards", "all"]).expect(0);
    p.run(&["backwards", "users", "all", "-y"])
        .expect(1)
        .stderr_has("blog");
    assert_eq!(p.ids("users", "applied"), v(&["1", "2"]));
    p.run(&["backwards", "users", "-y"]).expect(0);
    p.run(&["backwards", "blog", "-y"]).expect(0);
    p.run(&["backwards", "users", "all", "-y"]).expect(0);
}

fn fake_records_and_asks_for_more_than_one(b: Backend) {
    let p = Project::new(b);
    three(&p);
    p.run(&["forwards", "users", "--fake"])
        .expect(1)
        .stderr_has("not a terminal");
    assert!(p.ids("users", "applied").is_empty(), "nothing recorded");
    p.run(&["forwards", "users", "1", "--fake"]).expect(0);
    p.run(&["forwards", "users", "--fake", "-y"]).expect(0);
    assert_eq!(p.ids("users", "applied"), v(&["1", "2"]));
    // Nothing ran: creating the tables for real works.
    p.write("blog", "4_real.sql", "-- ferry:up\nCREATE TABLE users (id INTEGER);\nCREATE TABLE profiles (id INTEGER);\n-- ferry:down\n");
    p.run(&["forwards", "blog"]).expect(0);
}

fn unknown_app_lists_the_known_ones(b: Backend) {
    let p = Project::new(b);
    three(&p);
    for args in [
        &["forwards", "nope"][..],
        &["backwards", "nope", "-y"],
        &["check", "nope"],
        &["clean", "nope", "-y"],
        &["resolve", "nope", "1", "--applied"],
        &["new", "nope", "x"],
    ] {
        p.run(args)
            .expect(1)
            .stderr_has("nope")
            .stderr_has("blog, users");
    }
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

fn tracking_table_name_taken_by_an_application_table(b: Backend) {
    let p = Project::new(b);
    three(&p);
    let mut d = p.db.driver();
    p.db.rt
        .block_on(d.execute("CREATE TABLE effects (id INTEGER);", false))
        .unwrap();
    for args in [
        &["--table", "effects", "forwards", "all"][..],
        &["--table", "effects", "check"][..],
    ] {
        p.run(args)
            .expect(1)
            .stderr_has("table `effects` exists but is not a ferry tracking table")
            .stderr_has("nothing was changed")
            .stderr_has("--table NAME");
    }
    // Nothing ran: the default table is still free and every migration pending.
    assert!(!p.db.table_exists());
    assert!(p.statuses().iter().all(|s| s.2 == "pending"));
}

fn atomic_is_all_or_nothing(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "at_a");
    p.table_migration("users", "2", "at_b");
    let broken = p.write(
        "users",
        "3_broken.sql",
        "-- ferry:up\nCREATE TABLE at_c (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n-- ferry:down\n",
    );
    let r = p.run(&["forwards", "users", "--atomic"]);
    if b == Backend::Mysql {
        r.expect(1).stderr_has("--atomic is not possible on mysql");
        assert!(!p.db.table_exists(), "refused before any change");
        return;
    }
    r.expect(1)
        .stderr_has("users 3")
        .stderr_has(&broken.display().to_string())
        .stderr_has("nothing was applied");
    assert_eq!(p.ids("users", "pending"), v(&["1", "2", "3"]));
    // at_a and at_b were rolled back with the rest: creating them again works.
    p.write(
        "users",
        "3_broken.sql",
        "-- ferry:up\nCREATE TABLE at_c (id INTEGER);\n-- ferry:down\nDROP TABLE at_c;\n",
    );
    p.run(&["forwards", "users", "--atomic"])
        .expect(0)
        .stderr_has("Applied 3 migrations");
    assert_eq!(p.ids("users", "applied"), v(&["1", "2", "3"]));
    // A no-transaction migration cannot be in the transaction: refused, nothing changed.
    p.write(
        "blog",
        "4_concurrently.sql",
        "-- ferry:up no-transaction\nCREATE TABLE at_d (id INTEGER);\n-- ferry:down\nDROP TABLE at_d;\n",
    );
    p.table_migration("blog", "5", "at_e");
    let before = p.db.dump();
    p.run(&["forwards", "all", "--atomic"])
        .expect(1)
        .stderr_has("--atomic cannot include migration blog 4")
        .stderr_has("4_concurrently.sql");
    p.db.assert_unchanged(&before, "refused before any change");
}

fn rehearse_changes_nothing_and_finds_failures(b: Backend) {
    let p = Project::new(b);
    p.write(
        "users",
        "1_people.sql",
        "-- ferry:up\nCREATE TABLE people (email VARCHAR(50));\nINSERT INTO people (email) VALUES ('a@x'), ('a@x');\n-- ferry:down\nDROP TABLE people;\n",
    );
    p.table_migration("users", "2", "rh_two");
    // Pending and clean: the rehearsal runs it, rolls it back, and changes nothing at all,
    // not even the tracking table's creation.
    let before = p.db.dump();
    let r = p.run(&["forwards", "all", "--rehearse"]);
    if b == Backend::Mysql {
        r.expect(1).stderr_has("ferry verify");
        p.db.assert_unchanged(&before, "refused");
        return;
    }
    r.expect(0)
        .stderr_has("ran       users 1")
        .stderr_has("Rehearsal: 2 migrations would apply; nothing was changed");
    p.db.assert_unchanged(&before, "a rehearsal changes nothing");
    assert!(!p.db.table_exists());
    p.run(&["forwards", "users", "1"]).expect(0);
    // A pending unique index that the existing rows violate: reported, nothing changed.
    let bad = p.write(
        "users",
        "3_unique.sql",
        "-- ferry:up\nCREATE UNIQUE INDEX people_email ON people (email);\n-- ferry:down\nDROP INDEX people_email;\n",
    );
    let before = p.db.dump();
    p.run(&["forwards", "users", "--rehearse"])
        .expect(1)
        .stderr_has("users 3")
        .stderr_has(&bad.display().to_string());
    p.db.assert_unchanged(&before, "a failed rehearsal changes nothing");
    assert_eq!(p.ids("users", "pending"), v(&["2", "3"]));
    // A no-transaction migration is skipped and ends its app's rehearsal; other apps go on.
    std::fs::remove_file(bad).unwrap();
    p.write(
        "users",
        "3_outside.sql",
        "-- ferry:up no-transaction\nCREATE TABLE rh_three (id INTEGER);\n-- ferry:down\nDROP TABLE rh_three;\n",
    );
    p.table_migration("users", "4", "rh_four");
    p.table_migration("blog", "5", "rh_five");
    let before = p.db.dump();
    p.run(&["forwards", "all", "--rehearse"])
        .expect(0)
        .stderr_has("ran       users 2")
        .stderr_has("skipped   users 3 outside (no-transaction)")
        .stderr_has("skipped   users 4 create rh four (follows a no-transaction migration)")
        .stderr_has("ran       blog 5")
        .stderr_has("Rehearsal: 2 migrations would apply; nothing was changed");
    p.db.assert_unchanged(
        &before,
        "a rehearsal with a skipped migration changes nothing",
    );
    p.run(&["forwards", "users", "--rehearse"]).expect(0);
    p.run(&["forwards", "all"]).expect(0);
    p.run(&["forwards", "all", "--rehearse"])
        .expect(0)
        .stderr_has("No migrations need to be run");
}

/// The scratch database a `ferry verify -v` run used, from its stderr.
fn scratch_url(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("scratch database: "))
        .unwrap_or_else(|| panic!("no scratch database line:\n{stderr}"))
        .to_owned()
}

/// Whether the scratch database of `url` still exists.
fn scratch_exists(p: &Project, url: &str) -> bool {
    if let Some(path) = url.strip_prefix("sqlite:") {
        return std::path::Path::new(path).exists();
    }
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let mut d = p.db.driver();
    // Creating it again succeeds only if it is gone; then drop it again.
    let quote = if p.db.backend == Backend::Mysql {
        '`'
    } else {
        '"'
    };
    let created =
        p.db.rt
            .block_on(d.execute(&format!("CREATE DATABASE {quote}{name}{quote}"), true));
    if created.is_ok() {
        let _ =
            p.db.rt
                .block_on(d.execute(&format!("DROP DATABASE {quote}{name}{quote}"), true));
    }
    created.is_err()
}

/// After its first snapshot, verify reads again only what each step changed, a renamed table
/// and the foreign key that names it included: one whole read for the run. Behind a
/// transaction-mode pooler (no event triggers on a session of its own) every snapshot is
/// read whole, and the verdicts are the same.
fn verify_reads_the_schema_whole_once(b: Backend) {
    let p = Project::new(b);
    for (i, table) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        p.table_migration("users", &(i + 1).to_string(), table);
    }
    p.write(
        "users",
        "6_child.sql",
        "-- ferry:up\nCREATE TABLE kid (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a (id));\n-- ferry:down\nDROP TABLE kid;\n",
    );
    p.write(
        "users",
        "7_rename.sql",
        "-- ferry:up\nALTER TABLE a RENAME TO aa;\n-- ferry:down\nALTER TABLE aa RENAME TO a;\n",
    );
    let r = p.run(&["-v", "verify"]);
    r.expect(0);
    // S0 of the first migration, then S1, S2, S3 of each of the seven.
    let whole = if b == Backend::PgBouncer { 22 } else { 1 };
    r.stderr_has(&format!(
        "({whole} read whole, the others only where the schema changed)"
    ));
}

/// SPEC §9.5: a `no-transaction` section runs in verify as in forwards, outside any
/// transaction (verify's own included: on SQLite its lock is one), with statements that a
/// transaction refuses; the migrations after it are judged as usual.
fn verify_runs_no_transaction_sections_outside_a_transaction(b: Backend) {
    let p = Project::new(b);
    p.write(
        "users",
        "1_table.sql",
        "-- ferry:up\nCREATE TABLE nt (id INTEGER PRIMARY KEY, x INTEGER);\n-- ferry:down\nDROP TABLE nt;\n",
    );
    let (up, down) = match b {
        Backend::Sqlite => (
            "CREATE INDEX nt_x ON nt (x);\nVACUUM;",
            "DROP INDEX nt_x;\nVACUUM;",
        ),
        Backend::Mysql => ("CREATE INDEX nt_x ON nt (x);", "DROP INDEX nt_x ON nt;"),
        Backend::Postgres | Backend::PgBouncer => (
            "CREATE INDEX CONCURRENTLY nt_x ON nt (x);",
            "DROP INDEX CONCURRENTLY nt_x;",
        ),
    };
    p.write(
        "users",
        "2_outside.sql",
        &format!("-- ferry:up no-transaction\n{up}\n-- ferry:down no-transaction\n{down}\n"),
    );
    p.table_migration("users", "3", "after_nt");
    let r = p.run(&["verify", "--format", "json"]);
    r.expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let verdicts: Vec<&str> = v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["reversible"; 3], "{v}");
}

fn verify_gives_each_migration_its_verdict(b: Backend) {
    let p = Project::new(b);
    let sqlite = b == Backend::Sqlite;
    p.write("users", "1_ok.sql", "-- ferry:up\nCREATE TABLE v1 (id INTEGER PRIMARY KEY, name VARCHAR(20));\nCREATE INDEX v1_name ON v1 (name);\n-- ferry:down\nDROP TABLE v1;\n");
    p.write(
        "users",
        "2_forgets_index.sql",
        "-- ferry:up\nCREATE INDEX v1_name_id ON v1 (name, id);\n-- ferry:down\nSELECT 1;\n",
    );
    p.write("users", "3_leaves_column.sql", "-- ferry:up\nALTER TABLE v1 ADD COLUMN extra INTEGER;\nALTER TABLE v1 ADD COLUMN extra2 INTEGER;\n-- ferry:down\nALTER TABLE v1 DROP COLUMN extra;\n");
    p.write("users", "4_not_rerunnable.sql", "-- ferry:up\nCREATE TABLE v4 (id INTEGER);\nINSERT INTO v1 (id, name) VALUES (99, 'x');\n-- ferry:down\nDROP TABLE v4;\n");
    p.write(
        "users",
        "5_irreversible.sql",
        "-- ferry:up\nCREATE TABLE v5 (id INTEGER);\n",
    );
    if !sqlite {
        p.write("users", "6_default.sql", "-- ferry:up\nALTER TABLE v1 ALTER COLUMN name SET DEFAULT 'x';\n-- ferry:down\nSELECT 1;\n");
    }
    p.write("users", "7_wrong_column.sql", "-- ferry:up\nALTER TABLE v1 ADD COLUMN a7 INTEGER;\n-- ferry:down\nALTER TABLE v1 DROP COLUMN extra2;\n");
    p.write("blog", "8_broken.sql", "-- ferry:up\nCREATE TABLE v8 (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n-- ferry:down\nDROP TABLE v8;\n");
    p.table_migration("blog", "9", "v9");
    let before = p.db.dump();
    let r = p.run(&["verify", "--format", "json", "-v"]);
    r.expect(1).stderr_has("failed verification");
    p.db.assert_unchanged(&before, "verify never writes the configured database");
    assert!(
        !scratch_exists(&p, &scratch_url(&r.stderr)),
        "the scratch database is dropped"
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let list = v["migrations"].as_array().unwrap();
    let of = |id: &str| {
        list.iter()
            .find(|m| m["migration_id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {v}"))
    };
    let has = |id: &str, object: &str, name: &str, property: &str| {
        let m = of(id);
        assert!(
            m["differences"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["object"] == object && d["name"] == name && d["property"] == property),
            "{id}: no {object} {name} {property} in {m}"
        );
    };
    assert_eq!(of("1")["verdict"], "reversible", "{v}");
    assert_eq!(of("1")["differences"].as_array().unwrap().len(), 0);
    assert_eq!(of("2")["verdict"], "not-reversible", "{v}");
    // MySQL index names are unique per table only: they are named `table.index`.
    let index = if b == Backend::Mysql {
        "v1.v1_name_id"
    } else {
        "v1_name_id"
    };
    has("2", "index", index, "exists");
    assert_eq!(of("3")["verdict"], "not-reversible", "{v}");
    has("3", "column", "v1.extra2", "exists");
    assert_eq!(of("4")["verdict"], "not-reappliable", "{v}");
    has("4", "step", "up again", "error");
    assert_eq!(of("5")["verdict"], "irreversible", "{v}");
    if !sqlite {
        assert_eq!(of("6")["verdict"], "not-reversible", "{v}");
        has("6", "column", "v1.name", "default");
    }
    assert_eq!(of("7")["verdict"], "not-reversible", "{v}");
    has("7", "column", "v1.a7", "exists");
    has("7", "column", "v1.extra2", "exists");
    assert_eq!(of("8")["verdict"], "failed", "{v}");
    has("8", "step", "up", "error");
    let error = of("8")["differences"][0]["after"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("8_broken.sql"), "{error}");
    assert_eq!(of("9")["verdict"], "skipped", "{v}");
    for m in list {
        assert!(
            m["duration_ms"].is_u64() && m["description"].is_string(),
            "{m}"
        );
    }
    // The table output: a line per migration, differences as `kind name: property before → after`.
    let r = p.run(&["verify", "users"]);
    r.expect(1)
        .stdout_has("users 1 ok: reversible")
        .stdout_has("users 2 forgets index: not-reversible")
        .stdout_has(&format!("    index {index}: exists no → yes"));
    // One app: its dependencies applied first, not judged; a clean app passes.
    std::fs::remove_file(p.path("migrations/blog/8_broken.sql")).unwrap();
    for name in [
        "2_forgets_index",
        "3_leaves_column",
        "4_not_rerunnable",
        "6_default",
        "7_wrong_column",
    ] {
        let _ = std::fs::remove_file(p.path(&format!("migrations/users/{name}.sql")));
    }
    let r = p.run(&["verify", "blog"]);
    r.expect(0).stdout_has("blog 9 create v9: reversible");
    assert!(!r.stdout.contains("users 1"), "{}", r.stdout);
}

fn verify_drops_its_scratch_database_on_ctrl_c(b: Backend) {
    let p = Project::new(b);
    p.write(
        "users",
        "1_slow.sql",
        &format!(
            "-- ferry:up\nCREATE TABLE s1 (id INTEGER);\n{}\n-- ferry:down\nDROP TABLE s1;\n",
            b.slow_sql()
        ),
    );
    let child = p.spawn(&["verify", "-v"]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted; the scratch database was dropped"),
        "{stderr}"
    );
    assert!(!scratch_exists(&p, &scratch_url(&stderr)), "{stderr}");
}

/// Downs that forget one object each, of every kind the backend has: each is
/// `not-reversible`, naming that object.
fn verify_sees_every_kind_of_object_left_behind(b: Backend) {
    let p = Project::new(b);
    p.write("users", "1_base.sql", "-- ferry:up\nCREATE TABLE k1 (id INTEGER PRIMARY KEY, name VARCHAR(20));\nCREATE TABLE k2 (id INTEGER PRIMARY KEY, k1_id INTEGER);\n-- ferry:down\nDROP TABLE k2;\nDROP TABLE k1;\n");
    // (id, up, object kind, object name, property)
    let mut cases: Vec<(&str, String, &str, String, &str)> = vec![(
        "2",
        "CREATE VIEW k_view AS SELECT id FROM k1;".into(),
        "view",
        "k_view".into(),
        "exists",
    )];
    match b {
        Backend::Sqlite => cases.push((
            "3",
            "CREATE TRIGGER k_trg AFTER INSERT ON k1 BEGIN SELECT 1; END;".into(),
            "trigger",
            "k1.k_trg".into(),
            "exists",
        )),
        Backend::Mysql => cases.extend([
            ("3", "ALTER TABLE k1 ADD CONSTRAINT k1_positive CHECK (id > 0);".into(), "check constraint", "k1.k1_positive".into(), "exists"),
            ("4", "ALTER TABLE k1 MODIFY name VARCHAR(20) NOT NULL;".into(), "column", "k1.name".into(), "nullable"),
            ("5", "ALTER TABLE k2 ADD CONSTRAINT k2_fk FOREIGN KEY (k1_id) REFERENCES k1 (id) ON DELETE CASCADE;".into(), "foreign key", "k2.k2_fk".into(), "exists"),
            ("6", "CREATE TRIGGER k_trg BEFORE INSERT ON k1 FOR EACH ROW SET NEW.name = 'x';".into(), "trigger", "k1.k_trg".into(), "exists"),
            ("7", "CREATE FUNCTION k_fn() RETURNS INT DETERMINISTIC RETURN 1;".into(), "function", "k_fn()".into(), "exists"),
        ]),
        _ => cases.extend([
            ("3", "ALTER TABLE k1 ADD CONSTRAINT k1_positive CHECK (id > 0);".into(), "check constraint", "k1.k1_positive".into(), "exists"),
            ("4", "ALTER TABLE k1 ALTER COLUMN name SET NOT NULL;".into(), "column", "k1.name".into(), "nullable"),
            ("5", "ALTER TABLE k2 ADD CONSTRAINT k2_fk FOREIGN KEY (k1_id) REFERENCES k1 (id) ON DELETE CASCADE;".into(), "foreign key", "k2.k2_fk".into(), "exists"),
            ("6", "CREATE TYPE k_mood AS ENUM ('ok');".into(), "enum type", "k_mood".into(), "exists"),
            ("7", "CREATE SEQUENCE k_seq;".into(), "sequence", "k_seq".into(), "exists"),
            ("8", "CREATE FUNCTION k_fn() RETURNS integer LANGUAGE sql AS 'SELECT 1';".into(), "function", "k_fn()".into(), "exists"),
        ]),
    }
    for (id, up, ..) in &cases {
        p.write(
            "users",
            &format!("{id}_forgets.sql"),
            &format!("-- ferry:up\n{up}\n-- ferry:down\nSELECT 1;\n"),
        );
    }
    let r = p.run(&["verify", "users", "--format", "json"]);
    r.expect(1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let list = v["migrations"].as_array().unwrap();
    assert_eq!(list[0]["verdict"], "reversible", "{v}");
    for (id, _, object, name, property) in &cases {
        let m = list
            .iter()
            .find(|m| m["migration_id"] == *id)
            .unwrap_or_else(|| panic!("no {id} in {v}"));
        assert_eq!(m["verdict"], "not-reversible", "{id}: {m}");
        assert!(
            m["differences"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["object"] == *object
                    && d["name"] == name.as_str()
                    && d["property"] == *property),
            "{id}: no {object} {name} {property} in {m}"
        );
    }
}

/// `--keep` leaves the scratch database and prints its URL; `--scratch-url` puts it on another
/// server (here: the test server's admin database), whose own database is not touched.
fn verify_keep_and_scratch_url(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "kp");
    let r = p.run(&["verify", "--keep"]);
    r.expect(0);
    let url = r
        .stdout
        .lines()
        .find(|l| l.contains("ferry_verify_"))
        .unwrap_or_else(|| panic!("no URL printed:\n{}", r.stdout))
        .to_owned();
    assert!(scratch_exists(&p, &url), "kept: {url}");
    if let Some(path) = url.strip_prefix("sqlite:") {
        std::fs::remove_file(path).unwrap();
    } else {
        let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
        let drop = match b {
            Backend::Mysql => format!("DROP DATABASE `{name}`"),
            _ => format!("DROP DATABASE \"{name}\" WITH (FORCE)"),
        };
        let mut d = p.db.driver();
        p.db.rt.block_on(d.execute(&drop, true)).unwrap();
    }
    if b == Backend::Sqlite {
        return;
    }
    let server = match b {
        Backend::Mysql => ferry_driver_mysql::testing::admin_url(),
        _ => ferry_driver_postgres::testing::admin_url(),
    };
    let r = p.run(&["verify", "-v", "--scratch-url", &server]);
    r.expect(0).stdout_has("users 1 create kp: reversible");
    let scratch = scratch_url(&r.stderr);
    assert!(scratch.contains("ferry_verify_"), "{scratch}");
    assert!(!scratch_exists(&p, &scratch));
    assert!(
        !p.db.table_exists(),
        "the configured database is not touched"
    );
}

/// A database that does not exist (PostgreSQL 3D000, MySQL 1049, an SQLite file the URL's
/// mode forbids creating) is one error line with the hint `ferry database create`, exit 1,
/// nothing created (SPEC §16.5).
fn missing_database_gets_the_create_hint(b: Backend) {
    let p = Project::new(b);
    p.table_migration("users", "1", "nodb");
    let (name, url) = match b {
        Backend::Sqlite => (
            "missing.db",
            format!("sqlite:{}?mode=ro", p.path("missing.db").display()),
        ),
        _ => (
            "ferry_no_such_database",
            ferry_core::driver::url::with_database(&p.db.url, "ferry_no_such_database").unwrap(),
        ),
    };
    for command in ["check", "forwards"] {
        let r = p.run(&["-d", &url, command, "all"]);
        r.expect(1)
            .stderr_has(name)
            .stderr_has("; hint: create it with `ferry database create`");
        let errors = r.stderr.lines().filter(|l| l.starts_with("error")).count();
        assert_eq!(errors, 1, "one error line:\n{}", r.stderr);
    }
    match b {
        // verify needs only the server; PostgreSQL reaches it through the URL's database,
        // so it says how to give it one that exists.
        Backend::Postgres | Backend::PgBouncer => {
            p.run(&["-d", &url, "verify"])
                .expect(1)
                .stderr_has("ferry_no_such_database")
                .stderr_has("--scratch-url");
        }
        // MySQL reaches the server without a database: verify runs on its scratch database.
        Backend::Mysql => {
            p.run(&["-d", &url, "verify"]).expect(0);
        }
        Backend::Sqlite => {}
    }
    assert!(!p.path("missing.db").exists());
    assert!(!p.db.table_exists(), "nothing written");
}

/// SQLite: with foreign keys on, as ferry's connection begins, deleting the parent row
/// deletes the child row, and the same id can be inserted again; with them off, it cannot.
const CASCADE: &str = "-- ferry:up\nCREATE TABLE sc (id INTEGER PRIMARY KEY, p INTEGER REFERENCES sp (id) ON DELETE CASCADE);\nINSERT INTO sp VALUES (1);\nINSERT INTO sc VALUES (1, 1);\nDELETE FROM sp;\nINSERT INTO sc VALUES (1, NULL);\n-- ferry:down\nDROP TABLE sc;\n";

/// Each migration starts from the session state the run's connection began with (SPEC §7):
/// the first migration changes the session (PostgreSQL: `search_path`, a temporary table
/// shadowing a real one, in a transaction and in a `no-transaction` section; MySQL:
/// `sql_mode`, `FOREIGN_KEY_CHECKS`, `time_zone`; SQLite: `foreign_keys` off and
/// `legacy_alter_table` on, outside a transaction), the later ones would fail or build another
/// schema if that carried over. One run gives the schema that one run per migration gives.
fn session_state_does_not_carry_into_the_next_migration(b: Backend) {
    let p = Project::new(b);
    let (first, second, third) = match b {
        Backend::Postgres | Backend::PgBouncer => (
            "-- ferry:up\nCREATE SCHEMA other;\nCREATE TABLE shadow (id INT);\nSET search_path TO other;\nCREATE TEMP TABLE shadow (id INT, extra INT);\n-- ferry:down\nDROP TABLE public.shadow;\nDROP SCHEMA other;\n",
            "-- ferry:up no-transaction\nCREATE TABLE t2 (id INT);\nSET search_path TO other;\n-- ferry:down no-transaction\nDROP TABLE public.t2;\n",
            "-- ferry:up\nCREATE TABLE t3 (id INT);\nCREATE VIEW v AS SELECT * FROM shadow;\n-- ferry:down\nDROP VIEW public.v;\nDROP TABLE public.t3;\n",
        ),
        Backend::Mysql => (
            "-- ferry:up\nSET sql_mode = 'ANSI_QUOTES';\nSET FOREIGN_KEY_CHECKS = 0;\nSET time_zone = '+05:00';\nCREATE TABLE q (s VARCHAR(5));\n-- ferry:down\nDROP TABLE q;\n",
            // DML only: in a transaction with its row. Under ANSI_QUOTES "ok" is a column.
            "-- ferry:up\nINSERT INTO q VALUES (\"ok\");\n-- ferry:down\nDELETE FROM q;\n",
            "-- ferry:up\nCREATE TABLE t3 (id INT PRIMARY KEY);\n-- ferry:down\nDROP TABLE t3;\n",
        ),
        Backend::Sqlite => (
            "-- ferry:up no-transaction\nPRAGMA foreign_keys = OFF;\nPRAGMA legacy_alter_table = ON;\nCREATE TABLE sp (id INTEGER PRIMARY KEY);\n-- ferry:down no-transaction\nDROP TABLE sp;\n",
            CASCADE,
            // Without legacy_alter_table, the rename rewrites the view.
            "-- ferry:up\nCREATE TABLE la (id INTEGER);\nCREATE VIEW lav AS SELECT id FROM la;\nALTER TABLE la RENAME TO lb;\n-- ferry:down\nDROP VIEW lav;\nDROP TABLE lb;\n",
        ),
    };
    p.write("users", "1_change_the_session.sql", first);
    p.write("users", "2_second.sql", second);
    p.write("users", "3_third.sql", third);
    p.run(&["forwards", "all"]).expect(0);
    let snapshot = || {
        let mut d = p.db.driver();
        p.db.rt.block_on(d.snapshot()).unwrap()
    };
    let one_run = snapshot();
    p.run(&["backwards", "users", "all", "-y"]).expect(0);
    for id in ["1", "2", "3"] {
        p.run(&["forwards", "users", id]).expect(0);
    }
    assert_eq!(one_run, snapshot(), "one run against one run per migration");
    if matches!(b, Backend::Postgres | Backend::PgBouncer) {
        // In the connection's own schema: neither in `other` nor temporary.
        for (kind, name) in [("table", "t2"), ("table", "t3"), ("view", "v")] {
            assert!(
                one_run.get(kind, name).is_some(),
                "{kind} {name}: {one_run:?}"
            );
        }
    }
}

/// Each step of `verify` starts from the session state the run began with, also after a
/// failure (SPEC §7): a first migration changes the session (PostgreSQL `search_path`;
/// MariaDB `FOREIGN_KEY_CHECKS = 0` before its second up fails; SQLite `foreign_keys` outside
/// a transaction), and the second migration is judged as it would be alone.
fn verify_steps_start_from_the_session_state_of_the_run(b: Backend) {
    let p = Project::new(b);
    let (first, second, verdicts) = match b {
        Backend::Postgres | Backend::PgBouncer => (
            "-- ferry:up\nCREATE SCHEMA vs;\nSET search_path TO vs;\n-- ferry:down\nDROP SCHEMA vs CASCADE;\n",
            // In `vs`, the down would find no `public.vt`.
            "-- ferry:up\nCREATE TABLE vt (id INT);\n-- ferry:down\nDROP TABLE public.vt;\n",
            ["reversible", "reversible"],
        ),
        Backend::Mysql => (
            // The down leaves the table: not-reversible, and the up run again to bring the
            // schema forward fails after turning the checks off.
            "-- ferry:up\nSET FOREIGN_KEY_CHECKS = 0;\nCREATE TABLE vp (id INT PRIMARY KEY);\n-- ferry:down\nSELECT 1;\n",
            // With the checks on, dropping the referenced table first fails.
            "-- ferry:up\nCREATE TABLE vparent (id INT PRIMARY KEY);\nCREATE TABLE vchild (id INT PRIMARY KEY, p INT, CONSTRAINT vchild_p FOREIGN KEY (p) REFERENCES vparent (id));\n-- ferry:down\nDROP TABLE vparent;\nDROP TABLE vchild;\n",
            ["not-reversible", "not-reversible"],
        ),
        Backend::Sqlite => (
            "-- ferry:up no-transaction\nPRAGMA foreign_keys = OFF;\nCREATE TABLE sp (id INTEGER PRIMARY KEY);\n-- ferry:down no-transaction\nDROP TABLE sp;\n",
            CASCADE,
            ["reversible", "reversible"],
        ),
    };
    p.write("users", "1_change_the_session.sql", first);
    p.write("users", "2_second.sql", second);
    let r = p.run(&["verify", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let found: Vec<&str> = v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(found, verdicts, "{v}");
    if b == Backend::Mysql {
        r.expect(1);
        let error = v["migrations"][1]["differences"][0]["after"]
            .as_str()
            .unwrap();
        assert!(error.contains("foreign key"), "{error}");
    } else {
        r.expect(0);
    }
}
