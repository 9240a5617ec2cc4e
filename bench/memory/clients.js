'use strict';
// The benchmark's clients, all in one process separate from the server (forked by
// bench/memory-regression.js). argv[2] is the JSON config:
//   { port, clients, messages, msgSize, rate (bytes/s per client, 0 = full speed), check }
// check: 'index' (first and last byte of message i are i & 0xff) or 'fixed' (first byte 0x5a).
// Reports over IPC: open {t} once all are open; delivered {t, clients} once every client got
// every message; progress on {cmd:'progress'}; closed {t} after {cmd:'close'}.

const WebSocket = require('ws');
const { performance } = require('perf_hooks');

const cfg = JSON.parse(process.argv[2]);
const now = () => performance.timeOrigin + performance.now();
const FIXED = 0x5a;

const state = [];
let opened = 0;
let done = 0;
let closed = 0;
let closing = false;

function connect(id) {
  const st = { id, bytes: 0, messages: 0, errors: 0, firstError: null, tDone: null, wire: 0 };
  state.push(st);
  const ws = new WebSocket(`ws://127.0.0.1:${cfg.port}/`, { perMessageDeflate: false, maxPayload: 0 });
  st.ws = ws;
  ws.on('open', () => {
    if (cfg.rate > 0) throttle(ws._socket, st);
    if (++opened === cfg.clients) process.send({ type: 'open', t: now() });
  });
  ws.on('message', (data, isBinary) => {
    const i = st.messages;
    const ok =
      isBinary &&
      data.length === cfg.msgSize &&
      (cfg.check === 'index'
        ? data[0] === (i & 0xff) && data[data.length - 1] === (i & 0xff)
        : data[0] === FIXED);
    if (!ok) {
      st.errors++;
      if (!st.firstError) st.firstError = { message: i, length: data.length, first: data[0], last: data[data.length - 1] };
    }
    st.bytes += data.length;
    if (++st.messages === cfg.messages) {
      st.tDone = now();
      if (++done === cfg.clients) {
        process.send({ type: 'delivered', t: now(), clients: summary() });
      }
    }
  });
  ws.on('close', () => {
    if (++closed === cfg.clients && closing) process.send({ type: 'closed', t: now() });
  });
  ws.on('error', (e) => {
    st.socketError = e.message;
  });
}

/** Reads at most `cfg.rate` bytes/s: pause the socket whenever it is ahead of schedule. */
function throttle(socket, st) {
  let start = 0;
  let timer = null;
  socket.on('data', (chunk) => {
    if (!start) start = now();
    st.wire += chunk.length;
    const due = start + (st.wire / cfg.rate) * 1000;
    const ahead = due - now();
    if (ahead > 2) {
      socket.pause();
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        socket.resume();
      }, ahead);
    }
  });
}

function summary() {
  return state.map(({ id, bytes, messages, errors, firstError, tDone, socketError }) => ({
    id, bytes, messages, errors, firstError, tDone, socketError,
  }));
}

process.on('message', (msg) => {
  if (msg.cmd === 'progress') {
    process.send({ type: 'progress', t: now(), clients: summary() });
  } else if (msg.cmd === 'close') {
    closing = true;
    if (closed === cfg.clients) process.send({ type: 'closed', t: now() });
    for (const st of state) {
      if (st.ws.readyState === WebSocket.OPEN || st.ws.readyState === WebSocket.CONNECTING) st.ws.close(1000);
    }
  } else if (msg.cmd === 'terminate') {
    for (const st of state) st.ws.terminate();
  } else if (msg.cmd === 'exit') {
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

for (let i = 0; i < cfg.clients; i++) connect(i);
