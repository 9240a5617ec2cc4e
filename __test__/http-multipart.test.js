'use strict';
// uWS.getParts(body, contentType) compatibility, with multipart bodies produced by Node's own
// FormData encoder (new Response(formData) gives the exact wire bytes and content-type).
// Expectations were recorded against the real uWebSockets.js v20.30 (UWS_IMPL=uws).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { uWS, startApp, impl } = require('./helpers/http');

const T = { timeout: 5000 };
const text = (ab) => Buffer.from(ab).toString('utf8');

async function encode(fd) {
  const r = new Response(fd);
  return { contentType: r.headers.get('content-type'), body: await r.arrayBuffer() };
}

function sampleForm() {
  const fd = new FormData();
  fd.append('name', 'Ada Lovelace');
  fd.append('empty', '');
  fd.append('file', new Blob([new Uint8Array([0, 1, 2, 255, 13, 10, 45, 45])], { type: 'application/octet-stream' }), 'a.bin');
  fd.append('utf', 'héllo ✓');
  fd.append('notes', new Blob(['plain text'], { type: 'text/plain' }), 'notes.txt');
  return fd;
}

test('text fields, an empty field and files with filename and type', T, async () => {
  const { contentType, body } = await encode(sampleForm());
  assert.match(contentType, /^multipart\/form-data; boundary=/);
  const parts = uWS.getParts(body, contentType);
  assert.ok(Array.isArray(parts));
  assert.equal(parts.length, 5);
  assert.deepEqual(parts.map((p) => p.name), ['name', 'empty', 'file', 'utf', 'notes']);
  for (const p of parts) assert.ok(p.data instanceof ArrayBuffer);

  assert.equal(text(parts[0].data), 'Ada Lovelace');
  assert.equal(parts[0].filename, undefined);
  assert.equal(parts[0].type, undefined);
  assert.deepEqual(Object.keys(parts[0]).sort(), ['data', 'name']);

  assert.equal(parts[1].data.byteLength, 0);

  assert.deepEqual([...new Uint8Array(parts[2].data)], [0, 1, 2, 255, 13, 10, 45, 45]);
  assert.equal(parts[2].filename, 'a.bin');
  assert.equal(parts[2].type, 'application/octet-stream');
  assert.deepEqual(Object.keys(parts[2]).sort(), ['data', 'filename', 'name', 'type']);

  assert.equal(text(parts[3].data), 'héllo ✓');
  assert.equal(text(parts[4].data), 'plain text');
  assert.equal(parts[4].filename, 'notes.txt');
  assert.equal(parts[4].type, 'text/plain');
});

test('body may be an ArrayBuffer, a Buffer/Uint8Array or a (latin1) string', T, async () => {
  const { contentType, body } = await encode(sampleForm());
  assert.equal(uWS.getParts(Buffer.from(body), contentType).length, 5);
  assert.equal(uWS.getParts(new Uint8Array(body), contentType).length, 5);
  const b = 'XyZ';
  const raw = `--${b}\r\nContent-Disposition: form-data; name="k"\r\n\r\nv\r\n--${b}--\r\n`;
  const parts = uWS.getParts(raw, `multipart/form-data; boundary=${b}`);
  assert.equal(parts.length, 1);
  assert.equal(parts[0].name, 'k');
  assert.equal(text(parts[0].data), 'v');
});

test('Content-Disposition parameters in any order, unquoted name, lower-case header name', T, () => {
  const b = 'BND';
  const raw = `--${b}\r\nContent-Disposition: form-data; filename="f.txt"; name="n"\r\nContent-Type: text/plain\r\n\r\nDATA\r\n` +
    `--${b}\r\ncontent-disposition: form-data; name=n2\r\n\r\nD2\r\n--${b}--\r\n`;
  const parts = uWS.getParts(raw, `multipart/form-data; boundary=${b}`);
  assert.equal(parts.length, 2);
  assert.deepEqual([parts[0].name, parts[0].filename, parts[0].type, text(parts[0].data)], ['n', 'f.txt', 'text/plain', 'DATA']);
  assert.deepEqual([parts[1].name, text(parts[1].data)], ['n2', 'D2']);
});

test('non-multipart content type -> undefined', T, async () => {
  const { body } = await encode(sampleForm());
  assert.equal(uWS.getParts(body, 'application/json'), undefined);
  assert.equal(uWS.getParts(body, 'text/plain'), undefined);
  assert.equal(uWS.getParts(body, 'application/x-www-form-urlencoded'), undefined);
  assert.equal(uWS.getParts(body, 'multipart/form-data'), undefined, 'no boundary parameter');
});

test('any multipart/* subtype is accepted; no space needed after ";"', T, async () => {
  const { contentType, body } = await encode(sampleForm());
  const boundary = contentType.split('boundary=')[1];
  assert.equal(uWS.getParts(body, `multipart/mixed; boundary=${boundary}`).length, 5);
  assert.equal(uWS.getParts(body, `multipart/form-data;boundary=${boundary}`).length, 5);
  assert.equal(uWS.getParts(body, `text/plain; boundary=${boundary}`), undefined);
});

test('media type and parameters are parsed per RFC 9110 8.3.1 (case-insensitive, any order)', {
  ...T,
  // v20.30 bugs: "Multipart/Form-Data" returns undefined (case-sensitive prefix check), and a
  // boundary next to other parameters ("; charset=utf-8") returns [].
  skip: impl === 'uws' ? 'v20.30 is case-sensitive and mis-parses extra parameters' : false,
}, async () => {
  const { contentType, body } = await encode(sampleForm());
  const boundary = contentType.split('boundary=')[1];
  assert.equal(uWS.getParts(body, `Multipart/Form-Data; boundary=${boundary}`).length, 5);
  assert.equal(uWS.getParts(body, `multipart/form-data; charset=utf-8; boundary=${boundary}`).length, 5);
  assert.equal(uWS.getParts(body, `multipart/form-data; boundary=${boundary}; charset=utf-8`).length, 5);
});

test('wrong boundary, empty body, or an empty form -> []', T, async () => {
  const { contentType, body } = await encode(sampleForm());
  assert.deepEqual(uWS.getParts(body, 'multipart/form-data; boundary=nope'), []);
  assert.deepEqual(uWS.getParts(new ArrayBuffer(0), contentType), []);
  const empty = await encode(new FormData());
  assert.deepEqual(uWS.getParts(empty.body, empty.contentType), []);
});

test('quoted boundary parameter is unquoted (RFC 2046 5.1.1)', {
  ...T,
  // v20.30 bug: boundary="..." keeps the quotes, so nothing matches and it returns [].
  skip: impl === 'uws' ? 'v20.30 does not unquote the boundary' : false,
}, async () => {
  const { contentType, body } = await encode(sampleForm());
  const boundary = contentType.split('boundary=')[1];
  assert.equal(uWS.getParts(body, `multipart/form-data; boundary="${boundary}"`).length, 5);
});

test('getParts on a body collected with onData in a real request', T, async () => {
  const { contentType, body } = await encode(sampleForm());
  let result;
  const srv = await startApp((app) => app.post('/upload', (res, req) => {
    const ct = req.getHeader('content-type');
    const chunks = [];
    res.onAborted(() => {});
    res.onData((c, last) => {
      chunks.push(Buffer.from(new Uint8Array(c)));
      if (last) {
        const parts = uWS.getParts(Buffer.concat(chunks), ct);
        result = parts && parts.map((p) => [p.name, p.filename || null, p.data.byteLength]);
        res.end(JSON.stringify(result));
      }
    });
  }));
  try {
    const res = await fetch(`http://127.0.0.1:${srv.port}/upload`, {
      method: 'POST', body: Buffer.from(body), headers: { 'content-type': contentType, connection: 'close' },
    });
    assert.deepEqual(await res.json(), [['name', null, 12], ['empty', null, 0], ['file', 'a.bin', 8], ['utf', null, 10], ['notes', 'notes.txt', 10]]);
  } finally { srv.close(); }
});
