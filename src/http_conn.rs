//! The HTTP side of a connection: request heads parsed by the sans-IO core, routed to JS
//! handlers, bodies streamed to `onData`, responses written through the connection's send queue.
//!
//! uWebSockets.js semantics kept here: one response in flight per connection (pipelined requests
//! wait in the buffer), `HttpRequest` valid only during the handler, `HttpResponse` invalid after
//! it ended or was aborted, `onAborted` when the peer goes away first.

use crate::app::Route;
use crate::conn::{self, State, HTTP_IDLE_TICKS};
use crate::event_loop::Loop;
use crate::js::napi::{error, JsResult, Ref};
use crate::slab::Key;
use std::ops::Range;
use std::rc::Rc;
use uws_core::http::chunked::{chunk_header, ChunkedDecoder, LAST_CHUNK};
use uws_core::http::request::{parse_head, BodyKind, HeaderRange, RequestHead};

pub const RESPONSE_INVALID: &str = "uWS.HttpResponse must not be accessed after uWS.HttpResponse.onAborted callback, or after a successful response. See documentation for uWS.HttpResponse and consult the user manual.";
pub const REQUEST_INVALID: &str = "uWS.HttpRequest must not be accessed after await or route handler return. See documentation for uWS.HttpRequest and consult the user manual.";

/// Request body framing of the request being received.
#[derive(Default)]
pub enum Body {
    #[default]
    None,
    Length(u64),
    Chunked(ChunkedDecoder),
}

#[derive(Default)]
pub struct HttpConn {
    /// Received bytes not yet consumed (a partial head, or pipelined requests waiting).
    pub buf: Vec<u8>,
    pub body: Body,
    pub res: Option<Box<Response>>,
    /// Sequence number of the current response: a stale HttpResponse object is detected.
    pub seq: u32,
}

impl HttpConn {
    pub fn response_in_flight(&self) -> bool {
        self.res.is_some()
    }
}

/// A response being written.
#[derive(Default)]
pub struct Response {
    pub status: Option<Vec<u8>>,
    pub headers: Vec<u8>,
    pub head_sent: bool,
    pub chunked: bool,
    pub close_after: bool,
    pub head_request: bool,
    pub on_aborted: Option<Ref>,
    pub on_writable: Option<Ref>,
    pub on_data: Option<Ref>,
    /// Body bytes written so far (getWriteOffset).
    pub write_offset: u64,
    /// Content-Length announced by tryEnd.
    pub total_size: Option<u64>,
    /// Set once the handler returned (for the "returned without responding" check).
    pub handler_returned: bool,
}

/// The request currently being handled, readable from JS through `HttpRequest` until the
/// handler returns.
#[derive(Default)]
pub struct RequestSlot {
    pub seq: u64,
    pub live: bool,
    pub buf: Vec<u8>,
    pub head: Option<RequestHead>,
    pub params: Vec<Range<usize>>,
    pub param_names: Vec<Box<str>>,
    pub yielded: bool,
    reuse: Vec<HeaderRange>,
}

impl RequestSlot {
    pub fn head(&self, seq: u64) -> JsResult<(&RequestHead, &[u8])> {
        match &self.head {
            Some(h) if self.live && self.seq == seq => Ok((h, &self.buf)),
            _ => Err(error(REQUEST_INVALID)),
        }
    }
}

fn max_head_size() -> usize {
    use std::sync::OnceLock;
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        std::env::var("UWS_HTTP_MAX_HEADERS_SIZE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4096)
    })
}

pub fn on_data(lp: &Rc<Loop>, key: Key, data: &mut [u8]) {
    let mut pending = {
        let mut conns = lp.conns.borrow_mut();
        let Some(c) = conns.get_mut(key) else { return };
        let State::Http(h) = &mut c.state else { return };
        c.timeout_at = lp.tick.get() + HTTP_IDLE_TICKS;
        std::mem::take(&mut h.buf)
    };
    if pending.is_empty() {
        let used = process(lp, key, data);
        stash(lp, key, &data[used..], Vec::new());
    } else {
        pending.extend_from_slice(data);
        let used = process(lp, key, &mut pending);
        pending.drain(..used);
        stash(lp, key, &[], pending);
    }
}

/// Keeps unconsumed bytes for the next read (if the connection is still HTTP).
fn stash(lp: &Loop, key: Key, rest: &[u8], mut owned: Vec<u8>) {
    let mut conns = lp.conns.borrow_mut();
    if let Some(c) = conns.get_mut(key) {
        if let State::Http(h) = &mut c.state {
            if !rest.is_empty() {
                owned.extend_from_slice(rest);
            }
            if owned.capacity() > 64 * 1024 && owned.len() < 4096 {
                owned.shrink_to_fit();
            }
            h.buf = owned;
        }
    }
}

enum Step {
    Body,
    Idle,
    Wait,
}

/// Consumes requests from `input`; returns how many bytes were used.
fn process(lp: &Rc<Loop>, key: Key, input: &mut [u8]) -> usize {
    let mut pos = 0;
    loop {
        let step = {
            let conns = lp.conns.borrow();
            match conns.get(key).map(|c| &c.state) {
                Some(State::Http(h)) => match (&h.body, &h.res) {
                    (Body::None, Some(_)) => Step::Wait,
                    (Body::None, None) => Step::Idle,
                    _ => Step::Body,
                },
                Some(State::Ws(_)) if pos < input.len() => {
                    // Bytes that followed the upgrade request belong to the WebSocket.
                    crate::ws_conn::on_data(lp, key, &mut input[pos..]);
                    return input.len();
                }
                _ => return input.len(),
            }
        };
        match step {
            Step::Wait => return pos,
            Step::Body => {
                pos += feed_body(lp, key, &input[pos..]);
                let still_body = matches!(
                    lp.conns.borrow().get(key).map(|c| &c.state),
                    Some(State::Http(h)) if !matches!(h.body, Body::None)
                );
                if still_body {
                    return pos;
                }
            }
            Step::Idle => {
                if pos == input.len() {
                    return pos;
                }
                let parsed = {
                    let mut slot = lp.request.borrow_mut();
                    let mut reuse = std::mem::take(&mut slot.reuse);
                    let r = parse_head(&mut input[pos..], max_head_size(), &mut reuse);
                    slot.reuse = reuse;
                    r
                };
                match parsed {
                    Ok(None) => return pos,
                    Err(e) => {
                        reject(lp, key, e.response());
                        return input.len();
                    }
                    Ok(Some(head)) => {
                        let len = head.head_len;
                        handle_request(lp, key, &input[pos..pos + len], head);
                        pos += len;
                    }
                }
            }
        }
    }
}

/// Answers a bad request and closes once the answer is written.
fn reject(lp: &Loop, key: Key, response: &[u8]) {
    let mut conns = lp.conns.borrow_mut();
    if let Some(c) = conns.get_mut(key) {
        c.write(lp, key, &[response]);
        c.start_closing(lp);
    }
}

/// Delivers request body bytes to `onData`; returns how many were consumed.
fn feed_body(lp: &Rc<Loop>, key: Key, input: &[u8]) -> usize {
    let mut pieces: Vec<(Range<usize>, bool)> = Vec::new();
    let mut chunked_data: Vec<u8> = Vec::new();
    let (used, failed) = {
        let mut conns = lp.conns.borrow_mut();
        let Some(c) = conns.get_mut(key) else {
            return input.len();
        };
        let State::Http(h) = &mut c.state else {
            return input.len();
        };
        match &mut h.body {
            Body::None => (0, false),
            Body::Length(remaining) => {
                let n = (*remaining).min(input.len() as u64) as usize;
                *remaining -= n as u64;
                let last = *remaining == 0;
                pieces.push((0..n, last));
                if last {
                    h.body = Body::None;
                }
                (n, false)
            }
            Body::Chunked(dec) => {
                let mut on_piece = |d: &[u8]| chunked_data.extend_from_slice(d);
                match dec.feed(input, &mut on_piece) {
                    Ok((n, done)) => {
                        if done {
                            h.body = Body::None;
                        }
                        if !chunked_data.is_empty() || done {
                            pieces.push((usize::MAX..usize::MAX, done));
                        }
                        (n, false)
                    }
                    Err(_) => (input.len(), true),
                }
            }
        }
    };
    if failed {
        abort_response(lp, key);
        reject(
            lp,
            key,
            b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        );
        return input.len();
    }
    for (range, last) in pieces {
        let bytes = if range.start == usize::MAX {
            &chunked_data[..]
        } else {
            &input[range]
        };
        deliver_data(lp, key, bytes, last);
    }
    used
}

fn deliver_data(lp: &Loop, key: Key, bytes: &[u8], last: bool) {
    let handler = {
        let conns = lp.conns.borrow();
        match conns.get(key).map(|c| &c.state) {
            Some(State::Http(h)) => h
                .res
                .as_ref()
                .and_then(|r| r.on_data.as_ref().map(|f| f.get())),
            _ => None,
        }
    };
    let Some(f) = handler else { return };
    let env = lp.env;
    if let Ok(ab) = env.arraybuffer(bytes) {
        lp.call(f, &[ab, env.boolean(last)]);
        env.detach(ab);
    }
}

/// The router key of a request method: uWebSockets routes only the nine standard methods,
/// sent in upper case; anything else matches no route.
fn lower_method(method: &[u8], out: &mut [u8; 16]) -> Option<usize> {
    const STANDARD: [&[u8]; 9] = [
        b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH",
    ];
    if !STANDARD.contains(&method) {
        return None;
    }
    for (o, b) in out.iter_mut().zip(method) {
        *o = b.to_ascii_lowercase();
    }
    Some(method.len())
}

/// Routes one request and runs its handler(s).
fn handle_request(lp: &Rc<Loop>, key: Key, head_bytes: &[u8], head: RequestHead) {
    let (app, seq) = {
        let mut conns = lp.conns.borrow_mut();
        let Some(c) = conns.get_mut(key) else { return };
        let app = c.app;
        let State::Http(h) = &mut c.state else { return };
        h.seq = h.seq.wrapping_add(1);
        h.body = match head.body {
            BodyKind::None | BodyKind::Length(0) => Body::None,
            BodyKind::Length(n) => Body::Length(n),
            BodyKind::Chunked => Body::Chunked(ChunkedDecoder::default()),
        };
        let method = &head_bytes[head.method.clone()];
        h.res = Some(Box::new(Response {
            close_after: !head.keep_alive,
            head_request: method == b"HEAD",
            ..Response::default()
        }));
        c.timeout_at = 0;
        (app, h.seq)
    };
    let Some(app) = lp.apps.borrow().get(app).cloned() else {
        return;
    };

    let req_seq = {
        let mut slot = lp.request.borrow_mut();
        slot.seq += 1;
        slot.live = true;
        slot.buf.clear();
        slot.buf.extend_from_slice(head_bytes);
        if let Some(old) = slot.head.replace(head) {
            old.recycle(&mut slot.reuse);
        }
        slot.seq
    };

    let mut method_buf = [0u8; 16];
    let mut skip = 0;
    let mut handled = false;
    loop {
        let found = {
            let mut slot = lp.request.borrow_mut();
            let slot = &mut *slot;
            let head = slot.head.as_ref().expect("set above");
            let Some(mlen) = lower_method(&slot.buf[head.method.clone()], &mut method_buf) else {
                break;
            };
            let method = std::str::from_utf8(&method_buf[..mlen]).unwrap_or("");
            let url = &slot.buf[head.url.clone()];
            let base = slot.buf.as_ptr() as usize;
            let mut seen = 0;
            let mut found = None;
            let router = app.router.borrow();
            router.route(method, url, &mut |route, params| {
                if seen < skip {
                    seen += 1;
                    return false;
                }
                let ranges = (0..params.len())
                    .filter_map(|i| params.get(i))
                    .map(|p| {
                        let start = p.as_ptr() as usize - base;
                        start..start + p.len()
                    })
                    .collect::<Vec<_>>();
                found = Some((route.clone(), ranges, params.names().to_vec()));
                true
            });
            found
        };
        let Some((route, params, names)) = found else {
            break;
        };
        {
            let mut slot = lp.request.borrow_mut();
            slot.params = params;
            slot.param_names = names;
            slot.yielded = false;
        }
        match route {
            Route::Http(handler) => {
                call_http_handler(lp, &handler, key, seq, req_seq);
            }
            Route::Ws(behavior) => {
                crate::upgrade::on_upgrade_request(lp, key, seq, req_seq, &behavior);
            }
        }
        if !lp.request.borrow().yielded {
            handled = true;
            break;
        }
        skip += 1;
    }
    lp.request.borrow_mut().live = false;
    if !handled {
        // Nothing took the request: uWebSockets' default route answers 404.
        let _ = end(lp, key, seq, Some(b"404 File not found"), b"", false);
    }
    after_handler(lp, key, seq);
}

fn call_http_handler(lp: &Loop, handler: &Ref, key: Key, seq: u32, req_seq: u64) {
    let env = lp.env;
    let f = {
        let factories = lp.factories.borrow();
        factories.as_ref().map(|f| f.http.get())
    };
    let Some(f) = f else { return };
    lp.call(
        f,
        &[
            handler.get(),
            env.number(key.to_f64()),
            env.number(seq as f64),
            env.number(req_seq as f64),
        ],
    );
}

/// uWebSockets.js forbids returning from a handler without responding or attaching onAborted
/// (it aborts the process); we report it loudly and answer 500 instead.
fn after_handler(lp: &Loop, key: Key, seq: u32) {
    let forbidden = {
        let mut conns = lp.conns.borrow_mut();
        let Some(c) = conns.get_mut(key) else { return };
        let State::Http(h) = &mut c.state else { return };
        match &mut h.res {
            Some(r) if h.seq == seq => {
                r.handler_returned = true;
                r.on_aborted.is_none()
            }
            _ => false,
        }
    };
    if forbidden {
        eprintln!("uws-rs: Error: Returning from a request handler without responding or attaching an onAborted handler is forbidden! (answered 500)");
        let _ = end(lp, key, seq, Some(b"500 Internal Server Error"), b"", true);
    }
}

/// Looks up the response `seq` of connection `key` for a JS call.
pub fn with_response<R>(
    lp: &Loop,
    key: Key,
    seq: u32,
    f: impl FnOnce(&mut conn::Conn, &mut Response) -> R,
) -> JsResult<R> {
    let mut conns = lp.conns.borrow_mut();
    let c = conns.get_mut(key).ok_or_else(|| error(RESPONSE_INVALID))?;
    let State::Http(h) = &mut c.state else {
        return Err(error(RESPONSE_INVALID));
    };
    if h.seq != seq {
        return Err(error(RESPONSE_INVALID));
    }
    let mut res = h.res.take().ok_or_else(|| error(RESPONSE_INVALID))?;
    let r = f(c, &mut res);
    if let State::Http(h) = &mut c.state {
        if h.seq == seq && h.res.is_none() {
            h.res = Some(res);
        }
    }
    Ok(r)
}

fn date_header() -> [u8; 29] {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    uws_core::http::date::http_date(secs)
}

/// Status line, the application's headers, then the automatic ones.
fn build_head(res: &Response, out: &mut Vec<u8>, length: Option<u64>, close: bool) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(res.status.as_deref().unwrap_or(b"200 OK"));
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&res.headers);
    out.extend_from_slice(b"Date: ");
    out.extend_from_slice(&date_header());
    out.extend_from_slice(b"\r\nuWebSockets: 20\r\n");
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    match length {
        Some(n) => {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
        }
        None => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n"),
    }
}

/// `res.end(body, closeConnection)` and `endWithoutBody` (body None: length announced only).
pub fn end(
    lp: &Loop,
    key: Key,
    seq: u32,
    status_override: Option<&[u8]>,
    body: &[u8],
    close_connection: bool,
) -> JsResult<()> {
    let close = with_response(lp, key, seq, |c, res| {
        if let Some(s) = status_override {
            res.status = Some(s.to_vec());
        }
        let close = res.close_after || close_connection;
        let send_body = if res.head_request { &[][..] } else { body };
        if res.chunked {
            let mut hdr = [0u8; 18];
            let n = chunk_header(&mut hdr, send_body.len());
            if send_body.is_empty() {
                c.write(lp, key, &[LAST_CHUNK]);
            } else {
                c.write(lp, key, &[&hdr[..n], send_body, b"\r\n", LAST_CHUNK]);
            }
        } else if res.head_sent {
            c.write(lp, key, &[send_body]);
        } else {
            let mut head = Vec::with_capacity(128 + res.headers.len());
            let len = res.total_size.unwrap_or(body.len() as u64);
            build_head(res, &mut head, Some(len), close);
            c.write(lp, key, &[&head, send_body]);
        }
        res.write_offset += body.len() as u64;
        close
    })?;
    finish_response(lp, key, close);
    Ok(())
}

/// The response is complete: forget it, then close or go on with pipelined requests.
fn finish_response(lp: &Loop, key: Key, close: bool) {
    let has_pending = {
        let mut conns = lp.conns.borrow_mut();
        let Some(c) = conns.get_mut(key) else { return };
        let State::Http(h) = &mut c.state else { return };
        h.res = None;
        if close {
            c.start_closing(lp);
            return;
        }
        c.timeout_at = lp.tick.get() + HTTP_IDLE_TICKS;
        !h.buf.is_empty()
    };
    if has_pending {
        crate::upgrade::schedule_resume(lp, key);
    }
}

/// Continues with requests that arrived while a response was in flight.
pub fn resume(lp: &Rc<Loop>, key: Key) {
    on_data(lp, key, &mut []);
}

/// `res.write(chunk)`: chunked transfer encoding; false when backpressure builds.
pub fn write(lp: &Loop, key: Key, seq: u32, chunk: &[u8]) -> JsResult<bool> {
    with_response(lp, key, seq, |c, res| {
        if !res.head_sent {
            let mut head = Vec::with_capacity(128 + res.headers.len());
            build_head(res, &mut head, None, res.close_after);
            c.write(lp, key, &[&head]);
            res.head_sent = true;
            res.chunked = true;
        }
        if !chunk.is_empty() && !res.head_request {
            let mut hdr = [0u8; 18];
            let n = chunk_header(&mut hdr, chunk.len());
            c.write(lp, key, &[&hdr[..n], chunk, b"\r\n"]);
        }
        res.write_offset += chunk.len() as u64;
        c.buffered_amount() == 0
    })
}

/// `res.tryEnd(chunk, totalSize)`: writes what the kernel takes now and never buffers the body
/// (the application retries from getWriteOffset in onWritable). Returns [ok, done].
pub fn try_end(lp: &Loop, key: Key, seq: u32, chunk: &[u8], total: u64) -> JsResult<(bool, bool)> {
    let (ok, done, close) = with_response(lp, key, seq, |c, res| {
        if !res.head_sent {
            let mut head = Vec::with_capacity(128 + res.headers.len());
            res.total_size = Some(total);
            build_head(res, &mut head, Some(total), res.close_after);
            c.write(lp, key, &[&head]);
            res.head_sent = true;
        }
        let remaining = total.saturating_sub(res.write_offset);
        let chunk = &chunk[..chunk.len().min(remaining as usize)];
        let written = if res.head_request {
            chunk.len()
        } else if c.buffered_amount() > 0 {
            0
        } else {
            c.flush_corked();
            if c.queue.is_empty() {
                c.try_write_raw(chunk)
            } else {
                0
            }
        };
        res.write_offset += written as u64;
        let ok = written == chunk.len();
        let done = res.write_offset >= total || res.head_request;
        (ok, done, res.close_after)
    })?;
    if done {
        finish_response(lp, key, close);
    }
    Ok((ok, done))
}

/// The peer went away while a response was pending: onAborted.
pub fn on_abort(lp: &Rc<Loop>, key: Key) {
    abort_response(lp, key);
}

fn abort_response(lp: &Loop, key: Key) {
    let handler = {
        let mut conns = lp.conns.borrow_mut();
        let Some(c) = conns.get_mut(key) else { return };
        let State::Http(h) = &mut c.state else { return };
        h.body = Body::None;
        h.res.take().and_then(|r| r.on_aborted)
    };
    if let Some(f) = handler {
        lp.call(f.get(), &[]);
    }
}

/// `res.close()`: abort now (onAborted fires), closing the socket.
pub fn close(lp: &Rc<Loop>, key: Key, seq: u32) -> JsResult<()> {
    with_response(lp, key, seq, |_, _| ())?;
    abort_response(lp, key);
    conn::remove(lp, key);
    Ok(())
}

/// Writable again: call the response's onWritable(offset).
pub fn on_writable(lp: &Rc<Loop>, key: Key) {
    let handler = {
        let conns = lp.conns.borrow();
        match conns.get(key).map(|c| &c.state) {
            Some(State::Http(h)) => h
                .res
                .as_ref()
                .and_then(|r| r.on_writable.as_ref().map(|f| (f.get(), r.write_offset))),
            _ => None,
        }
    };
    if let Some((f, offset)) = handler {
        lp.call(f, &[lp.env.number(offset as f64)]);
    }
}

/// Whether a writable edge matters to this connection even with an empty queue.
pub fn wants_writable(c: &conn::Conn) -> bool {
    matches!(&c.state, State::Http(h) if h.res.as_ref().is_some_and(|r| r.on_writable.is_some()))
}
