//! The liveness watch: a driver call that waits on the server for long is checked on, so that a
//! network gone silent (no reset, no answer) ends the run with a clear error instead of a wait
//! without end, while a server still busy with a long statement is left to finish.
//!
//! After [`PROBE_AFTER`], and then every [`PROBE_EVERY`], the driver's probe asks the server
//! on a new connection (bounded by the connect timeout) whether it is reachable and still works
//! on the watched connection's request. The call fails with
//! [`DriverErrorKind::ConnectionLost`](crate::DriverErrorKind::ConnectionLost) when the server
//! cannot be reached, no longer has the session, or (for calls that send one request at a
//! time) has sat idle on two probes in a row although the call still waits for an answer.
//!
//! Runtime-free: the driver passes its runtime's sleep.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use crate::driver::error::DriverError;
use crate::driver::{DriverResult, PROBE_AFTER, PROBE_EVERY};

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// The server is reachable and works on the watched session's request (or cannot tell).
    Working,
    /// The server is reachable, and the watched session sits idle: the answer is lost.
    Idle,
    /// The server cannot be reached, or no longer has the session; in a few words why.
    Gone(String),
}

impl Liveness {
    /// A probe that got no answer within `limit`.
    pub fn no_answer_within(limit: std::time::Duration) -> Liveness {
        Liveness::Gone(format!(
            "a new connection got no answer within {} either",
            crate::text::seconds_text(limit)
        ))
    }

    /// A probe whose new connection failed with `error`.
    pub fn connect_failed(error: &DriverError) -> Liveness {
        Liveness::Gone(format!("a new connection failed too ({error})"))
    }
}

/// Box the inherent call `$call` on `$self` (a driver with a `lost: Option<DriverError>`
/// field and a `probe()` method whose `check()` gives a [`Liveness`]) under [`watch`], with
/// the runtime's `$sleep`. A connection the watch gave up on refuses every later call with the
/// same error. `$idle_is_lost`: whether an idle session means the answer was lost.
#[macro_export]
macro_rules! watched {
    ($self:ident, $idle_is_lost:expr, $sleep:path, $call:expr) => {
        Box::pin(async move {
            if let Some(lost) = &$self.lost {
                return Err(lost.clone());
            }
            let probe = $self.probe();
            let result = $crate::watch::watch($call, $sleep, || probe.check(), $idle_is_lost).await;
            if let Err(e) = &result {
                if e.kind == $crate::DriverErrorKind::ConnectionLost {
                    $self.lost = Some(e.clone());
                }
            }
            result
        })
    };
}

/// Run `work`, probing with `probe` as described in the module docs; `sleep` is the runtime's
/// timer. `idle_is_lost`: whether an idle session means the answer was lost (true for calls
/// that wait on one request; false for a lock wait, which sleeps between polls).
pub async fn watch<T, S, P>(
    work: impl Future<Output = DriverResult<T>>,
    mut sleep: impl FnMut(std::time::Duration) -> S,
    mut probe: impl FnMut() -> P,
    idle_is_lost: bool,
) -> DriverResult<T>
where
    S: Future<Output = ()>,
    P: Future<Output = Liveness>,
{
    let started = Instant::now();
    let mut work = pin!(work);
    if let Some(done) = first(work.as_mut(), sleep(PROBE_AFTER)).await {
        return done;
    }
    let mut idle = 0;
    loop {
        let verdict = {
            let mut check = pin!(probe());
            let raced = std::future::poll_fn(|cx| {
                if let Poll::Ready(done) = work.as_mut().poll(cx) {
                    return Poll::Ready(Err(done));
                }
                check.as_mut().poll(cx).map(Ok)
            })
            .await;
            match raced {
                Err(done) => return done,
                Ok(verdict) => verdict,
            }
        };
        match verdict {
            Liveness::Working => idle = 0,
            Liveness::Idle => idle += 1,
            Liveness::Gone(why) => {
                return Err(DriverError::connection_lost(started.elapsed(), &why));
            }
        }
        if idle_is_lost && idle >= 2 {
            return Err(DriverError::connection_lost(
                started.elapsed(),
                "the server has finished with this connection's request, but its answer never arrived",
            ));
        }
        if let Some(done) = first(work.as_mut(), sleep(PROBE_EVERY)).await {
            return done;
        }
    }
}

/// Poll `work` and `timer` together: `Some` with the work's result if it finishes first,
/// `None` when the timer fires first.
async fn first<T>(
    mut work: std::pin::Pin<&mut impl Future<Output = T>>,
    timer: impl Future<Output = ()>,
) -> Option<T> {
    let mut timer = pin!(timer);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(done) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(done));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}
