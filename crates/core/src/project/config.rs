//! Configuration: `ferry.toml` (discovery, parsing, the `./migrations` fallback); the apps it
//! declares are in [`super::registry`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::driver::sqlite_url::resolve_sqlite_path;
use crate::error::{Error, Result};
use crate::project::registry::{AppConfig, AppRegistry};

/// The file name ferry looks for.
pub const CONFIG_FILE: &str = "ferry.toml";

/// A loaded project configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `ferry.toml` read, or `None` when the `./migrations` fallback was used.
    pub path: Option<PathBuf>,
    /// The folder relative paths in the config are resolved against.
    pub root: PathBuf,
    /// `database_url` from the config, with a relative SQLite path made absolute.
    pub database_url: Option<String>,
    /// `table` from the config.
    pub table: Option<String>,
    /// `lock` from the config (SPEC §7).
    pub lock: Option<crate::driver::lock::LockKind>,
    /// `lock_lease` from the config, checked against [`crate::LockOptions::MIN_LEASE`] and
    /// [`crate::LockOptions::MAX_LEASE`].
    pub lock_lease: Option<std::time::Duration>,
    /// `out_of_order` from the config (SPEC §5.1.12).
    pub out_of_order: Option<crate::project::policy::OutOfOrder>,
    /// The apps.
    pub registry: AppRegistry,
    /// The fleet's targets as configured (SPEC §11); used only with `--fleet`.
    pub fleet: crate::project::fleet::FleetConfig,
    /// `drift_ignore`: globs of object names `ferry drift` leaves out (SPEC §12.3), checked.
    pub drift_ignore: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    database_url: Option<String>,
    table: Option<String>,
    lock: Option<String>,
    lock_lease: Option<f64>,
    out_of_order: Option<String>,
    #[serde(default)]
    app: Vec<RawApp>,
    #[serde(default)]
    target: Vec<RawTarget>,
    targets_file: Option<String>,
    schemas: Option<Vec<String>>,
    schemas_query: Option<String>,
    #[serde(default)]
    drift_ignore: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: String,
    database_url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: String,
    migrations: Option<String>,
    #[serde(default)]
    depends_on: Vec<String>,
}

impl Config {
    /// Find `ferry.toml` in `dir` or its nearest ancestor and load it; without one, every
    /// sub-folder of `dir/migrations` is an app (alphabetical order, no dependencies).
    pub fn discover(dir: &Path) -> Result<Config> {
        for candidate in dir.ancestors() {
            let path = candidate.join(CONFIG_FILE);
            if path.is_file() {
                return Config::load(&path);
            }
        }
        Config::from_migrations_folder(dir)
    }

    /// Load a specific `ferry.toml`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(
                Some(path.to_owned()),
                format!("cannot read the config file: {e}"),
            )
        })?;
        let root = path
            .parent()
            .map(Path::to_owned)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Config::parse(&text, &root, Some(path.to_owned()))
    }

    /// Parse config text; relative paths are resolved against `root`.
    ///
    /// ```
    /// use std::path::Path;
    /// let cfg = ferry_core::Config::parse(
    ///     "database_url = \"sqlite:app.db\"\n[[app]]\nname = \"users\"\n",
    ///     Path::new("/srv/project"),
    ///     None,
    /// ).unwrap();
    /// assert_eq!(cfg.database_url.as_deref(), Some("sqlite:/srv/project/app.db"));
    /// assert_eq!(cfg.registry.apps()[0].migrations_dir.as_deref(), Some(Path::new("/srv/project/migrations/users")));
    /// ```
    pub fn parse(text: &str, root: &Path, path: Option<PathBuf>) -> Result<Config> {
        // The message only, never the source snippet: the line may hold a password.
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| format!(" at line {}", crate::sql::line_of_offset(text, span.start)))
                .unwrap_or_default();
            Error::config(
                path.clone(),
                format!("invalid config{line}: {}", e.message()),
            )
        })?;
        let apps = raw
            .app
            .into_iter()
            .map(|a| {
                let dir = a
                    .migrations
                    .clone()
                    .unwrap_or_else(|| format!("migrations/{}", a.name));
                AppConfig::new(a.name, root.join(dir)).depends_on(a.depends_on)
            })
            .collect();
        let registry = AppRegistry::new(apps).map_err(|e| match e {
            Error::Config { message, .. } => Error::Config {
                path: path.clone(),
                message,
            },
            other => other,
        })?;
        if let Some(table) = &raw.table {
            crate::driver::table_name::TableName::parse(table)
                .map_err(|m| Error::config(path.clone(), m))?;
        }
        let lock = raw
            .lock
            .as_deref()
            .map(str::parse::<crate::driver::lock::LockKind>)
            .transpose()
            .map_err(|m| Error::config(path.clone(), format!("{m} (key `lock`)")))?;
        let lock_lease = raw
            .lock_lease
            .map(crate::driver::lock::LockOptions::lease_secs)
            .transpose()
            .map_err(|m| Error::config(path.clone(), format!("{m} (key `lock_lease`)")))?;
        let out_of_order = raw
            .out_of_order
            .as_deref()
            .map(str::parse::<crate::project::policy::OutOfOrder>)
            .transpose()
            .map_err(|m| Error::config(path.clone(), format!("{m} (key `out_of_order`)")))?;
        if raw.schemas.is_some() && raw.schemas_query.is_some() {
            return Err(Error::config(
                path,
                "set `schemas` or `schemas_query`, not both",
            ));
        }
        if let Some(bad) = raw
            .target
            .iter()
            .find(|t| t.name.trim().is_empty() || t.name.chars().any(char::is_whitespace))
        {
            return Err(Error::config(
                path,
                format!("[[target]] name `{}` must be one word, not empty", bad.name),
            ));
        }
        if let Some((glob, why)) = raw
            .drift_ignore
            .iter()
            .find_map(|g| glob::Pattern::new(g).err().map(|e| (g, e)))
        {
            return Err(Error::config(
                path,
                format!("drift_ignore: `{glob}` is not a valid glob: {why}"),
            ));
        }
        let fleet = crate::project::fleet::FleetConfig {
            targets: raw
                .target
                .into_iter()
                .map(|t| (t.name, resolve_sqlite_path(&t.database_url, root)))
                .collect(),
            targets_file: raw.targets_file.map(|f| root.join(f)),
            schemas: raw.schemas.unwrap_or_default(),
            schemas_query: raw.schemas_query,
        };
        Ok(Config {
            fleet,
            drift_ignore: raw.drift_ignore,
            database_url: raw.database_url.map(|u| resolve_sqlite_path(&u, root)),
            table: raw.table,
            lock,
            lock_lease,
            out_of_order,
            registry,
            root: root.to_owned(),
            path,
        })
    }

    fn from_migrations_folder(dir: &Path) -> Result<Config> {
        let folder = dir.join("migrations");
        let mut names = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&folder) {
            for entry in entries.flatten() {
                if entry.path().is_dir() {
                    if let Some(name) = entry.file_name().to_str() {
                        if !name.starts_with('.') {
                            names.push(name.to_owned());
                        }
                    }
                }
            }
        }
        names.sort();
        let apps = names
            .into_iter()
            .map(|n| AppConfig::new(n.clone(), folder.join(n)))
            .collect();
        Ok(Config {
            path: None,
            root: dir.to_owned(),
            database_url: None,
            table: None,
            lock: None,
            lock_lease: None,
            out_of_order: None,
            fleet: crate::project::fleet::FleetConfig::default(),
            drift_ignore: Vec::new(),
            registry: AppRegistry {
                from_folders: true,
                ..AppRegistry::new(apps)?
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_ignore_globs_are_checked() {
        let cfg = Config::parse("drift_ignore = [\"pgbench_*\"]\n", Path::new("/"), None).unwrap();
        assert_eq!(cfg.drift_ignore, ["pgbench_*"]);
        let e = Config::parse(
            "drift_ignore = [\"a[\"]\n",
            Path::new("/p"),
            Some("/p/ferry.toml".into()),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/p/ferry.toml: drift_ignore: `a[`"),
            "{e}"
        );
        assert_eq!(e.class(), crate::error::ErrorClass::Input);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = Config::parse("databse_url = \"x\"\n", Path::new("/"), None).unwrap_err();
        assert!(e.to_string().contains("databse_url"), "{e}");
    }
}
