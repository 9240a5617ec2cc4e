//! Publishes delivered once per subscriber at the end of the loop wakeup they were made in (or,
//! made outside one, of the next: a timer's publishes go out on the next loop iteration).
//!
//! uWebSockets' topic tree queues publishes and drains them once per loop iteration, visiting
//! each subscriber once for all of them. Copying every publish into every subscriber's corked
//! bytes at once instead touches each subscriber's connection, queue and coalescing buffer once
//! per message: in the 1 -> 99 fan-out profile that was the largest user-space cost (cache
//! misses on 99 queues, 16 times per wakeup). Here a publish appends its frame to one buffer;
//! when the wakeup ends each subscriber gets the frames meant for it in one write, straight from
//! that buffer: nothing is copied unless the kernel refuses part of it.
//!
//! Delivery order is the order of an immediate write:
//! - any other write to a connection (`Conn::write`) first catches it up on the batch;
//! - subscribe and unsubscribe catch the subscriber up first, so the batch reaches the
//!   subscribers of publish time;
//! - a batch holds one topic of one app: a publish elsewhere first delivers the batch (corked,
//!   flushed with the rest of the wakeup), so a subscriber of two topics keeps publish order.
//!
//! A subscriber over maxBackpressure when the batch reaches it misses those messages, and
//! `dropped` runs for each once the batch is delivered (uWebSockets' drain reports drops at the
//! same point).

use crate::app::App;
use crate::conn::{Conn, State};
use crate::event_loop::Loop;
use crate::pubsub_glue::{key_of, sub_id};
use crate::slab::Key;
use std::rc::Rc;
use std::sync::Arc;
use uws_core::ws::frame::{encode_header, OpCode, MAX_HEADER_LEN};

/// Messages up to this size are batched; bigger ones are written at once (upstream's
/// `publishBig` path, which sends without the topic tree).
pub const MAX_PAYLOAD: usize = 16 * 1024 - 1;
/// A batch this big is delivered at once rather than held until the end of the wakeup.
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Buffer capacity kept between wakeups; a burst beyond it gives its buffer back.
const RETAINED_BYTES: usize = 64 * 1024;
/// Fewer subscribers than this gain nothing from a batch (one copy either way).
const MIN_FAN_OUT: usize = 3;
/// Frames up to this size are copied into a backpressured subscriber's queue; longer ones are
/// shared there (one reference-counted frame for all such subscribers).
const COPY_WHEN_BLOCKED: usize = 256;
/// Slices per write; longer runs lists (several publishers excluded from their own messages)
/// take several writes.
const PARTS: usize = 8;

struct Msg {
    /// End of this message's frame in `frames` (it starts where the previous one ends).
    end: usize,
    header: u8,
    binary: bool,
    exclude: Option<Key>,
}

/// A message a subscriber missed over maxBackpressure, reported by `finish`.
struct Dropped {
    key: Key,
    payload: Vec<u8>,
    binary: bool,
}

#[derive(Default)]
pub struct Batch {
    app: Option<Rc<App>>,
    topic: Vec<u8>,
    frames: Vec<u8>,
    msgs: Vec<Msg>,
    /// Per message: its frame as a shared chunk, made for the first blocked subscriber.
    shared: Vec<Option<Arc<[u8]>>>,
    /// Scratch: the topic's subscribers at delivery.
    subs: Vec<u64>,
    dropped: Vec<Dropped>,
    /// Numbers batches, so that a connection's `pub_seen` mark from an earlier batch reads as
    /// "nothing seen". Never 0: a fresh connection's mark is 0.
    gen: u32,
}

/// Whether `publish` takes the batch for this message.
pub fn takes(payload_len: usize, compress: bool, subscribers: usize) -> bool {
    !compress && payload_len <= MAX_PAYLOAD && subscribers >= MIN_FAN_OUT
}

/// Appends one publish. Delivers the pending batch first if it is for another topic or app.
/// Outside a wakeup (a timer, setImmediate) the batch is delivered on the next loop iteration,
/// whose wakeup ends with `finish`: a burst of publishes costs one write per subscriber.
pub fn add(
    lp: &Loop,
    app: &Rc<App>,
    topic: &[u8],
    payload: &[u8],
    binary: bool,
    exclude: Option<Key>,
) {
    let elsewhere = {
        let b = lp.publish_batch.borrow();
        !b.msgs.is_empty()
            && (b.topic != topic || !b.app.as_ref().is_some_and(|a| Rc::ptr_eq(a, app)))
    };
    if elsewhere {
        deliver_all(lp, false);
    }
    let full = {
        let mut b = lp.publish_batch.borrow_mut();
        if b.msgs.is_empty() {
            b.gen = b.gen.wrapping_add(1).max(1);
            b.app = Some(Rc::clone(app));
            b.topic.clear();
            b.topic.extend_from_slice(topic);
        }
        let mut header = [0u8; MAX_HEADER_LEN];
        let opcode = if binary { OpCode::Binary } else { OpCode::Text };
        let n = encode_header(&mut header, true, opcode, false, payload.len());
        b.frames.extend_from_slice(&header[..n]);
        b.frames.extend_from_slice(payload);
        let end = b.frames.len();
        b.msgs.push(Msg {
            end,
            header: n as u8,
            binary,
            exclude,
        });
        b.shared.push(None);
        lp.publish_mark.set(mark(b.gen, b.msgs.len()));
        end >= MAX_BATCH_BYTES
    };
    if full {
        deliver_all(lp, true);
    } else if !lp.in_wakeup() {
        lp.defer_flush();
    }
}

fn mark(gen: u32, seen: usize) -> u64 {
    (gen as u64) << 32 | seen as u64
}

/// Brings `c` up to date with the batch before anything else is written to it or its
/// subscriptions change (corked: it leaves with the rest of the wakeup's writes).
pub fn catch_up(lp: &Loop, key: Key, c: &mut Conn) {
    // Delivery writes through `Conn::write_with`, which never calls back here: the batch is
    // free whenever this runs.
    let Ok(mut b) = lp.publish_batch.try_borrow_mut() else {
        debug_assert!(false, "publish batch re-entered");
        return;
    };
    let subscribed = b
        .app
        .as_ref()
        .is_some_and(|a| a.topics.borrow().is_subscribed(sub_id(key), &b.topic));
    if subscribed {
        b.deliver(lp, key, c, true);
    }
    c.pub_seen = lp.publish_mark.get();
}

/// `catch_up` by key, for callers that hold no connection.
pub fn catch_up_key(lp: &Loop, key: Key) {
    if lp.publish_mark.get() as u32 == 0 {
        return;
    }
    if let Some(c) = lp.conns.borrow_mut().get_mut(key) {
        if c.pub_seen != lp.publish_mark.get() {
            catch_up(lp, key, c);
        }
    }
}

/// Delivers the batch to every subscriber of its topic not yet caught up. `now`: written at
/// once (end of wakeup, or a full batch); otherwise corked.
fn deliver_all(lp: &Loop, now: bool) {
    let mut b = lp.publish_batch.borrow_mut();
    if b.msgs.is_empty() {
        return;
    }
    let mut subs = std::mem::take(&mut b.subs);
    subs.clear();
    if let Some(app) = &b.app {
        subs.extend_from_slice(app.topics.borrow().subscribers(&b.topic));
    }
    let done = mark(b.gen, b.msgs.len());
    {
        let mut conns = lp.conns.borrow_mut();
        for &id in &subs {
            let key = key_of(id);
            if let Some(c) = conns.get_mut(key) {
                if c.pub_seen != done {
                    b.deliver(lp, key, c, !now);
                    c.pub_seen = done;
                }
            }
        }
    }
    b.subs = subs;
    b.clear();
    lp.publish_mark.set(0);
}

/// Whether `finish` has anything to do.
pub fn pending(lp: &Loop) -> bool {
    lp.publish_mark.get() != 0 || !lp.publish_batch.borrow().dropped.is_empty()
}

/// End of a wakeup: delivers the batch and reports what subscribers over maxBackpressure
/// missed. `dropped` handlers may publish again; that is delivered too before returning.
pub fn finish(lp: &Loop) {
    loop {
        deliver_all(lp, true);
        let dropped = std::mem::take(&mut lp.publish_batch.borrow_mut().dropped);
        if dropped.is_empty() {
            return;
        }
        for d in dropped {
            crate::ws_conn::on_publish_dropped(lp, d.key, &d.payload, d.binary);
        }
    }
}

impl Batch {
    fn clear(&mut self) {
        self.app = None;
        self.msgs.clear();
        self.shared.clear();
        self.frames.clear();
        // A burst of large publishes should not pin its buffer for the life of the loop.
        if self.frames.capacity() > RETAINED_BYTES {
            self.frames = Vec::new();
        }
    }

    fn start_of(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.msgs[i - 1].end
        }
    }

    /// Writes the messages `key` has not seen (all but its own publishes) to `c`.
    fn deliver(&mut self, lp: &Loop, key: Key, c: &mut Conn, corked: bool) {
        let seen = if (c.pub_seen >> 32) as u32 == self.gen {
            c.pub_seen as u32 as usize
        } else {
            0
        };
        if seen >= self.msgs.len() {
            return;
        }
        let State::Ws(ws) = &c.state else { return };
        let b = &ws.behavior;
        let limit = b.settings.max_backpressure;
        let corked = corked || c.corked;
        if limit > 0 && c.buffered_amount() > limit {
            if b.handlers.dropped.is_none() && !b.settings.close_on_backpressure_limit {
                return; // nobody to tell
            }
            for i in seen..self.msgs.len() {
                let m = &self.msgs[i];
                if m.exclude == Some(key) {
                    continue;
                }
                self.dropped.push(Dropped {
                    key,
                    payload: self.frames[self.start_of(i) + m.header as usize..m.end].to_vec(),
                    binary: m.binary,
                });
            }
        } else if c.queue.is_blocked() {
            // It waits for the writable edge: short frames are copied to its queue, long ones
            // shared with the other blocked subscribers.
            for i in seen..self.msgs.len() {
                if self.msgs[i].exclude == Some(key) {
                    continue;
                }
                let (start, end) = (self.start_of(i), self.msgs[i].end);
                if end - start <= COPY_WHEN_BLOCKED {
                    c.write_with(lp, key, &[&self.frames[start..end]], corked);
                } else {
                    let frames = &self.frames;
                    let frame = self.shared[i].get_or_insert_with(|| frames[start..end].into());
                    c.write_shared_with(lp, key, frame, corked);
                }
            }
        } else {
            // Consecutive unexcluded frames are one slice: usually the whole buffer.
            let mut parts: [&[u8]; PARTS] = [&[]; PARTS];
            let mut n = 0;
            let mut run: Option<(usize, usize)> = None;
            for i in self.unseen(seen, key) {
                let (start, end) = (self.start_of(i), self.msgs[i].end);
                match run {
                    Some((s, e)) if e == start => run = Some((s, end)),
                    Some((s, e)) => {
                        if n == PARTS {
                            c.write_with(lp, key, &parts, corked);
                            n = 0;
                        }
                        parts[n] = &self.frames[s..e];
                        n += 1;
                        run = Some((start, end));
                    }
                    None => run = Some((start, end)),
                }
            }
            if let Some((s, e)) = run {
                if n == PARTS {
                    c.write_with(lp, key, &parts, corked);
                    n = 0;
                }
                parts[n] = &self.frames[s..e];
                n += 1;
            }
            if n > 0 {
                c.write_with(lp, key, &parts[..n], corked);
            }
        }
    }

    /// Indices of the messages after `seen` that `key` gets (not its own publishes).
    fn unseen(&self, seen: usize, key: Key) -> impl Iterator<Item = usize> + '_ {
        (seen..self.msgs.len()).filter(move |&i| self.msgs[i].exclude != Some(key))
    }
}
