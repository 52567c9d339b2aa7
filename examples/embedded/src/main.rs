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

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite:example.db".into());
    // The one call: connect by URL, apply what is pending under the migration lock, and say
    // what was applied (and ferry's warnings: a changed or out-of-order migration).
    match ferry::migrate(&url, ferry::embedded_migrations!()).await {
        Ok(applied) => {
            println!("{applied}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
