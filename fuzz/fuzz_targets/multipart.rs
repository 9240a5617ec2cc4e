//! multipart/form-data splitting (`getParts`): arbitrary content type and body.
//! Input: `CONTENT-TYPE\nBODY`. Checks: no panic, every returned slice borrows from the body,
//! part data never contains the delimiter, and the parts come in body order.
#![no_main]
use libfuzzer_sys::fuzz_target;
use uws_core::http::multipart::get_parts;

fn within(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start + inner.len() <= outer.len()).then_some(start)
}

fuzz_target!(|data: &[u8]| {
    let (ct, body) = match data.iter().position(|&c| c == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Some(parts) = get_parts(body, ct) else {
        return;
    };
    let mut last_end = 0;
    for p in &parts {
        let at = within(body, p.data).expect("part data outside the body");
        assert!(at >= last_end, "parts out of order / overlapping");
        last_end = at + p.data.len();
        for field in [p.name, p.filename, p.content_type].into_iter().flatten() {
            if !field.is_empty() {
                let f = within(body, field).expect("header field outside the body");
                assert!(f < at, "part header after its data");
            }
        }
    }
    // Every part needs at least `--b` before it, so a body holds at most len/3 parts.
    assert!(parts.len() <= body.len() / 3 + 1);
});
