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
