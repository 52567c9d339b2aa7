//! [`DriverError`]: what a driver reports, keeping what the database said.

use std::fmt;
use std::time::Duration;

/// What kind of failure a [`DriverError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverErrorKind {
    /// The connection could not be made (refused, authentication, TLS, a server speaking
    /// another protocol or nothing at all).
    Connect,
    /// The server was reached, and the database the URL names does not exist (PostgreSQL
    /// SQLSTATE `3D000`, MySQL error 1049; an SQLite file that the URL's mode forbids
    /// creating). `ferry database create` creates it.
    DatabaseMissing,
    /// The migration lock was not obtained within the timeout.
    LockTimeout,
    /// The connection stopped answering mid-run: the server could not be reached on a new
    /// connection either, or it no longer works on this connection's request. Whether the
    /// request in flight took effect is unknown; the driver refuses further calls.
    ConnectionLost,
    /// The lease lock no longer names this run (it expired and another run took it over):
    /// the operation was rolled back and the run must stop.
    LockLost,
    /// A statement failed.
    Query,
    /// The URL or driver options are invalid.
    Config,
    /// Anything else.
    Other,
}

/// An error reported by a driver, keeping what the database said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverError {
    /// What kind of failure this is.
    pub kind: DriverErrorKind,
    /// The database's message (never containing a password).
    pub message: String,
    /// The backend's own error code (MySQL error number), if any.
    pub code: Option<String>,
    /// The SQLSTATE, if the backend reported one.
    pub sqlstate: Option<String>,
    /// Extra detail from the server.
    pub detail: Option<String>,
    /// A hint from the server.
    pub hint: Option<String>,
    /// The 1-based line, within the SQL text handed to the driver, where the error is.
    pub line: Option<usize>,
}

impl DriverError {
    /// A new error of `kind` with `message` and nothing else.
    ///
    /// ```
    /// use ferry_core::{DriverError, DriverErrorKind};
    /// let e = DriverError::new(DriverErrorKind::Query, "no such table: posts");
    /// assert_eq!(e.to_string(), "no such table: posts");
    /// ```
    pub fn new(kind: DriverErrorKind, message: impl Into<String>) -> Self {
        DriverError {
            kind,
            message: message.into(),
            code: None,
            sqlstate: None,
            detail: None,
            hint: None,
            line: None,
        }
    }

    /// A statement failure.
    pub fn query(message: impl Into<String>) -> Self {
        Self::new(DriverErrorKind::Query, message)
    }

    /// The lock was not obtained in time.
    pub fn lock_timeout() -> Self {
        Self::new(
            DriverErrorKind::LockTimeout,
            "another ferry run holds the lock",
        )
    }

    /// The lease lock was lost; `holder` is the run that holds it now, where known.
    pub fn lock_lost(holder: Option<&str>) -> Self {
        Self::new(
            DriverErrorKind::LockLost,
            match holder {
                Some(holder) => format!(
                    "lost the migration lock: its lease expired and {holder} holds it now; nothing more was committed"
                ),
                None => "lost the migration lock: its lease expired or its row was deleted; nothing more was committed".to_owned(),
            },
        )
    }

    /// The connection stopped answering: `waited` so far, `why` in a few words.
    pub fn connection_lost(waited: Duration, why: &str) -> Self {
        Self::new(
            DriverErrorKind::ConnectionLost,
            format!(
                "the connection stopped answering: no reply for {} and {why}; whether the statement in flight took effect is unknown (its transaction commits whole or not at all): run `ferry check`",
                crate::text::seconds_text(waited)
            ),
        )
    }

    /// Set the line within the SQL text.
    pub fn with_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }
}

impl fmt::Display for DriverError {
    /// The message first, then the codes in parentheses, then detail and hint (SPEC §16.10):
    /// `relation "x" does not exist (SQLSTATE 42P01)`,
    /// `Table 'd.x' doesn't exist (error 1146, SQLSTATE 42S02)`,
    /// `no such table: x (SQLITE_ERROR)`.
    ///
    /// ```
    /// use ferry_core::{DriverError, DriverErrorKind};
    /// let mut e = DriverError::query("relation \"x\" does not exist");
    /// e.sqlstate = Some("42P01".into());
    /// assert_eq!(e.to_string(), "relation \"x\" does not exist (SQLSTATE 42P01)");
    /// e.code = Some("1146".into());
    /// e.hint = Some("check the name".into());
    /// assert_eq!(
    ///     e.to_string(),
    ///     "relation \"x\" does not exist (error 1146, SQLSTATE 42P01); hint: check the name"
    /// );
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let code = self.code.as_deref().map(|code| {
            if code.bytes().all(|b| b.is_ascii_digit()) {
                format!("error {code}")
            } else {
                code.to_owned()
            }
        });
        let state = self.sqlstate.as_deref().map(|s| format!("SQLSTATE {s}"));
        let codes: Vec<String> = code.into_iter().chain(state).collect();
        if !codes.is_empty() {
            write!(f, " ({})", codes.join(", "))?;
        }
        if let Some(detail) = &self.detail {
            write!(f, "; detail: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DriverError {}
