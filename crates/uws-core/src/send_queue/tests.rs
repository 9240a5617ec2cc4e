//! Unit tests of the send queue. Counters are per test thread (see `counters`), so exact
//! values can be asserted while tests run in parallel.

use super::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

// ---------------------------------------------------------------------------------------------
// Allocation counting: the test binary's allocator counts allocations per thread.

struct CountingAlloc;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to `System`; only counts (const-initialised
// thread-local `Cell` without destructor: no allocation, no reentrancy).
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL_ALLOC: CountingAlloc = CountingAlloc;

fn allocs() -> u64 {
    ALLOCS.with(|a| a.get())
}

// ---------------------------------------------------------------------------------------------
// A scripted writer.

#[derive(Debug, Clone, Copy)]
enum Step {
    /// Take at most this many bytes.
    Accept(usize),
    WouldBlock,
    Interrupted,
    /// Connection reset.
    Fail,
}

/// Plays `script` one step per write call, then `after` forever.
struct Mock {
    out: Vec<u8>,
    script: VecDeque<Step>,
    after: Step,
    /// Number of buffers of each write call (errors included).
    calls: Vec<usize>,
}

impl Mock {
    fn unlimited() -> Self {
        Self::scripted(&[], Step::Accept(usize::MAX))
    }
    fn blocked() -> Self {
        Self::scripted(&[], Step::WouldBlock)
    }
    fn scripted(script: &[Step], after: Step) -> Self {
        Self {
            out: Vec::new(),
            script: script.iter().copied().collect(),
            after,
            // Reserved so that the mock itself does not allocate in allocation-counting tests.
            calls: Vec::with_capacity(64),
        }
    }
}

impl Write for Mock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.calls.push(bufs.len());
        assert!(bufs.len() <= MAX_IOV);
        match self.script.pop_front().unwrap_or(self.after) {
            Step::Accept(mut limit) => {
                let mut n = 0;
                for b in bufs {
                    let take = b.len().min(limit);
                    self.out.extend_from_slice(&b[..take]);
                    n += take;
                    limit -= take;
                }
                Ok(n)
            }
            Step::WouldBlock => Err(io::ErrorKind::WouldBlock.into()),
            Step::Interrupted => Err(io::ErrorKind::Interrupted.into()),
            Step::Fail => Err(io::ErrorKind::ConnectionReset.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Deterministic xorshift64* generator for the property-style tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn delta(before: Stats) -> Stats {
    let now = stats();
    Stats {
        queued_bytes: now.queued_bytes - before.queued_bytes,
        peak_queued_bytes: now.peak_queued_bytes,
        copied_bytes: now.copied_bytes - before.copied_bytes,
        chunks_alive: now.chunks_alive - before.chunks_alive,
        shared_frames_alive: now.shared_frames_alive - before.shared_frames_alive,
    }
}

/// Checks the documented invariants.
fn check(q: &SendQueue) {
    assert!(q.chunks.iter().all(|c| !c.bytes().is_empty()));
    let total: usize = q.chunks.iter().map(|c| c.bytes().len()).sum();
    assert_eq!(q.buffered, total - q.head + q.lent);
    if q.lent > 0 {
        assert!(
            q.chunks.is_empty() && !q.blocked,
            "lent bytes come first and alone"
        );
    }
    if q.chunks.is_empty() {
        assert_eq!(q.head, 0);
        assert!(!q.blocked);
        assert_eq!(q.chunks.capacity(), 0, "an empty queue owns no heap");
    } else {
        assert!(q.head < q.chunks[0].bytes().len());
    }
    for (i, c) in q.chunks.iter().enumerate() {
        if let Chunk::Coalescing(v) = c {
            assert!(
                [coalesce_pool::SMALL, CORK_COALESCE].contains(&v.capacity())
                    && v.len() <= v.capacity()
            );
        }
        if let Chunk::Copied(b) = c {
            assert!(b.len() <= MAX_COPY_CHUNK, "chunk {i} too big");
        }
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn new_queue_is_empty_and_owns_nothing() {
    let before = allocs();
    let q = SendQueue::new();
    assert_eq!(allocs(), before);
    assert!(q.is_empty());
    assert_eq!(q.buffered_amount(), 0);
    assert!(!q.is_blocked());
    check(&q);
}

#[test]
fn direct_write_with_nothing_queued_allocates_nothing() {
    let mut w = Mock::unlimited();
    w.out.reserve(1 << 16);
    let header = [0x82u8, 0x7e, 0x10, 0x00];
    let payload = bytes(4096, 1);
    let mut q = SendQueue::new();
    let s0 = stats();
    let a0 = allocs();
    for _ in 0..10 {
        assert_eq!(q.send(&mut w, &[&header, &payload], false).unwrap(), 4100);
    }
    assert_eq!(allocs(), a0, "no allocation on the direct path");
    assert_eq!(stats(), s0, "nothing copied or queued");
    assert_eq!(w.calls, vec![2; 10], "one writev of both parts per send");
    assert!(q.is_empty());
    assert_eq!(&w.out[..4], &header);
    assert_eq!(&w.out[4..4100], &payload[..]);
    check(&q);
}

#[test]
fn partial_write_copies_exactly_the_refused_bytes_once() {
    let mut w = Mock::scripted(&[Step::Accept(3)], Step::WouldBlock);
    let mut q = SendQueue::new();
    let s0 = stats();
    let a = bytes(5, 1);
    let b = bytes(100, 2);
    assert_eq!(q.send(&mut w, &[&a, &b], false).unwrap(), 3);
    assert_eq!(
        w.calls.len(),
        2,
        "short write retried once, then WouldBlock"
    );
    assert!(q.is_blocked());
    assert_eq!(q.buffered_amount(), 102);
    let d = delta(s0);
    assert_eq!(d.copied_bytes, 102);
    assert_eq!(d.queued_bytes, 102);
    assert_eq!(d.chunks_alive, 1);
    check(&q);

    w.after = Step::Accept(usize::MAX);
    assert_eq!(q.flush(&mut w).unwrap(), (102, Flushed::All));
    assert_eq!(w.out, [a, b].concat());
    let d = delta(s0);
    assert_eq!(
        (d.copied_bytes, d.queued_bytes, d.chunks_alive),
        (102, 0, 0)
    );
    check(&q);
}

#[test]
fn would_block_with_nothing_written_copies_everything_once() {
    let mut w = Mock::blocked();
    let mut q = SendQueue::new();
    let s0 = stats();
    let p = bytes(1000, 3);
    assert_eq!(q.send(&mut w, &[&p], false).unwrap(), 0);
    assert_eq!(w.calls.len(), 1);
    assert_eq!(delta(s0).copied_bytes, 1000);
    assert_eq!(q.buffered_amount(), 1000);
    check(&q);
}

#[test]
fn blocked_queue_makes_no_syscall_until_flush() {
    let mut w = Mock::blocked();
    let mut q = SendQueue::new();
    q.send(&mut w, &[b"abc"], false).unwrap();
    assert!(q.is_blocked());
    let calls = w.calls.len();
    let big = bytes(100_000, 4); // below RETRY_WHILE_BLOCKED in total
    assert_eq!(q.send(&mut w, &[b"def"], false).unwrap(), 0);
    assert_eq!(q.send(&mut w, &[&big], true).unwrap(), 0);
    let frame: Arc<[u8]> = Arc::from(&b"ghi"[..]);
    assert_eq!(q.send_shared(&mut w, &frame, false).unwrap(), 0);
    assert_eq!(w.calls.len(), calls, "no write attempted while blocked");
    check(&q);

    w.after = Step::Accept(usize::MAX);
    let (n, state) = q.flush(&mut w).unwrap();
    assert_eq!((n, state), (100_009, Flushed::All));
    assert_eq!(w.out, [&b"abcdef"[..], &big, b"ghi"].concat());
    check(&q);
}

#[test]
fn blocked_queue_retries_after_enough_was_queued() {
    let mut w = Mock::blocked();
    let mut q = SendQueue::new();
    let chunk = bytes(100 * 1024, 5);
    q.send(&mut w, &[&chunk], false).unwrap();
    assert!(q.is_blocked());
    let calls = w.calls.len();
    q.send(&mut w, &[&chunk], false).unwrap();
    q.send(&mut w, &[&chunk], false).unwrap();
    assert_eq!(
        w.calls.len(),
        calls,
        "200 KiB since WouldBlock: still no syscall"
    );
    // The peer drained meanwhile: the send that crosses RETRY_WHILE_BLOCKED writes it all.
    w.after = Step::Accept(usize::MAX);
    assert_eq!(q.send(&mut w, &[&chunk], false).unwrap(), 4 * chunk.len());
    assert!(q.is_empty() && !q.is_blocked());
    assert_eq!(w.out, [&chunk[..], &chunk, &chunk, &chunk].concat());
    check(&q);
}

#[test]
fn queued_bytes_go_first_in_the_same_writev() {
    let mut w = Mock::blocked();
    let mut q = SendQueue::new();
    q.push_copy(b"queued-");
    q.push_shared(Arc::from(&b"shared-"[..]));
    w.after = Step::Accept(usize::MAX);
    assert_eq!(q.send(&mut w, &[b"hdr", b"payload"], false).unwrap(), 24);
    assert_eq!(w.calls, vec![1], "small: gathered into one write");
    assert_eq!(w.out, b"queued-shared-hdrpayload");
    check(&q);

    let payload = bytes(GATHER_MAX, 5);
    q.push_copy(b"queued-");
    q.push_shared(Arc::from(&b"shared-"[..]));
    let mut w = Mock::unlimited();
    q.send(&mut w, &[b"hdr", &payload], false).unwrap();
    assert_eq!(w.calls, vec![4], "large: one writev, queued chunks first");
    assert_eq!(w.out, [&b"queued-shared-hdr"[..], &payload].concat());
    check(&q);
}

/// A queue holding the thread's shared cork (one corked byte), so that the queues a test
/// makes next coalesce into chunks of their own.
fn take_shared_cork() -> SendQueue {
    let mut holder = SendQueue::new();
    holder.send(&mut Mock::blocked(), &[b"x"], true).unwrap();
    assert_eq!(holder.lent, 1);
    holder
}

#[test]
fn corked_small_sends_make_no_write_until_one_flush() {
    let _cork = take_shared_cork();
    let mut w = Mock::unlimited();
    let mut q = SendQueue::new();
    let s0 = stats();
    let mut expected = Vec::new();
    for i in 0..100u8 {
        let hdr = [0x81, 10];
        let body = bytes(10, i);
        assert_eq!(q.send(&mut w, &[&hdr, &body], true).unwrap(), 0);
        expected.extend_from_slice(&hdr);
        expected.extend_from_slice(&body);
    }
    assert!(w.calls.is_empty(), "corked: no syscall");
    assert_eq!(
        q.chunks.len(),
        2,
        "coalesced into a small first chunk and a big one"
    );
    assert_eq!(q.chunks[0].bytes().len(), coalesce_pool::SMALL);
    assert_eq!(delta(s0).chunks_alive, 2);
    check(&q);
    assert_eq!(q.flush(&mut w).unwrap(), (1200, Flushed::All));
    assert_eq!(w.calls, vec![1], "one write (gathered)");
    assert_eq!(w.out, expected);
    assert_eq!(delta(s0).chunks_alive, 0);
    check(&q);
}

#[test]
fn coalescing_chunk_is_never_reallocated_and_spills_to_a_new_one() {
    let _cork = take_shared_cork();
    let mut w = Mock::unlimited();
    let mut q = SendQueue::new();
    let part = bytes(CORK_COALESCE / 2 + 1, 7);
    q.send(&mut w, &[&part], true).unwrap();
    let first_ptr = q.chunks[0].bytes().as_ptr();
    q.send(&mut w, &[&part], true).unwrap();
    q.send(&mut w, &[&part], true).unwrap();
    assert_eq!(q.chunks.len(), 2);
    assert_eq!(q.chunks[0].bytes().as_ptr(), first_ptr, "not reallocated");
    assert_eq!(q.chunks[0].bytes().len(), CORK_COALESCE);
    check(&q);
    q.flush(&mut w).unwrap();
    assert_eq!(w.out, [&part[..], &part, &part].concat());
    check(&q);
}

#[test]
fn corked_large_send_writes_immediately_after_queued_bytes() {
    let mut w = Mock::unlimited();
    let mut q = SendQueue::new();
    let s0 = stats();
    q.send(&mut w, &[b"small"], true).unwrap();
    let big = bytes(CORK_COALESCE + 1, 9);
    assert_eq!(
        q.send(&mut w, &[b"hd", &big], true).unwrap(),
        5 + 2 + big.len()
    );
    assert_eq!(w.calls, vec![3], "queue + parts in one writev");
    assert_eq!(w.out, [&b"smallhd"[..], &big].concat());
    let d = delta(s0);
    assert_eq!((d.copied_bytes, d.queued_bytes, d.chunks_alive), (5, 0, 0));
    check(&q);
}

#[test]
fn small_refused_remainders_coalesce() {
    let mut w = Mock::scripted(&[Step::Accept(1)], Step::WouldBlock);
    let mut q = SendQueue::new();
    q.send(&mut w, &[b"hello"], false).unwrap();
    for _ in 0..50 {
        q.send(&mut w, &[b"world"], false).unwrap();
    }
    assert_eq!(q.chunks.len(), 1);
    assert_eq!(q.buffered_amount(), 4 + 250);
    check(&q);
}

#[test]
fn large_remainder_is_copied_once_into_bounded_pieces() {
    let mut w = Mock::scripted(&[Step::Accept(100)], Step::WouldBlock);
    let mut q = SendQueue::new();
    let s0 = stats();
    let header = bytes(10, 1);
    let payload = bytes(3 * MAX_COPY_CHUNK + 1000, 2);
    q.send(&mut w, &[&header, &payload], false).unwrap();
    let refused = header.len() + payload.len() - 100;
    let d = delta(s0);
    assert_eq!(d.copied_bytes, refused as u64);
    assert_eq!(d.chunks_alive, refused.div_ceil(MAX_COPY_CHUNK) as u64);
    assert_eq!(q.chunks.len(), 4);
    check(&q);

    // Draining frees pieces one by one.
    w.after = Step::Accept(MAX_COPY_CHUNK);
    w.script = [Step::Accept(MAX_COPY_CHUNK), Step::WouldBlock].into();
    let (n, state) = q.flush(&mut w).unwrap();
    assert_eq!((n, state), (MAX_COPY_CHUNK, Flushed::Partial));
    assert_eq!(delta(s0).chunks_alive, 3);
    assert_eq!(q.head, 0);
    check(&q);
    let (_, state) = q.flush(&mut w).unwrap();
    assert_eq!(state, Flushed::All);
    assert_eq!(w.out, [header, payload].concat());
    assert_eq!(delta(s0).chunks_alive, 0);
    check(&q);
}

#[test]
fn flush_frees_chunks_as_they_are_written_and_releases_the_deque() {
    let mut w = Mock::blocked();
    let mut q = SendQueue::new();
    let s0 = stats();
    for i in 0..10u8 {
        q.push_shared(Arc::from(bytes(100, i)));
    }
    assert_eq!(delta(s0).chunks_alive, 10);
    assert_eq!(delta(s0).shared_frames_alive, 10);
    assert!(q.chunks.capacity() > 0);

    w.script = [Step::Accept(250)].into();
    assert_eq!(q.flush(&mut w).unwrap(), (250, Flushed::Partial));
    assert_eq!(delta(s0).chunks_alive, 8, "two fully written chunks freed");
    assert_eq!(q.head, 50);
    assert_eq!(q.buffered_amount(), 750);
    check(&q);

    w.after = Step::Accept(usize::MAX);
    assert_eq!(q.flush(&mut w).unwrap(), (750, Flushed::All));
    let d = delta(s0);
    assert_eq!(
        (d.chunks_alive, d.shared_frames_alive, d.queued_bytes),
        (0, 0, 0)
    );
    assert_eq!(q.chunks.capacity(), 0, "no heap after draining");
    check(&q);
}

#[test]
fn shared_frame_is_released_after_every_queue_wrote_it() {
    let frame: Arc<[u8]> = Arc::from(bytes(1000, 5));
    let mut queues: Vec<SendQueue> = (0..5).map(|_| SendQueue::new()).collect();
    let s0 = stats();
    for q in &mut queues {
        q.push_shared(Arc::clone(&frame));
    }
    assert_eq!(Arc::strong_count(&frame), 6);
    let d = delta(s0);
    assert_eq!((d.shared_frames_alive, d.copied_bytes), (5, 0));
    for (i, q) in queues.iter_mut().enumerate() {
        let mut w = Mock::scripted(&[Step::Accept(300 * i + 1)], Step::Accept(usize::MAX));
        q.flush(&mut w).unwrap();
        assert_eq!(&w.out[..], &frame[..]);
    }
    assert_eq!(Arc::strong_count(&frame), 1);
    assert_eq!(delta(s0).shared_frames_alive, 0);
}

#[test]
fn send_shared_keeps_the_unwritten_tail_by_reference() {
    let frame: Arc<[u8]> = Arc::from(bytes(1000, 6));
    let mut q = SendQueue::new();
    let s0 = stats();
    let mut w = Mock::scripted(&[Step::Accept(400)], Step::WouldBlock);
    assert_eq!(q.send_shared(&mut w, &frame, false).unwrap(), 400);
    assert_eq!(q.buffered_amount(), 600);
    assert_eq!(Arc::strong_count(&frame), 2);
    let d = delta(s0);
    assert_eq!(
        (d.copied_bytes, d.queued_bytes, d.shared_frames_alive),
        (0, 600, 1)
    );
    check(&q);
    w.after = Step::Accept(usize::MAX);
    q.flush(&mut w).unwrap();
    assert_eq!(&w.out[..], &frame[..]);
    assert_eq!(Arc::strong_count(&frame), 1);

    // Fully written: nothing kept, nothing allocated.
    let mut w = Mock::unlimited();
    w.out.reserve(1000);
    let a0 = allocs();
    assert_eq!(q.send_shared(&mut w, &frame, false).unwrap(), 1000);
    assert_eq!(allocs(), a0);
    assert_eq!(Arc::strong_count(&frame), 1);

    // Corked: queued by reference, no syscall.
    assert_eq!(q.send_shared(&mut w, &frame, true).unwrap(), 0);
    assert_eq!(w.calls.len(), 1);
    assert_eq!(Arc::strong_count(&frame), 2);
}

#[test]
fn more_chunks_than_iovecs_take_several_writev_calls() {
    let mut q = SendQueue::new();
    let mut expected = Vec::new();
    // Frames large enough that no write is gathered (8 of them exceed GATHER_MAX).
    for i in 0..200u8 {
        let f = bytes(600 + i as usize, i);
        expected.extend_from_slice(&f);
        q.push_shared(Arc::from(f));
    }
    let mut w = Mock::unlimited();
    let (n, state) = q.flush(&mut w).unwrap();
    assert_eq!((n, state), (expected.len(), Flushed::All));
    assert_eq!(w.calls, vec![64, 64, 64, 8]);
    assert_eq!(w.out, expected);
    check(&q);
}

#[test]
fn parts_follow_a_long_queue_across_writev_calls() {
    let mut q = SendQueue::new();
    for i in 0..100u8 {
        q.push_shared(Arc::from(vec![i; 200]));
    }
    let mut w = Mock::unlimited();
    assert_eq!(q.send(&mut w, &[b"x", b"yz"], false).unwrap(), 20_003);
    assert_eq!(w.calls, vec![64, 38]);
    assert_eq!(&w.out[20_000..], b"xyz");
    check(&q);
}

#[test]
fn deque_storage_shrinks_after_a_burst() {
    let mut q = SendQueue::new();
    for i in 0..10_000u32 {
        q.push_shared(Arc::from(i.to_le_bytes()));
    }
    let big = q.chunks.capacity();
    // 156 writev calls of 64 chunks, then 6 chunks, then WouldBlock.
    let mut w = Mock::scripted(&[Step::Accept(4 * 64); 156], Step::WouldBlock);
    w.script.push_back(Step::Accept(4 * 6));
    w.calls.reserve(200);
    q.flush(&mut w).unwrap();
    assert_eq!(q.chunks.len(), 10);
    assert!(
        q.chunks.capacity() < big / 4,
        "capacity {}",
        q.chunks.capacity()
    );
    check(&q);
}

#[test]
fn interrupted_is_retried_and_errors_are_returned() {
    let mut w = Mock::scripted(&[Step::Interrupted, Step::Accept(2)], Step::WouldBlock);
    let mut q = SendQueue::new();
    assert_eq!(q.send(&mut w, &[b"abcd"], false).unwrap(), 2);
    assert_eq!(q.buffered_amount(), 2);

    w.script = [Step::Fail].into();
    let err = q.flush(&mut w).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);

    let mut w = Mock::scripted(&[Step::Fail], Step::Accept(usize::MAX));
    let mut q = SendQueue::new();
    let err = q.send(&mut w, &[b"abcd"], false).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert!(q.is_empty(), "a failed send queues nothing");
}

#[test]
fn writer_accepting_zero_bytes_is_an_error() {
    let mut w = Mock::scripted(&[], Step::Accept(0));
    let mut q = SendQueue::new();
    let err = q.send(&mut w, &[b"abcd"], false).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WriteZero);
}

#[test]
fn empty_sends_do_nothing() {
    let mut w = Mock::unlimited();
    let mut q = SendQueue::new();
    assert_eq!(q.send(&mut w, &[], false).unwrap(), 0);
    assert_eq!(q.send(&mut w, &[b"", b""], true).unwrap(), 0);
    q.push_copy(b"");
    q.push_shared(Arc::from(&b""[..]));
    assert_eq!(
        q.send_shared(&mut w, &Arc::from(&b""[..]), false).unwrap(),
        0
    );
    assert_eq!(q.flush(&mut w).unwrap(), (0, Flushed::All));
    assert!(w.calls.is_empty());
    assert!(q.is_empty());
    check(&q);
}

#[test]
fn empty_parts_in_the_middle_are_skipped() {
    let mut w = Mock::unlimited();
    let mut q = SendQueue::new();
    assert_eq!(q.send(&mut w, &[b"", b"ab", b"", b"c"], false).unwrap(), 3);
    assert_eq!(
        w.calls,
        vec![1],
        "two small parts are gathered into one write"
    );
    assert_eq!(w.out, b"abc");
}

#[test]
fn small_buffers_are_gathered_into_one_write_and_large_ones_use_writev() {
    let mut q = SendQueue::new();
    for i in 0..10u8 {
        q.push_shared(Arc::from(vec![i; 100]));
    }
    let mut w = Mock::unlimited();
    q.flush(&mut w).unwrap();
    assert_eq!(w.calls, vec![1]);
    assert_eq!(w.out.len(), 1000);
    assert_eq!(&w.out[900..], &[9u8; 100][..]);

    // A refused tail of a gathered write stays queued as it was: nothing is copied into the
    // queue (the shared frames are still referenced, not duplicated).
    let frame: Arc<[u8]> = Arc::from(vec![7u8; 100]);
    for _ in 0..3 {
        q.push_shared(Arc::clone(&frame));
    }
    let copied = stats().copied_bytes;
    let mut w = Mock::scripted(&[Step::Accept(150)], Step::WouldBlock);
    q.flush(&mut w).unwrap();
    assert_eq!(q.buffered_amount(), 150);
    assert_eq!(
        Arc::strong_count(&frame),
        3,
        "two frames still queued by reference"
    );
    assert_eq!(stats().copied_bytes, copied);
    check(&q);

    let mut q = SendQueue::new();
    let big = bytes(GATHER_MAX, 3);
    let mut w = Mock::unlimited();
    q.send(&mut w, &[b"hdr", &big], false).unwrap();
    assert_eq!(
        w.calls,
        vec![2],
        "over GATHER_MAX: writev, no gathering copy"
    );
    assert_eq!(w.out.len(), GATHER_MAX + 3);
}

#[test]
fn dropping_a_queue_with_data_updates_stats() {
    let s0 = stats();
    {
        let mut q = SendQueue::new();
        let mut w = Mock::scripted(&[Step::Accept(5)], Step::WouldBlock);
        q.send(&mut w, &[&bytes(100_000, 1)], false).unwrap();
        q.push_shared(Arc::from(&b"frame"[..]));
        q.push_copy(b"copy");
        let d = delta(s0);
        assert_eq!(d.queued_bytes, 100_000 - 5 + 5 + 4);
        assert!(d.chunks_alive >= 3);
        assert_eq!(d.shared_frames_alive, 1);
    }
    let d = delta(s0);
    assert_eq!(
        (d.queued_bytes, d.chunks_alive, d.shared_frames_alive),
        (0, 0, 0)
    );
    assert_eq!(d.copied_bytes, 100_000 - 5 + 4);
}

#[test]
fn peak_tracks_the_highest_queued_amount() {
    reset_peak();
    let base = stats().queued_bytes;
    let mut q = SendQueue::new();
    q.push_copy(&bytes(1000, 1));
    q.push_copy(&bytes(500, 1));
    let mut w = Mock::unlimited();
    q.flush(&mut w).unwrap();
    q.push_copy(&bytes(200, 1));
    let s = stats();
    assert_eq!(s.peak_queued_bytes, base + 1500);
    assert_eq!(s.queued_bytes, base + 200);
    reset_peak();
    assert_eq!(stats().peak_queued_bytes, base + 200);
}

#[test]
fn debug_shows_counts_not_bytes() {
    let mut q = SendQueue::new();
    q.push_copy(b"secret");
    let s = format!("{q:?}");
    assert!(s.contains("buffered: 6") && !s.contains("secret"), "{s}");
}

/// Random sends (direct, corked, shared, copies, with random sizes) against a writer that
/// accepts random amounts: the bytes written are exactly the bytes sent, in order, every byte
/// is copied at most once, and the statistics return to zero.
#[test]
fn random_operations_preserve_the_byte_stream() {
    for seed in 1..=300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let s0 = stats();
        let mut q = SendQueue::new();
        let mut w = Mock::unlimited();
        let mut expected = Vec::new();
        let mut copied = 0u64;
        for op in 0..rng.below(60) + 1 {
            // The writer's next few answers.
            w.script = (0..rng.below(4))
                .map(|_| match rng.below(10) {
                    0 => Step::WouldBlock,
                    1 => Step::Interrupted,
                    2 => Step::Accept(rng.below(CORK_COALESCE * 3) + 1),
                    _ => Step::Accept(rng.below(300) + 1),
                })
                .collect();
            w.after = if rng.below(3) == 0 {
                Step::Accept(usize::MAX)
            } else {
                Step::WouldBlock
            };
            let size = match rng.below(10) {
                0 => rng.below(4 * MAX_COPY_CHUNK),
                1..=2 => rng.below(CORK_COALESCE * 2),
                _ => rng.below(200),
            };
            let data = bytes(size, op as u8);
            let out_before = w.out.len();
            let copied_before = stats().copied_bytes;
            let corked = rng.below(2) == 0;
            let written = match rng.below(6) {
                0 => {
                    q.push_shared(Arc::from(&data[..]));
                    expected.extend_from_slice(&data);
                    0
                }
                1 => {
                    let frame: Arc<[u8]> = Arc::from(&data[..]);
                    expected.extend_from_slice(&data);
                    q.send_shared(&mut w, &frame, corked).unwrap()
                }
                2 => {
                    q.push_copy(&data);
                    expected.extend_from_slice(&data);
                    0
                }
                3 => q.flush(&mut w).unwrap().0,
                _ => {
                    let (a, b) = data.split_at(rng.below(size + 1));
                    expected.extend_from_slice(&data);
                    q.send(&mut w, &[a, b], corked).unwrap()
                }
            };
            let copied_now = stats().copied_bytes - copied_before;
            assert!(
                copied_now <= size as u64,
                "copied at most the given bytes once"
            );
            copied += copied_now;
            assert_eq!(written, w.out.len() - out_before);
            assert_eq!(w.out.len() + q.buffered_amount(), expected.len());
            assert_eq!(&w.out[..], &expected[..w.out.len()]);
            assert_eq!(
                stats().queued_bytes - s0.queued_bytes,
                q.buffered_amount() as u64
            );
            check(&q);
        }
        w.script.clear();
        w.after = Step::Accept(usize::MAX);
        assert_eq!(q.flush(&mut w).unwrap().1, Flushed::All);
        assert!(w.out == expected, "seed {seed}: byte stream differs");
        check(&q);
        let d = delta(s0);
        assert_eq!(d.copied_bytes, copied);
        assert_eq!(
            (d.queued_bytes, d.chunks_alive, d.shared_frames_alive),
            (0, 0, 0)
        );
    }
}

/// A queue dropped mid-stream in random states leaves the statistics at zero.
#[test]
fn random_drops_leave_no_stats_behind() {
    let s0 = stats();
    let mut rng = Rng(42);
    for _ in 0..200 {
        let mut q = SendQueue::new();
        let mut w = Mock::scripted(&[Step::Accept(rng.below(5000))], Step::WouldBlock);
        for _ in 0..rng.below(10) {
            let data = bytes(rng.below(2 * CORK_COALESCE), 1);
            match rng.below(3) {
                0 => q.push_shared(Arc::from(&data[..])),
                1 => {
                    q.send(&mut w, &[&data], rng.below(2) == 0).unwrap();
                }
                _ => {
                    q.flush(&mut w).unwrap();
                }
            }
        }
    }
    let d = delta(s0);
    assert_eq!(
        (d.queued_bytes, d.chunks_alive, d.shared_frames_alive),
        (0, 0, 0)
    );
}

#[test]
fn spare_coalescing_buffers_are_reused_then_freed_when_idle() {
    // 50 sockets corked in one wakeup (the shared cork is taken): each takes a buffer; the
    // flush gives them back.
    let _cork = take_shared_cork();
    let mut queues: Vec<SendQueue> = (0..50).map(|_| SendQueue::new()).collect();
    let mut w = Mock::unlimited();
    w.calls.reserve(1000);
    let wakeup = |queues: &mut Vec<SendQueue>, w: &mut Mock| {
        let a0 = allocs();
        for q in queues.iter_mut() {
            q.send(w, &[b"reply"], true).unwrap();
        }
        for q in queues.iter_mut() {
            q.flush(w).unwrap();
        }
        allocs() - a0
    };
    wakeup(&mut queues, &mut w);
    assert_eq!(coalesce_pool::spares(), 50);
    // Steady load: a trim between busy wakeups frees nothing, and they take no new buffer.
    let warm = wakeup(&mut queues, &mut w);
    trim_spare_buffers();
    assert_eq!(wakeup(&mut queues, &mut w), warm);
    assert_eq!(coalesce_pool::spares(), 50);
    // Idle for a whole interval: the spares go, and the next wakeup allocates 50 buffers again.
    trim_spare_buffers();
    trim_spare_buffers();
    assert_eq!(coalesce_pool::spares(), 0);
    // (plus the spare list's own storage, released with the last spare)
    assert!(wakeup(&mut queues, &mut w) >= warm + 50);
}

// ---------------------------------------------------------------------------------------------
// The shared cork.

#[test]
fn a_corked_reply_goes_through_the_shared_cork_without_allocating() {
    let mut w = Mock::unlimited();
    w.out.reserve(1 << 16);
    let mut q = SendQueue::new();
    // The first use takes the cork's buffer from the pool.
    q.send(&mut w, &[b"warm"], true).unwrap();
    q.flush(&mut w).unwrap();
    let bodies: Vec<Vec<u8>> = (0..50).map(|i| bytes(32, i)).collect();
    let mut expected = Vec::with_capacity(4 + 50 * 34);
    expected.extend_from_slice(b"warm");
    let s0 = stats();
    let a0 = allocs();
    for body in &bodies {
        let hdr = [0x82, 32];
        assert_eq!(q.send(&mut w, &[&hdr, body], true).unwrap(), 0);
        assert_eq!((q.lent, q.chunks.len(), q.buffered_amount()), (34, 0, 34));
        assert!(!q.is_empty());
        check(&q);
        assert_eq!(q.flush(&mut w).unwrap(), (34, Flushed::All));
        assert!(q.is_empty());
        expected.extend_from_slice(&hdr);
        expected.extend_from_slice(body);
    }
    assert_eq!(allocs(), a0, "no allocation per corked reply");
    assert_eq!(w.calls, vec![1; 51], "one plain write per flush");
    assert_eq!(w.out, expected);
    let d = delta(s0);
    assert_eq!(
        d.copied_bytes,
        50 * 34,
        "each byte copied once, into the cork"
    );
    assert_eq!((d.queued_bytes, d.chunks_alive), (0, 0));
    check(&q);
}

#[test]
fn one_queue_at_a_time_uses_the_shared_cork() {
    let mut w1 = Mock::unlimited();
    let mut w2 = Mock::unlimited();
    let (mut q1, mut q2) = (SendQueue::new(), SendQueue::new());
    q1.send(&mut w1, &[b"one-"], true).unwrap();
    q2.send(&mut w2, &[b"two-"], true).unwrap();
    q1.send(&mut w1, &[b"more"], true).unwrap();
    assert_eq!((q1.lent, q1.chunks.len()), (8, 0), "q1 holds the cork");
    assert_eq!(
        (q2.lent, q2.chunks.len()),
        (0, 1),
        "q2 coalesces on its own"
    );
    check(&q1);
    check(&q2);
    q1.flush(&mut w1).unwrap();
    q2.flush(&mut w2).unwrap();
    assert_eq!((&w1.out[..], &w2.out[..]), (&b"one-more"[..], &b"two-"[..]));
    // Freed by q1's flush: q2 may take it now.
    q2.send(&mut w2, &[b"again"], true).unwrap();
    assert_eq!((q2.lent, q2.chunks.len()), (5, 0));
    q2.flush(&mut w2).unwrap();
    assert_eq!(w2.out, b"two-again");
    check(&q2);
}

#[test]
fn refused_cork_bytes_become_the_queues_chunk_without_a_second_copy() {
    let mut w = Mock::scripted(&[Step::Accept(30)], Step::WouldBlock);
    let mut q = SendQueue::new();
    let s0 = stats();
    let reply = bytes(100, 3);
    q.send(&mut w, &[&reply], true).unwrap();
    assert_eq!(q.flush(&mut w).unwrap(), (30, Flushed::Partial));
    assert!(q.is_blocked());
    assert_eq!((q.lent, q.chunks.len(), q.head), (0, 1, 30));
    assert_eq!(q.buffered_amount(), 70);
    let d = delta(s0);
    assert_eq!(
        (d.copied_bytes, d.queued_bytes, d.chunks_alive),
        (100, 70, 1)
    );
    check(&q);
    // The cork is free again for another queue.
    let mut other = SendQueue::new();
    other.send(&mut Mock::unlimited(), &[b"x"], true).unwrap();
    assert_eq!(other.lent, 1);
    w.after = Step::Accept(usize::MAX);
    assert_eq!(q.flush(&mut w).unwrap(), (70, Flushed::All));
    assert_eq!(w.out, reply);
    check(&q);
}

#[test]
fn would_block_on_cork_bytes_leaves_them_queued_and_blocked() {
    let mut w = Mock::blocked();
    let mut q = SendQueue::new();
    q.send(&mut w, &[b"abc"], true).unwrap();
    assert_eq!(q.flush(&mut w).unwrap(), (0, Flushed::Partial));
    assert_eq!(w.calls.len(), 1, "one attempt, no retry after WouldBlock");
    assert!(q.is_blocked());
    assert_eq!((q.lent, q.chunks.len(), q.buffered_amount()), (0, 1, 3));
    check(&q);
    let mut w = Mock::scripted(&[Step::Interrupted], Step::Accept(usize::MAX));
    q.send(&mut Mock::blocked(), &[b"def"], true).unwrap();
    assert_eq!(q.flush(&mut w).unwrap(), (6, Flushed::All));
    assert_eq!(w.out, b"abcdef");
    check(&q);
}

#[test]
fn a_write_error_on_cork_bytes_is_returned() {
    let mut w = Mock::scripted(&[Step::Fail], Step::Fail);
    let mut q = SendQueue::new();
    q.send(&mut w, &[b"abc"], true).unwrap();
    assert!(q.flush(&mut w).is_err());
    assert_eq!(q.lent, 0, "the cork is not kept by a dead socket");
    check(&q);
}

/// A send made after corked bytes; returns the bytes it adds to the stream.
type NextSend = fn(&mut SendQueue, &mut Mock, &Arc<[u8]>, &[u8]) -> Vec<u8>;

#[test]
fn cork_bytes_go_before_whatever_is_sent_next() {
    let frame: Arc<[u8]> = Arc::from(&b"<shared>"[..]);
    let big = bytes(CORK_COALESCE + 1, 4);
    let cases: [(&str, NextSend); 5] = [
        ("send_shared", |q, w, f, _| {
            q.send_shared(w, f, false).unwrap();
            f.to_vec()
        }),
        ("push_shared", |q, _, f, _| {
            q.push_shared(Arc::clone(f));
            f.to_vec()
        }),
        ("push_copy", |q, _, _, _| {
            q.push_copy(b"<copy>");
            b"<copy>".to_vec()
        }),
        ("uncorked send", |q, w, _, _| {
            q.send(w, &[b"<direct>"], false).unwrap();
            b"<direct>".to_vec()
        }),
        ("large corked send", |q, w, _, big| {
            q.send(w, &[big], true).unwrap();
            big.to_vec()
        }),
    ];
    for (name, next) in cases {
        let mut w = Mock::unlimited();
        let mut q = SendQueue::new();
        q.send(&mut w, &[b"<corked>"], true).unwrap();
        let tail = next(&mut q, &mut w, &frame, &big);
        check(&q);
        q.flush(&mut w).unwrap();
        assert_eq!(w.out, [&b"<corked>"[..], &tail].concat(), "{name}");
        assert!(q.is_empty(), "{name}");
        check(&q);
    }
}

#[test]
fn dropping_a_queue_with_cork_bytes_frees_the_cork() {
    let s0 = stats();
    let mut q = SendQueue::new();
    q.send(&mut Mock::unlimited(), &[b"lost"], true).unwrap();
    assert_eq!(q.lent, 4);
    drop(q);
    assert_eq!(delta(s0).queued_bytes, 0);
    let mut next = SendQueue::new();
    next.send(&mut Mock::unlimited(), &[b"x"], true).unwrap();
    assert_eq!(next.lent, 1, "the cork was freed");
}

/// Several queues take turns with random operations: each byte stream stays exact and in order
/// whichever queue holds the shared cork.
#[test]
fn random_operations_on_several_queues_keep_each_stream() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
        let s0 = stats();
        let mut queues: Vec<(SendQueue, Mock, Vec<u8>)> = (0..4)
            .map(|_| (SendQueue::new(), Mock::unlimited(), Vec::new()))
            .collect();
        for op in 0..rng.below(80) + 1 {
            let i = rng.below(queues.len());
            let (q, w, expected) = &mut queues[i];
            w.script = (0..rng.below(3))
                .map(|_| match rng.below(6) {
                    0 => Step::WouldBlock,
                    1 => Step::Interrupted,
                    _ => Step::Accept(rng.below(100) + 1),
                })
                .collect();
            w.after = if rng.below(2) == 0 {
                Step::Accept(usize::MAX)
            } else {
                Step::WouldBlock
            };
            let size = if rng.below(8) == 0 {
                rng.below(2 * CORK_COALESCE)
            } else {
                rng.below(100)
            };
            let data = bytes(size, op as u8);
            match rng.below(5) {
                0 => {
                    q.flush(w).unwrap();
                }
                1 => {
                    q.send_shared(w, &Arc::from(&data[..]), rng.below(2) == 0)
                        .unwrap();
                    expected.extend_from_slice(&data);
                }
                _ => {
                    q.send(w, &[&data], rng.below(4) != 0).unwrap();
                    expected.extend_from_slice(&data);
                }
            }
            assert_eq!(w.out.len() + q.buffered_amount(), expected.len());
            assert_eq!(&w.out[..], &expected[..w.out.len()], "seed {seed}");
            check(q);
        }
        assert!(queues.iter().filter(|(q, _, _)| q.lent > 0).count() <= 1);
        for (q, w, expected) in &mut queues {
            w.script.clear();
            w.after = Step::Accept(usize::MAX);
            assert_eq!(q.flush(w).unwrap().1, Flushed::All);
            assert!(w.out == *expected, "seed {seed}: byte stream differs");
            check(q);
        }
        let d = delta(s0);
        assert_eq!((d.queued_bytes, d.chunks_alive), (0, 0));
    }
}
