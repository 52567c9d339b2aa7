//! Migrations: the in-memory model and the file format parser.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::text::checksum;

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

/// A level of a `ferry lint` finding that `--deny` can refuse and `-- ferry:allow` can
/// accept (SPEC §13.2; `ok` is neither).
///
/// ```
/// use ferry_core::LintLevel;
/// assert_eq!(LintLevel::parse("blocks-all"), Some(LintLevel::BlocksAll));
/// assert_eq!(LintLevel::parse_list("rewrites, destructive").unwrap(), [LintLevel::Rewrites, LintLevel::Destructive]);
/// assert!(LintLevel::parse_list("rewrite").unwrap_err().contains("known: rewrites"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LintLevel {
    /// A pre-existing table or index rewritten.
    Rewrites,
    /// Reads and writes of a pre-existing table blocked for longer than a catalog change.
    BlocksAll,
    /// Writes of a pre-existing table blocked for longer than a catalog change.
    BlocksWrites,
    /// A pre-existing table or column dropped, or renamed.
    Destructive,
}

impl LintLevel {
    /// Every level, in the order of severity used in output.
    pub const ALL: [LintLevel; 4] = [
        LintLevel::Rewrites,
        LintLevel::BlocksAll,
        LintLevel::BlocksWrites,
        LintLevel::Destructive,
    ];

    /// The spelling in files, options and output.
    pub fn as_str(self) -> &'static str {
        match self {
            LintLevel::Rewrites => "rewrites",
            LintLevel::BlocksAll => "blocks-all",
            LintLevel::BlocksWrites => "blocks-writes",
            LintLevel::Destructive => "destructive",
        }
    }

    /// The level spelled `word`, if any.
    pub fn parse(word: &str) -> Option<LintLevel> {
        Self::ALL.into_iter().find(|l| l.as_str() == word)
    }

    /// A comma-separated list of levels (spaces around names ignored, repeats dropped); an
    /// unknown or missing name is an error message naming the known ones.
    pub fn parse_list(text: &str) -> std::result::Result<Vec<LintLevel>, String> {
        let mut levels = Vec::new();
        for word in text.split(',').map(str::trim) {
            let Some(level) = Self::parse(word) else {
                let known: Vec<&str> = Self::ALL.iter().map(|l| l.as_str()).collect();
                return Err(format!(
                    "unknown lint level `{word}`; known: {}",
                    known.join(", ")
                ));
            };
            if !levels.contains(&level) {
                levels.push(level);
            }
        }
        Ok(levels)
    }
}

impl std::fmt::Display for LintLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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

/// Parse the text of a single-file migration (`<id>_<slug>.sql`). `path` is used in errors
/// and recorded in the sections.
///
/// ```
/// use std::path::Path;
/// let text = "-- ferry:description Create posts\n-- ferry:up\nCREATE TABLE posts (id INT);\n-- ferry:down\nDROP TABLE posts;\n";
/// let m = ferry_core::parse_migration(Path::new("1_posts.sql"), "1", "posts", text).unwrap();
/// assert_eq!(m.description, "Create posts");
/// assert_eq!(m.up.sql, "CREATE TABLE posts (id INT);\n");
/// assert_eq!(m.up.first_line, 3);
/// ```
pub fn parse_migration(path: &Path, id: &str, slug: &str, text: &str) -> Result<Migration> {
    let text = normalize_newlines(text.strip_prefix('\u{feff}').unwrap_or(text));
    let err = |line: usize, message: String| Error::MigrationFile {
        path: path.to_owned(),
        line: Some(line),
        message,
    };
    let mut description: Option<String> = None;
    let mut allow: Vec<LintLevel> = Vec::new();
    // (start byte of section, first line of section, no_transaction, marker line)
    let mut up: Option<(usize, usize, bool, usize)> = None;
    let mut down: Option<(usize, usize, bool, usize)> = None;
    // Byte offsets of each section's end (the start of the next marker line).
    let mut boundaries: Vec<usize> = Vec::new();
    let mut offset = 0usize;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        let line_start = offset;
        offset += line.len();
        let trimmed = line.trim();
        let Some(directive) = trimmed.strip_prefix("-- ferry:") else {
            if up.is_none() && down.is_none() && !trimmed.is_empty() && !trimmed.starts_with("--") {
                return Err(err(
                    line_no,
                    "SQL before the first marker: put it after `-- ferry:up` (or `-- ferry:down`)"
                        .into(),
                ));
            }
            continue;
        };
        let (word, rest) = match directive.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (directive, ""),
        };
        match word {
            "description" => {
                if up.is_some() || down.is_some() {
                    return Err(err(
                        line_no,
                        "`-- ferry:description` must come before `-- ferry:up`".into(),
                    ));
                }
                if description.is_some() {
                    return Err(err(line_no, "repeated marker `-- ferry:description`".into()));
                }
                if rest.is_empty() {
                    return Err(err(
                        line_no,
                        "`-- ferry:description` needs a text after it".into(),
                    ));
                }
                description = Some(rest.to_owned());
            }
            "up" | "down" => {
                let no_transaction = match rest {
                    "" => false,
                    "no-transaction" => true,
                    other => {
                        return Err(err(
                            line_no,
                            format!("unknown option `{other}` after `-- ferry:{word}`; the only option is `no-transaction`"),
                        ))
                    }
                };
                let slot = if word == "up" { &mut up } else { &mut down };
                if slot.is_some() {
                    return Err(err(line_no, format!("repeated marker `-- ferry:{word}`")));
                }
                *slot = Some((offset, line_no + 1, no_transaction, line_no));
                boundaries.push(line_start);
            }
            "allow" => {
                if down.is_some() {
                    return Err(err(
                        line_no,
                        "`-- ferry:allow` belongs before `-- ferry:up` or in the up section, not in the down section".into(),
                    ));
                }
                add_allowed(&mut allow, rest).map_err(|m| err(line_no, m))?;
            }
            "no-transaction" => {
                return Err(err(
                    line_no,
                    "`-- ferry:no-transaction` belongs to the pair form; in a single file write `-- ferry:up no-transaction`".into(),
                ))
            }
            other => {
                return Err(err(
                    line_no,
                    format!("unknown directive `-- ferry:{other}`; known: description, allow, up, down"),
                ))
            }
        }
    }
    let Some(up) = up else {
        return Err(Error::MigrationFile {
            path: path.to_owned(),
            line: None,
            message: "no `-- ferry:up` marker: a migration needs an up section".into(),
        });
    };
    let section = |(start, first_line, no_transaction, _): (usize, usize, bool, usize)| {
        let end = boundaries
            .iter()
            .copied()
            .filter(|&b| b >= start)
            .min()
            .unwrap_or(text.len());
        Section {
            sql: text[start..end].to_owned(),
            no_transaction,
            file: Some(path.to_owned()),
            first_line,
        }
    };
    let up = section(up);
    let down = down.map(section);
    Ok(Migration {
        id: id.to_owned(),
        description: description.unwrap_or_else(|| slug_description(slug)),
        checksum: checksum(&up.sql),
        up,
        down,
        files: vec![path.to_owned()],
        allow,
    })
}

/// Add the levels of one `-- ferry:allow` line (the text after the word) to `allow`.
fn add_allowed(allow: &mut Vec<LintLevel>, rest: &str) -> std::result::Result<(), String> {
    if rest.is_empty() {
        return Err(
            "`-- ferry:allow` needs levels after it, e.g. `-- ferry:allow rewrites,blocks-all`"
                .into(),
        );
    }
    for level in LintLevel::parse_list(rest)? {
        if !allow.contains(&level) {
            allow.push(level);
        }
    }
    Ok(())
}

/// The `-- ferry:allow` lines of a pair form's `.up.sql` file, anywhere in it.
pub(crate) fn pair_allowed(path: &Path, sql: &str) -> Result<Vec<LintLevel>> {
    let mut allow = Vec::new();
    for (index, line) in sql.lines().enumerate() {
        let trimmed = line.trim();
        let Some(rest) = trimmed.strip_prefix("-- ferry:allow") else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
            continue;
        }
        add_allowed(&mut allow, rest.trim()).map_err(|message| Error::MigrationFile {
            path: path.to_owned(),
            line: Some(index + 1),
            message,
        })?;
    }
    Ok(allow)
}

pub(crate) fn parse_pair_part(path: &Path, text: &str) -> Result<Section> {
    let mut no_transaction = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(directive) = trimmed.strip_prefix("-- ferry:") {
            if index == 0 && directive.trim() == "no-transaction" {
                no_transaction = true;
                continue;
            }
            if directive == "allow" || directive.starts_with("allow ") {
                continue;
            }
            return Err(Error::MigrationFile {
                path: path.to_owned(),
                line: Some(index + 1),
                message: format!(
                    "unknown directive `{trimmed}`: pair-form files are plain SQL; only a first line `-- ferry:no-transaction` and `-- ferry:allow LEVEL` lines are allowed"
                ),
            });
        }
    }
    Ok(Section {
        sql: text.to_owned(),
        no_transaction,
        file: Some(path.to_owned()),
        first_line: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Migration> {
        parse_migration(Path::new("m/1_test.sql"), "1", "add_things", text)
    }

    fn line_of(err: Error) -> (Option<usize>, String) {
        match err {
            Error::MigrationFile { line, message, .. } => (line, message),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn sections_and_checksum() {
        let m = parse("-- header comment\n-- ferry:up\nA;\n\n-- ferry:down\nB;").unwrap();
        assert_eq!(m.up.sql, "A;\n\n");
        assert_eq!(m.down.as_ref().unwrap().sql, "B;");
        assert_eq!(m.down.as_ref().unwrap().first_line, 6);
        assert_eq!(m.description, "add things");
        assert_eq!(m.checksum, checksum("A;\n\n"));
        // Editing the down section does not change the checksum.
        let m2 = parse("-- ferry:up\nA;\n\n-- ferry:down\nC;").unwrap();
        assert_eq!(m.checksum, m2.checksum);
    }

    #[test]
    fn code_built_migrations_refuse_file_text() {
        let file = "-- ferry:description Create posts\n-- ferry:up\nCREATE TABLE posts (id INT);\n-- ferry:down\nDROP TABLE posts;\n";
        let err = Migration::try_new("0001", "create posts", file, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "migration 0001: its up SQL holds the marker `-- ferry:` on line 1: that is the text of a migration file, whose sections `Migration::new` would run as one; embed the files with ferry-build and `ferry_core::embedded_migrations!()`, or parse the text with `ferry_core::parse_migration`"
        );
        let err = Migration::try_new("2", "d", "SELECT 1;", Some("SELECT 2;\n  -- ferry:up\n"));
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("its down SQL holds the marker `-- ferry:` on line 2"));
        // A comment that merely mentions ferry is plain SQL.
        assert!(Migration::try_new("3", "d", "-- ferry is nice\nSELECT 1;", None).is_ok());
        let panic = std::panic::catch_unwind(|| Migration::new("4", "d", file, None));
        assert!(panic.is_err());
    }

    #[test]
    fn crlf_and_bom_read_like_lf() {
        let lf = parse("-- ferry:up\nA;\n-- ferry:down\nB;\n").unwrap();
        let crlf = parse("\u{feff}-- ferry:up\r\nA;\r\n-- ferry:down\r\nB;\r\n").unwrap();
        assert_eq!(lf.up.sql, crlf.up.sql);
        assert_eq!(lf.checksum, crlf.checksum);
    }

    #[test]
    fn irreversible_and_empty_down() {
        assert!(parse("-- ferry:up\nA;").unwrap().down.is_none());
        let m = parse("-- ferry:up\nA;\n-- ferry:down\n").unwrap();
        assert_eq!(m.down.unwrap().sql, "");
    }

    #[test]
    fn no_transaction_option() {
        let m = parse("-- ferry:up no-transaction\nA;\n-- ferry:down no-transaction\nB;").unwrap();
        assert!(m.up.no_transaction);
        assert!(m.down.unwrap().no_transaction);
    }

    #[test]
    fn malformed_files_name_the_line() {
        assert_eq!(
            line_of(parse("SELECT 1;\n-- ferry:up\n").unwrap_err()).0,
            Some(1)
        );
        assert_eq!(line_of(parse("-- ferry:down\nB;\n").unwrap_err()).0, None);
        assert_eq!(
            line_of(parse("-- ferry:up\nA;\n-- ferry:up\n").unwrap_err()).0,
            Some(3)
        );
        assert_eq!(
            line_of(parse("-- ferry:up\n-- ferry:sideways\n").unwrap_err()).0,
            Some(2)
        );
        assert_eq!(
            line_of(parse("-- ferry:up bogus\n").unwrap_err()).0,
            Some(1)
        );
    }

    #[test]
    fn allow_lines_before_and_in_the_up_section() {
        let m = parse("-- ferry:allow rewrites\n-- ferry:up\n-- ferry:allow blocks-all, rewrites\nSELECT 1;\n").unwrap();
        assert_eq!(m.allow, [LintLevel::Rewrites, LintLevel::BlocksAll]);
        // Before the up marker: outside the up section, so outside the checksum.
        let plain = parse("-- ferry:up\nSELECT 1;\n").unwrap();
        let allowed = parse("-- ferry:allow destructive\n-- ferry:up\nSELECT 1;\n").unwrap();
        assert_eq!(plain.checksum, allowed.checksum);
        let (line, message) = line_of(parse("-- ferry:up\n-- ferry:allow rewrite\n").unwrap_err());
        assert_eq!(line, Some(2));
        assert!(
            message.contains("unknown lint level `rewrite`"),
            "{message}"
        );
        let (line, _) = line_of(parse("-- ferry:allow\n-- ferry:up\n").unwrap_err());
        assert_eq!(line, Some(1));
        let (line, message) = line_of(
            parse("-- ferry:up\nSELECT 1;\n-- ferry:down\n-- ferry:allow rewrites\n").unwrap_err(),
        );
        assert_eq!(line, Some(4));
        assert!(message.contains("not in the down section"), "{message}");
        // The pair form: anywhere in the .up.sql file.
        let path = Path::new("m/2_x.up.sql");
        let section = parse_pair_part(
            path,
            "-- ferry:no-transaction\n-- ferry:allow blocks-writes\nSELECT 1;\n",
        )
        .unwrap();
        assert!(section.no_transaction);
        assert_eq!(
            pair_allowed(path, &section.sql).unwrap(),
            [LintLevel::BlocksWrites]
        );
        assert!(pair_allowed(path, "-- ferry:allow fast\n").is_err());
    }
}
