//! The async runtime as the drivers pass it in: core depends on no runtime, yet the lease lock
//! ([`crate::driver::lease`]), lock polling ([`poll_until`]) and the liveness watch ([`crate::driver::watch`])
//! need a timer and a background task. A server driver implements [`Runtime`], or fills in a
//! [`RuntimeFns`] in three lines, for instance over tokio:
//!
//! ```ignore
//! static TOKIO: RuntimeFns = RuntimeFns {
//!     sleep: |duration| Box::pin(tokio::time::sleep(duration)),
//!     spawn: |task| AbortOnDrop::new(tokio::spawn(task).abort_handle(), AbortHandle::abort),
//! };
//! ```

use std::time::{Duration, Instant};

use crate::driver::error::DriverError;
use crate::driver::lock::Backoff;
use crate::driver::{BoxFuture, DriverResult};

/// A timer and a way to run a task in the background.
pub trait Runtime: Send + Sync + 'static {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// Run `task` in the background until it ends or the returned guard is dropped.
    fn spawn(&self, task: BoxFuture<'static, ()>) -> AbortOnDrop;
}

/// A [`Runtime`] from two functions.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeFns {
    /// [`Runtime::sleep`].
    pub sleep: fn(Duration) -> BoxFuture<'static, ()>,
    /// [`Runtime::spawn`].
    pub spawn: fn(BoxFuture<'static, ()>) -> AbortOnDrop,
}

impl Runtime for RuntimeFns {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        (self.sleep)(duration)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) -> AbortOnDrop {
        (self.spawn)(task)
    }
}

/// A background task of [`Runtime::spawn`]: dropping this stops it.
#[must_use = "dropping the guard stops the task at once"]
pub struct AbortOnDrop(Option<Box<dyn FnOnce() + Send + Sync>>);

impl AbortOnDrop {
    /// A guard that calls `abort(handle)` (which stops the task) when dropped.
    pub fn new<H: Send + Sync + 'static>(handle: H, abort: fn(&H)) -> AbortOnDrop {
        AbortOnDrop(Some(Box::new(move || abort(&handle))))
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(abort) = self.0.take() {
            abort();
        }
    }
}

impl std::fmt::Debug for AbortOnDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AbortOnDrop")
    }
}

/// Call `try_once` on `state` until it says `true`, sleeping on `rt` between attempts with a
/// growing [`Backoff`] (never past `deadline`); fail with [`DriverError::lock_timeout`] once
/// an attempt at or after `deadline` still says `false`. An error of `try_once` ends the
/// polling with that error. Serves the lease lock and the advisory locks that can only be
/// tried. (`state` is passed to each attempt, rather than captured, so that the attempt's
/// future may borrow it and stay `Send` for every lifetime.)
pub async fn poll_until<S: Send + ?Sized>(
    deadline: Instant,
    rt: &dyn Runtime,
    state: &mut S,
    mut try_once: impl FnMut(&mut S) -> BoxFuture<'_, DriverResult<bool>>,
) -> DriverResult<()> {
    let mut backoff = Backoff::new();
    loop {
        if try_once(state).await? {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(DriverError::lock_timeout());
        }
        rt.sleep(backoff.next_delay().min(deadline - now)).await;
    }
}
