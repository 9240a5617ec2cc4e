'use strict';
// One benchmark server in its own process (forked by bench/memory-regression.js, with
// --expose-gc). argv[2] is the JSON config:
//   { server: 'uws-rs'|'uws'|'ws', send: 'naive'|'drain', payload: 'shared'|'fresh',
//     clients, messages, msgSize, limit }
// Once `clients` sockets are open it sends each one `messages` binary messages of `msgSize`
// bytes; message i has first and last byte i & 0xff (see payloadFor). It reports over IPC:
//   ready {port, mark}      listening, after a GC; mark is the idle sample
//   sendStart {t}           all clients open, first send about to happen
//   afterSend {mark}        every message handed to send() (naive: right after the loop)
//   closed {mark}           the last socket's close handler ran
//   mark {mark}             answer to {cmd:'mark', label}
//   final {...}             answer to {cmd:'final'}: samples, VmHWM, counters
// A mark is { label, t, rss, hwm, stats? } (t: ms since epoch, sub-ms; stats: uws-rs only).

const fs = require('fs');
const path = require('path');
const { performance } = require('perf_hooks');

const cfg = JSON.parse(process.argv[2]);
const now = () => performance.timeOrigin + performance.now();
const uwsLike = cfg.server === 'uws-rs' || cfg.server === 'uws';
const uWS =
  cfg.server === 'uws-rs' ? require(path.join(__dirname, '..', '..'))
    : cfg.server === 'uws' ? require('@trufflesuite/uws-js-unofficial')
      : null;
const hasStats = !!(uWS && typeof uWS.stats === 'function');

function status(field) {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
const vmHWM = () => status('VmHWM');

/** Resident bytes by mapping kind: glibc main-arena heap ([heap]), other anonymous mappings
 *  (V8 heap, mmapped malloc blocks, thread arenas), file-backed (code), from /proc/self/smaps. */
function smapsBreakdown() {
  try {
    const out = { heap: 0, anon: 0, file: 0, anonMappingsOver1M: 0 };
    let kind = null;
    for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
      if (head) {
        const name = head[1];
        kind = name === '[heap]' ? 'heap' : name === '' || name.startsWith('[anon') ? 'anon' : name.startsWith('[') ? null : 'file';
        continue;
      }
      const rss = /^Rss:\s+(\d+) kB/.exec(line);
      if (rss && kind) {
        const b = Number(rss[1]) * 1024;
        out[kind] += b;
        if (kind === 'anon' && b > MiB) out.anonMappingsOver1M++;
      }
    }
    return out;
  } catch {
    return null;
  }
}
const MiB = 1024 * 1024;

function mark(label) {
  const m = { label, t: now(), rss: process.memoryUsage.rss(), hwm: vmHWM(), rssAnon: status('RssAnon'), rssFile: status('RssFile') };
  if (hasStats) m.stats = uWS.stats();
  const mu = process.memoryUsage();
  m.v8 = { heapTotal: mu.heapTotal, heapUsed: mu.heapUsed, external: mu.external, arrayBuffers: mu.arrayBuffers };
  const ru = process.resourceUsage();
  m.cpu = { user: ru.userCPUTime, system: ru.systemCPUTime, minorFaults: ru.minorPageFault };
  if (label !== 'afterSend') m.smaps = smapsBreakdown();
  return m;
}

// RSS every 100 ms from inside the process (gaps show where the event loop was busy).
const samples = [];
const sampler = setInterval(() => {
  const s = [now(), process.memoryUsage.rss()];
  if (hasStats) s.push(uWS.stats().queuedBytes);
  samples.push(s);
}, 100);

// ---- payloads ----------------------------------------------------------------------------
// shared: one buffer for every message. uWebSockets.js and uws-rs copy whatever they keep at
// send() time, so the index bytes can be rewritten between sends (which also checks that no
// reference to the JS buffer is retained). `ws` keeps a reference to the buffer until written,
// so for it the shared buffer is never modified and the client checks a fixed byte instead.
// fresh: a new buffer per message, fully written (pages touched, as an application would).
const FIXED = 0x5a;
const shared = cfg.payload === 'shared' ? Buffer.alloc(cfg.msgSize, FIXED) : null;
function payloadFor(i) {
  if (shared) {
    if (uwsLike) shared[0] = shared[cfg.msgSize - 1] = i & 0xff;
    return shared;
  }
  return Buffer.allocUnsafe(cfg.msgSize).fill(i & 0xff);
}

// ---- send loops --------------------------------------------------------------------------
// A peer: { sent, send(buf), buffered() }.
const peers = [];
let finishedSending = 0;
let sendStarted = false;
let closedCount = 0;
let sendErrors = 0;
let drainCalls = 0;
const results = { backpressure: 0, success: 0, dropped: 0 };

function noteSent(peer) {
  if (++peer.sent === cfg.messages) {
    if (++finishedSending === cfg.clients) process.send({ type: 'afterSend', mark: mark('afterSend') });
  }
}

function sendOne(peer) {
  const r = peer.send(payloadFor(peer.sent));
  if (r === 0) results.backpressure++;
  else if (r === 1) results.success++;
  else if (r === 2) results.dropped++;
  noteSent(peer);
}

/** Drain pattern: send while the buffered amount is under the limit. */
function pump(peer) {
  if (peer.closed) return;
  while (peer.sent < cfg.messages && peer.buffered() < cfg.limit) sendOne(peer);
}

function startSending() {
  sendStarted = true;
  process.send({ type: 'sendStart', t: now() });
  if (cfg.send === 'naive') {
    // Ignore return values: with maxBackpressure 0 nothing is dropped.
    for (let i = 0; i < cfg.messages; i++) for (const p of peers) sendOne(p);
  } else {
    for (const p of peers) pump(p);
  }
}

function onOpen(peer) {
  peers.push(peer);
  if (peers.length === cfg.clients && !sendStarted) startSending();
}

function onClose(peer) {
  peer.closed = true;
  if (++closedCount === cfg.clients) process.send({ type: 'closed', mark: mark('closed') });
}

// ---- servers -----------------------------------------------------------------------------
function startUws(ready) {
  const app = uWS.App();
  app.ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: 16 * 1024,
    maxBackpressure: 0, // no limit: nothing is dropped
    closeOnBackpressureLimit: false,
    idleTimeout: 120,
    open: (ws) => {
      const peer = {
        sent: 0,
        closed: false,
        send: (buf) => ws.send(buf, true, false),
        buffered: () => ws.getBufferedAmount(),
      };
      ws.peer = peer;
      onOpen(peer);
    },
    drain: (ws) => {
      drainCalls++;
      if (cfg.send === 'drain' && ws.peer) pump(ws.peer);
    },
    close: (ws) => onClose(ws.peer),
  });
  app.listen('127.0.0.1', 0, (token) => {
    if (!token) throw new Error('listen failed');
    ready(uWS.us_socket_local_port(token));
  });
}

function startWs(ready) {
  const { WebSocketServer } = require('ws');
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 16 * 1024 });
  wss.on('connection', (ws) => {
    const peer = {
      sent: 0,
      closed: false,
      send: (buf) => {
        ws.send(buf, { binary: true }, (err) => { if (err) sendErrors++; });
        return undefined;
      },
      buffered: () => ws.bufferedAmount,
    };
    // `ws` has no drain event of its own: the socket's is the one.
    ws._socket.on('drain', () => { drainCalls++; if (cfg.send === 'drain') pump(peer); });
    ws.on('close', () => onClose(peer));
    ws.on('error', () => {});
    onOpen(peer);
  });
  wss.on('listening', () => ready(wss.address().port));
}

process.on('message', (msg) => {
  if (msg.cmd === 'mark') {
    process.send({ type: 'mark', mark: mark(msg.label) });
  } else if (msg.cmd === 'gc') {
    if (global.gc) global.gc();
    process.send({ type: 'mark', mark: mark(msg.label) });
  } else if (msg.cmd === 'final') {
    clearInterval(sampler);
    process.send({
      type: 'final',
      hwm: vmHWM(),
      stats: hasStats ? uWS.stats() : null,
      samples,
      results,
      sendErrors,
      drainCalls,
      sentMessages: peers.reduce((a, p) => a + p.sent, 0),
    });
  } else if (msg.cmd === 'exit') {
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

(uWS ? startUws : startWs)((port) => {
  // Idle: after listen, after a full GC, once the heap settled.
  setTimeout(() => {
    if (global.gc) { global.gc(); global.gc(); }
    if (hasStats && uWS.resetPeakStats) uWS.resetPeakStats();
    process.send({ type: 'ready', port, mark: mark('idle') });
  }, 200);
});
