//! Choosing a driver from a database URL. One `#[cfg(feature)]` arm per backend, and a clear
//! error for a backend that was not built in.

use ferry_core::{Driver, DriverError, DriverErrorKind, TableName};

/// The backends compiled into this binary.
pub fn compiled_backends() -> Vec<&'static str> {
    let mut list = Vec::new();
    if cfg!(feature = "postgres") {
        list.push("postgres");
    }
    if cfg!(feature = "sqlite") {
        list.push("sqlite");
    }
    if cfg!(feature = "mysql") {
        list.push("mysql");
    }
    list
}

/// Which backend a URL names, by its scheme.
pub fn backend_of(url: &str) -> Option<&'static str> {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scheme.as_str() {
        "postgres" | "postgresql" => Some("postgres"),
        "mysql" | "mariadb" => Some("mysql"),
        "sqlite" => Some("sqlite"),
        _ => None,
    }
}

/// The error for a URL whose backend was not compiled in, naming the missing feature.
#[cfg_attr(
    all(feature = "postgres", feature = "sqlite", feature = "mysql"),
    allow(dead_code)
)]
fn not_built(name: &str, feature: &str) -> DriverError {
    DriverError::new(
        DriverErrorKind::Config,
        format!(
            "this ferry was built without {name} support: rebuild with the cargo feature `{feature}` (e.g. `cargo install ferry-cli --features {feature}`); built-in backends: {}",
            compiled_backends().join(", ")
        ),
    )
}

/// Open a driver for `url`.
pub async fn driver_for_url(url: &str, table: TableName) -> Result<Box<dyn Driver>, DriverError> {
    match backend_of(url) {
        Some("postgres") => {
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
        Some("mysql") => {
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
        Some("sqlite") => {
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
        _ => Err(DriverError::new(
            DriverErrorKind::Config,
            format!(
                "unsupported database URL `{}`: use postgres://, postgresql://, mysql://, mariadb://, sqlite:PATH or sqlite::memory:",
                ferry_core::redact_url(url)
            ),
        )),
    }
}
