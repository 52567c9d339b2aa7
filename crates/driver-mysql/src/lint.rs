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
    /// See [`ferry_core::Driver::lint_section`].
    pub(crate) async fn lint_section(&mut self, statements: &[String]) -> DriverResult<LintRun> {
        let mut run = LintRun {
            before: self.lint_state().await?,
            ..LintRun::default()
        };
        let result = self.lint_statements(statements, &mut run).await;
        self.after_reset(result).await?;
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
            run.steps.push(LintStep {
                state: self.lint_state().await?,
                algorithm,
                in_transaction: false,
            });
        }
        Ok(())
    }

    /// The base tables of the connection's database and their columns.
    async fn lint_state(&mut self) -> DriverResult<LintState> {
        let tables: Vec<String> = self
            .conn
            .query(
                "SELECT TABLE_NAME FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
            )
            .await
            .map_err(|e| db_error(&e))?;
        let columns: Vec<(String, String, String)> = self
            .conn
            .query(
                "SELECT TABLE_NAME, COLUMN_NAME, IS_NULLABLE FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE()",
            )
            .await
            .map_err(|e| db_error(&e))?;
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
        Ok(LintState {
            relations: relations
                .into_iter()
                .map(|(k, v)| (k, std::sync::Arc::new(v)))
                .collect(),
            ..LintState::default()
        })
    }
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
    use super::altered_table;

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
