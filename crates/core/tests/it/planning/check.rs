//! SPEC §5.3 check: one status per file and per row, ordering, JSON fields, read only.

use super::support::check;

// ---------------------------------------------------------------------------------------------
// §5.3 check

#[test]
fn check_5_3_1_one_row_per_file_and_per_row_without_file() {
    check(
        r"
        //- app a
        1
        2
        3
        4
        5
        //- rows
        a 1
        a 2 changed
        a 3 dirty
        a 9
        a 8 dirty
        ",
        "check a",
        r"
        a 1 applied ran 00:01 (make a 1)
        a 2 changed ran 00:02 (make a 2)
        a 3 dirty ran 00:03 (make a 3)
        a 4 pending - (make a 4)
        a 5 pending - (make a 5)
        a 8 dirty ran 00:05 (recorded a_8)
        a 9 missing ran 00:04 (recorded a_9)
        queries: 1
        rows: a 1, a 2~, a 3*, a 9, a 8*
        tables: a_1 a_2 a_3 a_8 a_9
        ",
    );
}

#[test]
fn check_5_3_1_ids_match_as_numbers() {
    // A row `7` is the file `007`'s (IDs compare as numbers; the fixture's checksums differ,
    // hence `changed` rather than `pending` plus `missing`); `0010` has no file.
    check(
        r"
        //- app a
        007
        9
        //- rows
        a 7
        a 0010
        ",
        "check a",
        r"
        a 007 changed ran 00:01 (make a 007)
        a 9 pending - (make a 9)
        a 0010 missing ran 00:02 (recorded a_0010)
        queries: 1
        rows: a 7, a 0010
        tables: a_0010 a_7
        ",
    );
}

#[test]
fn check_5_3_1_dirty_wins_over_changed() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1 changed dirty
        ",
        "check a",
        r"
        a 1 dirty ran 00:01 (make a 1)
        queries: 1
        rows: a 1*~
        tables: a_1
        ",
    );
}

#[test]
fn check_5_3_2_apps_in_dependency_order_migrations_in_id_order() {
    check(
        r"
        //- app b: a
        1
        2
        //- app a
        1
        2
        3
        //- rows
        a 3
        b 2
        a 1
        a 5
        ",
        "check all",
        r"
        a 1 applied ran 00:03 (make a 1)
        a 2 pending - (make a 2)
        a 3 applied ran 00:01 (make a 3)
        a 5 missing ran 00:04 (recorded a_5)
        b 1 pending - (make b 1)
        b 2 applied ran 00:02 (make b 2)
        queries: 1
        rows: a 3, b 2, a 1, a 5
        tables: a_1 a_3 a_5 b_2
        ",
    );
}

#[test]
fn check_5_3_3_json_fields() {
    check(
        r"
        //- app a
        1
        2
        3
        //- rows
        a 1
        a 2 changed
        a 9
        ",
        "check a --json",
        r#"
        {"app_name":"a","migration_id":"1","description":"make a 1","has_ran":true,"status":"applied","applied_at":"2026-01-01T00:01:00Z"}
        {"app_name":"a","migration_id":"2","description":"make a 2","has_ran":true,"status":"changed","applied_at":"2026-01-01T00:02:00Z"}
        {"app_name":"a","migration_id":"3","description":"make a 3","has_ran":false,"status":"pending","applied_at":null}
        {"app_name":"a","migration_id":"9","description":"recorded a_9","has_ran":true,"status":"missing","applied_at":"2026-01-01T00:03:00Z"}
        rows: a 1, a 2~, a 9
        tables: a_1 a_2 a_9
        "#,
    );
}

#[test]
fn check_5_3_4_unknown_app_is_an_error() {
    check(
        r"
        //- app a
        1
        ",
        "check nope",
        r"
        error UnknownApp: unknown app `nope`; known apps: a
        rows: (no table)
        tables: (none)
        ",
    );
}

#[test]
fn check_5_3_4_reads_the_tracking_table_once() {
    check(
        r"
        //- app a
        1
        2
        3
        //- app b
        1
        2
        //- rows
        a 1
        b 1
        a 2
        ",
        "check all",
        r"
        a 1 applied ran 00:01 (make a 1)
        a 2 applied ran 00:03 (make a 2)
        a 3 pending - (make a 3)
        b 1 applied ran 00:02 (make b 1)
        b 2 pending - (make b 2)
        queries: 1
        rows: a 1, b 1, a 2
        tables: a_1 a_2 b_1
        ",
    );
}

#[test]
fn check_5_3_4_creates_no_table() {
    check(
        r"
        //- app a
        1
        2
        ",
        "check a",
        r"
        a 1 pending - (make a 1)
        a 2 pending - (make a 2)
        queries: 0
        rows: (no table)
        tables: (none)
        ",
    );
}
