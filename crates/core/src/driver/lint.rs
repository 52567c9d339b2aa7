//! What a driver measures for `ferry lint` (SPEC §13.1), through
//! [`crate::Driver::lint_section`]: raw observations only. Which of them are findings, at
//! what level, in which words, is decided in core (`verify/lint.rs`), the same for every
//! backend.
//!
//! A driver reads a [`LintState`] before the section's first statement and after each
//! statement. Core compares consecutive states: a relation of the first state that is gone
//! was dropped, one whose name changed was renamed, one whose `storage` changed was
//! rewritten; a column likewise; a constraint, an index or a `NOT NULL` that appeared on a
//! pre-existing table was checked by scanning it; a lock that appeared was taken by that
//! statement.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::error::DriverError;

/// The pre-existing objects of a scratch database, as one driver read them at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintState {
    /// Relations by an identity that survives a rename (PostgreSQL: the oid; SQLite: the
    /// `sqlite_master` rowid; MySQL: the table's internal id), among them those that existed
    /// before the section. A driver may leave out relations created by the section. Shared
    /// (`Arc`) between consecutive states where a statement left a relation as it was: a
    /// state costs what changed, and core skips a relation that is the same `Arc` as before.
    pub relations: BTreeMap<String, Arc<LintRelation>>,
    /// The strongest lock mode the session holds on each relation (by identity), where the
    /// backend can tell (PostgreSQL's `pg_locks` mode names, e.g. `AccessExclusiveLock`).
    pub locks: BTreeMap<String, String>,
}

/// A table or an index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintRelation {
    /// `table` or `index`.
    pub kind: String,
    /// Its name now (schema-qualified where the backend has schemas and it is not the
    /// session's first one).
    pub name: String,
    /// Where its rows live (PostgreSQL `relfilenode`, SQLite root page); a change means the
    /// relation was rewritten. `None` where the backend cannot tell.
    pub storage: Option<String>,
    /// A table's columns by an identity that survives a rename where the backend has one
    /// (PostgreSQL `attnum`), else the name.
    pub columns: BTreeMap<String, LintColumn>,
    /// A table's checked things by name: validated foreign-key and check constraints and
    /// indexes (each `constraint <name>` or `index <name>`). One that appears on a
    /// pre-existing table was built or validated by reading the table.
    pub checked: BTreeSet<String>,
}

/// A column of a table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintColumn {
    /// Its name now.
    pub name: String,
    /// Whether it is `NOT NULL` (a flip on a pre-existing table is a scan under the lock).
    pub not_null: bool,
}

/// What one statement did, as the driver saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintStep {
    /// The state after the statement.
    pub state: LintState,
    /// MySQL/MariaDB: the `ALGORITHM` the server accepted for the statement and the table it
    /// altered (`INSTANT`, `INPLACE` with `LOCK=NONE`, or `COPY`), when it was one of those it
    /// tries (SPEC §13.1).
    pub algorithm: Option<(String, String)>,
    /// Whether the statement ran in a transaction that later statements share (its locks
    /// are held while they run).
    pub in_transaction: bool,
}

/// One section run for `ferry lint`: the state before it, one step per statement that ran,
/// and the failure of the statement after the last step, if one failed (then the section
/// was rolled back where the backend can).
#[derive(Debug, Clone, Default)]
pub struct LintRun {
    /// The state before the first statement: what is pre-existing.
    pub before: LintState,
    /// One per statement that ran, in order.
    pub steps: Vec<LintStep>,
    /// The index (0-based) of the statement that failed, and its error.
    pub failed: Option<(usize, DriverError)>,
}
