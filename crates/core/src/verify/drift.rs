//! `drift` (SPEC §12): does the database still match its migrations?
//!
//! Three steps, each its own function so that the caller (the CLI) owns the scratch database
//! between them and a fleet can share one replay between targets of one history:
//! 1. [`read_live`]: under the live database's migration lock, its tracking rows in apply
//!    order and a snapshot of its schema ([`Driver::snapshot`]: read whole, never with
//!    [`Driver::track_changes`], which is for scratch databases only). Nothing is written.
//! 2. [`Replay::plan`] and [`Replay::run`]: the up section of every applied migration, in the
//!    live apply order, from its file, on a scratch database; its snapshot is the expected
//!    schema. A dirty row or a missing file refuses; a changed file is replayed as it is now
//!    and listed.
//! 3. [`compare`]: the expected schema against the live one, less the objects `drift_ignore`
//!    names.
//!
//! ```
//! use ferry_core::drift::compare;
//! use ferry_core::schema::Schema;
//! let mut expected = Schema::default();
//! expected.add("table", "users");
//! expected.add("column", "users.id").set("type", "integer");
//! let mut live = expected.clone();
//! live.add("column", "users.id").set("type", "bigint");
//! live.add("table", "hand_made");
//! live.add("column", "hand_made.id").set("type", "integer");
//! live.add("table", "pgbench_accounts");
//! let found = compare(&expected, &live, &["pgbench_*".to_owned()]).unwrap();
//! let lines: Vec<String> = found.iter().map(|d| d.to_string()).collect();
//! // A whole extra table is one line: its columns are not listed again.
//! assert_eq!(lines, ["column users.id: type integer → bigint", "table hand_made: extra no → yes"]);
//! ```

use std::collections::{BTreeSet, HashMap};

use crate::driver::tracking::AppliedMigration;
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::manager::Migrator;
use crate::project::migration::Migration;
use crate::schema::{Difference, Schema};

/// What [`read_live`] found on the live database.
#[derive(Debug, Clone, Default)]
pub struct LiveDatabase {
    /// Every tracking row, of every app, in apply order (none when there is no tracking table).
    pub applied: Vec<AppliedMigration>,
    /// The schema now (tracking and lock tables left out).
    pub schema: Schema,
}

/// Under the migration lock of the migrator's (live) database, read every tracking row and
/// the schema, then release the lock. Creates and writes nothing (a lease lock's own row
/// excepted, in its lock table); the lock keeps a run from changing the database between
/// the two reads.
pub async fn read_live(m: &mut Migrator) -> Result<LiveDatabase> {
    m.take_lock().await?;
    let read = async {
        let exists = m
            .driver
            .table_exists()
            .await
            .map_err(Error::db("reading the tracking table"))?;
        let applied = if exists {
            m.read_existing_rows(&[]).await?.into_apply_order()
        } else {
            Vec::new()
        };
        let schema = m
            .driver
            .snapshot()
            .await
            .map_err(Error::db("reading the database's schema"))?;
        Ok(LiveDatabase { applied, schema })
    }
    .await;
    m.unlock(read).await
}

/// One applied migration to replay.
#[derive(Debug, Clone)]
pub struct ReplayStep {
    /// Its app.
    pub app_name: String,
    /// The migration, as its file reads now.
    pub migration: Migration,
}

/// The replay of a database's applied history: its steps in apply order, and which of them
/// come from a file changed since it was applied.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// The migrations to apply, up sections only, in the live apply order.
    pub steps: Vec<ReplayStep>,
    /// `(app, migration ID)` of the steps whose file changed since they were applied: replayed
    /// as the file is now.
    pub changed: Vec<(String, String)>,
    /// The applied history: `(app, ID, checksum)` of each row in apply order. Databases with
    /// the same history have the same expected schema (a fleet replays it once).
    pub history: Vec<(String, String, String)>,
}

impl Replay {
    /// The replay of `applied` (tracking rows in apply order) from `files` (each app's
    /// migrations by app name). Refused, naming them, when a row is dirty (nothing is known of
    /// what it did) or when a row's file is gone (it cannot be replayed).
    pub fn plan(
        applied: &[AppliedMigration],
        files: &HashMap<String, Vec<Migration>>,
    ) -> Result<Replay> {
        let dirty: Vec<String> = applied
            .iter()
            .filter(|r| r.row.dirty)
            .map(|r| format!("{} {}", r.row.app_name, r.row.migration_id))
            .collect();
        if !dirty.is_empty() {
            return Err(Error::Unsuccessful(format!(
                "cannot tell what to expect: dirty migration{} {} (a run failed part-way outside a transaction); inspect the database and run `ferry resolve <app> <ID> --applied|--reverted` first; nothing was replayed",
                if dirty.len() == 1 { "" } else { "s" },
                dirty.join(", ")
            )));
        }
        let mut replay = Replay::default();
        let mut missing = Vec::new();
        for row in applied {
            let row = &row.row;
            replay.history.push((
                row.app_name.clone(),
                row.migration_id.clone(),
                row.checksum.clone(),
            ));
            let file = files
                .get(&row.app_name)
                .and_then(|list| list.iter().find(|m| m.id == row.migration_id));
            let Some(migration) = file else {
                missing.push(format!("{} {}", row.app_name, row.migration_id));
                continue;
            };
            if migration.checksum != row.checksum {
                replay
                    .changed
                    .push((row.app_name.clone(), row.migration_id.clone()));
            }
            replay.steps.push(ReplayStep {
                app_name: row.app_name.clone(),
                migration: migration.clone(),
            });
        }
        if !missing.is_empty() {
            return Err(Error::Unsuccessful(format!(
                "cannot replay applied migration{} {}: no migration file (status `missing`); restore the file, or `ferry clean` its row; nothing was replayed",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            )));
        }
        Ok(replay)
    }

    /// Apply every step's up section on `scratch` (a scratch database: it is written), in
    /// order, under its migration lock, and return its schema then: the expected schema. A
    /// step that fails stops the replay with its error, naming the migration and its file.
    pub async fn run(&self, scratch: &mut dyn Driver) -> Result<Schema> {
        scratch
            .relax_durability()
            .await
            .map_err(Error::db("preparing the scratch database"))?;
        scratch
            .lock(Migrator::MAX_LOCK_TIMEOUT)
            .await
            .map_err(Error::db("taking the scratch database's migration lock"))?;
        let result = self.run_locked(scratch).await;
        let unlocked = scratch.unlock().await;
        let schema = result?;
        unlocked.map_err(Error::db("releasing the scratch database's lock"))?;
        Ok(schema)
    }

    async fn run_locked(&self, scratch: &mut dyn Driver) -> Result<Schema> {
        self.apply(scratch).await?;
        scratch
            .snapshot()
            .await
            .map_err(Error::db("reading the scratch database's schema"))
    }
}

impl Replay {
    /// Apply every step's up section on `scratch`, in order, without a lock and without a
    /// snapshot ([`Replay::run`] is this under the lock, then the snapshot; `lint` replays
    /// this way before the migrations it judges). A step that fails stops the replay with
    /// its error, naming the migration and its file.
    pub async fn apply(&self, scratch: &mut dyn Driver) -> Result<()> {
        for step in &self.steps {
            apply_up(scratch, &step.app_name, &step.migration)
                .await
                .map_err(|error| {
                    Error::Unsuccessful(format!(
                        "replaying the applied migrations on the scratch database: {error}"
                    ))
                })?;
        }
        Ok(())
    }
}

/// Run `migration`'s up section on `scratch` as a step without a tracking row; a failure is
/// [`Error::Execute`] naming the file and line.
pub(crate) async fn apply_up(
    scratch: &mut dyn Driver,
    app: &str,
    migration: &Migration,
) -> Result<()> {
    let up = &migration.up;
    if crate::sql::is_blank(&up.sql, scratch.capabilities().dialect) {
        return Ok(());
    }
    scratch
        .execute_step(&up.sql, up.no_transaction)
        .await
        .map_err(|source| Error::Execute {
            app: app.to_owned(),
            id: migration.id.clone(),
            file: up.file.clone(),
            line: source.line.map(|l| up.file_line(l)),
            source,
            dirty: false,
        })
}

/// The differences between `expected` (the replay's schema) and `live`, as
/// `<kind> <name>: <property> <expected> → <actual>` ([`Difference`]'s `before` is the
/// expected value, `after` the actual one). An object only in `live` is one difference of
/// property `extra` (`no → yes`), one only in `expected` of property `absent` (`yes → no`);
/// the columns, indexes, constraints and triggers of a table that is extra or absent as a
/// whole are not listed again. Objects whose name, or whose table's name, matches a glob of
/// `ignore` are left out. An invalid glob is a configuration error.
pub fn compare(expected: &Schema, live: &Schema, ignore: &[String]) -> Result<Vec<Difference>> {
    let patterns = ignore_patterns(ignore)?;
    let table_of = |schema: &Schema, kind: &str, name: &str| -> Option<String> {
        if kind == "column" {
            return name.rsplit_once('.').map(|(table, _)| table.to_owned());
        }
        schema
            .get(kind, name)
            .and_then(|p| p.get("table"))
            .map(str::to_owned)
    };
    let ignored = |schema: &Schema, kind: &str, name: &str| {
        let table = table_of(schema, kind, name);
        patterns
            .iter()
            .any(|p| p.matches(name) || table.as_deref().is_some_and(|t| p.matches(t)))
    };
    let mut found = Vec::new();
    for d in expected.differences(live) {
        let side = if d.property == "exists" && d.before == "no" {
            live
        } else {
            expected
        };
        if ignored(side, &d.object, &d.name) {
            continue;
        }
        let d = match (d.property.as_str(), d.before.as_str()) {
            ("exists", "no") => Difference::new(d.object, d.name, "extra", "no", "yes"),
            ("exists", _) => Difference::new(d.object, d.name, "absent", "yes", "no"),
            _ => d,
        };
        found.push(d);
    }
    // A whole table extra or absent stands for everything of it.
    let whole: BTreeSet<(String, String)> = found
        .iter()
        .filter(|d| d.object == "table" && d.property != "exists")
        .filter(|d| d.property == "extra" || d.property == "absent")
        .map(|d| (d.property.clone(), d.name.clone()))
        .collect();
    found.retain(|d| {
        if d.object == "table" || (d.property != "extra" && d.property != "absent") {
            return true;
        }
        let side = if d.property == "extra" {
            live
        } else {
            expected
        };
        match table_of(side, &d.object, &d.name) {
            Some(table) => !whole.contains(&(d.property.clone(), table)),
            None => true,
        }
    });
    Ok(found)
}

/// The objects of one PostgreSQL schema (a schema-per-tenant target, SPEC §11) of a snapshot
/// that reads every schema: those named `<name>.<object>`, named without that prefix, and with
/// `<name>.` taken out of their property values where it starts an identifier (a foreign
/// key's target, a default's sequence, a view's definition). So two tenants' schemas, and a
/// tenant's schema and the scratch schema a replay ran in, compare by what they hold. The
/// objects of other schemas, the schemas themselves and extensions (which belong to the
/// database) are left out.
///
/// ```
/// use ferry_core::schema::Schema;
/// let mut s = Schema::default();
/// s.add("table", "t1.kid");
/// s.add("foreign key", "t1.kid.fk").set("target", "t1.people(id)").set("table", "t1.kid");
/// s.add("table", "t2.kid");
/// s.add("schema", "t1");
/// let mine = ferry_core::drift::in_schema(&s, "t1");
/// assert_eq!(mine.len(), 2);
/// assert_eq!(mine.get("foreign key", "kid.fk").unwrap().get("target"), Some("people(id)"));
/// ```
pub fn in_schema(schema: &Schema, name: &str) -> Schema {
    let prefix = format!("{name}.");
    let unqualify = |value: &str| {
        let mut out = String::with_capacity(value.len());
        let mut last = 0;
        for (at, _) in value.match_indices(&prefix) {
            // Only where an identifier starts: not inside `xt1.`, nor `t1.t1.` (a table t1).
            let before = value[..at].chars().last();
            if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '$' || c == '.')) {
                out.push_str(&value[last..at]);
                last = at + prefix.len();
            }
        }
        out.push_str(&value[last..]);
        out
    };
    let mut mine = Schema::default();
    for (kind, object, props) in schema.objects() {
        let Some(local) = object.strip_prefix(&prefix) else {
            continue;
        };
        let added = mine.add(kind, local);
        for (property, value) in props.iter() {
            added.set(property, unqualify(value));
        }
    }
    mine
}

/// The globs of `drift_ignore`, checked.
pub fn ignore_patterns(ignore: &[String]) -> Result<Vec<glob::Pattern>> {
    ignore
        .iter()
        .map(|g| {
            glob::Pattern::new(g).map_err(|e| Error::Config {
                path: None,
                message: format!("drift_ignore: `{g}` is not a valid glob: {e}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::tracking::TrackingRow;

    fn row(row_id: i64, app: &str, id: &str, checksum: &str, dirty: bool) -> AppliedMigration {
        AppliedMigration {
            row_id,
            row: TrackingRow {
                app_name: app.into(),
                migration_id: id.into(),
                description: String::new(),
                checksum: checksum.into(),
                down_sql: None,
                applied_at: chrono::Utc::now(),
                duration_ms: 0,
                dirty,
            },
            statements_done: None,
            progress_checksum: None,
        }
    }

    fn files() -> HashMap<String, Vec<Migration>> {
        let mut files = HashMap::new();
        files.insert(
            "users".to_owned(),
            vec![
                Migration::new("1", "a", "CREATE TABLE a (id INT);", None),
                Migration::new("2", "b", "CREATE TABLE b (id INT);", None),
            ],
        );
        files.insert(
            "blog".to_owned(),
            vec![Migration::new("7", "c", "CREATE TABLE c (id INT);", None)],
        );
        files
    }

    #[test]
    fn plan_follows_apply_order_and_lists_changed_files() {
        let files = files();
        let sum = |app: &str, i: usize| files[app][i].checksum.clone();
        let applied = [
            row(1, "users", "1", &sum("users", 0), false),
            row(2, "blog", "7", "edited", false),
            row(3, "users", "2", &sum("users", 1), false),
        ];
        let replay = Replay::plan(&applied, &files).unwrap();
        let order: Vec<_> = replay
            .steps
            .iter()
            .map(|s| format!("{} {}", s.app_name, s.migration.id))
            .collect();
        assert_eq!(order, ["users 1", "blog 7", "users 2"]);
        assert_eq!(replay.changed, [("blog".to_owned(), "7".to_owned())]);
        assert_eq!(replay.history[1].2, "edited");
    }

    #[test]
    fn dirty_rows_and_missing_files_refuse_naming_them() {
        let files = files();
        let dirty = [
            row(1, "users", "1", "x", false),
            row(2, "users", "2", "x", true),
        ];
        let e = Replay::plan(&dirty, &files).unwrap_err().to_string();
        assert!(e.contains("dirty migration users 2"), "{e}");
        let missing = [
            row(1, "users", "9", "x", false),
            row(2, "gone", "1", "x", false),
        ];
        let e = Replay::plan(&missing, &files).unwrap_err().to_string();
        assert!(e.contains("migrations users 9, gone 1"), "{e}");
    }

    #[test]
    fn absent_objects_and_ignored_tables() {
        let mut expected = Schema::default();
        expected.add("table", "t");
        expected.add("column", "t.id").set("type", "int");
        expected.add("index", "t_idx").set("table", "t");
        expected.add("table", "u");
        expected.add("index", "u_idx").set("table", "u");
        let mut live = Schema::default();
        live.add("table", "u");
        live.add("table", "legacy_x");
        live.add("index", "legacy_x_idx").set("table", "legacy_x");
        let found = compare(&expected, &live, &["legacy_*".to_owned()]).unwrap();
        let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            ["index u_idx: absent yes → no", "table t: absent yes → no"]
        );
        assert!(compare(&expected, &live, &["[".to_owned()]).is_err());
    }

    #[test]
    fn in_schema_unqualifies_only_whole_identifiers() {
        let mut s = Schema::default();
        s.add("view", "t1.v").set(
            "definition",
            "SELECT t1.a FROM t1.people, xt1.other, t1.t1.x",
        );
        s.add("column", "t1.people.id")
            .set("default", "nextval('t1.people_id_seq'::regclass)");
        s.add("table", "t10.people");
        let mine = in_schema(&s, "t1");
        assert_eq!(mine.len(), 2);
        assert_eq!(
            mine.get("view", "v").unwrap().get("definition"),
            Some("SELECT a FROM people, xt1.other, t1.x")
        );
        assert_eq!(
            mine.get("column", "people.id").unwrap().get("default"),
            Some("nextval('people_id_seq'::regclass)")
        );
    }
}
