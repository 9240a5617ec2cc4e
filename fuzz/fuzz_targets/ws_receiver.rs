//! Frame parser + receiver: arbitrary bytes fed in arbitrary splits. Checks the invariants in
//! `uws_core_fuzz::run_receiver` (no panic, limits, UTF-8 of delivered text, valid close codes,
//! nothing after a close or an error, buffers released on failure).
#![no_main]
use libfuzzer_sys::fuzz_target;
use uws_core::ws::frame::parse_header;
use uws_core_fuzz::{pieces, receiver_config, run_receiver, split_input};

fuzz_target!(|data: &[u8]| {
    let Some((cfg, cuts, stream)) = split_input(data) else {
        return;
    };
    // The header parser alone: never reads past what it reports, never panics.
    if let Ok(Some(h)) = parse_header(stream) {
        assert!((2..=14).contains(&h.header_len) && h.header_len <= stream.len());
        assert!(h.payload_len < 1 << 63);
        assert!(!h.opcode.is_control() || (h.fin && h.payload_len <= 125));
    }
    let cfg = receiver_config(cfg);
    run_receiver(&cfg, &pieces(stream, &cuts));
});
