//! PROXY protocol v2 (HAProxy): the binary header a load balancer sends before the client's
//! bytes, carrying the original client address (what `getProxiedRemoteAddress` reports).
//!
//! Only v2 is recognised: its 12-byte signature cannot start an HTTP request, so detecting it
//! on every connection is safe.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
const FIXED_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeader {
    /// Not a PROXY v2 header: the bytes are the client's own.
    Absent,
    /// Could still be one: read more.
    Incomplete,
    /// A header of `len` bytes; `source` is the original client (None for LOCAL commands and
    /// address families other than TCP/UDP over IPv4/IPv6).
    Present {
        len: usize,
        source: Option<SocketAddr>,
    },
    /// Has the signature but is malformed: the connection should be dropped.
    Invalid,
}

pub fn parse(buf: &[u8]) -> ProxyHeader {
    let n = buf.len().min(SIGNATURE.len());
    if buf[..n] != SIGNATURE[..n] {
        return ProxyHeader::Absent;
    }
    if buf.len() < FIXED_LEN {
        return ProxyHeader::Incomplete;
    }
    let version_command = buf[12];
    if version_command >> 4 != 2 {
        return ProxyHeader::Invalid;
    }
    let command = version_command & 0x0f;
    let family = buf[13];
    let body_len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    let len = FIXED_LEN + body_len;
    if buf.len() < len {
        return ProxyHeader::Incomplete;
    }
    let body = &buf[FIXED_LEN..len];
    let source = match (command, family >> 4) {
        (0, _) => None,
        (1, 1) if body.len() >= 12 => {
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            Some(SocketAddr::new(
                IpAddr::V4(ip),
                u16::from_be_bytes([body[8], body[9]]),
            ))
        }
        (1, 2) if body.len() >= 36 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            let ip = Ipv6Addr::from(octets);
            Some(SocketAddr::new(
                IpAddr::V6(ip),
                u16::from_be_bytes([body[32], body[33]]),
            ))
        }
        (1, 0) | (1, 3) => None,
        _ => return ProxyHeader::Invalid,
    };
    ProxyHeader::Present { len, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_header(src: [u8; 4], sport: u16) -> Vec<u8> {
        let mut h = SIGNATURE.to_vec();
        h.extend_from_slice(&[0x21, 0x11, 0, 12]);
        h.extend_from_slice(&src);
        h.extend_from_slice(&[10, 0, 0, 1]);
        h.extend_from_slice(&sport.to_be_bytes());
        h.extend_from_slice(&443u16.to_be_bytes());
        h
    }

    #[test]
    fn plain_http_is_absent() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), ProxyHeader::Absent);
        assert_eq!(parse(b"\r\n\r\nX"), ProxyHeader::Absent);
    }

    #[test]
    fn ipv4_source_and_length() {
        let mut h = v4_header([203, 0, 113, 7], 51234);
        let len = h.len();
        h.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            parse(&h),
            ProxyHeader::Present {
                len,
                source: Some("203.0.113.7:51234".parse().unwrap())
            }
        );
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let h = v4_header([1, 2, 3, 4], 1);
        for cut in 1..h.len() {
            assert_eq!(parse(&h[..cut]), ProxyHeader::Incomplete, "cut {cut}");
        }
    }

    #[test]
    fn ipv6_and_local() {
        let mut h = SIGNATURE.to_vec();
        h.extend_from_slice(&[0x21, 0x21, 0, 36]);
        let mut src = [0u8; 16];
        src[15] = 1;
        h.extend_from_slice(&src);
        h.extend_from_slice(&[0u8; 16]);
        h.extend_from_slice(&8080u16.to_be_bytes());
        h.extend_from_slice(&80u16.to_be_bytes());
        assert_eq!(
            parse(&h),
            ProxyHeader::Present {
                len: h.len(),
                source: Some("[::1]:8080".parse().unwrap())
            }
        );
        let mut local = SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(
            parse(&local),
            ProxyHeader::Present {
                len: 16,
                source: None
            }
        );
    }

    #[test]
    fn wrong_version_or_short_body_is_invalid() {
        let mut h = v4_header([1, 2, 3, 4], 1);
        h[12] = 0x11;
        assert_eq!(parse(&h), ProxyHeader::Invalid);
        let mut short = SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert_eq!(parse(&short), ProxyHeader::Invalid);
    }
}
