//! Turning tokio-postgres errors into [`DriverError`]s.

use ferry_core::sql::line_of_offset;
use ferry_core::{DriverError, DriverErrorKind};
use tokio_postgres::error::ErrorPosition;

use crate::conn::error_text;

/// A failed tracking-table or lock statement (no line to report).
pub(crate) fn query_error(error: &tokio_postgres::Error) -> DriverError {
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

/// A failed migration statement: `sent` is the text sent to the server, found at byte
/// `offset` of `whole`, the SQL text handed to the driver.
pub(crate) fn statement_error(
    error: &tokio_postgres::Error,
    sent: &str,
    offset: usize,
    whole: &str,
) -> DriverError {
    let line = error
        .as_db_error()
        .and_then(|db| match db.position() {
            Some(ErrorPosition::Original(pos)) => Some(*pos),
            _ => None,
        })
        .map(|pos| offset + char_to_byte(sent, pos))
        .map(|byte| line_of_offset(whole, byte));
    query_error(error).with_line(line)
}

/// The byte offset of the 1-based character position `pos` in `text` (clamped).
pub(crate) fn char_to_byte(text: &str, pos: u32) -> usize {
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
