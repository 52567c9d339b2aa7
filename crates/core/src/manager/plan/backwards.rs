//! SPEC §5.2: which applied migrations `backwards` reverses, and the dependants it must not
//! orphan.

use super::apps::dependants;
use super::*;

/// SPEC §5.2: the applied migrations of each app that `target` selects, newest first, apps in
/// the order given (reverse dependency order). `rows` holds every app's rows, for rule 10.
///
/// With `fake` (SPEC §5.2.11) no down SQL runs, so a migration without one is no refusal.
pub(crate) fn backwards(
    registry: &AppRegistry,
    apps: &[AppConfig],
    files: &[Vec<Migration>],
    rows: &Rows,
    target: &BackwardsTarget,
    fake: bool,
) -> Result<Plan<BackwardsStep>> {
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let mut not_found = None;
    for (app, files) in apps.iter().zip(files) {
        // §5.2.1: a stack in apply order.
        let app_rows = rows.of(&app.name);
        if app_rows.is_empty() {
            continue;
        }
        refuse_dirty(&app.name, app_rows)?;
        // §5.2.2: the newest, all, or an applied ID and everything applied after it.
        let selected: &[AppliedMigration] = match target {
            BackwardsTarget::All => app_rows,
            BackwardsTarget::Last => &app_rows[app_rows.len() - 1..],
            BackwardsTarget::From(id) => {
                match app_rows
                    .iter()
                    .position(|r| compare_ids(&r.migration_id, id).is_eq())
                {
                    Some(pos) => &app_rows[pos..],
                    None => {
                        let ids: Vec<&str> =
                            app_rows.iter().map(|r| r.migration_id.as_str()).collect();
                        not_found.get_or_insert_with(|| {
                            format!(
                                "migration {id} of app `{}` is not applied; applied IDs: {}",
                                app.name,
                                ids.join(", ")
                            )
                        });
                        continue;
                    }
                }
            }
        };
        let file_of = files_by_id(files);
        for row in selected.iter().rev() {
            // §5.2.4: the file's down section, else the stored one, else refuse.
            let file = file_of.get(&row.migration_id);
            let down = match file {
                Some(f) => f.down.clone(),
                None => {
                    if row.down_sql.is_some() && !fake {
                        notes.push(Note::Notice(format!(
                            "the file of migration {} {} is gone; using the down SQL stored when it was applied",
                            app.name, row.migration_id
                        )));
                    }
                    row.down_sql.clone().map(Section::new)
                }
            };
            let down = match down {
                Some(down) => Some(down),
                None if fake => Some(Section::new(String::new())),
                None => None,
            };
            let Some(down) = down else {
                return Err(Error::Irreversible {
                    app: app.name.clone(),
                    id: row.migration_id.clone(),
                });
            };
            steps.push(BackwardsStep {
                planned: planned(
                    &app.name,
                    &row.migration_id,
                    file.map_or(row.description.as_str(), |f| f.description.as_str()),
                ),
                down,
                // Only a folder's files are ever deleted (`--clean`); embedded ones have none.
                files: match app.source() {
                    MigrationSource::Dir(_) => file.map(|f| f.files.clone()).unwrap_or_default(),
                    MigrationSource::Embedded(_) => Vec::new(),
                },
                dir: app.migrations_dir.clone(),
            });
        }
    }
    // §5.2.2 and §5.2.3: a not-applied ID fails, else nothing to reverse.
    let empty = match not_found {
        Some(message) => Empty::NotFound(message),
        None => Empty::NothingToDo("No migrations to reverse"),
    };
    if !steps.is_empty() {
        refuse_orphaning(registry, apps, rows, &steps)?;
    }
    Ok(Plan {
        steps,
        notes,
        empty,
    })
}

/// SPEC §5.2.10: refuse to empty an app while an app that depends on it, directly or through
/// other apps, keeps applied migrations (and is not emptied by the same command).
pub(super) fn refuse_orphaning(
    registry: &AppRegistry,
    apps: &[AppConfig],
    rows: &Rows,
    steps: &[BackwardsStep],
) -> Result<()> {
    let reversed = |app: &str| steps.iter().filter(|s| s.planned.app_name == app).count();
    let applied = |app: &str| rows.of(app).len();
    for app in apps {
        let n = reversed(&app.name);
        if n == 0 || n < applied(&app.name) {
            continue;
        }
        let dependants: Vec<String> = dependants(registry, &app.name)
            .into_iter()
            .filter(|d| applied(d) > reversed(d))
            .collect();
        if !dependants.is_empty() {
            return Err(Error::DependantsApplied {
                app: app.name.clone(),
                dependants,
            });
        }
    }
    Ok(())
}
