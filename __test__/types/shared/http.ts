// HTTP server written the way uWebSockets.js apps are: onAborted + cork around async work,
// body reading with onData, streaming with tryEnd/onWritable, multipart, SNI.
// Type-checked against uws-rs AND uWebSockets.js.
import * as uWS from 'uws-rs';
import { App, SSLApp, getParts } from 'uws-rs';
import type { AppOptions, HttpRequest, HttpResponse, MultipartField, RecognizedString, TemplatedApp, us_listen_socket } from 'uws-rs';

interface Item { id: string; name: string }
const db = new Map<string, Item>();

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Collects a request body; rejects when the client aborts. */
function readBody(res: HttpResponse): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    res.onAborted(() => reject(new Error('aborted')));
    res.onData((chunk: ArrayBuffer, isLast: boolean) => {
      chunks.push(new Uint8Array(chunk.slice(0)));
      total += chunk.byteLength;
      if (isLast) {
        const body = new Uint8Array(total);
        let at = 0;
        for (const c of chunks) { body.set(c, at); at += c.byteLength; }
        resolve(body);
      }
    });
  });
}

function sendJson(res: HttpResponse, status: string, value: unknown): void {
  res.cork(() => {
    res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify(value));
  });
}

/** Streams a big buffer honouring backpressure. */
function stream(res: HttpResponse, data: ArrayBuffer): void {
  const total = data.byteLength;
  const start = res.getWriteOffset();
  res.onAborted(() => { res.aborted = true; });
  const [ok, done] = res.tryEnd(data, total);
  if (ok || done) return;
  res.onWritable((offset: number) => {
    if (res.aborted) return true;
    const [retryOk] = res.tryEnd(data.slice(offset - start), total);
    return retryOk;
  });
}

const options: AppOptions = { key_file_name: 'key.pem', cert_file_name: 'cert.pem', passphrase: '1234' };
const useTls: boolean = false;
const app: TemplatedApp = useTls ? SSLApp(options) : App();

app.get('/items/:id', (res: HttpResponse, req: HttpRequest) => {
  const item = db.get(req.getParameter(0));
  if (!item) {
    res.writeStatus('404 Not Found').end('no such item');
    return;
  }
  res.writeHeader('cache-control', 'no-store');
  res.end(JSON.stringify(item));
});

app.get('/slow', async (res, req) => {
  const url: string = req.getUrl();
  const query: string = req.getQuery();
  const ua: string = req.getHeader('user-agent');
  res.onAborted(() => { res.aborted = true; });
  await delay(10);
  if (res.aborted) return;
  res.cork(() => {
    res.writeStatus('200 OK').writeHeader('x-url', url).end(`${query} ${ua}`);
  });
});

app.post('/items', async (res) => {
  try {
    const body = await readBody(res);
    const item = JSON.parse(new TextDecoder().decode(body)) as Item;
    db.set(item.id, item);
    sendJson(res, '201 Created', item);
  } catch {
    // aborted: res must not be used
  }
});

app.post('/upload', (res, req) => {
  const contentType = req.getHeader('content-type');
  readBody(res).then((body) => {
    const parts: MultipartField[] | undefined = getParts(body, contentType);
    const names = (parts ?? []).map((p) => `${p.name}:${p.filename ?? ''}:${p.type ?? ''}:${p.data.byteLength}`);
    sendJson(res, '200 OK', names);
  }, () => {});
});

app.get('/big', (res) => stream(res, new ArrayBuffer(1 << 20)));

app.get('/chunked', (res) => {
  res.onAborted(() => {});
  const ok: boolean = res.write('part 1, ');
  res.write(new Uint8Array([112, 50]));
  if (ok) res.end();
});

app.head('/items/:id', (res) => { res.endWithoutBody(123); });
app.del('/items/:id', (res, req) => { db.delete(req.getParameter(0)); res.writeStatus('204 No Content').endWithoutBody(); });
app.put('/items/:id', (res) => { res.close(); });
app.patch('/items/:id', (res) => { res.end(undefined, true); });
app.options('/*', (res) => {
  res.writeHeader('allow', 'GET, POST, PUT, PATCH, DELETE').end();
});
app.connect('/*', (res) => { res.writeStatus('405 Method Not Allowed').end(); });
app.trace('/*', (res) => { res.writeStatus('405 Method Not Allowed').end(); });

app.get('/whoami', (res, req) => {
  const headers: Record<string, string> = {};
  req.forEach((key, value) => { headers[key] = value; });
  const ip = new TextDecoder().decode(res.getRemoteAddressAsText());
  const raw: ArrayBuffer = res.getRemoteAddress();
  const proxied = new TextDecoder().decode(res.getProxiedRemoteAddressAsText());
  const rawProxied: ArrayBuffer = res.getProxiedRemoteAddress();
  res.end(JSON.stringify({ ip, proxied, bytes: raw.byteLength + rawProxied.byteLength, headers, method: req.getCaseSensitiveMethod() }));
});

app.any('/api/*', (res, req) => {
  if (req.getMethod() === 'get' && req.getQuery('skip') === '1') {
    req.setYield(true); // let the next matching route handle it
    return;
  }
  res.writeStatus('404 Not Found').end();
});

app.any('/*', (res) => {
  const body: RecognizedString = new Uint8Array([110, 111]);
  res.writeStatus('404 Not Found').end(body);
});

app.domain('example.com').get('/', (res) => { res.end('example.com'); });
app.addServerName('example.org', options).missingServerName((hostname: string) => {
  console.log('unknown server name', hostname);
}).removeServerName('example.net');

let token: us_listen_socket | false = false;
app.listen('127.0.0.1', 3000, (listenSocket) => {
  token = listenSocket;
  if (listenSocket) console.log('port', uWS.us_socket_local_port(listenSocket));
});
app.listen_unix((listenSocket) => { uWS.us_listen_socket_close(listenSocket); }, '/tmp/app.sock');

export function stop(): void {
  if (token) uWS.us_listen_socket_close(token);
}
