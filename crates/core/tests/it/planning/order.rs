//! SPEC §6: app ordering by dependencies.

use super::support::check;

// ---------------------------------------------------------------------------------------------
// §6 app ordering

#[test]
fn order_6_waves_keep_registry_order() {
    check(
        r"
        //- app c: a b
        1
        //- app b
        1
        //- app a
        1
        ",
        "forwards all",
        r"
        forwards b 1
        forwards a 1
        forwards c 1
        ok: Applied 3 migrations [b 1, a 1, c 1]
        rows: b 1, a 1, c 1
        tables: a_1 b_1 c_1
        ",
    );
}

#[test]
fn order_6_chain_runs_dependencies_first() {
    check(
        r"
        //- app c: b
        1
        //- app b: a
        1
        //- app a
        1
        ",
        "forwards all",
        r"
        forwards a 1
        forwards b 1
        forwards c 1
        ok: Applied 3 migrations [a 1, b 1, c 1]
        rows: a 1, b 1, c 1
        tables: a_1 b_1 c_1
        ",
    );
}

#[test]
fn order_6_backwards_uses_the_reverse_order() {
    check(
        r"
        //- app c: a b
        1
        //- app b
        1
        //- app a
        1
        //- rows
        a 1
        b 1
        c 1
        ",
        "backwards all -y",
        r"
        backwards c 1
        backwards a 1
        backwards b 1
        ok: Reversed 3 migrations [c 1, a 1, b 1]
        rows: (none)
        tables: (none)
        ",
    );
}

#[test]
fn order_6_check_uses_dependency_order() {
    check(
        r"
        //- app c: a b
        1
        //- app b
        1
        //- app a
        1
        //- rows
        c 1
        ",
        "check all",
        r"
        b 1 pending - (make b 1)
        a 1 pending - (make a 1)
        c 1 applied ran 00:01 (make c 1)
        queries: 1
        rows: c 1
        tables: c_1
        ",
    );
}

#[test]
fn order_6_cycle_is_a_configuration_error() {
    check(
        r"
        //- app a: c
        1
        //- app b: a
        1
        //- app c: b
        1
        ",
        "check all",
        r"
        error Config: dependency cycle between apps: a -> c -> b -> a; remove one of these `depends_on` entries
        ",
    );
}

#[test]
fn order_6_reversing_a_dependency_of_a_dependency_is_refused() {
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
        c 1
        ",
        "backwards b -y",
        r"
        error DependantsApplied: refusing to reverse every migration of `b`: c depend(s) on it and still have applied migrations; reverse them first (or use `ferry backwards all`)
        rows: a 1, b 1, c 1
        tables: a_1 b_1 c_1
        ",
    );
}

#[test]
fn order_6_reversing_a_transitive_dependency_is_refused() {
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
        "backwards a -y",
        r"
        error DependantsApplied: refusing to reverse every migration of `a`: c depend(s) on it and still have applied migrations; reverse them first (or use `ferry backwards all`)
        rows: a 1, c 1
        tables: a_1 c_1
        ",
    );
}
