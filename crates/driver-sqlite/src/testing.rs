//! Helpers for tests that need an SQLite database of their own (this crate's tests and the
//! CLI's test suite).
//!
//! The server drivers' `testing` modules create and drop uniquely named databases on a test
//! server named by an environment variable. SQLite needs neither: a test's database is a file
//! in the test's own temporary folder, which the driver creates on its first write and which
//! goes away with the folder.
//!
//! ```
//! # async fn demo() -> Result<(), ferry_core::DriverError> {
//! use ferry_core::{Driver, TableName};
//! let dir = std::env::temp_dir(); // in a test: a fresh temporary folder
//! let url = ferry_driver_sqlite::testing::database_url(&dir, "demo");
//! let mut driver = ferry_driver_sqlite::connect(&url, TableName::default()).await?;
//! assert!(!driver.table_exists().await?);
//! # Ok(()) }
//! ```

use std::path::Path;

/// The URL of the database file `NAME.db` in `dir`. Nothing is created.
///
/// ```
/// use std::path::Path;
/// use ferry_driver_sqlite::testing::database_url;
/// assert_eq!(database_url(Path::new("/tmp/t"), "app"), "sqlite:/tmp/t/app.db");
/// ```
pub fn database_url(dir: &Path, name: &str) -> String {
    format!("sqlite:{}", dir.join(format!("{name}.db")).display())
}
