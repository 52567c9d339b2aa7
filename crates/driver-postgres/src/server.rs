//! Databases on a PostgreSQL server: create, drop, ask whether one exists, and wait for the
//! server to accept connections (`ferry database create|drop|wait`, `ferry verify`'s scratch
//! database, the test suites). Statements go to the server's maintenance database
//! `postgres`; database names are quoted identifiers, never pasted into SQL, and compared
//! as bound parameters.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_core::DriverError> {
//! use ferry_driver_postgres::server::Server;
//! let server = Server::of_url("postgres://app@localhost:5432/app")?;
//! assert_eq!(server.database(), "app");
//! if server.create_database("app").await? {
//!     println!("created");
//! }
//! # Ok(()) }
//! ```

use ferry_core::driver::url::quote_ident;
use ferry_core::DriverError;

use crate::error::db_error;
use crate::url::Target;

/// SQLSTATE 42P04, `duplicate_database`.
const DUPLICATE_DATABASE: &str = "42P04";
/// SQLSTATE 3D000, `invalid_catalog_name`: the database does not exist.
const UNKNOWN_DATABASE: &str = "3D000";

/// A PostgreSQL server, reached through its maintenance database `postgres` with the
/// credentials and options of a URL.
#[derive(Clone)]
pub struct Server {
    /// The URL's target, its database replaced by `postgres`.
    admin: Target,
    /// The database the URL names.
    database: String,
}

impl Server {
    /// The server of `url` (a `postgres://` URL; its database is the one [`Server::database`]
    /// returns). Nothing is connected yet.
    pub fn of_url(url: &str) -> Result<Server, DriverError> {
        let mut admin = Target::parse(url)?;
        let database = std::mem::replace(&mut admin.database, "postgres".to_owned());
        admin.config.dbname("postgres");
        Ok(Server { admin, database })
    }

    /// The server of `url`, reached through the URL's own database rather than `postgres`
    /// (for a user who may connect only there; the database must exist).
    pub fn via(url: &str) -> Result<Server, DriverError> {
        let admin = Target::parse(url)?;
        Ok(Server {
            database: admin.database.clone(),
            admin,
        })
    }

    /// The database the URL names (its user's name when the URL names none, as in libpq).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// `CREATE DATABASE name`: `true` when it was created, `false` when it already existed.
    pub async fn create_database(&self, name: &str) -> Result<bool, DriverError> {
        match self
            .execute(&format!("CREATE DATABASE {}", quote_ident(name, '"')))
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.sqlstate.as_deref() == Some(DUPLICATE_DATABASE) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `DROP DATABASE name`: `true` when it was dropped, `false` when it did not exist.
    /// With `force`, the server's other connections to it are closed first (`WITH (FORCE)`,
    /// PostgreSQL 13 and later); without, a database in use is not dropped (an error).
    /// One connection: a database that does not exist is the server's answer to `DROP`.
    pub async fn drop_database(&self, name: &str, force: bool) -> Result<bool, DriverError> {
        let statement = format!(
            "DROP DATABASE {}{}",
            quote_ident(name, '"'),
            if force { " WITH (FORCE)" } else { "" }
        );
        match self.execute(&statement).await {
            Ok(()) => Ok(true),
            Err(e) if e.sqlstate.as_deref() == Some(UNKNOWN_DATABASE) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether database `name` exists.
    pub async fn database_exists(&self, name: &str) -> Result<bool, DriverError> {
        let client = crate::conn::open(&self.admin).await?;
        // An unnamed statement, as everywhere in this driver: a named one collides with
        // another client's behind a transaction-mode pooler ("prepared statement "s0"
        // already exists").
        let rows = client
            .query_typed(
                "SELECT 1 FROM pg_database WHERE datname = $1",
                &[(&name, tokio_postgres::types::Type::TEXT)],
            )
            .await
            .map_err(|e| db_error(&e))?;
        Ok(!rows.is_empty())
    }

    /// Run `statement` on a connection of its own to the maintenance database.
    async fn execute(&self, statement: &str) -> Result<(), DriverError> {
        let client = crate::conn::open(&self.admin).await?;
        client
            .batch_execute(statement)
            .await
            .map_err(|e| db_error(&e))
    }
}

/// Whether the server of `url` accepts a connection now: `Ok` when a connection to the
/// URL's database opens, or when the server answers that this database does not exist
/// (the server is up; `ferry database create` makes the database). Any other failure
/// (refused, no answer, starting up, authentication) is the error.
pub async fn accepts_connections(url: &str) -> Result<(), DriverError> {
    let target = Target::parse(url)?;
    match crate::conn::open(&target).await {
        Ok(_) => Ok(()),
        Err(e) if e.sqlstate.as_deref() == Some(UNKNOWN_DATABASE) => Ok(()),
        Err(e) => Err(e),
    }
}
