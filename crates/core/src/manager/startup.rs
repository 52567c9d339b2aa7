//! One call at a program's start: apply every pending migration ([`Embedded::migrate`],
//! [`Migrator::forwards_all`]).

use super::context::Migrator;
use super::forwards::forwards;
use super::report::MigrationResult;
use super::ALL;
use crate::driver::Driver;
use crate::error::Result;
use crate::project::embedded::Embedded;

impl Migrator {
    /// Apply every pending migration of every app, in dependency order, under the migration
    /// lock: `ferry forwards all -y`. Returns what was applied (`result.migrations`); a run
    /// that did not succeed is an [`Error::Unsuccessful`](crate::Error::Unsuccessful).
    pub async fn forwards_all(&mut self) -> Result<MigrationResult> {
        forwards(self, ALL).await
    }
}

/// What [`Embedded::migrate`] accepts as its connection: a driver (`SqliteDriver`,
/// `PostgresDriver`, `MysqlDriver`, ...) or a `Box<dyn Driver>`.
pub trait IntoDriver {
    /// The driver, boxed.
    fn into_driver(self) -> Box<dyn Driver>;
}

impl<D: Driver + 'static> IntoDriver for D {
    fn into_driver(self) -> Box<dyn Driver> {
        Box::new(self)
    }
}

impl IntoDriver for Box<dyn Driver> {
    fn into_driver(self) -> Box<dyn Driver> {
        self
    }
}

impl Embedded {
    /// A [`Migrator`] over the embedded apps and `driver`, to set a reporter, a lock timeout
    /// or a confirmation before running a manager.
    pub fn migrator(&self, driver: impl IntoDriver) -> Result<Migrator> {
        Ok(Migrator::new(self.registry()?, driver.into_driver()))
    }

    /// Apply every pending embedded migration with `driver`, under the migration lock, and
    /// return what was applied: the one call a program makes at startup.
    ///
    /// ```no_run
    /// # async fn demo(set: ferry_core::Embedded, driver: impl ferry_core::Driver + 'static) -> ferry_core::Result<()> {
    /// // In a program: `let set = ferry_core::embedded_migrations!();` and
    /// // `let driver = ferry_driver_sqlite::connect(&url, Default::default()).await?;`
    /// let applied = set.migrate(driver).await?;
    /// for m in &applied.migrations {
    ///     println!("applied {} {} {}", m.app_name, m.migration_id, m.description);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self, driver: impl IntoDriver) -> Result<MigrationResult> {
        self.migrator(driver)?.forwards_all().await
    }
}
