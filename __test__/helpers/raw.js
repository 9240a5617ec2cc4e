'use strict';
// Raw-socket helpers for WebSocket tests: handshake over `net`, building (masked) client frames,
// and parsing server frames from a byte stream.
const net = require('node:net');
const crypto = require('node:crypto');

const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa };

/** Builds one frame. opts: { fin=true, rsv=0 (3 bits), mask=true, maskKey, len (override declared length) } */
function frame(opcode, payload = Buffer.alloc(0), opts = {}) {
  const { fin = true, rsv = 0, mask = true } = opts;
  payload = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = payload.length;
  let header;
  if (len < 126) {
    header = Buffer.alloc(2);
    header[1] = len;
  } else if (len < 65536) {
    header = Buffer.alloc(4);
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  header[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  if (!mask) return Buffer.concat([header, payload]);
  header[1] |= 0x80;
  const key = opts.maskKey || crypto.randomBytes(4);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([header, key, masked]);
}

/** Close frame payload: 2-byte code + reason (reason may be a Buffer). code undefined -> empty payload. */
function closePayload(code, reason = '') {
  if (code === undefined) return Buffer.alloc(0);
  const r = Buffer.isBuffer(reason) ? reason : Buffer.from(reason);
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

/** Incremental parser for (unmasked) server frames. */
class FrameReader {
  constructor() {
    this.chunks = []; // pending bytes, concatenated lazily (keeps large payloads O(n))
    this.pending = 0;
    this.need = 2; // bytes needed before parsing is worth attempting
    this.frames = [];
    this.bytes = 0; // total bytes received
  }
  push(chunk) {
    this.chunks.push(chunk);
    this.pending += chunk.length;
    this.bytes += chunk.length;
    if (this.pending < this.need) return;
    let b = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    for (;;) {
      this.need = 2;
      if (b.length < 2) break;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        this.need = 4;
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        this.need = 10;
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      const masked = (b[1] & 0x80) !== 0;
      if (masked) off += 4;
      this.need = off + len;
      if (b.length < off + len) break;
      const payload = Buffer.from(b.subarray(off, off + len));
      if (masked) {
        const key = b.subarray(off - 4, off);
        for (let i = 0; i < len; i++) payload[i] ^= key[i & 3];
      }
      const f = { fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f, masked, payload };
      if (f.opcode === OP.CLOSE) {
        f.code = payload.length >= 2 ? payload.readUInt16BE(0) : undefined;
        f.reason = payload.subarray(2).toString();
      }
      this.frames.push(f);
      b = b.subarray(off + len);
    }
    this.chunks = b.length ? [b] : [];
    this.pending = b.length;
  }
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/**
 * A raw TCP client. Collects all received bytes; after the handshake, parses frames.
 * Methods return promises bounded by timeouts.
 */
class RawClient {
  constructor(port, host = '127.0.0.1') {
    this.socket = net.connect(port, host);
    this.socket.setNoDelay(true);
    this.data = Buffer.alloc(0); // all bytes received before the handshake completed
    this.reader = null; // FrameReader after the handshake
    this.ended = false; // peer FIN received
    this.closed = false;
    this.waiters = new Set();
    this.socket.on('data', (c) => this._onData(c));
    this.socket.on('end', () => {
      this.ended = true;
      this._wake();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this._wake();
    });
    this.socket.on('error', () => {});
    this.connected = new Promise((res, rej) => {
      this.socket.once('connect', res);
      this.socket.once('error', rej);
    });
  }
  _onData(c) {
    if (this.reader) this.reader.push(c);
    else {
      this.data = Buffer.concat([this.data, c]);
      const idx = this.data.indexOf('\r\n\r\n');
      if (this.upgrading && idx >= 0) {
        this.headerText = this.data.subarray(0, idx).toString('latin1');
        const rest = this.data.subarray(idx + 4);
        this.reader = new FrameReader();
        if (rest.length) this.reader.push(rest);
      }
    }
    this._wake();
  }
  _wake() {
    for (const w of [...this.waiters]) w();
  }
  /** Resolves when pred() is truthy (re-checked on each event). */
  waitFor(pred, ms = 3000, what = 'condition') {
    let check;
    return withTimeout(
      new Promise((res) => {
        check = () => {
          const v = pred();
          if (v) {
            this.waiters.delete(check);
            res(v);
          }
        };
        this.waiters.add(check);
        check();
      }),
      ms,
      what
    ).finally(() => this.waiters.delete(check));
  }
  write(buf) {
    this.socket.write(buf);
  }
  /** Sends an HTTP request head verbatim. */
  sendRaw(text) {
    this.socket.write(text);
  }
  /** Performs a standard WebSocket handshake; resolves with the response head text. */
  async handshake(path = '/', extraHeaders = {}, opts = {}) {
    await this.connected;
    const key = opts.key !== undefined ? opts.key : crypto.randomBytes(16).toString('base64');
    const headers = {
      Host: 'localhost',
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Key': key,
      'Sec-WebSocket-Version': '13',
      ...extraHeaders,
    };
    let head = `${opts.method || 'GET'} ${path} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(headers)) if (v !== null) head += `${k}: ${v}\r\n`;
    this.upgrading = true;
    this.socket.write(head + '\r\n');
    await this.waitFor(() => this.headerText || this.ended, 3000, 'handshake response');
    if (!this.headerText) throw new Error('connection ended during handshake: ' + this.data.toString('latin1'));
    this.key = key;
    return this.headerText;
  }
  /** Waits for a server frame matching pred (default: any), removing and returning it. */
  async nextFrame(pred = () => true, ms = 3000) {
    let found;
    await this.waitFor(
      () => {
        const i = this.reader ? this.reader.frames.findIndex(pred) : -1;
        if (i >= 0) {
          found = this.reader.frames.splice(i, 1)[0];
          return true;
        }
        return false;
      },
      ms,
      'server frame'
    );
    return found;
  }
  /** Waits for the server to close the TCP connection (FIN or close). */
  waitEnd(ms = 3000) {
    return this.waitFor(() => this.ended || this.closed, ms, 'server end of connection');
  }
  /** Resolves with everything received (raw) once the server ended the connection or ms passed. */
  async collectUntilEnd(ms = 1000) {
    try {
      await this.waitEnd(ms);
    } catch {}
    return this.data;
  }
  destroy() {
    this.socket.destroy();
  }
}

function acceptKey(key) {
  return crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
}

module.exports = { OP, frame, closePayload, FrameReader, RawClient, acceptKey, withTimeout };
