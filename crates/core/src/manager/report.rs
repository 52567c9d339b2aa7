//! What a run reports: the migrations it names, its events, its confirmation prompts and
//! its result. Rendering all of this is the caller's business (the CLI's `render.rs`).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};

/// Which way a migration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Applying the up section.
    Forwards,
    /// Applying the down section.
    Backwards,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Forwards => "forwards",
            Direction::Backwards => "backwards",
        })
    }
}

/// A migration named in a plan, a prompt or a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedMigration {
    /// The app.
    pub app_name: String,
    /// The migration ID.
    pub migration_id: String,
    /// The description.
    pub description: String,
}

/// What a confirmation prompt is about.
#[derive(Debug, Clone)]
pub struct ConfirmRequest {
    /// The question, e.g. `Reverse 2 migration(s)?`.
    pub question: String,
    /// The migrations concerned, in the order they would run.
    pub items: Vec<PlannedMigration>,
}

/// Asks the user to confirm a plan. The CLI's implementation reads the terminal; core never
/// touches stdin or stdout.
pub trait Confirm: Send + Sync {
    /// `Ok(true)` to proceed, `Ok(false)` when declined, `Err` when no answer can be had
    /// (e.g. [`Error::ConfirmationUnavailable`] when stdin is not a terminal).
    fn confirm(&self, request: &ConfirmRequest) -> Result<bool>;
}

/// A [`Confirm`] that cannot ask: every confirmation fails with
/// [`Error::ConfirmationUnavailable`]. The default of [`Migrator`](crate::Migrator): pass `auto_agree` to
/// commands that would prompt.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConfirm;

impl Confirm for NoConfirm {
    fn confirm(&self, _: &ConfirmRequest) -> Result<bool> {
        Err(Error::ConfirmationUnavailable(
            "confirmation needed but no prompt is available; pass auto_agree (`-y`) to proceed"
                .into(),
        ))
    }
}

/// Progress and diagnostics from a run. Rendering is the caller's business.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A migration is about to run.
    Started {
        /// The migration.
        migration: &'a PlannedMigration,
        /// Which way.
        direction: Direction,
    },
    /// A migration finished successfully.
    Finished {
        /// The migration.
        migration: &'a PlannedMigration,
        /// Which way.
        direction: Direction,
        /// How long it took.
        elapsed: Duration,
        /// Recorded without running its SQL (`--fake`).
        faked: bool,
    },
    /// A migration ran in the run's one transaction, which is committed or rolled back at
    /// the end of the run (`--atomic`): nothing is applied yet.
    Ran {
        /// The migration.
        migration: &'a PlannedMigration,
        /// How long it took.
        elapsed: Duration,
    },
    /// What changed in a `changed` migration since it was applied, shown before
    /// `resolve --accept-changed` records the file's checksum and down section.
    Changed {
        /// The migration.
        migration: &'a PlannedMigration,
        /// The checksum in the tracking row.
        recorded_checksum: &'a str,
        /// The checksum of the file's up section now.
        file_checksum: &'a str,
        /// The down SQL in the tracking row (`None`: irreversible).
        recorded_down: Option<&'a str>,
        /// The file's down section now (`None`: irreversible).
        file_down: Option<&'a str>,
    },
    /// A migration ran in the rehearsal's transaction, to be rolled back (`--rehearse`).
    Rehearsed {
        /// The migration.
        migration: &'a PlannedMigration,
        /// How long it took.
        elapsed: Duration,
    },
    /// A migration was not run, and why (`--rehearse`: `no-transaction`).
    Skipped {
        /// The migration.
        migration: &'a PlannedMigration,
        /// Why, in a few words.
        reason: &'a str,
    },
    /// The SQL that would run (`--preview`).
    Preview {
        /// The migration.
        migration: &'a PlannedMigration,
        /// Which way.
        direction: Direction,
        /// The SQL.
        sql: &'a str,
    },
    /// A tracking row `clean` would forget (`--preview`).
    PreviewForget {
        /// The migration.
        migration: &'a PlannedMigration,
    },
    /// Something the user should know but that does not stop the run.
    Warning(String),
    /// Information.
    Notice(String),
    /// A file was deleted by `--clean`.
    Deleted(&'a Path),
}

/// Receives [`Event`]s.
pub trait Reporter: Send + Sync {
    /// Handle one event.
    fn report(&self, event: Event<'_>);
}

/// A closure is a [`Reporter`]:
///
/// ```
/// # fn demo(migrator: ferry_core::Migrator) -> ferry_core::Migrator {
/// use ferry_core::Event;
/// migrator.with_reporter(|event: Event<'_>| {
///     if let Event::Warning(text) = event {
///         eprintln!("warning: {text}");
///     }
/// })
/// # }
/// ```
impl<F> Reporter for F
where
    F: Fn(Event<'_>) + Send + Sync,
{
    fn report(&self, event: Event<'_>) {
        self(event)
    }
}

/// A [`Reporter`] that drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullReporter;

impl Reporter for NullReporter {
    fn report(&self, _: Event<'_>) {}
}

/// What a command came to, as data: the CLI picks its exit code and its wording from this,
/// never from the message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Outcome {
    /// The command ran, reversed, faked, forgot or resolved what it was asked to.
    #[default]
    Done,
    /// `preview`: the plan was reported and nothing was changed.
    Preview,
    /// There was nothing to do (nothing pending, nothing applied, no missing rows).
    NothingToDo,
    /// Forwards to an ID that is already applied: nothing was run.
    AlreadyApplied,
    /// The confirmation prompt was declined: nothing was changed.
    Declined,
    /// The migration ID named is not a migration of the app (forwards) or not applied
    /// (backwards): nothing was changed.
    NotFound,
}

impl Outcome {
    /// Whether the command did what was asked (or found nothing to do): false for
    /// [`Outcome::Declined`] and [`Outcome::NotFound`], as Piccolo's `success`.
    pub fn is_success(self) -> bool {
        !matches!(self, Outcome::Declined | Outcome::NotFound)
    }
}

/// The result of a command, as in Piccolo: `success` is false for a declined prompt or an
/// unknown ID; infrastructure failures are `Err` instead.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MigrationResult {
    /// Whether the command did what was asked (or found nothing to do):
    /// `outcome.is_success()`.
    pub success: bool,
    /// A message for the user.
    pub message: Option<String>,
    /// The migrations run, reversed, faked or forgotten, in order.
    pub migrations: Vec<PlannedMigration>,
    /// What the command came to.
    pub outcome: Outcome,
}

impl MigrationResult {
    /// A result with `outcome` and `message`, naming no migration yet.
    pub fn new(outcome: Outcome, message: impl Into<String>) -> Self {
        MigrationResult {
            success: outcome.is_success(),
            message: Some(message.into()),
            migrations: Vec::new(),
            outcome,
        }
    }

    /// The prompt was declined.
    pub(crate) fn declined() -> Self {
        Self::new(Outcome::Declined, "Not proceeding.")
    }
}

/// The status of one migration, as `ferry check` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Applied, and the file's up section is unchanged.
    Applied,
    /// A file with no tracking row.
    Pending,
    /// Applied, but the file's up section has changed since.
    Changed,
    /// Applied, but the file is gone.
    Missing,
    /// Left dirty by a run that failed outside a transaction.
    Dirty,
}

impl Status {
    /// The status as the lower-case word used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::Pending => "pending",
            Status::Changed => "changed",
            Status::Missing => "missing",
            Status::Dirty => "dirty",
        }
    }
}

/// The lower-case word of `ferry check` (`applied`, `pending`, ...).
///
/// ```
/// assert_eq!(ferry_core::Status::Changed.to_string(), "changed");
/// ```
impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `ferry check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    /// The app.
    pub app_name: String,
    /// The migration ID.
    pub migration_id: String,
    /// The description (from the file, else from the tracking row).
    pub description: String,
    /// True for `applied`, `changed`, `missing` and `dirty`.
    pub has_ran: bool,
    /// The status.
    pub status: Status,
    /// When it was applied (UTC), if it was.
    pub applied_at: Option<DateTime<Utc>>,
    /// For a dirty migration whose statements were counted (SPEC §14): how far it got.
    /// Serialized as its fields (`statements_done`, `statements_total`, `failed_at`), left
    /// out when `None`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// How far a dirty migration got (SPEC §14).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// How many statements ran (as recorded: a crash between a statement and its progress
    /// update leaves this one behind).
    pub statements_done: i64,
    /// How many statements the file's up section has now (`None` when the file is gone).
    pub statements_total: Option<usize>,
    /// Where the next statement (the one that failed, or may have run) starts in the file.
    pub failed_at: Option<String>,
    /// The statements counted are the down section's: a backwards run left the row dirty.
    /// Serialized as `statements_of`: `"down"` or `"up"`.
    #[serde(rename = "statements_of", serialize_with = "section_name")]
    pub down: bool,
}

fn section_name<S: serde::Serializer>(down: &bool, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(if *down { "down" } else { "up" })
}

impl Progress {
    /// `dirty: k-1 of n statements ran; failed at FILE:LINE` (`k-1 statement(s) ran` when the
    /// file is gone).
    pub fn describe(&self) -> String {
        let of = if self.down {
            " of its down section"
        } else {
            ""
        };
        let mut text = match self.statements_total {
            Some(total) => format!(
                "dirty: {} of {total} statements{of} ran",
                self.statements_done
            ),
            None => format!("dirty: {} statement(s){of} ran", self.statements_done),
        };
        if let Some(at) = &self.failed_at {
            text.push_str(&format!("; failed at {at}"));
        }
        text
    }
}
