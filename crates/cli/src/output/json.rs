//! `--format json` of `forwards` and `backwards` on one database (SPEC §16.4): one object
//! `{"migrations":[..],"summary":{..}}` on stdout, built from the run's events by a
//! [`Collector`] that also passes every event on to the progress reporter (stderr).
//!
//! A migration's `result` is `applied`, `reversed`, `faked`, `failed`, `skipped` or
//! `rehearsed`. Under `--atomic`, migrations that ran before a failure were rolled back with
//! it: they are `skipped`, never `applied`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_core::{Direction, Error, Event, MigrationResult, Outcome, PlannedMigration, Reporter};
use serde::Serialize;

/// The whole report.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// The migrations the run reached, in the order they ran.
    pub migrations: Vec<MigrationLine>,
    /// How the run ended.
    pub summary: Summary,
}

/// One migration of the report.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationLine {
    /// The app.
    pub app_name: String,
    /// The migration ID.
    pub migration_id: String,
    /// The description.
    pub description: String,
    /// What happened to it.
    pub result: RunResult,
    /// How long it took (`null` for a skipped migration).
    pub duration_ms: Option<u64>,
    /// The error of a failed migration.
    pub error: Option<String>,
}

/// What happened to one migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunResult {
    /// Applied and committed.
    Applied,
    /// Reversed and committed.
    Reversed,
    /// Recorded (forwards) or forgotten (backwards) without running its SQL.
    Faked,
    /// Its SQL failed.
    Failed,
    /// Not run (a `no-transaction` migration of a rehearsal), or run and rolled back with
    /// the rest of an `--atomic` run that failed.
    Skipped,
    /// Ran in a rehearsal, rolled back.
    Rehearsed,
}

/// How the run ended, with a count per result.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// `done`, `nothing_to_do`, `already_applied`, `declined`, `not_found` or `failed`.
    pub outcome: &'static str,
    /// `--atomic` and `--rehearse`: whether the run's transaction was `committed` or
    /// `rolled_back`; `null` otherwise.
    pub transaction: Option<&'static str>,
    /// The closing message (success) or the error (failure).
    pub message: Option<String>,
    /// How many migrations were applied.
    pub applied: usize,
    /// How many were reversed.
    pub reversed: usize,
    /// How many were faked.
    pub faked: usize,
    /// How many failed.
    pub failed: usize,
    /// How many were skipped.
    pub skipped: usize,
    /// How many were rehearsed.
    pub rehearsed: usize,
}

/// Which one-transaction mode the run is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transaction {
    /// Each migration commits on its own.
    PerMigration,
    /// `--atomic`: committed at the end, or rolled back on failure.
    Atomic,
    /// `--rehearse`: always rolled back.
    Rehearsal,
}

#[derive(Debug, Default)]
struct State {
    lines: Vec<MigrationLine>,
    /// The migration that started and has not finished yet.
    current: Option<(PlannedMigration, Instant)>,
}

/// A [`Reporter`] that passes every event to `inner` and, when enabled, records the
/// migrations for the JSON report. Its clones share what they record.
pub struct Collector<R> {
    inner: Arc<R>,
    enabled: bool,
    transaction: Transaction,
    state: Arc<Mutex<State>>,
}

impl<R> Clone for Collector<R> {
    fn clone(&self) -> Self {
        Collector {
            inner: Arc::clone(&self.inner),
            enabled: self.enabled,
            transaction: self.transaction,
            state: Arc::clone(&self.state),
        }
    }
}

impl<R: Reporter> Collector<R> {
    /// A collector in front of `inner`; it records only when `enabled`.
    pub fn new(inner: R, enabled: bool, transaction: Transaction) -> Self {
        Collector {
            inner: Arc::new(inner),
            enabled,
            transaction,
            state: Arc::default(),
        }
    }

    /// Print the report of the run that ended with `result` on stdout, when enabled, and
    /// hand `result` back.
    pub fn finish(
        &self,
        result: ferry_core::Result<MigrationResult>,
    ) -> ferry_core::Result<MigrationResult> {
        if self.enabled {
            let report = self.report(&result);
            match serde_json::to_string(&report) {
                Ok(text) => crate::render::out(&format!("{text}\n")),
                Err(e) => eprintln!("cannot write the JSON report: {e}"),
            }
        }
        result
    }

    /// The report of the run that ended with `result`.
    pub fn report(&self, result: &ferry_core::Result<MigrationResult>) -> RunReport {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut lines = std::mem::take(&mut state.lines);
        let current = state.current.take();
        let (outcome, message) = match result {
            Ok(r) => (outcome_text(r.outcome), r.message.clone()),
            Err(e) => {
                if let Some((p, started)) = current {
                    lines.push(line(
                        &p,
                        RunResult::Failed,
                        Some(started.elapsed()),
                        Some(e),
                    ));
                }
                ("failed", Some(e.to_string()))
            }
        };
        let transaction = match (self.transaction, result) {
            (Transaction::PerMigration, _) => None,
            (Transaction::Rehearsal, _) => Some("rolled_back"),
            (Transaction::Atomic, Ok(r)) if r.outcome == Outcome::Done => Some("committed"),
            (Transaction::Atomic, Ok(_)) => None,
            (Transaction::Atomic, Err(_)) => {
                // Rolled back with the failure: nothing of the run was applied.
                for l in lines.iter_mut().filter(|l| l.result == RunResult::Applied) {
                    l.result = RunResult::Skipped;
                }
                Some("rolled_back")
            }
        };
        let count = |r: RunResult| lines.iter().filter(|l| l.result == r).count();
        let summary = Summary {
            outcome,
            transaction,
            message,
            applied: count(RunResult::Applied),
            reversed: count(RunResult::Reversed),
            faked: count(RunResult::Faked),
            failed: count(RunResult::Failed),
            skipped: count(RunResult::Skipped),
            rehearsed: count(RunResult::Rehearsed),
        };
        RunReport {
            migrations: lines,
            summary,
        }
    }

    fn record(&self, event: &Event<'_>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let done = |state: &mut State, p: &PlannedMigration, result: RunResult, took: Duration| {
            state.current = None;
            state.lines.push(line(p, result, Some(took), None));
        };
        match event {
            Event::Started { migration, .. } => {
                state.current = Some(((*migration).clone(), Instant::now()));
            }
            Event::Finished {
                migration,
                direction,
                faked,
                elapsed,
            } => {
                let result = match (direction, faked) {
                    (_, true) => RunResult::Faked,
                    (Direction::Forwards, false) => RunResult::Applied,
                    (Direction::Backwards, false) => RunResult::Reversed,
                };
                done(&mut state, migration, result, *elapsed);
            }
            // Applied once the transaction commits; `report` turns it into `skipped` if not.
            Event::Ran { migration, elapsed } => {
                done(&mut state, migration, RunResult::Applied, *elapsed)
            }
            Event::Rehearsed { migration, elapsed } => {
                done(&mut state, migration, RunResult::Rehearsed, *elapsed)
            }
            Event::Skipped { migration, .. } => {
                state
                    .lines
                    .push(line(migration, RunResult::Skipped, None, None));
            }
            _ => {}
        }
    }
}

impl<R: Reporter> Reporter for Collector<R> {
    fn report(&self, event: Event<'_>) {
        if self.enabled {
            self.record(&event);
        }
        self.inner.report(event);
    }
}

fn line(
    p: &PlannedMigration,
    result: RunResult,
    took: Option<Duration>,
    error: Option<&Error>,
) -> MigrationLine {
    MigrationLine {
        app_name: p.app_name.clone(),
        migration_id: p.migration_id.clone(),
        description: p.description.clone(),
        result,
        duration_ms: took.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        error: error.map(ToString::to_string),
    }
}

fn outcome_text(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Done => "done",
        Outcome::Preview => "preview",
        Outcome::NothingToDo => "nothing_to_do",
        Outcome::AlreadyApplied => "already_applied",
        Outcome::Declined => "declined",
        Outcome::NotFound => "not_found",
        _ => "other",
    }
}
