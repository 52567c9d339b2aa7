//! Text helpers every layer uses: durations and counts in messages, one-line messages, and
//! the checksum of a migration section. Imports nothing from the crate, so that anything may
//! import it.

use sha2::{Digest, Sha256};

/// A duration as a person reads it in a message: whole seconds, or tenths when it has any.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(ferry_core::seconds_text(Duration::from_millis(30_040)), "30 s");
/// assert_eq!(ferry_core::seconds_text(Duration::from_millis(1_260)), "1.3 s");
/// ```
pub fn seconds_text(duration: std::time::Duration) -> String {
    let tenths = (duration.as_secs_f64() * 10.0).round() / 10.0;
    if tenths.fract() == 0.0 {
        format!("{tenths:.0} s")
    } else {
        format!("{tenths:.1} s")
    }
}

/// Collapse whitespace runs (newlines included) into single spaces, so that a message from
/// a library or a server fits on one line.
///
/// ```
/// assert_eq!(ferry_core::driver::url::one_line("  connection\n  refused \t(os error 111)"), "connection refused (os error 111)");
/// ```
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// SHA-256 (lower-case hex) of a section's text.
pub fn checksum(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(2 * digest.len());
    for b in digest {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    hex
}

/// `""` for one, `"s"` otherwise: `format!("{n} migration{}", plural(n))`.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_flattens_whitespace() {
        assert_eq!(one_line("a\n\n  b\r\n\tc "), "a b c");
        assert_eq!(one_line(""), "");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1), "");
        assert_eq!(plural(0), "s");
        assert_eq!(plural(2), "s");
    }
}
