//! Fleets (SPEC §11): the targets one command runs on, and which of them a run takes.
//!
//! Runtime-free, like the rest of core: this module turns the configuration (`[[target]]`,
//! `targets_file`, `schemas`, `schemas_query`'s answer, SQLite globs) into a name-sorted list
//! of [`Target`]s and picks from it (`--target`, `--partition`); the CLI connects to them and
//! runs them in parallel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::driver::sqlite_url::{resolve_sqlite_path, SqliteUrl};
use crate::error::{Error, Result};

/// One database (or one PostgreSQL schema) a fleet command runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its unique name: the `[[target]]` / `targets_file` name, the schema's name, or an
    /// SQLite file's path relative to the config folder.
    pub name: String,
    /// Its database URL (may hold a password: print it only through [`crate::driver::redact_url`]).
    pub url: String,
    /// Schema-per-tenant: the schema that is the `search_path` of its migrations and holds
    /// its tracking table.
    pub schema: Option<String>,
}

/// The fleet keys of `ferry.toml`, as written (SPEC §11).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetConfig {
    /// `[[target]]` entries: name and URL (a relative SQLite path made absolute).
    pub targets: Vec<(String, String)>,
    /// `targets_file`, resolved against the config folder.
    pub targets_file: Option<PathBuf>,
    /// `schemas`.
    pub schemas: Vec<String>,
    /// `schemas_query`.
    pub schemas_query: Option<String>,
}

impl FleetConfig {
    /// Whether the config lists any target source besides the database URL itself.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
            && self.targets_file.is_none()
            && self.schemas.is_empty()
            && self.schemas_query.is_none()
    }
}

/// `--partition K/N`: the targets whose 0-based index in the name-sorted list is ≡ K−1
/// (mod N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// 1-based slice number, 1..=`of`.
    pub k: usize,
    /// Number of slices.
    pub of: usize,
}

impl std::str::FromStr for Partition {
    type Err = String;

    /// ```
    /// use ferry_core::fleet::Partition;
    /// assert_eq!("2/3".parse::<Partition>(), Ok(Partition { k: 2, of: 3 }));
    /// assert!("0/3".parse::<Partition>().is_err());
    /// assert!("4/3".parse::<Partition>().is_err());
    /// ```
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let bad = || format!("`{text}` is not a partition: write K/N with 1 <= K <= N, e.g. 2/4");
        let (k, of) = text.split_once('/').ok_or_else(bad)?;
        let k: usize = k.trim().parse().map_err(|_| bad())?;
        let of: usize = of.trim().parse().map_err(|_| bad())?;
        if of == 0 || k == 0 || k > of {
            return Err(bad());
        }
        Ok(Partition { k, of })
    }
}

impl Partition {
    /// Whether the target at `index` of the name-sorted list is in this slice.
    pub fn contains(&self, index: usize) -> bool {
        index % self.of == self.k - 1
    }
}

/// Whether an SQLite URL's path holds glob characters (`*`, `?`, `[`).
pub fn is_sqlite_glob(url: &str) -> bool {
    match SqliteUrl::parse(url) {
        Ok(SqliteUrl::File { path, .. }) => path
            .to_string_lossy()
            .chars()
            .any(|c| matches!(c, '*' | '?' | '[')),
        _ => false,
    }
}

/// A fleet as its sources list it: the targets, and the sources that yielded none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Every target, sorted by name.
    pub targets: Vec<Target>,
    /// Each source that yielded no target, described for a warning (SPEC §11): a glob that
    /// matched no file, a `targets_file` without a line, a `schemas_query` without a row.
    pub empty_sources: Vec<String>,
}

/// Every target of the fleet, sorted by name: the `[[target]]` entries, the lines of
/// `targets_file`, one target per schema (`schemas`, or `schemas_query`'s answer passed in
/// as `queried_schemas`) on `database_url`, and one per file of an SQLite glob (as
/// `database_url` or as a target's URL). `root` is the config folder, which SQLite files are
/// named relative to. Duplicate names are a configuration error, and so is a configuration
/// with no source of targets at all; sources that yield none (a glob that matches no file, a
/// query that returns no row) give an empty fleet. [`list`] also says which sources those are.
pub fn targets(
    fleet: &FleetConfig,
    config_path: Option<&Path>,
    root: &Path,
    database_url: Option<&str>,
    queried_schemas: &[String],
) -> Result<Vec<Target>> {
    list(fleet, config_path, root, database_url, queried_schemas).map(|l| l.targets)
}

/// [`targets`], with the sources that yielded no target named in
/// [`Listing::empty_sources`].
///
/// ```
/// use ferry_core::fleet::{list, FleetConfig};
/// let dir = std::env::temp_dir().join("ferry-doc-empty-glob");
/// let listing = list(&FleetConfig::default(), None, &dir, Some("sqlite:none/*.db"), &[]).unwrap();
/// assert!(listing.targets.is_empty());
/// assert_eq!(listing.empty_sources, ["the database URL `sqlite:none/*.db` (it matched no file)"]);
/// ```
pub fn list(
    fleet: &FleetConfig,
    config_path: Option<&Path>,
    root: &Path,
    database_url: Option<&str>,
    queried_schemas: &[String],
) -> Result<Listing> {
    let config_error = |message: String| Error::Config {
        path: config_path.map(Path::to_owned),
        message,
    };
    let mut empty_sources = Vec::new();
    let mut listed: Vec<(String, String, &'static str)> = fleet
        .targets
        .iter()
        .map(|(name, url)| (name.clone(), url.clone(), "[[target]]"))
        .collect();
    if let Some(file) = &fleet.targets_file {
        let lines = read_targets_file(file)?;
        if lines.is_empty() {
            empty_sources.push(format!(
                "targets_file {} (it has no `NAME URL` line)",
                file.display()
            ));
        }
        for (name, url) in lines {
            listed.push((name, resolve_sqlite_path(&url, root), "targets_file"));
        }
    }
    let mut found: BTreeMap<String, (Target, &'static str)> = BTreeMap::new();
    let mut add = |target: Target, source: &'static str| -> Result<()> {
        if let Some((_, first)) = found.get(&target.name) {
            return Err(config_error(format!(
                "fleet target `{}` is named twice ({first} and {source}); target names must be unique",
                target.name
            )));
        }
        found.insert(target.name.clone(), (target, source));
        Ok(())
    };
    for (name, url, source) in listed {
        if is_sqlite_glob(&url) {
            let matched = expand_glob(&url, root).map_err(config_error)?;
            if matched.is_empty() {
                empty_sources.push(format!(
                    "{source} `{name}` (`{}` matched no file)",
                    crate::driver::redact::redact_url(&url)
                ));
            }
            for target in matched {
                add(target, source)?;
            }
        } else {
            add(
                Target {
                    name,
                    url,
                    schema: None,
                },
                source,
            )?;
        }
    }
    if fleet.schemas_query.is_some() && queried_schemas.is_empty() {
        empty_sources.push("schemas_query (it returned no row)".to_owned());
    }
    let schemas: Vec<&String> = fleet.schemas.iter().chain(queried_schemas).collect();
    if !schemas.is_empty() {
        let url = database_url.ok_or_else(|| {
            config_error(
                "`schemas` and `schemas_query` need a database URL (database_url, -d, FERRY_DATABASE_URL or DATABASE_URL): the database whose schemas they are"
                    .into(),
            )
        })?;
        if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(config_error(
                "`schemas` and `schemas_query` are for PostgreSQL (schema per tenant); the database URL is not a postgres:// URL"
                    .into(),
            ));
        }
        for schema in schemas {
            if schema.is_empty() {
                return Err(config_error("an empty schema name in `schemas`".into()));
            }
            add(
                Target {
                    name: schema.clone(),
                    url: url.to_owned(),
                    schema: Some(schema.clone()),
                },
                "schemas",
            )?;
        }
    }
    if let Some(url) = database_url.filter(|u| is_sqlite_glob(u)) {
        let matched = expand_glob(url, root).map_err(config_error)?;
        if matched.is_empty() {
            empty_sources.push(format!(
                "the database URL `{}` (it matched no file)",
                crate::driver::redact::redact_url(url)
            ));
        }
        for target in matched {
            add(target, "the database URL")?;
        }
    }
    let glob_url = database_url.is_some_and(is_sqlite_glob);
    if found.is_empty() && fleet.is_empty() && !glob_url {
        return Err(config_error(
            "--fleet found no target: add [[target]] entries, targets_file, schemas or schemas_query to ferry.toml, or use an SQLite glob (sqlite:dir/*.db) as the database URL"
                .into(),
        ));
    }
    Ok(Listing {
        targets: found.into_values().map(|(target, _)| target).collect(),
        empty_sources,
    })
}

/// The targets a run takes: those named (`--target`, an unknown name is an error; none named
/// means all), then the `--partition` slice of the name-sorted list.
pub fn select(
    targets: Vec<Target>,
    names: &[String],
    partition: Option<Partition>,
) -> Result<Vec<Target>> {
    let chosen: Vec<Target> = if names.is_empty() {
        targets
    } else {
        if let Some(unknown) = names
            .iter()
            .find(|n| !targets.iter().any(|t| &t.name == *n))
        {
            return Err(Error::Unsuccessful(format!(
                "no fleet target is named `{unknown}`; `ferry check --fleet` lists them"
            )));
        }
        targets
            .into_iter()
            .filter(|t| names.contains(&t.name))
            .collect()
    };
    Ok(match partition {
        None => chosen,
        Some(p) => chosen
            .into_iter()
            .enumerate()
            .filter(|(i, _)| p.contains(*i))
            .map(|(_, t)| t)
            .collect(),
    })
}

/// The `NAME URL` lines of a targets file (`#` starts a comment; blank lines are skipped).
fn read_targets_file(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
        path: Some(path.to_owned()),
        message: format!("cannot read the targets file: {e}"),
    })?;
    let mut targets = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line
            .split_once('#')
            .map_or(line, |(before, _)| before)
            .trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(name), Some(url), None) => targets.push((name.to_owned(), url.to_owned())),
            _ => {
                return Err(Error::Config {
                    path: Some(path.to_owned()),
                    message: format!(
                        "line {}: expected `NAME URL` (two words; `#` starts a comment)",
                        number + 1
                    ),
                })
            }
        }
    }
    Ok(targets)
}

/// One target per file matching an SQLite glob URL, named by its path relative to `root`
/// (the config folder) when it is inside it.
fn expand_glob(url: &str, root: &Path) -> std::result::Result<Vec<Target>, String> {
    let Ok(SqliteUrl::File { path, .. }) = SqliteUrl::parse(url) else {
        return Ok(Vec::new());
    };
    let query = url.find('?').map_or("", |i| &url[i..]);
    let pattern = lexical(&if path.is_relative() {
        root.join(&path)
    } else {
        path.clone()
    });
    let pattern_text = pattern.to_string_lossy().into_owned();
    let entries = glob::glob(&pattern_text)
        .map_err(|e| format!("`{pattern_text}` is not a valid glob: {e}"))?;
    let mut targets = Vec::new();
    for entry in entries {
        let file =
            entry.map_err(|e| format!("cannot read {}: {}", e.path().display(), e.error()))?;
        if !file.is_file() {
            continue;
        }
        let name = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .to_string_lossy()
            .replace('\\', "/");
        targets.push(Target {
            name,
            url: format!("sqlite:{}{query}", file.display()),
            schema: None,
        });
    }
    Ok(targets)
}

/// `path` without `.` and `..` components (resolved by text, not through the file system),
/// so that a file has one name however the glob reached it.
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> Target {
        Target {
            name: name.into(),
            url: format!("sqlite:/tmp/{name}.db"),
            schema: None,
        }
    }

    #[test]
    fn partitions_are_disjoint_and_cover_the_list() {
        let all: Vec<Target> = (0..23).map(|i| target(&format!("t{i:02}"))).collect();
        let mut seen = Vec::new();
        for k in 1..=4 {
            let slice = select(all.clone(), &[], Some(Partition { k, of: 4 })).unwrap();
            assert!(!slice.is_empty());
            seen.extend(slice.into_iter().map(|t| t.name));
        }
        seen.sort();
        let names: Vec<String> = all.into_iter().map(|t| t.name).collect();
        assert_eq!(seen, names);
    }

    #[test]
    fn unknown_target_names_are_refused() {
        let err = select(vec![target("a")], &["b".into()], None).unwrap_err();
        assert!(err.to_string().contains("`b`"), "{err}");
    }

    #[test]
    fn sources_merge_sorted_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tenants")).unwrap();
        for name in ["b.db", "a.db", "notes.txt"] {
            std::fs::write(dir.path().join("tenants").join(name), "").unwrap();
        }
        let file = dir.path().join("fleet.txt");
        std::fs::write(&file, "# regions\nzz postgres://u:secret@h/db  # last\n\n").unwrap();
        let fleet = FleetConfig {
            targets: vec![("eu-1".into(), "mysql://root@h/eu".into())],
            targets_file: Some(file),
            schemas: vec!["tenant_1".into()],
            schemas_query: None,
        };
        let found = targets(
            &fleet,
            None,
            dir.path(),
            Some("postgres://u@h/main"),
            &["tenant_2".into()],
        )
        .unwrap();
        let names: Vec<&str> = found.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["eu-1", "tenant_1", "tenant_2", "zz"]);
        assert_eq!(found[1].schema.as_deref(), Some("tenant_1"));

        let glob_url = "sqlite:./other/../tenants/*.db";
        let found = targets(
            &FleetConfig::default(),
            None,
            dir.path(),
            Some(glob_url),
            &[],
        )
        .unwrap();
        let names: Vec<&str> = found.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["tenants/a.db", "tenants/b.db"]);

        let twice = FleetConfig {
            targets: vec![("tenant_1".into(), "sqlite:x.db".into())],
            schemas: vec!["tenant_1".into()],
            ..FleetConfig::default()
        };
        let err = targets(&twice, None, dir.path(), Some("postgres://h/db"), &[]).unwrap_err();
        assert!(err.to_string().contains("named twice"), "{err}");
        assert_eq!(err.class(), crate::error::ErrorClass::Input);
    }

    #[test]
    fn no_source_is_an_error_but_an_empty_source_is_an_empty_fleet() {
        let dir = tempfile::tempdir().unwrap();
        let none = FleetConfig::default();
        let err = targets(&none, None, dir.path(), Some("postgres://h/db"), &[]).unwrap_err();
        assert!(err.to_string().contains("no target"), "{err}");
        let empty_glob = targets(&none, None, dir.path(), Some("sqlite:t/*.db"), &[]).unwrap();
        assert!(empty_glob.is_empty());
        let query = FleetConfig {
            schemas_query: Some("SELECT 1 WHERE false".into()),
            ..FleetConfig::default()
        };
        let listing = list(&query, None, dir.path(), Some("postgres://h/db"), &[]).unwrap();
        assert!(listing.targets.is_empty());
        assert_eq!(
            listing.empty_sources,
            ["schemas_query (it returned no row)"]
        );
        // Each source that yields nothing is named, beside those that yield targets.
        std::fs::write(dir.path().join("none.txt"), "# nobody yet\n").unwrap();
        let mixed = FleetConfig {
            targets: vec![
                ("a".into(), "postgres://h/a".into()),
                ("shards".into(), "sqlite:shards/*.db".into()),
            ],
            targets_file: Some(dir.path().join("none.txt")),
            ..FleetConfig::default()
        };
        let listing = list(&mixed, None, dir.path(), Some("sqlite:t/*.db"), &[]).unwrap();
        assert_eq!(listing.targets.len(), 1);
        assert_eq!(
            listing.empty_sources.len(),
            3,
            "{:?}",
            listing.empty_sources
        );
        assert!(listing.empty_sources[0].contains("none.txt"));
        assert!(listing.empty_sources[1].contains("`shards`"));
        assert!(listing.empty_sources[2].contains("sqlite:t/*.db"));
    }

    #[test]
    fn targets_file_lines_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fleet.txt");
        std::fs::write(&file, "a sqlite:a.db\nonly-a-name\n").unwrap();
        let fleet = FleetConfig {
            targets_file: Some(file),
            ..FleetConfig::default()
        };
        let err = targets(&fleet, None, dir.path(), None, &[]).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
