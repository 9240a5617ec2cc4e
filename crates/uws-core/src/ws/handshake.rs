//! The HTTP/1.1 upgrade to WebSocket (RFC 6455 section 4.2): request checks, the accept key,
//! and the head of the 101 response.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::fmt;

const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// base64(sha1(key ++ GUID)), always 28 bytes.
pub fn accept_key(client_key: &[u8]) -> [u8; 28] {
    let mut sha = Sha1::new();
    sha.update(client_key);
    sha.update(ACCEPT_GUID);
    let digest = sha.finalize();
    let mut out = [0u8; 28];
    // 20 bytes always encode to exactly 28 padded base64 characters, so this cannot fail.
    let written = STANDARD.encode_slice(digest, &mut out);
    debug_assert_eq!(written, Ok(28));
    out
}

/// The request headers the upgrade depends on, as received (values without surrounding
/// whitespace are expected but tolerated).
#[derive(Clone, Copy, Debug, Default)]
pub struct UpgradeHeaders<'a> {
    pub upgrade: Option<&'a [u8]>,
    pub connection: Option<&'a [u8]>,
    pub key: Option<&'a [u8]>,
    pub version: Option<&'a [u8]>,
}

/// Why a request cannot be upgraded.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum HandshakeError {
    /// Method other than `GET`.
    NotGet,
    /// `Upgrade` absent or without the token `websocket`, or `Connection` absent or without
    /// the token `upgrade` (both case-insensitive).
    NotUpgrade,
    /// `Sec-WebSocket-Key` absent, or not 24 characters of base64 decoding to 16 bytes.
    MissingKey,
    /// `Sec-WebSocket-Version` other than `13`.
    UnsupportedVersion,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandshakeError::NotGet => "WebSocket upgrade requires GET",
            HandshakeError::NotUpgrade => "not a WebSocket upgrade request",
            HandshakeError::MissingKey => "missing or malformed Sec-WebSocket-Key",
            HandshakeError::UnsupportedVersion => "unsupported Sec-WebSocket-Version",
        })
    }
}

impl std::error::Error for HandshakeError {}

/// Checks that a request is a valid WebSocket opening handshake. `method` is as received
/// (HTTP methods are case-sensitive, so `get` is not `GET`).
pub fn validate_upgrade(method: &[u8], h: &UpgradeHeaders) -> Result<(), HandshakeError> {
    if method != b"GET" {
        return Err(HandshakeError::NotGet);
    }
    if !h.upgrade.is_some_and(|v| has_token(v, b"websocket"))
        || !h.connection.is_some_and(|v| has_token(v, b"upgrade"))
    {
        return Err(HandshakeError::NotUpgrade);
    }
    if !h.key.is_some_and(|k| is_valid_key(trim(k))) {
        return Err(HandshakeError::MissingKey);
    }
    if h.version.map(trim) != Some(b"13") {
        return Err(HandshakeError::UnsupportedVersion);
    }
    Ok(())
}

/// The full head of the 101 response, blank line included. `protocol` and `extensions` are
/// the negotiated values, omitted when `None` or empty.
pub fn response_head(
    accept: &[u8; 28],
    protocol: Option<&[u8]>,
    extensions: Option<&[u8]>,
) -> Vec<u8> {
    const START: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
    const PROTOCOL: &[u8] = b"Sec-WebSocket-Protocol: ";
    const EXTENSIONS: &[u8] = b"Sec-WebSocket-Extensions: ";

    let protocol = protocol.filter(|p| !p.is_empty());
    let extensions = extensions.filter(|e| !e.is_empty());
    let capacity = START.len()
        + accept.len()
        + 4
        + protocol.map_or(0, |p| PROTOCOL.len() + p.len() + 2)
        + extensions.map_or(0, |e| EXTENSIONS.len() + e.len() + 2);
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(START);
    out.extend_from_slice(accept);
    out.extend_from_slice(b"\r\n");
    for (name, value) in [(PROTOCOL, protocol), (EXTENSIONS, extensions)] {
        if let Some(value) = value {
            out.extend_from_slice(name);
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Whether a comma-separated header value lists `token` (ASCII case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token))
}

fn is_valid_key(key: &[u8]) -> bool {
    // The decode estimate for 24 characters is 18 bytes; a real nonce decodes to 16.
    let mut nonce = [0u8; 18];
    key.len() == 24 && STANDARD.decode_slice(key, &mut nonce) == Ok(16)
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";

    fn headers<'a>(upgrade: &'a [u8], connection: &'a [u8]) -> UpgradeHeaders<'a> {
        UpgradeHeaders {
            upgrade: Some(upgrade),
            connection: Some(connection),
            key: Some(KEY),
            version: Some(b"13"),
        }
    }

    #[test]
    fn accept_key_rfc_example() {
        assert_eq!(&accept_key(KEY), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn accepts_valid_requests() {
        for upgrade in [
            &b"websocket"[..],
            b"WebSocket",
            b"WEBSOCKET",
            b"foo, websocket",
        ] {
            for connection in [
                &b"Upgrade"[..],
                b"upgrade",
                b"keep-alive, Upgrade",
                b"Upgrade,keep-alive",
            ] {
                assert_eq!(
                    validate_upgrade(b"GET", &headers(upgrade, connection)),
                    Ok(()),
                    "{upgrade:?} {connection:?}"
                );
            }
        }
    }

    #[test]
    fn rejects_method() {
        let h = headers(b"websocket", b"Upgrade");
        assert_eq!(validate_upgrade(b"POST", &h), Err(HandshakeError::NotGet));
        assert_eq!(validate_upgrade(b"get", &h), Err(HandshakeError::NotGet));
    }

    #[test]
    fn rejects_missing_upgrade_tokens() {
        let cases = [
            headers(b"h2c", b"Upgrade"),
            headers(b"websocketx", b"Upgrade"),
            headers(b"websocket", b"keep-alive"),
            UpgradeHeaders {
                upgrade: None,
                ..headers(b"", b"Upgrade")
            },
            UpgradeHeaders {
                connection: None,
                ..headers(b"websocket", b"")
            },
        ];
        for h in cases {
            assert_eq!(
                validate_upgrade(b"GET", &h),
                Err(HandshakeError::NotUpgrade),
                "{h:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_keys() {
        let base = headers(b"websocket", b"Upgrade");
        for key in [
            None,
            Some(&b""[..]),
            Some(b"dGhlIHNhbXBsZSBub25jZQ="),
            Some(b"dGhlIHNhbXBsZSBub25jZQ==="),
            Some(b"dGhlIHNhbXBsZSBub25jZQ!="),
            Some(b"dGhlIHNhbXBsZSBub25jZQ+A"), // 24 chars, decodes to 18 bytes
        ] {
            let h = UpgradeHeaders { key, ..base };
            assert_eq!(
                validate_upgrade(b"GET", &h),
                Err(HandshakeError::MissingKey),
                "{key:?}"
            );
        }
    }

    #[test]
    fn rejects_versions() {
        let base = headers(b"websocket", b"Upgrade");
        for version in [None, Some(&b"8"[..]), Some(b"12"), Some(b"")] {
            let h = UpgradeHeaders { version, ..base };
            assert_eq!(
                validate_upgrade(b"GET", &h),
                Err(HandshakeError::UnsupportedVersion)
            );
        }
    }

    #[test]
    fn response_head_variants() {
        let accept = accept_key(KEY);
        let base = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
        assert_eq!(
            response_head(&accept, None, None),
            format!("{base}\r\n").as_bytes()
        );
        assert_eq!(
            response_head(&accept, Some(b""), Some(b"")),
            format!("{base}\r\n").as_bytes()
        );
        assert_eq!(
            response_head(&accept, Some(b"chat"), Some(b"permessage-deflate")),
            format!("{base}Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
                .as_bytes()
        );
        let head = response_head(&accept, None, Some(b"x"));
        assert_eq!(head.len(), head.capacity());
    }
}
