//! The floor: the database's own client running the same SQL as ferry.

use super::*;

/// The database's own client.
pub(super) enum Floor {
    /// `psql`, `mariadb` (or `mysql`) or `sqlite3`, at this path.
    Client(PathBuf),
    /// No `sqlite3` shell: rusqlite in this process (no process start counted).
    InProcess,
    /// No client for this server.
    None,
}

impl Floor {
    pub(super) fn find(backend: Backend) -> Floor {
        let names: &[&str] = match backend {
            Backend::Postgres => &["psql"],
            Backend::Mysql => &["mariadb", "mysql"],
            Backend::Sqlite => &["sqlite3"],
        };
        match names.iter().find_map(|n| find_on_path(n)) {
            Some(path) => Floor::Client(path),
            None if backend == Backend::Sqlite => Floor::InProcess,
            None => Floor::None,
        }
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Floor::Client(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Floor::InProcess => "rusqlite in-process".into(),
            Floor::None => "none (no client on the PATH)".into(),
        }
    }
}

pub(super) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The tracking table as each backend's driver creates it, for the floor's scripts.
pub(super) fn floor_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "CREATE TABLE IF NOT EXISTS ferry_migrations (id BIGSERIAL PRIMARY KEY, \
             app_name TEXT NOT NULL, migration_id TEXT NOT NULL, description TEXT NOT NULL, \
             checksum TEXT NOT NULL, down_sql TEXT, applied_at TIMESTAMPTZ NOT NULL, \
             duration_ms BIGINT NOT NULL, dirty BOOLEAN NOT NULL DEFAULT FALSE, \
             UNIQUE (app_name, migration_id));\n"
        }
        Backend::Sqlite => {
            "CREATE TABLE IF NOT EXISTS ferry_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             app_name TEXT NOT NULL, migration_id TEXT NOT NULL, description TEXT NOT NULL, \
             checksum TEXT NOT NULL, down_sql TEXT, applied_at TEXT NOT NULL, \
             duration_ms INTEGER NOT NULL, dirty INTEGER NOT NULL DEFAULT 0, \
             UNIQUE (app_name, migration_id));\n"
        }
        Backend::Mysql => {
            "CREATE TABLE IF NOT EXISTS ferry_migrations (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
             app_name VARCHAR(255) NOT NULL, migration_id VARCHAR(255) NOT NULL, \
             description TEXT NOT NULL, checksum CHAR(64) NOT NULL, down_sql LONGTEXT NULL, \
             applied_at DATETIME(6) NOT NULL, duration_ms BIGINT NOT NULL, \
             dirty BOOLEAN NOT NULL DEFAULT FALSE, UNIQUE KEY (app_name, migration_id)) \
             ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n"
        }
    }
}

pub(super) const FLOOR_SELECT: &str =
    "SELECT id, app_name, migration_id, description, checksum, down_sql, \
     applied_at, duration_ms, dirty FROM ferry_migrations WHERE app_name = 'bench' ORDER BY id;\n";

/// The floor's apply script: one transaction per migration, its SQL and one tracking row.
pub(super) fn floor_up_script(backend: Backend, project: &Project) -> String {
    let (begin, now, dirty) = match backend {
        Backend::Postgres => ("BEGIN", "now()", "false"),
        Backend::Sqlite => ("BEGIN", "strftime('%Y-%m-%dT%H:%M:%fZ','now')", "0"),
        Backend::Mysql => ("START TRANSACTION", "UTC_TIMESTAMP(6)", "FALSE"),
    };
    let mut script = floor_table(backend).to_owned();
    for (i, (id, up, down)) in project.migrations.iter().enumerate() {
        let checksum = ferry_core::checksum(up);
        let down = down.replace('\'', "''");
        let _ = write!(
            script,
            "{begin};\n{up}INSERT INTO ferry_migrations (app_name, migration_id, description, \
             checksum, down_sql, applied_at, duration_ms, dirty) VALUES ('{APP}', '{id}', \
             'Create table {n}', '{checksum}', '{down}', {now}, 0, {dirty});\nCOMMIT;\n",
            n = i + 1
        );
    }
    script
}

/// The floor's revert script: newest first, one transaction per migration.
pub(super) fn floor_down_script(backend: Backend, project: &Project) -> String {
    let begin = match backend {
        Backend::Mysql => "START TRANSACTION",
        _ => "BEGIN",
    };
    let mut script = String::new();
    for (id, _, down) in project.migrations.iter().rev() {
        let _ = write!(
            script,
            "{begin};\n{down}DELETE FROM ferry_migrations WHERE app_name = '{APP}' AND \
             migration_id = '{id}';\nCOMMIT;\n"
        );
    }
    script
}

/// A MySQL URL's parts, for the `mariadb` client's options.
pub(super) struct MysqlParts {
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
    pub(super) host: String,
    pub(super) port: Option<String>,
    pub(super) database: String,
}

pub(super) fn mysql_parts(url: &str) -> Result<MysqlParts> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .context("not a mysql:// URL")?;
    let rest = rest.split('?').next().unwrap_or_default();
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((a, r)) => (Some(a), r),
        None => (None, rest),
    };
    let (hostport, database) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), Some(p.to_owned())),
        None => (hostport.to_owned(), None),
    };
    let (user, password) = match auth.map(|a| a.split_once(':').unwrap_or((a, ""))) {
        Some((u, p)) => (
            Some(percent_decode(u)),
            (!p.is_empty()).then(|| percent_decode(p)),
        ),
        None => (None, None),
    };
    Ok(MysqlParts {
        user,
        password,
        host,
        port,
        database: percent_decode(database),
    })
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or("-"), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// PostgreSQL's URL without ferry's own query options, for `psql`.
pub(super) fn psql_url(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}
