//! The lease lock, lock polling and the liveness probe's time limit as written once in core
//! (`ferry_core::{lease, rt, watch}`), on a runtime of std threads and a lock table held in
//! memory. (The drivers run the same code against PostgreSQL and MariaDB in their suites'
//! lease conformance.)

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ferry_core::driver::lease::{Held, HolderResult, Lease, LeaseConn, LockSite, Statement};
use ferry_core::driver::rt::{poll_until, AbortOnDrop, Runtime};
use ferry_core::driver::watch::{check, Liveness, ProbeFn};
use ferry_core::driver::{
    BoxFuture, DriverResult, LeaseSql, LockChoice, LockHolder, LockMechanism, Value,
};
use ferry_core::sql::Dialect;
use ferry_core::testkit::block_on;
use ferry_core::{DriverError, DriverErrorKind, LockKind, LockOptions, TableName};

/// A future that is ready at `until`, woken by a thread.
struct Sleep {
    until: Instant,
    armed: bool,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = Instant::now();
        if now >= self.until {
            return Poll::Ready(());
        }
        if !self.armed {
            self.armed = true;
            let (waker, left) = (cx.waker().clone(), self.until - now);
            std::thread::spawn(move || {
                std::thread::sleep(left);
                waker.wake();
            });
        }
        Poll::Pending
    }
}

/// Timers and tasks on std threads; a task stops at its next wake-up once aborted.
struct Threads;

impl Runtime for Threads {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(Sleep {
            until: Instant::now() + duration,
            armed: false,
        })
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) -> AbortOnDrop {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let mut task = task;
        std::thread::spawn(move || {
            block_on(std::future::poll_fn(|cx| {
                if stopped.load(Ordering::SeqCst) {
                    return Poll::Ready(());
                }
                task.as_mut().poll(cx)
            }))
        });
        AbortOnDrop::new(stop, |stop| stop.store(true, Ordering::SeqCst))
    }
}

/// The lock table's one row: owner and expiry.
type Row = Option<(String, Instant)>;

/// A connection to a lock table held in memory, understanding the statements of `sql` (any
/// owner's: they differ only in the values bound).
#[derive(Clone)]
struct Memory {
    row: Arc<Mutex<Row>>,
    sql: LeaseSql,
    /// Fail every statement (a broken connection).
    broken: bool,
    /// Fail opening the renewal connection.
    no_renewal: bool,
    renewals: Arc<AtomicUsize>,
}

impl Memory {
    fn new(row: &Arc<Mutex<Row>>) -> Memory {
        Memory {
            row: Arc::clone(row),
            sql: sql("anyone"),
            broken: false,
            no_renewal: false,
            renewals: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn run(&self, (text, values): Statement<'_>) -> DriverResult<(u64, Option<LockHolder>)> {
        if self.broken {
            return Err(DriverError::new(DriverErrorKind::Connect, "broken"));
        }
        let text_of = |v: &Value<'_>| match v {
            Value::Text(t) => t.to_string(),
            other => panic!("expected text, got {other:?}"),
        };
        let lease = |v: &Value<'_>| match v {
            Value::Int(ms) => Duration::from_millis(*ms as u64),
            other => panic!("expected the lease, got {other:?}"),
        };
        let mut row = self.row.lock().unwrap();
        let now = Instant::now();
        let changed = if text == self.sql.delete_expired().0 {
            let expired = row.as_ref().is_some_and(|(_, until)| *until < now);
            if expired {
                *row = None;
            }
            u64::from(expired)
        } else if text == self.sql.insert().0 {
            let free = row.is_none();
            if free {
                *row = Some((text_of(&values[1]), now + lease(&values[2])));
            }
            u64::from(free)
        } else if text == self.sql.renew().0 {
            // MySQL binds the lease first, then key and owner.
            let (lease, owner) = (lease(&values[0]), text_of(&values[2]));
            match row.as_mut() {
                Some((held_by, until)) if *held_by == owner => {
                    *until = now + lease;
                    self.renewals.fetch_add(1, Ordering::SeqCst);
                    1
                }
                _ => 0,
            }
        } else if text == self.sql.release().0 {
            let mine = row
                .as_ref()
                .is_some_and(|(held_by, _)| *held_by == text_of(&values[1]));
            if mine {
                *row = None;
            }
            u64::from(mine)
        } else if text == self.sql.holder().0 {
            let holder = row.as_ref().map(|(owner, _)| LockHolder {
                owner: owner.clone(),
                since: None,
                expires: None,
            });
            return Ok((0, holder));
        } else {
            panic!("unexpected statement {text}");
        };
        Ok((changed, None))
    }
}

impl LeaseConn for Memory {
    fn exec<'a>(&'a mut self, statement: Statement<'a>) -> BoxFuture<'a, DriverResult<u64>> {
        let result = self.run(statement).map(|(changed, _)| changed);
        Box::pin(async move { result })
    }

    fn holder<'a>(&'a mut self, statement: Statement<'a>) -> BoxFuture<'a, HolderResult> {
        let result = self.run(statement).map(|(_, holder)| holder);
        Box::pin(async move { result })
    }

    fn open_renewal(&self) -> BoxFuture<'static, DriverResult<Box<dyn LeaseConn>>> {
        let renewal = self.clone();
        Box::pin(async move {
            if renewal.no_renewal {
                return Err(DriverError::new(DriverErrorKind::Connect, "refused"));
            }
            Ok(Box::new(renewal) as Box<dyn LeaseConn>)
        })
    }
}

fn sql(owner: &str) -> LeaseSql {
    let table = TableName::parse("ferry_migrations").unwrap();
    let options = LockOptions::default().with_lease(Duration::from_secs(1));
    LeaseSql::for_tracking(Dialect::MySql, Some("app"), &table, owner, &options)
}

fn options() -> LockOptions {
    LockOptions::default().with_lease(Duration::from_secs(1))
}

fn take(conn: &mut Memory, owner: &str, timeout: Duration) -> DriverResult<Lease> {
    let deadline = Instant::now() + timeout;
    block_on(Lease::take(
        conn,
        &Threads,
        sql(owner),
        &options(),
        deadline,
    ))
}

#[test]
fn a_lease_is_taken_fenced_renewed_and_released() {
    let row = Arc::new(Mutex::new(None));
    let mut a = Memory::new(&row);
    let lease = take(&mut a, "a", Duration::ZERO).unwrap();
    assert_eq!(row.lock().unwrap().as_ref().unwrap().0, "a");
    block_on(lease.fence(&mut a)).unwrap();
    // The renewal task renews every lease/3 (333 ms).
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        a.renewals.load(Ordering::SeqCst) >= 3,
        "the fence and two renewals at least"
    );
    block_on(lease.release(&mut a)).unwrap();
    assert_eq!(*row.lock().unwrap(), None);
    let after = a.renewals.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        a.renewals.load(Ordering::SeqCst),
        after,
        "released: no renewal"
    );
}

#[test]
fn a_second_run_waits_until_its_timeout_then_takes_the_released_lease() {
    let row = Arc::new(Mutex::new(None));
    let (mut a, mut b) = (Memory::new(&row), Memory::new(&row));
    let lease = take(&mut a, "a", Duration::ZERO).unwrap();
    let started = Instant::now();
    let err = take(&mut b, "b", Duration::from_millis(300)).unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.kind, DriverErrorKind::LockTimeout);
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    drop(lease);
    // Dropped without release: the row expires within one lease (1 s).
    let lease = take(&mut b, "b", Duration::from_secs(3)).unwrap();
    assert_eq!(row.lock().unwrap().as_ref().unwrap().0, "b");
    block_on(lease.release(&mut b)).unwrap();
}

#[test]
fn the_fence_fails_naming_whoever_took_the_lease_over() {
    let row = Arc::new(Mutex::new(None));
    let mut a = Memory::new(&row);
    let lease = take(&mut a, "a", Duration::ZERO).unwrap();
    *row.lock().unwrap() = Some(("b".into(), Instant::now() + Duration::from_secs(9)));
    let err = block_on(lease.fence(&mut a)).unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::LockLost);
    assert!(err.message.contains('b'), "{}", err.message);
    // Releasing deletes only this run's row.
    block_on(lease.release(&mut a)).unwrap();
    assert_eq!(row.lock().unwrap().as_ref().unwrap().0, "b");
}

#[test]
fn a_renewal_connection_that_cannot_open_gives_the_lease_back() {
    let row = Arc::new(Mutex::new(None));
    let mut a = Memory::new(&row);
    a.no_renewal = true;
    let err = take(&mut a, "a", Duration::ZERO).unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Connect);
    assert_eq!(
        err.message,
        "opening the connection that renews the lock's lease: refused"
    );
    assert_eq!(*row.lock().unwrap(), None);
}

#[test]
fn an_error_while_taking_ends_the_polling_at_once() {
    let row = Arc::new(Mutex::new(None));
    let mut a = Memory::new(&row);
    a.broken = true;
    let started = Instant::now();
    let err = take(&mut a, "a", Duration::from_secs(5)).unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Connect);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn held_gives_the_lease_back_and_leaves_the_advisory_lock_to_the_driver() {
    let row = Arc::new(Mutex::new(None));
    let mut a = Memory::new(&row);
    let mut held = Held::Lease(Box::new(take(&mut a, "a", Duration::ZERO).unwrap()));
    assert!(held.is_held());
    assert!(held.lease().is_some());
    assert_eq!(held.name(), "lease");
    let was = std::mem::take(&mut held);
    assert!(!block_on(was.release(&mut a)).unwrap());
    assert_eq!(*row.lock().unwrap(), None);
    assert!(!held.is_held());
    assert!(block_on(Held::Advisory.release(&mut a)).unwrap());
    assert!(!block_on(Held::None.release(&mut a)).unwrap());
}

#[test]
fn poll_until_backs_off_between_attempts_and_stops_at_the_deadline() {
    let mut attempts = 0;
    let started = Instant::now();
    let deadline = started + Duration::from_millis(400);
    let err = block_on(poll_until(deadline, &Threads, &mut attempts, |n| {
        *n += 1;
        Box::pin(async { Ok(false) })
    }))
    .unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::LockTimeout);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!((2..40).contains(&attempts), "{attempts} attempts");

    let mut attempts = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    block_on(poll_until(deadline, &Threads, &mut attempts, |n| {
        *n += 1;
        let done = *n == 3;
        Box::pin(async move { Ok(done) })
    }))
    .unwrap();
    assert_eq!(attempts, 3);
}

#[test]
fn a_probe_without_an_answer_within_its_limit_says_so() {
    let slow = ProbeFn::new(Duration::from_millis(100), || {
        Box::pin(async {
            Threads.sleep(Duration::from_secs(5)).await;
            Liveness::Working
        })
    });
    let started = Instant::now();
    assert_eq!(
        block_on(check(&slow, &Threads)),
        Liveness::Gone("a new connection got no answer within 0.1 s either".into())
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let quick = ProbeFn::new(Duration::from_secs(5), || {
        Box::pin(async { Liveness::Idle })
    });
    assert_eq!(block_on(check(&quick, &Threads)), Liveness::Idle);
}

#[test]
fn the_lock_choice_follows_the_kind_and_the_connection() {
    let direct = LockSite {
        middle: "a pooler",
        server: "PostgreSQL",
        ..LockSite::default()
    };
    let pooled = LockSite {
        pooled: Some("pgbouncer answers".into()),
        ..direct.clone()
    };
    let other = LockSite {
        other_engine: Some("the server is CockroachDB".into()),
        ..direct.clone()
    };
    let choice = |kind, site: &LockSite| LockChoice::decide(kind, site.clone());
    assert_eq!(
        choice(LockKind::Auto, &direct),
        LockChoice::new(
            LockMechanism::Advisory,
            "lock = auto on a direct connection to PostgreSQL"
        )
    );
    assert_eq!(
        choice(LockKind::Auto, &pooled),
        LockChoice::new(LockMechanism::Lease, "lock = auto, and pgbouncer answers")
    );
    assert_eq!(
        choice(LockKind::Auto, &other).reason,
        "lock = auto, and the server is CockroachDB"
    );
    assert_eq!(
        choice(LockKind::Advisory, &pooled).reason,
        "lock = advisory, although pgbouncer answers; use lock = auto or table behind a pooler"
    );
    // Another engine does not change what `advisory` says: only pooling is worth a warning.
    assert_eq!(choice(LockKind::Advisory, &other).reason, "lock = advisory");
    for site in [&direct, &pooled, &other] {
        assert_eq!(
            choice(LockKind::Table, site),
            LockChoice::new(LockMechanism::Lease, "lock = table")
        );
    }
}
