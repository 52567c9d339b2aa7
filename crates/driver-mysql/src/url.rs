//! Connection URL handling: `mysql://` / `mariadb://` URLs with an `ssl-mode` parameter.

use ferry_core::{redact_url, DriverError, DriverErrorKind};
use mysql_async::{Opts, OptsBuilder, SslOpts};

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
        match value.to_ascii_uppercase().replace('-', "_").as_str() {
            "DISABLED" => Some(SslMode::Disabled),
            "PREFERRED" => Some(SslMode::Preferred),
            "REQUIRED" => Some(SslMode::Required),
            "VERIFY_CA" => Some(SslMode::VerifyCa),
            "VERIFY_IDENTITY" => Some(SslMode::VerifyIdentity),
            _ => None,
        }
    }

    /// The TLS options of this mode (for `Preferred`, those of the TLS attempt).
    pub(crate) fn ssl_opts(self) -> Option<SslOpts> {
        match self {
            SslMode::Disabled => None,
            SslMode::Preferred | SslMode::Required => {
                Some(SslOpts::default().with_danger_accept_invalid_certs(true))
            }
            SslMode::VerifyCa => Some(SslOpts::default().with_danger_skip_domain_validation(true)),
            SslMode::VerifyIdentity => Some(SslOpts::default()),
        }
    }
}

/// A parsed connection URL: the options for mysql_async plus what error messages may show.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The options, without TLS (added per attempt from `ssl_mode`).
    pub(crate) opts: Opts,
    /// The TLS mode.
    pub(crate) ssl_mode: SslMode,
    /// `host:port` or `socket PATH`, for messages.
    pub(crate) location: String,
    /// The database named in the URL, if any.
    pub(crate) database: Option<String>,
    /// The password, only to scrub it from messages.
    pub(crate) password: Option<String>,
}

impl Target {
    /// Parse a `mysql://` or `mariadb://` URL.
    // `DriverError` is core's type and every driver operation returns it; its size is not
    // this crate's to change.
    #[allow(clippy::result_large_err)]
    pub(crate) fn parse(url: &str) -> Result<Target, DriverError> {
        let invalid = |why: &str| {
            DriverError::new(
                DriverErrorKind::Config,
                format!("invalid MySQL URL `{}`: {why}", redact_url(url)),
            )
        };
        let rest = if let Some(rest) = strip_prefix_ci(url, "mysql://") {
            rest
        } else if let Some(rest) = strip_prefix_ci(url, "mariadb://") {
            rest
        } else {
            return Err(invalid("the scheme must be mysql:// or mariadb://"));
        };
        // Drop a fragment, then split off the query string.
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (base, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let mut ssl_mode = None;
        let mut prefer_socket_given = false;
        let mut kept = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key_norm = key.to_ascii_lowercase().replace('_', "-");
            if key_norm == "ssl-mode" {
                ssl_mode = Some(SslMode::parse(value).ok_or_else(|| {
                    invalid(&format!(
                        "unknown ssl-mode `{value}` (use DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY)"
                    ))
                })?);
                continue;
            }
            if key_norm == "prefer-socket" {
                prefer_socket_given = true;
            }
            kept.push(pair);
        }
        let mut clean = format!("mysql://{base}");
        if !kept.is_empty() {
            clean.push('?');
            clean.push_str(&kept.join("&"));
        }
        let opts = Opts::from_url(&clean).map_err(|e| invalid(&one_line(&e.to_string())))?;
        let mut builder = OptsBuilder::from_opts(opts);
        if !prefer_socket_given {
            // Connect where the URL says; do not silently switch to the server's socket.
            builder = builder.prefer_socket(false);
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
        })
    }

    /// The options with the given TLS options.
    pub(crate) fn opts_with(&self, ssl: Option<SslOpts>) -> Opts {
        Opts::from(OptsBuilder::from_opts(self.opts.clone()).ssl_opts(ssl))
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

/// Collapse whitespace runs (newlines included) into single spaces.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `url` with its database path replaced by `database` (query string kept).
pub(crate) fn with_database(url: &str, database: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest_start = scheme_end + 3;
    let authority_end = url[rest_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| rest_start + i);
    let query = url[authority_end..]
        .find('?')
        .map_or("", |i| &url[authority_end + i..]);
    format!("{}/{database}{query}", &url[..authority_end])
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
            with_database("mysql://root@127.0.0.1:3306/test", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(
            with_database("mysql://root@h?ssl-mode=DISABLED", "x"),
            "mysql://root@h/x?ssl-mode=DISABLED"
        );
        assert_eq!(
            with_database("mysql://root@h/old?socket=/s", "x"),
            "mysql://root@h/x?socket=/s"
        );
    }
}
