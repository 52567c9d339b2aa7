//! Throwaway database servers for test binaries: a PostgreSQL (`initdb` + `postgres`) or a
//! MariaDB (`mariadb-install-db` + `mariadbd`) of the process's own, in a temporary directory,
//! with durability off (`fsync=off`, `innodb_flush_log_at_trx_commit=0`), on a free port of
//! 127.0.0.1 and a unix socket in that directory.
//!
//! The drivers' `testing` modules start one per test binary (in a `OnceLock`) when
//! `FERRY_TEST_POSTGRES_URL` / `FERRY_TEST_MYSQL_URL` are unset ([`configured`]).
//!
//! **No orphans.** Rust runs no destructor of a static, and a test binary may end by a panic or
//! a signal; so the server runs under a small supervisor (`sh`) whose standard input is a pipe
//! from the test process. Only the test process holds the pipe's write end: when the process
//! ends, however it ends, the kernel closes it, the supervisor reads end-of-file, stops the
//! server (PostgreSQL: `SIGQUIT`, immediate shutdown; MariaDB: `SIGKILL`, the data is thrown
//! away anyway; `SIGKILL` after 10 s) and removes the directory. Dropping a [`Throwaway`]
//! does the same at once. The supervisor runs in a process group of its own, so that a Ctrl-C
//! on the terminal reaches the test process only.
//!
//! **Not as root.** Neither server runs as root: when the tests run as root, the servers run as
//! the system user `postgres` / `mysql` (else `nobody`) through `setpriv`, and the directory is
//! given to that user.
//!
//! **Binaries** are looked up on `PATH`, then in the usual Debian folders
//! (`/usr/lib/postgresql/*/bin`, newest first; `/usr/sbin` for `mariadbd`). A missing one is an
//! error of one line naming the Debian package to install.

use std::fs;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod host;
mod supervisor;

pub use supervisor::Supervised;

use host::{run_as, Binaries, RunAs};

/// How long [`Throwaway::start`] waits for a server to be initialised and to answer.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How many times [`Throwaway::start`] tries again when another process took the port first.
const PORT_ATTEMPTS: usize = 3;

/// The value of environment variable `var` when it is set and not blank: the URL of an existing
/// server to test against instead of a throwaway one.
///
/// ```
/// assert_eq!(ferry_core::testkit::server::configured("FERRY_DOC_NO_SUCH_VAR"), None);
/// ```
pub fn configured(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|url| !url.trim().is_empty())
}

/// Which server to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PostgreSQL: user `postgres` (trust authentication), database `postgres`.
    Postgres,
    /// MariaDB: user `root` without a password (also from 127.0.0.1), database `test`.
    Mariadb,
}

impl Kind {
    /// The server's name in messages.
    fn name(self) -> &'static str {
        match self {
            Kind::Postgres => "PostgreSQL",
            Kind::Mariadb => "MariaDB",
        }
    }

    /// The Debian package that has the server's binaries.
    fn package(self) -> &'static str {
        match self {
            Kind::Postgres => "postgresql",
            Kind::Mariadb => "mariadb-server",
        }
    }

    /// The system user the server runs as when the tests run as root.
    fn system_user(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Mariadb => "mysql",
        }
    }

    /// The prefix of its temporary directory.
    fn prefix(self) -> &'static str {
        match self {
            Kind::Postgres => "pg",
            Kind::Mariadb => "mariadb",
        }
    }
}

/// A server of this process, in a temporary directory of its own; stopped and removed when
/// dropped or when the process ends (see the [module documentation](self)).
#[derive(Debug)]
pub struct Throwaway {
    kind: Kind,
    port: u16,
    dir: PathBuf,
    url: String,
    /// The server under its supervisor.
    process: Supervised,
}

impl Throwaway {
    /// Start a server of `kind` and wait until `ready` succeeds on its URL (a query through the
    /// driver: the port opens before the server takes queries). Errors are one line (plus the
    /// tail of the server's log when it failed), naming the package to install when a binary
    /// is missing.
    pub fn start(
        kind: Kind,
        ready: &dyn Fn(&str) -> Result<(), String>,
    ) -> Result<Throwaway, String> {
        let binaries = Binaries::find(kind)?;
        let user = run_as(kind)?;
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match Self::attempt(kind, &binaries, user.as_ref(), ready) {
                Ok(server) => return Ok(server),
                Err(Attempt::PortTaken(log)) => last = log,
                Err(Attempt::Failed(message)) => return Err(message),
            }
        }
        Err(format!(
            "{}: no free port in {PORT_ATTEMPTS} attempts; its log ends:\n{last}",
            kind.name()
        ))
    }

    /// One start on one free port.
    fn attempt(
        kind: Kind,
        binaries: &Binaries,
        user: Option<&RunAs>,
        ready: &dyn Fn(&str) -> Result<(), String>,
    ) -> Result<Throwaway, Attempt> {
        let failed = |e: String| Attempt::Failed(format!("{}: {e}", kind.name()));
        let dir = std::env::temp_dir().join(crate::scratch::unique_name(kind.prefix()));
        fs::create_dir(&dir)
            .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
        let port = free_port().map_err(failed)?;
        let prepared = prepare(kind, &dir).and_then(|()| {
            if let Some(user) = user {
                user.own(&dir)?;
            }
            Ok(())
        });
        if let Err(e) = prepared {
            let _ = fs::remove_dir_all(&dir);
            return Err(failed(e));
        }
        let (init, server, signal) = commands(kind, binaries, &dir, port);
        let wrap = |argv: Vec<String>| match user {
            Some(user) => user.wrap(argv),
            None => argv,
        };
        let process =
            Supervised::spawn(&dir, &wrap(init), &wrap(server), signal).map_err(failed)?;
        let url = match kind {
            Kind::Postgres => format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            Kind::Mariadb => format!("mysql://root@127.0.0.1:{port}/test"),
        };
        let server = Throwaway {
            kind,
            port,
            dir,
            url,
            process,
        };
        match server.wait_ready(ready) {
            Ok(()) => Ok(server),
            Err(e) => {
                let log = server.log_tail();
                drop(server);
                let taken = [
                    "Address already in use",
                    "could not bind",
                    "Bind on TCP/IP port",
                ];
                if taken.iter().any(|t| log.contains(t)) {
                    Err(Attempt::PortTaken(log))
                } else {
                    Err(Attempt::Failed(format!(
                        "{} in a temporary directory did not come up ({e}); its log ends:\n{log}",
                        kind.name()
                    )))
                }
            }
        }
    }

    /// Wait until the server answers `ready`, while its supervisor says it runs.
    fn wait_ready(&self, ready: &dyn Fn(&str) -> Result<(), String>) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut why = "the port accepted no connection".to_owned();
        loop {
            if let Some(status) = self.process.exited() {
                return Err(format!("it exited with status {status}"));
            }
            if Instant::now() >= deadline {
                return Err(format!("not within {} s: {why}", START_TIMEOUT.as_secs()));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok() {
                match ready(&self.url) {
                    Ok(()) => return Ok(()),
                    Err(e) => why = format!("last attempt: {e}"),
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The error lines and the last lines of its initialisation and server logs, for error
    /// messages.
    fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// The URL of its admin database: `postgres://postgres@127.0.0.1:PORT/postgres` or
    /// `mysql://root@127.0.0.1:PORT/test`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its temporary directory (data, unix socket, logs), removed when it stops.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Which server it is.
    pub fn kind(&self) -> Kind {
        self.kind
    }
}

/// Why one attempt of [`Throwaway::start`] failed.
enum Attempt {
    /// The port was taken between finding it free and binding it; the log's tail.
    PortTaken(String),
    /// Anything else: the whole message.
    Failed(String),
}

/// Files the server needs before it starts: MariaDB's temporary folder (of its own: concurrent
/// installations collide in `/tmp`) and init file (a `root` that may log in from 127.0.0.1
/// without a password, and the database `test`).
fn prepare(kind: Kind, dir: &Path) -> Result<(), String> {
    if kind == Kind::Mariadb {
        let tmp = dir.join("tmp");
        fs::create_dir(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        let file = dir.join("init.sql");
        fs::write(
            &file,
            "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';\n\
             GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n\
             CREATE DATABASE IF NOT EXISTS test;\n",
        )
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    Ok(())
}

/// The initialisation and server command lines, and the signal that stops the server.
fn commands(
    kind: Kind,
    binaries: &Binaries,
    dir: &Path,
    port: u16,
) -> (Vec<String>, Vec<String>, &'static str) {
    let at = |name: &str| dir.join(name).display().to_string();
    let bin = |path: &PathBuf| path.display().to_string();
    let data = at("data");
    match kind {
        Kind::Postgres => (
            vec![
                bin(&binaries.init),
                "-D".into(),
                data.clone(),
                "-U".into(),
                "postgres".into(),
                "-A".into(),
                "trust".into(),
                "-E".into(),
                "UTF8".into(),
                "--locale=C".into(),
                "--no-sync".into(),
            ],
            [
                bin(&binaries.server),
                "-D".into(),
                data,
                "-p".into(),
                port.to_string(),
                "-k".into(),
                dir.display().to_string(),
            ]
            .into_iter()
            .chain(
                [
                    "listen_addresses=127.0.0.1",
                    "fsync=off",
                    "full_page_writes=off",
                    "synchronous_commit=off",
                    "max_connections=200",
                ]
                .into_iter()
                .flat_map(|setting| ["-c".to_owned(), setting.to_owned()]),
            )
            .collect(),
            "QUIT",
        ),
        Kind::Mariadb => (
            vec![
                bin(&binaries.init),
                "--no-defaults".into(),
                format!("--datadir={data}"),
                format!("--tmpdir={}", at("tmp")),
                "--auth-root-authentication-method=normal".into(),
                "--skip-test-db".into(),
                "--skip-name-resolve".into(),
            ],
            vec![
                bin(&binaries.server),
                "--no-defaults".into(),
                format!("--datadir={data}"),
                format!("--tmpdir={}", at("tmp")),
                format!("--socket={}", at("mysqld.sock")),
                format!("--port={port}"),
                "--bind-address=127.0.0.1".into(),
                format!("--pid-file={}", at("mysqld.pid")),
                "--skip-name-resolve".into(),
                format!("--init-file={}", at("init.sql")),
                "--innodb-flush-log-at-trx-commit=0".into(),
                "--sync-binlog=0".into(),
                "--innodb-doublewrite=0".into(),
                "--innodb-use-native-aio=0".into(),
                "--character-set-server=utf8mb4".into(),
                "--collation-server=utf8mb4_general_ci".into(),
                "--max-connections=300".into(),
            ],
            "KILL",
        ),
    }
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| {
            let hint = if e.kind() == ErrorKind::AddrNotAvailable {
                " (is the loopback interface up?)"
            } else {
                ""
            };
            format!("cannot find a free port on 127.0.0.1: {e}{hint}")
        })
}
