//! Native functions behind the facade's `WebSocket` methods. Every one checks that the socket is
//! still open and throws uWebSockets.js's "Invalid access of closed" error otherwise.

use super::args::key;
use super::napi::{error, Env, JsResult, Value};
use crate::conn::State;
use crate::event_loop::Loop;
use crate::slab::Key;
use crate::transport::Peer;
use crate::ws_conn::{self, CLOSED_MESSAGE};
use std::rc::Rc;
use uws_core::ws::frame::OpCode;

fn open_key(lp: &Loop, env: Env, v: Value) -> JsResult<Key> {
    let k = key(env, v, "WebSocket")?;
    match lp.conns.borrow().get(k).map(|c| &c.state) {
        Some(State::Ws(_)) => Ok(k),
        _ => Err(error(CLOSED_MESSAGE)),
    }
}

/// Borrows the message bytes (string transcoded into the loop's scratch) for `f`.
fn with_message<R>(lp: &Loop, env: Env, v: Value, f: impl FnOnce(&[u8]) -> R) -> JsResult<R> {
    lp.with_scratch(|scratch| env.with_bytes_opt(v, scratch, "message", f))
}

js_fn!(
    /// `wsSend(key, message, flags) -> 0 | 1 | 2`; flags: 1 = isBinary, 2 = compress (the
    /// facade folds the two truthy arguments into one number: one N-API read, no coercion).
    ws_send(env, info) {
        let a = env.args::<3>(info)?;
        let lp = Loop::get(env)?;
        // ws_conn::send checks that the socket is open (one slab lookup, not two).
        let k = key(env, a.argv[0], "WebSocket")?;
        let flags = env.f64(a.argv[2], "flags")? as u32;
        let opcode = if flags & 1 != 0 { OpCode::Binary } else { OpCode::Text };
        let compress = flags & 2 != 0;
        let status = with_message(&lp, env, a.argv[1], |m| ws_conn::send(&lp, k, opcode, m, true, compress))??;
        Ok(env.number(status as f64))
    }
);

js_fn!(
    /// `wsFragment(key, message, part, isBinary, compress)`; part 0 first, 1 middle, 2 last.
    ws_fragment(env, info) {
        let a = env.args::<5>(info)?;
        let lp = Loop::get(env)?;
        let k = open_key(&lp, env, a.argv[0])?;
        let part = env.f64(a.argv[2], "part")? as u32;
        let opcode = match part {
            0 if env.truthy(a.argv[3]) => OpCode::Binary,
            0 => OpCode::Text,
            _ => OpCode::Continuation,
        };
        let fin = part == 2;
        // Fragments go uncompressed (see ws_conn::send).
        let status = with_message(&lp, env, a.argv[1], |m| ws_conn::send(&lp, k, opcode, m, fin, false))??;
        Ok(env.number(status as f64))
    }
);

js_fn!(ws_ping(env, info) {
    let a = env.args::<2>(info)?;
    let lp = Loop::get(env)?;
    let k = open_key(&lp, env, a.argv[0])?;
    let status = with_message(&lp, env, a.argv[1], |m| {
        let m = &m[..m.len().min(125)];
        ws_conn::send(&lp, k, OpCode::Ping, m, true, false)
    })??;
    Ok(env.number(status as f64))
});

js_fn!(
    /// `wsEnd(key, code, message)`.
    ws_end(env, info) {
        let a = env.args::<3>(info)?;
        let lp = Loop::get(env)?;
        let k = open_key(&lp, env, a.argv[0])?;
        let code = env.f64_or(a.argv[1], 0.0, "code")?;
        let code = if (0.0..=65535.0).contains(&code) { code as u16 } else { 0 };
        let msg = {
            let mut scratch = Vec::new();
            env.with_bytes_opt(a.argv[2], &mut scratch, "message", |m| m.to_vec())?
        };
        ws_conn::end(&lp, k, code, &msg)?;
        Ok(env.undefined())
    }
);

js_fn!(ws_close(env, info) {
    let a = env.args::<1>(info)?;
    let lp = Loop::get(env)?;
    let k = open_key(&lp, env, a.argv[0])?;
    ws_conn::close_now(&lp, k)?;
    Ok(env.undefined())
});

js_fn!(ws_buffered(env, info) {
    let a = env.args::<1>(info)?;
    let lp = Loop::get(env)?;
    let k = open_key(&lp, env, a.argv[0])?;
    let n = lp.conns.borrow().get(k).map(|c| c.buffered_amount()).unwrap_or(0);
    Ok(env.number(n as f64))
});

js_fn!(
    /// `wsCheck(key)`: throws if closed (for methods implemented in JS, like getUserData).
    ws_check(env, info) {
        let a = env.args::<1>(info)?;
        let lp = Loop::get(env)?;
        open_key(&lp, env, a.argv[0])?;
        Ok(env.undefined())
    }
);

/// Runs `cb` with the connection corked, then writes what it sent at once.
pub fn cork_around(lp: &Rc<Loop>, k: Key, cb: Value) -> JsResult<()> {
    let env = lp.env;
    let was = {
        let mut conns = lp.conns.borrow_mut();
        conns
            .get_mut(k)
            .map(|c| std::mem::replace(&mut c.corked, true))
    };
    let r = env.call(cb, &[]);
    if was == Some(false) {
        let mut conns = lp.conns.borrow_mut();
        if let Some(c) = conns.get_mut(k) {
            c.corked = false;
            if !lp.in_wakeup() {
                c.flush_corked();
            }
        }
    }
    r.map(|_| ()).map_err(|ex| {
        // Re-throw the callback's exception to the caller of cork().
        // SAFETY-free: napi_throw through the env wrapper.
        throw_value(env, ex);
        super::napi::JsError::Pending
    })
}

fn throw_value(env: Env, ex: Value) {
    env.rethrow(ex);
}

js_fn!(ws_cork(env, info) {
    let a = env.args::<2>(info)?;
    let lp = Loop::get(env)?;
    let k = open_key(&lp, env, a.argv[0])?;
    cork_around(&lp, k, a.argv[1])?;
    Ok(env.undefined())
});

js_fn!(
    /// `wsSubscribe(key, ws, topic, on) -> bool`.
    ws_subscribe(env, info) {
        let a = env.args::<4>(info)?;
        let lp = Loop::get(env)?;
        let k = open_key(&lp, env, a.argv[0])?;
        let topic = env.bytes_owned(a.argv[2], "topic")?;
        let on = env.truthy(a.argv[3]);
        let r = crate::pubsub_glue::set_subscribed(&lp, k, a.argv[1], &topic, on);
        Ok(env.boolean(r))
    }
);

js_fn!(ws_is_subscribed(env, info) {
    let a = env.args::<2>(info)?;
    let lp = Loop::get(env)?;
    let k = open_key(&lp, env, a.argv[0])?;
    let topic = env.bytes_owned(a.argv[1], "topic")?;
    Ok(env.boolean(crate::pubsub_glue::is_subscribed(&lp, k, &topic)))
});

js_fn!(ws_topics(env, info) {
    let a = env.args::<1>(info)?;
    let lp = Loop::get(env)?;
    let k = open_key(&lp, env, a.argv[0])?;
    let topics = crate::pubsub_glue::topics(&lp, k);
    let values = topics
        .iter()
        .map(|t| env.string_lossy(t))
        .collect::<JsResult<Vec<_>>>()?;
    env.array(&values)
});

js_fn!(
    /// `wsPublish(key, topic, message, isBinary, compress) -> bool`: to every subscriber but
    /// the sender; false if the sender subscribes to nothing (as uWebSockets.js).
    ws_publish(env, info) {
        let a = env.args::<5>(info)?;
        let lp = Loop::get(env)?;
        let k = open_key(&lp, env, a.argv[0])?;
        let topic = env.bytes_owned(a.argv[1], "topic")?;
        let binary = env.truthy(a.argv[3]);
        let compress = env.truthy(a.argv[4]);
        let app = {
            let app_key = lp.conns.borrow().get(k).map(|c| c.app);
            app_key.and_then(|ak| lp.apps.borrow().get(ak).cloned())
        };
        let Some(app) = app else { return Ok(env.boolean(false)) };
        // The message is checked (and a bad one throws) even when nothing will be sent.
        let r = with_message(&lp, env, a.argv[2], |m| {
            app.topics.borrow().has_subscriptions(crate::pubsub_glue::sub_id(k))
                && crate::pubsub_glue::publish(&lp, &app, &topic, m, binary, Some(k), compress)
        })?;
        Ok(env.boolean(r))
    }
);

/// Remote address as uWebSockets.js gives it: 4 bytes (IPv4) or 16 (IPv6) binary, or text.
pub fn remote_address(env: Env, peer: Peer, as_text: bool) -> JsResult<Value> {
    use std::net::IpAddr;
    // Unix sockets have no address to give: an empty ArrayBuffer, as for a missing PROXY header.
    let Peer::Ip(addr) = peer else {
        return env.arraybuffer(&[]);
    };
    // A dual-stack listener sees IPv4 peers as IPv4-mapped IPv6: reported as such (16 bytes,
    // eight zero-padded groups), exactly like uWebSockets.
    match (addr.ip(), as_text) {
        (IpAddr::V4(v4), false) => env.arraybuffer(&v4.octets()),
        (IpAddr::V4(v4), true) => env.arraybuffer(v4.to_string().as_bytes()),
        (IpAddr::V6(v6), false) => env.arraybuffer(&v6.octets()),
        (IpAddr::V6(v6), true) => {
            use std::fmt::Write;
            let mut text = String::with_capacity(39);
            for (i, group) in v6.segments().iter().enumerate() {
                let sep = if i == 0 { "" } else { ":" };
                let _ = write!(text, "{sep}{group:04x}");
            }
            env.arraybuffer(text.as_bytes())
        }
    }
}

js_fn!(ws_remote_address(env, info) {
    let a = env.args::<2>(info)?;
    let lp = Loop::get(env)?;
    let k = open_key(&lp, env, a.argv[0])?;
    let addr = lp.conns.borrow().get(k).map(|c| c.remote);
    match addr {
        Some(addr) => remote_address(env, addr, env.truthy(a.argv[1])),
        None => Err(error(CLOSED_MESSAGE)),
    }
});

/// Remote port (0 for Unix sockets): `getRemotePort()` of newer uWebSockets.js.
pub fn remote_port(peer: Peer) -> f64 {
    match peer {
        Peer::Ip(a) => a.port() as f64,
        Peer::Local => 0.0,
    }
}

js_fn!(ws_remote_port(env, info) {
    let a = env.args::<1>(info)?;
    let lp = Loop::get(env)?;
    let k = open_key(&lp, env, a.argv[0])?;
    let peer = lp.conns.borrow().get(k).map(|c| c.remote);
    match peer {
        Some(p) => Ok(env.number(remote_port(p))),
        None => Err(error(CLOSED_MESSAGE)),
    }
});
