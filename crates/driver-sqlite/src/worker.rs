//! A dedicated thread that owns a value (the connection) and runs jobs on it, so that no
//! blocking SQLite call runs on the caller's async executor.
//!
//! Jobs go to the thread over a `std::sync::mpsc` channel, in order; each job's result comes
//! back through a [`Reply`], a oneshot future that needs no runtime (a slot and a `Waker`
//! behind a mutex). Dropping the [`Worker`] closes the channel: the thread drops its value
//! and ends. Drop waits for that when the thread is idle, so that the connection is closed
//! (and an open lock transaction rolled back) when the driver is gone; when a cancelled call
//! is still running there, drop does not wait and the thread ends on its own afterwards.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;

use ferry_core::driver::DriverResult;
use ferry_core::{DriverError, DriverErrorKind};

/// A job for the thread.
type Job<S> = Box<dyn FnOnce(&mut S) + Send>;

/// The handle of a worker thread owning an `S`.
pub(crate) struct Worker<S> {
    jobs: Option<Sender<Job<S>>>,
    /// Jobs sent and not yet finished (more than zero at drop only when a call's future was
    /// dropped before its answer came).
    pending: Arc<AtomicUsize>,
    /// Gives the value back when the thread ends ([`Worker::into_state`]).
    thread: Option<JoinHandle<Option<S>>>,
}

impl<S: Send + 'static> Worker<S> {
    /// Start a thread named `name` that builds its value with `init` and then waits for
    /// jobs. Resolves once `init` has run; its error is returned and the thread ends.
    pub(crate) async fn start<F>(name: &str, init: F) -> DriverResult<Worker<S>>
    where
        F: FnOnce() -> DriverResult<S> + Send + 'static,
    {
        let (jobs, queue) = channel::<Job<S>>();
        let (ready_tx, ready) = reply::<DriverResult<()>>();
        let pending = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut state = match init() {
                    Ok(state) => state,
                    Err(e) => {
                        ready_tx.send(Err(e));
                        return None;
                    }
                };
                ready_tx.send(Ok(()));
                for job in queue {
                    job(&mut state);
                }
                Some(state)
            })
            .map_err(|e| {
                DriverError::new(
                    DriverErrorKind::Other,
                    format!("cannot start the SQLite worker thread: {e}"),
                )
            })?;
        let worker = Worker {
            jobs: Some(jobs),
            pending,
            thread: Some(thread),
        };
        ready.await.unwrap_or_else(|| Err(gone()))?;
        Ok(worker)
    }

    /// Run `job` on the thread and wait, without blocking, for its result.
    ///
    /// The job is queued before the first poll, so jobs run in call order. If the future is
    /// dropped early the job still runs; only its result is lost.
    pub(crate) fn call<T, F>(&self, job: F) -> impl Future<Output = DriverResult<T>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&mut S) -> DriverResult<T> + Send + 'static,
    {
        let (tx, rx) = reply();
        self.pending.fetch_add(1, Ordering::AcqRel);
        let pending = Arc::clone(&self.pending);
        // The count drops before the answer is sent, so that a caller who has its answer and
        // drops the worker finds it idle and waits for the connection to close.
        let run = move |state: &mut S| {
            let result = job(state);
            pending.fetch_sub(1, Ordering::AcqRel);
            tx.send(result);
        };
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(Box::new(run)).is_ok());
        if !sent {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
        async move {
            if !sent {
                return Err(gone());
            }
            rx.await.unwrap_or_else(|| Err(gone()))
        }
    }
}

impl<S> Worker<S> {
    /// Close the channel, wait for the thread to run the jobs still queued (none between
    /// two awaited calls) and end, and take its value back.
    pub(crate) fn into_state(mut self) -> DriverResult<S> {
        drop(self.jobs.take());
        let thread = self.thread.take().ok_or_else(gone)?;
        thread.join().ok().flatten().ok_or_else(gone)
    }
}

impl<S> Drop for Worker<S> {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            if self.pending.load(Ordering::Acquire) == 0 {
                let _ = thread.join();
            }
        }
    }
}

/// The worker is gone: it panicked, or could not take the job.
fn gone() -> DriverError {
    DriverError::new(
        DriverErrorKind::Other,
        "the SQLite worker thread ended unexpectedly",
    )
}

/// The slot a [`Reply`] reads.
struct Slot<T> {
    value: Option<T>,
    /// The sending half is gone (after sending, or without: the job panicked).
    closed: bool,
    waker: Option<Waker>,
}

type Shared<T> = Arc<Mutex<Slot<T>>>;

fn lock<T>(shared: &Shared<T>) -> MutexGuard<'_, Slot<T>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A oneshot channel: `(sender, receiver)`.
fn reply<T>() -> (ReplySender<T>, Reply<T>) {
    let shared = Arc::new(Mutex::new(Slot {
        value: None,
        closed: false,
        waker: None,
    }));
    (ReplySender(Arc::clone(&shared)), Reply(shared))
}

/// The sending half of a oneshot. Dropping it, sent or not, wakes the receiver.
struct ReplySender<T>(Shared<T>);

impl<T> ReplySender<T> {
    fn send(self, value: T) {
        lock(&self.0).value = Some(value);
    }
}

impl<T> Drop for ReplySender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = lock(&self.0);
            slot.closed = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The receiving half of a oneshot: resolves to the value, or `None` when the sender was
/// dropped without sending.
struct Reply<T>(Shared<T>);

impl<T> Future for Reply<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = lock(&self.0);
        if let Some(value) = slot.value.take() {
            return Poll::Ready(Some(value));
        }
        if slot.closed {
            return Poll::Ready(None);
        }
        if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            slot.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::task::Wake;

    /// Records a wake-up.
    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn block_on<F: Future>(fut: F) -> F::Output {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        let mut fut = std::pin::pin!(fut);
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            while !flag.0.swap(false, Ordering::SeqCst) {
                std::thread::yield_now();
            }
        }
    }

    #[test]
    fn jobs_run_in_order_on_the_thread() {
        let worker = block_on(Worker::start("t", || Ok(Vec::new()))).unwrap();
        let first = worker.call(|v: &mut Vec<u32>| {
            v.push(1);
            Ok(std::thread::current().name().map(str::to_owned))
        });
        let second = worker.call(|v: &mut Vec<u32>| {
            v.push(2);
            Ok(v.clone())
        });
        assert_eq!(block_on(second).unwrap(), [1, 2]);
        assert_eq!(block_on(first).unwrap().as_deref(), Some("t"));
    }

    #[test]
    fn a_panicking_job_is_an_error_not_a_hang() {
        let worker = block_on(Worker::start("t", || Ok(()))).unwrap();
        let err = block_on(worker.call(|()| -> DriverResult<()> { panic!("boom") })).unwrap_err();
        assert!(err.message.contains("ended"), "{err}");
        let err = block_on(worker.call(|()| Ok(()))).unwrap_err();
        assert!(err.message.contains("ended"), "{err}");
    }

    #[test]
    fn a_failing_init_is_returned() {
        let started = block_on(Worker::<()>::start("t", || {
            Err(DriverError::new(DriverErrorKind::Connect, "no"))
        }));
        assert_eq!(started.err().map(|e| e.message).as_deref(), Some("no"));
    }

    #[test]
    fn dropping_the_worker_drops_the_state_on_its_thread() {
        struct Tell(Arc<AtomicBool>);
        impl Drop for Tell {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let tell = Tell(Arc::clone(&dropped));
        let worker = block_on(Worker::start("t", move || Ok(tell))).unwrap();
        block_on(worker.call(|_| Ok(()))).unwrap();
        drop(worker);
        assert!(dropped.load(Ordering::SeqCst), "idle worker joined on drop");
    }
}
