//! Pub/sub on top of the core topic registry: subscribe/unsubscribe with the `subscription`
//! handler, and publish: into the wakeup's batch (`publish_batch`), or one frame built once and
//! shared (reference-counted) across every subscriber's send queue.

use crate::app::{App, Behavior};
use crate::conn::State;
use crate::event_loop::Loop;
use crate::js::napi::Value;
use crate::slab::Key;
use std::rc::Rc;

pub fn sub_id(key: Key) -> u64 {
    (key.gen as u64) << 32 | key.index as u64
}

pub fn key_of(id: u64) -> Key {
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
            lp.detach(ab);
        }
    }
}

/// Subscribing always returns true (also when already subscribed, as uWebSockets.js v20);
/// unsubscribing returns whether the socket was subscribed. `subscription` fires only on a change.
pub fn set_subscribed(lp: &Loop, key: Key, ws: Value, topic: &[u8], on: bool) -> bool {
    // The wakeup's publishes reach the subscribers of publish time.
    crate::publish_batch::catch_up_key(lp, key);
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
        return on;
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

/// uWebSockets' cork buffer size: publishes of at least this many bytes take its `publishBig`
/// path, which reports success whenever the topic exists (even if only the sender holds it).
const BIG_MESSAGE: usize = 16 * 1024;

/// Sends `payload` to every subscriber of `topic` but `exclude`. Fan-outs go to the loop's
/// batch (`publish_batch`), written per subscriber when the wakeup ends; otherwise one frame,
/// shared (with `compress`, one compressed frame shared by the subscribers that
/// negotiated permessage-deflate with the shared compressor: see `ws_deflate::PublishFrames`).
/// Returns what uWebSockets.js v20 returns: false if the topic has no subscribers; otherwise
/// whether some subscriber other than `exclude` was addressed (whether or not its backpressure
/// dropped the message), except that payloads of 16 KiB and more return true.
pub fn publish(
    lp: &Loop,
    app: &Rc<App>,
    topic: &[u8],
    payload: &[u8],
    binary: bool,
    exclude: Option<Key>,
    compress: bool,
) -> bool {
    let (count, only_excluded) = {
        let t = app.topics.borrow();
        let subscribers = t.subscribers(topic);
        let only_excluded = subscribers.iter().all(|&id| Some(key_of(id)) == exclude);
        (subscribers.len(), only_excluded)
    };
    if count == 0 {
        return false;
    }
    if only_excluded {
        return payload.len() >= BIG_MESSAGE;
    }
    if crate::publish_batch::takes(payload.len(), compress, count) {
        crate::publish_batch::add(lp, app, topic, payload, binary, exclude);
        return true;
    }
    let subscribers: Vec<u64> = app.topics.borrow().subscribers(topic).to_vec();
    let mut frames = crate::ws_deflate::PublishFrames::new(payload, binary, compress);
    // Outside a loop wakeup (a timer, setImmediate) small publishes are corked on each
    // subscriber and flushed on the next loop iteration, as uWebSockets' topic tree drains once
    // per iteration: a burst of N publishes costs one write per subscriber, not N. Order holds:
    // a later uncorked send writes the queue first. Big ones go at once (upstream's publishBig).
    let defer = !lp.in_wakeup() && payload.len() < BIG_MESSAGE;
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
            let cork = defer && !c.corked;
            c.corked |= cork;
            frames.write(lp, key, c);
            if cork {
                c.corked = false;
            }
        }
    }
    if defer {
        lp.defer_flush();
    }
    for key in dropped {
        crate::ws_conn::on_publish_dropped(lp, key, payload, binary);
    }
    true
}
