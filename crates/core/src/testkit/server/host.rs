//! What the host gives a throwaway server: its binaries (on `PATH` or in Debian's folders)
//! and, when the tests run as root, the system user to run it as.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::Kind;

/// The server's binaries.
pub(super) struct Binaries {
    /// `initdb` / `mariadb-install-db`.
    pub(super) init: PathBuf,
    /// `postgres` / `mariadbd`.
    pub(super) server: PathBuf,
}

impl Binaries {
    /// Look them up (see the module documentation).
    pub(super) fn find(kind: Kind) -> Result<Binaries, String> {
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
pub(super) fn postgres_folders() -> Vec<PathBuf> {
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
pub(super) struct RunAs {
    pub(super) name: String,
    pub(super) uid: u32,
    pub(super) gid: u32,
}

impl RunAs {
    /// `argv` run as this user, through `setpriv`.
    pub(super) fn wrap(&self, argv: Vec<String>) -> Vec<String> {
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
    pub(super) fn own(&self, dir: &Path) -> Result<(), String> {
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

/// Give `path` to `uid` and `gid`.
#[cfg(unix)]
pub(super) fn chown(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
}

/// Nothing to do off unix.
#[cfg(not(unix))]
pub(super) fn chown(_path: &Path, _uid: u32, _gid: u32) -> std::io::Result<()> {
    Ok(())
}

/// `None` unless this process runs as root; then the kind's system user, else `nobody`.
pub(super) fn run_as(kind: Kind) -> Result<Option<RunAs>, String> {
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
pub(super) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

/// The number `id ARGS` prints.
pub(super) fn id(args: &[&str]) -> Result<u32, String> {
    let output = Command::new("id")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run id: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(crate::driver::url::one_line(&String::from_utf8_lossy(
            &output.stderr,
        )));
    }
    text.trim()
        .parse()
        .map_err(|_| format!("id printed `{}`", text.trim()))
}
