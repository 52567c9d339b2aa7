//! SPEC §5.3 and §5.4: the status of every migration (`check`) and the missing rows
//! (`clean`).

use super::*;

/// SPEC §5.3.1–2: one status per file plus one per row without a file, in ID order per app.
pub(crate) fn statuses(
    apps: &[AppConfig],
    files: &[Vec<Migration>],
    rows: &Rows,
    dialect: crate::sql::Dialect,
) -> Vec<MigrationStatus> {
    let mut out = Vec::new();
    for (app, files) in apps.iter().zip(files) {
        let rows = rows.of(&app.name);
        let (row_of, file_of) = (rows_by_id(rows), files_by_id(files));
        let mut entries: Vec<MigrationStatus> = Vec::with_capacity(files.len());
        for mig in files {
            let row = row_of.get(&mig.id);
            let status = match row {
                None => Status::Pending,
                Some(r) if r.dirty => Status::Dirty,
                Some(r) if r.checksum != mig.checksum => Status::Changed,
                Some(_) => Status::Applied,
            };
            entries.push(MigrationStatus {
                app_name: app.name.clone(),
                migration_id: mig.id.clone(),
                description: mig.description.clone(),
                has_ran: row.is_some(),
                status,
                applied_at: row.map(|r| r.applied_at),
                progress: row
                    .filter(|r| r.dirty)
                    .and_then(|r| progress(r, Some(mig), dialect)),
            });
        }
        for row in rows
            .iter()
            .filter(|r| file_of.get(&r.migration_id).is_none())
        {
            entries.push(MigrationStatus {
                app_name: app.name.clone(),
                migration_id: row.migration_id.clone(),
                description: row.description.clone(),
                has_ran: true,
                status: if row.dirty {
                    Status::Dirty
                } else {
                    Status::Missing
                },
                applied_at: Some(row.applied_at),
                progress: progress(row, None, dialect).filter(|_| row.dirty),
            });
        }
        entries.sort_by(|a, b| compare_ids(&a.migration_id, &b.migration_id));
        out.extend(entries);
    }
    out
}

/// How far a dirty `row` got (SPEC §14), with its file's statements where there is one: of
/// its up section, or of its down section where a backwards run left it dirty (the file's, or
/// the stored `down_sql` when the file is gone).
pub(super) fn progress(
    row: &AppliedMigration,
    file: Option<&Migration>,
    dialect: crate::sql::Dialect,
) -> Option<Progress> {
    let done = row.statements_done?;
    let down = row.progress_is_down();
    let section = match (file, down) {
        (Some(f), false) => Some(f.up.clone()),
        (Some(f), true) => f.down.clone(),
        (None, true) => row.down_sql.as_ref().map(|sql| Section::new(sql.clone())),
        (None, false) => None,
    };
    let statements = section
        .as_ref()
        .map(|s| crate::sql::split_statements(&s.sql, dialect));
    let failed_at = section
        .as_ref()
        .zip(statements.as_ref())
        .and_then(|(section, s)| {
            let next = s.get(usize::try_from(done).ok()?)?;
            Some(crate::manager::counted::statement_at(section, next))
        });
    Some(Progress {
        statements_done: done,
        statements_total: statements.map(|s| s.len()),
        failed_at,
        down,
    })
}

/// SPEC §5.4: the `missing` rows (applied, clean, file gone) of each app.
pub(crate) fn missing(
    apps: &[AppConfig],
    files: &[Vec<Migration>],
    rows: &Rows,
) -> Plan<PlannedMigration> {
    let mut steps = Vec::new();
    for (app, files) in apps.iter().zip(files) {
        let file_of = files_by_id(files);
        for row in rows.of(&app.name) {
            if !row.dirty && file_of.get(&row.migration_id).is_none() {
                steps.push(planned(&app.name, &row.migration_id, &row.description));
            }
        }
    }
    Plan {
        steps,
        notes: Vec::new(),
        empty: Empty::NothingToDo("No missing migrations to forget"),
    }
}
