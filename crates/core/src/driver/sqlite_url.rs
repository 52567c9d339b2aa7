//! The grammar of `sqlite:` URLs, parsed once for the configuration loader
//! ([`crate::driver::resolve_sqlite_path`]) and the SQLite driver.
//!
//! ```text
//! sqlite:PATH[?mode=ro|rw|rwc|memory]
//! sqlite://PATH[?mode=...]          (`sqlite:///abs.db` is the absolute path /abs.db)
//! sqlite::memory:
//! ```

use std::path::{Path, PathBuf};

/// How a database file may be opened, from the URL's `mode` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteMode {
    /// `mode=ro`: read only; the file must exist.
    ReadOnly,
    /// `mode=rw`: read and write; the file must exist.
    ReadWrite,
    /// `mode=rwc` (the default): read and write, creating the file when missing.
    #[default]
    ReadWriteCreate,
}

impl SqliteMode {
    /// Whether the file may be created when it is missing.
    pub fn creates(self) -> bool {
        self == SqliteMode::ReadWriteCreate
    }

    /// Whether the file is opened read-only.
    pub fn read_only(self) -> bool {
        self == SqliteMode::ReadOnly
    }
}

/// What an `sqlite:` URL names: an in-memory database or a file opened in a [`SqliteMode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqliteUrl {
    /// An in-memory database (`sqlite::memory:` or `mode=memory`), private to its connection.
    Memory,
    /// A database file; `path` is as written in the URL (relative paths stay relative).
    File {
        /// The file's path.
        path: PathBuf,
        /// How it may be opened.
        mode: SqliteMode,
    },
}

impl SqliteUrl {
    /// Parse an `sqlite:` URL. The only option is `mode`; the last `mode` given wins, and
    /// `mode=memory` makes any URL an in-memory database. The error is a one-line message
    /// for the user (a URL that is not `sqlite:` is shown with its password redacted).
    ///
    /// ```
    /// use ferry_core::driver::{SqliteMode, SqliteUrl};
    /// assert_eq!(SqliteUrl::parse("sqlite::memory:"), Ok(SqliteUrl::Memory));
    /// assert_eq!(SqliteUrl::parse("sqlite:x.db?mode=memory"), Ok(SqliteUrl::Memory));
    /// assert_eq!(
    ///     SqliteUrl::parse("sqlite://data/app.db?mode=ro"),
    ///     Ok(SqliteUrl::File { path: "data/app.db".into(), mode: SqliteMode::ReadOnly })
    /// );
    /// assert_eq!(
    ///     SqliteUrl::parse("sqlite:///abs.db"),
    ///     Ok(SqliteUrl::File { path: "/abs.db".into(), mode: SqliteMode::ReadWriteCreate })
    /// );
    /// assert!(SqliteUrl::parse("sqlite:x.db?bogus=1").unwrap_err().contains("`bogus=1`"));
    /// assert!(SqliteUrl::parse("sqlite:").unwrap_err().contains("no path"));
    /// assert!(SqliteUrl::parse("postgres://u:pw@h/db").unwrap_err().contains("u:***@h"));
    /// ```
    pub fn parse(url: &str) -> Result<SqliteUrl, String> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                format!(
                    "not an SQLite URL: {}",
                    crate::driver::redact::redact_url(url)
                )
            })?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut mode = SqliteMode::default();
        let mut memory = path == ":memory:";
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("mode", "ro")) => mode = SqliteMode::ReadOnly,
                Some(("mode", "rw")) => mode = SqliteMode::ReadWrite,
                Some(("mode", "rwc")) => mode = SqliteMode::ReadWriteCreate,
                Some(("mode", "memory")) => memory = true,
                _ => {
                    return Err(format!(
                    "unknown SQLite URL option `{pair}`; the only option is mode=ro|rw|rwc|memory"
                ))
                }
            }
        }
        if memory {
            return Ok(SqliteUrl::Memory);
        }
        if path.is_empty() {
            return Err("the SQLite URL has no path: write sqlite:PATH, e.g. sqlite:app.db".into());
        }
        Ok(SqliteUrl::File {
            path: PathBuf::from(path),
            mode,
        })
    }
}

/// Make the path of an `sqlite:` URL absolute against `base` when it is relative. Other URLs,
/// in-memory databases and URLs that do not parse (see [`SqliteUrl::parse`]; the driver
/// reports those) are returned unchanged.
///
/// ```
/// use std::path::Path;
/// use ferry_core::driver::resolve_sqlite_path;
/// assert_eq!(resolve_sqlite_path("sqlite:app.db", Path::new("/p")), "sqlite:/p/app.db");
/// assert_eq!(resolve_sqlite_path("sqlite://data/app.db?mode=rwc", Path::new("/p")), "sqlite:/p/data/app.db?mode=rwc");
/// assert_eq!(resolve_sqlite_path("sqlite:///abs.db", Path::new("/p")), "sqlite:///abs.db");
/// assert_eq!(resolve_sqlite_path("sqlite::memory:", Path::new("/p")), "sqlite::memory:");
/// ```
pub fn resolve_sqlite_path(url: &str, base: &Path) -> String {
    match SqliteUrl::parse(url) {
        Ok(SqliteUrl::File { path, .. }) if path.is_relative() => {
            let query = url.find('?').map_or("", |i| &url[i..]);
            format!("sqlite:{}{query}", base.join(path).display())
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let mode = |url: &str| match SqliteUrl::parse(url).unwrap() {
            SqliteUrl::File { mode, .. } => Some(mode),
            SqliteUrl::Memory => None,
        };
        assert_eq!(mode("sqlite:a.db"), Some(SqliteMode::ReadWriteCreate));
        assert_eq!(mode("sqlite:a.db?mode=rw"), Some(SqliteMode::ReadWrite));
        assert_eq!(mode("sqlite:a.db?mode=ro"), Some(SqliteMode::ReadOnly));
        assert_eq!(
            mode("sqlite:a.db?mode=ro&mode=rwc"),
            Some(SqliteMode::ReadWriteCreate)
        );
        assert_eq!(mode("sqlite:?mode=memory"), None);
        assert_eq!(mode("sqlite::memory:?mode=ro"), None);
        assert!(SqliteMode::ReadOnly.read_only() && !SqliteMode::ReadOnly.creates());
        assert!(SqliteMode::ReadWriteCreate.creates());
    }

    #[test]
    fn errors() {
        assert_eq!(
            SqliteUrl::parse("sqlite:a.db?mode=x").unwrap_err(),
            "unknown SQLite URL option `mode=x`; the only option is mode=ro|rw|rwc|memory"
        );
        assert_eq!(
            SqliteUrl::parse("sqlite://?mode=rw").unwrap_err(),
            "the SQLite URL has no path: write sqlite:PATH, e.g. sqlite:app.db"
        );
        assert_eq!(
            SqliteUrl::parse("mysql://root:pw@h/db").unwrap_err(),
            "not an SQLite URL: mysql://root:***@h/db"
        );
    }

    #[test]
    fn sqlite_paths_resolve_only_for_relative_files() {
        let base = Path::new("/p");
        assert_eq!(
            resolve_sqlite_path("sqlite:a.db?mode=ro", base),
            "sqlite:/p/a.db?mode=ro"
        );
        for unchanged in [
            "sqlite:?mode=memory",
            "sqlite:a.db?mode=memory",
            "sqlite:a.db?bogus=1",
            "sqlite:",
            "postgres://h/db",
        ] {
            assert_eq!(resolve_sqlite_path(unchanged, base), unchanged);
        }
    }
}
