//! Helpers for the drivers' snapshot tests ([`crate::Driver::snapshot`]): run a change and
//! check that the snapshot sees exactly it, that the snapshot read in part by a
//! [`Tracker`] after it is the whole one, and that ferry's own tables are left out.
//!
//! ```
//! use ferry_core::testkit::{block_on, snapshot, MemoryDriver};
//! use ferry_core::Driver;
//!
//! let mut d = MemoryDriver::new();
//! block_on(d.ensure_table()).unwrap();
//! let s = block_on(d.snapshot()).unwrap();
//! snapshot::assert_left_out(&s, "ferry_migrations");
//! let s = block_on(snapshot::assert_change(&mut d, s, "CREATE TABLE t (id INT)", &[
//!     ("table", "t", "exists"),
//! ]));
//! assert!(s.get("table", "t").is_some());
//! ```

use std::ops::Deref;

use crate::schema::Schema;
use crate::snapshot::{Snapshot, Tracker};
use crate::Driver;

/// A driver's schema as a test follows it from change to change: the whole snapshot, and,
/// from the first [`assert_change`] on, a [`Tracker`] that reads the snapshot in part.
/// Dereferences to the whole snapshot.
pub struct Followed {
    schema: Schema,
    tracked: Option<(Tracker, Snapshot)>,
}

impl From<Schema> for Followed {
    fn from(schema: Schema) -> Self {
        Followed {
            schema,
            tracked: None,
        }
    }
}

impl Followed {
    /// What the tracker has read so far (`None` before the first change).
    pub fn reads(&self) -> Option<crate::snapshot::Reads> {
        self.tracked.as_ref().map(|(tracker, _)| tracker.reads())
    }
}

impl Deref for Followed {
    type Target = Schema;

    fn deref(&self) -> &Schema {
        &self.schema
    }
}

/// Run `sql` (outside a transaction) on `driver`, take a snapshot and assert that it differs
/// from `before` in exactly the `expected` (object kind, name, property) triples, in the
/// order of [`Schema::differences`]. The snapshot a [`Tracker`] reads in part (where the
/// driver tracks changes) must be the whole one, and must differ from the one before in
/// the same way. Returns the new snapshot, for the next change.
pub async fn assert_change<D: Driver + ?Sized>(
    driver: &mut D,
    before: impl Into<Followed>,
    sql: &str,
    expected: &[(&str, &str, &str)],
) -> Followed {
    let before = before.into();
    let previous = before.schema.clone();
    let after = follow(driver, before, sql).await;
    let differences = previous.differences(&after.schema);
    let found: Vec<(&str, &str, &str)> = differences
        .iter()
        .map(|d| (d.object.as_str(), d.name.as_str(), d.property.as_str()))
        .collect();
    let shown: Vec<String> = differences.iter().map(ToString::to_string).collect();
    assert_eq!(found, expected, "after {sql}:\n{}", shown.join("\n"));
    after
}

/// Run `sql` (outside a transaction) on `driver` and assert only that the snapshot a
/// [`Tracker`] reads in part afterwards is the whole one, and differs from the one before
/// as the whole ones do: for changes whose differences are many (a renamed table).
pub async fn follow<D: Driver + ?Sized>(
    driver: &mut D,
    before: impl Into<Followed>,
    sql: &str,
) -> Followed {
    let mut before = before.into();
    before.start(driver).await;
    driver
        .execute(sql, false)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    compare(driver, before, sql).await
}

impl Followed {
    /// Start the tracker, once, on the schema as it is.
    async fn start<D: Driver + ?Sized>(&mut self, driver: &mut D) {
        if self.tracked.is_some() {
            return;
        }
        let mut tracker = Tracker::start(driver)
            .await
            .unwrap_or_else(|e| panic!("tracking changes: {e}"));
        let first = tracker
            .take(driver)
            .await
            .unwrap_or_else(|e| panic!("first tracked snapshot: {e}"));
        assert_same(&first.schema(), &self.schema, "before the first change");
        self.tracked = Some((tracker, first));
    }
}

/// Take the whole snapshot and the tracked one after `what` ran, and compare them.
async fn compare<D: Driver + ?Sized>(driver: &mut D, mut before: Followed, what: &str) -> Followed {
    let (mut tracker, tracked) = before.tracked.take().expect("started");
    let after = driver
        .snapshot()
        .await
        .unwrap_or_else(|e| panic!("snapshot after {what}: {e}"));
    let next = tracker
        .take(driver)
        .await
        .unwrap_or_else(|e| panic!("tracked snapshot after {what}: {e}"));
    assert_same(&next.schema(), &after, &format!("after {what}"));
    assert_eq!(
        tracked.differences(&next),
        before.schema.differences(&after),
        "after {what}: the tracked snapshots differ otherwise than the whole ones"
    );
    Followed {
        schema: after,
        tracked: Some((tracker, next)),
    }
}

/// Assert that the snapshot a [`Tracker`] read (`tracked`) is the `whole` one.
fn assert_same(tracked: &Schema, whole: &Schema, when: &str) {
    let differences: Vec<String> = whole
        .differences(tracked)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        differences.is_empty(),
        "{when}: the snapshot read in part is not the whole one (whole → in part):\n{}",
        differences.join("\n")
    );
}

/// Assert that no object of `schema` is the table `table`, one of its columns, or belongs to
/// it (its `table` property).
pub fn assert_left_out(schema: &Schema, table: &str) {
    let prefix = format!("{table}.");
    for (kind, name, properties) in schema.objects() {
        assert!(
            name != table && !name.starts_with(&prefix) && properties.get("table") != Some(table),
            "{kind} {name} belongs to {table}, which the snapshot must leave out"
        );
    }
}

/// The value of `property` of the object `kind` `name`, which must exist (the panic lists
/// the snapshot).
pub fn property<'a>(schema: &'a Schema, kind: &str, name: &str, property: &str) -> Option<&'a str> {
    match schema.get(kind, name) {
        Some(properties) => properties.get(property),
        None => panic!("no {kind} {name} in the snapshot:\n{}", listing(schema)),
    }
}

/// The snapshot as text, one object a line, for failure messages.
pub fn listing(schema: &Schema) -> String {
    schema
        .objects()
        .map(|(kind, name, properties)| format!("{kind} {name}: {properties:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Walk `driver`'s schema through `steps` random changes (seeded: the same seed, the same
/// walk) and [`follow`] each: tables with foreign keys to each other, indexes, views, added,
/// renamed and dropped columns, renamed and dropped tables; and what real applications do
/// besides: functions and procedures (PostgreSQL, MySQL) created, replaced and dropped, their
/// bodies reading a table; triggers created, replaced and dropped; views re-created over
/// joins (calling a function where there is one); enum values added (a PostgreSQL enum type,
/// a MySQL `ENUM` column). Statements the database refuses (a view or a key in the way)
/// change nothing, and are followed too. Returns how many ran.
pub async fn wander<D: Driver + ?Sized>(
    driver: &mut D,
    before: impl Into<Followed>,
    dialect: crate::sql::Dialect,
    seed: u64,
    steps: usize,
) -> (Followed, usize) {
    let mut model = Model {
        rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        ..Model::default()
    };
    let mut followed = before.into();
    followed.start(driver).await;
    let mut ran = 0;
    for _ in 0..steps {
        let (sql, apply) = model.next_change(dialect);
        // A refused statement changes nothing, and is followed all the same.
        let what = match driver.execute(&sql, false).await {
            Ok(()) => {
                ran += 1;
                apply(&mut model);
                sql
            }
            Err(e) => format!("{sql} (refused: {e})"),
        };
        followed = compare(driver, followed, &what).await;
    }
    (followed, ran)
}

/// [`wander`] from the schema as it is now, asserting that at least half the steps ran (the
/// others were refused); returns what the tracker read.
pub async fn wander_here<D: Driver + ?Sized>(
    driver: &mut D,
    dialect: crate::sql::Dialect,
    seed: u64,
    steps: usize,
) -> crate::snapshot::Reads {
    let start = driver
        .snapshot()
        .await
        .unwrap_or_else(|e| panic!("snapshot: {e}"));
    let (followed, ran) = wander(driver, start, dialect, seed, steps).await;
    assert!(
        ran * 2 > steps,
        "seed {seed}: only {ran} of {steps} changes ran"
    );
    followed.reads().expect("tracked")
}

/// What [`wander`] believes the schema holds.
#[derive(Default)]
struct Model {
    rng: u64,
    next: usize,
    /// Tables and their columns (the first is `id`, the primary key).
    tables: Vec<(String, Vec<String>)>,
    /// Indexes and their tables.
    indexes: Vec<(String, String)>,
    /// Views.
    views: Vec<String>,
    /// Functions and procedures (`true`), not those of triggers.
    functions: Vec<(String, bool)>,
    /// Triggers and their tables.
    triggers: Vec<(String, String)>,
    /// Enums: a PostgreSQL type, or a MySQL column and its table; and how many values.
    enums: Vec<(String, String, usize)>,
}

type Apply = Box<dyn FnOnce(&mut Model) + Send>;

impl Model {
    fn random(&mut self, n: usize) -> usize {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }

    fn name(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    /// The next change and what it does to the model when it runs.
    fn next_change(&mut self, dialect: crate::sql::Dialect) -> (String, Apply) {
        use crate::sql::Dialect;
        let t = if self.tables.is_empty() {
            0
        } else {
            self.random(self.tables.len())
        };
        let choice = if self.tables.is_empty() {
            0
        } else {
            self.random(16)
        };
        let sqlite = dialect == Dialect::Sqlite;
        // What a step needs that is not there (or not in this dialect) becomes another step.
        let choice = match choice {
            10 | 11 if sqlite => 12,
            11 if self.functions.is_empty() => 10,
            13 if self.triggers.is_empty() => 12,
            14 if self.views.is_empty() => 4,
            15 if sqlite => 6,
            other => other,
        };
        // A column to rename or drop needs one besides `id`.
        let choice = if choice == 7 && self.tables[t].1.len() < 2 {
            6
        } else {
            choice
        };
        match choice {
            10..=15 => self.real_change(choice, t, dialect),
            // A table, maybe with a foreign key to another.
            0 | 1 => {
                let name = self.name("t");
                let column = self.name("c");
                let key = if self.tables.is_empty() || self.random(2) == 0 {
                    String::new()
                } else {
                    let parent = self.tables[t].0.clone();
                    format!(", {column}_ref INTEGER REFERENCES {parent} (id)")
                };
                let sql =
                    format!("CREATE TABLE {name} (id INTEGER PRIMARY KEY, {column} INTEGER{key})");
                let mut columns = vec!["id".to_owned(), column.clone()];
                if !key.is_empty() {
                    columns.push(format!("{column}_ref"));
                }
                (
                    sql,
                    Box::new(move |m: &mut Model| m.tables.push((name, columns))),
                )
            }
            2 => {
                let (table, columns) = self.tables[t].clone();
                let name = self.name("i");
                let column = columns[self.random(columns.len())].clone();
                let sql = format!("CREATE INDEX {name} ON {table} ({column})");
                (
                    sql,
                    Box::new(move |m: &mut Model| m.indexes.push((name, table))),
                )
            }
            3 if !self.indexes.is_empty() => {
                let i = self.random(self.indexes.len());
                let (name, table) = self.indexes[i].clone();
                let sql = match dialect {
                    Dialect::MySql => format!("DROP INDEX {name} ON {table}"),
                    _ => format!("DROP INDEX {name}"),
                };
                (
                    sql,
                    Box::new(move |m: &mut Model| {
                        m.indexes.retain(|(n, _)| *n != name);
                    }),
                )
            }
            4 => {
                let table = self.tables[t].0.clone();
                let name = self.name("v");
                let sql = format!("CREATE VIEW {name} AS SELECT id FROM {table}");
                (sql, Box::new(move |m: &mut Model| m.views.push(name)))
            }
            5 if !self.views.is_empty() => {
                let v = self.random(self.views.len());
                let name = self.views[v].clone();
                (
                    format!("DROP VIEW {name}"),
                    Box::new(move |m: &mut Model| {
                        m.views.retain(|v| *v != name);
                    }),
                )
            }
            6 => {
                let table = self.tables[t].0.clone();
                let column = self.name("c");
                let sql = format!("ALTER TABLE {table} ADD COLUMN {column} INTEGER");
                (
                    sql,
                    Box::new(move |m: &mut Model| {
                        if let Some((_, columns)) = m.tables.iter_mut().find(|(n, _)| *n == table) {
                            columns.push(column);
                        }
                    }),
                )
            }
            7 => {
                let (table, columns) = self.tables[t].clone();
                let old = columns[1 + self.random(columns.len() - 1)].clone();
                let new = self.name("c");
                let sql = if self.random(2) == 0 {
                    format!("ALTER TABLE {table} RENAME COLUMN {old} TO {new}")
                } else {
                    format!("ALTER TABLE {table} DROP COLUMN {old}")
                };
                let drop = sql.contains(" DROP ");
                (
                    sql,
                    Box::new(move |m: &mut Model| {
                        if let Some((_, columns)) = m.tables.iter_mut().find(|(n, _)| *n == table) {
                            columns.retain(|c| *c != old);
                            if !drop {
                                columns.push(new);
                            }
                        }
                    }),
                )
            }
            8 => {
                let old = self.tables[t].0.clone();
                let new = self.name("t");
                let sql = format!("ALTER TABLE {old} RENAME TO {new}");
                (
                    sql,
                    Box::new(move |m: &mut Model| {
                        for (name, _) in &mut m.tables {
                            if *name == old {
                                *name = new.clone();
                            }
                        }
                        for (_, table) in &mut m.indexes {
                            if *table == old {
                                *table = new.clone();
                            }
                        }
                        for (_, table) in &mut m.triggers {
                            if *table == old {
                                *table = new.clone();
                            }
                        }
                        for (_, table, _) in &mut m.enums {
                            if *table == old {
                                *table = new.clone();
                            }
                        }
                    }),
                )
            }
            _ => {
                let table = self.tables[t].0.clone();
                (
                    format!("DROP TABLE {table}"),
                    Box::new(move |m: &mut Model| {
                        m.tables.retain(|(n, _)| *n != table);
                        m.indexes.retain(|(_, n)| *n != table);
                        m.triggers.retain(|(_, n)| *n != table);
                    }),
                )
            }
        }
    }
}

impl Model {
    /// The steps shaped like a real application's (see [`wander`]): 10 a function or
    /// procedure created or replaced, 11 one dropped, 12 a trigger created or replaced, 13 one
    /// dropped, 14 a view re-created over a join, 15 an enum created or given a value.
    fn real_change(
        &mut self,
        choice: usize,
        t: usize,
        dialect: crate::sql::Dialect,
    ) -> (String, Apply) {
        use crate::sql::Dialect;
        let table = self.tables[t].0.clone();
        match choice {
            10 => {
                let (name, procedure) = if !self.functions.is_empty() && self.random(2) == 0 {
                    let f = self.random(self.functions.len());
                    self.functions[f].clone()
                } else {
                    let procedure = self.random(3) == 0;
                    (self.name(if procedure { "p" } else { "f" }), procedure)
                };
                let sql = match (dialect, procedure) {
                    (Dialect::Postgres, false) => format!(
                        "CREATE OR REPLACE FUNCTION {name}() RETURNS bigint LANGUAGE sql \
                         BEGIN ATOMIC SELECT count(*) FROM {table}; END"
                    ),
                    (Dialect::Postgres, true) => format!(
                        "CREATE OR REPLACE PROCEDURE {name}() LANGUAGE sql \
                         BEGIN ATOMIC DELETE FROM {table} WHERE id < 0; END"
                    ),
                    (_, false) => format!(
                        "DROP FUNCTION IF EXISTS {name}; CREATE FUNCTION {name}() RETURNS INT \
                         DETERMINISTIC READS SQL DATA RETURN (SELECT COUNT(*) FROM {table})"
                    ),
                    (_, true) => format!(
                        "DROP PROCEDURE IF EXISTS {name}; \
                         CREATE PROCEDURE {name}() DELETE FROM {table} WHERE id < 0"
                    ),
                };
                (
                    sql,
                    Box::new(move |m: &mut Model| {
                        if !m.functions.iter().any(|(n, _)| *n == name) {
                            m.functions.push((name, procedure));
                        }
                    }),
                )
            }
            11 => {
                let f = self.random(self.functions.len());
                let (name, procedure) = self.functions[f].clone();
                let kind = if procedure { "PROCEDURE" } else { "FUNCTION" };
                (
                    format!("DROP {kind} {name}"),
                    Box::new(move |m: &mut Model| m.functions.retain(|(n, _)| *n != name)),
                )
            }
            12 => {
                let (name, table) = if !self.triggers.is_empty() && self.random(2) == 0 {
                    let r = self.random(self.triggers.len());
                    self.triggers[r].clone()
                } else {
                    (self.name("tr"), table)
                };
                let timing = ["BEFORE", "AFTER"][self.random(2)];
                let event = ["INSERT", "UPDATE", "DELETE"][self.random(3)];
                let row = if event == "DELETE" { "OLD" } else { "NEW" };
                let sql = match dialect {
                    Dialect::Postgres => format!(
                        "CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql \
                         AS $$ BEGIN RETURN {row}; END $$; \
                         CREATE OR REPLACE TRIGGER {name} {timing} {event} ON {table} \
                         FOR EACH ROW EXECUTE FUNCTION {name}_fn()"
                    ),
                    Dialect::MySql => format!(
                        "DROP TRIGGER IF EXISTS {name}; CREATE TRIGGER {name} {timing} {event} \
                         ON {table} FOR EACH ROW SET @ferry_wander = {row}.id"
                    ),
                    Dialect::Sqlite => format!(
                        "DROP TRIGGER IF EXISTS {name}; CREATE TRIGGER {name} {timing} {event} \
                         ON {table} BEGIN SELECT {row}.id; END"
                    ),
                };
                (
                    sql,
                    Box::new(move |m: &mut Model| {
                        m.triggers.retain(|(n, _)| *n != name);
                        m.triggers.push((name, table));
                    }),
                )
            }
            13 => {
                let r = self.random(self.triggers.len());
                let (name, table) = self.triggers[r].clone();
                let sql = match dialect {
                    Dialect::Postgres => format!("DROP TRIGGER {name} ON {table}"),
                    _ => format!("DROP TRIGGER {name}"),
                };
                (
                    sql,
                    Box::new(move |m: &mut Model| m.triggers.retain(|(n, _)| *n != name)),
                )
            }
            14 => {
                let v = self.random(self.views.len());
                let view = self.views[v].clone();
                let o = self.random(self.tables.len());
                let other = self.tables[o].0.clone();
                let f = self.random(self.functions.len() + 1);
                let call = self
                    .functions
                    .iter()
                    .filter(|(_, procedure)| !procedure)
                    .map(|(name, _)| format!(", {name}() AS fx"))
                    .nth(f)
                    .unwrap_or_default();
                let select = format!(
                    "SELECT a.id, b.id AS other{call} FROM {table} a JOIN {other} b ON b.id = a.id"
                );
                let sql = match dialect {
                    Dialect::MySql => format!("CREATE OR REPLACE VIEW {view} AS {select}"),
                    _ => format!("DROP VIEW IF EXISTS {view}; CREATE VIEW {view} AS {select}"),
                };
                (sql, Box::new(|_: &mut Model| {}))
            }
            _ => {
                if !self.enums.is_empty() && self.random(3) != 0 {
                    let e = self.random(self.enums.len());
                    let (name, table, values) = self.enums[e].clone();
                    let sql = match dialect {
                        Dialect::Postgres => {
                            format!("ALTER TYPE {name} ADD VALUE 'a{}'", values + 1)
                        }
                        _ => format!(
                            "ALTER TABLE {table} MODIFY COLUMN {name} {}",
                            enum_of(values + 1)
                        ),
                    };
                    return (
                        sql,
                        Box::new(move |m: &mut Model| {
                            if let Some(e) = m.enums.iter_mut().find(|(n, _, _)| *n == name) {
                                e.2 += 1;
                            }
                        }),
                    );
                }
                let name = self.name("e");
                let (sql, column) = match dialect {
                    Dialect::Postgres => {
                        let column = self.name("c");
                        (
                            format!(
                                "CREATE TYPE {name} AS ENUM ('a1'); \
                                 ALTER TABLE {table} ADD COLUMN {column} {name}"
                            ),
                            column,
                        )
                    }
                    _ => (
                        format!("ALTER TABLE {table} ADD COLUMN {name} {}", enum_of(1)),
                        name.clone(),
                    ),
                };
                (
                    sql,
                    Box::new(move |m: &mut Model| {
                        if let Some((_, columns)) = m.tables.iter_mut().find(|(n, _)| *n == table) {
                            columns.push(column);
                        }
                        m.enums.push((name, table, 1));
                    }),
                )
            }
        }
    }
}

/// A MySQL `ENUM` of `n` values `'a1'` to `'an'`.
fn enum_of(n: usize) -> String {
    let values: Vec<String> = (1..=n).map(|i| format!("'a{i}'")).collect();
    format!("ENUM({})", values.join(", "))
}
