//! Planning, without a database: migration files, tracking rows and a target in; the steps to
//! run and the warnings to show, or a refusal, out. Every rule of SPEC §5.1–§5.4 about *what*
//! runs is decided here; nothing here does I/O or reports.
//!
//! `forwards.rs` and `backwards.rs` plan the two directions, `apps.rs` holds the rules between
//! apps (dependencies first, dependants protected), `status.rs` the statuses of `check` and the
//! missing rows of `clean`; this file the plan's shape and what they share.

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

mod apps;
mod backwards;
mod forwards;
mod status;

pub(crate) use apps::{dependencies, pending_dependencies};
pub(crate) use backwards::backwards;
pub(crate) use forwards::forwards;
pub(crate) use status::{missing, statuses};

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
            statements_done: r.statements_done,
            down: r.progress_is_down(),
        }),
        None => Ok(()),
    }
}
