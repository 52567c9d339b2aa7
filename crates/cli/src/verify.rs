//! `ferry verify` (SPEC §9): the scratch database ([`crate::scratch`]) around core's
//! [`VerifyManager`]. It is always dropped: after the run, after a failure, and on Ctrl-C (exit 130);
//! `--keep` leaves it and prints its URL.

use ferry_core::{Config, Migrator, TableName, VerifiedMigration, VerifyManager};

use crate::args::{Format, GlobalOpts, VerifyArgs};
use crate::exit::{Ending, Failure};
use crate::render::{out, Style};

/// Run `ferry verify`.
pub(crate) async fn run(
    a: &VerifyArgs,
    g: &GlobalOpts,
    config: &Config,
    style: Style,
) -> Result<Ending, Failure> {
    let app = a.app.clone().unwrap_or_else(|| "all".to_owned());
    // File errors stop everything before a scratch database exists (exit 2).
    for app in config.registry.apps() {
        app.migrations()?;
    }
    let base = match &a.scratch_url {
        Some(url) => url.clone(),
        None => crate::database_url(g, config)?,
    };
    let results = crate::scratch::with_scratch(
        &base,
        "ferry_verify",
        a.keep,
        TableName::default(),
        style,
        async |driver| {
            let mut migrator = Migrator::new(config.registry.clone(), driver);
            VerifyManager::new(&app)
                .run(&mut migrator)
                .await
                .map_err(Failure::from)
        },
    )
    .await;
    let results = results?;
    match a.format {
        Format::Json => out(&format!("{}\n", json(&results))),
        Format::Table => out(&table(&results)),
    }
    if style.verbose {
        let total: std::time::Duration = results.iter().map(|r| r.duration).sum();
        let snapshots: std::time::Duration = results.iter().map(|r| r.snapshot_time).sum();
        let whole: u64 = results.iter().map(|r| r.whole_snapshots).sum();
        eprintln!(
            "time: {} ms over {} migrations, {} ms of it in schema snapshots ({whole} read whole, the others only where the schema changed)",
            total.as_millis(),
            results.len(),
            snapshots.as_millis()
        );
    }
    let failures = results.iter().filter(|r| r.verdict.is_failure()).count();
    if failures > 0 {
        return Err(Failure::Failed(format!(
            "{failures} of {} migration{} failed verification",
            results.len(),
            if results.len() == 1 { "" } else { "s" }
        )));
    }
    style.info(&format!(
        "verified {} migration{}: every down undoes its up",
        results.len(),
        if results.len() == 1 { "" } else { "s" }
    ));
    Ok(Ending::Printed)
}

/// One line per migration, then its differences indented.
fn table(results: &[VerifiedMigration]) -> String {
    let mut text = String::new();
    for r in results {
        text.push_str(&format!(
            "{} {} {}: {} ({} ms)\n",
            r.app_name,
            r.migration_id,
            r.description,
            r.verdict.as_str(),
            r.duration_ms
        ));
        for d in &r.differences {
            text.push_str(&format!("    {d}\n"));
        }
    }
    text
}

fn json(results: &[VerifiedMigration]) -> serde_json::Value {
    let migrations: Vec<_> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "app_name": r.app_name,
                "migration_id": r.migration_id,
                "description": r.description,
                "verdict": r.verdict.as_str(),
                "duration_ms": r.duration_ms,
                "differences": r.differences.iter().map(|d| serde_json::json!({
                    "object": d.object,
                    "name": d.name,
                    "property": d.property,
                    "before": d.before,
                    "after": d.after,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({ "migrations": migrations })
}
