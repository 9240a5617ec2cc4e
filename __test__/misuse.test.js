'use strict';
// API misuse: wrong argument types, use of dead objects, re-entrant calls and exceptions thrown by
// handlers. Every case runs in a child process, so whatever an implementation does (uWebSockets.js
// v20.30 aborts or segfaults on several of them) the test process survives and can say so.
// uws-rs must never crash: a wrong argument is a TypeError naming the argument, a dead object
// throws the uWS.js error message, and an exception in a handler reaches
// process.on('uncaughtException') while the server keeps serving.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { impl } = require('./impl');

const T = { timeout: 15000 };
const CLOSED_WS = 'Invalid access of closed uWS.WebSocket/SSLWebSocket.';
const ENDED_RES =
  'uWS.HttpResponse must not be accessed after uWS.HttpResponse.onAborted callback, or after a successful response. See documentation for uWS.HttpResponse and consult the user manual.';
const STALE_REQ =
  'uWS.HttpRequest must not be accessed after await or route handler return. See documentation for uWS.HttpRequest and consult the user manual.';
const BAD_DATA = 'Text and data can only be passed by String, ArrayBuffer or TypedArray.';

// Prelude of every child: the implementation under test, a `ws` client, and helpers that report
// results to the parent as JSON lines on stdout.
const PRELUDE = `
const { uWS } = require(${JSON.stringify(path.join(__dirname, 'impl.js'))});
const WebSocket = require('ws');
const out = (...v) => process.stdout.write(JSON.stringify(v) + '\\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const attempt = (name, f) => {
  try { const r = f(); out(name, 'ok', typeof r === 'object' && r !== null ? 'object' : r); }
  catch (e) { out(name, 'threw', e instanceof TypeError ? 'TypeError' : e instanceof Error ? 'Error' : typeof e, String(e && e.message)); }
};
process.on('uncaughtException', (e) => out('uncaughtException', String(e && e.message)));
function listen(app) {
  let token;
  app.listen('127.0.0.1', 0, (t) => (token = t));
  return uWS.us_socket_local_port(token);
}
async function get(port, p, opts = {}) {
  try {
    const r = await fetch('http://127.0.0.1:' + port + p, { signal: AbortSignal.timeout(1500), ...opts });
    return r.status + ' ' + (await r.text());
  } catch (e) { return 'failed ' + ((e.cause && e.cause.code) || e.name); }
}
function wsClient(port, p = '/') {
  const c = new WebSocket('ws://127.0.0.1:' + port + p);
  c.on('error', () => {});
  c.closed = new Promise((r) => c.on('close', (code) => r(code)));
  const inbox = [];
  const waiting = [];
  c.on('message', (d) => (waiting.length ? waiting.shift()(d.toString()) : inbox.push(d.toString())));
  c.next = () => new Promise((r) => (inbox.length ? r(inbox.shift()) : waiting.push(r)));
  return new Promise((res, rej) => { c.once('open', () => res(c)); c.once('close', () => rej(new Error('closed before open'))); });
}
`;

/**
 * Runs `body` (async function body) in a child process with the implementation under test.
 * Resolves { code, signal, results: Map(name -> [...]), lines, stderr } once the child exits; the
 * body must end with process.exit(0) or let the process exit by itself.
 */
function scenario(body, ms = 10000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', `${PRELUDE}\n(async () => {\n${body}\n})().catch((e) => { out('scenario error', String(e && e.stack)); process.exit(3); });`], {
      cwd: __dirname,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`scenario timed out; stdout: ${stdout} stderr: ${stderr}`));
    }, ms);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      const results = new Map();
      for (const [name, ...rest] of lines) if (!results.has(name)) results.set(name, rest);
      resolve({ code, signal, results, lines, stderr });
    });
  });
}

/** Asserts the child ran to a clean exit and returns its results. */
async function clean(body, ms) {
  const r = await scenario(body, ms);
  assert.equal(r.signal, null, `child killed by ${r.signal}; stderr: ${r.stderr}`);
  assert.equal(r.code, 0, `child exited ${r.code}; stdout: ${JSON.stringify(r.lines)} stderr: ${r.stderr}`);
  return r;
}

describe('wrong argument types', () => {
  // [call, expected message on uws-rs (a TypeError naming the argument), what v20.30 does]
  // v20.30: 'generic' = a plain Error with the generic text, 'accepts' = silently accepted (the
  // handler then blows up at its first event), 'crashes' = aborts or segfaults the process.
  const cases = [
    ["app.ws(123, {})", /pattern/, 'generic'],
    ["app.ws('/a', 5)", /behavior/, 'accepts'],
    ["app.ws('/b', { message: 5 })", /behavior\.message/, 'accepts'],
    ["app.ws('/c', { open: 'x' })", /behavior\.open/, 'accepts'],
    ["app.ws('/d', { close: {} })", /behavior\.close/, 'accepts'],
    ["app.ws('/e', { upgrade: [] })", /behavior\.upgrade/, 'accepts'],
    ["app.ws('/f', { drain: 1 })", /behavior\.drain/, 'accepts'],
    ["app.ws('/g', { maxPayloadLength: 'big' })", /maxPayloadLength/, 'accepts'],
    ["app.get(1, () => {})", /pattern/, 'generic'],
    ["app.get('/h', 1)", /handler/, 'generic'],
    ["app.post('/i', 'x')", /handler/, 'generic'],
    ["app.listen('x')", /callback/, 'generic'],
    ["app.listen('x', () => {})", /port/, 'accepts'],
    ["app.publish(1, 'x')", /topic/, 'generic'],
    ["app.publish('t', 1)", /message/, 'generic'],
    ['uWS.us_listen_socket_close(5)', /listenSocket/, 'crashes'],
  ];
  for (const [call, rsMessage, uwsDoes] of cases) {
    it(`${call} throws a TypeError naming the argument`, T, async (t) => {
      if (impl === 'uws' && uwsDoes === 'crashes') {
        // v20.30 segfaults here: only run it to document that, without asserting the RFC-less API contract.
        const r = await scenario(`const app = uWS.App(); attempt('call', () => ${call}); process.exit(0);`);
        t.diagnostic(`uws: assertion skipped (${r.signal || 'exit ' + r.code})`);
        return;
      }
      const r = await clean(`const app = uWS.App(); attempt('call', () => ${call}); process.exit(0);`);
      const got = r.results.get('call');
      if (impl === 'uws') {
        t.diagnostic(`uws: ${JSON.stringify(got)} (TypeError assertion skipped: v20.30 ${uwsDoes})`);
        if (uwsDoes === 'generic') assert.equal(got[0], 'threw');
        return;
      }
      assert.equal(got[0], 'threw', `${call} did not throw`);
      assert.equal(got[1], 'TypeError');
      assert.match(got[2], rsMessage);
    });
  }

  it('idleTimeout 3 (and 1000) is a clear Error at app.ws(), not a crash', T, async (t) => {
    const r = await scenario(`
      const app = uWS.App();
      attempt('3', () => app.ws('/a', { idleTimeout: 3 }));
      attempt('1000', () => app.ws('/b', { idleTimeout: 1000 }));
      attempt('8', () => app.ws('/c', { idleTimeout: 8 }));
      attempt('0', () => app.ws('/d', { idleTimeout: 0 }));
      process.exit(0);`);
    if (impl === 'uws') {
      // v20.30 prints "idleTimeout must be either 0 or greater than 8!" and aborts the process.
      t.diagnostic(`uws: assertion skipped (${r.signal || 'exit ' + r.code}: ${r.stderr.trim().split('\n')[0]})`);
      assert.notEqual(r.code, 0);
      return;
    }
    assert.equal(r.code, 0, r.stderr);
    for (const v of ['3', '1000']) {
      assert.deepEqual(r.results.get(v), ['threw', 'Error', 'idleTimeout must be either 0 or between 8 and 960 seconds']);
    }
    assert.equal(r.results.get('8')[0], 'ok');
    assert.equal(r.results.get('0')[0], 'ok');
  });

  it('HttpResponse and WebSocket methods: wrong data types throw TypeErrors naming the argument', T, async (t) => {
    const r = await clean(`
      const app = uWS.App();
      app.ws('/*', {
        open: (ws) => {
          attempt('ws.send(123)', () => ws.send(123));
          attempt('ws.send({})', () => ws.send({}));
          attempt('ws.send(null)', () => ws.send(null));
          attempt('ws.subscribe(5)', () => ws.subscribe(5));
          attempt('ws.publish(1, "x")', () => ws.publish(1, 'x'));
          attempt('ws.publish("t", true)', () => ws.publish('t', true));
          ws.subscribe('t');
          attempt('subscribed: ws.publish("t", true)', () => ws.publish('t', true));
          attempt('ws.end(1000, 5)', () => ws.end(1000, 5));
          attempt('still open', () => ws.send('alive'));
        },
      });
      app.get('/*', (res) => {
        attempt('res.writeHeader(1, {})', () => res.writeHeader(1, {}));
        attempt('res.writeHeader("a", 2)', () => res.writeHeader('a', 2));
        attempt('res.writeStatus(200)', () => res.writeStatus(200));
        attempt('res.write(7)', () => res.write(7));
        attempt('res.end({})', () => res.end({}));
        // v20.30 stores a non-function onData/onAborted handler and segfaults when calling it.
        if (process.env.UWS_IMPL !== 'uws') {
          attempt('res.onData(1)', () => res.onData(1));
          attempt('res.onAborted("x")', () => res.onAborted('x'));
        }
        res.end('done');
      });
      const port = listen(app);
      out('http', await get(port, '/'));
      const c = await wsClient(port);
      out('ws message', await c.next());
      c.terminate();
      process.exit(0);`);
    assert.equal(r.results.get('http')[0], '200 done');
    assert.equal(r.results.get('ws message')[0], 'alive', 'the connection survives the bad calls');
    const expect = {
      'ws.send(123)': 'message',
      'ws.send({})': 'message',
      'ws.send(null)': 'message',
      'ws.subscribe(5)': 'topic',
      'ws.publish(1, "x")': 'topic',
      'ws.publish("t", true)': 'message',
      'subscribed: ws.publish("t", true)': 'message',
      'ws.end(1000, 5)': 'message',
      'res.writeHeader(1, {})': 'key',
      'res.writeHeader("a", 2)': 'value',
      'res.writeStatus(200)': 'status',
      'res.write(7)': 'chunk',
      'res.end({})': 'body',
      'res.onData(1)': 'handler',
      'res.onAborted("x")': 'handler',
    };
    const failures = [];
    for (const [call, arg] of Object.entries(expect)) {
      const got = r.results.get(call);
      if (impl === 'uws') {
        // v20.30 throws a plain Error that does not name the argument: only "it throws" is checked.
        if (got && !['ws.end(1000, 5)'].includes(call) && got[0] !== 'threw') failures.push(`${call}: ${JSON.stringify(got)}`);
        continue;
      }
      if (got[0] !== 'threw' || got[1] !== 'TypeError' || !got[2].includes(arg)) failures.push(`${call}: ${JSON.stringify(got)} (want TypeError naming ${arg})`);
    }
    if (impl === 'uws') t.diagnostic('uws: argument-naming assertions skipped: ' + JSON.stringify([...r.results]));
    assert.deepEqual(failures, []);
  });
});

describe('use of dead objects throws, never crashes', () => {
  it('a closed WebSocket: every method throws the closed-WebSocket Error (inside close and later)', T, async () => {
    const r = await clean(`
      let saved;
      const app = uWS.App();
      app.ws('/*', {
        open: (ws) => { saved = ws; ws.end(4000, 'bye'); },
        close: (ws) => {
          attempt('close: send', () => ws.send('x'));
          attempt('close: end', () => ws.end(1000));
          attempt('close: close', () => ws.close());
        },
      });
      const port = listen(app);
      const c = await wsClient(port).catch(() => null);
      await sleep(50);
      for (const m of ['send', 'end', 'close', 'ping', 'subscribe', 'getBufferedAmount', 'cork', 'getRemoteAddressAsText']) {
        attempt('later: ' + m, () => saved[m](m === 'cork' ? () => {} : 'x'));
      }
      attempt('later: getUserData', () => saved.getUserData());
      process.exit(0);`);
    for (const [name, got] of r.results) {
      if (!name.startsWith('close:') && !name.startsWith('later:')) continue;
      if (name === 'later: getUserData') assert.equal(got[0], 'ok');
      else assert.deepEqual(got, ['threw', 'Error', CLOSED_WS], name);
    }
  });

  it('an ended HttpResponse: every method throws; the response on the wire is the first one', T, async () => {
    const r = await clean(`
      const app = uWS.App();
      let saved;
      app.get('/*', (res) => {
        saved = res;
        res.end('first');
        for (const m of ['end', 'write', 'writeStatus', 'cork', 'getWriteOffset', 'onAborted', 'tryEnd']) {
          attempt('sync: ' + m, () => res[m](m === 'cork' || m === 'onAborted' ? () => {} : 'x', 1));
        }
        attempt('sync: writeHeader', () => res.writeHeader('a', 'b'));
      });
      const port = listen(app);
      out('http', await get(port, '/'));
      attempt('later: end', () => saved.end('again'));
      process.exit(0);`);
    assert.equal(r.results.get('http')[0], '200 first');
    for (const [name, got] of r.results) {
      if (name.startsWith('sync:') || name.startsWith('later:')) assert.deepEqual(got, ['threw', 'Error', ENDED_RES], name);
    }
  });

  it('an HttpRequest used after a real await (timer) throws; the response still completes', T, async () => {
    const r = await clean(`
      const app = uWS.App();
      app.get('/:id', async (res, req) => {
        res.onAborted(() => out('aborted'));
        out('sync url', req.getUrl());
        await sleep(20);
        for (const m of ['getUrl', 'getMethod', 'getQuery', 'getHeader', 'getParameter', 'forEach', 'setYield']) {
          attempt('after await: ' + m, () => req[m](m === 'forEach' ? () => {} : m === 'getParameter' ? 0 : 'x'));
        }
        res.cork(() => res.end('late'));
      });
      const port = listen(app);
      out('http', await get(port, '/42'));
      process.exit(0);`);
    assert.equal(r.results.get('sync url')[0], '/42');
    assert.equal(r.results.get('http')[0], '200 late');
    for (const [name, got] of r.results) {
      if (name.startsWith('after await:')) assert.deepEqual(got, ['threw', 'Error', STALE_REQ], name);
    }
  });
});

describe('re-entrant calls are safe', () => {
  it('end() and close() inside close throw a catchable Error; the close completes', T, async () => {
    const r = await clean(`
      const app = uWS.App();
      app.ws('/*', {
        message: (ws) => ws.end(4001, 'x'),
        close: (ws, code) => {
          out('close code', code);
          attempt('end in close', () => ws.end(1000));
          attempt('close in close', () => ws.close());
        },
      });
      const port = listen(app);
      const c = await wsClient(port);
      c.send('go');
      out('client saw', await c.closed);
      out('http after', await get(port, '/nothing'));
      process.exit(0);`);
    assert.equal(r.results.get('close code')[0], 4001);
    assert.deepEqual(r.results.get('end in close'), ['threw', 'Error', CLOSED_WS]);
    assert.deepEqual(r.results.get('close in close'), ['threw', 'Error', CLOSED_WS]);
    assert.equal(r.results.get('client saw')[0], 4001);
  });

  it('send() inside drain is accepted and arrives after the backlog', T, async () => {
    const r = await clean(`
      const app = uWS.App();
      let drains = 0;
      app.ws('/*', {
        maxBackpressure: 64 * 1024 * 1024,
        open: (ws) => { for (let i = 0; i < 16; i++) ws.send(Buffer.alloc(256 * 1024, i), true); },
        drain: (ws) => {
          drains++;
          if (ws.getBufferedAmount() === 0 && drains < 1000) { drains = 1000; out('send in drain', ws.send('after-drain')); }
        },
      });
      const port = listen(app);
      const c = await wsClient(port);
      const got = [];
      await new Promise((res) => c.on('message', (d, bin) => { got.push(bin ? d.length : d.toString()); if (!bin) res(); }));
      out('messages', got.length, got[got.length - 1]);
      c.terminate();
      process.exit(0);`);
    assert.equal(r.results.get('send in drain')[0], 1);
    assert.deepEqual(r.results.get('messages'), [17, 'after-drain']);
  });

  it('app.close() inside a WebSocket message handler: every connection closed (1006), no more listening, process exits', T, async () => {
    const r = await clean(`
      const app = uWS.App();
      app.ws('/*', {
        message: (ws) => { out('app.close returns app', app.close() === app); attempt('send after app.close', () => ws.send('x')); },
        close: (ws, code) => out('close', code),
      });
      const port = listen(app);
      const a = await wsClient(port);
      const b = await wsClient(port);
      a.send('close everything');
      out('clients saw', await a.closed, await b.closed);
      out('http after', await get(port, '/'));
      // No process.exit: with every handle closed, the process must end by itself.`);
    assert.equal(r.results.get('app.close returns app')[0], true);
    assert.deepEqual(r.results.get('send after app.close'), ['threw', 'Error', CLOSED_WS]);
    assert.deepEqual(r.lines.filter((l) => l[0] === 'close'), [['close', 1006], ['close', 1006]]);
    assert.deepEqual(r.results.get('clients saw'), [1006, 1006]);
    assert.equal(r.results.get('http after')[0], 'failed ECONNREFUSED');
  });

  it('app.close() inside an HTTP handler: the connection is closed, nothing listens, process exits', T, async () => {
    const r = await clean(`
      const app = uWS.App();
      app.get('/close', (res) => { res.end('bye'); out('app.close returns app', app.close() === app); });
      const port = listen(app);
      out('first', await get(port, '/close'));
      out('second', await get(port, '/close'));`);
    assert.equal(r.results.get('app.close returns app')[0], true);
    // Observed on v20.30 too: closing everything right after end() drops the queued response.
    assert.match(r.results.get('first')[0], /^(200 bye|failed .*)$/);
    assert.equal(r.results.get('second')[0], 'failed ECONNREFUSED');
  });
});

describe('exceptions thrown in handlers reach uncaughtException; the server keeps serving', () => {
  const handlers = [
    ['ws open', `app.ws('/*', { open: () => { throw new Error('boom'); } });`, 'ws'],
    ['ws message', `app.ws('/*', { message: () => { throw new Error('boom'); } });`, 'ws-message'],
    ['ws close', `app.ws('/*', { close: () => { throw new Error('boom'); } });`, 'ws'],
    ['HTTP handler after responding', `app.get('/t', (res) => { res.end('x'); throw new Error('boom'); });`, 'http'],
    [
      'onData',
      `app.post('/t', (res) => { res.onAborted(() => out('aborted')); res.onData(() => { throw new Error('boom'); }); });`,
      'post',
    ],
    ['HTTP handler before responding', `app.get('/t', () => { throw new Error('boom'); });`, 'http', 'aborts'],
    ['ws upgrade', `app.ws('/*', { upgrade: () => { throw new Error('boom'); } });`, 'ws', 'aborts'],
  ];
  for (const [name, register, trigger, uwsAborts] of handlers) {
    it(`thrown in ${name}`, T, async (t) => {
      const r = await scenario(`
        const app = uWS.App();
        ${register}
        app.get('/ok', (res) => res.end('ok'));
        const port = listen(app);
        if ('${trigger}' === 'http') out('trigger', await get(port, '/t'));
        if ('${trigger}' === 'post') out('trigger', await get(port, '/t', { method: 'POST', body: 'data' }));
        if ('${trigger}'.startsWith('ws')) {
          const c = await wsClient(port).catch((e) => null);
          if (c) { if ('${trigger}' === 'ws-message') c.send('x'); await sleep(50); c.close(); await c.closed; }
          await sleep(50);
        }
        out('after', await get(port, '/ok'));
        const c2 = await wsClient(port).catch(() => null);
        if (c2) c2.terminate();
        process.exit(0);`);
      if (impl === 'uws' && uwsAborts) {
        // v20.30 aborts the process when a handler returns (here: throws) without responding or
        // attaching onAborted. uws-rs reports the exception and closes that connection instead.
        t.diagnostic(`uws: assertion skipped (process ${r.signal || 'exit ' + r.code})`);
        return;
      }
      assert.equal(r.signal, null, r.stderr);
      assert.equal(r.code, 0, `${JSON.stringify(r.lines)} ${r.stderr}`);
      assert.deepEqual(r.results.get('uncaughtException'), ['boom']);
      assert.equal(r.results.get('after')[0], '200 ok');
    });
  }
});
