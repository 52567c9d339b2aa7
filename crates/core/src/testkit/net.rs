//! Misbehaving networks for tests, on std threads (no async runtime): a server that accepts
//! connections and never answers ([`SilentServer`]), and a proxy that forwards to a real server
//! until told to go silent ([`FreezingProxy`]). Both listen on 127.0.0.1 and stop when dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Accepts every connection and never sends a byte.
#[derive(Debug)]
pub struct SilentServer {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl SilentServer {
    /// Start one on a free port.
    pub fn start() -> std::io::Result<SilentServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((socket, _)) => held.push(socket),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(SilentServer { port, stop })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Forwards connections to `target` until [`FreezingProxy::freeze`]: from then on it forwards
/// nothing more in either direction and answers no new connection, yet closes nothing, as a
/// network that goes silent. [`FreezingProxy::cut`] instead closes every connection at once.
#[derive(Debug)]
pub struct FreezingProxy {
    port: u16,
    frozen: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
}

impl FreezingProxy {
    /// Start one on a free port, forwarding to `target`.
    pub fn start(target: SocketAddr) -> std::io::Result<FreezingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let frozen = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let sockets = Arc::new(Mutex::new(Vec::new()));
        let (is_frozen, stopped, all) = (frozen.clone(), stop.clone(), sockets.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                if is_frozen.load(Ordering::Relaxed) {
                    lock(&all).push(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                for socket in [&client, &server] {
                    if let Ok(clone) = socket.try_clone() {
                        lock(&all).push(clone);
                    }
                }
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let (f1, f2) = (is_frozen.clone(), is_frozen.clone());
                std::thread::spawn(move || pump(client, server, &f1));
                std::thread::spawn(move || pump(server2, client2, &f2));
            }
        });
        Ok(FreezingProxy {
            port,
            frozen,
            stop,
            sockets,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Go silent: forward nothing more, answer no new connection, close nothing.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::Relaxed);
    }

    /// Close every connection it carries, both ways, at once.
    pub fn cut(&self) {
        for socket in lock(&self.sockets).drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cut();
        // Wake the held pumps: their writes now fail and they end.
        self.frozen.store(false, Ordering::Relaxed);
    }
}

/// The address of the server a `scheme://user@host:port/...` URL names, for a proxy in front
/// of it (`None` for a URL without a TCP host and port).
pub fn server_addr(url: &str) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs;
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host_port.to_socket_addrs().ok()?.next()
}

fn lock(sockets: &Mutex<Vec<TcpStream>>) -> std::sync::MutexGuard<'_, Vec<TcpStream>> {
    sockets
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Copy `from` to `to` until either closes; once `frozen`, hold what arrives and send nothing.
fn pump(mut from: TcpStream, mut to: TcpStream, frozen: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while frozen.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Opens a driver from a URL, for the network cases below.
pub type Connect<'a> = &'a (dyn Fn(
    String,
) -> crate::driver::BoxFuture<
    'static,
    crate::driver::DriverResult<Box<dyn crate::Driver>>,
> + Sync);

/// A server that accepts the connection and says nothing: connecting with
/// `url_for(port, "2")` (a URL to 127.0.0.1:`port` with the password `pw-hidden` and
/// `connect_timeout=2`) gives up after about 2 s, says so, and hides the password; a
/// `connect_timeout` out of 1 to 3600 is a configuration error.
pub async fn connect_gives_up_on_a_silent_server(
    connect: Connect<'_>,
    url_for: &dyn Fn(u16, &str) -> String,
) {
    use crate::DriverErrorKind;
    use std::time::Instant;
    let silent = SilentServer::start().expect("start a silent server");
    let started = Instant::now();
    let Err(err) = connect(url_for(silent.port(), "2")).await else {
        panic!("connecting to a silent server must fail");
    };
    let took = started.elapsed();
    assert_eq!(err.kind, DriverErrorKind::Connect, "{err}");
    assert!(
        err.message.contains("gave up after 2 s (connect_timeout)"),
        "{err}"
    );
    assert!(!err.message.contains("pw-hidden"), "{err}");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    for bad in ["0", "3601", "1.5", "soon"] {
        let Err(err) = connect(url_for(silent.port(), bad)).await else {
            panic!("connect_timeout={bad} must fail");
        };
        assert_eq!(err.kind, DriverErrorKind::Config, "{bad}: {err}");
        assert!(err.message.contains("from 1 to 3600"), "{err}");
    }
}

/// The network goes silent in the middle of `slow_sql` (a statement of about 3 s): the
/// liveness watch finds the server unreachable on a new connection and ends the call (and
/// every later one at once) with `ConnectionLost`; a cut connection fails at once. Nothing of
/// either call is recorded. `proxied(port)` is the test database's URL through 127.0.0.1:`port`
/// (no TLS, `connect_timeout=2`), `direct` the URL itself, `server` the address to proxy.
///
/// Blocks the calling thread for a few seconds at the end: run it on a multi-threaded runtime.
pub async fn silence_and_cut_end_the_call(
    connect: Connect<'_>,
    direct: &str,
    server: SocketAddr,
    proxied: &dyn Fn(u16) -> String,
    slow_sql: &str,
) {
    use crate::driver::{RowChange, TrackingRow, PROBE_AFTER};
    use crate::DriverErrorKind;
    use std::time::Instant;
    for freeze in [true, false] {
        let proxy = Arc::new(FreezingProxy::start(server).expect("start a proxy"));
        let mut d = connect(proxied(proxy.port())).await.expect("connect");
        d.ensure_table().await.expect("ensure_table");
        let row = TrackingRow {
            app_name: "net".into(),
            migration_id: if freeze { "1" } else { "2" }.into(),
            description: "lost".into(),
            checksum: "c".into(),
            down_sql: None,
            applied_at: chrono::Utc::now(),
            duration_ms: 0,
            dirty: false,
        };
        let trigger = proxy.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            if freeze {
                trigger.freeze();
            } else {
                trigger.cut();
            }
        });
        let started = Instant::now();
        let err = d
            .execute_in_transaction(slow_sql, &RowChange::Insert(row))
            .await
            .expect_err("the call must fail");
        let took = started.elapsed();
        if freeze {
            assert_eq!(err.kind, DriverErrorKind::ConnectionLost, "{err}");
            assert!(err.message.contains("new connection"), "{err}");
            assert!(took >= PROBE_AFTER, "{took:?}");
            assert!(took < PROBE_AFTER + Duration::from_secs(10), "{took:?}");
            let again = Instant::now();
            let err = d
                .applied(None)
                .await
                .expect_err("a lost connection stays lost");
            assert_eq!(err.kind, DriverErrorKind::ConnectionLost);
            assert!(again.elapsed() < Duration::from_secs(1));
        } else {
            assert!(
                took < Duration::from_secs(3),
                "a cut connection fails at once: {took:?}"
            );
        }
        drop(d);
        drop(proxy);
    }
    // The server notices the closed connections and rolls their transactions back.
    std::thread::sleep(Duration::from_secs(4));
    let mut d = connect(direct.to_owned()).await.expect("connect directly");
    assert!(
        d.applied(None).await.expect("read rows").is_empty(),
        "nothing of either call was recorded"
    );
}
