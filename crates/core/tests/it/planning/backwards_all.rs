//! SPEC §5.2.9-§5.2.10 backwards: `all` in reverse dependency order, and dependants (direct and
//! through other apps) that keep a dependency applied.

use super::support::check;

#[test]
fn backwards_5_2_9_all_reverses_apps_in_reverse_dependency_order_with_one_prompt() {
    check(
        r"
        //- answer yes
        //- app a
        1
        2
        //- app b: a
        1
        //- app c
        1
        //- rows
        a 1
        b 1
        c 1
        a 2
        ",
        "backwards all",
        r"
        confirm: Reverse 4 migration(s)? [b 1 (make b 1), c 1 (make c 1), a 2 (make a 2), a 1 (make a 1)]
        backwards b 1
        backwards c 1
        backwards a 2
        backwards a 1
        ok: Reversed 4 migrations [b 1, c 1, a 2, a 1]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_9_all_with_an_id_is_a_usage_error() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards all 2 -y",
        r"
        error Usage: a migration ID cannot be given with app `all` (got `2`); omit it, or name one app
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_9_all_with_all_reverses_everything() {
    check(
        r"
        //- app a
        1
        //- app b
        1
        //- rows
        a 1
        b 1
        ",
        "run_backwards all all -y",
        r"
        backwards b 1
        backwards a 1
        ok: Reversed 2 migrations [b 1, a 1]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_9_all_with_an_explicit_1_is_a_usage_error_as_in_the_cli() {
    check(
        r"
        //- app a
        1
        2
        //- app b
        1
        //- rows
        a 1
        b 1
        a 2
        ",
        "backwards all 1 -y",
        r"
        error Usage: a migration ID cannot be given with app `all` (got `1`); omit it, or name one app
        rows: a 1, b 1, a 2
        tables: a_1 a_2 b_1
        ",
    );
}

#[test]
fn backwards_5_2_9_all_without_an_id_reverses_everything() {
    check(
        r"
        //- app a
        1
        2
        //- app b
        1
        //- rows
        a 1
        b 1
        a 2
        ",
        "backwards all -y",
        r"
        backwards b 1
        backwards a 2
        backwards a 1
        ok: Reversed 3 migrations [b 1, a 2, a 1]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_9_all_with_clean_deletes_every_reversed_file() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        2
        //- rows
        a 1
        b 1
        ",
        "backwards all -y --clean",
        r"
        backwards b 1
        deleted: $DIR/b/1_make_b_1.sql
        backwards a 1
        deleted: $DIR/a/1_make_a_1.sql
        ok: Reversed 2 migrations [b 1, a 1]
        rows: (none)
        tables: (none)
        files: b/2_make_b_2.sql
        ",
    );
}

#[test]
fn backwards_5_2_10_refuses_to_empty_a_dependency_of_an_applied_app() {
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
        "backwards a -y",
        r"
        error DependantsApplied: refusing to reverse every migration of `a`: b depend(s) on it and still have applied migrations; reverse them first (or use `ferry backwards all`)
        rows: a 1, b 1
        tables: a_1 b_1
        ",
    );
}

#[test]
fn backwards_5_2_10_names_every_applied_dependant() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- app c: a
        1
        //- app d: a
        1
        //- rows
        a 1
        b 1
        d 1
        ",
        "backwards a all -y",
        r"
        error DependantsApplied: refusing to reverse every migration of `a`: b, d depend(s) on it and still have applied migrations; reverse them first (or use `ferry backwards all`)
        rows: a 1, b 1, d 1
        tables: a_1 b_1 d_1
        ",
    );
}

#[test]
fn backwards_5_2_10_partial_reversal_of_a_dependency_is_allowed() {
    check(
        r"
        //- app a
        1
        2
        //- app b: a
        1
        //- rows
        a 1
        a 2
        b 1
        ",
        "backwards a -y",
        r"
        backwards a 2
        ok: Reversed 1 migration [a 2]
        rows: a 1, b 1
        tables: a_1 b_1
        ",
    );
}

#[test]
fn backwards_5_2_10_emptying_a_dependency_without_applied_dependants_is_allowed() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- rows
        a 1
        ",
        "backwards a -y",
        r"
        backwards a 1
        ok: Reversed 1 migration [a 1]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn backwards_5_2_10_run_migrations_backwards_refuses_too() {
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
        "run_migrations_backwards a all -y",
        r"
        error DependantsApplied: refusing to reverse every migration of `a`: b depend(s) on it and still have applied migrations; reverse them first (or use `ferry backwards all`)
        rows: a 1, b 1
        tables: a_1 b_1
        ",
    );
}

// ---------------------------------------------------------------------------------------------
// SPEC §5.2.10: dependants through other apps.

#[test]
fn backwards_5_2_10_transitive_dependants_are_named() {
    check(
        r"
        //- app a
        1
        //- app b: a
        1
        //- app c: b
        1
        //- app d: c
        1
        //- rows
        a 1
        b 1
        d 1
        ",
        "backwards a all -y",
        r"
        error DependantsApplied: refusing to reverse every migration of `a`: b, d depend(s) on it and still have applied migrations; reverse them first (or use `ferry backwards all`)
        rows: a 1, b 1, d 1
        tables: a_1 b_1 d_1
        ",
    );
}

#[test]
fn backwards_5_2_10_transitive_dependants_reversed_in_the_same_command_are_fine() {
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
        c 1
        ",
        "backwards all -y",
        r"
        backwards c 1
        backwards a 1
        ok: Reversed 2 migrations [c 1, a 1]
        rows: (none)
        tables: (none)
        ",
    );
}
