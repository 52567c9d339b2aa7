//! Scratch databases (SPEC §9.1), for `verify`, `drift` and `lint`: created by ferry on the
//! server of the configured URL (or of `--scratch-url`; a temporary file for SQLite) and
//! always dropped, after the run, after a failure, on Ctrl-C (exit 130), and on SIGTERM or
//! SIGHUP (a CI job cancelled, a terminal closed: exit 143 or 129, as the signal would).
//! [`with_scratch`] is the whole life of one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use ferry_core::driver::redact_url;
use ferry_core::driver::url::{with_database, Backend};
use ferry_core::{Driver, TableName};

use crate::exit::Failure;
use crate::render::{out, Style};

/// Create a scratch database on the server of `base` (named `<prefix>_<random>`), connect to
/// it with `table` as the tracking table, run `body` on that connection, and drop the
/// database (`keep`: leave it and print its URL on stdout, password redacted). Ctrl-C while
/// it exists ends `body`, drops it and fails with [`Failure::Interrupted`] (exit 130). `-v`
/// prints the scratch database's URL.
pub(crate) async fn with_scratch<T>(
    base: &str,
    prefix: &str,
    keep: bool,
    table: TableName,
    style: Style,
    body: impl AsyncFnOnce(Box<dyn Driver>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    // Listen for Ctrl-C, SIGTERM and SIGHUP from now on (the tasks register the handlers as
    // soon as they run), so that a signal while the scratch database exists always drops it.
    let mut interrupted = tokio::spawn(tokio::signal::ctrl_c());
    let mut terminated = termination();
    let active = Active::enter();
    let (scratch, url) = Scratch::create(base, prefix).await?;
    if style.verbose {
        eprintln!("scratch database: {}", redact_url(&url));
    }
    let run = async {
        let driver = crate::drivers::driver_for_url(&url, table)
            .await
            .map_err(|e| failed("connecting to the scratch database", &e))?;
        body(driver).await
    };
    let interrupt = async {
        match (&mut interrupted).await {
            Ok(Ok(())) => {}
            // No handler could be installed: never interrupted this way.
            _ => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        result = run => Ended::Ran(result),
        () = interrupt => Ended::Interrupted,
        Ok(()) = terminated.changed() => Ended::Terminated,
    };
    interrupted.abort();
    if keep {
        out(&format!("{}\n", redact_url(&url)));
    } else {
        scratch.drop(style).await;
    }
    drop(active);
    // A signal while the scratch database was dropped, or just before: now that it is gone,
    // end as the signal would.
    if let Some(code) = *terminated.borrow() {
        eprintln!("terminated; the scratch database was dropped");
        std::process::exit(code);
    }
    match outcome {
        Ended::Ran(result) => result,
        Ended::Interrupted => Err(Failure::Interrupted(
            "interrupted; the scratch database was dropped".into(),
        )),
        Ended::Terminated => unreachable!("a termination exits above"),
    }
}

/// How the life of a scratch database ended.
enum Ended<T> {
    Ran(Result<T, Failure>),
    Interrupted,
    /// By SIGTERM or SIGHUP.
    Terminated,
}

/// Scratch databases alive now: a termination signal waits for them to be dropped.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// One scratch database alive, for as long as it lives.
struct Active;

impl Active {
    fn enter() -> Active {
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The exit code of a SIGTERM (143) or SIGHUP (129) that arrived, once one did. The handlers
/// are installed by the first call and stay for the life of the process (tokio cannot remove
/// them): a signal while no scratch database exists ends the process at once, as it would
/// have without them; while one exists, the caller drops it first.
fn termination() -> tokio::sync::watch::Receiver<Option<i32>> {
    static SIGNALLED: OnceLock<tokio::sync::watch::Receiver<Option<i32>>> = OnceLock::new();
    SIGNALLED
        .get_or_init(|| {
            let (tell, told) = tokio::sync::watch::channel(None);
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                if let (Ok(mut term), Ok(mut hup)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::hangup()),
                ) {
                    tokio::spawn(async move {
                        loop {
                            let code = tokio::select! {
                                _ = term.recv() => 143,
                                _ = hup.recv() => 129,
                            };
                            if ACTIVE.load(Ordering::SeqCst) == 0 {
                                std::process::exit(code);
                            }
                            let _ = tell.send(Some(code));
                        }
                    });
                }
            }
            #[cfg(not(unix))]
            drop(tell);
            told
        })
        .clone()
}

/// A scratch database: where it is, and how to get rid of it.
pub(crate) enum Scratch {
    /// A temporary SQLite file (and its journal files).
    File(std::path::PathBuf),
    /// A database created on the server of `base`, dropped there (through the drivers'
    /// `server` modules, [`crate::database`]).
    Server { base: String, name: String },
}

impl Scratch {
    /// Create one on the server of `base` (or a temporary SQLite file for an SQLite URL),
    /// named `<prefix>_<random>`.
    pub(crate) async fn create(base: &str, prefix: &str) -> Result<(Scratch, String), Failure> {
        let token = ferry_core::driver::lease_owner()
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let name = format!("{prefix}_{token}");
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
        crate::database::create_on_server(base, &name).await?;
        let url = with_database(base, &name).ok_or_else(|| {
            Failure::Usage(format!(
                "cannot name a database in the URL `{}`; use a URL of the form scheme://user@host/database",
                redact_url(base)
            ))
        })?;
        Ok((
            Scratch::Server {
                base: base.to_owned(),
                name,
            },
            url,
        ))
    }

    /// Drop it; a failure is reported, not fatal (the database's name says what to drop).
    pub(crate) async fn drop(self, style: Style) {
        match self {
            Scratch::File(path) => {
                for suffix in ["", "-journal", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Scratch::Server { base, name } => {
                if let Err(e) = crate::database::drop_on_server(&base, &name).await {
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
