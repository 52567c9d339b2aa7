//! The tracking table (SPEC §4), written once: its row, its columns, and the SQL text of every
//! row access.
//!
//! A driver keeps only what differs per backend: the column types of its `CREATE TABLE`, how
//! it quotes the table name, its placeholder style and how it binds a [`Value`]. The SQL of
//! select, insert, delete, mark-dirty, mark-clean and accept-changed comes from [`TrackingSql`], and the
//! parameters of a [`RowChange`] from [`TrackingSql::change`] (`sql.rs`), so adding a column means
//! editing this module and each driver's `CREATE TABLE` and row decoding, nothing else.

use std::ops::Deref;
use std::time::Duration;

use chrono::{DateTime, Utc};

mod sql;

pub use self::sql::{Placeholders, TrackingSql, Value};

/// The columns of the tracking table, in the order [`TrackingSql::select`] reads them.
pub const COLUMNS: [&str; 11] = [
    "id",
    "app_name",
    "migration_id",
    "description",
    "checksum",
    "down_sql",
    "applied_at",
    "duration_ms",
    "dirty",
    "statements_done",
    "progress_checksum",
];

/// The DDL that adds the statement-progress columns (SPEC §14) to a tracking table made
/// before they existed, one `ALTER TABLE ... ADD COLUMN` clause per column: the column name and
/// its type per backend are the driver's; the names are these.
pub const PROGRESS_COLUMNS: [&str; 2] = ["statements_done", "progress_checksum"];

/// The columns a new row is inserted with (every column but the auto-increment `id`).
pub(crate) const INSERT_COLUMNS: &str =
    "app_name, migration_id, description, checksum, down_sql, applied_at, duration_ms, dirty";

/// One row of the tracking table, without its auto-increment key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingRow {
    /// The app the migration belongs to.
    pub app_name: String,
    /// The migration ID, exactly the digits of the file name (`007` stays `007`).
    pub migration_id: String,
    /// The migration's description.
    pub description: String,
    /// SHA-256 (lower-case hex) of the up section.
    pub checksum: String,
    /// The down section as it was when applied: `Some("")` for an explicit no-op, `None` when
    /// the migration is irreversible.
    pub down_sql: Option<String>,
    /// When the migration was applied (UTC).
    pub applied_at: DateTime<Utc>,
    /// How long the up section took, in milliseconds.
    pub duration_ms: i64,
    /// Set while a migration that could not run in a transaction is (or was left) in flight.
    pub dirty: bool,
}

/// A row as read back from the database: its auto-increment key, whose order is the apply
/// order, and the row. Derefs to [`TrackingRow`], so `applied.migration_id` reads the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// The row's auto-increment key; its order is the apply order.
    pub row_id: i64,
    /// The row.
    pub row: TrackingRow,
    /// How many statements of a dirty migration ran (SPEC §14): `None` on a clean row, and on
    /// a dirty row written before statements were counted.
    pub statements_done: Option<i64>,
    /// The digests of the statements done, as run ([`crate::driver::progress_checksum`]):
    /// `None` unless some statement of a dirty migration ran.
    pub progress_checksum: Option<String>,
}

/// What begins the `progress_checksum` of a row left dirty by a **backwards** run whose down
/// section's statements were counted: `down:` and then the digests of those statements.
pub const DOWN_PROGRESS: &str = "down:";

impl AppliedMigration {
    /// Whether the row's counted progress is of its down section (a backwards run left it
    /// dirty), not of its up section.
    pub fn progress_is_down(&self) -> bool {
        self.progress_checksum
            .as_deref()
            .is_some_and(|p| p.starts_with(DOWN_PROGRESS))
    }

    /// The recorded digests ([`statement_digest`]) of the statements done, in order.
    pub fn progress_digests(&self) -> Vec<&str> {
        let text = self.progress_checksum.as_deref().unwrap_or("");
        let text = text.strip_prefix(DOWN_PROGRESS).unwrap_or(text);
        text.split(',').filter(|d| !d.is_empty()).collect()
    }
}

impl Deref for AppliedMigration {
    type Target = TrackingRow;

    fn deref(&self) -> &TrackingRow {
        &self.row
    }
}

/// A change to the tracking table. Every change names its app: no change touches another
/// app's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowChange {
    /// Insert a new row.
    Insert(TrackingRow),
    /// Delete the row of `(app_name, migration_id)`.
    Delete {
        /// The app.
        app_name: String,
        /// The migration ID.
        migration_id: String,
    },
    /// Set `dirty = true` on the row of `(app_name, migration_id)`.
    MarkDirty {
        /// The app.
        app_name: String,
        /// The migration ID.
        migration_id: String,
    },
    /// Set `dirty = false` (and the duration, when given) on the row of `(app_name, migration_id)`.
    MarkClean {
        /// The app.
        app_name: String,
        /// The migration ID.
        migration_id: String,
        /// The measured duration, if the row is being cleared after a successful run.
        duration_ms: Option<i64>,
    },
    /// Record that the first `statements_done` statements of a dirty migration ran, with
    /// their digests (SPEC §14).
    Progress {
        /// The app.
        app_name: String,
        /// The migration ID.
        migration_id: String,
        /// How many statements ran.
        statements_done: i64,
        /// [`crate::driver::progress_checksum`] of those statements.
        progress_checksum: String,
    },
    /// Record the file's current checksum and down section on the row of
    /// `(app_name, migration_id)` (`ferry resolve --accept-changed`, SPEC §5.5).
    AcceptChanged {
        /// The app.
        app_name: String,
        /// The migration ID.
        migration_id: String,
        /// The checksum of the file's up section now.
        checksum: String,
        /// The file's down section now: `Some("")` for an empty one, `None` when irreversible.
        down_sql: Option<String>,
    },
}

impl RowChange {
    /// The same change recording that its SQL took `elapsed`: an insert and a mark-clean
    /// carry the duration; the other changes do not record one. This is the one way a
    /// duration gets into the tracking table, used by core for the dirty protocol and by
    /// drivers inside a transaction.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferry_core::driver::RowChange;
    /// let clean = RowChange::MarkClean {
    ///     app_name: "blog".into(),
    ///     migration_id: "1".into(),
    ///     duration_ms: None,
    /// };
    /// let timed = clean.with_duration(Duration::from_millis(12));
    /// assert!(matches!(timed, RowChange::MarkClean { duration_ms: Some(12), .. }));
    /// ```
    pub fn with_duration(self, elapsed: Duration) -> RowChange {
        let ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        match self {
            RowChange::Insert(row) => RowChange::Insert(TrackingRow {
                duration_ms: ms,
                ..row
            }),
            RowChange::MarkClean {
                app_name,
                migration_id,
                ..
            } => RowChange::MarkClean {
                app_name,
                migration_id,
                duration_ms: Some(ms),
            },
            other => other,
        }
    }
}

/// The digest of one statement as run (SPEC §14): the first 16 hex digits of the SHA-256 of
/// its text, as the lexer ([`crate::sql::split_statements`]) cuts it.
pub fn statement_digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `progress_checksum` of the statements done (SPEC §14): their [`statement_digest`]s in
/// order, comma-separated, so that `resolve --resume` can name the first statement that
/// changed since it ran.
///
/// ```
/// use ferry_core::driver::{progress_checksum, statement_digest};
/// let done = progress_checksum(["CREATE TABLE a (x INT)", "CREATE TABLE b (x INT)"]);
/// assert_eq!(done.split(',').count(), 2);
/// assert!(done.starts_with(&statement_digest("CREATE TABLE a (x INT)")));
/// ```
pub fn progress_checksum<'a>(statements: impl IntoIterator<Item = &'a str>) -> String {
    statements
        .into_iter()
        .map(statement_digest)
        .collect::<Vec<_>>()
        .join(",")
}
