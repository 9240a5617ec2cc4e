'use strict';
// Child process of ws-message-buffers.test.js: echoes messages of many sizes (ws.send takes
// the same path as the messages: V8-direct or N-API), checks that each
// message ArrayBuffer is detached after its handler, keeps some through a transfer and checks
// they keep their bytes while later messages arrive. Prints one JSON line.
const uWS = require('../..');
const native = require('../../lib/native');
const WebSocket = require('ws');

const SIZES = [0, 1, 31, 125, 126, 1000, 1024, 4096, 40000, 65535, 65536, 300000];
const fill = (n, seed) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));
const kept = [];
const seen = [];
let app;

app = uWS.App().ws('/*', {
  maxPayloadLength: 1 << 20,
  message: (ws, msg, isBinary) => {
    ws.send(msg, isBinary);
    // Keep every third message through a transfer (V8 path: the read buffer is handed over).
    if (seen.length % 3 === 0) {
      kept.push({ seed: seen.length, ab: structuredClone(msg, { transfer: [msg] }) });
    }
    seen.push(msg);
  },
}).listen('127.0.0.1', 0, (token) => {
  const port = uWS.us_socket_local_port(token);
  const c = new WebSocket(`ws://127.0.0.1:${port}`);
  const echoes = [];
  c.on('open', () => SIZES.forEach((n, i) => c.send(fill(n, i))));
  c.on('message', (data) => {
    echoes.push(data);
    if (echoes.length < SIZES.length) return;
    const echoOk = SIZES.every((n, i) => echoes[i].equals(fill(n, i)));
    const detached = seen.every((ab) => ab.byteLength === 0);
    const keptOk = kept.every(({ seed, ab }) => Buffer.from(ab).equals(fill(SIZES[seed], seed)));
    const send = typeof native.wsSendFast === 'function' ? 'v8' : 'napi';
    console.log(JSON.stringify({ path: native.messageBuffers(), send, echoOk, detached, keptOk, kept: kept.length }));
    c.close();
    uWS.us_listen_socket_close(token);
  });
});
