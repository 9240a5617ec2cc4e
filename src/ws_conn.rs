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
        let receiver = Receiver::new(ReceiverConfig {
            max_payload_length: s.max_payload_length,
            require_mask: true,
            allow_rsv1: false,
        });
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
    let mut events = Vec::new();
    let result = {
        let mut conns = lp.conns.borrow_mut();
        let Some(c) = conns.get_mut(key) else { return };
        let State::Ws(ws) = &mut c.state else { return };
        ws.awaiting_pong = false;
        c.timeout_at = idle_deadline(lp, &ws.behavior);
        ws.receiver.feed(data, &mut events)
    };
    let env = lp.env;
    for ev in events {
        let Some((js, b)) = js_and_behavior(lp, key) else {
            return;
        };
        let h = &b.handlers;
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
                            call_with_buffer(lp, f, js, &message, Some(binary));
                        }
                        deflate::recycle(message);
                    }
                    Err(InflateFailure::Inflation) => {
                        finish(lp, key, 1006, deflate::INFLATION_ERROR, true);
                        return;
                    }
                    Err(InflateFailure::Protocol(e)) => {
                        fail(lp, key, e);
                        return;
                    }
                }
            }
            Event::Message {
                payload, binary, ..
            } => {
                if let Some(f) = &h.message {
                    match payload {
                        // A large message assembled by the receiver is lent as is: no copy and
                        // no fresh JS allocation (the profile's top cost for 256 KiB messages).
                        Payload::Owned(v) if v.len() >= LEND_THRESHOLD => {
                            call_with_owned(lp, f, js, v, binary)
                        }
                        p => call_with_buffer(lp, f, js, p.as_slice(data), Some(binary)),
                    }
                }
            }
            Event::Ping(payload) => {
                let bytes = payload.as_slice(data);
                write_frame(lp, key, OpCode::Pong, bytes, true);
                if let Some(f) = &h.ping {
                    call_with_buffer(lp, f, js, bytes, None);
                }
            }
            Event::Pong(payload) => {
                if let Some(f) = &h.pong {
                    call_with_buffer(lp, f, js, payload.as_slice(data), None);
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
                return;
            }
        }
        let _ = env;
    }
    if let Err(e) = result {
        fail(lp, key, e);
    }
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
            finish(lp, key, 1006, b"WebSocket reached its max lifetime", false);
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

fn call_with_owned(lp: &Loop, f: &Ref, js: Value, bytes: Vec<u8>, binary: bool) {
    let env = lp.env;
    let Ok(ab) = env.arraybuffer_from_vec(bytes) else {
        return;
    };
    lp.call(f.get(), &[js, ab, env.boolean(binary)]);
    env.detach(ab);
}

fn call_with_buffer(lp: &Loop, f: &Ref, js: Value, bytes: &[u8], binary: Option<bool>) {
    let env = lp.env;
    let Ok(ab) = env.arraybuffer(bytes) else {
        return;
    };
    match binary {
        Some(b) => lp.call(f.get(), &[js, ab, env.boolean(b)]),
        None => lp.call(f.get(), &[js, ab]),
    };
    env.detach(ab);
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
            call_with_buffer(lp, f, js, payload, Some(binary));
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
            env.detach(ab);
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
        call_with_buffer(lp, f, js, payload, Some(binary));
    }
    if b.settings.close_on_backpressure_limit && is_open(lp, key) {
        lp.defer_close(key);
    }
}
