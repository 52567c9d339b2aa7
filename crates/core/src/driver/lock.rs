//! The migration lock (SPEC §7): which kind a run asks for ([`LockKind`], [`LockOptions`]),
//! what a driver chose and why ([`LockChoice`]), who holds it ([`LockHolder`]), and the lease
//! lock's protocol, shared by the drivers that offer it ([`LeaseSql`], [`lease_owner`],
//! [`Backoff`]). The algorithm that runs it (take, renew, fence, release) is
//! [`crate::driver::lease`]; which lock a server driver takes is [`LockChoice::decide`].
//!
//! The lease lock is a row in `<tracking table>_lock` ([`crate::TableName::lease_table`]):
//!
//! 1. **Take**: delete the row of the lock key if its lease has expired, insert a row naming
//!    this run unless one exists, and read the row back: the lock is taken when it names this
//!    run. Each of the three statements is a transaction of its own, so this works through a
//!    transaction-mode pooler; a row is only ever deleted once it has expired, and the primary
//!    key lets exactly one insert win.
//! 2. **Renew**: every [`LockOptions::renew_every`], from a second connection, move the
//!    expiry forward on the row that names this run. A long statement on the main connection
//!    does not stop the renewal.
//! 3. **Fence**: every transaction that records a migration first renews the lease in that same
//!    transaction; when no row names this run any more, the transaction rolls back and the run
//!    stops ([`crate::DriverErrorKind::LockLost`]). A run that lost its lease commits nothing.
//! 4. **Release**: delete the row that names this run. A run that cannot (killed, network
//!    gone) leaves a row that expires within one lease.
//!
//! Times are the database server's clock, so that clients with skewed clocks agree.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::driver::tracking::Value;
use crate::sql::Dialect;

/// The migration lock a run asks for: `lock = "auto" | "advisory" | "table"` in `ferry.toml`,
/// `--lock` on the command line.
///
/// ```
/// use ferry_core::LockKind;
/// assert_eq!("table".parse::<LockKind>(), Ok(LockKind::Table));
/// assert_eq!(LockKind::default().as_str(), "auto");
/// assert!("session".parse::<LockKind>().unwrap_err().contains("auto, advisory or table"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockKind {
    /// The advisory lock on a direct connection, the lease lock behind a pooler or on an
    /// engine without working advisory locks.
    #[default]
    Auto,
    /// PostgreSQL's `pg_try_advisory_lock`, MySQL's `GET_LOCK`.
    Advisory,
    /// The lease lock in `<tracking table>_lock`.
    Table,
}

impl LockKind {
    /// The spelling in `ferry.toml` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            LockKind::Auto => "auto",
            LockKind::Advisory => "advisory",
            LockKind::Table => "table",
        }
    }
}

impl FromStr for LockKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(LockKind::Auto),
            "advisory" => Ok(LockKind::Advisory),
            "table" => Ok(LockKind::Table),
            other => Err(format!(
                "invalid lock kind `{other}`: use auto, advisory or table"
            )),
        }
    }
}

impl fmt::Display for LockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a driver locks: the kind asked for and the lease of the lease lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockOptions {
    /// The kind asked for.
    pub kind: LockKind,
    /// How long a lease lasts without renewal ([`LockOptions::DEFAULT_LEASE`]).
    pub lease: Duration,
}

impl LockOptions {
    /// The default lease: 30 s.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
    /// The shortest lease: 1 s.
    pub const MIN_LEASE: Duration = Duration::from_secs(1);
    /// The longest lease: 1 hour (a killed run's lock outlives it by up to one lease).
    pub const MAX_LEASE: Duration = Duration::from_secs(3600);

    /// Options asking for `kind` with the default lease.
    pub fn new(kind: LockKind) -> Self {
        LockOptions {
            kind,
            lease: Self::DEFAULT_LEASE,
        }
    }

    /// The same options with `lease`, which must be in range (see [`LockOptions::lease_secs`]).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.clamp(Self::MIN_LEASE, Self::MAX_LEASE);
        self
    }

    /// A lease given in seconds (`lock_lease`, `--lock-lease`), checked against
    /// [`LockOptions::MIN_LEASE`] and [`LockOptions::MAX_LEASE`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferry_core::LockOptions;
    /// assert_eq!(LockOptions::lease_secs(2.5), Ok(Duration::from_millis(2500)));
    /// assert!(LockOptions::lease_secs(0.1).is_err());
    /// assert!(LockOptions::lease_secs(f64::NAN).is_err());
    /// assert!(LockOptions::lease_secs(1e300).is_err());
    /// ```
    pub fn lease_secs(secs: f64) -> Result<Duration, String> {
        let (min, max) = (Self::MIN_LEASE.as_secs(), Self::MAX_LEASE.as_secs());
        if !(secs >= min as f64 && secs <= max as f64) {
            return Err(format!(
                "invalid lock lease {secs}: use a number of seconds from {min} to {max}"
            ));
        }
        Ok(Duration::from_secs_f64(secs))
    }

    /// How often the lease is renewed: a third of the lease.
    pub fn renew_every(&self) -> Duration {
        self.lease / 3
    }
}

impl Default for LockOptions {
    fn default() -> Self {
        Self::new(LockKind::Auto)
    }
}

/// The lock a driver takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMechanism {
    /// A session-level advisory lock (`pg_try_advisory_lock`, `GET_LOCK`).
    Advisory,
    /// The lease lock in `<tracking table>_lock`.
    Lease,
    /// The database's own write lock (SQLite's `BEGIN IMMEDIATE`).
    WriteLock,
}

/// The lock a driver takes and why it chose it, for `--verbose`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockChoice {
    /// The lock.
    pub mechanism: LockMechanism,
    /// Why, in a few words ("direct PostgreSQL connection", "lock = table").
    pub reason: String,
}

impl LockChoice {
    /// A choice of `mechanism` because of `reason`.
    pub fn new(mechanism: LockMechanism, reason: impl Into<String>) -> Self {
        LockChoice {
            mechanism,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for LockChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.mechanism {
            LockMechanism::Advisory => "advisory lock",
            LockMechanism::Lease => "table lease lock",
            LockMechanism::WriteLock => "write lock",
        };
        write!(f, "{name} ({})", self.reason)
    }
}

/// Who holds the migration lock, as far as the backend can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// The holder: a lease's owner (`host:pid:token`), or the server connection holding an
    /// advisory lock.
    pub owner: String,
    /// Since when, where known.
    pub since: Option<DateTime<Utc>>,
    /// When the lease expires unless renewed (lease lock only).
    pub expires: Option<DateTime<Utc>>,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.owner)?;
        let time = |t: &DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        if let Some(since) = &self.since {
            write!(f, ", since {}", time(since))?;
        }
        if let Some(expires) = &self.expires {
            write!(f, ", lease expires {}", time(expires))?;
        }
        Ok(())
    }
}

/// A lease owner naming this run: `host:pid:token`, the token random per call.
///
/// ```
/// let a = ferry_core::driver::lease_owner();
/// assert_eq!(a.split(':').count(), 3);
/// assert_ne!(a, ferry_core::driver::lease_owner());
/// ```
pub fn lease_owner() -> String {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    // Only 200 characters of the host: the owner column is 255 wide.
    let host: String = host
        .chars()
        .filter(|c| !c.is_control() && *c != ':')
        .take(200)
        .collect();
    let pid = std::process::id();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let stack = &now as *const u128 as usize;
    let seed = format!(
        "{host}:{pid}:{now}:{stack}:{}:{:?}",
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::thread::current().id()
    );
    let digest = Sha256::digest(seed.as_bytes());
    let token: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{host}:{pid}:{token}")
}

/// The SQL of the lease lock for one lock table, one key and one owner (see the module docs
/// for the protocol). Every value is bound; the table name is quoted by the driver.
///
/// ```
/// use std::time::Duration;
/// use ferry_core::driver::{LeaseSql, Value};
/// use ferry_core::sql::Dialect;
/// let sql = LeaseSql::new(Dialect::Postgres, "\"ferry_migrations_lock\"", "ferry_migrations", "h:1:ab", Duration::from_secs(30));
/// let (text, values) = sql.renew();
/// assert_eq!(
///     text,
///     "UPDATE \"ferry_migrations_lock\" SET expires_at = clock_timestamp() + $3 * INTERVAL '1 millisecond' \
///      WHERE lock_key = $1 AND owner = $2"
/// );
/// assert_eq!(values, [Value::Text("ferry_migrations"), Value::Text("h:1:ab"), Value::Int(30_000)]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSql {
    create: String,
    delete_expired: String,
    insert: String,
    holder: String,
    renew: String,
    release: String,
    key: String,
    owner: String,
    lease_ms: i64,
    /// `?` placeholders bind in order of appearance, and the renewal names the lease first.
    lease_first_in_renew: bool,
}

impl LeaseSql {
    /// The statements for `quoted_table` in `dialect` (PostgreSQL or MySQL), lock key `key`,
    /// owner `owner` and a lease of `lease`.
    pub fn new(
        dialect: Dialect,
        quoted_table: &str,
        key: &str,
        owner: &str,
        lease: Duration,
    ) -> LeaseSql {
        let t = quoted_table;
        let (now, expiry, create, insert_ignore, on_conflict, p) = match dialect {
            Dialect::Postgres => (
                "clock_timestamp()",
                "clock_timestamp() + $3 * INTERVAL '1 millisecond'",
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\n\
                     lock_key TEXT PRIMARY KEY,\n\
                     owner TEXT NOT NULL,\n\
                     acquired_at TIMESTAMPTZ NOT NULL,\n\
                     expires_at TIMESTAMPTZ NOT NULL\n)"
                ),
                "INSERT",
                " ON CONFLICT (lock_key) DO NOTHING",
                ["$1", "$2"],
            ),
            Dialect::MySql | Dialect::Sqlite => (
                "UTC_TIMESTAMP(6)",
                "UTC_TIMESTAMP(6) + INTERVAL (? * 1000) MICROSECOND",
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     lock_key VARCHAR(255) NOT NULL PRIMARY KEY, \
                     owner VARCHAR(255) NOT NULL, \
                     acquired_at DATETIME(6) NOT NULL, \
                     expires_at DATETIME(6) NOT NULL\
                     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
                ),
                "INSERT IGNORE",
                "",
                ["?", "?"],
            ),
        };
        let [key_p, owner_p] = p;
        LeaseSql {
            create,
            delete_expired: format!("DELETE FROM {t} WHERE lock_key = {key_p} AND expires_at < {now}"),
            insert: format!(
                "{insert_ignore} INTO {t} (lock_key, owner, acquired_at, expires_at) \
                 VALUES ({key_p}, {owner_p}, {now}, {expiry}){on_conflict}"
            ),
            holder: format!(
                "SELECT owner, acquired_at, expires_at FROM {t} WHERE lock_key = {key_p}"
            ),
            renew: format!(
                "UPDATE {t} SET expires_at = {expiry} WHERE lock_key = {key_p} AND owner = {owner_p}"
            ),
            release: format!("DELETE FROM {t} WHERE lock_key = {key_p} AND owner = {owner_p}"),
            key: key.to_owned(),
            owner: owner.to_owned(),
            lease_ms: i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
            lease_first_in_renew: dialect != Dialect::Postgres,
        }
    }

    /// This run's owner id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Create the lock table when missing.
    pub fn create(&self) -> &str {
        &self.create
    }

    /// Delete the key's row when its lease has expired.
    pub fn delete_expired(&self) -> (&str, Vec<Value<'_>>) {
        (&self.delete_expired, vec![Value::Text(&self.key)])
    }

    /// Insert a row naming this run unless the key has one.
    pub fn insert(&self) -> (&str, Vec<Value<'_>>) {
        (&self.insert, self.key_owner_lease())
    }

    /// Read the key's row: owner, acquired at, expires at.
    pub fn holder(&self) -> (&str, Vec<Value<'_>>) {
        (&self.holder, vec![Value::Text(&self.key)])
    }

    /// Move the expiry of this run's row forward by one lease; zero rows changed means the
    /// lease is lost. Also the fence inside a migration's transaction.
    pub fn renew(&self) -> (&str, Vec<Value<'_>>) {
        let mut values = self.key_owner_lease();
        if self.lease_first_in_renew {
            values.rotate_right(1);
        }
        (&self.renew, values)
    }

    /// Delete this run's row.
    pub fn release(&self) -> (&str, Vec<Value<'_>>) {
        (
            &self.release,
            vec![Value::Text(&self.key), Value::Text(&self.owner)],
        )
    }

    fn key_owner_lease(&self) -> Vec<Value<'_>> {
        vec![
            Value::Text(&self.key),
            Value::Text(&self.owner),
            Value::Int(self.lease_ms),
        ]
    }
}

/// The lock-poll delay: from 50 ms, doubling up to 1 s, each with up to half again of jitter
/// so that waiting runs do not poll in step.
///
/// ```
/// use std::time::Duration;
/// let mut backoff = ferry_core::driver::Backoff::new();
/// let first = backoff.next_delay();
/// assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(75));
/// for _ in 0..10 { backoff.next_delay(); }
/// assert!(backoff.next_delay() <= Duration::from_millis(1500));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_secs(1);

    /// A backoff at its first delay.
    pub fn new() -> Self {
        Backoff { base: Self::FIRST }
    }

    /// The next delay to sleep.
    pub fn next_delay(&mut self) -> Duration {
        let base_ms = u64::try_from(self.base.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()) ^ d.as_secs());
        let jitter = nanos % (base_ms / 2 + 1);
        self.base = (self.base * 2).min(Self::MAX);
        Duration::from_millis(base_ms + jitter)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_statements() {
        let sql = LeaseSql::new(Dialect::MySql, "`l`", "k", "o", Duration::from_secs(2));
        assert_eq!(
            sql.insert().0,
            "INSERT IGNORE INTO `l` (lock_key, owner, acquired_at, expires_at) VALUES (?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL (? * 1000) MICROSECOND)"
        );
        assert_eq!(
            sql.delete_expired().0,
            "DELETE FROM `l` WHERE lock_key = ? AND expires_at < UTC_TIMESTAMP(6)"
        );
        assert_eq!(sql.insert().1[2], Value::Int(2000));
        // `?` binds in order: the lease comes first in the renewal.
        assert_eq!(
            sql.renew(),
            (
                "UPDATE `l` SET expires_at = UTC_TIMESTAMP(6) + INTERVAL (? * 1000) MICROSECOND WHERE lock_key = ? AND owner = ?",
                vec![Value::Int(2000), Value::Text("k"), Value::Text("o")]
            )
        );
        assert_eq!(sql.release().1.len(), 2);
    }

    #[test]
    fn every_statement_binds_as_many_values_as_placeholders() {
        let sql = LeaseSql::new(Dialect::Postgres, "t", "k", "o", Duration::from_secs(1));
        for (text, values) in [
            sql.delete_expired(),
            sql.insert(),
            sql.holder(),
            sql.renew(),
            sql.release(),
        ] {
            let highest = (1..=3)
                .filter(|i| text.contains(&format!("${i}")))
                .max()
                .unwrap_or(0);
            assert_eq!(highest, values.len(), "{text}");
        }
        let my = LeaseSql::new(Dialect::MySql, "t", "k", "o", Duration::from_secs(1));
        for (text, values) in [
            my.delete_expired(),
            my.insert(),
            my.holder(),
            my.renew(),
            my.release(),
        ] {
            assert_eq!(text.matches('?').count(), values.len(), "{text}");
        }
    }

    #[test]
    fn lease_range() {
        assert_eq!(LockOptions::lease_secs(1.0), Ok(Duration::from_secs(1)));
        assert_eq!(
            LockOptions::lease_secs(3600.0),
            Ok(Duration::from_secs(3600))
        );
        for bad in [0.0, -1.0, 3600.5, f64::INFINITY, f64::NAN] {
            assert!(LockOptions::lease_secs(bad).is_err(), "{bad}");
        }
        assert_eq!(
            LockOptions::default()
                .with_lease(Duration::from_secs(9))
                .renew_every(),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn holder_display() {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let holder = LockHolder {
            owner: "web-1:42:abc".into(),
            since: Some(t),
            expires: Some(t),
        };
        assert_eq!(
            holder.to_string(),
            "web-1:42:abc, since 2026-01-02 03:04:05 UTC, lease expires 2026-01-02 03:04:05 UTC"
        );
    }
}
