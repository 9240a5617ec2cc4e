'use strict';
// Writes realistic seed inputs into fuzz/corpus/<target>/ (run: node fuzz/seeds.js).
// Layouts are documented at the top of each target and in fuzz/src/lib.rs.
const fs = require('fs');
const path = require('path');
const { frame, OP, closePayload } = require('../__test__/helpers/raw');

const root = path.join(__dirname, 'corpus');
let count = 0;
function seed(target, name, bytes) {
  const dir = path.join(root, target);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `seed-${name}`), Buffer.from(bytes));
  count++;
}

// ws_receiver / ws_receiver_split: [cfg][n][n x u16 LE][stream]
const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const m = (op, p, o = {}) => frame(op, p, { maskKey: key, ...o });
const streams = {
  text: m(OP.TEXT, 'Hello, world'),
  binary: m(OP.BINARY, Buffer.from([0, 1, 2, 255])),
  utf8: m(OP.TEXT, 'κόσμε €𐍈'),
  ext16: m(OP.BINARY, Buffer.alloc(300, 7)),
  ext64: m(OP.BINARY, Buffer.alloc(65540, 9)).subarray(0, 40), // 64-bit length, payload cut short
  frag: Buffer.concat([m(OP.TEXT, 'he', { fin: false }), m(OP.PING, 'p'), m(OP.CONT, 'l', { fin: false }), m(OP.CONT, 'lo')]),
  ctrl: Buffer.concat([m(OP.PING, 'ping'), m(OP.PONG, ''), m(OP.CLOSE, closePayload(1000, 'bye')), m(OP.TEXT, 'after')]),
  closeEmpty: m(OP.CLOSE),
  closeBad: m(OP.CLOSE, closePayload(1005, 'x')),
  closeUtf8: m(OP.CLOSE, Buffer.concat([closePayload(1000), Buffer.from([0xce, 0xff])])),
  badUtf8Split: Buffer.concat([m(OP.TEXT, Buffer.from([0x61, 0xe2]), { fin: false }), m(OP.CONT, Buffer.from([0x82, 0xac]))]),
  deflate: m(OP.TEXT, Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), { rsv: 4 }),
  unmasked: frame(OP.TEXT, 'hi', { mask: false }),
  reserved: m(3, 'x'),
  huge: Buffer.from([0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]),
  hugeHigh: Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]),
  many: Buffer.concat(Array.from({ length: 20 }, (_, i) => m(i % 2 ? OP.TEXT : OP.BINARY, 'x'.repeat(i * 7)))),
};
for (const [name, s] of Object.entries(streams)) {
  for (const cfg of [0x05, 0x04, 0x15, 0x0d, 0x07]) {
    const cuts = [1, 2, 7, Math.floor(s.length / 2), s.length - 1].filter((c) => c > 0 && c < s.length);
    const head = Buffer.alloc(2 + cuts.length * 2);
    head[0] = cfg;
    head[1] = cuts.length;
    cuts.forEach((c, i) => head.writeUInt16LE(c, 2 + i * 2));
    const whole = Buffer.concat([Buffer.from([cfg, 0]), s]);
    const cut = Buffer.concat([head, s]);
    for (const t of ['ws_receiver', 'ws_receiver_split']) {
      seed(t, `${name}-${cfg}`, whole);
      seed(t, `${name}-${cfg}-cut`, cut);
    }
  }
}

// http_request: [sel][head]
const heads = {
  get: 'GET /a/b?x=1&y=%20z+w HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n',
  post: 'POST /users/42/posts/7 HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"a":"hello"}',
  chunked: 'PUT /users/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  ws: 'GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n',
  http10: 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  absolute: 'GET http://example.com:8080/static/file.txt?q HTTP/1.1\r\nHost: example.com\r\n\r\n',
  smuggle: 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
  dupcl: 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n',
  bareLf: 'GET / HTTP/1.1\nHost: h\n\n',
  options: 'OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n',
  pipelined: 'GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /a/1 HTTP/1.1\r\nHost: h\r\n\r\n',
};
for (const [name, h] of Object.entries(heads)) {
  for (const sel of [1, 2, 3]) seed('http_request', `${name}-${sel}`, Buffer.concat([Buffer.from([sel]), Buffer.from(h, 'latin1')]));
  seed('handshake', name, Buffer.concat([Buffer.from([1]), Buffer.from(h, 'latin1')]));
}
seed('handshake', 'fields', Buffer.from('\x00GET\x00websocket\x00Upgrade\x00dGhlIHNhbXBsZSBub25jZQ==\x0013', 'latin1'));
seed('handshake', 'fields-bad', Buffer.from('\x00GET\x00WebSocket\x00keep-alive, Upgrade\x00 AAAAAAAAAAAAAAAAAAAAAA== \x0013 ', 'latin1'));

// router: [flags]METHOD URL\nPATTERN...
const urls = ['/', '/a', '/a/', '/a/1', '/a/1/b', '/a/1/c', '/a/1/b/c', '/x/y', '/ws', '/ws/chat', '/static/file.txt',
  '/users/9/posts/3', '/users/', '/any/thing/else', '', '//', '/a//b', '/%2f/x'];
for (const [i, u] of urls.entries()) {
  for (const method of ['get', 'post', 'put', 'delete', 'patch', 'brew']) {
    seed('router', `${i}-${method}`, Buffer.from(`\x00${method} ${u}`, 'latin1'));
  }
  seed('router', `${i}-extra`, Buffer.from(`\x19get ${u}\n/a/:p/*\n/:q\n/*`, 'latin1'));
  seed('router', `${i}-remove`, Buffer.from(`\x0bget ${u}\n/a/b`, 'latin1'));
}

// multipart: CONTENT-TYPE\nBODY
const B = '----formdata-undici-032758389864';
const body = `--${B}\r\nContent-Disposition: form-data; name="field1"\r\n\r\nvalue1\r\n` +
  `--${B}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n` +
  `--${B}\r\nContent-Disposition: form-data; name="empty"\r\n\r\n\r\n--${B}--\r\n`;
seed('multipart', 'undici', `multipart/form-data; boundary=${B}\n${body}`);
seed('multipart', 'quoted', `multipart/form-data; boundary="${B}"; charset=utf-8\n${body}`);
seed('multipart', 'short', `multipart/mixed; boundary=x\n--x\r\nContent-Type: a\r\n\r\nd\r\n--x--`);
seed('multipart', 'noheaders', `multipart/form-data; boundary=b\n--b\r\n\r\n\r\n--b\r\n\r\nzz\r\n--b--`);

// chunked: [cfg][n][n x u16 LE][stream]
const chunks = {
  simple: '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
  ext: '5;name=value\r\nhello\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\nNEXT',
  hex: 'A\r\n0123456789\r\nff\r\n' + 'x'.repeat(255) + '\r\n0\r\n\r\n',
  upper: '1F\r\n' + 'y'.repeat(31) + '\r\n0\r\n\r\n',
  bareLf: '5\nhello\n0\n\n',
  big: 'fffffffffffff\r\n',
  leading: '0005\r\nhello\r\n00\r\n\r\n',
};
for (const [name, s] of Object.entries(chunks)) {
  seed('chunked', name, Buffer.concat([Buffer.from([0, 0]), Buffer.from(s)]));
  seed('chunked', `${name}-cut`, Buffer.concat([Buffer.from([0, 2, 3, 0, 9, 0]), Buffer.from(s)]));
}

// deflate: [cfg][n][n x u16 LE][stream]; bit 6 = raw inflate, else round trip.
const zlib = require('zlib');
const raw = (s, bits = 15) => {
  const z = zlib.deflateRawSync(Buffer.from(s), { windowBits: bits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return z.subarray(0, z.length - 4); // strip 00 00 ff ff (RFC 7692 7.2.1)
};
const texts = ['Hello', 'Hello, Hello, Hello, Hello!', JSON.stringify({ a: [1, 2, 3], b: 'x'.repeat(300) }), 'κόσμε'.repeat(50), ''];
for (const cfg of [0x0e, 0x06, 0x08, 0x30, 0x80]) {
  const s = Buffer.from(texts.join(''));
  const cuts = [];
  let at = 0;
  for (const t of texts) cuts.push((at += Buffer.byteLength(t)));
  const head = Buffer.alloc(2 + cuts.length * 2);
  head[0] = cfg;
  head[1] = cuts.length;
  cuts.forEach((c, i) => head.writeUInt16LE(c, 2 + i * 2));
  seed('deflate', `roundtrip-${cfg}`, Buffer.concat([head, s]));
}
for (const [i, t] of texts.entries()) {
  for (const cfg of [0x4e, 0x46, 0xc8]) seed('deflate', `raw-${i}-${cfg}`, Buffer.concat([Buffer.from([cfg, 0]), raw(t, (cfg & 7) % 7 + 9)]));
}
seed('deflate', 'raw-bomb', Buffer.concat([Buffer.from([0xce, 0]), raw(Buffer.alloc(100000))]));
seed('deflate', 'raw-hello-again', Buffer.from([0x4e, 1, 7, 0, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xf2, 0x00, 0x11, 0x00, 0x00]));
console.log(`wrote ${count} seeds under ${path.relative(process.cwd(), root)}`);
