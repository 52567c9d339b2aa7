//! SPEC §5.1.10-§5.1.11 forwards: `all` in dependency order, and apps whose dependencies have
//! pending migrations.

use super::support::check;

#[test]
fn forwards_5_1_10_all_runs_apps_in_dependency_order() {
    check(
        r"
        //- app b: a
        1
        2
        //- app a
        1
        2
        ",
        "forwards() all",
        r"
        forwards a 1
        forwards a 2
        forwards b 1
        forwards b 2
        ok: Applied 4 migrations [a 1, a 2, b 1, b 2]
        rows: a 1, a 2, b 1, b 2
        tables: a_1 a_2 b_1 b_2
        ",
    );
}

#[test]
fn forwards_5_1_10_all_with_an_id_is_a_usage_error() {
    check(
        r"
        //- app a
        1
        2
        ",
        "forwards all 2",
        r"
        error Usage: a migration ID cannot be given with app `all` (got `2`); omit it, or name one app
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_10_all_with_1_is_a_usage_error() {
    check(
        r"
        //- app a
        1
        2
        ",
        "forwards all 1",
        r"
        error Usage: a migration ID cannot be given with app `all` (got `1`); omit it, or name one app
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_10_all_with_all_runs_everything() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        ",
        "forwards all all",
        r"
        forwards a 1
        forwards b 1
        ok: Applied 2 migrations [a 1, b 1]
        rows: a 1, b 1
        tables: a_1 b_1
        ",
    );
}

#[test]
fn forwards_5_1_10_all_stops_at_the_first_failing_app() {
    check(
        r"
        //- app a
        1
        2 fails
        //- app b: a
        1
        ",
        "forwards all",
        r"
        forwards a 1
        error Execute: migration a 2 failed ($DIR/a/2_make_a_2.sql:3): no such table: nowhere
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_10_a_dirty_app_refuses_the_whole_run() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        2
        //- rows
        b 1 dirty
        ",
        "forwards all",
        r"
        error Dirty: app `b` has a dirty migration 1: a run that could not use a transaction failed part-way, so some of its statements may have run; inspect the database, then run `ferry resolve b 1 --applied` (its changes are in place) or `ferry resolve b 1 --reverted` (they are not)
        rows: b 1*
        tables: b_1
        ",
    );
}

// ---------------------------------------------------------------------------------------------
// SPEC §5.1.11: one app whose dependencies, directly or through other apps, have pending
// migrations.

/// `c` depends on `b`, which depends on `a`; `a` has one pending, `b` two, `c` one.
const CHAIN_PENDING: &str = r"
    //- app a
    1
    2
    //- app b: a
    1
    2
    //- app c: b
    1
    //- rows
    a 1
";

#[test]
fn forwards_5_1_11_pending_dependencies_refuse_one_app() {
    check(
        CHAIN_PENDING,
        "forwards c",
        r"
        error DependenciesPending: refusing to run migrations of `c`: it depends on apps with pending migrations: `a` (1 pending migration), `b` (2 pending migrations); nothing was run; run `ferry forwards all` (dependencies first)
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_11_pending_dependencies_refuse_an_id_too() {
    check(
        CHAIN_PENDING,
        "forwards c 1",
        r"
        error DependenciesPending: refusing to run migrations of `c`: it depends on apps with pending migrations: `a` (1 pending migration), `b` (2 pending migrations); nothing was run; run `ferry forwards all` (dependencies first)
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_11_pending_dependencies_refuse_fake() {
    check(
        CHAIN_PENDING,
        "forwards c --fake -y",
        r"
        error DependenciesPending: refusing to run migrations of `c`: it depends on apps with pending migrations: `a` (1 pending migration), `b` (2 pending migrations); nothing was run; run `ferry forwards all` (dependencies first)
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_11_preview_warns_and_shows_the_sql() {
    check(
        CHAIN_PENDING,
        "forwards c --preview",
        r"
        warning: `c` depends on apps with pending migrations: `a` (1 pending migration), `b` (2 pending migrations); without --preview this run would be refused; run `ferry forwards all`
        preview forwards c 1: CREATE TABLE c_1 (id INT);
        ok: preview only: nothing was run [c 1]
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_11_nothing_pending_in_the_app_is_no_refusal() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- rows
        b 1
        ",
        "forwards b",
        r"
        ok: No migrations need to be run
        rows: b 1
        tables: b_1
        ",
    );
}

#[test]
fn forwards_5_1_11_applied_dependencies_let_the_app_run() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- app c: b
        1
        //- rows
        a 1
        b 1
        ",
        "forwards c",
        r"
        forwards c 1
        ok: Applied 1 migration [c 1]
        rows: a 1, b 1, c 1
        tables: a_1 b_1 c_1
        ",
    );
}

#[test]
fn forwards_5_1_11_an_app_that_is_not_a_dependency_does_not_count() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        //- app c: b
        1
        //- rows
        b 1
        ",
        "forwards c",
        r"
        forwards c 1
        ok: Applied 1 migration [c 1]
        rows: b 1, c 1
        tables: b_1 c_1
        ",
    );
}

#[test]
fn forwards_5_1_11_all_runs_dependencies_first() {
    check(
        CHAIN_PENDING,
        "forwards all",
        r"
        forwards a 2
        forwards b 1
        forwards b 2
        forwards c 1
        ok: Applied 4 migrations [a 2, b 1, b 2, c 1]
        rows: a 1, a 2, b 1, b 2, c 1
        tables: a_1 a_2 b_1 b_2 c_1
        ",
    );
}
