//! The levels of `ferry lint` findings that `--deny` refuses and a migration file's
//! `-- ferry:allow LEVEL[,LEVEL]` lines accept (SPEC §13.2, §13.3).

use std::path::Path;

use crate::error::{Error, Result};

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

/// Add the levels of one `-- ferry:allow` line (the text after the word) to `allow`.
pub(super) fn add_allowed(
    allow: &mut Vec<LintLevel>,
    rest: &str,
) -> std::result::Result<(), String> {
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
