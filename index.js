'use strict';
// uws-rs: the uWebSockets.js v20 API over a Rust addon. Objects handed to handlers are thin JS
// wrappers holding a numeric handle; every method is one call into the addon, which checks that
// the handle is still live (a closed WebSocket or finished response throws, never crashes).

const native = require('./lib/native.js');

class WebSocket {
  #key;
  #userData;
  constructor(key, userData) {
    this.#key = key;
    this.#userData = userData;
  }
  send(message, isBinary, compress) { return native.wsSend(this.#key, message, isBinary, compress); }
  sendFirstFragment(message, isBinary, compress) { return native.wsFragment(this.#key, message, 0, isBinary, compress); }
  sendFragment(message, compress) { return native.wsFragment(this.#key, message, 1, false, compress); }
  sendLastFragment(message, compress) { return native.wsFragment(this.#key, message, 2, false, compress); }
  ping(message) { return native.wsPing(this.#key, message); }
  end(code, shortMessage) { native.wsEnd(this.#key, code, shortMessage); }
  close() { native.wsClose(this.#key); }
  getBufferedAmount() { return native.wsBuffered(this.#key); }
  cork(cb) { native.wsCork(this.#key, cb); return this; }
  subscribe(topic) { return native.wsSubscribe(this.#key, this, topic, true); }
  unsubscribe(topic) { return native.wsSubscribe(this.#key, this, topic, false); }
  isSubscribed(topic) { return native.wsIsSubscribed(this.#key, topic); }
  getTopics() { return native.wsTopics(this.#key); }
  publish(topic, message, isBinary, compress) { return native.wsPublish(this.#key, topic, message, isBinary, compress); }
  getUserData() { native.wsCheck(this.#key); return this.#userData; }
  getRemoteAddress() { return native.wsRemoteAddress(this.#key, false); }
  getRemoteAddressAsText() { return native.wsRemoteAddress(this.#key, true); }
  getProxiedRemoteAddress() { return native.wsRemoteAddress(this.#key, false); }
  getProxiedRemoteAddressAsText() { return native.wsRemoteAddress(this.#key, true); }
}

const ABORTED = 0, WRITABLE = 1, DATA = 2;

class HttpResponse {
  #key;
  #seq;
  constructor(key, seq) {
    this.#key = key;
    this.#seq = seq;
  }
  writeStatus(status) { native.resWriteStatus(this.#key, this.#seq, status); return this; }
  writeHeader(key, value) { native.resWriteHeader(this.#key, this.#seq, key, value); return this; }
  end(body, closeConnection) { native.resEnd(this.#key, this.#seq, body, closeConnection); return this; }
  endWithoutBody(reportedContentLength, closeConnection) {
    native.resEndWithoutBody(this.#key, this.#seq, reportedContentLength, closeConnection);
    return this;
  }
  tryEnd(fullBodyOrChunk, totalSize) { return native.resTryEnd(this.#key, this.#seq, fullBodyOrChunk, totalSize); }
  write(chunk) { return native.resWrite(this.#key, this.#seq, chunk); }
  getWriteOffset() { return native.resWriteOffset(this.#key, this.#seq); }
  onWritable(handler) { native.resOn(this.#key, this.#seq, WRITABLE, handler); return this; }
  onAborted(handler) { native.resOn(this.#key, this.#seq, ABORTED, handler); return this; }
  onData(handler) { native.resOn(this.#key, this.#seq, DATA, handler); return this; }
  pause() { native.resPause(this.#key, this.#seq, true); return this; }
  resume() { native.resPause(this.#key, this.#seq, false); return this; }
  close() { native.resClose(this.#key, this.#seq); return this; }
  cork(cb) { native.resCork(this.#key, this.#seq, cb); return this; }
  getRemoteAddress() { return native.resRemoteAddress(this.#key, this.#seq, false); }
  getRemoteAddressAsText() { return native.resRemoteAddress(this.#key, this.#seq, true); }
  getProxiedRemoteAddress() { return native.resRemoteAddress(this.#key, this.#seq, false); }
  getProxiedRemoteAddressAsText() { return native.resRemoteAddress(this.#key, this.#seq, true); }
  upgrade(userData, secWebSocketKey, secWebSocketProtocol, secWebSocketExtensions, context) {
    native.resUpgrade(this.#key, this.#seq, userData, secWebSocketKey, secWebSocketProtocol,
      secWebSocketExtensions, WebSocketContext.idOf(context));
  }
}

class HttpRequest {
  #seq;
  constructor(seq) { this.#seq = seq; }
  getHeader(lowerCaseKey) { return native.reqHeader(this.#seq, lowerCaseKey); }
  getParameter(index) { return native.reqParameter(this.#seq, index); }
  getUrl() { return native.reqUrl(this.#seq); }
  getMethod() { return native.reqMethod(this.#seq, false); }
  getCaseSensitiveMethod() { return native.reqMethod(this.#seq, true); }
  getQuery(key) { return native.reqQuery(this.#seq, key); }
  forEach(cb) { native.reqForEach(this.#seq, cb); }
  setYield(y) { native.reqSetYield(this.#seq, y); return this; }
}

/** The `context` of an upgrade handler: which ws behavior the socket will get. */
class WebSocketContext {
  #id;
  constructor(id) { this.#id = id; }
  static idOf(c) {
    if (typeof c !== 'object' || c === null || !(#id in c)) {
      throw new TypeError('context must be the one given to the upgrade handler');
    }
    return c.#id;
  }
}

/** What `listen` hands to its callback: pass it to us_listen_socket_close / us_socket_local_port. */
class ListenSocket {
  #key;
  constructor(key) { this.#key = key; }
  static keyOf(token) {
    if (typeof token !== 'object' || token === null || !(#key in token)) {
      throw new TypeError('listenSocket must be a token given by listen()');
    }
    return token.#key;
  }
}

native.init({
  websocket: (key, userData) => {
    const ws = new WebSocket(key, userData);
    // uWebSockets.js exposes the userData properties on the WebSocket object itself.
    if (userData) Object.assign(ws, userData);
    return ws;
  },
  http: (handler, key, seq, reqSeq) => handler(new HttpResponse(key, seq), new HttpRequest(reqSeq)),
  upgrade: (handler, key, seq, reqSeq, ctx) =>
    handler(new HttpResponse(key, seq), new HttpRequest(reqSeq), new WebSocketContext(ctx)),
});

function checkPattern(pattern) {
  if (typeof pattern !== 'string') throw new TypeError('pattern must be a string');
}

class TemplatedApp {
  #key;
  constructor() { this.#key = native.appCreate(); }

  #route(method, pattern, handler) {
    checkPattern(pattern);
    if (handler != null && typeof handler !== 'function') throw new TypeError('handler must be a function');
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

  listen_unix() {
    throw new Error('uws-rs: listen_unix is not supported yet');
  }

  publish(topic, message, isBinary, compress) { return native.appPublish(this.#key, topic, message, isBinary, compress); }
  numSubscribers(topic) { return native.appNumSubscribers(this.#key, topic); }
  close() { native.appClose(this.#key); return this; }

  // TLS server names only matter for SSLApp; App accepts and ignores them, as upstream does.
  addServerName() { return this; }
  removeServerName() { return this; }
  missingServerName() { return this; }
  domain() { return this; }
  filter() { return this; }
}

function App(options) {
  return new TemplatedApp(options);
}

function SSLApp() {
  throw new Error('uws-rs: SSLApp is not supported yet');
}

const compression = {
  DISABLED: 0,
  SHARED_COMPRESSOR: 1,
  SHARED_DECOMPRESSOR: 256,
  DEDICATED_DECOMPRESSOR: 3840,
  DEDICATED_COMPRESSOR: 248,
  DEDICATED_COMPRESSOR_3KB: 145,
  DEDICATED_COMPRESSOR_4KB: 146,
  DEDICATED_COMPRESSOR_8KB: 163,
  DEDICATED_COMPRESSOR_16KB: 180,
  DEDICATED_COMPRESSOR_32KB: 197,
  DEDICATED_COMPRESSOR_64KB: 214,
  DEDICATED_COMPRESSOR_128KB: 231,
  DEDICATED_COMPRESSOR_256KB: 248,
  DEDICATED_DECOMPRESSOR_32KB: 3840,
  DEDICATED_DECOMPRESSOR_16KB: 3584,
  DEDICATED_DECOMPRESSOR_8KB: 3328,
  DEDICATED_DECOMPRESSOR_4KB: 3072,
  DEDICATED_DECOMPRESSOR_2KB: 2816,
  DEDICATED_DECOMPRESSOR_1KB: 2560,
  DEDICATED_DECOMPRESSOR_512B: 2304,
};

module.exports = {
  App,
  SSLApp,
  us_listen_socket_close(listenSocket) { native.listenClose(ListenSocket.keyOf(listenSocket)); },
  us_socket_local_port(listenSocket) { return native.listenPort(ListenSocket.keyOf(listenSocket)); },
  getParts(body, contentType) { return native.getParts(body, contentType); },
  /** uws-rs addition: send-queue memory counters (see README). */
  stats() { return native.stats(); },
  resetPeakStats() { native.resetPeak(); },
  ...compression,
  LIBUS_LISTEN_EXCLUSIVE_PORT: 1,
};
