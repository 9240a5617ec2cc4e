//! Request-head parsing: request line and header fields, via `httparse`.
//!
//! The parser is stateless and zero-copy: it is re-run on the connection's buffer until a
//! complete head is present, and returns ranges into that buffer. The only heap memory is
//! the header-range Vec, which callers recycle across requests ([`RequestHead::recycle`]).

use std::fmt;
use std::ops::Range;

/// Header fields beyond this are rejected (uWS's fixed header array has the same purpose).
pub const MAX_HEADERS: usize = 100;

/// One header as (lower-cased name, trimmed value) ranges into the parsed buffer.
pub type HeaderRange = (Range<usize>, Range<usize>);

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No `Content-Length` and no `Transfer-Encoding`: no body.
    None,
    /// `Content-Length: n` (may be 0).
    Length(u64),
    /// `Transfer-Encoding` whose final coding is `chunked`.
    Chunked,
}

/// A parsed request head. All ranges index into the buffer given to [`parse_head`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Bytes of request line + headers + the final empty line.
    pub head_len: usize,
    /// Method token exactly as sent (case kept).
    pub method: Range<usize>,
    /// Path without `?query`. For absolute-form targets (`http://host/p`) only the path part;
    /// empty if the absolute target has no path.
    pub url: Range<usize>,
    /// Raw query after `?` (without it); `None` when the target has no `?`.
    pub query: Option<Range<usize>>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Names are lower-cased in place in the buffer; values have surrounding whitespace trimmed.
    pub headers: Vec<HeaderRange>,
    pub body: BodyKind,
    /// HTTP/1.1: true unless `Connection: close`; HTTP/1.0: only with `Connection: keep-alive`.
    pub keep_alive: bool,
}

impl RequestHead {
    /// First value of the header `lowercase_name`, as uWS's `getHeader` (first match wins).
    pub fn header<'a>(&self, buf: &'a [u8], lowercase_name: &[u8]) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(name, _)| &buf[name.clone()] == lowercase_name)
            .map(|(_, value)| &buf[value.clone()])
    }

    /// The full request target (path plus `?query`) as sent, minus any absolute-form prefix.
    pub fn full_url(&self) -> Range<usize> {
        match &self.query {
            Some(q) => self.url.start..q.end,
            None => self.url.clone(),
        }
    }

    /// Hands the headers Vec back so the next [`parse_head`] reuses its capacity.
    pub fn recycle(self, reuse: &mut Vec<HeaderRange>) {
        *reuse = self.headers;
    }
}

/// Why a request head was rejected. Each maps to a response sent before closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// Head larger than the configured maximum (431).
    HeadersTooLarge,
    /// More than [`MAX_HEADERS`] header fields (400).
    TooManyHeaders,
    /// Not a syntactically valid HTTP/1.x request head (400).
    Malformed,
    /// Both Content-Length and Transfer-Encoding, conflicting Content-Lengths, or a
    /// non-numeric one (400): ambiguous framing is how requests get smuggled.
    BadContentLength,
    /// Transfer-Encoding whose final coding is not `chunked` (400, as RFC 9112 6.3 requires:
    /// the body length cannot be determined).
    UnsupportedTransferEncoding,
}

impl HttpError {
    pub fn status(&self) -> u16 {
        match self {
            Self::HeadersTooLarge => 431,
            _ => 400,
        }
    }

    /// A complete response to write before closing the connection.
    pub fn response(&self) -> &'static [u8] {
        match self {
            Self::HeadersTooLarge => {
                b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            }
            _ => b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HeadersTooLarge => "request head too large",
            Self::TooManyHeaders => "too many request headers",
            Self::Malformed => "malformed request head",
            Self::BadContentLength => "invalid or ambiguous Content-Length",
            Self::UnsupportedTransferEncoding => "unsupported Transfer-Encoding",
        })
    }
}

impl std::error::Error for HttpError {}

/// Parses one request head at the start of `buf`.
///
/// `Ok(None)`: incomplete, read more (unless `buf` already exceeds `max_head_size`, which is
/// `Err(HeadersTooLarge)`). The returned head owns the Vec taken from `reuse` (cleared first);
/// give it back with [`RequestHead::recycle`] to avoid a per-request allocation.
pub fn parse_head(
    buf: &mut [u8],
    max_head_size: usize,
    reuse: &mut Vec<HeaderRange>,
) -> Result<Option<RequestHead>, HttpError> {
    // Uninitialised slots: initialising 100 headers (3.2 KB) cost more than parsing a request.
    let mut slots = [std::mem::MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > max_head_size => {
            return Err(HttpError::HeadersTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(_) => return Err(HttpError::Malformed),
    };
    if head_len > max_head_size {
        return Err(HttpError::HeadersTooLarge);
    }
    if has_bare_lf(&buf[..head_len]) {
        return Err(HttpError::Malformed);
    }

    // httparse hands out sub-slices of `buf`; convert them to offsets so the borrow ends
    // and we can lower-case names in place.
    let base = buf.as_ptr() as usize;
    let buf_len = buf.len();
    let range_of = |s: &[u8]| {
        // An empty slice might not point into `buf`; its position does not matter then.
        match (s.as_ptr() as usize).checked_sub(base) {
            Some(start) if start + s.len() <= buf_len => start..start + s.len(),
            _ => 0..0,
        }
    };
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(HttpError::Malformed);
    };
    let method = range_of(method.as_bytes());
    let target = range_of(target.as_bytes());
    let mut headers = std::mem::take(reuse);
    headers.clear();
    headers.extend(req.headers.iter().map(|h| {
        let value = range_of(trim(h.value));
        (range_of(h.name.as_bytes()), value)
    }));

    for (name, _) in &headers {
        buf[name.clone()].make_ascii_lowercase();
    }
    let (url, query) = split_target(buf, target);
    let framing = framing(buf, &headers, minor_version);
    let (body, keep_alive) = match framing {
        Ok(v) => v,
        Err(e) => {
            *reuse = headers;
            return Err(e);
        }
    };
    Ok(Some(RequestHead {
        head_len,
        method,
        url,
        query,
        minor_version,
        headers,
        body,
        keep_alive,
    }))
}

/// RFC 9112 2.2 lets a server reject bare LF line endings; we do (httparse accepts them), as
/// lenient line parsing is a request-smuggling vector and v20.30 never served such requests.
fn has_bare_lf(head: &[u8]) -> bool {
    // A bare LF is an LF not preceded by CR. Checked 255 bytes at a time with byte-wide,
    // branch-free counts that LLVM vectorises (a byte-at-a-time scan showed in the HTTP
    // profile): the LFs of a block, minus those whose previous byte is CR.
    let mut prev = 0u8; // the byte before the block (none before the first: not a CR)
    for block in head.chunks(255) {
        let lf: u8 = block.iter().map(|&c| u8::from(c == b'\n')).sum();
        let crlf_inside: u8 = block
            .iter()
            .zip(&block[1..])
            .map(|(&a, &b)| u8::from((a == b'\r') & (b == b'\n')))
            .sum();
        let crlf_across = u8::from(prev == b'\r' && block[0] == b'\n');
        if lf != crlf_inside + crlf_across {
            return true;
        }
        prev = block[block.len() - 1];
    }
    false
}

fn trim(value: &[u8]) -> &[u8] {
    let is_ows = |c: &u8| *c == b' ' || *c == b'\t';
    let start = value.iter().position(|c| !is_ows(c)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|c| !is_ows(c))
        .map_or(start, |p| p + 1);
    &value[start..end]
}

/// Splits the target into path and query, dropping an absolute-form `scheme://authority`
/// prefix the way newer uWS does (v20.30 never answered such requests at all).
fn split_target(buf: &[u8], target: Range<usize>) -> (Range<usize>, Option<Range<usize>>) {
    let t = &buf[target.clone()];
    let mut path_start = target.start;
    for scheme in [&b"http://"[..], b"https://"] {
        if t.len() >= scheme.len() && t[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let after = &t[scheme.len()..];
            let authority_len = after
                .iter()
                .position(|&c| c == b'/' || c == b'?')
                .unwrap_or(after.len());
            path_start = target.start + scheme.len() + authority_len;
            break;
        }
    }
    match buf[path_start..target.end].iter().position(|&c| c == b'?') {
        Some(q) => (
            path_start..path_start + q,
            Some(path_start + q + 1..target.end),
        ),
        None => (path_start..target.end, None),
    }
}

/// Body framing and persistence from Content-Length / Transfer-Encoding / Connection.
fn framing(
    buf: &[u8],
    headers: &[HeaderRange],
    minor_version: u8,
) -> Result<(BodyKind, bool), HttpError> {
    let mut content_length: Option<u64> = None;
    let mut chunked: Option<bool> = None;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut host = false;
    for (name, value) in headers {
        let value = &buf[value.clone()];
        match &buf[name.clone()] {
            b"content-length" => {
                let n = parse_content_length(value)?;
                if content_length.is_some_and(|prev| prev != n) {
                    return Err(HttpError::BadContentLength);
                }
                content_length = Some(n);
            }
            b"transfer-encoding" => {
                // Only the final coding of the last field decides; "gzip, chunked" is
                // chunked framing (uWS passes the still-encoded bytes through too).
                let last = value.rsplit(|&c| c == b',').next().map(trim).unwrap_or(b"");
                chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
            }
            b"host" => host = true,
            b"connection" => {
                for token in value.split(|&c| c == b',').map(trim) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            _ => {}
        }
    }
    if minor_version >= 1 && !host {
        // RFC 9112 3.2: an HTTP/1.1 request without Host must be answered 400.
        return Err(HttpError::Malformed);
    }
    let keep_alive = !close && (minor_version >= 1 || keep_alive_token);
    let body = match (chunked, content_length) {
        (Some(_), Some(_)) => return Err(HttpError::BadContentLength),
        (Some(true), None) => BodyKind::Chunked,
        (Some(false), None) => return Err(HttpError::UnsupportedTransferEncoding),
        (None, Some(n)) => BodyKind::Length(n),
        (None, None) => BodyKind::None,
    };
    Ok((body, keep_alive))
}

/// Digits only, at most 18 of them (uWS's `toUnsignedInteger` limit, so no overflow).
fn parse_content_length(value: &[u8]) -> Result<u64, HttpError> {
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::BadContentLength);
    }
    Ok(value
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Option<(Vec<u8>, RequestHead)>, HttpError> {
        let mut buf = raw.as_bytes().to_vec();
        let mut reuse = Vec::new();
        parse_head(&mut buf, 4096, &mut reuse).map(|h| h.map(|h| (buf, h)))
    }

    fn ok(raw: &str) -> (Vec<u8>, RequestHead) {
        parse(raw).unwrap().unwrap()
    }

    fn s<'a>(buf: &'a [u8], r: &Range<usize>) -> &'a str {
        std::str::from_utf8(&buf[r.clone()]).unwrap()
    }

    #[test]
    fn simple_get() {
        let raw =
            "GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com\r\nX-Thing:  spaced value \t\r\n\r\nBODY";
        let (buf, h) = ok(raw);
        assert_eq!(h.head_len, raw.len() - 4);
        assert_eq!(s(&buf, &h.method), "GET");
        assert_eq!(s(&buf, &h.url), "/a/b");
        assert_eq!(s(&buf, h.query.as_ref().unwrap()), "x=1&y");
        assert_eq!(s(&buf, &h.full_url()), "/a/b?x=1&y");
        assert_eq!(h.minor_version, 1);
        assert_eq!(h.body, BodyKind::None);
        assert!(h.keep_alive);
        assert_eq!(h.header(&buf, b"host"), Some(&b"example.com"[..]));
        assert_eq!(h.header(&buf, b"x-thing"), Some(&b"spaced value"[..]));
        assert_eq!(h.header(&buf, b"missing"), None);
    }

    #[test]
    fn names_lowercased_in_place_values_untouched() {
        let (buf, h) = ok("POST /U HTTP/1.1\r\nHost: h\r\nContent-TYPE: Text/HTML\r\n\r\n");
        assert_eq!(&buf[..39], b"POST /U HTTP/1.1\r\nhost: h\r\ncontent-type");
        assert_eq!(h.header(&buf, b"content-type"), Some(&b"Text/HTML"[..]));
        assert_eq!(s(&buf, &h.method), "POST");
        assert_eq!(s(&buf, &h.url), "/U");
    }

    #[test]
    fn method_case_kept() {
        let (buf, h) = ok("get / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(s(&buf, &h.method), "get");
    }

    #[test]
    fn first_duplicate_header_wins() {
        let (buf, h) = ok("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\na: 2\r\n\r\n");
        assert_eq!(h.header(&buf, b"a"), Some(&b"1"[..]));
        assert_eq!(h.headers.len(), 3);
    }

    #[test]
    fn empty_query_and_no_query() {
        let (buf, h) = ok("GET /p? HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(s(&buf, &h.url), "/p");
        assert_eq!(h.query, Some(7..7));
        let (_, h) = ok("GET /p HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(h.query, None);
    }

    #[test]
    fn absolute_form_target() {
        let (buf, h) = ok("GET http://host:8080/x/y?q=1 HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(s(&buf, &h.url), "/x/y");
        assert_eq!(s(&buf, h.query.as_ref().unwrap()), "q=1");
        let (buf, h) = ok("GET HTTPS://host HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(s(&buf, &h.url), "");
        assert_eq!(h.query, None);
        let (buf, h) = ok("GET http://host?a HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(s(&buf, &h.url), "");
        assert_eq!(s(&buf, h.query.as_ref().unwrap()), "a");
    }

    #[test]
    fn asterisk_form() {
        let (buf, h) = ok("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(s(&buf, &h.url), "*");
    }

    #[test]
    fn keep_alive_rules() {
        assert!(ok("GET / HTTP/1.1\r\nHost: h\r\n\r\n").1.keep_alive);
        assert!(
            !ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                .1
                .keep_alive
        );
        assert!(
            !ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n")
                .1
                .keep_alive
        );
        assert!(
            ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n\r\n")
                .1
                .keep_alive
        );
        let (_, h) = ok("GET / HTTP/1.0\r\n\r\n");
        assert_eq!((h.minor_version, h.keep_alive), (0, false));
        assert!(
            ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
                .1
                .keep_alive
        );
    }

    #[test]
    fn content_length() {
        assert_eq!(
            ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\n\r\n")
                .1
                .body,
            BodyKind::Length(42)
        );
        assert_eq!(
            ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
                .1
                .body,
            BodyKind::Length(0)
        );
        let same = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n";
        assert_eq!(ok(same).1.body, BodyKind::Length(5));
        for bad in [
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1234567890123456789\r\n\r\n",
        ] {
            assert_eq!(
                parse(bad).unwrap_err(),
                HttpError::BadContentLength,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn transfer_encoding() {
        let te = |v: &str| {
            parse(&format!(
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: {v}\r\n\r\n"
            ))
        };
        assert_eq!(te("chunked").unwrap().unwrap().1.body, BodyKind::Chunked);
        assert_eq!(te("Chunked").unwrap().unwrap().1.body, BodyKind::Chunked);
        assert_eq!(
            te("gzip, chunked").unwrap().unwrap().1.body,
            BodyKind::Chunked
        );
        assert_eq!(
            te("gzip").unwrap_err(),
            HttpError::UnsupportedTransferEncoding
        );
        assert_eq!(
            te("chunked, gzip").unwrap_err(),
            HttpError::UnsupportedTransferEncoding
        );
        assert_eq!(te("").unwrap_err(), HttpError::UnsupportedTransferEncoding);
    }

    #[test]
    fn content_length_with_transfer_encoding_is_rejected() {
        for raw in [
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        ] {
            assert_eq!(parse(raw).unwrap_err(), HttpError::BadContentLength);
        }
    }

    #[test]
    fn partial_heads_need_more() {
        let raw = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
        for cut in 0..raw.len() {
            assert_eq!(parse(&raw[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn head_too_large() {
        let mut reuse = Vec::new();
        let mut partial =
            format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}", "a".repeat(200)).into_bytes();
        assert_eq!(
            parse_head(&mut partial, 100, &mut reuse),
            Err(HttpError::HeadersTooLarge)
        );
        assert_eq!(parse_head(&mut partial, 1000, &mut reuse), Ok(None));
        let mut complete = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
            "a".repeat(200)
        )
        .into_bytes();
        assert_eq!(
            parse_head(&mut complete, 100, &mut reuse),
            Err(HttpError::HeadersTooLarge)
        );
        // A complete small head followed by a large body is fine.
        let mut with_body = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 500\r\n\r\n".to_vec();
        with_body.extend_from_slice(&[b'z'; 500]);
        assert!(parse_head(&mut with_body, 100, &mut reuse)
            .unwrap()
            .is_some());
    }

    #[test]
    fn too_many_headers() {
        let mut raw = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
        for i in 1..MAX_HEADERS {
            raw.push_str(&format!("H{i}: v\r\n"));
        }
        raw.push_str("\r\n");
        assert_eq!(ok(&raw).1.headers.len(), MAX_HEADERS);
        let over = raw.replacen("\r\n\r\n", "\r\nOne-More: x\r\n\r\n", 1);
        let mut buf = over.into_bytes();
        assert_eq!(
            parse_head(&mut buf, 1 << 20, &mut Vec::new()),
            Err(HttpError::TooManyHeaders)
        );
    }

    #[test]
    fn malformed() {
        for bad in [
            "GET\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "GET / HTTP/1.2\r\n\r\n",
            "GET / FTP/1.1\r\n\r\n",
            "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nBad Header: 1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\n: empty-name\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
        ] {
            assert_eq!(parse(bad).unwrap_err(), HttpError::Malformed, "{bad:?}");
        }
    }

    #[test]
    fn host_required_in_http_1_1_only() {
        assert_eq!(
            parse("GET / HTTP/1.1\r\nX: 1\r\n\r\n").unwrap_err(),
            HttpError::Malformed
        );
        assert!(parse("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
    }

    #[test]
    fn bare_lf_rejected() {
        for bad in [
            "GET / HTTP/1.1\nHost: h\n\n",
            "GET / HTTP/1.1\r\nHost: h\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\n\n",
        ] {
            assert_eq!(parse(bad).unwrap_err(), HttpError::Malformed, "{bad:?}");
        }
    }

    #[test]
    fn bare_lf_detection_matches_a_byte_scan() {
        let scan = |h: &[u8]| {
            h.iter()
                .enumerate()
                .any(|(i, &c)| c == b'\n' && (i == 0 || h[i - 1] != b'\r'))
        };
        for case in [
            &b""[..],
            b"\n",
            b"\r",
            b"\r\n",
            b"\n\r",
            b"\r\r\n",
            b"a\nb",
            b"a\r\nb\r\n\r\n",
            b"\r\n\n",
            b"x\r\n\r\n\n",
        ] {
            assert_eq!(has_bare_lf(case), scan(case), "{case:?}");
        }
        // CRLFs and bare LFs on and around the 255-byte block boundaries.
        for at in [0, 1, 253, 254, 255, 256, 508, 509, 510, 511, 598] {
            let mut head = vec![b'a'; 600];
            head[at] = b'\r';
            head[at + 1] = b'\n';
            assert!(!has_bare_lf(&head), "CRLF at {at}");
            assert_eq!(has_bare_lf(&head), scan(&head));
            head[at] = b'x';
            assert!(has_bare_lf(&head), "bare LF at {}", at + 1);
        }
    }

    #[test]
    fn reuse_keeps_capacity() {
        let mut reuse: Vec<HeaderRange> = Vec::with_capacity(32);
        let cap_ptr = reuse.as_ptr();
        let mut buf = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n".to_vec();
        let head = parse_head(&mut buf, 4096, &mut reuse).unwrap().unwrap();
        assert_eq!(head.headers.as_ptr(), cap_ptr);
        head.recycle(&mut reuse);
        let mut buf2 = b"GET / HTTP/1.1\r\nHost: h\r\nC: 3\r\n\r\n".to_vec();
        let head = parse_head(&mut buf2, 4096, &mut reuse).unwrap().unwrap();
        assert_eq!(head.headers.as_ptr(), cap_ptr);
        assert_eq!(head.headers.len(), 2);
    }

    #[test]
    fn errors_map_to_responses() {
        assert_eq!(HttpError::HeadersTooLarge.status(), 431);
        assert!(HttpError::HeadersTooLarge
            .response()
            .starts_with(b"HTTP/1.1 431 "));
        for e in [
            HttpError::TooManyHeaders,
            HttpError::Malformed,
            HttpError::BadContentLength,
            HttpError::UnsupportedTransferEncoding,
        ] {
            assert_eq!(e.status(), 400);
            assert!(e.response().starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
        }
        for e in [HttpError::HeadersTooLarge, HttpError::Malformed] {
            assert!(e
                .response()
                .ends_with(b"Connection: close\r\nContent-Length: 0\r\n\r\n"));
        }
    }
}
