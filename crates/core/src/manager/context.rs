//! The run context: the apps, the connection, how to ask and how to report; taking and
//! releasing the migration lock; reading the tracking rows and the migration files.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::report::{Confirm, Event, NoConfirm, NullReporter, Reporter};
use super::ALL;
use crate::driver::error::{DriverError, DriverErrorKind};
use crate::driver::lock::LockOptions;
use crate::driver::tracking::AppliedMigration;
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::project::migration::Migration;
use crate::project::policy::OutOfOrder;
use crate::project::registry::{AppConfig, AppRegistry};

/// The context every manager runs in: the apps, a database connection, and how to ask and
/// report.
pub struct Migrator {
    pub(crate) registry: AppRegistry,
    pub(crate) driver: Box<dyn Driver>,
    pub(crate) lock_timeout: Duration,
    pub(crate) confirm: Box<dyn Confirm>,
    pub(crate) out_of_order: OutOfOrder,
    reporter: Box<dyn Reporter>,
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Migration files being read on another thread ([`Migrator::with_preload`]), taken by
    /// the first [`Migrator::load_all`].
    preload: Mutex<Option<Preload>>,
}

/// The migrations of some apps, read on a thread of its own while the caller does something
/// else (connecting to the database: a TLS handshake and the server's authentication take as
/// long as reading a thousand files). Start it with [`Preload::start`] and hand it to
/// [`Migrator::with_preload`]; the first command to read files waits for it and uses what it
/// read, errors included, instead of reading again.
///
/// ```
/// # use ferry_core::{AppConfig, AppRegistry, Preload};
/// let registry = AppRegistry::new(vec![AppConfig::embedded("users", vec![])]).unwrap();
/// let preload = Preload::start(&registry, "all");
/// // ... connect, then: Migrator::new(registry, driver).with_preload(preload)
/// # drop(preload);
/// ```
#[derive(Debug)]
pub struct Preload(Source);

/// Where a [`Preload`]'s files are.
#[derive(Debug)]
enum Source {
    /// Being read on a thread.
    Reading(std::thread::JoinHandle<Vec<(String, Result<Vec<Migration>>)>>),
    /// Read already, without error; shared by the migrators it was handed to.
    Read(std::sync::Arc<[(String, Vec<Migration>)]>),
}

/// The apps `app_name` names: one app, or every app for `all`; an unknown app is left to the
/// command to report.
fn named_apps(registry: &AppRegistry, app_name: &str) -> Vec<AppConfig> {
    if app_name == ALL {
        registry.dependency_order().into_iter().cloned().collect()
    } else {
        registry.get(app_name).ok().cloned().into_iter().collect()
    }
}

impl Preload {
    /// Start reading the migrations of the apps `app_name` names: one app, or every app for
    /// `all`. An unknown app is left to the command to report.
    pub fn start(registry: &AppRegistry, app_name: &str) -> Preload {
        let apps = named_apps(registry, app_name);
        Preload(Source::Reading(std::thread::spawn(move || {
            apps.into_iter()
                .map(|app| {
                    let files = app.migrations();
                    (app.name, files)
                })
                .collect()
        })))
    }

    /// Read the migrations of the apps `app_name` names now, stopping at the first file
    /// error, for callers that run many migrators on the same files (a fleet's targets):
    /// each gets a [`Preload::try_clone`] and none reads the files again.
    pub fn read_now(registry: &AppRegistry, app_name: &str) -> Result<Preload> {
        let read = named_apps(registry, app_name)
            .into_iter()
            .map(|app| Ok((app.name.clone(), app.migrations()?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Preload(Source::Read(read.into())))
    }

    /// Another handle on files already read ([`Preload::read_now`]); `None` while they are
    /// still being read ([`Preload::start`]).
    pub fn try_clone(&self) -> Option<Preload> {
        match &self.0 {
            Source::Read(read) => Some(Preload(Source::Read(std::sync::Arc::clone(read)))),
            Source::Reading(_) => None,
        }
    }

    /// What was read, app by app.
    fn into_files(self) -> Vec<(String, Result<Vec<Migration>>)> {
        match self.0 {
            Source::Reading(thread) => thread.join().unwrap_or_default(),
            Source::Read(read) => read
                .iter()
                .map(|(name, files)| (name.clone(), Ok(files.clone())))
                .collect(),
        }
    }
}

impl std::fmt::Debug for Migrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrator")
            .field("registry", &self.registry)
            .field("backend", &self.driver.backend())
            .field("lock_timeout", &self.lock_timeout)
            .finish_non_exhaustive()
    }
}

/// Tracking rows by app name, each app's rows in apply order.
#[derive(Debug, Default)]
pub(crate) struct Rows(HashMap<String, Vec<AppliedMigration>>);

impl Rows {
    /// The rows of `app` in apply order (none when it has no row).
    pub(crate) fn of(&self, app: &str) -> &[AppliedMigration] {
        self.0.get(app).map_or(&[], Vec::as_slice)
    }

    /// Every row, of every app, in apply order.
    pub(crate) fn into_apply_order(self) -> Vec<AppliedMigration> {
        let mut rows: Vec<AppliedMigration> = self.0.into_values().flatten().collect();
        rows.sort_by_key(|r| r.row_id);
        rows
    }

    fn any_dirty(&self) -> bool {
        self.0.values().flatten().any(|r| r.dirty)
    }
}

impl Migrator {
    /// The longest lock timeout: 7 days. Longer ones are clamped to it (SQLite's
    /// `busy_timeout` and the clock arithmetic of the lock wait have limits of their own).
    pub const MAX_LOCK_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 60 * 60);

    /// A migrator over `registry` and `driver`, with a 60 s lock timeout, no prompt
    /// ([`NoConfirm`]) and no reporting ([`NullReporter`]).
    pub fn new(registry: AppRegistry, driver: Box<dyn Driver>) -> Self {
        Migrator {
            registry,
            driver,
            lock_timeout: Duration::from_secs(60),
            confirm: Box::new(NoConfirm),
            out_of_order: OutOfOrder::default(),
            reporter: Box::new(NullReporter),
            stop: None,
            preload: Mutex::new(None),
        }
    }

    /// Use the files `preload` reads (see [`Preload`]) for the first command's files.
    pub fn with_preload(self, preload: Preload) -> Self {
        *self.preload.lock().unwrap_or_else(|e| e.into_inner()) = Some(preload);
        self
    }

    /// How long to wait for the migration lock, at most [`Migrator::MAX_LOCK_TIMEOUT`].
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout.min(Self::MAX_LOCK_TIMEOUT);
        self
    }

    /// Which migration lock the driver takes, and the lease of the lease lock (see
    /// [`crate::driver::lock`]). Without it, the driver's default: [`LockOptions::default`].
    pub fn with_lock_options(mut self, options: LockOptions) -> Self {
        self.driver.set_lock_options(options);
        self
    }

    /// What `forwards` does with a pending migration older than an applied one (SPEC
    /// §5.1.12): warn (the default), allow, or refuse before anything runs.
    pub fn with_out_of_order(mut self, policy: OutOfOrder) -> Self {
        self.out_of_order = policy;
        self
    }

    /// How to ask for confirmation.
    pub fn with_confirm(mut self, confirm: impl Confirm + 'static) -> Self {
        self.confirm = Box::new(confirm);
        self
    }

    /// Where progress goes.
    pub fn with_reporter(mut self, reporter: impl Reporter + 'static) -> Self {
        self.reporter = Box::new(reporter);
        self
    }

    /// A flag that, once set, ends a forwards or backwards run before its next migration
    /// with [`Error::Interrupted`] (a fleet's Ctrl-C: running targets stop after their
    /// current migration).
    pub fn with_stop(mut self, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// [`Error::Interrupted`] once the stop flag is set.
    pub(crate) fn check_stop(&self) -> Result<()> {
        match &self.stop {
            Some(stop) if stop.load(std::sync::atomic::Ordering::SeqCst) => Err(Error::Interrupted),
            _ => Ok(()),
        }
    }

    /// The apps.
    pub fn registry(&self) -> &AppRegistry {
        &self.registry
    }

    /// The driver.
    pub fn driver_mut(&mut self) -> &mut dyn Driver {
        self.driver.as_mut()
    }

    /// The driver, given back: for instance to take back an application's own client from
    /// a driver made with it.
    pub fn into_driver(self) -> Box<dyn Driver> {
        self.driver
    }

    /// The driver as the type it was made with (`None` for another type): a driver built on
    /// the application's own client gives the client back after a run, also a failed one.
    ///
    /// ```
    /// # #[cfg(feature = "testkit")] {
    /// use ferry_core::testkit::{MemoryDatabase, MemoryDriver};
    /// use ferry_core::{AppRegistry, Migrator, TableName};
    /// let driver = MemoryDatabase::new().open(TableName::default());
    /// let migrator = Migrator::new(AppRegistry::new(vec![]).unwrap(), Box::new(driver));
    /// assert!(migrator.into_driver_as::<MemoryDriver>().is_some());
    /// # }
    /// ```
    pub fn into_driver_as<D: Driver>(self) -> Option<D> {
        let any: Box<dyn std::any::Any> = self.driver;
        any.downcast::<D>().ok().map(|d| *d)
    }

    pub(crate) fn report(&self, event: Event<'_>) {
        self.reporter.report(event);
    }

    /// The apps a command names: one app, or every app in dependency order for `all`.
    pub(crate) fn select_apps(&self, app_name: &str) -> Result<Vec<AppConfig>> {
        if app_name == ALL {
            Ok(self
                .registry
                .dependency_order()
                .into_iter()
                .cloned()
                .collect())
        } else {
            Ok(vec![self.registry.get(app_name)?.clone()])
        }
    }

    /// Read every app's migrations (file errors, a missing folder included, stop everything).
    pub(crate) fn load_all(&self, apps: &[AppConfig]) -> Result<Vec<Vec<Migration>>> {
        let preloaded = self
            .preload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .map(Preload::into_files);
        let mut preloaded = preloaded.unwrap_or_default();
        apps.iter()
            .map(
                |app| match preloaded.iter().position(|(name, _)| *name == app.name) {
                    Some(i) => preloaded.swap_remove(i).1,
                    None => app.migrations(),
                },
            )
            .collect()
    }

    /// Read tracking rows without writing: a missing table reads as no rows.
    pub(crate) async fn read_rows(&mut self, apps: &[AppConfig]) -> Result<Rows> {
        let exists = self
            .driver
            .table_exists()
            .await
            .map_err(Error::db("reading the tracking table"))?;
        if !exists {
            return Ok(Rows::default());
        }
        self.read_existing_rows(apps).await
    }

    /// Read tracking rows without writing, as [`Migrator::read_rows`], but when a row is
    /// dirty, look again under the migration lock: a row that is dirty only because another
    /// run is applying that migration right now is not a failure, and must not refuse this run.
    pub(crate) async fn read_settled_rows(&mut self, apps: &[AppConfig]) -> Result<Rows> {
        let rows = self.read_rows(apps).await?;
        if !rows.any_dirty() {
            return Ok(rows);
        }
        self.lock().await?;
        let settled = self.read_existing_rows(apps).await;
        let unlocked = self.driver.unlock().await;
        let settled = settled?;
        unlocked.map_err(Error::db("releasing the migration lock"))?;
        Ok(settled)
    }

    /// Read the tracking rows of `apps` (the table must exist): one query.
    pub(crate) async fn read_existing_rows(&mut self, apps: &[AppConfig]) -> Result<Rows> {
        let filter = match apps {
            [one] => Some(one.name.as_str()),
            _ => None,
        };
        let rows = match self.driver.applied(filter).await {
            Ok(rows) => rows,
            Err(e) if is_missing_column(&e) => {
                return Err(Error::NotTrackingTable {
                    table: self.driver.table().to_string(),
                    source: e,
                })
            }
            Err(e) => return Err(Error::db("reading the tracking table")(e)),
        };
        let mut by_app: HashMap<String, Vec<AppliedMigration>> = HashMap::new();
        for row in rows {
            by_app.entry(row.app_name.clone()).or_default().push(row);
        }
        Ok(Rows(by_app))
    }

    /// Take the lock and make sure the tracking table exists.
    pub(crate) async fn lock(&mut self) -> Result<()> {
        self.lock_for(false).await
    }

    /// Take the lock; with `atomic`, open the run-wide transaction ([`Driver::begin_atomic`])
    /// before the tracking table is created, so that a rolled-back run leaves no table behind.
    pub(crate) async fn lock_for(&mut self, atomic: bool) -> Result<()> {
        self.take_lock().await?;
        if atomic {
            if let Err(e) = self.driver.begin_atomic().await {
                let _ = self.driver.unlock().await;
                return Err(Error::db("starting the run's transaction")(e));
            }
        }
        if let Err(e) = self.driver.ensure_table().await {
            if atomic {
                let _ = self.driver.end_atomic(false).await;
            }
            let _ = self.driver.unlock().await;
            return Err(Error::db("creating the tracking table")(e));
        }
        Ok(())
    }

    /// Take the migration lock only, creating nothing (`drift` reads under it).
    pub(crate) async fn take_lock(&mut self) -> Result<()> {
        let started = Instant::now();
        if let Err(e) = self.driver.lock(self.lock_timeout).await {
            return Err(match e.kind {
                DriverErrorKind::LockTimeout => {
                    let waited = started.elapsed();
                    // Who holds it, for the message; a failure to tell is no new error.
                    let holder = self.driver.lock_holder().await.ok().flatten();
                    Error::LockTimeout { waited, holder }
                }
                _ => Error::db("taking the migration lock")(e),
            });
        }
        Ok(())
    }

    /// Release the lock, keeping the first error of `result` and the release.
    pub(crate) async fn unlock<T>(&mut self, result: Result<T>) -> Result<T> {
        let unlocked = self.driver.unlock().await;
        match (result, unlocked) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(Error::db("releasing the migration lock")(e)),
            (Ok(r), Ok(())) => Ok(r),
        }
    }
}

/// Whether reading the tracking table failed for want of one of its columns: the name is
/// taken by another table (PostgreSQL `42703`, MySQL `42S22`, SQLite "no such column").
fn is_missing_column(error: &DriverError) -> bool {
    matches!(error.sqlstate.as_deref(), Some("42703" | "42S22"))
        || error.message.contains("no such column")
}
