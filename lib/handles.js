'use strict';
// Opaque tokens the API hands out and takes back (uWebSockets.js uses externals for these).

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

module.exports = { WebSocketContext, ListenSocket };
