//! A program that applies its migrations at startup: the files of `migrations/` are embedded
//! at build time (`build.rs`, `ferry-build`), so the binary needs no files, and cannot run a
//! stale set: adding, editing or removing a file rebuilds it.
//!
//! `DATABASE_URL` names the SQLite database (default `sqlite:example.db`):
//!
//! ```text
//! cargo run -p ferry-example-embedded
//! DATABASE_URL=sqlite:/tmp/app.db cargo run -p ferry-example-embedded
//! ```

use std::process::ExitCode;

use ferry_core::{Event, TableName};

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
    // `?` turns the driver's error into ferry_core::Error.
    let driver = ferry_driver_sqlite::connect(&url, TableName::default()).await?;

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
