//! Compressing server messages (RFC 7692 7.2.1): raw DEFLATE ended by a sync flush, whose
//! `00 00 ff ff` is stripped.
//!
//! uWebSockets.js's two kinds map onto `context_takeover`:
//! - SHARED_COMPRESSOR: one compressor per loop (per window size here), reset after every
//!   message, so no socket owns compression memory and a published message is compressed once
//!   for all its subscribers; negotiated as `server_no_context_takeover`.
//! - DEDICATED_COMPRESSOR_xKB: a compressor per socket that keeps its window across messages
//!   (better ratios for chatty sockets); window bits and memLevel from the option.
//!
//! The DEFLATE stream itself is a [`DeflateEngine`]: zlib-rs by default. The addon plugs in the
//! host process's zlib where it has one (Node's own, which uWebSockets.js compresses with): on
//! small messages zlib-rs spends about 40% more per message (its reset clears a hash table twice
//! zlib's size, and builds Huffman trees slower). Inflating untrusted input stays in zlib-rs.

use std::fmt;
use std::mem::MaybeUninit;

use zlib_rs::{Deflate, DeflateConfig, DeflateFlush, Method, Strategy};

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

/// A raw DEFLATE compressing stream (no zlib header), as [`Deflater`] drives it.
///
/// # Safety
/// `sync_flush` must report in its second result exactly a prefix of `out` it initialised:
/// the caller marks those bytes as initialised.
pub unsafe trait DeflateEngine {
    /// Compresses as much of `input` as it takes and writes as much output as fits in `out`,
    /// ending with a sync flush (RFC 7692's `00 00 ff ff`) once all input went in. As with zlib,
    /// leaving room in `out` unused means the flush is complete. Returns (input bytes
    /// consumed, output bytes written).
    fn sync_flush(
        &mut self,
        input: &[u8],
        out: &mut [MaybeUninit<u8>],
    ) -> Result<(usize, usize), DeflateError>;
    /// Forgets the window and any pending state: the next message starts without context.
    fn reset(&mut self);
}

/// zlib-rs: zlib in Rust.
pub struct ZlibRsEngine(Deflate);

impl ZlibRsEngine {
    /// `window_bits` 9..=15, `mem_level` 1..=9 (as [`Deflater::new`] clamps them).
    pub fn new(window_bits: u8, mem_level: u8) -> ZlibRsEngine {
        ZlibRsEngine(Deflate::new_with_config(DeflateConfig {
            level: LEVEL,
            method: Method::Deflated,
            window_bits: -i32::from(window_bits),
            mem_level: i32::from(mem_level),
            strategy: Strategy::Default,
        }))
    }
}

// SAFETY: the written count is the growth of zlib-rs's total_out, the bytes compress_uninit
// initialised at the start of `out`.
unsafe impl DeflateEngine for ZlibRsEngine {
    fn sync_flush(
        &mut self,
        input: &[u8],
        out: &mut [MaybeUninit<u8>],
    ) -> Result<(usize, usize), DeflateError> {
        let (in_before, out_before) = (self.0.total_in(), self.0.total_out());
        self.0
            .compress_uninit(input, out, DeflateFlush::SyncFlush)
            .map_err(|_| DeflateError)?;
        Ok((
            (self.0.total_in() - in_before) as usize,
            (self.0.total_out() - out_before) as usize,
        ))
    }

    fn reset(&mut self) {
        self.0.reset();
    }
}

/// Makes the engine for a [`Deflater`] from the clamped window bits and memLevel; `None` to
/// fall back to zlib-rs.
pub type EngineFactory<'a> = &'a dyn Fn(u8, u8) -> Option<Box<dyn DeflateEngine>>;

pub struct Deflater {
    z: Box<dyn DeflateEngine>,
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
        Self::with_engine(window_bits, mem_level, context_takeover, &|_, _| None)
    }

    /// As [`Deflater::new`], on the engine `make` returns (zlib-rs if it returns `None`).
    pub fn with_engine(
        window_bits: u8,
        mem_level: u8,
        context_takeover: bool,
        make: EngineFactory,
    ) -> Deflater {
        let window_bits = window_bits.clamp(9, 15);
        let mem_level = mem_level.clamp(1, 9);
        let z = make(window_bits, mem_level)
            .unwrap_or_else(|| Box::new(ZlibRsEngine::new(window_bits, mem_level)));
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
            let (took, produced) = self
                .z
                .sync_flush(&input[consumed..], out.spare_capacity_mut())?;
            consumed += took;
            // SAFETY: a DeflateEngine initialised `produced` bytes of the spare capacity.
            unsafe { out.set_len(out.len() + produced) };
            // A flush is complete once all input went in and room was left over (or, when the
            // output ended exactly at the end of the room, once nothing more comes).
            if consumed == input.len() && (out.len() < out.capacity() || produced == 0) {
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
    use crate::ws::deflate::engine_checks::check_engine;

    #[test]
    fn zlib_rs_passes_the_engine_checks() {
        // No engine offered: Deflater falls back to zlib-rs, as Deflater::new does.
        check_engine(&|_, _| None);
    }

    /// Takes at most 257 input bytes per call (each call then ends in a sync flush of its own):
    /// the driving loop must keep calling until all input went in.
    struct Trickle(ZlibRsEngine);

    // SAFETY: forwards ZlibRsEngine's count for the prefix of `out` it was given.
    unsafe impl DeflateEngine for Trickle {
        fn sync_flush(
            &mut self,
            input: &[u8],
            out: &mut [MaybeUninit<u8>],
        ) -> Result<(usize, usize), DeflateError> {
            self.0.sync_flush(&input[..input.len().min(257)], out)
        }
        fn reset(&mut self) {
            self.0.reset();
        }
    }

    #[test]
    fn an_engine_at_any_pace() {
        check_engine(&|w, m| Some(Box::new(Trickle(ZlibRsEngine::new(w, m)))));
    }

    #[test]
    fn deflater_new_is_zlib_rs() {
        let mut d = Deflater::new(15, 8, false);
        let mut wire = Vec::new();
        d.compress(b"Hello", &mut wire).unwrap();
        assert_eq!(wire, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        assert!(!d.context_takeover());
        assert_eq!(Deflater::new(8, 1, true).window_bits(), 9);
    }
}
