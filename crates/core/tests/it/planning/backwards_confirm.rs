//! SPEC §5.2.5-§5.2.6 backwards: asking before reversing, and failures.

use super::support::check;

#[test]
fn backwards_5_2_5_asks_and_proceeds_on_yes() {
    check(
        r"
        //- answer yes
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a all",
        r"
        confirm: Reverse 2 migration(s)? [a 2 (make a 2), a 1 (make a 1)]
        backwards a 2
        backwards a 1
        ok: Reversed 2 migrations [a 2, a 1]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_5_declined_changes_nothing() {
    check(
        r"
        //- answer no
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a all",
        r"
        confirm: Reverse 2 migration(s)? [a 2 (make a 2), a 1 (make a 1)]
        failed: Not proceeding.
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_5_without_terminal_changes_nothing() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a",
        r"
        confirm: Reverse 1 migration(s)? [a 2 (make a 2)]
        error ConfirmationUnavailable: stdin is not a terminal; pass -y
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_5_auto_agree_does_not_ask() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a -y",
        r"
        backwards a 2
        ok: Reversed 1 migration [a 2]
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_6_failure_stops_and_keeps_reversals_done() {
    check(
        r"
        //- app a
        1
        2 down-fails
        3
        //- rows
        a 1
        a 2
        a 3
        ",
        "backwards a all -y",
        r"
        backwards a 3
        error Execute: migration a 2 failed ($DIR/a/2_make_a_2.sql:5): no such table: nowhere
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_6_without_transactional_ddl_failure_leaves_dirty_row() {
    check(
        r"
        //- non-transactional-ddl
        //- app a
        1
        2 down-fails
        3
        //- rows
        a 1
        a 2
        a 3
        ",
        "backwards a all -y",
        r"
        backwards a 3
        error Execute(dirty): migration a 2 failed ($DIR/a/2_make_a_2.sql:5): no such table: nowhere
        the migration ran outside a transaction, so the statements before the failing one may have taken effect; it is marked dirty and a is blocked until you inspect the database and run `ferry resolve a 2 --applied` (its changes are in place) or `ferry resolve a 2 --reverted` (they are not)
        rows: a 1, a 2*
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_6_no_transaction_failure_leaves_dirty_row() {
    check(
        r"
        //- app a
        1
        2 down-fails down-no-tx
        //- rows
        a 1
        a 2
        ",
        "backwards a all -y",
        r"
        error Execute(dirty): migration a 2 failed ($DIR/a/2_make_a_2.sql:5): no such table: nowhere
        the migration ran outside a transaction, so the statements before the failing one may have taken effect; it is marked dirty and a is blocked until you inspect the database and run `ferry resolve a 2 --applied` (its changes are in place) or `ferry resolve a 2 --reverted` (they are not)
        rows: a 1, a 2*
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_6_dirty_refuses() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2 dirty
        ",
        "backwards a -y",
        r"
        error Dirty: app `a` has a dirty migration 2: a run that could not use a transaction failed part-way, so some of its statements may have run; inspect the database, then run `ferry resolve a 2 --applied` (its changes are in place) or `ferry resolve a 2 --reverted` (they are not)
        rows: a 1, a 2*
        tables: a_1 a_2
        ",
    );
}
