// Type declarations for uws-rs.
//
// uws-rs is a drop-in replacement for uWebSockets.js v20: these declarations follow the API
// contract of uWebSockets.js v20 (its docs/index.d.ts) name for name and signature for signature,
// so a TypeScript app written against uWebSockets.js compiles unchanged against uws-rs.
// On top of that contract they declare:
//   - later v20 additions: HttpResponse.onDataV2 / collect, HttpRequest.getParameter(name),
//     WebSocketBehavior.dropped, TemplatedApp.close / filter, listen(host, port, options, cb),
//     DEDICATED_COMPRESSOR, LIBUS_LISTEN_EXCLUSIVE_PORT;
//   - uws-rs additions, marked "uws-rs addition": stats(), resetPeakStats(), SendQueueStats.
// Not declared: `_cfg`, uWebSockets.js's internal configuration hook, which uws-rs does not export.
// __test__/types.test.js checks that the values declared here are exactly those index.js exports.

/** Opaque token for a listening socket, handed to the `listen` callback.
 * Pass it to `us_listen_socket_close` or `us_socket_local_port`. */
export interface us_listen_socket {

}

/** Opaque token for a socket. */
export interface us_socket {

}

/** Opaque token handed to a WebSocket `upgrade` handler; give it back to `res.upgrade`. */
export interface us_socket_context_t {

}

/** Anything accepted where the API takes a string: a JS string (sent as UTF-8) or binary data.
 * Binary input avoids a UTF-16 to UTF-8 conversion. Incoming data is always an ArrayBuffer;
 * `Buffer.from(arrayBuffer).toString()` turns it into text. */
export type RecognizedString = string | ArrayBuffer | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

/** A WebSocket connection, usable from its `open` event until its `close` event.
 * After close every method throws, except getUserData(). */
export interface WebSocket<UserData> {
    /** Sends a message. Returns 1 when sent, 0 when it was queued as backpressure (it drains later),
     * 2 when it was dropped because the backpressure limit was reached. See getBufferedAmount(). */
    send(message: RecognizedString, isBinary?: boolean, compress?: boolean) : number;

    /** Starts a fragmented message. (Typed boolean as in uWebSockets.js v20.30; the value is
     * a send status like send()'s.) */
    sendFirstFragment(message: RecognizedString, isBinary?: boolean, compress?: boolean) : boolean;
    /** Sends a middle fragment of a fragmented message. */
    sendFragment(message: RecognizedString, compress?: boolean) : boolean;
    /** Sends the final fragment of a fragmented message. */
    sendLastFragment(message: RecognizedString, compress?: boolean) : boolean;

    /** Bytes queued as backpressure (not yet written to the socket). */
    getBufferedAmount() : number;

    /** Closes gracefully: sends a close frame with code and shortMessage, then runs the close handler. */
    end(code?: number, shortMessage?: RecognizedString) : void;

    /** Closes forcefully, without a close frame; runs the close handler. */
    close() : void;

    /** Sends a ping frame. Returns a send status like send(). */
    ping(message?: RecognizedString) : number;

    /** Subscribes this socket to a topic. */
    subscribe(topic: RecognizedString) : boolean;

    /** Unsubscribes from a topic. Returns true if the socket was subscribed. */
    unsubscribe(topic: RecognizedString) : boolean;

    /** Whether this socket is subscribed to topic. */
    isSubscribed(topic: RecognizedString) : boolean;

    /** The topics this socket is subscribed to. */
    getTopics() : string[];

    /** Publishes to every subscriber of topic except this socket. Subject to maxBackpressure and
     * closeOnBackpressureLimit; order is preserved. */
    publish(topic: RecognizedString, message: RecognizedString, isBinary?: boolean, compress?: boolean) : boolean;

    /** Runs cb with the socket corked, so that the sends made in it go out together. */
    cork(cb: () => void) : WebSocket<UserData>;

    /** The remote IP address as raw bytes: 4 bytes for IPv4, 16 for IPv6. */
    getRemoteAddress() : ArrayBuffer;

    /** The remote IP address as text (UTF-8 bytes in an ArrayBuffer). */
    getRemoteAddressAsText() : ArrayBuffer;

    /** The user data given to `res.upgrade`. Its properties are copied onto the WebSocket
     * object (as uWebSockets.js does), which is what this returns; usable after close too. */
    getUserData() : UserData;
}

/** The response to an HTTP request. Valid until it is ended (end / endWithoutBody / a completing
 * tryEnd) or aborted. Any property may be attached to it. */
export interface HttpResponse {
    /** Pauses reading the request body. */
    pause() : void;

    /** Resumes reading the request body. */
    resume() : void;

    /** Writes the status line, e.g. "200 OK" or "404 Not Found". Must come before any header;
     * otherwise "200 OK" is written. For custom headers on a WebSocket upgrade, write
     * "101 Switching Protocols" first. */
    writeStatus(status: RecognizedString) : HttpResponse;
    /** Writes one response header. */
    writeHeader(key: RecognizedString, value: RecognizedString) : HttpResponse;
    /** Writes a chunk of a chunked-encoded body. Returns true if nothing was left queued. */
    write(chunk: RecognizedString) : boolean;
    /** Ends the response with an optional body (copied). */
    end(body?: RecognizedString, closeConnection?: boolean) : HttpResponse;
    /** Ends the response without a body, optionally announcing a content-length (for HEAD). */
    endWithoutBody(reportedContentLength?: number, closeConnection?: boolean) : HttpResponse;
    /** Writes as much of a body of totalSize bytes as the socket takes now. Returns
     * [ok, hasResponded]; when not ok, continue from onWritable. */
    tryEnd(fullBodyOrChunk: RecognizedString, totalSize: number) : [boolean, boolean];

    /** Closes the connection at once; the onAborted handler runs. */
    close() : HttpResponse;

    /** Bytes of body written so far. Use with onWritable and tryEnd. */
    getWriteOffset() : number;

    /** Sets the handler called when the socket can take more data after backpressure.
     * It must return true when it wrote what it wanted (or nothing), false otherwise. */
    onWritable(handler: (offset: number) => boolean) : HttpResponse;

    /** Sets the handler called when the client goes away before the response ended.
     * Required whenever the response is not ended inside the route handler itself;
     * after it runs the response must not be used. */
    onAborted(handler: () => void) : HttpResponse;

    /** Sets the handler receiving the request body in chunks. A chunk's ArrayBuffer is detached
     * when the handler returns: copy it unless isLast is true and you are done with it. */
    onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void) : HttpResponse;

    /** Like onData, but each chunk comes with the most body bytes that can still follow
     * (0n on the last chunk), handy to size a buffer. Later v20 addition. */
    onDataV2(handler: (chunk: ArrayBuffer, maxRemainingBodyLength: bigint) => void) : HttpResponse;

    /** The remote IP address as raw bytes: 4 bytes for IPv4, 16 for IPv6. */
    getRemoteAddress() : ArrayBuffer;

    /** The remote IP address as text. */
    getRemoteAddressAsText() : ArrayBuffer;

    /** The client IP address given by a PROXY protocol v2 header, as raw bytes. */
    getProxiedRemoteAddress() : ArrayBuffer;

    /** The client IP address given by a PROXY protocol v2 header, as text. */
    getProxiedRemoteAddressAsText() : ArrayBuffer;

    /** Runs cb with the response corked, so that status, headers and body go out in one write.
     * Inside the route handler this is automatic; after an await or in any later callback,
     * wrap writes in cork:
     *
     * ```
     * res.cork(() => {
     *   res.writeStatus("200 OK").writeHeader("Some", "Value").end("Hello world!");
     * });
     * ```
     */
    cork(cb: () => void) : HttpResponse;

    /** Same as cork (uWebSockets.js registers it as an alias). */
    collect(cb: () => void) : HttpResponse;

    /** Accepts a WebSocket upgrade. userData becomes ws.getUserData(); key, protocol and
     * extensions are the request's sec-websocket-* headers; context is the one given to the
     * upgrade handler. */
    upgrade<UserData>(userData : UserData, secWebSocketKey: RecognizedString, secWebSocketProtocol: RecognizedString, secWebSocketExtensions: RecognizedString, context: us_socket_context_t) : void;

    /** Any property may be attached to a response. */
    [key: string]: any;
}

/** The request being handled. Usable only during the route handler's synchronous run:
 * read what you need before any await. */
export interface HttpRequest {
    /** The value of a header given by its lowercase name, or "" when absent. */
    getHeader(lowerCaseKey: RecognizedString) : string;
    /** The route parameter at index (`/users/:id` -> getParameter(0)). Typed `string` as in
     * uWebSockets.js v20, though an index past the last parameter gives undefined at run time. */
    getParameter(index: number) : string;
    /** The route parameter by name (`/users/:id` -> getParameter("id")), or undefined.
     * Later v20 addition. */
    getParameter(name: RecognizedString) : string | undefined;
    /** The URL path, starting with "/", without the query string. */
    getUrl() : string;
    /** The HTTP method in lowercase. */
    getMethod() : string;
    /** The HTTP method as sent by the client. */
    getCaseSensitiveMethod() : string;
    /** The raw query string (after "?"), or "". */
    getQuery() : string;
    /** One decoded query parameter. Typed `string` as in uWebSockets.js v20, though a missing
     * key gives undefined at run time. */
    getQuery(key: string) : string;
    /** Calls cb for each request header. */
    forEach(cb: (key: string, value: string) => void) : void;
    /** With true, the router goes on to the next matching route after this handler returns. */
    setYield(_yield: boolean) : HttpRequest;
}

/** Settings and handlers of a WebSocket route (`app.ws(pattern, behavior)`). */
export interface WebSocketBehavior<UserData> {
    /** Largest message accepted; a bigger one closes the connection. Default 16 KiB. */
    maxPayloadLength?: number;
    /** Close the socket when a message is dropped for backpressure. Default false. */
    closeOnBackpressureLimit?: boolean | number;
    /** Minutes after which a connection is closed regardless of activity; 0 disables. */
    maxLifetime?: number;
    /** Seconds without traffic before the connection is closed; 0 disables. Default 120.
     * Resolution is about 4 seconds. */
    idleTimeout?: number;
    /** permessage-deflate setting: DISABLED, SHARED_COMPRESSOR, a DEDICATED_COMPRESSOR_* value,
     * optionally OR-ed with a decompressor value. Default DISABLED. */
    compression?: CompressOptions;
    /** Backpressure (bytes) above which sends and publishes to this socket are dropped. Default 64 KiB. */
    maxBackpressure?: number;
    /** Send pings automatically to keep the connection within idleTimeout. */
    sendPingsAutomatically?: boolean;
    /** Handles the HTTP upgrade request; call res.upgrade to accept it (now, or later inside
     * res.cork after an onAborted). Without it, upgrades are accepted automatically. */
    upgrade?: (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => void | Promise<void>;
    /** A connection was opened. */
    open?: (ws: WebSocket<UserData>) => void | Promise<void>;
    /** A message arrived (text or binary, always as ArrayBuffer). The ArrayBuffer is detached
     * when the handler returns or first awaits: copy what you keep. */
    message?: (ws: WebSocket<UserData>, message: ArrayBuffer, isBinary: boolean) => void | Promise<void>;
    /** A message to this socket was dropped because of backpressure. Later v20 addition. */
    dropped?: (ws: WebSocket<UserData>, message: ArrayBuffer, isBinary: boolean) => void | Promise<void>;
    /** Backpressure went down; see ws.getBufferedAmount(). */
    drain?: (ws: WebSocket<UserData>) => void;
    /** The connection closed (gracefully, on error or on timeout). The socket must not be used
     * from here on. */
    close?: (ws: WebSocket<UserData>, code: number, message: ArrayBuffer) => void;
    /** A ping arrived (the pong is sent automatically). */
    ping?: (ws: WebSocket<UserData>, message: ArrayBuffer) => void;
    /** A pong arrived. */
    pong?: (ws: WebSocket<UserData>, message: ArrayBuffer) => void;
    /** A topic's subscriber count changed because of this socket. */
    subscription?: (ws: WebSocket<UserData>, topic: ArrayBuffer, newCount: number, oldCount: number) => void;
}

/** Options of App / SSLApp (the TLS ones matter for SSLApp). */
export interface AppOptions {
    key_file_name?: RecognizedString;
    cert_file_name?: RecognizedString;
    ca_file_name?: RecognizedString;
    passphrase?: RecognizedString;
    dh_params_file_name?: RecognizedString;
    ssl_ciphers?: RecognizedString;
    /** Release TLS buffers of idle connections (SSL_MODE_RELEASE_BUFFERS). */
    ssl_prefer_low_memory_usage?: boolean;
}

/** Options of listen(). A type only: neither uWebSockets.js nor uws-rs exports this enum at
 * run time, so pass the exported LIBUS_LISTEN_EXCLUSIVE_PORT constant (or 0). */
export enum ListenOptions {
  LIBUS_LISTEN_DEFAULT = 0,
  LIBUS_LISTEN_EXCLUSIVE_PORT = 1
}

/** An app: routes, WebSocket behaviors, listen sockets and pub/sub. */
export interface TemplatedApp {
    /** Listens on host and port; cb gets a listen socket, or false on failure. */
    listen(host: RecognizedString, port: number, cb: (listenSocket: us_listen_socket | false) => void | Promise<void>) : TemplatedApp;
    /** Listens on host and port with options. Later v20 addition. */
    listen(host: RecognizedString, port: number, options: ListenOptions, cb: (listenSocket: us_listen_socket | false) => void | Promise<void>) : TemplatedApp;
    /** Listens on port (0 picks a free one); cb gets a listen socket, or false on failure. */
    listen(port: number, cb: (listenSocket: us_listen_socket | false) => void | Promise<void>) : TemplatedApp;
    /** Listens on port with options (e.g. LIBUS_LISTEN_EXCLUSIVE_PORT). */
    listen(port: number, options: ListenOptions, cb: (listenSocket: us_listen_socket | false) => void | Promise<void>) : TemplatedApp;
    /** Listens on a unix domain socket. */
    listen_unix(cb: (listenSocket: us_listen_socket) => void | Promise<void>, path: RecognizedString) : TemplatedApp;
    /** Routes GET requests matching pattern (`/path`, `/users/:id`, `/static/*`). */
    get(pattern: RecognizedString, handler: ((res: HttpResponse, req: HttpRequest) => void | Promise<void>) | ArrayBuffer) : TemplatedApp;
    /** Routes POST requests. */
    post(pattern: RecognizedString, handler: ((res: HttpResponse, req: HttpRequest) => void | Promise<void>) | ArrayBuffer) : TemplatedApp;
    /** Routes OPTIONS requests. */
    options(pattern: RecognizedString, handler: ((res: HttpResponse, req: HttpRequest) => void | Promise<void>) | ArrayBuffer) : TemplatedApp;
    /** Routes DELETE requests. */
    del(pattern: RecognizedString, handler: ((res: HttpResponse, req: HttpRequest) => void | Promise<void>) | ArrayBuffer) : TemplatedApp;
    /** Routes PATCH requests. */
    patch(pattern: RecognizedString, handler: ((res: HttpResponse, req: HttpRequest) => void | Promise<void>) | ArrayBuffer) : TemplatedApp;
    /** Routes PUT requests. */
    put(pattern: RecognizedString, handler: ((res: HttpResponse, req: HttpRequest) => void | Promise<void>) | ArrayBuffer) : TemplatedApp;
    /** Routes HEAD requests. */
    head(pattern: RecognizedString, handler: ((res: HttpResponse, req: HttpRequest) => void | Promise<void>) | ArrayBuffer) : TemplatedApp;
    /** Routes CONNECT requests. */
    connect(pattern: RecognizedString, handler: ((res: HttpResponse, req: HttpRequest) => void | Promise<void>) | ArrayBuffer) : TemplatedApp;
    /** Routes TRACE requests. */
    trace(pattern: RecognizedString, handler: ((res: HttpResponse, req: HttpRequest) => void | Promise<void>) | ArrayBuffer) : TemplatedApp;
    /** Routes requests of any method. */
    any(pattern: RecognizedString, handler: ((res: HttpResponse, req: HttpRequest) => void | Promise<void>) | ArrayBuffer) : TemplatedApp;
    /** Accepts WebSocket connections on pattern. */
    ws<UserData>(pattern: RecognizedString, behavior: WebSocketBehavior<UserData>) : TemplatedApp;
    /** Publishes to every subscriber of topic in this app. See WebSocket.publish. */
    publish(topic: RecognizedString, message: RecognizedString, isBinary?: boolean, compress?: boolean) : boolean;
    /** Number of sockets subscribed to topic. */
    numSubscribers(topic: RecognizedString) : number;
    /** Adds a TLS server name (SNI) with its own certificate. */
    addServerName(hostname: string, options: AppOptions) : TemplatedApp;
    /** Selects the SNI domain the following routes belong to. */
    domain(domain: string) : TemplatedApp;
    /** Removes a TLS server name. */
    removeServerName(hostname: string) : TemplatedApp;
    /** Sets a synchronous handler for TLS handshakes naming an unknown server. */
    missingServerName(cb: (hostname: string) => void) : TemplatedApp;
    /** Sets a handler told of connections opening and closing. Later v20 addition. */
    filter(cb: (res: HttpResponse, count: number) => void | Promise<void>) : TemplatedApp;
    /** Closes every listen socket and connection of this app. Later v20 addition. */
    close() : TemplatedApp;
    /** Acceptor pattern: a number naming this app, to give to an acceptor app in another thread. */
    getDescriptor() : number;
    /** Hands this app's accepted connections to the child app `descriptor`, round-robin. */
    addChildAppDescriptor(descriptor: number) : TemplatedApp;
    removeChildAppDescriptor(descriptor: number) : TemplatedApp;
}

/** Creates a plain (non-TLS) app. */
export function App(options?: AppOptions) : TemplatedApp;

/** Creates a TLS app. */
export function SSLApp(options: AppOptions) : TemplatedApp;

/** Stops listening on a listen socket. */
export function us_listen_socket_close(listenSocket: us_listen_socket) : void;

/** The local port of a (listen) socket, or -1. */
export function us_socket_local_port(socket: us_socket | us_listen_socket) : number;

/** One part of a multipart/form-data body. */
export interface MultipartField {
    data: ArrayBuffer;
    name: string;
    type?: string;
    filename?: string;
}

/** Splits a multipart body given its content-type header; undefined if it is not multipart. */
export function getParts(body: RecognizedString, contentType: RecognizedString) : MultipartField[] | undefined;

/** uws-rs addition: memory counters of the outgoing send queues (all connections, all apps). */
export interface SendQueueStats {
    /** Bytes waiting in send queues now. */
    queuedBytes: number;
    /** Highest queuedBytes since start or since the last resetPeakStats(). */
    peakQueuedBytes: number;
    /** Bytes ever copied into send queues. */
    copiedBytes: number;
    /** Queued chunks currently alive. */
    chunksAlive: number;
    /** Frames shared by several sockets (publish) currently alive. */
    sharedFramesAlive: number;
}

/** uws-rs addition: reads the send-queue memory counters. */
export function stats() : SendQueueStats;

/** uws-rs addition: restarts peakQueuedBytes from the current queuedBytes. */
export function resetPeakStats() : void;

/** A response described once and served for every request of a route, without calling
 * application JS (uWebSockets.js v20.4x). Pass what `end()` returns as the route handler:
 * `app.get('/', new DeclarativeResponse().writeHeader('a', 'b').write('hi ').writeParameterValue('0').end('!'))`. */
export class DeclarativeResponse {
    writeHeader(key: RecognizedString, value: RecognizedString) : DeclarativeResponse;
    writeBody() : DeclarativeResponse;
    writeQueryValue(key: RecognizedString) : DeclarativeResponse;
    writeHeaderValue(key: RecognizedString) : DeclarativeResponse;
    write(value: RecognizedString) : DeclarativeResponse;
    writeParameterValue(key: RecognizedString) : DeclarativeResponse;
    end(value?: RecognizedString) : ArrayBuffer;
}

/** HTTP/3 app of uWebSockets.js (experimental upstream): not implemented, throws. */
export function H3App(options?: AppOptions) : never;

/** uWebSockets.js internal configuration hook; accepted and ignored. */
export function _cfg(key?: string) : void;

/* Shared storage of uWebSockets.js v20 (undeclared upstream): collections of strings and
 * integers visible to every worker thread of the process, and a process-wide lock. */
export function setString(collection: string, key: string, value: string) : void;
export function getString(collection: string, key: string) : string | undefined;
export function deleteString(collection: string, key: string) : void;
export function getStringKeys(collection: string) : string[];
export function deleteStringCollection(collection: string) : void;
export function setInteger(collection: string, key: string, value: number) : void;
/** Adds `by` (default 1) and returns the new value, atomically across threads. */
export function incInteger(collection: string, key: string, by?: number) : number;
export function getInteger(collection: string, key: string) : number | undefined;
export function deleteInteger(collection: string, key: string) : void;
export function getIntegerKeys(collection: string) : string[];
export function deleteIntegerCollection(collection: string) : void;
/** Blocks until no other thread holds the process-wide lock, then takes it. */
export function lock() : void;
export function unlock() : void;

/** permessage-deflate setting: combine one compressor and one decompressor with `|`. */
export type CompressOptions = number;
/** No compression. */
export var DISABLED: CompressOptions;
/** Compression with one compressor shared by all sockets (no memory per socket). */
export var SHARED_COMPRESSOR: CompressOptions;
/** Decompression with one shared decompressor (no memory per socket). */
export var SHARED_DECOMPRESSOR: CompressOptions;
/** Dedicated compressor per socket, largest window (same as DEDICATED_COMPRESSOR_256KB). */
export var DEDICATED_COMPRESSOR: CompressOptions;
/** Dedicated compressor per socket, 3 KB of memory each. */
export var DEDICATED_COMPRESSOR_3KB: CompressOptions;
/** Dedicated compressor per socket, 4 KB of memory each. */
export var DEDICATED_COMPRESSOR_4KB: CompressOptions;
/** Dedicated compressor per socket, 8 KB of memory each. */
export var DEDICATED_COMPRESSOR_8KB: CompressOptions;
/** Dedicated compressor per socket, 16 KB of memory each. */
export var DEDICATED_COMPRESSOR_16KB: CompressOptions;
/** Dedicated compressor per socket, 32 KB of memory each. */
export var DEDICATED_COMPRESSOR_32KB: CompressOptions;
/** Dedicated compressor per socket, 64 KB of memory each. */
export var DEDICATED_COMPRESSOR_64KB: CompressOptions;
/** Dedicated compressor per socket, 128 KB of memory each. */
export var DEDICATED_COMPRESSOR_128KB: CompressOptions;
/** Dedicated compressor per socket, 256 KB of memory each. */
export var DEDICATED_COMPRESSOR_256KB: CompressOptions;
/** Dedicated decompressor per socket, 32 KB window (plus about 23 KB). */
export var DEDICATED_DECOMPRESSOR_32KB: CompressOptions;
/** Dedicated decompressor per socket, 16 KB window (plus about 23 KB). */
export var DEDICATED_DECOMPRESSOR_16KB: CompressOptions;
/** Dedicated decompressor per socket, 8 KB window (plus about 23 KB). */
export var DEDICATED_DECOMPRESSOR_8KB: CompressOptions;
/** Dedicated decompressor per socket, 4 KB window (plus about 23 KB). */
export var DEDICATED_DECOMPRESSOR_4KB: CompressOptions;
/** Dedicated decompressor per socket, 2 KB window (plus about 23 KB). */
export var DEDICATED_DECOMPRESSOR_2KB: CompressOptions;
/** Dedicated decompressor per socket, 1 KB window (plus about 23 KB). */
export var DEDICATED_DECOMPRESSOR_1KB: CompressOptions;
/** Dedicated decompressor per socket, 512 B window (plus about 23 KB). */
export var DEDICATED_DECOMPRESSOR_512B: CompressOptions;
/** Dedicated decompressor per socket, largest window (same as DEDICATED_DECOMPRESSOR_32KB). */
export var DEDICATED_DECOMPRESSOR: CompressOptions;

/** listen() option: fail instead of sharing a port another socket listens on. */
export var LIBUS_LISTEN_EXCLUSIVE_PORT: ListenOptions;
