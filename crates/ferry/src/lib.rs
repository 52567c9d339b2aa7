//! ferry for programs: apply a program's migrations at startup with one call, on PostgreSQL,
//! SQLite or MySQL/MariaDB, with the same files, IDs, checksums and tracking table as the
//! `ferry` command.
//!
//! In `Cargo.toml`:
//!
//! ```toml
//! [dependencies]
//! ferry = "0.1"          # features `postgres`, `sqlite`, `mysql`: all three by default
//!
//! [build-dependencies]
//! ferry-build = "0.1"
//! ```
//!
//! `build.rs` embeds every migration file of `ferry.toml` (or of named folders), so that
//! adding, editing or removing a file and `cargo build` always gives a program with exactly
//! the files on disk:
//!
//! ```ignore
//! // build.rs
//! fn main() {
//!     ferry_build::Embed::config("ferry.toml").emit();
//! }
//! ```
//!
//! and at startup:
//!
//! ```ignore
//! let applied = ferry::migrate(&database_url, ferry::embedded_migrations!()).await?;
//! println!("{applied}");
//! ```
//!
//! [`migrate`] connects by URL (the scheme picks the backend; one not compiled in is an error
//! naming its cargo feature), applies every pending migration under the migration lock (so
//! that several instances starting at once apply each migration once) and returns what it
//! applied ([`Applied`]). It runs on the caller's tokio runtime.
//!
//! For more control: [`connect`] gives a driver for a URL, [`Embedded::migrator`] a
//! [`Migrator`] to set a reporter, a lock timeout, an [`OutOfOrder`] policy or a confirmation
//! on, and the managers ([`ForwardsMigrationManager`], [`BackwardsMigrationManager`],
//! [`CheckMigrationManager`]) run one command each.
//!
//! A program that already holds a client migrates through it with [`migrate_with`] and takes
//! it back: [`postgres::PostgresDriver::from_client`] (a tokio-postgres `Client`; its
//! connection task stays the program's), [`mysql::MysqlDriver::from_conn`] or
//! [`mysql::MysqlDriver::from_pool`] (mysql_async), [`sqlite::SqliteDriver::from_connection`]
//! (rusqlite). The migration lock belongs to the session, so the client must be a session
//! of its own: a direct connection or a pooler in session mode, not transaction mode.
//!
//! This crate re-exports the application's API of `ferry-core`; what a driver crate needs is
//! in `ferry_core::driver`.

mod applied;
mod connect;

pub use applied::{migrate, migrate_with, Applied};
pub use connect::{backends, connect, feature_of, not_built};

pub use ferry_core::driver::url::Backend;
pub use ferry_core::{
    backwards, embedded, embedded_migrations, forwards, parse_migration, run_backwards,
    run_forwards, AppConfig, AppRegistry, Apps, BackwardsMigrationManager, CheckMigrationManager,
    CleanManager, Config, Confirm, ConfirmRequest, Direction, Driver, DriverError, DriverErrorKind,
    Embedded, Error, ErrorClass, Event, ForwardsMigrationManager, IntoDriver, LockKind,
    LockOptions, Migration, MigrationResult, MigrationSource, MigrationStatus, Migrator, NoConfirm,
    NullReporter, OutOfOrder, Outcome, PlannedMigration, Reporter, ResolveManager, Result, Status,
    TableName, VerifyManager,
};

/// The PostgreSQL driver (`ferry-driver-postgres`, feature `postgres`).
#[cfg(feature = "postgres")]
pub use ferry_driver_postgres as postgres;

/// The MySQL and MariaDB driver (`ferry-driver-mysql`, feature `mysql`).
#[cfg(feature = "mysql")]
pub use ferry_driver_mysql as mysql;

/// The SQLite driver (`ferry-driver-sqlite`, feature `sqlite`).
#[cfg(feature = "sqlite")]
pub use ferry_driver_sqlite as sqlite;
