//! What a [`DeflateEngine`] must do under a [`Deflater`], as one check that panics on the first
//! failure: zlib-rs and the test engines run it in this crate's tests, and the addon runs it on
//! its host-zlib engine (against the system's libz), so every engine meets the same bar.

use super::deflate::{Deflater, EngineFactory};
use super::inflate::Inflater;

/// Compresses `msg`, inflates it back, returns the compressed size.
fn round_trip(d: &mut Deflater, i: &mut Inflater, msg: &[u8]) -> usize {
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    d.compress(msg, &mut wire).expect("compress");
    i.inflate(&wire, msg.len(), &mut out).expect("inflate");
    assert_eq!(out, msg, "inflates back to the message");
    wire.len()
}

/// Pseudo-random bytes: they do not compress, so the output outgrows the first guess.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Runs every check on engines from `make` (panics on a failure).
pub fn check_engine(make: EngineFactory) {
    // RFC 7692 7.2.3.1, and appending to what `out` already holds.
    let mut d = Deflater::with_engine(15, 8, true, make);
    let mut wire = Vec::new();
    d.compress(b"Hello", &mut wire).expect("compress");
    assert_eq!(wire, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    d.compress(b"Hello", &mut wire).expect("compress");
    assert!(
        wire.len() - 7 < 7,
        "a second Hello refers back: {:x?}",
        &wire[7..]
    );

    // Context takeover: the window carries over from message to message.
    let msg: Vec<u8> = (0..2000u32)
        .flat_map(|n| format!("<{n}>").into_bytes())
        .collect();
    let mut d = Deflater::with_engine(15, 8, true, make);
    let mut i = Inflater::new(15, true);
    let first = round_trip(&mut d, &mut i, &msg);
    let second = round_trip(&mut d, &mut i, &msg);
    assert!(
        second * 10 < first,
        "window carried over: {first} then {second}"
    );
    for m in [&b""[..], b"x", &msg[..10], &msg] {
        round_trip(&mut d, &mut i, m);
    }

    // No takeover: every message stands alone, for an inflater that resets and one that
    // keeps its window (a client in shared mode) alike.
    let mut d = Deflater::with_engine(15, 8, false, make);
    let mut fresh = Inflater::new(15, false);
    let mut keep = Inflater::new(15, true);
    let once = round_trip(&mut d, &mut fresh, &msg);
    assert_eq!(
        round_trip(&mut d, &mut fresh, &msg),
        once,
        "reset between messages"
    );
    round_trip(&mut d, &mut keep, &msg);
    round_trip(&mut d, &mut keep, b"");
    round_trip(&mut d, &mut keep, &msg);

    // Larger than the input, with the output buffer grown along the way.
    let noise = noise(300_000);
    let mut d = Deflater::with_engine(15, 8, true, make);
    let mut i = Inflater::new(15, true);
    assert!(round_trip(&mut d, &mut i, &noise) > noise.len());
    round_trip(&mut d, &mut i, &noise[..1000]);

    // Every window (8 is deflated as 9) and memLevel at their bounds.
    let msg: Vec<u8> = (0..5000u32)
        .flat_map(|n| (n % 251).to_string().into_bytes())
        .collect();
    for window in 8..=15 {
        for mem in [1, 8, 9] {
            let mut d = Deflater::with_engine(window, mem, true, make);
            let mut i = Inflater::new(window, true);
            for _ in 0..3 {
                round_trip(&mut d, &mut i, &msg);
            }
        }
    }
}
