//! Databases on a MySQL or MariaDB server: create, drop, ask whether one exists, and wait
//! for the server to accept connections (`ferry database create|drop|wait`, `ferry
//! verify`'s scratch database, the test suites). Statements run on a connection without a
//! default database; database names are quoted identifiers, never pasted into SQL, and
//! compared as bound parameters.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_core::DriverError> {
//! use ferry_driver_mysql::server::Server;
//! let server = Server::of_url("mysql://root@localhost:3306/app")?;
//! assert_eq!(server.database(), Some("app"));
//! if server.create_database("app").await? {
//!     println!("created");
//! }
//! # Ok(()) }
//! ```

use ferry_core::driver::url::{one_line, quote_ident};
use ferry_core::{DriverError, DriverErrorKind};
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder};

use crate::url::Target;

/// ER_DB_CREATE_EXISTS: the database exists.
const DB_CREATE_EXISTS: &str = "1007";
/// ER_DB_DROP_EXISTS: `DROP DATABASE` of a database that does not exist.
const DB_DROP_EXISTS: &str = "1008";
/// ER_BAD_DB_ERROR: unknown database.
const BAD_DB: &str = "1049";

/// A MySQL or MariaDB server, reached with the credentials and options of a URL.
#[derive(Clone)]
pub struct Server {
    /// The URL's target without a default database.
    admin: Target,
    /// The database the URL names, if any.
    database: Option<String>,
}

impl Server {
    /// The server of `url` (a `mysql://` or `mariadb://` URL; its database is the one
    /// [`Server::database`] returns). Nothing is connected yet.
    pub fn of_url(url: &str) -> Result<Server, DriverError> {
        let mut admin = Target::parse(url)?;
        let database = admin.database.take();
        admin.opts = Opts::from(OptsBuilder::from_opts(admin.opts.clone()).db_name(None::<String>));
        Ok(Server { admin, database })
    }

    /// The database the URL names, if it names one.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// `CREATE DATABASE name`: `true` when it was created, `false` when it already existed.
    pub async fn create_database(&self, name: &str) -> Result<bool, DriverError> {
        match self
            .execute(&format!("CREATE DATABASE {}", quote_ident(name, '`')))
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.code.as_deref() == Some(DB_CREATE_EXISTS) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `DROP DATABASE name`: `true` when it was dropped, `false` when it did not exist.
    /// One connection: a database that does not exist is the server's answer to `DROP`.
    pub async fn drop_database(&self, name: &str) -> Result<bool, DriverError> {
        match self
            .execute(&format!("DROP DATABASE {}", quote_ident(name, '`')))
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.code.as_deref() == Some(DB_DROP_EXISTS) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether database `name` exists.
    pub async fn database_exists(&self, name: &str) -> Result<bool, DriverError> {
        let mut conn = crate::conn::open(&self.admin).await?;
        let found: Result<Option<u8>, _> = conn
            .exec_first(
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (name,),
            )
            .await;
        let _ = conn.disconnect().await;
        found
            .map(|row| row.is_some())
            .map_err(|e| self.error("SELECT FROM information_schema.SCHEMATA", &e))
    }

    /// Run `statement` on a connection of its own.
    async fn execute(&self, statement: &str) -> Result<(), DriverError> {
        let mut conn = crate::conn::open(&self.admin).await?;
        let result = conn.query_drop(statement).await;
        let _ = conn.disconnect().await;
        result.map_err(|e| self.error(statement, &e))
    }

    /// A failed statement, keeping the server's error number.
    fn error(&self, statement: &str, e: &mysql_async::Error) -> DriverError {
        let mut error = crate::error::db_error(e);
        if error.kind != DriverErrorKind::Query {
            error.kind = DriverErrorKind::Query;
        }
        error.message = self
            .admin
            .scrub(&one_line(&format!("{statement}: {}", error.message)));
        error
    }
}

/// Whether the server of `url` accepts a connection now: `Ok` when a connection to the
/// URL's database opens, or when the server answers that this database does not exist
/// (the server is up; `ferry database create` makes the database). Any other failure
/// (refused, no answer, authentication) is the error.
pub async fn accepts_connections(url: &str) -> Result<(), DriverError> {
    let target = Target::parse(url)?;
    match crate::conn::open(&target).await {
        Ok(conn) => {
            let _ = conn.disconnect().await;
            Ok(())
        }
        Err(e) if e.code.as_deref() == Some(BAD_DB) => Ok(()),
        Err(e) => Err(e),
    }
}
