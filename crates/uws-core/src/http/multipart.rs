//! `getParts(body, contentType)`: multipart/form-data splitting with uWS.js v20.30 semantics.
//!
//! Measured behaviour we match (v20.30; the algorithm of uWebSockets `src/Multipart.h`):
//! - the content type must be `multipart/*` (any subtype) with a `boundary` parameter of
//!   1..=70 bytes. Deliberate difference: v20.30 compared the prefix case-sensitively and took
//!   everything after the first `=` verbatim (a quoted boundary or a trailing `; charset=x`
//!   never matched); we parse the media type per RFC 9110 8.3.1 and unquote (RFC 2046 5.1.1);
//! - delimiters are found by searching `--boundary`; the two bytes after a delimiter (its
//!   CRLF) are skipped and the two bytes before the next one (the CRLF) are dropped from data;
//! - a part that cannot be parsed ends the iteration: parts before it are still returned;
//! - header names are case-insensitive; only `content-disposition` (`name`, `filename`)
//!   and `content-type` are reported; at most 9 header lines per part; a header line with an
//!   empty name hides every header after it (uWS stops at the first empty name);
//! - disposition values: quoted strings end at the next `"` (no escapes); the last
//!   occurrence of a parameter wins; a part without `name` has none.

/// One form field or file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part<'a> {
    /// `name` parameter of Content-Disposition; `None` when absent (uWS.js: `undefined`).
    pub name: Option<&'a [u8]>,
    pub filename: Option<&'a [u8]>,
    /// Raw Content-Type value (uWS.js exposes it as `type`), trailing spaces kept.
    pub content_type: Option<&'a [u8]>,
    pub data: &'a [u8],
}

/// uWS parses parts into a 10-entry header array whose last slot must stay free as the end
/// marker, so a part with 10 header lines is invalid (measured on v20.30).
const MAX_PART_HEADERS: usize = 9;

/// Splits `body`. `None` only when `content_type` is not multipart with a usable boundary
/// (uWS.js returns `undefined`); a malformed body gives the parts found before the damage.
pub fn get_parts<'a>(body: &'a [u8], content_type: &[u8]) -> Option<Vec<Part<'a>>> {
    let boundary = boundary(content_type)?;
    let mut parts = Vec::new();
    let Some(first) = find(body, &boundary) else {
        return Some(parts);
    };
    let mut rest = &body[first + boundary.len()..];
    while rest.len() >= boundary.len() {
        let Some(end) = find(rest, &boundary) else {
            break;
        };
        let Some(part) = parse_part(&rest[..end]) else {
            break;
        };
        parts.push(part);
        rest = &rest[end + boundary.len()..];
    }
    Some(parts)
}

/// The delimiter `--<boundary>` taken from `content_type`, or `None` if it is unusable.
///
/// The media type is parsed per RFC 9110 8.3.1: `multipart/*` compared case-insensitively,
/// parameters in any order, names case-insensitive, quoted values unquoted (RFC 2046 5.1.1).
/// v20.30 took everything after the first `=` verbatim; uws-rs parses deliberately.
fn boundary(content_type: &[u8]) -> Option<Boundary> {
    const PREFIX: &[u8] = b"multipart/";
    let ct = trim_start(content_type);
    if ct.len() < PREFIX.len() || !ct[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let mut b = Boundary {
        bytes: [b'-'; 72],
        len: 2,
    };
    let mut rest = ct;
    while let Some(semi) = rest.iter().position(|&c| c == b';') {
        rest = trim_start(&rest[semi + 1..]);
        let eq = rest.iter().position(|&c| c == b'=' || c == b';');
        let Some(eq) = eq.filter(|&i| rest[i] == b'=') else {
            continue;
        };
        let is_boundary = trim(&rest[..eq]).eq_ignore_ascii_case(b"boundary");
        let (value, next) = param_value(&rest[eq + 1..]);
        if is_boundary {
            if value.is_empty() || value.len() > 70 {
                return None;
            }
            b.len = value.len() + 2;
            b.bytes[2..b.len].copy_from_slice(value);
            return Some(b);
        }
        rest = next;
    }
    None
}

/// A parameter value (token or quoted string, quotes removed) and what follows it.
fn param_value(s: &[u8]) -> (&[u8], &[u8]) {
    if let Some(quoted) = s.strip_prefix(b"\"") {
        let close = quoted
            .iter()
            .position(|&c| c == b'"')
            .unwrap_or(quoted.len());
        return (&quoted[..close], quoted.get(close + 1..).unwrap_or(&[]));
    }
    let end = s
        .iter()
        .position(|&c| c == b';' || c == b' ' || c == b'\t')
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// `--` + boundary without a heap allocation (RFC 2046 caps boundaries at 70 bytes).
struct Boundary {
    bytes: [u8; 72],
    len: usize,
}

impl std::ops::Deref for Boundary {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses the bytes between two delimiters (starting right after `--boundary`).
fn parse_part(raw: &[u8]) -> Option<Part<'_>> {
    // Skip the line break (or the `--` of a close delimiter) that follows the boundary.
    let mut p = raw.get(2..)?;
    let mut part = Part {
        name: None,
        filename: None,
        content_type: None,
        data: &[],
    };
    let mut lines = 0;
    let mut reporting = true;
    loop {
        // Header name runs to ':' or any byte below 33; bytes >= 0x80 also stop it because
        // uWS compares a signed `char`.
        let name_len = p
            .iter()
            .position(|&c| c == b':' || !(33..0x80).contains(&c))
            .unwrap_or(p.len());
        if p.get(name_len) == Some(&b'\r') || name_len == p.len() {
            // End of headers needs CRLF; the end of the part counts as a lone CR.
            if p.get(name_len + 1) != Some(&b'\n') {
                return None;
            }
            p = &p[name_len + 2..];
            break;
        }
        if lines == MAX_PART_HEADERS {
            return None;
        }
        lines += 1;
        let name = &p[..name_len];
        let mut v = name_len + 1;
        while v < p.len() && (p[v] == b':' || !(33..0x80).contains(&p[v])) && p[v] != b'\r' {
            v += 1;
        }
        let cr = v + p[v.min(p.len())..].iter().position(|&c| c == b'\r')?;
        if p.get(cr + 1) != Some(&b'\n') {
            return None;
        }
        let value = &p[v..cr];
        reporting &= !name.is_empty();
        if reporting && name.eq_ignore_ascii_case(b"content-disposition") {
            parse_disposition(value, &mut part);
        } else if reporting && name.eq_ignore_ascii_case(b"content-type") {
            part.content_type = Some(value);
        }
        p = &p[cr + 2..];
    }
    // The CRLF that precedes the next delimiter is not data.
    part.data = p.get(..p.len().checked_sub(2)?)?;
    Some(part)
}

/// `form-data; name="a"; filename="f.txt"`: sets the parameters uWS.js reports.
fn parse_disposition<'a>(value: &'a [u8], part: &mut Part<'a>) {
    let mut rest = value;
    while !rest.is_empty() {
        let key_end = rest
            .iter()
            .position(|&c| c == b'=' || c == b';')
            .unwrap_or(rest.len());
        let key = trim(&rest[..key_end]);
        if rest.get(key_end) != Some(&b'=') {
            // A bare token such as `form-data`.
            rest = rest.get(key_end + 1..).unwrap_or(&[]);
            continue;
        }
        let after = trim_start(&rest[key_end + 1..]);
        let (val, next) = if let Some(quoted) = after.strip_prefix(b"\"") {
            let close = quoted
                .iter()
                .position(|&c| c == b'"')
                .unwrap_or(quoted.len());
            let tail = quoted.get(close + 1..).unwrap_or(&[]);
            let semi = tail
                .iter()
                .position(|&c| c == b';')
                .map_or(tail.len(), |s| s + 1);
            (&quoted[..close], &tail[semi..])
        } else {
            let semi = after.iter().position(|&c| c == b';').unwrap_or(after.len());
            (trim(&after[..semi]), after.get(semi + 1..).unwrap_or(&[]))
        };
        if key == b"name" {
            part.name = Some(val);
        } else if key == b"filename" {
            part.filename = Some(val);
        }
        rest = next;
    }
}

fn trim_start(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(s.len());
    &s[start..]
}

fn trim(s: &[u8]) -> &[u8] {
    let s = trim_start(s);
    let end = s
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(0, |e| e + 1);
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "----formdata-undici-032758389864";

    fn ct() -> String {
        format!("multipart/form-data; boundary={B}")
    }

    /// (name, filename, type, data) as strings for compact assertions.
    type Row = (Option<String>, Option<String>, Option<String>, String);

    fn rows(body: &str, content_type: &str) -> Option<Vec<Row>> {
        let st = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        get_parts(body.as_bytes(), content_type.as_bytes()).map(|parts| {
            parts
                .iter()
                .map(|p| {
                    (
                        p.name.map(st),
                        p.filename.map(st),
                        p.content_type.map(st),
                        st(p.data),
                    )
                })
                .collect()
        })
    }

    fn row(name: Option<&str>, filename: Option<&str>, ty: Option<&str>, data: &str) -> Row {
        (
            name.map(Into::into),
            filename.map(Into::into),
            ty.map(Into::into),
            data.into(),
        )
    }

    #[test]
    fn undici_form_data_body() {
        // Byte-for-byte what Node 20's FormData + Request produce.
        let body = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"field1\"\r\n\r\nvalue1\r\n\
             --{B}\r\nContent-Disposition: form-data; name=\"na%22me\"\r\n\r\nv\r\nx\r\n\
             --{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n\
             --{B}\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n\
             --{B}--\r\n"
        );
        assert_eq!(
            rows(&body, &ct()).unwrap(),
            vec![
                row(Some("field1"), None, None, "value1"),
                row(Some("na%22me"), None, None, "v\r\nx"),
                row(
                    Some("file"),
                    Some("a.txt"),
                    Some("text/plain"),
                    "hello\r\nworld"
                ),
                row(Some("empty"), None, None, ""),
            ]
        );
    }

    #[test]
    fn binary_data_is_borrowed_verbatim() {
        let mut body = format!("--{B}\r\nContent-Disposition: form-data; name=\"b\"; filename=\"x.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
        let start = body.len();
        body.extend_from_slice(&[0, 255, 13, 10, 45, 45, 1]);
        body.extend_from_slice(format!("\r\n--{B}--\r\n").as_bytes());
        let parts = get_parts(&body, ct().as_bytes()).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].data, &[0, 255, 13, 10, 45, 45, 1]);
        assert_eq!(parts[0].data.as_ptr(), body[start..].as_ptr());
    }

    #[test]
    fn content_type_validation() {
        let body = format!(
            "junk\r\n--{B}\r\nContent-Disposition: form-data; name=a\r\n\r\nxx\r\n--{B}--\r\n"
        );
        let one = Some(vec![row(Some("a"), None, None, "xx")]);
        assert_eq!(rows(&body, &ct()), one);
        assert_eq!(
            rows(&body, &format!("multipart/form-data;boundary={B}")),
            one
        );
        assert_eq!(rows(&body, &format!("multipart/mixed; boundary={B}")), one);
        assert_eq!(rows(&body, "multipart/form-data"), None);
        assert_eq!(rows(&body, &format!("text/plain; boundary={B}")), None);
        assert_eq!(
            rows(&body, &format!("Multipart/Form-Data; BOUNDARY={B}")),
            one
        );
        assert_eq!(rows(&body, "multipart/form-data; boundary="), None);
        assert_eq!(
            rows(
                &body,
                &format!("multipart/form-data; boundary={}", "a".repeat(71))
            ),
            None
        );
        assert_eq!(
            rows(&body, &format!("multipart/form-data; boundary=\"{B}\"")),
            one
        );
        assert_eq!(
            rows(
                &body,
                &format!("multipart/form-data; boundary={B}; charset=utf-8")
            ),
            one
        );
        assert_eq!(
            rows(
                &body,
                &format!("multipart/form-data; charset=\"a;b\"; boundary={B}")
            ),
            one
        );
    }

    // The remaining cases replay measurements of uWS.js v20.30 getParts (boundary "XyZ").
    fn x(body: &str) -> Vec<Row> {
        rows(body, "multipart/form-data; boundary=XyZ").unwrap()
    }

    const D: &str = "Content-Disposition: form-data; name=\"a\"\r\n";

    #[test]
    fn data_shorter_than_crlf_ends_parsing() {
        assert_eq!(
            x(&format!("--XyZ\r\n{D}\r\nx--XyZy\r\n--XyZ--\r\n")),
            vec![]
        );
        assert_eq!(
            x(&format!("--XyZ\r\n{D}\r\nxx--XyZ--\r\n")),
            vec![row(Some("a"), None, None, "")]
        );
    }

    #[test]
    fn missing_or_unusual_terminators() {
        assert_eq!(
            x(&format!("--XyZ\r\n{D}\r\nxx\r\n--XyZ\r\n")),
            vec![row(Some("a"), None, None, "xx")]
        );
        assert_eq!(
            x(&format!(
                "--XyZ\r\n{D}\r\nxx\r\n--XyZ\r\n{D}\r\nyy\r\n--XyZ"
            )),
            vec![
                row(Some("a"), None, None, "xx"),
                row(Some("a"), None, None, "yy")
            ]
        );
        assert_eq!(x(&format!("--XyZ\r\n{D}\r\nxx")), vec![]);
        assert_eq!(
            x(&format!(
                "--XyZ\r\n{D}\r\nxx\r\n--XyZ--\r\nepilogue\r\n--XyZ\r\n{D}\r\nzz\r\n--XyZ--"
            )),
            vec![
                row(Some("a"), None, None, "xx"),
                row(None, None, None, "epilogue"),
                row(Some("a"), None, None, "zz")
            ]
        );
    }

    #[test]
    fn header_parsing_quirks() {
        assert_eq!(
            x("--XyZ\r\ncontent-disposition: form-data; name=a; filename=f\r\ncontent-type: t/x\r\n\r\nxx\r\n--XyZ--"),
            vec![row(Some("a"), Some("f"), Some("t/x"), "xx")]
        );
        assert_eq!(
            x("--XyZ\r\nContent-Disposition:form-data;name=\"a\"  ;  filename = \"f\"\r\nContent-Type:   t/x  \r\n\r\nxx\r\n--XyZ--"),
            vec![row(Some("a"), Some("f"), Some("t/x  "), "xx")]
        );
        assert_eq!(
            x("--XyZ\r\nContent-Disposition: form-data; name=\"a\"; name=\"b\"\r\n\r\nxx\r\n--XyZ--"),
            vec![row(Some("b"), None, None, "xx")]
        );
        assert_eq!(
            x("--XyZ\r\nContent-Disposition: form-data; name=\"a\\\"b\"\r\n\r\nxx\r\n--XyZ--"),
            vec![row(Some("a\\"), None, None, "xx")]
        );
        assert_eq!(
            x("--XyZ\r\nbogus\r\n\r\nxx\r\n--XyZ--"),
            vec![row(None, None, None, "\r\nxx")]
        );
        assert_eq!(x(&format!("--XyZ\r\n{D}xx\r\n--XyZ--")), vec![]);
        assert_eq!(
            x(&format!("--XyZX\r\n{D}\r\nxx\r\n--XyZ--")),
            vec![row(None, None, None, "xx")]
        );
        assert_eq!(
            x("--XyZ\r\nContent-Disposition: form-data; name=\"a\"; filename*=UTF-8''x.txt\r\n\r\nxx\r\n--XyZ--"),
            vec![row(Some("a"), None, None, "xx")]
        );
        assert_eq!(
            x("--XyZ\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nxx\r\n--XyZ--"),
            vec![row(Some(""), None, None, "xx")]
        );
        assert_eq!(
            x("--XyZ\r\nContent-Disposition: form-data; name=\"a;b\"; filename=\"x y.txt\"\r\n\r\nxx\r\n--XyZ--"),
            vec![row(Some("a;b"), Some("x y.txt"), None, "xx")]
        );
        assert_eq!(
            x("--XyZ\r\n\r\nxx\r\n--XyZ--\r\n"),
            vec![row(None, None, None, "xx")]
        );
        assert_eq!(
            x("--XyZ\r\nX-Other: 1\r\n\r\nxx\r\n--XyZ--"),
            vec![row(None, None, None, "xx")]
        );
    }

    #[test]
    fn lf_only_and_garbage_bodies_give_no_parts() {
        assert_eq!(
            x("--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nxx\n--XyZ--\n"),
            vec![]
        );
        assert_eq!(x("hello world"), vec![]);
        assert_eq!(x(""), vec![]);
    }

    #[test]
    fn header_line_limit() {
        let nine = "H: v\r\n".repeat(9);
        assert_eq!(x(&format!("--XyZ\r\n{nine}\r\nxx\r\n--XyZ--")).len(), 1);
        let ten = "H: v\r\n".repeat(10);
        assert_eq!(x(&format!("--XyZ\r\n{ten}\r\nxx\r\n--XyZ--")), vec![]);
    }

    #[test]
    fn empty_header_name_hides_later_headers() {
        assert_eq!(
            x("--XyZ\r\n: v\r\nContent-Type: t\r\n\r\nxx\r\n--XyZ--"),
            vec![row(None, None, None, "xx")]
        );
        assert_eq!(
            x("--XyZ\r\nContent-Type: t\r\nContent-Disposition: form-data; name=a\r\n\r\nxx\r\n--XyZ--"),
            vec![row(Some("a"), None, Some("t"), "xx")]
        );
    }
}
