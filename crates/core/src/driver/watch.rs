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
//! Runtime-free: the driver passes its [`Runtime`]. A server driver gives its probe as a
//! [`Probe`]; [`check`] bounds one probe by its limit.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::driver::error::DriverError;
use crate::driver::rt::Runtime;
use crate::driver::{BoxFuture, DriverResult, PROBE_AFTER, PROBE_EVERY};

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

/// A driver's liveness probe: a new connection asking the server about the watched session.
pub trait Probe: Send + Sync {
    /// How long one probe may take (the connect timeout).
    fn limit(&self) -> Duration;

    /// Ask the server, without a time limit of its own ([`check`] bounds it).
    fn ask(&self) -> BoxFuture<'_, Liveness>;
}

/// A [`Probe`] from its limit and a function that asks.
///
/// ```
/// use ferry_core::driver::watch::{Liveness, Probe, ProbeFn};
/// let probe = ProbeFn::new(std::time::Duration::from_secs(5), || {
///     Box::pin(async { Liveness::Working })
/// });
/// assert_eq!(probe.limit().as_secs(), 5);
/// ```
pub struct ProbeFn<F>(pub Duration, pub F);

impl<F> ProbeFn<F>
where
    F: Fn() -> BoxFuture<'static, Liveness> + Send + Sync,
{
    /// A probe of at most `limit` that calls `ask`.
    pub fn new(limit: Duration, ask: F) -> Self {
        ProbeFn(limit, ask)
    }
}

impl<F> Probe for ProbeFn<F>
where
    F: Fn() -> BoxFuture<'static, Liveness> + Send + Sync,
{
    fn limit(&self) -> Duration {
        self.0
    }

    fn ask(&self) -> BoxFuture<'_, Liveness> {
        (self.1)()
    }
}

/// One probe, bounded by its [`Probe::limit`] on `rt`'s timer: no answer within the limit is
/// [`Liveness::no_answer_within`].
pub fn check<'a>(probe: &'a dyn Probe, rt: &'a dyn Runtime) -> BoxFuture<'a, Liveness> {
    // Boxed as `Send` here: the watch's closures ask for it for every lifetime.
    Box::pin(async move {
        let limit = probe.limit();
        let mut ask = pin!(probe.ask());
        match first(ask.as_mut(), rt.sleep(limit)).await {
            Some(verdict) => verdict,
            None => Liveness::no_answer_within(limit),
        }
    })
}

/// Box the inherent call `$call` on `$self` (a driver with a `lost: Option<DriverError>`
/// field and a `probe()` method giving a [`Probe`]) under [`watch`], on the runtime `$rt` (a
/// `&'static dyn` [`Runtime`]). A connection the watch gave up on refuses every later call
/// with the same error. `$idle_is_lost`: whether an idle session means the answer was lost.
#[doc(hidden)]
#[macro_export]
macro_rules! __watched {
    ($self:ident, $idle_is_lost:expr, $rt:expr, $call:expr) => {
        Box::pin(async move {
            if let Some(lost) = &$self.lost {
                return Err(lost.clone());
            }
            let probe = $self.probe();
            let rt: &'static dyn $crate::driver::rt::Runtime = $rt;
            let result = $crate::driver::watch::watch(
                $call,
                |d| rt.sleep(d),
                || $crate::driver::watch::check(&probe, rt),
                $idle_is_lost,
            )
            .await;
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
pub(crate) async fn first<T>(
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

/// The [`Driver`](crate::Driver) methods a server driver writes alike, for `impl Driver for
/// ...` of a driver on the runtime `$rt`:
///
/// - `backend` and `capabilities` from `$backend` (a [`Backend`](crate::driver::url::Backend)) and
///   `transactional_ddl = $ddl`;
/// - `set_lock_options` sets the driver's field `lock_options`, `lock_choice` gives its
///   method `choice()`;
/// - `table`, `table_exists`, `ensure_table`, `lock_holder`, `lock`, `unlock`, `applied`,
///   `execute_in_transaction`, `execute`, `write`, `track_changes`, `changed_owners` and
///   `snapshot_parts` box the inherent method of the same name (inherent methods take
///   precedence over trait methods) under [`watched!`]; `lock` waits with `idle_is_lost`
///   false (it sleeps between polls).
///
/// The driver writes the other methods it overrides.
#[doc(hidden)]
#[macro_export]
macro_rules! __watched_driver_methods {
    ($rt:expr, $backend:expr, transactional_ddl = $ddl:expr) => {
        fn backend(&self) -> &'static str {
            $backend.as_str()
        }

        fn capabilities(&self) -> $crate::driver::Capabilities {
            $crate::driver::Capabilities {
                transactional_ddl: $ddl,
                dialect: match $backend {
                    $crate::driver::url::Backend::Postgres => $crate::sql::Dialect::Postgres,
                    $crate::driver::url::Backend::Mysql => $crate::sql::Dialect::MySql,
                    $crate::driver::url::Backend::Sqlite => $crate::sql::Dialect::Sqlite,
                },
            }
        }

        fn table(&self) -> &$crate::TableName {
            Self::table(self)
        }

        fn table_exists(
            &mut self,
        ) -> $crate::driver::BoxFuture<'_, $crate::driver::DriverResult<bool>> {
            $crate::__watched!(self, true, $rt, self.table_exists())
        }

        fn ensure_table(
            &mut self,
        ) -> $crate::driver::BoxFuture<'_, $crate::driver::DriverResult<()>> {
            $crate::__watched!(self, true, $rt, self.ensure_table())
        }

        fn set_lock_options(&mut self, options: $crate::LockOptions) {
            self.lock_options = options;
        }

        fn lock_choice(
            &mut self,
        ) -> $crate::driver::BoxFuture<'_, $crate::driver::DriverResult<$crate::driver::LockChoice>>
        {
            let choice = self.choice();
            Box::pin(async move { Ok(choice) })
        }

        fn lock_holder(
            &mut self,
        ) -> $crate::driver::BoxFuture<
            '_,
            $crate::driver::DriverResult<Option<$crate::driver::LockHolder>>,
        > {
            $crate::__watched!(self, true, $rt, self.lock_holder())
        }

        fn lock(
            &mut self,
            timeout: std::time::Duration,
        ) -> $crate::driver::BoxFuture<'_, $crate::driver::DriverResult<()>> {
            $crate::__watched!(self, false, $rt, self.lock(timeout))
        }

        fn unlock(&mut self) -> $crate::driver::BoxFuture<'_, $crate::driver::DriverResult<()>> {
            $crate::__watched!(self, true, $rt, self.unlock())
        }

        fn applied<'a>(
            &'a mut self,
            app: Option<&'a str>,
        ) -> $crate::driver::BoxFuture<
            'a,
            $crate::driver::DriverResult<Vec<$crate::driver::AppliedMigration>>,
        > {
            $crate::__watched!(self, true, $rt, self.applied(app))
        }

        fn execute_in_transaction<'a>(
            &'a mut self,
            sql: &'a str,
            change: &'a $crate::driver::RowChange,
        ) -> $crate::driver::BoxFuture<'a, $crate::driver::DriverResult<()>> {
            $crate::__watched!(self, true, $rt, self.execute_in_transaction(sql, change))
        }

        fn execute<'a>(
            &'a mut self,
            sql: &'a str,
            no_transaction: bool,
        ) -> $crate::driver::BoxFuture<'a, $crate::driver::DriverResult<()>> {
            $crate::__watched!(self, true, $rt, self.execute(sql, no_transaction))
        }

        fn write<'a>(
            &'a mut self,
            change: &'a $crate::driver::RowChange,
        ) -> $crate::driver::BoxFuture<'a, $crate::driver::DriverResult<()>> {
            $crate::__watched!(self, true, $rt, self.write(change))
        }

        fn track_changes(
            &mut self,
        ) -> $crate::driver::BoxFuture<'_, $crate::driver::DriverResult<bool>> {
            $crate::__watched!(self, true, $rt, self.track_changes())
        }

        fn changed_owners(
            &mut self,
        ) -> $crate::driver::BoxFuture<
            '_,
            $crate::driver::DriverResult<Option<std::collections::BTreeSet<String>>>,
        > {
            $crate::__watched!(self, true, $rt, self.changed_owners())
        }

        fn snapshot_parts<'a>(
            &'a mut self,
            owners: Option<&'a std::collections::BTreeSet<String>>,
        ) -> $crate::driver::BoxFuture<
            'a,
            $crate::driver::DriverResult<std::collections::BTreeMap<String, $crate::schema::Part>>,
        > {
            $crate::__watched!(self, true, $rt, self.snapshot_parts(owners))
        }
    };
}

// `#[macro_export]` puts a macro at the crate root; the driver SDK's macros are used from here,
// `ferry_core::driver::watch::{watched, watched_driver_methods}`, and hidden at the root.
pub use __watched as watched;
pub use __watched_driver_methods as watched_driver_methods;
