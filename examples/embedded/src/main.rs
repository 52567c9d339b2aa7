//! A program that applies its migrations at startup: the files of `migrations/` are embedded
//! at build time (`build.rs`, `ferry-build`), so the binary needs no files, and cannot run a
//! stale set: adding, editing or removing a file rebuilds it.
//!
//! `DATABASE_URL` names the database (default `sqlite:example.db`); PostgreSQL and MySQL
//! URLs work with the features `postgres` and `mysql`:
//!
//! ```text
//! cargo run -p ferry-example-embedded
//! DATABASE_URL=sqlite:/tmp/app.db cargo run -p ferry-example-embedded
//! DATABASE_URL=postgres://localhost/app cargo run -p ferry-example-embedded --features postgres
//! ```

use std::process::ExitCode;

use ferry_core::driver::url::Backend;
use ferry_core::{Driver, Event, TableName};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match migrate().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate() -> ferry_core::Result<()> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite:example.db".into());
    let driver = connect(&url).await?;

    // The one call is `ferry_core::embedded_migrations!().migrate(driver).await?`; this one
    // also prints ferry's warnings (a changed or out-of-order migration).
    let mut migrator = ferry_core::embedded_migrations!()
        .migrator(driver)?
        .with_reporter(|event: Event<'_>| {
            if let Event::Warning(text) = event {
                eprintln!("warning: {text}");
            }
        });
    let result = migrator.forwards_all().await?;

    if result.migrations.is_empty() {
        println!("up to date");
    }
    for m in &result.migrations {
        println!(
            "applied {} {} {}",
            m.app_name, m.migration_id, m.description
        );
    }
    Ok(())
}

/// A driver for `url`, chosen by its scheme among the backends built in.
async fn connect(url: &str) -> ferry_core::Result<Box<dyn Driver>> {
    let table = TableName::default();
    // `?` turns a driver's error into ferry_core::Error.
    Ok(match Backend::of_url(url) {
        #[cfg(feature = "postgres")]
        Some(Backend::Postgres) => Box::new(ferry_driver_postgres::connect(url, table).await?),
        #[cfg(feature = "mysql")]
        Some(Backend::Mysql) => Box::new(ferry_driver_mysql::connect(url, table).await?),
        _ => Box::new(ferry_driver_sqlite::connect(url, table).await?),
    })
}
