'use strict';
// DeclarativeResponse (uWebSockets.js v20.4x+): a response described once, up front, and served
// for every request of a route without calling into application JS. `end()` returns the
// compiled program (an ArrayBuffer), which is what `app.get(pattern, program)` takes.
//
// Program layout (the same as uWebSockets.js, so either side's programs work): one opcode byte,
// then its operands, each a 1-byte length + UTF-8 bytes, or a 2-byte little-endian length +
// bytes for literal text:
//   1 header(key, value)  2 body starts  3 query value(key)  4 request header value(key)
//   5 text(long)          6 route parameter value(key)       0 end(long text)

const encoder = new TextEncoder();

function utf8(value) {
  if (value === undefined) return new Uint8Array(0);
  if (typeof value === 'string') return encoder.encode(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError('DeclarativeResponse: values must be strings or binary data');
}

class DeclarativeResponse {
  #bytes = [];

  #short(...values) {
    for (const v of values) {
      const b = utf8(v);
      if (b.byteLength > 0xff) throw new RangeError(`DeclarativeResponse: ${b.byteLength} bytes exceed 255`);
      this.#bytes.push(b.byteLength, ...b);
    }
  }

  #long(value) {
    const b = utf8(value);
    if (b.byteLength > 0xffff) throw new RangeError(`DeclarativeResponse: ${b.byteLength} bytes exceed 65535`);
    this.#bytes.push(b.byteLength & 0xff, b.byteLength >> 8, ...b);
  }

  writeHeader(key, value) { this.#bytes.push(1); this.#short(key, value); return this; }
  writeBody() { this.#bytes.push(2); return this; }
  writeQueryValue(key) { this.#bytes.push(3); this.#short(key); return this; }
  writeHeaderValue(key) { this.#bytes.push(4); this.#short(key); return this; }
  write(value) { this.#bytes.push(5); this.#long(value); return this; }
  writeParameterValue(key) { this.#bytes.push(6); this.#short(key); return this; }
  end(value) { this.#bytes.push(0); this.#long(value); return new Uint8Array(this.#bytes).buffer; }
}

const decoder = new TextDecoder();

/** Turns a compiled program into a route handler. */
function compileDeclarative(program) {
  const b = new Uint8Array(program);
  const steps = [];
  let i = 0;
  const short = () => {
    const n = b[i++];
    const s = decoder.decode(b.subarray(i, i + n));
    i += n;
    return s;
  };
  const long = () => {
    const n = b[i] | (b[i + 1] << 8);
    i += 2;
    const s = decoder.decode(b.subarray(i, i + n));
    i += n;
    return s;
  };
  let ended = false;
  while (i < b.length && !ended) {
    const op = b[i++];
    switch (op) {
      case 0: steps.push(['end', long()]); ended = true; break;
      case 1: steps.push(['header', short(), short()]); break;
      case 2: break; // headers and body are told apart by step kind
      case 3: steps.push(['query', short()]); break;
      case 4: steps.push(['reqHeader', short()]); break;
      case 5: steps.push(['text', long()]); break;
      case 6: steps.push(['param', short()]); break;
      default: throw new TypeError(`DeclarativeResponse: unknown opcode ${op}`);
    }
  }
  if (!ended || i > b.length) throw new TypeError('DeclarativeResponse: truncated program (end() missing)');
  return (res, req) => {
    let body = '';
    for (const step of steps) {
      switch (step[0]) {
        case 'header': res.writeHeader(step[1], step[2]); break;
        case 'query': body += req.getQuery(step[1]) ?? ''; break;
        case 'reqHeader': body += req.getHeader(step[1]); break;
        case 'param': body += req.getParameter(/^\d+$/.test(step[1]) ? Number(step[1]) : step[1]) ?? ''; break;
        case 'text': body += step[1]; break;
        case 'end': res.end(body + step[1]); break;
      }
    }
  };
}

module.exports = { DeclarativeResponse, compileDeclarative };
