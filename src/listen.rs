//! Listening sockets: bind (SO_REUSEPORT by default, as uSockets does, so worker threads can share
//! a port), accept until the kernel has no more, hand each new socket to `conn::accept`.

use crate::event_loop::{Loop, LISTENER_BIT};
use crate::slab::Key;
use crate::transport::{Peer, Transport};
use mio::net::{TcpListener, UnixListener};
use mio::{Interest, Token};
use socket2::{Domain, Type};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;

pub enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Socket {
    fn accept(&self) -> io::Result<(Transport, Peer)> {
        match self {
            Socket::Tcp(l) => l.accept().map(|(s, a)| (Transport::Tcp(s), Peer::Ip(a))),
            Socket::Unix(l) => l.accept().map(|(s, _)| (Transport::Unix(s), Peer::Local)),
        }
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Socket::Tcp(l) => l,
            Socket::Unix(l) => l,
        }
    }
}

pub struct Listener {
    pub socket: Socket,
    pub app: Key,
    /// 0 for Unix sockets.
    pub port: u16,
}

/// uWebSockets.js option bit: refuse to share the port with another listener.
pub const LIBUS_LISTEN_EXCLUSIVE_PORT: u32 = 1;

/// Binds and registers a listener for `app`. `host` None listens on every interface (dual-stack
/// IPv6 when available, else IPv4).
pub fn listen(lp: &Loop, app: Key, host: Option<&str>, port: u16, options: u32) -> io::Result<Key> {
    let exclusive = options & LIBUS_LISTEN_EXCLUSIVE_PORT != 0;
    let socket = match host {
        Some(h) if !h.is_empty() => {
            let addr = (h, port)
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "host did not resolve"))?;
            bind(addr, exclusive, false)?
        }
        _ => bind(
            (std::net::Ipv6Addr::UNSPECIFIED, port).into(),
            exclusive,
            true,
        )
        .or_else(|_| {
            bind(
                (std::net::Ipv4Addr::UNSPECIFIED, port).into(),
                exclusive,
                false,
            )
        })?,
    };
    let port = socket.local_addr()?.port();
    register(
        lp,
        Listener {
            socket: Socket::Tcp(socket),
            app,
            port,
        },
    )
}

/// `listen_unix(cb, path)`: a Unix domain socket listener (an existing socket file is replaced).
pub fn listen_unix(lp: &Loop, app: Key, path: &str) -> io::Result<Key> {
    let _ = std::fs::remove_file(path);
    let socket = UnixListener::bind(path)?;
    register(
        lp,
        Listener {
            socket: Socket::Unix(socket),
            app,
            port: 0,
        },
    )
}

fn register(lp: &Loop, listener: Listener) -> io::Result<Key> {
    let key = lp.listeners.borrow_mut().insert(listener);
    let registered = {
        let mut listeners = lp.listeners.borrow_mut();
        let l = listeners.get_mut(key).expect("just inserted");
        lp.registry().registry().register(
            l.socket.source(),
            Token(LISTENER_BIT | key.index as usize),
            Interest::READABLE,
        )
    };
    if let Err(e) = registered {
        lp.listeners.borrow_mut().remove(key);
        return Err(e);
    }
    lp.update_ref();
    Ok(key)
}

fn bind(addr: SocketAddr, exclusive: bool, dual_stack: bool) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if !exclusive {
        socket.set_reuse_port(true)?;
    }
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(512)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Stops listening; returns false if the token was already closed.
pub fn close(lp: &Loop, key: Key) -> bool {
    let removed = lp.listeners.borrow_mut().remove(key);
    match removed {
        Some(mut l) => {
            let _ = lp.registry().registry().deregister(l.socket.source());
            drop(l);
            lp.update_ref();
            true
        }
        None => false,
    }
}

pub fn on_acceptable(lp: &Rc<Loop>, index: usize) {
    let Some(key) = lp.listeners.borrow().key_at(index) else {
        return;
    };
    loop {
        let accepted = {
            let listeners = lp.listeners.borrow();
            let Some(l) = listeners.get(key) else { return };
            l.socket.accept().map(|(s, peer)| (s, peer, l.app))
        };
        match accepted {
            Ok((stream, peer, app)) => {
                let Some(stream) = hand_to_child(lp, app, stream, peer) else {
                    continue;
                };
                if let Some(stream) = crate::tls::wrap(lp, app, stream) {
                    crate::conn::accept(lp, app, stream, peer)
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // WouldBlock: drained. Anything else (EMFILE...): stop for this wakeup; edge-triggered
            // readiness returns when another connection arrives.
            Err(_) => return,
        }
    }
}

/// An acceptor app (one with child app descriptors) passes TCP connections on, round-robin;
/// returns the stream when it stays here (no children, or the chosen child is gone).
fn hand_to_child(lp: &Loop, app: Key, stream: Transport, peer: Peer) -> Option<Transport> {
    let child = {
        let apps = lp.apps.borrow();
        let a = apps.get(app)?;
        let children = a.children.borrow();
        if children.is_empty() {
            None
        } else {
            let i = a.next_child.get() % children.len();
            a.next_child.set(i + 1);
            Some(children[i])
        }
    };
    match (child, stream, peer) {
        (Some(d), Transport::Tcp(s), Peer::Ip(addr)) => {
            match crate::acceptor::hand_over(d, s, addr) {
                Ok(()) => None,
                Err(s) => Some(Transport::Tcp(s)),
            }
        }
        (_, stream, _) => Some(stream),
    }
}
