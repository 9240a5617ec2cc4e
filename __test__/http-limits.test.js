'use strict';
// Limits and bad input over raw TCP. Every bad request is followed by a check that the server
// still serves other clients.
//
// What the real uWebSockets.js v20.30 does (UWS_IMPL=uws), recorded by these tests:
//  - a request it cannot parse (garbage request line, HTTP/1.0, missing Host, bare LF line
//    endings, too many headers, obs-fold, space before colon...) gets NO response and the
//    connection is left open until the HTTP idle timeout (~10 s); the handler is not called.
//  - an oversized header block (> ~125 KiB) is answered with a TCP reset, no bytes.
//  - Content-Length + Transfer-Encoding: closed at once, no bytes, handler not called.
//  - an invalid Content-Length ("abc", "-1"): the handler IS called, then onAborted fires and
//    the connection is closed, no bytes.
// The RFC 9112 answer (400 / 431, then close) is asserted for uws-rs only, skipped for 'uws'.
// Deliberate differences of uws-rs: heads larger than UWS_HTTP_MAX_HEADERS_SIZE (default 4096,
// as uWS v20.6x) -> 431; more than 100 headers or an unparsable head -> 400; both then close
// (the rest of an oversized head is drained so the client reads the answer, not a reset).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startApp, rawRequest, reqText, spawnServer, sleep, impl } = require('./helpers/http');

const T = { timeout: 8000 };
const RFC_SKIP = impl === 'uws' ? 'v20.30 sends no response to bad requests (see file header)' : false;
let srv;
const seen = []; // urls that reached a handler
const aborted = []; // urls whose onAborted fired

before(async () => {
  srv = await startApp((app) => {
    app.any('/*', (res, req) => {
      const url = req.getUrl();
      let n = 0;
      req.forEach(() => n++);
      seen.push(url);
      let len = 0;
      res.onAborted(() => aborted.push(url));
      res.onData((c, last) => { len += c.byteLength; if (last) res.end(`url=${url} headers=${n} body=${len}`); });
    });
  });
});
after(() => srv.close());

const headerLines = (n) => Array.from({ length: n }, (_, i) => `X-H${i}: v`);

async function assertServing() {
  const r = await rawRequest(srv.port, reqText('GET', '/still-serving'));
  assert.equal(r.responses.length, 1, `server stopped serving: ${JSON.stringify(r.text)}`);
  assert.equal(r.responses[0].body.toString(), 'url=/still-serving headers=1 body=0');
}

// Common expectation for both implementations: no success response within `ms`, the handler
// for `url` is not called (when handlerMayRun is false), and other clients are still served.
async function assertNotServed(raw, { url, ms = 400, handlerMayRun = false } = {}) {
  const r = await rawRequest(srv.port, raw, { timeout: ms, expect: 1 });
  for (const resp of r.responses) assert.ok(resp.status >= 400, `got success for bad request: ${resp.statusLine}`);
  if (url && !handlerMayRun) assert.ok(!seen.includes(url), `handler ran for ${url}`);
  if (url && handlerMayRun && seen.includes(url)) {
    await sleep(50);
    assert.ok(aborted.includes(url), `handler ran for ${url} but onAborted did not fire`);
  }
  await assertServing();
  return r;
}

// RFC behaviour (uws-rs): an error status, then the connection is closed.
async function assertErrorAndClose(raw, status, { lingerMs = 1000 } = {}) {
  const r = await rawRequest(srv.port, raw, { timeout: 2000, lingerMs });
  assert.equal(r.responses.length, 1, `expected a ${status} response, got ${JSON.stringify(r.text)}`);
  assert.equal(r.responses[0].status, status, r.responses[0].statusLine);
  assert.equal(r.closed, true, 'connection must be closed after the error response');
  await assertServing();
  return r;
}

// A server in a child process: UWS_HTTP_MAX_HEADERS_SIZE is read once per process.
function headerLimitServer(env) {
  return spawnServer(`
    const app = uWS.App();
    app.any('/*', (res, req) => { let n = 0; req.forEach(() => n++); res.end(\`url=\${req.getUrl()} headers=\${n}\`); });
    app.listen('127.0.0.1', 0, (t) => __report({ port: uWS.us_socket_local_port(t) }));
  `, { env });
}

test('a 16 KiB header block and 40 headers are accepted', { timeout: 15000 }, async () => {
  // v20.30 accepts ~125 KiB by default; uws-rs defaults to 4 KiB (deliberate difference, as
  // uWS v20.6x), so it needs UWS_HTTP_MAX_HEADERS_SIZE for this case.
  const child = headerLimitServer(impl === 'uws' ? {} : { UWS_HTTP_MAX_HEADERS_SIZE: String(20 * 1024) });
  try {
    const { port } = await child.report(0);
    let r = await rawRequest(port, reqText('GET', '/big-ok', [`X-Big: ${'a'.repeat(16 * 1024)}`]));
    assert.equal(r.responses[0]?.body.toString(), 'url=/big-ok headers=2');
    r = await rawRequest(port, reqText('GET', '/count-ok', headerLines(40)));
    assert.equal(r.responses[0]?.body.toString(), 'url=/count-ok headers=41');
  } finally { child.kill(); }
});

test('default header limit is 4 KiB (UWS_HTTP_MAX_HEADERS_SIZE): 3 KiB served, 5 KiB -> 431 and close', {
  ...T,
  // Deliberate difference: v20.30 has no such variable and a ~125 KiB limit.
  skip: RFC_SKIP,
}, async () => {
  let r = await rawRequest(srv.port, reqText('GET', '/3k', [`X-Big: ${'a'.repeat(3 * 1024)}`]));
  assert.equal(r.responses[0]?.body.toString(), 'url=/3k headers=2 body=0');
  await assertErrorAndClose(reqText('GET', '/5k', [`X-Big: ${'a'.repeat(5 * 1024)}`]), 431);
  assert.ok(!seen.includes('/5k'));
});

test('UWS_HTTP_MAX_HEADERS_SIZE=1000: a 1200-byte head -> 431', {
  timeout: 15000,
  skip: RFC_SKIP,
}, async () => {
  const child = headerLimitServer({ UWS_HTTP_MAX_HEADERS_SIZE: '1000' });
  try {
    const { port } = await child.report(0);
    let r = await rawRequest(port, reqText('GET', '/small', [`X-A: ${'a'.repeat(800)}`]));
    assert.equal(r.responses[0]?.body.toString(), 'url=/small headers=2');
    r = await rawRequest(port, reqText('GET', '/big', [`X-A: ${'a'.repeat(1200)}`]), { lingerMs: 500 });
    assert.equal(r.responses[0]?.status, 431);
    assert.equal(r.closed, true);
  } finally { child.kill(); }
});

test('1 MiB header block: rejected, handler not called, no bytes, server keeps serving', T, async () => {
  const raw = reqText('GET', '/huge', [`X-Big: ${'a'.repeat(1024 * 1024)}`]);
  const r = await assertNotServed(raw, { url: '/huge', ms: 1000 });
  if (impl === 'uws') { assert.equal(r.text, ''); assert.equal(r.closed, true, 'v20.30 resets the connection'); }
});

test('1 MiB header block -> 431 and close (RFC 6585)', { ...T, skip: RFC_SKIP }, async () => {
  await assertErrorAndClose(reqText('GET', '/huge', [`X-Big: ${'a'.repeat(1024 * 1024)}`]), 431);
});

test('more than 100 headers: rejected, handler not called, server keeps serving', T, async () => {
  await assertNotServed(reqText('GET', '/many', headerLines(101)), { url: '/many' });
});

test('more than 100 headers -> 400 and close', { ...T, skip: RFC_SKIP }, async () => {
  await assertErrorAndClose(reqText('GET', '/many', headerLines(101)), 400);
});

const BAD = [
  ['garbage request line', 'GARBAGE\r\n\r\n', null],
  ['bare LF line endings', 'GET /lf HTTP/1.1\nHost: t\n\n', '/lf'],
  ['missing Host (HTTP/1.1)', 'GET /nohost HTTP/1.1\r\n\r\n', '/nohost'],
  ['space before colon', 'GET /spc HTTP/1.1\r\nHost: t\r\nX-A : 1\r\n\r\n', '/spc'],
  ['header line without colon', 'GET /nocolon HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n', '/nocolon'],
  ['obs-fold continuation line', 'GET /fold HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n', '/fold'],
  ['unsupported major version', 'GET /v2 HTTP/2.0\r\nHost: t\r\n\r\n', '/v2'],
];

for (const [name, raw, url] of BAD) {
  test(`${name}: not served, server keeps serving`, T, async () => {
    const r = await assertNotServed(raw, { url });
    if (impl === 'uws') {
      assert.equal(r.text, '', 'v20.30 sends nothing');
      assert.equal(r.closed, false, 'v20.30 leaves the connection open (until the idle timeout)');
    }
  });
}

test('garbage request line -> 400 and close', { ...T, skip: RFC_SKIP }, async () => {
  await assertErrorAndClose('GARBAGE\r\n\r\n', 400);
});

test('missing Host in HTTP/1.1 -> 400 and close (RFC 9112 3.2)', { ...T, skip: RFC_SKIP }, async () => {
  await assertErrorAndClose('GET /nohost HTTP/1.1\r\n\r\n', 400);
});

test('whitespace between field name and colon -> 400 and close (RFC 9112 5.1)', { ...T, skip: RFC_SKIP }, async () => {
  await assertErrorAndClose('GET /spc HTTP/1.1\r\nHost: t\r\nX-A : 1\r\n\r\n', 400);
});

test('bare LF line endings -> 400 and close', {
  ...T,
  skip: RFC_SKIP,
  // RFC 9112 2.2 lets a server either accept bare LF or reject the message; v20.30 never serves
  // it, so a drop-in rejects it (400) rather than serving it.
}, async () => {
  await assertErrorAndClose('GET /lf2 HTTP/1.1\nHost: t\n\n', 400);
});

test('Content-Length + Transfer-Encoding: connection closed promptly, never served', T, async () => {
  const raw = reqText('POST', '/clte', ['Content-Length: 3', 'Transfer-Encoding: chunked'], '3\r\nabc\r\n0\r\n\r\n');
  const r = await rawRequest(srv.port, raw, { timeout: 1000, lingerMs: 1000 });
  assert.equal(r.closed, true, 'must close the connection (RFC 9112 6.1)');
  for (const resp of r.responses) assert.equal(resp.status, 400);
  assert.ok(!seen.includes('/clte'), 'handler must not run');
  if (impl === 'uws') assert.equal(r.text, '');
  await assertServing();
});

for (const [name, cl] of [['non-numeric', 'abc'], ['negative', '-1'], ['with a plus sign', '+3']]) {
  test(`invalid Content-Length (${name}): closed promptly, never answered 2xx`, T, async () => {
    const url = `/badcl-${name.replace(/\W/g, '')}`;
    const r = await rawRequest(srv.port, reqText('POST', url, [`Content-Length: ${cl}`], 'abc'), { timeout: 1000, lingerMs: 1000 });
    assert.equal(r.closed, true);
    for (const resp of r.responses) assert.equal(resp.status, 400);
    // v20.30 calls the handler and then onAborted; uws-rs may reject before routing
    if (seen.includes(url)) { await sleep(50); assert.ok(aborted.includes(url), 'onAborted must fire'); }
    if (impl === 'uws') assert.equal(r.text, '');
    await assertServing();
  });
}

test('differing duplicate Content-Length -> 400 and close (RFC 9112 6.3)', {
  ...T,
  // v20.30 uses the first value and treats the rest of the body as the next request.
  skip: impl === 'uws' ? 'v20.30 uses the first Content-Length' : false,
}, async () => {
  await assertErrorAndClose(reqText('POST', '/dupcl', ['Content-Length: 3', 'Content-Length: 4'], 'abcd'), 400);
});

test('malformed chunk size: connection closed, onAborted fires', T, async () => {
  const raw = reqText('POST', '/badchunk', ['Transfer-Encoding: chunked'], 'zz\r\nabc\r\n0\r\n\r\n');
  const r = await rawRequest(srv.port, raw, { timeout: 1000, lingerMs: 1000 });
  assert.equal(r.closed, true);
  for (const resp of r.responses) assert.equal(resp.status, 400);
  if (seen.includes('/badchunk')) { await sleep(50); assert.ok(aborted.includes('/badchunk')); }
  await assertServing();
});

test('many bad connections in parallel do not disturb a good one', T, async () => {
  const bad = Array.from({ length: 20 }, (_, i) => rawRequest(srv.port, i % 2 ? 'GARBAGE\r\n\r\n' : 'GET /x HTTP/1.1\nHost: t\n\n', { timeout: 300 }));
  const good = rawRequest(srv.port, reqText('GET', '/good'));
  const [g] = await Promise.all([good, ...bad]);
  assert.equal(g.responses[0].body.toString(), 'url=/good headers=1 body=0');
});

// --- handler that returns without responding and without onAborted (child process) -------

const NO_RESPONSE_MSG = 'Returning from a request handler without responding or attaching an abort handler is forbidden!';

test('handler returns without responding and without onAborted', { timeout: 15000 }, async () => {
  // v20.30 prints "Error: <msg>" + "terminate called without an active exception" on stderr
  // and aborts the whole process (SIGABRT). uws-rs must report the same message loudly
  // (stderr or an uncaughtException) and may keep running instead of aborting.
  const child = spawnServer(`
    process.on('uncaughtException', (e) => __report({ uncaught: e.message }));
    const app = uWS.App();
    app.get('/bad', () => {});
    app.get('/ok', (res) => res.end('ok'));
    app.listen('127.0.0.1', 0, (t) => { global.t = t; __report({ port: uWS.us_socket_local_port(t) }); });
  `);
  try {
    const { port } = await child.report(0);
    const r = await rawRequest(port, reqText('GET', '/bad'), { timeout: 1000 });
    assert.equal(r.responses.length, 0);
    if (impl === 'uws') {
      const { signal } = await child.exited;
      assert.equal(signal, 'SIGABRT');
      assert.ok(child.stderr.includes(`Error: ${NO_RESPONSE_MSG}`), child.stderr);
    } else {
      await sleep(200);
      const rep = await child.report(1, 500).catch(() => null);
      assert.ok(child.stderr.includes(NO_RESPONSE_MSG) || (rep && String(rep.uncaught).includes(NO_RESPONSE_MSG)),
        `expected the error to be reported; stderr=${child.stderr}`);
      const ok = await rawRequest(port, reqText('GET', '/ok'));
      assert.equal(ok.responses[0]?.body.toString(), 'ok', 'uws-rs keeps serving');
    }
  } finally { child.kill(); }
});

test('handler that throws: the exception reaches uncaughtException', { timeout: 15000 }, async () => {
  // v20.30 delivers the exception to process 'uncaughtException'; since the handler also did
  // not respond, it then aborts (SIGABRT) with the message above.
  const child = spawnServer(`
    process.on('uncaughtException', (e) => __report({ uncaught: e.message }));
    const app = uWS.App();
    app.get('/throw', (res) => { res.onAborted(() => {}); throw new Error('boom'); });
    app.get('/ok', (res) => res.end('ok'));
    app.listen('127.0.0.1', 0, (t) => { __report({ port: uWS.us_socket_local_port(t) }); });
  `);
  try {
    const { port } = await child.report(0);
    rawRequest(port, reqText('GET', '/throw'), { timeout: 1000 });
    const rep = await child.report(1, 3000);
    assert.equal(rep.uncaught, 'boom');
    const ok = await rawRequest(port, reqText('GET', '/ok'));
    assert.equal(ok.responses[0]?.body.toString(), 'ok', 'server keeps serving after a throwing handler');
  } finally { child.kill(); }
});
