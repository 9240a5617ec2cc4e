'use strict';
// worker_threads: each worker runs its own App on the same port (SO_REUSEPORT); terminating a
// worker closes its sockets and libuv handles cleanly. Also app.close() from the main thread.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { uWS, impl, listenSync, client, withTimeout, deferred } = require('./helpers/server');

const WORKER_SOURCE = `
const { parentPort, workerData, threadId } = require('node:worker_threads');
const uWS = require(workerData.module);
uWS.App()
  .ws('/*', { message: (ws) => ws.send('thread ' + threadId) })
  .listen('127.0.0.1', workerData.port, (t) => parentPort.postMessage(Boolean(t)));
`;

function modulePath() {
  return impl === 'uws' ? require.resolve('@trufflesuite/uws-js-unofficial') : path.join(__dirname, '..');
}

function freePort() {
  const t = listenSync(uWS.App(), '127.0.0.1', 0);
  const port = uWS.us_socket_local_port(t);
  uWS.us_listen_socket_close(t);
  return port;
}

async function ask(port) {
  const c = await client({ after() {} }, port);
  c.send('who');
  const m = await c.nextMessage();
  c.close();
  return m.data.toString();
}

describe('worker_threads', () => {
  it('two workers serve one port; terminating one leaves the other serving', { timeout: 30000 }, async (t) => {
    if (impl === 'uws') {
      // uWebSockets.js v20.30 listens without SO_REUSEPORT: the second worker cannot share the port.
      t.skip('uws v20.30 does not share ports between workers');
      return;
    }
    const port = freePort();
    const workers = [0, 1].map(() => new Worker(WORKER_SOURCE, { eval: true, workerData: { port, module: modulePath() } }));
    t.after(() => Promise.all(workers.map((w) => w.terminate())));
    const listening = await withTimeout(
      Promise.all(workers.map((w) => new Promise((r) => w.once('message', r)))), 10000, 'workers listening');
    assert.deepEqual(listening, [true, true]);

    const seen = new Set();
    for (let i = 0; i < 40 && seen.size < 2; i++) seen.add(await withTimeout(ask(port), 5000, 'echo'));
    assert.equal(seen.size, 2, `both threads answer (saw ${[...seen]})`);

    const code = await workers[0].terminate();
    assert.equal(code, 1);
    const survivor = `thread ${workers[1].threadId}`;
    for (let i = 0; i < 5; i++) assert.equal(await withTimeout(ask(port), 5000, 'echo after terminate'), survivor);
  });

  it('a worker that listens and is terminated lets the process exit', { timeout: 30000 }, async (t) => {
    if (impl === 'uws') {
      // uWebSockets.js v20.30 leaves its poll handle open at worker teardown and Node aborts
      // ("uv_loop_close() while having open handles"); uws-rs closes its handles in an async
      // cleanup hook.
      t.skip('uws v20.30 aborts when a listening worker is terminated');
      return;
    }
    const { spawnSync } = require('node:child_process');
    const script = `
      const { Worker } = require('node:worker_threads');
      const w = new Worker(${JSON.stringify(WORKER_SOURCE)}, { eval: true, workerData: { port: 0, module: ${JSON.stringify(modulePath())} } });
      w.once('message', () => w.terminate().then(() => console.log('terminated')));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 15000, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /terminated/);
  });
});

describe('app.close()', () => {
  it('stops listening and closes every connection, firing close handlers', { timeout: 15000 }, async (t) => {
    const closed = deferred();
    const app = uWS.App().ws('/*', { close: (ws, code) => closed.resolve(code) });
    const token = listenSync(app, '127.0.0.1', 0);
    const port = uWS.us_socket_local_port(token);
    const c = await client(t, port);
    const clientClosed = new Promise((r) => c.once('close', r));
    if (typeof app.close !== 'function') {
      t.skip('this build has no app.close');
      uWS.us_listen_socket_close(token);
      return;
    }
    app.close();
    const code = await withTimeout(closed.promise, 5000, 'close handler');
    assert.equal(typeof code, 'number');
    await withTimeout(clientClosed, 5000, 'client sees the close');
    const net = require('node:net');
    const refused = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); r(false); });
      s.on('error', () => r(true));
    });
    assert.equal(refused, true, 'no longer listening');
  });
});

describe('shared storage (uWebSockets.js v20 setString/incInteger/...)', () => {
  it('is shared by worker threads and atomic under concurrent increments', { timeout: 20000 }, async (t) => {
    if (impl === 'uws') {
      // v20.30's integer functions reject numbers ("Text and data can only be passed by ...").
      t.skip('uws v20.30 shared storage is not usable from JS');
      return;
    }
    uWS.deleteIntegerCollection('test');
    uWS.setString('test', 'greeting', 'hello');
    const src = `
      const { parentPort, workerData } = require('node:worker_threads');
      const uWS = require(workerData.module);
      for (let i = 0; i < 1000; i++) uWS.incInteger('test', 'hits');
      parentPort.postMessage(uWS.getString('test', 'greeting'));
    `;
    const workers = [0, 1, 2].map(() => new Worker(src, { eval: true, workerData: { module: modulePath() } }));
    const seen = await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
    await Promise.all(workers.map((w) => w.terminate()));
    assert.deepEqual(seen, ['hello', 'hello', 'hello']);
    assert.equal(uWS.getInteger('test', 'hits'), 3000);
    assert.deepEqual(uWS.getIntegerKeys('test'), ['hits']);
    uWS.deleteInteger('test', 'hits');
    assert.equal(uWS.getInteger('test', 'hits'), undefined);
    assert.throws(() => uWS.H3App(), /not supported/);
  });
});

describe('acceptor pattern (getDescriptor / addChildAppDescriptor)', () => {
  it('an acceptor app hands its connections to child apps in workers, round-robin', { timeout: 30000 }, async (t) => {
    if (impl === 'uws') {
      t.skip('getDescriptor/addChildAppDescriptor arrived in uWebSockets.js after v20.30');
      return;
    }
    const src = `
      const { parentPort, workerData, threadId } = require('node:worker_threads');
      const uWS = require(workerData.module);
      const app = uWS.App().get('/*', (res) => { res.end('child ' + threadId); });
      parentPort.postMessage(app.getDescriptor());
    `;
    const workers = [0, 1].map(() => new Worker(src, { eval: true, workerData: { module: modulePath() } }));
    t.after(() => Promise.all(workers.map((w) => w.terminate())));
    const descriptors = await withTimeout(
      Promise.all(workers.map((w) => new Promise((r) => w.once('message', r)))), 10000, 'descriptors');
    const acceptor = uWS.App().get('/*', (res) => { res.end('acceptor'); });
    for (const d of descriptors) acceptor.addChildAppDescriptor(d);
    const token = listenSync(acceptor, '127.0.0.1', 0);
    t.after(() => uWS.us_listen_socket_close(token));
    const port = uWS.us_socket_local_port(token);
    const http = require('node:http');
    const get = () => new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (r) => {
        let b = '';
        r.on('data', (d) => (b += d));
        r.on('end', () => resolve(b));
      }).on('error', reject);
    });
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await withTimeout(get(), 5000, 'request'));
    const expected = workers.map((w) => `child ${w.threadId}`);
    assert.deepEqual(answers, [0, 1, 2, 3, 4, 5].map((i) => expected[i % 2]), 'round-robin over the children');

    for (const d of descriptors) acceptor.removeChildAppDescriptor(d);
    assert.equal(await withTimeout(get(), 5000, 'request'), 'acceptor', 'without children it serves itself');
  });
});
