//! Per-socket send queue: what one socket has not yet written.
//!
//! This is the part of the server that uWebSockets.js issue 1150 was about: its per-socket
//! `std::string` buffer kept its grown capacity after draining. Here:
//!
//! - **Direct path.** When nothing is queued, [`SendQueue::send`] hands the caller's parts
//!   (e.g. `[ws header, payload]`) to the kernel in one call: `write` for one buffer, `writev`
//!   for several, or, when several total at most [`GATHER_MAX`] bytes, one `write` of them
//!   gathered into a reused per-thread scratch buffer (cheaper for the kernel than a `writev` of
//!   small pieces; nothing is kept). Nothing is allocated and nothing is queued when the kernel
//!   takes everything.
//! - **Copy once.** Only the bytes the kernel refuses are copied, once, into the queue.
//!   Queued bytes never move again: the head chunk has a read offset that advances.
//! - **Free early.** A chunk is freed as soon as it is fully written; an empty queue owns no
//!   heap at all (its `VecDeque` storage goes back to a per-thread spare pool, freed after a
//!   second unused).
//! - **Share, don't copy.** A pub/sub frame is an `Arc<[u8]>` that sits in many queues at once
//!   ([`SendQueue::push_shared`], [`SendQueue::send_shared`]).
//! - **Auto-cork.** While the caller says the socket is `corked` (inside one event-loop wakeup),
//!   small sends are appended to a fixed-capacity coalescing chunk without any syscall; the
//!   caller then calls [`SendQueue::flush`] once, which writes everything in one call.
//!   The first queue to cork with nothing else queued coalesces into the thread's one shared
//!   cork buffer (see `shared_cork`), as uWebSockets does; the others, while it is taken, into
//!   coalescing buffers from a per-thread spare pool (see `coalesce_pool`).
//! - **Few syscalls while blocked.** After the writer returned `WouldBlock`, sends only queue
//!   until the next [`SendQueue::flush`] (the caller makes it on the next writable event) or
//!   until [`RETRY_WHILE_BLOCKED`] more bytes were queued: a backpressured socket costs no failed
//!   `writev` per small message, yet a synchronous loop of large sends keeps the kernel fed
//!   while the peer drains (measured by bench:memory: without the retry, a 1 GB send loop
//!   copied 96% of its bytes and peaked at 3x uWebSockets.js's RSS).
//!
//! # Chunk shapes and memory
//!
//! | chunk | size | created by |
//! |---|---|---|
//! | coalescing | capacity [`CORK_COALESCE`] (a queue's first one: 1000 B if that fits), filled up to it, never reallocated | corked small sends, small refused remainders |
//! | copied | exact size, at most [`MAX_COPY_CHUNK`] | large refused remainders, split in pieces |
//! | shared | the frame itself (`Arc<[u8]>`) | pub/sub |
//!
//! A large remainder (say 100 MB refused by a slow client) is copied once into exact-size
//! pieces of at most [`MAX_COPY_CHUNK`] rather than one block, so the resident memory of a
//! draining queue shrinks as it drains instead of staying at its peak until the last byte
//! is written. What a socket can hold that is already written is bounded by one piece.
//!
//! # glibc note (for the addon)
//!
//! Pieces of [`MAX_COPY_CHUNK`] (256 KiB) are above glibc's *initial* mmap threshold (128 KiB), so
//! the first ones are `mmap`ped and returned to the OS by `free`. But glibc raises its dynamic
//! mmap threshold to the size of every mmapped block it frees (up to 32 MiB); after that such
//! pieces come from the heap, where freed memory below a live block is not returned to the OS.
//! Setting `M_MMAP_THRESHOLD` explicitly disables that adjustment (and pins `M_TRIM_THRESHOLD`).
//!
//! Measured here (glibc 2.36; 10 queues x 100 MiB refused after some earlier traffic had
//! been queued and drained; RSS when queued / half drained / fully drained):
//!
//! | sends of | default glibc | `mallopt(M_MMAP_THRESHOLD, 128 KiB)` |
//! |---|---|---|
//! | 1 MiB | 1052 / 1052 / **765** MB | 1068 / 536 / 3 MB |
//! | 100 MiB | 1156 / 1156 / 124 MB (107 baseline) | 1172 / 639 / 107 MB |
//! | 64 KiB | 1051 / 1051 / 4 MB | 1051 / 1051 / 4 MB |
//!
//! **Recommendation:** on Linux/glibc the addon calls `mallopt(M_MMAP_THRESHOLD, 128 * 1024)` once
//! at module init. Every piece is then mmapped and unmapped as soon as it is written, so RSS
//! follows the queued amount down (the "after drain" row above is the issue-1150 symptom
//! without it). The price: copying refused bytes into fresh mmapped pages runs at about
//! 2.3 GB/s instead of 5 GB/s (page faults), paid only under backpressure, when the network is
//! the bottleneck anyway. The setting is process-wide (Node's other >= 128 KiB mallocs are
//! mmapped, glibc's own behaviour before its first such free). Remainders between
//! [`CORK_COALESCE`] and 128 KiB stay on the heap: they return to the OS once the heap drains,
//! not while it drains; if that matters, a rate-limited `malloc_trim(0)` (e.g. on the coarse
//! timer tick when [`stats`]`().queued_bytes` fell by tens of MiB since the last trim) releases
//! them (measured: half-drained 64 KiB case 1051 -> 528 MB). This crate does not call libc.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Corked sends of at most this many bytes (all parts together) are coalesced without a
/// syscall; it is also the fixed capacity of a coalescing chunk.
pub const CORK_COALESCE: usize = 16 * 1024;

/// Most buffers handed to one `write_vectored` call (Linux `IOV_MAX` is 1024).
pub const MAX_IOV: usize = 64;

/// Writes of several buffers totalling at most this many bytes are gathered into one buffer
/// and sent with one `write` instead of a `writev`.
pub const GATHER_MAX: usize = 4096;

/// Buffers that fit the small iovec array used for most writes.
const SMALL_IOV: usize = 4;

/// A large refused remainder is copied into exact-size pieces of at most this many bytes.
pub const MAX_COPY_CHUNK: usize = 256 * 1024;

/// Whether a [`SendQueue::flush`] left the queue empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// Everything queued was written: the queue is empty.
    All,
    /// The writer stopped accepting bytes (`WouldBlock`): the rest is still queued.
    Partial,
}

/// One run of queued bytes. Never empty.
enum Chunk {
    /// Exact-size copy of bytes the kernel refused. Never grows.
    Copied(Box<[u8]>),
    /// Coalescing buffer allocated with capacity [`CORK_COALESCE`]. Appended to only while it
    /// is the back chunk, and only within its capacity (never reallocated).
    Coalescing(Vec<u8>),
    /// An immutable frame shared with other queues (pub/sub).
    Shared(Arc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Copied(b) => b,
            Chunk::Coalescing(v) => v,
            Chunk::Shared(a) => a,
        }
    }

    fn is_shared(&self) -> bool {
        matches!(self, Chunk::Shared(_))
    }
}

/// What one socket has not yet written.
///
/// Generic over any [`Write`] (a mio `TcpStream` in the addon, a mock in tests). Written bytes
/// come out in the order they were given, across `send`, `send_shared`, `push_*` and corked
/// sends alike.
///
/// Corked sends of a queue with nothing else queued go to the thread's shared cork buffer
/// while no other queue uses it (see `shared_cork`); the queue is then not `Send`, since its
/// bytes live in a thread-local.
///
/// Invariants: no chunk is empty; `head < chunks[0].len()` when there is a chunk and `head == 0`
/// otherwise; `buffered` is the sum of chunk lengths minus `head`, plus `lent`; `lent > 0`
/// implies no chunk and not blocked, and at most one queue per thread has `lent > 0`; `blocked`
/// implies non-empty; an empty queue has no heap storage.
#[derive(Default)]
pub struct SendQueue {
    /// Oldest first.
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    head: usize,
    /// Bytes queued and not yet written.
    buffered: usize,
    /// The writer returned `WouldBlock`: only `flush` (on a writable event) writes again, or a
    /// send once `queued_while_blocked` reaches [`RETRY_WHILE_BLOCKED`].
    blocked: bool,
    /// Bytes queued since the writer last said `WouldBlock`.
    queued_while_blocked: usize,
    /// Bytes of this queue held in the thread's shared cork (they precede nothing: the queue
    /// has no chunk while it has lent bytes).
    lent: usize,
    /// Lent bytes live in a thread-local: the queue must stay on its thread.
    _not_send: std::marker::PhantomData<*const ()>,
}

/// While blocked, a send tries the socket again once this many bytes were queued since the
/// last `WouldBlock` (one syscall per 256 KiB at most).
pub const RETRY_WHILE_BLOCKED: usize = 256 * 1024;

impl SendQueue {
    /// An empty queue. Does not allocate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.lent == 0
    }

    /// Bytes queued and not yet written (uWS `getBufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.buffered
    }

    /// Whether the writer last answered `WouldBlock`. While blocked, sends only queue (no
    /// syscall) and the caller must [`flush`](Self::flush) on the next writable event.
    /// Never true for an empty queue.
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// Sends the concatenation of `parts` (e.g. `[ws header, payload]`).
    ///
    /// - Not `corked`, not blocked: one `write_vectored` of the queued chunks followed by the
    ///   parts (up to [`MAX_IOV`] buffers per call, repeated until the writer takes everything
    ///   or answers `WouldBlock`). With nothing queued this writes the parts straight through and
    ///   allocates nothing if the writer takes them all.
    /// - `corked` and the parts total at most [`CORK_COALESCE`] bytes: copied into the coalescing
    ///   tail chunk without a syscall; the caller flushes once at the end of the wakeup.
    /// - `corked` and larger: written immediately, like the uncorked case.
    /// - Blocked (the writer said `WouldBlock` and no flush happened since): queued, no syscall.
    ///
    /// Whatever the writer refuses is copied once into the queue. Returns the number of bytes
    /// written to `w` by this call (queued bytes included). An error other than `WouldBlock`
    /// or `Interrupted` is returned as is: the socket is dead, and the parts were not queued.
    pub fn send<W: Write>(
        &mut self,
        w: &mut W,
        parts: &[&[u8]],
        corked: bool,
    ) -> io::Result<usize> {
        let mut pending = Pending::new(parts);
        if pending.is_empty() {
            return Ok(0);
        }
        self.retry_if_due(pending.len);
        if corked
            && !self.blocked
            && self.chunks.is_empty()
            && pending.len <= CORK_COALESCE
            && shared_cork::append(self.lent > 0, pending.len, pending.slices())
        {
            self.lend(pending.len);
            return Ok(0);
        }
        self.unlend(0);
        if self.blocked || (corked && pending.len <= CORK_COALESCE) {
            if self.blocked {
                self.queued_while_blocked += pending.len;
            }
            self.enqueue_copy(&pending);
            return Ok(0);
        }
        let written = self.write_through(w, &mut pending)?;
        self.enqueue_copy(&pending);
        Ok(written)
    }

    /// Sends a shared, immutable frame (pub/sub) without ever copying it.
    ///
    /// `corked` or blocked: the frame is queued (a reference count, no copy, no syscall).
    /// Otherwise it is written like [`send`](Self::send) and the unwritten part stays queued as
    /// a reference to the same frame. Returns the bytes written to `w` by this call.
    pub fn send_shared<W: Write>(
        &mut self,
        w: &mut W,
        frame: &Arc<[u8]>,
        corked: bool,
    ) -> io::Result<usize> {
        if frame.is_empty() {
            return Ok(0);
        }
        self.unlend(0);
        self.retry_if_due(frame.len());
        if self.blocked || corked {
            if self.blocked {
                self.queued_while_blocked += frame.len();
            }
            self.push_shared(Arc::clone(frame));
            return Ok(0);
        }
        let parts: [&[u8]; 1] = [frame];
        let mut pending = Pending::new(&parts);
        let written = self.write_through(w, &mut pending)?;
        if !pending.is_empty() {
            self.push_chunk(Chunk::Shared(Arc::clone(frame)), frame.len() - pending.len);
        }
        Ok(written)
    }

    /// Queues a shared, immutable frame (the same `Arc` sits in many queues, never copied).
    /// Nothing is written until the next [`flush`](Self::flush) or non-corked send.
    pub fn push_shared(&mut self, frame: Arc<[u8]>) {
        if !frame.is_empty() {
            self.unlend(0);
            self.push_chunk(Chunk::Shared(frame), 0);
        }
    }

    /// Appends a copy of `bytes` without writing (e.g. while the socket is not yet writable).
    pub fn push_copy(&mut self, bytes: &[u8]) {
        self.unlend(0);
        self.enqueue_copy(&Pending::new(&[bytes]));
    }

    /// Writes as much of the queue as the writer takes: `writev` of up to [`MAX_IOV`] chunks per
    /// call, repeated until the queue is empty or the writer answers `WouldBlock`. Each chunk is
    /// freed as soon as it is fully written. Clears the blocked state first (call it on writable
    /// events). Returns the bytes written and whether the queue is now empty.
    pub fn flush<W: Write>(&mut self, w: &mut W) -> io::Result<(usize, Flushed)> {
        self.blocked = false;
        let mut written = 0;
        if self.lent > 0 {
            written = self.write_lent(w)?;
        }
        if !self.chunks.is_empty() {
            written += self.write_through(w, &mut Pending::new(&[]))?;
        }
        let state = if self.is_empty() {
            Flushed::All
        } else {
            Flushed::Partial
        };
        Ok((written, state))
    }

    /// `len` bytes were appended to the shared cork for this queue: one copy, as coalescing.
    fn lend(&mut self, len: usize) {
        self.lent += len;
        self.buffered += len;
        let c = counters();
        c.copied.add(len as u64);
        add_queued(c, len);
    }

    /// Takes this queue's bytes back from the shared cork as its own coalescing chunk (the
    /// cork's buffer itself: nothing is copied), of which `written` bytes are already written.
    fn unlend(&mut self, written: usize) {
        if self.lent == 0 {
            return;
        }
        debug_assert!(self.chunks.is_empty() && written < self.lent);
        let bytes = shared_cork::take();
        debug_assert_eq!(bytes.len(), self.lent);
        self.lent = 0;
        self.head = written;
        self.reserve_chunk_slot();
        self.chunks.push_back(Chunk::Coalescing(bytes));
        counters().chunks.add(1);
    }

    /// Writes the bytes lent to the shared cork in one write. Those written leave the cork;
    /// whatever the writer refused becomes this queue's own chunk, and a `WouldBlock` leaves
    /// the queue blocked. Errors other than `WouldBlock` are left to `write_through`'s retry,
    /// which reports them.
    fn write_lent<W: Write>(&mut self, w: &mut W) -> io::Result<usize> {
        let lent = self.lent;
        let n = match shared_cork::write(w) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.unlend(0);
                self.blocked = true;
                self.queued_while_blocked = 0;
                return Ok(0);
            }
            Err(_) => 0,
        };
        debug_assert!(n <= lent, "writer reported more than it was given");
        if n >= lent {
            self.lent = 0;
        } else {
            self.unlend(n);
        }
        self.buffered -= n;
        counters().queued.sub(n as u64);
        Ok(n)
    }

    /// Leaves the blocked state when enough was queued since the last `WouldBlock` that one
    /// more write attempt is worth its syscall.
    fn retry_if_due(&mut self, incoming: usize) {
        if self.blocked && self.queued_while_blocked + incoming >= RETRY_WHILE_BLOCKED {
            self.blocked = false;
        }
    }

    /// Writes queued chunks then `pending` until both are written, the writer answers
    /// `WouldBlock` (sets `blocked`) or fails. Advances `pending` past what was written.
    fn write_through<W: Write>(
        &mut self,
        w: &mut W,
        pending: &mut Pending<'_>,
    ) -> io::Result<usize> {
        debug_assert_eq!(self.lent, 0, "lent bytes would be overtaken");
        let mut total = 0;
        while !self.blocked {
            // The common case is one or two buffers (a reply, header + payload): a small iovec
            // array, not the full MAX_IOV one, which costs more to set up than to write.
            let step = if self.chunks.len() + pending.parts.len() <= SMALL_IOV {
                self.write_once::<W, SMALL_IOV>(w, pending)
            } else {
                self.write_once::<W, MAX_IOV>(w, pending)
            };
            match step {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.blocked = true;
                    self.queued_while_blocked = 0;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// One `write`/`writev` of up to `N` buffers (queued chunks, then `pending`). Ok(0): nothing
    /// was left to write. Consumes what was written.
    fn write_once<W: Write, const N: usize>(
        &mut self,
        w: &mut W,
        pending: &mut Pending<'_>,
    ) -> io::Result<usize> {
        let mut iov = [IoSlice::new(&[]); N];
        let mut count = 0;
        let mut offered = 0;
        for (slot, bytes) in iov
            .iter_mut()
            .zip(self.queued_slices().chain(pending.slices()))
        {
            *slot = IoSlice::new(bytes);
            count += 1;
            offered += bytes.len();
        }
        let n = match count {
            0 => return Ok(0),
            // One buffer: a plain write (`send` on a socket) is cheaper in the kernel than a
            // one-element `writev`.
            1 => w.write(&iov[0])?,
            // Several small ones (a header and its payload, a few corked messages): gathered
            // into one reused scratch buffer and sent as one. Copying a few hundred bytes costs
            // less than the kernel's per-segment work for a `writev`. Nothing is retained: the
            // queue itself still copies a byte at most once.
            _ if offered <= GATHER_MAX => gather_scratch::write(w, &iov[..count])?,
            _ => w.write_vectored(&iov[..count])?,
        };
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        debug_assert!(n <= offered, "writer reported more than it was given");
        let from_queue = self.consume(n);
        pending.advance(n - from_queue);
        Ok(n)
    }

    /// The unwritten bytes of each queued chunk, oldest first.
    fn queued_slices(&self) -> impl Iterator<Item = &[u8]> {
        let head = self.head;
        self.chunks
            .iter()
            .enumerate()
            .map(move |(i, c)| &c.bytes()[if i == 0 { head } else { 0 }..])
    }

    /// Marks up to `n` queued bytes as written, freeing fully written chunks. Returns how many
    /// of the `n` bytes were queued ones (the rest belong to the caller's parts).
    fn consume(&mut self, n: usize) -> usize {
        let mut left = n;
        let mut freed = 0u64;
        let mut freed_shared = 0u64;
        while left > 0 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let rest = front.bytes().len() - self.head;
            if left < rest {
                self.head += left;
                left = 0;
            } else {
                left -= rest;
                self.head = 0;
                freed_shared += u64::from(front.is_shared());
                freed += 1;
                if let Some(Chunk::Coalescing(v)) = self.chunks.pop_front() {
                    coalesce_pool::give_back(v);
                } // any other chunk is freed now
            }
        }
        let used = n - left;
        if used > 0 {
            self.buffered -= used;
            let c = counters();
            c.queued.sub(used as u64);
            if freed > 0 {
                c.chunks.sub(freed);
                c.shared.sub(freed_shared);
                self.release_spare_storage();
            }
        }
        used
    }

    /// Returns the deque's storage when empty, and shrinks it when mostly unused, so that a
    /// burst of many chunks leaves nothing behind. Moves chunk handles, never queued bytes.
    fn release_spare_storage(&mut self) {
        if self.chunks.is_empty() {
            self.blocked = false;
            if self.chunks.capacity() != 0 {
                coalesce_pool::give_back_deque(std::mem::take(&mut self.chunks));
            }
        } else if self.chunks.capacity() > 4 * MAX_IOV
            && self.chunks.len() < self.chunks.capacity() / 4
        {
            self.chunks.shrink_to(self.chunks.len() * 2);
        }
    }

    /// An empty queue owns no storage; its first chunk takes a spare deque from the pool
    /// instead of allocating one (a queue empties and refills every wakeup under request/reply
    /// traffic).
    fn reserve_chunk_slot(&mut self) {
        if self.chunks.capacity() == 0 {
            self.chunks = coalesce_pool::take_deque();
        }
    }

    /// Appends `chunk` of which the first `offset` bytes are already written (only possible
    /// when the queue is empty: the chunk becomes the head).
    fn push_chunk(&mut self, chunk: Chunk, offset: usize) {
        debug_assert!(offset == 0 || self.chunks.is_empty());
        debug_assert!(offset < chunk.bytes().len());
        let len = chunk.bytes().len() - offset;
        let c = counters();
        c.chunks.add(1);
        if chunk.is_shared() {
            c.shared.add(1);
        }
        add_queued(c, len);
        if self.chunks.is_empty() {
            self.head = offset;
        }
        self.buffered += len;
        self.reserve_chunk_slot();
        self.chunks.push_back(chunk);
    }

    /// Copies all of `pending` to the back of the queue: small runs into the coalescing tail,
    /// large ones into exact-size pieces.
    fn enqueue_copy(&mut self, pending: &Pending<'_>) {
        let len = pending.len;
        if len == 0 {
            return;
        }
        let new_chunks = if len <= CORK_COALESCE {
            // A queue's first chunk is small when all the bytes fit in one: most corked sockets
            // hold one short reply per wakeup.
            let small = self.chunks.is_empty() && len <= coalesce_pool::SMALL;
            pending.slices().map(|s| self.coalesce(s, small)).sum()
        } else {
            self.copy_pieces(pending)
        };
        self.buffered += len;
        let c = counters();
        c.copied.add(len as u64);
        c.chunks.add(new_chunks);
        add_queued(c, len);
    }

    /// Appends `bytes` to the coalescing tail chunk, starting new ones as they fill up.
    /// Returns the number of chunks created.
    fn coalesce(&mut self, mut bytes: &[u8], small_first: bool) -> u64 {
        let mut created = 0;
        while !bytes.is_empty() {
            let tail = match self.chunks.back_mut() {
                Some(Chunk::Coalescing(v)) if v.len() < v.capacity() => v,
                _ => {
                    created += 1;
                    let small = small_first && self.chunks.is_empty();
                    self.reserve_chunk_slot();
                    self.chunks
                        .push_back(Chunk::Coalescing(coalesce_pool::take(small)));
                    match self.chunks.back_mut() {
                        Some(Chunk::Coalescing(v)) => v,
                        _ => unreachable!("just pushed a coalescing chunk"),
                    }
                }
            };
            let take = bytes.len().min(tail.capacity() - tail.len());
            tail.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        created
    }

    /// Copies `pending` into exact-size pieces of at most [`MAX_COPY_CHUNK`] bytes.
    /// Returns the number of chunks created.
    fn copy_pieces(&mut self, pending: &Pending<'_>) -> u64 {
        let mut left = pending.len;
        let mut created = 0;
        let mut piece: Vec<u8> = Vec::with_capacity(left.min(MAX_COPY_CHUNK));
        let mut target = left.min(MAX_COPY_CHUNK);
        for mut bytes in pending.slices() {
            while !bytes.is_empty() {
                let take = bytes.len().min(target - piece.len());
                piece.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if piece.len() == target {
                    left -= target;
                    target = left.min(MAX_COPY_CHUNK);
                    let full = std::mem::replace(&mut piece, Vec::with_capacity(target));
                    self.chunks
                        .push_back(Chunk::Copied(full.into_boxed_slice()));
                    created += 1;
                }
            }
        }
        debug_assert!(left == 0 && piece.is_empty());
        created
    }
}

impl Drop for SendQueue {
    /// A queue dropped with data (a closed socket) takes its bytes out of the statistics.
    fn drop(&mut self) {
        if self.lent > 0 {
            shared_cork::discard();
            counters().queued.sub(self.lent as u64);
            return;
        }
        if self.chunks.is_empty() {
            return;
        }
        let shared = self.chunks.iter().filter(|c| c.is_shared()).count();
        let c = counters();
        c.queued.sub(self.buffered as u64);
        c.chunks.sub(self.chunks.len() as u64);
        c.shared.sub(shared as u64);
    }
}

impl fmt::Debug for SendQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendQueue")
            .field("chunks", &self.chunks.len())
            .field("buffered", &self.buffered)
            .field("lent", &self.lent)
            .field("blocked", &self.blocked)
            .finish()
    }
}

/// The unwritten suffix of a caller's parts: `parts[0][offset..]`, then `parts[1..]`.
struct Pending<'a> {
    parts: &'a [&'a [u8]],
    offset: usize,
    /// Bytes left in total.
    len: usize,
}

impl<'a> Pending<'a> {
    fn new(parts: &'a [&'a [u8]]) -> Self {
        let len = parts.iter().map(|p| p.len()).sum();
        Self {
            parts,
            offset: 0,
            len,
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The non-empty slices left, in order.
    fn slices(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let offset = self.offset;
        self.parts
            .iter()
            .enumerate()
            .map(move |(i, p)| if i == 0 { &p[offset..] } else { p })
            .filter(|p| !p.is_empty())
    }

    /// Marks `n` more bytes as written.
    fn advance(&mut self, mut n: usize) {
        debug_assert!(n <= self.len);
        self.len -= n;
        while let Some((first, rest)) = self.parts.split_first() {
            let left = first.len() - self.offset;
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            self.parts = rest;
            self.offset = 0;
        }
    }
}

/// Process-wide send-queue counters (uWS.stats() in the addon).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes queued now, over all queues (a shared frame counts once per queue holding it).
    pub queued_bytes: u64,
    /// Highest `queued_bytes` since start or the last [`reset_peak`].
    pub peak_queued_bytes: u64,
    /// Total bytes ever copied into queues (refused remainders, corked sends, `push_copy`).
    pub copied_bytes: u64,
    /// Chunks queued now (copied, coalescing and shared), over all queues.
    pub chunks_alive: u64,
    /// Shared-frame references queued now (the subset of `chunks_alive` that are shared frames;
    /// one frame queued in 1000 sockets counts 1000, its bytes exist once).
    pub shared_frames_alive: u64,
}

/// A snapshot of the process-wide counters: the sum over every thread that ran a queue
/// (Relaxed loads: fields may be mutually inconsistent by what other threads do meanwhile).
/// With queues on several threads, `peak_queued_bytes` is the sum of per-thread peaks, an upper
/// bound of the true process-wide peak.
pub fn stats() -> Stats {
    let mut total = Stats::default();
    for_each_counters(|c| {
        total.queued_bytes += c.queued.load(Relaxed);
        total.peak_queued_bytes += c.peak.load(Relaxed);
        total.copied_bytes += c.copied.load(Relaxed);
        total.chunks_alive += c.chunks.load(Relaxed);
        total.shared_frames_alive += c.shared.load(Relaxed);
    });
    total
}

/// Sets the peak to the current queued bytes (for benchmarks).
pub fn reset_peak() {
    for_each_counters(|c| c.peak.store(c.queued.load(Relaxed), Relaxed));
}

/// One thread's counters. Only the owning thread writes them, so updates are a plain load and
/// store (no locked read-modify-write on the send path: the profile showed those at 4-8% of
/// server CPU); other threads only read them for `stats()`.
struct Counters {
    queued: AtomicU64,
    peak: AtomicU64,
    copied: AtomicU64,
    chunks: AtomicU64,
    shared: AtomicU64,
}

impl Counters {
    const fn new() -> Self {
        Self {
            queued: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            copied: AtomicU64::new(0),
            chunks: AtomicU64::new(0),
            shared: AtomicU64::new(0),
        }
    }
}

/// Single-writer counter update.
trait Bump {
    fn add(&self, n: u64);
    fn sub(&self, n: u64);
}

impl Bump for AtomicU64 {
    #[inline]
    fn add(&self, n: u64) {
        self.store(self.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    fn sub(&self, n: u64) {
        self.store(self.load(Relaxed).wrapping_sub(n), Relaxed);
    }
}

fn add_queued(c: &Counters, n: usize) {
    c.queued.add(n as u64);
    let now = c.queued.load(Relaxed);
    if now > c.peak.load(Relaxed) {
        c.peak.store(now, Relaxed);
    }
}

thread_local! {
    /// This thread's counters, leaked so `stats()` on any thread can read them (a few dozen
    /// bytes per thread that ever queued bytes).
    static LOCAL: &'static Counters = register();
}

#[cfg(not(test))]
static ALL: std::sync::Mutex<Vec<&'static Counters>> = std::sync::Mutex::new(Vec::new());

fn register() -> &'static Counters {
    let c: &'static Counters = Box::leak(Box::new(Counters::new()));
    #[cfg(not(test))]
    ALL.lock().unwrap_or_else(|e| e.into_inner()).push(c);
    c
}

fn counters() -> &'static Counters {
    LOCAL.with(|c| *c)
}

/// Every thread's counters (in unit tests only the calling thread's, so tests running in
/// parallel can assert exact values).
fn for_each_counters(mut f: impl FnMut(&Counters)) {
    #[cfg(not(test))]
    for c in ALL.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        f(c);
    }
    #[cfg(test)]
    f(counters());
}

/// The scratch buffer for gathered small writes (one per thread, reused, never shrinks
/// beyond [`GATHER_MAX`]).
mod gather_scratch {
    use super::GATHER_MAX;
    use std::cell::RefCell;
    use std::io::{self, IoSlice, Write};

    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }

    pub fn write<W: Write>(w: &mut W, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        SCRATCH.with(|s| {
            // A writer that re-enters (it cannot: writers here are sockets and mocks) would
            // find the scratch borrowed; fall back to writev then.
            let Ok(mut s) = s.try_borrow_mut() else {
                return w.write_vectored(bufs);
            };
            s.clear();
            s.reserve(GATHER_MAX);
            for b in bufs {
                s.extend_from_slice(b);
            }
            w.write(&s)
        })
    }
}

/// Spare coalescing buffers of this thread. A corked socket fills one per loop wakeup and
/// frees it at the end of that wakeup, and one wakeup may cork hundreds of sockets at once
/// (100 echo connections at one message in flight each): allocating and freeing 16 KiB per
/// socket and wakeup showed up as `malloc_consolidate` and `brk` (glibc growing and trimming its
/// heap every wakeup), 5-10% of the server's CPU.
///
/// So the pool keeps as many spares as the busiest recent wakeup needed, and
/// [`trim_spare_buffers`] (the addon calls it once a second) frees those that went unused for a
/// whole interval: under steady load nothing is allocated, and an idle server holds none.
/// Most corked sockets hold one short reply per wakeup, so a queue's first coalescing chunk is a
/// small one ([`coalesce_pool::SMALL`]) when the bytes fit.
mod coalesce_pool {
    use super::{Chunk, CORK_COALESCE};
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// Capacity of a small coalescing buffer: under glibc's 1024-byte large-request threshold
    /// (no `malloc_consolidate`) and within its per-thread cache (1032-byte chunks).
    pub const SMALL: usize = 1000;

    /// Spare allocations of one kind, and the fewest there were since the last trim.
    struct Spares<T> {
        max: usize,
        free: Vec<T>,
        low_water: usize,
    }

    impl<T> Spares<T> {
        const fn new(max: usize) -> Self {
            Self {
                max,
                free: Vec::new(),
                low_water: 0,
            }
        }

        fn take(&mut self) -> Option<T> {
            let v = self.free.pop();
            self.low_water = self.low_water.min(self.free.len());
            v
        }

        /// Keeps `v` (already emptied) unless there are `max` spares.
        fn give_back(&mut self, v: T) {
            if self.free.len() < self.max {
                self.free.push(v);
            }
        }

        /// Frees the spares that were not needed since the last trim.
        fn trim(&mut self) {
            let keep = self.free.len() - self.low_water.min(self.free.len());
            self.free.truncate(keep);
            if self.free.is_empty() {
                self.free = Vec::new();
            }
            self.low_water = self.free.len();
        }
    }

    type Pool<T> = std::thread::LocalKey<RefCell<Spares<T>>>;

    thread_local! {
        /// 16 KiB buffers, at most 16 MiB of spares.
        static BIG: RefCell<Spares<Vec<u8>>> = const { RefCell::new(Spares::new(1024)) };
        /// Small buffers, at most 4 MiB of spares.
        static SMALL_SPARES: RefCell<Spares<Vec<u8>>> = const { RefCell::new(Spares::new(4096)) };
        /// Empty chunk deques with room for a few chunks (128 B each).
        static DEQUES: RefCell<Spares<VecDeque<Chunk>>> = const { RefCell::new(Spares::new(4096)) };
    }

    /// A spare from `pool`, if any. `try_with`: during thread teardown there is none.
    fn take_from<T: 'static>(pool: &'static Pool<T>) -> Option<T> {
        pool.try_with(|p| p.borrow_mut().take()).ok().flatten()
    }

    /// `try_with`: a queue dropped during thread teardown just frees what it held.
    fn give_to<T: 'static>(pool: &'static Pool<T>, v: T) {
        let _ = pool.try_with(|p| p.borrow_mut().give_back(v));
    }

    /// A small buffer if `small`, else a big one.
    pub fn take(small: bool) -> Vec<u8> {
        let (pool, capacity) = if small {
            (&SMALL_SPARES, SMALL)
        } else {
            (&BIG, CORK_COALESCE)
        };
        take_from(pool).unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    pub fn give_back(mut v: Vec<u8>) {
        let pool = match v.capacity() {
            CORK_COALESCE => &BIG,
            SMALL => &SMALL_SPARES,
            _ => return,
        };
        v.clear();
        give_to(pool, v);
    }

    pub fn take_deque() -> VecDeque<Chunk> {
        take_from(&DEQUES).unwrap_or_else(|| VecDeque::with_capacity(4))
    }

    pub fn give_back_deque(v: VecDeque<Chunk>) {
        debug_assert!(v.is_empty());
        // Big deques (a burst of many chunks) are freed, not kept.
        if v.capacity() <= 8 {
            give_to(&DEQUES, v);
        }
    }

    pub fn trim() {
        for pool in [&BIG, &SMALL_SPARES] {
            let _ = pool.try_with(|p| p.borrow_mut().trim());
        }
        let _ = DEQUES.try_with(|d| d.borrow_mut().trim());
    }

    /// Spare buffers held now (tests).
    #[cfg(test)]
    pub fn spares() -> usize {
        BIG.with(|p| p.borrow().free.len()) + SMALL_SPARES.with(|p| p.borrow().free.len())
    }
}

/// Frees this thread's spare coalescing buffers that went unused since the previous call.
/// Call it periodically (the addon: once a second) from each thread that sends.
pub fn trim_spare_buffers() {
    coalesce_pool::trim();
}

mod shared_cork;

#[cfg(test)]
mod tests;
