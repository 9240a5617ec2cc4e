//! Frame headers (RFC 6455 section 5.2): encoding the unmasked headers a server sends and
//! parsing the headers a client sends.
//!
//! Parsing checks every rule that needs no connection state (reserved bits 2 and 3, opcodes,
//! control frame shape, length encoding) and does so as soon as the byte carrying the
//! violation is available, so a bad frame is rejected without waiting for its extended length.
//! Rules that depend on configuration or on the message in progress live in the receiver.

use std::fmt;

/// Frame opcodes defined by RFC 6455; 3-7 and 11-15 are reserved and rejected.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    Continuation = 0,
    Text = 1,
    Binary = 2,
    Close = 8,
    Ping = 9,
    Pong = 10,
}

impl OpCode {
    /// The opcode for the low nibble of the first header byte, `None` if reserved.
    pub const fn from_u8(value: u8) -> Option<OpCode> {
        Some(match value {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            _ => return None,
        })
    }

    /// Close, Ping and Pong: single-frame, at most 125 bytes, allowed inside a fragmented message.
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// Longest header a server writes (no masking key): 2 + 8 bytes of extended length.
pub const MAX_HEADER_LEN: usize = 10;
/// Longest header a client writes: 2 + 8 bytes of extended length + 4 bytes of masking key.
pub const MAX_MASKED_HEADER_LEN: usize = 14;
/// Control frames carry at most this many payload bytes.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Writes a server (unmasked) frame header into `out`, returns its length (2, 4 or 10).
pub fn encode_header(
    out: &mut [u8; MAX_HEADER_LEN],
    fin: bool,
    opcode: OpCode,
    rsv1: bool,
    payload_len: usize,
) -> usize {
    out[0] = ((fin as u8) << 7) | ((rsv1 as u8) << 6) | opcode as u8;
    if payload_len < 126 {
        out[1] = payload_len as u8;
        2
    } else if payload_len <= u16::MAX as usize {
        out[1] = 126;
        out[2..4].copy_from_slice(&(payload_len as u16).to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
        10
    }
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: OpCode,
    /// Present when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Declared payload length; at most 2^63 - 1, and at most 125 for control frames.
    pub payload_len: u64,
    /// Bytes the header occupies (2 to 14); the payload starts right after.
    pub header_len: usize,
}

/// Why a frame violates the protocol. All map to close code 1002.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// RSV2 or RSV3 set: no extension we negotiate defines them.
    ReservedBits,
    /// RSV1 set without permessage-deflate, or on a continuation or control frame.
    UnexpectedRsv1,
    /// Opcode 3-7 or 11-15.
    ReservedOpcode(u8),
    /// Control frame without FIN.
    FragmentedControl,
    /// Control frame with more than 125 payload bytes.
    ControlTooLong,
    /// 64-bit payload length with the most significant bit set.
    InvalidLength,
    /// Client frame without a masking key.
    Unmasked,
    /// Continuation frame while no fragmented message is in progress.
    UnexpectedContinuation,
    /// Text or binary frame while a fragmented message awaits its continuation.
    ExpectedContinuation,
    /// Close frame with a 1-byte payload (a code needs 2).
    InvalidClosePayload,
    /// Close frame with a code that may not appear on the wire.
    InvalidCloseCode(u16),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ReservedBits => f.write_str("reserved bit RSV2 or RSV3 set"),
            FrameError::UnexpectedRsv1 => f.write_str("unexpected RSV1 bit"),
            FrameError::ReservedOpcode(op) => write!(f, "reserved opcode {op}"),
            FrameError::FragmentedControl => f.write_str("fragmented control frame"),
            FrameError::ControlTooLong => f.write_str("control frame payload over 125 bytes"),
            FrameError::InvalidLength => f.write_str("payload length with the high bit set"),
            FrameError::Unmasked => f.write_str("unmasked client frame"),
            FrameError::UnexpectedContinuation => f.write_str("continuation without a message"),
            FrameError::ExpectedContinuation => f.write_str("new message inside a fragmented one"),
            FrameError::InvalidClosePayload => f.write_str("close payload of 1 byte"),
            FrameError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Parses the frame header at the start of `buf`.
///
/// `Ok(None)` means `buf` holds a valid but incomplete header: call again with more bytes.
/// Bytes past the header are not looked at.
pub fn parse_header(buf: &[u8]) -> Result<Option<FrameHeader>, FrameError> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    if b0 & 0x30 != 0 {
        return Err(FrameError::ReservedBits);
    }
    let raw_opcode = b0 & 0x0f;
    let opcode = OpCode::from_u8(raw_opcode).ok_or(FrameError::ReservedOpcode(raw_opcode))?;
    let fin = b0 & 0x80 != 0;
    if opcode.is_control() && !fin {
        return Err(FrameError::FragmentedControl);
    }

    let Some(&b1) = buf.get(1) else {
        return Ok(None);
    };
    let short_len = b1 & 0x7f;
    if opcode.is_control() && short_len as usize > MAX_CONTROL_PAYLOAD {
        return Err(FrameError::ControlTooLong);
    }
    let ext_len = match short_len {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let masked = b1 & 0x80 != 0;
    let header_len = 2 + ext_len + if masked { 4 } else { 0 };

    // Reject a 2^63+ length as soon as its first byte is in, like the other checks.
    if ext_len == 8 && buf.get(2).is_some_and(|b| b & 0x80 != 0) {
        return Err(FrameError::InvalidLength);
    }
    let Some(header) = buf.get(..header_len) else {
        return Ok(None);
    };

    let payload_len = match ext_len {
        2 => u16::from_be_bytes([header[2], header[3]]) as u64,
        8 => {
            let mut be = [0u8; 8];
            be.copy_from_slice(&header[2..10]);
            u64::from_be_bytes(be)
        }
        _ => short_len as u64,
    };
    let mask = masked.then(|| {
        let k = &header[2 + ext_len..];
        [k[0], k[1], k[2], k[3]]
    });

    Ok(Some(FrameHeader {
        fin,
        rsv1: b0 & 0x40 != 0,
        opcode,
        mask,
        payload_len,
        header_len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(fin: bool, opcode: OpCode, rsv1: bool, len: usize) -> Vec<u8> {
        let mut out = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut out, fin, opcode, rsv1, len);
        out[..n].to_vec()
    }

    #[test]
    fn round_trips_every_length_class() {
        let cases = [
            (0, 2),
            (1, 2),
            (125, 2),
            (126, 4),
            (127, 4),
            (65535, 4),
            (65536, 10),
            (1 << 40, 10),
        ];
        for (len, header_len) in cases {
            for &(fin, rsv1, opcode) in &[
                (true, false, OpCode::Binary),
                (false, true, OpCode::Text),
                (true, false, OpCode::Continuation),
            ] {
                let bytes = encode(fin, opcode, rsv1, len);
                assert_eq!(bytes.len(), header_len, "len {len}");
                let h = parse_header(&bytes).unwrap().unwrap();
                assert_eq!(
                    h,
                    FrameHeader {
                        fin,
                        rsv1,
                        opcode,
                        mask: None,
                        payload_len: len as u64,
                        header_len,
                    }
                );
                // Every strict prefix is "need more bytes", never an error.
                for cut in 0..bytes.len() {
                    assert_eq!(parse_header(&bytes[..cut]), Ok(None));
                }
            }
        }
    }

    #[test]
    fn exact_encodings() {
        assert_eq!(encode(true, OpCode::Text, false, 5), [0x81, 5]);
        assert_eq!(encode(true, OpCode::Binary, true, 126), [0xc2, 126, 0, 126]);
        assert_eq!(encode(false, OpCode::Ping, false, 0), [0x09, 0]);
        assert_eq!(
            encode(true, OpCode::Binary, false, 65536),
            [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
    }

    #[test]
    fn parses_masking_key() {
        let key = [1, 2, 3, 4];
        for len in [0usize, 125, 126, 65535, 65536] {
            let mut bytes = encode(true, OpCode::Binary, false, len);
            bytes[1] |= 0x80;
            bytes.extend_from_slice(&key);
            bytes.extend_from_slice(b"payload");
            let h = parse_header(&bytes).unwrap().unwrap();
            assert_eq!(h.mask, Some(key));
            assert_eq!(h.payload_len, len as u64);
            assert_eq!(h.header_len, bytes.len() - 7);
            for cut in 0..h.header_len {
                assert_eq!(parse_header(&bytes[..cut]), Ok(None));
            }
        }
    }

    #[test]
    fn accepts_non_minimal_lengths() {
        let h = parse_header(&[0x82, 126, 0, 5]).unwrap().unwrap();
        assert_eq!((h.payload_len, h.header_len), (5, 4));
        let h = parse_header(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5])
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, h.header_len), (5, 10));
    }

    #[test]
    fn rejects_reserved_bits_from_first_byte() {
        assert_eq!(parse_header(&[0xa2]), Err(FrameError::ReservedBits));
        assert_eq!(parse_header(&[0x92]), Err(FrameError::ReservedBits));
        // RSV1 is the receiver's business (depends on negotiation).
        assert!(parse_header(&[0xc2, 0]).unwrap().unwrap().rsv1);
    }

    #[test]
    fn rejects_reserved_opcodes() {
        for op in (3..=7).chain(11..=15) {
            assert_eq!(
                parse_header(&[0x80 | op]),
                Err(FrameError::ReservedOpcode(op))
            );
        }
        for op in [0, 1, 2, 8, 9, 10] {
            assert_eq!(OpCode::from_u8(op).map(|o| o as u8), Some(op));
        }
    }

    #[test]
    fn rejects_bad_control_frames() {
        for op in [8, 9, 10] {
            assert_eq!(parse_header(&[op]), Err(FrameError::FragmentedControl));
            assert_eq!(
                parse_header(&[0x80 | op, 126]),
                Err(FrameError::ControlTooLong)
            );
            assert_eq!(
                parse_header(&[0x80 | op, 0x80 | 127]),
                Err(FrameError::ControlTooLong)
            );
            assert!(parse_header(&[0x80 | op, 125]).unwrap().is_some());
        }
    }

    #[test]
    fn rejects_64_bit_length_with_high_bit() {
        assert_eq!(
            parse_header(&[0x82, 127, 0x80]),
            Err(FrameError::InvalidLength)
        );
        let h = parse_header(&[0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
            .unwrap()
            .unwrap();
        assert_eq!(h.payload_len, i64::MAX as u64);
    }

    #[test]
    fn opcode_classes() {
        assert!(OpCode::Close.is_control());
        assert!(OpCode::Ping.is_control());
        assert!(OpCode::Pong.is_control());
        assert!(!OpCode::Continuation.is_control());
        assert!(!OpCode::Text.is_control());
        assert!(!OpCode::Binary.is_control());
    }
}
