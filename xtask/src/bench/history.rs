//! The histories `bench --verify` and `bench --drift` run: the synthetic one (each migration a
//! `CREATE TABLE` + `CREATE INDEX`) and one shaped like a real application's (issue 21,
//! item 5), written per backend in its own dialect.
//!
//! The real application's history cycles through eight kinds of migration: a table with a
//! foreign key to the one before (on PostgreSQL with an enum type of its own, on MySQL an
//! `ENUM` column); a view over a join of the new table and its parent; a trigger on it (on
//! PostgreSQL with its plpgsql function); a column added to an earlier table and its view
//! re-created to show it; a trigger function replaced (PostgreSQL), a procedure replaced
//! (MySQL), a trigger re-created (SQLite); an enum given one more value (PostgreSQL, MySQL; on
//! SQLite a view re-created); an index; a function reading a table (PostgreSQL), a procedure
//! (MySQL), a view over two tables (SQLite). Every migration has a down section that undoes
//! it exactly (an enum value is taken back by re-creating the type), so `verify` judges every
//! one reversible and `backwards all` runs.

use std::path::Path;

use anyhow::Result;

/// The shape of a generated history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `CREATE TABLE` + `CREATE INDEX` per migration.
    Synthetic,
    /// Shaped like a real application's (see the module documentation).
    RealApp,
}

impl Shape {
    /// The name the tables give it.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Synthetic => "synthetic",
            Shape::RealApp => "real-app",
        }
    }
}

/// Write `migrations` migration files of `shape` for `backend` (`postgres`, `mysql`,
/// `sqlite`) into `folder`, replacing what is there.
pub fn write(folder: &Path, shape: Shape, backend: &str, migrations: usize) -> Result<()> {
    if folder.exists() {
        std::fs::remove_dir_all(folder)?;
    }
    std::fs::create_dir_all(folder)?;
    let mut app = RealApp::new(backend);
    for i in 1..=migrations {
        let (up, down) = match shape {
            Shape::Synthetic => (
                format!(
                    "CREATE TABLE t{i} (id INTEGER PRIMARY KEY, name VARCHAR(50), created_at TIMESTAMP);\nCREATE INDEX t{i}_name ON t{i} (name);"
                ),
                format!("DROP TABLE t{i};"),
            ),
            Shape::RealApp => app.next(i),
        };
        std::fs::write(
            folder.join(format!("{:014}_m{i}.sql", 20240000000000u64 + i as u64)),
            format!("-- ferry:up\n{up}\n-- ferry:down\n{down}\n"),
        )?;
    }
    Ok(())
}

/// A table of the real application's history, as the migrations so far left it.
struct Table {
    name: String,
    parent: Option<String>,
    /// Columns added after it was created.
    extras: Vec<String>,
    /// Its enum's values (PostgreSQL: the type `<name>_status`; MySQL: the `status` column).
    values: usize,
    /// Whether it has a view (`v_<name>`) and a trigger (`<name>_touch`).
    view: bool,
    trigger: bool,
    /// The trigger function's (or procedure's, or SQLite trigger's) version.
    version: usize,
}

/// The real application's history as generated so far.
struct RealApp {
    backend: String,
    tables: Vec<Table>,
    /// Procedures or functions reading a table, and their versions.
    routines: usize,
}

impl RealApp {
    fn new(backend: &str) -> Self {
        RealApp {
            backend: backend.to_owned(),
            tables: Vec::new(),
            routines: 0,
        }
    }

    fn pg(&self) -> bool {
        self.backend == "postgres"
    }

    fn mysql(&self) -> bool {
        self.backend == "mysql"
    }

    /// The view of table `t` as its columns are now.
    fn view_sql(&self, t: usize) -> String {
        let table = &self.tables[t];
        let extras: String = table.extras.iter().map(|c| format!(", c.{c}")).collect();
        let join = match &table.parent {
            Some(parent) => format!(
                "SELECT c.id, c.name, p.name AS parent_name{extras} FROM {} c LEFT JOIN {parent} p ON p.id = c.parent_id",
                table.name
            ),
            None => format!("SELECT c.id, c.name{extras} FROM {} c", table.name),
        };
        format!("CREATE VIEW v_{} AS {join};", table.name)
    }

    /// Replace the view of table `t` (whose columns only grew): `CREATE OR REPLACE` where the
    /// backend has it.
    fn replace_view(&self, t: usize) -> String {
        let create = self.view_sql(t);
        if self.backend == "sqlite" {
            format!("DROP VIEW v_{};\n{create}", self.tables[t].name)
        } else {
            create.replacen("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)
        }
    }

    /// Put back the view of table `t` as it was (its columns fewer: dropped and created).
    fn restore_view(&self, t: usize) -> String {
        format!("DROP VIEW v_{};\n{}", self.tables[t].name, self.view_sql(t))
    }

    /// The enum of table `t` with `n` values.
    fn values(n: usize) -> String {
        (1..=n)
            .map(|v| format!("'s{v}'"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The trigger of table `t` at `version`: (create, drop).
    fn trigger_sql(&self, t: usize, version: usize) -> (String, String) {
        let name = &self.tables[t].name;
        if self.pg() {
            (
                format!(
                    "CREATE OR REPLACE FUNCTION {name}_touch() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n    -- version {version}\n    NEW.updated_at := now();\n    RETURN NEW;\nEND $$;"
                ),
                format!("DROP FUNCTION {name}_touch();"),
            )
        } else if self.mysql() {
            (
                format!(
                    "CREATE TRIGGER {name}_touch BEFORE UPDATE ON {name} FOR EACH ROW SET NEW.updated_at = NOW() + INTERVAL {version} SECOND;"
                ),
                format!("DROP TRIGGER {name}_touch;"),
            )
        } else {
            (
                format!(
                    "CREATE TRIGGER {name}_touch AFTER UPDATE OF name ON {name} BEGIN UPDATE {name} SET updated_at = datetime('now', '+{version} seconds') WHERE id = NEW.id; END;"
                ),
                format!("DROP TRIGGER {name}_touch;"),
            )
        }
    }

    /// The up and down sections of migration `i`.
    fn next(&mut self, i: usize) -> (String, String) {
        let kind = if self.tables.is_empty() { 0 } else { i % 8 };
        let last = self.tables.len().saturating_sub(1);
        // An earlier table, spread over the history.
        let earlier = (i * 7) % self.tables.len().max(1);
        match kind {
            0 => self.table(i),
            1 if !self.tables[last].view => {
                self.tables[last].view = true;
                let name = self.tables[last].name.clone();
                (self.view_sql(last), format!("DROP VIEW v_{name};"))
            }
            2 if !self.tables[last].trigger => {
                self.tables[last].trigger = true;
                let name = self.tables[last].name.clone();
                let (create, drop) = self.trigger_sql(last, 1);
                if self.pg() {
                    (
                        format!(
                            "{create}\nCREATE TRIGGER {name}_touch BEFORE UPDATE ON {name} FOR EACH ROW EXECUTE FUNCTION {name}_touch();"
                        ),
                        format!("DROP TRIGGER {name}_touch ON {name};\n{drop}"),
                    )
                } else {
                    (create, drop)
                }
            }
            3 if self.tables[earlier].view => {
                let column = format!("extra_{i}");
                let name = self.tables[earlier].name.clone();
                let restore = self.restore_view(earlier);
                self.tables[earlier].extras.push(column.clone());
                let up = format!(
                    "ALTER TABLE {name} ADD COLUMN {column} VARCHAR(50);\n{}",
                    self.replace_view(earlier)
                );
                (
                    up,
                    format!("{restore}\nALTER TABLE {name} DROP COLUMN {column};"),
                )
            }
            4 if self.tables[earlier].trigger => {
                let version = self.tables[earlier].version;
                self.tables[earlier].version += 1;
                let (old, _) = self.trigger_sql(earlier, version);
                let (new, drop) = self.trigger_sql(earlier, version + 1);
                if self.pg() {
                    (new, old)
                } else {
                    (format!("{drop}\n{new}"), format!("{drop}\n{old}"))
                }
            }
            5 if self.backend != "sqlite" => {
                let n = self.tables[earlier].values;
                self.tables[earlier].values += 1;
                let name = self.tables[earlier].name.clone();
                if self.pg() {
                    (
                        format!("ALTER TYPE {name}_status ADD VALUE 's{}';", n + 1),
                        format!(
                            "ALTER TYPE {name}_status RENAME TO {name}_status_old;\nCREATE TYPE {name}_status AS ENUM ({});\nALTER TABLE {name} ALTER COLUMN status TYPE {name}_status USING status::text::{name}_status;\nDROP TYPE {name}_status_old;",
                            Self::values(n)
                        ),
                    )
                } else {
                    let modify = |n| {
                        format!(
                            "ALTER TABLE {name} MODIFY COLUMN status ENUM({});",
                            Self::values(n)
                        )
                    };
                    (modify(n + 1), modify(n))
                }
            }
            5 if self.tables[earlier].view => {
                // SQLite: the view re-created as it is (a deploy tool re-creating its views).
                let view = self.restore_view(earlier);
                (view.clone(), view)
            }
            6 => {
                let name = self.tables[earlier].name.clone();
                let index = format!("{name}_name_{i}");
                let drop = if self.mysql() {
                    format!("DROP INDEX {index} ON {name};")
                } else {
                    format!("DROP INDEX {index};")
                };
                (format!("CREATE INDEX {index} ON {name} (name, id);"), drop)
            }
            7 => {
                self.routines += 1;
                let r = self.routines;
                let name = self.tables[earlier].name.clone();
                if self.pg() {
                    (
                        format!(
                            "CREATE FUNCTION count_{r}() RETURNS bigint LANGUAGE plpgsql STABLE AS $$\nBEGIN\n    RETURN (SELECT count(*) FROM {name});\nEND $$;"
                        ),
                        format!("DROP FUNCTION count_{r}();"),
                    )
                } else if self.mysql() {
                    (
                        format!(
                            "CREATE PROCEDURE purge_{r}()\nBEGIN\n    DELETE FROM {name} WHERE updated_at IS NULL AND id < 0;\nEND;"
                        ),
                        format!("DROP PROCEDURE purge_{r};"),
                    )
                } else {
                    let other = &self.tables[last].name;
                    (
                        format!(
                            "CREATE VIEW pair_{r} AS SELECT a.id, b.name FROM {name} a JOIN {other} b ON b.id = a.id;"
                        ),
                        format!("DROP VIEW pair_{r};"),
                    )
                }
            }
            // What the kind needs is not there: a table.
            _ => self.table(i),
        }
    }

    /// A new table with a foreign key to the last one (and its enum).
    fn table(&mut self, i: usize) -> (String, String) {
        let name = format!("t{i}");
        let parent = self.tables.last().map(|t| t.name.clone());
        let key = parent
            .as_ref()
            .map(|p| format!(",\n    parent_id INTEGER REFERENCES {p} (id)"))
            .unwrap_or_default();
        let (up, down) = if self.pg() {
            (
                format!(
                    "CREATE TYPE {name}_status AS ENUM ({});\nCREATE TABLE {name} (\n    id INTEGER PRIMARY KEY,\n    name VARCHAR(50) NOT NULL,\n    status {name}_status,\n    updated_at TIMESTAMP{key}\n);",
                    Self::values(2)
                ),
                format!("DROP TABLE {name};\nDROP TYPE {name}_status;"),
            )
        } else {
            let status = if self.mysql() {
                format!("ENUM({})", Self::values(2))
            } else {
                "TEXT".to_owned()
            };
            (
                format!(
                    "CREATE TABLE {name} (\n    id INTEGER PRIMARY KEY,\n    name VARCHAR(50) NOT NULL,\n    status {status},\n    updated_at TIMESTAMP NULL{key}\n);"
                ),
                format!("DROP TABLE {name};"),
            )
        };
        self.tables.push(Table {
            name,
            parent,
            extras: Vec::new(),
            values: 2,
            view: false,
            trigger: false,
            version: 1,
        });
        (up, down)
    }
}
