//! SPEC §5.1 forwards: what is pending, `all`/`1`/ID, nothing to do, out of order, dirty and
//! changed rows, unknown apps.

use super::support::check;

// ---------------------------------------------------------------------------------------------
// §5.1 forwards

#[test]
fn forwards_5_1_1_pending_in_ascending_id_order() {
    check(
        r"
        //- app a
        10
        007
        9
        2
        ",
        "forwards a",
        r"
        forwards a 2
        forwards a 007
        forwards a 9
        forwards a 10
        ok: Applied 4 migrations [a 2, a 007, a 9, a 10]
        rows: a 2, a 007, a 9, a 10
        tables: a_007 a_10 a_2 a_9
        ",
    );
}

#[test]
fn forwards_5_1_1_applied_files_are_not_pending() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        ",
        "forwards a",
        r"
        forwards a 2
        forwards a 3
        ok: Applied 2 migrations [a 2, a 3]
        rows: a 1, a 2, a 3
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn forwards_5_1_2_all_runs_every_pending() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        ",
        "forwards a all",
        r"
        forwards a 2
        forwards a 3
        ok: Applied 2 migrations [a 2, a 3]
        rows: a 1, a 2, a 3
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn forwards_5_1_2_one_runs_the_first_pending() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        ",
        "forwards a 1",
        r"
        forwards a 2
        ok: Applied 1 migration [a 2]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_1_2_id_runs_pending_up_to_it() {
    check(
        r"
        //- app a
        1
        2
        3
        4
        //- rows
        a 1
        ",
        "forwards a 3",
        r"
        forwards a 2
        forwards a 3
        ok: Applied 2 migrations [a 2, a 3]
        rows: a 1, a 2, a 3
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn forwards_5_1_2_applied_id_is_already_applied() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 2
        ",
        "forwards a 2",
        r"
        ok: Migration 2 is already applied; nothing to do
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_1_2_unknown_id_fails() {
    check(
        r"
        //- app a
        1
        2
        ",
        "run_forwards a 5",
        r"
        failed: migration ID 5 is not a migration of app `a`; run `ferry check a` to see its migrations
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_2_unknown_id_fails_when_nothing_pending() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        ",
        "forwards a 5",
        r"
        failed: migration ID 5 is not a migration of app `a`; run `ferry check a` to see its migrations
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_3_nothing_pending() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        ",
        "forwards a",
        r"
        ok: No migrations need to be run
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_3_no_migrations_at_all() {
    check(
        r"
        //- app a
        ",
        "forwards a",
        r"
        ok: No migrations need to be run
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_4_out_of_order_warns() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 3
        ",
        "forwards a",
        r"
        warning: migration a 2 is out of order: it is older than 3, which is already applied
        forwards a 2
        ok: Applied 1 migration [a 2]
        rows: a 1, a 3, a 2
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn forwards_5_1_12_out_of_order_allowed_runs_silently() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 3
        ",
        "forwards a --out-of-order=allow",
        r"
        forwards a 2
        ok: Applied 1 migration [a 2]
        rows: a 1, a 3, a 2
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn forwards_5_1_12_out_of_order_refused_runs_nothing_in_any_app() {
    check(
        r"
        //- app a
        1
        5
        //- app b
        1
        2
        3
        4
        //- rows
        b 1
        b 4
        ",
        "forwards all --out-of-order=refuse",
        r"
        error OutOfOrder: refusing to apply migrations of `b` out of order: 2, 3 are older than 4, which is already applied; nothing was run (out-of-order policy `refuse`: apply them with --out-of-order warn, or give them IDs above 4)
        rows: b 1, b 4
        tables: b_1 b_4
        ",
    );
}

#[test]
fn forwards_5_1_12_refuse_lets_in_order_migrations_run() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        ",
        "forwards a --out-of-order=refuse",
        r"
        forwards a 2
        forwards a 3
        ok: Applied 2 migrations [a 2, a 3]
        rows: a 1, a 2, a 3
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn forwards_5_1_5_dirty_refuses() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 2 dirty
        ",
        "forwards a",
        r"
        error Dirty: app `a` has a dirty migration 2: a run that could not use a transaction failed part-way, so some of its statements may have run; inspect the database, then run `ferry resolve a 2 --applied` (its changes are in place) or `ferry resolve a 2 --reverted` (they are not)
        rows: a 1, a 2*
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_1_5_dirty_row_without_file_refuses() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 9 dirty
        ",
        "forwards a",
        r"
        error Dirty: app `a` has a dirty migration 9: a run that could not use a transaction failed part-way, so some of its statements may have run; inspect the database, then run `ferry resolve a 9 --applied` (its changes are in place) or `ferry resolve a 9 --reverted` (they are not)
        rows: a 1, a 9*
        tables: a_1 a_9
        ",
    );
}

#[test]
fn forwards_5_1_5_dirty_row_of_another_app_does_not_refuse() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        //- rows
        b 1 dirty
        ",
        "forwards a",
        r"
        forwards a 1
        ok: Applied 1 migration [a 1]
        rows: b 1*, a 1
        tables: a_1 b_1
        ",
    );
}

#[test]
fn forwards_5_1_5_changed_checksum_warns() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1 changed
        ",
        "forwards a",
        r"
        warning: migration a 1 was changed after it was applied (checksum differs); the change will not be run: $DIR/a/1_make_a_1.sql
        forwards a 2
        ok: Applied 1 migration [a 2]
        rows: a 1~, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_7_unknown_app_is_an_error() {
    check(
        r"
        //- app a
        1
        ",
        "forwards nope",
        r"
        error UnknownApp: unknown app `nope`; known apps: a
        rows: (no table)
        tables: (none)
        ",
    );
}
