//! One event loop per JS environment, on Node's own libuv loop. Listening sockets, new
//! connections and the acceptor's waker sit in a mio `Poll` whose epoll fd libuv watches
//! (`on_poll`). WebSocket and kept-alive HTTP connections are watched by a `uv_poll_t` each in
//! libuv's own epoll
//! (`socket_poll`, `conn::watch_in_libuv`): libuv's poll phase notes the ready ones and a
//! `uv_check` handle right after it handles them all in one wakeup (`on_check`). A wakeup calls
//! JS synchronously inside one callback scope on the JS thread, then flushes every socket
//! written during it once ("auto-cork").
//!
//! Re-entrancy rule: JS may call back into the addon (send, close, publish...) from any handler,
//! so no `RefCell` borrow of loop state is ever held across a JS call.

use crate::app::App;
use crate::conn::Conn;
use crate::js::napi::{self, CallbackScope, Env, Ref, Value};
use crate::js::v8_direct::Keeper;
use crate::listen::Listener;
use crate::slab::{Key, Slab};
use crate::uv;
use mio::{Events, Poll, Token};
use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

/// mio tokens of listening sockets carry this bit; connection tokens are slab indexes.
pub const LISTENER_BIT: usize = 1 << 40;
/// The token of the loop's waker (sockets handed over by an acceptor app on another thread).
const WAKER_TOKEN: usize = 1 << 41;
/// One reusable read buffer per loop (as uSockets does): reads never allocate.
const READ_BUFFER_SIZE: usize = 512 * 1024;
/// Coarse timer granularity for idle timeouts, closing sockets and HTTP keep-alive.
pub const TICK_MS: u64 = 1000;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Loop>>> = const { RefCell::new(None) };
}

/// JS functions from index.js that build the facade objects the handlers receive.
pub struct Factories {
    /// `(id, userData) => WebSocket`
    pub websocket: Ref,
    /// `(handler, key, seq) => void`: builds HttpResponse/HttpRequest and calls the handler.
    pub http: Ref,
    /// `(behaviorUpgrade, key, seq, context) => void`: same for a WebSocket route's upgrade handler.
    pub upgrade: Ref,
    /// `(key) => HttpResponse`: the response object handed to `app.filter` handlers.
    pub filter_response: Ref,
}

#[derive(Clone, Copy)]
enum Deferred {
    ResumeHttp,
    Read,
    CloseWs,
    HangUp,
}

pub struct Loop {
    pub env: Env,
    poll: RefCell<Poll>,
    events: RefCell<Events>,
    uv_poll: *mut uv::UvHandle,
    uv_loop: *mut uv::UvLoop,
    /// Runs after libuv's poll phase: handles the connections its per-socket polls found ready.
    check: *mut uv::UvHandle,
    /// Connections found ready in this loop iteration, with their uv_poll_event bits.
    ready: RefCell<Vec<(Key, std::ffi::c_int)>>,
    timer: *mut uv::UvHandle,
    resource: Ref,
    async_context: ::napi::sys::napi_async_context,
    pub factories: RefCell<Option<Factories>>,
    pub conns: RefCell<Slab<Conn>>,
    pub listeners: RefCell<Slab<Listener>>,
    pub apps: RefCell<Slab<Rc<App>>>,
    read_buf: RefCell<Vec<u8>>,
    /// Keeps `read_buf` alive for messages lent from it; made at the first lend, replaced when
    /// one escapes (see `read_buffer_owner`).
    read_owner: RefCell<Option<Keeper>>,
    /// A lent message ArrayBuffer was transferred away by JS during this read.
    read_escaped: Cell<bool>,
    /// Messages are lent to JS through V8 directly (`js::v8_direct`), not N-API.
    pub v8_direct: bool,
    /// Connections with corked bytes to write at the end of this wakeup.
    to_flush: RefCell<Vec<Key>>,
    /// True while dispatching a wakeup: writes are corked and flushed once at the end.
    in_wakeup: Cell<bool>,
    /// Seconds-resolution clock advanced by the timer, for timeouts.
    pub tick: Cell<u64>,
    /// Scratch for string transcoding at the JS boundary (`with_scratch`).
    scratch: RefCell<Vec<u8>>,
    /// Spare event list for `ws_conn::on_data` (a fresh Vec per read showed up as grow/free
    /// per message; a field, not a thread-local: one TLS lookup less per message).
    pub spare_events: Cell<Vec<uws_core::ws::Event>>,
    referenced: Cell<bool>,
    closed: Cell<bool>,
    /// The request being handled (what `HttpRequest` reads).
    pub request: RefCell<crate::http_conn::RequestSlot>,
    /// Connections with pipelined requests to resume on the next loop iteration.
    deferred: RefCell<Vec<(Key, Deferred)>>,
    defer_timer: *mut uv::UvHandle,
    defer_armed: Cell<bool>,
    /// Connections whose last read filled the buffer, to read again once every other ready
    /// socket had its turn (see `read_again`).
    read_again: RefCell<Vec<Key>>,
    /// Publishes of this wakeup, delivered at its end (see `publish_batch`).
    pub publish_batch: RefCell<crate::publish_batch::Batch>,
    /// The batch's generation and length (`gen << 32 | len`; 0 when empty), compared with each
    /// connection's `pub_seen` on every write.
    pub publish_mark: Cell<u64>,
    /// A flush of `to_flush` is due on the next loop iteration (see `defer_flush`).
    flush_deferred: Cell<bool>,
    /// Inbox for sockets handed over by an acceptor app, created on first `getDescriptor`.
    mailbox: RefCell<Option<crate::acceptor::Mailbox>>,
    id: u64,
}

impl Loop {
    /// The loop of the calling JS environment, created on first use.
    pub fn get(env: Env) -> napi::JsResult<Rc<Loop>> {
        if let Some(lp) = CURRENT.with(|c| c.borrow().clone()) {
            return Ok(lp);
        }
        let lp = Rc::new(Loop::new(env)?);
        CURRENT.with(|c| *c.borrow_mut() = Some(lp.clone()));
        napi::add_async_cleanup_hook(env, on_env_teardown);
        Ok(lp)
    }

    /// The loop of this thread if one exists (for callbacks from libuv).
    pub fn current() -> Option<Rc<Loop>> {
        CURRENT.with(|c| c.borrow().clone())
    }

    fn new(env: Env) -> napi::JsResult<Loop> {
        let poll = Poll::new().map_err(|e| napi::error(format!("uws-rs: epoll: {e}")))?;
        let uv_loop = napi::uv_loop(env)?;
        let resource = env.object()?;
        let async_context = napi::async_context(env, resource)?;
        let resource = env.reference(resource)?;
        let uv_poll = uv::alloc_handle(uv::UV_POLL);
        let check = uv::alloc_handle(uv::UV_CHECK);
        let timer = uv::alloc_handle(uv::UV_TIMER);
        let defer_timer = uv::alloc_handle(uv::UV_TIMER);
        // SAFETY: fresh handles initialised on Node's loop from its own thread; the epoll fd
        // outlives them because the Poll is dropped only after they are closed (teardown).
        unsafe {
            uv::uv_poll_init(uv_loop, uv_poll, poll.as_raw_fd());
            uv::uv_poll_start(uv_poll, uv::UV_READABLE, on_poll);
            uv::uv_unref(uv_poll);
            uv::uv_check_init(uv_loop, check);
            uv::uv_check_start(check, on_check);
            uv::uv_unref(check);
            uv::uv_timer_init(uv_loop, timer);
            uv::uv_timer_start(timer, on_timer, TICK_MS, TICK_MS);
            uv::uv_unref(timer);
            uv::uv_timer_init(uv_loop, defer_timer);
        }
        Ok(Loop {
            env,
            poll: RefCell::new(poll),
            events: RefCell::new(Events::with_capacity(1024)),
            uv_poll,
            uv_loop,
            check,
            ready: RefCell::new(Vec::with_capacity(1024)),
            timer,
            resource,
            async_context,
            factories: RefCell::new(None),
            conns: RefCell::new(Slab::default()),
            listeners: RefCell::new(Slab::default()),
            apps: RefCell::new(Slab::default()),
            read_buf: RefCell::new(vec![0; READ_BUFFER_SIZE]),
            read_owner: RefCell::new(None),
            read_escaped: Cell::new(false),
            v8_direct: crate::js::v8_direct::available(env),
            to_flush: RefCell::new(Vec::new()),
            in_wakeup: Cell::new(false),
            tick: Cell::new(0),
            scratch: RefCell::new(Vec::new()),
            spare_events: Cell::new(Vec::new()),
            referenced: Cell::new(false),
            closed: Cell::new(false),
            request: RefCell::new(Default::default()),
            deferred: RefCell::new(Vec::new()),
            defer_timer,
            defer_armed: Cell::new(false),
            flush_deferred: Cell::new(false),
            publish_batch: RefCell::default(),
            read_again: RefCell::default(),
            publish_mark: Cell::new(0),
            mailbox: RefCell::new(None),
            id: crate::acceptor::next_id(),
        })
    }

    /// This loop's inbox and waker for the acceptor pattern (created once, on demand).
    pub fn mailbox(&self) -> std::io::Result<crate::acceptor::Mailbox> {
        let mut slot = self.mailbox.borrow_mut();
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let waker = mio::Waker::new(self.poll.borrow().registry(), Token(WAKER_TOKEN))?;
        let m = crate::acceptor::Mailbox {
            inbox: Default::default(),
            waker: std::sync::Arc::new(waker),
            loop_id: self.id,
        };
        *slot = Some(m.clone());
        drop(slot);
        self.update_ref();
        Ok(m)
    }

    pub fn registry(&self) -> std::cell::Ref<'_, Poll> {
        self.poll.borrow()
    }

    /// Node's libuv loop (for per-socket handles).
    pub fn uv_loop(&self) -> *mut uv::UvLoop {
        self.uv_loop
    }

    /// A connection's poll found it ready (from libuv's poll phase; handled in `on_check`).
    pub fn note_ready(&self, key: Key, events: std::ffi::c_int) {
        self.ready.borrow_mut().push((key, events));
    }

    /// The connections libuv found ready in this iteration, in one wakeup.
    fn dispatch_ready(self: &Rc<Self>) {
        let mut ready = std::mem::take(&mut *self.ready.borrow_mut());
        for &(key, ev) in &ready {
            if ev & uv::UV_WRITABLE != 0 {
                crate::conn::on_writable(self, key);
            }
            if ev & (uv::UV_READABLE | uv::UV_DISCONNECT) != 0 {
                // The peer hung up or an error came: read on to the end of the stream.
                self.on_readable(key, ev & uv::UV_DISCONNECT != 0);
            }
        }
        self.read_turns();
        ready.clear();
        let mut slot = self.ready.borrow_mut();
        if slot.is_empty() {
            *slot = ready;
        }
    }

    /// Sockets whose read filled the buffer get another turn once every other had one.
    fn read_turns(self: &Rc<Self>) {
        loop {
            let keys = std::mem::take(&mut *self.read_again.borrow_mut());
            if keys.is_empty() {
                break;
            }
            for key in keys {
                self.on_readable(key, false);
            }
        }
    }

    /// Runs `http_conn::resume(key)` on the next loop iteration.
    pub fn defer(&self, key: Key) {
        self.push_deferred(key, Deferred::ResumeHttp);
    }

    /// Reads from `key` on the next loop iteration (after `resume()`: readiness edges that came
    /// while paused were not acted on).
    pub fn defer_read(&self, key: Key) {
        self.push_deferred(key, Deferred::Read);
    }

    /// Closes `key`, whose FIN went out with nothing more to come from the peer (see
    /// `Conn::hang_up_when_sent`), on the next loop iteration: where the FIN was sent (the end
    /// of a wakeup's flush, a JS call) the connection cannot be removed.
    pub fn defer_hang_up(&self, key: Key) {
        self.push_deferred(key, Deferred::HangUp);
    }

    /// Closes WebSocket `key` (1006) on the next loop iteration, outside the current JS call.
    pub fn defer_close(&self, key: Key) {
        self.push_deferred(key, Deferred::CloseWs);
    }

    /// Flushes the sockets scheduled with `schedule_flush` on the next loop iteration: writes
    /// corked outside a wakeup (a publish from a timer or setImmediate) coalesce until then, as
    /// uWebSockets' topic tree drains once per loop iteration.
    pub fn defer_flush(&self) {
        if !self.flush_deferred.replace(true) {
            self.arm_deferred();
        }
    }

    fn push_deferred(&self, key: Key, what: Deferred) {
        self.deferred.borrow_mut().push((key, what));
        self.arm_deferred();
    }

    fn arm_deferred(&self) {
        if !self.defer_armed.replace(true) && !self.closed.get() {
            // SAFETY: the timer handle is initialised and open while `closed` is false.
            unsafe { uv::uv_timer_start(self.defer_timer, on_deferred, 0, 0) };
        }
    }

    fn run_deferred(self: &Rc<Self>) {
        self.defer_armed.set(false);
        // `to_flush` is flushed when the wakeup running this returns.
        self.flush_deferred.set(false);
        let keys = std::mem::take(&mut *self.deferred.borrow_mut());
        for (key, what) in keys {
            match what {
                Deferred::ResumeHttp => crate::http_conn::resume(self, key),
                Deferred::Read => self.on_readable(key, false),
                Deferred::CloseWs => crate::ws_conn::finish(self, key, 1006, b"", true),
                Deferred::HangUp => crate::conn::remove_if_hung_up(self, key),
            }
        }
    }

    pub fn in_wakeup(&self) -> bool {
        self.in_wakeup.get()
    }

    /// `key` has more to read than one buffer: it is read again after the other sockets of this
    /// wakeup, one buffer per turn, as uWebSockets' level-triggered poll does. Reading one
    /// socket to the end instead (three 512 KiB reads for a 1 MiB message, then its reply)
    /// cost the server more kernel time per message (212 against 163 us in 1 MiB echo, most
    /// of the difference TCP transmit work run inside its own syscalls): 0.85x uWebSockets.js
    /// that way, 1.12x this way.
    pub fn read_again(&self, key: Key) {
        self.read_again.borrow_mut().push(key);
    }

    /// Asks for `key` to be flushed at the end of the current wakeup.
    pub fn schedule_flush(&self, key: Key) {
        self.to_flush.borrow_mut().push(key);
    }

    /// Keeps Node alive exactly while something listens or is connected.
    pub fn update_ref(&self) {
        if self.closed.get() {
            return;
        }
        // A child app of an acceptor (it gave out a descriptor) waits for sockets like a listener.
        let want = self.listeners.borrow().len() + self.conns.borrow().len() > 0
            || self.mailbox.borrow().is_some();
        if want != self.referenced.get() {
            self.referenced.set(want);
            // SAFETY: the poll handle is initialised and not closed (checked via `closed`).
            unsafe {
                if want {
                    uv::uv_ref(self.uv_poll)
                } else {
                    uv::uv_unref(self.uv_poll)
                }
            }
        }
    }

    /// Calls an application callback. An exception goes to `process.on('uncaughtException')`
    /// (as for Node's own event callbacks) and the caller carries on.
    pub fn call(&self, func: Value, args: &[Value]) -> Option<Value> {
        if self.v8_direct {
            use crate::js::v8_call::{call, Called};
            match call(func, args) {
                Called::Returned(v) => return Some(v),
                Called::Threw(exception) => {
                    self.env.report_uncaught(exception);
                    return None;
                }
                Called::Terminating => return None,
                Called::Unsupported => {}
            }
        }
        match self.env.call(func, args) {
            Ok(v) => Some(v),
            Err(exception) => {
                self.env.report_uncaught(exception);
                None
            }
        }
    }

    /// Runs `f` as JS-facing work done from a libuv callback: inside a callback scope, writes
    /// corked, and the sockets written flushed once at the end.
    fn wakeup(self: &Rc<Self>, f: impl FnOnce(&Rc<Self>)) {
        let outer = self.in_wakeup.replace(true);
        if !outer {
            crate::http_conn::date_scope(true);
        }
        {
            let _scope = CallbackScope::open(self.env, &self.resource, self.async_context);
            f(self);
            if !outer {
                crate::publish_batch::finish(self);
            }
            // Dropping the scope runs process.nextTick callbacks and promise jobs; what they
            // write is still corked and flushed below.
        }
        if !outer {
            // What those callbacks published.
            while crate::publish_batch::pending(self) {
                let _scope = CallbackScope::open(self.env, &self.resource, self.async_context);
                crate::publish_batch::finish(self);
            }
            crate::http_conn::date_scope(false);
            self.in_wakeup.set(false);
            // HttpRequest objects die with the callback scope (after its microtasks).
            self.request.borrow_mut().live = false;
            self.flush_scheduled();
        }
    }

    pub fn flush_scheduled(&self) {
        // The list is swapped out and back rather than taken, so that its storage is kept
        // from one wakeup to the next (taking it regrew it from nothing every wakeup).
        let mut keys = Vec::new();
        loop {
            std::mem::swap(&mut keys, &mut *self.to_flush.borrow_mut());
            if keys.is_empty() {
                break;
            }
            let mut conns = self.conns.borrow_mut();
            for &key in &keys {
                if let Some(c) = conns.get_mut(key) {
                    c.flush_if_scheduled();
                    if c.hung_up() {
                        self.defer_hang_up(key);
                    }
                }
            }
            keys.clear();
        }
        let mut slot = self.to_flush.borrow_mut();
        if slot.capacity() < keys.capacity() {
            *slot = keys;
        }
    }

    fn dispatch_events(self: &Rc<Self>) {
        let mut events =
            std::mem::replace(&mut *self.events.borrow_mut(), Events::with_capacity(0));
        if self
            .poll
            .borrow_mut()
            .poll(&mut events, Some(Duration::ZERO))
            .is_err()
        {
            *self.events.borrow_mut() = events;
            return;
        }
        for ev in events.iter() {
            let Token(t) = ev.token();
            if t == WAKER_TOKEN {
                let inbox = self.mailbox.borrow().as_ref().map(|m| m.inbox.clone());
                if let Some(inbox) = inbox {
                    crate::acceptor::drain_inbox(self, &inbox);
                }
                continue;
            }
            if t & LISTENER_BIT != 0 {
                crate::listen::on_acceptable(self, t & !LISTENER_BIT);
                continue;
            }
            // A connection still in mio's epoll (see `conn::watch_in_libuv`).
            let Some(key) = self.conns.borrow().key_at(t) else {
                continue;
            };
            if ev.is_writable() || ev.is_write_closed() {
                crate::conn::on_writable(self, key);
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                // A FIN or error that came with data is reported in this same edge only: read
                // on to the end of the stream instead of stopping at a short read.
                self.on_readable(key, ev.is_read_closed() || ev.is_error());
            }
        }
        self.read_turns();
        *self.events.borrow_mut() = events;
    }

    fn on_readable(self: &Rc<Self>, key: Key, to_end: bool) {
        let mut buf = std::mem::take(&mut *self.read_buf.borrow_mut());
        if buf.is_empty() {
            // Re-entered while the buffer is lent out (cannot happen from libuv): skip.
            return;
        }
        crate::conn::read_and_dispatch(self, key, &mut buf, to_end);
        // The owner stays with the buffer across reads (no allocation per read) until a lent
        // message escapes: then the buffer goes to that owner and the next lend makes a new one.
        if self.read_escaped.replace(false) {
            if let Some(owner) = self.read_owner.borrow_mut().take() {
                // JS kept part of this buffer (a transferred message): it now belongs to the
                // backing stores that reference it and is freed with the last of them.
                let fresh = vec![0; READ_BUFFER_SIZE];
                *owner.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(std::mem::replace(&mut buf, fresh));
            }
        }
        *self.read_buf.borrow_mut() = buf;
    }

    /// For a message ArrayBuffer lent from the read buffer: a handle its backing store keeps
    /// until V8 releases it. If JS transferred the buffer away (`read_buffer_escaped`), the read
    /// buffer is moved into the handle at the end of the read and the loop takes a new one, so
    /// the memory lives exactly as long as something references it.
    pub fn read_buffer_owner(&self) -> Keeper {
        self.read_owner
            .borrow_mut()
            .get_or_insert_with(Default::default)
            .clone()
    }

    /// Runs `f` with the loop's transcoding scratch. Taken, not borrowed: `f` may run JS that
    /// re-enters (a nested call gets an empty Vec of its own, and the larger one is kept).
    pub fn with_scratch<R>(&self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mut scratch = std::mem::take(&mut *self.scratch.borrow_mut());
        let r = f(&mut scratch);
        let mut slot = self.scratch.borrow_mut();
        if slot.capacity() < scratch.capacity() {
            *slot = scratch;
        }
        r
    }

    /// Detaches an ArrayBuffer handed to a handler that has returned, unless JS detached it
    /// first (transferred it): returns true then.
    pub fn detach(&self, ab: Value) -> bool {
        if self.v8_direct {
            return crate::js::v8_direct::detach(ab);
        }
        let transferred = self.env.is_detached(ab);
        if !transferred {
            self.env.detach(ab);
        }
        transferred
    }

    /// A message lent from the read buffer is still referenced after its handler returned.
    pub fn read_buffer_escaped(&self) {
        self.read_escaped.set(true);
    }

    fn on_tick(self: &Rc<Self>) {
        self.tick.set(self.tick.get() + 1);
        crate::timeouts::sweep(self);
    }

    /// Closes everything (environment teardown): no JS is called.
    fn teardown(&self) {
        if self.closed.replace(true) {
            return;
        }
        let conns = self.conns.borrow().keys();
        for key in conns {
            // Dropped without calling JS: the environment is going away.
            drop(self.conns.borrow_mut().remove(key));
        }
        let listeners = self.listeners.borrow().keys();
        for key in listeners {
            self.listeners.borrow_mut().remove(key);
        }
        napi::destroy_async_context(self.env, self.async_context);
        crate::acceptor::unregister_loop(self.id);
        // SAFETY: the handles were initialised in `new` and are stopped once here.
        unsafe {
            uv::uv_poll_stop(self.uv_poll);
            uv::uv_check_stop(self.check);
            uv::uv_timer_stop(self.timer);
            uv::uv_timer_stop(self.defer_timer);
        }
    }

    fn handles(&self) -> [*mut uv::UvHandle; 4] {
        [self.uv_poll, self.check, self.timer, self.defer_timer]
    }
}

unsafe extern "C" fn on_poll(_handle: *mut uv::UvHandle, _status: i32, _events: i32) {
    guard("poll", || {
        if let Some(lp) = Loop::current() {
            lp.wakeup(|lp| lp.dispatch_events());
        }
    });
}

unsafe extern "C" fn on_check(_handle: *mut uv::UvHandle) {
    guard("check", || {
        if let Some(lp) = Loop::current() {
            if !lp.ready.borrow().is_empty() {
                lp.wakeup(|lp| lp.dispatch_ready());
            }
        }
    });
}

unsafe extern "C" fn on_timer(_handle: *mut uv::UvHandle) {
    guard("timer", || {
        if let Some(lp) = Loop::current() {
            lp.wakeup(|lp| lp.on_tick());
        }
    });
}

unsafe extern "C" fn on_deferred(_handle: *mut uv::UvHandle) {
    guard("deferred", || {
        if let Some(lp) = Loop::current() {
            lp.wakeup(|lp| lp.run_deferred());
        }
    });
}

/// Environment teardown (worker exit, process exit): close sockets without calling JS, then
/// close the libuv handles; Node waits until their close callbacks ran (`done`).
fn on_env_teardown(done: napi::CleanupDone) {
    guard("teardown", || {
        let lp = CURRENT.with(|c| c.borrow_mut().take());
        let Some(lp) = lp else {
            done.finish();
            return;
        };
        lp.teardown();
        uv::close_all(&lp.handles(), move || done.finish());
    });
}

/// A panic must never unwind into libuv (that would abort Node): report it and carry on.
fn guard(what: &str, f: impl FnOnce()) {
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        eprintln!(
            "uws-rs: internal error in {what} callback: {}",
            napi::panic_message(&*p)
        );
    }
}
