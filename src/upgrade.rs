//! HTTP -> WebSocket: handshake validation on a WebSocket route, the route's `upgrade` handler
//! (or the default upgrade), and `res.upgrade(...)` switching the connection over.

use crate::app::Behavior;
use crate::conn::State;
use crate::event_loop::Loop;
use crate::http_conn::{self, RESPONSE_INVALID};
use crate::js::napi::{error, JsResult, Value};
use crate::slab::Key;
use std::rc::Rc;
use uws_core::ws::handshake::{
    accept_key, response_head, validate_upgrade, HandshakeError, UpgradeHeaders,
};

/// A request matched a WebSocket route.
pub fn on_upgrade_request(
    lp: &Rc<Loop>,
    key: Key,
    seq: u32,
    req_seq: u64,
    behavior: &Rc<Behavior>,
) {
    let check = {
        let slot = lp.request.borrow();
        let Ok((head, buf)) = slot.head(req_seq) else {
            return;
        };
        let h = UpgradeHeaders {
            upgrade: head.header(buf, b"upgrade"),
            connection: head.header(buf, b"connection"),
            key: head.header(buf, b"sec-websocket-key"),
            version: head.header(buf, b"sec-websocket-version"),
        };
        validate_upgrade(&buf[head.method.clone()], &h)
    };
    match check {
        Ok(()) => {}
        // A WebSocket version we do not speak: RFC 6455 4.2.2 answers 426 naming ours.
        Err(HandshakeError::UnsupportedVersion) => {
            let _ = http_conn::with_response(lp, key, seq, |_, r| {
                r.headers
                    .extend_from_slice(b"Sec-WebSocket-Version: 13\r\n")
            });
            let _ = http_conn::end(lp, key, seq, Some(b"426 Upgrade Required"), b"", true);
            return;
        }
        // Not a WebSocket request (no GET, no usable key...): other routes may take it, as in
        // uWebSockets.js.
        Err(_) => {
            lp.request.borrow_mut().yielded = true;
            return;
        }
    }
    if let Some(upgrade) = &behavior.handlers.upgrade {
        let f = lp.factories.borrow().as_ref().map(|f| f.upgrade.get());
        let Some(f) = f else { return };
        let env = lp.env;
        lp.call(
            f,
            &[
                upgrade.get(),
                env.number(key.to_f64()),
                env.number(seq as f64),
                env.number(req_seq as f64),
                env.number(behavior.id as f64),
            ],
        );
        return;
    }
    let (ws_key, protocol, extensions) = {
        let slot = lp.request.borrow();
        let Ok((head, buf)) = slot.head(req_seq) else {
            return;
        };
        let k = head
            .header(buf, b"sec-websocket-key")
            .unwrap_or(b"")
            .to_vec();
        let p = head
            .header(buf, b"sec-websocket-protocol")
            .unwrap_or(b"")
            .to_vec();
        let x = head
            .header(buf, b"sec-websocket-extensions")
            .unwrap_or(b"")
            .to_vec();
        (k, p, x)
    };
    let Ok(user_data) = lp.env.object() else {
        return;
    };
    if let Err(e) = upgrade(
        lp,
        key,
        seq,
        user_data,
        &ws_key,
        &protocol,
        &extensions,
        behavior.clone(),
    ) {
        lp.env.throw(e);
        if let Some(ex) = lp.env.take_exception() {
            lp.env.report_uncaught(ex);
        }
    }
}

/// `res.upgrade(userData, key, protocol, extensions, context)`: writes the 101, turns the
/// connection into a WebSocket, builds the JS object and calls `open` — all synchronously.
#[allow(clippy::too_many_arguments)]
pub fn upgrade(
    lp: &Rc<Loop>,
    key: Key,
    seq: u32,
    user_data: Value,
    ws_key: &[u8],
    protocol: &[u8],
    extensions: &[u8],
    behavior: Rc<Behavior>,
) -> JsResult<()> {
    let accept = accept_key(ws_key);
    // uWebSockets selects the first offered protocol when given the raw header.
    let protocol = protocol.split(|b| *b == b',').next().unwrap_or(b"");
    let protocol = trim(protocol);
    // permessage-deflate, negotiated from the client's offers (the raw request header, passed
    // through by the application in `res.upgrade`).
    let deflate = crate::ws_deflate::negotiate_for(&behavior, extensions);
    let mut head = response_head(
        &accept,
        Some(protocol).filter(|p| !p.is_empty()),
        deflate.as_ref().map(|a| a.response.as_bytes()),
    );
    // uWebSockets.js adds its usual Date and uWebSockets headers to the 101 as well.
    head.truncate(head.len() - 2);
    head.extend_from_slice(b"Date: ");
    head.extend_from_slice(&http_conn::date_header());
    head.extend_from_slice(b"\r\nuWebSockets: 20\r\n\r\n");
    {
        let mut conns = lp.conns.borrow_mut();
        let c = conns.get_mut(key).ok_or_else(|| error(RESPONSE_INVALID))?;
        match &mut c.state {
            State::Http(h) if h.seq == seq && h.res.is_some() => {
                h.res = None;
                h.body = http_conn::Body::None;
            }
            _ => return Err(error(RESPONSE_INVALID)),
        }
        c.write(lp, key, &[&head]);
    }
    crate::ws_conn::install(lp, key, behavior.clone());
    crate::conn::watch_in_libuv(lp, key);
    if let Some(agreement) = &deflate {
        crate::ws_deflate::enable(lp, key, agreement);
    }
    let env = lp.env;
    let factory = lp.factories.borrow().as_ref().map(|f| f.websocket.get());
    let Some(factory) = factory else {
        return Err(error("uws-rs: facade not initialised"));
    };
    let ws = env
        .call(factory, &[env.number(key.to_f64()), user_data])
        .map_err(|ex| {
            env.report_uncaught(ex);
            crate::js::napi::JsError::Pending
        })?;
    let js_ref = env.reference(ws)?;
    {
        let mut conns = lp.conns.borrow_mut();
        if let Some(c) = conns.get_mut(key) {
            if let State::Ws(w) = &mut c.state {
                w.js = Some(js_ref);
            }
        }
    }
    if let Some(open) = &behavior.handlers.open {
        lp.call(open.get(), &[ws]);
    }
    Ok(())
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// Pipelined requests wait while a response is in flight; once it ends they are processed on
/// the next loop iteration.
pub fn schedule_resume(lp: &Loop, key: Key) {
    lp.defer(key);
}
