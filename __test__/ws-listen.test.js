'use strict';
// WebSocket compatibility suite: listen / listen-socket close / process exit.
// Runs against our addon (default) or the real uWebSockets.js v20.30 (UWS_IMPL=uws).
// Every expectation below was observed on the real uWebSockets.js first.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { uWS, listenSync, client, deferred, withTimeout } = require('./helpers/server');
const { impl } = require('./impl');

const T = { timeout: 10000 };

/** Resolves true if a TCP connection to port is accepted, false if refused. */
function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('listen', () => {
  it('listen(0, cb) calls cb synchronously with a truthy token; us_socket_local_port gives the port', T, async (t) => {
    const app = uWS.App();
    let token;
    let calledSync = false;
    let sync = true;
    const ret = app.listen(0, (tk) => {
      if (!sync && tk) return uWS.us_listen_socket_close(tk); // late callback: broken impl, do not leak
      token = tk;
      calledSync = true;
    });
    sync = false;
    if (token) t.after(() => uWS.us_listen_socket_close(token));
    assert.equal(calledSync, true, 'listen callback must run before listen() returns');
    assert.equal(ret, app, 'listen returns the app');
    assert.ok(token, 'token is truthy');
    const port = uWS.us_socket_local_port(token);
    assert.equal(typeof port, 'number');
    assert.ok(port > 0 && port < 65536, `port ${port}`);
    assert.equal(await canConnect(port), true);
  });

  it("listen('127.0.0.1', 0, cb) and listen(0, options, cb)", T, async (t) => {
    const app = uWS.App();
    const t1 = listenSync(app, '127.0.0.1', 0);
    t.after(() => uWS.us_listen_socket_close(t1));
    const t2 = listenSync(app, 0, 0 /* LIBUS_LISTEN_DEFAULT */);
    t.after(() => uWS.us_listen_socket_close(t2));
    const p1 = uWS.us_socket_local_port(t1);
    const p2 = uWS.us_socket_local_port(t2);
    assert.ok(p1 > 0);
    assert.ok(p2 > 0);
    assert.notEqual(p1, p2);
    assert.equal(await canConnect(p1), true);
    assert.equal(await canConnect(p2), true);
  });

  it('exports LIBUS_LISTEN_EXCLUSIVE_PORT = 1 and DISABLED compression', T, () => {
    assert.equal(uWS.LIBUS_LISTEN_EXCLUSIVE_PORT, 1);
    assert.equal(uWS.DISABLED, 0);
  });

  it('listening on a busy port gives false (synchronously)', T, async (t) => {
    const app = uWS.App();
    const token = listenSync(app, '127.0.0.1', 0);
    t.after(() => uWS.us_listen_socket_close(token));
    const port = uWS.us_socket_local_port(token);
    const results = [];
    const record = (tk) => {
      results.push(tk);
      if (tk) uWS.us_listen_socket_close(tk);
    };
    app.listen('127.0.0.1', port, record);
    app.listen(port, record);
    app.listen(port, uWS.LIBUS_LISTEN_EXCLUSIVE_PORT, record);
    if (impl === 'uws') {
      assert.deepEqual(results, [false, false, false]);
    } else {
      // Deliberate difference: uws-rs listens with SO_REUSEPORT unless LIBUS_LISTEN_EXCLUSIVE_PORT
      // is given (as newer uWebSockets.js does), so worker_threads can each listen on one port.
      // Sharing our own port therefore succeeds; the exclusive form still fails.
      assert.deepEqual(results.map(Boolean), [true, true, false]);
    }

    // A port held by a plain node server (no SO_REUSEPORT) is busy as well.
    const s = net.createServer();
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const r2 = [];
    uWS.App().listen('127.0.0.1', s.address().port, (tk) => {
      r2.push(tk);
      if (tk) uWS.us_listen_socket_close(tk);
    });
    await new Promise((r) => s.close(r));
    assert.deepEqual(r2, [false]);
  });

  it('after us_listen_socket_close new connections are refused', T, async () => {
    const app = uWS.App();
    const token = listenSync(app, '127.0.0.1', 0);
    const port = uWS.us_socket_local_port(token);
    let ok;
    try {
      ok = await canConnect(port);
    } finally {
      uWS.us_listen_socket_close(token);
    }
    assert.equal(ok, true);
    assert.equal(await canConnect(port), false);
  });

  // Process-exit behaviour: nothing of ours may keep the event loop alive once the listen socket
  // and every connection are closed.
  const implPath = path.join(__dirname, 'impl.js');
  function runChild(script, onLine) {
    const child = spawn(process.execPath, ['-e', script], {
      env: { ...process.env, IMPL_PATH: implPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal, stderr })));
    return { child, exited };
  }

  it('a process that closes its listen socket (no connections) exits by itself', T, async () => {
    const script = `
      const { uWS } = require(process.env.IMPL_PATH);
      uWS.App().listen(0, (t) => { console.log('port', uWS.us_socket_local_port(t)); uWS.us_listen_socket_close(t); });
    `;
    const { child, exited } = runChild(script, () => {});
    const t0 = Date.now();
    const r = await withTimeout(exited, 5000, 'child exit').catch((e) => {
      child.kill('SIGKILL');
      throw e;
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - t0 < 5000);
  });

  it('a process that closes its listen socket and ends its only ws connection exits by itself', T, async (t) => {
    const script = `
      const { uWS } = require(process.env.IMPL_PATH);
      let token;
      uWS.App().ws('/*', {
        open: (ws) => { uWS.us_listen_socket_close(token); ws.end(1000, 'bye'); },
        close: () => console.log('closed'),
      }).listen('127.0.0.1', 0, (t) => { token = t; console.log('port ' + uWS.us_socket_local_port(t)); });
    `;
    const port = deferred();
    const lines = [];
    const { child, exited } = runChild(script, (l) => {
      lines.push(l);
      if (l.startsWith('port ')) port.resolve(Number(l.slice(5)));
    });
    try {
      const p = await withTimeout(port.promise, 5000, 'child port');
      const c = await client(t, p, '/');
      const closed = await withTimeout(c.closed, 3000, 'client close');
      assert.equal(closed.code, 1000);
      const r = await withTimeout(exited, 5000, 'child exit after closing everything');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lines, [`port ${p}`, 'closed']);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a process whose client disconnects and which then closes the listen socket exits by itself', T, async (t) => {
    const script = `
      const { uWS } = require(process.env.IMPL_PATH);
      let token;
      uWS.App().ws('/*', {
        close: (ws, code) => { console.log('close ' + code); uWS.us_listen_socket_close(token); },
      }).listen('127.0.0.1', 0, (t) => { token = t; console.log('port ' + uWS.us_socket_local_port(t)); });
    `;
    const port = deferred();
    const { child, exited } = runChild(script, (l) => {
      if (l.startsWith('port ')) port.resolve(Number(l.slice(5)));
    });
    try {
      const p = await withTimeout(port.promise, 5000, 'child port');
      const c = await client(t, p, '/');
      c.close(4000, 'done');
      await withTimeout(c.closed, 3000, 'client close');
      const r = await withTimeout(exited, 5000, 'child exit');
      assert.equal(r.code, 0, r.stderr);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
