//! forwards and backwards on every backend: ID forms, dependency and apply order, out of order,
//! prompts, `--preview`, `--clean`, irreversible migrations, stored down SQL, `--fake`, unknown
//! apps.

use crate::support::{run_in_pty, v, Backend, Project, CONFIG};

use super::three;

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
    reversing_a_dependency_under_a_dependant_is_refused,
    fake_records_and_asks_for_more_than_one,
    unknown_app_lists_the_known_ones,
);

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
