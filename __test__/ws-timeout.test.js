'use strict';
// WebSocket compatibility suite, part 5: idle timeout and automatic pings (idleTimeout 8 s, the minimum).
// One test, three connections observed in parallel, about 9 s. Observed on uWebSockets.js v20.30:
//   - sendPingsAutomatically false: closed after ~8 s, close handler 1006 'WebSocket timed out from inactivity',
//     no close frame (the ws client reports 1006).
//   - default (sendPingsAutomatically true): a ping is sent after ~idleTimeout/2 (4 s); a client that answers
//     with pong stays open; a client that ignores pings is closed after ~8 s with the same code and message.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { serve, client, rawClient, sleep, abText, impl } = require('./helpers/server');
const { OP } = require('./helpers/raw');

const TIMEOUT_MSG = 'WebSocket timed out from inactivity';

describe('idle timeout', () => {
  it('idleTimeout 8: closes silent connections, automatic pings keep responsive clients alive', { timeout: 25000 }, async (t) => {
    const t0 = Date.now();
    const closes = { noPings: [], pings: [], sendReset: [], sendNoReset: [] };
    const mk = (name, opts) =>
      serve(t, { idleTimeout: 8, ...opts, close: (ws, code, m) => closes[name].push([code, abText(m), Date.now() - t0]) });
    const noPings = mk('noPings', { sendPingsAutomatically: false });
    const pings = mk('pings', {});
    // The server sends every 2 s to a client that never sends: only resetIdleTimeoutOnSend
    // makes those sends count as activity.
    const timers = [];
    t.after(() => timers.forEach(clearInterval));
    const sender = { open: (ws) => timers.push(setInterval(() => { try { ws.send('tick'); } catch {} }, 2000)) };
    const sendReset = mk('sendReset', { ...sender, sendPingsAutomatically: false, resetIdleTimeoutOnSend: true });
    const sendNoReset = mk('sendNoReset', { ...sender, sendPingsAutomatically: false, resetIdleTimeoutOnSend: false });

    const quiet = await client(t, noPings.port); // never sends anything
    const responsive = await client(t, pings.port); // ws answers pings automatically
    const deaf = rawClient(t, pings.port); // reads but never answers
    await deaf.handshake('/');
    const listener = await client(t, sendReset.port); // reads, never sends
    const listener2 = await client(t, sendNoReset.port);

    const quietClosed = quiet.closed.then((r) => ({ ...r, at: Date.now() - t0 }));
    await sleep(10500);

    // Silent connection without automatic pings: closed at about 8 s.
    const qc = await quietClosed;
    assert.deepEqual([qc.code, qc.reason], [1006, '']);
    assert.ok(qc.at > 6000 && qc.at < 10500, `closed at ${qc.at} ms`);
    assert.equal(closes.noPings.length, 1);
    assert.deepEqual(closes.noPings[0].slice(0, 2), [1006, TIMEOUT_MSG]);
    assert.deepEqual(quiet.pings, [], 'no pings when sendPingsAutomatically is false');

    // Responsive client: pinged (first ping well before the timeout) and still open.
    assert.ok(responsive.pings.length >= 1, 'server sent automatic pings');
    assert.equal(responsive.readyState, 1, 'responsive client still open');

    // Deaf client: got a ping, then was closed with the timeout message and no close frame.
    assert.deepEqual(
      deaf.reader.frames.map((f) => f.opcode),
      [OP.PING]
    );
    assert.equal(deaf.ended || deaf.closed, true);
    assert.equal(closes.pings.length, 1, JSON.stringify(closes.pings));
    assert.deepEqual(closes.pings[0].slice(0, 2), [1006, TIMEOUT_MSG]);
    assert.ok(closes.pings[0][2] > 6000, `deaf closed at ${closes.pings[0][2]} ms`);

    // resetIdleTimeoutOnSend: the server's own sends keep the connection alive past 8 s.
    assert.equal(closes.sendNoReset.length, 1, 'without resetIdleTimeoutOnSend the silent client times out');
    assert.deepEqual(closes.sendNoReset[0].slice(0, 2), [1006, TIMEOUT_MSG]);
    assert.equal(listener2.readyState, 3);
    if (impl === 'uws') {
      // uWebSockets.js v20.30 predates resetIdleTimeoutOnSend (a later v20 option) and ignores it.
      assert.equal(closes.sendReset.length, 1);
    } else {
      assert.deepEqual(closes.sendReset, [], 'with resetIdleTimeoutOnSend the connection stays open');
      assert.equal(listener.readyState, 1);
    }
  });
});
