//! Inflating client messages (RFC 7692 7.2.2): raw DEFLATE, with the `00 00 ff ff` that the
//! sender stripped appended again, and the output bounded while it is produced: a message that
//! inflates past the limit fails as soon as it crosses it, so a small bomb (10 MB of zeros is
//! ~10 kB deflated) costs at most the limit in memory and about as much in time.
//!
//! ```
//! use uws_core::ws::deflate::{Deflater, Inflater, InflateError};
//!
//! let mut d = Deflater::new(15, 8, true);
//! let mut i = Inflater::new(15, true);
//! let (mut wire, mut out) = (Vec::new(), Vec::new());
//! d.compress(b"Hello", &mut wire).unwrap();
//! i.inflate(&wire, 1024, &mut out).unwrap();
//! assert_eq!(out, b"Hello");
//! assert_eq!(i.inflate(&wire, 4, &mut out), Err(InflateError::TooBig));
//! ```

use std::fmt;

use zlib_rs::{Inflate, InflateFlush, Status};

/// The bytes every message's sync flush ends with; senders strip them (RFC 7692 7.2.1).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// First output allocation, unless the limit is smaller.
const MIN_OUTPUT: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The message inflates to more than the limit.
    TooBig,
    /// Not a valid DEFLATE stream (or one that refers beyond the negotiated window).
    Invalid,
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InflateError::TooBig => "inflated message too big",
            InflateError::Invalid => "invalid compressed message",
        })
    }
}

impl std::error::Error for InflateError {}

/// One inflating stream: with context takeover the window carries over from message to
/// message (one per socket); without, it is reset after every message (one can serve a whole
/// loop).
pub struct Inflater {
    z: Inflate,
    window_bits: u8,
    takeover: bool,
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("window_bits", &self.window_bits)
            .field("takeover", &self.takeover)
            .finish()
    }
}

impl Inflater {
    /// `window_bits` is clamped to 9..=15 (a larger window than the peer's is always safe, and
    /// zlib deflates a requested 8 with 9).
    pub fn new(window_bits: u8, context_takeover: bool) -> Inflater {
        let window_bits = window_bits.clamp(9, 15);
        Inflater {
            z: Inflate::new(false, window_bits),
            window_bits,
            takeover: context_takeover,
        }
    }

    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    pub fn context_takeover(&self) -> bool {
        self.takeover
    }

    /// Inflates one whole message (the payload of a data message with RSV1 set) into `out`
    /// (cleared first), producing at most `max` bytes.
    ///
    /// On error `out` holds an unspecified prefix and the stream is reset: the connection is to
    /// be failed, but a shared inflater stays usable for other sockets.
    pub fn inflate(
        &mut self,
        input: &[u8],
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), InflateError> {
        out.clear();
        let result = self.run(input, max, out);
        if result.is_err() || !self.takeover {
            self.reset();
        }
        result
    }

    fn reset(&mut self) {
        if self.window_bits == 15 {
            self.z.reset(false);
        } else {
            // zlib-rs's reset goes back to the default 15-bit window.
            self.z = Inflate::new(false, self.window_bits);
        }
    }

    fn run(&mut self, input: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), InflateError> {
        // Compression ratios of text are ~3-10: start there, then double, never past max + 1
        // (one byte more than allowed is how "too big" is seen).
        let first = input.len().saturating_mul(4).max(MIN_OUTPUT);
        for chunk in [input, &TAIL[..]] {
            let mut consumed = 0;
            loop {
                if out.len() == out.capacity() {
                    if out.len() > max {
                        return Err(InflateError::TooBig);
                    }
                    let target = out
                        .capacity()
                        .saturating_mul(2)
                        .max(first)
                        .min(max.saturating_add(1));
                    out.reserve_exact(target - out.len());
                }
                let (in_before, out_before) = (self.z.total_in(), self.z.total_out());
                let status = self
                    .z
                    .decompress_uninit(
                        &chunk[consumed..],
                        out.spare_capacity_mut(),
                        InflateFlush::SyncFlush,
                    )
                    .map_err(|_| InflateError::Invalid)?;
                consumed += (self.z.total_in() - in_before) as usize;
                let produced = (self.z.total_out() - out_before) as usize;
                // SAFETY: zlib-rs initialised `produced` bytes of the spare capacity.
                unsafe { out.set_len(out.len() + produced) };
                if out.len() > max {
                    return Err(InflateError::TooBig);
                }
                match status {
                    // A final block (BFINAL, RFC 7692 7.2.3.4): the message is complete; what
                    // follows it (our appended tail) is not part of the stream.
                    Status::StreamEnd => {
                        self.z.reset(false);
                        if self.window_bits != 15 {
                            self.z = Inflate::new(false, self.window_bits);
                        }
                        return Ok(());
                    }
                    Status::Ok | Status::BufError => {}
                }
                // Done with this chunk once all of it went in and the output was not the
                // limiting factor (zlib's rule for a flush: avail_out != 0 after the call).
                if consumed == chunk.len() && out.len() < out.capacity() {
                    break;
                }
                if produced == 0 && consumed < chunk.len() && out.len() < out.capacity() {
                    // No progress with both input and room: cannot happen for valid streams.
                    return Err(InflateError::Invalid);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::deflate::Deflater;

    /// RFC 7692 7.2.3.1/7.2.3.2: "Hello", then "Hello" again with context takeover.
    const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    const HELLO_AGAIN: [u8; 5] = [0xf2, 0x00, 0x11, 0x00, 0x00];

    #[test]
    fn rfc_examples() {
        let mut i = Inflater::new(15, true);
        let mut out = Vec::new();
        i.inflate(&HELLO, 100, &mut out).unwrap();
        assert_eq!(out, b"Hello");
        i.inflate(&HELLO_AGAIN, 100, &mut out).unwrap();
        assert_eq!(out, b"Hello");
        // Without context takeover the back reference points before the stream.
        let mut fresh = Inflater::new(15, false);
        assert_eq!(
            fresh.inflate(&HELLO_AGAIN, 100, &mut out),
            Err(InflateError::Invalid)
        );
        // ...and a reset inflater works again.
        fresh.inflate(&HELLO, 100, &mut out).unwrap();
        assert_eq!(out, b"Hello");
        // 7.2.3.3: no compression (a stored block), 7.2.3.4: BFINAL set.
        i.inflate(
            &[
                0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
            ],
            100,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"Hello");
        let mut j = Inflater::new(15, true);
        j.inflate(
            &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
            100,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"Hello");
        j.inflate(&HELLO, 100, &mut out).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn empty_message() {
        let mut i = Inflater::new(15, true);
        let mut out = vec![1, 2, 3];
        i.inflate(&[0x00], 0, &mut out).unwrap();
        assert!(out.is_empty());
        i.inflate(&[0x02, 0x00], 0, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn garbage_is_invalid() {
        let mut i = Inflater::new(15, true);
        let mut out = Vec::new();
        assert_eq!(
            i.inflate(&[0xff, 0xff, 0xff, 0xff], 100, &mut out),
            Err(InflateError::Invalid)
        );
    }

    #[test]
    fn limit_is_exact() {
        let msg = vec![b'a'; 5000];
        let mut d = Deflater::new(15, 8, false);
        let mut wire = Vec::new();
        d.compress(&msg, &mut wire).unwrap();
        let mut i = Inflater::new(15, false);
        let mut out = Vec::new();
        i.inflate(&wire, 5000, &mut out).unwrap();
        assert_eq!(out, msg);
        assert_eq!(i.inflate(&wire, 4999, &mut out), Err(InflateError::TooBig));
        // The shared inflater is usable after the failure.
        i.inflate(&wire, 5000, &mut out).unwrap();
        assert_eq!(out, msg);
    }

    /// 10 MB of zeros deflate to ~10 kB; inflating stops at the limit, allocating no more.
    #[test]
    fn bomb_costs_nothing() {
        let zeros = vec![0u8; 10 << 20];
        let mut d = Deflater::new(15, 8, false);
        let mut bomb = Vec::new();
        d.compress(&zeros, &mut bomb).unwrap();
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        drop(zeros);
        let mut i = Inflater::new(15, false);
        let mut out = Vec::new();
        let limit = 16 * 1024;
        let start = std::time::Instant::now();
        assert_eq!(i.inflate(&bomb, limit, &mut out), Err(InflateError::TooBig));
        assert!(out.capacity() <= limit + 1, "{}", out.capacity());
        assert!(start.elapsed() < std::time::Duration::from_millis(100));
        // A larger limit: still bounded by it, not by the 10 MB.
        assert_eq!(
            i.inflate(&bomb, 1 << 20, &mut out),
            Err(InflateError::TooBig)
        );
        assert!(out.capacity() <= (1 << 20) + 1);
        i.inflate(&bomb, 10 << 20, &mut out).unwrap();
        assert_eq!(out.len(), 10 << 20);
    }

    #[test]
    fn small_windows() {
        // A client limited to 9 bits, a dedicated inflater of 9 bits with context takeover.
        let mut d = Deflater::new(9, 1, true);
        let mut i = Inflater::new(9, true);
        let (mut wire, mut out) = (Vec::new(), Vec::new());
        let text: Vec<u8> = (0..3000u32)
            .flat_map(|n| format!("{n} ").into_bytes())
            .collect();
        for _ in 0..3 {
            wire.clear();
            d.compress(&text, &mut wire).unwrap();
            i.inflate(&wire, text.len(), &mut out).unwrap();
            assert_eq!(out, text);
        }
        // Window 8 is inflated with 9.
        assert_eq!(Inflater::new(8, true).window_bits(), 9);
    }
}
