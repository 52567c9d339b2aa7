//! Migrations: the in-memory model (`Section`, `Migration`, ID rules and limits); the file
//! format parser is in [`parse`], the `-- ferry:allow` levels of `ferry lint` in [`allow`].

use std::borrow::Cow;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::text::checksum;

mod allow;
mod parse;

pub(crate) use allow::pair_allowed;
pub use allow::LintLevel;
pub use parse::parse_migration;
pub(crate) use parse::parse_pair_part;

/// One direction (up or down) of a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The SQL, exactly as in the file (LF line endings).
    pub sql: String,
    /// Run outside a transaction (`-- ferry:up no-transaction`).
    pub no_transaction: bool,
    /// The file the section came from (`None` for migrations built in code).
    pub file: Option<PathBuf>,
    /// 1-based line in `file` of the section's first line.
    pub first_line: usize,
}

impl Section {
    /// A section built in code, run in a transaction.
    pub fn new(sql: impl Into<String>) -> Self {
        Section {
            sql: sql.into(),
            no_transaction: false,
            file: None,
            first_line: 1,
        }
    }

    /// The line in the file for a 1-based line within the section's SQL.
    pub fn file_line(&self, line_in_sql: usize) -> usize {
        self.first_line + line_in_sql.saturating_sub(1)
    }
}

/// One migration of an app: an ID, a description, an up section and an optional down section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The ID: ASCII digits, exactly as written (`007` stays `007`).
    pub id: String,
    /// A human description.
    pub description: String,
    /// The up section.
    pub up: Section,
    /// The down section; `None` makes the migration irreversible.
    pub down: Option<Section>,
    /// SHA-256 (lower-case hex) of the up section.
    pub checksum: String,
    /// The files the migration was read from (empty when built in code). `--clean` deletes these.
    pub files: Vec<PathBuf>,
    /// The `ferry lint` levels its file accepts (`-- ferry:allow LEVEL[,LEVEL]`, SPEC §13.3),
    /// in the order written, without repeats.
    pub allow: Vec<LintLevel>,
}

impl Migration {
    /// Build a migration in code from plain SQL (for example `include_str!` of an `.up.sql`
    /// file), so a program can run it without files. `down: None` makes it irreversible.
    ///
    /// `up` and `down` are plain SQL. The text of a migration *file* is not: a single-file
    /// migration (what `ferry new` writes) holds both sections and its `-- ferry:` markers,
    /// and passing it here would run the down section as part of up. Embed files with
    /// `ferry-build` and [`embedded_migrations!`](crate::embedded_migrations), or parse a
    /// file's text with [`parse_migration`].
    ///
    /// # Panics
    /// When `id` is not one or more ASCII digits, or when `up` or `down` holds a `-- ferry:`
    /// marker line (programming errors in the embedding program); [`Migration::try_new`]
    /// returns an error instead.
    ///
    /// ```
    /// use ferry_core::Migration;
    /// let m = Migration::new("1", "create users", "CREATE TABLE users (id INTEGER);", Some("DROP TABLE users;"));
    /// assert_eq!(m.id, "1");
    /// assert!(m.is_reversible());
    /// assert_eq!(m.checksum.len(), 64);
    /// ```
    pub fn new(
        id: impl Into<String>,
        description: impl Into<String>,
        up: impl Into<String>,
        down: Option<&str>,
    ) -> Migration {
        match Self::try_new(id, description, up, down) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Migration::new`], but an invalid ID, or SQL holding a `-- ferry:` marker line,
    /// is an error ([`Error::Usage`]) rather than a panic.
    ///
    /// ```
    /// use ferry_core::Migration;
    /// assert!(Migration::try_new("x1", "bad id", "SELECT 1", None).is_err());
    /// assert!(Migration::try_new("0042", "fine", "SELECT 1", None).is_ok());
    /// let file = "-- ferry:up\nCREATE TABLE t (id INT);\n-- ferry:down\nDROP TABLE t;\n";
    /// let err = Migration::try_new("1", "create t", file, None).unwrap_err();
    /// assert!(err.to_string().contains("parse_migration"));
    /// ```
    pub fn try_new(
        id: impl Into<String>,
        description: impl Into<String>,
        up: impl Into<String>,
        down: Option<&str>,
    ) -> Result<Migration> {
        let id = id.into();
        if !is_valid_id(&id) {
            return Err(Error::Usage(format!(
                "invalid migration ID `{id}`: use one or more ASCII digits"
            )));
        }
        let up = normalize_newlines(&up.into()).into_owned();
        for (section, sql) in [("up", Some(up.as_str())), ("down", down)] {
            let Some(line) = sql.and_then(marker_line) else {
                continue;
            };
            return Err(Error::Usage(format!(
                "migration {id}: its {section} SQL holds the marker `-- ferry:` on line {line}: that is the text of a migration file, whose sections `Migration::new` would run as one; embed the files with ferry-build and `ferry_core::embedded_migrations!()`, or parse the text with `ferry_core::parse_migration`"
            )));
        }
        Ok(Migration {
            checksum: checksum(&up),
            id,
            description: description.into(),
            up: Section::new(up),
            down: down.map(|d| Section::new(normalize_newlines(d).into_owned())),
            files: Vec::new(),
            allow: Vec::new(),
        })
    }

    /// Mark the up and/or down section as `no-transaction`.
    pub fn with_no_transaction(mut self, up: bool, down: bool) -> Self {
        self.up.no_transaction = up;
        if let Some(d) = &mut self.down {
            d.no_transaction = down;
        }
        self
    }

    /// Whether the migration has a down section.
    pub fn is_reversible(&self) -> bool {
        self.down.is_some()
    }

    /// The main file of the migration (the single file, or the `.up.sql` of a pair); for an
    /// embedded migration, the file it was embedded from (for messages only).
    pub fn file(&self) -> Option<&Path> {
        self.files
            .first()
            .or(self.up.file.as_ref())
            .map(PathBuf::as_path)
    }
}

/// The 1-based line of the first `-- ferry:` marker line in `sql`, if any.
fn marker_line(sql: &str) -> Option<usize> {
    sql.lines()
        .position(|l| l.trim_start().starts_with("-- ferry:"))
        .map(|i| i + 1)
}

/// The longest migration ID, in characters, on every backend (MySQL keeps it in a
/// `VARCHAR(255)`).
pub const MAX_ID_LEN: usize = 255;

/// The longest description, in characters, on every backend.
pub const MAX_DESCRIPTION_LEN: usize = 1000;

/// Check `migration` against the limits every backend can store ([`MAX_ID_LEN`],
/// [`MAX_DESCRIPTION_LEN`]), so that a project that works on one backend works on all.
/// The message names what is too long and the limit.
///
/// ```
/// use ferry_core::{check_limits, Migration};
/// let mut migration = Migration::new("1", "ok", "SELECT 1;", None);
/// assert!(check_limits(&migration).is_ok());
/// migration.id = "1".repeat(256);
/// assert_eq!(
///     check_limits(&migration).unwrap_err(),
///     "migration ID is 256 characters long; the limit is 255 on every backend: shorten it"
/// );
/// ```
pub fn check_limits(migration: &Migration) -> std::result::Result<(), String> {
    let id_len = migration.id.chars().count();
    if id_len > MAX_ID_LEN {
        return Err(format!(
            "migration ID is {id_len} characters long; the limit is {MAX_ID_LEN} on every backend: shorten it"
        ));
    }
    let description_len = migration.description.chars().count();
    if description_len > MAX_DESCRIPTION_LEN {
        return Err(format!(
            "description is {description_len} characters long; the limit is {MAX_DESCRIPTION_LEN} on every backend: shorten the file name or the `-- ferry:description` line"
        ));
    }
    Ok(())
}

/// Whether `id` is a valid migration ID (one or more ASCII digits).
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

/// Compare two migration IDs as unsigned integers of any length.
///
/// ```
/// use std::cmp::Ordering;
/// assert_eq!(ferry_core::compare_ids("9", "10"), Ordering::Less);
/// assert_eq!(ferry_core::compare_ids("007", "7"), Ordering::Equal);
/// ```
pub fn compare_ids(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `text` with CRLF read as LF; borrowed when it holds no CR (the usual case: no copy).
pub(crate) fn normalize_newlines(text: &str) -> Cow<'_, str> {
    if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

pub(crate) fn slug_description(slug: &str) -> String {
    slug.replace('_', " ")
}
