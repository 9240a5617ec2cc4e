//! Churn mode (`--churn`): short-lived WebSocket connections. Each of N slots repeats a whole
//! connection life as fast as the server allows: connect, upgrade, one message echoed, a close
//! frame (1000), the server's close frame and the end of the stream, our close; then the next
//! connection. Measures what accepting, upgrading and tearing down cost the server, which the
//! echo loads (connections opened once, before the clock starts) never touch.
//!
//! Reported: completed lives per second as `msgs_per_s`, and the latency of a whole life.

use super::{alphabet_payload, masked_frame, Histogram, WS_KEY};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub struct Config {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
    pub slots: usize,
    pub size: usize,
    pub measure_start: Instant,
    pub end: Instant,
}

pub struct Report {
    pub lives: u64,
    pub errors: u64,
    pub hist: Histogram,
}

#[derive(Clone, Copy, PartialEq)]
enum Step {
    /// connect() in progress: writable means connected
    Connecting,
    /// upgrade request sent, reading the 101
    Upgrading,
    /// message sent, reading its echo
    Echo,
    /// close frame sent, reading the server's close frame and the end of the stream
    Closing,
}

struct Slot {
    stream: TcpStream,
    step: Step,
    /// response bytes gathered in the current step
    got: Vec<u8>,
    started: Instant,
}

/// The bytes each life sends: the upgrade request, one masked binary message, a close frame.
struct Script {
    upgrade: Vec<u8>,
    message: Vec<u8>,
    /// the echo's length on the wire (unmasked server frame)
    echo_len: usize,
    close: Vec<u8>,
}

fn script(cfg: &Config) -> Script {
    let upgrade = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        cfg.path, cfg.host, WS_KEY
    )
    .into_bytes();
    let header = match cfg.size {
        n if n < 126 => 2,
        n if n <= 0xffff => 4,
        _ => 10,
    };
    Script {
        upgrade,
        message: masked_frame(0x2, &alphabet_payload(cfg.size)),
        echo_len: header + cfg.size,
        close: masked_frame(0x8, &1000u16.to_be_bytes()),
    }
}

fn open(cfg: &Config, poll: &Poll, token: usize) -> io::Result<Slot> {
    let mut stream = TcpStream::connect(cfg.addr)?;
    poll.registry().register(
        &mut stream,
        Token(token),
        Interest::READABLE | Interest::WRITABLE,
    )?;
    Ok(Slot {
        stream,
        step: Step::Connecting,
        got: Vec::with_capacity(512),
        started: Instant::now(),
    })
}

/// Writes all of `bytes` (they are small: the socket buffer takes them at once).
fn send(s: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    s.write_all(bytes)
}

/// Advances one slot on an event. `Ok(true)`: its life completed (the server closed).
fn advance(slot: &mut Slot, sc: &Script, buf: &mut [u8]) -> io::Result<bool> {
    if slot.step == Step::Connecting {
        if let Some(e) = slot.stream.take_error()? {
            return Err(e);
        }
        match slot.stream.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
            Err(e) => return Err(e),
        }
        slot.stream.set_nodelay(true)?;
        send(&mut slot.stream, &sc.upgrade)?;
        slot.step = Step::Upgrading;
    }
    loop {
        let n = match slot.stream.read(buf) {
            Ok(0) => {
                // End of stream: a life completes only after the server's close frame.
                return if slot.step == Step::Closing && slot.got.len() >= 4 {
                    Ok(true)
                } else {
                    Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed early"))
                };
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        slot.got.extend_from_slice(&buf[..n]);
        match slot.step {
            Step::Upgrading => {
                if let Some(p) = slot.got.windows(4).position(|w| w == b"\r\n\r\n") {
                    if !slot.got.starts_with(b"HTTP/1.1 101") {
                        return Err(io::Error::other("upgrade refused"));
                    }
                    slot.got.drain(..p + 4);
                    send(&mut slot.stream, &sc.message)?;
                    slot.step = Step::Echo;
                }
            }
            Step::Echo => {}
            Step::Closing | Step::Connecting => {}
        }
        if slot.step == Step::Echo && slot.got.len() >= sc.echo_len {
            slot.got.drain(..sc.echo_len);
            send(&mut slot.stream, &sc.close)?;
            slot.step = Step::Closing;
        }
    }
}

pub fn run(cfg: &Config) -> Report {
    let sc = script(cfg);
    let mut poll = Poll::new().expect("poll");
    let mut slots: Vec<Option<Slot>> = Vec::with_capacity(cfg.slots);
    let mut errors = 0u64;
    for i in 0..cfg.slots {
        let s = open(cfg, &poll, i)
            .map_err(|e| eprintln!("loadgen: connect: {e}"))
            .ok();
        errors += u64::from(s.is_none());
        slots.push(s);
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut events = Events::with_capacity(1024);
    let (mut lives, mut hist, mut measuring) = (0u64, Histogram::new(), false);
    loop {
        let now = Instant::now();
        if !measuring && now >= cfg.measure_start {
            (measuring, lives, errors, hist) = (true, 0, 0, Histogram::new());
        }
        if now >= cfg.end {
            break;
        }
        let until = if measuring {
            cfg.end
        } else {
            cfg.measure_start
        };
        match poll.poll(
            &mut events,
            Some((until - now).min(Duration::from_millis(50))),
        ) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("poll: {e}"),
        }
        let mut restart = Vec::new();
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(slot) = slots[i].as_mut() else {
                continue;
            };
            match advance(slot, &sc, &mut buf) {
                Ok(false) => {}
                Ok(true) => {
                    lives += 1;
                    hist.record(slot.started.elapsed().as_nanos() as u64);
                    restart.push(i);
                }
                Err(_) => {
                    errors += 1;
                    restart.push(i);
                }
            }
        }
        for i in restart {
            // Dropping the stream closes it (epoll forgets it).
            slots[i] = None;
            match open(cfg, &poll, i) {
                Ok(s) => slots[i] = Some(s),
                Err(_) => errors += 1,
            }
        }
        // Slots whose connect failed outright are retried on the next turn.
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.is_none() {
                *slot = open(cfg, &poll, i).ok();
            }
        }
    }
    Report {
        lives,
        errors,
        hist,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MASK;

    #[test]
    fn frames_of_a_life() {
        let cfg = Config {
            addr: "127.0.0.1:1".parse().unwrap(),
            host: "h".into(),
            path: "/echo".into(),
            slots: 1,
            size: 32,
            measure_start: Instant::now(),
            end: Instant::now(),
        };
        let sc = script(&cfg);
        assert!(sc.upgrade.starts_with(b"GET /echo HTTP/1.1\r\n"));
        assert_eq!(sc.message.len(), 2 + 4 + 32);
        assert_eq!((sc.message[0], sc.message[1]), (0x82, 0x80 | 32));
        assert_eq!(sc.echo_len, 34);
        // close 1000, masked
        assert_eq!(sc.close[..2], [0x88, 0x82]);
        assert_eq!([sc.close[6] ^ MASK[0], sc.close[7] ^ MASK[1]], [0x03, 0xe8]);
    }
}
