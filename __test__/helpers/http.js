'use strict';
// Shared helpers for the HTTP compatibility suite (__test__/http-*.test.js).
// Every helper is bounded in time and cleans up its sockets so the test process can exit.

const net = require('node:net');
const http = require('node:http');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { uWS, impl } = require('../impl');

const HOST = '127.0.0.1';

/** Starts an App on port 0 (loopback clients only). Returns { app, port, close }. */
function startApp(setup) {
  const app = uWS.App();
  setup(app);
  return new Promise((resolve, reject) => {
    app.listen(0, (token) => {
      if (!token) return reject(new Error('listen(0) failed'));
      const port = uWS.us_socket_local_port(token);
      let closed = false;
      resolve({
        app,
        port,
        close() {
          if (!closed) { closed = true; uWS.us_listen_socket_close(token); }
        },
      });
    });
  });
}

/** Rejects after ms with a labelled error (bounded waits on server-side events). */
function withTimeout(promise, ms, label) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${label}`)), ms); }),
  ]).finally(() => clearTimeout(t));
}

/** A promise with its resolve exposed. */
function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Parses as many complete HTTP/1.x responses as `buf` holds.
 * opts.head: array of booleans, per response index: true if that response answers a HEAD
 * request (no body is read for it, per RFC 9112 6.3). opts.eofBody: treat a response with
 * neither Content-Length nor chunked as "body until close" (only complete when `closed`).
 * Returns { responses: [{ statusLine, status, headers: [[name, value]...], body: Buffer,
 * rawHead: string, raw: Buffer, chunks?: [Buffer] }], rest: Buffer }.
 */
function parseResponses(buf, opts = {}) {
  const responses = [];
  let off = 0;
  for (;;) {
    const headEnd = buf.indexOf('\r\n\r\n', off, 'latin1');
    if (headEnd < 0) break;
    const rawHead = buf.subarray(off, headEnd).toString('latin1');
    const lines = rawHead.split('\r\n');
    const statusLine = lines[0];
    const status = Number(statusLine.split(' ')[1]);
    const headers = lines.slice(1).map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i), l.slice(i + 1).trim()];
    });
    const get = (n) => { const h = headers.find(([k]) => k.toLowerCase() === n); return h && h[1]; };
    let p = headEnd + 4;
    let body;
    let chunks;
    const isHead = opts.head && opts.head[responses.length];
    if (isHead || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
    } else if (/chunked/i.test(get('transfer-encoding') || '')) {
      chunks = [];
      let ok = false;
      for (;;) {
        const le = buf.indexOf('\r\n', p, 'latin1');
        if (le < 0) break;
        const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size in response');
        if (le + 2 + size + 2 > buf.length) break;
        if (size === 0) {
          // no trailers expected from uWS: last-chunk CRLF CRLF
          if (buf.length < le + 4) break;
          p = le + 4; ok = true; break;
        }
        chunks.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      if (!ok) break;
      body = Buffer.concat(chunks);
    } else if (get('content-length') !== undefined) {
      const n = Number(get('content-length'));
      if (p + n > buf.length) break;
      body = buf.subarray(p, p + n);
      p += n;
    } else if (opts.eofBody) {
      if (!opts.closed) break;
      body = buf.subarray(p);
      p = buf.length;
    } else {
      body = Buffer.alloc(0);
    }
    responses.push({ statusLine, status, headers, rawHead, body, chunks, raw: buf.subarray(off, p), get });
    off = p;
  }
  return { responses, rest: buf.subarray(off) };
}

/**
 * Opens a raw TCP connection, writes `data` (string is sent as latin1 bytes; an array is
 * written piece by piece with `gapMs` between pieces), and collects bytes until:
 *  - `expect` complete responses have been parsed (default 1; 0 = wait for close/timeout), or
 *  - the server closes the connection, or
 *  - `timeout` ms pass (default 2000).
 * After `expect` responses, waits `lingerMs` (default 0) more to observe a close or extra bytes.
 * Resolves { buf, text, responses, closed, timedOut, error, closeMs }. Never rejects.
 */
function rawRequest(port, data, opts = {}) {
  const { expect = 1, timeout = 2000, lingerMs = 0, head, gapMs = 0, eofBody = false } = opts;
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(port, HOST);
    const parts = [];
    let done = false;
    let closed = false;
    let error = null;
    let timer;
    let lingerTimer;
    const collect = () => Buffer.concat(parts);
    const finish = (timedOut) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(lingerTimer);
      const buf = collect();
      let parsed;
      try { parsed = parseResponses(buf, { head, eofBody, closed }); } catch (e) { parsed = { responses: [], rest: buf, parseError: e }; }
      sock.destroy();
      resolve({
        buf, text: buf.toString('latin1'), responses: parsed.responses, rest: parsed.rest,
        closed, timedOut, error, closeMs: closed ? Date.now() - t0 : -1,
      });
    };
    sock.on('data', (d) => {
      parts.push(d);
      if (expect > 0 && !lingerTimer) {
        let n = 0;
        try { n = parseResponses(collect(), { head }).responses.length; } catch { n = 0; }
        if (n >= expect) {
          if (lingerMs > 0) lingerTimer = setTimeout(() => finish(false), lingerMs);
          else finish(false);
        }
      }
    });
    sock.on('error', (e) => { error = e.code || e.message; });
    sock.on('close', () => { closed = true; finish(false); });
    timer = setTimeout(() => finish(true), timeout);
    sock.on('connect', async () => {
      const pieces = Array.isArray(data) ? data : [data];
      for (let i = 0; i < pieces.length; i++) {
        if (done) return;
        const p = pieces[i];
        sock.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
        if (gapMs && i < pieces.length - 1) await sleep(gapMs);
      }
    });
  });
}

/**
 * A persistent raw connection for keep-alive / ordering tests.
 * conn.send(data) writes; conn.read(n, ms) waits until n complete responses (total since
 * open) were received; conn.waitClose(ms) resolves true if the server closed the socket.
 */
function rawConnection(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, HOST);
    const parts = [];
    let closed = false;
    const waiters = new Set();
    const check = () => { for (const w of waiters) w(); };
    sock.on('data', (d) => { parts.push(d); check(); });
    sock.on('close', () => { closed = true; check(); });
    sock.on('error', () => {});
    sock.on('connect', () => resolve({
      sock,
      get closed() { return closed; },
      get buf() { return Buffer.concat(parts); },
      send(data) { sock.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data); },
      read(n, ms = 2000, head) {
        return new Promise((res, rej) => {
          const w = () => {
            const parsed = parseResponses(Buffer.concat(parts), { head });
            if (parsed.responses.length >= n) { cleanup(); res(parsed.responses); } else if (closed) { cleanup(); rej(new Error(`closed after ${parsed.responses.length} responses: ${JSON.stringify(Buffer.concat(parts).toString('latin1'))}`)); }
          };
          const t = setTimeout(() => { cleanup(); rej(new Error(`timeout waiting for ${n} responses; got ${JSON.stringify(Buffer.concat(parts).toString('latin1'))}`)); }, ms);
          const cleanup = () => { clearTimeout(t); waiters.delete(w); };
          waiters.add(w);
          w();
        });
      },
      waitClose(ms = 1000) {
        return new Promise((res) => {
          if (closed) return res(true);
          const w = () => { if (closed) { cleanup(); res(true); } };
          const t = setTimeout(() => { cleanup(); res(false); }, ms);
          const cleanup = () => { clearTimeout(t); waiters.delete(w); };
          waiters.add(w);
        });
      },
      destroy() { sock.destroy(); },
    }));
    sock.on('error', reject);
  });
}

/** Node http client request with no connection reuse. Resolves { status, headers, body }. */
function httpRequest(port, { method = 'GET', path: p = '/', headers = {}, body, timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method, path: p, headers, agent: false, timeout }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('http request timeout')));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Latin1 request builder: req('GET', '/x', ['A: b']) -> 'GET /x HTTP/1.1\r\nHost: t\r\nA: b\r\n\r\n'. */
function reqText(method, target, headers = [], body = '') {
  return `${method} ${target} HTTP/1.1\r\nHost: t\r\n${headers.map((h) => h + '\r\n').join('')}\r\n${body}`;
}

/** Replaces the Date header value so raw responses compare exactly. */
function normDate(text) {
  return text.replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: X\r\n');
}

const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * Runs `script` (JS source) in a child Node process with the same UWS_IMPL and a `uWS`
 * global plus `__report(obj)` that prints obj for `report(n)`. opts.env adds environment
 * variables. Returns a handle: { stdout, stderr, exited: Promise<{code, signal}>, report, kill() }.
 */
function spawnServer(script, { timeout = 15000, env = {} } = {}) {
  const implPath = path.join(__dirname, '..', 'impl.js');
  const prelude = `const { uWS, impl } = require(${JSON.stringify(implPath)});\n` +
    'const __report = (o) => process.stdout.write("@@" + JSON.stringify(o) + "\\n");\n';
  const child = spawn(process.execPath, ['-e', prelude + script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const reports = [];
  const reportWaiters = [];
  child.stdout.on('data', (d) => {
    stdout += d;
    const lines = stdout.split('\n').slice(0, -1).filter((l) => l.startsWith('@@'));
    while (reports.length < lines.length) reports.push(JSON.parse(lines[reports.length].slice(2)));
    for (const w of reportWaiters.splice(0)) w();
  });
  child.stderr.on('data', (d) => { stderr += d; });
  const killTimer = setTimeout(() => child.kill('SIGKILL'), timeout);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => { clearTimeout(killTimer); resolve({ code, signal }); for (const w of reportWaiters.splice(0)) w(); }));
  let exitedFlag = false;
  exited.then(() => { exitedFlag = true; });
  return {
    child,
    exited,
    get stdout() { return stdout; },
    get stderr() { return stderr; },
    /** Waits for the n-th (0-based) report object printed by __report(). */
    report(n, ms = 5000) {
      return withTimeout(new Promise((resolve, reject) => {
        const w = () => {
          if (reports.length > n) resolve(reports[n]);
          else if (exitedFlag) reject(new Error(`child exited before report ${n}; stderr: ${stderr}`));
          else reportWaiters.push(w);
        };
        w();
      }), ms, `child report ${n}`);
    },
    kill() { if (!exitedFlag) child.kill('SIGKILL'); },
  };
}

module.exports = {
  uWS, impl, HOST, startApp, withTimeout, deferred, sleep, parseResponses, rawRequest, rawConnection,
  httpRequest, reqText, normDate, IMF_FIXDATE, spawnServer,
};
