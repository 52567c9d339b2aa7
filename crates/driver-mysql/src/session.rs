//! The session state a migration may change, and the statement that puts it back (SPEC §7:
//! each migration, and each step of `verify`, starts from the state the run's connection
//! began with).
//!
//! `COM_RESET_CONNECTION` would clear everything, but it also releases the `GET_LOCK`
//! migration lock that this same connection holds (and taking it again leaves a moment in
//! which another run could take it). So the driver reads, at connect, the session variables
//! that change what SQL does ([`VARIABLES`]: `sql_mode`, `foreign_key_checks`, `time_zone`,
//! character sets, storage engines, `autocommit`, ...) and, after each migration, sets them
//! back in one statement with the current database (`USE`): one round trip. Not restored:
//! user variables (`@x`), temporary tables and session variables outside the list.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use ferry_core::driver::url::quote_ident;

/// The session variables restored after each migration, where the server has them (MySQL
/// and MariaDB differ). `max_join_size` comes before `sql_big_selects`, which setting it
/// changes.
const VARIABLES: &[&str] = &[
    "sql_mode",
    "foreign_key_checks",
    "unique_checks",
    "check_constraint_checks",
    "time_zone",
    "autocommit",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
    "default_storage_engine",
    "default_tmp_storage_engine",
    "default_collation_for_utf8mb4",
    "explicit_defaults_for_timestamp",
    "innodb_strict_mode",
    "sql_require_primary_key",
    "sql_if_exists",
    "system_versioning_alter_history",
    "alter_algorithm",
    "old_mode",
    "sql_safe_updates",
    "sql_select_limit",
    "max_join_size",
    "sql_big_selects",
    "sql_auto_is_null",
    "sql_notes",
    "sql_warnings",
    "sql_log_bin",
    "auto_increment_increment",
    "auto_increment_offset",
    "transaction_isolation",
    "tx_isolation",
    "transaction_read_only",
    "tx_read_only",
    "completion_type",
    "lock_wait_timeout",
    "innodb_lock_wait_timeout",
    "max_statement_time",
    "max_execution_time",
    "div_precision_increment",
    "default_week_format",
    "group_concat_max_len",
    "lc_time_names",
    "updatable_views_with_limit",
    "wait_timeout",
    "net_read_timeout",
    "net_write_timeout",
];

/// Read the session's state now and return the statement that restores it. Each assignment
/// is tried once here, together (one round trip) or, where that fails (a variable this user
/// may not set), one by one, keeping those that work.
pub(crate) async fn capture(
    conn: &mut Conn,
    database: Option<&str>,
) -> Result<String, mysql_async::Error> {
    let list = VARIABLES
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<(String, Option<String>)> = conn
        .query(format!(
            "SHOW SESSION VARIABLES WHERE Variable_name IN ({list})"
        ))
        .await?;
    // Each variable with the ways to write its value, the likeliest first.
    let mut candidates: Vec<Vec<String>> = VARIABLES
        .iter()
        .filter_map(|name| {
            let (_, value) = rows.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))?;
            let written = literals(value.as_deref());
            (!written.is_empty()).then(|| {
                written
                    .into_iter()
                    .map(|value| format!("{name} = {value}"))
                    .collect()
            })
        })
        .collect();
    // A `SET timestamp` of a migration fixes NOW(); DEFAULT lets the clock run again.
    candidates.push(vec!["timestamp = DEFAULT".to_owned()]);
    let mut assignments: Vec<String> = candidates.iter().map(|c| c[0].clone()).collect();
    if conn.query_drop(set(&assignments)).await.is_err() {
        // Usually a privilege this user lacks (managed servers): then a migration cannot
        // change those variables either. Without them, still one statement.
        let unprivileged: Vec<String> = assignments
            .iter()
            .filter(|a| !PRIVILEGED.iter().any(|p| a.starts_with(&format!("{p} ="))))
            .cloned()
            .collect();
        if conn.query_drop(set(&unprivileged)).await.is_ok() {
            return Ok(with_use(set(&unprivileged), database));
        }
        // Otherwise, each on its own (a round trip each, at connect only).
        assignments.clear();
        for ways in candidates {
            for assignment in ways {
                if conn
                    .query_drop(set(std::slice::from_ref(&assignment)))
                    .await
                    .is_ok()
                {
                    assignments.push(assignment);
                    break;
                }
            }
        }
    }
    Ok(with_use(set(&assignments), database))
}

/// The session variables whose session value only a privileged user may set (MySQL 8's
/// restricted variables, MariaDB's `sql_log_bin`).
const PRIVILEGED: &[&str] = &[
    "sql_log_bin",
    "explicit_defaults_for_timestamp",
    "default_collation_for_utf8mb4",
    "sql_require_primary_key",
];

/// `restore` followed by `USE database`, where the connection has one.
fn with_use(mut restore: String, database: Option<&str>) -> String {
    if let Some(db) = database {
        restore.push_str(&format!("; USE {}", quote_ident(db, '`')));
    }
    restore
}

fn set(assignments: &[String]) -> String {
    if assignments.is_empty() {
        return "DO 0".to_owned();
    }
    format!("SET SESSION {}", assignments.join(", "))
}

/// A value as SHOW prints it, as SQL, in the ways it may have to be written: a number bare,
/// other text single-quoted (read the same whatever `sql_mode` a migration left: no
/// backslash, no quote), an empty value as `''` or `NULL` (SHOW prints both alike). None for
/// a value that cannot be written safely: that variable is not restored.
fn literals(value: Option<&str>) -> Vec<String> {
    let value = value.unwrap_or("");
    if value.is_empty() {
        return vec!["''".to_owned(), "NULL".to_owned()];
    }
    let numeric = value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && value.bytes().next().is_some_and(|b| b.is_ascii_digit());
    if numeric {
        return vec![value.to_owned()];
    }
    let safe = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b",_+-:./%= ".contains(&b));
    if safe {
        vec![format!("'{value}'")]
    } else {
        Vec::new()
    }
}

/// Whether `statement` (one statement of a counted section) certainly leaves the session as
/// it was, so that the restore after the section's last statement can be left out: a
/// `CREATE TABLE` (not `... SELECT`), `CREATE [UNIQUE | FULLTEXT | SPATIAL] INDEX`,
/// `ALTER TABLE`, `DROP TABLE`, `DROP INDEX` or `RENAME TABLE`, with no executable comment
/// (`/*!`), no `SELECT` and no `CALL` anywhere in its text. These run no stored code (no
/// triggers fire; defaults, checks and generated columns may not call stored functions)
/// and set no variable. Anything else, even a word in a string or a comment, counts as a
/// possible change: the session is then restored, as it always was.
pub(crate) fn keeps_session(statement: &str) -> bool {
    if statement.contains("/*!") || statement.contains("/*M!") {
        return false;
    }
    let words: Vec<String> = statement
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    if words.iter().any(|w| w == "SELECT" || w == "CALL") {
        return false;
    }
    let lead: Vec<&str> = words.iter().take(3).map(String::as_str).collect();
    matches!(
        lead.as_slice(),
        ["CREATE", "TABLE", ..]
            | ["CREATE", "INDEX", ..]
            | ["CREATE", "UNIQUE" | "FULLTEXT" | "SPATIAL", "INDEX"]
            | ["ALTER", "TABLE", ..]
            | ["DROP", "TABLE" | "INDEX", ..]
            | ["RENAME", "TABLE", ..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_that_keep_the_session() {
        for kept in [
            "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(5) CHARACTER SET utf8mb4)",
            "create unique index t_s on t (s)",
            "ALTER TABLE t ADD COLUMN x INT DEFAULT 1, ALGORITHM=INSTANT",
            "DROP TABLE IF EXISTS t",
            "RENAME TABLE t TO u",
        ] {
            assert!(keeps_session(kept), "{kept}");
        }
        for changes in [
            "SET SESSION sql_mode = ''",
            "SET NAMES latin1",
            "USE other",
            "CREATE TABLE t AS SELECT 1 AS x",
            "CREATE TABLE t (x INT) /*!50100 SET sql_mode='' */",
            "CREATE TEMPORARY TABLE t (x INT)",
            "INSERT INTO t VALUES (1)",
            "CALL p()",
            "CREATE PROCEDURE p() SET @@session.sql_mode = ''",
            "ALTER TABLE t COMMENT 'select'",
        ] {
            assert!(!keeps_session(changes), "{changes}");
        }
    }

    #[test]
    fn literals_by_kind() {
        assert_eq!(literals(Some("1")), ["1"]);
        assert_eq!(literals(Some("0.000000")), ["0.000000"]);
        assert_eq!(literals(Some("+00:00")), ["'+00:00'"]);
        assert_eq!(
            literals(Some("STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION")),
            ["'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'"]
        );
        assert_eq!(literals(Some("")), ["''", "NULL"]);
        assert_eq!(literals(None), ["''", "NULL"]);
        assert!(literals(Some("it's")).is_empty());
        assert!(literals(Some("a\\b")).is_empty());
    }
}
