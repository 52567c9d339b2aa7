//! Telling a direct connection from one through a pooler or proxy.
//!
//! At connect, a PostgreSQL server announces the process id of the backend serving the
//! connection (BackendKeyData, used for cancel requests). A pooler or proxy (PgBouncer,
//! PgCat, Supavisor, RDS Proxy) hands its clients a key of its own, since any of its server
//! connections may serve them; so when `pg_backend_pid()` differs from the announced pid,
//! something sits between ferry and the server, and session-level state such as an advisory
//! lock cannot be trusted to stay with this client.
//!
//! tokio-postgres keeps the announced pid private, but writes it into every cancel request.
//! [`announced_pid`] has it write one into an in-memory pipe and reads it back: nothing goes
//! over the network.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};
use tokio_postgres::Client;

/// The request code of an `SSLRequest` packet.
const SSL_REQUEST: u32 = 80_877_103;
/// The request code of a `CancelRequest` packet.
const CANCEL_REQUEST: u32 = 80_877_102;

/// The backend pid the server (or whatever answered) announced when `client` connected, or
/// `None` if it cannot be read.
pub(crate) async fn announced_pid(client: &Client) -> Option<i32> {
    let (mut ours, theirs) = tokio::io::duplex(256);
    let token = client.cancel_token();
    let write = token.cancel_query_raw(theirs, Passthrough);
    let read = async {
        let mut head = [0u8; 8];
        ours.read_exact(&mut head).await.ok()?;
        let mut code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if code == SSL_REQUEST {
            // Say yes; the "TLS" that follows is the pipe itself (see `Passthrough`).
            ours.write_all(b"S").await.ok()?;
            ours.read_exact(&mut head).await.ok()?;
            code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        }
        if code != CANCEL_REQUEST {
            return None;
        }
        let mut rest = [0u8; 8];
        ours.read_exact(&mut rest).await.ok()?;
        Some(i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]))
    };
    let both = async { tokio::join!(write, read).1 };
    tokio::time::timeout(Duration::from_secs(1), both)
        .await
        .ok()
        .flatten()
}

/// A "TLS" connector that hands the stream back unchanged, so that a cancel request of a
/// client opened with `sslmode=require` is written in plain into the pipe.
struct Passthrough;

impl TlsConnect<DuplexStream> for Passthrough {
    type Stream = Plain;
    type Error = io::Error;
    type Future = std::future::Ready<Result<Plain, io::Error>>;

    fn connect(self, stream: DuplexStream) -> Self::Future {
        std::future::ready(Ok(Plain(stream)))
    }
}

/// The pipe, posing as a TLS stream.
struct Plain(DuplexStream);

impl TlsStream for Plain {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for Plain {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Plain {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
