'use strict';
// Send path: the drain pattern must never stall.
//
//   open/drain: while (sent < N && ws.getBufferedAmount() < LIMIT) ws.send(1 MiB)
//
// 10 sockets each get N x 1 MiB binary messages through that loop, resumed only from the `drain`
// handler. Every byte must reach every socket, in order: each message's first 4 bytes are its
// index (uint32 BE) and the rest is a fixed pattern; the clients (raw TCP in this process) check
// every byte as it streams in, without keeping payloads.
//
// Size: the 10 x 100 MiB (1 GiB through loopback per limit; about 1-2 s each with uws-rs
// on the 2-core dev VM), once per loop limit: 256 KiB, 1 MiB, 4 MiB. UWS_STALL_MIB=n sends n
// MiB per socket instead; UWS_STALL_LIMIT=bytes tests that one limit only.
//
// The real uWebSockets.js v20.30 fails this (observed here, 10 x 100 MiB): with the 1 MiB limit,
// every message is sent but the last one stays in its buffer, never written, for some sockets
// (2 of 10 in our run; the issue saw 30-70 %); with 256 KiB every socket stalls after ~5
// messages, the 6th stuck in the buffer and `drain` never emitted again; with 4 MiB it delivers.
// Under UWS_IMPL=uws the test therefore only checks that what did arrive is intact and in
// order, and reports (t.diagnostic) how many sockets stalled.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const crypto = require('crypto');
const { impl, serve, until, withTimeout } = require('./helpers/server');

const SOCKETS = 10;
const MSG = 1024 * 1024;
const N = Number(process.env.UWS_STALL_MIB) || 100; // messages (MiB) per socket
const LIMITS = process.env.UWS_STALL_LIMIT ? [Number(process.env.UWS_STALL_LIMIT)] : [256 * 1024, 1024 * 1024, 4 * 1024 * 1024];
const STALL_MS = 3000; // no byte anywhere for this long (with sockets unfinished) = stalled
const T = { timeout: 60000 };

/** The payload of message i: index (uint32 BE), then bytes (j * 7 + 3) & 0xff. */
const TEMPLATE = Buffer.alloc(MSG);
for (let j = 0; j < MSG; j++) TEMPLATE[j] = (j * 7 + 3) & 0xff;

/**
 * A raw WebSocket client that verifies the stream as it arrives: N binary frames of MSG bytes,
 * frame i carrying index i. Keeps only counters.
 */
class VerifyingClient {
  constructor(port) {
    this.messages = 0; // complete, verified messages
    this.bytes = 0; // payload bytes verified
    this.error = null;
    this.lastByteAt = Date.now();
    this.upgraded = false;
    this.head = Buffer.alloc(0); // unparsed handshake or frame-header bytes
    this.inPayload = 0; // payload bytes of the current frame left to read (0: expecting a header)
    this.offset = 0; // offset within the current frame's payload
    this.index = Buffer.alloc(4);
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('error', (e) => this.fail('socket error ' + e.message));
    this.socket.on('data', (c) => this.onData(c));
    const key = crypto.randomBytes(16).toString('base64');
    this.opened = new Promise((res) => (this.onOpen = res));
    this.socket.write(
      `GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
    );
  }
  fail(msg) {
    if (!this.error) this.error = `message ${this.messages}, offset ${this.offset}: ${msg}`;
    this.socket.destroy();
  }
  onData(chunk) {
    this.lastByteAt = Date.now();
    if (this.error) return;
    if (!this.upgraded) {
      this.head = Buffer.concat([this.head, chunk]);
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!/^HTTP\/1\.1 101/.test(this.head.toString('latin1', 0, 12))) return this.fail('handshake failed');
      this.upgraded = true;
      chunk = this.head.subarray(end + 4);
      this.head = Buffer.alloc(0);
      this.onOpen();
    }
    while (chunk.length && !this.error) {
      if (this.inPayload === 0) {
        // Frame header: 2 bytes + 8 (127) for 1 MiB; unmasked from a server.
        this.head = this.head.length ? Buffer.concat([this.head, chunk]) : chunk;
        if (this.head.length < 2) return;
        const len7 = this.head[1] & 0x7f;
        const hlen = len7 === 127 ? 10 : len7 === 126 ? 4 : 2;
        if (this.head.length < hlen) return;
        if (this.head[0] !== 0x82) return this.fail(`first header byte 0x${this.head[0].toString(16)}, want 0x82`);
        const len = len7 === 127 ? Number(this.head.readBigUInt64BE(2)) : len7 === 126 ? this.head.readUInt16BE(2) : len7;
        if (len !== MSG) return this.fail(`frame length ${len}`);
        if (this.messages >= N) return this.fail('more messages than sent');
        this.inPayload = MSG;
        this.offset = 0;
        this.index.writeUInt32BE(this.messages, 0);
        chunk = this.head.subarray(hlen);
        this.head = Buffer.alloc(0);
        continue;
      }
      const n = Math.min(chunk.length, this.inPayload);
      const part = chunk.subarray(0, n);
      // Compare with the expected bytes (native memcmp); the first 4 carry the index.
      let ok = true;
      const a = this.offset;
      if (a < 4) {
        const k = Math.min(4 - a, n);
        ok = part.subarray(0, k).equals(this.index.subarray(a, a + k)) && part.subarray(k).equals(TEMPLATE.subarray(a + k, a + n));
      } else {
        ok = part.equals(TEMPLATE.subarray(a, a + n));
      }
      if (!ok) return this.fail('payload bytes differ (corrupt or out of order)');
      this.offset += n;
      this.inPayload -= n;
      this.bytes += n;
      if (this.inPayload === 0) this.messages++;
      chunk = chunk.subarray(n);
    }
  }
  destroy() {
    this.socket.destroy();
  }
}

describe('drain pattern under backpressure', () => {
  for (const LIMIT of LIMITS) it(`${SOCKETS} sockets x ${N} MiB, sent while getBufferedAmount() < ${LIMIT} and resumed from drain: every byte, in order`, T, async (t) => {
    const payload = Buffer.from(TEMPLATE);
    const peers = [];
    const srv = serve(t, {
      maxBackpressure: 0, // the application's own limit is the loop's; nothing is dropped
      maxPayloadLength: 1024,
      idleTimeout: 0,
      open(ws) {
        ws.sent = 0;
        ws.results = [0, 0, 0];
        peers.push(ws);
        pump(ws);
      },
      drain(ws) {
        pump(ws);
      },
      close(ws) {
        ws.closed = true;
      },
    });
    function pump(ws) {
      while (ws.sent < N && ws.getBufferedAmount() < LIMIT) {
        payload.writeUInt32BE(ws.sent, 0);
        ws.results[ws.send(payload, true)]++;
        ws.sent++;
      }
    }
    const clients = [];
    t.after(() => clients.forEach((c) => c.destroy()));
    for (let i = 0; i < SOCKETS; i++) clients.push(new VerifyingClient(srv.port));
    await withTimeout(Promise.all(clients.map((c) => c.opened)), 5000, 'handshakes');

    const started = Date.now();
    const done = () => clients.every((c) => c.messages === N || c.error);
    let stalled = false;
    await until(
      () => {
        if (done()) return true;
        const last = Math.max(...clients.map((c) => c.lastByteAt));
        if (Date.now() - last > STALL_MS) return (stalled = true);
        return false;
      },
      T.timeout - 10000,
      'delivery'
    );
    const secs = (Date.now() - started) / 1000;
    const incomplete = clients.filter((c) => c.messages < N);
    t.diagnostic(
      `${impl}: ${((SOCKETS * N) / secs).toFixed(0)} MiB/s; ` +
        `${incomplete.length}/${SOCKETS} sockets incomplete` +
        (stalled ? ` (stalled: got ${incomplete.map((c) => c.messages).join(', ')} of ${N}; sent ${peers.map((p) => p.sent).join(', ')})` : '')
    );

    // Whatever arrived is intact and in order, on both implementations.
    for (const c of clients) assert.equal(c.error, null, c.error);
    // Each message was accepted (0 BACKPRESSURE or 1 SUCCESS), never dropped.
    for (const p of peers) assert.equal(p.results[2], 0, 'no send was DROPPED');

    if (impl === 'uws') {
      // Known uWebSockets.js v20.30 failure (see the top of this file): some sockets stall with
      // their last message(s) unsent because `drain` is not emitted again. Not asserted.
      return;
    }
    assert.equal(stalled, false, 'no socket stalled');
    for (const [i, c] of clients.entries()) {
      assert.equal(c.messages, N, `socket ${i}: messages`);
      assert.equal(c.bytes, N * MSG, `socket ${i}: bytes`);
    }
    for (const p of peers) {
      assert.equal(p.sent, N);
      assert.equal(p.getBufferedAmount(), 0);
    }
  });
});
