//! Turning tokio-postgres errors into [`DriverError`]s. Imports nothing else from the crate
//! (`conn.rs` adds the target to a connection error).

use std::fmt::Write as _;

use ferry_core::driver::url::one_line;
use ferry_core::sql::line_of_offset;
use ferry_core::{DriverError, DriverErrorKind};
use tokio_postgres::error::ErrorPosition;

/// A failed tracking-table, lock or admin statement (no line to report), keeping the
/// SQLSTATE, detail and hint.
pub(crate) fn db_error(error: &tokio_postgres::Error) -> DriverError {
    match error.as_db_error() {
        Some(db) => {
            let mut e = DriverError::query(db.message());
            e.sqlstate = Some(db.code().code().to_owned());
            e.detail = db.detail().map(str::to_owned);
            e.hint = db.hint().map(str::to_owned);
            e
        }
        None => DriverError::new(
            if error.is_closed() {
                DriverErrorKind::Other
            } else {
                DriverErrorKind::Query
            },
            error_text(error),
        ),
    }
}

/// A failed migration statement, with the line of the error within `sql`, the SQL text
/// handed to the driver: `sent` is the text sent to the server, found at byte `offset` of
/// `sql`, and the server reports a character position within it.
pub(crate) fn statement_error(
    error: &tokio_postgres::Error,
    sql: &str,
    sent: &str,
    offset: usize,
) -> DriverError {
    let line = error
        .as_db_error()
        .and_then(|db| match db.position() {
            Some(ErrorPosition::Original(pos)) => Some(*pos),
            _ => None,
        })
        .map(|pos| offset + char_to_byte(sent, pos))
        .map(|byte| line_of_offset(sql, byte));
    db_error(error).with_line(line)
}

/// The one-line text of a tokio-postgres error with its causes (tokio-postgres' `Display`
/// shows only the kind, e.g. "error connecting to server").
pub(crate) fn error_text(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = db.message().to_owned();
        if let Some(detail) = db.detail() {
            let _ = write!(text, " ({detail})");
        }
        return one_line(&text);
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    one_line(&text)
}

/// The byte offset of the 1-based character position `pos` in `text` (clamped).
fn char_to_byte(text: &str, pos: u32) -> usize {
    let index = usize::try_from(pos).unwrap_or(usize::MAX).saturating_sub(1);
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(byte, _)| byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_positions_become_bytes() {
        assert_eq!(char_to_byte("abc", 1), 0);
        assert_eq!(char_to_byte("abc", 3), 2);
        assert_eq!(char_to_byte("abc", 10), 3);
        // 'é' is two bytes.
        assert_eq!(char_to_byte("é\nx", 3), 3);
    }
}
