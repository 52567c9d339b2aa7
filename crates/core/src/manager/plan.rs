//! Planning, without a database: migration files, tracking rows and a target in; the steps to
//! run and the warnings to show, or a refusal, out. Every rule of SPEC §5.1–§5.4 about *what*
//! runs is decided here; nothing here does I/O or reports.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::context::Rows;
use super::report::{
    MigrationResult, MigrationStatus, Outcome, PlannedMigration, Progress, Status,
};
use super::target::{BackwardsTarget, ForwardsTarget};
use crate::driver::tracking::AppliedMigration;
use crate::error::{Error, Result};
use crate::project::migration::{compare_ids, Migration, Section};
use crate::project::policy::OutOfOrder;
use crate::project::registry::{AppConfig, AppRegistry, MigrationSource};

/// Something to tell the user that does not stop the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Note {
    /// A warning (checksum changed, out of order).
    Warning(String),
    /// Information (down SQL taken from the tracking row).
    Notice(String),
}

/// What a plan with no step means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Empty {
    /// Nothing pending, or nothing applied: the message says which.
    NothingToDo(&'static str),
    /// Forwards to an ID that is already applied.
    AlreadyApplied(String),
    /// The ID is not a migration of the app, or not applied: the message says which.
    NotFound(String),
}

/// A plan: the steps in the order they run, what to tell the user, and what an empty plan
/// means.
#[derive(Debug, Clone)]
pub(crate) struct Plan<S> {
    pub steps: Vec<S>,
    pub notes: Vec<Note>,
    pub empty: Empty,
}

impl<S> Plan<S> {
    /// The result of a plan with no step; `None` when there is something to run.
    pub(crate) fn stop(&self) -> Option<MigrationResult> {
        if !self.steps.is_empty() {
            return None;
        }
        Some(match &self.empty {
            Empty::NothingToDo(message) => MigrationResult::new(Outcome::NothingToDo, *message),
            Empty::AlreadyApplied(id) => MigrationResult::new(
                Outcome::AlreadyApplied,
                format!("Migration {id} is already applied; nothing to do"),
            ),
            Empty::NotFound(message) => MigrationResult::new(Outcome::NotFound, message.clone()),
        })
    }
}

/// One migration to apply.
#[derive(Debug, Clone)]
pub(crate) struct ForwardsStep {
    pub app: String,
    pub migration: Migration,
}

impl ForwardsStep {
    pub(crate) fn planned(&self) -> PlannedMigration {
        planned(&self.app, &self.migration.id, &self.migration.description)
    }
}

/// One migration to reverse.
#[derive(Debug, Clone)]
pub(crate) struct BackwardsStep {
    pub planned: PlannedMigration,
    pub down: Section,
    /// The migration's files (deleted by `--clean`).
    pub files: Vec<PathBuf>,
    /// The app's folder (`--clean` deletes only inside it).
    pub dir: Option<PathBuf>,
}

pub(crate) fn planned(app: &str, id: &str, description: &str) -> PlannedMigration {
    PlannedMigration {
        app_name: app.to_owned(),
        migration_id: id.to_owned(),
        description: description.to_owned(),
    }
}

/// The key under which an ID is looked up: IDs compare as numbers (`compare_ids`), so `007`
/// and `7` are one ID, and equal IDs are equal strings once their leading zeros are gone.
fn id_key(id: &str) -> &str {
    id.trim_start_matches('0')
}

/// Lookup by migration ID in one app's rows or files, built once per plan so that planning
/// stays linear in the number of migrations (a scan per lookup made `check` quadratic). The
/// first of two numerically equal IDs wins, as a scan in order would find it.
struct ById<'a, T>(HashMap<&'a str, &'a T>);

impl<'a, T> ById<'a, T> {
    fn new(items: &'a [T], id: impl Fn(&'a T) -> &'a str) -> Self {
        let mut map = HashMap::with_capacity(items.len());
        for item in items {
            map.entry(id_key(id(item))).or_insert(item);
        }
        ById(map)
    }

    fn get(&self, id: &str) -> Option<&'a T> {
        self.0.get(id_key(id)).copied()
    }
}

fn rows_by_id(rows: &[AppliedMigration]) -> ById<'_, AppliedMigration> {
    ById::new(rows, |r| r.migration_id.as_str())
}

fn files_by_id(files: &[Migration]) -> ById<'_, Migration> {
    ById::new(files, |f| f.id.as_str())
}

/// SPEC §5.1.5: refuse while any migration of the app is dirty.
fn refuse_dirty(app: &str, rows: &[AppliedMigration]) -> Result<()> {
    match rows.iter().find(|r| r.dirty) {
        Some(r) => Err(Error::Dirty {
            app: app.to_owned(),
            id: r.migration_id.clone(),
        }),
        None => Ok(()),
    }
}

/// SPEC §5.1: the pending migrations of each app that `target` selects, apps in the order
/// given (dependency order).
pub(crate) fn forwards(
    apps: &[AppConfig],
    files: &[Vec<Migration>],
    rows: &Rows,
    target: &ForwardsTarget,
    out_of_order: OutOfOrder,
) -> Result<Plan<ForwardsStep>> {
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let mut not_found = None;
    let mut already_applied = None;
    for (app, files) in apps.iter().zip(files) {
        let rows = rows.of(&app.name);
        refuse_dirty(&app.name, rows)?;
        let row_of = rows_by_id(rows);
        // §5.1.5: a changed checksum warns, it does not refuse.
        for mig in files {
            if row_of
                .get(&mig.id)
                .is_some_and(|row| row.checksum != mig.checksum)
            {
                notes.push(Note::Warning(format!(
                    "migration {} {} was changed after it was applied (checksum differs); the change will not be run{}",
                    app.name,
                    mig.id,
                    mig.file().map(|f| format!(": {}", f.display())).unwrap_or_default()
                )));
            }
        }
        // §5.1.1: pending = files without a row, in ID order.
        let pending = files.iter().filter(|f| row_of.get(&f.id).is_none());
        // §5.1.2: all, the first one, or up to an ID.
        let chosen: Vec<&Migration> = match target {
            ForwardsTarget::All => pending.collect(),
            ForwardsTarget::Next => pending.take(1).collect(),
            ForwardsTarget::UpTo(id) => {
                if row_of.get(id).is_some() {
                    already_applied.get_or_insert_with(|| id.clone());
                    continue;
                }
                if files_by_id(files).get(id).is_none() {
                    not_found.get_or_insert_with(|| format!(
                        "migration ID {id} is not a migration of app `{}`; run `ferry check {}` to see its migrations",
                        app.name, app.name
                    ));
                    continue;
                }
                pending.filter(|f| compare_ids(&f.id, id).is_le()).collect()
            }
        };
        // §5.1.4 and §5.1.12: older than the highest applied ID runs with a warning, runs
        // silently, or refuses the whole run, as the policy says.
        if let Some(highest) = rows
            .iter()
            .map(|r| r.migration_id.as_str())
            .max_by(|a, b| compare_ids(a, b))
        {
            let older: Vec<&&Migration> = chosen
                .iter()
                .filter(|m| compare_ids(&m.id, highest).is_lt())
                .collect();
            match out_of_order {
                OutOfOrder::Refuse if !older.is_empty() => {
                    return Err(Error::OutOfOrder {
                        app: app.name.clone(),
                        ids: older.iter().map(|m| m.id.clone()).collect(),
                        highest: highest.to_owned(),
                    })
                }
                OutOfOrder::Warn => {
                    for mig in older {
                        notes.push(Note::Warning(format!(
                            "migration {} {} is out of order: it is older than {}, which is already applied",
                            app.name, mig.id, highest
                        )));
                    }
                }
                _ => {}
            }
        }
        steps.extend(chosen.into_iter().map(|mig| ForwardsStep {
            app: app.name.clone(),
            migration: mig.clone(),
        }));
    }
    // §5.1.2 and §5.1.3: an unknown ID fails, an applied one succeeds, else nothing to do.
    let empty = match (not_found, already_applied) {
        (Some(message), _) => Empty::NotFound(message),
        (None, Some(id)) => Empty::AlreadyApplied(id),
        (None, None) => Empty::NothingToDo("No migrations need to be run"),
    };
    Ok(Plan {
        steps,
        notes,
        empty,
    })
}

/// SPEC §5.2: the applied migrations of each app that `target` selects, newest first, apps in
/// the order given (reverse dependency order). `rows` holds every app's rows, for rule 10.
///
/// With `fake` (SPEC §5.2.11) no down SQL runs, so a migration without one is no refusal.
pub(crate) fn backwards(
    registry: &AppRegistry,
    apps: &[AppConfig],
    files: &[Vec<Migration>],
    rows: &Rows,
    target: &BackwardsTarget,
    fake: bool,
) -> Result<Plan<BackwardsStep>> {
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let mut not_found = None;
    for (app, files) in apps.iter().zip(files) {
        // §5.2.1: a stack in apply order.
        let app_rows = rows.of(&app.name);
        if app_rows.is_empty() {
            continue;
        }
        refuse_dirty(&app.name, app_rows)?;
        // §5.2.2: the newest, all, or an applied ID and everything applied after it.
        let selected: &[AppliedMigration] = match target {
            BackwardsTarget::All => app_rows,
            BackwardsTarget::Last => &app_rows[app_rows.len() - 1..],
            BackwardsTarget::From(id) => {
                match app_rows
                    .iter()
                    .position(|r| compare_ids(&r.migration_id, id).is_eq())
                {
                    Some(pos) => &app_rows[pos..],
                    None => {
                        let ids: Vec<&str> =
                            app_rows.iter().map(|r| r.migration_id.as_str()).collect();
                        not_found.get_or_insert_with(|| {
                            format!(
                                "migration {id} of app `{}` is not applied; applied IDs: {}",
                                app.name,
                                ids.join(", ")
                            )
                        });
                        continue;
                    }
                }
            }
        };
        let file_of = files_by_id(files);
        for row in selected.iter().rev() {
            // §5.2.4: the file's down section, else the stored one, else refuse.
            let file = file_of.get(&row.migration_id);
            let down = match file {
                Some(f) => f.down.clone(),
                None => {
                    if row.down_sql.is_some() && !fake {
                        notes.push(Note::Notice(format!(
                            "the file of migration {} {} is gone; using the down SQL stored when it was applied",
                            app.name, row.migration_id
                        )));
                    }
                    row.down_sql.clone().map(Section::new)
                }
            };
            let down = match down {
                Some(down) => Some(down),
                None if fake => Some(Section::new(String::new())),
                None => None,
            };
            let Some(down) = down else {
                return Err(Error::Irreversible {
                    app: app.name.clone(),
                    id: row.migration_id.clone(),
                });
            };
            steps.push(BackwardsStep {
                planned: planned(
                    &app.name,
                    &row.migration_id,
                    file.map_or(row.description.as_str(), |f| f.description.as_str()),
                ),
                down,
                // Only a folder's files are ever deleted (`--clean`); embedded ones have none.
                files: match app.source() {
                    MigrationSource::Dir(_) => file.map(|f| f.files.clone()).unwrap_or_default(),
                    MigrationSource::Embedded(_) => Vec::new(),
                },
                dir: app.migrations_dir.clone(),
            });
        }
    }
    // §5.2.2 and §5.2.3: a not-applied ID fails, else nothing to reverse.
    let empty = match not_found {
        Some(message) => Empty::NotFound(message),
        None => Empty::NothingToDo("No migrations to reverse"),
    };
    if !steps.is_empty() {
        refuse_orphaning(registry, apps, rows, &steps)?;
    }
    Ok(Plan {
        steps,
        notes,
        empty,
    })
}

/// SPEC §5.1.11: the apps `app` depends on, directly or through other apps, in dependency
/// order.
pub(crate) fn dependencies(registry: &AppRegistry, app: &str) -> Vec<AppConfig> {
    let mut wanted: HashSet<&str> = HashSet::new();
    let mut stack = vec![app];
    while let Some(name) = stack.pop() {
        let Ok(config) = registry.get(name) else {
            continue;
        };
        for dep in &config.depends_on {
            if wanted.insert(dep.as_str()) {
                stack.push(dep.as_str());
            }
        }
    }
    registry
        .dependency_order()
        .into_iter()
        .filter(|a| wanted.contains(a.name.as_str()))
        .cloned()
        .collect()
}

/// SPEC §5.1.11: the apps of `deps` that have pending migrations, with how many, in the
/// order given.
pub(crate) fn pending_dependencies(
    deps: &[AppConfig],
    files: &[Vec<Migration>],
    rows: &Rows,
) -> Vec<(String, usize)> {
    deps.iter()
        .zip(files)
        .filter_map(|(app, files)| {
            let row_of = rows_by_id(rows.of(&app.name));
            let n = files.iter().filter(|f| row_of.get(&f.id).is_none()).count();
            (n > 0).then(|| (app.name.clone(), n))
        })
        .collect()
}

/// SPEC §5.2.10: the apps that depend on `app`, directly or through other apps, in registry
/// order.
fn dependants(registry: &AppRegistry, app: &str) -> Vec<String> {
    let mut found: HashSet<String> = HashSet::new();
    let mut stack = vec![app.to_owned()];
    while let Some(name) = stack.pop() {
        for d in registry.dependants_of(&name) {
            if found.insert(d.name.clone()) {
                stack.push(d.name.clone());
            }
        }
    }
    registry
        .apps()
        .iter()
        .filter(|a| found.contains(&a.name))
        .map(|a| a.name.clone())
        .collect()
}

/// SPEC §5.2.10: refuse to empty an app while an app that depends on it, directly or through
/// other apps, keeps applied migrations (and is not emptied by the same command).
fn refuse_orphaning(
    registry: &AppRegistry,
    apps: &[AppConfig],
    rows: &Rows,
    steps: &[BackwardsStep],
) -> Result<()> {
    let reversed = |app: &str| steps.iter().filter(|s| s.planned.app_name == app).count();
    let applied = |app: &str| rows.of(app).len();
    for app in apps {
        let n = reversed(&app.name);
        if n == 0 || n < applied(&app.name) {
            continue;
        }
        let dependants: Vec<String> = dependants(registry, &app.name)
            .into_iter()
            .filter(|d| applied(d) > reversed(d))
            .collect();
        if !dependants.is_empty() {
            return Err(Error::DependantsApplied {
                app: app.name.clone(),
                dependants,
            });
        }
    }
    Ok(())
}

/// SPEC §5.3.1–2: one status per file plus one per row without a file, in ID order per app.
pub(crate) fn statuses(
    apps: &[AppConfig],
    files: &[Vec<Migration>],
    rows: &Rows,
    dialect: crate::sql::Dialect,
) -> Vec<MigrationStatus> {
    let mut out = Vec::new();
    for (app, files) in apps.iter().zip(files) {
        let rows = rows.of(&app.name);
        let (row_of, file_of) = (rows_by_id(rows), files_by_id(files));
        let mut entries: Vec<MigrationStatus> = Vec::with_capacity(files.len());
        for mig in files {
            let row = row_of.get(&mig.id);
            let status = match row {
                None => Status::Pending,
                Some(r) if r.dirty => Status::Dirty,
                Some(r) if r.checksum != mig.checksum => Status::Changed,
                Some(_) => Status::Applied,
            };
            entries.push(MigrationStatus {
                app_name: app.name.clone(),
                migration_id: mig.id.clone(),
                description: mig.description.clone(),
                has_ran: row.is_some(),
                status,
                applied_at: row.map(|r| r.applied_at),
                progress: row
                    .filter(|r| r.dirty)
                    .and_then(|r| progress(r, Some(mig), dialect)),
            });
        }
        for row in rows
            .iter()
            .filter(|r| file_of.get(&r.migration_id).is_none())
        {
            entries.push(MigrationStatus {
                app_name: app.name.clone(),
                migration_id: row.migration_id.clone(),
                description: row.description.clone(),
                has_ran: true,
                status: if row.dirty {
                    Status::Dirty
                } else {
                    Status::Missing
                },
                applied_at: Some(row.applied_at),
                progress: progress(row, None, dialect).filter(|_| row.dirty),
            });
        }
        entries.sort_by(|a, b| compare_ids(&a.migration_id, &b.migration_id));
        out.extend(entries);
    }
    out
}

/// How far a dirty `row` got (SPEC §14), with its file's statements where there is one.
fn progress(
    row: &AppliedMigration,
    file: Option<&Migration>,
    dialect: crate::sql::Dialect,
) -> Option<Progress> {
    let done = row.statements_done?;
    let statements = file.map(|f| crate::sql::split_statements(&f.up.sql, dialect));
    let failed_at = file.zip(statements.as_ref()).and_then(|(f, s)| {
        let next = s.get(usize::try_from(done).ok()?)?;
        Some(super::apply::statement_at(&f.up, next))
    });
    Some(Progress {
        statements_done: done,
        statements_total: statements.map(|s| s.len()),
        failed_at,
    })
}

/// SPEC §5.4: the `missing` rows (applied, clean, file gone) of each app.
pub(crate) fn missing(
    apps: &[AppConfig],
    files: &[Vec<Migration>],
    rows: &Rows,
) -> Plan<PlannedMigration> {
    let mut steps = Vec::new();
    for (app, files) in apps.iter().zip(files) {
        let file_of = files_by_id(files);
        for row in rows.of(&app.name) {
            if !row.dirty && file_of.get(&row.migration_id).is_none() {
                steps.push(planned(&app.name, &row.migration_id, &row.description));
            }
        }
    }
    Plan {
        steps,
        notes: Vec::new(),
        empty: Empty::NothingToDo("No missing migrations to forget"),
    }
}
