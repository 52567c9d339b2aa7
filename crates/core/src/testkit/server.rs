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
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// A process under a supervisor (see the [module documentation](self)): `init`, then the
/// process itself, with their output in `init.log` and `server.log` of a directory that the
/// supervisor removes once it has stopped the process: when this is dropped, or when the test
/// process ends, however it ends. For the throwaway servers, and for other helpers that must
/// not outlive the test process (such as a PgBouncer).
#[derive(Debug)]
pub struct Supervised {
    dir: PathBuf,
    /// The supervisor; its standard input is the pipe whose end stops the process.
    supervisor: Child,
}

impl Supervised {
    /// Run `init` (nothing when empty), then, when it succeeds, `process` under a supervisor
    /// in `dir` (which must exist; the supervisor removes it at the end). When the test process
    /// ends or this is dropped, the process gets `signal` (such as `TERM`), then `KILL` after
    /// 10 s. Errors when `sh` cannot run.
    pub fn spawn(
        dir: &Path,
        init: &[String],
        process: &[String],
        signal: &str,
    ) -> Result<Supervised, String> {
        let script = supervisor_script(dir, init, process, signal);
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match group_of_its_own(&mut command).spawn() {
            Ok(supervisor) => Ok(Supervised {
                dir: dir.to_owned(),
                supervisor,
            }),
            Err(e) => {
                let _ = fs::remove_dir_all(dir);
                Err(format!("cannot run sh: {e}"))
            }
        }
    }

    /// The exit status of `init` when it failed, or of the process when it ended (or
    /// `signal N`); `None` while it runs.
    pub fn exited(&self) -> Option<String> {
        fs::read_to_string(self.dir.join("exited"))
            .ok()
            .map(|status| match status.trim().parse::<u32>() {
                Ok(code) if code > 128 => format!("signal {}", code - 128),
                _ => status.trim().to_owned(),
            })
    }

    /// The error lines and the last lines of `init.log` and `server.log`, for error messages.
    pub fn log_tail(&self) -> String {
        const LINES: usize = 10;
        let mut out = Vec::new();
        for name in ["init.log", "server.log"] {
            let text = fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = lines.len().saturating_sub(LINES);
            let errors = lines[..tail]
                .iter()
                .filter(|l| ["ERROR", "FATAL", "error"].iter().any(|e| l.contains(e)))
                .take(5);
            out.extend(
                errors
                    .chain(&lines[tail..])
                    .map(|l| format!("  {name}: {l}")),
            );
        }
        if out.is_empty() {
            "(empty)".to_owned()
        } else {
            out.join("\n")
        }
    }

    /// The directory (removed when the process has stopped).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Supervised {
    /// Close the supervisor's standard input and wait until it has stopped the process and
    /// removed the directory.
    fn drop(&mut self) {
        drop(self.supervisor.stdin.take());
        let _ = self.supervisor.wait();
    }
}

/// Why one attempt of [`Throwaway::start`] failed.
enum Attempt {
    /// The port was taken between finding it free and binding it; the log's tail.
    PortTaken(String),
    /// Anything else: the whole message.
    Failed(String),
}

/// The server's binaries.
struct Binaries {
    /// `initdb` / `mariadb-install-db`.
    init: PathBuf,
    /// `postgres` / `mariadbd`.
    server: PathBuf,
}

impl Binaries {
    /// Look them up (see the module documentation).
    fn find(kind: Kind) -> Result<Binaries, String> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let on_path: Vec<PathBuf> = std::env::split_paths(&path).collect();
        let missing = |names: &str, folders: &str| {
            format!(
                "{names} not found on PATH nor in {folders}: install the Debian package {} \
                 (`apt-get install {}`), or set {} to the URL of a running server",
                kind.package(),
                kind.package(),
                match kind {
                    Kind::Postgres => "FERRY_TEST_POSTGRES_URL",
                    Kind::Mariadb => "FERRY_TEST_MYSQL_URL",
                }
            )
        };
        match kind {
            Kind::Postgres => {
                // Both from one folder, so that their versions match: Debian puts only
                // wrappers on PATH, and `initdb` not even that.
                let mut folders = on_path;
                folders.extend(postgres_folders());
                folders
                    .into_iter()
                    .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
                    .map(|dir| Binaries {
                        init: dir.join("initdb"),
                        server: dir.join("postgres"),
                    })
                    .ok_or_else(|| missing("initdb and postgres", "/usr/lib/postgresql/*/bin"))
            }
            Kind::Mariadb => {
                let find = |name: &str, extra: &[&str]| {
                    on_path
                        .iter()
                        .cloned()
                        .chain(extra.iter().map(PathBuf::from))
                        .map(|dir| dir.join(name))
                        .find(|file| file.is_file())
                };
                let folders = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];
                match (
                    find("mariadb-install-db", &folders),
                    find("mariadbd", &folders),
                ) {
                    (Some(init), Some(server)) => Ok(Binaries { init, server }),
                    _ => Err(missing(
                        "mariadb-install-db and mariadbd",
                        "/usr/sbin and /usr/bin",
                    )),
                }
            }
        }
    }
}

/// `/usr/lib/postgresql/*/bin`, newest version first.
fn postgres_folders() -> Vec<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// The user to run the server as, when this process runs as root.
struct RunAs {
    name: String,
    uid: u32,
    gid: u32,
}

impl RunAs {
    /// `argv` run as this user, through `setpriv`.
    fn wrap(&self, argv: Vec<String>) -> Vec<String> {
        let mut out = vec![
            "setpriv".to_owned(),
            format!("--reuid={}", self.uid),
            format!("--regid={}", self.gid),
            "--init-groups".to_owned(),
            "--".to_owned(),
        ];
        out.extend(argv);
        out
    }

    /// Give `dir` and the files in it to this user.
    fn own(&self, dir: &Path) -> Result<(), String> {
        let give = |path: &Path| {
            chown(path, self.uid, self.gid)
                .map_err(|e| format!("cannot give {} to {}: {e}", path.display(), self.name))
        };
        give(dir)?;
        for entry in fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))? {
            give(&entry.map_err(|e| e.to_string())?.path())?;
        }
        Ok(())
    }
}

/// Put `command` in a process group of its own (a Ctrl-C on the terminal then reaches the test
/// process only).
#[cfg(unix)]
fn group_of_its_own(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    command.process_group(0)
}

/// Nothing to do off unix.
#[cfg(not(unix))]
fn group_of_its_own(command: &mut Command) -> &mut Command {
    command
}

/// Give `path` to `uid` and `gid`.
#[cfg(unix)]
fn chown(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
}

/// Nothing to do off unix.
#[cfg(not(unix))]
fn chown(_path: &Path, _uid: u32, _gid: u32) -> std::io::Result<()> {
    Ok(())
}

/// `None` unless this process runs as root; then the kind's system user, else `nobody`.
fn run_as(kind: Kind) -> Result<Option<RunAs>, String> {
    if cfg!(not(unix)) || id(&["-u"])? != 0 {
        return Ok(None);
    }
    if which("setpriv").is_none() {
        return Err(format!(
            "{} refuses to run as root, and setpriv (to run it as another user) is missing: \
             install the Debian package util-linux, or run the tests as another user",
            kind.name()
        ));
    }
    for name in [kind.system_user(), "nobody"] {
        if let (Ok(uid), Ok(gid)) = (id(&["-u", name]), id(&["-g", name])) {
            return Ok(Some(RunAs {
                name: name.to_owned(),
                uid,
                gid,
            }));
        }
    }
    Err(format!(
        "{} refuses to run as root and there is neither a user `{}` nor `nobody` to run it as",
        kind.name(),
        kind.system_user()
    ))
}

/// `name` on `PATH`, else in `/usr/bin` or `/bin`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

/// The number `id ARGS` prints.
fn id(args: &[&str]) -> Result<u32, String> {
    let output = Command::new("id")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run id: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(crate::url::one_line(&String::from_utf8_lossy(
            &output.stderr,
        )));
    }
    text.trim()
        .parse()
        .map_err(|_| format!("id printed `{}`", text.trim()))
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

/// The supervisor's script: runs `init`, then `server` in the background; when its standard input ends
/// (the test process closed it or is gone), stops the server with `signal` (then `KILL` after
/// 10 s) and removes `dir`. Writes `dir/exited` (the status) when the initialisation or the
/// server ends, so that the test process sees a failed start at once.
fn supervisor_script(dir: &Path, init: &[String], server: &[String], signal: &str) -> String {
    let quote = |text: &str| format!("'{}'", text.replace('\'', r"'\''"));
    let line = |argv: &[String]| argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
    let init = if init.is_empty() {
        "true".to_owned()
    } else {
        line(init)
    };
    format!(
        r#"trap '' INT HUP QUIT TERM
dir={dir}
exec 3<&0 </dev/null
{{
  while read -r _ <&3; do :; done
  : > "$dir/closed"
  while [ ! -e "$dir/exited" ]; do
    if [ -s "$dir/server.pid" ]; then
      pid=$(cat "$dir/server.pid")
      kill -{signal} "$pid" 2>/dev/null
      i=0
      while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
      kill -KILL "$pid" 2>/dev/null
      break
    fi
    sleep 0.1
  done
}} &
watcher=$!
exec 3<&-
status=0
if {init} >"$dir/init.log" 2>&1; then
  if [ ! -e "$dir/closed" ]; then
    {server} >"$dir/server.log" 2>&1 &
    echo $! > "$dir/server.pid.new" && mv "$dir/server.pid.new" "$dir/server.pid"
    wait $!
    status=$?
  fi
else
  status=$?
fi
echo "$status" > "$dir/exited"
wait "$watcher"
rm -rf "$dir"
"#,
        dir = quote(&dir.display().to_string()),
        init = init,
        server = line(server),
    )
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The command line of process `pid`, if it runs.
    fn command_line(pid: &str) -> Option<String> {
        fs::read(format!("/proc/{pid}/cmdline"))
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
    }

    /// Dropping a [`Supervised`] stops its process (one that ignores `TERM` gets `KILL`) and
    /// removes its directory; a failing init is reported and starts nothing.
    #[test]
    fn supervised_process_stops_and_its_directory_goes() {
        let dir = std::env::temp_dir().join(crate::scratch::unique_name("supervised"));
        fs::create_dir(&dir).unwrap();
        // A process that ignores TERM.
        let argv = ["sh", "-c", "trap '' TERM; exec sleep 600"].map(str::to_owned);
        let process = Supervised::spawn(&dir, &[], &argv, "TERM").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dir.join("server.pid").exists() {
            assert!(Instant::now() < deadline, "the process did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(process.exited(), None);
        let pid = fs::read_to_string(dir.join("server.pid")).unwrap();
        let pid = pid.trim().to_owned();
        assert!(command_line(&pid).is_some_and(|c| c.contains("sleep 600")));
        let started = Instant::now();
        drop(process);
        assert!(!dir.exists(), "{} is left", dir.display());
        assert!(
            started.elapsed() >= Duration::from_secs(9),
            "KILL came before 10 s"
        );
        assert!(
            !command_line(&pid).is_some_and(|c| c.contains("sleep 600")),
            "the process is left"
        );

        let dir = std::env::temp_dir().join(crate::scratch::unique_name("supervised"));
        fs::create_dir(&dir).unwrap();
        let failing = ["sh", "-c", "echo no such thing; exit 3"].map(str::to_owned);
        let process = Supervised::spawn(&dir, &failing, &argv, "TERM").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while process.exited().is_none() {
            assert!(
                Instant::now() < deadline,
                "the failed init was not reported"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(process.exited().as_deref(), Some("3"));
        assert!(
            process.log_tail().contains("init.log: no such thing"),
            "{}",
            process.log_tail()
        );
        assert!(!dir.join("server.pid").exists());
        drop(process);
        assert!(!dir.exists());
    }

    /// Arguments reach the process as they are, quotes and spaces included.
    #[test]
    fn supervisor_script_quotes_arguments() {
        let script = supervisor_script(
            Path::new("/tmp/a b"),
            &[],
            &["echo".to_owned(), "it's $HOME".to_owned()],
            "TERM",
        );
        assert!(script.contains(r#"dir='/tmp/a b'"#), "{script}");
        assert!(script.contains(r#"'echo' 'it'\''s $HOME'"#), "{script}");
    }
}
