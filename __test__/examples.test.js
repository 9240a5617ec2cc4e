'use strict';
// Runs each program in examples/ as a child process (PORT=0), reads its port from the
// `listening on <port>` line, and does a real round trip against it.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');

const EXAMPLES = path.join(__dirname, '..', 'examples');
const T = { timeout: 30000 };

/** Starts examples/<name> with PORT=0; resolves { port, child, output() }. Killed when `t` ends. */
function startExample(t, name, args = []) {
  const child = spawn(process.execPath, [path.join(EXAMPLES, name), ...args], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
  t.after(() => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: no "listening on <port>" within 10 s\n${out}${err}`)), 10000);
    const check = () => {
      const m = /listening on (\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout.off('data', check);
      resolve({ port: Number(m[1]), child, output: () => out + err });
    };
    child.stdout.on('data', check);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before listening\n${out}${err}`));
    });
  });
}

/** Opens a `ws` client; messages are queued and read with next(). Terminated when `t` ends. */
function wsClient(t, url) {
  const ws = new WebSocket(url);
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const m = { data: Buffer.from(data), isBinary };
    if (waiters.length) waiters.shift()(m);
    else queue.push(m);
  });
  ws.next = (ms = 5000) => new Promise((resolve, reject) => {
    if (queue.length) return resolve(queue.shift());
    const timer = setTimeout(() => reject(new Error(`no message from ${url} within ${ms} ms`)), ms);
    waiters.push((m) => { clearTimeout(timer); resolve(m); });
  });
  t.after(() => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** GET over node:http; resolves { status, headers, body: Buffer }. `slowStart` ms: pause before reading. */
function httpGet(port, urlPath, { slowStart = 0 } = {}) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      if (slowStart) {
        res.pause();
        setTimeout(() => res.resume(), slowStart);
      }
    }).on('error', reject);
  });
}

describe('examples', () => {
  it('echo.js: GET / and a WebSocket echo of text and binary messages', T, async (t) => {
    const { port } = await startExample(t, 'echo.js');
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /echo/);

    const ws = await wsClient(t, `ws://127.0.0.1:${port}/`);
    ws.send('hello');
    assert.deepEqual(await ws.next(), { data: Buffer.from('hello'), isBinary: false });
    const bin = crypto.randomBytes(100000);
    ws.send(bin);
    assert.deepEqual(await ws.next(), { data: bin, isBinary: true });
  });

  it('chat.js: join and publish to the room', T, async (t) => {
    const { port } = await startExample(t, 'chat.js');
    const alice = await wsClient(t, `ws://127.0.0.1:${port}/?name=alice`);
    const bob = await wsClient(t, `ws://127.0.0.1:${port}/?name=bob`);
    assert.equal((await alice.next()).data.toString(), 'bob joined');
    bob.send('hi all');
    assert.equal((await alice.next()).data.toString(), 'bob: hi all');
    assert.equal((await bob.next()).data.toString(), 'bob: hi all');
  });

  it('chat.js: leaving is announced to the room (getUserData in close)', T, async (t) => {
    const { port } = await startExample(t, 'chat.js');
    const alice = await wsClient(t, `ws://127.0.0.1:${port}/?name=alice`);
    const bob = await wsClient(t, `ws://127.0.0.1:${port}/?name=bob`);
    assert.equal((await alice.next()).data.toString(), 'bob joined');
    bob.close();
    assert.equal((await alice.next()).data.toString(), 'bob left');
  });

  it('http-ws.js: routes, parameters, request body, 404 and a WebSocket on /ws', T, async (t) => {
    const { port } = await startExample(t, 'http-ws.js');
    const base = `http://127.0.0.1:${port}`;

    let res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /uws-rs/);

    res = await fetch(`${base}/hello/world?greeting=Hi%20there`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.deepEqual(await res.json(), { message: 'Hi there, world!' });

    const body = crypto.randomBytes(300000);
    res = await fetch(`${base}/echo`, { method: 'POST', body, headers: { 'content-type': 'application/x-test' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-test');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(body), 'POST /echo returns the body');

    res = await fetch(`${base}/no/such/page`);
    assert.equal(res.status, 404);
    await res.text();

    const ws = await wsClient(t, `ws://127.0.0.1:${port}/ws`);
    ws.send('over ws');
    assert.deepEqual(await ws.next(), { data: Buffer.from('over ws'), isBinary: false });
  });

  it('stream-file.js: streams a 24 MiB file to a slow reader, survives an aborted download', T, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uws-rs-stream-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'data.bin');
    const hash = crypto.createHash('sha256');
    const fd = fs.openSync(file, 'w');
    for (let i = 0; i < 24; i++) {
      const mb = crypto.randomBytes(1024 * 1024);
      hash.update(mb);
      fs.writeSync(fd, mb);
    }
    fs.closeSync(fd);
    const digest = hash.digest('hex');
    const { port, child } = await startExample(t, 'stream-file.js', [file]);

    // Abort a download part way: the server must stop streaming and keep serving.
    await new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let n = 0;
        res.on('data', (c) => {
          n += c.length;
          if (n > 1024 * 1024) req.destroy();
        });
      });
      req.on('close', resolve);
      req.on('error', (e) => (e.code === 'ECONNRESET' || req.destroyed ? resolve() : reject(e)));
    });

    // A reader that waits 300 ms before reading: the socket fills up, so tryEnd reports
    // backpressure and the rest goes out from onWritable.
    const res = await httpGet(port, '/', { slowStart: 300 });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.equal(Number(res.headers['content-length']), 24 * 1024 * 1024);
    assert.equal(res.body.length, 24 * 1024 * 1024);
    assert.equal(crypto.createHash('sha256').update(res.body).digest('hex'), digest);
    assert.equal(child.exitCode, null, 'the server is still running');
  });
});
