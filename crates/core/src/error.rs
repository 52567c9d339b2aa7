//! The error type of `ferry-core`.

use std::path::PathBuf;

use crate::driver::error::DriverError;
use crate::driver::lock::LockHolder;
use crate::text::seconds_text;

/// Everything that can go wrong in core. Variants carry the app, migration ID and file they
/// are about, so that a message can say exactly where to look.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `ferry.toml` (or the app layout) is invalid.
    #[error("{}{message}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Config {
        /// The config file, when the problem is in one.
        path: Option<PathBuf>,
        /// What is wrong and what to do.
        message: String,
    },
    /// A migration file is malformed.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    MigrationFile {
        /// The file.
        path: PathBuf,
        /// The 1-based line, where one applies.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The command line or call was malformed (e.g. `all` with an explicit migration ID).
    #[error("{0}")]
    Usage(String),
    /// The app is not in the registry.
    #[error("unknown app `{app}`; known apps: {}{}", if known.is_empty() { "(none)".to_owned() } else { known.join(", ") }, hint)]
    UnknownApp {
        /// The name asked for.
        app: String,
        /// The apps the registry has.
        known: Vec<String>,
        /// What to do about it, starting with `; ` (empty when nothing helps): built where the
        /// registry is known ([`crate::AppRegistry::get`]).
        hint: String,
    },
    /// Another run held the migration lock for longer than the lock timeout.
    #[error("another ferry run holds the lock{} (waited {}); try again when it has finished, or raise --lock-timeout", holder.as_ref().map(|h| format!(": {h}")).unwrap_or_default(), waited_text(*waited))]
    LockTimeout {
        /// How long this run waited.
        waited: std::time::Duration,
        /// Who holds the lock, where the backend can tell.
        holder: Option<LockHolder>,
    },
    /// The lease lock expired and another run took it over: this run stopped before it
    /// committed anything more. Nothing of migration `id` was committed.
    #[error("stopped at migration {app} {id}: {source}; migrations before it are applied, the rest are not (`ferry check` shows which); if another run took over, let it finish, otherwise raise lock_lease")]
    LockLost {
        /// The app.
        app: String,
        /// The migration that was not committed.
        id: String,
        /// The driver's report.
        source: DriverError,
    },
    /// Pending migrations older than an applied one, under `out_of_order = "refuse"`
    /// (SPEC §5.1.12): nothing was run.
    #[error("refusing to apply migrations of `{app}` out of order: {} {} older than {highest}, which is already applied; nothing was run (out-of-order policy `refuse`: apply them with --out-of-order warn, or give them IDs above {highest})", ids.join(", "), if ids.len() == 1 { "is" } else { "are" })]
    OutOfOrder {
        /// The app.
        app: String,
        /// The pending migrations older than `highest`, in ID order.
        ids: Vec<String>,
        /// The app's highest applied ID.
        highest: String,
    },
    /// A migration of the app is dirty: a previous run failed part-way outside a transaction.
    #[error("{}", dirty_refusal(app, id, *statements_done, *down))]
    Dirty {
        /// The app.
        app: String,
        /// The dirty migration.
        id: String,
        /// How many of its statements ran, where they were counted (SPEC §14): then
        /// `ferry resolve --resume` applies and the message says so.
        statements_done: Option<i64>,
        /// A backwards run left it dirty (the statements counted are its down section's).
        down: bool,
    },
    /// A migration in the range to reverse has no down section and no stored down SQL.
    #[error("migration {app} {id} is irreversible (it has no `-- ferry:down` section); nothing was reversed")]
    Irreversible {
        /// The app.
        app: String,
        /// The migration.
        id: String,
    },
    /// Reversing would leave a dependency without migrations under applied dependants.
    #[error("refusing to reverse every migration of `{app}`: {} depend(s) on it and still have applied migrations; reverse them first (or use `ferry backwards all`)", dependants.join(", "))]
    DependantsApplied {
        /// The app being emptied.
        app: String,
        /// The apps that depend on it and still have applied migrations.
        dependants: Vec<String>,
    },
    /// `forwards` of one app whose dependencies (directly or through other apps) have pending
    /// migrations (SPEC §5.1.11).
    #[error("refusing to run migrations of `{app}`: it depends on apps with pending migrations: {}; nothing was run; run `ferry forwards all` (dependencies first)", pending_text(pending))]
    DependenciesPending {
        /// The app asked for.
        app: String,
        /// Each dependency with pending migrations and how many, in dependency order.
        pending: Vec<(String, usize)>,
    },
    /// `--clean` would delete something that is not a regular file inside the app's folder.
    #[error("refusing to delete {}: {reason}; nothing was changed", path.display())]
    UnsafeDelete {
        /// The path.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// A confirmation was needed but cannot be asked (e.g. stdin is not a terminal).
    #[error("{0}")]
    ConfirmationUnavailable(String),
    /// A migration's SQL failed.
    #[error("migration {app} {id} failed{}: {source}{}", location(file, *line), dirty_note(app, id, *dirty))]
    Execute {
        /// The app.
        app: String,
        /// The migration.
        id: String,
        /// The file, when the migration came from one.
        file: Option<PathBuf>,
        /// The line within the file, where the database reported a position.
        line: Option<usize>,
        /// What the database said.
        source: DriverError,
        /// The migration ran outside a transaction and its row was left dirty.
        dirty: bool,
    },
    /// Statement `done + 1` of a migration whose statements are counted failed after the
    /// first `done` ran (SPEC §14): the row stays dirty with `statements_done = done`.
    #[error("{} {app} {id} failed{}: {source}\ndirty: {done} of {total} statements{} ran; failed at {at}\n{app} is blocked until you fix statement {} and run `ferry resolve {app} {id} --resume` (it runs statements {}..{total}{}), or inspect the database and run `ferry resolve {app} {id} --applied` or `--reverted`", if *down { "reversing migration" } else { "migration" }, location(file, *line), if *down { " of its down section" } else { "" }, done + 1, done + 1, if *down { " of the down section, then forgets the row" } else { "" })]
    ExecutePartial {
        /// The app.
        app: String,
        /// The migration.
        id: String,
        /// The file, when the migration came from one.
        file: Option<PathBuf>,
        /// The line within the file, where the database reported a position.
        line: Option<usize>,
        /// Where the failing statement starts: `FILE:LINE` (`line N` without a file).
        at: String,
        /// What the database said.
        source: DriverError,
        /// How many statements ran.
        done: usize,
        /// How many statements the section has.
        total: usize,
        /// The section is the down section (a backwards run).
        down: bool,
    },
    /// `resolve --resume` refused (SPEC §14.3): the file's statements that ran changed since,
    /// or the row's progress is unknown.
    #[error("cannot resume migration {app} {id}: {reason}; nothing was run")]
    ResumeRefused {
        /// The app.
        app: String,
        /// The migration.
        id: String,
        /// Why.
        reason: String,
    },
    /// `resolve` was asked for a migration that is not dirty.
    #[error("migration {app} {id} is not dirty{}", if *applied { " (it is applied)" } else { " (it has no tracking row)" })]
    NotDirty {
        /// The app.
        app: String,
        /// The migration.
        id: String,
        /// Whether a clean row exists.
        applied: bool,
    },
    /// `resolve --accept-changed` was asked for a migration whose status is not `changed`
    /// (SPEC §5.5).
    #[error("migration {app} {id} is not changed ({}): --accept-changed is for a `changed` migration only (applied, its file edited since; see `ferry check {app}`); nothing was changed", status_text(status))]
    NotChanged {
        /// The app.
        app: String,
        /// The migration.
        id: String,
        /// Its status (`applied`, `pending`, `missing`, `dirty`), or `unknown` when the app has
        /// neither a file nor a tracking row with that ID.
        status: String,
    },
    /// The tracking table's name is taken by a table that is not a ferry tracking table.
    #[error("table `{table}` exists but is not a ferry tracking table (reading it failed: {source}); nothing was changed: choose another name for ferry's table with --table NAME or `table = \"NAME\"` in ferry.toml")]
    NotTrackingTable {
        /// The tracking table's name.
        table: String,
        /// What the database said.
        source: DriverError,
    },
    /// A database operation other than a migration's own SQL failed.
    #[error("{context}: {source}")]
    Database {
        /// What ferry was doing.
        context: String,
        /// What the database said.
        source: DriverError,
    },
    /// The operation did not succeed for a reason that is not an infrastructure failure
    /// (declined prompt, unknown ID); the message says why.
    #[error("{0}")]
    Unsuccessful(String),
    /// A stop was asked for ([`crate::Migrator::with_stop`]; Ctrl-C in a fleet run): the run
    /// ended before its next migration, with everything before it in place.
    #[error("interrupted")]
    Interrupted,
    /// A driver call made by the program itself failed (connecting, typically): what `?`
    /// makes of a [`DriverError`] in a function returning [`Result`].
    ///
    /// ```
    /// use ferry_core::driver::{DriverError, DriverErrorKind};
    /// use ferry_core::Error;
    /// fn connect() -> Result<(), DriverError> {
    ///     Err(DriverError::new(DriverErrorKind::Connect, "connection refused"))
    /// }
    /// fn startup() -> ferry_core::Result<()> { connect()?; Ok(()) }
    /// assert!(matches!(startup(), Err(Error::Driver(_))));
    /// ```
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// A file could not be read, written or deleted.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn status_text(status: &str) -> String {
    if status == "unknown" {
        "the app has no file and no tracking row with that ID".to_owned()
    } else {
        format!("its status is {status}")
    }
}

/// `` `users` (2 pending migrations), `auth` (1 pending migration) ``.
pub(crate) fn pending_text(pending: &[(String, usize)]) -> String {
    pending
        .iter()
        .map(|(app, n)| {
            format!(
                "`{app}` ({n} pending migration{})",
                if *n == 1 { "" } else { "s" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn waited_text(waited: std::time::Duration) -> String {
    seconds_text(waited)
}

fn dirty_note(app: &str, id: &str, dirty: bool) -> String {
    if dirty {
        format!(
            "\nthe migration ran outside a transaction, so the statements before the failing one may have taken effect; it is marked dirty and {app} is blocked until you inspect the database and run `ferry resolve {app} {id} --applied` (its changes are in place) or `ferry resolve {app} {id} --reverted` (they are not)"
        )
    } else {
        String::new()
    }
}

/// The refusal of an app with a dirty migration (SPEC §5.1.5): with `--resume` where the
/// statements were counted (SPEC §14).
fn dirty_refusal(app: &str, id: &str, done: Option<i64>, down: bool) -> String {
    let choose = format!("`ferry resolve {app} {id} --applied` (its changes are in place) or `ferry resolve {app} {id} --reverted` (they are not)");
    let (section, run) = if down {
        ("of its down section ", "a backwards run")
    } else {
        ("", "a run")
    };
    match done {
        Some(done) => format!(
            "app `{app}` has a dirty migration {id}: {done} statement(s) {section}ran before {run} that could not use a transaction stopped (statement {next} may have run too if that run was killed: `ferry check -v {app}` says what to look at); fix statement {next} if it failed and run `ferry resolve {app} {id} --resume` (it starts with statement {next}), or inspect the database and run {choose}",
            next = done + 1,
        ),
        None => format!(
            "app `{app}` has a dirty migration {id}: a run that could not use a transaction failed part-way, so some of its statements may have run; inspect the database, then run {choose}"
        ),
    }
}

fn location(file: &Option<PathBuf>, line: Option<usize>) -> String {
    match (file, line) {
        (Some(f), Some(l)) => format!(" ({}:{l})", f.display()),
        (Some(f), None) => format!(" ({})", f.display()),
        _ => String::new(),
    }
}

/// Broad classes of [`Error`], for callers (the CLI) that map errors to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Usage, configuration or migration-file errors: nothing ran.
    Input,
    /// The operation failed, was refused, or the database failed.
    Failed,
}

impl Error {
    /// The broad class of this error.
    ///
    /// ```
    /// use ferry_core::{Error, ErrorClass};
    /// assert_eq!(Error::Usage("bad".into()).class(), ErrorClass::Input);
    /// ```
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Config { .. } | Error::MigrationFile { .. } | Error::Usage(_) => {
                ErrorClass::Input
            }
            _ => ErrorClass::Failed,
        }
    }

    /// True when the error is a migration lock timeout.
    pub fn is_lock_timeout(&self) -> bool {
        matches!(self, Error::LockTimeout { .. })
    }

    pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(DriverError) -> Error {
        let context = context.into();
        move |source| Error::Database { context, source }
    }

    pub(crate) fn config(path: Option<PathBuf>, message: impl Into<String>) -> Error {
        Error::Config {
            path,
            message: message.into(),
        }
    }
}

/// The result type of `ferry-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
