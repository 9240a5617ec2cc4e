//! Query-string access with uWebSockets' `getQuery(key)` semantics.
//!
//! Behaviour measured on uWebSockets.js v20.30 (and matching uWebSockets `src/QueryParser.h`):
//! - keys are compared raw (never decoded); the first statement with that key wins;
//! - values decode `%XX` and `+` (to a space);
//! - a `%` without two following bytes makes the whole value `undefined` (here `None`);
//! - hex digits are not validated: uWS maps any byte through `c - '0'`, folding letters, so
//!   `%2x` decodes to `a`. We reproduce that arithmetic so decoded bytes are identical;
//! - a key present without `=` (`?debug`) is `undefined` (v20.30; newer uWS returns "").
//!
//! Unlike uWS we never decode in place, so repeated calls return the same value (uWS would
//! decode `%2541` to `%41` on the first call and to `A` on the second).

use std::borrow::Cow;

/// Decodes `%XX` escapes and `+` as uWS does. A truncated escape at the end is kept literally.
/// Borrows when there is nothing to decode.
pub fn url_decode(input: &[u8]) -> Cow<'_, [u8]> {
    decode(input, false).unwrap_or(Cow::Borrowed(input))
}

/// Like [`url_decode`] but `None` when an escape is truncated, which is what `getQuery` does.
pub fn try_url_decode(input: &[u8]) -> Option<Cow<'_, [u8]>> {
    decode(input, true)
}

fn decode(input: &[u8], strict: bool) -> Option<Cow<'_, [u8]>> {
    let Some(first) = input.iter().position(|&c| c == b'%' || c == b'+') else {
        return Some(Cow::Borrowed(input));
    };
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(&input[..first]);
    let mut i = first;
    while i < input.len() {
        match input[i] {
            b'%' if i + 2 < input.len() => {
                let byte = hex_value(input[i + 1]) * 16 + hex_value(input[i + 2]);
                // Truncation to a byte is what uWS's `(unsigned char)` cast does.
                out.push(byte as u8);
                i += 3;
                continue;
            }
            b'%' if strict => return None,
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    Some(Cow::Owned(out))
}

/// uWS's digit arithmetic on a (signed, x86/ARM64-Linux) `char`: `c - '0'`, and above 9
/// clear the lower-case bit and subtract 7. Non-hex bytes give garbage, exactly as there.
fn hex_value(c: u8) -> i32 {
    let v = i32::from(c as i8) - i32::from(b'0');
    if v > 9 {
        (v & 0xDF) - 7
    } else {
        v
    }
}

/// `getQuery(key)`: `query` is the raw query string without the leading `?`.
pub fn get_query<'a>(query: &'a [u8], key: &[u8]) -> Option<Cow<'a, [u8]>> {
    if key.is_empty() {
        return None;
    }
    for statement in query.split(|&c| c == b'&') {
        match statement.iter().position(|&c| c == b'=') {
            // A matching valueless key ends the search (v20.30 returns undefined, not "").
            None if statement == key => return None,
            None => {}
            Some(eq) if &statement[..eq] == key => return try_url_decode(&statement[eq + 1..]),
            Some(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(query: &str, key: &str) -> Option<String> {
        get_query(query.as_bytes(), key.as_bytes())
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    #[test]
    fn decode_borrows_when_clean() {
        assert!(matches!(url_decode(b"abc"), Cow::Borrowed(b"abc")));
    }

    #[test]
    fn decode_plus_and_percent() {
        assert_eq!(&*url_decode(b"a+b%20c"), b"a b c");
        assert_eq!(&*url_decode(b"%e2%82%ac"), "€".as_bytes());
        assert_eq!(&*url_decode(b"%41%42"), b"AB");
    }

    #[test]
    fn decode_sloppy_hex_like_uws() {
        // Measured on v20.30: ?x=a+b%20c%2x => "a b ca".
        assert_eq!(&*url_decode(b"a+b%20c%2x"), b"a b ca");
        assert_eq!(&*url_decode(b"%4a%4A"), b"JJ");
        // Bytes >= 0x80 go through a signed char there: (-61-48)*16 + 1 truncated to a byte.
        assert_eq!(&*url_decode(b"%\xc31"), &[((-109i32) * 16 + 1) as u8][..]);
    }

    #[test]
    fn decode_truncated_escape() {
        assert_eq!(&*url_decode(b"a%4"), b"a%4");
        assert_eq!(&*url_decode(b"%"), b"%");
        assert_eq!(try_url_decode(b"a%4"), None);
        assert_eq!(try_url_decode(b"%"), None);
        assert_eq!(try_url_decode(b"%41").as_deref(), Some(&b"A"[..]));
    }

    #[test]
    fn get_query_matches_v20_30_measurements() {
        assert_eq!(q("y&y=1", "y"), None);
        assert_eq!(q("y=1&y", "y"), Some("1".into()));
        assert_eq!(q("a=1&a=2", "a"), Some("1".into()));
        assert_eq!(q("&&a=1", "a"), Some("1".into()));
        assert_eq!(q("a=b=c", "a"), Some("b=c".into()));
        assert_eq!(q("=x&b=2", "b"), Some("2".into()));
        assert_eq!(q("=x&b=2", ""), None);
        assert_eq!(q("%41=1", "%41"), Some("1".into()));
        assert_eq!(q("%41=1", "A"), None);
        assert_eq!(q("c%20d=1&c+d=2", "c d"), None);
        assert_eq!(q("c%20d=1&c+d=2", "c+d"), Some("2".into()));
        assert_eq!(q("e=%", "e"), None);
        assert_eq!(q("e=%4", "e"), None);
        assert_eq!(q("e=%2", "e"), None);
        assert_eq!(q("e=%41", "e"), Some("A".into()));
        assert_eq!(q("a=%41%", "a"), None);
        assert_eq!(q("a", "a"), None);
        assert_eq!(q("", "a"), None);
        assert_eq!(q("e=%00x", "e"), Some("\0x".into()));
        assert_eq!(q("x=a+b%20c%2x&y&z=", "x"), Some("a b ca".into()));
        assert_eq!(q("x=a+b%20c%2x&y&z=", "z"), Some("".into()));
    }

    #[test]
    fn get_query_borrows_plain_values() {
        assert!(matches!(get_query(b"k=v", b"k"), Some(Cow::Borrowed(b"v"))));
    }
}
