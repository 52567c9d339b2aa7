//! The rules between apps: dependencies with pending migrations first (SPEC §5.1.11), and
//! the apps that depend on one (§5.2.10).

use super::*;

/// SPEC §5.1.11: the apps `app` depends on, directly or through other apps, in dependency
/// order.
pub(crate) fn dependencies(registry: &AppRegistry, app: &str) -> Vec<AppConfig> {
    let mut wanted: HashSet<&str> = HashSet::new();
    let mut stack = vec![app];
    while let Some(name) = stack.pop() {
        let Ok(config) = registry.get(name) else {
            continue;
        };
        for dep in &config.depends_on {
            if wanted.insert(dep.as_str()) {
                stack.push(dep.as_str());
            }
        }
    }
    registry
        .dependency_order()
        .into_iter()
        .filter(|a| wanted.contains(a.name.as_str()))
        .cloned()
        .collect()
}

/// SPEC §5.1.11: the apps of `deps` that have pending migrations, with how many, in the
/// order given.
pub(crate) fn pending_dependencies(
    deps: &[AppConfig],
    files: &[Vec<Migration>],
    rows: &Rows,
) -> Vec<(String, usize)> {
    deps.iter()
        .zip(files)
        .filter_map(|(app, files)| {
            let row_of = rows_by_id(rows.of(&app.name));
            let n = files.iter().filter(|f| row_of.get(&f.id).is_none()).count();
            (n > 0).then(|| (app.name.clone(), n))
        })
        .collect()
}

/// SPEC §5.2.10: the apps that depend on `app`, directly or through other apps, in registry
/// order.
pub(super) fn dependants(registry: &AppRegistry, app: &str) -> Vec<String> {
    let mut found: HashSet<String> = HashSet::new();
    let mut stack = vec![app.to_owned()];
    while let Some(name) = stack.pop() {
        for d in registry.dependants_of(&name) {
            if found.insert(d.name.clone()) {
                stack.push(d.name.clone());
            }
        }
    }
    registry
        .apps()
        .iter()
        .filter(|a| found.contains(&a.name))
        .map(|a| a.name.clone())
        .collect()
}
