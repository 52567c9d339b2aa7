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

use ferry_core::driver::url::quote_ident;
use ferry_core::driver::DriverResult;
use ferry_core::schema::{Part, Properties, Schema};
use ferry_core::{DriverError, DriverErrorKind};
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use crate::changes::{is_plain, Changes, Pending};
use crate::error::db_error;
use crate::MysqlDriver;

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

    /// The tables, views and sequences of a read, from its result sets (TABLES to TRIGGERS).
    async fn read_tables(
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

/// The routines of a read, from its ROUTINES result set.
fn read_routines_set(rows: Vec<[Text; 11]>, out: &mut Parts) {
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
    /// The target as shown: `table`, or `db.table` in another database.
    target: String,
    /// The target table's name alone, and its owner.
    target_name: String,
    depends_on: String,
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

/// The foreign keys' columns; their rules come from [`RULES`] (a join of the two views makes
/// MariaDB read every database's constraints).
const FOREIGN_KEYS: &str = "SELECT TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION, \
     COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
     FROM information_schema.KEY_COLUMN_USAGE \
     WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL";

/// The foreign keys' rules.
const RULES: &str = "SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE \
     FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()";

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

/// What exists now, for [`MysqlDriver::changed_owners`]: the names of the tables (views,
/// sequences: TABLE_TYPE would make MariaDB open each table) and routines, and the
/// `sql_mode`.
const LISTING: &str = "SELECT 'TABLE', TABLE_NAME FROM information_schema.TABLES \
     WHERE TABLE_SCHEMA = DATABASE() \
     UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES \
     WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE') \
     UNION ALL SELECT 'MODE', @@sql_mode";

/// How many events may change this database: those in it, and those whose body names it.
const EVENTS: &str = "SELECT COUNT(*) FROM information_schema.EVENTS \
     WHERE EVENT_SCHEMA = DATABASE() OR LOCATE(DATABASE(), EVENT_DEFINITION) > 0";

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
