//! `Transfer-Encoding: chunked`: a resumable request-body decoder and response-side helpers.
//!
//! The decoder is strict about line endings (CRLF only) because lenient chunk parsing is a
//! classic request-smuggling vector. Chunk extensions are ignored and trailers are skipped.

use std::fmt;

/// Last chunk plus the empty trailer section, ending a chunked response.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Largest chunk size accepted; anything bigger is an attack or a bug, and keeping it far
/// below `u64::MAX` means size arithmetic can never overflow.
const MAX_CHUNK_SIZE: u64 = 1 << 52;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    /// Not valid chunked framing (bad hex, bare LF, missing CRLF after data...).
    Malformed,
    /// A chunk size above the supported maximum.
    TooLarge,
}

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed chunked body",
            Self::TooLarge => "chunk too large",
        })
    }
}

impl std::error::Error for ChunkedError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Reading hex digits of a chunk size; `seen_digit` rejects an empty size.
    #[default]
    Size,
    /// After the size: optional whitespace, then `;` or CR.
    SizeWs,
    /// Inside `;extension`, up to CR.
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    TrailerLine,
    TrailerLf,
    FinalLf,
    Done,
}

/// Resumable decoder: feed it whatever bytes arrived, in any fragmentation.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: State,
    /// Chunk size being parsed, then bytes left in the current chunk.
    remaining: u64,
    seen_digit: bool,
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the last chunk and trailers were consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes from `input`, calling `on_data` with body pieces borrowed from `input`.
    /// Returns `(consumed, done)`. When `done`, bytes after `consumed` belong to the next
    /// request (pipelining) and were not looked at.
    pub fn feed(
        &mut self,
        input: &[u8],
        on_data: &mut dyn FnMut(&[u8]),
    ) -> Result<(usize, bool), ChunkedError> {
        let mut i = 0;
        while i < input.len() {
            let c = input[i];
            match self.state {
                State::Size => match hex_digit(c) {
                    Some(d) => {
                        self.remaining = self.remaining * 16 + u64::from(d);
                        if self.remaining > MAX_CHUNK_SIZE {
                            return Err(ChunkedError::TooLarge);
                        }
                        self.seen_digit = true;
                    }
                    None if !self.seen_digit => return Err(ChunkedError::Malformed),
                    None => {
                        self.state = State::SizeWs;
                        continue; // re-examine this byte after the size
                    }
                },
                // RFC 9112 7.1.1: only BWS may sit between the size and `;ext`. Anything else
                // (`0x5`, `5xyz`) is rejected: a proxy reading `0x5` as 5 while we read 0 is a
                // request-smuggling desync.
                State::SizeWs => match c {
                    b' ' | b'\t' => {}
                    b';' => self.state = State::Extension,
                    b'\r' => self.state = State::SizeLf,
                    _ => return Err(ChunkedError::Malformed),
                },
                State::Extension => match c {
                    b'\r' => self.state = State::SizeLf,
                    b'\n' => return Err(ChunkedError::Malformed),
                    _ => {}
                },
                State::SizeLf => {
                    expect_lf(c)?;
                    self.seen_digit = false;
                    self.state = if self.remaining == 0 {
                        State::TrailerStart
                    } else {
                        State::Data
                    };
                }
                State::Data => {
                    let available = (input.len() - i) as u64;
                    let take = available.min(self.remaining) as usize;
                    on_data(&input[i..i + take]);
                    self.remaining -= take as u64;
                    i += take;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    continue;
                }
                State::DataCr => {
                    if c != b'\r' {
                        return Err(ChunkedError::Malformed);
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    expect_lf(c)?;
                    self.state = State::Size;
                }
                State::TrailerStart => {
                    self.state = match c {
                        b'\r' => State::FinalLf,
                        b'\n' => return Err(ChunkedError::Malformed),
                        _ => State::TrailerLine,
                    }
                }
                State::TrailerLine => match c {
                    b'\r' => self.state = State::TrailerLf,
                    b'\n' => return Err(ChunkedError::Malformed),
                    _ => {}
                },
                State::TrailerLf => {
                    expect_lf(c)?;
                    self.state = State::TrailerStart;
                }
                State::FinalLf => {
                    expect_lf(c)?;
                    self.state = State::Done;
                    return Ok((i + 1, true));
                }
                State::Done => return Ok((i, true)),
            }
            i += 1;
        }
        Ok((i, self.state == State::Done))
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn expect_lf(c: u8) -> Result<(), ChunkedError> {
    if c == b'\n' {
        Ok(())
    } else {
        Err(ChunkedError::Malformed)
    }
}

/// Writes `<hex len>\r\n` (lower-case hex, no leading zeros) into `out`; returns its length.
pub fn chunk_header(out: &mut [u8; 18], len: usize) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = if len == 0 {
        1
    } else {
        (usize::BITS - len.leading_zeros()).div_ceil(4) as usize
    };
    for (k, slot) in out[..digits].iter_mut().enumerate() {
        let shift = 4 * (digits - 1 - k);
        *slot = HEX[(len >> shift) & 0xF];
    }
    out[digits] = b'\r';
    out[digits + 1] = b'\n';
    digits + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` split at every `step` bytes; returns (body, consumed, done).
    fn run(input: &[u8], step: usize) -> Result<(Vec<u8>, usize, bool), ChunkedError> {
        let mut dec = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut total = 0;
        for piece in input.chunks(step) {
            let (n, done) = dec.feed(piece, &mut |d| body.extend_from_slice(d))?;
            total += n;
            if done {
                return Ok((body, total, true));
            }
            assert_eq!(n, piece.len(), "must consume everything until done");
        }
        Ok((body, total, false))
    }

    #[test]
    fn simple_body_any_fragmentation() {
        let input = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        for step in 1..=input.len() {
            let (body, n, done) = run(input, step).unwrap();
            assert_eq!(body, b"hello world");
            assert_eq!((n, done), (input.len(), true), "step {step}");
        }
    }

    #[test]
    fn data_is_zero_copy_slices_of_input() {
        let input = b"3\r\nabc\r\n0\r\n\r\n";
        let mut dec = ChunkedDecoder::new();
        let mut ptrs = Vec::new();
        dec.feed(input, &mut |d| ptrs.push(d.as_ptr())).unwrap();
        assert_eq!(ptrs, vec![input[3..].as_ptr()]);
    }

    #[test]
    fn extensions_ignored_and_trailers_skipped() {
        let input = b"3;ext=1;q=\"x\"\r\nabc\r\nA \r\n0123456789\r\n2 \t; e\r\nxy\r\n0;last\r\nTrailer: x\r\nOther: y\r\n\r\n";
        let (body, n, done) = run(input, 1).unwrap();
        assert_eq!(body, b"abc0123456789xy");
        assert_eq!((n, done), (input.len(), true));
    }

    #[test]
    fn stops_at_end_for_pipelining() {
        let input = b"1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        let mut dec = ChunkedDecoder::new();
        let (n, done) = dec.feed(input, &mut |_| {}).unwrap();
        assert!(done && dec.is_done());
        assert_eq!(&input[n..], b"GET / HTTP/1.1\r\n");
        assert_eq!(dec.feed(b"more", &mut |_| {}).unwrap(), (0, true));
    }

    #[test]
    fn uppercase_hex_and_leading_zeros() {
        let (body, _, done) = run(b"000B\r\nhello world\r\n00\r\n\r\n", 4).unwrap();
        assert_eq!((body.as_slice(), done), (&b"hello world"[..], true));
    }

    #[test]
    fn incomplete_is_not_done() {
        let (body, n, done) = run(b"5\r\nhel", 100).unwrap();
        assert_eq!((body.as_slice(), n, done), (&b"hel"[..], 6, false));
    }

    #[test]
    fn malformed_inputs() {
        for bad in [
            &b"\r\n"[..],
            b"x\r\n",
            b";ext\r\n",
            b"5\nhello\r\n",
            b"5\r\nhelloX\r\n",
            b"5\r\nhello\rX",
            b"5\r\nhello\n",
            b"0\r\n\n",
            b"0\r\nTrailer: x\n",
            b"0\r\n\rX",
            b"5\r\rhello",
            // Nothing but whitespace may follow the size before `;` (see State::SizeWs).
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5xyz\r\nhello\r\n",
            b"5 abc\r\nhello\r\n",
            b"5 \x0b;x\r\nhello\r\n",
            b"5\x00\r\nhello\r\n",
        ] {
            assert_eq!(
                run(bad, 1).unwrap_err(),
                ChunkedError::Malformed,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn too_large() {
        assert_eq!(
            run(b"fffffffffffffffff\r\n", 3).unwrap_err(),
            ChunkedError::TooLarge
        );
        assert_eq!(
            run(b"20000000000001\r\n", 3).unwrap_err(),
            ChunkedError::TooLarge
        );
    }

    #[test]
    fn chunk_header_formats() {
        let mut out = [0u8; 18];
        for (len, want) in [
            (0usize, &b"0\r\n"[..]),
            (1, b"1\r\n"),
            (15, b"f\r\n"),
            (16, b"10\r\n"),
            (0xabcdef, b"abcdef\r\n"),
            (usize::MAX, b"ffffffffffffffff\r\n"),
        ] {
            let n = chunk_header(&mut out, len);
            assert_eq!(&out[..n], want);
        }
    }

    #[test]
    fn chunk_header_roundtrips_through_decoder() {
        let mut wire = Vec::new();
        let mut out = [0u8; 18];
        for piece in [&b"a"[..], &[7u8; 300], b"xyz"] {
            let n = chunk_header(&mut out, piece.len());
            wire.extend_from_slice(&out[..n]);
            wire.extend_from_slice(piece);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(LAST_CHUNK);
        let (body, n, done) = run(&wire, 7).unwrap();
        assert_eq!(body.len(), 304);
        assert_eq!((n, done), (wire.len(), true));
    }
}
