//! Connection URLs: `mysql://` / `mariadb://` URLs with an `ssl-mode` parameter.

use std::time::Duration;

use ferry_core::driver::redact_url;
use ferry_core::driver::url::{one_line, query_pairs, with_query, without_query};
use ferry_core::{DriverError, DriverErrorKind};
use mysql_async::{Opts, OptsBuilder};

/// The `ssl-mode` of a URL, as in the `mysql` client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// No TLS.
    Disabled,
    /// TLS without verification when the server offers it, plain otherwise.
    Preferred,
    /// TLS without certificate verification.
    Required,
    /// TLS, certificate chain verified, host name not checked.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyIdentity,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(
            match value.to_ascii_uppercase().replace('-', "_").as_str() {
                "DISABLED" => SslMode::Disabled,
                "PREFERRED" => SslMode::Preferred,
                "REQUIRED" => SslMode::Required,
                "VERIFY_CA" => SslMode::VerifyCa,
                "VERIFY_IDENTITY" => SslMode::VerifyIdentity,
                _ => return None,
            },
        )
    }
}

/// A parsed connection URL: the options for mysql_async plus what error messages may show.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The options, without TLS (set per attempt from `ssl_mode`).
    pub(crate) opts: Opts,
    /// The TLS mode.
    pub(crate) ssl_mode: SslMode,
    /// `host:port` or `socket PATH`, for messages.
    pub(crate) location: String,
    /// The database named in the URL, if any.
    pub(crate) database: Option<String>,
    /// The password, only to scrub it from messages.
    password: Option<String>,
    /// The bound on connecting as a whole, every attempt included (`connect_timeout`,
    /// default 30 s).
    pub(crate) connect_timeout: Duration,
}

/// How long connecting may take when the URL sets no `connect_timeout`.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest `connect_timeout` a URL may set, in seconds.
const MAX_CONNECT_TIMEOUT_SECS: u64 = 3600;
/// TCP keepalive unless the URL sets `tcp_keepalive`: the first probe after 15 s of silence.
const KEEPALIVE: Duration = Duration::from_secs(15);

impl Target {
    /// Parse a `mysql://` or `mariadb://` URL. `ssl-mode` is taken out of the query string
    /// (mysql_async does not know it) and handled here; other parameters pass through.
    pub(crate) fn parse(url: &str) -> Result<Target, DriverError> {
        let invalid = |why: &str| {
            DriverError::new(
                DriverErrorKind::Config,
                format!("invalid MySQL URL `{}`: {}", redact_url(url), one_line(why)),
            )
        };
        let rest = if let Some(rest) = strip_prefix_ci(url, "mysql://") {
            rest
        } else if let Some(rest) = strip_prefix_ci(url, "mariadb://") {
            rest
        } else {
            return Err(invalid("the scheme must be mysql:// or mariadb://"));
        };
        // Drop a fragment.
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let mut ssl_mode = None;
        let mut prefer_socket_given = false;
        let mut keepalive_given = false;
        let mut connect_timeout = DEFAULT_CONNECT_TIMEOUT;
        let mut kept = Vec::new();
        for pair in query_pairs(rest) {
            let key = pair.key.to_ascii_lowercase().replace('_', "-");
            if key == "ssl-mode" {
                ssl_mode = Some(SslMode::parse(&pair.value).ok_or_else(|| {
                    invalid(&format!(
                        "unknown ssl-mode `{}` (use DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY)",
                        pair.value
                    ))
                })?);
                continue;
            }
            if key == "connect-timeout" {
                // ferry's own (mysql_async has none): the bound on connecting as a whole.
                connect_timeout = match pair.value.trim().parse::<u64>() {
                    Ok(secs) if (1..=MAX_CONNECT_TIMEOUT_SECS).contains(&secs) => {
                        Duration::from_secs(secs)
                    }
                    _ => {
                        return Err(invalid(&format!(
                            "connect_timeout `{}` is not a whole number of seconds from 1 to {MAX_CONNECT_TIMEOUT_SECS}",
                            pair.value
                        )))
                    }
                };
                continue;
            }
            if key == "prefer-socket" {
                prefer_socket_given = true;
            }
            if key == "tcp-keepalive" {
                keepalive_given = true;
            }
            kept.push(pair.raw);
        }
        let clean = with_query(&format!("mysql://{}", without_query(rest)), &kept);
        let opts = Opts::from_url(&clean).map_err(|e| invalid(&e.to_string()))?;
        let mut builder = OptsBuilder::from_opts(opts);
        if !prefer_socket_given {
            // Connect where the URL says; do not silently switch to the server's socket.
            builder = builder.prefer_socket(false);
        }
        if !keepalive_given {
            builder = builder.tcp_keepalive(Some(KEEPALIVE));
        }
        let opts = Opts::from(builder);
        let location = match opts.socket() {
            Some(path) => format!("socket {path}"),
            None => {
                let host = opts.ip_or_hostname();
                if host.contains(':') {
                    format!("[{host}]:{}", opts.tcp_port())
                } else {
                    format!("{host}:{}", opts.tcp_port())
                }
            }
        };
        let ssl_mode = ssl_mode.unwrap_or(if opts.socket().is_some() {
            SslMode::Disabled
        } else {
            SslMode::Preferred
        });
        Ok(Target {
            database: opts.db_name().map(str::to_owned),
            password: opts.pass().filter(|p| !p.is_empty()).map(str::to_owned),
            location,
            ssl_mode,
            opts,
            connect_timeout,
        })
    }

    /// A one-line connection error naming where and which database, never the password.
    pub(crate) fn connect_error(&self, reason: &str) -> DriverError {
        let database = match &self.database {
            Some(db) => format!("database \"{db}\""),
            None => "(no database)".to_owned(),
        };
        let message = format!(
            "cannot connect to MySQL at {} {database}: {}",
            self.location,
            one_line(reason)
        );
        DriverError::new(DriverErrorKind::Connect, self.scrub(&message))
    }

    /// Remove the password from a message, should a library ever echo it.
    pub(crate) fn scrub(&self, message: &str) -> String {
        match &self.password {
            Some(p) if p.len() >= 3 => message.replace(p.as_str(), "***"),
            _ => message.to_owned(),
        }
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// `url` with its database replaced by `database` (query string kept); anything that is not
/// a URL is returned as it is.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn with_database(url: &str, database: &str) -> String {
    ferry_core::driver::url::with_database(url, database).unwrap_or_else(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ssl_mode_and_strips_it() {
        let t = Target::parse("mariadb://u:pw@db.example:3307/app?ssl-mode=verify_ca").unwrap();
        assert_eq!(t.ssl_mode, SslMode::VerifyCa);
        assert_eq!(t.location, "db.example:3307");
        assert_eq!(t.database.as_deref(), Some("app"));
        assert_eq!(t.opts.pass(), Some("pw"));
        let t = Target::parse("mysql://u@h/app?SSL-MODE=Disabled&socket=/tmp/s.sock").unwrap();
        assert_eq!(t.ssl_mode, SslMode::Disabled);
        assert_eq!(t.location, "socket /tmp/s.sock");
        let t = Target::parse("mysql://u@h").unwrap();
        assert_eq!(t.ssl_mode, SslMode::Preferred);
        assert_eq!(t.database, None);
        let t = Target::parse("mysql://u@h/app?ssl_mode=REQUIRED#frag").unwrap();
        assert_eq!(t.ssl_mode, SslMode::Required);
    }

    #[test]
    fn rejects_bad_urls_without_the_password() {
        let e = Target::parse("mysql://u:s3cret@h/app?ssl-mode=sometimes").unwrap_err();
        assert_eq!(e.kind, DriverErrorKind::Config);
        assert!(!e.message.contains("s3cret"), "{e}");
        let e = Target::parse("postgres://u:s3cret@h/app").unwrap_err();
        assert!(!e.message.contains("s3cret"), "{e}");
        let e = Target::parse("mysql://u:s3cret@h/app?bogus=1").unwrap_err();
        assert_eq!(e.kind, DriverErrorKind::Config);
        assert!(!e.message.contains("s3cret"), "{e}");
    }

    #[test]
    fn replaces_the_database() {
        assert_eq!(
            with_database("mysql://root@h/old?socket=/s", "x"),
            "mysql://root@h/x?socket=/s"
        );
        assert_eq!(with_database("not a url", "x"), "not a url");
    }
}
