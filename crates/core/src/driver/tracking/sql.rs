//! The SQL text of every tracking-table row access ([`TrackingSql`]), the parameters it binds
//! ([`Value`]) and how a backend writes them ([`Placeholders`]).

use chrono::{DateTime, Utc};

use super::{RowChange, COLUMNS, INSERT_COLUMNS};

/// A parameter of a tracking-table statement. A driver binds each one with its client's types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// A text value.
    Text(&'a str),
    /// A text value that may be NULL (`down_sql`).
    NullableText(Option<&'a str>),
    /// An integer (`duration_ms`).
    Int(i64),
    /// An integer that may be NULL (`duration_ms` of a mark-clean that keeps the old one).
    NullableInt(Option<i64>),
    /// A boolean (`dirty`).
    Bool(bool),
    /// A UTC timestamp (`applied_at`).
    Time(DateTime<Utc>),
}

/// How a backend writes bound parameters in SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholders {
    /// `$1`, `$2`, … (PostgreSQL).
    Dollar,
    /// `?`, `?`, … in order (MySQL, SQLite).
    Question,
}

impl Placeholders {
    fn list(self, n: usize) -> Vec<String> {
        (1..=n)
            .map(|i| match self {
                Placeholders::Dollar => format!("${i}"),
                Placeholders::Question => "?".to_owned(),
            })
            .collect()
    }
}

/// The SQL text of every tracking-table row access, built once per connection from the
/// placeholder style and the quoted table name.
///
/// ```
/// use ferry_core::driver::{Placeholders, RowChange, TrackingSql, Value};
/// let sql = TrackingSql::new(Placeholders::Dollar, "\"ferry_migrations\"");
/// let (text, params) = sql.select(Some("blog"));
/// assert_eq!(
///     text,
///     "SELECT id, app_name, migration_id, description, checksum, down_sql, applied_at, \
///      duration_ms, dirty, statements_done, progress_checksum FROM \"ferry_migrations\" WHERE app_name = $1 ORDER BY id"
/// );
/// assert_eq!(params, [Value::Text("blog")]);
///
/// let delete = RowChange::Delete { app_name: "blog".into(), migration_id: "7".into() };
/// let (text, params) = sql.change(&delete);
/// assert_eq!(text, "DELETE FROM \"ferry_migrations\" WHERE app_name = $1 AND migration_id = $2");
/// assert_eq!(params, [Value::Text("blog"), Value::Text("7")]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingSql {
    select_all: String,
    select_app: String,
    insert: String,
    insert_counted: String,
    delete: String,
    mark_dirty: String,
    mark_dirty_counted: String,
    mark_clean: String,
    accept_changed: String,
    progress: String,
    select_legacy_all: String,
    select_legacy_app: String,
}

impl TrackingSql {
    /// The statements for `quoted_table` (already quoted and schema-qualified by the driver).
    pub fn new(placeholders: Placeholders, quoted_table: &str) -> TrackingSql {
        let p = placeholders.list(10);
        let t = quoted_table;
        let columns = COLUMNS.join(", ");
        // A table made before the progress columns: the same shape, NULL for them.
        let legacy = format!(
            "{}, NULL AS statements_done, NULL AS progress_checksum",
            COLUMNS[..9].join(", ")
        );
        let key = |first: usize| {
            format!(
                "WHERE app_name = {} AND migration_id = {}",
                p[first],
                p[first + 1]
            )
        };
        TrackingSql {
            select_all: format!("SELECT {columns} FROM {t} ORDER BY id"),
            select_app: format!(
                "SELECT {columns} FROM {t} WHERE app_name = {} ORDER BY id",
                p[0]
            ),
            insert: format!(
                "INSERT INTO {t} ({INSERT_COLUMNS}) VALUES ({})",
                p[..8].join(", ")
            ),
            insert_counted: format!(
                "INSERT INTO {t} ({INSERT_COLUMNS}, statements_done, progress_checksum) VALUES ({})",
                p[..10].join(", ")
            ),
            delete: format!("DELETE FROM {t} {}", key(0)),
            mark_dirty: format!("UPDATE {t} SET dirty = TRUE {}", key(0)),
            mark_dirty_counted: format!(
                "UPDATE {t} SET dirty = TRUE, statements_done = {}, progress_checksum = {} {}",
                p[0],
                p[1],
                key(2)
            ),
            mark_clean: format!(
                "UPDATE {t} SET dirty = FALSE, statements_done = NULL, progress_checksum = NULL, \
                 duration_ms = COALESCE({}, duration_ms) {}",
                p[0],
                key(1)
            ),
            accept_changed: format!(
                "UPDATE {t} SET checksum = {}, down_sql = {} {}",
                p[0],
                p[1],
                key(2)
            ),
            progress: format!(
                "UPDATE {t} SET statements_done = {}, progress_checksum = {} {}",
                p[0],
                p[1],
                key(2)
            ),
            select_legacy_all: format!("SELECT {legacy} FROM {t} ORDER BY id"),
            select_legacy_app: format!(
                "SELECT {legacy} FROM {t} WHERE app_name = {} ORDER BY id",
                p[0]
            ),
        }
    }

    /// The rows in apply order, only those of `app` when given; the columns are [`COLUMNS`].
    pub fn select<'a>(&self, app: Option<&'a str>) -> (&str, Vec<Value<'a>>) {
        match app {
            Some(app) => (&self.select_app, vec![Value::Text(app)]),
            None => (&self.select_all, Vec::new()),
        }
    }

    /// As [`TrackingSql::select`], for a tracking table made before the progress columns
    /// (SPEC §14): the same columns, those two read as NULL. A driver falls back to it when
    /// the first select fails for want of a column, so that read-only commands work on a
    /// table that no writing command has upgraded yet.
    pub fn select_legacy<'a>(&self, app: Option<&'a str>) -> (&str, Vec<Value<'a>>) {
        match app {
            Some(app) => (&self.select_legacy_app, vec![Value::Text(app)]),
            None => (&self.select_legacy_all, Vec::new()),
        }
    }

    /// The statement and parameters that apply `change`.
    pub fn change<'a>(&self, change: &'a RowChange) -> (&str, Vec<Value<'a>>) {
        match change {
            RowChange::Insert(row) => (
                &self.insert,
                vec![
                    Value::Text(&row.app_name),
                    Value::Text(&row.migration_id),
                    Value::Text(&row.description),
                    Value::Text(&row.checksum),
                    Value::NullableText(row.down_sql.as_deref()),
                    Value::Time(row.applied_at),
                    Value::Int(row.duration_ms),
                    Value::Bool(row.dirty),
                ],
            ),
            RowChange::Delete {
                app_name,
                migration_id,
            } => (
                &self.delete,
                vec![Value::Text(app_name), Value::Text(migration_id)],
            ),
            RowChange::MarkDirty {
                app_name,
                migration_id,
            } => (
                &self.mark_dirty,
                vec![Value::Text(app_name), Value::Text(migration_id)],
            ),
            RowChange::MarkClean {
                app_name,
                migration_id,
                duration_ms,
            } => (
                &self.mark_clean,
                vec![
                    Value::NullableInt(*duration_ms),
                    Value::Text(app_name),
                    Value::Text(migration_id),
                ],
            ),
            RowChange::Progress {
                app_name,
                migration_id,
                statements_done,
                progress_checksum,
            } => (
                &self.progress,
                vec![
                    Value::Int(*statements_done),
                    Value::Text(progress_checksum),
                    Value::Text(app_name),
                    Value::Text(migration_id),
                ],
            ),
            RowChange::AcceptChanged {
                app_name,
                migration_id,
                checksum,
                down_sql,
            } => (
                &self.accept_changed,
                vec![
                    Value::Text(checksum),
                    Value::NullableText(down_sql.as_deref()),
                    Value::Text(app_name),
                    Value::Text(migration_id),
                ],
            ),
        }
    }

    /// The statements of `changes`, in order: one per change, except that an insert or a
    /// mark-dirty followed by the [`RowChange::Progress`] of the same row (the dirty row of
    /// a section whose statements are counted, SPEC §14) is one statement writing both.
    pub fn changes<'a>(&'a self, changes: &'a [RowChange]) -> Vec<(&'a str, Vec<Value<'a>>)> {
        let mut out = Vec::with_capacity(changes.len());
        let mut rest = changes;
        while let Some((change, after)) = rest.split_first() {
            if let Some(RowChange::Progress {
                app_name,
                migration_id,
                statements_done,
                progress_checksum,
            }) = after.first()
            {
                let progress = [Value::Int(*statements_done), Value::Text(progress_checksum)];
                let same = |a: &str, m: &str| a == app_name && m == migration_id;
                match change {
                    RowChange::Insert(row) if same(&row.app_name, &row.migration_id) => {
                        let (_, mut values) = self.change(change);
                        values.extend(progress);
                        out.push((self.insert_counted.as_str(), values));
                        rest = &after[1..];
                        continue;
                    }
                    RowChange::MarkDirty {
                        app_name: a,
                        migration_id: m,
                    } if same(a, m) => {
                        let mut values = progress.to_vec();
                        values.extend([Value::Text(a), Value::Text(m)]);
                        out.push((self.mark_dirty_counted.as_str(), values));
                        rest = &after[1..];
                        continue;
                    }
                    _ => {}
                }
            }
            out.push(self.change(change));
            rest = after;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::tracking::TrackingRow;

    #[test]
    fn a_dirty_row_and_its_progress_are_one_statement() {
        let sql = TrackingSql::new(Placeholders::Dollar, "t");
        let progress = |id: &str| RowChange::Progress {
            app_name: "a".into(),
            migration_id: id.into(),
            statements_done: 0,
            progress_checksum: String::new(),
        };
        let dirty = RowChange::MarkDirty {
            app_name: "a".into(),
            migration_id: "2".into(),
        };
        // Of the same row: merged.
        let changes = [dirty.clone(), progress("2")];
        let merged = sql.changes(&changes);
        assert_eq!(merged.len(), 1);
        assert_eq!(
            merged[0].0,
            "UPDATE t SET dirty = TRUE, statements_done = $1, progress_checksum = $2 \
             WHERE app_name = $3 AND migration_id = $4"
        );
        // Of another row, or alone: one statement each.
        let changes = [dirty, progress("3"), progress("3")];
        let apart = sql.changes(&changes);
        assert_eq!(apart.len(), 3);
        assert_eq!(apart[0].0, sql.mark_dirty);
        assert_eq!(apart[1].0, sql.progress);
    }

    #[test]
    fn statements_per_placeholder_style() {
        let sql = TrackingSql::new(Placeholders::Question, "`t`");
        assert_eq!(
            sql.insert,
            "INSERT INTO `t` (app_name, migration_id, description, checksum, down_sql, applied_at, duration_ms, dirty) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        );
        assert_eq!(
            sql.mark_clean,
            "UPDATE `t` SET dirty = FALSE, statements_done = NULL, progress_checksum = NULL, duration_ms = COALESCE(?, duration_ms) WHERE app_name = ? AND migration_id = ?"
        );
        let pg = TrackingSql::new(Placeholders::Dollar, "\"t\"");
        assert_eq!(
            pg.mark_clean,
            "UPDATE \"t\" SET dirty = FALSE, statements_done = NULL, progress_checksum = NULL, duration_ms = COALESCE($1, duration_ms) WHERE app_name = $2 AND migration_id = $3"
        );
        assert_eq!(
            pg.accept_changed,
            "UPDATE \"t\" SET checksum = $1, down_sql = $2 WHERE app_name = $3 AND migration_id = $4"
        );
        assert_eq!(
            pg.mark_dirty,
            "UPDATE \"t\" SET dirty = TRUE WHERE app_name = $1 AND migration_id = $2"
        );
    }

    #[test]
    fn every_change_binds_as_many_values_as_placeholders() {
        let sql = TrackingSql::new(Placeholders::Dollar, "t");
        let row = TrackingRow {
            app_name: "a".into(),
            migration_id: "1".into(),
            description: "d".into(),
            checksum: "c".into(),
            down_sql: None,
            applied_at: Utc::now(),
            duration_ms: 0,
            dirty: false,
        };
        let key = || ("a".to_owned(), "1".to_owned());
        let changes = [
            RowChange::Insert(row),
            RowChange::Delete {
                app_name: key().0,
                migration_id: key().1,
            },
            RowChange::MarkDirty {
                app_name: key().0,
                migration_id: key().1,
            },
            RowChange::MarkClean {
                app_name: key().0,
                migration_id: key().1,
                duration_ms: None,
            },
            RowChange::AcceptChanged {
                app_name: key().0,
                migration_id: key().1,
                checksum: "c".into(),
                down_sql: Some(String::new()),
            },
            RowChange::Progress {
                app_name: key().0,
                migration_id: key().1,
                statements_done: 2,
                progress_checksum: "p".into(),
            },
        ];
        for change in &changes {
            let (text, params) = sql.change(change);
            assert_eq!(text.matches('$').count(), params.len(), "{text}");
        }
    }
}
