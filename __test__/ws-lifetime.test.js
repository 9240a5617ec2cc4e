'use strict';
// maxLifetime (minutes, 0..240): a WebSocket is closed once it has been open that long, however
// active it is. The shortest legal value is one minute, so this test runs only with
// UWS_SLOW_TESTS=1 (about 65 s); CI skips it.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { serve, client, sleep } = require('./helpers/server');

describe('maxLifetime', () => {
  it('closes an active connection after maxLifetime minutes', { timeout: 90000, skip: process.env.UWS_SLOW_TESTS !== '1' && 'set UWS_SLOW_TESTS=1 (takes ~65 s)' }, async (t) => {
    const t0 = Date.now();
    const closes = [];
    const srv = serve(t, {
      maxLifetime: 1,
      close: (ws, code) => closes.push([code, Date.now() - t0]),
    });
    const c = await client(t, srv.port);
    const keepBusy = setInterval(() => c.send('x'), 1000); // activity does not extend a lifetime
    t.after(() => clearInterval(keepBusy));
    const closed = await c.closed;
    clearInterval(keepBusy);
    const at = Date.now() - t0;
    assert.ok(at > 55000 && at < 75000, `closed after ${at} ms`);
    // Ended like ws.end(1000): both sides see 1000 (uWebSockets.js v20.30 does the same).
    assert.deepEqual(closes.map((c) => c[0]), [1000]);
    assert.equal(closed.code, 1000);
    await sleep(10);
  });
});
