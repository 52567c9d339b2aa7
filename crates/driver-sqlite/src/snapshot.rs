//! The schema snapshot ([`ferry_core::schema`], SPEC §9.3) of the main database, read from
//! `sqlite_schema` joined with the table-valued pragmas: four queries whatever the schema's
//! size (objects, columns, indexes with their key parts, foreign keys).
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

use std::collections::BTreeMap;

use ferry_core::schema::{Properties, Schema};
use ferry_core::DriverResult;
use rusqlite::Connection;

use crate::error::db_error;

/// The snapshot of the main database on `conn`, with every table (the caller leaves out the
/// tracking table).
pub(crate) fn read(conn: &Connection) -> DriverResult<Schema> {
    let mut schema = Schema::default();
    // Parsed from the CREATE text: per table, per column.
    let mut parsed: BTreeMap<String, Table> = BTreeMap::new();
    let mut index_sql: BTreeMap<String, String> = BTreeMap::new();

    let objects = query(conn, OBJECTS, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    })?;
    for (kind, name, table, sql) in objects {
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
                parsed.insert(name, table_sql);
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

    let mut primary_keys: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    let columns = query(conn, COLUMNS, |r| {
        Ok(Column {
            table: r.get(0)?,
            name: r.get(1)?,
            declared: r.get(2)?,
            not_null: r.get(3)?,
            default: r.get(4)?,
            pk: r.get(5)?,
        })
    })?;
    for column in columns {
        if column.pk > 0 {
            primary_keys
                .entry(column.table.clone())
                .or_default()
                .push((column.pk, column.name.clone()));
        }
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
    for (table, mut columns) in primary_keys.clone() {
        columns.sort();
        let columns = join(columns.into_iter().map(|(_, c)| c));
        schema
            .add("primary key", table.as_str())
            .set("table", table)
            .set("columns", columns);
    }

    let mut indexes: BTreeMap<(String, String), Index> = BTreeMap::new();
    let parts = query(conn, INDEXES, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, bool>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, bool>(7)?,
            r.get::<_, Option<String>>(8)?,
        ))
    })?;
    for (table, name, unique, origin, seq, cid, column, desc, collation) in parts {
        if origin == "pk" {
            continue; // The primary key says it.
        }
        let index = indexes.entry((table, name)).or_default();
        index.unique = unique;
        index.origin = origin;
        index.parts.push(Part {
            seq,
            cid,
            column,
            desc,
            collation,
        });
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
    let references = query(conn, FOREIGN_KEYS, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?,
        ))
    })?;
    for (table, id, seq, target, from, to, on_update, on_delete) in references {
        let key = foreign_keys.entry((table, id)).or_default();
        key.target = target;
        key.on_update = on_update.to_lowercase();
        key.on_delete = on_delete.to_lowercase();
        key.columns.push((seq, from, to));
    }
    for ((table, _), mut key) in foreign_keys {
        key.columns.sort_by_key(|(seq, _, _)| *seq);
        let columns = join(key.columns.iter().map(|(_, from, _)| from.clone()));
        // `REFERENCES parent` without columns means the parent's primary key.
        let targets = if key.columns.iter().all(|(_, _, to)| to.is_some()) {
            join(key.columns.iter().filter_map(|(_, _, to)| to.clone()))
        } else {
            let mut pk = primary_keys.get(&key.target).cloned().unwrap_or_default();
            pk.sort();
            join(pk.into_iter().map(|(_, c)| c))
        };
        let target = format!("{}({targets})", key.target);
        schema
            .add("foreign key", format!("{table}.fk({columns})->{target}"))
            .set("table", table)
            .set("columns", columns)
            .set("target", target)
            .set("on delete", key.on_delete)
            .set("on update", key.on_update);
    }
    Ok(schema)
}

/// Every object of the main database but SQLite's own.
const OBJECTS: &str = "SELECT type, name, tbl_name, sql FROM main.sqlite_schema \
     WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";

/// The condition that `m`, a row of `sqlite_schema`, is an ordinary table (a macro, for
/// `concat!`).
macro_rules! ordinary_table {
    () => {
        " WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         AND m.sql NOT LIKE 'CREATE VIRTUAL%'"
    };
}

const COLUMNS: &str = concat!(
    "SELECT m.name, c.name, c.type, c.\"notnull\", c.dflt_value, c.pk \
     FROM main.sqlite_schema m, pragma_table_xinfo(m.name, 'main') c",
    ordinary_table!()
);

/// The key parts of every index (not the rowid each one ends with).
const INDEXES: &str = concat!(
    "SELECT m.name, il.name, il.\"unique\", il.origin, ix.seqno, ix.cid, ix.name, ix.\"desc\", \
     ix.coll FROM main.sqlite_schema m, pragma_index_list(m.name, 'main') il, \
     pragma_index_xinfo(il.name, 'main') ix",
    ordinary_table!(),
    " AND ix.\"key\" = 1"
);

const FOREIGN_KEYS: &str = concat!(
    "SELECT m.name, fk.id, fk.seq, fk.\"table\", fk.\"from\", fk.\"to\", fk.on_update, \
     fk.on_delete FROM main.sqlite_schema m, pragma_foreign_key_list(m.name, 'main') fk",
    ordinary_table!()
);

/// Run `sql` and map each row.
fn query<T>(
    conn: &Connection,
    sql: &str,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> DriverResult<Vec<T>> {
    let mut statement = conn.prepare_cached(sql).map_err(db_error)?;
    let rows = statement.query_map([], map).map_err(db_error)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
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
    parts: Vec<Part>,
}

struct Part {
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
