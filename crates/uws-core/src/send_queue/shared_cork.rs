//! The thread's shared cork buffer: one warm buffer where one queue at a time coalesces its
//! corked sends, as uWebSockets corks every socket of a loop into one buffer.
//!
//! Why: under request/reply traffic nearly every corked socket holds one short reply per
//! wakeup, written right after its read. Coalescing that reply into the queue's own chunk cost
//! a spare deque and a spare buffer from the pools, a chunk push and pop and their counters:
//! about 1000 instructions per 32-byte echo under callgrind (one copy and one `send` are the
//! useful part), and the cache misses of touching a cold buffer per socket.
//!
//! Ownership: the queue whose `lent` is non-zero owns the bytes here, and at most one queue per
//! thread does (`busy`). While the cork is busy, other queues coalesce into their own chunks as
//! before. When the owner needs its bytes in its own chunk list (a send that does not fit, a
//! shared frame, a write the kernel refused in part), the buffer itself becomes the owner's
//! coalescing chunk, with no second copy, and the cork takes a fresh buffer from the pool on
//! its next use.

use super::coalesce_pool;
use std::cell::RefCell;
use std::io::{self, Write};

struct Cork {
    /// Capacity `CORK_COALESCE` once used (a pool buffer, fit to become a coalescing chunk).
    buf: Vec<u8>,
    /// Some queue's bytes are in `buf`.
    busy: bool,
}

thread_local! {
    static CORK: RefCell<Cork> = const {
        RefCell::new(Cork {
            buf: Vec::new(),
            busy: false,
        })
    };
}

/// Appends `slices` (`len` bytes in all) for a queue that owns the cork (`mine`) or finds it
/// free. False, with nothing appended, if another queue owns it or it has no room left.
pub fn append<'a>(mine: bool, len: usize, slices: impl Iterator<Item = &'a [u8]>) -> bool {
    CORK.try_with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return false;
        };
        debug_assert!(c.busy || !mine, "a queue lent bytes to a free cork");
        if c.busy != mine {
            return false;
        }
        if c.buf.capacity() == 0 {
            c.buf = coalesce_pool::take(false);
        }
        if c.buf.len() + len > c.buf.capacity() {
            return false;
        }
        for s in slices {
            c.buf.extend_from_slice(s);
        }
        c.busy = true;
        true
    })
    .unwrap_or(false)
}

/// Offers the owner's bytes to `w` in one write. If `w` took them all, the cork is free again
/// (its buffer stays, warm); otherwise the owner takes them back with [`take`].
pub fn write<W: Write>(w: &mut W) -> io::Result<usize> {
    CORK.with(|c| {
        let mut c = c.borrow_mut();
        let n = w.write(&c.buf)?;
        if n >= c.buf.len() {
            c.buf.clear();
            c.busy = false;
        }
        Ok(n)
    })
}

/// Hands the owner its bytes as a buffer of capacity `CORK_COALESCE` (to become its coalescing
/// chunk). The cork is free and without a buffer until its next use.
pub fn take() -> Vec<u8> {
    CORK.with(|c| {
        let mut c = c.borrow_mut();
        c.busy = false;
        std::mem::take(&mut c.buf)
    })
}

/// The owner was dropped with bytes lent: they are discarded. `try_with`: during thread
/// teardown there is nothing left to free.
pub fn discard() {
    let _ = CORK.try_with(|c| {
        let mut c = c.borrow_mut();
        c.buf.clear();
        c.busy = false;
    });
}
