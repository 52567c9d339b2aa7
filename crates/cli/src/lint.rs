//! `ferry lint` (SPEC §13): the judged migrations run on a scratch database
//! ([`crate::scratch`]) through [`ferry_core::lint`], then the findings as a table or JSON,
//! and the exit code of `--deny`.

use ferry_core::lint::{read_applied, LintPlan, LintedMigration};
use ferry_core::{Config, LintLevel, TableName};
use serde::Serialize;

use crate::args::{Format, GlobalOpts, LintArgs};
use crate::exit::{Ending, Failure};
use crate::render::{out, Style};

/// Run `ferry lint`. `url` is the configured database (read for its tracking rows unless
/// `--all`); the scratch database goes on `--scratch-url`'s server or on `url`'s.
pub(crate) async fn run(
    a: &LintArgs,
    g: &GlobalOpts,
    config: &Config,
    url: &str,
    table: TableName,
    style: Style,
) -> Result<Ending, Failure> {
    let files = crate::drift::read_files(config)?;
    let app = a.app.as_deref().unwrap_or("all");
    let plan = if a.all {
        LintPlan::every(&config.registry, &files, app)?
    } else {
        let mut live = crate::drift::connect(url, table.clone(), g, config).await?;
        let applied = read_applied(&mut live).await?;
        drop(live);
        let plan = LintPlan::pending(&config.registry, &applied, &files, app)?;
        for (app, id) in &plan.replay.changed {
            style.warn(&format!(
                "{app} {id}: the file changed after it was applied; replayed as it is now"
            ));
        }
        plan
    };
    if plan.judged() == 0 {
        match a.format {
            Format::Json => out(&format!("{}\n", json(&[]))),
            Format::Table => {}
        }
        style.info(if a.all {
            "no migrations to judge"
        } else {
            "no pending migrations to judge (`--all` judges every migration)"
        });
        return Ok(Ending::Printed);
    }
    let base = a.scratch_url.as_deref().unwrap_or(url);
    let home = table
        .schema()
        .filter(|_| {
            ferry_core::driver::url::Backend::of_url(base)
                == Some(ferry_core::driver::url::Backend::Postgres)
        })
        .map(|schema| {
            format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                ferry_core::driver::url::quote_ident(schema, '"')
            )
        });
    let linted =
        crate::scratch::with_scratch(base, "ferry_lint", false, table, style, async |mut d| {
            if let Some(sql) = &home {
                d.execute(sql, false).await.map_err(|e| {
                    Failure::Failed(format!(
                        "preparing the scratch database: {}",
                        ferry_core::driver::redact_url(&e.to_string())
                    ))
                })?;
            }
            plan.run(d.as_mut()).await.map_err(Failure::from)
        })
        .await?;
    match a.format {
        Format::Json => out(&format!("{}\n", json(&linted))),
        Format::Table => out(&table_text(&linted)),
    }
    if let Some(failed) = linted.iter().find_map(|m| m.failed.as_deref()) {
        return Err(Failure::Failed(format!(
            "a statement failed on the scratch database: {failed}"
        )));
    }
    let deny = a.deny.as_ref().map(|d| d.0.as_slice()).unwrap_or_default();
    let denied: Vec<String> = linted
        .iter()
        .filter_map(|m| {
            let levels = m.denied(deny);
            (!levels.is_empty()).then(|| {
                let words: Vec<&str> = levels.iter().map(|l| l.as_str()).collect();
                format!("{} {} ({})", m.app_name, m.migration_id, words.join(", "))
            })
        })
        .collect();
    if !denied.is_empty() {
        return Err(Failure::Failed(format!(
            "denied findings in {}; make the migration safer, or accept a level in its file with `-- ferry:allow LEVEL`",
            denied.join(", ")
        )));
    }
    let findings: usize = linted.iter().map(|m| m.findings.len()).sum();
    style.info(&format!(
        "{} migration{} judged, {findings} finding{}",
        linted.len(),
        if linted.len() == 1 { "" } else { "s" },
        if findings == 1 { "" } else { "s" }
    ));
    Ok(Ending::Printed)
}

/// One line per migration (`<app> <id>: ok` or the count), then one per finding:
/// `  <level> <object> at <file>:<line> [<lock>]: <detail>`.
fn table_text(linted: &[LintedMigration]) -> String {
    let mut text = String::new();
    for m in linted {
        let file = m
            .file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| format!("{} {}", m.app_name, m.migration_id));
        let verdict = match (&m.failed, m.findings.len()) {
            (Some(_), _) => "failed".to_owned(),
            (None, 0) => "ok".to_owned(),
            (None, 1) => "1 finding".to_owned(),
            (None, n) => format!("{n} findings"),
        };
        text.push_str(&format!("{} {}: {verdict}\n", m.app_name, m.migration_id));
        for f in &m.findings {
            let level = f.level.map_or("ok", LintLevel::as_str);
            let allowed = if f.allowed { " (allowed)" } else { "" };
            let lock = if f.lock.is_empty() {
                String::new()
            } else {
                format!(" [{}]", f.lock)
            };
            text.push_str(&format!(
                "  {level}{allowed} {} at {file}:{}{lock}: {}\n",
                f.object, f.statement_line, f.detail
            ));
        }
        if let Some(failed) = &m.failed {
            text.push_str(&format!("  failed: {failed}\n"));
        }
    }
    text
}

/// `lint --format json` (SPEC §13.4).
#[derive(Serialize)]
struct JsonReport<'a> {
    migrations: Vec<JsonMigration<'a>>,
}

#[derive(Serialize)]
struct JsonMigration<'a> {
    app_name: &'a str,
    migration_id: &'a str,
    file: Option<String>,
    ok: bool,
    error: Option<&'a str>,
    findings: Vec<JsonFinding<'a>>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    level: &'static str,
    object: &'a str,
    lock: &'a str,
    statement_line: usize,
    detail: &'a str,
    allowed: bool,
}

fn json(linted: &[LintedMigration]) -> String {
    let report = JsonReport {
        migrations: linted
            .iter()
            .map(|m| JsonMigration {
                app_name: &m.app_name,
                migration_id: &m.migration_id,
                file: m.file.as_ref().map(|f| f.display().to_string()),
                ok: m.findings.is_empty() && m.failed.is_none(),
                error: m.failed.as_deref(),
                findings: m
                    .findings
                    .iter()
                    .map(|f| JsonFinding {
                        level: f.level.map_or("ok", LintLevel::as_str),
                        object: &f.object,
                        lock: &f.lock,
                        statement_line: f.statement_line,
                        detail: &f.detail,
                        allowed: f.allowed,
                    })
                    .collect(),
            })
            .collect(),
    };
    serde_json::to_string(&report).unwrap_or_default()
}
