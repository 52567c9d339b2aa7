//! Turning mysql_async errors into [`DriverError`]s.

use ferry_core::driver::url::one_line;
use ferry_core::sql::{split_statements, Dialect};
use ferry_core::{DriverError, DriverErrorKind};

use crate::url::Target;

/// A failed tracking-table, lock or admin statement (no line to report), keeping the
/// server's error number and SQLSTATE.
pub(crate) fn db_error(error: &mysql_async::Error) -> DriverError {
    match error {
        mysql_async::Error::Server(s) => {
            let mut e = DriverError::query(one_line(&s.message));
            e.code = Some(s.code.to_string());
            e.sqlstate = Some(s.state.clone());
            e
        }
        other => DriverError::new(DriverErrorKind::Other, one_line(&other.to_string())),
    }
}

/// A failed migration statement, with the line of the failing statement within `sql`, the
/// SQL text handed to the driver: `completed` statements of it ran before the failure (the
/// server reports no position).
pub(crate) fn statement_error(
    error: &mysql_async::Error,
    sql: &str,
    completed: usize,
) -> DriverError {
    let line = split_statements(sql, Dialect::MySql)
        .get(completed)
        .map(|statement| statement.line);
    db_error(error).with_line(line)
}

/// A failed connection attempt to `target`, keeping the server's error number and SQLSTATE;
/// an unknown database (error 1049) is [`DriverErrorKind::DatabaseMissing`].
pub(crate) fn connect_error(target: &Target, error: &mysql_async::Error) -> DriverError {
    let mut e = target.connect_error(&error_text(error));
    if let mysql_async::Error::Server(s) = error {
        e.code = Some(s.code.to_string());
        e.sqlstate = Some(s.state.clone());
        if s.code == ER_BAD_DB_ERROR {
            e.kind = DriverErrorKind::DatabaseMissing;
        }
    }
    e
}

/// MySQL's `ER_BAD_DB_ERROR`: "Unknown database".
const ER_BAD_DB_ERROR: u16 = 1049;

/// The text of a mysql_async error, naming a TLS failure as such.
pub(crate) fn error_text(error: &mysql_async::Error) -> String {
    match error {
        mysql_async::Error::Server(s) => s.message.clone(),
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => {
            match io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                Some(tls) => format!("TLS handshake failed: {tls}"),
                None => io.to_string(),
            }
        }
        mysql_async::Error::Io(mysql_async::IoError::Tls(tls)) => format!("TLS error: {tls}"),
        mysql_async::Error::Driver(d) => d.to_string(),
        other => other.to_string(),
    }
}
