//! `ferry-core`: the backend-neutral heart of ferry.
//!
//! A project is split into **apps** ([`AppConfig`], collected in an [`AppRegistry`]); each app
//! owns an ordered set of SQL migrations ([`Migration`]) that run forwards, run backwards and
//! are checked. This crate holds the file format parser, the configuration loader, dependency
//! ordering, and the managers that plan and run every command. It talks to a database only
//! through the object-safe [`Driver`] trait, implemented by the `ferry-driver-*` crates, and
//! depends on no database client, no async runtime and no command-line parser.
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

mod config;
mod driver;
mod driver_error;
mod error;
pub mod fleet;
mod loader;
pub mod lock;
mod manager;
mod migration;
mod redact;
mod registry;
mod scaffold;
pub mod schema;
pub mod scratch;
pub mod snapshot;
pub mod sql;
mod sqlite_url;
mod table_name;
#[cfg(feature = "testkit")]
pub mod testkit;
mod tracking;
pub mod url;
pub mod watch;
pub mod wire;

pub use config::{
    resolve_sqlite_path, validate_app_name, AppConfig, AppRegistry, Config, CONFIG_FILE,
    MAX_APP_NAME_LEN,
};
pub use driver::{
    redact_url, BoxFuture, Capabilities, Driver, DriverError, DriverErrorKind, DriverResult,
    TableName, PROBE_AFTER, PROBE_EVERY,
};
pub use error::{seconds_text, Error, ErrorClass, Result};
pub use lock::{
    lease_owner, Backoff, LeaseSql, LockChoice, LockHolder, LockKind, LockMechanism, LockOptions,
};
pub use manager::{
    backwards, forwards, run_backwards, run_forwards, BackwardsMigrationManager, BackwardsTarget,
    CheckMigrationManager, CleanManager, Confirm, ConfirmRequest, Direction, Event,
    ForwardsMigrationManager, ForwardsTarget, MigrationResult, MigrationStatus, Migrator,
    NoConfirm, NullReporter, Outcome, PlannedMigration, Preload, Reporter, ResolveManager, Status,
    Verdict, VerifiedMigration, VerifyManager,
};
pub use migration::{
    check_limits, checksum, compare_ids, is_valid_id, load_migrations, parse_migration, Migration,
    Section, MAX_DESCRIPTION_LEN, MAX_ID_LEN,
};
pub use scaffold::{init_project, new_migration, slugify, INIT_CONFIG};
pub use sqlite_url::{SqliteMode, SqliteUrl};
pub use tracking::{
    AppliedMigration, Placeholders, RowChange, TrackingRow, TrackingSql, Value, COLUMNS,
};
