'use strict';
// TemplatedApp: routes, WebSocket behaviors, listen, pub/sub and close.

const native = require('./native.js');
const { ListenSocket } = require('./handles.js');
const { compileDeclarative } = require('./declarative.js');

function checkPattern(pattern) {
  if (typeof pattern !== 'string') throw new TypeError('pattern must be a string');
}

const SSL = Symbol('ssl');

class TemplatedApp {
  #key;
  constructor(options, ssl) { this.#key = ssl === SSL ? native.appCreateSsl(options ?? {}) : native.appCreate(); }

  #route(method, pattern, handler) {
    checkPattern(pattern);
    // A DeclarativeResponse program (what its end() returns) is served by a compiled handler.
    if (handler instanceof ArrayBuffer) handler = compileDeclarative(handler);
    if (handler != null && typeof handler !== 'function') throw new TypeError('handler must be a function or a DeclarativeResponse');
    native.appRoute(this.#key, method, pattern, handler);
    return this;
  }
  get(pattern, handler) { return this.#route('get', pattern, handler); }
  post(pattern, handler) { return this.#route('post', pattern, handler); }
  options(pattern, handler) { return this.#route('options', pattern, handler); }
  del(pattern, handler) { return this.#route('del', pattern, handler); }
  patch(pattern, handler) { return this.#route('patch', pattern, handler); }
  put(pattern, handler) { return this.#route('put', pattern, handler); }
  head(pattern, handler) { return this.#route('head', pattern, handler); }
  connect(pattern, handler) { return this.#route('connect', pattern, handler); }
  trace(pattern, handler) { return this.#route('trace', pattern, handler); }
  any(pattern, handler) { return this.#route('any', pattern, handler); }

  ws(pattern, behavior) {
    checkPattern(pattern);
    native.appWs(this.#key, pattern, behavior);
    return this;
  }

  /** listen(port, cb) | listen(host, port, cb) | listen(port, options, cb) | listen(host, port, options, cb) */
  listen(...args) {
    const cb = args.pop();
    if (typeof cb !== 'function') throw new TypeError('listen: the last argument must be a callback');
    let host, port, options = 0;
    if (typeof args[0] === 'string') {
      [host, port] = args;
      if (args.length > 2) options = args[2];
    } else {
      [port] = args;
      if (args.length > 1) options = args[1];
    }
    if (typeof port === 'string' && port.trim() !== '' && !Number.isNaN(Number(port))) port = Number(port);
    if (typeof port !== 'number') throw new TypeError('listen: port must be a number');
    const key = native.appListen(this.#key, host, port, typeof options === 'number' ? options : 0);
    cb(key === false ? false : new ListenSocket(key));
    return this;
  }

  /** listen_unix(cb, path): listen on a Unix domain socket. */
  listen_unix(cb, path) {
    if (typeof cb !== 'function') throw new TypeError('listen_unix: cb must be a function');
    if (typeof path !== 'string') throw new TypeError('listen_unix: path must be a string');
    const key = native.appListenUnix(this.#key, path);
    cb(key === false ? false : new ListenSocket(key));
    return this;
  }

  publish(topic, message, isBinary, compress) { return native.appPublish(this.#key, topic, message, isBinary, compress); }
  numSubscribers(topic) { return native.appNumSubscribers(this.#key, topic); }
  close() { native.appClose(this.#key); return this; }

  // Acceptor pattern: a worker's app gives its descriptor; the accepting app hands it sockets.
  getDescriptor() { return native.appGetDescriptor(this.#key); }
  addChildAppDescriptor(descriptor) { native.appChild(this.#key, descriptor, true); return this; }
  removeChildAppDescriptor(descriptor) { native.appChild(this.#key, descriptor, false); return this; }

  // TLS server names (SNI) only matter for SSLApp; App accepts and ignores them, as upstream
  // does. missingServerName's callback runs after the handshake that met the name (which gets
  // the default certificate), not inside it; see src/tls.rs.
  addServerName(hostname, options) {
    native.appAddServerName(this.#key, String(hostname), options ?? {});
    return this;
  }
  removeServerName(hostname) { native.appRemoveServerName(this.#key, String(hostname)); return this; }
  missingServerName(cb) {
    if (cb != null && typeof cb !== 'function') throw new TypeError('missingServerName: cb must be a function');
    native.appMissingServerName(this.#key, cb);
    return this;
  }
  /** SSLApp: the routes that follow serve connections whose SNI is `name` ('' = every other). */
  domain(name) { native.appDomain(this.#key, name == null ? '' : String(name)); return this; }
  /** filter(cb(res, count)): cb(res, 1) when a socket opens, cb(res, -1) when it closes. */
  filter(cb) {
    if (typeof cb !== 'function') throw new TypeError('filter: cb must be a function');
    native.appFilter(this.#key, cb);
    return this;
  }
}

function App(options) {
  return new TemplatedApp(options);
}

/** SSLApp(options): TLS with rustls; options as uWebSockets.js AppOptions (see src/tls.rs). */
function SSLApp(options) {
  return new TemplatedApp(options, SSL);
}

module.exports = { App, SSLApp, TemplatedApp };
