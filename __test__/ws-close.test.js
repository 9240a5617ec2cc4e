'use strict';
// WebSocket compatibility suite, part 2: closing (client- and server-initiated), the close handler's
// arguments, and the "closed WebSocket" error contract. Observed on the real uWebSockets.js v20.30.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { serve, client, rawClient, deferred, abText, withTimeout, CLOSED_WS_ERROR } = require('./helpers/server');
const { frame, OP } = require('./helpers/raw');

const T = { timeout: 10000 };

/**
 * Server whose message handler runs `onCommand(ws, text)`; records close-handler calls.
 * Returns { srv, closes: [[code, reason, byteLength]], closed: Promise (first close) }.
 */
function closeServer(t, onCommand, extra = {}) {
  const closes = [];
  const first = deferred();
  const srv = serve(t, {
    message: (ws, m) => onCommand(ws, abText(m)),
    close: (ws, code, m) => {
      closes.push([code, abText(m), m instanceof ArrayBuffer]);
      first.resolve();
    },
    ...extra,
  });
  return { srv, closes, closed: first.promise };
}

describe('client-initiated close', () => {
  it("client close(4000, 'bye'): handler gets 4000 and ArrayBuffer 'bye'; the server echoes 4000 'bye'", T, async (t) => {
    const s = closeServer(t, () => {});
    const c = await client(t, s.srv.port);
    c.close(4000, 'bye');
    assert.deepEqual(await withTimeout(c.closed, 3000, 'client close'), { code: 4000, reason: 'bye' });
    await withTimeout(s.closed, 3000, 'server close');
    assert.deepEqual(s.closes, [[4000, 'bye', true]]);
  });

  it('client close(1000) without reason: handler gets 1000 and an empty ArrayBuffer', T, async (t) => {
    const s = closeServer(t, () => {});
    const c = await client(t, s.srv.port);
    c.close(1000);
    assert.deepEqual(await withTimeout(c.closed, 3000, 'client close'), { code: 1000, reason: '' });
    await withTimeout(s.closed, 3000, 'server close');
    assert.deepEqual(s.closes, [[1000, '', true]]);
  });

  it('client close() without code: handler gets 1005; the client sees 1005', T, async (t) => {
    const s = closeServer(t, () => {});
    const c = await client(t, s.srv.port);
    c.close();
    assert.deepEqual(await withTimeout(c.closed, 3000, 'client close'), { code: 1005, reason: '' });
    await withTimeout(s.closed, 3000, 'server close');
    assert.deepEqual(s.closes, [[1005, '', true]]);
  });

  it('close ArrayBuffer is detached after the close handler returns', T, async (t) => {
    const r = deferred();
    const srv = serve(t, {
      close: (ws, code, m) => {
        const during = m.byteLength;
        setImmediate(() => r.resolve([during, m.byteLength]));
      },
    });
    const c = await client(t, srv.port);
    c.close(4000, 'bye');
    assert.deepEqual(await withTimeout(r.promise, 3000, 'close'), [3, 0]);
  });

  it('client drops TCP without a close frame: handler gets 1006 with an empty message', T, async (t) => {
    // Observed on v20.30: the message is empty (later uWS versions say 'Received TCP FIN before WebSocket close frame').
    const s = closeServer(t, () => {});
    const c = await client(t, s.srv.port);
    c.terminate();
    await withTimeout(s.closed, 3000, 'server close');
    assert.deepEqual(s.closes, [[1006, '', true]]);
  });

  it('raw client half-closes (FIN) without a close frame: handler gets 1006, server closes the TCP connection', T, async (t) => {
    const s = closeServer(t, () => {});
    const c = rawClient(t, s.srv.port);
    await c.handshake('/');
    c.socket.end();
    await withTimeout(s.closed, 3000, 'server close');
    await c.waitEnd();
    assert.deepEqual(s.closes, [[1006, '', true]]);
    assert.equal(c.reader.frames.length, 0, 'no close frame is sent');
  });
});

describe('server-initiated close', () => {
  it("ws.end(4001, 'x'): close handler runs synchronously inside end(); client sees 4001 'x'", T, async (t) => {
    const ev = [];
    const s = closeServer(t, (ws) => {
      ev.push(['before end()', s.closes.length]);
      ws.end(4001, 'x');
      ev.push(['after end()', s.closes.length]);
    });
    const c = await client(t, s.srv.port);
    c.send('go');
    assert.deepEqual(await withTimeout(c.closed, 3000, 'client close'), { code: 4001, reason: 'x' });
    assert.deepEqual(s.closes, [[4001, 'x', true]]);
    assert.deepEqual(ev, [
      ['before end()', 0],
      ['after end()', 1],
    ]);
  });

  it('ws.end(): handler gets code 0 and an empty message; client sees 1005 (empty close frame)', T, async (t) => {
    const s = closeServer(t, (ws) => ws.end());
    const c = await client(t, s.srv.port);
    c.send('go');
    assert.deepEqual(await withTimeout(c.closed, 3000, 'client close'), { code: 1005, reason: '' });
    assert.deepEqual(s.closes, [[0, '', true]]);
  });

  it('ws.end(1000): client sees 1000 with an empty reason', T, async (t) => {
    const s = closeServer(t, (ws) => ws.end(1000));
    const c = await client(t, s.srv.port);
    c.send('go');
    assert.deepEqual(await withTimeout(c.closed, 3000, 'client close'), { code: 1000, reason: '' });
    assert.deepEqual(s.closes, [[1000, '', true]]);
  });

  for (const code of [1005, 1006, 0]) {
    it(`ws.end(${code}, 'zz'): handler gets ${code} 'zz' but the close frame is empty (client sees 1005)`, T, async (t) => {
      const s = closeServer(t, (ws) => ws.end(code, 'zz'));
      const c = await client(t, s.srv.port);
      c.send('go');
      assert.deepEqual(await withTimeout(c.closed, 3000, 'client close'), { code: 1005, reason: '' });
      assert.deepEqual(s.closes, [[code, 'zz', true]]);
    });
  }

  it('ws.end with a 200-byte reason: the close frame carries only the first 123 bytes; handler gets all 200', T, async (t) => {
    const reason = 'y'.repeat(200);
    const s = closeServer(t, (ws) => ws.end(4002, reason));
    const c = await client(t, s.srv.port);
    c.send('go');
    assert.deepEqual(await withTimeout(c.closed, 3000, 'client close'), { code: 4002, reason: 'y'.repeat(123) });
    assert.deepEqual(s.closes, [[4002, reason, true]]);
  });

  it('ws.end sends the close frame and closes TCP without waiting for the client reply', T, async (t) => {
    const s = closeServer(t, (ws) => ws.end(4001, 'x'));
    const c = rawClient(t, s.srv.port);
    await c.handshake('/');
    c.write(frame(OP.TEXT, 'go'));
    const f = await c.nextFrame();
    assert.deepEqual([f.opcode, f.code, f.reason], [OP.CLOSE, 4001, 'x']);
    await c.waitEnd(2000);
    assert.deepEqual(s.closes, [[4001, 'x', true]]);
  });

  it('ws.close(): handler gets 1006 synchronously; no close frame; client sees 1006', T, async (t) => {
    const ev = [];
    const s = closeServer(t, (ws) => {
      ws.close();
      ev.push(['after close()', s.closes.length]);
    });
    const c = await client(t, s.srv.port);
    c.send('go');
    assert.deepEqual(await withTimeout(c.closed, 3000, 'client close'), { code: 1006, reason: '' });
    assert.deepEqual(s.closes, [[1006, '', true]]);
    assert.deepEqual(ev, [['after close()', 1]]);
  });
});

describe('closed WebSocket access', () => {
  const methods = {
    send: (ws) => ws.send('x'),
    end: (ws) => ws.end(1000),
    close: (ws) => ws.close(),
    ping: (ws) => ws.ping('x'),
    getBufferedAmount: (ws) => ws.getBufferedAmount(),
    subscribe: (ws) => ws.subscribe('t'),
    unsubscribe: (ws) => ws.unsubscribe('t'),
    isSubscribed: (ws) => ws.isSubscribed('t'),
    getTopics: (ws) => ws.getTopics(),
    publish: (ws) => ws.publish('t', 'x'),
    cork: (ws) => ws.cork(() => {}),
    sendFirstFragment: (ws) => ws.sendFirstFragment('x'),
    getRemoteAddress: (ws) => ws.getRemoteAddress(),
    getRemoteAddressAsText: (ws) => ws.getRemoteAddressAsText(),
  };

  function probe(ws) {
    const out = {};
    for (const [name, fn] of Object.entries(methods)) {
      try {
        fn(ws);
        out[name] = 'no throw';
      } catch (e) {
        out[name] = e instanceof Error ? e.message : 'non-Error: ' + String(e);
      }
    }
    return out;
  }
  const allThrow = Object.fromEntries(Object.keys(methods).map((k) => [k, CLOSED_WS_ERROR]));

  it('inside the close handler every method throws the closed-WebSocket Error; getUserData still works', T, async (t) => {
    const r = deferred();
    const srv = serve(t, {
      open: (ws) => {
        ws.tag = 'kept';
      },
      close: (ws) => r.resolve({ probe: probe(ws), tag: ws.getUserData().tag }),
    });
    const c = await client(t, srv.port);
    c.close(4000);
    const got = await withTimeout(r.promise, 3000, 'close handler');
    assert.deepEqual(got.probe, allThrow);
    assert.equal(got.tag, 'kept');
  });

  it('after the close handler (later tick) every method throws the same Error; getUserData still works', T, async (t) => {
    const r = deferred();
    const srv = serve(t, {
      close: (ws) => setImmediate(() => r.resolve({ probe: probe(ws), ud: ws.getUserData() === ws })),
    });
    const c = await client(t, srv.port);
    c.terminate();
    const got = await withTimeout(r.promise, 3000, 'close handler');
    assert.deepEqual(got.probe, allThrow);
    assert.equal(got.ud, true);
  });

  it('right after ws.end() inside message, ws.send throws', T, async (t) => {
    let err;
    const s = closeServer(t, (ws) => {
      ws.end(4001);
      try {
        ws.send('late');
      } catch (e) {
        err = e;
      }
    });
    const c = await client(t, s.srv.port);
    c.send('go');
    await withTimeout(c.closed, 3000, 'client close');
    assert.ok(err instanceof Error);
    assert.equal(err.message, CLOSED_WS_ERROR);
  });

  it('ws.end() inside the close handler throws (catchable) and the close completes normally', T, async (t) => {
    let err;
    const done = deferred();
    const srv = serve(t, {
      message: (ws) => ws.end(4003, 'q'),
      close: (ws, code) => {
        try {
          ws.end(1000);
        } catch (e) {
          err = e;
        }
        done.resolve(code);
      },
    });
    const c = await client(t, srv.port);
    c.send('go');
    assert.deepEqual(await withTimeout(c.closed, 3000, 'client close'), { code: 4003, reason: 'q' });
    assert.equal(await done.promise, 4003);
    assert.ok(err instanceof Error);
    assert.equal(err.message, CLOSED_WS_ERROR);
  });
});

describe('abnormal closes reported to the close handler', () => {
  it("message above maxPayloadLength: handler gets 1006 'Received too big message'; client sees 1006 (no close frame)", T, async (t) => {
    const got = [];
    const s = closeServer(t, (ws, txt) => got.push(txt.length), { maxPayloadLength: 1024 });
    const c = await client(t, s.srv.port);
    c.send('a'.repeat(1024)); // exactly the limit is fine
    c.send('b'.repeat(1025));
    assert.deepEqual(await withTimeout(c.closed, 3000, 'client close'), { code: 1006, reason: '' });
    assert.deepEqual(got, [1024]);
    assert.deepEqual(s.closes, [[1006, 'Received too big message', true]]);
  });

  it('default maxPayloadLength is 16 KiB', T, async (t) => {
    const got = [];
    const s = closeServer(t, (ws, txt) => got.push(txt.length));
    const c = await client(t, s.srv.port);
    c.send('a'.repeat(16 * 1024));
    c.send('b'.repeat(16 * 1024 + 1));
    assert.deepEqual(await withTimeout(c.closed, 3000, 'client close'), { code: 1006, reason: '' });
    assert.deepEqual(got, [16 * 1024]);
    assert.deepEqual(s.closes, [[1006, 'Received too big message', true]]);
  });
});
