//! Regression tests from fuzzing (fuzz/, `cargo fuzz`) and from the review done while writing
//! its reference models. Each test names the finding it pins down. The properties the fuzz
//! targets check continuously are also replayed here on representative inputs, so that
//! `cargo test` (and CI, which does not fuzz) keeps them.

use uws_core::http::chunked::{ChunkedDecoder, ChunkedError};
use uws_core::ws::{Event, FrameError, ProtocolError, Receiver, ReceiverConfig};

// ------------------------------------------------------------------------------ chunked --

fn decode(input: &[u8], step: usize) -> Result<(Vec<u8>, usize, bool), ChunkedError> {
    let mut d = ChunkedDecoder::new();
    let mut body = Vec::new();
    let mut total = 0;
    for piece in input.chunks(step.max(1)) {
        let (n, done) = d.feed(piece, &mut |b| body.extend_from_slice(b))?;
        total += n;
        if done {
            return Ok((body, total, true));
        }
    }
    Ok((body, total, false))
}

/// Finding (review of the chunked reference model): bytes other than whitespace between the
/// chunk size and `;`/CR were taken as an extension, so `0x5` decoded as a last chunk (size 0)
/// while lenient parsers (strtol-style) read 5: a request-smuggling desync. Now Malformed.
#[test]
fn chunked_size_must_be_followed_by_bws_semicolon_or_cr() {
    for bad in [
        &b"0x5\r\nhello\r\n0\r\n\r\n"[..],
        b"5xyz\r\nhello\r\n0\r\n\r\n",
        b"5 garbage\r\nhello\r\n0\r\n\r\n",
        b"0\x00\r\n\r\n",
        b"5\x0b\r\nhello\r\n0\r\n\r\n",
    ] {
        for step in [1, 2, bad.len()] {
            assert_eq!(
                decode(bad, step),
                Err(ChunkedError::Malformed),
                "{:?} step {step}",
                String::from_utf8_lossy(bad)
            );
        }
    }
    // What stays valid: BWS before the CR or the `;`, and any extension text.
    let ok = b"5 \t\r\nhello\r\n3 ; a=b\r\nabc\r\n1;x;y=\"z w\"\r\n!\r\n0 ;\r\n\r\n";
    for step in 1..=ok.len() {
        assert_eq!(
            decode(ok, step),
            Ok((b"helloabc!".to_vec(), ok.len(), true)),
            "step {step}"
        );
    }
}

// ----------------------------------------------------------------------------- receiver --

/// A masked client frame.
fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
    f
}

#[derive(Debug, PartialEq, Eq)]
enum Ev {
    Message(Vec<u8>, bool, bool),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, Vec<u8>),
}

/// Feeds `pieces` in order; returns every event and the error that stopped the stream.
fn feed_all(cfg: &ReceiverConfig, pieces: &[&[u8]]) -> (Vec<Ev>, Option<ProtocolError>) {
    let mut rx = Receiver::new(cfg.clone());
    let mut out = Vec::new();
    let mut events = Vec::new();
    for piece in pieces {
        let mut input = piece.to_vec();
        events.clear();
        let r = rx.feed(&mut input, &mut events);
        for e in events.drain(..) {
            out.push(match e {
                Event::Message {
                    payload,
                    binary,
                    compressed,
                } => Ev::Message(payload.into_vec(&input), binary, compressed),
                Event::Ping(p) => Ev::Ping(p.into_vec(&input)),
                Event::Pong(p) => Ev::Pong(p.into_vec(&input)),
                Event::Close { code, reason } => Ev::Close(code, reason.into_vec(&input)),
            });
        }
        if let Err(e) = r {
            return (out, Some(e));
        }
    }
    (out, None)
}

/// The `ws_receiver_split` fuzz property on representative streams: fed whole, cut at every
/// position, and one byte at a time, the receiver reports the same events and error.
#[test]
fn receiver_whole_vs_split_feeding() {
    let cat = |frames: &[Vec<u8>]| frames.concat();
    let streams: Vec<(&str, Vec<u8>)> = vec![
        (
            "fragments + ping",
            cat(&[
                frame(false, 0, 1, "h€".as_bytes()),
                frame(true, 0, 9, b"p"),
                frame(false, 0, 0, b"l"),
                frame(true, 0, 0, "lo ✓".as_bytes()),
            ]),
        ),
        (
            "16-bit length, then close + ignored data",
            cat(&[
                frame(true, 0, 2, &[7; 300]),
                frame(true, 0, 8, b"\x03\xe8bye"),
                frame(true, 0, 1, b"after"),
            ]),
        ),
        (
            "UTF-8 invalid only at the end of a fragmented message",
            cat(&[frame(false, 0, 1, b"ok \xe2\x82"), frame(true, 0, 0, b"")]),
        ),
        (
            "invalid close code after a message",
            cat(&[frame(true, 0, 1, b"x"), frame(true, 0, 8, b"\x03\xed")]),
        ),
        (
            "compressed message (RSV1) allowed",
            cat(&[frame(
                true,
                4,
                1,
                &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            )]),
        ),
        ("too big", cat(&[frame(true, 0, 2, &[1; 2000])])),
    ];
    let cfg = ReceiverConfig {
        max_payload_length: 1024,
        require_mask: true,
        allow_rsv1: true,
    };
    for (name, s) in &streams {
        let whole = feed_all(&cfg, &[s]);
        for cut in 0..=s.len() {
            let split = feed_all(&cfg, &[&s[..cut], &s[cut..]]);
            assert_eq!(whole, split, "{name}: cut at {cut}");
        }
        let bytes: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(whole, feed_all(&cfg, &bytes), "{name}: byte at a time");
    }
    // And the outcomes themselves.
    assert_eq!(
        feed_all(&cfg, &[&streams[0].1]).0,
        vec![
            Ev::Ping(b"p".to_vec()),
            Ev::Message("h€llo ✓".as_bytes().to_vec(), false, false)
        ]
    );
    assert_eq!(
        feed_all(&cfg, &[&streams[2].1]).1,
        Some(ProtocolError::InvalidUtf8)
    );
    assert_eq!(
        feed_all(&cfg, &[&streams[3].1]).1,
        Some(ProtocolError::InvalidFrame(FrameError::InvalidCloseCode(
            1005
        )))
    );
    assert_eq!(
        feed_all(&cfg, &[&streams[5].1]).1,
        Some(ProtocolError::TooBig)
    );
}

/// Hostile lengths: 2^63-1 is refused from the header alone, even with a limit far above any
/// real message (nothing is allocated for it); 2^63 is not a length at all.
#[test]
fn receiver_huge_announced_lengths() {
    let cfg = ReceiverConfig {
        max_payload_length: 1 << 40,
        require_mask: true,
        allow_rsv1: false,
    };
    let mut h = vec![0x82, 0xff];
    h.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
    h.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(feed_all(&cfg, &[&h]), (vec![], Some(ProtocolError::TooBig)));
    let mut h = vec![0x82, 0xff, 0x80];
    // The high bit is reported as soon as its byte arrives.
    assert_eq!(
        feed_all(&cfg, &[&h]),
        (
            vec![],
            Some(ProtocolError::InvalidFrame(FrameError::InvalidLength))
        )
    );
    h.extend_from_slice(&[0; 7]);
    assert_eq!(
        feed_all(&cfg, &[&h[..2], &h[2..]]),
        (
            vec![],
            Some(ProtocolError::InvalidFrame(FrameError::InvalidLength))
        )
    );
    // Within the limit the receiver only buffers what actually arrives.
    let mut rx = Receiver::new(cfg);
    let mut h = vec![0x82, 0xff];
    h.extend_from_slice(&(1u64 << 39).to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0]);
    h.extend_from_slice(&[9; 1000]);
    rx.feed(&mut h, &mut Vec::new()).unwrap();
    assert_eq!(rx.buffered_bytes(), 1000);
}
