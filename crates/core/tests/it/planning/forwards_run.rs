//! SPEC §5.1.6-§5.1.9 forwards: failures and their rows, stopping at the first failure,
//! `--fake`, `--preview`.

use super::support::check;

#[test]
fn forwards_5_1_6_failure_rolls_back_the_migration_and_its_row() {
    check(
        r"
        //- app a
        1
        2 fails
        ",
        "forwards a",
        r"
        forwards a 1
        error Execute: migration a 2 failed ($DIR/a/2_make_a_2.sql:3): no such table: nowhere
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_6_without_transactional_ddl_failure_leaves_dirty_row() {
    check(
        r"
        //- non-transactional-ddl
        //- app a
        1
        2 fails
        ",
        "forwards a",
        r"
        forwards a 1
        error Execute(dirty): migration a 2 failed ($DIR/a/2_make_a_2.sql:3): no such table: nowhere
        the migration ran outside a transaction, so the statements before the failing one may have taken effect; it is marked dirty and a is blocked until you inspect the database and run `ferry resolve a 2 --applied` (its changes are in place) or `ferry resolve a 2 --reverted` (they are not)
        rows: a 1, a 2*
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_1_6_no_transaction_failure_leaves_dirty_row() {
    check(
        r"
        //- app a
        1
        2 fails no-tx
        ",
        "forwards a",
        r"
        forwards a 1
        error Execute(dirty): migration a 2 failed ($DIR/a/2_make_a_2.sql:3): no such table: nowhere
        the migration ran outside a transaction, so the statements before the failing one may have taken effect; it is marked dirty and a is blocked until you inspect the database and run `ferry resolve a 2 --applied` (its changes are in place) or `ferry resolve a 2 --reverted` (they are not)
        rows: a 1, a 2*
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_1_6_dirty_protocol_clears_the_row_on_success() {
    check(
        r"
        //- non-transactional-ddl
        //- app a
        1
        2 no-tx
        ",
        "forwards a",
        r"
        forwards a 1
        forwards a 2
        ok: Applied 2 migrations [a 1, a 2]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn forwards_5_1_6_dml_only_migration_keeps_its_transaction_without_transactional_ddl() {
    check(
        r"
        //- non-transactional-ddl
        //- app a
        1
        2 dml fails
        ",
        "forwards a",
        r"
        forwards a 1
        error Execute: migration a 2 failed ($DIR/a/2_make_a_2.sql:3): no such table: nowhere
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_7_failure_stops_keeps_earlier_and_names_file_and_line() {
    check(
        r"
        //- app a
        1
        2 fails
        3
        ",
        "forwards a",
        r"
        forwards a 1
        error Execute: migration a 2 failed ($DIR/a/2_make_a_2.sql:3): no such table: nowhere
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_8_fake_one_records_without_running() {
    check(
        r"
        //- app a
        1
        ",
        "forwards a --fake",
        r"
        fake a 1
        ok: Faked 1 migration [a 1]
        rows: a 1
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_8_fake_many_asks_first() {
    check(
        r"
        //- answer yes
        //- app a
        1
        2
        ",
        "forwards a --fake",
        r"
        confirm: Fake 2 migration(s)? [a 1 (make a 1), a 2 (make a 2)]
        fake a 1
        fake a 2
        ok: Faked 2 migrations [a 1, a 2]
        rows: a 1, a 2
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_8_fake_declined_records_nothing() {
    check(
        r"
        //- answer no
        //- app a
        1
        2
        ",
        "forwards a --fake",
        r"
        confirm: Fake 2 migration(s)? [a 1 (make a 1), a 2 (make a 2)]
        failed: Not proceeding.
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_8_fake_without_terminal_records_nothing() {
    check(
        r"
        //- app a
        1
        2
        ",
        "forwards a --fake",
        r"
        confirm: Fake 2 migration(s)? [a 1 (make a 1), a 2 (make a 2)]
        error ConfirmationUnavailable: stdin is not a terminal; pass -y
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_8_fake_auto_agree_does_not_ask() {
    check(
        r"
        //- app a
        1
        2
        ",
        "forwards a --fake -y",
        r"
        fake a 1
        fake a 2
        ok: Faked 2 migrations [a 1, a 2]
        rows: a 1, a 2
        tables: (none)
        ",
    );
}

#[test]
fn forwards_5_1_9_preview_only_reads() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        ",
        "forwards a --preview",
        r"
        preview forwards a 2: CREATE TABLE a_2 (id INT);
        preview forwards a 3: CREATE TABLE a_3 (id INT);
        ok: preview only: nothing was run [a 2, a 3]
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn forwards_5_1_9_preview_creates_no_table_and_asks_nothing() {
    check(
        r"
        //- app a
        1
        2
        ",
        "forwards a --preview --fake",
        r"
        preview forwards a 1: CREATE TABLE a_1 (id INT);
        preview forwards a 2: CREATE TABLE a_2 (id INT);
        ok: preview only: nothing was run [a 1, a 2]
        rows: (no table)
        tables: (none)
        ",
    );
}
