//! Native functions behind the facade's `HttpResponse` and `HttpRequest`, and `getParts`.

use super::args::{key, u32_arg};
use super::napi::{type_error, Env, JsResult, Kind, Value};
use crate::event_loop::Loop;
use crate::http_conn::{self, with_response, DataHandler};
use crate::js_fn;
use crate::slab::Key;
use std::rc::Rc;

/// (loop, connection key, response seq) from the first two arguments.
fn res_args(env: Env, argv: &[Value]) -> JsResult<(Rc<Loop>, Key, u32)> {
    let lp = Loop::get(env)?;
    let k = key(env, argv[0], "HttpResponse")?;
    let seq = u32_arg(env, argv[1], "HttpResponse")?;
    Ok((lp, k, seq))
}

fn owned(lp: &Loop, env: Env, v: Value, what: &str) -> JsResult<Vec<u8>> {
    with_arg(lp, env, v, what, |b| b.to_vec())
}

/// Runs `f` over the bytes of a string/ArrayBuffer/view argument (undefined: empty) without
/// allocating: strings are transcoded into a reused buffer. Strings, what HTTP handlers pass
/// for statuses, headers and most bodies, are read first, in one N-API call when short.
fn with_arg<R>(
    lp: &Loop,
    env: Env,
    v: Value,
    what: &str,
    f: impl FnOnce(&[u8]) -> R,
) -> JsResult<R> {
    lp.with_scratch(|scratch| strings_first(env, v, scratch, what, f))
}

/// Like [`with_arg`] for a second argument read while the first one's bytes are in use.
fn with_arg2<R>(env: Env, v: Value, what: &str, f: impl FnOnce(&[u8]) -> R) -> JsResult<R> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut scratch = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let r = strings_first(env, v, &mut scratch, what, f);
    SCRATCH.with(|s| *s.borrow_mut() = scratch);
    r
}

fn strings_first<R>(
    env: Env,
    v: Value,
    scratch: &mut Vec<u8>,
    what: &str,
    f: impl FnOnce(&[u8]) -> R,
) -> JsResult<R> {
    if env.short_string_into(v, scratch) {
        Ok(f(scratch))
    } else {
        env.with_bytes_opt(v, scratch, what, f)
    }
}

js_fn!(res_write_status(env, info) {
    let a = env.args::<3>(info)?;
    let (lp, k, seq) = res_args(env, &a.argv)?;
    with_arg(&lp, env, a.argv[2], "status", |status| {
        with_response(&lp, k, seq, |_, r| r.set_status(status))
    })??;
    Ok(env.undefined())
});

js_fn!(res_write_header(env, info) {
    let a = env.args::<4>(info)?;
    let (lp, k, seq) = res_args(env, &a.argv)?;
    with_arg(&lp, env, a.argv[2], "key", |name| {
        with_arg2(env, a.argv[3], "value", |value| {
            with_response(&lp, k, seq, |_, r| {
                r.headers.reserve(name.len() + value.len() + 4);
                r.headers.extend_from_slice(name);
                r.headers.extend_from_slice(b": ");
                r.headers.extend_from_slice(value);
                r.headers.extend_from_slice(b"\r\n");
            })
        })
    })???;
    Ok(env.undefined())
});

js_fn!(
    /// `resEnd(key, seq, body, closeConnection)`.
    res_end(env, info) {
        let a = env.args::<4>(info)?;
        let (lp, k, seq) = res_args(env, &a.argv)?;
        let close = env.truthy(a.argv[3]);
        with_arg(&lp, env, a.argv[2], "body", |b| http_conn::end(&lp, k, seq, None, b, close))??;
        Ok(env.undefined())
    }
);

js_fn!(
    /// `resEndWithoutBody(key, seq, reportedContentLength, closeConnection)`: without a length
    /// no Content-Length is written.
    res_end_without_body(env, info) {
        let a = env.args::<4>(info)?;
        let (lp, k, seq) = res_args(env, &a.argv)?;
        let close = env.truthy(a.argv[3]);
        let reported = if env.is_nullish(a.argv[2]) {
            None
        } else {
            Some(env.f64(a.argv[2], "reportedContentLength")?.max(0.0) as u64)
        };
        http_conn::end_without_body(&lp, k, seq, reported, close)?;
        Ok(env.undefined())
    }
);

js_fn!(res_write(env, info) {
    let a = env.args::<3>(info)?;
    let (lp, k, seq) = res_args(env, &a.argv)?;
    let r = lp.with_scratch(|scratch| {
        env.with_bytes_opt(a.argv[2], scratch, "chunk", |b| http_conn::write(&lp, k, seq, b))
    });
    Ok(env.boolean(r??))
});

js_fn!(res_try_end(env, info) {
    let a = env.args::<4>(info)?;
    let (lp, k, seq) = res_args(env, &a.argv)?;
    let total = env.f64(a.argv[3], "totalSize")?;
    if total < 0.0 {
        return Err(type_error("totalSize must be a non-negative number"));
    }
    let r = lp.with_scratch(|scratch| {
        env.with_bytes_opt(a.argv[2], scratch, "fullBodyOrChunk", |b| {
            http_conn::try_end(&lp, k, seq, b, total as u64)
        })
    });
    let (ok, done) = r??;
    env.array(&[env.boolean(ok), env.boolean(done)])
});

js_fn!(res_write_offset(env, info) {
    let a = env.args::<2>(info)?;
    let (lp, k, seq) = res_args(env, &a.argv)?;
    let off = with_response(&lp, k, seq, |_, r| r.write_offset)?;
    Ok(env.number(off as f64))
});

js_fn!(
    /// `resOn(key, seq, which, handler)`: which 0 = aborted, 1 = writable, 2 = data,
    /// 3 = dataV2.
    res_on(env, info) {
        let a = env.args::<4>(info)?;
        let (lp, k, seq) = res_args(env, &a.argv)?;
        let which = env.f64(a.argv[2], "which")? as u32;
        let f = super::args::function(env, a.argv[3], "handler")?;
        with_response(&lp, k, seq, |_, r| match which {
            0 => r.on_aborted = Some(f),
            1 => r.on_writable = Some(f),
            2 => r.on_data = Some(DataHandler::Chunks(f)),
            _ => r.on_data = Some(DataHandler::ChunksV2(f)),
        })?;
        Ok(env.undefined())
    }
);

js_fn!(
    /// `resCollect(key, seq, maxSize, handler)`: collectBody.
    res_collect(env, info) {
        let a = env.args::<4>(info)?;
        let (lp, k, seq) = res_args(env, &a.argv)?;
        let max = env.f64(a.argv[2], "maxSize")?;
        if max.is_nan() || max < 0.0 {
            return Err(type_error("maxSize must be a non-negative number"));
        }
        let handler = super::args::function(env, a.argv[3], "handler")?;
        with_response(&lp, k, seq, |_, r| {
            r.on_data = Some(DataHandler::Collect {
                handler,
                max: max as u64,
                buf: Vec::new(),
                overflowed: false,
            })
        })?;
        Ok(env.undefined())
    }
);

js_fn!(res_pause(env, info) {
    let a = env.args::<3>(info)?;
    let (lp, k, seq) = res_args(env, &a.argv)?;
    let pause = env.truthy(a.argv[2]);
    with_response(&lp, k, seq, |c, _| {
        c.paused = pause;
        c.sync_interest();
    })?;
    if !pause {
        lp.defer_read(k);
    }
    Ok(env.undefined())
});

js_fn!(res_close(env, info) {
    let a = env.args::<2>(info)?;
    let (lp, k, seq) = res_args(env, &a.argv)?;
    http_conn::close(&lp, k, seq)?;
    Ok(env.undefined())
});

js_fn!(res_cork(env, info) {
    let a = env.args::<3>(info)?;
    let (lp, k, seq) = res_args(env, &a.argv)?;
    with_response(&lp, k, seq, |_, _| ())?;
    super::websocket::cork_around(&lp, k, a.argv[2])?;
    Ok(env.undefined())
});

js_fn!(res_remote_address(env, info) {
    let a = env.args::<3>(info)?;
    let (lp, k, seq) = res_args(env, &a.argv)?;
    let addr = with_response(&lp, k, seq, |c, _| c.remote)?;
    super::websocket::remote_address(env, addr, env.truthy(a.argv[2]))
});

js_fn!(
    /// `resUpgrade(key, seq, userData, secWebSocketKey, protocol, extensions, context)`.
    res_upgrade(env, info) {
        let a = env.args::<7>(info)?;
        let (lp, k, seq) = res_args(env, &a.argv)?;
        let ws_key = owned(&lp, env, a.argv[3], "secWebSocketKey")?;
        let protocol = owned(&lp, env, a.argv[4], "secWebSocketProtocol")?;
        let extensions = owned(&lp, env, a.argv[5], "secWebSocketExtensions")?;
        let ctx = env.f64(a.argv[6], "context")?;
        let app = lp.conns.borrow().get(k).map(|c| c.app);
        let behavior = app
            .and_then(|ak| lp.apps.borrow().get(ak).cloned())
            .and_then(|app| app.behaviors.borrow().get(ctx as usize).cloned());
        let Some(behavior) = behavior else {
            with_response(&lp, k, seq, |_, _| ())?;
            return Err(type_error("context must be the one given to the upgrade handler"));
        };
        let user_data = if env.kind(a.argv[2]) == Kind::Object { a.argv[2] } else { env.object()? };
        crate::upgrade::upgrade(&lp, k, seq, user_data, &ws_key, &protocol, &extensions, behavior)?;
        Ok(env.undefined())
    }
);

// ---- HttpRequest ----

fn req_seq(env: Env, v: Value) -> JsResult<u64> {
    Ok(env.f64(v, "HttpRequest")? as u64)
}

js_fn!(req_header(env, info) {
    let a = env.args::<2>(info)?;
    let lp = Loop::get(env)?;
    let seq = req_seq(env, a.argv[0])?;
    with_arg(&lp, env, a.argv[1], "lowerCaseKey", |name| {
        let slot = lp.request.borrow();
        let (head, buf) = slot.head(seq)?;
        env.string_lossy(head.header(buf, name).unwrap_or(b""))
    })?
});

js_fn!(req_parameter(env, info) {
    let a = env.args::<2>(info)?;
    let lp = Loop::get(env)?;
    let seq = req_seq(env, a.argv[0])?;
    let slot = lp.request.borrow();
    let (_, buf) = slot.head(seq)?;
    let index = match env.kind(a.argv[1]) {
        Kind::Number => Some(env.f64(a.argv[1], "index")? as usize),
        // Deliberate difference: v20.30 reads any string as index 0; newer uWS looks the
        // `:name` up, as we do.
        Kind::String => {
            let name = super::args::text(env, a.argv[1], "name")?;
            let names = slot.param_names.as_deref().unwrap_or(&[]);
            names.iter().position(|n| **n == *name)
        }
        _ => return Err(type_error("getParameter takes an index or a name")),
    };
    // Out of range (or an unknown name): "" as uWS.
    let value = index.and_then(|i| slot.params.get(i)).map_or(&[][..], |r| &buf[r.clone()]);
    env.string_lossy(value)
});

js_fn!(req_url(env, info) {
    let a = env.args::<1>(info)?;
    let lp = Loop::get(env)?;
    let slot = lp.request.borrow();
    let (head, buf) = slot.head(req_seq(env, a.argv[0])?)?;
    env.string_lossy(&buf[head.url.clone()])
});

js_fn!(req_method(env, info) {
    let a = env.args::<2>(info)?;
    let lp = Loop::get(env)?;
    let slot = lp.request.borrow();
    let (head, buf) = slot.head(req_seq(env, a.argv[0])?)?;
    let m = &buf[head.method.clone()];
    let mut lower = [0u8; 32];
    if env.truthy(a.argv[1]) || m.len() > lower.len() {
        return env.string_lossy(m);
    }
    let lower = &mut lower[..m.len()];
    lower.copy_from_slice(m);
    lower.make_ascii_lowercase();
    env.string_lossy(lower)
});

js_fn!(req_query(env, info) {
    let a = env.args::<2>(info)?;
    let lp = Loop::get(env)?;
    let seq = req_seq(env, a.argv[0])?;
    let key_arg = if env.is_nullish(a.argv[1]) { None } else { Some(owned(&lp, env, a.argv[1], "key")?) };
    let slot = lp.request.borrow();
    let (head, buf) = slot.head(seq)?;
    let query = head.query.clone().map(|r| &buf[r]);
    match (key_arg, query) {
        // No "?" at all: undefined (v20.30); a bare "?": "".
        (None, None) => Ok(env.undefined()),
        (None, Some(q)) => env.string_lossy(q),
        (Some(_), None) => Ok(env.undefined()),
        (Some(k), Some(query)) => match uws_core::http::query::get_query(query, &k) {
            Some(v) => env.string_lossy(&v),
            None => Ok(env.undefined()),
        },
    }
});

js_fn!(req_for_each(env, info) {
    let a = env.args::<2>(info)?;
    let lp = Loop::get(env)?;
    let seq = req_seq(env, a.argv[0])?;
    let pairs: Vec<(Value, Value)> = {
        let slot = lp.request.borrow();
        let (head, buf) = slot.head(seq)?;
        head.headers
            .iter()
            .map(|(n, v)| Ok((env.string_lossy(&buf[n.clone()])?, env.string_lossy(&buf[v.clone()])?)))
            .collect::<JsResult<_>>()?
    };
    for (k, v) in pairs {
        env.call(a.argv[1], &[k, v]).map_err(|ex| {
            env.rethrow(ex);
            super::napi::JsError::Pending
        })?;
    }
    Ok(env.undefined())
});

js_fn!(req_set_yield(env, info) {
    let a = env.args::<2>(info)?;
    let lp = Loop::get(env)?;
    let seq = req_seq(env, a.argv[0])?;
    let y = env.truthy(a.argv[1]);
    let mut slot = lp.request.borrow_mut();
    slot.head(seq)?;
    slot.yielded = y;
    Ok(env.undefined())
});

js_fn!(
    /// `getParts(body, contentType)`: multipart/form-data parts or undefined.
    get_parts(env, info) {
        let a = env.args::<2>(info)?;
        let body = env.bytes_owned(a.argv[0], "body")?;
        let ct = env.bytes_owned(a.argv[1], "contentType")?;
        let Some(parts) = uws_core::http::multipart::get_parts(&body, &ct) else {
            return Ok(env.undefined());
        };
        let mut values = Vec::with_capacity(parts.len());
        for p in parts {
            let o = env.object()?;
            env.set(o, c"data", env.arraybuffer(p.data)?)?;
            if let Some(n) = p.name {
                env.set(o, c"name", env.string_lossy(n)?)?;
            }
            if let Some(t) = p.content_type {
                env.set(o, c"type", env.string_lossy(t)?)?;
            }
            if let Some(f) = p.filename {
                env.set(o, c"filename", env.string_lossy(f)?)?;
            }
            values.push(o);
        }
        env.array(&values)
    }
);

js_fn!(res_remote_port(env, info) {
    let a = env.args::<2>(info)?;
    let (lp, k, seq) = res_args(env, &a.argv)?;
    let peer = with_response(&lp, k, seq, |c, _| c.remote)?;
    Ok(env.number(super::websocket::remote_port(peer)))
});

js_fn!(
    /// `resProxiedAddress(key, seq, asText)`: the client a PROXY v2 header named, or an empty
    /// ArrayBuffer without one (as uWebSockets.js).
    res_proxied_address(env, info) {
        let a = env.args::<3>(info)?;
        let (lp, k, seq) = res_args(env, &a.argv)?;
        let proxied = with_response(&lp, k, seq, |c, _| c.proxied)?;
        let peer = proxied.map_or(crate::transport::Peer::Local, crate::transport::Peer::Ip);
        super::websocket::remote_address(env, peer, env.truthy(a.argv[2]))
    }
);
