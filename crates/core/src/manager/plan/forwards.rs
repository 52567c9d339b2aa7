//! SPEC §5.1: which pending migrations `forwards` runs.

use super::*;

/// SPEC §5.1: the pending migrations of each app that `target` selects, apps in the order
/// given (dependency order).
pub(crate) fn forwards(
    apps: &[AppConfig],
    files: &[Vec<Migration>],
    rows: &Rows,
    target: &ForwardsTarget,
    out_of_order: OutOfOrder,
) -> Result<Plan<ForwardsStep>> {
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let mut not_found = None;
    let mut already_applied = None;
    for (app, files) in apps.iter().zip(files) {
        let rows = rows.of(&app.name);
        refuse_dirty(&app.name, rows)?;
        let row_of = rows_by_id(rows);
        // §5.1.5: a changed checksum warns, it does not refuse.
        for mig in files {
            if row_of
                .get(&mig.id)
                .is_some_and(|row| row.checksum != mig.checksum)
            {
                notes.push(Note::Warning(format!(
                    "migration {} {} was changed after it was applied (checksum differs); the change will not be run{}",
                    app.name,
                    mig.id,
                    mig.file().map(|f| format!(": {}", f.display())).unwrap_or_default()
                )));
            }
        }
        // §5.1.1: pending = files without a row, in ID order.
        let pending = files.iter().filter(|f| row_of.get(&f.id).is_none());
        // §5.1.2: all, the first one, or up to an ID.
        let chosen: Vec<&Migration> = match target {
            ForwardsTarget::All => pending.collect(),
            ForwardsTarget::Next => pending.take(1).collect(),
            ForwardsTarget::UpTo(id) => {
                if row_of.get(id).is_some() {
                    already_applied.get_or_insert_with(|| id.clone());
                    continue;
                }
                if files_by_id(files).get(id).is_none() {
                    not_found.get_or_insert_with(|| format!(
                        "migration ID {id} is not a migration of app `{}`; run `ferry check {}` to see its migrations",
                        app.name, app.name
                    ));
                    continue;
                }
                pending.filter(|f| compare_ids(&f.id, id).is_le()).collect()
            }
        };
        // §5.1.4 and §5.1.12: older than the highest applied ID runs with a warning, runs
        // silently, or refuses the whole run, as the policy says.
        if let Some(highest) = rows
            .iter()
            .map(|r| r.migration_id.as_str())
            .max_by(|a, b| compare_ids(a, b))
        {
            let older: Vec<&&Migration> = chosen
                .iter()
                .filter(|m| compare_ids(&m.id, highest).is_lt())
                .collect();
            match out_of_order {
                OutOfOrder::Refuse if !older.is_empty() => {
                    return Err(Error::OutOfOrder {
                        app: app.name.clone(),
                        ids: older.iter().map(|m| m.id.clone()).collect(),
                        highest: highest.to_owned(),
                    })
                }
                OutOfOrder::Warn => {
                    for mig in older {
                        notes.push(Note::Warning(format!(
                            "migration {} {} is out of order: it is older than {}, which is already applied",
                            app.name, mig.id, highest
                        )));
                    }
                }
                _ => {}
            }
        }
        steps.extend(chosen.into_iter().map(|mig| ForwardsStep {
            app: app.name.clone(),
            migration: mig.clone(),
        }));
    }
    // §5.1.2 and §5.1.3: an unknown ID fails, an applied one succeeds, else nothing to do.
    let empty = match (not_found, already_applied) {
        (Some(message), _) => Empty::NotFound(message),
        (None, Some(id)) => Empty::AlreadyApplied(id),
        (None, None) => Empty::NothingToDo("No migrations need to be run"),
    };
    Ok(Plan {
        steps,
        notes,
        empty,
    })
}
