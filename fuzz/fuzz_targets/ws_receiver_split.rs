//! Differential: the same stream fed whole, cut where libFuzzer says, and one byte at a time
//! must give identical events and the identical final error. Whole feeding takes the
//! zero-copy in-place path; cut feeding the buffered one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use uws_core_fuzz::{pieces, receiver_config, run_receiver, split_input};

fuzz_target!(|data: &[u8]| {
    let Some((cfg, cuts, stream)) = split_input(data) else {
        return;
    };
    let cfg = receiver_config(cfg);
    let whole = run_receiver(&cfg, &[stream]);
    let split = run_receiver(&cfg, &pieces(stream, &cuts));
    assert_eq!(
        whole, split,
        "whole vs split feeding differ (cuts {cuts:?})"
    );
    if stream.len() <= 4096 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let bytewise = run_receiver(&cfg, &bytes);
        assert_eq!(whole, bytewise, "whole vs byte-at-a-time feeding differ");
    }
});
