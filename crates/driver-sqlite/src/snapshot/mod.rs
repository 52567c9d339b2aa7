//! The schema snapshot ([`ferry_core::schema`], SPEC §9.3) of the main database, read from
//! `sqlite_schema` and the pragmas, in parts by owner ([`ferry_core::schema::Part`]).
//!
//! **Owners.** An owner is the lower-cased `tbl_name` of `sqlite_schema` rows ([`owner_of`]:
//! ASCII only, as SQLite compares names). A table's part holds the table, its columns,
//! primary key, indexes, unique, foreign-key and check constraints and its triggers; a view's
//! part the view and its `INSTEAD OF` triggers; a virtual table's part the table (its module's
//! tables are owners of their own). A part depends on ([`ferry_core::schema::Part::depends_on`])
//! the tables its foreign keys without columns reference (`REFERENCES parent`): their target
//! is the parent's primary key, read from the parent (found in any case, as SQLite finds it),
//! so the child's part changes with the parent's. The parent is named as written, lower-cased,
//! whether it exists or not.
//!
//! **Reads.** A read scans `sqlite_schema` once: every row for a whole read, else the rows of
//! the owners asked for (the table has no index, but the scan stays in SQLite and only those
//! rows come out). Then the columns, the indexes with their key parts and the foreign keys of
//! the ordinary tables read: for more than [`FEW_TABLES`] tables, one query per pragma joining
//! the table-valued pragmas over their names (four queries in all, whatever the schema's
//! size); for fewer, `PRAGMA` statements of their own per table (and per index), which is
//! what the joins run for each table anyway, without a query that SQLite prepares again after
//! every schema change. Owners known to have no rows (dropped since, see [`crate::track`]) are
//! not read at all.
//!
//! What the pragmas do not say is read from the `CREATE` text SQLite keeps: a column's
//! generation expression, collation and `AUTOINCREMENT`, check constraints, a table's
//! `WITHOUT ROWID` / `STRICT`, an index's expressions and partial-index predicate, a
//! trigger's timing and event. The text is tokenised, not matched with patterns, so that
//! quotes, comments and nested parentheses do not mislead it; the whole text is not compared,
//! since SQLite rewrites it (quoting the name on `ALTER TABLE RENAME`, appending on
//! `ADD COLUMN`) without the schema changing.
//!
//! SQLite has no names for unnamed constraints, and the pragmas none for named ones, so
//! constraints are named by their content: `table.unique(a, b)`,
//! `table.fk(a)->parent(id)`, `table.check(<expression>)` (a check constraint's own name
//! when it has one). Internal objects (`sqlite_%`), automatic indexes and primary-key
//! indexes are left out: the constraints cover them.

use std::collections::{BTreeMap, BTreeSet};

use ferry_core::driver::DriverResult;
use ferry_core::schema::{Part, Properties};
use rusqlite::Connection;

mod parse;
mod pragmas;

use parse::{parse_index, parse_table, trigger_timing_and_event, Table};
use pragmas::{
    columns, index_parts, json_array, query, references, ForeignKey, Index, Object, Pragmas,
    OBJECTS, OBJECTS_OF, OBJECTS_OF_ONE,
};

/// The owner of the `sqlite_schema` rows whose `tbl_name` is `table`, and of the snapshot's
/// objects read from them: the name in lower case, as SQLite compares names (ASCII only).
pub(crate) fn owner_of(table: &str) -> String {
    table.to_ascii_lowercase()
}

/// The snapshot of the main database on `conn` in parts by owner: of every owner (`None`), or
/// of `owners` only (lower case; an owner without objects has no part). `empty`: owners known
/// to have no objects, not read (for a foreign key's implicit target). With every table (the
/// caller leaves out the tracking table).
pub(crate) fn read(
    conn: &Connection,
    owners: Option<&BTreeSet<String>>,
    empty: &BTreeSet<String>,
) -> DriverResult<BTreeMap<String, Part>> {
    let mut parts: BTreeMap<String, Part> = BTreeMap::new();
    // Parsed from the CREATE text: per table, per column.
    let mut parsed: BTreeMap<String, Table> = BTreeMap::new();
    let mut index_sql: BTreeMap<String, String> = BTreeMap::new();
    // The ordinary tables read (not virtual), and their owners.
    let mut tables: BTreeMap<String, String> = BTreeMap::new();

    for object in objects(conn, owners)? {
        let Object {
            kind,
            name,
            table,
            sql,
        } = object;
        let owner = owner_of(&table);
        let schema = &mut parts.entry(owner.clone()).or_default().objects;
        let sql = sql.unwrap_or_default();
        match kind.as_str() {
            "table" if is_virtual(&sql) => {
                schema
                    .add("table", name.as_str())
                    .set("definition", collapse_whitespace(&sql));
            }
            "table" => {
                let table_sql = parse_table(&sql);
                let object = schema.add("table", name.as_str());
                if let Some(options) = &table_sql.options {
                    object.set("options", options.as_str());
                }
                for check in &table_sql.checks {
                    let check_name = match &check.name {
                        Some(constraint) => constraint.clone(),
                        None => format!("check({})", check.expression),
                    };
                    schema
                        .add("check constraint", format!("{name}.{check_name}"))
                        .set("table", name.as_str())
                        .set("expression", check.expression.as_str());
                }
                parsed.insert(name.clone(), table_sql);
                tables.insert(name, owner);
            }
            "view" => {
                schema
                    .add("view", name.as_str())
                    .set("definition", collapse_whitespace(&sql));
            }
            "trigger" => {
                let (timing, event) = trigger_timing_and_event(&sql);
                schema
                    .add("trigger", format!("{table}.{name}"))
                    .set("table", table.as_str())
                    .set("timing", timing)
                    .set("event", event)
                    .set("definition", collapse_whitespace(&sql));
            }
            "index" => {
                index_sql.insert(name, sql);
            }
            _ => {}
        }
    }
    if parts.is_empty() {
        return Ok(parts);
    }
    let names = Pragmas::of(tables.keys());
    // The owner of a table read: the owner of its row.
    let owner = |table: &str| {
        tables
            .get(table)
            .cloned()
            .unwrap_or_else(|| owner_of(table))
    };

    // By table name, for the primary key objects; by owner, for foreign keys' implicit
    // targets.
    let mut primary_keys: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for column in columns(conn, &names)? {
        if column.pk > 0 {
            primary_keys
                .entry(column.table.clone())
                .or_default()
                .push((column.pk, column.name.clone()));
        }
        let schema = &mut parts.entry(owner(&column.table)).or_default().objects;
        let object = schema.add("column", format!("{}.{}", column.table, column.name));
        if !column.declared.is_empty() {
            object.set("type", column.declared.to_lowercase());
        }
        object.set("nullable", if column.not_null { "no" } else { "yes" });
        set(object, "default", column.default);
        if let Some(found) = parsed
            .get(&column.table)
            .and_then(|t| t.columns.get(&column.name.to_lowercase()))
        {
            set(object, "generated", found.generated.clone());
            set(object, "collation", found.collation.clone());
            if found.autoincrement {
                object.set("identity", "autoincrement");
            }
        }
    }
    let mut primary_keys_by_owner: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for (table, mut columns) in primary_keys {
        columns.sort();
        let owner = owner(&table);
        let schema = &mut parts.entry(owner.clone()).or_default().objects;
        schema
            .add("primary key", table.as_str())
            .set("table", table.as_str())
            .set("columns", join(columns.iter().map(|(_, c)| c.clone())));
        primary_keys_by_owner.insert(owner, columns);
    }

    let mut indexes: BTreeMap<(String, String), Index> = BTreeMap::new();
    for (table, name, unique, origin, part) in index_parts(conn, &names)? {
        if origin == "pk" {
            continue; // The primary key says it.
        }
        let index = indexes.entry((table, name)).or_default();
        index.unique = unique;
        index.origin = origin;
        index.parts.push(part);
    }
    for ((table, name), mut index) in indexes {
        index.parts.sort_by_key(|p| p.seq);
        let sql = index_sql.get(&name).map(|s| parse_index(s));
        let expressions = sql.as_ref().map(|s| s.parts.as_slice()).unwrap_or(&[]);
        let columns = join(index.parts.iter().enumerate().map(|(i, part)| {
            let mut text = match (&part.column, part.cid) {
                (Some(column), _) => column.clone(),
                (None, -1) => "rowid".to_owned(),
                (None, _) => expressions.get(i).cloned().unwrap_or_default(),
            };
            if let Some(collation) = &part.collation {
                if !collation.eq_ignore_ascii_case("binary") {
                    text = format!("{text} collate {}", collation.to_lowercase());
                }
            }
            if part.desc {
                text.push_str(" desc");
            }
            text
        }));
        let schema = &mut parts.entry(owner(&table)).or_default().objects;
        if index.origin == "u" {
            schema
                .add("unique constraint", format!("{table}.unique({columns})"))
                .set("table", table)
                .set("columns", columns);
        } else {
            let object = schema.add("index", name.as_str());
            object
                .set("table", table)
                .set("columns", columns)
                .set("unique", if index.unique { "yes" } else { "no" });
            set(object, "predicate", sql.and_then(|s| s.predicate));
        }
    }

    let mut foreign_keys: BTreeMap<(String, i64), ForeignKey> = BTreeMap::new();
    for (table, id, seq, target, from, to, on_update, on_delete) in references(conn, &names)? {
        let key = foreign_keys.entry((table, id)).or_default();
        key.target = target;
        key.on_update = on_update.to_lowercase();
        key.on_delete = on_delete.to_lowercase();
        key.columns.push((seq, from, to));
    }
    // `REFERENCES parent` without columns means the parent's primary key: the parent's part,
    // read here too when it is not among the owners read.
    let implicit = |key: &ForeignKey| key.columns.iter().any(|(_, _, to)| to.is_none());
    if let Some(owners) = owners {
        let missing: BTreeSet<String> = foreign_keys
            .values()
            .filter(|key| implicit(key))
            .map(|key| owner_of(&key.target))
            .filter(|parent| !owners.contains(parent) && !empty.contains(parent))
            .collect();
        if !missing.is_empty() {
            primary_keys_by_owner.extend(primary_keys_of(conn, &missing)?);
        }
    }
    for ((table, _), mut key) in foreign_keys {
        key.columns.sort_by_key(|(seq, _, _)| *seq);
        let columns = join(key.columns.iter().map(|(_, from, _)| from.clone()));
        let part = parts.entry(owner(&table)).or_default();
        let targets = if implicit(&key) {
            let parent = owner_of(&key.target);
            let pk = primary_keys_by_owner
                .get(&parent)
                .cloned()
                .unwrap_or_default();
            part.depends_on.insert(parent);
            join(pk.into_iter().map(|(_, c)| c))
        } else {
            join(key.columns.iter().filter_map(|(_, _, to)| to.clone()))
        };
        let target = format!("{}({targets})", key.target);
        part.objects
            .add("foreign key", format!("{table}.fk({columns})->{target}"))
            .set("table", table)
            .set("columns", columns)
            .set("target", target)
            .set("on delete", key.on_delete)
            .set("on update", key.on_update);
    }
    Ok(parts)
}

/// The primary keys of the ordinary tables of `owners`, by owner, as [`read`] reads them.
fn primary_keys_of(
    conn: &Connection,
    owners: &BTreeSet<String>,
) -> DriverResult<BTreeMap<String, Vec<(i64, String)>>> {
    let tables: BTreeMap<String, String> = objects(conn, Some(owners))?
        .into_iter()
        .filter(|o| o.kind == "table" && !is_virtual(o.sql.as_deref().unwrap_or_default()))
        .map(|o| (o.name, owner_of(&o.table)))
        .collect();
    let mut keys: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for column in columns(conn, &Pragmas::of(tables.keys()))? {
        if column.pk > 0 {
            if let Some(owner) = tables.get(&column.table) {
                keys.entry(owner.clone())
                    .or_default()
                    .push((column.pk, column.name));
            }
        }
    }
    for columns in keys.values_mut() {
        columns.sort();
    }
    Ok(keys)
}

/// The rows of `sqlite_schema` but SQLite's own: every owner's, or those of `owners`.
fn objects(conn: &Connection, owners: Option<&BTreeSet<String>>) -> DriverResult<Vec<Object>> {
    let map = |r: &rusqlite::Row<'_>| {
        Ok(Object {
            kind: r.get(0)?,
            name: r.get(1)?,
            table: r.get(2)?,
            sql: r.get(3)?,
        })
    };
    let mut objects = match owners.map(|o| (o.len(), o.first())) {
        None => query(conn, OBJECTS, [], map)?,
        Some((0, _)) => Vec::new(),
        Some((1, Some(owner))) => query(conn, OBJECTS_OF_ONE, [owner], map)?,
        Some(_) => query(
            conn,
            OBJECTS_OF,
            [json_array(owners.into_iter().flatten().map(String::as_str))],
            map,
        )?,
    };
    objects.retain(|o| !is_internal(&o.name));
    Ok(objects)
}

/// Whether `name` is SQLite's own (`sqlite_%`, as `LIKE` compares: ASCII case ignored).
fn is_internal(name: &str) -> bool {
    name.as_bytes()
        .get(..7)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"sqlite_"))
}

fn set(object: &mut Properties, property: &str, value: Option<String>) {
    if let Some(value) = value {
        object.set(property, value);
    }
}

fn join(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join(", ")
}

/// Runs of whitespace as one space, trimmed: definitions are compared as text, and their
/// layout is not part of the schema.
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_virtual(sql: &str) -> bool {
    let words: Vec<&str> = sql.split_whitespace().take(2).collect();
    words.len() == 2 && words[1].eq_ignore_ascii_case("virtual")
}

#[cfg(test)]
mod tests {
    use super::pragmas::FEW_TABLES;
    use super::*;

    /// Odd names (the test adds tables, to more than [`FEW_TABLES`]), foreign keys with implicit targets (one
    /// in another case, one to itself), a virtual table with its shadow tables, a view with a
    /// trigger.
    const SCHEMA: &str = "
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    name TEXT COLLATE NOCASE,
    lower_email TEXT GENERATED ALWAYS AS (lower(email)) VIRTUAL,
    CONSTRAINT users_name_check CHECK (length(name) > 1)
);
CREATE TABLE tags (post_id INTEGER, tag TEXT, PRIMARY KEY (post_id, tag)) WITHOUT ROWID;
CREATE INDEX users_lower_idx ON users (lower(email) DESC);
CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id),
    title TEXT NOT NULL DEFAULT 'x', published INTEGER, CHECK (length(title) > 0),
    UNIQUE (title, published));
CREATE INDEX posts_published_idx ON posts (user_id) WHERE published;
CREATE TRIGGER posts_touch AFTER UPDATE OF title ON posts BEGIN SELECT 1; END;
CREATE VIEW recent AS SELECT id, title FROM posts WHERE published;
CREATE TRIGGER recent_add INSTEAD OF INSERT ON recent BEGIN SELECT 1; END;
CREATE TABLE child (a INT, b INT, c INT REFERENCES USERS, FOREIGN KEY (a, b) REFERENCES tags);
CREATE TABLE \"Odd \"\"Name'\\\" ([a b] TEXT, \"c.d\" INT PRIMARY KEY, e INT REFERENCES \"odd \"\"name'\\\");
CREATE INDEX \"idx \"\"q'\" ON \"Odd \"\"Name'\\\" ([a b] COLLATE nocase, e);
CREATE VIRTUAL TABLE notes USING fts5(body);
";

    #[test]
    fn a_part_read_alone_is_the_part_read_whole() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        // More tables than a read runs pragmas for one by one.
        let fillers: String = (0..FEW_TABLES)
            .map(|i| format!("CREATE TABLE filler{i} (id INTEGER PRIMARY KEY, v TEXT UNIQUE);"))
            .collect();
        conn.execute_batch(&fillers).unwrap();
        let none = BTreeSet::new();
        let whole = read(&conn, None, &none).unwrap();
        assert!(whole.len() > FEW_TABLES, "the whole read joins the pragmas");
        assert_eq!(
            whole["child"].depends_on,
            BTreeSet::from(["tags".to_owned(), "users".to_owned()])
        );
        let odd = "odd \"name'\\";
        assert_eq!(whole[odd].depends_on, BTreeSet::from([odd.to_owned()]));
        assert_eq!(
            whole["child"]
                .objects
                .get("foreign key", "child.fk(c)->USERS(id)")
                .and_then(|k| k.get("target")),
            Some("USERS(id)")
        );
        assert!(whole["recent"]
            .objects
            .get("trigger", "recent.recent_add")
            .is_some());
        for owner in whole.keys() {
            let one = BTreeSet::from([owner.clone()]);
            let part = read(&conn, Some(&one), &none).unwrap();
            assert_eq!(part.get(owner), whole.get(owner), "{owner}");
            assert_eq!(part.len(), 1, "{owner}");
        }
        let all: BTreeSet<String> = whole.keys().cloned().chain(["none".to_owned()]).collect();
        assert_eq!(read(&conn, Some(&all), &none).unwrap(), whole);
        // The parents of implicit foreign keys are read for their keys, not returned.
        let two = BTreeSet::from(["child".to_owned(), "posts".to_owned()]);
        let parts = read(&conn, Some(&two), &none).unwrap();
        assert_eq!(parts.keys().collect::<Vec<_>>(), ["child", "posts"]);
        assert_eq!(parts["child"], whole["child"]);
        // An owner known to be gone is not read, and has no key.
        let gone = BTreeSet::from(["users".to_owned()]);
        let child = read(&conn, Some(&BTreeSet::from(["child".to_owned()])), &gone).unwrap();
        assert_eq!(
            child["child"]
                .objects
                .get("foreign key", "child.fk(c)->USERS()")
                .and_then(|k| k.get("target")),
            Some("USERS()")
        );
    }
}
