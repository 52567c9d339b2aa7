//! The database file of an `sqlite:` URL: create it, delete it, ask whether it exists
//! (`ferry database create|drop`, the counterpart of the server drivers' `server` modules).
//!
//! ```
//! use ferry_driver_sqlite::file;
//! let dir = std::env::temp_dir().join(format!("ferry-doc-file-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let url = format!("sqlite:{}", dir.join("app.db").display());
//! assert!(file::create_database(&url).unwrap());
//! assert!(!file::create_database(&url).unwrap()); // it exists already
//! assert!(file::database_exists(&url).unwrap());
//! assert!(file::drop_database(&url).unwrap());
//! assert!(!file::drop_database(&url).unwrap()); // it is gone already
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::path::PathBuf;

use ferry_core::driver::{DriverResult, SqliteUrl};
use ferry_core::{DriverError, DriverErrorKind};
use rusqlite::{Connection, OpenFlags};

/// The files SQLite keeps beside a database file: its rollback journal and its WAL files.
const COMPANIONS: [&str; 3] = ["-journal", "-wal", "-shm"];

/// The database file `url` names (as written: a relative path stays relative). An in-memory
/// URL has none: a [`DriverErrorKind::Config`] error.
pub fn database_path(url: &str) -> DriverResult<PathBuf> {
    match crate::url::parse(url)? {
        SqliteUrl::File { path, .. } => Ok(path),
        SqliteUrl::Memory => Err(DriverError::new(
            DriverErrorKind::Config,
            "an in-memory SQLite database (sqlite::memory:) has no file to create or drop",
        )),
    }
}

/// Whether the database file exists. Something else at its path (a folder) is a
/// [`DriverErrorKind::Config`] error.
pub fn database_exists(url: &str) -> DriverResult<bool> {
    let path = database_path(url)?;
    if path.exists() && !path.is_file() {
        return Err(DriverError::new(
            DriverErrorKind::Config,
            format!(
                "{} is not a file; an SQLite database is a file",
                path.display()
            ),
        ));
    }
    Ok(path.is_file())
}

/// Create the database file (an empty SQLite database): `true` when it was created,
/// `false` when it existed already. Its folder must exist.
pub fn create_database(url: &str) -> DriverResult<bool> {
    if database_exists(url)? {
        return Ok(false);
    }
    let path = database_path(url)?;
    let failed = |why: String| {
        DriverError::new(
            DriverErrorKind::Connect,
            format!("cannot create SQLite database {}: {why}", path.display()),
        )
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(failed(format!(
                "the folder {} does not exist",
                parent.display()
            )));
        }
    }
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )
    .map_err(|e| failed(e.to_string()))?;
    // SQLite writes the file on the first change; an empty transaction's schema read does
    // not, so set the (default) user version to make the file a database now.
    conn.execute_batch("PRAGMA user_version = 0; VACUUM;")
        .map_err(|e| failed(e.to_string()))?;
    drop(conn);
    Ok(true)
}

/// Delete the database file and its journal and WAL files: `true` when the file existed,
/// `false` when it did not.
pub fn drop_database(url: &str) -> DriverResult<bool> {
    if !database_exists(url)? {
        return Ok(false);
    }
    let path = database_path(url)?;
    let remove = |file: &std::path::Path| {
        std::fs::remove_file(file).map_err(|e| {
            DriverError::new(
                DriverErrorKind::Other,
                format!("cannot delete {}: {e}", file.display()),
            )
        })
    };
    remove(&path)?;
    for suffix in COMPANIONS {
        let mut companion = path.clone().into_os_string();
        companion.push(suffix);
        let companion = PathBuf::from(companion);
        if companion.is_file() {
            remove(&companion)?;
        }
    }
    Ok(true)
}
