//! SPEC §5.2.7-§5.2.8 backwards: `--clean` deleting the reversed files, and `--preview`.

use super::support::check;

#[test]
fn backwards_5_2_7_clean_deletes_the_reversed_files() {
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
        "backwards a 2 -y --clean",
        r"
        backwards a 3
        deleted: $DIR/a/3_make_a_3.sql
        backwards a 2
        deleted: $DIR/a/2_make_a_2.sql
        ok: Reversed 2 migrations [a 3, a 2]
        rows: a 1
        tables: a_1
        files: a/1_make_a_1.sql
        ",
    );
}

#[test]
fn backwards_5_2_7_clean_deletes_both_files_of_a_pair() {
    check(
        r"
        //- app a
        1 pair
        2 pair
        //- rows
        a 1
        a 2
        ",
        "backwards a -y --clean",
        r"
        backwards a 2
        deleted: $DIR/a/2_make_a_2.up.sql
        deleted: $DIR/a/2_make_a_2.down.sql
        ok: Reversed 1 migration [a 2]
        rows: a 1
        tables: a_1
        files: a/1_make_a_1.down.sql a/1_make_a_1.up.sql
        ",
    );
}

#[test]
fn backwards_5_2_7_clean_with_the_file_gone_deletes_nothing() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "backwards a -y --clean",
        r"
        notice: the file of migration a 2 is gone; using the down SQL stored when it was applied
        backwards a 2
        ok: Reversed 1 migration [a 2]
        rows: a 1
        tables: a_1
        files: a/1_make_a_1.sql
        ",
    );
}

#[test]
fn backwards_5_2_7_clean_keeps_the_file_of_a_failed_reversal() {
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
        "backwards a all -y --clean",
        r"
        backwards a 3
        deleted: $DIR/a/3_make_a_3.sql
        error Execute: migration a 2 failed ($DIR/a/2_make_a_2.sql:5): no such table: nowhere
        rows: a 1, a 2
        tables: a_1 a_2
        files: a/1_make_a_1.sql a/2_make_a_2.sql
        ",
    );
}

#[cfg(unix)]
#[test]
fn backwards_5_2_7_clean_refuses_a_symlink_before_any_change() {
    check(
        r"
        //- app a
        1
        2 symlink
        //- rows
        a 1
        a 2
        ",
        "backwards a all -y --clean",
        r"
        error UnsafeDelete: refusing to delete $DIR/a/2_make_a_2.sql: it is a symbolic link (`--clean` deletes only regular files); nothing was changed
        rows: a 1, a 2
        tables: a_1 a_2
        files: a/1_make_a_1.sql a/2_make_a_2.sql
        ",
    );
}

#[test]
fn backwards_5_2_8_preview_shows_down_sql_newest_first() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a all --preview",
        r"
        preview backwards a 2: DROP TABLE a_2;
        preview backwards a 1: DROP TABLE a_1;
        ok: preview only: nothing was changed [a 2, a 1]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_8_preview_uses_stored_down_sql() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1
        a 2
        ",
        "backwards a --preview",
        r"
        notice: the file of migration a 2 is gone; using the down SQL stored when it was applied
        preview backwards a 2: DROP TABLE a_2;
        ok: preview only: nothing was changed [a 2]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn backwards_5_2_8_preview_with_clean_deletes_nothing() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "backwards a all --preview --clean",
        r"
        preview backwards a 2: DROP TABLE a_2;
        preview backwards a 1: DROP TABLE a_1;
        ok: preview only: nothing was changed [a 2, a 1]
        rows: a 1, a 2
        tables: a_1 a_2
        files: a/1_make_a_1.sql a/2_make_a_2.sql
        ",
    );
}
