//! [`redact_url`]: passwords out of URL-like text before it is shown.

/// Redact the passwords of URL-like text for display: `postgres://u:secret@h/db` becomes
/// `postgres://u:***@h/db`, and `password=` parameters (of a URL's query, or of a key-value
/// connection string) become `password=***`. Works on whole messages that quote URLs, and
/// errs on the side of hiding: a password holding `/`, `?`, `@` or spaces is hidden whole.
///
/// ```
/// assert_eq!(
///     ferry_core::driver::redact_url("mysql://root:hunter2@db:3306/app?password=x"),
///     "mysql://root:***@db:3306/app?password=***"
/// );
/// assert_eq!(
///     ferry_core::driver::redact_url("bad URL `postgres://u:pa/ss?w@h/db`: no"),
///     "bad URL `postgres://u:***@h/db`: no"
/// );
/// assert_eq!(
///     ferry_core::driver::redact_url("host=h password='a b' dbname=x"),
///     "host=h password=*** dbname=x"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    redact_query_passwords(&redact_userinfo(url))
}

/// The userinfo password of every `scheme://user:password@host` in `text`. The userinfo ends
/// at the last `@` before the next URL (or the end of the text): a password may hold `/`, `?`,
/// `#` or `@` unencoded, and hiding too much is better than showing any of it.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let after = scheme_end + 3;
        out.push_str(&rest[..after]);
        rest = &rest[after..];
        let next_url = next_url_start(rest);
        // The `@` ending the userinfo: within the authority when the authority has one, else
        // the last one before the next URL.
        let authority_end = rest
            .find(|c: char| matches!(c, '/' | '?' | '#' | '`' | '\'' | '"') || c.is_whitespace())
            .unwrap_or(rest.len());
        let at = rest[..authority_end]
            .rfind('@')
            .or_else(|| last_at_before_a_url(rest, next_url));
        if let Some(at) = at {
            if let Some(colon) = rest[..at].find(':') {
                out.push_str(&rest[..=colon]);
                out.push_str("***");
                out.push_str(&rest[at..at + 1]);
                rest = &rest[at + 1..];
                continue;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The last `@` of `text` before the URL starting at `next_url` (see [`next_url_start`]), else
/// before the one after it, and so on: a password may hold a space followed by `scheme://`
/// (`postgres://u:P a://@h/db`), which looks like the start of a URL without an `@` of its
/// own before the password's end.
fn last_at_before_a_url(text: &str, mut next_url: Option<usize>) -> Option<usize> {
    loop {
        let end = next_url.unwrap_or(text.len());
        if let Some(at) = text[..end].rfind('@') {
            return Some(at);
        }
        let start = next_url?;
        let after = start + text[start..].find("://")? + 3;
        next_url = next_url_start(&text[after..]).map(|i| after + i);
    }
}

/// Where the next URL of `text` starts: a `scheme://` whose scheme follows the start of the
/// text, whitespace, a quote or a backtick (so that a password holding `://` is no URL).
fn next_url_start(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = text[from..].find("://") {
        let colon = from + pos;
        let scheme_start = text[..colon]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')))
            .map_or(0, |i| i + 1);
        let boundary = text[..scheme_start]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || matches!(c, '`' | '\'' | '"' | '(' | '<'));
        if scheme_start < colon && boundary {
            return Some(scheme_start);
        }
        from = colon + 3;
    }
    None
}

/// Every `password=` value: in a URL's query (after `?` or `&`) up to the next `&`, `#`,
/// backtick, double quote or line end; in a key-value string, a quoted `'...'` value or up to
/// the next whitespace.
fn redact_query_passwords(text: &str) -> String {
    const KEY: &str = "password=";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(pos) = lower[i..].find(KEY) {
        let key_start = i + pos;
        let start = key_start + KEY.len();
        out.push_str(&text[i..start]);
        let value = &text[start..];
        let in_query = text[..key_start].ends_with(['?', '&']);
        let len = if in_query {
            value
                .find(['&', '#', '`', '"', '\n', '\r'])
                .unwrap_or(value.len())
        } else if let Some(quoted) = value.strip_prefix('\'') {
            // libpq's quoting: `\'` and `\\` are escapes inside.
            let mut escaped = false;
            quoted
                .char_indices()
                .find(|&(_, c)| {
                    let end = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    end
                })
                .map_or(value.len(), |(j, _)| j + 2)
        } else {
            value.find(char::is_whitespace).unwrap_or(value.len())
        };
        out.push_str("***");
        i = start + len;
    }
    out.push_str(&text[i..]);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    /// Found by the property test `redact_url_hides_any_password`: a password holding a space
    /// followed by `scheme://` looked like a second URL, and was printed whole.
    #[test]
    fn password_holding_a_space_and_a_scheme_is_hidden() {
        assert_eq!(
            redact_url("invalid URL `postgres://u:P a://@h:5432/db`: something is wrong"),
            "invalid URL `postgres://u:***@h:5432/db`: something is wrong"
        );
        assert_eq!(
            redact_url("mysql://u:P a://b@c d@h/db and mariadb://v:q x://@h2/db"),
            "mysql://u:***@h/db and mariadb://v:***@h2/db"
        );
    }

    /// A second URL with a userinfo of its own stays a URL of its own.
    #[test]
    fn urls_side_by_side_keep_their_hosts() {
        assert_eq!(
            redact_url("from postgres://u:p@h1/a to mysql://v:q@h2/b"),
            "from postgres://u:***@h1/a to mysql://v:***@h2/b"
        );
    }
}
