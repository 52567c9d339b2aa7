//! Reading an app's folder: file names (`<id>_<slug>.sql`, the `.up.sql` / `.down.sql` pair
//! form), file text, and the migrations they make, sorted and checked.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::project::migration::{
    check_limits, compare_ids, is_valid_id, normalize_newlines, parse_migration, parse_pair_part,
    slug_description, Migration,
};
use crate::text::checksum;

/// Read a file as UTF-8 text: BOM dropped, CRLF read as LF. The bytes read become the
/// `String` without a copy unless there is a BOM or a CR to remove.
fn read_text(path: &Path) -> Result<String> {
    let mut bytes = read_bytes(path).map_err(|e| Error::MigrationFile {
        path: path.to_owned(),
        line: None,
        message: format!(
            "cannot read the migration file: {e}; fix its permissions or the link, or remove it"
        ),
    })?;
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

/// A file's bytes: `open`, `read` until it returns nothing, `close`. Unlike
/// `std::fs::read`, no `statx` for a size hint: migration files are small, and the call is
/// made once per file.
fn read_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(1024);
    // `Take` reads without asking the file for its size first.
    file.take(u64::MAX).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Below this many files an app's folder is read on this thread alone: starting threads
/// costs more than it saves.
const PARALLEL_FROM: usize = 128;

/// `f` over `items`, results in the items' order; spread over the available cores when
/// there are at least [`PARALLEL_FROM`] items (reading and hashing files is independent work).
fn map_in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 || items.len() < PARALLEL_FROM {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(results) => results,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// What a file name says about a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FileName {
    Single { id: String, slug: String },
    Up { id: String, slug: String },
    Down { id: String, slug: String },
}

fn parse_file_name(name: &str) -> Option<FileName> {
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

/// Read every migration in an app's folder, sorted by ID. Files not ending in `.sql` and
/// sub-folders are ignored; every other problem is an [`Error::MigrationFile`] naming the file.
pub fn load_migrations(dir: &Path) -> Result<Vec<Migration>> {
    let unreadable = |e: std::io::Error| Error::MigrationFile {
        path: dir.to_owned(),
        line: None,
        message: format!("cannot read the migrations folder: {e}; it must be a readable folder"),
    };
    let entries = std::fs::read_dir(dir).map_err(unreadable)?;
    let mut names: Vec<(String, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(unreadable)?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "sql") {
                return Err(Error::MigrationFile {
                    path,
                    line: None,
                    message: "file name is not valid UTF-8".into(),
                });
            }
            continue;
        };
        if !name.ends_with(".sql") {
            continue;
        }
        let path = entry.path();
        // The entry's type comes with the listing; only a link costs a `stat` to follow.
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() => path.is_dir(),
            Ok(t) => t.is_dir(),
            Err(_) => path.is_dir(),
        };
        if is_dir {
            return Err(Error::MigrationFile {
                path,
                line: None,
                message: "a folder (or a link to one) named like a migration file; rename it or remove it".into(),
            });
        }
        names.push((name.to_owned(), path));
    }
    names.sort();

    let mut singles: Vec<(String, String, PathBuf)> = Vec::new();
    let mut ups: Vec<(String, String, PathBuf)> = Vec::new();
    let mut downs: Vec<(String, String, PathBuf)> = Vec::new();
    for (name, path) in names {
        match parse_file_name(&name) {
            Some(FileName::Single { id, slug }) => singles.push((id, slug, path)),
            Some(FileName::Up { id, slug }) => ups.push((id, slug, path)),
            Some(FileName::Down { id, slug }) => downs.push((id, slug, path)),
            None => {
                return Err(Error::MigrationFile {
                    path,
                    line: None,
                    message: "file name does not match `<id>_<slug>.sql` (or `<id>_<slug>.up.sql` / `.down.sql`), where <id> is digits; rename it, or give it another extension to have it ignored".into(),
                })
            }
        }
    }

    // In file-name order, so that the first error reported is the same whatever the threads.
    let mut migrations: Vec<Migration> = map_in_parallel(&singles, |(id, slug, path)| {
        parse_migration(path, id, slug, &read_text(path)?)
    })
    .into_iter()
    .collect::<Result<_>>()?;
    for (id, slug, up_path) in ups {
        let up = parse_pair_part(&up_path, &read_text(&up_path)?)?;
        let down_index = downs.iter().position(|(d, s, _)| d == &id && s == &slug);
        let mut files = vec![up_path.clone()];
        let down = match down_index {
            Some(i) => {
                let (_, _, down_path) = downs.remove(i);
                let section = parse_pair_part(&down_path, &read_text(&down_path)?)?;
                files.push(down_path);
                Some(section)
            }
            None => None,
        };
        migrations.push(Migration {
            checksum: checksum(&up.sql),
            id,
            description: slug_description(&slug),
            up,
            down,
            files,
        });
    }
    if let Some((_, _, path)) = downs.into_iter().next() {
        let expected = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.replace(".down.sql", ".up.sql"))
            .unwrap_or_default();
        return Err(Error::MigrationFile {
            path,
            line: None,
            message: format!("down file without its up file `{expected}`"),
        });
    }

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
}
