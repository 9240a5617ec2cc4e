//! permessage-deflate negotiation (RFC 7692 section 7.1): the server's options, the client's
//! `Sec-WebSocket-Extensions` offers, and the response header.
//!
//! The server's wishes come from uWebSockets.js's `compression` bitmask ([`CompressOptions`]). The
//! first offer that can be accepted wins; the response names the client's side first, then the
//! server's, in uWebSockets.js's form:
//!
//! ```
//! use uws_core::ws::deflate::{negotiate, CompressOptions, Compressor, Decompressor};
//!
//! // compression: uWS.SHARED_COMPRESSOR (one compressor per loop, reset every message).
//! let opts = CompressOptions::from_bits(1).unwrap();
//! let a = negotiate(&opts, b"permessage-deflate; client_max_window_bits").unwrap();
//! assert_eq!(
//!     a.response,
//!     "permessage-deflate; client_no_context_takeover; server_no_context_takeover"
//! );
//! assert_eq!(a.compressor, Compressor::Shared { window_bits: 15 });
//! assert_eq!(a.decompressor, Decompressor::Shared);
//! // No offer we can accept: no header, no compression.
//! assert!(negotiate(&opts, b"x-webkit-deflate-frame").is_none());
//! ```
//!
//! Where uWebSockets.js v20 departs from RFC 7692 this module follows the RFC (none of it is
//! visible to JS; every response here is one a uWebSockets.js client accepts):
//! - offers are judged one by one (uWebSockets.js merges the parameters of all of them);
//! - an offer with an unknown, repeated or malformed parameter is declined (uWebSockets.js
//!   ignores the parameter);
//! - `server_no_context_takeover` in an offer is always honoured and echoed (uWebSockets.js
//!   ignores it with a dedicated compressor);
//! - `server_max_window_bits=n` in an offer is always honoured and echoed, also with the shared
//!   compressor (uWebSockets.js compresses with 15 bits regardless), and never named in a response
//!   to an offer without it (RFC 7692 7.1.2.1);
//! - `server_max_window_bits=8` declines the offer: zlib cannot compress with a 256-byte window,
//!   and answering 9 (what uWebSockets.js does) exceeds what the client allowed.

/// What a compressor (server to client) or decompressor (client to server) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compressor {
    /// No context takeover: the loop's one compressor for this window size, reset after
    /// every message (uWebSockets.js's SHARED_COMPRESSOR).
    Shared { window_bits: u8 },
    /// A compressor of the socket's own that keeps its window across messages.
    Dedicated { window_bits: u8, mem_level: u8 },
}

/// How client-to-server messages are inflated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decompressor {
    /// The client resets its context every message (`client_no_context_takeover`): the loop's
    /// one 15-bit decompressor, reset after every message.
    Shared,
    /// A decompressor of the socket's own that keeps the client's window across messages.
    Dedicated { window_bits: u8 },
}

/// The server side of the negotiation: uWebSockets.js's `compression` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompressOptions {
    pub compressor: Compressor,
    pub decompressor: Decompressor,
}

impl CompressOptions {
    /// Decodes uWebSockets.js's bitmask; `None` for DISABLED (0).
    ///
    /// Bits 0-7 are the compressor: window bits in the high nibble, memLevel in the low one
    /// (`DEDICATED_COMPRESSOR_4KB` = 9 << 4 | 2); a window below 9 (`SHARED_COMPRESSOR` = 1, or
    /// no compressor bits at all) means the shared compressor. Bits 8-11 are the decompressor's
    /// window bits (`DEDICATED_DECOMPRESSOR_4KB` = 12 << 8); below 9 (`SHARED_DECOMPRESSOR` =
    /// 1 << 8, or none) means shared. As in uWebSockets.js, any non-zero value turns
    /// permessage-deflate on in both directions.
    pub fn from_bits(bits: u32) -> Option<CompressOptions> {
        if bits == 0 {
            return None;
        }
        let c = bits & 0xff;
        let c_window = (c >> 4) as u8;
        let compressor = if c_window < 9 {
            Compressor::Shared { window_bits: 15 }
        } else {
            Compressor::Dedicated {
                window_bits: c_window.min(15),
                mem_level: ((c & 0xf) as u8).clamp(1, 9),
            }
        };
        let d_window = ((bits >> 8) & 0xf) as u8;
        let decompressor = if d_window < 9 {
            Decompressor::Shared
        } else {
            Decompressor::Dedicated {
                window_bits: d_window,
            }
        };
        Some(CompressOptions {
            compressor,
            decompressor,
        })
    }
}

/// The outcome of a successful negotiation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// How to compress what we send (honouring the client's limits).
    pub compressor: Compressor,
    /// How to inflate what the client sends.
    pub decompressor: Decompressor,
    /// The `Sec-WebSocket-Extensions` response value.
    pub response: String,
}

/// The parameters of one `permessage-deflate` offer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value (the client supports it).
    client_max_window_bits: Option<Option<u8>>,
}

/// Picks the first offer in `header` (a `Sec-WebSocket-Extensions` request value, possibly
/// several comma-separated offers of several extensions) that `options` can accept.
/// `None`: decline (send no `Sec-WebSocket-Extensions`, exchange uncompressed messages).
pub fn negotiate(options: &CompressOptions, header: &[u8]) -> Option<Agreement> {
    split_top(header, b',').find_map(|element| {
        let offer = parse_offer(element)?;
        accept(options, &offer)
    })
}

fn accept(options: &CompressOptions, offer: &Offer) -> Option<Agreement> {
    let mut response = String::from("permessage-deflate");

    // Client to server: the client's window, which our decompressor must hold.
    let decompressor = match options.decompressor {
        Decompressor::Shared => None,
        // The client offers to reset its context anyway: no window to keep.
        _ if offer.client_no_context_takeover => None,
        Decompressor::Dedicated { window_bits } => {
            let offered = offer.client_max_window_bits.map(|v| v.unwrap_or(15));
            let bits = window_bits.min(offered.unwrap_or(15));
            if bits == 15 {
                Some(Decompressor::Dedicated { window_bits: 15 })
            } else if offered.is_some() {
                response.push_str(&format!("; client_max_window_bits={bits}"));
                // zlib deflates "8" with a 9-bit window: inflate with at least 9.
                Some(Decompressor::Dedicated {
                    window_bits: bits.max(9),
                })
            } else {
                // A smaller window cannot be asked of a client that did not offer
                // client_max_window_bits; then it must not keep its context at all.
                None
            }
        }
    };
    let decompressor = decompressor.unwrap_or_else(|| {
        response.push_str("; client_no_context_takeover");
        Decompressor::Shared
    });

    // Server to client: our compressor, within the client's limits.
    let (mut window, mem_level, mut takeover) = match options.compressor {
        Compressor::Shared { window_bits } => (window_bits, 8, false),
        Compressor::Dedicated {
            window_bits,
            mem_level,
        } => (window_bits, mem_level, true),
    };
    if offer.server_no_context_takeover {
        takeover = false;
    }
    if let Some(limit) = offer.server_max_window_bits {
        if limit < 9 {
            return None;
        }
        window = window.min(limit);
    }
    if !takeover {
        response.push_str("; server_no_context_takeover");
    }
    if offer.server_max_window_bits.is_some() {
        response.push_str(&format!("; server_max_window_bits={window}"));
    }
    let compressor = if takeover {
        Compressor::Dedicated {
            window_bits: window,
            // Smaller window, smaller hash table: uWebSockets.js maps n bits to memLevel n - 7.
            mem_level: mem_level.min(window - 7).max(1),
        }
    } else {
        Compressor::Shared {
            window_bits: window,
        }
    };
    Some(Agreement {
        compressor,
        decompressor,
        response,
    })
}

/// Parses one element of the extension list; `None` if it is not a valid `permessage-deflate`
/// offer (another extension, or a parameter RFC 7692 7.1 says to decline).
fn parse_offer(element: &[u8]) -> Option<Offer> {
    let mut parts = split_top(element, b';');
    let name = trim(parts.next()?);
    if !name.eq_ignore_ascii_case(b"permessage-deflate") {
        return None;
    }
    let mut offer = Offer::default();
    for param in parts {
        let param = trim(param);
        let (name, value) = match param.iter().position(|&b| b == b'=') {
            Some(i) => (trim(&param[..i]), Some(unquote(trim(&param[i + 1..]))?)),
            None => (param, None),
        };
        let name = name.to_ascii_lowercase();
        match (name.as_slice(), value) {
            (b"server_no_context_takeover", None) if !offer.server_no_context_takeover => {
                offer.server_no_context_takeover = true;
            }
            (b"client_no_context_takeover", None) if !offer.client_no_context_takeover => {
                offer.client_no_context_takeover = true;
            }
            (b"server_max_window_bits", Some(v)) if offer.server_max_window_bits.is_none() => {
                offer.server_max_window_bits = Some(window_bits(&v)?);
            }
            (b"client_max_window_bits", v) if offer.client_max_window_bits.is_none() => {
                offer.client_max_window_bits = Some(match v {
                    Some(v) => Some(window_bits(&v)?),
                    None => None,
                });
            }
            // Unknown, repeated, or with/without a value where the RFC says otherwise.
            _ => return None,
        }
    }
    Some(offer)
}

/// `8`..`15`, digits only, no leading zero (RFC 7692 7.1.2).
fn window_bits(v: &[u8]) -> Option<u8> {
    match v {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// A token or quoted-string value, unquoted; `None` if malformed.
fn unquote(v: &[u8]) -> Option<Vec<u8>> {
    let Some(inner) = v.strip_prefix(b"\"") else {
        return (!v.is_empty() && !v.contains(&b'"')).then(|| v.to_vec());
    };
    let inner = inner.strip_suffix(b"\"")?;
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => out.push(*bytes.next()?),
            b'"' => return None,
            _ => out.push(b),
        }
    }
    Some(out)
}

/// Splits on `sep` outside quoted strings.
fn split_top(s: &[u8], sep: u8) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (i, &b) in s.iter().enumerate() {
            if escaped {
                escaped = false;
            } else if quoted && b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = !quoted;
            } else if b == sep && !quoted {
                rest = Some(&s[i + 1..]);
                return Some(&s[..i]);
            }
        }
        rest = None;
        Some(s)
    })
}

fn trim(b: &[u8]) -> &[u8] {
    let is_ows = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !is_ows(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_ows(c)).map_or(start, |e| e + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    // uWebSockets.js's constants.
    const SHARED_COMPRESSOR: u32 = 1;
    const SHARED_DECOMPRESSOR: u32 = 256;
    const DEDICATED_COMPRESSOR: u32 = 248;
    const DEDICATED_COMPRESSOR_3KB: u32 = 145;
    const DEDICATED_COMPRESSOR_4KB: u32 = 146;
    const DEDICATED_DECOMPRESSOR: u32 = 3840;
    const DEDICATED_DECOMPRESSOR_4KB: u32 = 3072;
    const DEDICATED_DECOMPRESSOR_8KB: u32 = 3328;

    fn opts(bits: u32) -> CompressOptions {
        CompressOptions::from_bits(bits).unwrap()
    }

    fn response(bits: u32, offer: &str) -> Option<String> {
        negotiate(&opts(bits), offer.as_bytes()).map(|a| a.response)
    }

    #[test]
    fn bitmask() {
        assert_eq!(CompressOptions::from_bits(0), None);
        let shared = CompressOptions {
            compressor: Compressor::Shared { window_bits: 15 },
            decompressor: Decompressor::Shared,
        };
        assert_eq!(opts(SHARED_COMPRESSOR), shared);
        assert_eq!(opts(SHARED_COMPRESSOR | SHARED_DECOMPRESSOR), shared);
        assert_eq!(opts(SHARED_DECOMPRESSOR), shared);
        assert_eq!(
            opts(DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR),
            CompressOptions {
                compressor: Compressor::Dedicated {
                    window_bits: 15,
                    mem_level: 8
                },
                decompressor: Decompressor::Dedicated { window_bits: 15 },
            }
        );
        assert_eq!(
            opts(DEDICATED_COMPRESSOR_3KB).compressor,
            Compressor::Dedicated {
                window_bits: 9,
                mem_level: 1
            }
        );
        assert_eq!(
            opts(DEDICATED_DECOMPRESSOR_4KB).decompressor,
            Decompressor::Dedicated { window_bits: 12 }
        );
    }

    /// The responses of uWebSockets.js v20.30, recorded, where it follows RFC 7692.
    #[test]
    fn matches_uws_responses() {
        let shared = "permessage-deflate; client_no_context_takeover; server_no_context_takeover";
        for bits in [
            SHARED_COMPRESSOR,
            SHARED_COMPRESSOR | SHARED_DECOMPRESSOR,
            SHARED_DECOMPRESSOR,
        ] {
            for offer in [
                "permessage-deflate",
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; client_no_context_takeover",
                "permessage-deflate; server_no_context_takeover",
                "permessage-deflate; client_max_window_bits=10",
                "x-foo, permessage-deflate",
            ] {
                assert_eq!(response(bits, offer).as_deref(), Some(shared), "{offer}");
            }
        }
        let ded = DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR;
        let cases = [
            (ded, "permessage-deflate", "permessage-deflate"),
            (
                ded,
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate",
            ),
            (
                ded,
                "permessage-deflate; client_no_context_takeover",
                "permessage-deflate; client_no_context_takeover",
            ),
            (
                ded,
                "permessage-deflate; server_max_window_bits=9",
                "permessage-deflate; server_max_window_bits=9",
            ),
            (
                ded,
                "permessage-deflate; client_max_window_bits=10",
                "permessage-deflate; client_max_window_bits=10",
            ),
            (
                ded,
                "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
                "permessage-deflate; client_max_window_bits=9; server_max_window_bits=10",
            ),
            (
                DEDICATED_COMPRESSOR_4KB | DEDICATED_DECOMPRESSOR_4KB,
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; client_max_window_bits=12",
            ),
            (
                DEDICATED_COMPRESSOR_4KB | DEDICATED_DECOMPRESSOR_4KB,
                "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
                "permessage-deflate; client_max_window_bits=9; server_max_window_bits=9",
            ),
            (
                DEDICATED_DECOMPRESSOR_8KB,
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; client_max_window_bits=13; server_no_context_takeover",
            ),
            (
                DEDICATED_DECOMPRESSOR_8KB,
                "permessage-deflate",
                "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
            ),
        ];
        for (bits, offer, expected) in cases {
            assert_eq!(response(bits, offer).as_deref(), Some(expected), "{offer}");
        }
    }

    /// Where uWebSockets.js departs from RFC 7692, we follow the RFC.
    #[test]
    fn rfc_where_uws_is_not() {
        let ded = DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR;
        // server_no_context_takeover is honoured and echoed (uWS: "permessage-deflate").
        let a = negotiate(
            &opts(ded),
            b"permessage-deflate; server_no_context_takeover",
        )
        .unwrap();
        assert_eq!(a.response, "permessage-deflate; server_no_context_takeover");
        assert_eq!(a.compressor, Compressor::Shared { window_bits: 15 });
        // A smaller window of our own is not announced to a client that did not offer the
        // parameter (uWS: "...; server_max_window_bits=9").
        let a = negotiate(&opts(DEDICATED_COMPRESSOR_4KB), b"permessage-deflate").unwrap();
        assert_eq!(a.response, "permessage-deflate; client_no_context_takeover");
        assert_eq!(
            a.compressor,
            Compressor::Dedicated {
                window_bits: 9,
                mem_level: 2
            }
        );
        // The shared compressor honours server_max_window_bits (uWS ignores it).
        let a = negotiate(
            &opts(SHARED_COMPRESSOR),
            b"permessage-deflate; server_max_window_bits=9",
        )
        .unwrap();
        assert_eq!(
            a.response,
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=9"
        );
        assert_eq!(a.compressor, Compressor::Shared { window_bits: 9 });
        // Unknown parameters decline the offer (uWS accepts it).
        assert_eq!(
            response(SHARED_COMPRESSOR, "permessage-deflate; foo=1"),
            None
        );
        // A 256-byte window cannot be honoured: declined (uWS answers 9, more than allowed).
        assert_eq!(
            response(
                SHARED_COMPRESSOR,
                "permessage-deflate; server_max_window_bits=8"
            ),
            None
        );
        assert_eq!(
            response(
                SHARED_COMPRESSOR,
                "permessage-deflate; server_max_window_bits=8, permessage-deflate"
            )
            .as_deref(),
            Some("permessage-deflate; client_no_context_takeover; server_no_context_takeover")
        );
    }

    #[test]
    fn declines() {
        for bits in [
            SHARED_COMPRESSOR,
            DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR,
        ] {
            for offer in [
                "",
                "foo",
                "x-webkit-deflate-frame",
                "permessage-deflate; server_max_window_bits",
                "permessage-deflate; server_max_window_bits=16",
                "permessage-deflate; server_max_window_bits=7",
                "permessage-deflate; server_max_window_bits=010",
                "permessage-deflate; client_max_window_bits=abc",
                "permessage-deflate; client_max_window_bits=",
                "permessage-deflate; server_no_context_takeover=1",
                "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
                "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
                "permessage-deflate; client_max_window_bits=\"1\"0",
                "permessage-deflatex",
            ] {
                assert_eq!(response(bits, offer), None, "{offer:?}");
            }
        }
    }

    #[test]
    fn lenient_syntax() {
        let ded = DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR;
        assert_eq!(
            response(
                ded,
                "  PerMessage-Deflate ;Client_Max_Window_Bits = \"10\" "
            )
            .as_deref(),
            Some("permessage-deflate; client_max_window_bits=10")
        );
        // A quoted comma in another extension does not split the list.
        assert_eq!(
            response(ded, "foo; a=\"x,permessage-deflate\", permessage-deflate").as_deref(),
            Some("permessage-deflate")
        );
    }

    /// Autobahn 13.x offers: (requestNoContextTakeover, requestMaxWindowBits) pairs.
    #[test]
    fn autobahn_offers() {
        let shared = SHARED_COMPRESSOR | SHARED_DECOMPRESSOR;
        let ded = DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR;
        // 13.1: the default offer.
        let a = negotiate(&opts(ded), b"permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(a.decompressor, Decompressor::Dedicated { window_bits: 15 });
        // 13.3/13.5: server_max_window_bits=9.
        for bits in [shared, ded] {
            let a = negotiate(
                &opts(bits),
                b"permessage-deflate; server_max_window_bits=9; client_max_window_bits",
            )
            .unwrap();
            assert!(matches!(
                a.compressor,
                Compressor::Shared { window_bits: 9 }
                    | Compressor::Dedicated { window_bits: 9, .. }
            ));
            assert!(
                a.response.ends_with("server_max_window_bits=9"),
                "{}",
                a.response
            );
        }
        // 13.7: three offers; the first is acceptable and wins.
        let three = b"permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits, permessage-deflate; server_no_context_takeover; client_max_window_bits, permessage-deflate; client_max_window_bits";
        let a = negotiate(&opts(ded), three).unwrap();
        assert_eq!(
            a.response,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9"
        );
        assert_eq!(a.compressor, Compressor::Shared { window_bits: 9 });
        assert_eq!(a.decompressor, Decompressor::Dedicated { window_bits: 15 });
        let a = negotiate(&opts(shared), three).unwrap();
        assert_eq!(
            a.response,
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=9"
        );
        // client_max_window_bits=8: the client is told 8, we inflate with 9 (zlib's minimum).
        let a = negotiate(&opts(ded), b"permessage-deflate; client_max_window_bits=8").unwrap();
        assert_eq!(a.response, "permessage-deflate; client_max_window_bits=8");
        assert_eq!(a.decompressor, Decompressor::Dedicated { window_bits: 9 });
    }
}
