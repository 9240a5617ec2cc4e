'use strict';
// Hostile input and long runs, with raw `net` sockets: every misbehaving peer must be cut off with
// the close code (or HTTP response) that uWebSockets.js v20.30 gives, and never disturb the other
// clients of the same server. Complements ws-frames-raw.test.js (one client, byte-exact protocol
// errors): here the focus is isolation between clients, churn, resets, slowloris and huge lengths.
// Observed on v20.30 with UWS_IMPL=uws; where it violates an RFC the test asserts the RFC
// behaviour and skips that assertion for impl === 'uws' with a comment.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { impl, serve, client, rawClient, sleep, until } = require('./helpers/server');
const { frame, OP, closePayload, RawClient, withTimeout } = require('./helpers/raw');

const T = { timeout: 20000 };

/**
 * Echo server: ws route '/ws/*' (userData.name = URL, so each connection is identified) and
 * GET /http. Records opens and closes per name.
 */
function echoServer(t, behavior = {}) {
  const closes = new Map(); // name -> [code, message]
  const opens = new Set();
  const sockets = new Set();
  const srv = serve(t, (app) => {
    app.ws('/ws/*', {
      maxPayloadLength: 1024,
      upgrade: (res, req, ctx) =>
        res.upgrade(
          { name: req.getUrl() },
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          ctx
        ),
      open: (ws) => {
        opens.add(ws.name);
        sockets.add(ws);
      },
      message: (ws, m, isBinary) => ws.send(m, isBinary),
      close: (ws, code, m) => {
        sockets.delete(ws);
        closes.set(ws.name, [code, Buffer.from(m).toString()]);
      },
      ...behavior,
    });
    app.get('/http', (res) => res.end('ok'));
  });
  return { srv, closes, opens, sockets };
}

/** A well-behaved `ws` client that echoes a numbered message every few ms while the test runs. */
async function bystander(t, port, name) {
  const c = await client(t, port, `/ws/${name}`);
  let sent = 0;
  let received = 0;
  let mismatch = null;
  c.on('message', (data) => {
    if (data.toString() !== `${name}:${received}` && !mismatch) mismatch = `${data} != ${name}:${received}`;
    received++;
  });
  const timer = setInterval(() => c.send(`${name}:${sent++}`), 5);
  t.after(() => clearInterval(timer));
  return {
    c,
    /** Stops sending, waits for every echo and checks they came back in order. */
    async finish() {
      await until(() => sent >= 10, 3000, `${name}: 10 sends`);
      clearInterval(timer);
      await until(() => received === sent || mismatch, 3000, `${name}: ${received}/${sent} echoes`);
      assert.equal(mismatch, null);
      assert.equal(c.readyState, c.OPEN, `${name} must still be open`);
            return sent;
    },
  };
}

/** The server still accepts new clients: a fresh ws echo and an HTTP GET. */
async function stillServes(t, port) {
  const c = await client(t, port, '/ws/fresh');
  c.send('again');
  assert.equal((await c.nextMessage()).data.toString(), 'again');
  const r = await fetch(`http://127.0.0.1:${port}/http`);
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'ok');
}

const HUGE = (hi) => Buffer.from([0x82, 0xff, hi, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]);

// [name, bytes after the handshake, expected close handler [code, message], expected close frames]
// The close frames are those the server sends back; `null` code = empty close frame.
const INVALID_CODE_FRAME = impl === 'uws' ? [['close', null]] : [['close', 1002]]; // see ws-frames-raw.test.js
const PROTOCOL_CASES = [
  ['garbage-after-handshake', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), [1006, ''], []],
  ['binary-garbage', Buffer.alloc(64, 0xff), [1006, ''], []],
  ['rsv1', frame(OP.TEXT, 'hi', { rsv: 4 }), [1006, ''], []],
  ['rsv2', frame(OP.BINARY, 'hi', { rsv: 2 }), [1006, ''], []],
  ['rsv3', frame(OP.TEXT, 'hi', { rsv: 1 }), [1006, ''], []],
  ['fragmented-ping', frame(OP.PING, 'p', { fin: false }), [1006, ''], []],
  ['fragmented-close', frame(OP.CLOSE, closePayload(1000), { fin: false }), [1006, ''], []],
  ['continuation-without-start', frame(OP.CONT, 'x'), [1006, ''], []],
  ['invalid-utf8-text', frame(OP.TEXT, Buffer.from([0x61, 0xc3, 0x28])), [1006, 'Received invalid UTF-8'], []],
  [
    'invalid-utf8-fragment',
    [frame(OP.TEXT, Buffer.from('ok'), { fin: false }), frame(OP.CONT, Buffer.from([0xed, 0xa0, 0x80]))],
    [1006, 'Received invalid UTF-8'],
    [],
  ],
  // Deliberate difference (see ws-frames-raw.test.js): uws echoes an empty close, uws-rs fails as for any bad UTF-8.
  [
    'invalid-utf8-close-reason',
    frame(OP.CLOSE, Buffer.concat([closePayload(1000), Buffer.from([0xf8, 0x88])])),
    impl === 'uws' ? [1006, ''] : [1006, 'Received invalid UTF-8'],
    impl === 'uws' ? [['close', null]] : [],
  ],
  ['close-1005', frame(OP.CLOSE, closePayload(1005, 'r')), [1006, ''], INVALID_CODE_FRAME],
  ['close-1006', frame(OP.CLOSE, closePayload(1006, 'r')), [1006, ''], INVALID_CODE_FRAME],
  ['close-999', frame(OP.CLOSE, closePayload(999)), [1006, ''], INVALID_CODE_FRAME],
  ['close-5000', frame(OP.CLOSE, closePayload(5000, 'r')), [1006, ''], INVALID_CODE_FRAME],
  // 2^63-1 announced: far above maxPayloadLength, refused from the header alone (nothing buffered).
  ['length-2^63-1', [HUGE(0x7f), Buffer.alloc(200)], [1006, 'Received too big message'], []],
  // 2^63 (MSB set) is not a length at all (RFC 6455 5.2): uws-rs reports an invalid frame; uws
  // reports "too big". Both 1006, reason differs.
  ['length-2^63', [HUGE(0x80), Buffer.alloc(200)], [1006, impl === 'uws' ? 'Received too big message' : ''], []],
  ['length-over-limit-16bit', frame(OP.BINARY, Buffer.alloc(1025)), [1006, 'Received too big message'], []],
];

describe('protocol violations: each offender is cut off, concurrent clients are unaffected', () => {
  it(`${PROTOCOL_CASES.length} offending connections at once next to 3 echoing bystanders`, T, async (t) => {
    const { srv, closes } = echoServer(t);
    const bys = await Promise.all([0, 1, 2].map((i) => bystander(t, srv.port, `bystander${i}`)));
    const offenders = await Promise.all(
      PROTOCOL_CASES.map(async ([name]) => {
        const c = rawClient(t, srv.port);
        await c.handshake(`/ws/${name}`);
        return c;
      })
    );
    await sleep(30);
    PROTOCOL_CASES.forEach(([, bytes], i) => [].concat(bytes).forEach((b) => offenders[i].write(b)));
    await Promise.all(offenders.map((c) => c.waitEnd(3000)));
    await sleep(50);
    const failures = [];
    PROTOCOL_CASES.forEach(([name, , close, frames], i) => {
      const got = closes.get(`/ws/${name}`);
      const gotFrames = offenders[i].reader.frames.map((f) => (f.opcode === OP.CLOSE ? ['close', f.code ?? null] : [f.opcode]));
      if (JSON.stringify(got) !== JSON.stringify(close) || JSON.stringify(gotFrames) !== JSON.stringify(frames)) {
        failures.push(`${name}: close ${JSON.stringify(got)} frames ${JSON.stringify(gotFrames)}; want ${JSON.stringify(close)} ${JSON.stringify(frames)}`);
      }
    });
    assert.deepEqual(failures, []);
    for (const b of bys) await b.finish();
    await stillServes(t, srv.port);
  });

  it('unmasked frames are never delivered; the connection is closed (RFC 6455 5.1); others unaffected', T, async (t) => {
    const got = [];
    const { srv, closes } = echoServer(t, {
      message: (ws, m, isBinary) => {
        if (ws.name === '/ws/unmasked') got.push(Buffer.from(m).toString());
        ws.send(m, isBinary);
      },
    });
    const by = await bystander(t, srv.port, 'bystander');
    const c = rawClient(t, srv.port);
    await c.handshake('/ws/unmasked');
    c.write(frame(OP.TEXT, 'sneaky', { mask: false }));
    c.write(frame(OP.TEXT, 'sneaky2', { mask: false }));
    if (impl === 'uws') {
      // uWS.js v20.30 does not check the mask bit at all (RFC violation): it delivers the frame
      // unmasked and keeps the connection. RFC assertions skipped.
      t.diagnostic('uws: RFC assertion skipped (unmasked frames accepted)');
      await sleep(300);
    } else {
      await c.waitEnd(3000);
      await sleep(20);
      assert.deepEqual(got, []);
      assert.deepEqual(closes.get('/ws/unmasked'), [1006, '']);
    }
    await by.finish();
    await stillServes(t, srv.port);
  });

  it('length 2^63-1 on a connection with maxPayloadLength at 1 GiB: refused before any allocation', T, async (t) => {
    const { srv, closes } = echoServer(t, { maxPayloadLength: 2 ** 30 });
    const c = rawClient(t, srv.port);
    await c.handshake('/ws/huge');
    const rss = process.memoryUsage.rss();
    c.write(HUGE(0x7f));
    c.write(Buffer.alloc(64 * 1024));
    await c.waitEnd(3000);
    await sleep(20);
    assert.deepEqual(closes.get('/ws/huge'), [1006, 'Received too big message']);
    assert.ok(process.memoryUsage.rss() - rss < 64 * 1024 * 1024, 'no huge preallocation');
    await stillServes(t, srv.port);
  });
});

describe('HTTP garbage', () => {
  const cases = [
    ['binary junk', Buffer.from([0, 1, 2, 0xff, 0x80, 13, 10, 13, 10, 5, 6])],
    ['text line that is not a request', Buffer.from('hello world\r\n\r\n')],
    ['bad request line', Buffer.from('GARBAGE\r\nHost: x\r\n\r\n')],
    ['NUL in the method', Buffer.from('G\0T /http HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['TLS ClientHello on a plain port', Buffer.from('16030100a5010000a10303', 'hex')],
  ];
  for (const [name, bytes] of cases) {
    it(`${name} before any handshake: 400 and closed (never routed); others unaffected`, T, async (t) => {
      const { srv, opens } = echoServer(t);
      const by = await bystander(t, srv.port, 'bystander');
      const c = rawClient(t, srv.port);
      await c.connected;
      c.write(bytes);
      if (impl === 'uws') {
        // uWS.js v20.30 sends nothing and keeps the socket until its 10 s HTTP timeout
        // (RFC 9112 says 400); only "nothing served" is asserted for it.
        t.diagnostic('uws: RFC assertion skipped (no 400, socket left to the timeout)');
        await sleep(300);
        assert.equal(c.data.length, 0);
      } else {
        await c.waitEnd(3000);
        assert.equal(c.data.toString(), 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      }
      assert.equal(opens.size, 1);
      await by.finish();
      await stillServes(t, srv.port);
    });
  }
});

describe('peers that stop reading', () => {
  it('closeOnBackpressureLimit: the stalled peer is closed (1006), a reading peer gets every message in order', T, async (t) => {
    const SIZE = 64 * 1024;
    const { srv, closes, sockets } = echoServer(t, { maxBackpressure: 256 * 1024, closeOnBackpressureLimit: true });
    const fast = await client(t, srv.port, '/ws/fast');
    let fastGot = 0;
    let fastBad = 0;
    fast.on('message', (d) => {
      if (d.readUInt32BE(0) !== fastGot || d.length !== SIZE) fastBad++;
      fastGot++;
    });
    const slow = rawClient(t, srv.port);
    await slow.handshake('/ws/slow');
    slow.socket.pause(); // stops reading: the kernel buffers fill, then the server's queue
    await until(() => sockets.size === 2, 3000, 'both open');
    let seq = 0;
    const results = new Map();
    const timer = setInterval(() => {
      const msg = Buffer.alloc(SIZE);
      msg.writeUInt32BE(seq++, 0);
      for (const ws of [...sockets]) {
        const r = ws.send(msg, true);
        results.set(ws.name, [...(results.get(ws.name) || []), r]);
      }
    }, 2);
    t.after(() => clearInterval(timer));
    await until(() => closes.has('/ws/slow'), 15000, 'slow peer closed');
    const sentWhenClosed = seq;
    await until(() => seq >= sentWhenClosed + 50, 3000, 'more messages after the close');
    clearInterval(timer);
    assert.deepEqual(closes.get('/ws/slow'), [1006, '']);
    assert.ok(results.get('/ws/slow').includes(2), 'the stalled peer saw DROPPED');
    assert.ok(!results.get('/ws/fast').includes(2), 'the reading peer never dropped');
    await until(() => fastGot === seq, 10000, `fast peer got ${fastGot}/${seq}`);
    assert.equal(fastBad, 0);
    assert.equal(fast.readyState, fast.OPEN);
    slow.socket.resume();
    await slow.waitEnd(5000);
    await stillServes(t, srv.port);
  });
});

describe('resets (RST) at every stage', () => {
  it('RST mid-frame, mid-handshake, mid-request-body and with a full send queue: close handlers 1006, others unaffected', T, async (t) => {
    const { srv, closes, sockets } = echoServer(t, { maxPayloadLength: 1 << 20, maxBackpressure: 64 << 20 });
    const by = await bystander(t, srv.port, 'bystander');
    const reset = (c) => c.socket.resetAndDestroy();

    // 1. Mid-frame: half of a 100 KiB frame, then RST.
    const a = new RawClient(srv.port);
    await a.handshake('/ws/mid-frame');
    a.write(frame(OP.BINARY, Buffer.alloc(100 * 1024, 1)).subarray(0, 50 * 1024));
    await sleep(30);
    reset(a);

    // 2. Mid-handshake: half of the upgrade request.
    const b = new RawClient(srv.port);
    await b.connected;
    b.write('GET /ws/mid-handshake HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
    await sleep(30);
    reset(b);

    // 3. Mid-body of an HTTP request.
    const c = new RawClient(srv.port);
    await c.connected;
    c.write('POST /http HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n' + 'x'.repeat(5000));
    await sleep(30);
    reset(c);

    // 4. A paused peer with 8 MiB queued on the server side, then RST.
    const d = new RawClient(srv.port);
    await d.handshake('/ws/queued');
    d.socket.pause();
    await until(() => [...sockets].some((ws) => ws.name === '/ws/queued'), 3000, 'queued open');
    const ws = [...sockets].find((w) => w.name === '/ws/queued');
    for (let i = 0; i < 8; i++) ws.send(Buffer.alloc(1 << 20), true);
    assert.ok(ws.getBufferedAmount() > 0);
    reset(d);

    // 5. RST right after the handshake, before the server's first frame is read.
    const e = new RawClient(srv.port);
    await e.handshake('/ws/right-after');
    reset(e);

    await until(() => ['/ws/mid-frame', '/ws/queued', '/ws/right-after'].every((n) => closes.has(n)), 3000, 'close handlers');
    for (const n of ['/ws/mid-frame', '/ws/queued', '/ws/right-after']) assert.deepEqual(closes.get(n), [1006, ''], n);
    assert.equal(closes.has('/ws/mid-handshake'), false);
    await by.finish();
    await stillServes(t, srv.port);
  });
});

describe('FIN or RST arriving in the same segment as data', () => {
  // The end of the stream must be noticed even when it arrives together with the last bytes
  // (one read returns the data, the next the end): no socket may linger until a timeout.
  it('partial request head + FIN in one segment: closed at once, not after the 10 s timeout', T, async (t) => {
    const { srv } = echoServer(t);
    const N = 20;
    const ms = await Promise.all(
      Array.from({ length: N }, () => {
        const s = net.connect(srv.port, '127.0.0.1');
        const started = Date.now();
        s.on('error', () => {});
        s.on('connect', () => s.end('GET /http HTTP/1.1\r\nHost: x\r\nX-A: b'));
        s.resume();
        return withTimeout(new Promise((res) => s.on('close', () => res(Date.now() - started))), 3000, 'server close').finally(() => s.destroy());
      })
    );
    assert.ok(Math.max(...ms) < 1000, JSON.stringify(ms));
    await stillServes(t, srv.port);
  });

  it('partial frame + FIN in one segment: close handler 1006 at once', T, async (t) => {
    const { srv, closes } = echoServer(t);
    const names = Array.from({ length: 10 }, (_, i) => `/ws/half-${i}`);
    for (const name of names) {
      const c = rawClient(t, srv.port);
      await c.handshake(name);
      c.socket.end(frame(OP.BINARY, Buffer.alloc(500)).subarray(0, 200));
    }
    await until(() => names.every((n) => closes.has(n)), 1000, `close handlers (${closes.size}/${names.length})`);
    for (const n of names) assert.deepEqual(closes.get(n), [1006, '']);
  });
});

describe('slowloris', () => {
  // The one slow test (~10 s): uWebSockets' HTTP timeout is 10 s for a request head, and it is not
  // extended by bytes that trickle in. Observed on v20.30: closed after ~9-10 s, nothing sent back.
  it('a head trickled one byte per 100 ms is never served and closed within ~12 s; others unaffected', { timeout: 30000 }, async (t) => {
    const { srv } = echoServer(t);
    const by = await bystander(t, srv.port, 'bystander');
    const c = rawClient(t, srv.port);
    await c.connected;
    const head = `GET /http HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${'a'.repeat(400)}\r\n\r\n`;
    const started = Date.now();
    let i = 0;
    const timer = setInterval(() => {
      if (!c.closed && !c.ended && i < head.length) c.write(head[i++]);
    }, 100);
    t.after(() => clearInterval(timer));
    await c.waitEnd(13000);
    clearInterval(timer);
    const elapsed = Date.now() - started;
    t.diagnostic(`closed after ${elapsed} ms, ${i}/${head.length} bytes trickled`);
    assert.ok(i < head.length, 'the head was never completed');
    assert.equal(c.data.length, 0, 'nothing was served');
    assert.ok(elapsed >= 7000 && elapsed <= 12500, `closed after ${elapsed} ms`);
    // The bystander kept working the whole time (and was not timed out: it is a WebSocket).
    await by.finish();
    await stillServes(t, srv.port);
  });
});

// A server in a child process, so its RSS and file descriptors are its own.
const CHILD_SERVER = `
const { uWS } = require(${JSON.stringify(path.join(__dirname, 'impl.js'))});
const fs = require('fs');
let opens = 0, closes = 0;
const app = uWS.App();
app.ws('/ws', { open: () => opens++, message: (ws, m) => ws.send(m), close: () => closes++ });
app.get('/http', (res) => res.end('ok'));
app.get('/stats', (res) => {
  if (global.gc) global.gc();
  res.end(JSON.stringify({ opens, closes, rss: process.memoryUsage.rss(), fds: fs.readdirSync('/proc/self/fd').length }));
});
app.listen('127.0.0.1', 0, (t) => process.stdout.write(uWS.us_socket_local_port(t) + '\\n'));
`;

function childServer(t) {
  const child = spawn(process.execPath, ['--expose-gc', '-e', CHILD_SERVER], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  return withTimeout(
    new Promise((res, rej) => {
      child.stdout.once('data', (d) => res({ child, port: Number(String(d).trim()) }));
      child.once('exit', (code) => rej(new Error('child server exited ' + code)));
    }),
    10000,
    'child server port'
  );
}

async function stats(port) {
  const r = await fetch(`http://127.0.0.1:${port}/stats`);
  return JSON.parse(await r.text());
}

/** One short-lived connection of kind i % 5; resolves once the client side is gone. */
function churnOne(port, i) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.on('close', resolve);
    const kind = i % 5;
    s.once('connect', () => {
      if (kind === 0) return s.destroy(); // connect and FIN
      if (kind === 1) return s.resetAndDestroy(); // connect and RST
      if (kind === 2) {
        s.write('GET /http HTTP/1.1\r\nHost: x\r\nX-Half: ');
        return setImmediate(() => s.destroy()); // half a request head
      }
      // 3, 4: a WebSocket, then FIN without a close frame (3) or RST mid-frame (4)
      s.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      s.once('data', () => {
        if (kind === 3) return s.end();
        s.write(frame(OP.BINARY, Buffer.alloc(1000)).subarray(0, 500));
        setImmediate(() => s.resetAndDestroy());
      });
    });
  });
}

async function churn(port, total, concurrency = 50) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await churnOne(port, next++);
    })
  );
}

describe('connection churn', () => {
  it('5,000 connections opened and dropped: fds back to baseline, RSS flat, every ws closed, still serving', { timeout: 60000 }, async (t) => {
    const { port } = await childServer(t);
    const idle = await stats(port);
    await churn(port, 500); // warm-up: allocator pools, slab growth
    await sleep(300);
    const before = { ...(await stats(port)), fds: idle.fds };
    const started = Date.now();
    await churn(port, 5000);
    const ms = Date.now() - started;
    let after;
    for (let i = 0; i < 50; i++) {
      after = await stats(port);
      if (after.closes === after.opens && after.fds <= before.fds + 2) break;
      await sleep(100);
    }
    t.diagnostic(`5000 connections in ${ms} ms; before ${JSON.stringify(before)} after ${JSON.stringify(after)}`);
    assert.equal(after.opens, 200 + 2000, 'ws connections opened (2 in 5: warm-up 200 + 2000)');
    assert.equal(after.closes, after.opens, 'every ws connection got its close handler');
    assert.ok(after.fds <= before.fds + 2, `fds ${before.fds} -> ${after.fds}`);
    const growth = after.rss - before.rss;
    assert.ok(growth < 16 * 1024 * 1024, `RSS grew by ${(growth / 1048576).toFixed(1)} MiB`);
    // Still serving both protocols.
    const r = await fetch(`http://127.0.0.1:${port}/http`);
    assert.equal(await r.text(), 'ok');
    const c = await client(t, port, '/ws');
    c.send('alive');
    assert.equal((await c.nextMessage()).data.toString(), 'alive');
  });
});
