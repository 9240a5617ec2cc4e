'use strict';
// uws-rs: the uWebSockets.js v20 API over a Rust addon. Objects handed to handlers are thin JS
// wrappers holding a numeric handle (lib/*.js); the addon does the work (src/).

const native = require('./lib/native.js');
const { WebSocket } = require('./lib/websocket.js');
const { HttpResponse, HttpRequest } = require('./lib/http.js');
const { WebSocketContext, ListenSocket } = require('./lib/handles.js');
const { App, SSLApp } = require('./lib/app.js');
const compression = require('./lib/compression.js');
const { DeclarativeResponse } = require('./lib/declarative.js');

native.init({
  websocket: (key, userData) => {
    const ws = new WebSocket(key);
    // uWebSockets.js exposes the userData properties on the WebSocket object itself.
    if (userData) Object.assign(ws, userData);
    return ws;
  },
  http: (handler, key, seq, reqSeq) => handler(new HttpResponse(key, seq), new HttpRequest(reqSeq)),
  // The socket behind an app.filter notification: its response methods are not usable (no
  // request is in flight), as for uWebSockets.js.
  filterResponse: (key) => new HttpResponse(key, 0xffffffff),
  upgrade: (handler, key, seq, reqSeq, ctx) =>
    handler(new HttpResponse(key, seq), new HttpRequest(reqSeq), new WebSocketContext(ctx)),
});

module.exports = {
  App,
  SSLApp,
  DeclarativeResponse,
  us_listen_socket_close(listenSocket) { native.listenClose(ListenSocket.keyOf(listenSocket)); },
  us_socket_local_port(listenSocket) { return native.listenPort(ListenSocket.keyOf(listenSocket)); },
  getParts(body, contentType) { return native.getParts(body, contentType); },
  /** uws-rs addition: send-queue memory counters (see README). */
  stats() { return native.stats(); },
  resetPeakStats() { native.resetPeak(); },
  ...compression,
  LIBUS_LISTEN_EXCLUSIVE_PORT: 1,
  /** HTTP/3 (uWebSockets.js's experimental H3App) is not implemented. */
  H3App() { throw new Error('uws-rs: H3App (HTTP/3) is not supported'); },
  /** uWebSockets.js internal configuration hook: accepted and ignored. */
  _cfg() {},
  // Shared storage visible to every worker thread (uWebSockets.js v20).
  setString: native.setString,
  getString: native.getString,
  deleteString: native.deleteString,
  getStringKeys: native.getStringKeys,
  deleteStringCollection: native.deleteStringCollection,
  setInteger: native.setInteger,
  incInteger: native.incInteger,
  getInteger: native.getInteger,
  deleteInteger: native.deleteInteger,
  getIntegerKeys: native.getIntegerKeys,
  deleteIntegerCollection: native.deleteIntegerCollection,
  lock: native.lock,
  unlock: native.unlock,
};
