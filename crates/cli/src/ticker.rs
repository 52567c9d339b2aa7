//! The live line of a migration that is still running (SPEC §16.12): after 2 s, on a
//! terminal, `running blog 0042 backfill (12 s)` on stderr, rewritten in place every second
//! and cleared when the migration ends or anything else is printed; on a non-terminal, one
//! such line every 30 s (`FERRY_PROGRESS_INTERVAL` seconds, for tests). The reporter is
//! synchronous and the CLI's runtime has one thread busy awaiting the driver, so a std
//! thread watches the clock, sharing the running migration through a mutex.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A migration shows a line once it has run this long.
const AFTER: Duration = Duration::from_secs(2);
/// A non-terminal gets a line this often (unless `FERRY_PROGRESS_INTERVAL` says otherwise).
const INTERVAL: Duration = Duration::from_secs(30);
/// The environment variable that sets the non-terminal interval in seconds (for tests).
pub const INTERVAL_VAR: &str = "FERRY_PROGRESS_INTERVAL";

#[derive(Default)]
struct State {
    /// The running migration's `app id description` and when it started.
    running: Option<(String, Instant)>,
    /// How many lines the non-terminal got for the running migration.
    printed: u32,
    /// A live line is on the terminal now.
    shown: bool,
    /// The reporter is gone: end the thread.
    stop: bool,
    /// Until when the thread sleeps (`None`: until woken). A migration that starts while
    /// it sleeps until no later than that migration could need a line does not wake it: a
    /// run of quick migrations costs no thread switch each.
    asleep_until: Option<Instant>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// How long a migration runs before its first line: AFTER on a terminal, else the
    /// interval (never less than AFTER).
    first: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The thread that prints the running line, and what it shares with the reporter.
pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// A ticker for stderr: live on a terminal, periodic elsewhere. `None` when the thread
    /// cannot start (then there is no running line, and nothing else changes).
    pub(crate) fn start() -> Option<Ticker> {
        let live = std::io::stderr().is_terminal();
        let interval = std::env::var(INTERVAL_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(INTERVAL, Duration::from_secs_f64);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            first: if live { AFTER } else { interval.max(AFTER) },
        });
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("ferry-progress".into())
            .spawn(move || tick(&theirs, live, interval))
            .ok()?;
        Some(Ticker {
            shared,
            thread: Some(thread),
        })
    }

    /// A migration started.
    pub(crate) fn started(&self, label: String) {
        let mut state = self.shared.lock();
        clear(&mut state);
        let now = Instant::now();
        state.running = Some((label, now));
        state.printed = 0;
        let due = now + self.shared.first;
        if state.asleep_until.is_none_or(|until| until > due) {
            self.shared.wake.notify_all();
        }
    }

    /// Before anything else is printed: clear the live line; `ended` when the running
    /// migration is over. The thread is not woken: it finds out when it next looks.
    pub(crate) fn interrupt(&self, ended: bool) {
        let mut state = self.shared.lock();
        clear(&mut state);
        if ended {
            state.running = None;
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            clear(&mut state);
            state.stop = true;
            self.shared.wake.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Erase the live line if it is shown.
fn clear(state: &mut State) {
    if state.shown {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
        state.shown = false;
    }
}

/// `running blog 0042 backfill (12 s)`.
fn line(label: &str, elapsed: Duration) -> String {
    format!("running {label} ({} s)", elapsed.as_secs())
}

fn tick(shared: &Shared, live: bool, interval: Duration) {
    let mut state = shared.lock();
    loop {
        if state.stop {
            return;
        }
        let Some((label, started)) = &state.running else {
            state.asleep_until = None;
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            continue;
        };
        let elapsed = started.elapsed();
        // When to look again.
        let next = if live {
            if elapsed >= AFTER {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{}", line(label, elapsed));
                let _ = err.flush();
                state.shown = true;
                // The next whole second of elapsed time.
                Duration::from_secs(elapsed.as_secs() + 1) - elapsed
            } else {
                AFTER - elapsed
            }
        } else {
            // The first line at the interval (not before AFTER), then one per interval.
            let due = interval.max(AFTER) + interval * state.printed;
            if elapsed >= due {
                eprintln!("{}", line(label, elapsed));
                state.printed += 1;
                continue;
            }
            due - elapsed
        };
        state.asleep_until = Some(Instant::now() + next);
        state = shared
            .wake
            .wait_timeout(state, next)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0;
    }
}
