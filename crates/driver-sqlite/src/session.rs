//! The connection state a migration may change, and putting it back (SPEC §7: each
//! migration, and each step of `verify`, starts from the state the run's connection began
//! with).
//!
//! SQLite's per-connection state is its pragmas, its `temp` schema and its attached
//! databases. After each migration (after its savepoint is released or rolled back, and after
//! a `no-transaction` section, before the lock is taken again) the driver
//! - sets back each pragma of [`PRAGMAS`] whose value differs from the one read when the
//!   connection was opened (`foreign_keys` only changes outside a transaction, where a
//!   `no-transaction` section runs; the others at once, and no rollback undoes them);
//! - drops every object in `temp` (tables, views, and triggers);
//! - detaches the databases attached since the connection was opened.
//!
//! All of it in process: a few microseconds, no round trip. `defer_foreign_keys` SQLite turns
//! off at each commit; within the lock's transaction, which spans the run, it is set back
//! here. Not restored: `writable_schema` (reading it turns `verify`'s change tracking off,
//! and setting it does so anyway) and `case_sensitive_like` (which cannot be read).

use rusqlite::Connection;

/// The pragmas set back after each migration, where their value changed. `query_only` comes
/// first: the rest of the reset writes.
const PRAGMAS: &[&str] = &[
    "query_only",
    "foreign_keys",
    "defer_foreign_keys",
    "recursive_triggers",
    "legacy_alter_table",
    "ignore_check_constraints",
    "trusted_schema",
    "automatic_index",
    "reverse_unordered_selects",
    "cell_size_check",
];

/// The state of a connection when it was opened.
#[derive(Debug, Clone, Default)]
pub(crate) struct Session {
    /// Each pragma of [`PRAGMAS`] this SQLite has, with its value.
    pragmas: Vec<(&'static str, i64)>,
    /// The databases attached, `main` and `temp` among them.
    attached: Vec<String>,
}

impl Session {
    /// Read the state of `conn`, just opened.
    pub(crate) fn capture(conn: &Connection) -> Session {
        let pragmas = PRAGMAS
            .iter()
            .filter_map(|&name| read(conn, name).map(|value| (name, value)))
            .collect();
        Session {
            pragmas,
            attached: databases(conn).unwrap_or_default(),
        }
    }

    /// Put `conn` back in this state (see the module docs).
    pub(crate) fn restore(&self, conn: &Connection) -> rusqlite::Result<()> {
        for &(name, value) in &self.pragmas {
            if read(conn, name) != Some(value) {
                conn.execute_batch(&format!("PRAGMA {name} = {value}"))?;
            }
        }
        let temp: Vec<(String, String)> = {
            let mut stmt = conn.prepare(
                "SELECT type, name FROM temp.sqlite_schema \
                 WHERE type IN ('trigger', 'view', 'table') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                 ORDER BY CASE type WHEN 'trigger' THEN 0 WHEN 'view' THEN 1 ELSE 2 END",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (kind, name) in temp {
            let name = name.replace('"', "\"\"");
            conn.execute_batch(&format!(
                "DROP {} IF EXISTS temp.\"{name}\"",
                kind.to_ascii_uppercase()
            ))?;
        }
        for name in databases(conn)? {
            // `temp` is listed once something made it.
            if name != "main" && name != "temp" && !self.attached.contains(&name) {
                conn.execute("DETACH DATABASE ?1", [&name])?;
            }
        }
        Ok(())
    }
}

/// The value of pragma `name`, where this SQLite has it.
fn read(conn: &Connection, name: &str) -> Option<i64> {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        .ok()
}

/// The names of the attached databases.
fn databases(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_database_list")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}
