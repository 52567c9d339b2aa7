//! The schema snapshot ([`ferry_core::schema`], SPEC §9.3) read from `information_schema`,
//! for the connected database (`DATABASE()`) only.
//!
//! One query per `information_schema` view, whatever the schema's size: the server, TABLES,
//! COLUMNS, STATISTICS, KEY_COLUMN_USAGE with REFERENTIAL_CONSTRAINTS, CHECK_CONSTRAINTS,
//! VIEWS, TRIGGERS, ROUTINES with PARAMETERS; on MariaDB one more that reads every sequence's
//! definition (a `UNION ALL` over the sequences, which are tables there). Rows are grouped in
//! Rust (no `GROUP_CONCAT`, whose result `group_concat_max_len` cuts).
//!
//! Indexes are named `table.index`: MySQL's index names are unique per table only. A unique
//! index is the unique constraint of the same name (MySQL makes no difference), so it is
//! listed as a `unique constraint`, not as an `index`; `PRIMARY` is the `primary key`. The
//! database's own name is taken out of view definitions (`` `db`.`t` `` becomes `` `t` ``), so
//! that snapshots of two databases compare.

use std::collections::BTreeMap;

use ferry_core::schema::Schema;
use ferry_core::url::quote_ident;
use ferry_core::{DriverError, DriverErrorKind, DriverResult};
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use crate::error::db_error;
use crate::MysqlDriver;

/// A row of text values (`None` for NULL).
type Text = Option<String>;

impl MysqlDriver {
    /// See [`ferry_core::Driver::snapshot_parts`]: for now one part, the whole schema.
    pub(crate) async fn snapshot_parts(
        &mut self,
        owners: Option<&std::collections::BTreeSet<String>>,
    ) -> DriverResult<std::collections::BTreeMap<String, ferry_core::schema::Part>> {
        let _ = owners;
        let schema = self.snapshot().await?;
        Ok(std::collections::BTreeMap::from([(
            String::new(),
            ferry_core::schema::Part::new(schema),
        )]))
    }

    /// See [`ferry_core::Driver::snapshot`].
    pub(crate) async fn snapshot(&mut self) -> DriverResult<Schema> {
        let [database, version] = self.one("SELECT DATABASE(), VERSION()").await?;
        let Some(database) = database else {
            // No database selected: nothing to read.
            return Ok(Schema::default());
        };
        let server = Server::of(version.as_deref().unwrap_or(""));
        let mut schema = Schema::default();
        let mut sequences = Vec::new();
        // Each table's kind and collation, for its columns (a join of the two views would
        // cost MariaDB a pass over every table per column).
        let mut tables: BTreeMap<String, (Text, Text)> = BTreeMap::new();

        for [table, kind, engine, collation] in self.rows(TABLES).await? {
            let table = table.unwrap_or_default();
            tables.insert(table.clone(), (kind.clone(), collation.clone()));
            match kind.as_deref() {
                Some("VIEW") => {} // Read from VIEWS below.
                Some("SEQUENCE") => {
                    schema.add("sequence", table.as_str());
                    sequences.push(table);
                }
                kind => {
                    let object = schema.add("table", table.as_str());
                    set(object, "engine", engine.map(|e| e.to_lowercase()));
                    set(object, "collation", collation);
                    if kind == Some("SYSTEM VERSIONED") {
                        object.set("system versioned", "yes");
                    }
                }
            }
        }

        for row in self.rows(COLUMNS).await? {
            let [table, column, ty, nullable, default, extra, generated, collation] = row;
            let (table, column) = (table.unwrap_or_default(), column.unwrap_or_default());
            let Some((kind, table_collation)) = tables.get(&table) else {
                continue;
            };
            match kind.as_deref() {
                Some("BASE TABLE" | "SYSTEM VERSIONED") => {}
                Some("SEQUENCE") if column == "start_value" => {
                    set(schema.add("sequence", table.as_str()), "type", ty);
                    continue;
                }
                _ => continue,
            }
            let object = schema.add("column", format!("{table}.{column}"));
            set(object, "type", ty);
            object.set("nullable", yes_no(nullable.as_deref() == Some("YES")));
            // MariaDB shows a NULL default as the text `NULL` (a string default is quoted).
            let default = default.filter(|d| !(server.mariadb && d == "NULL"));
            set(object, "default", default);
            set(object, "generated", generated.filter(|g| !g.is_empty()));
            if collation.is_some() && collation != *table_collation {
                set(object, "collation", collation);
            }
            let extra = Extra::parse(extra.as_deref().unwrap_or(""));
            set(object, "identity", extra.identity);
            set(object, "on update", extra.on_update);
            set(object, "extra", extra.rest);
        }

        // Indexes, unique constraints and primary keys: key parts in order.
        let mut indexes: BTreeMap<(String, String), Index> = BTreeMap::new();
        let statistics = if server.expressions {
            STATISTICS.replace("NULL AS EXPRESSION", "EXPRESSION")
        } else {
            STATISTICS.to_owned()
        };
        for [table, name, non_unique, seq, column, order, sub_part, method, expression] in
            self.rows(&statistics).await?
        {
            let index = indexes
                .entry((table.unwrap_or_default(), name.unwrap_or_default()))
                .or_default();
            index.unique = non_unique.as_deref() == Some("0");
            index.method = method.map(|m| m.to_lowercase());
            let mut part = match (column, expression) {
                (Some(column), _) => column,
                (None, Some(expression)) => format!("({expression})"),
                (None, None) => String::new(),
            };
            if let Some(length) = sub_part {
                part = format!("{part}({length})");
            }
            if order.as_deref() == Some("D") {
                part.push_str(" desc");
            }
            index.parts.push((number(seq.as_deref()), part));
        }
        for ((table, name), mut index) in indexes {
            index.parts.sort_by_key(|(seq, _)| *seq);
            let columns = join(index.parts.into_iter().map(|(_, part)| part));
            let object = if name == "PRIMARY" {
                schema.add("primary key", table.as_str())
            } else if index.unique {
                schema.add("unique constraint", format!("{table}.{name}"))
            } else {
                let object = schema.add("index", format!("{table}.{name}"));
                object.set("unique", "no");
                set(object, "method", index.method);
                object
            };
            object.set("table", table).set("columns", columns);
        }

        let mut foreign_keys: BTreeMap<(String, String), ForeignKey> = BTreeMap::new();
        for [table, name, position, column, target_schema, target, target_column, on_delete, on_update] in
            self.rows(FOREIGN_KEYS).await?
        {
            let key = foreign_keys
                .entry((table.unwrap_or_default(), name.unwrap_or_default()))
                .or_default();
            let target = target.unwrap_or_default();
            key.target = match target_schema {
                Some(other) if other != database => format!("{other}.{target}"),
                _ => target,
            };
            key.on_delete = on_delete.map(|a| a.to_lowercase());
            key.on_update = on_update.map(|a| a.to_lowercase());
            key.columns.push((
                number(position.as_deref()),
                column.unwrap_or_default(),
                target_column.unwrap_or_default(),
            ));
        }
        for ((table, name), mut key) in foreign_keys {
            key.columns.sort_by_key(|(position, _, _)| *position);
            let columns = join(key.columns.iter().map(|(_, c, _)| c.clone()));
            let targets = join(key.columns.iter().map(|(_, _, c)| c.clone()));
            let object = schema.add("foreign key", format!("{table}.{name}"));
            object
                .set("table", table)
                .set("columns", columns)
                .set("target", format!("{}({targets})", key.target));
            set(object, "on delete", key.on_delete);
            set(object, "on update", key.on_update);
        }

        if let Some(checks) = server.checks {
            for [table, name, expression] in self.rows(checks).await? {
                let table = table.unwrap_or_default();
                let name = name.unwrap_or_default();
                let object = schema.add("check constraint", format!("{table}.{name}"));
                object.set("table", table);
                set(object, "expression", expression);
            }
        }

        let qualifier = format!("{}.", quote_ident(&database, '`'));
        for [view, definition, check_option] in self.rows(VIEWS).await? {
            let object = schema.add("view", view.unwrap_or_default());
            let definition = definition.map(|d| collapse_whitespace(&d.replace(&qualifier, "")));
            set(object, "definition", definition);
            set(
                object,
                "check option",
                check_option
                    .filter(|c| c != "NONE")
                    .map(|c| c.to_lowercase()),
            );
        }

        for [name, table, timing, event, orientation, statement] in self.rows(TRIGGERS).await? {
            let table = table.unwrap_or_default();
            let object = schema.add("trigger", format!("{table}.{}", name.unwrap_or_default()));
            object.set("table", table);
            set(object, "timing", timing.map(|t| t.to_lowercase()));
            set(object, "event", event.map(|e| e.to_lowercase()));
            set(object, "level", orientation.map(|o| o.to_lowercase()));
            set(
                object,
                "definition",
                statement.map(|s| collapse_whitespace(&s)),
            );
        }

        let mut routines: BTreeMap<(String, String), Routine> = BTreeMap::new();
        for row in self.rows(ROUTINES).await? {
            let [kind, name, returns, definition, deterministic, access, security, position, mode, parameter, ty] =
                row;
            let routine = routines
                .entry((
                    kind.unwrap_or_default().to_lowercase(),
                    name.unwrap_or_default(),
                ))
                .or_default();
            routine.returns = returns;
            routine.definition = definition.map(|d| collapse_whitespace(&d));
            routine.deterministic = deterministic.map(|d| yes_no(d == "YES").to_owned());
            routine.access = access.map(|a| a.to_lowercase());
            routine.security = security.map(|s| s.to_lowercase());
            if let Some(position) = position {
                let ty = ty.unwrap_or_default();
                let declared = [mode, parameter, Some(ty.clone())]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                routine
                    .parameters
                    .push((number(Some(&position)), ty, declared));
            }
        }
        for ((kind, name), mut routine) in routines {
            routine.parameters.sort_by_key(|(position, _, _)| *position);
            let types = join(routine.parameters.iter().map(|(_, ty, _)| ty.clone()));
            let object = schema.add(kind.as_str(), format!("{name}({types})"));
            object.set(
                "parameters",
                join(routine.parameters.into_iter().map(|(_, _, p)| p)),
            );
            if kind == "function" {
                set(object, "returns", routine.returns);
            }
            set(object, "definition", routine.definition);
            set(object, "deterministic", routine.deterministic);
            set(object, "data access", routine.access);
            set(object, "security", routine.security);
        }

        if !sequences.is_empty() {
            // A sequence is a one-row table on MariaDB: read them all in one query, without
            // the next value.
            let sql = sequences
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    format!(
                        "SELECT {i}, start_value, increment, minimum_value, maximum_value, \
                         cache_size, cycle_option FROM {}",
                        quote_ident(name, '`')
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            for [i, start, increment, min, max, cache, cycle] in self.rows(&sql).await? {
                let Some(name) = i
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| sequences.get(i))
                else {
                    continue;
                };
                let object = schema.add("sequence", name.as_str());
                set(object, "start", start);
                set(object, "increment", increment);
                set(object, "min", min);
                set(object, "max", max);
                set(object, "cache", cache);
                object.set("cycle", yes_no(cycle.as_deref() == Some("1")));
            }
        }

        if self.table.schema().is_none_or(|schema| schema == database) {
            let lease = self.table.lease_table();
            schema = schema
                .without_table(self.table.name())
                .without_table(lease.name());
        }
        Ok(schema)
    }

    /// The rows of `sql` (text protocol: every value as text), each as `N` values.
    async fn rows<const N: usize>(&mut self, sql: &str) -> DriverResult<Vec<[Text; N]>> {
        let rows: Vec<Row> = self.conn.query(sql).await.map_err(|e| db_error(&e))?;
        rows.into_iter()
            .map(|row| {
                let values: Vec<Text> = row.unwrap().into_iter().map(text).collect();
                let count = values.len();
                values.try_into().map_err(|_| {
                    DriverError::new(
                        DriverErrorKind::Other,
                        format!("a catalog query returned {count} columns instead of {N}"),
                    )
                })
            })
            .collect()
    }

    /// The one row of `sql`.
    async fn one<const N: usize>(&mut self, sql: &str) -> DriverResult<[Text; N]> {
        self.rows(sql)
            .await?
            .pop()
            .ok_or_else(|| DriverError::new(DriverErrorKind::Other, format!("no row from {sql}")))
    }
}

/// What the server's version says about the views it has.
struct Server {
    mariadb: bool,
    /// `STATISTICS.EXPRESSION` exists (MySQL 8.0.13+: functional key parts).
    expressions: bool,
    /// The query of the check constraints, where the server has them (MariaDB 10.2+, whose
    /// `CHECK_CONSTRAINTS` names the table; MySQL 8.0.16+, whose does not).
    checks: Option<&'static str>,
}

impl Server {
    fn of(version: &str) -> Server {
        let numbers: Vec<u32> = version
            .split(|c: char| !c.is_ascii_digit())
            .take(3)
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        let at_least = |wanted: [u32; 3]| numbers.as_slice() >= wanted.as_slice();
        if version.contains("MariaDB") {
            Server {
                mariadb: true,
                expressions: false,
                checks: Some(MARIADB_CHECKS),
            }
        } else {
            Server {
                mariadb: false,
                expressions: at_least([8, 0, 13]),
                checks: at_least([8, 0, 16]).then_some(MYSQL_CHECKS),
            }
        }
    }
}

/// A column's `EXTRA`, taken apart.
struct Extra {
    identity: Option<String>,
    on_update: Option<String>,
    /// The rest (`stored generated`, `invisible`, ...), lower case.
    rest: Option<String>,
}

impl Extra {
    fn parse(extra: &str) -> Extra {
        let lower = extra.to_lowercase();
        let mut rest = lower.as_str().to_owned();
        let mut identity = None;
        if rest.contains("auto_increment") {
            identity = Some("auto_increment".to_owned());
            rest = rest.replace("auto_increment", "");
        }
        // MySQL 8 marks a column whose default is an expression; the default says it.
        rest = rest.replace("default_generated", "");
        let mut on_update = None;
        if let Some(at) = rest.find("on update ") {
            let value = rest[at + "on update ".len()..].to_owned();
            let end = value.find(' ').unwrap_or(value.len());
            on_update = Some(value[..end].to_owned());
            rest = format!("{}{}", &rest[..at], &value[end..]);
        }
        let rest = collapse_whitespace(&rest);
        Extra {
            identity,
            on_update,
            rest: (!rest.is_empty()).then_some(rest),
        }
    }
}

#[derive(Default)]
struct Index {
    unique: bool,
    method: Option<String>,
    /// Key parts by position.
    parts: Vec<(u64, String)>,
}

#[derive(Default)]
struct ForeignKey {
    target: String,
    on_delete: Option<String>,
    on_update: Option<String>,
    /// Position, column, referenced column.
    columns: Vec<(u64, String, String)>,
}

#[derive(Default)]
struct Routine {
    returns: Text,
    definition: Text,
    deterministic: Text,
    access: Text,
    security: Text,
    /// Position, type, declaration (`IN name type`).
    parameters: Vec<(u64, String, String)>,
}

const TABLES: &str = "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION \
     FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()";

const COLUMNS: &str = "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, \
     COLUMN_DEFAULT, EXTRA, GENERATION_EXPRESSION, COLLATION_NAME \
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()";

/// `NULL AS EXPRESSION` becomes `EXPRESSION` where the server has the column.
const STATISTICS: &str = "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, \
     COLUMN_NAME, COLLATION, SUB_PART, INDEX_TYPE, NULL AS EXPRESSION \
     FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()";

const FOREIGN_KEYS: &str = "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION, \
     k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, \
     k.REFERENCED_COLUMN_NAME, r.DELETE_RULE, r.UPDATE_RULE \
     FROM information_schema.KEY_COLUMN_USAGE k \
     JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
     ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME \
     AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
     WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL";

/// MariaDB's check constraints are named per table, and its view has the table.
const MARIADB_CHECKS: &str = "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE \
     FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()";

/// MySQL's check constraints are named per database; the table comes from TABLE_CONSTRAINTS.
const MYSQL_CHECKS: &str = "SELECT tc.TABLE_NAME, tc.CONSTRAINT_NAME, cc.CHECK_CLAUSE \
     FROM information_schema.TABLE_CONSTRAINTS tc \
     JOIN information_schema.CHECK_CONSTRAINTS cc \
     ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
     WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.CONSTRAINT_TYPE = 'CHECK'";

const VIEWS: &str = "SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION \
     FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()";

const TRIGGERS: &str = "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, \
     EVENT_MANIPULATION, ACTION_ORIENTATION, ACTION_STATEMENT \
     FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()";

/// Each routine with each of its parameters (position 0, a function's result, left out).
const ROUTINES: &str = "SELECT r.ROUTINE_TYPE, r.ROUTINE_NAME, r.DTD_IDENTIFIER, \
     r.ROUTINE_DEFINITION, r.IS_DETERMINISTIC, r.SQL_DATA_ACCESS, r.SECURITY_TYPE, \
     p.ORDINAL_POSITION, p.PARAMETER_MODE, p.PARAMETER_NAME, p.DTD_IDENTIFIER \
     FROM information_schema.ROUTINES r LEFT JOIN information_schema.PARAMETERS p \
     ON p.SPECIFIC_SCHEMA = r.ROUTINE_SCHEMA AND p.SPECIFIC_NAME = r.SPECIFIC_NAME \
     AND p.ROUTINE_TYPE = r.ROUTINE_TYPE AND p.ORDINAL_POSITION > 0 \
     WHERE r.ROUTINE_SCHEMA = DATABASE() AND r.ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE')";

/// A value as text: the text protocol sends every value as bytes.
fn text(value: Value) -> Text {
    match value {
        Value::NULL => None,
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        other => Some(other.as_sql(true)),
    }
}

/// Set `property` when `value` is known.
fn set(object: &mut ferry_core::schema::Properties, property: &str, value: Text) {
    if let Some(value) = value {
        object.set(property, value);
    }
}

fn yes_no(yes: bool) -> &'static str {
    if yes {
        "yes"
    } else {
        "no"
    }
}

/// A position as a number (0 when unreadable).
fn number(text: Option<&str>) -> u64 {
    text.and_then(|t| t.parse().ok()).unwrap_or(0)
}

fn join(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join(", ")
}

/// Runs of whitespace as one space, trimmed: definitions are compared as text, and their
/// layout is not part of the schema.
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_is_taken_apart() {
        let e = Extra::parse("DEFAULT_GENERATED on update CURRENT_TIMESTAMP");
        assert_eq!(e.on_update.as_deref(), Some("current_timestamp"));
        assert_eq!(e.identity, None);
        assert_eq!(e.rest, None);
        let e = Extra::parse("auto_increment");
        assert_eq!(e.identity.as_deref(), Some("auto_increment"));
        assert_eq!(e.rest, None);
        let e = Extra::parse("STORED GENERATED INVISIBLE");
        assert_eq!(e.rest.as_deref(), Some("stored generated invisible"));
        let e = Extra::parse("on update current_timestamp(6)");
        assert_eq!(e.on_update.as_deref(), Some("current_timestamp(6)"));
    }

    #[test]
    fn server_versions() {
        let s = Server::of("10.11.19-MariaDB-0+deb12u1");
        assert!(s.mariadb && !s.expressions && s.checks == Some(MARIADB_CHECKS));
        let s = Server::of("8.0.36");
        assert!(!s.mariadb && s.expressions && s.checks == Some(MYSQL_CHECKS));
        let s = Server::of("8.0.15-log");
        assert!(s.expressions && s.checks.is_none());
        let s = Server::of("5.7.44");
        assert!(!s.expressions && s.checks.is_none());
    }
}
