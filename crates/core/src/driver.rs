//! The boundary between core and the database backends.
//!
//! A driver does dialect and transport only: it creates the tracking table, takes and releases
//! the migration lock, reads the tracking rows and runs SQL text with or without a tracking row
//! change in the same transaction. Which migrations run, in what order, and which plans are
//! refused is decided in core (see [`crate::Migrator`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::lock::{LockChoice, LockHolder, LockOptions};
use crate::tracking::{AppliedMigration, RowChange};

/// A boxed, sendable future: the return type of every async [`Driver`] method.
///
/// Native `async fn` in traits is not `dyn`-compatible, and the CLI holds its driver as
/// `Box<dyn Driver>`, so the trait returns boxed futures instead.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The result type of driver operations.
pub type DriverResult<T> = Result<T, DriverError>;

/// When a driver call has waited this long for the server, the driver starts checking on a
/// connection of its own that the server is reachable and still working on the call.
pub const PROBE_AFTER: Duration = Duration::from_secs(15);

/// How often, after [`PROBE_AFTER`], the driver checks again.
pub const PROBE_EVERY: Duration = Duration::from_secs(15);

/// What a backend can do, as far as core's planning cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// DDL statements run inside a transaction and roll back with it (PostgreSQL, SQLite).
    /// When false (MySQL, MariaDB), core runs every migration that contains DDL under the
    /// dirty protocol: the row is written `dirty = true` first and cleared after success.
    pub transactional_ddl: bool,
    /// The SQL dialect, for the lexer in [`crate::sql`].
    pub dialect: crate::sql::Dialect,
}

/// The database side of ferry. One implementation per backend.
///
/// Contract (checked by the conformance suite in `ferry_core::testkit`, true on every backend):
/// - [`Driver::lock`] takes a database-wide migration lock of the kind set with
///   [`Driver::set_lock_options`] (see [`crate::lock`]), polling until `timeout` and then
///   failing with [`DriverErrorKind::LockTimeout`]. Taking it again on the connection that
///   holds it succeeds at once and does not stack: one [`Driver::unlock`] releases it.
///   Releasing a lock that is not held is not an error. An advisory or write lock dies with
///   the connection; a lease lock expires within one lease when its holder is gone.
/// - While a lease lock is held, every [`Driver::execute_in_transaction`], [`Driver::write`]
///   and [`Driver::execute`] first checks (in the same transaction, where there is one) that
///   the lease still names this run, and fails with [`DriverErrorKind::LockLost`] otherwise,
///   changing nothing.
/// - [`Driver::execute_in_transaction`] runs the SQL batch and the row change in one
///   transaction: both commit or neither does.
/// - [`Driver::execute`] runs the SQL batch outside any transaction (PostgreSQL sends each
///   statement of a `no_transaction` section alone).
/// - [`Driver::write`] applies a row change at once: this connection reads it back
///   immediately, and it is committed before the next [`Driver::execute`] starts (so a dirty
///   row is on disk before the SQL it guards runs) and at the latest by [`Driver::unlock`].
///   PostgreSQL and MySQL commit it at once; SQLite, whose lock is a write transaction held
///   for the run, commits it with that transaction.
/// - [`Driver::applied`] reads rows in apply order with one query, filtered by app when asked.
/// - Nothing from an app name, migration ID or description is pasted into SQL text: the
///   tracking statements come from [`crate::TrackingSql`] with bound [`crate::Value`]s.
pub trait Driver: Send {
    /// The backend's short name: `sqlite`, `postgres` or `mysql`.
    fn backend(&self) -> &'static str;

    /// What the backend can do.
    fn capabilities(&self) -> Capabilities;

    /// The tracking table this driver reads and writes.
    fn table(&self) -> &TableName;

    /// Whether the tracking table exists. Read-only.
    fn table_exists(&mut self) -> BoxFuture<'_, DriverResult<bool>>;

    /// Create the tracking table (and its schema, where one is named) when missing.
    fn ensure_table(&mut self) -> BoxFuture<'_, DriverResult<()>>;

    /// Choose the lock [`Driver::lock`] takes. Drivers start with [`LockOptions::default`];
    /// a backend with one kind of lock only (SQLite) keeps it whatever is asked.
    fn set_lock_options(&mut self, options: LockOptions);

    /// The lock [`Driver::lock`] takes and why, deciding [`crate::LockKind::Auto`] (which may
    /// ask the server, once). Read-only.
    fn lock_choice(&mut self) -> BoxFuture<'_, DriverResult<LockChoice>>;

    /// Who holds the migration lock now, where the backend can tell (`None`: nobody, or
    /// unknown). Read-only: it creates nothing.
    fn lock_holder(&mut self) -> BoxFuture<'_, DriverResult<Option<LockHolder>>>;

    /// Take the migration lock, waiting at most `timeout`.
    fn lock(&mut self, timeout: Duration) -> BoxFuture<'_, DriverResult<()>>;

    /// Release the migration lock. Releasing a lock that is not held is not an error.
    fn unlock(&mut self) -> BoxFuture<'_, DriverResult<()>>;

    /// The tracking rows in apply order (ascending `row_id`), only those of `app` when given.
    /// The tracking table must exist.
    fn applied<'a>(
        &'a mut self,
        app: Option<&'a str>,
    ) -> BoxFuture<'a, DriverResult<Vec<AppliedMigration>>>;

    /// Run `sql` (a multi-statement batch) and apply `change` in one transaction. The driver
    /// records the time the SQL took with [`RowChange::with_duration`] before applying it.
    fn execute_in_transaction<'a>(
        &'a mut self,
        sql: &'a str,
        change: &'a RowChange,
    ) -> BoxFuture<'a, DriverResult<()>>;

    /// Run `sql` outside any transaction. `no_transaction` is true for a section marked
    /// `no-transaction`, where the backend must not wrap the batch in an implicit transaction.
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        no_transaction: bool,
    ) -> BoxFuture<'a, DriverResult<()>>;

    /// Apply a row change on its own (see the trait docs for when it is committed).
    fn write<'a>(&'a mut self, change: &'a RowChange) -> BoxFuture<'a, DriverResult<()>>;

    /// Start a run-wide transaction (`forwards --atomic` and `--rehearse`, SPEC §10): until
    /// [`Driver::end_atomic`], every [`Driver::execute_in_transaction`] and [`Driver::write`]
    /// joins it instead of committing on its own. Called with the lock held; only on backends
    /// with transactional DDL. The default says the backend cannot.
    fn begin_atomic(&mut self) -> BoxFuture<'_, DriverResult<()>> {
        let backend = self.backend();
        Box::pin(std::future::ready(Err(DriverError::new(
            DriverErrorKind::Other,
            format!("the {backend} driver cannot run migrations in one transaction"),
        ))))
    }

    /// End the run-wide transaction: commit it (`commit`, after the lease fence where a lease
    /// is held) or roll it back. Ending one that is not open does nothing.
    fn end_atomic(&mut self, commit: bool) -> BoxFuture<'_, DriverResult<()>> {
        let _ = commit;
        Box::pin(std::future::ready(Ok(())))
    }

    /// The schema as the catalog describes it now ([`crate::schema`], SPEC §9.3), leaving out
    /// the tracking table and its lock table. Read-only; a few catalog queries whatever the
    /// schema's size. The default says the backend cannot.
    fn snapshot(&mut self) -> BoxFuture<'_, DriverResult<crate::schema::Schema>> {
        let backend = self.backend();
        Box::pin(std::future::ready(Err(DriverError::new(
            DriverErrorKind::Other,
            format!("the {backend} driver cannot read a schema snapshot"),
        ))))
    }
}

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
                crate::seconds_text(waited)
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

/// A tracking table name, validated so that it can be quoted into SQL safely:
/// `name` or `schema.name`, each part `[A-Za-z_][A-Za-z0-9_]*`, at most 63 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    schema: Option<String>,
    name: String,
}

impl TableName {
    /// The default name, `ferry_migrations`.
    pub const DEFAULT: &'static str = "ferry_migrations";

    /// Parse and validate a table name.
    ///
    /// ```
    /// use ferry_core::TableName;
    /// let t = TableName::parse("ops.ferry_migrations").unwrap();
    /// assert_eq!(t.schema(), Some("ops"));
    /// assert_eq!(t.name(), "ferry_migrations");
    /// assert!(TableName::parse("bad name").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<TableName, String> {
        let (schema, name) = match text.split_once('.') {
            Some((s, n)) => (Some(s), n),
            None => (None, text),
        };
        if let Some(long) = [Some(name), schema]
            .into_iter()
            .flatten()
            .find(|p| p.len() > 63)
        {
            return Err(format!(
                "invalid tracking table name: `{}...` is {} characters long; the limit is 63 for each of its parts",
                long.chars().take(20).collect::<String>(),
                long.chars().count()
            ));
        }
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 63
                && part
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !valid(name) || schema.is_some_and(|s| !valid(s)) {
            return Err(format!(
                "invalid tracking table name `{text}`: use letters, digits and `_` (optionally `schema.table`), starting with a letter or `_`"
            ));
        }
        Ok(TableName {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
        })
    }

    /// The schema part, if one was given.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The table part.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A stable 64-bit key derived from the full name, for advisory locks.
    pub fn lock_key(&self) -> i64 {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("ferry:{self}").as_bytes());
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(bytes)
    }

    /// The longest name [`TableName::lock_name`] returns: what MySQL and MariaDB accept for
    /// `GET_LOCK`.
    pub const MAX_LOCK_NAME: usize = 64;

    /// A readable lock name for named locks (MySQL `GET_LOCK`): `ferry:<database>.<table>`,
    /// where `database` is the database holding the table, or, past
    /// [`TableName::MAX_LOCK_NAME`] characters, `ferry:` and the start of that text's
    /// [`crate::checksum`].
    ///
    /// ```
    /// use ferry_core::TableName;
    /// let table = TableName::default();
    /// assert_eq!(table.lock_name("app"), "ferry:app.ferry_migrations");
    /// assert_eq!(table.lock_name(&"d".repeat(64)).len(), TableName::MAX_LOCK_NAME);
    /// ```
    pub fn lock_name(&self, database: &str) -> String {
        const PREFIX: &str = "ferry:";
        let full = format!("{PREFIX}{database}.{}", self.name);
        if full.len() <= Self::MAX_LOCK_NAME {
            return full;
        }
        let mut hashed = crate::checksum(&full);
        hashed.truncate(Self::MAX_LOCK_NAME - PREFIX.len());
        format!("{PREFIX}{hashed}")
    }
}

impl TableName {
    /// The lease lock's table beside this one: `<name>_lock` in the same schema, or, past 63
    /// characters, the name's start, a hash of the whole name and `_lock`.
    ///
    /// ```
    /// use ferry_core::TableName;
    /// let t = TableName::parse("ops.ferry_migrations").unwrap();
    /// assert_eq!(t.lease_table().to_string(), "ops.ferry_migrations_lock");
    /// let long = TableName::parse(&"t".repeat(63)).unwrap().lease_table();
    /// assert_eq!(long.name().len(), 63);
    /// assert!(long.name().ends_with("_lock"));
    /// ```
    pub fn lease_table(&self) -> TableName {
        const SUFFIX: &str = "_lock";
        let name = if self.name.len() + SUFFIX.len() <= 63 {
            format!("{}{SUFFIX}", self.name)
        } else {
            let hash = &crate::checksum(&self.name)[..8];
            format!("{}_{hash}{SUFFIX}", &self.name[..63 - SUFFIX.len() - 9])
        };
        TableName {
            schema: self.schema.clone(),
            name,
        }
    }
}

impl Default for TableName {
    fn default() -> Self {
        TableName {
            schema: None,
            name: Self::DEFAULT.to_owned(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Redact the passwords of URL-like text for display: `postgres://u:secret@h/db` becomes
/// `postgres://u:***@h/db`, and `password=` parameters (of a URL's query, or of a key-value
/// connection string) become `password=***`. Works on whole messages that quote URLs, and
/// errs on the side of hiding: a password holding `/`, `?`, `@` or spaces is hidden whole.
///
/// ```
/// assert_eq!(
///     ferry_core::redact_url("mysql://root:hunter2@db:3306/app?password=x"),
///     "mysql://root:***@db:3306/app?password=***"
/// );
/// assert_eq!(
///     ferry_core::redact_url("bad URL `postgres://u:pa/ss?w@h/db`: no"),
///     "bad URL `postgres://u:***@h/db`: no"
/// );
/// assert_eq!(
///     ferry_core::redact_url("host=h password='a b' dbname=x"),
///     "host=h password=*** dbname=x"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    redact_query_passwords(&redact_userinfo(url))
}

/// The userinfo password of every `scheme://user:password@host` in `text`. The userinfo ends
/// at the last `@` before the next URL (or the end of the text): a password may hold `/`, `?`,
/// `#` or `@` unencoded, and hiding too much is better than showing any of it.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let after = scheme_end + 3;
        out.push_str(&rest[..after]);
        rest = &rest[after..];
        let next_url = next_url_start(rest).unwrap_or(rest.len());
        // The `@` ending the userinfo: within the authority when the authority has one, else
        // the last one before the next URL.
        let authority_end = rest
            .find(|c: char| matches!(c, '/' | '?' | '#' | '`' | '\'' | '"') || c.is_whitespace())
            .unwrap_or(rest.len());
        let at = rest[..authority_end]
            .rfind('@')
            .or_else(|| rest[..next_url].rfind('@'));
        if let Some(at) = at {
            if let Some(colon) = rest[..at].find(':') {
                out.push_str(&rest[..=colon]);
                out.push_str("***");
                out.push_str(&rest[at..at + 1]);
                rest = &rest[at + 1..];
                continue;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where the next URL of `text` starts: a `scheme://` whose scheme follows the start of the
/// text, whitespace, a quote or a backtick (so that a password holding `://` is no URL).
fn next_url_start(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = text[from..].find("://") {
        let colon = from + pos;
        let scheme_start = text[..colon]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')))
            .map_or(0, |i| i + 1);
        let boundary = text[..scheme_start]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || matches!(c, '`' | '\'' | '"' | '(' | '<'));
        if scheme_start < colon && boundary {
            return Some(scheme_start);
        }
        from = colon + 3;
    }
    None
}

/// Every `password=` value: in a URL's query (after `?` or `&`) up to the next `&`, `#`,
/// backtick, double quote or line end; in a key-value string, a quoted `'...'` value or up to
/// the next whitespace.
fn redact_query_passwords(text: &str) -> String {
    const KEY: &str = "password=";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(pos) = lower[i..].find(KEY) {
        let key_start = i + pos;
        let start = key_start + KEY.len();
        out.push_str(&text[i..start]);
        let value = &text[start..];
        let in_query = text[..key_start].ends_with(['?', '&']);
        let len = if in_query {
            value
                .find(['&', '#', '`', '"', '\n', '\r'])
                .unwrap_or(value.len())
        } else if let Some(quoted) = value.strip_prefix('\'') {
            // libpq's quoting: `\'` and `\\` are escapes inside.
            let mut escaped = false;
            quoted
                .char_indices()
                .find(|&(_, c)| {
                    let end = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    end
                })
                .map_or(value.len(), |(j, _)| j + 2)
        } else {
            value.find(char::is_whitespace).unwrap_or(value.len())
        };
        out.push_str("***");
        i = start + len;
    }
    out.push_str(&text[i..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_fit_mysql() {
        let table = TableName::default();
        assert_eq!(table.lock_name("app"), "ferry:app.ferry_migrations");
        assert_eq!(table.lock_name(""), "ferry:.ferry_migrations");
        let long_table = TableName::parse(&"t".repeat(63)).unwrap();
        let long = long_table.lock_name(&"d".repeat(64));
        assert_eq!(long.len(), TableName::MAX_LOCK_NAME);
        assert!(long.starts_with("ferry:"));
        assert_eq!(long, long_table.lock_name(&"d".repeat(64)));
        assert_ne!(long, long_table.lock_name(&"e".repeat(64)));
        // The same name the MySQL driver derived before it used `checksum`.
        use sha2::{Digest, Sha256};
        let full = format!("ferry:{}.{}", "d".repeat(64), "t".repeat(63));
        let hex: String = Sha256::digest(full.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(long, format!("ferry:{}", &hex[..58]));
        // Exactly 64 characters stays readable.
        let fits = TableName::parse(&"t".repeat(63 - 6)).unwrap();
        assert_eq!(fits.lock_name("").len(), 64);
        assert!(fits.lock_name("").ends_with(&"t".repeat(57)));
    }
}
