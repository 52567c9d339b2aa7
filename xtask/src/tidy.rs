//! `cargo xtask ci tidy`: the layout checks that keep ARCHITECTURE.md and ferry-core's folders
//! honest (in the manner of rust-analyzer's tidy tests).
//!
//! - Every path ARCHITECTURE.md writes in backticks (`manager/plan.rs`, `cli/src/fleet/`,
//!   `driver-{postgres,mysql}/src/lease.rs`, `core/src/manager/*.rs`) exists. Under a
//!   `### \`crates/X\`` heading a path is looked for in that crate; in a list nested under an
//!   item that starts with a folder (`- \`manager/\`: ...`), a bare file name is looked for in
//!   that folder; a path with a folder in it is looked for there first, then in the whole
//!   workspace. A path matches when it is the end of a real path (`plan.rs` matches
//!   `crates/core/src/manager/plan.rs`).
//! - ferry-core's modules import only downward, in the order of [`CORE_LAYERS`]: a file may
//!   name (`crate::x::...`) its own module and the modules of lower layers, and names the
//!   module an item is defined in rather than a crate-root re-export (so that the scan sees
//!   the dependency). `lib.rs` (the re-exports) and `testkit/` (a user of the whole crate) are
//!   exempt; comments are not scanned.
//!
//! Both are also unit tests (`cargo test -p xtask`), so `cargo test --workspace` runs them.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::workspace_root;

/// ferry-core's top-level modules from the bottom layer up. A module may import its own
/// layer's module and any lower layer's; modules in one layer do not import each other.
pub const CORE_LAYERS: &[&[&str]] = &[
    &["text"],
    &["sql", "schema"],
    &["driver"],
    &["error"],
    &["project"],
    &["manager"],
    &["verify"],
];

/// Backticked words in ARCHITECTURE.md that look like paths but name a user's files, not ours.
const NOT_OUR_PATHS: &[&str] = &["ferry.toml", "./migrations"];

/// Run both checks on the workspace; fail with every problem listed.
pub fn run() -> Result<()> {
    let root = workspace_root();
    let doc = fs::read_to_string(root.join("ARCHITECTURE.md")).context("ARCHITECTURE.md")?;
    let missing = missing_paths(&doc, &workspace_paths(&root)?);
    let upward = upward_imports(&core_sources(&root)?);
    for line in missing.iter().chain(&upward) {
        eprintln!("tidy: {line}");
    }
    if !missing.is_empty() || !upward.is_empty() {
        bail!(
            "{} path(s) in ARCHITECTURE.md do not exist, {} import(s) in ferry-core go upward",
            missing.len(),
            upward.len()
        );
    }
    println!("ARCHITECTURE.md's paths exist; ferry-core's modules import only downward");
    Ok(())
}

/// Every file and folder under `root` (folders with a trailing `/`), relative, `/`-separated,
/// without `target/` and hidden folders other than `.ci` and `.github`.
fn workspace_paths(root: &Path) -> Result<Vec<String>> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| dir.display().to_string())? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if rel.is_empty()
                && (name == "target"
                    || (name.starts_with('.') && name != ".ci" && name != ".github"))
            {
                continue;
            }
            let path = format!("{rel}{name}");
            if entry.file_type()?.is_dir() {
                out.push(format!("{path}/"));
                walk(&entry.path(), &format!("{path}/"), out)?;
            } else {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, "", &mut out)?;
    Ok(out)
}

/// ferry-core's sources: (path relative to `crates/core/src`, text).
fn core_sources(root: &Path) -> Result<Vec<(String, String)>> {
    let src = root.join("crates/core/src");
    let mut out = Vec::new();
    for path in workspace_paths(&src)? {
        if path.ends_with(".rs") {
            let text = fs::read_to_string(src.join(&path)).with_context(|| path.clone())?;
            out.push((path, text));
        }
    }
    out.sort();
    Ok(out)
}

/// The paths written in `doc` that match none of `paths`, each with its line number.
pub fn missing_paths(doc: &str, paths: &[String]) -> Vec<String> {
    let mut missing = Vec::new();
    let mut scope = String::new();
    let mut parent: Option<String> = None;
    let mut nested = false;
    for (n, line) in doc.lines().enumerate() {
        if let Some(heading) = line.strip_prefix("### ") {
            scope = backticked(heading)
                .next()
                .filter(|w| w.starts_with("crates/"))
                .map(|w| format!("{}/", w.trim_end_matches('/')))
                .unwrap_or_default();
            parent = None;
            continue;
        }
        if line.starts_with('#') {
            scope.clear();
            parent = None;
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("- ") {
            nested = trimmed.len() != line.len();
            if !nested {
                parent = backticked(line)
                    .next()
                    .filter(|w| w.ends_with('/') && looks_like_path(w))
                    .map(str::to_owned);
            }
        } else if line.trim().is_empty() {
            nested = false;
        }
        for word in backticked(line).filter(|w| looks_like_path(w)) {
            let word = match (&parent, nested && !word.contains('/')) {
                (Some(folder), true) => format!("{folder}{word}"),
                _ => word.to_owned(),
            };
            // A bare name is looked for in the section's crate; a path with a folder in it
            // there first, then anywhere (`core/tests/it` from the CLI's section).
            let found = expand_braces(&word).iter().all(|w| {
                paths.iter().any(|p| path_matches(p, &scope, w))
                    || (w.contains('/') && paths.iter().any(|p| path_matches(p, "", w)))
            });
            if !found {
                let place = if scope.is_empty() {
                    "the workspace"
                } else {
                    &scope
                };
                missing.push(format!(
                    "ARCHITECTURE.md:{}: `{word}` is not in {place}",
                    n + 1
                ));
            }
        }
    }
    missing
}

/// The words between backticks on `line`.
fn backticked(line: &str) -> impl Iterator<Item = &str> {
    line.split('`').skip(1).step_by(2)
}

/// Whether a backticked word is a path of ours: a file name with an extension we keep, or
/// something with a `/`, made of path characters only.
fn looks_like_path(word: &str) -> bool {
    let chars_ok = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./*{},".contains(c));
    let shaped = word.contains('/')
        || [".rs", ".md", ".toml", ".yml", ".json"]
            .iter()
            .any(|ext| word.ends_with(ext));
    chars_ok && shaped && !word.contains("://") && !NOT_OUR_PATHS.contains(&word)
}

/// `a{b,c}d` → `abd`, `acd` (one level, as ARCHITECTURE.md writes it).
fn expand_braces(word: &str) -> Vec<String> {
    match (word.find('{'), word.find('}')) {
        (Some(open), Some(close)) if open < close => word[open + 1..close]
            .split(',')
            .flat_map(|alt| expand_braces(&format!("{}{alt}{}", &word[..open], &word[close + 1..])))
            .collect(),
        _ => vec![word.to_owned()],
    }
}

/// Whether `path` (relative to the workspace; folders end in `/`) lies under `scope` and ends
/// with the components of `word` (`*` matches within one component; a `word` ending in `/`
/// is a folder).
fn path_matches(path: &str, scope: &str, word: &str) -> bool {
    if !component_prefix(path, scope) || (word.ends_with('/') && !path.ends_with('/')) {
        return false;
    }
    let have: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let want: Vec<&str> = word
        .trim_start_matches("./")
        .trim_end_matches('/')
        .split('/')
        .collect();
    want.len() <= have.len()
        && have[have.len() - want.len()..]
            .iter()
            .zip(&want)
            .all(|(h, w)| wildcard(w, h))
}

/// Whether `path` starts with the folders of `scope` (which may hold `*`, as `crates/driver-*/`).
fn component_prefix(path: &str, scope: &str) -> bool {
    let scope: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
    let path: Vec<&str> = path.split('/').collect();
    scope.len() < path.len() && scope.iter().zip(&path).all(|(s, p)| wildcard(s, p))
}

/// `*` matches any run of characters; everything else matches itself.
fn wildcard(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (head.len()..=text.len())
                    .any(|i| text.is_char_boundary(i) && wildcard(tail, &text[i..]))
        }
    }
}

/// The layer of a module name in [`CORE_LAYERS`].
fn layer(module: &str) -> Option<usize> {
    CORE_LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `crate::` path in ferry-core's sources (`(path, text)`, paths relative to `src`) that
/// names a higher layer, a same-layer sibling, or no module at all.
pub fn upward_imports(files: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in files {
        let own = path
            .split('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs");
        if own == "lib" || own == "testkit" {
            continue;
        }
        let Some(own_layer) = layer(own) else {
            found.push(format!(
                "crates/core/src/{path}: module `{own}` is in no layer of xtask/src/tidy.rs's CORE_LAYERS"
            ));
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                let before = rest[..at].chars().next_back();
                let after = &rest[at + "crate::".len()..];
                rest = after;
                if before.is_some_and(|c| c == '$' || c == '_' || c.is_ascii_alphanumeric()) {
                    continue;
                }
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let problem = match layer(&name) {
                    _ if name.is_empty() => {
                        Some("`crate::{...}`: import each module on its own line".to_owned())
                    }
                    None => Some(format!(
                        "`crate::{name}`: name the module it is defined in, not the crate root"
                    )),
                    Some(l) if name == own || l < own_layer => None,
                    Some(_) => Some(format!(
                        "`crate::{name}` from `{own}`: imports go only downward ({})",
                        order_text()
                    )),
                };
                if let Some(problem) = problem {
                    found.push(format!("crates/core/src/{path}:{}: {problem}", n + 1));
                }
            }
        }
    }
    found
}

/// [`CORE_LAYERS`] as `text → sql, schema → ...`.
fn order_text() -> String {
    CORE_LAYERS
        .iter()
        .map(|l| l.join(", "))
        .collect::<Vec<_>>()
        .join(" → ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_workspace_is_tidy() {
        let root = workspace_root();
        let doc = fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
        assert_eq!(
            missing_paths(&doc, &workspace_paths(&root).unwrap()),
            Vec::<String>::new()
        );
        assert_eq!(
            upward_imports(&core_sources(&root).unwrap()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn paths_are_found_by_their_end_within_the_section_and_the_parent_folder() {
        let tree = paths(&[
            "crates/",
            "crates/core/",
            "crates/core/src/",
            "crates/core/src/manager/",
            "crates/core/src/manager/plan.rs",
            "crates/core/src/sql.rs",
            "crates/cli/src/verify.rs",
            "crates/driver-mysql/src/lease.rs",
            "crates/driver-postgres/src/lease.rs",
            "xtask/src/ci.rs",
        ]);
        let doc = "\
# Title
`xtask/src/ci.rs` and `ferry.toml`, `postgres://h/db`, `ferry_core::driver::url`
### `crates/core` (`ferry-core`)
- `sql.rs`: the lexer; `manager/plan.rs`, `core/src/manager/*.rs`
- `manager/`: the commands
  - `plan.rs`: pure planning,
    continued on a line of its own: `plan.rs`
- `driver-{postgres,mysql}/src/lease.rs`
| §9 | `cli/src/verify.rs` |
";
        assert_eq!(missing_paths(doc, &tree), Vec::<String>::new());

        let doc = "\
### `crates/core`
- `verify.rs`: only the CLI has one
- `manager/`: the commands
  - `sql.rs`: not in manager/
- `driver-{postgres,sqlite}/src/lease.rs`
- `manager/verify.rs`, `snapshot/`
## Invariants
`crates/core/src/lock.rs`
";
        assert_eq!(
            missing_paths(doc, &tree),
            [
                "ARCHITECTURE.md:2: `verify.rs` is not in crates/core/",
                "ARCHITECTURE.md:4: `manager/sql.rs` is not in crates/core/",
                "ARCHITECTURE.md:5: `driver-{postgres,sqlite}/src/lease.rs` is not in crates/core/",
                "ARCHITECTURE.md:6: `manager/verify.rs` is not in crates/core/",
                "ARCHITECTURE.md:6: `snapshot/` is not in crates/core/",
                "ARCHITECTURE.md:8: `crates/core/src/lock.rs` is not in the workspace",
            ]
        );
    }

    #[test]
    fn wildcards_and_braces() {
        assert!(wildcard("driver-*", "driver-mysql"));
        assert!(!wildcard("driver-*", "cli"));
        assert!(wildcard("*.rs", "plan.rs"));
        assert_eq!(expand_braces("d-{a,b}/x.rs"), ["d-a/x.rs", "d-b/x.rs"]);
        assert!(path_matches(
            "crates/driver-mysql/src/lib.rs",
            "crates/driver-*/",
            "lib.rs"
        ));
        assert!(!path_matches(
            "crates/cli/src/lib.rs",
            "crates/driver-*/",
            "lib.rs"
        ));
        assert!(!path_matches("crates/cli/src/lib.rs", "", "src/lib.rs/"));
        assert!(path_matches(
            "crates/cli/tests/it/",
            "crates/cli/",
            "tests/it"
        ));
    }

    #[test]
    fn imports_go_only_downward_and_name_their_module() {
        let files = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect()
        };
        let clean = files(&[
            ("text.rs", "use sha2::Digest;\n"),
            (
                "driver/mod.rs",
                "use crate::sql::Dialect;\nuse crate::driver::lock::Lock;\n",
            ),
            ("error.rs", "use crate::driver::error::DriverError;\n"),
            (
                "manager/apply.rs",
                "use crate::project::migration::Migration;\nuse super::plan;\n",
            ),
            (
                "verify/manager.rs",
                "use crate::manager::Migrator;\n// crate::verify docs\n",
            ),
            (
                "driver/watch.rs",
                "$crate::watch::watch($call); $crate::DriverErrorKind::Lost\n",
            ),
            (
                "lib.rs",
                "pub use verify::VerifyManager;\nuse crate::Anything;\n",
            ),
            ("testkit/mod.rs", "use crate::{Driver, Migrator};\n"),
        ]);
        assert_eq!(upward_imports(&clean), Vec::<String>::new());
        let bad = files(&[
            (
                "error.rs",
                "use crate::project::registry::validate_app_name;\n",
            ),
            (
                "driver/table_name.rs",
                "\n    let h = crate::checksum(&full);\n",
            ),
            ("sql.rs", "use crate::schema::Part;\n"),
            ("project/config.rs", "use crate::{error::Error, text};\n"),
            ("fleet.rs", "use crate::error::Error;\n"),
        ]);
        let found = upward_imports(&bad);
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(
            found[0].starts_with("crates/core/src/error.rs:1: `crate::project` from `error`"),
            "{}",
            found[0]
        );
        assert!(
            found[1].contains("table_name.rs:2: `crate::checksum`: name the module"),
            "{}",
            found[1]
        );
        assert!(
            found[2].contains("`crate::schema` from `sql`"),
            "{}",
            found[2]
        );
        assert!(
            found[3].contains("import each module on its own line"),
            "{}",
            found[3]
        );
        assert!(
            found[4].contains("module `fleet` is in no layer"),
            "{}",
            found[4]
        );
    }
}
