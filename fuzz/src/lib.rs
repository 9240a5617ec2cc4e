//! Helpers shared by the fuzz targets: input layout and owned copies of receiver events.
//!
//! Split-feeding targets read their input as
//! `[cfg byte][n: cut count][n x u16 LE cut offsets][stream bytes...]`,
//! so libFuzzer controls both the bytes and where the reads end.

use uws_core::ws::{Event, ProtocolError, Receiver, ReceiverConfig};

/// Receiver configurations selected by the low bits of the config byte.
pub fn receiver_config(cfg: u8) -> ReceiverConfig {
    const LIMITS: [usize; 8] = [0, 1, 125, 126, 1024, 16 * 1024, 70_000, 1 << 40];
    ReceiverConfig {
        max_payload_length: LIMITS[(cfg & 7) as usize],
        require_mask: cfg & 0x08 == 0,
        allow_rsv1: cfg & 0x10 != 0,
    }
}

/// Splits `data` into (config byte, sorted cut offsets within the stream, stream).
pub fn split_input(data: &[u8]) -> Option<(u8, Vec<usize>, &[u8])> {
    let (&cfg, rest) = data.split_first()?;
    let (&n, mut rest) = rest.split_first()?;
    let n = (n as usize) % 64;
    let mut cuts = Vec::with_capacity(n);
    for _ in 0..n {
        if rest.len() < 2 {
            break;
        }
        cuts.push(u16::from_le_bytes([rest[0], rest[1]]) as usize);
        rest = &rest[2..];
    }
    for c in &mut cuts {
        *c = if rest.is_empty() {
            0
        } else {
            *c % (rest.len() + 1)
        };
    }
    cuts.sort_unstable();
    Some((cfg, cuts, rest))
}

/// The stream cut at `cuts` (empty pieces included: feeding nothing must be harmless).
pub fn pieces<'a>(stream: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut at = 0;
    for &c in cuts {
        out.push(&stream[at..c]);
        at = c;
    }
    out.push(&stream[at..]);
    out
}

/// A receiver event with its bytes copied out, comparable across feeding strategies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedEvent {
    Message {
        data: Vec<u8>,
        binary: bool,
        compressed: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close {
        code: Option<u16>,
        reason: Vec<u8>,
    },
}

/// Result of feeding a whole stream: every event, then the error that stopped it (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub events: Vec<OwnedEvent>,
    pub error: Option<ProtocolError>,
}

/// Feeds `pieces` in order and checks the receiver's invariants on the way.
pub fn run_receiver(cfg: &ReceiverConfig, pieces: &[&[u8]]) -> Outcome {
    let mut rx = Receiver::new(cfg.clone());
    let mut out = Outcome {
        events: Vec::new(),
        error: None,
    };
    let mut events = Vec::new();
    let mut closed = false;
    for piece in pieces {
        let mut input = piece.to_vec();
        events.clear();
        let r = rx.feed(&mut input, &mut events);
        if let Some(e) = out.error {
            assert_eq!(r, Err(e), "a failed receiver must keep returning its error");
            assert!(events.is_empty(), "events after failure");
            continue;
        }
        if closed {
            assert_eq!(r, Ok(()), "input after a close frame must be ignored");
            assert!(events.is_empty(), "events after a close frame");
            continue;
        }
        for ev in events.drain(..) {
            assert!(!closed, "event after a close event in the same feed");
            let owned = owned(cfg, ev, &input);
            closed = matches!(owned, OwnedEvent::Close { .. });
            out.events.push(owned);
        }
        assert_eq!(rx.is_closed(), closed);
        if let Err(e) = r {
            assert!(!closed);
            out.error = Some(e);
            assert!(matches!(e.close_code(), 1002 | 1007 | 1009));
            assert_eq!(
                rx.buffered_bytes(),
                0,
                "a failed receiver must release its buffers"
            );
        }
        // Partial header (<= 14) + partial control frame (<= 125) + message (<= limit).
        assert!(
            rx.buffered_bytes() <= cfg.max_payload_length.saturating_add(14 + 125),
            "buffered {} > limit {}",
            rx.buffered_bytes(),
            cfg.max_payload_length
        );
    }
    out
}

fn owned(cfg: &ReceiverConfig, ev: Event, input: &[u8]) -> OwnedEvent {
    match ev {
        Event::Message {
            payload,
            binary,
            compressed,
        } => {
            let data = payload.into_vec(input);
            assert!(
                data.len() <= cfg.max_payload_length,
                "message over the limit"
            );
            assert!(
                !compressed || cfg.allow_rsv1,
                "compressed without permessage-deflate"
            );
            if !binary && !compressed {
                assert!(
                    std::str::from_utf8(&data).is_ok(),
                    "invalid UTF-8 text delivered"
                );
            }
            OwnedEvent::Message {
                data,
                binary,
                compressed,
            }
        }
        Event::Ping(p) => {
            let p = p.into_vec(input);
            assert!(p.len() <= 125);
            OwnedEvent::Ping(p)
        }
        Event::Pong(p) => {
            let p = p.into_vec(input);
            assert!(p.len() <= 125);
            OwnedEvent::Pong(p)
        }
        Event::Close { code, reason } => {
            let reason = reason.into_vec(input);
            assert!(reason.len() <= 123);
            assert!(
                std::str::from_utf8(&reason).is_ok(),
                "invalid UTF-8 close reason"
            );
            match code {
                None => assert!(reason.is_empty()),
                Some(c) => assert!(
                    matches!(c, 1000..=1003 | 1007..=1014 | 3000..=4999),
                    "close code {c} must not be reported"
                ),
            }
            OwnedEvent::Close { code, reason }
        }
    }
}

use uws_core::http::router::{Router, PRIORITY_HIGH, PRIORITY_LOW, PRIORITY_MEDIUM};

/// The route table every routing target uses: (method, pattern, priority). `"*"` is `any`.
pub const ROUTES: &[(&str, &str, u8)] = &[
    ("get", "/ws", PRIORITY_HIGH),
    ("get", "/", PRIORITY_MEDIUM),
    ("get", "/a", PRIORITY_MEDIUM),
    ("get", "/a/", PRIORITY_MEDIUM),
    ("get", "/a/:id", PRIORITY_MEDIUM),
    ("get", "/a/:id/b", PRIORITY_MEDIUM),
    ("get", "/a/:id/:sub", PRIORITY_MEDIUM),
    ("post", "/a/:id", PRIORITY_MEDIUM),
    ("get", "/a/*", PRIORITY_MEDIUM),
    ("get", "/:x/:y", PRIORITY_MEDIUM),
    ("get", "/static/file.txt", PRIORITY_MEDIUM),
    ("get", "/users/:uid/posts/:pid", PRIORITY_MEDIUM),
    ("put", "/users/*", PRIORITY_MEDIUM),
    ("*", "/a/:id", PRIORITY_LOW),
    ("*", "/any/*", PRIORITY_LOW),
    ("get", "/ws/*", PRIORITY_HIGH),
    ("get", "/*", PRIORITY_MEDIUM),
    ("*", "/*", PRIORITY_LOW),
];

/// A router holding [`ROUTES`]; the handler is the index in that table.
pub fn fixed_router() -> Router<usize> {
    let mut r = Router::new();
    for (i, &(m, p, prio)) in ROUTES.iter().enumerate() {
        r.add(m, p, prio, i);
    }
    r
}
