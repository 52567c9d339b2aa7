//! `ferry new` and `ferry init`: writing new files.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

use crate::error::{Error, Result};
use crate::project::config::CONFIG_FILE;
use crate::project::migration::compare_ids;
use crate::project::registry::{AppConfig, AppRegistry};

/// The commented `ferry.toml` that `ferry init` writes.
pub const INIT_CONFIG: &str = r#"# ferry configuration. Paths are relative to this file's folder.

# The database. -d/--database-url, FERRY_DATABASE_URL and DATABASE_URL (also from .env)
# take precedence over this line. A relative SQLite path is relative to this file's folder.
#   postgres://user@localhost:5432/app?sslmode=prefer
#   mysql://root@127.0.0.1:3306/app
#   sqlite:app.db
database_url = "sqlite:app.db"

# The tracking table (PostgreSQL may write schema.table).
# table = "ferry_migrations"

# One [[app]] per app, in registry order. `migrations` defaults to "migrations/<name>".
# [[app]]
# name = "users"
# migrations = "migrations/users"
#
# [[app]]
# name = "blog"
# migrations = "migrations/blog"
# depends_on = ["users"]
"#;

/// The slug of a description: lower case, runs of other characters as `_`, at most 60
/// characters, `migration` when nothing is left.
///
/// ```
/// assert_eq!(ferry_core::scaffold::slugify("Add user index!"), "add_user_index");
/// assert_eq!(ferry_core::scaffold::slugify("  ***  "), "migration");
/// ```
pub fn slugify(description: &str) -> String {
    let mut slug = String::new();
    for c in description.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = slug.trim_matches('_');
    let mut slug: String = slug.chars().take(60).collect();
    while slug.ends_with('_') {
        slug.pop();
    }
    if slug.is_empty() {
        "migration".into()
    } else {
        slug
    }
}

/// Write a new migration file for `app` from the template, with the ID taken from `now`
/// (`YYYYMMDDHHMMSS`, UTC), bumped by one second while the app already has that ID. Creates the
/// app's folder if needed. Returns the new file's path.
pub fn new_migration(app: &AppConfig, description: &str, now: DateTime<Utc>) -> Result<PathBuf> {
    // One line of text: the file's `-- ferry:description` line must parse back.
    let description: String = description
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if description.is_empty() {
        return Err(Error::Usage(
            "a migration needs a description: `ferry new <app> <description...>`".into(),
        ));
    }
    let mut probe = crate::project::migration::Migration::new("1", description.clone(), "", None);
    probe.id = "1".into();
    crate::project::migration::check_limits(&probe).map_err(Error::Usage)?;
    let dir = app.migrations_dir.as_deref().ok_or_else(|| {
        Error::Usage(format!(
            "app `{}` has embedded migrations; it has no folder to write to",
            app.name
        ))
    })?;
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    let existing = app.migrations()?;
    let mut time = now;
    let id = loop {
        let id = time.format("%Y%m%d%H%M%S").to_string();
        if !existing.iter().any(|m| compare_ids(&m.id, &id).is_eq()) {
            break id;
        }
        time += Duration::seconds(1);
    };
    let path = dir.join(format!("{id}_{}.sql", slugify(&description)));
    let text = format!(
        "-- ferry:description {description}\n{ALLOW_HINT}-- ferry:up\n\n\n-- ferry:down\n\n"
    );
    write_new(&path, &text)?;
    Ok(path)
}

/// The comment `ferry new` writes before `-- ferry:up`: how to accept a `ferry lint` finding.
const ALLOW_HINT: &str = "-- To accept what `ferry lint --deny` refuses, add a line `-- ferry:allow LEVEL[,LEVEL]`\n-- (levels: rewrites, blocks-all, blocks-writes, destructive).\n";

/// Write `ferry.toml` and `migrations/` in `dir`, with an `[[app]]` entry and a folder
/// `migrations/<name>` for each of `apps` (in that order). Refuses to overwrite an existing
/// config; app names are checked before anything is written.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = ferry_core::scaffold::init_project(dir.path(), &["users".into(), "blog".into()]).unwrap();
/// let config = ferry_core::Config::load(&path).unwrap();
/// assert_eq!(config.registry.names(), ["users", "blog"]);
/// assert!(dir.path().join("migrations/blog").is_dir());
/// assert!(ferry_core::scaffold::init_project(dir.path(), &[]).unwrap_err().to_string().contains("already exists"));
/// ```
pub fn init_project(dir: &Path, apps: &[String]) -> Result<PathBuf> {
    let path = dir.join(CONFIG_FILE);
    let registry = AppRegistry::new(
        apps.iter()
            .map(|name| AppConfig::new(name.clone(), dir.join("migrations").join(name)))
            .collect(),
    )?;
    if path.exists() {
        return Err(Error::Unsuccessful(format!(
            "{} already exists; nothing was changed (edit it to add apps, or remove it to start over)",
            path.display()
        )));
    }
    let mut text = INIT_CONFIG.to_owned();
    for app in registry.apps() {
        text.push_str(&format!(
            "\n[[app]]\nname = \"{0}\"\nmigrations = \"migrations/{0}\"\n",
            app.name
        ));
    }
    write_new(&path, &text)?;
    let mut folders = vec![dir.join("migrations")];
    folders.extend(apps.iter().map(|name| dir.join("migrations").join(name)));
    for folder in folders {
        std::fs::create_dir_all(&folder).map_err(|source| Error::Io {
            path: folder,
            source,
        })?;
    }
    Ok(path)
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
    file.write_all(text.as_bytes()).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}
