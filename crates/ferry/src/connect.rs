//! From a database URL to a driver: the scheme picks the backend among those compiled in (the
//! cargo features `postgres`, `sqlite`, `mysql`), and a backend left out is an error naming
//! its feature. The `ferry` command connects through here too.

use ferry_core::driver::redact_url;
use ferry_core::driver::url::Backend;
use ferry_core::{Driver, DriverError, DriverErrorKind, TableName};

/// The backends compiled in (the cargo features `postgres`, `sqlite`, `mysql`), in that order.
///
/// ```
/// assert!(!ferry::backends().is_empty());
/// ```
pub fn backends() -> Vec<Backend> {
    let mut list = Vec::new();
    if cfg!(feature = "postgres") {
        list.push(Backend::Postgres);
    }
    if cfg!(feature = "sqlite") {
        list.push(Backend::Sqlite);
    }
    if cfg!(feature = "mysql") {
        list.push(Backend::Mysql);
    }
    list
}

/// The cargo feature that compiles `backend` in.
pub fn feature_of(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "postgres",
        Backend::Sqlite => "sqlite",
        Backend::Mysql => "mysql",
    }
}

/// The error for a URL whose backend was not compiled in: kind
/// [`DriverErrorKind::Config`], naming the missing feature and the backends built in.
///
/// ```
/// use ferry::Backend;
/// let e = ferry::not_built(Backend::Mysql);
/// assert!(e.message.contains("`mysql`"), "{}", e.message);
/// ```
pub fn not_built(backend: Backend) -> DriverError {
    let name = match backend {
        Backend::Postgres => "PostgreSQL",
        Backend::Sqlite => "SQLite",
        Backend::Mysql => "MySQL/MariaDB",
    };
    let feature = feature_of(backend);
    let built: Vec<&str> = backends().iter().map(|b| b.as_str()).collect();
    DriverError::new(
        DriverErrorKind::Config,
        format!(
            "this ferry was built without {name} support: rebuild with the cargo feature `{feature}` (e.g. `cargo install ferry-cli --features {feature}`, or `features = [\"{feature}\"]` on the `ferry` dependency); built-in backends: {}",
            if built.is_empty() { "none".to_owned() } else { built.join(", ") }
        ),
    )
}

/// Open a driver for `url` with the tracking table `table` (usually
/// [`TableName::default`], `ferry_migrations`): `postgres://` and `postgresql://`,
/// `mysql://` and `mariadb://`, `sqlite:PATH` and `sqlite::memory:`. Each driver's URL
/// options apply (`sslmode`, `connect_timeout`, `?mode=ro`, ...).
///
/// Errors: [`DriverErrorKind::Config`] for another scheme (the URL shown without its
/// password) or a backend not compiled in ([`not_built`]); the driver's connection errors
/// otherwise (a database that does not exist has [`DriverErrorKind::DatabaseMissing`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let e = ferry::connect("redis://u:secret@host/0", Default::default()).await.err().unwrap();
/// assert!(e.message.contains("unsupported database URL"));
/// assert!(!e.message.contains("secret"));
/// # }
/// ```
pub async fn connect(url: &str, table: TableName) -> Result<Box<dyn Driver>, DriverError> {
    let Some(backend) = Backend::of_url(url) else {
        return Err(DriverError::new(
            DriverErrorKind::Config,
            format!(
                "unsupported database URL `{}`: use postgres://, postgresql://, mysql://, mariadb://, sqlite:PATH or sqlite::memory:",
                redact_url(url)
            ),
        ));
    };
    match backend {
        Backend::Postgres => {
            #[cfg(feature = "postgres")]
            {
                let d = ferry_driver_postgres::connect(url, table).await?;
                Ok(Box::new(d))
            }
            #[cfg(not(feature = "postgres"))]
            {
                let _ = table;
                Err(not_built(backend))
            }
        }
        Backend::Mysql => {
            #[cfg(feature = "mysql")]
            {
                let d = ferry_driver_mysql::connect(url, table).await?;
                Ok(Box::new(d))
            }
            #[cfg(not(feature = "mysql"))]
            {
                let _ = table;
                Err(not_built(backend))
            }
        }
        Backend::Sqlite => {
            #[cfg(feature = "sqlite")]
            {
                let d = ferry_driver_sqlite::connect(url, table).await?;
                Ok(Box::new(d))
            }
            #[cfg(not(feature = "sqlite"))]
            {
                let _ = table;
                Err(not_built(backend))
            }
        }
    }
}
