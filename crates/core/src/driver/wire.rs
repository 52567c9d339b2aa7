//! What a server said when a connection attempt went wrong: which protocol it speaks, for
//! the message of a URL pointed at the wrong port (SPEC §16.10: a `mysql://` URL at a
//! PostgreSQL server, a `postgres://` URL at a MySQL one, a server that accepts the
//! connection and says nothing).
//!
//! The drivers do the network part on their own runtime: on a fresh connection they listen
//! briefly (a MySQL or MariaDB server speaks first: its greeting), then send
//! [`POSTGRES_SSL_REQUEST`] and listen again (a PostgreSQL server, or PgBouncer, answers it
//! with one byte). This module judges the bytes and words the message.
//!
//! ```
//! use ferry_core::driver::url::Backend;
//! use ferry_core::driver::wire::Heard;
//! let heard = Heard::from_ssl_reply(b"N");
//! assert!(heard.speaks(Backend::Postgres));
//! assert!(heard.describe(Backend::Mysql).contains("PostgreSQL"));
//! ```

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::driver::error::DriverError;
use crate::driver::rt::Runtime;
use crate::driver::url::Backend;
use crate::driver::watch::first;
use crate::text::seconds_text;

/// PostgreSQL's `SSLRequest`: length 8, request code 80877103. Any PostgreSQL server answers
/// it with `S` or `N` before anything else.
pub const POSTGRES_SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// What the server said on a fresh connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// It accepted the connection and said nothing for this long.
    Silence(Duration),
    /// It closed the connection without a word.
    Closed,
    /// A PostgreSQL server (or a pooler speaking its protocol) answered the `SSLRequest`.
    Postgres,
    /// A MySQL or MariaDB server greeted: its version, or the error it greeted with.
    Mysql(String),
    /// Something else: the first bytes it sent, printable.
    Other(String),
}

impl Heard {
    /// Judge what a server sent first, unasked (PostgreSQL never speaks first).
    ///
    /// ```
    /// use ferry_core::driver::wire::Heard;
    /// let mut greeting = vec![20, 0, 0, 0, 10];
    /// greeting.extend_from_slice(b"10.11.6-MariaDB\0....");
    /// assert_eq!(Heard::from_greeting(&greeting), Heard::Mysql("10.11.6-MariaDB".into()));
    /// ```
    pub fn from_greeting(bytes: &[u8]) -> Heard {
        // A MySQL packet: 3-byte length, sequence 0, then protocol version 10 and the
        // server version, or 0xff, a 2-byte error code and the message.
        if bytes.len() > 5 && bytes[3] == 0 {
            let payload = &bytes[4..];
            match payload[0] {
                10 => {
                    let version = payload[1..].split(|&b| b == 0).next().unwrap_or(&[]);
                    return Heard::Mysql(printable(version));
                }
                0xff if payload.len() > 3 => {
                    let mut message = &payload[3..];
                    // 4.1+: `#` and a 5-character SQLSTATE before the message.
                    if message.first() == Some(&b'#') && message.len() > 6 {
                        message = &message[6..];
                    }
                    return Heard::Mysql(printable(message));
                }
                _ => {}
            }
        }
        Heard::Other(printable(bytes))
    }

    /// Judge the answer to [`POSTGRES_SSL_REQUEST`] of a server that did not speak first.
    pub fn from_ssl_reply(bytes: &[u8]) -> Heard {
        match bytes {
            // `S` or `N`; `E`, an error, from servers older than the protocol 3.0 request.
            [b'S' | b'N'] | [b'E', ..] => Heard::Postgres,
            [] => Heard::Closed,
            _ => Heard::Other(printable(bytes)),
        }
    }

    /// Whether this is the protocol of `backend`'s URLs.
    pub fn speaks(&self, backend: Backend) -> bool {
        matches!(
            (self, backend),
            (Heard::Postgres, Backend::Postgres) | (Heard::Mysql(_), Backend::Mysql)
        )
    }

    /// What the server did, for a connection error of a `backend` URL: one line.
    pub fn describe(&self, backend: Backend) -> String {
        let (scheme, name) = match backend {
            Backend::Postgres => ("postgres://", "PostgreSQL"),
            Backend::Mysql => ("mysql://", "MySQL"),
            Backend::Sqlite => ("sqlite:", "SQLite"),
        };
        match self {
            Heard::Silence(waited) => format!(
                "the server accepted the connection and said nothing for {}; is it a {name} server?",
                crate::text::seconds_text(*waited)
            ),
            Heard::Closed => format!(
                "the server closed the connection without answering; is it a {name} server?"
            ),
            Heard::Postgres => format!(
                "the server speaks the PostgreSQL protocol, not {name}'s: is the port right, or should the URL be postgres://?"
            ),
            Heard::Mysql(what) => format!(
                "the server speaks the MySQL protocol ({what}), not {name}'s: is the port right, or should the URL be mysql://?"
            ),
            Heard::Other(sent) => format!(
                "the server does not speak the {name} protocol: it sent `{sent}`; is the port of this {scheme} URL right?"
            ),
        }
    }
}

/// At most 60 bytes as text, anything outside printable ASCII as `.`.
fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(60)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect::<String>()
        .trim_end_matches('.')
        .to_owned()
}

/// How long connecting may go on before [`open_naming_the_server`] asks the server, on a second
/// connection, what it is; with a driver's one-second listens, a server that does not speak
/// the backend's protocol is named within 5 s.
pub const SNIFF_AFTER: Duration = Duration::from_millis(2500);

/// A server driver's connection attempt, bounded by `limit` (the URL's `connect_timeout`),
/// that names the server when it is not one of `backend`'s (SPEC §16.10).
///
/// `attempt` opens the connection. When it fails without an answer from a server of the
/// backend (`answered` says whether the error carries one), or is still going after
/// [`SNIFF_AFTER`], `sniff` asks the server what it is on a second connection
/// ([`Heard`]); a server of another kind, or a silent one, fails the attempt with
/// `connect_error` of [`Heard::describe`]. Past `limit`, `connect_error` says how long ferry
/// waited. The driver passes its runtime, so that core stays free of one.
pub async fn open_naming_the_server<T, S, F>(
    rt: &dyn Runtime,
    backend: Backend,
    limit: Duration,
    attempt: impl Future<Output = Result<T, DriverError>>,
    answered: impl Fn(&DriverError) -> bool,
    sniff: S,
    connect_error: impl Fn(&str) -> DriverError,
) -> Result<T, DriverError>
where
    S: Fn() -> F,
    F: Future<Output = Option<Heard>>,
{
    let started = Instant::now();
    let timed_out = || {
        connect_error(&format!(
            "no answer, gave up after {} (connect_timeout)",
            seconds_text(started.elapsed())
        ))
    };
    let explained = |error: DriverError| {
        let asked = (!answered(&error)).then(&sniff);
        let connect_error = &connect_error;
        async move {
            match asked {
                Some(asked) => match asked.await {
                    Some(heard) if !heard.speaks(backend) => {
                        connect_error(&heard.describe(backend))
                    }
                    _ => error,
                },
                None => error,
            }
        }
    };
    let mut attempt = pin!(attempt);
    match first(attempt.as_mut(), rt.sleep(limit.min(SNIFF_AFTER))).await {
        Some(Ok(done)) => return Ok(done),
        Some(Err(e)) => return Err(explained(e).await),
        None if limit <= SNIFF_AFTER => return Err(timed_out()),
        None => {}
    }
    enum Step<T> {
        Done(Result<T, DriverError>),
        Heard(Option<Heard>),
        Late,
    }
    let mut sniffing = pin!(sniff());
    let mut timer = pin!(rt.sleep(limit.saturating_sub(started.elapsed())));
    let step = std::future::poll_fn(|cx| {
        if let Poll::Ready(done) = attempt.as_mut().poll(cx) {
            return Poll::Ready(Step::Done(done));
        }
        if let Poll::Ready(heard) = sniffing.as_mut().poll(cx) {
            return Poll::Ready(Step::Heard(heard));
        }
        timer.as_mut().poll(cx).map(|()| Step::Late)
    })
    .await;
    match step {
        Step::Done(Ok(done)) => Ok(done),
        Step::Done(Err(e)) => Err(explained(e).await),
        Step::Heard(Some(heard)) if !heard.speaks(backend) => {
            Err(connect_error(&heard.describe(backend)))
        }
        Step::Heard(_) => match first(attempt.as_mut(), timer).await {
            Some(done) => done,
            None => Err(timed_out()),
        },
        Step::Late => Err(timed_out()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_and_replies() {
        let mut error = vec![30, 0, 0, 0, 0xff, 0x10, 0x04, b'#'];
        error.extend_from_slice(b"HY000Too many connections");
        assert_eq!(
            Heard::from_greeting(&error),
            Heard::Mysql("Too many connections".into())
        );
        assert_eq!(
            Heard::from_greeting(b"SSH-2.0-OpenSSH_9.2\r\n"),
            Heard::Other("SSH-2.0-OpenSSH_9.2".into())
        );
        assert_eq!(Heard::from_ssl_reply(b"S"), Heard::Postgres);
        assert_eq!(Heard::from_ssl_reply(b""), Heard::Closed);
        assert_eq!(
            Heard::from_ssl_reply(b"HTTP/1.1 400 Bad Request\r\n"),
            Heard::Other("HTTP/1.1 400 Bad Request".into())
        );
        assert!(Heard::Mysql("x".into()).speaks(Backend::Mysql));
        assert!(!Heard::Mysql("x".into()).speaks(Backend::Postgres));
        assert!(Heard::Silence(Duration::from_secs(4))
            .describe(Backend::Mysql)
            .contains("said nothing for 4 s"));
    }
}
