//! `--atomic` (all or nothing) and `--rehearse` on every backend.

use crate::support::{v, Backend, Project};

backends!(
    atomic_is_all_or_nothing,
    rehearse_changes_nothing_and_finds_failures,
);

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
