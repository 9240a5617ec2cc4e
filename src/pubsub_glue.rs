//! Pub/sub on top of the core topic registry: subscribe/unsubscribe with the `subscription`
//! handler, and publish that builds one frame and shares it (reference-counted) across every
//! subscriber's send queue.

use crate::app::{App, Behavior};
use crate::conn::State;
use crate::event_loop::Loop;
use crate::js::napi::Value;
use crate::slab::Key;
use std::rc::Rc;
use std::sync::Arc;
use uws_core::ws::frame::{encode_header, OpCode};

pub fn sub_id(key: Key) -> u64 {
    (key.gen as u64) << 32 | key.index as u64
}

fn key_of(id: u64) -> Key {
    Key {
        index: id as u32,
        gen: (id >> 32) as u32,
    }
}

fn app_of(lp: &Loop, key: Key) -> Option<Rc<App>> {
    let app = lp.conns.borrow().get(key)?.app;
    lp.apps.borrow().get(app).cloned()
}

fn notify(lp: &Loop, b: &Behavior, ws: Value, topic: &[u8], new: usize, old: usize) {
    if let Some(f) = &b.handlers.subscription {
        let env = lp.env;
        if let Ok(ab) = env.arraybuffer(topic) {
            lp.call(
                f.get(),
                &[ws, ab, env.number(new as f64), env.number(old as f64)],
            );
            env.detach(ab);
        }
    }
}

/// Returns false if already (un)subscribed.
pub fn set_subscribed(lp: &Loop, key: Key, ws: Value, topic: &[u8], on: bool) -> bool {
    let Some(app) = app_of(lp, key) else {
        return false;
    };
    let change = {
        let mut t = app.topics.borrow_mut();
        if on {
            t.subscribe(sub_id(key), topic)
        } else {
            t.unsubscribe(sub_id(key), topic)
        }
    };
    let Some((old, new)) = change else {
        return false;
    };
    let behavior = match lp.conns.borrow().get(key).map(|c| &c.state) {
        Some(State::Ws(w)) => Some(w.behavior.clone()),
        _ => None,
    };
    if let Some(b) = behavior {
        notify(lp, &b, ws, topic, new, old);
    }
    true
}

pub fn is_subscribed(lp: &Loop, key: Key, topic: &[u8]) -> bool {
    app_of(lp, key).is_some_and(|a| a.topics.borrow().is_subscribed(sub_id(key), topic))
}

pub fn topics(lp: &Loop, key: Key) -> Vec<Vec<u8>> {
    app_of(lp, key)
        .map(|a| {
            a.topics
                .borrow()
                .topics_of(sub_id(key))
                .into_iter()
                .map(|t| t.to_vec())
                .collect()
        })
        .unwrap_or_default()
}

/// At close: leave every topic, firing `subscription` for each.
pub fn remove_subscriber(lp: &Loop, key: Key, ws: Value, b: &Behavior) {
    let Some(app) = app_of(lp, key) else { return };
    let removed = app.topics.borrow_mut().remove_subscriber(sub_id(key));
    for (topic, old, new) in removed {
        notify(lp, b, ws, &topic, new, old);
    }
}

/// Sends `payload` to every subscriber of `topic` but `exclude`; one frame, shared.
/// Returns whether anyone subscribes to the topic.
pub fn publish(
    lp: &Loop,
    app: &App,
    topic: &[u8],
    payload: &[u8],
    binary: bool,
    exclude: Option<Key>,
) -> bool {
    let subscribers: Vec<u64> = app.topics.borrow().subscribers(topic).to_vec();
    if subscribers.is_empty() {
        return false;
    }
    let opcode = if binary { OpCode::Binary } else { OpCode::Text };
    let mut header = [0u8; 10];
    let n = encode_header(&mut header, true, opcode, false, payload.len());
    let mut frame = Vec::with_capacity(n + payload.len());
    frame.extend_from_slice(&header[..n]);
    frame.extend_from_slice(payload);
    let frame: Arc<[u8]> = frame.into();
    let mut dropped = Vec::new();
    {
        let mut conns = lp.conns.borrow_mut();
        for id in subscribers {
            let key = key_of(id);
            if Some(key) == exclude {
                continue;
            }
            let Some(c) = conns.get_mut(key) else {
                continue;
            };
            let State::Ws(ws) = &c.state else { continue };
            let limit = ws.behavior.settings.max_backpressure;
            if limit > 0 && c.buffered_amount() > limit {
                dropped.push(key);
                continue;
            }
            c.write_shared(lp, key, &frame);
        }
    }
    for key in dropped {
        crate::ws_conn::on_publish_dropped(lp, key, payload, binary);
    }
    true
}
