//! [`DriverError`]: what a driver reports, keeping what the database said.

use std::fmt;
use std::time::Duration;

/// What kind of failure a [`DriverError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverErrorKind {
    /// The connection could not be made (refused, authentication, unknown database, TLS).
    Connect,
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, &self.sqlstate) {
            (Some(code), Some(state)) => write!(f, "error {code} ({state}): ")?,
            (Some(code), None) => write!(f, "error {code}: ")?,
            (None, Some(state)) => write!(f, "{state}: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)?;
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
