//! The HTTP side of a connection: request heads parsed by the sans-IO core, routed to JS
//! handlers, bodies streamed to `onData`, responses written through the connection's send queue.
//!
//! uWebSockets.js semantics kept here: one response in flight per connection (pipelined requests
//! wait in the buffer and are answered in order), `HttpRequest` valid only during the handler's
//! callback scope, `HttpResponse` invalid after it ended or was aborted, `onAborted` when the
//! peer goes away first, one empty last `onData` chunk for a request without body.
//!
//! Deliberate differences from v20.30 (see the http-*.test.js suite): an unmatched request is
//! answered `404 File not found`; malformed heads get 400 (431 when larger than
//! `UWS_HTTP_MAX_HEADERS_SIZE`, default 4096) and the connection closes; HTTP/1.0 is served.

use crate::app::{App, Route};
use crate::conn::{self, State, HTTP_IDLE_TICKS};
use crate::event_loop::Loop;
use crate::js::napi::{error, JsResult, Ref, Value};
use crate::slab::Key;
use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;
use uws_core::http::chunked::{chunk_header, ChunkedDecoder, LAST_CHUNK};
use uws_core::http::request::{parse_head, BodyKind, HeaderRange, HttpError, RequestHead};

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
    /// Scratch for the chunk pieces of one chunked-body read (kept to avoid reallocating).
    pieces: Vec<Range<usize>>,
    /// The last finished response, reset, for the next request (no allocation per request).
    spare: Option<Box<Response>>,
}

impl HttpConn {
    pub fn response_in_flight(&self) -> bool {
        self.res.is_some()
    }
}

/// Where request body bytes go (`onData`, `onDataV2` and `collectBody` replace each other, as
/// they share one slot upstream).
pub enum DataHandler {
    /// `onData((chunk, isLast) => ...)`.
    Chunks(Ref),
    /// `onDataV2((chunk, maxRemainingBodyLength: bigint) => ...)`: 0n marks the last chunk;
    /// chunked bodies report `u64::MAX` until then.
    ChunksV2(Ref),
    /// `collectBody(maxSize, (body | null) => ...)`: one call with the whole body, or with null
    /// as soon as it exceeds `max`.
    Collect {
        handler: Ref,
        max: u64,
        buf: Vec<u8>,
        overflowed: bool,
    },
}

/// A response being written.
#[derive(Default)]
pub struct Response {
    /// writeStatus's value, when `status_set` (the buffer is kept across responses).
    pub status: Vec<u8>,
    pub status_set: bool,
    pub headers: Vec<u8>,
    pub head_sent: bool,
    pub chunked: bool,
    /// The request asked for the connection to close (or HTTP/1.0 without keep-alive).
    pub close_after: bool,
    /// HTTP/1.0 request with `Connection: keep-alive`: say so in the response.
    pub keep_alive_header: bool,
    pub head_request: bool,
    pub on_aborted: Option<Ref>,
    pub on_writable: Option<Ref>,
    pub on_data: Option<DataHandler>,
    /// Body bytes written so far (getWriteOffset).
    pub write_offset: u64,
    /// Content-Length announced by tryEnd.
    pub total_size: Option<u64>,
}

impl Response {
    /// Sets the status line's text (writeStatus).
    pub fn set_status(&mut self, status: &[u8]) {
        self.status.clear();
        self.status.extend_from_slice(status);
        self.status_set = true;
    }

    /// Back to a fresh response, keeping the status and header buffers' capacity.
    fn reset(&mut self) {
        let mut status = std::mem::take(&mut self.status);
        let mut headers = std::mem::take(&mut self.headers);
        status.clear();
        headers.clear();
        if headers.capacity() > 16 * 1024 {
            headers = Vec::new();
        }
        *self = Response {
            status,
            headers,
            ..Response::default()
        };
    }
}

/// The request currently being handled, readable from JS through `HttpRequest` until the loop
/// wakeup that ran its handler ends (`live` is cleared by the event loop) or the next request
/// replaces it.
#[derive(Default)]
pub struct RequestSlot {
    pub seq: u64,
    pub live: bool,
    pub buf: Vec<u8>,
    pub head: Option<RequestHead>,
    pub params: Vec<Range<usize>>,
    /// `:name`s of the matched route, for `getParameter(name)`.
    pub param_names: Option<Arc<[Box<str>]>>,
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
        // Received bytes do not extend the idle timeout: a request head must arrive within
        // HTTP_IDLE_TICKS of the connection opening or of the previous response (slowloris).
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

/// `maxRemainingBodyLength` of onDataV2 while a chunked body is still streaming.
const UNKNOWN_REMAINING: u64 = u64::MAX;

/// Delivers request body bytes to the data handler; returns how many were consumed.
fn feed_body(lp: &Loop, key: Key, input: &[u8]) -> usize {
    let chunked = {
        let conns = lp.conns.borrow();
        match conns.get(key).map(|c| &c.state) {
            Some(State::Http(h)) => match h.body {
                Body::None => return 0,
                Body::Length(_) => false,
                Body::Chunked(_) => true,
            },
            _ => return input.len(),
        }
    };
    if chunked {
        feed_chunked(lp, key, input)
    } else {
        feed_length(lp, key, input)
    }
}

/// Content-Length body: one call with what this read holds (uWS: one call per read).
fn feed_length(lp: &Loop, key: Key, input: &[u8]) -> usize {
    let (n, remaining) = {
        let mut conns = lp.conns.borrow_mut();
        let Some(State::Http(h)) = conns.get_mut(key).map(|c| &mut c.state) else {
            return input.len();
        };
        let Body::Length(remaining) = &mut h.body else {
            return 0;
        };
        let n = (*remaining).min(input.len() as u64) as usize;
        *remaining -= n as u64;
        let left = *remaining;
        if left == 0 {
            h.body = Body::None;
        }
        (n, left)
    };
    if n > 0 || remaining == 0 {
        deliver_data(lp, key, &input[..n], remaining);
    }
    n
}

/// Chunked body: one call per chunk piece, then an empty last call (uWS ChunkIterator).
fn feed_chunked(lp: &Loop, key: Key, input: &[u8]) -> usize {
    let (used, done, failed, pieces) = {
        let mut conns = lp.conns.borrow_mut();
        let Some(State::Http(h)) = conns.get_mut(key).map(|c| &mut c.state) else {
            return input.len();
        };
        let mut pieces = std::mem::take(&mut h.pieces);
        pieces.clear();
        let Body::Chunked(dec) = &mut h.body else {
            h.pieces = pieces;
            return 0;
        };
        let base = input.as_ptr() as usize;
        let mut on_piece = |d: &[u8]| {
            let start = d.as_ptr() as usize - base;
            pieces.push(start..start + d.len());
        };
        let r = dec.feed(input, &mut on_piece);
        let (used, done, failed) = match r {
            Ok((n, done)) => (n, done, false),
            Err(_) => (input.len(), false, true),
        };
        if done || failed {
            h.body = Body::None;
        }
        (used, done, failed, pieces)
    };
    for r in &pieces {
        deliver_data(lp, key, &input[r.clone()], UNKNOWN_REMAINING);
    }
    give_back_pieces(lp, key, pieces);
    if failed {
        abort_response(lp, key);
        reject(lp, key, HttpError::Malformed.response());
    } else if done {
        deliver_data(lp, key, &[], 0);
    }
    used
}

fn give_back_pieces(lp: &Loop, key: Key, pieces: Vec<Range<usize>>) {
    if let Some(State::Http(h)) = lp.conns.borrow_mut().get_mut(key).map(|c| &mut c.state) {
        h.pieces = pieces;
    }
}

/// What one body piece turns into for JS, decided without holding any borrow during the call.
enum Delivery {
    Chunk(Value, bool),
    ChunkV2(Value, u64),
    /// collectBody: the whole body (`None`: the bytes just received are the whole body).
    Collected(Value, Option<Vec<u8>>),
    Overflow(Value),
}

/// Hands `bytes` to the response's data handler. `remaining`: most body bytes still to come
/// (0 = this is the last piece).
fn deliver_data(lp: &Loop, key: Key, bytes: &[u8], remaining: u64) {
    let delivery = {
        let mut conns = lp.conns.borrow_mut();
        let Some(State::Http(h)) = conns.get_mut(key).map(|c| &mut c.state) else {
            return;
        };
        let Some(handler) = h.res.as_mut().and_then(|r| r.on_data.as_mut()) else {
            return;
        };
        match plan_delivery(handler, bytes, remaining) {
            Some(d) => d,
            None => return,
        }
    };
    let env = lp.env;
    match delivery {
        Delivery::Chunk(f, last) => call_with_chunk(lp, f, bytes, Some(env.boolean(last))),
        Delivery::ChunkV2(f, rem) => {
            if let Ok(rem) = env.bigint_u64(rem) {
                call_with_chunk(lp, f, bytes, Some(rem));
            }
        }
        Delivery::Collected(f, None) => call_with_chunk(lp, f, bytes, None),
        Delivery::Collected(f, Some(body)) => call_with_chunk(lp, f, &body, None),
        Delivery::Overflow(f) => {
            lp.call(f, &[env.null()]);
        }
    }
}

fn plan_delivery(handler: &mut DataHandler, bytes: &[u8], remaining: u64) -> Option<Delivery> {
    match handler {
        DataHandler::Chunks(f) => Some(Delivery::Chunk(f.get(), remaining == 0)),
        DataHandler::ChunksV2(f) => Some(Delivery::ChunkV2(f.get(), remaining)),
        DataHandler::Collect {
            handler,
            max,
            buf,
            overflowed,
        } => {
            if *overflowed {
                return None;
            }
            if (buf.len() + bytes.len()) as u64 > *max {
                *overflowed = true;
                *buf = Vec::new();
                return Some(Delivery::Overflow(handler.get()));
            }
            if remaining == 0 {
                let whole = (!buf.is_empty()).then(|| {
                    buf.extend_from_slice(bytes);
                    std::mem::take(buf)
                });
                return Some(Delivery::Collected(handler.get(), whole));
            }
            if buf.is_empty() && remaining != UNKNOWN_REMAINING {
                let hint = remaining.min(*max - bytes.len() as u64) as usize;
                buf.reserve_exact(bytes.len() + hint);
            }
            buf.extend_from_slice(bytes);
            None
        }
    }
}

/// Calls `f(ArrayBuffer copy of bytes[, second])` and detaches the buffer afterwards: it is
/// only valid during the call.
fn call_with_chunk(lp: &Loop, f: Value, bytes: &[u8], second: Option<Value>) {
    let env = lp.env;
    let Ok(ab) = env.arraybuffer(bytes) else {
        return;
    };
    match second {
        Some(v) => lp.call(f, &[ab, v]),
        None => lp.call(f, &[ab]),
    };
    lp.detach(ab);
}

/// The router key of a request method: uWebSockets routes only the nine standard methods,
/// sent in upper case; anything else matches no route.
fn lower_method(method: &[u8], out: &mut [u8; 16]) -> Option<usize> {
    // A match on the bytes compiles to integer compares (no memcmp call per candidate).
    match method {
        b"GET" | b"POST" | b"HEAD" | b"PUT" | b"DELETE" | b"CONNECT" | b"OPTIONS" | b"TRACE"
        | b"PATCH" => {}
        _ => return None,
    }
    for (o, b) in out.iter_mut().zip(method) {
        *o = b.to_ascii_lowercase();
    }
    Some(method.len())
}

/// Routes one request and runs its handler(s).
fn handle_request(lp: &Rc<Loop>, key: Key, head_bytes: &[u8], head: RequestHead) {
    let Some((app, seq, has_body)) = begin_response(lp, key, head_bytes, &head) else {
        return;
    };
    if seq == 2 {
        // A second request: the connection is kept alive, worth its own poll.
        crate::conn::watch_in_libuv(lp, key);
    }
    let Some(app) = lp.apps.borrow().get(app).cloned() else {
        return;
    };
    let req_seq = fill_request_slot(lp, head_bytes, head);
    let handled = run_handlers(lp, &app, key, seq, req_seq);
    if !handled {
        // Deliberate difference: v20.30 closes the connection without a response; we answer
        // like newer uWS's default route.
        let _ = end(lp, key, seq, Some(b"404 File not found"), b"", false);
    }
    if after_handler(lp, key, seq) && !has_body {
        // uWS always ends the body stream: a request without body gets one empty last chunk.
        deliver_data(lp, key, &[], 0);
    }
}

/// Sets up body framing and a fresh response for a parsed request head.
/// Returns (app, response seq, whether a body follows).
fn begin_response(
    lp: &Loop,
    key: Key,
    head_bytes: &[u8],
    head: &RequestHead,
) -> Option<(Key, u32, bool)> {
    let mut conns = lp.conns.borrow_mut();
    let c = conns.get_mut(key)?;
    let app = c.app;
    let State::Http(h) = &mut c.state else {
        return None;
    };
    h.seq = h.seq.wrapping_add(1);
    h.body = match head.body {
        BodyKind::None | BodyKind::Length(0) => Body::None,
        BodyKind::Length(n) => Body::Length(n),
        BodyKind::Chunked => Body::Chunked(ChunkedDecoder::default()),
    };
    let has_body = !matches!(h.body, Body::None);
    let mut res = h.spare.take().unwrap_or_default();
    res.close_after = !head.keep_alive;
    res.keep_alive_header = head.keep_alive && head.minor_version == 0;
    res.head_request = &head_bytes[head.method.clone()] == b"HEAD";
    h.res = Some(res);
    // No idle timeout while the application owns the response.
    c.timeout_at = 0;
    Some((app, h.seq, has_body))
}

/// Makes the request readable through `HttpRequest`. It stays readable until the end of this
/// loop wakeup (the callback scope: the handler's already-settled awaits still see it, as in
/// v20.30) or until the next request replaces it.
fn fill_request_slot(lp: &Loop, head_bytes: &[u8], head: RequestHead) -> u64 {
    let mut slot = lp.request.borrow_mut();
    slot.seq += 1;
    slot.live = true;
    slot.yielded = false;
    slot.buf.clear();
    slot.buf.extend_from_slice(head_bytes);
    if let Some(old) = slot.head.replace(head) {
        old.recycle(&mut slot.reuse);
    }
    slot.seq
}

/// Offers the request to matching routes in uWS order until one does not `setYield(true)`.
/// Returns whether a handler took it.
fn run_handlers(lp: &Rc<Loop>, app: &App, key: Key, seq: u32, req_seq: u64) -> bool {
    // SSLApp: the routes added under `domain(server name)` serve that name's connections.
    let domain = crate::tls::request_router(lp, app, key);
    let router = domain.as_deref().unwrap_or(&app.router);
    let mut skip = 0;
    loop {
        let Some(route) = find_route(lp, router, skip) else {
            return false;
        };
        match route {
            Route::Http(handler) => call_http_handler(lp, &handler, key, seq, req_seq),
            Route::Ws(behavior) => {
                crate::upgrade::on_upgrade_request(lp, key, seq, req_seq, &behavior)
            }
        }
        let mut slot = lp.request.borrow_mut();
        if !slot.yielded || slot.seq != req_seq {
            return true;
        }
        slot.yielded = false;
        skip += 1;
    }
}

/// The `skip`-th route matching the request in the slot; records its parameters in the slot.
fn find_route(
    lp: &Loop,
    router: &RefCell<uws_core::http::router::Router<Route>>,
    skip: usize,
) -> Option<Route> {
    let mut slot = lp.request.borrow_mut();
    let slot = &mut *slot;
    let head = slot.head.as_ref()?;
    let mut method_buf = [0u8; 16];
    let mlen = lower_method(&slot.buf[head.method.clone()], &mut method_buf)?;
    let method = std::str::from_utf8(&method_buf[..mlen]).unwrap_or("");
    let url = &slot.buf[head.url.clone()];
    let base = slot.buf.as_ptr() as usize;
    let params = &mut slot.params;
    let names = &mut slot.param_names;
    let mut seen = 0;
    let mut found = None;
    router.borrow().route(method, url, &mut |route, p| {
        if seen < skip {
            seen += 1;
            return false;
        }
        params.clear();
        params.extend((0..p.len()).filter_map(|i| p.get(i)).map(|v| {
            let start = v.as_ptr() as usize - base;
            start..start + v.len()
        }));
        *names = Some(p.shared_names());
        found = Some(route.clone());
        true
    });
    found
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

const NO_RESPONSE: &str = "uws-rs: Error: Returning from a request handler without responding or attaching an abort handler is forbidden! (the connection was closed)";

/// uWebSockets.js forbids returning from a handler without responding or attaching onAborted
/// (it aborts the process); we report it loudly on stderr and close the connection instead.
/// Returns whether the response is still pending (with an onAborted handler).
fn after_handler(lp: &Loop, key: Key, seq: u32) -> bool {
    let mut conns = lp.conns.borrow_mut();
    let Some(c) = conns.get_mut(key) else {
        return false;
    };
    let State::Http(h) = &mut c.state else {
        return false;
    };
    match &mut h.res {
        Some(r) if h.seq == seq && r.on_aborted.is_none() => {
            eprintln!("{NO_RESPONSE}");
            h.res = None;
            h.body = Body::None;
            c.start_closing(lp);
            false
        }
        Some(_) if h.seq == seq => true,
        _ => false,
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

thread_local! {
    /// The Date value for the current loop wakeup: `Some` once computed inside one.
    static WAKEUP_DATE: Cell<Option<[u8; 29]>> = const { Cell::new(None) };
    static IN_WAKEUP: Cell<bool> = const { Cell::new(false) };
}

/// Called by the loop when a wakeup starts and ends: inside one, the clock is read once for all
/// the responses it writes (a clock read per response was 3% of pipelined CPU), as uWebSockets
/// and nginx take the time once per loop iteration.
pub fn date_scope(inside: bool) {
    IN_WAKEUP.with(|w| w.set(inside));
    WAKEUP_DATE.with(|d| d.set(None));
}

/// The Date header value: read once per loop wakeup, formatted at most once per second.
pub fn date_header() -> [u8; 29] {
    if let Some(date) = WAKEUP_DATE.with(Cell::get) {
        return date;
    }
    let date = current_date();
    if IN_WAKEUP.with(Cell::get) {
        WAKEUP_DATE.with(|d| d.set(Some(date)));
    }
    date
}

fn current_date() -> [u8; 29] {
    thread_local! {
        static CACHE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|c| {
        let (at, value) = c.get();
        if at == secs {
            return value;
        }
        let value = uws_core::http::date::http_date(secs);
        c.set((secs, value));
        value
    })
}

/// Runs `f` with a reusable buffer for a response head (no allocation per response).
fn with_head_buf<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    thread_local! {
        static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    BUF.with(|b| {
        let mut buf = std::mem::take(&mut *b.borrow_mut());
        buf.clear();
        let r = f(&mut buf);
        *b.borrow_mut() = buf;
        r
    })
}

/// How the response body is delimited.
#[derive(Clone, Copy)]
enum Framing {
    Length(u64),
    Chunked,
    /// `endWithoutBody()` without a length: no Content-Length at all (HEAD responses).
    Omitted,
}

/// Status line, the application's headers, then the automatic ones, in uWS order:
/// `Connection: close` (only when `end(.., true)` asked for it), Date, uWebSockets, framing.
fn build_head(res: &Response, out: &mut Vec<u8>, framing: Framing, close_header: bool) {
    out.reserve(160 + res.headers.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(if res.status_set {
        &res.status
    } else {
        b"200 OK"
    });
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&res.headers);
    if close_header {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if res.keep_alive_header {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"Date: ");
    out.extend_from_slice(&date_header());
    out.extend_from_slice(b"\r\nuWebSockets: 20\r\n");
    match framing {
        Framing::Length(n) => {
            let mut digits = [0u8; 20];
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(format_u64(n, &mut digits));
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::Omitted => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// Decimal digits of `n` without allocating.
fn format_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// How a response is being completed.
#[derive(Clone, Copy)]
enum Ending<'a> {
    /// `end(body)`.
    Body(&'a [u8]),
    /// `endWithoutBody(reportedContentLength?)`.
    WithoutBody(Option<u64>),
}

/// `res.end(body, closeConnection)`; `status_override` replaces the status (default routes).
pub fn end(
    lp: &Loop,
    key: Key,
    seq: u32,
    status_override: Option<&[u8]>,
    body: &[u8],
    close_connection: bool,
) -> JsResult<()> {
    if let Some(s) = status_override {
        with_response(lp, key, seq, |_, res| res.set_status(s))?;
    }
    finish_with(lp, key, seq, Ending::Body(body), close_connection)
}

/// `res.endWithoutBody(reportedContentLength, closeConnection)`.
pub fn end_without_body(
    lp: &Loop,
    key: Key,
    seq: u32,
    reported: Option<u64>,
    close_connection: bool,
) -> JsResult<()> {
    finish_with(
        lp,
        key,
        seq,
        Ending::WithoutBody(reported),
        close_connection,
    )
}

fn finish_with(
    lp: &Loop,
    key: Key,
    seq: u32,
    ending: Ending,
    close_connection: bool,
) -> JsResult<()> {
    let close = with_response(lp, key, seq, |c, res| {
        write_ending(lp, key, c, res, ending, close_connection);
        Closing::of(res, close_connection)
    })?;
    finish_response(lp, key, close);
    Ok(())
}

/// What happens to the connection once a response is complete.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Closing {
    KeepAlive,
    /// The server closes (`end(.., true)`): FIN, then wait for the peer's.
    ByServer,
    /// The request had no keep-alive: the peer sends nothing more, close after the FIN.
    AsAsked,
}

impl Closing {
    fn of(res: &Response, close_connection: bool) -> Closing {
        if res.close_after {
            Closing::AsAsked
        } else if close_connection {
            Closing::ByServer
        } else {
            Closing::KeepAlive
        }
    }
}

fn write_ending(
    lp: &Loop,
    key: Key,
    c: &mut conn::Conn,
    res: &mut Response,
    ending: Ending,
    close_connection: bool,
) {
    let body = match ending {
        Ending::Body(b) => b,
        Ending::WithoutBody(_) => &[][..],
    };
    let send_body = if res.head_request { &[][..] } else { body };
    if res.chunked {
        if send_body.is_empty() {
            c.write(lp, key, &[LAST_CHUNK]);
        } else {
            let mut hdr = [0u8; 18];
            let n = chunk_header(&mut hdr, send_body.len());
            c.write(lp, key, &[&hdr[..n], send_body, b"\r\n", LAST_CHUNK]);
        }
    } else if res.head_sent {
        c.write(lp, key, &[send_body]);
    } else {
        let framing = match ending {
            Ending::Body(b) => Framing::Length(res.total_size.unwrap_or(b.len() as u64)),
            Ending::WithoutBody(Some(n)) => Framing::Length(n),
            Ending::WithoutBody(None) => Framing::Omitted,
        };
        with_head_buf(|head| {
            build_head(res, head, framing, close_connection);
            c.write(lp, key, &[head, send_body]);
        });
    }
    res.write_offset += body.len() as u64;
}

/// The response is complete: forget it, then close or go on with pipelined requests.
fn finish_response(lp: &Loop, key: Key, close: Closing) {
    let has_pending = {
        let mut conns = lp.conns.borrow_mut();
        let Some(c) = conns.get_mut(key) else { return };
        let State::Http(h) = &mut c.state else { return };
        if let Some(mut res) = h.res.take() {
            res.reset();
            h.spare = Some(res);
        }
        if close != Closing::KeepAlive {
            if close == Closing::AsAsked {
                c.hang_up_when_sent();
            }
            c.start_closing(lp);
            if c.hung_up() {
                // The FIN went out at once (an end() outside a wakeup): JS is on the stack.
                lp.defer_hang_up(key);
            }
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
            with_head_buf(|head| {
                build_head(res, head, Framing::Chunked, false);
                c.write(lp, key, &[head]);
            });
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
            res.total_size = Some(total);
            with_head_buf(|head| {
                build_head(res, head, Framing::Length(total), false);
                c.write(lp, key, &[head]);
            });
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
        (ok, done, Closing::of(res, false))
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
