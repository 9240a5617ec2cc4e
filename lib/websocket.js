'use strict';
// The WebSocket object handed to ws handlers: each method is one call into the addon, which
// throws "Invalid access of closed uWS.WebSocket" once the socket has closed.

const native = require('./native.js');
// The hot native entry points bound once (constants for the JIT, not a property load per call).
// wsSendFast (src/js/v8_send.rs) reads its arguments through V8 directly and returns -1, having
// done nothing, for what only the N-API wsSend handles (and throws for); it is missing where the
// addon cannot use V8 directly.
const { wsSend } = native;
const wsSendFast = native.wsSendFast || (() => -1);

class WebSocket {
  #key;
  constructor(key) {
    this.#key = key;
  }
  // The flags travel as one small integer (truthiness taken here, as uWebSockets.js does):
  // one cheap read in the addon instead of a boolean read plus a coercion of `undefined`.
  send(message, isBinary, compress) {
    const flags = (isBinary ? 1 : 0) | (compress ? 2 : 0);
    const status = wsSendFast(this.#key, message, flags);
    return status >= 0 ? status : wsSend(this.#key, message, flags);
  }
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
  // uWebSockets.js copies the userData properties onto the WebSocket and returns the WebSocket
  // itself here (also after close).
  getUserData() { return this; }
  getRemoteAddress() { return native.wsRemoteAddress(this.#key, false); }
  getRemoteAddressAsText() { return native.wsRemoteAddress(this.#key, true); }
  getRemotePort() { return native.wsRemotePort(this.#key); }
}

module.exports = { WebSocket };
