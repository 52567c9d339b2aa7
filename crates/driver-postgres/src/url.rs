//! Connection URLs: `postgres://` / `postgresql://` URLs with `sslmode` and `sslrootcert`.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ferry_core::driver::redact_url;
use ferry_core::driver::url::{one_line, query_pairs, with_query, without_query};
use ferry_core::{DriverError, DriverErrorKind};
use tokio_postgres::config::Host;
use tokio_postgres::Config;

use crate::error::error_text;

/// How long connecting may take when the URL sets no `connect_timeout`.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest `connect_timeout` a URL may set, in seconds.
const MAX_CONNECT_TIMEOUT_SECS: u64 = 3600;
/// TCP keepalive unless the URL says otherwise: the first probe after 15 s of silence, then
/// every 5 s, and the connection fails after 3 unanswered probes. A server busy with a long
/// statement still answers them; a vanished network does not.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;
/// How long data ferry sent may stay unacknowledged before the connection fails (Linux).
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(60);

/// The `sslmode` of a URL, as libpq understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// No TLS.
    Disable,
    /// TLS without verification when the server offers it, plain otherwise.
    Prefer,
    /// TLS without certificate verification.
    Require,
    /// TLS, certificate chain verified, host name not checked.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            // `allow` means "plain first, TLS if the server insists"; PostgreSQL servers never
            // insist, so it behaves like `prefer` without the attempt. Treat it as `prefer`.
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// A parsed connection URL: the options for tokio-postgres plus what error messages may show.
#[derive(Clone)]
pub(crate) struct Target {
    /// The options, without TLS (set per attempt from `ssl_mode`).
    pub(crate) config: Config,
    /// The TLS mode.
    pub(crate) ssl_mode: SslMode,
    /// The PEM file of trusted roots (`sslrootcert`); `None` for the system store.
    pub(crate) root_cert: Option<PathBuf>,
    /// `host:port` list (or socket paths), for messages.
    pub(crate) location: String,
    /// The database name, for messages.
    pub(crate) database: String,
    /// The bound on connecting as a whole: TCP, TLS, startup, authentication and every
    /// fallback (`connect_timeout`, default 30 s).
    pub(crate) connect_timeout: Duration,
}

impl Target {
    /// Parse a `postgres://` / `postgresql://` URL. `sslmode` and `sslrootcert` are taken out
    /// of the query string (tokio-postgres does not know `verify-ca`, `verify-full` or root
    /// certificates) and handled here.
    pub(crate) fn parse(url: &str) -> Result<Target, DriverError> {
        let invalid = |why: &str| {
            DriverError::new(
                DriverErrorKind::Config,
                format!(
                    "invalid PostgreSQL URL `{}`: {}",
                    redact_url(url),
                    one_line(why)
                ),
            )
        };
        let mut ssl_mode = SslMode::Prefer;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query_pairs(url) {
            match &*pair.key {
                "sslmode" => {
                    ssl_mode = SslMode::parse(&pair.value).ok_or_else(|| {
                        invalid(&format!(
                            "unknown sslmode `{}` (use disable, prefer, require, verify-ca or verify-full)",
                            pair.value
                        ))
                    })?;
                }
                "sslrootcert" => root_cert = Some(pair.value.into_owned()),
                "connect_timeout" => {
                    match pair.value.trim().parse::<u64>() {
                        Ok(secs) if (1..=MAX_CONNECT_TIMEOUT_SECS).contains(&secs) => {}
                        _ => {
                            return Err(invalid(&format!(
                                "connect_timeout `{}` is not a whole number of seconds from 1 to {MAX_CONNECT_TIMEOUT_SECS}",
                                pair.value
                            )))
                        }
                    }
                    kept.push(pair.raw);
                }
                _ => kept.push(pair.raw),
            }
        }
        let stripped = with_query(without_query(url), &kept);
        let mut config = Config::from_str(&stripped).map_err(|e| invalid(&error_text(&e)))?;

        if config.get_hosts().is_empty() {
            // libpq's default: the local socket directory, else localhost.
            #[cfg(unix)]
            {
                if Path::new("/var/run/postgresql").is_dir() {
                    config.host_path("/var/run/postgresql");
                } else {
                    config.host("localhost");
                }
            }
            #[cfg(not(unix))]
            config.host("localhost");
        }
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_else(|_| "postgres".to_owned());
            config.user(user);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        let set = |key: &str| query_pairs(url).any(|pair| pair.key == key);
        if !set("keepalives_idle") {
            config.keepalives_idle(KEEPALIVE_IDLE);
        }
        if !set("keepalives_interval") {
            config.keepalives_interval(KEEPALIVE_INTERVAL);
        }
        if !set("keepalives_retries") {
            config.keepalives_retries(KEEPALIVE_RETRIES);
        }
        if !set("tcp_user_timeout") {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("ferry");
        }

        // `sslrootcert=system` means the system store, as in libpq 16.
        let root_cert = match root_cert {
            Some(path) if path == "system" => None,
            Some(path) => {
                // libpq: with a root certificate given, `require` verifies the chain.
                if ssl_mode == SslMode::Require {
                    ssl_mode = SslMode::VerifyCa;
                }
                Some(PathBuf::from(path))
            }
            None => None,
        };

        let ports = config.get_ports();
        let port_of = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let location = config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| match host {
                Host::Tcp(h) if h.contains(':') => format!("[{h}]:{}", port_of(i)),
                Host::Tcp(h) => format!("{h}:{}", port_of(i)),
                #[cfg(unix)]
                Host::Unix(dir) => format!("{}/.s.PGSQL.{}", dir.display(), port_of(i)),
            })
            .collect::<Vec<_>>()
            .join(",");
        let database = config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or("")
            .to_owned();
        let connect_timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        Ok(Target {
            config,
            ssl_mode,
            root_cert,
            location,
            database,
            connect_timeout,
        })
    }

    /// Whether every host is a unix socket (where PostgreSQL never offers TLS).
    pub(crate) fn all_unix(&self) -> bool {
        // Off unix, `Tcp` is the only kind of host.
        self.config
            .get_hosts()
            .iter()
            .all(|host| !matches!(host, Host::Tcp(_)))
    }

    /// A one-line connection error naming where and which database, never the password.
    pub(crate) fn connect_error(&self, reason: &str) -> DriverError {
        DriverError::new(
            DriverErrorKind::Connect,
            format!(
                "cannot connect to PostgreSQL at {} database \"{}\": {}",
                self.location,
                self.database,
                one_line(reason)
            ),
        )
    }
}

/// `url` with its database replaced by `database` (query string kept); a key-value
/// connection string gets a `dbname=` appended.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn with_database(url: &str, database: &str) -> String {
    ferry_core::driver::url::with_database(url, database)
        .unwrap_or_else(|| format!("{url} dbname={database}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ssl_mode_and_strips_it() {
        let t = Target::parse(
            "postgres://u:pw@db.example:6543/app?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(t.ssl_mode, SslMode::VerifyFull);
        assert_eq!(t.root_cert.as_deref(), Some(Path::new("/tmp/ca.pem")));
        assert_eq!(t.location, "db.example:6543");
        assert_eq!(t.database, "app");
        assert_eq!(
            t.config.get_connect_timeout(),
            Some(&Duration::from_secs(5))
        );
        let t = Target::parse("postgresql://root@/test?host=/var/run/postgresql").unwrap();
        assert_eq!(t.location, "/var/run/postgresql/.s.PGSQL.5432");
        assert_eq!(t.ssl_mode, SslMode::Prefer);
        assert!(t.all_unix());
    }

    #[test]
    fn rejects_bad_urls_without_the_password() {
        let e = Target::parse("postgres://u:s3cret@h/db?sslmode=sometimes")
            .err()
            .unwrap();
        assert_eq!(e.kind, DriverErrorKind::Config);
        assert!(!e.message.contains("s3cret"), "{}", e.message);
    }

    #[test]
    fn require_with_root_cert_verifies_ca() {
        let t = Target::parse("postgres://h/db?sslmode=require&sslrootcert=/x.pem").unwrap();
        assert_eq!(t.ssl_mode, SslMode::VerifyCa);
    }

    #[test]
    fn replaces_the_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("host=/tmp user=postgres", "x"),
            "host=/tmp user=postgres dbname=x"
        );
    }
}
