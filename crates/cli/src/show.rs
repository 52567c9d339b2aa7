//! `ferry show <app> <ID> [--down]` (SPEC §16.5): one migration's SQL from its file, on
//! stdout. No database is needed.

use ferry_core::Config;

use crate::args::ShowArgs;
use crate::exit::{Ending, Failure};
use crate::render::out;

/// Print the up (or, with `--down`, the down) section of the migration `a.migration_id`.
pub(crate) fn run(a: &ShowArgs, config: &Config) -> Result<Ending, Failure> {
    let app = config.registry.get(&a.app)?;
    let migrations = app.migrations()?;
    let Some(migration) = migrations.iter().find(|m| m.id == a.migration_id) else {
        let ids: Vec<&str> = migrations.iter().map(|m| m.id.as_str()).collect();
        let known = if ids.is_empty() {
            "it has no migration".to_owned()
        } else {
            format!("its migrations: {}", ids.join(", "))
        };
        return Err(Failure::Failed(format!(
            "app `{}` has no migration `{}`; {known}",
            a.app, a.migration_id
        )));
    };
    let section = if a.down {
        migration.down.as_ref().ok_or_else(|| {
            Failure::Failed(format!(
                "migration {} {} of app `{}` has no down section (it is irreversible)",
                migration.id, migration.description, a.app
            ))
        })?
    } else {
        &migration.up
    };
    let mut text = section.sql.clone();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    out(&text);
    Ok(Ending::Printed)
}
