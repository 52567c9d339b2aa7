//! One call at a program's start ([`migrate`], [`migrate_with`]) and its report ([`Applied`]).

use std::fmt;
use std::sync::{Arc, Mutex};

use ferry_core::driver::redact_url;
use ferry_core::{Embedded, Event, IntoDriver, PlannedMigration, Result, TableName};

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
    run(redact_url(url), driver, migrations).await
}

/// [`migrate`] on a driver the program made.
pub async fn migrate_with(driver: impl IntoDriver, migrations: Embedded) -> Result<Applied> {
    let driver = driver.into_driver();
    let database = format!("{} database", driver.backend());
    run(database, driver, migrations).await
}

async fn run(
    database: String,
    driver: Box<dyn ferry_core::Driver>,
    migrations: Embedded,
) -> Result<Applied> {
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&warnings);
    let mut migrator = migrations
        .migrator(driver)?
        .with_reporter(move |event: Event<'_>| {
            if let Event::Warning(text) = event {
                if let Ok(mut list) = seen.lock() {
                    list.push(text);
                }
            }
        });
    let result = migrator.forwards_all().await?;
    drop(migrator);
    let warnings = match Arc::try_unwrap(warnings) {
        Ok(list) => list.into_inner().unwrap_or_else(|e| e.into_inner()),
        Err(shared) => shared.lock().map(|l| l.clone()).unwrap_or_default(),
    };
    Ok(Applied {
        database,
        migrations: result.migrations,
        warnings,
    })
}
