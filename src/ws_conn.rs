//! The WebSocket side of a connection: frames in (through the sans-IO receiver) to JS handlers,
//! and the operations JS calls on a `WebSocket` object (send, fragments, ping, end, close).

use crate::app::Behavior;
use crate::conn::{self, State};
use crate::event_loop::Loop;
use crate::js::napi::{JsResult, Ref, Value};
use crate::slab::Key;
use std::rc::Rc;
use uws_core::ws::close::encode_close_payload;
use uws_core::ws::frame::{encode_header, OpCode};
use uws_core::ws::{Event, Payload, ProtocolError, Receiver, ReceiverConfig};

/// uWebSockets.js send results.
pub const BACKPRESSURE: u32 = 0;
pub const SUCCESS: u32 = 1;
pub const DROPPED: u32 = 2;

pub const CLOSED_MESSAGE: &str = "Invalid access of closed uWS.WebSocket/SSLWebSocket.";

pub struct WsConn {
    pub receiver: Receiver,
    pub behavior: Rc<Behavior>,
    /// The JS `WebSocket` object handed to handlers; set right after the upgrade.
    pub js: Option<Ref>,
    /// A ping we sent for the idle timeout awaits any traffic.
    pub awaiting_pong: bool,
    /// Tick at which maxLifetime closes the socket (0 = none).
    pub expires_at: u64,
    /// permessage-deflate, when negotiated at the upgrade.
    pub deflate: Option<Box<crate::ws_deflate::SocketDeflate>>,
}

impl WsConn {
    pub fn new(behavior: Rc<Behavior>) -> WsConn {
        let s = &behavior.settings;
        let mut receiver = Receiver::new(ReceiverConfig {
            max_payload_length: s.max_payload_length,
            require_mask: true,
            allow_rsv1: false,
        });
        receiver.set_buffer_source(large_pool::take);
        WsConn {
            receiver,
            behavior,
            js: None,
            awaiting_pong: false,
            expires_at: 0,
            deflate: None,
        }
    }
}

fn idle_deadline(lp: &Loop, b: &Behavior) -> u64 {
    match b.settings.idle_timeout {
        0 => 0,
        t => lp.tick.get() + t as u64,
    }
}

/// Switches an HTTP connection to WebSocket (after the 101 was queued) and returns the key.
pub fn install(lp: &Loop, key: Key, behavior: Rc<Behavior>) {
    let mut conns = lp.conns.borrow_mut();
    if let Some(c) = conns.get_mut(key) {
        c.timeout_at = idle_deadline(lp, &behavior);
        let mut ws = WsConn::new(behavior);
        if ws.behavior.settings.max_lifetime > 0 {
            ws.expires_at = lp.tick.get() + 60 * ws.behavior.settings.max_lifetime as u64;
        }
        c.state = State::Ws(Box::new(ws));
    }
}

/// The JS object and behavior of an open WebSocket, cloned out so no borrow is held over JS.
fn js_and_behavior(lp: &Loop, key: Key) -> Option<(Value, Rc<Behavior>)> {
    let conns = lp.conns.borrow();
    match conns.get(key).map(|c| &c.state) {
        Some(State::Ws(ws)) => Some((ws.js.as_ref()?.get(), ws.behavior.clone())),
        _ => None,
    }
}

fn is_open(lp: &Loop, key: Key) -> bool {
    matches!(
        lp.conns.borrow().get(key).map(|c| &c.state),
        Some(State::Ws(_))
    )
}

pub fn on_data(lp: &Rc<Loop>, key: Key, data: &mut [u8]) {
    // Taken, not borrowed: handlers run JS, which may re-enter (another socket's data never
    // arrives synchronously, but a nested call simply gets an empty Vec of its own).
    let mut events = lp.spare_events.take();
    let result = {
        let mut conns = lp.conns.borrow_mut();
        let Some(c) = conns.get_mut(key) else { return };
        let State::Ws(ws) = &mut c.state else { return };
        ws.awaiting_pong = false;
        c.timeout_at = idle_deadline(lp, &ws.behavior);
        ws.receiver.feed(data, &mut events)
    };
    let go_on = dispatch_events(lp, key, data, &mut events);
    events.clear();
    if events.capacity() <= 4096 {
        lp.spare_events.set(events);
    }
    if !go_on {
        return;
    }
    if let Err(e) = result {
        fail(lp, key, e);
    }
}

/// Hands the parsed events to JS; false once the socket is gone (the rest are dropped).
fn dispatch_events(lp: &Rc<Loop>, key: Key, data: &mut [u8], events: &mut Vec<Event>) -> bool {
    if events.is_empty() {
        return true;
    }
    // The JS object, behavior and message handler are resolved once per read, not per message:
    // the handles stay valid in the wakeup's handle scope, and the socket's JS object never
    // changes while it is open (a reused slab slot has a new key), which is re-checked per event.
    let Some((js, b)) = js_and_behavior(lp, key) else {
        return false;
    };
    let h = &b.handlers;
    let mut message_fn: Option<Value> = None;
    for (i, ev) in events.drain(..).enumerate() {
        if i > 0 && !is_open(lp, key) {
            return false;
        }
        match ev {
            Event::Message {
                payload,
                binary,
                compressed: true,
            } => {
                use crate::ws_deflate::{self as deflate, InflateFailure};
                match deflate::inflate(lp, key, payload.as_slice(data), binary) {
                    Ok(message) => {
                        if let Some(f) = &h.message {
                            let f = *message_fn.get_or_insert_with(|| f.get());
                            call_with_buffer(lp, f, js, &message, Some(binary));
                        }
                        deflate::recycle(message);
                    }
                    Err(InflateFailure::Inflation) => {
                        finish(lp, key, 1006, deflate::INFLATION_ERROR, true);
                        return false;
                    }
                    Err(InflateFailure::Protocol(e)) => {
                        fail(lp, key, e);
                        return false;
                    }
                }
            }
            Event::Message {
                payload, binary, ..
            } => {
                if let Some(f) = &h.message {
                    let f = *message_fn.get_or_insert_with(|| f.get());
                    match payload {
                        // A large message assembled by the receiver is lent as is: no copy and
                        // no fresh JS allocation (the profile's top cost for 256 KiB messages).
                        Payload::Owned(v) if v.len() >= LEND_THRESHOLD => {
                            call_with_owned(lp, f, js, v, binary)
                        }
                        Payload::Input(r) if lp.v8_direct || r.len() >= LEND_THRESHOLD => {
                            call_with_input(lp, f, js, &mut data[r], binary)
                        }
                        p => call_with_buffer(lp, f, js, p.as_slice(data), Some(binary)),
                    }
                }
            }
            Event::Ping(payload) => {
                let bytes = payload.as_slice(data);
                write_frame(lp, key, OpCode::Pong, bytes, true);
                if let Some(f) = &h.ping {
                    call_with_buffer(lp, f.get(), js, bytes, None);
                }
            }
            Event::Pong(payload) => {
                if let Some(f) = &h.pong {
                    call_with_buffer(lp, f.get(), js, payload.as_slice(data), None);
                }
            }
            Event::Close { code, reason } => {
                let reason = reason.as_slice(data);
                // Echo the peer's code and reason (uWebSockets.js does), then close.
                let echo = match code {
                    Some(c) => encode_close_payload(c, reason),
                    None => Vec::new(),
                };
                write_frame(lp, key, OpCode::Close, &echo, true);
                finish(lp, key, code.unwrap_or(1005), reason, false);
                // The closing handshake is complete: the peer sends nothing more, and the
                // server closes the TCP connection first (RFC 6455 7.1.1).
                if let Some(c) = lp.conns.borrow_mut().get_mut(key) {
                    c.hang_up_when_sent();
                }
                return false;
            }
        }
    }
    true
}

/// Protocol violation by the peer: _Fail the WebSocket Connection_ (RFC 6455 7.1.7). Like
/// uWebSockets.js, the TCP connection is closed without a close frame and the application sees
/// 1006; the reason names too-big and invalid-UTF-8 messages and is empty otherwise. An invalid
/// close frame is the exception: it is answered with 1002 (the RFC's code for it) rather than
/// silence, so the peer learns why its close was not echoed.
fn fail(lp: &Rc<Loop>, key: Key, e: ProtocolError) {
    use uws_core::ws::FrameError;
    let reason: &[u8] = match e {
        ProtocolError::TooBig | ProtocolError::InvalidUtf8 => e.reason().as_bytes(),
        ProtocolError::InvalidFrame(_) => b"",
    };
    if let ProtocolError::InvalidFrame(
        FrameError::InvalidCloseCode(_) | FrameError::InvalidClosePayload,
    ) = e
    {
        write_frame(
            lp,
            key,
            OpCode::Close,
            &encode_close_payload(1002, b""),
            true,
        );
        finish(lp, key, 1006, reason, false);
        return;
    }
    // Not immediate: replies to the messages that preceded the bad frame are still written
    // (Autobahn 3.x/4.x/5.15 check this), then FIN.
    finish(lp, key, 1006, reason, false);
}

/// The peer vanished without a close frame.
pub fn on_peer_gone(lp: &Rc<Loop>, key: Key, _reset: bool) {
    // uWebSockets.js v20 reports a vanished peer as 1006 with an empty reason.
    finish(lp, key, 1006, b"", true);
}

pub fn on_timeout(lp: &Rc<Loop>, key: Key) {
    let action = {
        let mut conns = lp.conns.borrow_mut();
        let Some(c) = conns.get_mut(key) else { return };
        let State::Ws(ws) = &mut c.state else { return };
        let now = lp.tick.get();
        if ws.expires_at != 0 && ws.expires_at <= now {
            1
        } else if ws.behavior.settings.send_pings_automatically && !ws.awaiting_pong {
            ws.awaiting_pong = true;
            // Give the peer a little time to answer the ping before timing out.
            c.timeout_at = now + (ws.behavior.settings.idle_timeout as u64 / 4).max(2);
            0
        } else {
            2
        }
    };
    match action {
        0 => write_frame(lp, key, OpCode::Ping, &[], true),
        1 => {
            write_frame(
                lp,
                key,
                OpCode::Close,
                &encode_close_payload(1000, &[]),
                true,
            );
            // uWebSockets.js ends the socket like ws.end(1000): the handler sees 1000 too.
            finish(lp, key, 1000, b"", false);
        }
        _ => finish(lp, key, 1006, b"WebSocket timed out from inactivity", false),
    }
}

pub fn on_drain(lp: &Rc<Loop>, key: Key) {
    let Some((js, b)) = js_and_behavior(lp, key) else {
        return;
    };
    if let Some(f) = &b.handlers.drain {
        lp.call(f.get(), &[js]);
    }
}

/// Messages at least this large that the receiver already owns are handed to JS without a copy
/// (below it, copying into a fresh ArrayBuffer is cheaper than an external one).
const LEND_THRESHOLD: usize = 32 * 1024;

fn call_with_owned(lp: &Loop, f: Value, js: Value, bytes: Vec<u8>, binary: bool) {
    let env = lp.env;
    // The receiver's buffers come from the large pool (`set_buffer_source`): lent, then back.
    let Ok(ab) = env.arraybuffer_from_vec_recycled(bytes, large_pool::recycle) else {
        return;
    };
    lp.call(f, &[js, ab, env.boolean(binary)]);
    lp.detach(ab);
}

/// A message that lies whole in the read buffer is lent to JS from there, as uWebSockets.js
/// does: no copy. Through V8 directly when possible (`js::v8_direct`), else for large messages
/// through an N-API external buffer (a 256 KiB echo spent 5% of its CPU copying; below 32 KiB
/// the N-API external costs more than the copy). It is detached when the handler returns; if JS
/// transferred it away, the read buffer is handed over to it (`Loop::read_buffer_owner`).
/// Where neither kind of buffer can be made, the message is copied.
fn call_with_input(lp: &Loop, f: Value, js: Value, bytes: &mut [u8], binary: bool) {
    let env = lp.env;
    // One reference to the keeper per lent message, moved into its backing store.
    let keeper = lp.read_buffer_owner();
    let ab = match lp.v8_direct && !bytes.is_empty() {
        true => crate::js::v8_direct::arraybuffer_over(bytes, keeper),
        false => Err(keeper),
    };
    let ab = match ab {
        Ok(ab) => Ok(ab),
        Err(keeper) if bytes.len() >= LEND_THRESHOLD => env.arraybuffer_over(bytes, keeper),
        Err(_) => return call_with_buffer(lp, f, js, bytes, Some(binary)),
    };
    let Ok(ab) = ab else {
        return call_with_buffer(lp, f, js, bytes, Some(binary));
    };
    lp.call(f, &[js, ab, env.boolean(binary)]);
    if lp.detach(ab) {
        lp.read_buffer_escaped();
    }
}

/// Large messages read in place are copied into a pooled buffer lent to JS instead of a fresh
/// ArrayBuffer: with the addon's M_MMAP_THRESHOLD of 128 KiB every such ArrayBuffer would be a
/// fresh mmap (zeroed, page-faulted on the copy) and munmap at detach. The pooled buffer comes
/// back when V8 releases it (right after the detach, or later if JS transferred it).
///
/// Buffers come back a loop iteration after their detach (N-API runs external-buffer finalizers
/// from an immediate), so the pool needs about as many spares as large messages are in flight
/// per wakeup: with 4 spares, 10 x 256 KiB echo still mmapped most buffers (99 s/M server CPU);
/// with 16, 40 s/M. Spares unused for a whole timer tick (1 s) are freed.
mod large_pool {
    use std::cell::{Cell, RefCell};

    pub const MIN: usize = 128 * 1024;
    pub const MAX: usize = 1024 * 1024;
    const SPARE: usize = 16;

    thread_local! {
        static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
        static USED: Cell<bool> = const { Cell::new(false) };
    }

    /// Frees the spares if no large buffer was taken since the last call (timer tick).
    pub fn trim_idle() {
        if !USED.with(|u| u.replace(false)) {
            let spares = POOL.with(|p| std::mem::take(&mut *p.borrow_mut()));
            drop(spares);
        }
    }

    /// An empty buffer of at least `capacity` bytes: a spare one if any fits.
    pub fn take(capacity: usize) -> Vec<u8> {
        if !(MIN..=MAX).contains(&capacity) {
            return Vec::with_capacity(capacity);
        }
        USED.with(|u| u.set(true));
        let spare = POOL.with(|p| {
            let mut p = p.borrow_mut();
            let i = p.iter().position(|v| v.capacity() >= capacity)?;
            Some(p.swap_remove(i))
        });
        spare.unwrap_or_else(|| Vec::with_capacity(capacity.next_power_of_two()))
    }

    pub fn copy_of(bytes: &[u8]) -> Vec<u8> {
        let mut v = take(bytes.len());
        v.extend_from_slice(bytes);
        v
    }

    pub fn recycle(mut v: Vec<u8>) {
        if !(MIN..=MAX).contains(&v.capacity()) {
            return;
        }
        v.clear();
        let _ = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < SPARE {
                p.push(v);
            }
        });
    }
}

/// Timer tick: releases the large-message buffer pool once it has gone unused.
pub fn trim_large_pool() {
    large_pool::trim_idle();
}

fn call_with_buffer(lp: &Loop, f: Value, js: Value, bytes: &[u8], binary: Option<bool>) {
    let env = lp.env;
    let ab = if (large_pool::MIN..=large_pool::MAX).contains(&bytes.len()) {
        env.arraybuffer_from_vec_recycled(large_pool::copy_of(bytes), large_pool::recycle)
    } else {
        env.arraybuffer(bytes)
    };
    let Ok(ab) = ab else {
        return;
    };
    match binary {
        Some(b) => lp.call(f, &[js, ab, env.boolean(b)]),
        None => lp.call(f, &[js, ab]),
    };
    lp.detach(ab);
}

/// Frames and writes one message (no backpressure check: control frames and internal use).
fn write_frame(lp: &Loop, key: Key, opcode: OpCode, payload: &[u8], fin: bool) {
    let mut conns = lp.conns.borrow_mut();
    if let Some(c) = conns.get_mut(key) {
        let mut header = [0u8; 10];
        let n = encode_header(&mut header, fin, opcode, false, payload.len());
        c.write(lp, key, &[&header[..n], payload]);
    }
}

/// `ws.send` and the fragment variants: the uWebSockets.js drop check runs first, on the bytes
/// already buffered, so one large send on an empty socket is always accepted.
///
/// `compress` deflates a whole (fin) non-empty data message when permessage-deflate was
/// negotiated, as uWebSockets.js does; fragments always go uncompressed (uWebSockets.js would
/// set RSV1 on every fragment, which RFC 7692 forbids on continuation frames).
pub fn send(
    lp: &Loop,
    key: Key,
    opcode: OpCode,
    payload: &[u8],
    fin: bool,
    compress: bool,
) -> JsResult<u32> {
    let dropped = {
        let mut conns = lp.conns.borrow_mut();
        let c = match conns.get_mut(key) {
            Some(c) if matches!(c.state, State::Ws(_)) => c,
            _ => return Err(crate::js::napi::error(CLOSED_MESSAGE)),
        };
        let State::Ws(ws) = &c.state else {
            unreachable!()
        };
        let settings = &ws.behavior.settings;
        let limit = settings.max_backpressure;
        if limit > 0 && c.buffered_amount() > limit {
            Some(ws.behavior.clone())
        } else {
            if settings.reset_idle_timeout_on_send && settings.idle_timeout > 0 {
                c.timeout_at = lp.tick.get() + settings.idle_timeout as u64;
            }
            let compressible = compress
                && fin
                && matches!(opcode, OpCode::Text | OpCode::Binary)
                && !payload.is_empty();
            let deflated = match &mut c.state {
                State::Ws(ws) if compressible => ws
                    .deflate
                    .as_deref_mut()
                    .and_then(|d| crate::ws_deflate::compress(d, payload)),
                _ => None,
            };
            let mut header = [0u8; 10];
            if let Some(deflated) = deflated {
                let n = encode_header(&mut header, fin, opcode, true, deflated.len());
                c.write(lp, key, &[&header[..n], &deflated]);
                crate::ws_deflate::recycle(deflated);
            } else {
                let n = encode_header(&mut header, fin, opcode, false, payload.len());
                c.write(lp, key, &[&header[..n], payload]);
            }
            return Ok(if c.buffered_amount() > 0 {
                BACKPRESSURE
            } else {
                SUCCESS
            });
        }
    };
    if let Some(b) = dropped {
        if let (Some(f), Some((js, _))) = (&b.handlers.dropped, js_and_behavior(lp, key)) {
            let binary = opcode == OpCode::Binary;
            call_with_buffer(lp, f.get(), js, payload, Some(binary));
        }
        if b.settings.close_on_backpressure_limit && is_open(lp, key) {
            // uWebSockets.js closes with 1006 and no reason, after the send returned.
            lp.defer_close(key);
        }
    }
    Ok(DROPPED)
}

/// `ws.end(code, message)`: close frame, then the close handler (synchronously), then FIN once
/// the queue has drained.
pub fn end(lp: &Rc<Loop>, key: Key, code: u16, message: &[u8]) -> JsResult<()> {
    if !is_open(lp, key) {
        return Err(crate::js::napi::error(CLOSED_MESSAGE));
    }
    write_frame(
        lp,
        key,
        OpCode::Close,
        &encode_close_payload(code, message),
        true,
    );
    // The frame carries at most 123 bytes and no unsendable code (then it is empty); the
    // handler gets exactly what the application passed, as in uWebSockets.js.
    finish(lp, key, code, message, false);
    Ok(())
}

/// `ws.close()`: immediate close, no close frame; the handler sees 1006.
pub fn close_now(lp: &Rc<Loop>, key: Key) -> JsResult<()> {
    if !is_open(lp, key) {
        return Err(crate::js::napi::error(CLOSED_MESSAGE));
    }
    finish(lp, key, 1006, b"", true);
    Ok(())
}

/// The one way a WebSocket ends: the JS object becomes invalid, topics are left (firing
/// `subscription`), the close handler runs, and the socket either drains or goes at once.
pub fn finish(lp: &Rc<Loop>, key: Key, code: u16, reason: &[u8], immediate: bool) {
    let (js, behavior) = {
        let mut conns = lp.conns.borrow_mut();
        let Some(c) = conns.get_mut(key) else { return };
        let State::Ws(_) = &c.state else { return };
        let State::Ws(ws) = std::mem::replace(&mut c.state, State::Closing) else {
            unreachable!()
        };
        c.start_closing(lp);
        (ws.js, ws.behavior)
    };
    let Some(js) = js else { return };
    let js_value = js.get();
    // Topics are left first, then the close handler runs (the order of uWebSockets.js v20).
    crate::pubsub_glue::remove_subscriber(lp, key, js_value, &behavior);
    if let Some(f) = &behavior.handlers.close {
        let env = lp.env;
        if let Ok(ab) = env.arraybuffer(reason) {
            lp.call(f.get(), &[js_value, env.number(code as f64), ab]);
            lp.detach(ab);
        }
    }
    drop(js);
    if immediate {
        conn::remove(lp, key);
    }
}

/// A publish skipped this subscriber (over maxBackpressure): `dropped`, then maybe close.
pub fn on_publish_dropped(lp: &Loop, key: Key, payload: &[u8], binary: bool) {
    let Some((js, b)) = js_and_behavior(lp, key) else {
        return;
    };
    if let Some(f) = &b.handlers.dropped {
        call_with_buffer(lp, f.get(), js, payload, Some(binary));
    }
    if b.settings.close_on_backpressure_limit && is_open(lp, key) {
        lp.defer_close(key);
    }
}
