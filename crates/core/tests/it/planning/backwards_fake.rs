//! SPEC §5.2.11: backwards `--fake`.

use super::support::check;

// ---------------------------------------------------------------------------------------------
// SPEC §5.2.11: backwards --fake.

#[test]
fn backwards_5_2_11_fake_deletes_rows_and_runs_no_sql() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 2
        a 3
        ",
        "backwards a 2 --fake -y",
        r"
        fake a 3
        fake a 2
        ok: Faked the reversal of 2 migrations: tracking rows deleted, no down SQL ran [a 3, a 2]
        rows: a 1
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_asks_first() {
    check(
        r"
        //- answer yes
        //- app a
        1
        //- rows
        a 1
        ",
        "backwards a --fake",
        r"
        confirm: Reverse 1 migration(s) with --fake? Their tracking rows will be deleted; no down SQL runs. [a 1 (make a 1)]
        fake a 1
        ok: Faked the reversal of 1 migration: tracking rows deleted, no down SQL ran [a 1]
        rows: (none)
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_declined_changes_nothing() {
    check(
        r"
        //- answer no
        //- app a
        1
        //- rows
        a 1
        ",
        "backwards a all --fake",
        r"
        confirm: Reverse 1 migration(s) with --fake? Their tracking rows will be deleted; no down SQL runs. [a 1 (make a 1)]
        failed: Not proceeding.
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_without_a_terminal_changes_nothing() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        ",
        "backwards a --fake",
        r"
        confirm: Reverse 1 migration(s) with --fake? Their tracking rows will be deleted; no down SQL runs. [a 1 (make a 1)]
        error ConfirmationUnavailable: stdin is not a terminal; pass -y
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_forgets_an_irreversible_migration() {
    check(
        r"
        //- app a
        1 irreversible
        //- rows
        a 1 no-down
        ",
        "backwards a --fake -y",
        r"
        fake a 1
        ok: Faked the reversal of 1 migration: tracking rows deleted, no down SQL ran [a 1]
        rows: (none)
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_preview_lists_the_rows() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a all --fake --preview",
        r"
        preview forget a 2
        preview forget a 1
        ok: preview only: nothing was changed [a 2, a 1]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_keeps_the_dependant_rule() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- rows
        a 1
        b 1
        ",
        "backwards a --fake -y",
        r"
        error DependantsApplied: ...
        rows: a 1, b 1
        tables: a_1 b_1
        ",
    );
}

#[test]
fn backwards_5_2_11_fake_all_apps() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- rows
        a 1
        b 1
        ",
        "backwards all --fake -y",
        r"
        fake b 1
        fake a 1
        ok: Faked the reversal of 2 migrations: tracking rows deleted, no down SQL ran [b 1, a 1]
        rows: (none)
        tables: a_1 b_1
        ",
    );
}
