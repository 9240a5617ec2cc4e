//! Handshake validation: arbitrary request heads (parsed as the addon does) and arbitrary
//! header values. An accepted upgrade must have a key that is base64 of 16 bytes and version
//! 13; the 101 response must be a well-formed HTTP response carrying the right accept key.
#![no_main]
use libfuzzer_sys::fuzz_target;
use uws_core::http::request::parse_head;
use uws_core::ws::deflate::{negotiate, CompressOptions, Compressor, Decompressor};
use uws_core::ws::handshake::{accept_key, response_head, validate_upgrade, UpgradeHeaders};

fn decodes_to_16(key: &[u8]) -> bool {
    // Independent base64 check: 22 symbols + "==", and the last symbol's low 4 bits unused
    // (canonical) or not: decoders differ; accept either but require 24 chars and "==".
    const SYM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    key.len() == 24 && key.ends_with(b"==") && key[..22].iter().all(|c| SYM.contains(c))
}

fn check(method: &[u8], h: &UpgradeHeaders) {
    if validate_upgrade(method, h).is_err() {
        return;
    }
    assert_eq!(method, b"GET");
    let key = h.key.unwrap();
    let trimmed = key.trim_ascii();
    assert!(
        decodes_to_16(trimmed),
        "accepted key {:?}",
        String::from_utf8_lossy(key)
    );
    assert_eq!(h.version.map(|v| v.trim_ascii()), Some(&b"13"[..]));
    let accept = accept_key(trimmed);
    // Echo a client-supplied value as the protocol, as the addon does with the first entry of
    // Sec-WebSocket-Protocol: any bytes a request header value may hold.
    let field_byte = |c: &u8| *c == b'\t' || (0x20..0x7f).contains(c) || *c >= 0x80;
    let protocol = h
        .upgrade
        .map(|p| p.trim_ascii())
        .filter(|p| p.iter().all(field_byte));
    let head = response_head(
        &accept,
        protocol,
        h.connection
            .filter(|p| p.iter().all(field_byte))
            .map(|p| p.trim_ascii()),
    );
    let mut headers = [httparse::EMPTY_HEADER; 8];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&head) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, head.len()),
        other => panic!(
            "bad 101 head {other:?}: {:?}",
            String::from_utf8_lossy(&head)
        ),
    }
    assert_eq!(resp.code, Some(101));
    let got = resp
        .headers
        .iter()
        .find(|x| x.name == "Sec-WebSocket-Accept")
        .unwrap();
    assert_eq!(got.value, &accept[..]);
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, raw)) = data.split_first() else {
        return;
    };
    if sel & 3 == 2 {
        // permessage-deflate negotiation: `[u32 LE compression bits][Sec-WebSocket-Extensions]`.
        if raw.len() < 4 {
            return;
        }
        let bits = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let Some(options) = CompressOptions::from_bits(bits) else {
            assert_eq!(bits, 0);
            return;
        };
        if let Some(a) = negotiate(&options, &raw[4..]) {
            assert!(a.response.starts_with("permessage-deflate"));
            assert!(
                !a.response.bytes().any(|c| c < 0x20 || c == 0x7f),
                "control byte in {:?}",
                a.response
            );
            match a.compressor {
                Compressor::Shared { window_bits } => assert!((8..=15).contains(&window_bits)),
                Compressor::Dedicated {
                    window_bits,
                    mem_level,
                } => {
                    assert!((8..=15).contains(&window_bits) && (1..=9).contains(&mem_level))
                }
            }
            if let Decompressor::Dedicated { window_bits } = a.decompressor {
                assert!((8..=15).contains(&window_bits));
            }
            // The answer is itself a well-formed offer that we would accept the same way.
            assert_eq!(negotiate(&options, &raw[4..]).as_ref(), Some(&a));
        }
        return;
    }
    if sel & 1 == 0 {
        // Five NUL-separated fields: method, upgrade, connection, key, version (absent if missing).
        let mut f = raw.split(|&c| c == 0);
        let method = f.next().unwrap_or_default();
        let h = UpgradeHeaders {
            upgrade: f.next(),
            connection: f.next(),
            key: f.next(),
            version: f.next(),
        };
        check(method, &h);
        return;
    }
    let mut buf = raw.to_vec();
    let Ok(Some(head)) = parse_head(&mut buf, 1 << 16, &mut Vec::new()) else {
        return;
    };
    let h = UpgradeHeaders {
        upgrade: head.header(&buf, b"upgrade"),
        connection: head.header(&buf, b"connection"),
        key: head.header(&buf, b"sec-websocket-key"),
        version: head.header(&buf, b"sec-websocket-version"),
    };
    check(&buf[head.method.clone()], &h);
});
