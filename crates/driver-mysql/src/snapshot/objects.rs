//! The objects of a read ([`super`]): its result sets grouped in Rust into tables, views,
//! sequences and routines with their columns, indexes, constraints and triggers.

use std::collections::{BTreeMap, HashMap};

use ferry_core::driver::url::quote_ident;
use ferry_core::driver::DriverResult;
use mysql_async::Value;

use super::{next_set, table_owner, Parts, Server, Text};
use crate::MysqlDriver;

impl MysqlDriver {
    /// The tables, views and sequences of a read, from its result sets (TABLES to TRIGGERS).
    pub(super) async fn read_tables(
        &mut self,
        server: &Server,
        database: &str,
        sets: &mut impl Iterator<Item = Vec<Vec<Text>>>,
        out: &mut Parts,
    ) -> DriverResult<()> {
        let mut sequences = Vec::new();
        // Each table's kind and collation, for its columns (a join of the two views would
        // cost MariaDB a pass over every table per column).
        let mut tables: BTreeMap<String, (Text, Text)> = BTreeMap::new();

        for [table, kind, engine, collation] in next_set(sets)? {
            let table = table.unwrap_or_default();
            let owner = table_owner(&table);
            out.saw(&table, &owner);
            tables.insert(table.clone(), (kind.clone(), collation.clone()));
            match kind.as_deref() {
                Some("VIEW") => {} // Read from VIEWS below.
                Some("SEQUENCE") => {
                    out.add(&owner, "sequence", table.as_str());
                    sequences.push(table);
                }
                kind => {
                    let object = out.add(&owner, "table", table.as_str());
                    set(object, "engine", engine.map(|e| e.to_lowercase()));
                    set(object, "collation", collation);
                    if kind == Some("SYSTEM VERSIONED") {
                        object.set("system versioned", "yes");
                    }
                }
            }
        }

        for row in next_set(sets)? {
            let [table, column, ty, nullable, default, extra, generated, collation] = row;
            let (table, column) = (table.unwrap_or_default(), column.unwrap_or_default());
            let Some((kind, table_collation)) = tables.get(&table) else {
                continue;
            };
            let owner = table_owner(&table);
            match kind.as_deref() {
                Some("BASE TABLE" | "SYSTEM VERSIONED") => {}
                Some("SEQUENCE") if column == "start_value" => {
                    set(out.add(&owner, "sequence", table.as_str()), "type", ty);
                    continue;
                }
                _ => continue,
            }
            let object = out.add(&owner, "column", format!("{table}.{column}"));
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
        for [table, name, non_unique, seq, column, order, sub_part, method, expression] in
            next_set(sets)?
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
            let owner = table_owner(&table);
            let object = if name == "PRIMARY" {
                out.add(&owner, "primary key", table.as_str())
            } else if index.unique {
                out.add(&owner, "unique constraint", format!("{table}.{name}"))
            } else {
                let object = out.add(&owner, "index", format!("{table}.{name}"));
                object.set("unique", "no");
                set(object, "method", index.method);
                object
            };
            object.set("table", table).set("columns", columns);
        }

        let key_columns = next_set::<7>(sets)?;
        // The rules of each foreign key, by table and name (the inner join of the two views).
        let rules: HashMap<(String, String), (Text, Text)> = next_set::<4>(sets)?
            .into_iter()
            .map(|[table, name, on_delete, on_update]| {
                (
                    (table.unwrap_or_default(), name.unwrap_or_default()),
                    (on_delete, on_update),
                )
            })
            .collect();
        let mut foreign_keys: BTreeMap<(String, String), ForeignKey> = BTreeMap::new();
        for [table, name, position, column, target_schema, target, target_column] in key_columns {
            let (table, name) = (table.unwrap_or_default(), name.unwrap_or_default());
            let Some((on_delete, on_update)) = rules.get(&(table.clone(), name.clone())) else {
                continue;
            };
            let key = foreign_keys.entry((table, name)).or_default();
            let target = target.unwrap_or_default();
            // A target in another database is named by its table alone: over-approximated,
            // it is renamed by a statement that names it all the same.
            key.depends_on = table_owner(&target);
            key.target_name = target.clone();
            key.target = match target_schema {
                Some(other) if other != database => format!("{other}.{target}"),
                _ => target,
            };
            key.on_delete = on_delete.as_ref().map(|a| a.to_lowercase());
            key.on_update = on_update.as_ref().map(|a| a.to_lowercase());
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
            let owner = table_owner(&table);
            let object = out.add(&owner, "foreign key", format!("{table}.{name}"));
            object
                .set("table", table)
                .set("columns", columns)
                .set("target", format!("{}({targets})", key.target));
            set(object, "on delete", key.on_delete);
            set(object, "on update", key.on_update);
            out.saw(&key.target_name, &key.depends_on);
            out.parts
                .entry(owner)
                .or_default()
                .depends_on
                .insert(key.depends_on);
        }

        if server.checks.is_some() {
            for [table, name, expression] in next_set(sets)? {
                let table = table.unwrap_or_default();
                let name = name.unwrap_or_default();
                let owner = table_owner(&table);
                let object = out.add(&owner, "check constraint", format!("{table}.{name}"));
                object.set("table", table);
                set(object, "expression", expression);
            }
        }

        let qualifier = format!("{}.", quote_ident(database, '`'));
        for [view, definition, check_option] in next_set(sets)? {
            let view = view.unwrap_or_default();
            let owner = table_owner(&view);
            let object = out.add(&owner, "view", view.as_str());
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

        for [name, table, timing, event, orientation, statement] in next_set(sets)? {
            let (name, table) = (name.unwrap_or_default(), table.unwrap_or_default());
            let owner = table_owner(&table);
            out.saw(&name, &owner);
            let object = out.add(&owner, "trigger", format!("{table}.{name}"));
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
                let object = out.add(&table_owner(name), "sequence", name.as_str());
                set(object, "start", start);
                set(object, "increment", increment);
                set(object, "min", min);
                set(object, "max", max);
                set(object, "cache", cache);
                object.set("cycle", yes_no(cycle.as_deref() == Some("1")));
            }
        }
        Ok(())
    }
}

/// The routines of a read, from its ROUTINES result set.
pub(super) fn read_routines_set(rows: Vec<[Text; 11]>, out: &mut Parts) {
    let mut routines: BTreeMap<(String, String), Routine> = BTreeMap::new();
    for row in rows {
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
        let owner = format!("{kind}:{name}");
        out.saw(&name, &owner);
        let object = out.add(&owner, kind.as_str(), format!("{name}({types})"));
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
}

/// A column's `EXTRA`, taken apart.
pub(super) struct Extra {
    pub(super) identity: Option<String>,
    pub(super) on_update: Option<String>,
    /// The rest (`stored generated`, `invisible`, ...), lower case.
    pub(super) rest: Option<String>,
}

impl Extra {
    pub(super) fn parse(extra: &str) -> Extra {
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
pub(super) struct Index {
    pub(super) unique: bool,
    pub(super) method: Option<String>,
    /// Key parts by position.
    pub(super) parts: Vec<(u64, String)>,
}

#[derive(Default)]
pub(super) struct ForeignKey {
    /// The target as shown: `table`, or `db.table` in another database.
    pub(super) target: String,
    /// The target table's name alone, and its owner.
    pub(super) target_name: String,
    pub(super) depends_on: String,
    pub(super) on_delete: Option<String>,
    pub(super) on_update: Option<String>,
    /// Position, column, referenced column.
    pub(super) columns: Vec<(u64, String, String)>,
}

#[derive(Default)]
pub(super) struct Routine {
    pub(super) returns: Text,
    pub(super) definition: Text,
    pub(super) deterministic: Text,
    pub(super) access: Text,
    pub(super) security: Text,
    /// Position, type, declaration (`IN name type`).
    pub(super) parameters: Vec<(u64, String, String)>,
}

/// A value as text: the text protocol sends every value as bytes.
pub(super) fn text(value: Value) -> Text {
    match value {
        Value::NULL => None,
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        other => Some(other.as_sql(true)),
    }
}

/// Set `property` when `value` is known.
pub(super) fn set(object: &mut ferry_core::schema::Properties, property: &str, value: Text) {
    if let Some(value) = value {
        object.set(property, value);
    }
}

pub(super) fn yes_no(yes: bool) -> &'static str {
    if yes {
        "yes"
    } else {
        "no"
    }
}

/// A position as a number (0 when unreadable).
pub(super) fn number(text: Option<&str>) -> u64 {
    text.and_then(|t| t.parse().ok()).unwrap_or(0)
}

pub(super) fn join(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join(", ")
}

/// Runs of whitespace as one space, trimmed: definitions are compared as text, and their
/// layout is not part of the schema.
pub(super) fn collapse_whitespace(text: &str) -> String {
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
}
