//! The uWebSockets.js acceptor pattern: one App accepts connections and hands each socket to
//! a child App running in another worker thread (`app.getDescriptor()` in the worker,
//! `acceptorApp.addChildAppDescriptor(descriptor)` in the acceptor), round-robin.
//!
//! A descriptor names an (app, loop inbox) pair in a process-wide registry. Handing a socket
//! over pushes it into the child loop's inbox and wakes that loop's mio `Poll` with a `Waker`;
//! the child then registers it as if it had accepted it itself.

use crate::event_loop::Loop;
use crate::slab::Key;
use crate::transport::{Peer, Transport};
use mio::Waker;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Sockets waiting for a loop, with the app (of that loop) each one is for.
#[derive(Default)]
pub struct Inbox {
    sockets: Mutex<Vec<(std::net::TcpStream, SocketAddr, Key)>>,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, Vec<(std::net::TcpStream, SocketAddr, Key)>> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One loop's end of the hand-over: its inbox and the waker of its Poll.
#[derive(Clone)]
pub struct Mailbox {
    pub inbox: Arc<Inbox>,
    pub waker: Arc<Waker>,
    /// Which loop it is (to unregister its descriptors at teardown).
    pub loop_id: u64,
}

struct Child {
    mailbox: Mailbox,
    app: Key,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static REGISTRY: Mutex<Option<HashMap<u64, Child>>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<HashMap<u64, Child>>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// `app.getDescriptor()`: a number another thread's acceptor can hand sockets to.
pub fn descriptor(lp: &Loop, app: Key) -> std::io::Result<u64> {
    let mailbox = lp.mailbox()?;
    let id = next_id();
    registry()
        .get_or_insert_with(HashMap::new)
        .insert(id, Child { mailbox, app });
    Ok(id)
}

/// Forgets every descriptor of a loop that is going away.
pub fn unregister_loop(loop_id: u64) {
    if let Some(map) = registry().as_mut() {
        map.retain(|_, c| c.mailbox.loop_id != loop_id);
    }
}

/// Tries to hand `stream` to the child app `descriptor`; gives it back if that child is gone.
pub fn hand_over(
    descriptor: u64,
    stream: mio::net::TcpStream,
    addr: SocketAddr,
) -> Result<(), mio::net::TcpStream> {
    let target = registry()
        .as_ref()
        .and_then(|m| m.get(&descriptor))
        .map(|c| (c.mailbox.clone(), c.app));
    let Some((mailbox, app)) = target else {
        return Err(stream);
    };
    // Ownership of the fd moves to the child loop's thread; mio's stream converts losslessly.
    let std_stream: std::net::TcpStream = stream.into();
    mailbox.inbox.lock().push((std_stream, addr, app));
    let _ = mailbox.waker.wake();
    Ok(())
}

/// The loop's waker fired: register what the acceptor handed over.
pub fn drain_inbox(lp: &std::rc::Rc<Loop>, inbox: &Inbox) {
    let sockets = std::mem::take(&mut *inbox.lock());
    for (stream, addr, app) in sockets {
        if lp.apps.borrow().get(app).is_none() {
            continue; // that app was closed meanwhile: the socket just closes
        }
        let _ = stream.set_nonblocking(true);
        let stream = Transport::Tcp(mio::net::TcpStream::from_std(stream));
        if let Some(stream) = crate::tls::wrap(lp, app, stream) {
            crate::conn::accept(lp, app, stream, Peer::Ip(addr));
        }
    }
}
