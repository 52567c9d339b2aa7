//! Scheduling a fleet: at most `--parallel` targets at once, each on its own connection and
//! lock; `--canary` targets first; no new target after a failure unless `--keep-going`;
//! Ctrl-C starts nothing new and stops running targets before their next migration.

use std::collections::HashMap;
use std::future::Future;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ferry_core::driver::redact_url;
use ferry_core::fleet::Target;
use ferry_core::{
    BackwardsMigrationManager, CheckMigrationManager, Confirm, ConfirmRequest, Event,
    ForwardsMigrationManager, NullReporter, Reporter,
};
use tokio::task::JoinSet;

use super::report::{AppCounts, CheckResult, RunResult, TargetResult};
use super::{Job, Work};
use crate::exit::Failure;
use crate::render::{Style, TerminalConfirm};

/// How a fleet runs.
pub(crate) struct Options {
    pub parallel: usize,
    pub canary: usize,
    pub keep_going: bool,
    pub style: Style,
}

/// Run forwards or backwards on every target; the results in name order, `skipped` for the
/// targets never started.
pub(crate) async fn run_all(job: &Job, targets: Vec<Target>, o: &Options) -> Vec<TargetResult> {
    let stop = interrupt_flag();
    let mut progress = Progress::new(targets.len(), o.style);
    let mut first = targets;
    let rest = first.split_off(o.canary.min(first.len()));
    let (mut results, mut left) = run_group(job, first, o, &stop.flag, &mut progress).await;
    if o.canary > 0 && any_failed(&results) {
        // A failed canary stops the fleet, even with --keep-going.
        left.extend(rest);
    } else if left.is_empty() {
        let (done, not_started) = run_group(job, rest, o, &stop.flag, &mut progress).await;
        results.extend(done);
        left.extend(not_started);
    } else {
        left.extend(rest);
    }
    progress.end();
    results.extend(left.into_iter().map(|t| TargetResult::skipped(t.name)));
    results.sort_by(|a, b| a.target.cmp(&b.target));
    results
}

/// Run one group of targets (the canaries, or the rest).
async fn run_group(
    job: &Job,
    targets: Vec<Target>,
    o: &Options,
    stop: &Arc<AtomicBool>,
    progress: &mut Progress,
) -> (Vec<TargetResult>, Vec<Target>) {
    schedule(
        targets,
        o.parallel,
        stop,
        |r: &TargetResult| !o.keep_going && r.result == RunResult::Failed,
        |r: &TargetResult| progress.finished(&r.target, r.line()),
        |target| {
            let job = job.clone();
            let stop = Arc::clone(stop);
            async move { run_target(&job, target, stop).await }
        },
        |name| TargetResult::failed(name, "the target's task ended unexpectedly".into()),
    )
    .await
}

fn any_failed(results: &[TargetResult]) -> bool {
    results.iter().any(|r| r.result == RunResult::Failed)
}

/// `check` on every target (read-only: a failure stops nothing); results in name order.
pub(crate) async fn check_all(job: &Job, targets: &[Target], o: &Options) -> Vec<CheckResult> {
    let stop = interrupt_flag();
    let mut progress = Progress::new(targets.len(), o.style);
    let (mut results, not_started) = schedule(
        targets.to_vec(),
        o.parallel,
        &stop.flag,
        |_| false,
        |r: &CheckResult| progress.finished(&r.target, r.line()),
        |target| {
            let job = job.clone();
            async move { check_target(&job, target).await }
        },
        |name| CheckResult {
            target: name,
            outcome: Err("the target's task ended unexpectedly".into()),
        },
    )
    .await;
    progress.end();
    results.extend(not_started.into_iter().map(|t| CheckResult {
        target: t.name,
        outcome: Err("interrupted".into()),
    }));
    results.sort_by(|a, b| a.target.cmp(&b.target));
    results
}

/// Ask once for the whole fleet: `Reverse N migration(s) on M target(s)? [y/N]` (SPEC §11,
/// with the rules of §5.2.5). Counting reads each target's plan without its lock.
pub(crate) async fn confirm_backwards(
    job: &Job,
    targets: &[Target],
    o: &Options,
) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        // Refuse before connecting anywhere, as the single-database prompt does.
        return TerminalConfirm
            .confirm(&ConfirmRequest {
                question: "Reverse the fleet's migrations?".into(),
                items: Vec::new(),
            })
            .map_err(Failure::from);
    }
    let stop = interrupt_flag();
    let (counts, _) = schedule(
        targets.to_vec(),
        o.parallel,
        &stop.flag,
        |_| false,
        |_| {},
        |target| {
            let job = job.clone();
            async move {
                let count = super::backwards_count(&job, &target).await;
                (target.name, count.map_err(|e| redact_url(&e.to_string())))
            }
        },
        |name| (name, Err("the target's task ended unexpectedly".into())),
    )
    .await;
    let mut counts = counts;
    counts.sort();
    let mut total = 0;
    let mut with_work = 0;
    for (name, count) in &counts {
        match count {
            Ok(0) => {}
            Ok(n) => {
                total += n;
                with_work += 1;
                eprintln!("  {name}: {n} migration(s)");
            }
            Err(e) => eprintln!("  {name}: cannot tell ({e})"),
        }
    }
    if total == 0 {
        return Ok(true);
    }
    TerminalConfirm
        .confirm(&ConfirmRequest {
            question: format!("Reverse {total} migration(s) on {with_work} target(s)?"),
            items: Vec::new(),
        })
        .map_err(Failure::from)
}

/// Run `start` on the targets, at most `parallel` at once. After a result `halt` says yes,
/// or once `stop` is set, nothing new starts. Returns the results in the order they came and
/// the targets never started; `on_done` sees each result as it comes.
#[allow(clippy::too_many_arguments)]
async fn schedule<T, Fut>(
    targets: Vec<Target>,
    parallel: usize,
    stop: &AtomicBool,
    halt: impl Fn(&T) -> bool,
    mut on_done: impl FnMut(&T),
    start: impl Fn(Target) -> Fut,
    lost: impl Fn(String) -> T,
) -> (Vec<T>, Vec<Target>)
where
    T: Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let mut queue = targets.into_iter();
    let mut running: JoinSet<T> = JoinSet::new();
    let mut names: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut results = Vec::new();
    let mut halted = false;
    loop {
        while running.len() < parallel.max(1) && !halted && !stop.load(Ordering::SeqCst) {
            let Some(target) = queue.next() else { break };
            let name = target.name.clone();
            let handle = running.spawn(start(target));
            names.insert(handle.id(), name);
        }
        let Some(joined) = running.join_next_with_id().await else {
            break;
        };
        let result = match joined {
            Ok((_, result)) => result,
            Err(e) => lost(names.remove(&e.id()).unwrap_or_default()),
        };
        halted |= halt(&result);
        on_done(&result);
        results.push(result);
    }
    (results, queue.collect())
}

/// One target's forwards or backwards run.
async fn run_target(job: &Job, target: Target, stop: Arc<AtomicBool>) -> TargetResult {
    let started = Instant::now();
    let counter = Counter::default();
    let outcome = async {
        let mut m = super::migrator(job, &target, counter.clone())
            .await?
            .with_stop(stop);
        match &job.work {
            Work::Forwards {
                app,
                migration_id,
                fake,
                atomic,
            } => {
                ForwardsMigrationManager {
                    app_name: app.clone(),
                    migration_id: migration_id.clone(),
                    fake: *fake,
                    preview: false,
                    auto_agree: true,
                    atomic: *atomic,
                    rehearse: false,
                }
                .run(&mut m)
                .await
            }
            Work::Backwards { app, migration_id } => {
                BackwardsMigrationManager {
                    app_name: app.clone(),
                    migration_id: migration_id.clone(),
                    auto_agree: true,
                    clean: false,
                    preview: false,
                    fake: false,
                }
                .run(&mut m)
                .await
            }
            // check runs through `check_target`; never reached.
            Work::Check { .. } => Err(ferry_core::Error::Usage(
                "check is not a forwards or backwards run".into(),
            )),
        }
    }
    .await;
    let atomic = matches!(job.work, Work::Forwards { atomic: true, .. });
    // An --atomic run that failed rolled everything back.
    let applied_before_failure = if atomic { 0 } else { counter.count() };
    TargetResult::from_run(
        target.name,
        outcome,
        applied_before_failure,
        started.elapsed(),
    )
}

/// One target's `check`, counted per app.
async fn check_target(job: &Job, target: Target) -> CheckResult {
    let Work::Check { app } = &job.work else {
        // Only check runs through here; never reached.
        return CheckResult {
            target: target.name,
            outcome: Err("not a check".into()),
        };
    };
    let outcome = async {
        let mut m = super::migrator(job, &target, NullReporter).await?;
        CheckMigrationManager::new(app.clone())
            .get_migration_statuses(&mut m)
            .await
    }
    .await;
    CheckResult {
        target: target.name,
        outcome: outcome
            .map(|statuses| AppCounts::of(&statuses))
            .map_err(|e| redact_url(&e.to_string())),
    }
}

/// Counts the migrations a run applied or reversed (its `Finished` events).
#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Counter {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Reporter for Counter {
    fn report(&self, event: Event<'_>) {
        if let Event::Finished { .. } = event {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Set by Ctrl-C for as long as it lives.
struct Interrupt {
    flag: Arc<AtomicBool>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

fn interrupt_flag() -> Interrupt {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    let listener = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: no new target starts; running targets stop after their current migration (Ctrl-C again to quit now)");
            set.store(true, Ordering::SeqCst);
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            // As an interrupt without a handler would: a running migration's transaction
            // rolls back when its connection closes.
            eprintln!("interrupted again: quitting without a report");
            std::process::exit(crate::exit::EXIT_INTERRUPTED);
        }
    });
    Interrupt { flag, listener }
}

/// Progress on stderr: a line per target as it finishes, or, on a terminal, one live line
/// of counts. Nothing with `-q`.
struct Progress {
    total: usize,
    done: usize,
    live: bool,
    quiet: bool,
}

impl Progress {
    fn new(total: usize, style: Style) -> Self {
        Progress {
            total,
            done: 0,
            live: std::io::stderr().is_terminal() && !style.verbose,
            quiet: style.quiet,
        }
    }

    fn finished(&mut self, target: &str, line: String) {
        self.done += 1;
        if self.quiet {
        } else if self.live {
            eprint!("\r\x1b[2Kfleet: {}/{} targets done", self.done, self.total);
        } else {
            eprintln!("[{}/{}] {target}: {line}", self.done, self.total);
        }
    }

    fn end(&self) {
        if self.live && !self.quiet && self.done > 0 {
            eprintln!();
        }
    }
}
