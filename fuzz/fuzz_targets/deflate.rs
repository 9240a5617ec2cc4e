//! permessage-deflate: the bounded inflater on arbitrary bytes, and deflate -> inflate round
//! trips with and without context takeover, every window size.
//!
//! Input: `[cfg][n][n x u16 LE cuts][stream]`; the cuts split the stream into messages.
//! cfg bits 0-2: window bits 9 + (v % 7); bit 3: context takeover; bits 4-5: memLevel;
//! bit 6: raw-inflate mode (else round trip); bit 7: small output limit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use uws_core::ws::deflate::{Deflater, InflateError, Inflater};
use uws_core_fuzz::{pieces, split_input};

/// RFC 7692 7.2.3.1 "Hello", valid for a fresh (or reset) inflater of any window size.
const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

fuzz_target!(|data: &[u8]| {
    let Some((cfg, cuts, stream)) = split_input(data) else {
        return;
    };
    let wbits = 9 + (cfg & 7) % 7;
    let takeover = cfg & 0x08 != 0;
    let mem_level = [1u8, 4, 8, 9][((cfg >> 4) & 3) as usize];
    let limit = if cfg & 0x80 != 0 { 1000 } else { 1 << 20 };
    let messages = pieces(stream, &cuts);
    let mut out = Vec::new();

    if cfg & 0x40 != 0 {
        let mut inf = Inflater::new(wbits, takeover);
        for m in &messages {
            match inf.inflate(m, limit, &mut out) {
                Ok(()) => assert!(out.len() <= limit),
                Err(InflateError::TooBig) => {}
                Err(InflateError::Invalid) => {}
            }
            // After an error the stream was reset; without takeover it is reset anyway. A
            // fresh message must then inflate.
            let mut probe = Inflater::new(wbits, takeover);
            probe.inflate(&HELLO, 100, &mut out).unwrap();
            assert_eq!(out, b"Hello");
        }
        let mut fresh = Inflater::new(wbits, false);
        let _ = fresh.inflate(stream, limit, &mut out);
        fresh.inflate(&HELLO, 100, &mut out).unwrap();
        assert_eq!(
            out, b"Hello",
            "an inflater without takeover is reusable after any input"
        );
        return;
    }

    let mut def = Deflater::new(wbits, mem_level, takeover);
    let mut inf = Inflater::new(wbits, takeover);
    let mut wire = Vec::new();
    for m in &messages {
        wire.clear();
        def.compress(m, &mut wire).expect("compress");
        inf.inflate(&wire, m.len(), &mut out)
            .unwrap_or_else(|e| panic!("round trip of {} bytes failed: {e:?}", m.len()));
        assert_eq!(&out[..], *m, "round trip differs");
    }
    // The limit is exact: one byte less is too big.
    if let Some(m) = messages.iter().find(|m| !m.is_empty()) {
        let mut d = Deflater::new(wbits, mem_level, false);
        let mut i = Inflater::new(wbits, false);
        wire.clear();
        d.compress(m, &mut wire).unwrap();
        assert_eq!(
            i.inflate(&wire, m.len() - 1, &mut out),
            Err(InflateError::TooBig)
        );
        i.inflate(&wire, m.len(), &mut out).unwrap();
        assert_eq!(&out[..], *m);
    }
});
