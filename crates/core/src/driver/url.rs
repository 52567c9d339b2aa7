//! Database URL helpers shared by the CLI and the server drivers: which backend a URL names,
//! its query string, its database path, one-line messages and identifier quoting.
//!
//! These work on the text of a URL and know no backend's parameters: each driver decides
//! which query parameters it takes out (`sslmode`, `ssl-mode`, ...) and hands the rest to its
//! client library.

use std::borrow::Cow;
use std::fmt;

pub use crate::text::one_line;

/// The database backends ferry knows, as named by a URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// PostgreSQL: `postgres://` or `postgresql://`.
    Postgres,
    /// MySQL or MariaDB: `mysql://` or `mariadb://`.
    Mysql,
    /// SQLite: `sqlite:PATH` or `sqlite::memory:`.
    Sqlite,
}

impl Backend {
    /// The backend a URL names by its scheme (case-insensitive), if any.
    ///
    /// ```
    /// use ferry_core::driver::url::Backend;
    /// assert_eq!(Backend::of_url("postgresql://h/db"), Some(Backend::Postgres));
    /// assert_eq!(Backend::of_url("MariaDB://h/db"), Some(Backend::Mysql));
    /// assert_eq!(Backend::of_url("sqlite::memory:"), Some(Backend::Sqlite));
    /// assert_eq!(Backend::of_url("oracle://h/db"), None);
    /// ```
    pub fn of_url(url: &str) -> Option<Backend> {
        let scheme = url.split(':').next().unwrap_or_default();
        [
            ("postgres", Backend::Postgres),
            ("postgresql", Backend::Postgres),
            ("mysql", Backend::Mysql),
            ("mariadb", Backend::Mysql),
            ("sqlite", Backend::Sqlite),
        ]
        .into_iter()
        .find_map(|(name, backend)| scheme.eq_ignore_ascii_case(name).then_some(backend))
    }

    /// The short name, as [`crate::Driver::backend`] returns it: `postgres`, `mysql` or
    /// `sqlite`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
            Backend::Sqlite => "sqlite",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Quote an identifier with `quote` (`"` for PostgreSQL, `` ` `` for MySQL), doubling the
/// quote character inside it.
///
/// ```
/// use ferry_core::driver::url::quote_ident;
/// assert_eq!(quote_ident("a\"b", '"'), "\"a\"\"b\"");
/// assert_eq!(quote_ident("a`b", '`'), "`a``b`");
/// ```
pub fn quote_ident(name: &str, quote: char) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push(quote);
    for c in name.chars() {
        if c == quote {
            out.push(quote);
        }
        out.push(c);
    }
    out.push(quote);
    out
}

/// `url` with its database path replaced by `database`; the query string is kept, a
/// fragment is dropped. `None` when `url` is not of the form `scheme://...`.
///
/// ```
/// use ferry_core::driver::url::with_database;
/// assert_eq!(
///     with_database("postgres://u@h:5432/old?sslmode=disable", "new").as_deref(),
///     Some("postgres://u@h:5432/new?sslmode=disable")
/// );
/// assert_eq!(with_database("mysql://root@h", "x").as_deref(), Some("mysql://root@h/x"));
/// assert_eq!(with_database("host=h dbname=old", "x"), None);
/// ```
pub fn with_database(url: &str, database: &str) -> Option<String> {
    let rest_start = url.find("://")? + 3;
    let authority_end = url[rest_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| rest_start + i);
    let query = url[authority_end..]
        .find('?')
        .map_or("", |i| &url[authority_end + i..]);
    Some(format!("{}/{database}{query}", &url[..authority_end]))
}

/// One `key=value` pair of a query string, as [`query_pairs`] yields it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPair<'a> {
    /// The pair exactly as written, to hand on to a client library unchanged.
    pub raw: &'a str,
    /// The key, percent-decoded.
    pub key: Cow<'a, str>,
    /// The value, percent-decoded; empty when the pair has no `=`.
    pub value: Cow<'a, str>,
}

/// The part of `url` before its query string (everything when there is none).
///
/// ```
/// assert_eq!(ferry_core::driver::url::without_query("mysql://h/db?ssl-mode=DISABLED"), "mysql://h/db");
/// ```
pub fn without_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(base, _)| base)
}

/// The `key=value` pairs of `url`'s query string (after its first `?`), empty pairs skipped.
///
/// ```
/// let pairs: Vec<_> = ferry_core::driver::url::query_pairs("postgres://h/db?sslrootcert=%2Fca.pem&&x")
///     .map(|p| (p.key.into_owned(), p.value.into_owned()))
///     .collect();
/// assert_eq!(pairs, [("sslrootcert".into(), "/ca.pem".into()), ("x".into(), String::new())]);
/// ```
pub fn query_pairs(url: &str) -> impl Iterator<Item = QueryPair<'_>> {
    url.split_once('?')
        .map(|(_, query)| query)
        .into_iter()
        .flat_map(|query| query.split('&'))
        .filter(|pair| !pair.is_empty())
        .map(|raw| {
            let (key, value) = raw.split_once('=').unwrap_or((raw, ""));
            QueryPair {
                raw,
                key: percent_decode(key),
                value: percent_decode(value),
            }
        })
}

/// `base` with the query string made of `pairs` (as written), or `base` alone when there
/// are none: the counterpart of [`without_query`] and [`query_pairs`].
///
/// ```
/// assert_eq!(ferry_core::driver::url::with_query("mysql://h/db", &["a=1", "b=2"]), "mysql://h/db?a=1&b=2");
/// assert_eq!(ferry_core::driver::url::with_query("mysql://h/db", &[]), "mysql://h/db");
/// ```
pub fn with_query(base: &str, pairs: &[&str]) -> String {
    if pairs.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", pairs.join("&"))
    }
}

/// Decode `%XX` escapes; a malformed escape is kept as written, and bytes that do not form
/// UTF-8 are replaced.
///
/// ```
/// use ferry_core::driver::url::percent_decode;
/// assert_eq!(percent_decode("a%2Fb%"), "a/b%");
/// assert_eq!(percent_decode("%zz"), "%zz");
/// ```
pub fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_by_scheme() {
        for (url, backend) in [
            ("postgres://u@h/db", Some(Backend::Postgres)),
            ("POSTGRESQL://u@h/db", Some(Backend::Postgres)),
            ("mysql://root@h/db", Some(Backend::Mysql)),
            ("mariadb://root@h/db", Some(Backend::Mysql)),
            ("sqlite:app.db", Some(Backend::Sqlite)),
            ("sqlite::memory:", Some(Backend::Sqlite)),
            ("sqlite", Some(Backend::Sqlite)),
            ("postgresx://h", None),
            ("", None),
            ("app.db", None),
        ] {
            assert_eq!(Backend::of_url(url), backend, "{url}");
        }
        assert_eq!(Backend::Postgres.as_str(), "postgres");
        assert_eq!(Backend::Mysql.to_string(), "mysql");
        assert_eq!(Backend::Sqlite.as_str(), "sqlite");
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("ferry_migrations", '"'), "\"ferry_migrations\"");
        assert_eq!(quote_ident("a\"b", '"'), "\"a\"\"b\"");
        assert_eq!(quote_ident("a`b", '`'), "`a``b`");
        assert_eq!(quote_ident("", '`'), "``");
    }

    #[test]
    fn replaces_the_database() {
        for (url, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            (
                "postgres://u@h?sslmode=disable",
                "postgres://u@h/x?sslmode=disable",
            ),
            (
                "postgresql://root@/test?host=/var/run/postgresql",
                "postgresql://root@/x?host=/var/run/postgresql",
            ),
            (
                "mysql://root@127.0.0.1:3306/test",
                "mysql://root@127.0.0.1:3306/x",
            ),
            (
                "mysql://root@h?ssl-mode=DISABLED",
                "mysql://root@h/x?ssl-mode=DISABLED",
            ),
            ("mysql://root@h/old?socket=/s", "mysql://root@h/x?socket=/s"),
            ("mysql://root@h/old#frag", "mysql://root@h/x"),
            ("mysql://root@h", "mysql://root@h/x"),
        ] {
            assert_eq!(with_database(url, "x").as_deref(), Some(expected), "{url}");
        }
        assert_eq!(with_database("host=h user=u", "x"), None);
    }

    #[test]
    fn query_pairs_decode_and_keep_the_raw_text() {
        let url = "postgres://h/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&&flag&a%3Db=c";
        let pairs: Vec<_> = query_pairs(url).collect();
        assert_eq!(pairs.len(), 4);
        assert_eq!(
            (pairs[0].raw, &*pairs[0].key, &*pairs[0].value),
            ("sslmode=verify-full", "sslmode", "verify-full")
        );
        assert_eq!(pairs[1].raw, "sslrootcert=%2Ftmp%2Fca.pem");
        assert_eq!(pairs[1].value, "/tmp/ca.pem");
        assert_eq!((&*pairs[2].key, &*pairs[2].value), ("flag", ""));
        assert_eq!((&*pairs[3].key, &*pairs[3].value), ("a=b", "c"));
        assert_eq!(query_pairs("mysql://h/db").count(), 0);
        assert_eq!(query_pairs("mysql://h/db?").count(), 0);

        assert_eq!(without_query(url), "postgres://h/db");
        assert_eq!(without_query("mysql://h/db"), "mysql://h/db");
        let kept: Vec<_> = pairs.iter().skip(2).map(|p| p.raw).collect();
        assert_eq!(
            with_query("postgres://h/db", &kept),
            "postgres://h/db?flag&a%3Db=c"
        );
    }

    #[test]
    fn decodes_percent() {
        assert_eq!(percent_decode("a%2Fb%"), "a/b%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%2"), "%2");
        assert!(matches!(percent_decode("plain"), Cow::Borrowed("plain")));
    }
}
