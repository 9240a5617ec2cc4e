//! An App: its router (HTTP handlers and WebSocket routes), its WebSocket behaviors and its
//! pub/sub topics. Apps live in the loop's slab; connections name their app by key.

use crate::js::napi::Ref;
use std::cell::RefCell;
use std::rc::Rc;
use uws_core::http::router::Router;
use uws_core::pubsub::Topics;

/// What a route leads to.
#[derive(Clone)]
pub enum Route {
    Http(Rc<Ref>),
    Ws(Rc<Behavior>),
}

/// Settings of one `app.ws(pattern, behavior)`, validated at registration.
#[derive(Clone, Debug)]
pub struct WsSettings {
    pub max_payload_length: usize,
    /// Seconds; 0 disables.
    pub idle_timeout: u32,
    /// Bytes; 0 disables dropping.
    pub max_backpressure: usize,
    pub close_on_backpressure_limit: bool,
    pub reset_idle_timeout_on_send: bool,
    pub send_pings_automatically: bool,
    /// Minutes; 0 disables.
    pub max_lifetime: u32,
    pub compression: u32,
}

impl Default for WsSettings {
    fn default() -> Self {
        WsSettings {
            max_payload_length: 16 * 1024,
            idle_timeout: 120,
            max_backpressure: 64 * 1024,
            close_on_backpressure_limit: false,
            reset_idle_timeout_on_send: false,
            send_pings_automatically: true,
            max_lifetime: 0,
            compression: 0,
        }
    }
}

/// The JS handlers of a WebSocket route.
#[derive(Default)]
pub struct Handlers {
    pub upgrade: Option<Ref>,
    pub open: Option<Ref>,
    pub message: Option<Ref>,
    pub drain: Option<Ref>,
    pub close: Option<Ref>,
    pub ping: Option<Ref>,
    pub pong: Option<Ref>,
    pub dropped: Option<Ref>,
    pub subscription: Option<Ref>,
}

pub struct Behavior {
    pub settings: WsSettings,
    pub handlers: Handlers,
    /// Index in the app's behavior list: the `context` value handed to upgrade handlers.
    pub id: u32,
}

#[derive(Default)]
pub struct App {
    /// Child app descriptors this acceptor app hands its connections to, round-robin.
    pub children: RefCell<Vec<u64>>,
    pub next_child: std::cell::Cell<usize>,
    /// `app.filter(cb)` handlers.
    pub filters: RefCell<Vec<Rc<Ref>>>,
    pub router: RefCell<Router<Route>>,
    pub behaviors: RefCell<Vec<Rc<Behavior>>>,
    pub topics: RefCell<Topics>,
    /// SSLApp: TLS configuration and server names.
    pub tls: Option<crate::tls::TlsApp>,
}
