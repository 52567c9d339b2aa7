//! Waiting for the migration lock without a runtime (a std thread wakes the waiter at its
//! deadline), and a minimal `block_on` for tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use super::MemoryDatabase;
use crate::driver::DriverResult;
use crate::{DriverError, TableName};

/// Wakes a waiting [`LockFuture`] at its deadline, unless cancelled first.
#[derive(Debug)]
struct Timer {
    state: Mutex<TimerState>,
    changed: Condvar,
}

#[derive(Debug)]
struct TimerState {
    cancelled: bool,
    waker: Waker,
}

impl Timer {
    fn start(deadline: Instant, waker: Waker) -> Arc<Timer> {
        let timer = Arc::new(Timer {
            state: Mutex::new(TimerState {
                cancelled: false,
                waker,
            }),
            changed: Condvar::new(),
        });
        let t = Arc::clone(&timer);
        std::thread::spawn(move || {
            let mut state = t.state.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if state.cancelled {
                    return;
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                state = t
                    .changed
                    .wait_timeout(state, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            state.waker.wake_by_ref();
        });
        timer
    }

    fn set_waker(&self, waker: &Waker) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !state.waker.will_wake(waker) {
            state.waker = waker.clone();
        }
    }

    fn cancel(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cancelled = true;
        self.changed.notify_all();
    }
}

/// Takes the lock when it is free; otherwise waits to be woken by its release or by the
/// timer at the deadline. No runtime needed: the timer is a std thread.
pub(super) struct LockFuture {
    db: MemoryDatabase,
    table: TableName,
    id: u64,
    deadline: Instant,
    timer: Option<Arc<Timer>>,
}

impl LockFuture {
    /// Connection `id`'s wait for the lock of `table` on `db`, until `deadline`.
    pub(super) fn new(db: MemoryDatabase, table: TableName, id: u64, deadline: Instant) -> Self {
        LockFuture {
            db,
            table,
            id,
            deadline,
            timer: None,
        }
    }
}

impl Future for LockFuture {
    type Output = DriverResult<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        {
            let mut state = this.db.state();
            match state.locks.get(&this.table) {
                None => {
                    state.locks.insert(this.table.clone(), this.id);
                    return Poll::Ready(Ok(()));
                }
                Some(&holder) if holder == this.id => return Poll::Ready(Ok(())),
                Some(_) => {}
            }
            if Instant::now() >= this.deadline {
                return Poll::Ready(Err(DriverError::lock_timeout()));
            }
            let waiters = state.waiters.entry(this.table.clone()).or_default();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
        }
        match &this.timer {
            Some(timer) => timer.set_waker(cx.waker()),
            None => this.timer = Some(Timer::start(this.deadline, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for LockFuture {
    fn drop(&mut self) {
        if let Some(timer) = &self.timer {
            timer.cancel();
        }
    }
}

/// Run a future to completion on the current thread, parking between polls. Enough for
/// ferry's futures, which need no runtime (the [`MemoryDriver`](super::MemoryDriver)'s lock wakes itself).
///
/// ```
/// assert_eq!(ferry_core::testkit::block_on(async { 1 + 1 }), 2);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}
