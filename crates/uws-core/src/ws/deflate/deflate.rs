//! Compressing server messages (RFC 7692 7.2.1): raw DEFLATE ended by a sync flush, whose
//! `00 00 ff ff` is stripped.
//!
//! uWebSockets.js's two kinds map onto `context_takeover`:
//! - SHARED_COMPRESSOR: one compressor per loop (per window size here), reset after every
//!   message, so no socket owns compression memory and a published message is compressed once
//!   for all its subscribers; negotiated as `server_no_context_takeover`.
//! - DEDICATED_COMPRESSOR_xKB: a compressor per socket that keeps its window across messages
//!   (better ratios for chatty sockets); window bits and memLevel from the option.

use std::fmt;

use zlib_rs::{Deflate, DeflateConfig, DeflateFlush, Method, Status, Strategy};

use super::inflate::TAIL;

/// zlib's Z_DEFAULT_COMPRESSION (level 6), as uWebSockets uses.
const LEVEL: i32 = -1;
/// A sync flush needs a few bytes of room to complete; never call deflate with less.
const MIN_ROOM: usize = 64;

/// The compressor failed (it cannot with valid settings; kept to avoid a panic in the addon).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateError;

impl fmt::Display for DeflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deflate failed")
    }
}

impl std::error::Error for DeflateError {}

pub struct Deflater {
    z: Deflate,
    window_bits: u8,
    takeover: bool,
}

impl fmt::Debug for Deflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflater")
            .field("window_bits", &self.window_bits)
            .field("takeover", &self.takeover)
            .finish()
    }
}

impl Deflater {
    /// `window_bits` 9..=15 (8 becomes 9: zlib cannot deflate with a 256-byte window),
    /// `mem_level` 1..=9 (memory is about 2^(window_bits + 2) + 2^(mem_level + 9) bytes).
    pub fn new(window_bits: u8, mem_level: u8, context_takeover: bool) -> Deflater {
        let window_bits = window_bits.clamp(9, 15);
        let z = Deflate::new_with_config(DeflateConfig {
            level: LEVEL,
            method: Method::Deflated,
            window_bits: -i32::from(window_bits),
            mem_level: i32::from(mem_level.clamp(1, 9)),
            strategy: Strategy::Default,
        });
        Deflater {
            z,
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

    /// Appends to `out` the payload of a compressed message (a frame with RSV1) carrying
    /// `input`. Without context takeover the compressor is reset afterwards.
    ///
    /// On error the compressor is reset: a message sent with context takeover before is then
    /// out of the window the peer holds, so the caller must drop a dedicated compressor.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DeflateError> {
        if input.is_empty() {
            // An empty stored block (RFC 7692 7.2.3.6). zlib would emit nothing after a previous
            // flush; the block leaves the window and the byte alignment as they are.
            out.push(0x00);
            return Ok(());
        }
        let start = out.len();
        let result = self.run(input, out);
        if result.is_err() {
            out.truncate(start);
        }
        if result.is_err() || !self.takeover {
            self.z.reset();
        }
        result
    }

    fn run(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DeflateError> {
        let start = out.len();
        // Compressible data shrinks; the first guess is half, growth doubles.
        out.reserve(input.len() / 2 + MIN_ROOM);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < MIN_ROOM {
                out.reserve((out.len() - start).max(MIN_ROOM));
            }
            let (in_before, out_before) = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .compress_uninit(
                    &input[consumed..],
                    out.spare_capacity_mut(),
                    DeflateFlush::SyncFlush,
                )
                .map_err(|_| DeflateError)?;
            consumed += (self.z.total_in() - in_before) as usize;
            let produced = (self.z.total_out() - out_before) as usize;
            // SAFETY: zlib-rs initialised `produced` bytes of the spare capacity.
            unsafe { out.set_len(out.len() + produced) };
            // A flush is complete once all input went in and room was left over.
            if consumed == input.len() && out.len() < out.capacity() {
                break;
            }
            if status == Status::BufError && produced == 0 && consumed == input.len() {
                break;
            }
        }
        if !out[start..].ends_with(&TAIL) {
            return Err(DeflateError);
        }
        out.truncate(out.len() - TAIL.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::deflate::Inflater;

    fn round_trip(d: &mut Deflater, i: &mut Inflater, msg: &[u8]) -> usize {
        let (mut wire, mut out) = (Vec::new(), Vec::new());
        d.compress(msg, &mut wire).unwrap();
        i.inflate(&wire, msg.len(), &mut out).unwrap();
        assert_eq!(out, msg);
        wire.len()
    }

    #[test]
    fn rfc_hello() {
        let mut d = Deflater::new(15, 8, true);
        let mut wire = Vec::new();
        d.compress(b"Hello", &mut wire).unwrap();
        assert_eq!(wire, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        // Appends.
        d.compress(b"Hello", &mut wire).unwrap();
        assert_eq!(&wire[..7], [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        assert!(
            wire.len() - 7 < 7,
            "second Hello refers back: {:x?}",
            &wire[7..]
        );
    }

    #[test]
    fn context_takeover_across_messages() {
        let msg: Vec<u8> = (0..2000u32)
            .flat_map(|n| format!("<{n}>").into_bytes())
            .collect();
        let mut d = Deflater::new(15, 8, true);
        let mut i = Inflater::new(15, true);
        let first = round_trip(&mut d, &mut i, &msg);
        let second = round_trip(&mut d, &mut i, &msg);
        assert!(second * 10 < first, "first {first}, second {second}");
        round_trip(&mut d, &mut i, b"");
        round_trip(&mut d, &mut i, b"x");
        round_trip(&mut d, &mut i, &msg);
    }

    #[test]
    fn no_context_takeover_resets() {
        let msg = b"the same message, twice, without context".repeat(20);
        let mut d = Deflater::new(15, 8, false);
        // A decompressor without context takeover decodes every message on its own.
        let mut i = Inflater::new(15, false);
        let first = round_trip(&mut d, &mut i, &msg);
        let second = round_trip(&mut d, &mut i, &msg);
        assert_eq!(first, second);
        // So does one that keeps context (a dedicated inflater of a client in shared mode).
        let mut keep = Inflater::new(15, true);
        round_trip(&mut d, &mut keep, &msg);
        round_trip(&mut d, &mut keep, &msg);
    }

    #[test]
    fn large_and_incompressible() {
        // Pseudo-random bytes: output exceeds input, buffer growth is exercised.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut d = Deflater::new(15, 8, true);
        let mut i = Inflater::new(15, true);
        let n = round_trip(&mut d, &mut i, &noise);
        assert!(n > noise.len());
        round_trip(&mut d, &mut i, &noise[..1000]);
    }

    #[test]
    fn every_window_and_mem_level() {
        let msg: Vec<u8> = (0..5000u32)
            .flat_map(|n| (n % 251).to_string().into_bytes())
            .collect();
        for window in 8..=15 {
            for mem in [1, 8, 9] {
                let mut d = Deflater::new(window, mem, true);
                let mut i = Inflater::new(window, true);
                for _ in 0..3 {
                    round_trip(&mut d, &mut i, &msg);
                }
            }
        }
    }
}
