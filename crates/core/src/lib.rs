//! `ferry-core`: the backend-neutral heart of ferry.
//!
//! A project is split into **apps** ([`AppConfig`], collected in an [`AppRegistry`]); each app
//! owns an ordered set of SQL migrations ([`Migration`]) that run forwards, run backwards and
//! are checked. This crate holds the file format parser, the configuration loader, dependency
//! ordering, and the managers that plan and run every command. It talks to a database only
//! through the object-safe [`Driver`] trait, implemented by the `ferry-driver-*` crates, and
//! depends on no database client, no async runtime and no command-line parser.
//!
//! A program does not usually depend on this crate directly: the `ferry` crate connects by URL
//! and re-exports what is here for applications. The shortest program embeds the migration
//! files with `ferry-build` (a build-dependency; `build.rs`:
//! `ferry_build::Embed::config("ferry.toml").emit();`), then at startup:
//!
//! ```ignore
//! let applied = ferry::migrate(&url, ferry::embedded_migrations!()).await?;
//! // or, with this crate and a driver crate:
//! let driver = ferry_driver_sqlite::connect(&url, Default::default()).await?;
//! let applied = ferry_core::embedded_migrations!().migrate(driver).await?;
//! ```
//!
//! The application's API is at the crate root: [`Migrator`] and the managers
//! ([`ForwardsMigrationManager`], [`BackwardsMigrationManager`], [`CheckMigrationManager`],
//! ...), [`Embedded`], [`AppConfig`] and [`AppRegistry`], [`Migration`], [`Event`] and
//! [`Reporter`], [`Confirm`], [`MigrationResult`], [`MigrationStatus`], [`Error`]. What a
//! driver crate needs (tracking-table SQL, the lease lock's protocol, URL helpers, the
//! liveness watch) is under [`driver`] only; `ferry new` and `ferry init` are [`scaffold`].
//!
//! Migrations can also be read from folders at run time ([`AppConfig::new`], [`Config`]) or
//! built in code ([`Migration::new`], plain SQL only):
//!
//! ```no_run
//! use ferry_core::{AppConfig, AppRegistry, Migration, Migrator, ForwardsMigrationManager};
//!
//! # async fn demo(driver: Box<dyn ferry_core::Driver>) -> ferry_core::Result<()> {
//! let users = AppConfig::embedded("users", vec![Migration::new(
//!     "1",
//!     "create users",
//!     "CREATE TABLE users (id INTEGER PRIMARY KEY);",
//!     Some("DROP TABLE users;"),
//! )]);
//! let mut migrator = Migrator::new(AppRegistry::new(vec![users])?, driver);
//! let result = ForwardsMigrationManager::new("all").run(&mut migrator).await?;
//! assert!(result.success);
//! # Ok(()) }
//! ```

pub mod driver;
mod error;
mod manager;
mod project;
pub mod schema;
pub mod sql;
#[cfg(feature = "testkit")]
pub mod testkit;
mod text;
mod verify;

pub use project::fleet;
pub use verify::{drift, lint, scratch, snapshot};

pub use driver::lock::{LockKind, LockOptions};
pub use driver::{Driver, DriverError, DriverErrorKind, TableName};
pub use project::embedded::Embedded;
pub use project::policy::OutOfOrder;
pub use project::registry::MigrationSource;
pub use project::{embedded, files};

pub use error::{Error, ErrorClass, Result};
pub use manager::{
    backwards, forwards, run_backwards, run_forwards, Apps, BackwardsMigrationManager,
    BackwardsTarget, CheckMigrationManager, CleanManager, Confirm, ConfirmRequest, Direction,
    Event, ForwardsMigrationManager, ForwardsTarget, IntoDriver, MigrationResult, MigrationStatus,
    Migrator, NoConfirm, NullReporter, Outcome, PlannedMigration, Preload, Progress, Reporter,
    ResolveManager, Status,
};
pub use project::config::{Config, CONFIG_FILE};
pub use project::loader::load_migrations;
pub use project::migration::{
    check_limits, compare_ids, is_valid_id, parse_migration, LintLevel, Migration, Section,
    MAX_DESCRIPTION_LEN, MAX_ID_LEN,
};
pub use project::registry::{validate_app_name, AppConfig, AppRegistry, MAX_APP_NAME_LEN};
pub use project::scaffold;
pub use text::{checksum, seconds_text};
pub use verify::{Verdict, VerifiedMigration, VerifyManager};

/// The migrations `ferry-build` embedded in this program (an [`Embedded`]): includes
/// `$OUT_DIR/ferry_migrations.rs`, the file the build script wrote with
/// `ferry_build::Embed::...emit()`. The generated code names its types through the module
/// [`embedded`] that this macro imports, so a program that depends on the `ferry` crate only
/// (which re-exports this macro as `ferry::embedded_migrations!`) needs no `ferry-core` of its
/// own.
///
/// ```ignore
/// let applied = ferry::migrate(&url, ferry::embedded_migrations!()).await?;
/// // or, with a driver:
/// let applied = ferry_core::embedded_migrations!().migrate(driver).await?;
/// ```
#[macro_export]
macro_rules! embedded_migrations {
    () => {{
        use $crate::embedded as __ferry_embedded;
        include!(concat!(env!("OUT_DIR"), "/ferry_migrations.rs"))
    }};
}
