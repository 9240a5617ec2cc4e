//! Chunked request-body decoder, differential: fed whole, cut where libFuzzer says, and one
//! byte at a time, it must decode the same body, consume the same bytes and fail the same
//! way; and it must agree with the small reference decoder below (RFC 9112 7.1, CRLF only).
#![no_main]
use libfuzzer_sys::fuzz_target;
use uws_core::http::chunked::{ChunkedDecoder, ChunkedError};
use uws_core_fuzz::{pieces, split_input};

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    /// Bytes consumed up to completion (None: not done when the input ran out).
    consumed: Option<usize>,
    error: Option<ChunkedError>,
}

fn run(pieces: &[&[u8]]) -> Outcome {
    let mut d = ChunkedDecoder::new();
    let mut body = Vec::new();
    let mut offset = 0;
    for piece in pieces {
        let mut out = Vec::new();
        match d.feed(piece, &mut |b| out.extend_from_slice(b)) {
            Err(e) => {
                body.extend_from_slice(&out);
                return Outcome {
                    body,
                    consumed: None,
                    error: Some(e),
                };
            }
            Ok((n, done)) => {
                assert!(n <= piece.len());
                assert_eq!(done, d.is_done());
                // Data handed out is a sub-slice of what was consumed.
                assert!(out.len() <= n);
                body.extend_from_slice(&out);
                if done {
                    return Outcome {
                        body,
                        consumed: Some(offset + n),
                        error: None,
                    };
                }
                assert_eq!(n, piece.len(), "not done yet everything must be consumed");
                offset += n;
            }
        }
    }
    Outcome {
        body,
        consumed: None,
        error: None,
    }
}

/// Whole-buffer reference. `Err(true)`: too large, `Err(false)`: malformed; `Ok(None)`: incomplete.
fn reference(s: &[u8], body: &mut Vec<u8>) -> Result<Option<usize>, bool> {
    const MAX: u64 = 1 << 52;
    let mut i = 0;
    loop {
        let mut size: u64 = 0;
        let mut digits = 0;
        while let Some(&c) = s.get(i) {
            let Some(d) = (c as char).to_digit(16) else {
                break;
            };
            size = size * 16 + d as u64;
            if size > MAX {
                return Err(true);
            }
            digits += 1;
            i += 1;
        }
        if i == s.len() {
            return Ok(None);
        }
        if digits == 0 {
            return Err(false);
        }
        // BWS, then `;extension` (anything up to CR, no LF) or CR.
        while matches!(s.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        match s.get(i) {
            None => return Ok(None),
            Some(b'\r') => {}
            Some(b';') => loop {
                match s.get(i) {
                    None => return Ok(None),
                    Some(b'\r') => break,
                    Some(b'\n') => return Err(false),
                    _ => i += 1,
                }
            },
            _ => return Err(false),
        }
        i += 1;
        match s.get(i) {
            None => return Ok(None),
            Some(b'\n') => i += 1,
            _ => return Err(false),
        }
        if size == 0 {
            // Trailer lines, then the empty line.
            loop {
                match s.get(i) {
                    None => return Ok(None),
                    Some(b'\r') => {
                        return match s.get(i + 1) {
                            None => Ok(None),
                            Some(b'\n') => Ok(Some(i + 2)),
                            _ => Err(false),
                        }
                    }
                    Some(b'\n') => return Err(false),
                    _ => loop {
                        match s.get(i) {
                            None => return Ok(None),
                            Some(b'\r') => match s.get(i + 1) {
                                None => return Ok(None),
                                Some(b'\n') => {
                                    i += 2;
                                    break;
                                }
                                _ => return Err(false),
                            },
                            Some(b'\n') => return Err(false),
                            _ => i += 1,
                        }
                    },
                }
            }
        }
        let avail = (s.len() - i) as u64;
        let take = avail.min(size) as usize;
        body.extend_from_slice(&s[i..i + take]);
        i += take;
        if (take as u64) < size {
            return Ok(None);
        }
        for want in [b'\r', b'\n'] {
            match s.get(i) {
                None => return Ok(None),
                Some(&c) if c == want => i += 1,
                _ => return Err(false),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((_, cuts, stream)) = split_input(data) else {
        return;
    };
    let whole = run(&[stream]);
    let split = run(&pieces(stream, &cuts));
    assert_eq!(whole, split, "whole vs split (cuts {cuts:?})");
    if stream.len() <= 4096 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(whole, run(&bytes), "whole vs byte-at-a-time");
    }
    let mut body = Vec::new();
    let expect = match reference(stream, &mut body) {
        Ok(consumed) => Outcome {
            body,
            consumed,
            error: None,
        },
        Err(big) => Outcome {
            body,
            consumed: None,
            error: Some(if big {
                ChunkedError::TooLarge
            } else {
                ChunkedError::Malformed
            }),
        },
    };
    assert_eq!(whole, expect, "decoder vs reference");
});
