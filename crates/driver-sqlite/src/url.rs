//! From an `sqlite:` URL to an open rusqlite connection. The URL grammar itself is
//! [`ferry_core::driver::SqliteUrl`], shared with the configuration loader.

use std::time::Duration;

use ferry_core::driver::{DriverResult, SqliteUrl};
use ferry_core::{DriverError, DriverErrorKind};
use rusqlite::{Connection, OpenFlags};

use crate::error::db_error;

/// Parse `url`; a malformed URL is a [`DriverErrorKind::Config`] error.
pub(crate) fn parse(url: &str) -> DriverResult<SqliteUrl> {
    SqliteUrl::parse(url).map_err(|message| DriverError::new(DriverErrorKind::Config, message))
}

/// The database's name for messages: its path, or `:memory:`.
pub(crate) fn describe(target: &SqliteUrl) -> String {
    match target {
        SqliteUrl::Memory => ":memory:".into(),
        SqliteUrl::File { path, .. } => path.display().to_string(),
    }
}

/// Whether the database exists already (an in-memory one always does). A missing file that
/// the mode forbids creating is a [`DriverErrorKind::DatabaseMissing`] error.
pub(crate) fn exists(target: &SqliteUrl) -> DriverResult<bool> {
    match target {
        SqliteUrl::Memory => Ok(true),
        SqliteUrl::File { path, .. } if path.exists() => Ok(true),
        SqliteUrl::File { path, mode } if !mode.creates() => Err(DriverError::new(
            DriverErrorKind::DatabaseMissing,
            format!(
                "cannot open SQLite database {}: the file does not exist (mode forbids creating it)",
                path.display()
            ),
        )),
        SqliteUrl::File { .. } => Ok(false),
    }
}

/// Open the database, creating the file when it is missing and the mode allows it, with
/// `busy_timeout` set to `busy`.
pub(crate) fn open(target: &SqliteUrl, busy: Duration) -> DriverResult<Connection> {
    let conn = match target {
        SqliteUrl::Memory => Connection::open_in_memory(),
        SqliteUrl::File { path, mode } => {
            let flags = if mode.read_only() {
                OpenFlags::SQLITE_OPEN_READ_ONLY
            } else {
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
            } | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                if !parent.is_dir() {
                    return Err(DriverError::new(
                        DriverErrorKind::Connect,
                        format!(
                            "cannot open SQLite database {}: the folder {} does not exist",
                            path.display(),
                            parent.display()
                        ),
                    ));
                }
            }
            Connection::open_with_flags(path, flags)
        }
    }
    .map_err(|e| {
        DriverError::new(
            DriverErrorKind::Connect,
            format!("cannot open SQLite database {}: {e}", describe(target)),
        )
    })?;
    conn.busy_timeout(busy).map_err(db_error)?;
    Ok(conn)
}
