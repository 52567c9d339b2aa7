//! The schema snapshot ([`ferry_core::schema`], SPEC §9.3) read from `information_schema`,
//! for the connected database (`DATABASE()`) only, in parts by owner
//! ([`ferry_core::schema::Part`]), whole or only for some owners.
//!
//! One query per `information_schema` view, whatever the schema's size, all sent as one
//! multi-statement batch (one round trip): `DATABASE()`, TABLES, COLUMNS, STATISTICS,
//! KEY_COLUMN_USAGE, REFERENTIAL_CONSTRAINTS (joined here: a join in SQL makes MariaDB scan
//! every database), CHECK_CONSTRAINTS, VIEWS, TRIGGERS, ROUTINES with PARAMETERS; on MariaDB
//! one more that reads the sequences' definitions (a `UNION ALL` over the sequences, which are
//! tables there). The server's version is asked once per connection. Rows are grouped in Rust
//! (no `GROUP_CONCAT`, whose result `group_concat_max_len` cuts).
//!
//! Indexes are named `table.index`: MySQL's index names are unique per table only. A unique
//! index is the unique constraint of the same name (MySQL makes no difference), so it is
//! listed as a `unique constraint`, not as an `index`; `PRIMARY` is the `primary key`. The
//! database's own name is taken out of view definitions (`` `db`.`t` `` becomes `` `t` ``), so
//! that snapshots of two databases compare.
//!
//! # Owners
//!
//! - `table:NAME`: a table, view or (MariaDB) sequence, by its name as the server stores it,
//!   with its columns, indexes, primary key, unique, foreign-key and check constraints and
//!   triggers. Its part depends on (`depends_on`) the `table:TARGET` of each of its foreign
//!   keys: InnoDB rewrites a child's foreign key when the parent table or column is renamed.
//! - `function:NAME` and `procedure:NAME`: a stored routine.
//!
//! The prefixes keep the three namespaces apart. A read of some owners filters every query
//! by name (`TABLE_NAME = ...` for one table, which MariaDB answers without listing the
//! database; `IN (...)` for several), names written as `_utf8mb4 X'..'` literals, which read
//! the same in every `sql_mode` and keep that fast path. Two owners whose objects have the
//! same kind and name (possible only with dots in table names: the columns `a`.`b.c` and
//! `a.b`.`c` are both `a.b.c`) share one object, as in a whole read, and changes are then no
//! longer tracked (see [`crate::changes`]).
//!
//! # Changed owners
//!
//! While tracking ([`ferry_core::Driver::track_changes`]) the driver records the tokens of the
//! SQL it runs ([`crate::changes`]). [`ferry_core::Driver::changed_owners`] then lists the
//! tables, views and routines that exist (one cheap query on TABLES and ROUTINES, with
//! `@@sql_mode`) and names those a token names, and every owner seen by an earlier read that a
//! token names: a dropped table, the table of a dropped trigger (`DROP TRIGGER t` names no
//! table), a foreign key's target. The answer is unknown (every owner is read again) when
//! the SQL may change what it does not name, when a table name holds a dot or a name is not
//! printable ASCII, and under `sql_mode = ORACLE`. The driver does not track at all where an
//! event exists in the database (or names it in its body) or the session is in `ORACLE` mode
//! when tracking starts, and stops for good when, after SQL that made the answer unknown, an
//! event exists.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ferry_core::driver::DriverResult;
use ferry_core::schema::{Part, Properties, Schema};
use ferry_core::{DriverError, DriverErrorKind};
use mysql_async::prelude::Queryable;
use mysql_async::Row;

use crate::changes::{is_plain, Changes, Pending};
use crate::error::db_error;
use crate::MysqlDriver;

mod objects;
mod queries;

use objects::{read_routines_set, text};
use queries::{
    COLUMNS, EVENTS, FOREIGN_KEYS, LISTING, MARIADB_CHECKS, MYSQL_CHECKS, ROUTINES, RULES,
    STATISTICS, TABLES, TRIGGERS, VIEWS,
};

/// A row of text values (`None` for NULL).
type Text = Option<String>;

/// The owner of the table, view or sequence `name`.
fn table_owner(name: &str) -> String {
    format!("table:{name}")
}

/// What a read covers, when not every owner: these tables (views, sequences) and routines.
#[derive(Debug, Default)]
struct Scope {
    tables: BTreeSet<String>,
    routines: BTreeSet<String>,
}

impl Scope {
    /// The scope of `owners` (names of another form are none of the driver's, and have no
    /// objects).
    fn of(owners: &BTreeSet<String>) -> Scope {
        let mut scope = Scope::default();
        for owner in owners {
            if let Some(name) = owner.strip_prefix("table:") {
                scope.tables.insert(name.to_owned());
            } else if let Some(name) = owner
                .strip_prefix("function:")
                .or_else(|| owner.strip_prefix("procedure:"))
            {
                scope.routines.insert(name.to_owned());
            }
        }
        scope
    }
}

/// The objects a read found, by owner.
#[derive(Debug, Default)]
struct Parts {
    parts: BTreeMap<String, Part>,
    /// Each object's owner, by kind and name.
    owner_of: HashMap<(String, String), String>,
    /// Names seen and the owner each names (for [`Changes::learn`]).
    names: Vec<(String, String)>,
    /// An object was found for two owners (it is kept in the first one's part).
    collided: bool,
}

impl Parts {
    /// The object `kind` `name` of `owner`, added empty when missing. An object of that kind
    /// and name already found for another owner is that one, as in one whole schema.
    fn add(&mut self, owner: &str, kind: &str, name: impl Into<String>) -> &mut Properties {
        let name = name.into();
        let key = (kind.to_owned(), name.clone());
        let owner = match self.owner_of.get(&key) {
            Some(first) => {
                if first != owner {
                    self.collided = true;
                }
                first.clone()
            }
            None => {
                self.owner_of.insert(key, owner.to_owned());
                owner.to_owned()
            }
        };
        self.parts.entry(owner).or_default().objects.add(kind, name)
    }

    /// `name` names `owner`.
    fn saw(&mut self, name: &str, owner: &str) {
        self.names.push((name.to_owned(), owner.to_owned()));
    }
}

impl MysqlDriver {
    /// See [`ferry_core::Driver::track_changes`]: not where there are events ([`EVENTS`]:
    /// they may change the schema at any time) or the session is in `ORACLE` mode
    /// (procedures are called without `CALL`).
    pub(crate) async fn track_changes(&mut self) -> DriverResult<bool> {
        let [mode, events] = self.one(&format!("SELECT @@sql_mode, ({EVENTS})")).await?;
        let oracle = mode.is_some_and(|m| m.to_uppercase().contains("ORACLE"));
        let events = events.is_some_and(|n| n != "0");
        if oracle || events {
            self.changes = Changes::default();
            return Ok(false);
        }
        self.changes.start();
        Ok(true)
    }

    /// See [`ferry_core::Driver::changed_owners`] and the module documentation.
    pub(crate) async fn changed_owners(&mut self) -> DriverResult<Option<BTreeSet<String>>> {
        if !self.changes.on {
            return Ok(None);
        }
        let tokens = match self.changes.take() {
            Pending::Broken => return Ok(None),
            Pending::Unknown => {
                // The SQL may have created an event (`CREATE EVENT` or dynamic SQL): one that
                // exists now may run at any time; one that ran already did before this read.
                let events = match self.one::<1>(EVENTS).await {
                    Ok([events]) => events,
                    Err(e) => {
                        self.changes.set_unknown("looking for events failed");
                        return Err(e);
                    }
                };
                if events.is_some_and(|n| n != "0") {
                    self.changes
                        .break_off("an event may change the schema at any time");
                }
                return Ok(None);
            }
            Pending::Tokens(tokens) => tokens,
        };
        if tokens.is_empty() {
            return Ok(Some(BTreeSet::new()));
        }
        let listing = match self.rows::<2>(LISTING).await {
            Ok(rows) => rows,
            Err(e) => {
                // The tokens are gone: the next answer cannot be sound.
                self.changes.set_unknown("listing the owners failed");
                return Err(e);
            }
        };
        let mut owners = self.changes.known_owners(&tokens);
        for [kind, name] in listing {
            let (kind, name) = (kind.unwrap_or_default(), name.unwrap_or_default());
            if kind == "MODE" {
                if name.to_uppercase().contains("ORACLE") {
                    return Ok(None);
                }
                continue;
            }
            if !is_plain(&name) {
                return Ok(None);
            }
            let owner = match kind.as_str() {
                "TABLE" if name.contains('.') => return Ok(None),
                "TABLE" => table_owner(&name),
                "FUNCTION" => format!("function:{name}"),
                "PROCEDURE" => format!("procedure:{name}"),
                _ => continue,
            };
            if tokens.contains(&name.to_ascii_lowercase()) {
                owners.insert(owner);
            }
        }
        Ok(Some(owners))
    }

    /// See [`ferry_core::Driver::snapshot_parts`] and the module documentation.
    pub(crate) async fn snapshot_parts(
        &mut self,
        owners: Option<&BTreeSet<String>>,
    ) -> DriverResult<BTreeMap<String, Part>> {
        let scope = owners.map(Scope::of);
        let read = self.read(scope.as_ref()).await?;
        if read.collided {
            self.changes
                .break_off("objects of two owners have the same kind and name");
        }
        for (name, owner) in &read.names {
            self.changes.learn(name, owner);
        }
        Ok(read.parts)
    }

    /// See [`ferry_core::Driver::snapshot`]: every part in one schema.
    pub(crate) async fn snapshot(&mut self) -> DriverResult<Schema> {
        let mut schema = Schema::default();
        for part in self.snapshot_parts(None).await?.into_values() {
            schema.extend(part.objects);
        }
        Ok(schema)
    }

    /// The server's kind and version, asked once.
    async fn server(&mut self) -> DriverResult<Server> {
        if let Some(server) = self.server {
            return Ok(server);
        }
        let [version] = self.one("SELECT VERSION()").await?;
        let server = Server::of(version.as_deref().unwrap_or(""));
        self.server = Some(server);
        Ok(server)
    }

    /// Read every owner (`None`) or those of `scope`.
    async fn read(&mut self, scope: Option<&Scope>) -> DriverResult<Parts> {
        let mut out = Parts::default();
        let tables = scope.map(|s| &s.tables);
        let routines = scope.map(|s| &s.routines);
        let read_tables = tables.is_none_or(|t| !t.is_empty());
        let read_routines = routines.is_none_or(|r| !r.is_empty());
        if !read_tables && !read_routines {
            return Ok(out);
        }
        let server = self.server().await?;
        let mut batch = vec!["SELECT DATABASE()".to_owned()];
        if read_tables {
            let statistics = if server.expressions {
                STATISTICS.replace("NULL AS EXPRESSION", "EXPRESSION")
            } else {
                STATISTICS.to_owned()
            };
            batch.push(format!("{TABLES}{}", only("TABLE_NAME", tables)));
            batch.push(format!("{COLUMNS}{}", only("TABLE_NAME", tables)));
            batch.push(format!("{statistics}{}", only("TABLE_NAME", tables)));
            batch.push(format!("{FOREIGN_KEYS}{}", only("TABLE_NAME", tables)));
            batch.push(format!("{RULES}{}", only("TABLE_NAME", tables)));
            if let Some(checks) = server.checks {
                let column = if server.mariadb {
                    "TABLE_NAME"
                } else {
                    "tc.TABLE_NAME"
                };
                batch.push(format!("{checks}{}", only(column, tables)));
            }
            batch.push(format!("{VIEWS}{}", only("TABLE_NAME", tables)));
            batch.push(format!("{TRIGGERS}{}", only("EVENT_OBJECT_TABLE", tables)));
        }
        if read_routines {
            batch.push(format!("{ROUTINES}{}", only("r.ROUTINE_NAME", routines)));
        }
        let mut sets = self.result_sets(&batch.join(";\n")).await?.into_iter();
        let [database] = next_set::<1>(&mut sets)?
            .pop()
            .ok_or_else(|| catalog_error("no row from SELECT DATABASE()"))?;
        let Some(database) = database else {
            // No database selected: nothing to read.
            return Ok(out);
        };
        if read_tables {
            self.read_tables(&server, &database, &mut sets, &mut out)
                .await?;
        }
        if read_routines {
            read_routines_set(next_set(&mut sets)?, &mut out);
        }

        if self.table.schema().is_none_or(|schema| schema == database) {
            let lease = self.table.lease_table();
            for part in out.parts.values_mut() {
                part.objects = std::mem::take(&mut part.objects)
                    .without_table(self.table.name())
                    .without_table(lease.name());
            }
            out.parts.retain(|_, part| !part.objects.is_empty());
        }
        Ok(out)
    }

    /// Every result set of a multi-statement batch, each row as text values.
    async fn result_sets(&mut self, batch: &str) -> DriverResult<Vec<Vec<Vec<Text>>>> {
        let mut sets = Vec::new();
        let mut result = self
            .conn
            .query_iter(batch)
            .await
            .map_err(|e| db_error(&e))?;
        while !result.is_empty() {
            let rows: Vec<Row> = result.collect().await.map_err(|e| db_error(&e))?;
            sets.push(
                rows.into_iter()
                    .map(|row| row.unwrap().into_iter().map(text).collect())
                    .collect(),
            );
        }
        result.drop_result().await.map_err(|e| db_error(&e))?;
        Ok(sets)
    }

    /// The rows of `sql` (text protocol: every value as text), each as `N` values.
    async fn rows<const N: usize>(&mut self, sql: &str) -> DriverResult<Vec<[Text; N]>> {
        let rows: Vec<Row> = self.conn.query(sql).await.map_err(|e| db_error(&e))?;
        rows.into_iter()
            .map(|row| fixed(row.unwrap().into_iter().map(text).collect()))
            .collect()
    }

    /// The one row of `sql`.
    async fn one<const N: usize>(&mut self, sql: &str) -> DriverResult<[Text; N]> {
        self.rows(sql)
            .await?
            .pop()
            .ok_or_else(|| catalog_error(&format!("no row from {sql}")))
    }
}

/// The next result set of a read, each row as `N` values.
fn next_set<const N: usize>(
    sets: &mut impl Iterator<Item = Vec<Vec<Text>>>,
) -> DriverResult<Vec<[Text; N]>> {
    let rows = sets
        .next()
        .ok_or_else(|| catalog_error("a catalog batch returned fewer result sets than queries"))?;
    rows.into_iter().map(fixed).collect()
}

/// A row of exactly `N` values.
fn fixed<const N: usize>(values: Vec<Text>) -> DriverResult<[Text; N]> {
    let count = values.len();
    values.try_into().map_err(|_| {
        catalog_error(&format!(
            "a catalog query returned {count} columns instead of {N}"
        ))
    })
}

fn catalog_error(message: &str) -> DriverError {
    DriverError::new(DriverErrorKind::Other, message)
}

/// ` AND column = name` (one name: MariaDB then opens that table only, without listing the
/// database) or ` AND column IN (...)`; nothing for every name (`None`). Names are hex
/// literals in utf8mb4, which read the same whatever the `sql_mode` and character set.
fn only(column: &str, names: Option<&BTreeSet<String>>) -> String {
    let Some(names) = names else {
        return String::new();
    };
    let literals: Vec<String> = names.iter().map(|name| literal(name)).collect();
    match literals.as_slice() {
        [one] => format!(" AND {column} = {one}"),
        _ => format!(" AND {column} IN ({})", literals.join(", ")),
    }
}

/// `text` as a utf8mb4 string literal.
fn literal(text: &str) -> String {
    if text.is_empty() {
        return "''".to_owned();
    }
    let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
    format!("_utf8mb4 X'{hex}'")
}

/// What the server's version says about the views it has.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Server {
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

#[cfg(test)]
mod tests {
    use super::*;

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
