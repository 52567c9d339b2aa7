//! What every command that reads the project starts from, resolved once: the working
//! directory, the configuration, the `.env` file, and the database URL with where it came
//! from (SPEC §2). The database line every connecting command prints first (SPEC §16.1) is
//! [`Session::announce`] (one database), [`Session::announce_scratch`] (`verify`) or
//! [`Session::announce_fleet`] (`--fleet`).
//!
//! The line is `database: <URL, password redacted> (from <source>)`, the source being one of
//! `-d/--database-url`, `FERRY_DATABASE_URL in the environment`, `DATABASE_URL in the
//! environment`, `FERRY_DATABASE_URL in /path/.env`, `DATABASE_URL in /path/.env`,
//! `database_url in /path/ferry.toml` or `--scratch-url`.

use std::fmt;
use std::path::{Path, PathBuf};

use ferry_core::driver::{redact_url, resolve_sqlite_path, SqliteUrl};
use ferry_core::{Config, TableName};

use crate::args::GlobalOpts;
use crate::exit::Failure;
use crate::render::Style;

/// The environment variables that hold a database URL, in order of precedence.
const URL_VARIABLES: [&str; 2] = ["FERRY_DATABASE_URL", "DATABASE_URL"];

/// The project as this run sees it.
#[derive(Debug)]
pub struct Session {
    /// The working directory.
    pub cwd: PathBuf,
    /// The configuration: `-c PATH`, the nearest `ferry.toml`, or the `./migrations` fallback.
    pub config: Config,
    /// The `.env` file read, if any.
    pub dotenv: Option<PathBuf>,
    /// The variables that file set (those the environment did not have already).
    dotenv_keys: Vec<String>,
}

/// Where the database URL came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    /// `-d/--database-url`.
    Flag,
    /// An environment variable (`FERRY_DATABASE_URL` or `DATABASE_URL`) set outside ferry.
    Environment(&'static str),
    /// An environment variable set by a `.env` file (the variable, the file).
    DotEnv(&'static str, PathBuf),
    /// `database_url` in a `ferry.toml` (its path).
    Config(PathBuf),
    /// `verify --scratch-url`.
    ScratchUrl,
}

impl fmt::Display for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlSource::Flag => write!(f, "-d/--database-url"),
            UrlSource::Environment(name) => write!(f, "{name} in the environment"),
            UrlSource::DotEnv(name, path) => write!(f, "{name} in {}", path.display()),
            UrlSource::Config(path) => write!(f, "database_url in {}", path.display()),
            UrlSource::ScratchUrl => write!(f, "--scratch-url"),
        }
    }
}

/// A database URL and where it came from. A relative SQLite path is already resolved: against
/// the working directory, or against the config file's folder for `database_url` of ferry.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    /// The URL (it may hold a password: show it through [`redact_url`] only).
    pub url: String,
    /// Where it came from.
    pub source: UrlSource,
}

impl DatabaseUrl {
    /// The database line: `database: <URL, password redacted> (from <source>)`.
    pub fn line(&self) -> String {
        format!("database: {} (from {})", redact_url(&self.url), self.source)
    }
}

impl Session {
    /// Load the configuration (`-c`, else the nearest ferry.toml, else the `./migrations`
    /// folders) and then, unless `--no-dotenv`, the `.env` file of the working directory, or
    /// else the one beside the ferry.toml found. Variables already in the environment win
    /// over the file's.
    pub fn open(g: &GlobalOpts) -> Result<Session, Failure> {
        let cwd = std::env::current_dir()
            .map_err(|e| Failure::Failed(format!("cannot read the working directory: {e}")))?;
        let config = match &g.config {
            Some(path) => {
                if !path.is_file() {
                    return Err(Failure::Usage(format!(
                        "config file {} not found",
                        path.display()
                    )));
                }
                Config::load(path)?
            }
            None => Config::discover(&cwd)?,
        };
        let mut session = Session {
            cwd,
            config,
            dotenv: None,
            dotenv_keys: Vec::new(),
        };
        if !g.no_dotenv {
            session.read_dotenv()?;
        }
        Ok(session)
    }

    /// For a command that works on apps: no ferry.toml found and no `./migrations` folder is a
    /// usage error saying where ferry looked (SPEC §16.3).
    pub fn require_apps(&self) -> Result<(), Failure> {
        let migrations = self.cwd.join("migrations");
        if self.config.path.is_none() && !migrations.is_dir() {
            return Err(Failure::Usage(format!(
                "no apps: no {} in {} or any folder above it, and no folder {}; run `ferry init` to create them, or pass -c PATH",
                ferry_core::CONFIG_FILE,
                self.cwd.display(),
                migrations.display()
            )));
        }
        Ok(())
    }

    /// Read the `.env` of the working directory, or else the one beside ferry.toml.
    fn read_dotenv(&mut self) -> Result<(), Failure> {
        let beside_config = self
            .config
            .path
            .as_deref()
            .and_then(Path::parent)
            .map(|dir| dir.join(".env"));
        let Some(path) = std::iter::once(self.cwd.join(".env"))
            .chain(beside_config)
            .find(|p| p.is_file())
        else {
            return Ok(());
        };
        let bad = |why: String| {
            Failure::Usage(format!(
                "{}: cannot read the .env file: {why}; fix it or pass --no-dotenv",
                path.display()
            ))
        };
        // A parse error carries the offending text, which may hold a password.
        let why = |e: dotenvy::Error| match e {
            dotenvy::Error::LineParse(_, index) => {
                format!("a line cannot be parsed (at character {index})")
            }
            other => redact_url(&other.to_string()),
        };
        let mut pairs = Vec::new();
        for item in dotenvy::from_path_iter(&path).map_err(|e| bad(why(e)))? {
            pairs.push(item.map_err(|e| bad(why(e)))?);
        }
        for (key, value) in pairs {
            if std::env::var_os(&key).is_none() {
                std::env::set_var(&key, value);
                self.dotenv_keys.push(key);
            }
        }
        self.dotenv = Some(path);
        Ok(())
    }

    /// The database URL by precedence (`-d`, `FERRY_DATABASE_URL`, `DATABASE_URL`, each from
    /// the environment or the `.env` file, then `database_url` of ferry.toml) and its source.
    /// `Ok(None)` when none is set.
    pub fn database_url(&self, g: &GlobalOpts) -> Option<DatabaseUrl> {
        let here = |url: &str, source| DatabaseUrl {
            url: resolve_sqlite_path(url, &self.cwd),
            source,
        };
        if let Some(url) = &g.database_url {
            return Some(here(url, UrlSource::Flag));
        }
        for name in URL_VARIABLES {
            if let Some(url) = std::env::var(name).ok().filter(|v| !v.trim().is_empty()) {
                let source = match &self.dotenv {
                    Some(file) if self.dotenv_keys.iter().any(|k| k == name) => {
                        UrlSource::DotEnv(name, file.clone())
                    }
                    _ => UrlSource::Environment(name),
                };
                return Some(here(&url, source));
            }
        }
        let url = self.config.database_url.clone()?;
        let path = self.config.path.clone().unwrap_or_default();
        Some(DatabaseUrl {
            url,
            source: UrlSource::Config(path),
        })
    }

    /// [`Session::database_url`], or the usage error saying where to set one.
    pub fn require_database_url(&self, g: &GlobalOpts) -> Result<DatabaseUrl, Failure> {
        self.database_url(g).ok_or_else(|| {
            Failure::Usage(
                "no database URL: pass -d/--database-url, set FERRY_DATABASE_URL or DATABASE_URL (a .env file works), or set database_url in ferry.toml".into(),
            )
        })
    }

    /// The tracking table: `--table`, then `table` in ferry.toml, then the default.
    pub fn table(&self, g: &GlobalOpts) -> Result<TableName, Failure> {
        crate::table_name(g, &self.config)
    }

    /// For a command on one database: its URL, after printing the database line (unless
    /// `-q`) and the override warning (see [`Session::override_warning`]). An SQLite glob is
    /// refused (exit 2, SPEC §16.2): it names a fleet, and opening it would create a file
    /// named with the glob's characters.
    pub fn announce(&self, g: &GlobalOpts, style: Style) -> Result<DatabaseUrl, Failure> {
        let db = self.require_database_url(g)?;
        if ferry_core::fleet::is_sqlite_glob(&db.url) {
            return Err(Failure::Usage(format!(
                "{} (from {}) is an SQLite glob, a fleet of files: add --fleet to run on each file, or name one file",
                redact_url(&db.url),
                db.source
            )));
        }
        self.print(&db, style);
        Ok(db)
    }

    /// For `verify`: the URL whose server gets the scratch database (`--scratch-url`, else the
    /// configured one), after printing its database line (unless `-q`).
    pub fn announce_scratch(
        &self,
        g: &GlobalOpts,
        scratch_url: Option<&str>,
        style: Style,
    ) -> Result<DatabaseUrl, Failure> {
        let db = match scratch_url {
            Some(url) => DatabaseUrl {
                url: url.to_owned(),
                source: UrlSource::ScratchUrl,
            },
            None => self.require_database_url(g)?,
        };
        self.print(&db, style);
        Ok(db)
    }

    /// For `--fleet`: the database line when the fleet uses the configured URL (an SQLite
    /// glob, or the database of `schemas` / `schemas_query`), then a `fleet:` line naming
    /// the sources of targets, e.g. `fleet: targets from 3 [[target]] entries in
    /// /p/ferry.toml, targets_file /p/targets.txt, schemas (2) on the database above`.
    pub fn announce_fleet(&self, g: &GlobalOpts, style: Style) {
        let fleet = &self.config.fleet;
        let db = self.database_url(g);
        let glob = db
            .as_ref()
            .is_some_and(|d| ferry_core::fleet::is_sqlite_glob(&d.url));
        let uses_url = glob || !fleet.schemas.is_empty() || fleet.schemas_query.is_some();
        if let Some(db) = db.as_ref().filter(|_| uses_url) {
            self.print(db, style);
        }
        let mut sources = Vec::new();
        if !fleet.targets.is_empty() {
            let config = self
                .config
                .path
                .as_deref()
                .unwrap_or(Path::new("ferry.toml"));
            sources.push(format!(
                "{} [[target]] entr{} in {}",
                fleet.targets.len(),
                if fleet.targets.len() == 1 { "y" } else { "ies" },
                config.display()
            ));
        }
        if let Some(file) = &fleet.targets_file {
            sources.push(format!("targets_file {}", file.display()));
        }
        let on = if db.is_some() {
            "on the database above"
        } else {
            "(no database URL)"
        };
        if !fleet.schemas.is_empty() {
            sources.push(format!("schemas ({}) {on}", fleet.schemas.len()));
        }
        if fleet.schemas_query.is_some() {
            sources.push(format!("schemas_query {on}"));
        }
        if glob {
            sources.push("the files matching the SQLite glob above".into());
        }
        if !sources.is_empty() {
            style.info(&format!("fleet: targets from {}", sources.join(", ")));
        }
    }

    /// Print the database line (unless `-q`) and the override warning.
    fn print(&self, db: &DatabaseUrl, style: Style) {
        style.info(&db.line());
        if let Some(warning) = self.override_warning(db) {
            style.warn(&warning);
        }
    }

    /// The warning for a URL from the environment or `.env` that overrides a different
    /// `database_url` of ferry.toml (compared resolved: SQLite paths as files, each relative
    /// path against its own base).
    pub fn override_warning(&self, db: &DatabaseUrl) -> Option<String> {
        let name = match &db.source {
            UrlSource::Environment(name) | UrlSource::DotEnv(name, _) => name,
            _ => return None,
        };
        let configured = self.config.database_url.as_deref()?;
        if same_database(configured, &db.url) {
            return None;
        }
        let config = self
            .config
            .path
            .as_deref()
            .unwrap_or(Path::new("ferry.toml"));
        let from = match &db.source {
            UrlSource::DotEnv(_, file) => format!(" (from {})", file.display()),
            _ => String::new(),
        };
        Some(format!(
            "{name}{from} {} overrides database_url {} of {}",
            redact_url(&db.url),
            redact_url(configured),
            config.display()
        ))
    }

    /// `-v`: the config file read (or the folders that are the apps).
    pub fn describe_config(&self) {
        match &self.config.path {
            Some(p) => eprintln!("config: {}", p.display()),
            None => eprintln!(
                "config: no ferry.toml found; apps are the folders of {}",
                self.cwd.join("migrations").display()
            ),
        }
    }
}

/// Whether two resolved URLs name the same database: SQLite URLs by file (`a/../b.db` is
/// `b.db`, a symlink is its target) and mode, others as text.
fn same_database(a: &str, b: &str) -> bool {
    let file = |url: &str| match SqliteUrl::parse(url) {
        Ok(SqliteUrl::File { path, mode }) => Ok(Some((canonical(&path), mode))),
        Ok(SqliteUrl::Memory) => Ok(None),
        Err(_) => Err(()),
    };
    match (file(a), file(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// A file's canonical path; for a file that does not exist yet, its folder's canonical path
/// joined with its name; else the path as given.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) => std::fs::canonicalize(dir).map(|d| d.join(name)),
            _ => Ok(path.to_owned()),
        })
        .unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_read_as_documented() {
        let cases = [
            (UrlSource::Flag, "-d/--database-url"),
            (
                UrlSource::Environment("DATABASE_URL"),
                "DATABASE_URL in the environment",
            ),
            (
                UrlSource::DotEnv("FERRY_DATABASE_URL", "/p/.env".into()),
                "FERRY_DATABASE_URL in /p/.env",
            ),
            (
                UrlSource::Config("/p/ferry.toml".into()),
                "database_url in /p/ferry.toml",
            ),
            (UrlSource::ScratchUrl, "--scratch-url"),
        ];
        for (source, text) in cases {
            assert_eq!(source.to_string(), text);
        }
        let db = DatabaseUrl {
            url: "postgres://app:s3cret@db/app".into(),
            source: UrlSource::Flag,
        };
        assert_eq!(
            db.line(),
            "database: postgres://app:***@db/app (from -d/--database-url)"
        );
    }

    #[test]
    fn same_database_compares_sqlite_files() {
        assert!(same_database("sqlite:/p/a.db", "sqlite:///p/a.db"));
        assert!(same_database("sqlite:/p/a.db", "sqlite:/p/a.db"));
        assert!(!same_database("sqlite:/p/a.db", "sqlite:/p/b.db"));
        assert!(!same_database("sqlite:/p/a.db", "sqlite:/p/a.db?mode=ro"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let root = dir.path().display();
        assert!(same_database(
            &format!("sqlite:{root}/sub/../a.db"),
            &format!("sqlite:{root}/a.db")
        ));
        assert!(same_database("sqlite::memory:", "sqlite:x.db?mode=memory"));
        assert!(same_database("postgres://u@h/a", "postgres://u@h/a"));
        assert!(!same_database("postgres://u@h/a", "postgres://u@h/b"));
    }
}
