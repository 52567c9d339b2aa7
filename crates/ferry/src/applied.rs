//! One call at a program's start ([`migrate`], [`migrate_with`]) and its report ([`Applied`]).

use std::fmt;
use std::sync::{Arc, Mutex};

use ferry_core::driver::redact_url;
use ferry_core::{Driver, Embedded, Error, Event, Migrator, PlannedMigration, Result, TableName};

/// What [`migrate`] applied, to print at startup (`println!("{applied}")`) or to inspect.
///
/// Its [`Display`](fmt::Display) names the database, then one line per migration applied (or
/// `up to date`), then ferry's warnings (a migration changed since it was applied, one older
/// than an applied one), which a program that runs unattended would otherwise never see.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Applied {
    /// The database, its password redacted (`postgres://app:***@db/app`), or the backend of
    /// a driver passed to [`migrate_with`] (`postgres database`).
    pub database: String,
    /// The migrations applied, in the order they ran: empty when nothing was pending.
    pub migrations: Vec<PlannedMigration>,
    /// ferry's warnings during the run, in order.
    pub warnings: Vec<String>,
}

impl Applied {
    /// Whether nothing was pending.
    pub fn is_up_to_date(&self) -> bool {
        self.migrations.is_empty()
    }
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.migrations.len() {
            0 => write!(f, "{}: up to date, no migration to apply", self.database)?,
            n => {
                let s = if n == 1 { "" } else { "s" };
                write!(f, "{}: applied {n} migration{s}", self.database)?;
                for m in &self.migrations {
                    write!(f, "\n  {} {} {}", m.app_name, m.migration_id, m.description)?;
                }
            }
        }
        for w in &self.warnings {
            write!(f, "\nwarning: {w}")?;
        }
        Ok(())
    }
}

/// Connect to `url` ([`connect`](crate::connect), tracking table `ferry_migrations`), apply
/// every pending migration of `migrations` under the migration lock, in dependency order,
/// and return what was applied. The connection is closed when it returns.
///
/// ```no_run
/// # async fn demo(migrations: ferry::Embedded) -> ferry::Result<()> {
/// let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite:app.db".into());
/// // In a program whose build script ran ferry-build: `ferry::embedded_migrations!()`.
/// let applied = ferry::migrate(&url, migrations).await?;
/// println!("{applied}");
/// # Ok(()) }
/// ```
///
/// Errors are [`ferry::Error`](crate::Error): the URL or the connection
/// ([`Error::Driver`](crate::Error::Driver)), the lock not taken within 60 s, a migration
/// that failed (naming it and the database's message), or a plan ferry refuses (a dirty or
/// failed migration, an out-of-order one under [`OutOfOrder::Refuse`](crate::OutOfOrder)).
/// For a reporter, a lock timeout or a policy, build a [`Migrator`](crate::Migrator) with
/// [`Embedded::migrator`] instead.
pub async fn migrate(url: &str, migrations: Embedded) -> Result<Applied> {
    let driver = crate::connect(url, TableName::default()).await?;
    let (reporter, warnings) = collect_warnings();
    let mut migrator = migrations.migrator(driver)?.with_reporter(reporter);
    run(redact_url(url), &mut migrator, &warnings).await
}

/// [`migrate`] on a driver the program made, for instance on its own client, and the driver
/// back to take the client from:
///
/// ```no_run
/// # async fn demo(conn: ferry::sqlite::rusqlite::Connection, migrations: ferry::Embedded) -> ferry::Result<()> {
/// use ferry::sqlite::SqliteDriver;
/// let driver = SqliteDriver::from_connection(conn, Default::default()).await?;
/// let (applied, driver) = ferry::migrate_with(driver, migrations).await?;
/// let conn = driver.into_connection().await?; // the application's connection, back
/// # let _ = (applied, conn); Ok(()) }
/// ```
///
/// The same with [`PostgresDriver::from_client`](crate::postgres::PostgresDriver::from_client)
/// and `into_client`, [`MysqlDriver::from_conn`](crate::mysql::MysqlDriver::from_conn) and
/// `into_conn`, or [`MysqlDriver::from_pool`](crate::mysql::MysqlDriver::from_pool) (drop the
/// driver: the connection goes back to the pool). On an error the driver is dropped, and
/// with it the connection; to keep it then too, run a [`Migrator`](crate::Migrator) and take
/// the driver back with [`Migrator::into_driver_as`](crate::Migrator::into_driver_as).
pub async fn migrate_with<D: Driver>(driver: D, migrations: Embedded) -> Result<(Applied, D)> {
    let database = format!("{} database", driver.backend());
    let (reporter, warnings) = collect_warnings();
    let mut migrator = migrations.migrator(driver)?.with_reporter(reporter);
    let applied = run(database, &mut migrator, &warnings).await?;
    // A migrator gives back the driver it was given, of the type it was given.
    let driver = migrator.into_driver_as::<D>().ok_or_else(|| {
        Error::Usage("ferry lost the driver it was given: please report this".into())
    })?;
    Ok((applied, driver))
}

type Warnings = Arc<Mutex<Vec<String>>>;

/// A reporter keeping ferry's warnings, and where it keeps them.
fn collect_warnings() -> (impl Fn(Event<'_>) + Send + Sync + 'static, Warnings) {
    let warnings = Warnings::default();
    let seen = Arc::clone(&warnings);
    let reporter = move |event: Event<'_>| {
        if let Event::Warning(text) = event {
            seen.lock().unwrap_or_else(|e| e.into_inner()).push(text);
        }
    };
    (reporter, warnings)
}

/// Apply every pending migration: what [`migrate`] and [`migrate_with`] share.
async fn run(database: String, migrator: &mut Migrator, warnings: &Warnings) -> Result<Applied> {
    let result = migrator.forwards_all().await?;
    let warnings = std::mem::take(&mut *warnings.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(Applied {
        database,
        migrations: result.migrations,
        warnings,
    })
}
