//! Choosing a driver from a database URL. One `#[cfg(feature)]` arm per backend, and a clear
//! error for a backend that was not built in.

use ferry_core::driver::url::Backend;
use ferry_core::{Driver, DriverError, DriverErrorKind, TableName};

/// The backends compiled into this binary.
pub fn compiled_backends() -> Vec<&'static str> {
    let mut list = Vec::new();
    if cfg!(feature = "postgres") {
        list.push(Backend::Postgres.as_str());
    }
    if cfg!(feature = "sqlite") {
        list.push(Backend::Sqlite.as_str());
    }
    if cfg!(feature = "mysql") {
        list.push(Backend::Mysql.as_str());
    }
    list
}

/// The error for a URL whose backend was not compiled in, naming the missing feature.
#[cfg_attr(
    all(feature = "postgres", feature = "sqlite", feature = "mysql"),
    allow(dead_code)
)]
pub(crate) fn not_built(name: &str, feature: &str) -> DriverError {
    DriverError::new(
        DriverErrorKind::Config,
        format!(
            "this ferry was built without {name} support: rebuild with the cargo feature `{feature}` (e.g. `cargo install ferry-cli --features {feature}`); built-in backends: {}",
            compiled_backends().join(", ")
        ),
    )
}

/// What to do about a database that does not exist (SPEC §16.5).
pub const CREATE_HINT: &str = "create it with `ferry database create`";

/// Open a driver for `url`. A database that does not exist
/// ([`DriverErrorKind::DatabaseMissing`]) gets the hint [`CREATE_HINT`].
pub async fn driver_for_url(url: &str, table: TableName) -> Result<Box<dyn Driver>, DriverError> {
    open(url, table).await.map_err(|mut e| {
        if e.kind == DriverErrorKind::DatabaseMissing && e.hint.is_none() {
            e.hint = Some(CREATE_HINT.to_owned());
        }
        e
    })
}

async fn open(url: &str, table: TableName) -> Result<Box<dyn Driver>, DriverError> {
    match Backend::of_url(url) {
        Some(Backend::Postgres) => {
            #[cfg(feature = "postgres")]
            {
                let d = ferry_driver_postgres::connect(url, table).await?;
                Ok(Box::new(d))
            }
            #[cfg(not(feature = "postgres"))]
            {
                let _ = table;
                Err(not_built("PostgreSQL", "postgres"))
            }
        }
        Some(Backend::Mysql) => {
            #[cfg(feature = "mysql")]
            {
                let d = ferry_driver_mysql::connect(url, table).await?;
                Ok(Box::new(d))
            }
            #[cfg(not(feature = "mysql"))]
            {
                let _ = table;
                Err(not_built("MySQL/MariaDB", "mysql"))
            }
        }
        Some(Backend::Sqlite) => {
            #[cfg(feature = "sqlite")]
            {
                let d = ferry_driver_sqlite::connect(url, table).await?;
                Ok(Box::new(d))
            }
            #[cfg(not(feature = "sqlite"))]
            {
                let _ = table;
                Err(not_built("SQLite", "sqlite"))
            }
        }
        None => Err(DriverError::new(
            DriverErrorKind::Config,
            format!(
                "unsupported database URL `{}`: use postgres://, postgresql://, mysql://, mariadb://, sqlite:PATH or sqlite::memory:",
                ferry_core::driver::redact_url(url)
            ),
        )),
    }
}
