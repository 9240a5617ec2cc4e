//! Request-head parser (+ query access and routing of what it parsed): arbitrary bytes.
//!
//! Checks: no panic; every returned range lies inside the head; names are lower-cased and
//! values trimmed; re-parsing the parsed buffer gives the same head; every prefix of a
//! complete head is "incomplete" (never an error nor another head), so a head cut by a read
//! boundary is never mis-parsed.
#![no_main]
use libfuzzer_sys::fuzz_target;
use uws_core::http::query::{get_query, try_url_decode, url_decode};
use uws_core::http::request::{parse_head, BodyKind, HttpError, RequestHead};
use uws_core_fuzz::fixed_router;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, raw)) = data.split_first() else {
        return;
    };
    let max_head = [64usize, 512, 4096, 1 << 20][(sel & 3) as usize];
    let mut buf = raw.to_vec();
    let mut reuse = Vec::new();
    let head = match parse_head(&mut buf, max_head, &mut reuse) {
        Ok(Some(h)) => h,
        Ok(None) => {
            assert!(
                buf.len() <= max_head,
                "incomplete head over the limit not rejected"
            );
            return;
        }
        Err(e) => {
            assert!(matches!(e.status(), 400 | 431));
            assert!(e.response().starts_with(b"HTTP/1.1 4"));
            return;
        }
    };
    check_head(&buf, &head, max_head);

    // Idempotent: the parser lower-cases names in place; parsing again changes nothing.
    let mut again = buf.clone();
    let second = parse_head(&mut again, max_head, &mut Vec::new());
    assert_eq!(second, Ok(Some(head.clone())));
    assert_eq!(again, buf);

    // Prefixes of the head are incomplete (checked at up to 24 lengths).
    let h = head.head_len;
    let step = (h / 24).max(1);
    for len in (0..h).step_by(step).chain([h.saturating_sub(1)]) {
        if len >= h {
            continue;
        }
        let mut prefix = raw[..len].to_vec();
        match parse_head(&mut prefix, max_head, &mut Vec::new()) {
            Ok(None) => {}
            Err(HttpError::HeadersTooLarge) => {}
            other => panic!("prefix {len}/{h} of a valid head gave {other:?}"),
        }
    }

    // What the addon does next with it: query access and routing.
    if let Some(q) = &head.query {
        let q = &buf[q.clone()];
        for key in [&b"a"[..], b"id", b"x", b"", q.get(..2).unwrap_or(b"")] {
            let _ = get_query(q, key);
        }
        let _ = url_decode(q);
        let _ = try_url_decode(q);
    }
    let url = &buf[head.url.clone()];
    let method = String::from_utf8_lossy(&buf[head.method.clone()]).to_ascii_lowercase();
    let router = fixed_router();
    let mut seen = 0;
    router.route(&method, url, &mut |_, params| {
        for i in 0..params.len() {
            let v = params.get(i).unwrap();
            assert!(!v.is_empty());
            let start = v.as_ptr() as usize - url.as_ptr() as usize;
            assert!(start + v.len() <= url.len(), "param outside the URL");
        }
        seen += 1;
        seen > 3
    });
    head.recycle(&mut reuse);
});

fn check_head(buf: &[u8], h: &RequestHead, max_head: usize) {
    assert!(h.head_len <= buf.len() && h.head_len <= max_head);
    assert!(buf[..h.head_len].ends_with(b"\r\n\r\n"));
    let inside = |r: &std::ops::Range<usize>| r.start <= r.end && r.end <= h.head_len;
    assert!(inside(&h.method) && !h.method.is_empty());
    assert!(inside(&h.url));
    assert!(!buf[h.url.clone()].contains(&b'?'));
    if let Some(q) = &h.query {
        assert!(inside(q));
        assert_eq!(q.start, h.url.end + 1);
    }
    assert!(inside(&h.full_url()));
    assert!(h.minor_version <= 1);
    for (name, value) in &h.headers {
        assert!(inside(name) && inside(value));
        let n = &buf[name.clone()];
        assert!(!n.is_empty());
        assert!(
            !n.iter().any(u8::is_ascii_uppercase),
            "header name not lower-cased"
        );
        let v = &buf[value.clone()];
        assert!(!v.starts_with(b" ") && !v.starts_with(b"\t"));
        assert!(!v.ends_with(b" ") && !v.ends_with(b"\t"));
    }
    let count = |name: &[u8]| {
        h.headers
            .iter()
            .filter(|(n, _)| &buf[n.clone()] == name)
            .count()
    };
    match h.body {
        BodyKind::Chunked => assert_eq!(count(b"content-length"), 0),
        BodyKind::Length(n) => {
            assert_eq!(count(b"transfer-encoding"), 0);
            assert!(n < 10u64.pow(18));
        }
        BodyKind::None => {
            assert_eq!(count(b"transfer-encoding") + count(b"content-length"), 0)
        }
    }
    if h.minor_version == 1 {
        assert!(count(b"host") >= 1, "HTTP/1.1 without Host accepted");
    }
}
