//! The databases the harness makes, looks into and drops: a fresh SQLite file, PostgreSQL
//! database or MariaDB database per scenario, reached by the harness with its own clients
//! (never through ferry), so that what ferry says can be compared with what is there.

use std::collections::BTreeSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use mysql_async::prelude::Queryable;

/// How long the harness waits for one of its own connections or statements.
const QUERY_TIMEOUT: Duration = Duration::from_secs(20);

/// The name of the side table every stress migration writes its own row to.
pub const EXECUTIONS: &str = "executions";

/// ferry's tracking table (the default name) and its lease table.
pub const TRACKING: &str = "ferry_migrations";
pub const LEASE: &str = "ferry_migrations_lock";

/// The user and password of the secrets scenario.
pub const STRESS_USER: &str = "ferry_stress";
pub const STRESS_PASSWORD: &str = "S3cr3t-stress-pw";

/// A backend. The discriminant is the RNG stream of the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite = 1,
    Postgres = 2,
    Mysql = 3,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        }
    }

    /// Whether the backend is a server (connections can be cut, passwords matter).
    pub fn is_server(self) -> bool {
        self != Kind::Sqlite
    }

    /// SQL that takes about 50 ms.
    pub fn short_work(self) -> &'static str {
        match self {
            Kind::Postgres => "SELECT pg_sleep(0.05);",
            Kind::Mysql => "SELECT SLEEP(0.05);",
            // About 50 ms in a debug build of the bundled SQLite.
            Kind::Sqlite => {
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) SELECT count(*) FROM c;"
            }
        }
    }

    /// SQL that sleeps `secs` seconds on the server; its text contains [`Kind::slow_marker`].
    pub fn slow_work(self, secs: u32) -> String {
        match self {
            Kind::Postgres => format!("SELECT pg_sleep({secs});"),
            Kind::Mysql => format!("SELECT SLEEP({secs});"),
            Kind::Sqlite => unreachable!("no server to cut the connection to"),
        }
    }

    /// What [`Db::active_query`] looks for while [`Kind::slow_work`] runs.
    pub fn slow_marker(secs: u32) -> String {
        format!("leep({secs})")
    }
}

/// A fresh database, dropped with the value.
pub struct Db {
    pub kind: Kind,
    /// A URL of it with the test server's admin user: what ferry is given unless a scenario
    /// says otherwise, and what the harness itself connects with.
    pub url: String,
    /// The database name (PostgreSQL, MySQL) or the file's path (SQLite).
    pub name: String,
    /// The SQLite file.
    path: Option<PathBuf>,
    rt: tokio::runtime::Runtime,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")
}

/// `future`, failing after [`QUERY_TIMEOUT`].
async fn bounded<T, E: std::fmt::Display>(
    what: &str,
    future: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T> {
    match tokio::time::timeout(QUERY_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(anyhow!("{what}: {e}")),
        Err(_) => Err(anyhow!(
            "{what}: no answer within {} s",
            QUERY_TIMEOUT.as_secs()
        )),
    }
}

impl Db {
    /// A new database of `kind` (SQLite: a file in `dir`), with the side table
    /// [`EXECUTIONS`] created.
    pub fn create(kind: Kind, dir: &Path) -> Result<Db> {
        let rt = runtime()?;
        let (url, name, path) = match kind {
            Kind::Sqlite => {
                let path = dir.join("stress.db");
                (
                    format!("sqlite:{}", path.display()),
                    path.display().to_string(),
                    Some(path),
                )
            }
            Kind::Postgres => {
                let name = ferry_driver_postgres::testing::unique_name("stress");
                let url = rt
                    .block_on(ferry_driver_postgres::testing::create_database(&name))
                    .map_err(|e| {
                        anyhow!(
                            "cannot create a PostgreSQL database (is the server up? {}): {e}",
                            ferry_driver_postgres::testing::URL_VAR
                        )
                    })?;
                (url, name, None)
            }
            Kind::Mysql => {
                let name = ferry_driver_mysql::testing::unique_name("stress");
                let url = rt
                    .block_on(ferry_driver_mysql::testing::create_database(&name))
                    .map_err(|e| {
                        anyhow!(
                            "cannot create a MySQL database (is the server up? {}): {e}",
                            ferry_driver_mysql::testing::URL_VAR
                        )
                    })?;
                (url, name, None)
            }
        };
        let db = Db {
            kind,
            url,
            name,
            path,
            rt,
        };
        db.exec(&format!(
            "CREATE TABLE {EXECUTIONS} (app VARCHAR(64) NOT NULL, id VARCHAR(32) NOT NULL)"
        ))?;
        Ok(db)
    }

    /// Run `sql` (one or more statements, no results wanted).
    pub fn exec(&self, sql: &str) -> Result<()> {
        match self.kind {
            Kind::Sqlite => {
                let conn = self.sqlite()?;
                conn.execute_batch(sql)
                    .with_context(|| format!("SQLite: {sql}"))
            }
            Kind::Postgres => self.rt.block_on(async {
                let session = PgSession::open(&self.url).await?;
                let result = bounded(sql, session.client.batch_execute(sql)).await;
                session.close().await;
                result
            }),
            Kind::Mysql => self.rt.block_on(async {
                let mut conn =
                    bounded("connect to MySQL", mysql_async::Conn::from_url(&self.url)).await?;
                let result = bounded(sql, conn.query_drop(sql)).await;
                let _ = conn.disconnect().await;
                result
            }),
        }
    }

    /// The rows `sql` returns, every value as text (`None` for NULL).
    pub fn rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        match self.kind {
            Kind::Sqlite => {
                let conn = self.sqlite()?;
                let mut stmt = conn
                    .prepare(sql)
                    .with_context(|| format!("SQLite: {sql}"))?;
                let n = stmt.column_count();
                let mut rows = stmt.query([]).with_context(|| format!("SQLite: {sql}"))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().with_context(|| format!("SQLite: {sql}"))? {
                    let mut values = Vec::with_capacity(n);
                    for i in 0..n {
                        use rusqlite::types::ValueRef;
                        values.push(match row.get_ref(i)? {
                            ValueRef::Null => None,
                            ValueRef::Integer(v) => Some(v.to_string()),
                            ValueRef::Real(v) => Some(v.to_string()),
                            ValueRef::Text(t) | ValueRef::Blob(t) => {
                                Some(String::from_utf8_lossy(t).into_owned())
                            }
                        });
                    }
                    out.push(values);
                }
                Ok(out)
            }
            Kind::Postgres => self.rt.block_on(async {
                let session = PgSession::open(&self.url).await?;
                let result = bounded(sql, session.client.simple_query(sql)).await;
                session.close().await;
                Ok(result?
                    .iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_owned))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect())
            }),
            Kind::Mysql => self.rt.block_on(async {
                let mut conn =
                    bounded("connect to MySQL", mysql_async::Conn::from_url(&self.url)).await?;
                let result: Result<Vec<mysql_async::Row>> = bounded(sql, conn.query(sql)).await;
                let _ = conn.disconnect().await;
                Ok(result?
                    .into_iter()
                    .map(|row| row.unwrap().into_iter().map(mysql_text).collect())
                    .collect())
            }),
        }
    }

    /// The one number `sql` returns.
    pub fn count(&self, sql: &str) -> Result<i64> {
        let rows = self.rows(sql)?;
        rows.first()
            .and_then(|r| r.first().cloned().flatten())
            .with_context(|| format!("no value from `{sql}`"))?
            .parse()
            .with_context(|| format!("not a number from `{sql}`"))
    }

    /// The names of the tables in the database.
    pub fn tables(&self) -> Result<BTreeSet<String>> {
        let sql = match self.kind {
            Kind::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
            Kind::Postgres => "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
            Kind::Mysql => {
                "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
            }
        };
        Ok(self
            .rows(sql)?
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect())
    }

    /// Every row of the side table, `(app, id)`, duplicates kept.
    pub fn executions(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .rows(&format!(
                "SELECT app, id FROM {EXECUTIONS} ORDER BY app, id"
            ))?
            .into_iter()
            .map(|r| {
                let mut it = r.into_iter();
                (
                    it.next().flatten().unwrap_or_default(),
                    it.next().flatten().unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Rows of ferry's tracking table (0 when it does not exist).
    pub fn tracking_rows(&self) -> Result<i64> {
        self.rows_of(TRACKING)
    }

    /// Rows of the lease table (0 when it does not exist): a lease left behind.
    pub fn lease_rows(&self) -> Result<i64> {
        self.rows_of(LEASE)
    }

    fn rows_of(&self, table: &str) -> Result<i64> {
        if !self.tables()?.contains(table) {
            return Ok(0);
        }
        self.count(&format!("SELECT count(*) FROM {table}"))
    }

    /// Locks held that would stop the next ferry run: advisory locks on this database
    /// (PostgreSQL), the `GET_LOCK` of ferry's lock name (MySQL), lease rows (both). Empty
    /// when none.
    pub fn locks_left(&self) -> Result<Vec<String>> {
        let mut found = Vec::new();
        match self.kind {
            Kind::Sqlite => {}
            Kind::Postgres => {
                let n = self.count(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                )?;
                if n > 0 {
                    found.push(format!("{n} advisory lock(s) in pg_locks"));
                }
            }
            Kind::Mysql => {
                let name = ferry_core::TableName::default().lock_name(&self.name);
                let holder = self.rows(&format!("SELECT IS_USED_LOCK('{name}')"))?;
                if let Some(id) = holder.first().and_then(|r| r.first().cloned().flatten()) {
                    found.push(format!("GET_LOCK `{name}` held by connection {id}"));
                }
            }
        }
        let lease = self.lease_rows()?;
        if lease > 0 {
            found.push(format!("{lease} lease row(s) in {LEASE}"));
        }
        Ok(found)
    }

    /// Wait (up to `limit`) until [`Db::locks_left`] finds none; return what is left then.
    pub fn wait_locks_gone(&self, limit: Duration) -> Result<Vec<String>> {
        let deadline = Instant::now() + limit;
        loop {
            let left = self.locks_left()?;
            if left.is_empty() || Instant::now() >= deadline {
                return Ok(left);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Client sessions on this database other than the harness's own (0 on SQLite).
    pub fn other_sessions(&self) -> Result<i64> {
        match self.kind {
            Kind::Sqlite => Ok(0),
            Kind::Postgres => self.count(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            ),
            Kind::Mysql => self.count(
                "SELECT count(*) FROM information_schema.PROCESSLIST \
                 WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND COMMAND <> 'Daemon'",
            ),
        }
    }

    /// Wait (up to `limit`) until the server has finished with every other session on this
    /// database (a killed ferry's session ends when the server notices); return how long it
    /// took, or an error naming how many are left.
    pub fn wait_sessions_gone(&self, limit: Duration) -> Result<Duration> {
        let started = Instant::now();
        loop {
            let n = self.other_sessions()?;
            if n == 0 {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= limit {
                bail!(
                    "{n} session(s) of a finished ferry still on the server after {} s",
                    limit.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether a statement containing `marker` is running on this database in another session.
    pub fn active_query(&self, marker: &str) -> Result<bool> {
        let n = match self.kind {
            Kind::Sqlite => 0,
            Kind::Postgres => self.count(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND state = 'active' AND pid <> pg_backend_pid() AND query LIKE '%{marker}%'"
            ))?,
            Kind::Mysql => self.count(&format!(
                "SELECT count(*) FROM information_schema.PROCESSLIST \
                 WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND INFO LIKE '%{marker}%'"
            ))?,
        };
        Ok(n > 0)
    }

    /// The server's address (PostgreSQL, MySQL), from the URL.
    pub fn server_address(&self) -> Result<SocketAddr> {
        let (host, port) = host_port(&self.url, self.kind)?;
        (host.as_str(), port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))
    }

    /// Let [`STRESS_USER`] do everything in this database: own it (PostgreSQL; its tables
    /// so far are granted) or nothing more (MySQL: the user has ALL on `*.*`).
    pub fn hand_to_stress_user(&self) -> Result<()> {
        match self.kind {
            Kind::Postgres => self.exec(&format!(
                "ALTER DATABASE \"{}\" OWNER TO {STRESS_USER}; \
                     GRANT ALL ON SCHEMA public TO {STRESS_USER}; \
                     GRANT ALL ON ALL TABLES IN SCHEMA public TO {STRESS_USER}",
                self.name
            )),
            Kind::Mysql | Kind::Sqlite => Ok(()),
        }
    }

    fn sqlite(&self) -> Result<rusqlite::Connection> {
        let path = self.path.as_ref().expect("an SQLite database has a path");
        let conn = rusqlite::Connection::open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        conn.busy_timeout(QUERY_TIMEOUT)?;
        Ok(conn)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let name = self.name.clone();
        let result = match self.kind {
            Kind::Sqlite => Ok(()),
            Kind::Postgres => self
                .rt
                .block_on(ferry_driver_postgres::testing::drop_database(&name)),
            Kind::Mysql => self
                .rt
                .block_on(ferry_driver_mysql::testing::drop_database(&name)),
        };
        if let Err(e) = result {
            eprintln!("warning: cannot drop the scratch database {name}: {e}");
        }
    }
}

/// Create (or reset the password and rights of) [`STRESS_USER`] on the server of `kind`.
pub fn ensure_stress_user(kind: Kind) -> Result<()> {
    let rt = runtime()?;
    match kind {
        Kind::Sqlite => Ok(()),
        Kind::Postgres => rt.block_on(async {
            let session = PgSession::open(&ferry_driver_postgres::testing::admin_url()).await?;
            let sql = format!(
                "DO $$ BEGIN \
                   IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{STRESS_USER}') THEN \
                     CREATE ROLE {STRESS_USER} LOGIN CREATEDB PASSWORD '{STRESS_PASSWORD}'; \
                   ELSE \
                     ALTER ROLE {STRESS_USER} LOGIN CREATEDB PASSWORD '{STRESS_PASSWORD}'; \
                   END IF; \
                 END $$"
            );
            let result = bounded(
                "create the role ferry_stress",
                session.client.batch_execute(&sql),
            )
            .await;
            session.close().await;
            result
        }),
        Kind::Mysql => rt.block_on(async {
            let url = ferry_driver_mysql::testing::admin_url();
            let mut conn = bounded("connect to MySQL", mysql_async::Conn::from_url(&url)).await?;
            // 127.0.0.1 as the brief asks; `%` too, for servers that see the harness from
            // another address (a database in a container, as in the GitHub workflow).
            let mut result = Ok(());
            for host in ["127.0.0.1", "%"] {
                let sql = format!(
                    "CREATE USER IF NOT EXISTS '{STRESS_USER}'@'{host}' IDENTIFIED BY '{STRESS_PASSWORD}'; \
                     ALTER USER '{STRESS_USER}'@'{host}' IDENTIFIED BY '{STRESS_PASSWORD}'; \
                     GRANT ALL ON *.* TO '{STRESS_USER}'@'{host}'"
                );
                result = bounded("create the user ferry_stress", conn.query_drop(sql)).await;
                if result.is_err() {
                    break;
                }
            }
            let _ = conn.disconnect().await;
            result
        }),
    }
}

/// A connection of the harness to PostgreSQL.
struct PgSession {
    client: tokio_postgres::Client,
    /// The connection's task.
    task: tokio::task::JoinHandle<()>,
}

impl PgSession {
    async fn open(url: &str) -> Result<PgSession> {
        let (client, connection) = bounded(
            "connect to PostgreSQL",
            tokio_postgres::connect(url, tokio_postgres::NoTls),
        )
        .await?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(PgSession { client, task })
    }

    /// Close it and wait until the connection has ended (on a current-thread runtime the
    /// task would otherwise linger until the next `block_on`, and the server would count
    /// it as another session).
    async fn close(self) {
        drop(self.client);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// A value of MySQL's text protocol as text.
fn mysql_text(value: mysql_async::Value) -> Option<String> {
    use mysql_async::Value;
    match value {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Value::Int(v) => Some(v.to_string()),
        Value::UInt(v) => Some(v.to_string()),
        Value::Float(v) => Some(v.to_string()),
        Value::Double(v) => Some(v.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// The `host` and `port` of a server URL (`scheme://[user[:pw]@]host[:port]/...`).
pub fn host_port(url: &str, kind: Kind) -> Result<(String, u16)> {
    let (_, rest) = url.split_once("://").context("not a URL")?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default = if kind == Kind::Mysql { 3306 } else { 5432 };
    match hostport.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || hostport.starts_with('[') => Ok((
            host.trim_matches(['[', ']']).to_owned(),
            port.parse().with_context(|| format!("bad port in {url}"))?,
        )),
        _ => Ok((hostport.trim_matches(['[', ']']).to_owned(), default)),
    }
}

/// `url` with its user info replaced by `userinfo` (`user:password`; `None` keeps it) and
/// its host and port by `address` (`None` keeps them).
pub fn with_authority(url: &str, userinfo: Option<&str>, address: Option<&str>) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (old_user, old_host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let user = userinfo.or(old_user);
    let host = address.unwrap_or(old_host);
    match user {
        Some(u) => format!("{scheme}://{u}@{host}{tail}"),
        None => format!("{scheme}://{host}{tail}"),
    }
}

/// `url` with `param` added to its query string.
pub fn with_param(url: &str, param: &str) -> String {
    if url.contains('?') {
        format!("{url}&{param}")
    } else {
        format!("{url}?{param}")
    }
}

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    ferry_core::driver::url::with_database(url, database).unwrap_or_else(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = "postgres://postgres@127.0.0.1:5432/db";
        assert_eq!(
            host_port(url, Kind::Postgres).unwrap(),
            ("127.0.0.1".into(), 5432)
        );
        assert_eq!(
            host_port("mysql://root@localhost/test", Kind::Mysql).unwrap(),
            ("localhost".into(), 3306)
        );
        assert_eq!(
            with_authority(url, Some("u:pw"), Some("127.0.0.1:9")),
            "postgres://u:pw@127.0.0.1:9/db"
        );
        assert_eq!(
            with_authority("mysql://root@h:1/x?a=b", None, Some("127.0.0.1:2")),
            "mysql://root@127.0.0.1:2/x?a=b"
        );
        assert_eq!(with_param(url, "a=1"), format!("{url}?a=1"));
        assert_eq!(
            with_database(url, "other"),
            "postgres://postgres@127.0.0.1:5432/other"
        );
    }
}
