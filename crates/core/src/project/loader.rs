//! Reading an app's folder: file names (`<id>_<slug>.sql`, the `.up.sql` / `.down.sql` pair
//! form), file text, and the migrations they make, sorted and checked.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::project::files::{self, decode, is_migration_name};
use crate::project::migration::Migration;

/// Read a file as UTF-8 text: BOM dropped, CRLF read as LF ([`decode`]).
fn read_text(path: &Path) -> Result<String> {
    let bytes = read_bytes(path).map_err(|e| Error::MigrationFile {
        path: path.to_owned(),
        line: None,
        message: format!(
            "cannot read the migration file: {e}; fix its permissions or the link, or remove it"
        ),
    })?;
    decode(path, bytes)
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
        if !is_migration_name(name) {
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
    let groups = files::group(names)?;
    // In file-name order, so that the first error reported is the same whatever the threads.
    let migrations = map_in_parallel(&groups, |m| files::parse(m, read_text))
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    files::finish(dir, migrations)
}
