//! `ferry-build`: embed an application's migration files in the program, from its build
//! script, so that they cannot go stale.
//!
//! In `Cargo.toml`: `ferry-build` under `[build-dependencies]`, `ferry` (or `ferry-core` and
//! a driver crate) under `[dependencies]`. In `build.rs`:
//!
//! ```no_run
//! // fn main() in build.rs:
//! // every app of ferry.toml (relative to the crate's folder), with its depends_on,
//! ferry_build::Embed::config("ferry.toml").emit();
//! // or named folders:
//! // ferry_build::Embed::folders([("users", "migrations/users")]).emit();
//! ```
//!
//! and in the program, `ferry::embedded_migrations!()` (or `ferry_core::embedded_migrations!()`,
//! the same macro) is the [`ferry_core::Embedded`] set:
//! `ferry::migrate(&url, ferry::embedded_migrations!()).await?` applies what is pending. The
//! generated code names no crate, so the program needs only one of the two.
//!
//! The build script reads every migration file with ferry's own loader (a file the CLI would
//! refuse fails the build with its `file:line: message`), writes
//! `$OUT_DIR/ferry_migrations.rs` with one `include_bytes!` per file, and prints
//! `cargo:rerun-if-changed` for the config file, each folder and each file: adding, editing
//! or removing a migration file and running `cargo build` always gives a program with exactly
//! the files on disk. At run time the embedded bytes are parsed by the same code as the
//! CLI's, so IDs and checksums are the same and one database can be served by both.
//!
//! This crate depends on `ferry-core` only: no database client, no async runtime.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ferry_core::{AppConfig, Config, Error, Result};

/// The file the build script writes in `OUT_DIR`, which
/// [`ferry_core::embedded_migrations!`] includes.
pub const OUT_FILE: &str = "ferry_migrations.rs";

/// What to embed, and where to write it. See the [crate] documentation.
#[derive(Debug, Clone)]
pub struct Embed {
    source: Source,
    base: Option<PathBuf>,
    out: Option<PathBuf>,
}

#[derive(Debug, Clone)]
enum Source {
    Config(PathBuf),
    Folders(Vec<(String, PathBuf)>),
}

/// The generated code and the paths cargo must watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The Rust block (an `ferry_core::Embedded`) that `embedded_migrations!` includes; it
    /// names its types through `__ferry_embedded`, the module the macro imports.
    pub code: String,
    /// The config file (if any), each folder and each migration file, for
    /// `cargo:rerun-if-changed`.
    pub watched: Vec<PathBuf>,
}

impl Embed {
    /// Every app of a `ferry.toml`, in its order and with its `depends_on`. A relative path
    /// is relative to the crate's folder (`CARGO_MANIFEST_DIR`).
    pub fn config(path: impl Into<PathBuf>) -> Embed {
        Embed {
            source: Source::Config(path.into()),
            base: None,
            out: None,
        }
    }

    /// Apps named here, each with its folder (relative paths are relative to the crate's
    /// folder), in this order and without dependencies.
    pub fn folders<I, N, P>(apps: I) -> Embed
    where
        I: IntoIterator<Item = (N, P)>,
        N: Into<String>,
        P: Into<PathBuf>,
    {
        Embed {
            source: Source::Folders(
                apps.into_iter()
                    .map(|(n, p)| (n.into(), p.into()))
                    .collect(),
            ),
            base: None,
            out: None,
        }
    }

    /// Resolve relative paths against `dir` instead of `CARGO_MANIFEST_DIR` (for tests).
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Embed {
        self.base = Some(dir.into());
        self
    }

    /// Write the code to `path` instead of `$OUT_DIR/ferry_migrations.rs`.
    pub fn out_file(mut self, path: impl Into<PathBuf>) -> Embed {
        self.out = Some(path.into());
        self
    }

    /// Read every app's files and generate the code, without writing anything.
    pub fn generate(&self) -> Result<Generated> {
        let base = match &self.base {
            Some(dir) => dir.clone(),
            None => std::env::var_os("CARGO_MANIFEST_DIR")
                .map(PathBuf::from)
                .map_or_else(std::env::current_dir, Ok)
                .map_err(|source| Error::Io {
                    path: PathBuf::from("."),
                    source,
                })?,
        };
        let mut watched = Vec::new();
        let apps: Vec<AppConfig> = match &self.source {
            Source::Config(path) => {
                let path = base.join(path);
                watched.push(path.clone());
                Config::load(&path)?.registry.apps().to_vec()
            }
            Source::Folders(apps) => {
                let apps: Vec<AppConfig> = apps
                    .iter()
                    .map(|(name, dir)| AppConfig::new(name, base.join(dir)))
                    .collect();
                // Names checked as the CLI checks them (unique, valid, not `all`).
                ferry_core::AppRegistry::new(apps.clone())?;
                apps
            }
        };
        let mut code = String::from(
            "// @generated by ferry-build: the migration files embedded in this program. Do not edit.\n{\n    const APPS: &[__ferry_embedded::EmbeddedApp] = &[\n",
        );
        for app in &apps {
            let Some(dir) = app.migrations_dir.as_deref() else {
                continue;
            };
            // The loader's checks, errors and all: a missing folder, a bad name, a bad file.
            app.migrations()?;
            watched.push(dir.to_owned());
            let _ = writeln!(
                code,
                "        __ferry_embedded::EmbeddedApp {{\n            name: {},\n            dir: {},\n            depends_on: &[{}],\n            files: &[",
                literal(&app.name),
                literal(&shown(&base, dir)),
                app.depends_on
                    .iter()
                    .map(|d| literal(d))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for (name, path) in sql_files(dir)? {
                let absolute = path.to_str().ok_or_else(|| Error::MigrationFile {
                    path: path.clone(),
                    line: None,
                    message: "the path is not valid UTF-8, so it cannot be embedded".into(),
                })?;
                let _ = writeln!(
                    code,
                    "                __ferry_embedded::EmbeddedFile {{ name: {}, path: {}, bytes: include_bytes!({}) }},",
                    literal(&name),
                    literal(&shown(&base, &path)),
                    literal(absolute)
                );
                watched.push(path);
            }
            code.push_str("            ],\n        },\n");
        }
        code.push_str("    ];\n    __ferry_embedded::Embedded::new(APPS)\n}\n");
        Ok(Generated { code, watched })
    }

    /// Generate the code, write it and print `cargo:rerun-if-changed` for every watched path.
    pub fn try_emit(&self) -> Result<()> {
        let generated = self.generate()?;
        let out = match &self.out {
            Some(path) => path.clone(),
            None => PathBuf::from(std::env::var_os("OUT_DIR").ok_or_else(|| {
                Error::Usage(
                    "OUT_DIR is not set: call ferry_build from a build script (build.rs)".into(),
                )
            })?)
            .join(OUT_FILE),
        };
        // Written only when it changes, so that an unchanged set does not rebuild the crate.
        if std::fs::read_to_string(&out).ok().as_deref() != Some(generated.code.as_str()) {
            std::fs::write(&out, &generated.code).map_err(|source| Error::Io {
                path: out.clone(),
                source,
            })?;
        }
        for path in &generated.watched {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        Ok(())
    }

    /// [`Embed::try_emit`], ending the build script with the error on one line (`file:line:
    /// message`) when a file, a folder or the config is wrong.
    pub fn emit(&self) {
        if let Err(e) = self.try_emit() {
            eprintln!("error: ferry-build: {e}");
            std::process::exit(1);
        }
    }
}

/// The `.sql` files of `dir` (what the loader reads), sorted by name.
fn sql_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let unreadable = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        if let Some(name) = entry.file_name().to_str() {
            if ferry_core::files::is_migration_name(name) {
                files.push((name.to_owned(), entry.path()));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// `path` relative to `base` when inside it, for messages.
fn shown(base: &Path, path: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A Rust string literal holding `text`.
fn literal(text: &str) -> String {
    format!("{text:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    const SINGLE: &str = "-- ferry:up\nCREATE TABLE t (id INT);\n-- ferry:down\nDROP TABLE t;\n";

    #[test]
    fn config_apps_files_and_watched_paths() {
        let dir = project(&[
            (
                "ferry.toml",
                "[[app]]\nname = \"users\"\nmigrations = \"m/users\"\n[[app]]\nname = \"blog\"\nmigrations = \"m/blog\"\ndepends_on = [\"users\"]\n",
            ),
            ("m/users/1_create.sql", SINGLE),
            ("m/users/README.md", "not embedded"),
            ("m/blog/2_posts.up.sql", "CREATE TABLE p (id INT);\n"),
            ("m/blog/2_posts.down.sql", "DROP TABLE p;\n"),
        ]);
        let root = dir.path().canonicalize().unwrap();
        let generated = Embed::config("ferry.toml")
            .base_dir(&root)
            .generate()
            .unwrap();
        let code = &generated.code;
        assert!(code.contains("name: \"users\""), "{code}");
        assert!(code.contains("depends_on: &[\"users\"]"), "{code}");
        assert!(code.contains("path: \"m/users/1_create.sql\""), "{code}");
        assert!(code.contains(&format!(
            "include_bytes!({:?})",
            root.join("m/blog/2_posts.down.sql").display().to_string()
        )));
        assert!(!code.contains("README"), "{code}");
        let watched: Vec<_> = generated
            .watched
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            watched,
            [
                "ferry.toml",
                "m/users",
                "m/users/1_create.sql",
                "m/blog",
                "m/blog/2_posts.down.sql",
                "m/blog/2_posts.up.sql"
            ]
        );
    }

    #[test]
    fn file_errors_name_the_file_and_line() {
        let dir = project(&[("m/1_a.sql", "-- ferry:up\nA;\n-- ferry:sideways\n")]);
        let err = Embed::folders([("a", "m")])
            .base_dir(dir.path())
            .generate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3: unknown directive `-- ferry:sideways`; known: description, allow, up, down",
                dir.path().join("m/1_a.sql").display()
            )
        );
        let err = Embed::folders([("a", "nope")])
            .base_dir(dir.path())
            .generate()
            .unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = Embed::folders([("all", "m")])
            .base_dir(dir.path())
            .generate()
            .unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
    }

    #[test]
    fn out_file_written_only_when_it_changes() {
        let dir = project(&[("m/1_a.sql", SINGLE)]);
        let out = dir.path().join("out.rs");
        let embed = Embed::folders([("a", "m")])
            .base_dir(dir.path())
            .out_file(&out);
        embed.try_emit().unwrap();
        let first = std::fs::metadata(&out).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        embed.try_emit().unwrap();
        assert_eq!(std::fs::metadata(&out).unwrap().modified().unwrap(), first);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            embed.generate().unwrap().code
        );
    }
}
