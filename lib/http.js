'use strict';
// HttpResponse and HttpRequest: handles onto the response being written and the request being
// handled. The addon checks every call: a finished response or a request past its handler throws.

const native = require('./native.js');
const { WebSocketContext } = require('./handles.js');

const ABORTED = 0, WRITABLE = 1, DATA = 2, DATA_V2 = 3;

class HttpResponse {
  #key;
  #seq;
  constructor(key, seq) {
    this.#key = key;
    this.#seq = seq;
  }
  writeStatus(status) { native.resWriteStatus(this.#key, this.#seq, status); return this; }
  writeHeader(key, value) { native.resWriteHeader(this.#key, this.#seq, key, value); return this; }
  end(body, closeConnection) { native.resEnd(this.#key, this.#seq, body, closeConnection); return this; }
  endWithoutBody(reportedContentLength, closeConnection) {
    native.resEndWithoutBody(this.#key, this.#seq, reportedContentLength, closeConnection);
    return this;
  }
  tryEnd(fullBodyOrChunk, totalSize) { return native.resTryEnd(this.#key, this.#seq, fullBodyOrChunk, totalSize); }
  write(chunk) { return native.resWrite(this.#key, this.#seq, chunk); }
  getWriteOffset() { return native.resWriteOffset(this.#key, this.#seq); }
  onWritable(handler) { native.resOn(this.#key, this.#seq, WRITABLE, handler); return this; }
  onAborted(handler) { native.resOn(this.#key, this.#seq, ABORTED, handler); return this; }
  onData(handler) { native.resOn(this.#key, this.#seq, DATA, handler); return this; }
  /** v20.6x: handler(chunk, maxRemainingBodyLength: bigint); 0n marks the last chunk. */
  onDataV2(handler) { native.resOn(this.#key, this.#seq, DATA_V2, handler); return this; }
  /** v20.6x: handler(body: ArrayBuffer) once the whole body arrived, or handler(null) as soon
   * as it exceeds maxSize bytes. Replaces onData/onDataV2 (they share one slot). */
  collectBody(maxSize, handler) { native.resCollect(this.#key, this.#seq, maxSize, handler); return this; }
  /** Alias of collectBody (v20.30 shipped an unfinished `collect` stub under this name). */
  collect(maxSize, handler) { return this.collectBody(maxSize, handler); }
  pause() { native.resPause(this.#key, this.#seq, true); return this; }
  resume() { native.resPause(this.#key, this.#seq, false); return this; }
  close() { native.resClose(this.#key, this.#seq); return this; }
  cork(cb) { native.resCork(this.#key, this.#seq, cb); return this; }
  getRemoteAddress() { return native.resRemoteAddress(this.#key, this.#seq, false); }
  getRemoteAddressAsText() { return native.resRemoteAddress(this.#key, this.#seq, true); }
  getRemotePort() { return native.resRemotePort(this.#key, this.#seq); }
  // No PROXY protocol support: like uWS without a proxy header, an empty address (the
  // resWriteOffset call only validates the response, so a dead one throws as upstream).
  getProxiedRemoteAddress() { return native.resProxiedAddress(this.#key, this.#seq, false); }
  getProxiedRemoteAddressAsText() { return native.resProxiedAddress(this.#key, this.#seq, true); }
  upgrade(userData, secWebSocketKey, secWebSocketProtocol, secWebSocketExtensions, context) {
    native.resUpgrade(this.#key, this.#seq, userData, secWebSocketKey, secWebSocketProtocol,
      secWebSocketExtensions, WebSocketContext.idOf(context));
  }
}

class HttpRequest {
  #seq;
  constructor(seq) { this.#seq = seq; }
  getHeader(lowerCaseKey) { return native.reqHeader(this.#seq, lowerCaseKey); }
  getParameter(index) { return native.reqParameter(this.#seq, index); }
  getUrl() { return native.reqUrl(this.#seq); }
  getMethod() { return native.reqMethod(this.#seq, false); }
  getCaseSensitiveMethod() { return native.reqMethod(this.#seq, true); }
  getQuery(key) { return native.reqQuery(this.#seq, key); }
  forEach(cb) { native.reqForEach(this.#seq, cb); }
  setYield(y) { native.reqSetYield(this.#seq, y); return this; }
}

module.exports = { HttpResponse, HttpRequest };
