//! SPEC §5.4 clean: forgetting the rows of missing files.

use super::support::check;

// ---------------------------------------------------------------------------------------------
// §5.4 clean

#[test]
fn clean_5_4_forgets_missing_rows_after_asking() {
    check(
        r"
        //- answer yes
        //- app a
        1
        //- rows
        a 1
        a 2
        a 3
        ",
        "clean a",
        r"
        confirm: Forget 2 missing migration(s)? Their tracking rows will be deleted; no SQL runs. [a 2 (recorded a_2), a 3 (recorded a_3)]
        notice: forgot a 2 recorded a_2
        notice: forgot a 3 recorded a_3
        ok: Forgot 2 missing migrations [a 2, a 3]
        rows: a 1
        tables: a_1 a_2 a_3
        ",
    );
}

#[test]
fn clean_5_4_declined_changes_nothing() {
    check(
        r"
        //- answer no
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "clean a",
        r"
        confirm: Forget 1 missing migration(s)? Their tracking rows will be deleted; no SQL runs. [a 2 (recorded a_2)]
        failed: Not proceeding.
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn clean_5_4_without_terminal_changes_nothing() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "clean a",
        r"
        confirm: Forget 1 missing migration(s)? Their tracking rows will be deleted; no SQL runs. [a 2 (recorded a_2)]
        error ConfirmationUnavailable: stdin is not a terminal; pass -y
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn clean_5_4_auto_agree_does_not_ask() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "clean a -y",
        r"
        notice: forgot a 2 recorded a_2
        ok: Forgot 1 missing migration [a 2]
        rows: a 1
        tables: a_1 a_2
        ",
    );
}

#[test]
fn clean_5_4_touches_only_that_app() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        //- rows
        a 2
        b 2
        a 1
        ",
        "clean a -y",
        r"
        notice: forgot a 2 recorded a_2
        ok: Forgot 1 missing migration [a 2]
        rows: b 2, a 1
        tables: a_1 a_2 b_2
        ",
    );
}

#[test]
fn clean_5_4_all_forgets_missing_rows_of_every_app() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        //- rows
        a 2
        b 2
        a 1
        ",
        "clean all -y",
        r"
        notice: forgot a 2 recorded a_2
        notice: forgot b 2 recorded b_2
        ok: Forgot 2 missing migrations [a 2, b 2]
        rows: a 1
        tables: a_1 a_2 b_2
        ",
    );
}

#[test]
fn clean_5_4_preview_changes_nothing() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "clean a --preview",
        r"
        preview forget a 2
        ok: preview only: nothing was changed [a 2]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn clean_5_4_nothing_missing() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        ",
        "clean a",
        r"
        ok: No missing migrations to forget
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn clean_5_4_dirty_rows_are_not_forgotten() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2 dirty
        ",
        "clean a -y",
        r"
        ok: No missing migrations to forget
        rows: a 1, a 2*
        tables: a_1 a_2
        ",
    );
}

#[test]
fn clean_5_7_unknown_app_is_an_error() {
    check(
        r"
        //- app a
        1
        ",
        "clean nope -y",
        r"
        error UnknownApp: unknown app `nope`; known apps: a
        rows: (no table)
        tables: (none)
        ",
    );
}
