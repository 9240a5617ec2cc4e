//! The N-API surface: native functions the JS facade (index.js) calls. Keys of apps,
//! connections and listen sockets cross the boundary as numbers; the facade wraps them in
//! objects shaped like uWebSockets.js's.

pub mod app;
pub mod args;
pub mod http;
#[macro_use]
pub mod napi;
pub mod storage;
pub mod tls;
pub mod v8_call;
pub mod v8_direct;
pub mod v8_send;
pub mod websocket;

use napi::{Env, JsResult, Value};

type NativeFn =
    unsafe extern "C" fn(::napi::sys::napi_env, ::napi::sys::napi_callback_info) -> Value;

const EXPORTS: &[(&std::ffi::CStr, NativeFn)] = &[
    (c"init", app::init),
    (c"appCreate", app::app_create),
    (c"appRoute", app::app_route),
    (c"appWs", app::app_ws),
    (c"appListen", app::app_listen),
    (c"appPublish", app::app_publish),
    (c"appNumSubscribers", app::app_num_subscribers),
    (c"appClose", app::app_close),
    (c"appFilter", app::app_filter),
    (c"appGetDescriptor", app::app_get_descriptor),
    (c"appChild", app::app_child),
    (c"listenClose", app::listen_close),
    (c"listenPort", app::listen_port),
    (c"stats", app::stats),
    (c"resetPeak", app::reset_peak),
    (c"messageBuffers", app::message_buffers),
    (c"wsSend", websocket::ws_send),
    (c"wsFragment", websocket::ws_fragment),
    (c"wsPing", websocket::ws_ping),
    (c"wsEnd", websocket::ws_end),
    (c"wsClose", websocket::ws_close),
    (c"wsBuffered", websocket::ws_buffered),
    (c"wsCheck", websocket::ws_check),
    (c"wsCork", websocket::ws_cork),
    (c"wsSubscribe", websocket::ws_subscribe),
    (c"wsIsSubscribed", websocket::ws_is_subscribed),
    (c"wsTopics", websocket::ws_topics),
    (c"wsPublish", websocket::ws_publish),
    (c"wsRemoteAddress", websocket::ws_remote_address),
    (c"wsRemotePort", websocket::ws_remote_port),
    (c"resRemotePort", http::res_remote_port),
    (c"resProxiedAddress", http::res_proxied_address),
    (c"appListenUnix", app::app_listen_unix),
    (c"appCreateSsl", tls::app_create_ssl),
    (c"appAddServerName", tls::app_add_server_name),
    (c"appRemoveServerName", tls::app_remove_server_name),
    (c"appMissingServerName", tls::app_missing_server_name),
    (c"appDomain", tls::app_domain),
    (c"resWriteStatus", http::res_write_status),
    (c"resWriteHeader", http::res_write_header),
    (c"resEnd", http::res_end),
    (c"resEndWithoutBody", http::res_end_without_body),
    (c"resWrite", http::res_write),
    (c"resTryEnd", http::res_try_end),
    (c"resWriteOffset", http::res_write_offset),
    (c"resOn", http::res_on),
    (c"resCollect", http::res_collect),
    (c"resPause", http::res_pause),
    (c"resClose", http::res_close),
    (c"resCork", http::res_cork),
    (c"resRemoteAddress", http::res_remote_address),
    (c"resUpgrade", http::res_upgrade),
    (c"reqHeader", http::req_header),
    (c"reqParameter", http::req_parameter),
    (c"reqUrl", http::req_url),
    (c"reqMethod", http::req_method),
    (c"reqQuery", http::req_query),
    (c"reqForEach", http::req_for_each),
    (c"reqSetYield", http::req_set_yield),
    (c"getParts", http::get_parts),
    (c"setString", storage::set_string),
    (c"getString", storage::get_string),
    (c"deleteString", storage::delete_string),
    (c"getStringKeys", storage::get_string_keys),
    (c"deleteStringCollection", storage::delete_string_collection),
    (c"setInteger", storage::set_integer),
    (c"incInteger", storage::inc_integer),
    (c"getInteger", storage::get_integer),
    (c"deleteInteger", storage::delete_integer),
    (c"getIntegerKeys", storage::get_integer_keys),
    (
        c"deleteIntegerCollection",
        storage::delete_integer_collection,
    ),
    (c"lock", storage::lock),
    (c"unlock", storage::unlock),
];

/// Fills the module's exports object.
pub fn register(env: Env, exports: Value) -> JsResult<()> {
    for (name, f) in EXPORTS {
        let func = env.new_function(name, *f)?;
        env.set(exports, name, func)?;
    }
    if let Some(send) = v8_send::function(env) {
        env.set(exports, c"wsSendFast", send)?;
    }
    Ok(())
}
