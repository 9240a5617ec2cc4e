'use strict';
// Server setup/teardown and `ws`-client helpers shared by the ws-*.test.js files.
const WebSocket = require('ws');
const { uWS, impl } = require('../impl');
const { withTimeout } = require('./raw');

/**
 * Starts an App on 127.0.0.1 with an ephemeral port.
 * `routes` is a function (app) => void that registers handlers, or a behavior object for app.ws(pattern, ...).
 * Returns { app, port, token, close() }. close() closes the listen socket (idempotent).
 */
function startServer(routes, pattern = '/*') {
  const app = uWS.App();
  if (typeof routes === 'function') routes(app);
  else app.ws(pattern, routes);
  const token = listenSync(app, '127.0.0.1', 0);
  const port = uWS.us_socket_local_port(token);
  let closed = false;
  return {
    app,
    port,
    token,
    close() {
      if (!closed) {
        closed = true;
        uWS.us_listen_socket_close(token);
      }
    },
  };
}

/**
 * app.listen(...args, cb) that requires the callback to run synchronously with a token; returns the token.
 * If the callback runs late (a broken implementation), the late listen socket is closed so the process can exit.
 */
function listenSync(app, ...args) {
  let token;
  let sync = true;
  app.listen(...args, (t) => {
    if (sync) token = t;
    else if (t) uWS.us_listen_socket_close(t);
  });
  sync = false;
  if (!token) throw new Error(`listen(${args.join(', ')}) did not call back synchronously with a token`);
  return token;
}

/** Deferred promise. */
function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Connects a `ws` client. Resolves with the client once open. The client gets:
 *   client.messages: [{ data: Buffer, isBinary }], client.nextMessage(ms), client.closed (promise of {code, reason})
 */
function connect(port, path = '/', protocols, options) {
  const client = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols, options);
  client.messages = [];
  client.pings = []; // payloads of pings received from the server (ws auto-replies with pongs)
  client.pongs = [];
  client.on('ping', (d) => client.pings.push(d.toString()));
  client.on('pong', (d) => client.pongs.push(d.toString()));
  const waiters = [];
  client.on('message', (data, isBinary) => {
    client.messages.push({ data, isBinary });
    while (waiters.length && client.messages.length) waiters.shift()(client.messages.shift());
  });
  client.on('error', () => {});
  const closed = deferred();
  client.on('close', (code, reason) => closed.resolve({ code, reason: reason.toString() }));
  client.closed = closed.promise;
  client.nextMessage = (ms = 3000) =>
    withTimeout(
      new Promise((res) => {
        if (client.messages.length) res(client.messages.shift());
        else waiters.push(res);
      }),
      ms,
      'client message'
    );
  return withTimeout(
    new Promise((res, rej) => {
      client.once('open', () => res(client));
      client.once('close', () => rej(new Error('ws client closed before open')));
      client.once('unexpected-response', (req, resp) => {
        req.destroy(); // with a listener, ws leaves the HTTP connection open otherwise
        rej(new Error('unexpected response ' + resp.statusCode));
      });
      client.once('error', rej);
    }),
    3000,
    'ws client open'
  ).catch((e) => {
    client.terminate(); // never leave a half-open client behind
    throw e;
  });
}

/** Waits until pred() is truthy, polling every 5 ms. */
async function until(pred, ms = 3000, what = 'condition') {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > ms) throw new Error(`timeout after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** ArrayBuffer -> string (copy). */
const abText = (ab) => Buffer.from(ab).toString();

module.exports = { uWS, impl, startServer, listenSync, connect, deferred, until, sleep, abText, WebSocket, withTimeout };

/** startServer + closes the listen socket when test `t` ends. */
function serve(t, routes, pattern) {
  const srv = startServer(routes, pattern);
  t.after(() => srv.close());
  return srv;
}

/** connect + terminates the client when test `t` ends. */
async function client(t, port, path, protocols, options) {
  const c = await connect(port, path, protocols, options);
  t.after(() => c.terminate());
  return c;
}

/** RawClient that is destroyed when test `t` ends. */
function rawClient(t, port) {
  const { RawClient } = require('./raw');
  const c = new RawClient(port);
  t.after(() => c.destroy());
  return c;
}

module.exports.serve = serve;
module.exports.client = client;
module.exports.rawClient = rawClient;

/** The exact error thrown by any WebSocket method (except getUserData) once close has begun. */
module.exports.CLOSED_WS_ERROR = 'Invalid access of closed uWS.WebSocket/SSLWebSocket.';
