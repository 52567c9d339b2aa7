//! The migration file layout, without I/O: which names are migrations (`<id>_<slug>.sql`, the
//! `.up.sql` / `.down.sql` pair form), how the pairs are matched, how file bytes become text,
//! and the checks on an app's whole set (limits, duplicate IDs, order).
//!
//! The CLI's loader ([`crate::load_migrations`]) reads a folder with it, and so does
//! `ferry-build`, which embeds the same files in a program: both give the same migrations, IDs
//! and checksums.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::project::migration::{
    check_limits, compare_ids, is_valid_id, normalize_newlines, parse_migration, parse_pair_part,
    slug_description, Migration,
};
use crate::text::checksum;

/// What a file name says about a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileName {
    /// `<id>_<slug>.sql`: a whole migration, with `-- ferry:` markers.
    Single {
        /// The ID, exactly as written.
        id: String,
        /// The text after the first `_`.
        slug: String,
    },
    /// `<id>_<slug>.up.sql`: the up half of a pair.
    Up {
        /// The ID, exactly as written.
        id: String,
        /// The text after the first `_`.
        slug: String,
    },
    /// `<id>_<slug>.down.sql`: the down half of a pair.
    Down {
        /// The ID, exactly as written.
        id: String,
        /// The text after the first `_`.
        slug: String,
    },
}

/// What a file name means: `None` for a `.sql` name that does not match the grammar (an
/// error for the caller to report), and for names not ending in `.sql` (which are ignored;
/// check with [`is_migration_name`] first).
///
/// ```
/// use ferry_core::files::{parse_file_name, FileName};
/// assert_eq!(
///     parse_file_name("0012_v2.1_fix.sql"),
///     Some(FileName::Single { id: "0012".into(), slug: "v2.1_fix".into() })
/// );
/// assert_eq!(parse_file_name("create_users.sql"), None);
/// ```
pub fn parse_file_name(name: &str) -> Option<FileName> {
    let (stem, kind) = if let Some(s) = name.strip_suffix(".up.sql") {
        (s, 1)
    } else if let Some(s) = name.strip_suffix(".down.sql") {
        (s, 2)
    } else {
        (name.strip_suffix(".sql")?, 0)
    };
    let (id, slug) = stem.split_once('_')?;
    if !is_valid_id(id) || slug.is_empty() {
        return None;
    }
    let (id, slug) = (id.to_owned(), slug.to_owned());
    Some(match kind {
        0 => FileName::Single { id, slug },
        1 => FileName::Up { id, slug },
        _ => FileName::Down { id, slug },
    })
}

/// Whether a folder entry called `name` is part of the migrations (ends in `.sql`); every
/// other name is ignored.
pub fn is_migration_name(name: &str) -> bool {
    name.ends_with(".sql")
}

/// The files of one migration: one single file, or an up file and maybe its down file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationFiles<P> {
    /// `<id>_<slug>.sql`.
    Single {
        /// The ID.
        id: String,
        /// The slug (the default description, `_` as spaces).
        slug: String,
        /// The file.
        file: P,
    },
    /// `<id>_<slug>.up.sql` and, when there is one, `<id>_<slug>.down.sql`.
    Pair {
        /// The ID.
        id: String,
        /// The slug.
        slug: String,
        /// The up file.
        up: P,
        /// The down file; without it the migration is irreversible.
        down: Option<P>,
    },
}

impl<P> MigrationFiles<P> {
    /// Every file of the migration, the main one first.
    pub fn files(&self) -> Vec<&P> {
        match self {
            MigrationFiles::Single { file, .. } => vec![file],
            MigrationFiles::Pair { up, down, .. } => std::iter::once(up).chain(down).collect(),
        }
    }
}

/// Group an app's `.sql` files (name and path, in any order) into migrations, in file-name
/// order. A name that does not match the grammar, and a down file without its up file, are
/// [`Error::MigrationFile`]s naming the file. Names must end in `.sql` (see
/// [`is_migration_name`]).
///
/// ```
/// use std::path::PathBuf;
/// use ferry_core::files::{group, MigrationFiles};
/// let names = ["2_b.up.sql", "1_a.sql", "2_b.down.sql"]
///     .map(|n| (n.to_string(), PathBuf::from(n)));
/// let groups = group(names.to_vec()).unwrap();
/// assert!(matches!(&groups[0], MigrationFiles::Single { id, .. } if id == "1"));
/// assert!(matches!(&groups[1], MigrationFiles::Pair { down: Some(_), .. }));
/// ```
pub fn group<P: AsRef<Path>>(mut names: Vec<(String, P)>) -> Result<Vec<MigrationFiles<P>>> {
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let mut groups = Vec::new();
    let mut ups: Vec<(String, String, P)> = Vec::new();
    let mut downs: Vec<(String, String, P)> = Vec::new();
    for (name, path) in names {
        match parse_file_name(&name) {
            Some(FileName::Single { id, slug }) => groups.push(MigrationFiles::Single {
                id,
                slug,
                file: path,
            }),
            Some(FileName::Up { id, slug }) => ups.push((id, slug, path)),
            Some(FileName::Down { id, slug }) => downs.push((id, slug, path)),
            None => {
                return Err(Error::MigrationFile {
                    path: path.as_ref().to_owned(),
                    line: None,
                    message: "file name does not match `<id>_<slug>.sql` (or `<id>_<slug>.up.sql` / `.down.sql`), where <id> is digits; rename it, or give it another extension to have it ignored".into(),
                })
            }
        }
    }
    for (id, slug, up) in ups {
        let down = downs
            .iter()
            .position(|(d, s, _)| d == &id && s == &slug)
            .map(|i| downs.remove(i).2);
        groups.push(MigrationFiles::Pair { id, slug, up, down });
    }
    if let Some((_, _, path)) = downs.into_iter().next() {
        let path = path.as_ref();
        let expected = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.replace(".down.sql", ".up.sql"))
            .unwrap_or_default();
        return Err(Error::MigrationFile {
            path: path.to_owned(),
            line: None,
            message: format!("down file without its up file `{expected}`"),
        });
    }
    Ok(groups)
}

/// A migration file's bytes as text: UTF-8 (invalid UTF-8 is an error naming the file and
/// line), BOM dropped, CRLF read as LF. No copy unless there is a BOM or a CR to remove.
pub fn decode(path: &Path, mut bytes: Vec<u8>) -> Result<String> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        Error::MigrationFile {
            path: path.to_owned(),
            line: Some(valid.iter().filter(|&&b| b == b'\n').count() + 1),
            message: "invalid UTF-8: migration files must be UTF-8 text".into(),
        }
    })?;
    Ok(match normalize_newlines(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(normalized) => normalized,
    })
}

/// Parse one migration from its files; `text` gives a file's text (from disk, or from bytes
/// embedded in a program, through [`decode`]).
pub fn parse<P: AsRef<Path>>(
    files: &MigrationFiles<P>,
    text: impl Fn(&Path) -> Result<String>,
) -> Result<Migration> {
    match files {
        MigrationFiles::Single { id, slug, file } => {
            let path = file.as_ref();
            parse_migration(path, id, slug, &text(path)?)
        }
        MigrationFiles::Pair { id, slug, up, down } => {
            let up_path = up.as_ref();
            let up = parse_pair_part(up_path, &text(up_path)?, false)?;
            let allow = crate::project::migration::pair_allowed(up_path, &up.sql)?;
            let mut paths = vec![up_path.to_owned()];
            let down = match down {
                Some(down) => {
                    let down_path = down.as_ref();
                    paths.push(down_path.to_owned());
                    Some(parse_pair_part(down_path, &text(down_path)?, true)?)
                }
                None => None,
            };
            Ok(Migration {
                checksum: checksum(&up.sql),
                id: id.clone(),
                description: slug_description(slug),
                up,
                down,
                files: paths,
                allow,
            })
        }
    }
}

/// The checks on an app's whole set, and its order: every migration within the limits
/// ([`check_limits`]), sorted by ID, no two with the same ID. `dir` names the app's folder in
/// an error about a migration without a file.
pub fn finish(dir: &Path, mut migrations: Vec<Migration>) -> Result<Vec<Migration>> {
    for migration in &migrations {
        check_limits(migration).map_err(|message| Error::MigrationFile {
            path: migration.file().unwrap_or(dir).to_owned(),
            line: None,
            message,
        })?;
    }
    migrations.sort_by(|a, b| compare_ids(&a.id, &b.id).then_with(|| a.id.cmp(&b.id)));
    for pair in migrations.windows(2) {
        if compare_ids(&pair[0].id, &pair[1].id) == Ordering::Equal {
            let a = pair[0].file().map(Path::display).map(|d| d.to_string());
            let b = pair[1].file().unwrap_or(Path::new("?")).to_owned();
            return Err(Error::MigrationFile {
                path: b,
                line: None,
                message: format!(
                    "duplicate migration ID {}: also used by {}; give one of them a new ID",
                    pair[1].id,
                    a.unwrap_or_default()
                ),
            });
        }
    }
    Ok(migrations)
}

/// An app's migrations from files held in memory (name, path for messages, bytes): the whole
/// pipeline of the loader without a disk. Names not ending in `.sql` are ignored.
///
/// ```
/// use ferry_core::files::from_memory;
/// let up = b"-- ferry:up\nCREATE TABLE t (id INT);\n-- ferry:down\nDROP TABLE t;\n";
/// let migrations = from_memory("m", [("1_t.sql", "m/1_t.sql", &up[..])]).unwrap();
/// assert_eq!(migrations[0].up.sql, "CREATE TABLE t (id INT);\n");
/// ```
pub fn from_memory<'a>(
    dir: impl AsRef<Path>,
    files: impl IntoIterator<Item = (&'a str, &'a str, &'a [u8])>,
) -> Result<Vec<Migration>> {
    let files: Vec<(&str, PathBuf, &[u8])> = files
        .into_iter()
        .filter(|(name, _, _)| is_migration_name(name))
        .map(|(name, path, bytes)| (name, PathBuf::from(path), bytes))
        .collect();
    let names = files
        .iter()
        .map(|(name, path, _)| (name.to_string(), path.clone()))
        .collect();
    let text = |path: &Path| {
        let bytes = files
            .iter()
            .find(|(_, p, _)| p == path)
            .map(|(_, _, b)| b.to_vec())
            .unwrap_or_default();
        decode(path, bytes)
    };
    let migrations = group(names)?
        .iter()
        .map(|m| parse(m, text))
        .collect::<Result<Vec<_>>>()?;
    finish(dir.as_ref(), migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(
            parse_file_name("0012_v2.1_fix.sql"),
            Some(FileName::Single {
                id: "0012".into(),
                slug: "v2.1_fix".into()
            })
        );
        assert!(matches!(
            parse_file_name("3_a.up.sql"),
            Some(FileName::Up { .. })
        ));
        assert!(matches!(
            parse_file_name("3_a.down.sql"),
            Some(FileName::Down { .. })
        ));
        assert_eq!(parse_file_name("x_a.sql"), None);
        assert_eq!(parse_file_name("3_.sql"), None);
        assert_eq!(parse_file_name("3.sql"), None);
    }

    #[test]
    fn memory_set_pairs_sorts_and_refuses_like_the_loader() {
        let single = b"-- ferry:up\nA;\n-- ferry:down\nB;\n";
        let set = from_memory(
            "m",
            [
                ("10_ten.sql", "m/10_ten.sql", &single[..]),
                ("9_nine.up.sql", "m/9_nine.up.sql", b"C;\r\n"),
                ("9_nine.down.sql", "m/9_nine.down.sql", b"D;\n"),
                ("README.md", "m/README.md", b"not sql"),
            ],
        )
        .unwrap();
        let ids: Vec<_> = set.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["9", "10"]);
        assert_eq!(set[0].up.sql, "C;\n");
        assert_eq!(set[0].checksum, checksum("C;\n"));
        assert_eq!(set[0].description, "nine");
        assert_eq!(set[0].down.as_ref().unwrap().sql, "D;\n");

        let err = from_memory("m", [("1_a.down.sql", "m/1_a.down.sql", &b"D;"[..])]);
        assert_eq!(
            err.unwrap_err().to_string(),
            "m/1_a.down.sql: down file without its up file `1_a.up.sql`"
        );
        let err = from_memory(
            "m",
            [
                ("1_a.sql", "m/1_a.sql", &single[..]),
                ("01_b.sql", "m/01_b.sql", &single[..]),
            ],
        );
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("duplicate migration ID 1"));
        let err = from_memory("m", [("1_a.sql", "m/1_a.sql", &b"-- ferry:up\n\xff\n"[..])]);
        assert_eq!(
            err.unwrap_err().to_string(),
            "m/1_a.sql:2: invalid UTF-8: migration files must be UTF-8 text"
        );
    }
}
