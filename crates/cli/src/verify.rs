//! `ferry verify` (SPEC §9): the scratch database around core's [`VerifyManager`]. It is
//! created here and always dropped: after the run, after a failure, and on Ctrl-C (exit 130);
//! `--keep` leaves it and prints its URL.

use ferry_core::url::{quote_ident, with_database, Backend};
use ferry_core::{
    redact_url, Config, Driver, Migrator, TableName, VerifiedMigration, VerifyManager,
};

use crate::args::{Format, GlobalOpts, VerifyArgs};
use crate::exit::{Ending, Failure};
use crate::render::{out, Style};

/// A scratch database: where it is, and how to get rid of it.
enum Scratch {
    /// A temporary SQLite file (and its journal files).
    File(std::path::PathBuf),
    /// A database created on a server, dropped through `admin`, a connection to that server.
    Server {
        admin: Box<dyn Driver>,
        name: String,
        backend: Backend,
    },
}

impl Scratch {
    /// Create one on the server of `base` (or a temporary SQLite file for an SQLite URL).
    async fn create(base: &str) -> Result<(Scratch, String), Failure> {
        let token = ferry_core::lease_owner()
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let name = format!("ferry_verify_{token}");
        let backend = Backend::of_url(base).ok_or_else(|| {
            Failure::Usage(format!(
                "unsupported database URL `{}`: use postgres://, mysql:// or sqlite:",
                redact_url(base)
            ))
        })?;
        if backend == Backend::Sqlite {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            let url = format!("sqlite:{}", path.display());
            return Ok((Scratch::File(path), url));
        }
        let mut admin = crate::drivers::driver_for_url(base, TableName::default())
            .await
            .map_err(|mut e| {
                if e.kind == ferry_core::DriverErrorKind::DatabaseMissing {
                    // Only the server is needed; its database is not written.
                    e.hint = Some(
                        "verify needs only a database that exists on the server: give one with --scratch-url (e.g. the server's `postgres` database), or create this one with `ferry database create`".into(),
                    );
                }
                failed("connecting to the scratch server", &e)
            })?;
        let quote = if backend == Backend::Mysql { '`' } else { '"' };
        admin
            .execute(
                &format!("CREATE DATABASE {}", quote_ident(&name, quote)),
                true,
            )
            .await
            .map_err(|e| failed("creating the scratch database", &e))?;
        let url = with_database(base, &name).ok_or_else(|| {
            Failure::Usage(format!(
                "cannot name a database in the URL `{}`; use a URL of the form scheme://user@host/database",
                redact_url(base)
            ))
        })?;
        Ok((
            Scratch::Server {
                admin,
                name,
                backend,
            },
            url,
        ))
    }

    /// Drop it; a failure is reported, not fatal (the database's name says what to drop).
    async fn drop(self, style: Style) {
        match self {
            Scratch::File(path) => {
                for suffix in ["", "-journal", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Scratch::Server {
                mut admin,
                name,
                backend,
            } => {
                let statement = match backend {
                    Backend::Mysql => {
                        format!("DROP DATABASE IF EXISTS {}", quote_ident(&name, '`'))
                    }
                    _ => format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        quote_ident(&name, '"')
                    ),
                };
                if let Err(e) = admin.execute(&statement, true).await {
                    style.warn(&format!(
                        "could not drop the scratch database {name}: {}; drop it by hand",
                        redact_url(&e.to_string())
                    ));
                }
            }
        }
    }
}

fn failed(context: &str, e: &ferry_core::DriverError) -> Failure {
    Failure::Failed(format!("{context}: {}", redact_url(&e.to_string())))
}

/// Run `ferry verify`.
pub(crate) async fn run(
    a: &VerifyArgs,
    g: &GlobalOpts,
    config: &Config,
    style: Style,
) -> Result<Ending, Failure> {
    let app = a.app.clone().unwrap_or_else(|| "all".to_owned());
    // File errors stop everything before a scratch database exists (exit 2).
    for app in config.registry.apps() {
        app.migrations()?;
    }
    // Listen for Ctrl-C from now on (the task registers the handler as soon as it runs), so
    // that an interrupt while the scratch database exists always drops it.
    let mut interrupted = tokio::spawn(tokio::signal::ctrl_c());
    let base = match &a.scratch_url {
        Some(url) => url.clone(),
        None => crate::database_url(g, config)?,
    };
    let (scratch, url) = Scratch::create(&base).await?;
    if style.verbose {
        eprintln!("scratch database: {}", redact_url(&url));
    }
    let run = async {
        let driver = crate::drivers::driver_for_url(&url, TableName::default())
            .await
            .map_err(|e| failed("connecting to the scratch database", &e))?;
        let mut migrator = Migrator::new(config.registry.clone(), driver);
        VerifyManager::new(&app)
            .run(&mut migrator)
            .await
            .map_err(Failure::from)
    };
    let interrupt = async {
        match (&mut interrupted).await {
            Ok(Ok(())) => {}
            // No handler could be installed: never interrupted this way.
            _ => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        result = run => Some(result),
        () = interrupt => None,
    };
    interrupted.abort();
    if a.keep {
        out(&format!("{}\n", redact_url(&url)));
    } else {
        scratch.drop(style).await;
    }
    let Some(results) = outcome else {
        return Err(Failure::Interrupted(
            "interrupted; the scratch database was dropped".into(),
        ));
    };
    let results = results?;
    match a.format {
        Format::Json => out(&format!("{}\n", json(&results))),
        Format::Table => out(&table(&results)),
    }
    if style.verbose {
        let total: std::time::Duration = results.iter().map(|r| r.duration).sum();
        let snapshots: std::time::Duration = results.iter().map(|r| r.snapshot_time).sum();
        let whole: u64 = results.iter().map(|r| r.whole_snapshots).sum();
        eprintln!(
            "time: {} ms over {} migrations, {} ms of it in schema snapshots ({whole} read whole, the others only where the schema changed)",
            total.as_millis(),
            results.len(),
            snapshots.as_millis()
        );
    }
    let failures = results.iter().filter(|r| r.verdict.is_failure()).count();
    if failures > 0 {
        return Err(Failure::Failed(format!(
            "{failures} of {} migration{} failed verification",
            results.len(),
            if results.len() == 1 { "" } else { "s" }
        )));
    }
    style.info(&format!(
        "verified {} migration{}: every down undoes its up",
        results.len(),
        if results.len() == 1 { "" } else { "s" }
    ));
    Ok(Ending::Printed)
}

/// One line per migration, then its differences indented.
fn table(results: &[VerifiedMigration]) -> String {
    let mut text = String::new();
    for r in results {
        text.push_str(&format!(
            "{} {} {}: {} ({} ms)\n",
            r.app_name,
            r.migration_id,
            r.description,
            r.verdict.as_str(),
            r.duration_ms
        ));
        for d in &r.differences {
            text.push_str(&format!("    {d}\n"));
        }
    }
    text
}

fn json(results: &[VerifiedMigration]) -> serde_json::Value {
    let migrations: Vec<_> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "app_name": r.app_name,
                "migration_id": r.migration_id,
                "description": r.description,
                "verdict": r.verdict.as_str(),
                "duration_ms": r.duration_ms,
                "differences": r.differences.iter().map(|d| serde_json::json!({
                    "object": d.object,
                    "name": d.name,
                    "property": d.property,
                    "before": d.before,
                    "after": d.after,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({ "migrations": migrations })
}
