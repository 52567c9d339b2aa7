//! The catalog reads of a snapshot ([`super`]): `sqlite_schema`, the table-valued pragmas
//! (joined, or one `PRAGMA` per table for few tables) and the rows they return.

use ferry_core::driver::DriverResult;
use rusqlite::Connection;

use crate::error::db_error;

/// Up to this many tables, a read runs each table's pragmas as statements of their own; more,
/// it joins them in one query per pragma. A `PRAGMA` statement is cheap to prepare, a query
/// joining table-valued pragmas is not (and is prepared again after every schema change), and
/// such a join runs the same `PRAGMA` for each table anyway. On a new connection (each target
/// of `drift --fleet`), 20 tables' pragmas cost less than preparing the four joins: about
/// 15 % less CPU for the drift of 300 files of 20 tables than with 8 here.
pub(super) const FEW_TABLES: usize = 32;

/// How a read runs the pragmas of the ordinary tables it reads.
pub(super) enum Pragmas<'a> {
    /// One `PRAGMA` statement per table (and per index).
    Each(Vec<&'a str>),
    /// One query per pragma over these names, a JSON array.
    Joined(String),
}

impl<'a> Pragmas<'a> {
    pub(super) fn of(tables: impl ExactSizeIterator<Item = &'a String>) -> Pragmas<'a> {
        if tables.len() <= FEW_TABLES {
            Pragmas::Each(tables.map(String::as_str).collect())
        } else {
            Pragmas::Joined(json_array(tables.map(String::as_str)))
        }
    }
}

/// Run `PRAGMA main.<pragma>('<arg>')` and map each row.
pub(super) fn pragma<T>(
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
pub(super) fn columns(conn: &Connection, tables: &Pragmas<'_>) -> DriverResult<Vec<Column>> {
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
pub(super) type IndexPart = (String, String, bool, String, KeyPart);

/// The key parts of the indexes of `tables` (not the rowid each one ends with).
pub(super) fn index_parts(conn: &Connection, tables: &Pragmas<'_>) -> DriverResult<Vec<IndexPart>> {
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
pub(super) type Reference = (
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
pub(super) fn references(conn: &Connection, tables: &Pragmas<'_>) -> DriverResult<Vec<Reference>> {
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
pub(super) const OBJECTS: &str = "SELECT type, name, tbl_name, sql FROM main.sqlite_schema";

/// The rows of the owners in `?1`, a JSON array of lower-case names. `sqlite_schema` has no
/// index: this is a scan, but in SQLite, and only the rows asked for come out. `NOCASE`
/// ignores ASCII case, as [`owner_of`] does.
pub(super) const OBJECTS_OF: &str = "SELECT type, name, tbl_name, sql FROM main.sqlite_schema \
     WHERE tbl_name COLLATE NOCASE IN (SELECT value FROM json_each(?1))";

/// The rows of the one owner `?1`: [`OBJECTS_OF`], faster.
pub(super) const OBJECTS_OF_ONE: &str =
    "SELECT type, name, tbl_name, sql FROM main.sqlite_schema WHERE tbl_name = ?1 COLLATE NOCASE";

/// The columns of the tables named in `?1` (a JSON array). Each pragma finds its table by
/// name, so the tables named are all that is read.
pub(super) const COLUMNS: &str =
    "SELECT t.value AS \"table\", c.name, c.type, c.\"notnull\", c.dflt_value, \
     c.pk FROM json_each(?1) t, pragma_table_xinfo(t.value, 'main') c";

/// The key parts of the indexes of the tables named in `?1` (not the rowid each one ends
/// with).
pub(super) const INDEXES: &str =
    "SELECT t.value AS \"table\", il.name AS \"index\", il.\"unique\", \
     il.origin, ix.seqno, ix.cid, ix.name, ix.\"desc\", ix.coll FROM json_each(?1) t, \
     pragma_index_list(t.value, 'main') il, pragma_index_xinfo(il.name, 'main') ix \
     WHERE ix.\"key\" = 1";

/// The foreign keys of the tables named in `?1`.
pub(super) const FOREIGN_KEYS: &str =
    "SELECT t.value AS child, fk.id, fk.seq, fk.\"table\", fk.\"from\", \
     fk.\"to\", fk.on_update, fk.on_delete \
     FROM json_each(?1) t, pragma_foreign_key_list(t.value, 'main') fk";

/// Run `sql` with `params` and map each row.
pub(super) fn query<T, P: rusqlite::Params>(
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
pub(super) fn json_array<'a>(names: impl Iterator<Item = &'a str>) -> String {
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
pub(super) struct Object {
    pub(super) kind: String,
    pub(super) name: String,
    pub(super) table: String,
    pub(super) sql: Option<String>,
}

pub(super) struct Column {
    pub(super) table: String,
    pub(super) name: String,
    pub(super) declared: String,
    pub(super) not_null: bool,
    pub(super) default: Option<String>,
    pub(super) pk: i64,
}

#[derive(Default)]
pub(super) struct Index {
    pub(super) unique: bool,
    pub(super) origin: String,
    pub(super) parts: Vec<KeyPart>,
}

pub(super) struct KeyPart {
    pub(super) seq: i64,
    pub(super) cid: i64,
    pub(super) column: Option<String>,
    pub(super) desc: bool,
    pub(super) collation: Option<String>,
}

#[derive(Default)]
pub(super) struct ForeignKey {
    pub(super) target: String,
    pub(super) on_update: String,
    pub(super) on_delete: String,
    /// Position, column, referenced column (none: the parent's primary key).
    pub(super) columns: Vec<(i64, String, Option<String>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
