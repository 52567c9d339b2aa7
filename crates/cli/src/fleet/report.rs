//! A fleet's report (SPEC §11): a table, or one JSON object per target per line and a
//! summary line; and the targets of an earlier JSON report still to do (`--rerun-failed`).

use std::path::Path;
use std::time::Duration;

use ferry_core::driver::redact_url;
use ferry_core::{Error, MigrationResult, MigrationStatus, Outcome, Progress, Status};
use serde_json::json;

use crate::args::Format;
use crate::exit::Failure;
use crate::render::{out, table, Style};

/// What became of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunResult {
    /// It applied (or reversed) at least one migration.
    Ok,
    /// It had nothing to do.
    NothingToDo,
    /// It failed: unreachable, dirty, a migration failed, interrupted.
    Failed,
    /// It was never started (a failure before it, a failed canary, Ctrl-C).
    Skipped,
}

impl RunResult {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunResult::Ok => "ok",
            RunResult::NothingToDo => "nothing to do",
            RunResult::Failed => "failed",
            RunResult::Skipped => "skipped",
        }
    }

    pub(crate) fn is_success(self) -> bool {
        matches!(self, RunResult::Ok | RunResult::NothingToDo)
    }
}

/// One target's forwards or backwards run.
#[derive(Debug, Clone)]
pub(crate) struct TargetResult {
    pub target: String,
    pub result: RunResult,
    /// Migrations applied or reversed before any failure.
    pub applied: usize,
    pub duration: Duration,
    /// The first error (password hidden), when it failed.
    pub error: Option<String>,
    /// How far the migration its failure left dirty got, or the dirty migration that refused
    /// the run, where its statements were counted (SPEC §14).
    pub dirty: Option<Dirty>,
}

/// A dirty migration whose statements were counted, and how far it got (SPEC §14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dirty {
    pub app_name: String,
    pub migration_id: String,
    pub progress: Progress,
}

impl Dirty {
    /// The counted dirty migration `error` left or found, if any.
    fn of_error(error: &Error) -> Option<Dirty> {
        let (app, id, progress) = match error {
            Error::ExecutePartial {
                app,
                id,
                at,
                done,
                total,
                down,
                ..
            } => (
                app,
                id,
                Progress {
                    statements_done: i64::try_from(*done).unwrap_or(i64::MAX),
                    statements_total: Some(*total),
                    failed_at: Some(at.clone()),
                    down: *down,
                },
            ),
            Error::Dirty {
                app,
                id,
                statements_done: Some(done),
                down,
            } => (
                app,
                id,
                Progress {
                    statements_done: *done,
                    statements_total: None,
                    failed_at: None,
                    down: *down,
                },
            ),
            _ => return None,
        };
        Some(Dirty {
            app_name: app.clone(),
            migration_id: id.clone(),
            progress,
        })
    }

    /// `{"app_name","migration_id","statements_done","statements_total","statements_of"}`.
    fn json(&self) -> serde_json::Value {
        json!({
            "app_name": self.app_name,
            "migration_id": self.migration_id,
            "statements_done": self.progress.statements_done,
            "statements_total": self.progress.statements_total,
            "statements_of": if self.progress.down { "down" } else { "up" },
        })
    }

    /// `TARGET APP ID: dirty: k-1 of n statements ran; failed at FILE:LINE`, a line under
    /// a fleet's table.
    fn line(&self, target: &str) -> String {
        format!(
            "{target} {} {}: {}\n",
            self.app_name,
            self.migration_id,
            self.progress.describe()
        )
    }
}

impl TargetResult {
    pub(crate) fn from_run(
        target: String,
        outcome: ferry_core::Result<MigrationResult>,
        applied_before_failure: usize,
        duration: Duration,
    ) -> Self {
        let dirty = outcome.as_ref().err().and_then(Dirty::of_error);
        let (result, applied, error) = match outcome {
            Ok(r) => match r.outcome {
                Outcome::Done if !r.migrations.is_empty() => {
                    (RunResult::Ok, r.migrations.len(), None)
                }
                Outcome::Done | Outcome::NothingToDo | Outcome::AlreadyApplied => {
                    (RunResult::NothingToDo, 0, None)
                }
                _ => (
                    RunResult::Failed,
                    0,
                    Some(r.message.unwrap_or_else(|| "refused".into())),
                ),
            },
            Err(e) => (
                RunResult::Failed,
                applied_before_failure,
                Some(e.to_string()),
            ),
        };
        TargetResult {
            target,
            result,
            applied,
            duration,
            error: error.map(|e| redact_url(&e)),
            dirty,
        }
    }

    pub(crate) fn failed(target: String, error: String) -> Self {
        TargetResult {
            target,
            result: RunResult::Failed,
            applied: 0,
            duration: Duration::ZERO,
            error: Some(error),
            dirty: None,
        }
    }

    pub(crate) fn skipped(target: String) -> Self {
        TargetResult {
            target,
            result: RunResult::Skipped,
            applied: 0,
            duration: Duration::ZERO,
            error: None,
            dirty: None,
        }
    }

    /// The progress line's text after the target's name.
    pub(crate) fn line(&self) -> String {
        let mut line = format!(
            "{}, {} migration(s) ({} ms)",
            self.result.as_str(),
            self.applied,
            self.duration.as_millis()
        );
        if let Some(error) = &self.error {
            line.push_str(": ");
            line.push_str(error);
        }
        line
    }
}

/// One app's counts on one target (`check --fleet`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AppCounts {
    pub app_name: String,
    pub applied: usize,
    pub pending: usize,
    pub changed: usize,
    pub missing: usize,
    pub dirty: usize,
    /// The dirty migrations whose statements were counted, and how far they got (SPEC §14).
    pub progress: Vec<Dirty>,
}

impl AppCounts {
    /// The counts per app, apps in the order `check` lists them.
    pub(crate) fn of(statuses: &[MigrationStatus]) -> Vec<AppCounts> {
        let mut apps: Vec<AppCounts> = Vec::new();
        for s in statuses {
            let app = match apps.iter_mut().position(|a| a.app_name == s.app_name) {
                Some(i) => &mut apps[i],
                None => {
                    apps.push(AppCounts {
                        app_name: s.app_name.clone(),
                        ..AppCounts::default()
                    });
                    apps.last_mut().expect("just pushed")
                }
            };
            match s.status {
                Status::Applied => app.applied += 1,
                Status::Pending => app.pending += 1,
                Status::Changed => app.changed += 1,
                Status::Missing => app.missing += 1,
                Status::Dirty => app.dirty += 1,
            }
            if let Some(progress) = &s.progress {
                app.progress.push(Dirty {
                    app_name: s.app_name.clone(),
                    migration_id: s.migration_id.clone(),
                    progress: progress.clone(),
                });
            }
        }
        apps
    }

    fn has_work(&self) -> bool {
        self.pending + self.changed + self.missing + self.dirty > 0
    }
}

/// One target's `check`.
#[derive(Debug, Clone)]
pub(crate) struct CheckResult {
    pub target: String,
    /// The counts per app, or why the target could not be read (password hidden).
    pub outcome: Result<Vec<AppCounts>, String>,
}

impl CheckResult {
    /// Whether a migration on it is not `applied` (`--strict`).
    pub(crate) fn has_work(&self) -> bool {
        self.outcome
            .as_ref()
            .is_ok_and(|apps| apps.iter().any(AppCounts::has_work))
    }

    pub(crate) fn line(&self) -> String {
        match &self.outcome {
            Ok(apps) => {
                let pending: usize = apps.iter().map(|a| a.pending).sum();
                let other: usize = apps.iter().map(|a| a.changed + a.missing + a.dirty).sum();
                format!("read, {pending} pending, {other} changed, missing or dirty")
            }
            Err(e) => format!("cannot be read: {e}"),
        }
    }
}

/// The report of a forwards or backwards fleet run, on stdout.
pub(crate) fn print_run(results: &[TargetResult], format: Format, style: Style) {
    let count = |r: RunResult| results.iter().filter(|t| t.result == r).count();
    match format {
        Format::Json => {
            let mut text = String::new();
            for r in results {
                let line = json!({
                    "target": r.target,
                    "result": r.result.as_str(),
                    "applied": r.applied,
                    "duration_ms": u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
                    "error": r.error,
                    "dirty": r.dirty.as_ref().map(Dirty::json),
                });
                text.push_str(&format!("{line}\n"));
            }
            let summary = json!({ "summary": {
                "ok": count(RunResult::Ok),
                "nothing_to_do": count(RunResult::NothingToDo),
                "failed": count(RunResult::Failed),
                "skipped": count(RunResult::Skipped),
            }});
            text.push_str(&format!("{summary}\n"));
            out(&text);
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|r| {
                    vec![
                        r.target.clone(),
                        r.result.as_str().to_owned(),
                        r.applied.to_string(),
                        format!("{} ms", r.duration.as_millis()),
                        r.error.as_deref().map_or("-", first_line).to_owned(),
                    ]
                })
                .collect();
            let mut text = table(&["TARGET", "RESULT", "APPLIED", "TIME", "ERROR"], &rows);
            for r in results {
                if let Some(dirty) = &r.dirty {
                    text.push_str(&dirty.line(&r.target));
                }
            }
            out(&text);
            style.info(&format!(
                "{} target(s): {} ok, {} nothing to do, {} failed, {} skipped",
                results.len(),
                count(RunResult::Ok),
                count(RunResult::NothingToDo),
                count(RunResult::Failed),
                count(RunResult::Skipped)
            ));
        }
    }
}

/// The report of `check --fleet`, on stdout; an unreadable target's error also on stderr
/// (the table has no column for it).
pub(crate) fn print_check(results: &[CheckResult], format: Format, style: Style) {
    match format {
        Format::Json => {
            let mut text = String::new();
            for r in results {
                let (apps, error) = match &r.outcome {
                    Ok(apps) => (apps.as_slice(), None),
                    Err(e) => (&[][..], Some(e)),
                };
                let apps: Vec<_> = apps
                    .iter()
                    .map(|a| {
                        json!({
                            "app_name": a.app_name,
                            "applied": a.applied,
                            "pending": a.pending,
                            "changed": a.changed,
                            "missing": a.missing,
                            "dirty": a.dirty,
                            "progress": a.progress.iter().map(Dirty::json).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                let line = json!({ "target": r.target, "apps": apps, "error": error });
                text.push_str(&format!("{line}\n"));
            }
            out(&text);
        }
        Format::Table => {
            let mut rows = Vec::new();
            for r in results {
                match &r.outcome {
                    Ok(apps) => rows.extend(apps.iter().map(|a| {
                        vec![
                            r.target.clone(),
                            a.app_name.clone(),
                            a.applied.to_string(),
                            a.pending.to_string(),
                            a.changed.to_string(),
                            a.missing.to_string(),
                            a.dirty.to_string(),
                        ]
                    })),
                    Err(_) => rows.push(
                        std::iter::once(r.target.clone())
                            .chain(std::iter::repeat_n("-".to_owned(), 6))
                            .collect(),
                    ),
                }
            }
            let mut text = table(
                &[
                    "TARGET", "APP", "APPLIED", "PENDING", "CHANGED", "MISSING", "DIRTY",
                ],
                &rows,
            );
            for r in results {
                for dirty in r.outcome.iter().flatten().flat_map(|a| &a.progress) {
                    text.push_str(&dirty.line(&r.target));
                }
            }
            out(&text);
        }
    }
    for r in results {
        if let Err(e) = &r.outcome {
            style.error(&format!("target {}: {e}", r.target));
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// The targets of a JSON report written by `--format json` whose `result` is not `ok` or
/// `nothing to do` (failed, skipped, interrupted): those `--rerun-failed` runs again.
pub(crate) fn to_rerun(path: &Path) -> Result<Vec<String>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::Usage(format!(
            "{}: cannot read the fleet report: {e}",
            path.display()
        ))
    })?;
    let mut failed = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || {
            Failure::Usage(format!(
                "{}:{}: not a fleet report line (expected the JSON that `--format json` prints)",
                path.display(),
                number + 1
            ))
        };
        let value: serde_json::Value = serde_json::from_str(line).map_err(|_| bad())?;
        if value.get("summary").is_some() {
            continue;
        }
        let target = value
            .get("target")
            .and_then(|t| t.as_str())
            .ok_or_else(bad)?;
        let result = value
            .get("result")
            .and_then(|r| r.as_str())
            .ok_or_else(bad)?;
        if !matches!(result, "ok" | "nothing to do") {
            failed.push(target.to_owned());
        }
    }
    Ok(failed)
}
