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

use crate::error::db_error;

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

/// Up to this many tables, a read runs each table's pragmas as statements of their own; more,
/// it joins them in one query per pragma. A `PRAGMA` statement is cheap to prepare, a query
/// joining table-valued pragmas is not (and is prepared again after every schema change), and
/// such a join runs the same `PRAGMA` for each table anyway. On a new connection (each target
/// of `drift --fleet`), 20 tables' pragmas cost less than preparing the four joins: about
/// 15 % less CPU for the drift of 300 files of 20 tables than with 8 here.
const FEW_TABLES: usize = 32;

/// How a read runs the pragmas of the ordinary tables it reads.
enum Pragmas<'a> {
    /// One `PRAGMA` statement per table (and per index).
    Each(Vec<&'a str>),
    /// One query per pragma over these names, a JSON array.
    Joined(String),
}

impl<'a> Pragmas<'a> {
    fn of(tables: impl ExactSizeIterator<Item = &'a String>) -> Pragmas<'a> {
        if tables.len() <= FEW_TABLES {
            Pragmas::Each(tables.map(String::as_str).collect())
        } else {
            Pragmas::Joined(json_array(tables.map(String::as_str)))
        }
    }
}

/// Run `PRAGMA main.<pragma>('<arg>')` and map each row.
fn pragma<T>(
    conn: &Connection,
    pragma: &str,
    arg: &str,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> DriverResult<Vec<T>> {
    let sql = format!("PRAGMA main.{pragma}('{}')", arg.replace('\'', "''"));
    let mut statement = conn.prepare(&sql).map_err(db_error)?;
    let rows = statement.query_map([], map).map_err(db_error)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
}

/// The columns of `tables`.
fn columns(conn: &Connection, tables: &Pragmas<'_>) -> DriverResult<Vec<Column>> {
    let column = |table: Option<&str>, r: &rusqlite::Row<'_>| {
        Ok(Column {
            table: match table {
                Some(table) => table.to_owned(),
                None => r.get("table")?,
            },
            name: r.get("name")?,
            declared: r.get("type")?,
            not_null: r.get("notnull")?,
            default: r.get("dflt_value")?,
            pk: r.get("pk")?,
        })
    };
    match tables {
        Pragmas::Joined(names) => query(conn, COLUMNS, [names], |r| column(None, r)),
        Pragmas::Each(tables) => {
            let mut all = Vec::new();
            for table in tables {
                all.extend(pragma(conn, "table_xinfo", table, |r| {
                    column(Some(table), r)
                })?);
            }
            Ok(all)
        }
    }
}

/// One key part of an index of a table: table, index, unique, origin and the part.
type IndexPart = (String, String, bool, String, KeyPart);

/// The key parts of the indexes of `tables` (not the rowid each one ends with).
fn index_parts(conn: &Connection, tables: &Pragmas<'_>) -> DriverResult<Vec<IndexPart>> {
    let part = |r: &rusqlite::Row<'_>| -> rusqlite::Result<KeyPart> {
        Ok(KeyPart {
            seq: r.get("seqno")?,
            cid: r.get("cid")?,
            column: r.get("name")?,
            desc: r.get("desc")?,
            collation: r.get("coll")?,
        })
    };
    match tables {
        Pragmas::Joined(names) => query(conn, INDEXES, [names], |r| {
            Ok((
                r.get("table")?,
                r.get("index")?,
                r.get("unique")?,
                r.get("origin")?,
                part(r)?,
            ))
        }),
        Pragmas::Each(tables) => {
            let mut all = Vec::new();
            for table in tables {
                let indexes = pragma(conn, "index_list", table, |r| {
                    Ok((
                        r.get::<_, String>("name")?,
                        r.get::<_, bool>("unique")?,
                        r.get::<_, String>("origin")?,
                    ))
                })?;
                for (index, unique, origin) in indexes {
                    for key in pragma(conn, "index_xinfo", &index, |r| {
                        r.get::<_, bool>("key")?.then(|| part(r)).transpose()
                    })?
                    .into_iter()
                    .flatten()
                    {
                        all.push((
                            (*table).to_owned(),
                            index.clone(),
                            unique,
                            origin.clone(),
                            key,
                        ));
                    }
                }
            }
            Ok(all)
        }
    }
}

/// One column of a foreign key: table, key id, position, target table, column, target
/// column, on update, on delete.
type Reference = (
    String,
    i64,
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
);

/// The foreign keys of `tables`, a row per column.
fn references(conn: &Connection, tables: &Pragmas<'_>) -> DriverResult<Vec<Reference>> {
    let reference = |table: Option<&str>, r: &rusqlite::Row<'_>| {
        Ok((
            match table {
                Some(table) => table.to_owned(),
                None => r.get("child")?,
            },
            r.get("id")?,
            r.get("seq")?,
            r.get("table")?,
            r.get("from")?,
            r.get("to")?,
            r.get("on_update")?,
            r.get("on_delete")?,
        ))
    };
    match tables {
        Pragmas::Joined(names) => query(conn, FOREIGN_KEYS, [names], |r| reference(None, r)),
        Pragmas::Each(tables) => {
            let mut all = Vec::new();
            for table in tables {
                all.extend(pragma(conn, "foreign_key_list", table, |r| {
                    reference(Some(table), r)
                })?);
            }
            Ok(all)
        }
    }
}

/// Every row of `sqlite_schema` (SQLite's own objects are left out by [`objects`]).
const OBJECTS: &str = "SELECT type, name, tbl_name, sql FROM main.sqlite_schema";

/// The rows of the owners in `?1`, a JSON array of lower-case names. `sqlite_schema` has no
/// index: this is a scan, but in SQLite, and only the rows asked for come out. `NOCASE`
/// ignores ASCII case, as [`owner_of`] does.
const OBJECTS_OF: &str = "SELECT type, name, tbl_name, sql FROM main.sqlite_schema \
     WHERE tbl_name COLLATE NOCASE IN (SELECT value FROM json_each(?1))";

/// The rows of the one owner `?1`: [`OBJECTS_OF`], faster.
const OBJECTS_OF_ONE: &str =
    "SELECT type, name, tbl_name, sql FROM main.sqlite_schema WHERE tbl_name = ?1 COLLATE NOCASE";

/// The columns of the tables named in `?1` (a JSON array). Each pragma finds its table by
/// name, so the tables named are all that is read.
const COLUMNS: &str = "SELECT t.value AS \"table\", c.name, c.type, c.\"notnull\", c.dflt_value, \
     c.pk FROM json_each(?1) t, pragma_table_xinfo(t.value, 'main') c";

/// The key parts of the indexes of the tables named in `?1` (not the rowid each one ends
/// with).
const INDEXES: &str = "SELECT t.value AS \"table\", il.name AS \"index\", il.\"unique\", \
     il.origin, ix.seqno, ix.cid, ix.name, ix.\"desc\", ix.coll FROM json_each(?1) t, \
     pragma_index_list(t.value, 'main') il, pragma_index_xinfo(il.name, 'main') ix \
     WHERE ix.\"key\" = 1";

/// The foreign keys of the tables named in `?1`.
const FOREIGN_KEYS: &str = "SELECT t.value AS child, fk.id, fk.seq, fk.\"table\", fk.\"from\", \
     fk.\"to\", fk.on_update, fk.on_delete \
     FROM json_each(?1) t, pragma_foreign_key_list(t.value, 'main') fk";

/// Run `sql` with `params` and map each row.
fn query<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> DriverResult<Vec<T>> {
    let mut statement = conn.prepare_cached(sql).map_err(db_error)?;
    let rows = statement.query_map(params, map).map_err(db_error)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
}

/// `names` as a JSON array of strings, for `json_each`.
fn json_array<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut json = String::from("[");
    for (i, name) in names.enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push('"');
        for c in name.chars() {
            match c {
                '"' => json.push_str("\\\""),
                '\\' => json.push_str("\\\\"),
                c if u32::from(c) < 0x20 => json.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => json.push(c),
            }
        }
        json.push('"');
    }
    json.push(']');
    json
}

/// A row of `sqlite_schema`.
struct Object {
    kind: String,
    name: String,
    table: String,
    sql: Option<String>,
}

struct Column {
    table: String,
    name: String,
    declared: String,
    not_null: bool,
    default: Option<String>,
    pk: i64,
}

#[derive(Default)]
struct Index {
    unique: bool,
    origin: String,
    parts: Vec<KeyPart>,
}

struct KeyPart {
    seq: i64,
    cid: i64,
    column: Option<String>,
    desc: bool,
    collation: Option<String>,
}

#[derive(Default)]
struct ForeignKey {
    target: String,
    on_update: String,
    on_delete: String,
    /// Position, column, referenced column (none: the parent's primary key).
    columns: Vec<(i64, String, Option<String>)>,
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

// ---------------------------------------------------------------------------------------------
// The CREATE text.

/// What the CREATE TABLE text says beyond the pragmas.
#[derive(Debug, Default, PartialEq)]
struct Table {
    /// Lower-case column name → what its definition says.
    columns: BTreeMap<String, ColumnSql>,
    checks: Vec<Check>,
    /// `without rowid`, `strict`, ...: what follows the column list, lower case.
    options: Option<String>,
}

#[derive(Debug, Default, PartialEq)]
struct ColumnSql {
    generated: Option<String>,
    collation: Option<String>,
    autoincrement: bool,
}

#[derive(Debug, PartialEq)]
struct Check {
    name: Option<String>,
    expression: String,
}

/// What the CREATE INDEX text says beyond the pragmas.
#[derive(Debug, Default, PartialEq)]
struct IndexSql {
    /// Each key part's text, without its direction and collation.
    parts: Vec<String>,
    predicate: Option<String>,
}

fn parse_table(sql: &str) -> Table {
    let tokens = tokenize(sql);
    let mut table = Table::default();
    let Some(open) = tokens.iter().position(|t| t.kind == Kind::Open) else {
        return table;
    };
    let close = matching(&tokens, open);
    let after = text_of(sql, &tokens[(close + 1).min(tokens.len())..]);
    if !after.is_empty() {
        table.options = Some(after.to_lowercase());
    }
    for item in split_commas(&tokens[open + 1..close]) {
        let Some(first) = item.first() else { continue };
        let constraint_start = ["constraint", "primary", "unique", "check", "foreign"]
            .iter()
            .any(|k| first.is_word(k));
        if constraint_start {
            let (name, rest) = constraint_name(item);
            if rest.first().is_some_and(|t| t.is_word("check")) {
                if let Some(expression) = group_text(sql, rest, 1) {
                    table.checks.push(Check { name, expression });
                }
            }
            continue;
        }
        let column_name = first.unquoted().to_lowercase();
        let mut column = ColumnSql::default();
        let mut i = 1;
        let mut pending_name = None;
        while i < item.len() {
            let token = &item[i];
            if token.kind == Kind::Open {
                i = matching(item, i) + 1;
                continue;
            }
            if token.is_word("constraint") {
                // Kept for a check constraint only: the pragmas name no other kind.
                pending_name = item
                    .get(i + 2)
                    .filter(|t| t.is_word("check"))
                    .and(item.get(i + 1))
                    .map(Token::unquoted);
                i += 2;
                continue;
            }
            if token.is_word("collate") {
                if let Some(name) = item.get(i + 1) {
                    let name = name.unquoted();
                    if !name.eq_ignore_ascii_case("binary") {
                        column.collation = Some(name.to_lowercase());
                    }
                }
                i += 2;
                continue;
            }
            if token.is_word("autoincrement") {
                column.autoincrement = true;
            }
            if token.is_word("as") {
                column.generated = group_text(sql, item, i + 1);
            }
            if token.is_word("check") {
                if let Some(expression) = group_text(sql, item, i + 1) {
                    table.checks.push(Check {
                        name: pending_name.take(),
                        expression,
                    });
                }
            }
            i += 1;
        }
        table.columns.insert(column_name, column);
    }
    table
}

fn parse_index(sql: &str) -> IndexSql {
    let tokens = tokenize(sql);
    let mut index = IndexSql::default();
    let Some(open) = tokens.iter().position(|t| t.kind == Kind::Open) else {
        return index;
    };
    let close = matching(&tokens, open);
    for item in split_commas(&tokens[open + 1..close]) {
        let mut end = item.len();
        if end > 0 && (item[end - 1].is_word("asc") || item[end - 1].is_word("desc")) {
            end -= 1;
        }
        if end > 1 && item[end - 2].is_word("collate") {
            end -= 2;
        }
        index.parts.push(text_of(sql, &item[..end]));
    }
    let rest = &tokens[(close + 1).min(tokens.len())..];
    if rest.first().is_some_and(|t| t.is_word("where")) {
        index.predicate = Some(text_of(sql, &rest[1..]));
    }
    index
}

/// A trigger's timing (`before`, `after`, `instead of`) and event (`insert`, `update`,
/// `delete`), from the words between its name and `ON`.
fn trigger_timing_and_event(sql: &str) -> (String, String) {
    let tokens = tokenize(sql);
    let mut i = tokens
        .iter()
        .position(|t| t.is_word("trigger"))
        .map_or(tokens.len(), |i| i + 1);
    if tokens.get(i).is_some_and(|t| t.is_word("if")) {
        i += 3; // IF NOT EXISTS
    }
    i += 1; // The name,
    if tokens.get(i).is_some_and(|t| t.text == ".") {
        i += 2; // qualified.
    }
    let (mut timing, mut event) = ("before".to_owned(), String::new());
    for token in tokens.iter().skip(i) {
        if token.is_word("on") {
            break;
        }
        if token.is_word("after") {
            timing = "after".to_owned();
        } else if token.is_word("instead") {
            timing = "instead of".to_owned();
        } else if event.is_empty()
            && ["insert", "update", "delete"]
                .iter()
                .any(|e| token.is_word(e))
        {
            event = token.text.to_lowercase();
        }
    }
    (timing, event)
}

/// `CONSTRAINT name` at the start of a constraint, and the tokens after it.
fn constraint_name<'t, 'a>(item: &'t [Token<'a>]) -> (Option<String>, &'t [Token<'a>]) {
    if item.first().is_some_and(|t| t.is_word("constraint")) && item.len() > 1 {
        (Some(item[1].unquoted()), &item[2..])
    } else {
        (None, item)
    }
}

/// The text inside the parenthesised group that starts at `tokens[at]`, if one does.
fn group_text(sql: &str, tokens: &[Token<'_>], at: usize) -> Option<String> {
    if tokens.get(at)?.kind != Kind::Open {
        return None;
    }
    let close = matching(tokens, at);
    Some(text_of(sql, &tokens[at + 1..close]))
}

/// The index of the `)` that closes the `(` at `open` (the last token when unbalanced).
fn matching(tokens: &[Token<'_>], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token.kind {
            Kind::Open => depth += 1,
            Kind::Close => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len().saturating_sub(1).max(open)
}

/// `tokens` split at the commas outside parentheses.
fn split_commas<'t, 'a>(tokens: &'t [Token<'a>]) -> Vec<&'t [Token<'a>]> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, token) in tokens.iter().enumerate() {
        match token.kind {
            Kind::Open => depth += 1,
            Kind::Close => depth = depth.saturating_sub(1),
            Kind::Comma if depth == 0 => {
                items.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&tokens[start..]);
    items
}

/// The source text that `tokens` span, whitespace collapsed (comments between them kept).
fn text_of(sql: &str, tokens: &[Token<'_>]) -> String {
    match (tokens.first(), tokens.last()) {
        (Some(first), Some(last)) => collapse_whitespace(&sql[first.start..last.end]),
        _ => String::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A keyword, unquoted identifier or number.
    Word,
    /// A quoted identifier: `"x"`, `` `x` `` or `[x]`.
    Quoted,
    /// A string literal.
    Str,
    Open,
    Close,
    Comma,
    /// Any other character.
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    start: usize,
    end: usize,
}

impl Token<'_> {
    fn is_word(&self, word: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(word)
    }

    /// An identifier's name: quotes taken off (and doubled quotes undone).
    fn unquoted(&self) -> String {
        if self.kind != Kind::Quoted {
            return self.text.to_owned();
        }
        let inner = &self.text[1..self.text.len() - 1];
        match self.text.as_bytes()[0] {
            b'"' => inner.replace("\"\"", "\""),
            b'`' => inner.replace("``", "`"),
            _ => inner.to_owned(),
        }
    }
}

/// SQLite's tokens, as far as the snapshot needs them: comments and whitespace dropped.
fn tokenize(sql: &str) -> Vec<Token<'_>> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    // The end of a quoted token that starts at `i` with `quote` and ends with `close`, where
    // a doubled `close` is part of the text.
    let quoted_end = |i: usize, close: u8, doubled: bool| {
        let mut j = i + 1;
        while j < bytes.len() {
            if bytes[j] == close {
                if doubled && bytes.get(j + 1) == Some(&close) {
                    j += 2;
                    continue;
                }
                return j + 1;
            }
            j += 1;
        }
        bytes.len()
    };
    while i < bytes.len() {
        let c = bytes[i];
        let (kind, end) = match c {
            _ if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
                continue;
            }
            b'\'' => (Kind::Str, quoted_end(i, b'\'', true)),
            b'"' => (Kind::Quoted, quoted_end(i, b'"', true)),
            b'`' => (Kind::Quoted, quoted_end(i, b'`', true)),
            b'[' => (Kind::Quoted, quoted_end(i, b']', false)),
            b'(' => (Kind::Open, i + 1),
            b')' => (Kind::Close, i + 1),
            b',' => (Kind::Comma, i + 1),
            _ if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                let mut j = i + 1;
                while j < bytes.len()
                    && (bytes[j].is_ascii_alphanumeric()
                        || bytes[j] == b'_'
                        || bytes[j] == b'$'
                        || bytes[j] >= 0x80)
                {
                    j += 1;
                }
                (Kind::Word, j)
            }
            _ => {
                // One character (a multi-byte one whole).
                let len = sql[i..].chars().next().map_or(1, char::len_utf8);
                (Kind::Other, i + len)
            }
        };
        tokens.push(Token {
            kind,
            text: &sql[i..end],
            start: i,
            end,
        });
        i = end;
    }
    tokens
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn names_go_to_json_each_as_they_are() {
        let conn = Connection::open_in_memory().unwrap();
        let names = [
            "plain",
            "q\"uote",
            "back\\slash",
            "tab\tnew\nline",
            "ünï",
            "it's",
        ];
        let json = json_array(names.iter().copied());
        let back: Vec<String> = query(&conn, "SELECT value FROM json_each(?1)", [json], |r| {
            r.get(0)
        })
        .unwrap();
        assert_eq!(back, names);
        assert_eq!(json_array(std::iter::empty()), "[]");
    }

    #[test]
    fn table_text_gives_generated_columns_collations_checks_and_options() {
        let t = parse_table(
            "CREATE TABLE \"my t\" (\n  id INTEGER PRIMARY KEY AUTOINCREMENT,\n  \
             [name] TEXT COLLATE NOCASE NOT NULL CHECK (length(name) > 1), -- a, comment\n  \
             \"up\"\"per\" TEXT GENERATED ALWAYS AS (upper(name)) STORED,\n  \
             lower TEXT AS (lower( name ))  COLLATE binary,\n  \
             note TEXT CONSTRAINT nn NOT NULL DEFAULT 'a, (b' CONSTRAINT note_ok CHECK (note <> '') \
             CHECK (note <> 'x'),\n  \
             CONSTRAINT two CHECK (id > 0 AND (name IS NOT NULL)),\n  \
             CHECK (id < 100),\n  UNIQUE (name, note)\n) WITHOUT ROWID, STRICT",
        );
        assert_eq!(t.options.as_deref(), Some("without rowid, strict"));
        assert!(t.columns["id"].autoincrement);
        assert_eq!(t.columns["name"].collation.as_deref(), Some("nocase"));
        assert_eq!(
            t.columns["up\"per"].generated.as_deref(),
            Some("upper(name)")
        );
        assert_eq!(
            t.columns["lower"].generated.as_deref(),
            Some("lower( name )")
        );
        assert_eq!(t.columns["lower"].collation, None);
        assert_eq!(t.columns["note"], ColumnSql::default());
        assert_eq!(
            t.checks,
            [
                Check {
                    name: None,
                    expression: "length(name) > 1".into()
                },
                Check {
                    name: Some("note_ok".into()),
                    expression: "note <> ''".into()
                },
                Check {
                    name: None,
                    expression: "note <> 'x'".into()
                },
                Check {
                    name: Some("two".into()),
                    expression: "id > 0 AND (name IS NOT NULL)".into()
                },
                Check {
                    name: None,
                    expression: "id < 100".into()
                },
            ]
        );
    }

    #[test]
    fn index_text_gives_expressions_and_predicate() {
        let i = parse_index(
            "CREATE UNIQUE INDEX i ON t (lower(a) COLLATE nocase DESC, b, \"c\" ASC) \
             WHERE b IS NOT NULL AND c > 'x'",
        );
        assert_eq!(i.parts, ["lower(a)", "b", "\"c\""]);
        assert_eq!(i.predicate.as_deref(), Some("b IS NOT NULL AND c > 'x'"));
        assert_eq!(parse_index("CREATE INDEX i ON t(a)").predicate, None);
    }

    #[test]
    fn trigger_text_gives_timing_and_event() {
        let t = |sql| trigger_timing_and_event(sql);
        assert_eq!(
            t("CREATE TRIGGER x AFTER UPDATE OF a ON t BEGIN SELECT 1; END"),
            ("after".into(), "update".into())
        );
        assert_eq!(
            t("CREATE TEMP TRIGGER IF NOT EXISTS main.\"after\" INSTEAD OF DELETE ON v BEGIN SELECT 1; END"),
            ("instead of".into(), "delete".into())
        );
        assert_eq!(
            t("create trigger x insert on t begin select 1; end"),
            ("before".into(), "insert".into())
        );
    }
}
