//! SPEC §5.2.1-§5.2.4 backwards: the apply-order stack, `1`/ID, nothing applied, down SQL from
//! the file or the row, unknown apps.

use super::support::check;

// ---------------------------------------------------------------------------------------------
// §5.2 backwards

#[test]
fn backwards_5_2_1_the_stack_is_apply_order_not_id_order() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 3
        a 1
        a 2
        ",
        "backwards a -y",
        r"
        backwards a 2
        ok: Reversed 1 migration [a 2]
        rows: a 3, a 1
        tables: a_1 a_3
        ",
    );
}

#[test]
fn backwards_5_2_1_all_reverses_in_reverse_apply_order() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 3
        a 1
        a 2
        ",
        "backwards a all -y",
        r"
        backwards a 2
        backwards a 1
        backwards a 3
        ok: Reversed 3 migrations [a 2, a 1, a 3]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_2_one_reverses_the_most_recent() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a 1 -y",
        r"
        backwards a 2
        ok: Reversed 1 migration [a 2]
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_2_id_reverses_it_and_everything_applied_after() {
    check(
        r"
        //- app a
        1
        2
        3
        4
        //- rows
        a 1
        a 3
        a 4
        a 2
        ",
        "backwards a 3 -y",
        r"
        backwards a 2
        backwards a 4
        backwards a 3
        ok: Reversed 3 migrations [a 2, a 4, a 3]
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_2_id_not_applied_fails_listing_applied_ids() {
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
        "run_backwards a 3 -y",
        r"
        failed: migration 3 of app `a` is not applied; applied IDs: 1, 2
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_2_id_not_applied_is_an_error_from_backwards_fn() {
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
        "backwards() a 3 -y",
        r"
        error Unsuccessful: migration 3 of app `a` is not applied; applied IDs: 1, 2
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[ignore = "SPEC 5.2.2: an ID that is not applied must fail (exit 1); with nothing applied ferry reports success \"No migrations to reverse\" (5.2.3). Arguable: 5.1.2 says the error applies also when nothing is pending"]
#[test]
fn backwards_5_2_2_id_not_applied_fails_even_when_nothing_is_applied() {
    check(
        r"
        //- app a
        1
        2
        ",
        "backwards a 2 -y",
        r"
        failed: migration 2 of app `a` is not applied...
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_3_nothing_applied() {
    check(
        r"
        //- app a
        1
        2
        ",
        "backwards a -y",
        r"
        ok: No migrations to reverse
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_3_nothing_applied_in_this_app() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        //- rows
        b 1
        ",
        "backwards a all -y",
        r"
        ok: No migrations to reverse
        rows: b 1
        tables: b_1
        ",
    );
}

#[test]
fn backwards_5_2_4_file_gone_uses_stored_down_sql_with_a_notice() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "backwards a -y",
        r"
        notice: the file of migration a 2 is gone; using the down SQL stored when it was applied
        backwards a 2
        ok: Reversed 1 migration [a 2]
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_4_irreversible_in_range_is_refused_before_any_change() {
    check(
        r"
        //- app a
        1 irreversible
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a all -y",
        r"
        error Irreversible: migration a 1 is irreversible (it has no `-- ferry:down` section); nothing was reversed
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_4_file_gone_without_stored_down_sql_is_irreversible() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2 no-down
        ",
        "backwards a -y",
        r"
        error Irreversible: migration a 2 is irreversible (it has no `-- ferry:down` section); nothing was reversed
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_4_empty_down_section_only_deletes_the_row() {
    check(
        r"
        //- app a
        1 empty-down
        //- rows
        a 1
        ",
        "backwards a -y",
        r"
        backwards a 1
        ok: Reversed 1 migration [a 1]
        rows: (none)
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_2_4_stored_empty_down_only_deletes_the_row() {
    check(
        r"
        //- app a
        //- rows
        a 1 empty-down
        ",
        "backwards a -y",
        r"
        notice: the file of migration a 1 is gone; using the down SQL stored when it was applied
        backwards a 1
        ok: Reversed 1 migration [a 1]
        rows: (none)
        tables: a_1
        ",
    );
}

#[test]
fn backwards_5_7_unknown_app_is_an_error() {
    check(
        r"
        //- app a
        1
        ",
        "backwards nope -y",
        r"
        error UnknownApp: unknown app `nope`; known apps: a
        rows: (no table)
        tables: (none)
        ",
    );
}
