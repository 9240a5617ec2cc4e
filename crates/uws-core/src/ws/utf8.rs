//! Incremental UTF-8 validation for text messages that arrive in pieces (fragments, or a frame
//! split across reads).
//!
//! Fail-fast: a byte that can never be part of valid UTF-8 is reported by the `feed` call that
//! delivers it (Autobahn 6.4.x checks this), not at the end of the message. Only a valid but
//! incomplete trailing sequence (at most 3 bytes) is carried over to the next `feed`.

use std::fmt;

/// The bytes are not (and can never become) valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error;

impl fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

impl std::error::Error for Utf8Error {}

/// Whole-buffer validation (SIMD; the fast path for text that arrives in one piece).
#[inline]
pub fn is_valid(bytes: &[u8]) -> bool {
    simdutf8::basic::from_utf8(bytes).is_ok()
}

/// Validation state across pieces of one text message.
#[derive(Debug, Default, Clone)]
pub struct Utf8Stream {
    /// The start of a sequence cut by the end of the previous piece.
    pending: [u8; 4],
    pending_len: u8,
}

impl Utf8Stream {
    /// Validates the next piece of the message.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Utf8Error> {
        let result = self.feed_inner(bytes);
        if result.is_err() {
            self.pending_len = 0;
        }
        result
    }

    /// Ends the message: an incomplete trailing sequence is an error. Resets the state.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let complete = self.pending_len == 0;
        self.pending_len = 0;
        if complete {
            Ok(())
        } else {
            Err(Utf8Error)
        }
    }

    /// Bytes of an incomplete sequence held for the next `feed` (0 to 3).
    pub fn pending_len(&self) -> usize {
        self.pending_len as usize
    }

    fn feed_inner(&mut self, mut bytes: &[u8]) -> Result<(), Utf8Error> {
        if self.pending_len > 0 {
            match self.complete_pending(bytes)? {
                Some(used) => bytes = &bytes[used..],
                None => return Ok(()),
            }
        }

        let split = incomplete_tail_start(bytes);
        let (body, tail) = bytes.split_at(split);
        // `body` ends on a sequence boundary, so the faster non-positional validator suffices.
        if !is_valid(body) {
            return Err(Utf8Error);
        }
        if !tail.is_empty() {
            self.hold_if_prefix(tail)?;
        }
        Ok(())
    }

    /// Tops up the pending sequence from `bytes`. Returns how many bytes of `bytes` it used, or
    /// `None` when `bytes` ran out before the sequence was complete.
    fn complete_pending(&mut self, bytes: &[u8]) -> Result<Option<usize>, Utf8Error> {
        let held = self.pending_len as usize;
        let width = sequence_width(self.pending[0]);
        let used = width.saturating_sub(held).min(bytes.len());
        let mut seq = self.pending;
        seq[held..held + used].copy_from_slice(&bytes[..used]);
        match simdutf8::compat::from_utf8(&seq[..held + used]) {
            Ok(_) => {
                self.pending_len = 0;
                Ok(Some(used))
            }
            // Still a valid prefix: only possible when `bytes` is exhausted.
            Err(e) if e.error_len().is_none() => {
                self.pending = seq;
                self.pending_len = (held + used) as u8;
                Ok(None)
            }
            Err(_) => Err(Utf8Error),
        }
    }

    /// Keeps `tail` (1 to 3 bytes starting a longer sequence) if it can still become valid.
    fn hold_if_prefix(&mut self, tail: &[u8]) -> Result<(), Utf8Error> {
        match simdutf8::compat::from_utf8(tail) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(Utf8Error),
        }
    }
}

/// Length of the sequence a lead byte starts; 0 for bytes that cannot start one.
const fn sequence_width(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 0,
    }
}

/// Where a sequence cut short by the end of `bytes` starts, or `bytes.len()` if none is.
fn incomplete_tail_start(bytes: &[u8]) -> usize {
    let n = bytes.len();
    for back in 1..=n.min(3) {
        let lead = bytes[n - back];
        if lead & 0xc0 != 0x80 {
            // An invalid lead (width 0) is left in the body, where validation rejects it.
            return if sequence_width(lead) > back {
                n - back
            } else {
                n
            };
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_ok(pieces: &[&[u8]]) -> Result<(), Utf8Error> {
        let mut s = Utf8Stream::default();
        for p in pieces {
            s.feed(p)?;
        }
        s.finish()
    }

    #[test]
    fn every_split_of_valid_text_is_valid() {
        let text = "aé€😀 ascii Ελληνικά 中文 𝄞".as_bytes();
        for i in 0..=text.len() {
            for j in i..=text.len() {
                assert_eq!(
                    stream_ok(&[&text[..i], &text[i..j], &text[j..]]),
                    Ok(()),
                    "{i} {j}"
                );
            }
        }
    }

    #[test]
    fn byte_by_byte_matches_std() {
        let samples: &[&[u8]] = &[
            b"hello",
            "κόσμε".as_bytes(),
            &[
                0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80,
            ],
            &[0xf4, 0x90, 0x80, 0x80],
            &[0xf0, 0x9f, 0x98],
            &[0xc0, 0xaf],
            &[0xed, 0x9f, 0xbf],
            &[0xef, 0xbf, 0xbf],
            &[0x80],
            &[0xff],
            &[0xe0, 0x80, 0x80],
        ];
        for sample in samples {
            let expected = std::str::from_utf8(sample).is_ok();
            let pieces: Vec<&[u8]> = sample.chunks(1).collect();
            assert_eq!(stream_ok(&pieces).is_ok(), expected, "{sample:x?}");
            assert_eq!(stream_ok(&[sample]).is_ok(), expected, "{sample:x?}");
        }
    }

    #[test]
    fn fails_on_the_first_impossible_byte() {
        // UTF-16 surrogate: 0xed 0xa0 can never continue validly.
        let mut s = Utf8Stream::default();
        assert_eq!(s.feed(b"ok \xed"), Ok(()));
        assert_eq!(s.feed(b"\xa0"), Err(Utf8Error));

        // Code point above U+10FFFF, detected at the second byte.
        let mut s = Utf8Stream::default();
        assert_eq!(s.feed(b"\xf4"), Ok(()));
        assert_eq!(s.feed(b"\x90"), Err(Utf8Error));

        // Invalid tail inside a single piece is reported by that piece.
        let mut s = Utf8Stream::default();
        assert_eq!(s.feed(b"abc\xe0\x80"), Err(Utf8Error));
        let mut s = Utf8Stream::default();
        assert_eq!(s.feed(b"abc\xf8"), Err(Utf8Error));

        // A continuation byte with nothing to continue.
        let mut s = Utf8Stream::default();
        assert_eq!(s.feed(b"\xa9"), Err(Utf8Error));
    }

    #[test]
    fn pending_sequence_completed_across_three_pieces() {
        let mut s = Utf8Stream::default();
        s.feed(b"x\xf0").unwrap();
        assert_eq!(s.pending_len(), 1);
        s.feed(b"\x9f").unwrap();
        s.feed(b"").unwrap();
        s.feed(b"\x98").unwrap();
        assert_eq!(s.pending_len(), 3);
        s.feed(b"\x80 tail").unwrap();
        assert_eq!(s.pending_len(), 0);
        assert_eq!(s.finish(), Ok(()));
    }

    #[test]
    fn incomplete_at_end_fails_and_resets() {
        let mut s = Utf8Stream::default();
        s.feed(b"\xe2\x82").unwrap();
        assert_eq!(s.finish(), Err(Utf8Error));
        // Reset: the next message starts clean.
        s.feed(b"abc").unwrap();
        assert_eq!(s.finish(), Ok(()));
    }

    #[test]
    fn is_valid_whole() {
        assert!(is_valid("€".as_bytes()));
        assert!(!is_valid(b"\xe2\x82"));
    }
}
