//! `ferry lint`'s measurement (SPEC §13.1) on a scratch database. Each `ALTER TABLE`,
//! `CREATE INDEX` and `DROP INDEX` of a table that existed before the section, unless it
//! names an `ALGORITHM` itself, is tried with `ALGORITHM=INSTANT`, then `ALGORITHM=INPLACE,
//! LOCK=NONE`, then `ALGORITHM=COPY`: the first the server accepts is the statement's run, and
//! the one reported. A refusal of the clause (error 1845, 1846, or a message naming the
//! algorithm or lock) moves on to the next; any other error is the statement's. Every other
//! statement runs as written. DDL commits at once on MySQL and MariaDB: there is no
//! section-wide transaction to hold locks in.
//!
//! After each statement, `information_schema` gives the base tables of the database (by name:
//! the server keeps no identity across a rename that this can read) and their columns.

use ferry_core::driver::lint::{LintColumn, LintRelation, LintRun, LintState, LintStep};
use ferry_core::driver::DriverResult;
use mysql_async::prelude::Queryable;

use crate::error::db_error;
use crate::MysqlDriver;

/// The clauses tried, cheapest first, with the name reported.
const TRIES: [(&str, &str); 3] = [
    ("ALGORITHM=INSTANT", "INSTANT"),
    ("ALGORITHM=INPLACE, LOCK=NONE", "INPLACE"),
    ("ALGORITHM=COPY", "COPY"),
];

impl MysqlDriver {
    /// See [`ferry_core::Driver::lint_section`]. `continues`: the state the last section
    /// ended with is this one's start (nothing ran since), so it is not read again.
    pub(crate) async fn lint_section(
        &mut self,
        statements: &[String],
        continues: bool,
    ) -> DriverResult<LintRun> {
        let before = match self.lint_carry.take().filter(|_| continues) {
            Some(state) => state,
            None => self.lint_state().await?,
        };
        let mut run = LintRun {
            before,
            ..LintRun::default()
        };
        let result = self.lint_statements(statements, &mut run).await;
        // The session is put back unless every statement left it as it was.
        let kept = result.is_ok()
            && run.failed.is_none()
            && statements.iter().all(|s| crate::session::keeps_session(s));
        if !kept {
            self.after_reset(result).await?;
        }
        if run.failed.is_none() {
            self.lint_carry = Some(
                run.steps
                    .last()
                    .map_or_else(|| run.before.clone(), |step| step.state.clone()),
            );
        }
        Ok(run)
    }

    async fn lint_statements(
        &mut self,
        statements: &[String],
        run: &mut LintRun,
    ) -> DriverResult<()> {
        for (i, statement) in statements.iter().enumerate() {
            let target = altered_table(statement)
                .filter(|t| run.before.relations.contains_key(t))
                .filter(|_| !statement.to_ascii_uppercase().contains("ALGORITHM"));
            let mut algorithm = None;
            let outcome = match &target {
                None => self.conn.query_drop(statement.as_str()).await,
                Some(table) => {
                    let joint = if is_alter(statement) { ", " } else { "" };
                    let mut last = Ok(());
                    for (clause, name) in TRIES {
                        // `CREATE/DROP INDEX` take the options space-separated.
                        let clause = if is_alter(statement) {
                            clause.to_owned()
                        } else {
                            clause.replace(", ", " ")
                        };
                        // On a line of its own: a `--` comment at the statement's end would
                        // swallow it.
                        let sql = format!("{statement}\n{joint}{clause}");
                        last = self.conn.query_drop(sql).await;
                        match &last {
                            Ok(()) => {
                                algorithm = Some((table.clone(), name.to_owned()));
                                break;
                            }
                            Err(e) if refuses_clause(e) => continue,
                            Err(_) => break,
                        }
                    }
                    last
                }
            };
            if let Err(e) = outcome {
                run.failed = Some((i, db_error(&e)));
                return Ok(());
            }
            let prev = run.steps.last().map_or(&run.before, |s| &s.state);
            let state = match only_table(statement) {
                Some(table) => self.lint_table_state(prev, &table).await?,
                None => self.lint_state().await?,
            };
            run.steps.push(LintStep {
                state,
                algorithm,
                in_transaction: false,
            });
        }
        Ok(())
    }

    /// The state after a statement that changed `table` only ([`only_table`]): `prev` with
    /// that table read again; the whole state when the table is not found.
    async fn lint_table_state(&mut self, prev: &LintState, table: &str) -> DriverResult<LintState> {
        let read = self.lint_relations(Some(table)).await?;
        if read.is_empty() {
            return self.lint_state().await;
        }
        let mut state = prev.clone();
        state.relations.extend(read);
        Ok(state)
    }

    /// The base tables of the connection's database and their columns.
    async fn lint_state(&mut self) -> DriverResult<LintState> {
        Ok(LintState {
            relations: self.lint_relations(None).await?,
            ..LintState::default()
        })
    }

    /// The base tables of the connection's database (only `table`, a plain name, when
    /// given) and their columns: both queries in one round trip.
    async fn lint_relations(
        &mut self,
        table: Option<&str>,
    ) -> DriverResult<std::collections::BTreeMap<String, std::sync::Arc<LintRelation>>> {
        let only = table.map_or(String::new(), |t| format!(" AND TABLE_NAME = '{t}'"));
        let mut result = self
            .conn
            .query_iter(format!(
                "SELECT TABLE_NAME FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'{only}; \
                 SELECT TABLE_NAME, COLUMN_NAME, IS_NULLABLE FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE(){only}"
            ))
            .await
            .map_err(|e| db_error(&e))?;
        let tables: Vec<String> = result.collect().await.map_err(|e| db_error(&e))?;
        let columns: Vec<(String, String, String)> =
            result.collect().await.map_err(|e| db_error(&e))?;
        result.drop_result().await.map_err(|e| db_error(&e))?;
        let mut relations = std::collections::BTreeMap::new();
        for name in tables {
            relations.insert(
                name.clone(),
                LintRelation {
                    kind: "table".into(),
                    name,
                    ..LintRelation::default()
                },
            );
        }
        for (table, column, nullable) in columns {
            if let Some(r) = relations.get_mut(&table) {
                r.columns.insert(
                    column.clone(),
                    LintColumn {
                        name: column,
                        not_null: nullable == "NO",
                    },
                );
            }
        }
        Ok(relations
            .into_iter()
            .map(|(k, v)| (k, std::sync::Arc::new(v)))
            .collect())
    }
}

/// The one table of this database that `statement` can have changed, when it names it
/// plainly (letters, digits, `_`, `$`) and changes no other: an `ALTER TABLE` that renames
/// nothing, a `CREATE` or `DROP INDEX ... ON` it, or a plain `CREATE TABLE` of it (not
/// `... SELECT`, `... LIKE`, `OR REPLACE` or `TEMPORARY`). Its read after the statement can
/// then be that table's alone, the set of tables otherwise as it was.
fn only_table(statement: &str) -> Option<String> {
    let words = words(statement);
    let upper: Vec<String> = statement
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map(str::to_ascii_uppercase)
        .collect();
    if ["RENAME", "SELECT", "LIKE", "REPLACE", "TEMPORARY"]
        .iter()
        .any(|w| upper.iter().any(|u| u == w))
    {
        return None;
    }
    // A quoted name that is not plain (`my table`) would be split into words here.
    let quoted_plain = statement.split('`').skip(1).step_by(2).all(|q| {
        q.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    });
    if !quoted_plain {
        return None;
    }
    let is = |i: usize, w: &str| words.get(i).is_some_and(|u| u.eq_ignore_ascii_case(w));
    let name = if is(0, "CREATE") && is(1, "TABLE") {
        let at = if is(2, "IF") { 5 } else { 2 };
        let name = words.get(at)?.split('(').next()?;
        name.trim_matches('`').to_owned()
    } else {
        altered_table(statement)?
    };
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    plain.then_some(name)
}

fn is_alter(statement: &str) -> bool {
    words(statement)
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("ALTER"))
}

/// The table an `ALTER TABLE`, `CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX ... ON` or `DROP INDEX
/// ... ON` statement changes (unquoted, without a database name), if it is one of those.
fn altered_table(statement: &str) -> Option<String> {
    let words = words(statement);
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let is = |i: usize, w: &str| upper.get(i).is_some_and(|u| u == w);
    let name = if is(0, "ALTER") {
        let mut i = 1;
        while is(i, "ONLINE") || is(i, "IGNORE") {
            i += 1;
        }
        if !is(i, "TABLE") {
            return None;
        }
        i += 1;
        if is(i, "IF") && is(i + 1, "EXISTS") {
            i += 2;
        }
        words.get(i)?
    } else if (is(0, "CREATE") || is(0, "DROP")) && upper.iter().take(4).any(|w| w == "INDEX") {
        let on = upper.iter().position(|w| w == "ON")?;
        words.get(on + 1)?
    } else {
        return None;
    };
    let name = name.split('(').next()?.rsplit('.').next()?;
    Some(name.trim_matches('`').to_owned())
}

fn words(statement: &str) -> Vec<&str> {
    statement.split_whitespace().take(64).collect()
}

/// Whether the server refused the `ALGORITHM`/`LOCK` clause (not the change itself).
fn refuses_clause(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Server(s) => {
            matches!(s.code, 1845 | 1846)
                || s.message.contains("ALGORITHM")
                || s.message.contains("LOCK=NONE")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{altered_table, only_table};

    #[test]
    fn a_statement_read_for_its_table_alone() {
        let t = |s: &str| only_table(s);
        assert_eq!(t("CREATE TABLE t1 (id INT)").as_deref(), Some("t1"));
        assert_eq!(
            t("create table if not exists `t1`(id INT)").as_deref(),
            Some("t1")
        );
        assert_eq!(t("ALTER TABLE t1 ADD COLUMN c INT").as_deref(), Some("t1"));
        assert_eq!(t("CREATE INDEX i ON t1 (c)").as_deref(), Some("t1"));
        // Anything that can touch another table, or names one oddly: read whole.
        for whole in [
            "ALTER TABLE t1 RENAME TO t2",
            "ALTER TABLE t1 RENAME COLUMN a TO b",
            "CREATE TABLE t2 AS SELECT * FROM t1",
            "CREATE TABLE t2 LIKE t1",
            "CREATE OR REPLACE TABLE t1 (id INT)",
            "CREATE TEMPORARY TABLE t1 (id INT)",
            "CREATE TABLE db.t1 (id INT)",
            "CREATE TABLE `my table` (id INT)",
            "ALTER TABLE `my table` ADD COLUMN c INT",
            "DROP TABLE t1",
            "RENAME TABLE t1 TO t2",
            "INSERT INTO t1 VALUES (1)",
        ] {
            assert_eq!(t(whole), None, "{whole}");
        }
    }

    #[test]
    fn finds_the_altered_table() {
        let t = |s: &str| altered_table(s);
        assert_eq!(
            t("ALTER TABLE `people` ADD c INT").as_deref(),
            Some("people")
        );
        assert_eq!(
            t("alter online ignore table if exists db.people drop c").as_deref(),
            Some("people")
        );
        assert_eq!(
            t("CREATE UNIQUE INDEX i ON people(c)").as_deref(),
            Some("people")
        );
        assert_eq!(t("DROP INDEX i ON people").as_deref(), Some("people"));
        assert_eq!(t("CREATE TABLE x (id INT)"), None);
        assert_eq!(t("ALTER VIEW v AS SELECT 1"), None);
    }
}
