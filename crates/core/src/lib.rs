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

mod driver;
mod error;
mod manager;
mod project;
pub mod schema;
pub mod sql;
#[cfg(feature = "testkit")]
pub mod testkit;
mod text;
mod verify;

pub use driver::{lock, url, watch};
pub use project::fleet;
pub use verify::{drift, scratch, snapshot};

pub use driver::error::{DriverError, DriverErrorKind};
pub use driver::lock::{
    lease_owner, Backoff, LeaseSql, LockChoice, LockHolder, LockKind, LockMechanism, LockOptions,
};
pub use driver::redact::redact_url;
pub use driver::sqlite_url::{resolve_sqlite_path, SqliteMode, SqliteUrl};
pub use driver::table_name::TableName;
pub use driver::tracking::{
    AppliedMigration, Placeholders, RowChange, TrackingRow, TrackingSql, Value, COLUMNS,
};
pub use driver::{BoxFuture, Capabilities, Driver, DriverResult, PROBE_AFTER, PROBE_EVERY};
pub use error::{Error, ErrorClass, Result};
pub use manager::{
    backwards, forwards, run_backwards, run_forwards, BackwardsMigrationManager, BackwardsTarget,
    CheckMigrationManager, CleanManager, Confirm, ConfirmRequest, Direction, Event,
    ForwardsMigrationManager, ForwardsTarget, MigrationResult, MigrationStatus, Migrator,
    NoConfirm, NullReporter, Outcome, PlannedMigration, Preload, Reporter, ResolveManager, Status,
};
pub use project::config::{Config, CONFIG_FILE};
pub use project::loader::load_migrations;
pub use project::migration::{
    check_limits, compare_ids, is_valid_id, parse_migration, Migration, Section,
    MAX_DESCRIPTION_LEN, MAX_ID_LEN,
};
pub use project::registry::{validate_app_name, AppConfig, AppRegistry, MAX_APP_NAME_LEN};
pub use project::scaffold::{init_project, new_migration, slugify, INIT_CONFIG};
pub use text::{checksum, seconds_text};
pub use verify::{Verdict, VerifiedMigration, VerifyManager};
