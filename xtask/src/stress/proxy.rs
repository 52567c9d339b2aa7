//! A small TCP proxy on 127.0.0.1, in front of a database server, that can cut every
//! connection going through it; and a listener that accepts connections and never answers.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

/// One client connection and, when forwarding, its connection to the server.
struct Pair {
    client: TcpStream,
    server: Option<TcpStream>,
    /// Set when either direction has ended.
    closed: Arc<AtomicBool>,
}

#[derive(Default)]
struct Shared {
    pairs: Mutex<Vec<Pair>>,
    /// After a cut: new connections are closed at once (the network is gone).
    dead: AtomicBool,
    stop: AtomicBool,
    accepted: AtomicUsize,
}

/// A proxy or a silent listener; stopped (every socket closed) on drop.
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Forward every connection to `upstream`.
    pub fn forward(upstream: SocketAddr) -> Result<Proxy> {
        Proxy::start(Some(upstream))
    }

    /// Accept connections and never answer (nor read).
    pub fn silent() -> Result<Proxy> {
        Proxy::start(None)
    }

    fn start(upstream: Option<SocketAddr>) -> Result<Proxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .context("the proxy cannot listen on 127.0.0.1")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept_loop(&listener, upstream, &shared))
        };
        Ok(Proxy {
            port,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Cut every open connection (both directions shut down, on both sides) and refuse new
    /// ones from now on; return how many were open.
    pub fn cut(&self) -> usize {
        self.shared.dead.store(true, Ordering::SeqCst);
        let pairs = self.shared.pairs.lock().unwrap_or_else(|p| p.into_inner());
        let mut open = 0;
        for pair in pairs.iter() {
            if !pair.closed.swap(true, Ordering::SeqCst) {
                open += 1;
            }
            let _ = pair.client.shutdown(Shutdown::Both);
            if let Some(server) = &pair.server {
                let _ = server.shutdown(Shutdown::Both);
            }
        }
        open
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.cut();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, upstream: Option<SocketAddr>, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => continue,
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        if shared.dead.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let _ = client.set_nonblocking(false);
        let _ = client.set_nodelay(true);
        let closed = Arc::new(AtomicBool::new(false));
        let server = match upstream {
            None => None,
            Some(address) => match TcpStream::connect_timeout(&address, Duration::from_secs(5)) {
                Ok(server) => {
                    let _ = server.set_nodelay(true);
                    pump(&client, &server, &closed);
                    pump(&server, &client, &closed);
                    Some(server)
                }
                Err(_) => {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
            },
        };
        shared
            .pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Pair {
                client,
                server,
                closed,
            });
    }
}

/// Copy bytes from `from` to `to` on a thread of its own until either side ends; then mark
/// the pair closed and pass the end on.
fn pump(from: &TcpStream, to: &TcpStream, closed: &Arc<AtomicBool>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let closed = Arc::clone(closed);
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        closed.store(true, Ordering::SeqCst);
        let _ = to.shutdown(Shutdown::Write);
    });
}
