//! SPEC §5.5 resolve: `--applied`, `--reverted` and `--accept-changed`.

use super::support::check;

// ---------------------------------------------------------------------------------------------
// §5.5 resolve

#[test]
fn resolve_5_5_applied_keeps_the_row() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2 dirty
        ",
        "resolve a 2 --applied",
        r"
        ok: Marked a 2 as applied [a 2]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn resolve_5_5_reverted_deletes_the_row() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2 dirty
        ",
        "resolve a 2 --reverted",
        r"
        ok: Marked a 2 as reverted (row deleted) [a 2]
        rows: a 1
        tables: a_1 a_2
        ",
    );
}

#[test]
fn resolve_5_5_a_clean_row_is_not_dirty() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2
        ",
        "resolve a 2 --applied",
        r"
        error NotDirty: migration a 2 is not dirty (it is applied)
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn resolve_5_5_a_migration_without_row_is_not_dirty() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        ",
        "resolve a 2 --reverted",
        r"
        error NotDirty: migration a 2 is not dirty (it has no tracking row)
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn resolve_5_7_unknown_app_is_an_error() {
    check(
        r"
        //- app a
        1
        ",
        "resolve nope 1 --applied",
        r"
        error UnknownApp: unknown app `nope`; known apps: a
        rows: (no table)
        tables: (none)
        ",
    );
}

// ---------------------------------------------------------------------------------------------
// SPEC §5.5: resolve --accept-changed.

#[test]
fn resolve_5_5_accept_changed_records_the_file() {
    check(
        r"
        //- app a
        1
        2
        //- rows
        a 1
        a 2 changed old-down
        ",
        "resolve a 2 --accept-changed -y",
        r"
        changed a 2: checksum 00000000.. -> ...
        ok: Accepted the changed migration a 2: its tracking row now records the file's checksum and down section [a 2]
        rows: a 1, a 2
        tables: a_1 a_2
        ",
    );
}

#[test]
fn resolve_5_5_accept_changed_shows_the_down_sections() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1 changed old-down
        ",
        "resolve a 1 --accept-changed -y",
        r#"
        changed a 1: checksum 00000000.. -> 9e6c4ae0.., down Some("DROP TABLE old_down;") -> Some("DROP TABLE a_1;")
        ok: Accepted the changed migration a 1: ...
        rows: a 1
        tables: a_1
        "#,
    );
}

#[test]
fn resolve_5_5_accept_changed_asks_first() {
    check(
        r"
        //- answer yes
        //- app a
        1
        //- rows
        a 1 changed
        ",
        "resolve a 1 --accept-changed",
        r"
        changed a 1: ...
        confirm: Accept the edited file of a 1? Its tracking row will record the file's checksum and down section; no SQL runs. [a 1 (make a 1)]
        ok: Accepted the changed migration a 1: ...
        rows: a 1
        tables: a_1
        ",
    );
}

#[test]
fn resolve_5_5_accept_changed_declined_changes_nothing() {
    check(
        r"
        //- answer no
        //- app a
        1
        //- rows
        a 1 changed old-down
        ",
        "resolve a 1 --accept-changed",
        r"
        changed a 1: ...
        confirm: Accept the edited file of a 1? ...
        failed: Not proceeding.
        rows: a 1~^
        tables: a_1
        ",
    );
}

#[test]
fn resolve_5_5_accept_changed_without_a_terminal_changes_nothing() {
    check(
        r"
        //- app a
        1
        //- rows
        a 1 changed
        ",
        "resolve a 1 --accept-changed",
        r"
        changed a 1: ...
        confirm: Accept the edited file of a 1? ...
        error ConfirmationUnavailable: stdin is not a terminal; pass -y
        rows: a 1~
        tables: a_1
        ",
    );
}

#[test]
fn resolve_5_5_accept_changed_refuses_every_other_status() {
    let fixture = r"
        //- app a
        1
        2
        3
        4
        //- rows
        a 1
        a 3 dirty
        a 5
        ";
    for (id, status) in [
        ("1", "its status is applied"),
        ("2", "its status is pending"),
        ("3", "its status is dirty"),
        ("5", "its status is missing"),
        ("6", "the app has no file and no tracking row with that ID"),
    ] {
        check(
            fixture,
            &format!("resolve a {id} --accept-changed -y"),
            &format!(
                r"
                error NotChanged: migration a {id} is not changed ({status}): --accept-changed is for a `changed` migration only (applied, its file edited since; see `ferry check a`); nothing was changed
                rows: a 1, a 3*, a 5
                tables: a_1 a_3 a_5
                "
            ),
        );
    }
}
