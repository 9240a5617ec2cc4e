//! loadgen: a WebSocket load generator for the uws-rs benchmarks.
//!
//! Echo mode: N connections, each keeping P messages of S bytes in flight (closed loop: every echo
//! received sends one more). Broadcast mode: one connection sends (keeping P messages in flight,
//! a message completing once every other connection has received it), all the others count
//! deliveries (the server publishes to them).
//!
//! It spends as little CPU as it can so that the server is the bottleneck: frames are built and
//! masked once (one constant mask key), the same bytes are written again and again, server frames
//! are only counted (headers parsed, payload skipped, across read boundaries), one timestamp is
//! taken per socket event. Connections are set up with blocking handshakes before the clock starts.
//!
//! Output: one JSON line on stdout (see `usage()`).

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod churn;

const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const READ_BUF: usize = 256 * 1024;
/// payload bytes still to come above which they are discarded in the kernel (MSG_TRUNC)
const DISCARD_MIN: u64 = 4096;
fn discard_min() -> u64 {
    std::env::var("LOADGEN_DISCARD_MIN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DISCARD_MIN)
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen --url ws://HOST:PORT/PATH [options]
  -c, --connections N   connections (default 100)
  -p, --inflight P      messages in flight per connection (broadcast: in total) (default 1)
  -s, --size S          payload bytes (default 32)
      --text            text frames (default binary)
  -d, --duration D      measured seconds (default 5)
  -w, --warmup W        warm-up seconds, not measured (default 1)
  -t, --threads T       client threads, each with its own mio poll (default 1; broadcast: 1)
      --broadcast       one connection sends, the others count deliveries
      --churn           short-lived connections: each of N slots connects, upgrades, has one
                        message echoed, closes, and starts over; msgs_per_s counts lives
      --deflate         negotiate permessage-deflate and send compressed frames (a JSON-like
                        payload of S bytes, compressed once); replies may come either way
      --server-pid PID  also report that process's CPU time during the measured window
prints one JSON line: msgs_per_s, p50_us, p99_us, client_cpu_s, server_cpu_s, duration_s, ..."
    );
    std::process::exit(2)
}

#[derive(Clone)]
struct Config {
    addr: SocketAddr,
    host: String,
    path: String,
    connections: usize,
    inflight: usize,
    size: usize,
    text: bool,
    duration: f64,
    warmup: f64,
    threads: usize,
    broadcast: bool,
    deflate: bool,
    churn: bool,
    server_pid: Option<u32>,
}

fn parse_args() -> Config {
    let mut url: Option<String> = None;
    let mut c = Config {
        addr: "127.0.0.1:9001".parse().unwrap(),
        host: String::new(),
        path: "/".into(),
        connections: 100,
        inflight: 1,
        size: 32,
        text: false,
        duration: 5.0,
        warmup: 1.0,
        threads: 1,
        broadcast: false,
        deflate: false,
        churn: false,
        server_pid: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let val = |i: &mut usize| -> String {
        *i += 1;
        args.get(*i).cloned().unwrap_or_else(|| usage())
    };
    fn num<T: std::str::FromStr>(s: String) -> T {
        s.parse().unwrap_or_else(|_| usage())
    }
    while i < args.len() {
        match args[i].as_str() {
            "--url" | "-u" => url = Some(val(&mut i)),
            "--connections" | "-c" => c.connections = num(val(&mut i)),
            "--inflight" | "-p" => c.inflight = num(val(&mut i)),
            "--size" | "-s" => c.size = num(val(&mut i)),
            "--text" => c.text = true,
            "--binary" => c.text = false,
            "--duration" | "-d" => c.duration = num(val(&mut i)),
            "--warmup" | "-w" => c.warmup = num(val(&mut i)),
            "--threads" | "-t" => c.threads = num(val(&mut i)),
            "--broadcast" => c.broadcast = true,
            "--deflate" => c.deflate = true,
            "--churn" => c.churn = true,
            "--server-pid" => c.server_pid = Some(num(val(&mut i))),
            "--help" | "-h" => usage(),
            other => {
                eprintln!("loadgen: unknown argument {other}");
                usage()
            }
        }
        i += 1;
    }
    let url = url.unwrap_or_else(|| usage());
    let rest = url.strip_prefix("ws://").unwrap_or_else(|| {
        eprintln!("loadgen: only ws:// URLs");
        std::process::exit(2)
    });
    let (hostport, path) = match rest.find('/') {
        Some(p) => (&rest[..p], &rest[p..]),
        None => (rest, "/"),
    };
    c.host = hostport.to_string();
    c.path = path.to_string();
    c.addr = hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| {
            eprintln!("loadgen: cannot resolve {hostport}");
            std::process::exit(2)
        });
    if c.connections == 0 || c.inflight == 0 || c.threads == 0 {
        usage();
    }
    if c.broadcast {
        if c.connections < 2 {
            eprintln!("loadgen: --broadcast needs at least 2 connections");
            std::process::exit(2);
        }
        c.threads = 1;
    }
    c.threads = c.threads.min(c.connections);
    c
}

// ---------------------------------------------------------------------------------------------
// Latency histogram: log-linear buckets (HdrHistogram-like), 64 sub-buckets per power of two,
// values in nanoseconds; relative error under 1/64.

const SUB_BITS: u32 = 7; // values below 2^7 are exact; above, 2^(7-1) sub-buckets per octave
const HALF: u64 = 1 << (SUB_BITS - 1);

#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; (64 * HALF + 2 * HALF) as usize],
            total: 0,
            sum: 0,
            max: 0,
        }
    }
    #[inline]
    fn index(v: u64) -> usize {
        if v < (1 << SUB_BITS) {
            v as usize
        } else {
            let e = 63 - v.leading_zeros(); // >= SUB_BITS
            let shift = e - (SUB_BITS - 1);
            let mantissa = v >> shift; // in [HALF, 2*HALF)
            (shift as u64 * HALF + mantissa) as usize
        }
    }
    fn value_at(idx: usize) -> u64 {
        let idx = idx as u64;
        if idx < (1 << SUB_BITS) {
            idx
        } else {
            let shift = idx / HALF - 1;
            let mantissa = idx - shift * HALF;
            // middle of the bucket
            (mantissa << shift) + ((1u64 << shift) >> 1)
        }
    }
    #[inline]
    fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.total += 1;
        self.sum += v as u128;
        if v > self.max {
            self.max = v;
        }
    }
    fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.total += o.total;
        self.sum += o.sum;
        self.max = self.max.max(o.max);
    }
    fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value_at(i).min(self.max);
            }
        }
        self.max
    }
}

// ---------------------------------------------------------------------------------------------
// Frames

/// `count` copies of one masked client frame, back to back, so that any run of whole or partial
/// frames is one contiguous slice (the byte stream we send is periodic).
struct FrameBlock {
    bytes: Vec<u8>,
    frame_len: usize,
}

/// `size` bytes of JSON-like text: what compressed WebSocket traffic usually carries (compresses
/// about 3-4x, unlike a repeating alphabet that deflate shrinks to almost nothing).
fn json_payload(size: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliett", "kilo", "lima", "mike", "november", "oscar", "papa",
    ];
    let mut seed: u32 = 0x2545_f491;
    let mut next = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as usize
    };
    let mut out = String::with_capacity(size + 64);
    let mut id = 0;
    while out.len() < size {
        id += 1;
        out.push_str(&format!(
            "{{\"id\":{},\"user\":\"{}-{}\",\"score\":{},\"tags\":[\"{}\",\"{}\"],\"text\":\"{} {} {}\"}},",
            id,
            WORDS[next() % 16],
            next() % 1000,
            next() % 100_000,
            WORDS[next() % 16],
            WORDS[next() % 16],
            WORDS[next() % 16],
            WORDS[next() % 16],
            WORDS[next() % 16]
        ));
    }
    out.truncate(size);
    out.into_bytes()
}

/// permessage-deflate payload of one message: raw deflate from a fresh stream, sync-flushed, with
/// the 00 00 ff ff tail removed (RFC 7692, 7.2.1). A fresh stream per message references nothing
/// earlier, so the same bytes can be sent again and again whatever context takeover was agreed.
fn deflate_message(data: &[u8]) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, FlushCompress::Sync)
        .expect("deflate");
    while c.total_in() < data.len() as u64 || out.len() == out.capacity() {
        out.reserve(out.len() + 64);
        let done = c.total_in() as usize;
        c.compress_vec(&data[done..], &mut out, FlushCompress::Sync)
            .expect("deflate");
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]), "sync flush tail");
    out.truncate(out.len() - 4);
    out
}

/// One client frame: FIN, `first` (RSV bits and opcode), the payload masked with [`MASK`].
fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let size = payload.len();
    let mut f = Vec::with_capacity(size + 14);
    f.push(0x80 | first);
    if size < 126 {
        f.push(0x80 | size as u8);
    } else if size <= 0xffff {
        f.push(0x80 | 126);
        f.extend_from_slice(&(size as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(size as u64).to_be_bytes());
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// `size` ASCII bytes (valid UTF-8, for text frames too).
fn alphabet_payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

fn build_frames(size: usize, text: bool, deflate: bool, count: usize) -> FrameBlock {
    let payload = if deflate {
        deflate_message(&json_payload(size))
    } else {
        alphabet_payload(size)
    };
    let f = masked_frame(
        if deflate { 0x40 } else { 0 } | if text { 0x1 } else { 0x2 },
        &payload,
    );
    let frame_len = f.len();
    let mut bytes = Vec::with_capacity(frame_len * count);
    for _ in 0..count {
        bytes.extend_from_slice(&f);
    }
    FrameBlock { bytes, frame_len }
}

/// Counts server frames (unmasked, but tolerates masked) across read boundaries, skipping payloads.
#[derive(Default)]
struct FrameParser {
    hdr: [u8; 14],
    hlen: usize,
    remaining: u64,
    cur_opcode: u8,
    cur_rsv1: bool,
    cur_fin: bool,
    cur_len: u64,
    msg_len: u64,
    msg_opcode: u8,
    msg_compressed: bool,
}

enum Frame {
    /// A whole data message: opcode of its first frame, total payload length (on the wire),
    /// whether it is compressed (RSV1 on its first frame).
    Message(u8, u64, bool),
    Close,
    Other,
}

impl FrameParser {
    #[inline]
    fn header_len(b0_1: &[u8]) -> usize {
        let l = b0_1[1] & 0x7f;
        let masked = (b0_1[1] & 0x80) != 0;
        2 + match l {
            126 => 2,
            127 => 8,
            _ => 0,
        } + if masked { 4 } else { 0 }
    }

    #[inline]
    fn parse_header(&mut self, h: &[u8]) {
        self.cur_fin = h[0] & 0x80 != 0;
        self.cur_opcode = h[0] & 0x0f;
        self.cur_rsv1 = h[0] & 0x40 != 0;
        let l = h[1] & 0x7f;
        self.cur_len = match l {
            126 => u16::from_be_bytes([h[2], h[3]]) as u64,
            127 => u64::from_be_bytes(h[2..10].try_into().unwrap()),
            n => n as u64,
        };
    }

    #[inline]
    fn finish_frame(&mut self) -> Frame {
        match self.cur_opcode {
            0..=2 => {
                if self.cur_opcode != 0 {
                    self.msg_opcode = self.cur_opcode;
                    self.msg_compressed = self.cur_rsv1;
                    self.msg_len = 0;
                }
                self.msg_len += self.cur_len;
                if self.cur_fin {
                    Frame::Message(self.msg_opcode, self.msg_len, self.msg_compressed)
                } else {
                    Frame::Other
                }
            }
            8 => Frame::Close,
            _ => Frame::Other, // ping/pong: ignored (runs are far shorter than idle timeouts)
        }
    }

    /// `n` payload bytes (at most `remaining`) were discarded without being read.
    #[inline]
    fn skip(&mut self, n: u64) -> Option<Frame> {
        self.remaining -= n;
        if self.remaining == 0 {
            Some(self.finish_frame())
        } else {
            None
        }
    }

    /// Feeds bytes, calling `on` for every completed frame.
    #[inline]
    fn feed(&mut self, data: &[u8], mut on: impl FnMut(Frame)) {
        let mut pos = 0;
        let n = data.len();
        while pos < n {
            if self.remaining > 0 {
                let take = (self.remaining).min((n - pos) as u64);
                pos += take as usize;
                self.remaining -= take;
                if self.remaining == 0 {
                    let f = self.finish_frame();
                    on(f);
                }
                continue;
            }
            if self.hlen == 0 && n - pos >= 2 {
                // fast path: the whole header is in this buffer
                let hl = Self::header_len(&data[pos..]);
                if n - pos >= hl {
                    self.parse_header(&data[pos..pos + hl]);
                    pos += hl;
                    if self.cur_len == 0 {
                        let f = self.finish_frame();
                        on(f);
                    } else {
                        self.remaining = self.cur_len;
                    }
                    continue;
                }
            }
            // slow path: accumulate header bytes
            self.hdr[self.hlen] = data[pos];
            self.hlen += 1;
            pos += 1;
            if self.hlen >= 2 {
                let hl = Self::header_len(&self.hdr);
                if self.hlen == hl {
                    let h = self.hdr;
                    self.parse_header(&h[..hl]);
                    self.hlen = 0;
                    if self.cur_len == 0 {
                        let f = self.finish_frame();
                        on(f);
                    } else {
                        self.remaining = self.cur_len;
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connections

#[derive(PartialEq, Clone, Copy)]
enum Role {
    Echo,
    Sender,
    Receiver,
}

struct Conn {
    stream: TcpStream,
    role: Role,
    parser: FrameParser,
    /// frames queued but not yet fully written, and how far into the first one we are
    pending: u64,
    off: usize,
    writable: bool,
    /// send times (ns since start) of the messages in flight, oldest first (echo mode)
    sent_at: VecDeque<u64>,
    /// broadcast receiver: sequence number of the next delivery
    recv_seq: u64,
    closed: bool,
    leftover: Vec<u8>,
}

#[derive(Default, Clone)]
struct Stats {
    messages: u64,
    bytes: u64,
    sent: u64,
    errors: u64,
    closed: u64,
    sender_received: u64,
}

struct Broadcast {
    receivers: u32,
    ring_mask: u64,
    delivered: Vec<u32>,
    sent_time: Vec<u64>,
    next_seq: u64,
    completed: u64,
}

fn connect(cfg: &Config) -> io::Result<(std::net::TcpStream, Vec<u8>)> {
    let mut s = std::net::TcpStream::connect_timeout(&cfg.addr, Duration::from_secs(5))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    // what browsers offer
    let ext = if cfg.deflate {
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    } else {
        ""
    };
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
        cfg.path, cfg.host, WS_KEY, ext
    );
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed during handshake",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if !buf.starts_with(b"HTTP/1.1 101") {
                let line = String::from_utf8_lossy(
                    &buf[..buf.iter().position(|&b| b == b'\r').unwrap_or(buf.len())],
                )
                .into_owned();
                return Err(io::Error::other(format!("handshake refused: {line}")));
            }
            if cfg.deflate
                && !String::from_utf8_lossy(&buf[..p])
                    .to_ascii_lowercase()
                    .contains("permessage-deflate")
            {
                return Err(io::Error::other(
                    "the server did not agree to permessage-deflate",
                ));
            }
            let leftover = buf[p + 4..].to_vec();
            s.set_read_timeout(None)?;
            s.set_nonblocking(true)?;
            return Ok((s, leftover));
        }
        if buf.len() > 16384 {
            return Err(io::Error::other("handshake response too long"));
        }
    }
}

struct Shared {
    start: Instant,
    measure_start: Instant,
    end: Instant,
    expected_len: u64,
    expected_opcode: u8,
    inflight: usize,
}

struct Worker {
    conns: Vec<Conn>,
    frames: Arc<FrameBlock>,
    hist: Histogram,
    stats: Stats,
    bc: Option<Broadcast>,
    sender: Option<usize>,
    measuring: bool,
    discard_min: u64,
}

impl Worker {
    /// Writes as many pending frames as the socket takes. Returns false on a fatal error.
    #[inline]
    fn flush(conn: &mut Conn, frames: &FrameBlock) -> bool {
        let fl = frames.frame_len;
        while conn.pending > 0 && conn.writable {
            let want = (conn.pending as usize).saturating_mul(fl) - conn.off;
            let end = conn.off.saturating_add(want).min(frames.bytes.len());
            match conn.stream.write(&frames.bytes[conn.off..end]) {
                Ok(0) => return false,
                Ok(n) => {
                    let consumed = conn.off + n;
                    conn.pending -= (consumed / fl) as u64;
                    conn.off = consumed % fl;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => conn.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    fn close_conn(&mut self, i: usize) {
        let c = &mut self.conns[i];
        if !c.closed {
            c.closed = true;
            self.stats.closed += 1;
        }
    }

    fn handle(&mut self, i: usize, readable: bool, writable: bool, buf: &mut [u8], sh: &Shared) {
        if self.conns[i].closed {
            return;
        }
        let now = sh.start.elapsed().as_nanos() as u64;
        if writable {
            self.conns[i].writable = true;
        }
        if readable {
            // Read until a short read (edge-triggered epoll re-arms on every new arrival).
            loop {
                // Inside a large payload: discard it in the kernel without copying (TCP honours
                // MSG_TRUNC), so big messages cost the client no memcpy.
                let rem = self.conns[i].parser.remaining;
                if rem >= self.discard_min {
                    let fd = self.conns[i].stream.as_raw_fd();
                    let want = rem.min(1 << 30) as usize;
                    let r = unsafe {
                        libc::recv(
                            fd,
                            std::ptr::null_mut(),
                            want,
                            libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                        )
                    };
                    if r > 0 {
                        let r = r as usize;
                        if let Some(f) = self.conns[i].parser.skip(r as u64) {
                            let (mut msgs, mut bad, mut close) = (0, 0, false);
                            Self::tally(f, sh, &mut msgs, &mut bad, &mut close);
                            self.account(i, msgs, bad, close, now, sh);
                        }
                        if r < want {
                            break;
                        }
                        continue;
                    } else if r == 0 {
                        self.close_conn(i);
                        return;
                    } else {
                        let e = io::Error::last_os_error();
                        match e.kind() {
                            io::ErrorKind::WouldBlock => break,
                            io::ErrorKind::Interrupted => continue,
                            _ => {
                                self.close_conn(i);
                                return;
                            }
                        }
                    }
                }
                let n = match self.conns[i].stream.read(buf) {
                    Ok(0) => {
                        self.close_conn(i);
                        return;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        self.close_conn(i);
                        return;
                    }
                };
                self.consume(i, &buf[..n], now, sh);
                if n < buf.len() {
                    break;
                }
            }
        }
        let frames = self.frames.clone();
        if !Self::flush(&mut self.conns[i], &frames) {
            self.close_conn(i);
        }
        if let Some(s) = self.sender {
            if s != i
                && !self.conns[s].closed
                && self.conns[s].pending > 0
                && !Self::flush(&mut self.conns[s], &frames)
            {
                self.close_conn(s);
            }
        }
    }

    #[inline]
    fn consume(&mut self, i: usize, data: &[u8], now: u64, sh: &Shared) {
        let mut msgs = 0u64;
        let mut bad = 0u64;
        let mut close = false;
        self.conns[i].parser.feed(data, |f| {
            Self::tally(f, sh, &mut msgs, &mut bad, &mut close)
        });
        self.account(i, msgs, bad, close, now, sh);
    }

    #[inline]
    fn tally(f: Frame, sh: &Shared, msgs: &mut u64, bad: &mut u64, close: &mut bool) {
        match f {
            Frame::Message(op, len, compressed) => {
                *msgs += 1;
                // a compressed reply's length depends on the server's compressor: not checked
                if (!compressed && len != sh.expected_len) || op != sh.expected_opcode {
                    *bad += 1;
                }
            }
            Frame::Close => *close = true,
            Frame::Other => {}
        }
    }

    #[inline]
    fn account(&mut self, i: usize, msgs: u64, mut bad: u64, close: bool, now: u64, sh: &Shared) {
        let measuring = self.measuring;
        let role = self.conns[i].role;
        if msgs > 0 {
            match role {
                Role::Echo => {
                    let conn = &mut self.conns[i];
                    for _ in 0..msgs {
                        let t = conn.sent_at.pop_front().unwrap_or(now);
                        if measuring {
                            self.hist.record(now.saturating_sub(t));
                        }
                        conn.sent_at.push_back(now);
                    }
                    conn.pending += msgs;
                    if measuring {
                        self.stats.messages += msgs;
                        self.stats.sent += msgs;
                        self.stats.bytes += msgs * sh.expected_len;
                    }
                }
                Role::Receiver => {
                    let bc = self.bc.as_mut().unwrap();
                    let conn = &mut self.conns[i];
                    for _ in 0..msgs {
                        let seq = conn.recv_seq;
                        conn.recv_seq += 1;
                        if seq >= bc.next_seq {
                            bad += 1; // more deliveries than messages sent
                            continue;
                        }
                        let slot = (seq & bc.ring_mask) as usize;
                        if measuring {
                            self.hist.record(now.saturating_sub(bc.sent_time[slot]));
                        }
                        bc.delivered[slot] += 1;
                    }
                    if measuring {
                        self.stats.messages += msgs;
                        self.stats.bytes += msgs * sh.expected_len;
                    }
                    // retire completed messages, in order, and send as many new ones
                    let mut more = 0u64;
                    while bc.completed < bc.next_seq {
                        let slot = (bc.completed & bc.ring_mask) as usize;
                        if bc.delivered[slot] < bc.receivers {
                            break;
                        }
                        bc.delivered[slot] = 0;
                        bc.completed += 1;
                        more += 1;
                    }
                    for _ in 0..more {
                        let slot = (bc.next_seq & bc.ring_mask) as usize;
                        bc.sent_time[slot] = now;
                        bc.delivered[slot] = 0;
                        bc.next_seq += 1;
                    }
                    if more > 0 {
                        let s = self.sender.unwrap();
                        self.conns[s].pending += more;
                        if measuring {
                            self.stats.sent += more;
                        }
                    }
                }
                Role::Sender => {
                    if measuring {
                        self.stats.sender_received += msgs;
                    }
                }
            }
        }
        if measuring {
            self.stats.errors += bad;
        }
        if close {
            self.close_conn(i);
        }
    }

    fn run(mut self, sh: Arc<Shared>) -> (Histogram, Stats) {
        let mut poll = Poll::new().expect("poll");
        for (i, c) in self.conns.iter_mut().enumerate() {
            poll.registry()
                .register(
                    &mut c.stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .expect("register");
        }
        let mut buf = vec![0u8; READ_BUF];
        // initial load
        let now0 = sh.start.elapsed().as_nanos() as u64;
        for i in 0..self.conns.len() {
            match self.conns[i].role {
                Role::Echo => {
                    let c = &mut self.conns[i];
                    c.pending = sh.inflight as u64;
                    for _ in 0..sh.inflight {
                        c.sent_at.push_back(now0);
                    }
                }
                Role::Sender => {
                    let bc = self.bc.as_mut().unwrap();
                    for _ in 0..sh.inflight {
                        let slot = (bc.next_seq & bc.ring_mask) as usize;
                        bc.sent_time[slot] = now0;
                        bc.next_seq += 1;
                    }
                    self.conns[i].pending = sh.inflight as u64;
                }
                Role::Receiver => {}
            }
            let lo = std::mem::take(&mut self.conns[i].leftover);
            if !lo.is_empty() {
                self.consume(i, &lo, now0, &sh);
            }
        }
        for i in 0..self.conns.len() {
            self.handle(i, false, true, &mut buf, &sh);
        }
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            if !self.measuring && now >= sh.measure_start {
                self.measuring = true;
                self.hist = Histogram::new();
                self.stats = Stats {
                    closed: self.stats.closed,
                    ..Default::default()
                };
            }
            if now >= sh.end {
                break;
            }
            let next = if self.measuring {
                sh.end
            } else {
                sh.measure_start
            };
            let timeout = (next - now).min(Duration::from_millis(50));
            match poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("poll: {e}"),
            }
            for ev in events.iter() {
                let i = ev.token().0;
                self.handle(
                    i,
                    ev.is_readable() || ev.is_read_closed(),
                    ev.is_writable(),
                    &mut buf,
                    &sh,
                );
            }
        }
        (self.hist, self.stats)
    }
}

// ---------------------------------------------------------------------------------------------
// CPU accounting

fn rusage_self() -> f64 {
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        t(ru.ru_utime) + t(ru.ru_stime)
    }
}

/// CPU seconds of a process: sum of its threads' schedstat run times (ns), else utime+stime ticks.
fn process_cpu(pid: u32) -> Option<f64> {
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        let mut total = 0u64;
        let mut any = false;
        for e in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
                if let Some(ns) = s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    total += ns;
                    any = true;
                }
            }
        }
        if any {
            return Some(total as f64 / 1e9);
        }
    }
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / ticks)
}

/// Busy CPU seconds of the whole machine so far (all CPUs, from /proc/stat), to spot other load.
fn system_busy() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy =
        f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)? + f.get(7).copied().unwrap_or(0);
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(busy as f64 / ticks)
}

fn raise_nofile() {
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

fn main() {
    let cfg = parse_args();
    raise_nofile();

    // Frames: enough copies for a whole in-flight window (or 64 KiB) in one write.
    let frame_len_est = cfg.size + 14;
    let copies = cfg.inflight.min((65536 / frame_len_est).max(1)).max(1);
    let frames = Arc::new(build_frames(cfg.size, cfg.text, cfg.deflate, copies));

    // Connect everything first (blocking handshakes, one at a time: no backlog overflow).
    let mut streams = Vec::with_capacity(cfg.connections);
    let connect_started = Instant::now();
    // (churn: every connection is made on the clock)
    for k in 0..if cfg.churn { 0 } else { cfg.connections } {
        match connect(&cfg) {
            Ok(s) => streams.push(s),
            Err(e) => {
                eprintln!("loadgen: connection {k} to {}{}: {e}", cfg.host, cfg.path);
                std::process::exit(1);
            }
        }
    }
    let connect_s = connect_started.elapsed().as_secs_f64();

    let start = Instant::now();
    let measure_start = start + Duration::from_secs_f64(cfg.warmup);
    let end = measure_start + Duration::from_secs_f64(cfg.duration);
    let sh = Arc::new(Shared {
        start,
        measure_start,
        end,
        expected_len: cfg.size as u64,
        expected_opcode: if cfg.text { 1 } else { 2 },
        inflight: cfg.inflight,
    });

    // Distribute connections round-robin over the threads. Broadcast: one thread, the sender is
    // the last connection (connected after every subscriber).
    let threads = if cfg.churn { 0 } else { cfg.threads };
    let mut per_thread: Vec<Vec<Conn>> = (0..threads).map(|_| Vec::new()).collect();
    let n = streams.len();
    for (k, (s, leftover)) in streams.into_iter().enumerate() {
        let role = if !cfg.broadcast {
            Role::Echo
        } else if k == n - 1 {
            Role::Sender
        } else {
            Role::Receiver
        };
        per_thread[k % cfg.threads].push(Conn {
            stream: TcpStream::from_std(s),
            role,
            parser: FrameParser::default(),
            pending: 0,
            off: 0,
            writable: true,
            sent_at: VecDeque::with_capacity(if role == Role::Echo { cfg.inflight } else { 0 }),
            recv_seq: 0,
            closed: false,
            leftover,
        });
    }

    let mut handles = Vec::new();
    for conns in per_thread {
        let sender = conns.iter().position(|c| c.role == Role::Sender);
        let bc = if cfg.broadcast {
            let ring = cfg.inflight.next_power_of_two();
            Some(Broadcast {
                receivers: (cfg.connections - 1) as u32,
                ring_mask: ring as u64 - 1,
                delivered: vec![0; ring],
                sent_time: vec![0; ring],
                next_seq: 0,
                completed: 0,
            })
        } else {
            None
        };
        let w = Worker {
            conns,
            frames: frames.clone(),
            hist: Histogram::new(),
            stats: Stats::default(),
            bc,
            sender,
            measuring: false,
            discard_min: discard_min(),
        };
        let sh = sh.clone();
        handles.push(std::thread::spawn(move || w.run(sh)));
    }
    if cfg.churn {
        let c = churn::Config {
            addr: cfg.addr,
            host: cfg.host.clone(),
            path: cfg.path.clone(),
            slots: cfg.connections,
            size: cfg.size,
            measure_start,
            end,
        };
        handles.push(std::thread::spawn(move || {
            let r = churn::run(&c);
            let st = Stats {
                messages: r.lives,
                errors: r.errors,
                ..Default::default()
            };
            (r.hist, st)
        }));
    }

    sleep_until(measure_start);
    let cpu0 = rusage_self();
    let srv0 = cfg.server_pid.and_then(process_cpu);
    let sys0 = system_busy();
    sleep_until(end);
    let cpu1 = rusage_self();
    let srv1 = cfg.server_pid.and_then(process_cpu);
    let sys1 = system_busy();

    let mut hist = Histogram::new();
    let mut st = Stats::default();
    for h in handles {
        let (hh, s) = h.join().expect("worker");
        hist.merge(&hh);
        st.messages += s.messages;
        st.bytes += s.bytes;
        st.sent += s.sent;
        st.errors += s.errors;
        st.closed += s.closed;
        st.sender_received += s.sender_received;
    }

    let d = cfg.duration;
    let client_cpu = cpu1 - cpu0;
    let us = |ns: u64| ns as f64 / 1000.0;
    let mean = if hist.total > 0 {
        (hist.sum / hist.total as u128) as u64
    } else {
        0
    };
    let server_cpu = match (srv0, srv1) {
        (Some(a), Some(b)) => format!("{:.4}", b - a),
        _ => "null".into(),
    };
    let system_cpu = match (sys0, sys1) {
        (Some(a), Some(b)) => format!("{:.3}", b - a),
        _ => "null".into(),
    };
    println!(
        "{{\"mode\":\"{}\",\"connections\":{},\"inflight\":{},\"size\":{},\"binary\":{},\"deflate\":{},\"threads\":{},\
\"duration_s\":{:.3},\"warmup_s\":{:.3},\"connect_s\":{:.3},\"messages\":{},\"sent\":{},\"msgs_per_s\":{:.1},\
\"mbytes_per_s\":{:.2},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"max_us\":{:.1},\
\"mean_us\":{:.1},\"client_cpu_s\":{:.4},\"client_cpu_share\":{:.4},\"server_cpu_s\":{},\"errors\":{},\
\"closed\":{},\"sender_received\":{},\"system_busy_s\":{}}}",
        if cfg.churn {
            "churn"
        } else if cfg.broadcast {
            "broadcast"
        } else {
            "echo"
        },
        cfg.connections,
        cfg.inflight,
        cfg.size,
        !cfg.text,
        cfg.deflate,
        cfg.threads,
        d,
        cfg.warmup,
        connect_s,
        st.messages,
        st.sent,
        st.messages as f64 / d,
        st.bytes as f64 / d / 1e6,
        us(hist.percentile(50.0)),
        us(hist.percentile(90.0)),
        us(hist.percentile(99.0)),
        us(hist.percentile(99.9)),
        us(hist.max),
        us(mean),
        client_cpu,
        client_cpu / d,
        server_cpu,
        st.errors,
        st.closed,
        st.sender_received,
        system_cpu,
    );
    // Exit without closing sockets gracefully: the kernel resets/FINs them all at once.
    std::process::exit(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deflated_frame_inflates_to_the_payload() {
        let payload = json_payload(1024);
        assert_eq!(payload.len(), 1024);
        let block = build_frames(1024, true, true, 2);
        let f = &block.bytes[..block.frame_len];
        assert_eq!(f[0], 0x80 | 0x40 | 0x1, "FIN, RSV1, text");
        let (len, hl) = match f[1] & 0x7f {
            126 => (u16::from_be_bytes([f[2], f[3]]) as usize, 8),
            n => (n as usize, 6),
        };
        assert_eq!(f.len(), hl + len);
        assert!(len < 1024 / 2, "JSON-like text compresses: {len} bytes");
        let mut wire: Vec<u8> = f[hl..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ MASK[i % 4])
            .collect();
        wire.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut d = flate2::Decompress::new(false);
        let mut out = Vec::with_capacity(4096);
        d.decompress_vec(&wire, &mut out, flate2::FlushDecompress::Sync)
            .unwrap();
        assert_eq!(out, payload);
    }

    #[test]
    fn histogram_roundtrip() {
        let mut h = Histogram::new();
        for v in [
            0u64,
            1,
            127,
            128,
            129,
            1000,
            12345,
            1_000_000,
            123_456_789_012,
        ] {
            let idx = Histogram::index(v);
            let back = Histogram::value_at(idx);
            let err = (back as f64 - v as f64).abs() / (v.max(1) as f64);
            assert!(err < 1.0 / 64.0 + 1e-9, "v={v} back={back}");
            h.record(v);
        }
        assert_eq!(h.total, 9);
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
    }

    #[test]
    fn parser_across_boundaries() {
        // server frames: 3 binary frames of sizes 5, 300, 70000, a ping, a fragmented text message
        let mut s = Vec::new();
        let mut push = |op: u8, fin: bool, len: usize| {
            s.push(if fin { 0x80 } else { 0 } | op);
            if len < 126 {
                s.push(len as u8);
            } else if len <= 0xffff {
                s.push(126);
                s.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                s.push(127);
                s.extend_from_slice(&(len as u64).to_be_bytes());
            }
            s.extend(std::iter::repeat_n(7u8, len));
        };
        push(2, true, 5);
        push(2, true, 300);
        push(2, true, 70000);
        push(9, true, 0);
        push(1, false, 10);
        push(0, true, 20);
        for chunk in [1usize, 2, 3, 7, 100, 4096, 1 << 20] {
            let mut p = FrameParser::default();
            let mut got = Vec::new();
            for c in s.chunks(chunk) {
                p.feed(c, |f| {
                    if let Frame::Message(op, len, _) = f {
                        got.push((op, len))
                    }
                });
            }
            assert_eq!(
                got,
                vec![(2, 5), (2, 300), (2, 70000), (1, 30)],
                "chunk {chunk}"
            );
        }
    }
}
