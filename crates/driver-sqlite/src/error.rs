//! Turning rusqlite errors into [`DriverError`]s.

use ferry_core::sql::{line_of_offset, split_statements, Dialect};
use ferry_core::{DriverError, DriverErrorKind};
use rusqlite::ErrorCode;

/// A failed statement, keeping SQLite's message and its result code (`SQLITE_BUSY`, ...).
pub(crate) fn db_error(e: rusqlite::Error) -> DriverError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let mut err = DriverError::query(msg.clone().unwrap_or_else(|| f.to_string()));
            err.code = Some(format!("SQLITE_{:?}", f.code).to_uppercase());
            if is_busy(&e) {
                err.message = format!(
                    "{}: the database is locked by another connection",
                    err.message
                );
            }
            err
        }
        rusqlite::Error::SqlInputError { msg, .. } => DriverError::query(msg.clone()),
        _ => DriverError::new(DriverErrorKind::Other, e.to_string()),
    }
}

/// A failed migration statement that starts at byte `start` of `whole`, the SQL text handed
/// to the driver: [`db_error`] with the line of the error. A syntax error's offset counts
/// from `start`; any other error is put on the statement's first line.
pub(crate) fn statement_error(e: rusqlite::Error, whole: &str, start: usize) -> DriverError {
    let offset = match &e {
        rusqlite::Error::SqlInputError { offset, .. } => {
            start + usize::try_from(*offset).unwrap_or(0)
        }
        _ => first_token(whole, start),
    };
    db_error(e).with_line(Some(line_of_offset(whole, offset)))
}

/// Whether SQLite gave up waiting for another connection's lock.
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// The offset of the first token at or after `pos` (skipping whitespace and comments).
pub(crate) fn first_token(sql: &str, pos: usize) -> usize {
    split_statements(&sql[pos..], Dialect::Sqlite)
        .first()
        .map_or(pos, |s| pos + s.offset)
}
