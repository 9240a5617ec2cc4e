'use strict';
// WebSocket compatibility suite, part 4: send status codes, backpressure, drain, dropped,
// closeOnBackpressureLimit. Observed on the real uWebSockets.js v20.30.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { impl, serve, rawClient, deferred, until, sleep, abText, withTimeout } = require('./helpers/server');
const { OP } = require('./helpers/raw');

const T = { timeout: 15000 };
const BIG = 16 * 1024 * 1024; // far more than loopback socket buffers absorb, so some of it must queue
const SUCCESS = 1;
const BACKPRESSURE = 0;
const DROPPED = 2;

/** Server + raw client that stops reading right after the handshake. Returns { ws, c, ev }. */
async function pausedPair(t, behavior = {}) {
  const ev = { drains: [], dropped: [], closes: [] };
  const opened = deferred();
  const srv = serve(t, {
    maxBackpressure: 1024,
    open: (ws) => opened.resolve(ws),
    drain: (ws) => ev.drains.push(ws.getBufferedAmount()),
    dropped: (ws, m, isBinary) => ev.dropped.push([abText(m), isBinary]),
    close: (ws, code, m) => ev.closes.push([code, abText(m)]),
    ...behavior,
  });
  const c = rawClient(t, srv.port);
  await c.handshake('/');
  c.socket.pause();
  const ws = await withTimeout(opened.promise, 3000, 'open');
  return { ws, c, ev };
}

describe('backpressure', () => {
  it('one huge send on an empty socket is accepted (0); later sends are DROPPED (2) while above maxBackpressure', T, async (t) => {
    const { ws, c, ev } = await pausedPair(t);
    const payload = Buffer.alloc(BIG, 7);
    const r1 = ws.send(payload, true);
    const b1 = ws.getBufferedAmount();
    assert.equal(r1, BACKPRESSURE);
    assert.ok(b1 > 1024 && b1 <= BIG + 10, `buffered ${b1}`);

    // Every later send type is dropped and nothing is added to the buffer.
    const rets = [ws.send('small'), ws.send(Buffer.from('bin'), true), ws.ping('p'), ws.sendFirstFragment('f')];
    assert.deepEqual(rets, [DROPPED, DROPPED, DROPPED, DROPPED]);
    assert.equal(ws.getBufferedAmount(), b1);
    assert.deepEqual(ev.closes, [], 'dropping does not close without closeOnBackpressureLimit');
    if (impl === 'uws') {
      // uWS.js v20.30 has no `dropped` handler (added in later v20 releases); it is silently ignored.
      assert.deepEqual(ev.dropped, []);
    } else {
      assert.deepEqual(ev.dropped[0], ['small', false]);
      assert.deepEqual(ev.dropped[1], ['bin', true]);
    }

    // Reading resumes: the whole accepted message arrives, nothing that was dropped does.
    c.socket.resume();
    await c.waitFor(() => c.reader.bytes >= BIG + 10, 10000, 'big message');
    await until(() => ev.drains.length > 0 && ev.drains[ev.drains.length - 1] === 0, 3000, 'final drain');
    await sleep(50);
    const frames = c.reader.frames;
    assert.equal(frames.length, 1, `frames: ${frames.map((f) => f.opcode + ':' + f.payload.length)}`);
    assert.equal(frames[0].opcode, OP.BINARY);
    assert.equal(frames[0].payload.length, BIG);
    assert.ok(frames[0].payload.equals(payload), 'payload intact');
    frames.length = 0; // consumed
    assert.equal(ws.getBufferedAmount(), 0);
    // Once drained, sending succeeds again.
    assert.equal(ws.send('again'), SUCCESS);
    const f = await c.nextFrame();
    assert.equal(f.payload.length, 5);
    assert.equal(f.payload.toString(), 'again');
  });

  it('drain fires each time buffered bytes are written (not only at empty), ending at 0', T, async (t) => {
    const { ws, c, ev } = await pausedPair(t);
    assert.equal(ws.send(Buffer.alloc(BIG), true), BACKPRESSURE);
    const b0 = ws.getBufferedAmount();
    c.socket.resume();
    await until(() => ev.drains.length > 0 && ev.drains[ev.drains.length - 1] === 0, 10000, 'final drain');
    assert.ok(ev.drains.length >= 2, `drains: ${ev.drains}`);
    for (let i = 0; i < ev.drains.length; i++) {
      assert.ok(ev.drains[i] < (i === 0 ? b0 : ev.drains[i - 1]), `drain amounts decrease: ${ev.drains}`);
    }
  });

  it('many small sends are SUCCESS (1) until the kernel buffer fills, then BACKPRESSURE (0), then DROPPED (2)', T, async (t) => {
    const { ws } = await pausedPair(t, { maxBackpressure: 256 * 1024 });
    const chunk = Buffer.alloc(64 * 1024, 1);
    const seq = [];
    for (let i = 0; i < 2000 && seq[seq.length - 1] !== DROPPED; i++) seq.push(ws.send(chunk, true));
    // Compress the sequence into runs, e.g. [[1, n], [0, m], [2, 1]].
    const runs = [];
    for (const r of seq) {
      if (runs.length && runs[runs.length - 1][0] === r) runs[runs.length - 1][1]++;
      else runs.push([r, 1]);
    }
    assert.deepEqual(
      runs.map((x) => x[0]),
      [SUCCESS, BACKPRESSURE, DROPPED],
      JSON.stringify(runs)
    );
    // The drop check is `buffered > maxBackpressure` before enqueueing: 256 KiB / 64 KiB -> a handful of 0s.
    t.diagnostic('send status runs: ' + JSON.stringify(runs));
    assert.ok(runs[1][1] >= 1 && runs[1][1] <= 6, JSON.stringify(runs));
    assert.ok(ws.getBufferedAmount() > 256 * 1024);
  });

  it('closeOnBackpressureLimit: the dropping send returns 2, the close handler (1006, empty) runs later, TCP closes', T, async (t) => {
    const { ws, c, ev } = await pausedPair(t, { closeOnBackpressureLimit: true });
    assert.equal(ws.send(Buffer.alloc(BIG), true), BACKPRESSURE);
    assert.equal(ws.send('x'), DROPPED);
    // Not closed synchronously: the ws is still usable right after the dropping send.
    assert.deepEqual(ev.closes, []);
    assert.equal(typeof ws.getBufferedAmount(), 'number');
    await until(() => ev.closes.length === 1, 3000, 'close handler');
    assert.deepEqual(ev.closes, [[1006, '']]);
    c.socket.resume();
    await c.waitEnd(5000);
  });
});
