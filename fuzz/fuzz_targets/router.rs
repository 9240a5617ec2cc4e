//! Router: arbitrary method + URL against the fixed table (plus up to 4 patterns taken from
//! the input, and optionally one fixed route removed), compared with a naive matcher.
//!
//! Input: `[flags]METHOD URL\nPATTERN\nPATTERN...`. With a handler that always declines,
//! the router must offer the request to exactly the routes whose pattern matches, each once,
//! with the `:param` values the naive matcher extracts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use uws_core::http::router::{Router, ANY_METHODS, PRIORITY_MEDIUM};
use uws_core_fuzz::ROUTES;

/// uWS `getUrlSegment` splitting: drop one byte (the `/`), take up to the next `/`.
fn segments(mut url: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some(rest) = url.get(1..) {
        let len = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
        out.push(&rest[..len]);
        url = &rest[len..];
        if out.len() == 100 {
            break;
        }
    }
    out
}

/// Naive match of one pattern: `Some(params)` when it matches.
fn naive<'u>(pattern: &str, url: &'u [u8]) -> Option<Vec<&'u [u8]>> {
    let pat = segments(pattern.as_bytes());
    let segs = segments(url);
    let mut params = Vec::new();
    for (i, p) in pat.iter().enumerate() {
        match p.first() {
            // A wildcard takes the rest, provided there is a (possibly empty) segment left;
            // anything after it in the pattern is unreachable.
            Some(b'*') => return (i < segs.len() && i == pat.len() - 1).then_some(params),
            Some(b':') => {
                let s = segs.get(i)?;
                if s.is_empty() {
                    return None;
                }
                params.push(*s);
            }
            _ => {
                if segs.get(i)? != p {
                    return None;
                }
            }
        }
    }
    (segs.len() == pat.len()).then_some(params)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut lines = rest.split(|&c| c == b'\n');
    let first = lines.next().unwrap_or_default();
    let (method, url) = match first.iter().position(|&c| c == b' ') {
        Some(sp) => (&first[..sp], &first[sp + 1..]),
        None => (&b"get"[..], first),
    };
    let Ok(method) = std::str::from_utf8(method) else {
        return;
    };
    let method = method.to_ascii_lowercase();

    let mut table: Vec<(String, String, u8)> = ROUTES
        .iter()
        .map(|&(m, p, pr)| (m.to_string(), p.to_string(), pr))
        .collect();
    for line in lines.take(4) {
        if let Ok(p) = std::str::from_utf8(line) {
            // JS patterns start with '/'; the first byte of each segment is dropped unseen.
            let p = if p.starts_with('/') {
                p.to_string()
            } else {
                format!("/{p}")
            };
            let m = if flags & 0x10 != 0 { "*" } else { "get" };
            table.push((m.into(), p, (flags >> 5) % 3));
        }
    }
    // Identical (method, pattern, priority) replaces: keep the last one only.
    let mut live: Vec<Option<(String, String, u8)>> = Vec::new();
    for r in &table {
        for slot in live.iter_mut() {
            if slot.as_ref() == Some(r) {
                *slot = None;
            }
        }
        live.push(Some(r.clone()));
    }
    let mut router: Router<usize> = Router::new();
    for (i, r) in live.iter().enumerate() {
        if let Some((m, p, pr)) = r {
            router.add(m, p, *pr, i);
        }
    }
    if flags & 0x08 != 0 {
        let victim = (flags & 0x07) as usize * 2 % ROUTES.len();
        if let Some((m, p, pr)) = live[victim].clone() {
            assert!(router.remove(&m, &p, pr));
            live[victim] = None;
            assert!(!router.remove(&m, &p, pr));
        }
    }

    let mut expected: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
    for (i, r) in live.iter().enumerate() {
        let Some((m, p, _)) = r else { continue };
        let method_ok = if m == "*" {
            ANY_METHODS.contains(&method.as_str())
        } else {
            m == &method
        };
        if method_ok {
            if let Some(params) = naive(p, url) {
                expected.push((i, params.into_iter().map(<[u8]>::to_vec).collect()));
            }
        }
    }
    let mut got: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
    let handled = router.route(&method, url, &mut |&id, params| {
        let values: Vec<Vec<u8>> = (0..params.len())
            .map(|i| params.get(i).unwrap().to_vec())
            .collect();
        // A name per value (names after a `*` are never reached, so may be extra).
        assert!(
            params.names().len() >= values.len(),
            "names vs values for route {id}"
        );
        got.push((id, values));
        false
    });
    assert!(!handled);
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert!(
        got_sorted.windows(2).all(|w| w[0].0 != w[1].0),
        "route offered twice: {got:?}"
    );
    expected.sort();
    assert_eq!(
        got_sorted,
        expected,
        "router vs naive for {method} {:?}",
        String::from_utf8_lossy(url)
    );

    // Accepting stops at the first offer.
    if let Some(&(first, _)) = got.first() {
        let mut offers = 0;
        let handled = router.route(&method, url, &mut |&id, _| {
            offers += 1;
            assert_eq!(id, first);
            true
        });
        assert!(handled && offers == 1);
    }
    let _ = PRIORITY_MEDIUM;
});
