//! Native functions behind `TemplatedApp` and the module-level listen-socket helpers.

use super::args::{self, key, opt_bool, opt_function, opt_number};
use super::napi::{error, type_error, Env, JsResult, Kind};
use crate::app::{App, Behavior, Handlers, Route, WsSettings};
use crate::event_loop::{Factories, Loop};
use crate::js_fn;
use std::rc::Rc;

fn app_of(lp: &Loop, env: Env, v: super::napi::Value) -> JsResult<Rc<App>> {
    let k = key(env, v, "app")?;
    lp.apps
        .borrow()
        .get(k)
        .cloned()
        .ok_or_else(|| error("this App was closed"))
}

js_fn!(
    /// `init({websocket, http, upgrade})`: the facade's object factories.
    init(env, info) {
        let a = env.args::<1>(info)?;
        let lp = Loop::get(env)?;
        let o = a.argv[0];
        let f = Factories {
            websocket: args::function(env, env.get(o, c"websocket")?, "websocket factory")?,
            http: args::function(env, env.get(o, c"http")?, "http dispatcher")?,
            upgrade: args::function(env, env.get(o, c"upgrade")?, "upgrade dispatcher")?,
            filter_response: args::function(env, env.get(o, c"filterResponse")?, "filter response factory")?,
        };
        *lp.factories.borrow_mut() = Some(f);
        Ok(env.undefined())
    }
);

js_fn!(app_create(env, _info) {
    let lp = Loop::get(env)?;
    let k = lp.apps.borrow_mut().insert(Rc::new(App::default()));
    Ok(env.number(k.to_f64()))
});

/// uWebSockets.js method names to router method keys.
fn method_key(name: &str) -> &str {
    match name {
        "any" => "*",
        "del" => "delete",
        other => other,
    }
}

js_fn!(
    /// `appRoute(app, method, pattern, handler|null)`.
    app_route(env, info) {
        let a = env.args::<4>(info)?;
        let lp = Loop::get(env)?;
        let app = app_of(&lp, env, a.argv[0])?;
        let method = args::text(env, a.argv[1], "method")?;
        let pattern = args::text(env, a.argv[2], "pattern")?;
        let method = method_key(&method);
        let priority = if method == "*" { 2 } else { 1 };
        match opt_function(env, a.argv[3], "handler")? {
            Some(h) => crate::tls::with_router(&app, |r| {
                r.add(method, &pattern, priority, Route::Http(Rc::new(h)))
            }),
            None => {
                crate::tls::with_router(&app, |r| r.remove(method, &pattern, priority));
            }
        }
        Ok(env.undefined())
    }
);

fn settings(env: Env, b: super::napi::Value) -> JsResult<WsSettings> {
    let mut s = WsSettings::default();
    if let Some(n) = opt_number(env, b, c"maxPayloadLength")? {
        s.max_payload_length = n.clamp(0.0, u32::MAX as f64) as usize;
    }
    if let Some(n) = opt_number(env, b, c"idleTimeout")? {
        if n != 0.0 && !(8.0..=960.0).contains(&n) {
            return Err(error(
                "idleTimeout must be either 0 or between 8 and 960 seconds",
            ));
        }
        s.idle_timeout = n as u32;
    }
    if let Some(n) = opt_number(env, b, c"maxBackpressure")? {
        s.max_backpressure = n.clamp(0.0, usize::MAX as f64) as usize;
    }
    if let Some(n) = opt_number(env, b, c"maxLifetime")? {
        if !(0.0..=240.0).contains(&n) {
            return Err(error("maxLifetime must be between 0 and 240 minutes"));
        }
        s.max_lifetime = n as u32;
    }
    if let Some(n) = opt_number(env, b, c"compression")? {
        s.compression = n as u32;
    }
    if let Some(v) = opt_bool(env, b, c"closeOnBackpressureLimit")? {
        s.close_on_backpressure_limit = v;
    }
    if let Some(v) = opt_bool(env, b, c"resetIdleTimeoutOnSend")? {
        s.reset_idle_timeout_on_send = v;
    }
    if let Some(v) = opt_bool(env, b, c"sendPingsAutomatically")? {
        s.send_pings_automatically = v;
    }
    Ok(s)
}

js_fn!(
    /// `appWs(app, pattern, behavior)`.
    app_ws(env, info) {
        let a = env.args::<3>(info)?;
        let lp = Loop::get(env)?;
        let app = app_of(&lp, env, a.argv[0])?;
        let pattern = args::text(env, a.argv[1], "pattern")?;
        let b = a.argv[2];
        if env.kind(b) != Kind::Object {
            return Err(type_error("behavior must be an object"));
        }
        let h = |name: &'static std::ffi::CStr| -> JsResult<_> {
            opt_function(env, env.get(b, name)?, &format!("behavior.{}", name.to_string_lossy()))
        };
        let handlers = Handlers {
            upgrade: h(c"upgrade")?,
            open: h(c"open")?,
            message: h(c"message")?,
            drain: h(c"drain")?,
            close: h(c"close")?,
            ping: h(c"ping")?,
            pong: h(c"pong")?,
            dropped: h(c"dropped")?,
            subscription: h(c"subscription")?,
        };
        let settings = settings(env, b)?;
        let mut behaviors = app.behaviors.borrow_mut();
        let behavior = Rc::new(Behavior {
            settings,
            handlers,
            id: behaviors.len() as u32,
        });
        behaviors.push(behavior.clone());
        crate::tls::with_router(&app, |r| r.add("get", &pattern, 0, Route::Ws(behavior)));
        Ok(env.undefined())
    }
);

js_fn!(
    /// `appListen(app, host|undefined, port, options) -> listenKey | false`.
    app_listen(env, info) {
        let a = env.args::<4>(info)?;
        let lp = Loop::get(env)?;
        let k = key(env, a.argv[0], "app")?;
        if lp.apps.borrow().get(k).is_none() {
            return Err(error("this App was closed"));
        }
        let host = if env.is_nullish(a.argv[1]) {
            None
        } else {
            Some(args::text(env, a.argv[1], "host")?)
        };
        let port = env.f64(a.argv[2], "port")?;
        if !(0.0..=65535.0).contains(&port) || port.fract() != 0.0 {
            return Ok(env.boolean(false));
        }
        let options = env.f64_or(a.argv[3], 0.0, "options")? as u32;
        Ok(match crate::listen::listen(&lp, k, host.as_deref(), port as u16, options) {
            Ok(l) => env.number(l.to_f64()),
            Err(_) => env.boolean(false),
        })
    }
);

js_fn!(
    /// `appListenUnix(app, path) -> listenKey | false`.
    app_listen_unix(env, info) {
        let a = env.args::<2>(info)?;
        let lp = Loop::get(env)?;
        let k = key(env, a.argv[0], "app")?;
        if lp.apps.borrow().get(k).is_none() {
            return Err(error("this App was closed"));
        }
        let path = args::text(env, a.argv[1], "path")?;
        Ok(match crate::listen::listen_unix(&lp, k, &path) {
            Ok(l) => env.number(l.to_f64()),
            Err(_) => env.boolean(false),
        })
    }
);

js_fn!(
    /// `appFilter(app, cb)`.
    app_filter(env, info) {
        let a = env.args::<2>(info)?;
        let lp = Loop::get(env)?;
        let app = app_of(&lp, env, a.argv[0])?;
        let f = args::function(env, a.argv[1], "filter handler")?;
        app.filters.borrow_mut().push(Rc::new(f));
        Ok(env.undefined())
    }
);

js_fn!(
    /// `appGetDescriptor(app) -> number`: this app as a child of an acceptor app.
    app_get_descriptor(env, info) {
        let a = env.args::<1>(info)?;
        let lp = Loop::get(env)?;
        let k = key(env, a.argv[0], "app")?;
        if lp.apps.borrow().get(k).is_none() {
            return Err(error("this App was closed"));
        }
        let d = crate::acceptor::descriptor(&lp, k)
            .map_err(|e| error(format!("uws-rs: getDescriptor: {e}")))?;
        Ok(env.number(d as f64))
    }
);

js_fn!(
    /// `appChild(app, descriptor, add)`: add or remove a child app descriptor.
    app_child(env, info) {
        let a = env.args::<3>(info)?;
        let lp = Loop::get(env)?;
        let app = app_of(&lp, env, a.argv[0])?;
        let d = env.f64(a.argv[1], "descriptor")?;
        if !(d >= 1.0 && d.fract() == 0.0) {
            return Err(type_error("descriptor must come from getDescriptor()"));
        }
        let mut children = app.children.borrow_mut();
        children.retain(|c| *c != d as u64);
        if env.truthy(a.argv[2]) {
            children.push(d as u64);
        }
        Ok(env.undefined())
    }
);

js_fn!(listen_close(env, info) {
    let a = env.args::<1>(info)?;
    let lp = Loop::get(env)?;
    let k = key(env, a.argv[0], "listenSocket")?;
    crate::listen::close(&lp, k);
    Ok(env.undefined())
});

js_fn!(listen_port(env, info) {
    let a = env.args::<1>(info)?;
    let lp = Loop::get(env)?;
    let k = key(env, a.argv[0], "listenSocket")?;
    let port = lp.listeners.borrow().get(k).map(|l| l.port as f64).unwrap_or(-1.0);
    Ok(env.number(port))
});

js_fn!(
    /// `appPublish(app, topic, message, isBinary, compress) -> bool`.
    app_publish(env, info) {
        let a = env.args::<5>(info)?;
        let lp = Loop::get(env)?;
        let app = app_of(&lp, env, a.argv[0])?;
        let topic = env.bytes_owned(a.argv[1], "topic")?;
        let binary = env.truthy(a.argv[3]);
        let compress = env.truthy(a.argv[4]);
        let r = lp.with_scratch(|scratch| {
            env.with_bytes(a.argv[2], scratch, "message", |m| {
                crate::pubsub_glue::publish(&lp, &app, &topic, m, binary, None, compress)
            })
        });
        Ok(env.boolean(r?))
    }
);

js_fn!(app_num_subscribers(env, info) {
    let a = env.args::<2>(info)?;
    let lp = Loop::get(env)?;
    let app = app_of(&lp, env, a.argv[0])?;
    let topic = env.bytes_owned(a.argv[1], "topic")?;
    let n = app.topics.borrow().num_subscribers(&topic);
    Ok(env.number(n as f64))
});

js_fn!(
    /// `appClose(app)`: stop listening and close every connection of the app (handlers fire).
    app_close(env, info) {
        let a = env.args::<1>(info)?;
        let lp = Loop::get(env)?;
        let k = key(env, a.argv[0], "app")?;
        let listeners: Vec<_> = {
            let ls = lp.listeners.borrow();
            ls.keys().into_iter().filter(|l| ls.get(*l).is_some_and(|x| x.app == k)).collect()
        };
        for l in listeners {
            crate::listen::close(&lp, l);
        }
        let conns: Vec<_> = {
            let cs = lp.conns.borrow();
            cs.keys().into_iter().filter(|c| cs.get(*c).is_some_and(|x| x.app == k)).collect()
        };
        for c in conns {
            crate::conn::force_close(&lp, c);
        }
        Ok(env.undefined())
    }
);

js_fn!(
    /// Send-queue counters (our addition): bytes queued now and at peak, bytes ever copied
    /// into queues, chunks and shared frames alive.
    stats(env, _info) {
        let s = uws_core::send_queue::stats();
        let o = env.object()?;
        env.set(o, c"queuedBytes", env.number(s.queued_bytes as f64))?;
        env.set(o, c"peakQueuedBytes", env.number(s.peak_queued_bytes as f64))?;
        env.set(o, c"copiedBytes", env.number(s.copied_bytes as f64))?;
        env.set(o, c"chunksAlive", env.number(s.chunks_alive as f64))?;
        env.set(o, c"sharedFramesAlive", env.number(s.shared_frames_alive as f64))?;
        Ok(o)
    }
);

js_fn!(
    /// How received messages reach JS on this thread: "v8" (an ArrayBuffer over the read
    /// buffer, made through V8) or "napi" (see js::v8_direct). For tests and diagnostics.
    message_buffers(env, _info) {
        let lp = Loop::get(env)?;
        env.string(if lp.v8_direct { "v8" } else { "napi" })
    }
);

js_fn!(reset_peak(env, _info) {
    uws_core::send_queue::reset_peak();
    Ok(env.undefined())
});
