//! `ferry database create|drop|wait` (SPEC §16.5): the configured database itself. The SQL
//! lives in the drivers (`ferry_driver_postgres::server`, `ferry_driver_mysql::server`,
//! `ferry_driver_sqlite::file`); this module picks one by URL, asks before dropping, and
//! polls for `wait`.

// A build without any backend (xtask's, for man pages) keeps this module's shape.
#![cfg_attr(
    not(any(feature = "postgres", feature = "mysql", feature = "sqlite")),
    allow(unused_variables, unused_imports, dead_code)
)]

use std::time::{Duration, Instant};

use ferry_core::driver::redact_url;
use ferry_core::driver::url::Backend;
use ferry_core::{Confirm, ConfirmRequest, DriverError, Outcome};

use crate::args::DatabaseCommand;
use crate::exit::{Ending, Failure};
use crate::render::{Style, TerminalConfirm};

/// Where the configured database lives, with what creates and drops it.
enum Place {
    /// A build without any backend has no place; [`Place::of_url`] refuses every URL first.
    #[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
    #[allow(dead_code)]
    Nowhere(std::convert::Infallible),
    #[cfg(feature = "postgres")]
    Postgres(Box<ferry_driver_postgres::server::Server>),
    #[cfg(feature = "mysql")]
    Mysql(ferry_driver_mysql::server::Server),
    #[cfg(feature = "sqlite")]
    Sqlite(String),
}

impl Place {
    fn of_url(url: &str) -> Result<Place, Failure> {
        let config = |e: DriverError| Failure::Usage(redact_url(&e.to_string()));
        match Backend::of_url(url) {
            #[cfg(feature = "postgres")]
            Some(Backend::Postgres) => Ok(Place::Postgres(Box::new(
                ferry_driver_postgres::server::Server::of_url(url).map_err(config)?,
            ))),
            #[cfg(feature = "mysql")]
            Some(Backend::Mysql) => Ok(Place::Mysql(
                ferry_driver_mysql::server::Server::of_url(url).map_err(config)?,
            )),
            #[cfg(feature = "sqlite")]
            Some(Backend::Sqlite) => {
                ferry_driver_sqlite::file::database_path(url).map_err(config)?;
                Ok(Place::Sqlite(url.to_owned()))
            }
            #[allow(unreachable_patterns)]
            Some(Backend::Postgres) => Err(config(ferry::not_built(Backend::Postgres))),
            #[allow(unreachable_patterns)]
            Some(Backend::Mysql) => Err(config(ferry::not_built(Backend::Mysql))),
            #[allow(unreachable_patterns)]
            Some(Backend::Sqlite) => Err(config(ferry::not_built(Backend::Sqlite))),
            None => Err(Failure::Usage(format!(
                "unsupported database URL `{}`: use postgres://, postgresql://, mysql://, mariadb:// or sqlite:PATH",
                redact_url(url)
            ))),
        }
    }

    /// The server of `url` reached through `url`'s own database (PostgreSQL; the others as
    /// [`Place::of_url`]): for `verify`, whose base database exists.
    fn via(url: &str) -> Result<Place, Failure> {
        match Backend::of_url(url) {
            #[cfg(feature = "postgres")]
            Some(Backend::Postgres) => Ok(Place::Postgres(Box::new(
                ferry_driver_postgres::server::Server::via(url)
                    .map_err(|e| Failure::Usage(redact_url(&e.to_string())))?,
            ))),
            _ => Place::of_url(url),
        }
    }

    /// The database's name (SQLite: the file's path), for messages and the prompt.
    fn name(&self) -> Result<String, Failure> {
        match self {
            #[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
            Place::Nowhere(never) => match *never {},
            #[cfg(feature = "postgres")]
            Place::Postgres(server) => Ok(server.database().to_owned()),
            #[cfg(feature = "mysql")]
            Place::Mysql(server) => server.database().map(str::to_owned).ok_or_else(|| {
                Failure::Usage(
                    "the database URL names no database: write it as mysql://user@host/DATABASE"
                        .into(),
                )
            }),
            #[cfg(feature = "sqlite")]
            Place::Sqlite(url) => ferry_driver_sqlite::file::database_path(url)
                .map(|p| p.display().to_string())
                .map_err(|e| Failure::Usage(e.to_string())),
        }
    }

    async fn exists(&self, name: &str) -> Result<bool, DriverError> {
        match self {
            #[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
            Place::Nowhere(never) => match *never {},
            #[cfg(feature = "postgres")]
            Place::Postgres(server) => server.database_exists(name).await,
            #[cfg(feature = "mysql")]
            Place::Mysql(server) => server.database_exists(name).await,
            #[cfg(feature = "sqlite")]
            Place::Sqlite(url) => {
                let _ = name;
                ferry_driver_sqlite::file::database_exists(url)
            }
        }
    }

    async fn create(&self, name: &str) -> Result<bool, DriverError> {
        match self {
            #[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
            Place::Nowhere(never) => match *never {},
            #[cfg(feature = "postgres")]
            Place::Postgres(server) => server.create_database(name).await,
            #[cfg(feature = "mysql")]
            Place::Mysql(server) => server.create_database(name).await,
            #[cfg(feature = "sqlite")]
            Place::Sqlite(url) => {
                let _ = name;
                ferry_driver_sqlite::file::create_database(url)
            }
        }
    }

    /// Drop database `name`; `force` closes others' connections to it first (PostgreSQL).
    async fn remove(&self, name: &str, force: bool) -> Result<bool, DriverError> {
        match self {
            #[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
            Place::Nowhere(never) => match *never {},
            #[cfg(feature = "postgres")]
            Place::Postgres(server) => server.drop_database(name, force).await,
            #[cfg(feature = "mysql")]
            Place::Mysql(server) => {
                let _ = force;
                server.drop_database(name).await
            }
            #[cfg(feature = "sqlite")]
            Place::Sqlite(url) => {
                let _ = (name, force);
                ferry_driver_sqlite::file::drop_database(url)
            }
        }
    }

    /// Whether there is a server to wait for (SQLite: no).
    fn has_server(&self) -> bool {
        match self {
            #[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
            Place::Nowhere(never) => match *never {},
            #[cfg(feature = "sqlite")]
            Place::Sqlite(_) => false,
            #[allow(unreachable_patterns)]
            _ => true,
        }
    }

    /// Whether the server accepts a connection now (SQLite: always).
    async fn accepts_connections(&self, url: &str) -> Result<(), DriverError> {
        match self {
            #[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
            Place::Nowhere(never) => match *never {},
            #[cfg(feature = "postgres")]
            Place::Postgres(_) => ferry_driver_postgres::server::accepts_connections(url).await,
            #[cfg(feature = "mysql")]
            Place::Mysql(_) => ferry_driver_mysql::server::accepts_connections(url).await,
            #[cfg(feature = "sqlite")]
            Place::Sqlite(_) => {
                let _ = url;
                Ok(())
            }
        }
    }
}

/// Create database `name` on the server of `base` (a server URL; `verify`'s scratch
/// database), through `base`'s own database on PostgreSQL.
pub(crate) async fn create_on_server(base: &str, name: &str) -> Result<(), Failure> {
    let created = Place::via(base)?.create(name).await.map_err(|mut e| {
        if e.kind == ferry_core::DriverErrorKind::DatabaseMissing {
            // Only the server is needed; its database is not written.
            e.hint = Some(
                "verify needs only a database that exists on the server: give one with --scratch-url (e.g. the server's `postgres` database), or create this one with `ferry database create`".into(),
            );
        }
        Failure::Failed(format!(
            "creating database {name}: {}",
            redact_url(&e.to_string())
        ))
    })?;
    if created {
        Ok(())
    } else {
        Err(Failure::Failed(format!("database {name} exists already")))
    }
}

/// Drop database `name` from the server of `base`, closing others' connections to it.
pub(crate) async fn drop_on_server(base: &str, name: &str) -> Result<(), DriverError> {
    let place = Place::via(base).map_err(|_| {
        DriverError::new(
            ferry_core::DriverErrorKind::Config,
            format!("cannot reach the server of {}", redact_url(base)),
        )
    })?;
    place.remove(name, true).await.map(drop)
}

/// Run `ferry database <command>` on the configured database.
pub(crate) async fn run(
    command: &DatabaseCommand,
    url: &str,
    style: Style,
) -> Result<Ending, Failure> {
    let place = Place::of_url(url)?;
    let failed = |what: &str, e: DriverError| {
        let message = format!("{what}: {}", redact_url(&e.to_string()));
        match e.kind {
            ferry_core::DriverErrorKind::Config => Failure::Usage(message),
            _ => Failure::Failed(message),
        }
    };
    match command {
        DatabaseCommand::Create => {
            let name = place.name()?;
            if place
                .create(&name)
                .await
                .map_err(|e| failed(&format!("creating database {name}"), e))?
            {
                style.info(&format!("created database {name}"));
            } else {
                style.info(&format!("database {name} already exists; nothing to do"));
            }
            Ok(Ending::Printed)
        }
        DatabaseCommand::Drop(a) => {
            let name = place.name()?;
            let exists = place
                .exists(&name)
                .await
                .map_err(|e| failed(&format!("looking for database {name}"), e))?;
            if !exists {
                style.info(&format!("database {name} does not exist; nothing to drop"));
                return Ok(Ending::Printed);
            }
            if !a.auto_agree {
                let agreed = TerminalConfirm.confirm(&ConfirmRequest {
                    question: format!("Drop database {name}?"),
                    items: Vec::new(),
                })?;
                if !agreed {
                    eprintln!("Not proceeding.");
                    return Ok(Ending::Outcome(Outcome::Declined));
                }
            }
            if place
                // Not forced: a database others are connected to is not dropped from under
                // them; the server's error says so.
                .remove(&name, false)
                .await
                .map_err(|e| failed(&format!("dropping database {name}"), e))?
            {
                style.info(&format!("dropped database {name}"));
            } else {
                style.info(&format!("database {name} does not exist; nothing to drop"));
            }
            Ok(Ending::Printed)
        }
        DatabaseCommand::Wait(a) => wait(&place, url, a.timeout, style).await,
    }
}

/// Poll the server with backoff until it accepts a connection or `timeout` seconds pass.
async fn wait(place: &Place, url: &str, timeout: f64, style: Style) -> Result<Ending, Failure> {
    if !place.has_server() {
        style.info("SQLite has no server to wait for");
        return Ok(Ending::Printed);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(timeout);
    let mut pause = Duration::from_millis(100);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // An attempt that hangs (a silent network) is cut at the deadline.
        let attempt = tokio::time::timeout(
            left.max(Duration::from_millis(100)),
            place.accepts_connections(url),
        )
        .await;
        let why = match attempt {
            Ok(Ok(())) => {
                style.info(&format!(
                    "the server of {} accepts connections (after {})",
                    redact_url(url),
                    ferry_core::seconds_text(started.elapsed())
                ));
                return Ok(Ending::Printed);
            }
            Ok(Err(e)) => redact_url(&e.to_string()),
            Err(_) => "no answer".to_owned(),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::Failed(format!(
                "the server of {} did not accept a connection within {}: {why}",
                redact_url(url),
                ferry_core::seconds_text(Duration::from_secs_f64(timeout))
            )));
        }
        if style.verbose {
            eprintln!("waiting: {why}");
        }
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}
