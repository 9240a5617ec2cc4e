//! A connection: its socket, send queue and protocol state (HTTP, WebSocket, or closing), and
//! the I/O steps every protocol shares: accept, read, write with auto-cork, flush on writable.

use crate::event_loop::Loop;
use crate::http_conn::HttpConn;
use crate::slab::Key;
use crate::socket_poll::SocketPoll;
use crate::transport::{Peer, Transport};
use crate::ws_conn::WsConn;
use mio::{Interest, Token};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::Arc;
use uws_core::send_queue::SendQueue;

/// Small writes made while corked are coalesced up to this size and written at uncork.
pub const CORK_COALESCE: usize = 16 * 1024;
/// How long a closing socket may take to drain and see the peer's FIN.
const CLOSING_TIMEOUT_TICKS: u64 = 4;
/// HTTP keep-alive idle timeout (uWebSockets: 10 s).
pub const HTTP_IDLE_TICKS: u64 = 10;

pub enum State {
    Http(Box<HttpConn>),
    Ws(Box<WsConn>),
    /// The application is done with the socket; remaining bytes drain, then FIN, then close.
    Closing,
}

pub struct Conn {
    /// First field: dropped (the socket unwatched) before `stream` closes the fd.
    poll: Option<SocketPoll>,
    pub stream: Transport,
    pub app: Key,
    pub remote: Peer,
    pub queue: SendQueue,
    /// Bytes coalesced by cork and not yet flushed (not backpressure: excluded from
    /// getBufferedAmount, as uWebSockets' cork buffer is).
    cork_bytes: usize,
    /// Writes coalesced into `cork_bytes`.
    cork_writes: u32,
    flush_scheduled: bool,
    /// Explicit `cork(cb)` in progress.
    pub corked: bool,
    /// `res.pause()`: stop reading until `resume()`.
    pub paused: bool,
    pub state: State,
    /// Loop tick at which the timeout fires; 0 = none.
    pub timeout_at: u64,
    /// The client address a PROXY v2 header named (getProxiedRemoteAddress).
    pub proxied: Option<std::net::SocketAddr>,
    /// The first bytes were checked for a PROXY header.
    proxy_checked: bool,
    /// Set once a write failed: the peer is gone; the next read reports it.
    broken: bool,
    fin_sent: bool,
    /// Close the socket as soon as the FIN is sent, without waiting for the peer's: it said it
    /// sends nothing more (an HTTP request without keep-alive). See `hang_up_when_sent`.
    hang_up: bool,
    /// How far this connection is through the wakeup's publish batch (see `publish_batch`).
    pub pub_seen: u64,
    /// A raw write (tryEnd) was cut short by a full socket: the writable event is awaited.
    raw_blocked: bool,
}

impl Conn {
    pub fn buffered_amount(&self) -> usize {
        self.queue.buffered_amount().saturating_sub(self.cork_bytes)
    }

    /// Writes `parts` (one logical message) through the send queue. Inside a loop wakeup or an
    /// explicit cork, small writes are coalesced and flushed once at the end.
    pub fn write(&mut self, lp: &Loop, key: Key, parts: &[&[u8]]) {
        self.catch_up_publishes(lp, key);
        let corked = self.corked || lp.in_wakeup();
        self.write_with(lp, key, parts, corked);
    }

    /// Publishes of this wakeup that this connection has not received go first.
    #[inline]
    fn catch_up_publishes(&mut self, lp: &Loop, key: Key) {
        let mark = lp.publish_mark.get();
        if mark as u32 != 0 && self.pub_seen != mark {
            crate::publish_batch::catch_up(lp, key, self);
        }
    }

    /// `write` without the publish catch-up, coalescing if `corked`.
    pub fn write_with(&mut self, lp: &Loop, key: Key, parts: &[&[u8]], corked: bool) {
        if self.broken {
            return;
        }
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let coalesce = corked && total <= CORK_COALESCE;
        let had_backpressure = self.buffered_amount() > 0;
        match self.queue.send(&mut self.stream, parts, corked) {
            Ok(_) => {}
            Err(_) => return self.mark_broken(),
        }
        self.account_cork(lp, key, coalesce.then_some(total), had_backpressure);
    }

    /// Bookkeeping after a write: `corked` bytes were coalesced (not written), or none were.
    fn account_cork(&mut self, lp: &Loop, key: Key, corked: Option<usize>, had_backpressure: bool) {
        let Some(n) = corked else {
            self.cork_bytes = 0;
            self.cork_writes = 0;
            self.sync_interest();
            return;
        };
        if !had_backpressure {
            self.cork_bytes += n;
            self.cork_writes += 1;
        }
        if !self.flush_scheduled && !self.queue.is_empty() {
            self.flush_scheduled = true;
            lp.schedule_flush(key);
        }
        self.sync_interest();
    }

    /// Tells libuv what to watch: readable unless paused; writable only while something waits
    /// for room (queued bytes, a cut-short tryEnd, TLS ciphertext), since its poll is
    /// level-triggered and would report a writable socket on every iteration. Bytes corked
    /// for this wakeup's flush do not count: they are written at its end (and then re-checked),
    /// and watching writable for them would cost an epoll_ctl on and off per reply.
    ///
    /// Level-triggered sockets only: nothing is computed for an edge-triggered socket or one
    /// still in mio's epoll.
    pub fn sync_interest(&mut self) {
        if !self.poll.as_ref().is_some_and(SocketPoll::is_level) {
            return;
        }
        let queued = !self.queue.is_empty() && !self.flush_scheduled;
        let writable =
            !self.broken && (queued || self.raw_blocked || self.stream.tls_wants_write());
        let readable = !self.paused;
        if let Some(p) = self.poll.as_mut() {
            p.set(readable, writable);
        }
    }

    /// Publishes a shared frame: queued by reference (never copied), written like `write`.
    pub fn write_shared(&mut self, lp: &Loop, key: Key, frame: &Arc<[u8]>) {
        self.catch_up_publishes(lp, key);
        let corked = self.corked || lp.in_wakeup();
        self.write_shared_with(lp, key, frame, corked);
    }

    /// `write_shared` without the publish catch-up.
    pub fn write_shared_with(&mut self, lp: &Loop, key: Key, frame: &Arc<[u8]>, corked: bool) {
        if self.broken {
            return;
        }
        let had_backpressure = self.buffered_amount() > 0;
        if self
            .queue
            .send_shared(&mut self.stream, frame, corked)
            .is_err()
        {
            return self.mark_broken();
        }
        self.account_cork(lp, key, corked.then_some(frame.len()), had_backpressure);
    }

    /// Writes `data` straight to the socket without queueing what is refused (tryEnd: the
    /// application keeps the bytes and retries from getWriteOffset). Needs an empty queue.
    pub fn try_write_raw(&mut self, data: &[u8]) -> usize {
        debug_assert!(self.queue.is_empty());
        let mut written = 0;
        while written < data.len() && !self.broken {
            match self.stream.write(&data[written..]) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => self.mark_broken(),
            }
        }
        self.raw_blocked = written < data.len() && !self.broken;
        self.sync_interest();
        written
    }

    /// After a read that produced exactly one corked reply: it leaves now rather than at the end
    /// of the wakeup, as uWebSockets uncorks each socket after its data. The peer gets its reply
    /// while the other sockets are still being read and answers sooner, so the next wakeup finds
    /// more requests (10 x 32 B at P=1: 7.9 messages per wakeup instead of 6.5), and large
    /// replies reuse one warm coalescing buffer instead of holding one per socket until the end
    /// (100 x 4 KiB: 400 KiB). Pinned A/B against holding everything: 10 x 32 B P=1 +3.5%,
    /// 100 x 32 B P=1 +2%, 100 x 4 KiB +2-3%, 1000 x 32 B even. Several replies from one read
    /// still wait for the end: flushing those early makes the peers' next reads smaller
    /// (100 x 32 B at P=128 -13%, 100 x 1 KiB at P=8 -5%); with this rule those rows move by
    /// under 1%.
    pub fn flush_single_reply(&mut self) {
        if self.flush_scheduled && !self.corked && self.cork_writes == 1 {
            self.flush_corked();
        }
    }

    /// End of wakeup: `flush_corked` unless that already happened (`flush_single_reply`).
    pub fn flush_if_scheduled(&mut self) {
        if self.flush_scheduled {
            self.flush_corked();
        }
    }

    /// Writes what corked writes left in the queue (end of wakeup or of `cork(cb)`).
    pub fn flush_corked(&mut self) {
        self.flush_scheduled = false;
        self.cork_bytes = 0;
        self.cork_writes = 0;
        // A blocked queue waits for the writable event; writing now would only return EAGAIN.
        if !self.broken && !self.queue.is_blocked() {
            if self.queue.flush(&mut self.stream).is_err() {
                self.mark_broken();
            }
            self.maybe_finish_closing();
        }
        self.sync_interest();
    }

    fn mark_broken(&mut self) {
        self.broken = true;
        let _ = self.stream.shutdown(Shutdown::Both);
        self.sync_interest();
    }

    /// In the closing state, send FIN once everything queued is written.
    pub fn maybe_finish_closing(&mut self) {
        if matches!(self.state, State::Closing) && self.queue.is_empty() && !self.fin_sent {
            self.fin_sent = true;
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }

    /// After `start_closing`: the peer said it sends nothing more (an HTTP request without
    /// keep-alive, or a WebSocket close frame it sent), so once the FIN is out the socket is
    /// closed at once (uWebSockets does for HTTP) instead of waiting for the peer's FIN: one
    /// wakeup, one read and one epoll_ctl less per connection (Connection: close requests:
    /// server CPU per request 1.08x uWS before). Plain TCP only: TLS keeps the
    /// graceful path. A FIN sent right after a read or on writable closes the socket there;
    /// one sent at the end of a wakeup's flush or from a JS call, on the next loop iteration
    /// (`Loop::defer_hang_up`), unless the peer's FIN comes first.
    pub fn hang_up_when_sent(&mut self) {
        self.hang_up = !self.stream.is_tls();
    }

    /// The FIN went out on a connection to hang up: the caller closes it (`remove`).
    pub fn hung_up(&self) -> bool {
        self.hang_up && self.fin_sent
    }

    /// Enters the closing state: JS is done with this socket.
    pub fn start_closing(&mut self, lp: &Loop) {
        self.state = State::Closing;
        self.timeout_at = lp.tick.get() + CLOSING_TIMEOUT_TICKS;
        if !self.flush_scheduled {
            self.maybe_finish_closing();
        }
        self.sync_interest();
    }
}

/// Registers a freshly accepted socket as an HTTP connection.
pub fn accept(lp: &Rc<Loop>, app: Key, stream: Transport, remote: Peer) {
    stream.set_nodelay();
    let conn = Conn {
        poll: None,
        stream,
        app,
        remote,
        queue: SendQueue::new(),
        cork_bytes: 0,
        cork_writes: 0,
        flush_scheduled: false,
        corked: false,
        paused: false,
        state: State::Http(Box::default()),
        timeout_at: lp.tick.get() + HTTP_IDLE_TICKS,
        broken: false,
        fin_sent: false,
        hang_up: false,
        proxied: None,
        proxy_checked: false,
        pub_seen: 0,
        raw_blocked: false,
    };
    let key = lp.conns.borrow_mut().insert(conn);
    let ok = {
        let mut conns = lp.conns.borrow_mut();
        let c = conns.get_mut(key).expect("just inserted");
        lp.registry()
            .registry()
            .register(
                &mut c.stream,
                Token(key.index as usize),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_ok()
    };
    if !ok {
        lp.conns.borrow_mut().remove(key);
    }
    lp.update_ref();
    if ok {
        notify_filters(lp, app, key, 1);
    }
}

/// A connection that became a WebSocket, or an HTTP connection at its second request (kept
/// alive), moves from mio's epoll to a `uv_poll_t` of its own in libuv's epoll (`socket_poll`):
/// what its client sends then wakes one epoll instead of two, which the client pays for. A
/// connection that serves one request stays in mio's: libuv's poll costs five more syscalls
/// per connection (its fd check at init, a stop at start and at close), +5% server CPU per
/// `Connection: close` request, where the nesting cost only the client 1-2% per request. If
/// libuv refuses the fd, the connection simply stays in mio's epoll.
pub fn watch_in_libuv(lp: &Loop, key: Key) {
    let mut conns = lp.conns.borrow_mut();
    let Some(c) = conns.get_mut(key) else { return };
    if c.poll.is_some() {
        return;
    }
    let Some(poll) = SocketPoll::new(lp, c.stream.raw_fd(), key) else {
        return;
    };
    // Readiness already fetched from mio for this socket is harmless (a read that finds
    // nothing); what arrives from now on is reported by libuv, whose registration checks the
    // socket's state when it is added.
    let _ = lp.registry().registry().deregister(&mut c.stream);
    c.poll = Some(poll);
    // Level-triggered: a queue already waiting for room needs writable interest.
    c.sync_interest();
}

/// Reads until the kernel has nothing more (edge-triggered readiness), handing each read to the
/// connection's protocol. JS may close the connection at any point; every step re-checks.
/// `to_end`: the peer's FIN or an error came with this edge, so keep reading until the end of
/// the stream is seen (there will be no further edge for it).
pub fn read_and_dispatch(lp: &Rc<Loop>, key: Key, buf: &mut [u8], to_end: bool) {
    // TLS: rustls decides how much each read returns (no short-read shortcut); what must wait
    // for the end of the read step (missingServerName, writes rustls refused) runs after it.
    let tls_app = lp
        .conns
        .borrow()
        .get(key)
        .filter(|c| c.stream.is_tls())
        .map(|c| c.app);
    read_steps(lp, key, buf, tls_app.is_some() || to_end);
    if let Some(app) = tls_app {
        crate::tls::after_read(lp, key, app);
        // The handshake may have left ciphertext the socket did not take.
        if let Some(c) = lp.conns.borrow_mut().get_mut(key) {
            c.sync_interest();
        }
    }
}

/// `until_would_block`: no short-read shortcut (TLS, or the end of stream is pending).
fn read_steps(lp: &Rc<Loop>, key: Key, buf: &mut [u8], until_would_block: bool) {
    loop {
        let r = {
            let mut conns = lp.conns.borrow_mut();
            let Some(c) = conns.get_mut(key) else { return };
            if c.paused {
                return;
            }
            c.stream.read(buf)
        };
        match r {
            Ok(0) => return on_eof(lp, key, false),
            Ok(n) => {
                on_data(lp, key, &mut buf[..n]);
                let hung_up = lp.conns.borrow_mut().get_mut(key).is_some_and(|c| {
                    c.flush_single_reply();
                    c.hung_up()
                });
                if hung_up {
                    return remove(lp, key);
                }
                if !until_would_block {
                    // A short read emptied the kernel buffer: the next arrival raises a new
                    // edge. A full one leaves more: read it after the other ready sockets.
                    if n == buf.len() {
                        lp.read_again(key);
                    }
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return on_eof(lp, key, true),
        }
    }
}

fn on_data(lp: &Rc<Loop>, key: Key, data: &mut [u8]) {
    let mut data = data;
    let kind = {
        let mut conns = lp.conns.borrow_mut();
        let Some(c) = conns.get_mut(key) else { return };
        if !c.proxy_checked {
            c.proxy_checked = true;
            data = match strip_proxy_header(c, data) {
                Some(rest) => rest,
                None => {
                    drop(conns);
                    return remove(lp, key);
                }
            };
        }
        match &c.state {
            State::Http(_) => 0,
            State::Ws(_) => 1,
            State::Closing => 2,
        }
    };
    match kind {
        0 => crate::http_conn::on_data(lp, key, data),
        1 => crate::ws_conn::on_data(lp, key, data),
        // Closing: the application is gone; what the peer still sends is discarded.
        _ => {}
    }
}

/// A load balancer's PROXY v2 header (detected on the first read; it always arrives whole in
/// practice) is consumed and its client address kept. None: malformed, drop the connection.
fn strip_proxy_header<'a>(c: &mut Conn, data: &'a mut [u8]) -> Option<&'a mut [u8]> {
    use uws_core::http::proxy::{parse, ProxyHeader};
    match parse(data) {
        ProxyHeader::Present { len, source } => {
            c.proxied = source;
            Some(&mut data[len..])
        }
        ProxyHeader::Invalid => None,
        ProxyHeader::Absent | ProxyHeader::Incomplete => Some(data),
    }
}

/// The peer closed (FIN) or reset the connection.
fn on_eof(lp: &Rc<Loop>, key: Key, reset: bool) {
    let kind = {
        let conns = lp.conns.borrow();
        let Some(c) = conns.get(key) else { return };
        match &c.state {
            State::Http(_) => 0,
            State::Ws(_) => 1,
            State::Closing => 2,
        }
    };
    match kind {
        0 => crate::http_conn::on_abort(lp, key),
        1 => crate::ws_conn::on_peer_gone(lp, key, reset),
        _ => {}
    }
    remove(lp, key);
}

/// `remove` for a deferred hang-up (the peer's FIN may have closed it already).
pub fn remove_if_hung_up(lp: &Loop, key: Key) {
    if lp.conns.borrow().get(key).is_some_and(|c| c.hung_up()) {
        remove(lp, key);
    }
}

/// Forgets a connection and closes its socket.
pub fn remove(lp: &Loop, key: Key) {
    let removed = lp.conns.borrow_mut().remove(key);
    if let Some(c) = removed {
        // Dropping unwatches the socket (libuv's poll), then closes it. In mio's epoll: epoll
        // forgets a socket when it is closed (we never duplicate the fd), so no
        // EPOLL_CTL_DEL, one syscall less per connection.
        #[cfg(not(target_os = "linux"))]
        let c = {
            let mut c = c;
            if c.poll.is_none() {
                let _ = lp.registry().registry().deregister(&mut c.stream);
            }
            c
        };
        let app = c.app;
        drop(c);
        lp.update_ref();
        notify_filters(lp, app, key, -1);
    }
}

/// `app.filter(cb)`: cb(res, +1) when a socket opens, cb(res, -1) when it closes.
fn notify_filters(lp: &Loop, app: Key, key: Key, count: i32) {
    let filters: Vec<_> = match lp.apps.borrow().get(app) {
        Some(a) if !a.filters.borrow().is_empty() => a.filters.borrow().clone(),
        _ => return,
    };
    let factory = lp
        .factories
        .borrow()
        .as_ref()
        .map(|f| f.filter_response.get());
    let Some(factory) = factory else { return };
    let env = lp.env;
    let Ok(res) = env.call(factory, &[env.number(key.to_f64())]) else {
        return;
    };
    for f in filters {
        lp.call(f.get(), &[res, env.number(count as f64)]);
    }
}

/// Socket writable: write what is queued; tell the protocol how much went out. Afterwards the
/// interest is brought up to date (writable is watched only while something still waits).
pub fn on_writable(lp: &Rc<Loop>, key: Key) {
    write_ready(lp, key);
    // A second lookup, so only where some socket is level-triggered (edge-triggered sockets
    // report writable with nearly every event).
    if crate::socket_poll::level_in_use() {
        if let Some(c) = lp.conns.borrow_mut().get_mut(key) {
            c.sync_interest();
        }
    }
}

fn write_ready(lp: &Rc<Loop>, key: Key) {
    let wrote = {
        let mut conns = lp.conns.borrow_mut();
        let Some(c) = conns.get_mut(key) else { return };
        c.raw_blocked = false;
        if c.broken {
            return;
        }
        // TLS ciphertext left over (handshake, written plaintext, close_notify).
        if c.stream.flush_tls().is_err() {
            c.mark_broken();
            return;
        }
        if c.queue.is_empty() {
            let wants = crate::http_conn::wants_writable(c);
            drop(conns);
            if wants {
                crate::http_conn::on_writable(lp, key);
            }
            return;
        }
        let wrote = match c.queue.flush(&mut c.stream) {
            Ok((n, _)) => n,
            Err(_) => {
                c.mark_broken();
                return;
            }
        };
        c.cork_bytes = c.cork_bytes.min(c.queue.buffered_amount());
        c.maybe_finish_closing();
        if c.hung_up() {
            drop(conns);
            return remove(lp, key);
        }
        wrote
    };
    if wrote > 0 {
        crate::ws_conn::on_drain(lp, key);
        crate::http_conn::on_writable(lp, key);
    }
}

/// `app.close()`: every connection goes now, with its handlers (close / onAborted) called.
pub fn force_close(lp: &Rc<Loop>, key: Key) {
    let kind = match lp.conns.borrow().get(key).map(|c| &c.state) {
        Some(State::Http(_)) => 0,
        Some(State::Ws(_)) => 1,
        Some(State::Closing) => 2,
        None => return,
    };
    match kind {
        0 => crate::http_conn::on_abort(lp, key),
        1 => crate::ws_conn::finish(lp, key, 1006, b"", true),
        _ => {}
    }
    remove(lp, key);
}
