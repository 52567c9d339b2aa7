//! The model behind [`super::wander`]: what the random walk believes the schema holds, and
//! the next change it makes, in each dialect.

/// What [`wander`] believes the schema holds.
#[derive(Default)]
pub(super) struct Model {
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

pub(super) type Apply = Box<dyn FnOnce(&mut Model) + Send>;

impl Model {
    /// The model of an empty schema, its random numbers from `seed`.
    pub(super) fn seeded(seed: u64) -> Self {
        Model {
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            ..Model::default()
        }
    }

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
    pub(super) fn next_change(&mut self, dialect: crate::sql::Dialect) -> (String, Apply) {
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
