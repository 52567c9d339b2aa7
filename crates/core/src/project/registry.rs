//! The apps: [`AppConfig`] (where an app's migrations come from, what it depends on) and
//! [`AppRegistry`] (validated names and dependencies, dependency order).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::project::loader::load_migrations;
use crate::project::migration::Migration;

/// One app: a name, where its migrations come from, and the apps it depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// The app's name (`[A-Za-z0-9_-]+`, not `all`).
    pub name: String,
    /// The folder holding the app's migration files, when they come from files.
    pub migrations_dir: Option<PathBuf>,
    /// Apps whose migrations must run before this app's.
    pub depends_on: Vec<String>,
    embedded: Option<Vec<Migration>>,
}

impl AppConfig {
    /// An app whose migrations are the `.sql` files in `dir`.
    ///
    /// ```
    /// let app = ferry_core::AppConfig::new("blog", "migrations/blog").depends_on(["users"]);
    /// assert_eq!(app.depends_on, vec!["users".to_string()]);
    /// ```
    pub fn new(name: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        AppConfig {
            name: name.into(),
            migrations_dir: Some(dir.into()),
            depends_on: Vec::new(),
            embedded: None,
        }
    }

    /// An app whose migrations are built in the program: [`Migration::new`] from plain SQL,
    /// [`crate::parse_migration`] of a file's text, or (simplest, and never stale)
    /// [`Embedded::apps`](crate::Embedded::apps) of `embedded_migrations!()`.
    ///
    /// ```
    /// use ferry_core::{AppConfig, Migration};
    /// let app = AppConfig::embedded("users", vec![
    ///     Migration::new("1", "create users", "CREATE TABLE users (id INTEGER);", Some("DROP TABLE users;")),
    /// ]);
    /// assert_eq!(app.migrations().unwrap().len(), 1);
    /// ```
    pub fn embedded(name: impl Into<String>, migrations: Vec<Migration>) -> Self {
        AppConfig {
            name: name.into(),
            migrations_dir: None,
            depends_on: Vec::new(),
            embedded: Some(migrations),
        }
    }

    /// Set the apps this one depends on.
    pub fn depends_on<I, S>(mut self, deps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.depends_on = deps.into_iter().map(Into::into).collect();
        self
    }

    /// Where the app's migrations come from: a folder, or a list built in the program.
    pub fn source(&self) -> MigrationSource<'_> {
        match (&self.embedded, &self.migrations_dir) {
            (Some(list), _) => MigrationSource::Embedded(list),
            (None, Some(dir)) => MigrationSource::Dir(dir),
            (None, None) => MigrationSource::Dir(Path::new(".")),
        }
    }

    /// The app's migrations in ascending ID order: read from its folder, or the embedded ones.
    /// A folder that does not exist is an [`Error::MigrationFile`] naming it (a wrong path
    /// must not read as "nothing to do"). Embedded migrations have no files (`files` is empty:
    /// `--clean` never deletes anything for them), whatever they were parsed from.
    pub fn migrations(&self) -> Result<Vec<Migration>> {
        if let Some(list) = &self.embedded {
            let mut list = list.clone();
            for migration in &mut list {
                migration.files.clear();
                crate::project::migration::check_limits(migration).map_err(|why| {
                    Error::Usage(format!(
                        "app `{}`, embedded migration {}: {why}",
                        self.name,
                        migration.id.chars().take(40).collect::<String>()
                    ))
                })?;
            }
            list.sort_by(|a, b| crate::project::migration::compare_ids(&a.id, &b.id));
            for pair in list.windows(2) {
                if crate::project::migration::compare_ids(&pair[0].id, &pair[1].id).is_eq() {
                    return Err(Error::Usage(format!(
                        "app `{}` has two embedded migrations with ID {}",
                        self.name, pair[1].id
                    )));
                }
            }
            return Ok(list);
        }
        let dir = self.migrations_dir.as_deref().unwrap_or(Path::new("."));
        if !dir.exists() && std::fs::symlink_metadata(dir).is_ok() {
            return Err(Error::MigrationFile {
                path: dir.to_owned(),
                line: None,
                message: "the migrations folder is a link to something that does not exist; fix or remove the link".into(),
            });
        }
        if !dir.exists() {
            return Err(Error::MigrationFile {
                path: dir.to_owned(),
                line: None,
                message: format!(
                    "the migrations folder of app `{}` does not exist; create it (`ferry new {} <description>` does), or fix the app's `migrations` path (relative to the folder of ferry.toml)",
                    self.name, self.name
                ),
            });
        }
        load_migrations(dir)
    }
}

/// Where an app's migrations come from ([`AppConfig::source`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationSource<'a> {
    /// The `.sql` files of a folder, read when a command runs; `--clean` may delete them.
    Dir(&'a Path),
    /// Migrations built in the program ([`AppConfig::embedded`], `embedded_migrations!`):
    /// no file is read, and none is ever deleted.
    Embedded(&'a [Migration]),
}

/// The apps of a project, validated: unique names, known dependencies, no cycles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppRegistry {
    pub(crate) apps: Vec<AppConfig>,
    /// The apps are the sub-folders of `./migrations` because no `ferry.toml` was found.
    pub(crate) from_folders: bool,
}

impl AppRegistry {
    /// Validate and build a registry. Registry order is the order of `apps`.
    ///
    /// ```
    /// use ferry_core::{AppConfig, AppRegistry};
    /// let reg = AppRegistry::new(vec![
    ///     AppConfig::new("blog", "m/blog").depends_on(["users"]),
    ///     AppConfig::new("users", "m/users"),
    /// ]).unwrap();
    /// let order: Vec<_> = reg.dependency_order().iter().map(|a| a.name.as_str()).collect();
    /// assert_eq!(order, ["users", "blog"]);
    /// ```
    pub fn new(apps: Vec<AppConfig>) -> Result<AppRegistry> {
        let mut seen = BTreeSet::new();
        for app in &apps {
            validate_app_name(&app.name)?;
            if !seen.insert(app.name.as_str()) {
                return Err(Error::config(
                    None,
                    format!(
                        "app `{}` is defined twice; app names must be unique",
                        app.name
                    ),
                ));
            }
        }
        for app in &apps {
            for dep in &app.depends_on {
                if !seen.contains(dep.as_str()) {
                    return Err(Error::config(
                        None,
                        format!(
                            "app `{}` depends on unknown app `{dep}`; known apps: {}",
                            app.name,
                            apps.iter()
                                .map(|a| a.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        let registry = AppRegistry {
            apps,
            from_folders: false,
        };
        registry.waves()?;
        Ok(registry)
    }

    /// The apps in registry order.
    pub fn apps(&self) -> &[AppConfig] {
        &self.apps
    }

    /// The app names in registry order.
    pub fn names(&self) -> Vec<String> {
        self.apps.iter().map(|a| a.name.clone()).collect()
    }

    /// The app called `name`, or [`Error::UnknownApp`] listing the known apps.
    pub fn get(&self, name: &str) -> Result<&AppConfig> {
        self.apps
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| Error::UnknownApp {
                app: name.to_owned(),
                known: self.names(),
                hint: unknown_app_hint(name, self.apps.is_empty(), self.from_folders),
            })
    }

    /// The apps in dependency order: Kahn's algorithm in waves, registry order within a wave.
    pub fn dependency_order(&self) -> Vec<&AppConfig> {
        self.waves()
            .expect("cycles are rejected when the registry is built")
            .into_iter()
            .flatten()
            .map(|i| &self.apps[i])
            .collect()
    }

    /// The apps that list `name` in their `depends_on`, in registry order.
    pub fn dependants_of(&self, name: &str) -> Vec<&AppConfig> {
        self.apps
            .iter()
            .filter(|a| a.depends_on.iter().any(|d| d == name))
            .collect()
    }

    fn waves(&self) -> Result<Vec<Vec<usize>>> {
        let index: HashMap<&str, usize> = self
            .apps
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.as_str(), i))
            .collect();
        let mut done = vec![false; self.apps.len()];
        let mut waves = Vec::new();
        let mut remaining = self.apps.len();
        while remaining > 0 {
            let wave: Vec<usize> = (0..self.apps.len())
                .filter(|&i| {
                    !done[i]
                        && self.apps[i]
                            .depends_on
                            .iter()
                            .all(|d| index.get(d.as_str()).is_some_and(|&j| done[j]))
                })
                .collect();
            if wave.is_empty() {
                return Err(Error::config(
                    None,
                    format!(
                        "dependency cycle between apps: {}; remove one of these `depends_on` entries",
                        self.find_cycle(&done, &index)
                    ),
                ));
            }
            for &i in &wave {
                done[i] = true;
            }
            remaining -= wave.len();
            waves.push(wave);
        }
        Ok(waves)
    }

    fn find_cycle(&self, done: &[bool], index: &HashMap<&str, usize>) -> String {
        // Every remaining app has a dependency that is not done; follow them until one repeats.
        let start = done.iter().position(|d| !d).unwrap_or(0);
        let mut path = vec![start];
        let mut current = start;
        loop {
            let next = self.apps[current]
                .depends_on
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .find(|&j| !done[j])
                .unwrap_or(current);
            if let Some(pos) = path.iter().position(|&p| p == next) {
                let mut cycle: Vec<&str> = path[pos..]
                    .iter()
                    .map(|&i| self.apps[i].name.as_str())
                    .collect();
                cycle.push(self.apps[next].name.as_str());
                return cycle.join(" -> ");
            }
            path.push(next);
            current = next;
        }
    }
}

/// The longest app name, in characters, on every backend (MySQL keeps it in a
/// `VARCHAR(255)`).
pub const MAX_APP_NAME_LEN: usize = 255;

/// Check an app name: `[A-Za-z0-9_-]+`, at most [`MAX_APP_NAME_LEN`] characters, and not the
/// reserved `all`.
pub fn validate_app_name(name: &str) -> Result<()> {
    if name == "all" {
        return Err(Error::config(
            None,
            "`all` is reserved and cannot be an app name; rename the app",
        ));
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Error::config(
            None,
            format!("invalid app name `{name}`: use letters, digits, `_` and `-`"),
        ));
    }
    if name.len() > MAX_APP_NAME_LEN {
        return Err(Error::config(
            None,
            format!(
                "app name `{}...` is {} characters long; the limit is {MAX_APP_NAME_LEN} on every backend: shorten it",
                &name[..40],
                name.len()
            ),
        ));
    }
    Ok(())
}

/// The hint of [`Error::UnknownApp`]: how to make `app` known, where that is clear.
fn unknown_app_hint(app: &str, no_apps: bool, no_config: bool) -> String {
    if no_config {
        return "; no ferry.toml was found (run `ferry init --app NAME`), so apps are the sub-folders of ./migrations".to_owned();
    }
    if !no_apps || validate_app_name(app).is_err() {
        return String::new();
    }
    format!(
        "; to add it, append the lines `[[app]]` and `name = \"{app}\"` to ferry.toml (its migrations then go in migrations/{app})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(apps: &[(&str, &[&str])]) -> Result<AppRegistry> {
        AppRegistry::new(
            apps.iter()
                .map(|(n, d)| AppConfig::new(*n, "x").depends_on(d.iter().copied()))
                .collect(),
        )
    }

    fn order(r: &AppRegistry) -> Vec<&str> {
        r.dependency_order()
            .iter()
            .map(|a| a.name.as_str())
            .collect()
    }

    #[test]
    fn waves_keep_registry_order() {
        let r = reg(&[("c", &["a"]), ("b", &[]), ("a", &[]), ("d", &["c", "b"])]).unwrap();
        assert_eq!(order(&r), ["b", "a", "c", "d"]);
    }

    #[test]
    fn cycles_are_named() {
        let err = reg(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("a -> b -> c -> a"), "{text}");
        let err = reg(&[("a", &["a"])]).unwrap_err().to_string();
        assert!(err.contains("a -> a"), "{err}");
    }

    #[test]
    fn bad_names_duplicates_and_unknown_deps() {
        assert!(reg(&[("all", &[])])
            .unwrap_err()
            .to_string()
            .contains("reserved"));
        assert!(reg(&[("a b", &[])]).is_err());
        assert!(reg(&[("a", &[]), ("a", &[])])
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let e = reg(&[("a", &["zzz"])]).unwrap_err().to_string();
        assert!(e.contains("zzz") && e.contains("`a`"), "{e}");
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join("ferry-no-such-folder-for-a-test");
        let err = AppConfig::new("users", &dir).migrations().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: the migrations folder of app `users` does not exist; create it (`ferry new users <description>` does), or fix the app's `migrations` path (relative to the folder of ferry.toml)", dir.display())
        );
        assert!(matches!(err, Error::MigrationFile { path, line: None, .. } if path == dir));
    }

    #[test]
    fn unknown_apps_get_the_hint_that_fits() {
        let unknown = |r: &AppRegistry, name: &str| r.get(name).unwrap_err().to_string();
        let empty = AppRegistry::new(vec![]).unwrap();
        assert_eq!(
            unknown(&empty, "posts"),
            "unknown app `posts`; known apps: (none); to add it, append the lines `[[app]]` and `name = \"posts\"` to ferry.toml (its migrations then go in migrations/posts)"
        );
        assert_eq!(
            unknown(&empty, "no good"),
            "unknown app `no good`; known apps: (none)"
        );
        let some = reg(&[("a", &[]), ("b", &[])]).unwrap();
        assert_eq!(
            unknown(&some, "posts"),
            "unknown app `posts`; known apps: a, b"
        );
        let folders = AppRegistry {
            from_folders: true,
            ..reg(&[("a", &[])]).unwrap()
        };
        assert_eq!(
            unknown(&folders, "posts"),
            "unknown app `posts`; known apps: a; no ferry.toml was found (run `ferry init --app NAME`), so apps are the sub-folders of ./migrations"
        );
        assert!(matches!(
            folders.get("posts"),
            Err(Error::UnknownApp { app, known, hint }) if app == "posts" && known == ["a"] && hint.starts_with("; no ferry.toml")
        ));
    }
}
