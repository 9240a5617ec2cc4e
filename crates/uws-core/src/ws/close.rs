//! Close frame payloads (RFC 6455 section 5.5.1 and 7.4): a big-endian status code followed
//! by a UTF-8 reason, 125 bytes in all.

use super::error::ProtocolError;
use super::frame::{FrameError, MAX_CONTROL_PAYLOAD};
use super::utf8;

/// The longest reason that fits next to the 2-byte code in a control frame.
pub const MAX_CLOSE_REASON_LEN: usize = MAX_CONTROL_PAYLOAD - 2;

/// Whether a peer may put `code` in a close frame.
///
/// 1004 is reserved, 1005/1006/1015 are for reporting only (never on the wire), 1016-2999 are
/// unassigned and reserved for the RFC, and 3000-4999 belong to libraries and applications.
/// 1012-1014 were registered with IANA after the RFC and are accepted.
pub const fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Whether `code` may be sent in a close frame we build. The codes that only report a local
/// condition (0 = none given, 1005, 1006, 1015) produce an empty payload instead.
pub const fn is_sendable_close_code(code: u16) -> bool {
    !matches!(code, 0 | 1005 | 1006 | 1015)
}

/// Validates a received close payload: `(None, b"")` when empty, otherwise the code and reason.
pub fn parse_close_payload(payload: &[u8]) -> Result<(Option<u16>, &[u8]), ProtocolError> {
    match payload {
        [] => Ok((None, &[])),
        [_] => Err(FrameError::InvalidClosePayload.into()),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(FrameError::InvalidCloseCode(code).into());
            }
            if !utf8::is_valid(reason) {
                return Err(ProtocolError::InvalidUtf8);
            }
            Ok((Some(code), reason))
        }
    }
}

/// Builds the payload of a close frame we send: code (big endian) + reason truncated to 123
/// bytes at a UTF-8 char boundary. Unsendable codes (see [`is_sendable_close_code`]) give an
/// empty payload.
pub fn encode_close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; MAX_CONTROL_PAYLOAD];
    let n = write_close_payload(code, reason, &mut buf);
    buf[..n].to_vec()
}

/// Allocation-free form of [`encode_close_payload`]: writes into `out`, returns the length.
pub fn write_close_payload(code: u16, reason: &[u8], out: &mut [u8; MAX_CONTROL_PAYLOAD]) -> usize {
    if !is_sendable_close_code(code) {
        return 0;
    }
    let reason = truncate_at_char_boundary(reason, MAX_CLOSE_REASON_LEN);
    out[..2].copy_from_slice(&code.to_be_bytes());
    out[2..2 + reason.len()].copy_from_slice(reason);
    2 + reason.len()
}

/// The longest prefix of `s` of at most `max` bytes that does not split a UTF-8 sequence.
fn truncate_at_char_boundary(s: &[u8], max: usize) -> &[u8] {
    if s.len() <= max {
        return s;
    }
    // s[end] is the first byte cut off; back up while it continues a sequence.
    let mut end = max;
    while end > 0 && s[end] & 0xc0 == 0x80 {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(code: u16, reason: &[u8]) -> Vec<u8> {
        let mut v = code.to_be_bytes().to_vec();
        v.extend_from_slice(reason);
        v
    }

    #[test]
    fn close_code_table() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
        ] {
            let p = payload(code, b"bye");
            assert_eq!(
                parse_close_payload(&p),
                Ok((Some(code), &b"bye"[..])),
                "{code}"
            );
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert_eq!(
                parse_close_payload(&payload(code, b"")),
                Err(ProtocolError::InvalidFrame(FrameError::InvalidCloseCode(
                    code
                ))),
                "{code}"
            );
        }
    }

    #[test]
    fn empty_and_short_payloads() {
        assert_eq!(parse_close_payload(&[]), Ok((None, &[][..])));
        assert_eq!(
            parse_close_payload(&[3]),
            Err(ProtocolError::InvalidFrame(FrameError::InvalidClosePayload))
        );
        assert_eq!(parse_close_payload(&[3, 232]), Ok((Some(1000), &[][..])));
    }

    #[test]
    fn reason_must_be_utf8() {
        assert_eq!(
            parse_close_payload(&payload(1000, b"\xce\xba\xe1\xbd")),
            Err(ProtocolError::InvalidUtf8)
        );
        let p = payload(1000, "κόσμε".as_bytes());
        assert_eq!(parse_close_payload(&p).unwrap().1, "κόσμε".as_bytes());
    }

    #[test]
    fn encode_round_trips() {
        let p = encode_close_payload(4000, b"done");
        assert_eq!(p, payload(4000, b"done"));
        assert_eq!(parse_close_payload(&p), Ok((Some(4000), &b"done"[..])));
    }

    #[test]
    fn encode_unsendable_codes_is_empty() {
        for code in [0, 1005, 1006, 1015] {
            assert!(encode_close_payload(code, b"ignored").is_empty(), "{code}");
        }
    }

    #[test]
    fn encode_truncates_at_char_boundary() {
        let ascii = [b'a'; 200];
        assert_eq!(encode_close_payload(1000, &ascii).len(), 125);

        // 122 ASCII bytes then a 2-byte char: it would end at byte 124 of the reason, so it
        // is dropped whole rather than cut.
        let mut reason = vec![b'a'; 122];
        reason.extend_from_slice("é".as_bytes());
        let p = encode_close_payload(1000, &reason);
        assert_eq!(p.len(), 2 + 122);
        assert!(parse_close_payload(&p).is_ok());

        // Long multi-byte text at every alignment stays valid UTF-8 and within 125 bytes.
        for pad in 0..4 {
            let text = "a".repeat(pad) + &"€😀é".repeat(40);
            let p = encode_close_payload(1000, text.as_bytes());
            assert!(p.len() <= 125 && p.len() >= 125 - 3, "{pad}");
            assert!(parse_close_payload(&p).is_ok(), "{pad}");
        }
    }
}
