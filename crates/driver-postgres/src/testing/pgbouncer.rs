//! A PgBouncer in transaction pool mode in front of the test server, for tests that run
//! ferry the way it runs behind a transaction pooler.
//!
//! [`PgBouncer::start`] writes a configuration to a temporary directory of its own, runs
//! `pgbouncer` in the foreground on a free port of 127.0.0.1, and waits
//! until a query goes through it. Every database of the test server is reachable through it
//! (a `*` fallback entry), with the user of [`admin_url`](super::admin_url). It runs under a
//! supervisor ([`Supervised`]): dropping the [`PgBouncer`] kills the process, waits for it and
//! removes the directory, and so does the end of the test process when it is not dropped.
//!
//! PgBouncer refuses to run as root: when the tests run as root, it is started with
//! `-u postgres` and its directory is handed to that user.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_core::DriverError> {
//! use ferry_driver_postgres::testing::{self, PgBouncer};
//! let bouncer = PgBouncer::start(2).unwrap_or_else(|e| panic!("{e}"));
//! let name = testing::unique_name("demo");
//! testing::create_database(&name).await?;
//! let url = bouncer.url(&name);
//! // ... connect to `url`, using only simple queries ...
//! testing::drop_database(&name).await?;
//! # Ok(()) }
//! ```

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferry_core::testkit::server::Supervised;
use tokio_postgres::config::Host;

use crate::url::Target;

/// How long [`PgBouncer::start`] waits for one PgBouncer process to accept queries.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How many ports [`PgBouncer::start`] tries when another process takes the free port first.
const PORT_ATTEMPTS: usize = 5;

/// The user PgBouncer runs as when the tests run as root.
const RUN_AS: &str = "postgres";

/// What to tell the reader when PgBouncer cannot be used at all.
const INSTALL_HINT: &str = "install the Debian package pgbouncer (`apt-get install pgbouncer`)";

/// A PgBouncer in transaction pool mode in front of the test server, on a free local port;
/// stopped (killed and waited for) on drop.
///
/// Its configuration: `pool_mode = transaction`, `default_pool_size` as given, trust
/// authentication of the admin URL's user and `root`, no unix socket, no server reset query,
/// and the startup parameters `extra_float_digits` and `options` ignored.
#[derive(Debug)]
pub struct PgBouncer {
    /// The `pgbouncer` process, in the foreground, under a supervisor that removes its
    /// temporary directory (configuration, auth file, logs) once it is gone.
    process: Supervised,
    /// The port it listens on, on 127.0.0.1.
    port: u16,
    /// The user of the admin URL, which [`PgBouncer::url`] logs in as.
    user: String,
}

impl PgBouncer {
    /// Start one with `pool_size` server connections per (database, user) pair. Errors
    /// (binary missing, does not come up within 10 s) are returned as a `String` naming what
    /// to do (`install the Debian package pgbouncer`), with the tail of PgBouncer's log.
    ///
    /// Blocks until the bouncer answers a query. May be called from plain test code and from
    /// within a tokio runtime: the check runs on a thread and runtime of its own.
    pub fn start(pool_size: u32) -> Result<PgBouncer, String> {
        let binary = find_binary()?;
        let admin = Target::parse(&super::try_admin_url()?).map_err(|e| {
            format!(
                "PgBouncer: cannot use the admin URL ({}): {e}",
                super::URL_VAR
            )
        })?;
        let user = admin.config.get_user().unwrap_or("postgres").to_owned();
        let server = server_entry(&admin);
        let run_as_other = is_root();

        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let dir = std::env::temp_dir().join(super::unique_name("pgbouncer"));
            fs::create_dir(&dir)
                .map_err(|e| format!("PgBouncer: cannot create {}: {e}", dir.display()))?;
            let config = dir.join("pgbouncer.ini");
            let written = write_file(&dir.join("users.txt"), &auth_file(&user, &admin))
                .and_then(|()| write_file(&config, &config_file(&dir, &server, port, pool_size)))
                .and_then(|()| {
                    if run_as_other {
                        hand_over(&dir)
                    } else {
                        Ok(())
                    }
                });
            if let Err(e) = written {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
            let mut argv = vec![binary.display().to_string()];
            if run_as_other {
                argv.extend(["-u".to_owned(), RUN_AS.to_owned()]);
            }
            argv.push(config.display().to_string());
            // Under a supervisor: stopped and removed with its directory when dropped, and
            // also when the test process ends without dropping it (killed, or a static).
            let process = Supervised::spawn(&dir, &[], &argv, "KILL")
                .map_err(|e| format!("PgBouncer: {e}"))?;
            let url = bouncer_url(&user, port, &admin.database);
            let failure = match wait_ready(&process, port, &url) {
                Ok(()) => {
                    return Ok(PgBouncer {
                        process,
                        port,
                        user,
                    })
                }
                Err(failure) => failure,
            };
            let log = log_tail(&dir);
            drop(process);
            match failure {
                Failure::Exited(_) if log.contains("Address already in use") => last = log,
                Failure::Exited(status) => {
                    let who = if run_as_other {
                        format!(" as user {RUN_AS}")
                    } else {
                        String::new()
                    };
                    return Err(format!(
                        "PgBouncer exited at start ({status}); check that {} may run{who} and \
                         read its files in the temporary directory ({INSTALL_HINT} if it is \
                         missing); its log ends:\n{log}",
                        binary.display()
                    ));
                }
                Failure::TimedOut(why) => {
                    return Err(format!(
                        "PgBouncer on port {port} did not accept queries within {} s ({why}); \
                         check that the test server ({}) is up; PgBouncer's log ends:\n{log}",
                        START_TIMEOUT.as_secs(),
                        admin.location,
                    ));
                }
            }
        }
        Err(format!(
            "PgBouncer found no free port in {PORT_ATTEMPTS} attempts; its log ends:\n{last}"
        ))
    }

    /// The URL of database `database` through this PgBouncer (the admin URL's user, host
    /// 127.0.0.1, the bouncer's port, `sslmode=disable`).
    ///
    /// Connections through it get a server connection per transaction: named prepared
    /// statements do not survive, so use simple queries on them.
    pub fn url(&self, database: &str) -> String {
        bouncer_url(&self.user, self.port, database)
    }

    /// The port the bouncer listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its temporary directory (configuration, auth file, logs), removed when it stops.
    pub fn dir(&self) -> &Path {
        self.process.dir()
    }
}

/// `postgres://user@127.0.0.1:port/database?sslmode=disable`.
fn bouncer_url(user: &str, port: u16, database: &str) -> String {
    format!(
        "postgres://{}@127.0.0.1:{port}/{}?sslmode=disable",
        encode(user),
        encode(database)
    )
}

/// Wait until `port` accepts a connection and `SELECT 1` through `url` works, as long as
/// `process` runs.
fn wait_ready(process: &Supervised, port: u16, url: &str) -> Result<(), Failure> {
    let deadline = Instant::now() + START_TIMEOUT;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut why = "the port accepted no connection".to_owned();
    loop {
        if let Some(status) = process.exited() {
            return Err(Failure::Exited(format!("exit status {status}")));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::TimedOut(why));
        }
        if TcpStream::connect_timeout(&address, left.min(Duration::from_millis(500))).is_ok() {
            match query_works(url, left) {
                // The answer must be this process's, not that of one that took the port.
                Ok(()) => match process.exited() {
                    None => return Ok(()),
                    Some(status) => return Err(Failure::Exited(format!("exit status {status}"))),
                },
                Err(e) => why = format!("last attempt: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Why one PgBouncer process did not come up.
enum Failure {
    /// It exited, with this status.
    Exited(String),
    /// It ran but answered no query in time; the last reason.
    TimedOut(String),
}

/// Connect to `url` and run `SELECT 1`, within `timeout`, on a thread with a current-thread
/// runtime of its own (so that it works from within a runtime too).
pub(super) fn query_works(url: &str, timeout: Duration) -> Result<(), String> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
        runtime.block_on(async {
            let target = Target::parse(&url).map_err(|e| e.to_string())?;
            let query = async {
                let client = crate::conn::open(&target)
                    .await
                    .map_err(|e| e.to_string())?;
                client
                    .simple_query("SELECT 1")
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            };
            tokio::time::timeout(timeout, query)
                .await
                .map_err(|_| "SELECT 1 timed out".to_owned())?
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the readiness check panicked".to_owned()))
}

/// The `pgbouncer` binary: on `PATH`, else in the usual sbin and bin directories (a
/// non-root `PATH` often lacks `/usr/sbin`, where Debian puts it).
fn find_binary() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/sbin",
                "/usr/local/sbin",
                "/usr/local/bin",
                "/opt/homebrew/bin",
            ]
            .map(PathBuf::from),
        )
        .map(|dir| dir.join("pgbouncer"))
        .find(|file| file.is_file())
        .ok_or_else(|| format!("pgbouncer not found on PATH nor in /usr/sbin: {INSTALL_HINT}"))
}

/// The `[databases]` connection string of the test server: `host=... port=...`.
fn server_entry(admin: &Target) -> String {
    let host = match admin.config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(Host::Unix(dir)) => dir.display().to_string(),
        None => "127.0.0.1".to_owned(),
    };
    let port = admin.config.get_ports().first().copied().unwrap_or(5432);
    format!("host={host} port={port}")
}

/// The auth file: the admin URL's user (with its password, which PgBouncer uses to log in to
/// the server) and `root`.
fn auth_file(user: &str, admin: &Target) -> String {
    let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    let password = admin
        .config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default();
    let mut text = format!("{} {}\n", quote(user), quote(&password));
    if user != "root" {
        text.push_str("\"root\" \"\"\n");
    }
    text
}

/// The configuration file, with its files in `dir`.
fn config_file(dir: &Path, server: &str, port: u16, pool_size: u32) -> String {
    let dir = dir.display();
    format!(
        "[databases]\n\
         * = {server}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = trust\n\
         auth_file = {dir}/users.txt\n\
         pool_mode = transaction\n\
         default_pool_size = {pool_size}\n\
         max_client_conn = 200\n\
         ignore_startup_parameters = extra_float_digits,options\n\
         server_reset_query =\n\
         server_check_delay = 0\n\
         logfile = {dir}/pgbouncer.log\n"
    )
}

/// Write `text` to `path`, readable by everyone (PgBouncer may run as another user).
fn write_file(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o644))
            .map_err(|e| format!("cannot make {} readable: {e}", path.display()))?;
    }
    Ok(())
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))
}

/// Whether this process runs as root (PgBouncer refuses to).
#[cfg(unix)]
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // `/proc/self` belongs to the process's user; elsewhere, ask `id`.
    match fs::metadata("/proc/self") {
        Ok(meta) => meta.uid() == 0,
        Err(_) => id(&["-u"]).is_ok_and(|uid| uid == 0),
    }
}

/// Whether this process runs as root (PgBouncer refuses to).
#[cfg(not(unix))]
fn is_root() -> bool {
    false
}

/// Give `dir` to [`RUN_AS`], so that PgBouncer, once it has switched to that user, may
/// create its log there.
#[cfg(unix)]
fn hand_over(dir: &Path) -> Result<(), String> {
    let unknown = |e: String| {
        format!(
            "PgBouncer refuses to run as root and there is no user `{RUN_AS}` to run it as \
             ({e}): create that user ({INSTALL_HINT} does) or run the tests as another user"
        )
    };
    let uid = id(&["-u", RUN_AS]).map_err(unknown)?;
    let gid = id(&["-g", RUN_AS]).map_err(unknown)?;
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .map_err(|e| format!("cannot give {} to {RUN_AS}: {e}", dir.display()))
}

/// Give `dir` to [`RUN_AS`] (nothing to do off unix).
#[cfg(not(unix))]
fn hand_over(_dir: &Path) -> Result<(), String> {
    Ok(())
}

/// The number `id args` prints.
#[cfg(unix)]
fn id(args: &[&str]) -> Result<u32, String> {
    let output = Command::new("id")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run id: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(ferry_core::driver::url::one_line(&String::from_utf8_lossy(
            &output.stderr,
        )));
    }
    text.trim()
        .parse()
        .map_err(|_| format!("id printed `{}`", text.trim()))
}

/// The last lines of PgBouncer's log file, else of its standard error, for error messages.
fn log_tail(dir: &Path) -> String {
    const LINES: usize = 20;
    // PgBouncer writes every line to both; its standard error alone has what came before
    // the log file was open (such as "Cannot open logfile").
    for name in ["pgbouncer.log", "server.log"] {
        let text = fs::read_to_string(dir.join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if !lines.is_empty() {
            return lines[lines.len().saturating_sub(LINES)..].join("\n");
        }
    }
    "(empty)".to_owned()
}

/// Percent-encode `text` for a URL's user or path.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
