//! The projects the scenarios run ferry on, written to a temporary folder.
//!
//! Every migration creates a table of its own, `t_<app>_<id>`, and inserts its own row
//! `(app, id)` into the side table `executions`; its down section deletes that row and drops
//! the table. So the side table counts how often each migration ran, and the tables say what
//! is in place, independently of ferry's tracking table.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::db::{Kind, EXECUTIONS};

/// The apps of the three-app project in registry order, with their `depends_on`. Dependency
/// order is accounts, catalog, orders: not the registry order.
const APPS: [(&str, &[&str]); 3] = [
    ("orders", &["accounts", "catalog"]),
    ("accounts", &[]),
    ("catalog", &["accounts"]),
];

/// [`APPS`] in dependency order.
const DEPENDENCY_ORDER: [&str; 3] = ["accounts", "catalog", "orders"];

/// One migration of a project.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mig {
    pub app: String,
    pub id: String,
}

impl Mig {
    /// The table it creates.
    pub fn table(&self) -> String {
        format!("t_{}_{}", self.app, self.id)
    }
}

/// A project in a temporary folder (removed on drop).
pub struct Project {
    dir: tempfile::TempDir,
    /// Every migration, in dependency order then ID order.
    pub migrations: Vec<Mig>,
}

impl Project {
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the project.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write `text` to `rel` inside the project.
    pub fn write(&self, rel: &str, text: &str) -> Result<()> {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    }
}

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("ferry-stress-")
        .tempdir()
        .context("cannot create a temporary folder")
}

/// `n` migrations over three apps with `depends_on` between them (about n/3 each). Each
/// migration also runs `work` (when given): before its other statements in even-numbered
/// migrations, after them in odd-numbered ones, so that a kill lands at either end.
/// The first migration of a dependent app reads the last table of each app it depends on,
/// so a wrong app order fails.
pub fn three_apps(kind: Kind, n: usize, work: Option<&str>) -> Result<Project> {
    let dir = tempdir()?;
    let mut config = String::new();
    for (app, deps) in APPS {
        config.push_str(&format!(
            "[[app]]\nname = \"{app}\"\nmigrations = \"migrations/{app}\"\n"
        ));
        if !deps.is_empty() {
            let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
            config.push_str(&format!("depends_on = [{}]\n", deps.join(", ")));
        }
        config.push('\n');
    }
    std::fs::write(dir.path().join("ferry.toml"), config)?;

    let sizes: Vec<usize> = (0..3).map(|i| n / 3 + usize::from(i < n % 3)).collect();
    let mut migrations = Vec::new();
    let mut last_of = std::collections::BTreeMap::new();
    for (app, &size) in DEPENDENCY_ORDER.iter().zip(&sizes) {
        let deps = APPS.iter().find(|(a, _)| a == app).map_or(&[][..], |a| a.1);
        for i in 1..=size {
            let mig = Mig {
                app: (*app).to_owned(),
                id: format!("{i:03}"),
            };
            let mut extra = String::new();
            if i == 1 {
                for (k, dep) in deps.iter().enumerate() {
                    let last: &Mig = last_of
                        .get(dep)
                        .with_context(|| format!("app {dep} has no migrations"))?;
                    extra.push_str(&format!(
                        "INSERT INTO {} (id) SELECT count(*) + {} FROM {};\n",
                        mig.table(),
                        k + 1,
                        last.table()
                    ));
                }
            }
            let work_first = i % 2 == 0;
            write_migration(dir.path(), kind, &mig, &extra, work, work_first)?;
            migrations.push(mig.clone());
            last_of.insert(*app, mig);
        }
    }
    Ok(Project { dir, migrations })
}

/// One app `accounts` with three migrations; the second one sleeps `slow_secs` on the server
/// after creating its table and inserting its row.
pub fn slow_app(kind: Kind, slow_secs: u32) -> Result<Project> {
    let dir = tempdir()?;
    std::fs::write(
        dir.path().join("ferry.toml"),
        "[[app]]\nname = \"accounts\"\nmigrations = \"migrations/accounts\"\n",
    )?;
    let slow = kind.slow_work(slow_secs);
    let mut migrations = Vec::new();
    for i in 1..=3 {
        let mig = Mig {
            app: "accounts".to_owned(),
            id: format!("{i:03}"),
        };
        let work = (i == 2).then_some(slow.as_str());
        write_migration(dir.path(), kind, &mig, "", work, false)?;
        migrations.push(mig);
    }
    Ok(Project { dir, migrations })
}

fn write_migration(
    dir: &Path,
    kind: Kind,
    mig: &Mig,
    extra: &str,
    work: Option<&str>,
    work_first: bool,
) -> Result<()> {
    let table = mig.table();
    let (app, id) = (&mig.app, &mig.id);
    let work = work.map(|w| format!("{w}\n")).unwrap_or_default();
    let (before, after) = if work_first {
        (work.as_str(), "")
    } else {
        ("", work.as_str())
    };
    let note = match kind {
        Kind::Sqlite | Kind::Postgres => "VARCHAR(50)",
        Kind::Mysql => "VARCHAR(50) NULL",
    };
    let text = format!(
        "-- ferry:description create {table}\n\
         -- ferry:up\n\
         {before}\
         CREATE TABLE {table} (id INTEGER PRIMARY KEY, note {note});\n\
         {extra}\
         INSERT INTO {EXECUTIONS} (app, id) VALUES ('{app}', '{id}');\n\
         {after}\
         \n\
         -- ferry:down\n\
         {before}\
         DELETE FROM {EXECUTIONS} WHERE app = '{app}' AND id = '{id}';\n\
         DROP TABLE {table};\n\
         {after}"
    );
    let folder = dir.join("migrations").join(app);
    std::fs::create_dir_all(&folder)?;
    let path = folder.join(format!("{id}_create_{table}.sql"));
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The ID of migration `i` (1-based) of [`ddl_app`].
pub fn ddl_id(i: usize) -> String {
    format!("{i:03}")
}

/// The tables migration `id` of [`ddl_app`] creates, in the order its up section creates
/// them (its down section drops them in reverse).
pub fn ddl_tables(id: &str) -> Vec<String> {
    ["a", "b", "c", "d"]
        .iter()
        .map(|s| format!("s_{id}_{s}"))
        .collect()
}

/// One app `ddl` with `n` migrations of four DDL statements each: `CREATE TABLE` of its four
/// [`ddl_tables`] (down: `DROP TABLE` of each, in reverse). On MySQL/MariaDB each statement
/// commits on its own, so they run under the counted dirty protocol (SPEC §14).
pub fn ddl_app(n: usize) -> Result<Project> {
    let dir = tempdir()?;
    std::fs::write(
        dir.path().join("ferry.toml"),
        "[[app]]\nname = \"ddl\"\nmigrations = \"migrations/ddl\"\n",
    )?;
    let folder = dir.path().join("migrations/ddl");
    std::fs::create_dir_all(&folder)?;
    let mut migrations = Vec::new();
    for i in 1..=n {
        let id = ddl_id(i);
        let tables = ddl_tables(&id);
        let up: String = tables
            .iter()
            .map(|t| format!("CREATE TABLE {t} (id INT);\n"))
            .collect();
        let down: String = tables
            .iter()
            .rev()
            .map(|t| format!("DROP TABLE {t};\n"))
            .collect();
        let path = folder.join(format!("{id}_four_tables.sql"));
        std::fs::write(&path, format!("-- ferry:up\n{up}-- ferry:down\n{down}"))
            .with_context(|| format!("cannot write {}", path.display()))?;
        migrations.push(Mig {
            app: "ddl".to_owned(),
            id,
        });
    }
    Ok(Project { dir, migrations })
}
