'use strict';
// Soak test: N minutes of mixed traffic against one server in a child process, watching its memory
// and file descriptors.
//
//   node bench/soak.js                      # 10 minutes against uws-rs
//   node bench/soak.js --minutes 3
//   node bench/soak.js --impl uws           # the real uWebSockets.js v20.30, for comparison
//   node bench/soak.js --minutes 1 --load 0.1 --wrap "valgrind --tool=memcheck --leak-check=full"
//
// Traffic (scaled by --load): WebSocket echo clients (ping-pong, payload checked), pub/sub rooms
// (every subscriber checks it got every publish in order), keep-alive HTTP GETs and POSTs with a
// body, and churn (WebSocket clients that connect, exchange one message and close; HTTP requests
// on fresh connections).
// Every 10 s: server RSS (/proc/<pid>/status VmRSS) and open fds (/proc/<pid>/fd) plus the
// traffic counters, printed as a table. Passes (exit 0) when RSS after the warm-up stays within
// +5% of its value at the end of the warm-up (min(60 s, a third of the run)), every WebSocket
// closed cleanly (code 1000 on both sides, server opens == closes), no request or message failed,
// and the server's fds are back to their idle count at the end.
// With --wrap the server runs under the given command (valgrind); its report is in the output.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');

// ---------------------------------------------------------------- server (child process) mode --
function runServer() {
  const uWS = process.env.SOAK_IMPL === 'uws' ? require('@trufflesuite/uws-js-unofficial') : require(ROOT);
  const stats = { wsOpen: 0, wsClose: 0, unclean: {}, http: 0, published: 0 };
  const app = uWS.App();
  app.ws('/echo', {
    maxPayloadLength: 64 * 1024,
    idleTimeout: 60,
    open: () => stats.wsOpen++,
    message: (ws, m, isBinary) => ws.send(m, isBinary),
    close: (ws, code) => {
      stats.wsClose++;
      if (code !== 1000) stats.unclean[code] = (stats.unclean[code] || 0) + 1;
    },
  });
  app.ws('/room/:name', {
    maxPayloadLength: 64 * 1024,
    maxBackpressure: 4 * 1024 * 1024,
    idleTimeout: 60,
    upgrade: (res, req, ctx) =>
      res.upgrade(
        { room: req.getParameter(0) },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        ctx
      ),
    open: (ws) => {
      stats.wsOpen++;
      ws.subscribe(`room/${ws.room}`);
    },
    message: (ws, m, isBinary) => {
      stats.published++;
      app.publish(`room/${ws.room}`, m, isBinary);
    },
    close: (ws, code) => {
      stats.wsClose++;
      if (code !== 1000) stats.unclean[code] = (stats.unclean[code] || 0) + 1;
    },
  });
  app.get('/http', (res, req) => {
    stats.http++;
    res.writeHeader('content-type', 'text/plain').end(`hello ${req.getQuery('n') || ''}`);
  });
  app.post('/upload', (res) => {
    stats.http++;
    let n = 0;
    res.onAborted(() => {});
    res.onData((chunk, last) => {
      n += chunk.byteLength;
      if (last) res.end(String(n));
    });
  });
  app.get('/stats', (res) => res.end(JSON.stringify(stats)));
  let token;
  app.get('/quit', (res) => {
    res.end('bye');
    // Let the response go out, then close everything: the process must exit by itself (with
    // valgrind that is when the leak report is made).
    setTimeout(() => {
      uWS.us_listen_socket_close(token);
      if (app.close) app.close();
    }, 50);
  });
  app.listen('127.0.0.1', 0, (t) => {
    token = t;
    process.stdout.write(`PORT ${uWS.us_socket_local_port(t)}\n`);
  });
}

// --------------------------------------------------------------------------- driver mode ------
function parseArgs(argv) {
  const o = { minutes: 10, impl: 'rs', load: 1, wrap: '', interval: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--minutes') o.minutes = Number(v());
    else if (a === '--impl') o.impl = v();
    else if (a === '--load') o.load = Number(v());
    else if (a === '--wrap') o.wrap = v();
    else if (a === '--interval') o.interval = Number(v());
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 21).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(o.minutes > 0) || !(o.load > 0)) throw new Error('--minutes and --load must be positive');
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function procStats(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    return { rss, fds };
  } catch {
    return { rss: NaN, fds: NaN };
  }
}

function startServer(opts) {
  const wrap = opts.wrap ? opts.wrap.split(/\s+/).filter(Boolean) : [];
  const cmd = wrap.length ? wrap[0] : process.execPath;
  const args = [...wrap.slice(1), ...(wrap.length ? [process.execPath] : []), __filename, '--server'];
  const child = spawn(cmd, args, {
    env: { ...process.env, SOAK_IMPL: opts.impl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (opts.wrap) process.stderr.write(d);
  });
  const port = new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const m = /PORT (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code, sig) => reject(new Error(`server exited (${code ?? sig}) before listening: ${stderr}`)));
  });
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { child, port, exited, stderr: () => stderr };
}

function request(port, agent, method, p, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, agent, timeout: 10000 }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

async function main() {
  if (process.argv.includes('--server')) return runServer();
  const opts = parseArgs(process.argv.slice(2));
  const WebSocket = require('ws');
  const durationMs = opts.minutes * 60000;
  const warmupMs = Math.min(60000, durationMs / 3);
  const L = opts.load;
  const n = (x) => Math.max(1, Math.round(x * L));

  const server = startServer(opts);
  const port = await server.port;
  const pid = server.child.pid;
  await sleep(opts.wrap ? 2000 : 200);
  const idle = procStats(pid);

  const c = { echo: 0, pub: 0, delivered: 0, http: 0, churnWs: 0, churnHttp: 0, errors: 0, closes: {} };
  const errors = [];
  const fail = (what) => {
    c.errors++;
    if (errors.length < 20) errors.push(what);
  };
  let stopping = false;
  const loops = [];
  const clients = new Set();

  function open(p) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${p}`);
      ws.on('error', (e) => {
        if (!ws.opened) reject(e);
        else fail(`ws ${p} error ${e.message}`);
      });
      ws.on('close', (code) => {
        clients.delete(ws);
        c.closes[code] = (c.closes[code] || 0) + 1;
        if (code !== 1000) fail(`ws ${p} closed ${code}`);
      });
      ws.once('open', () => {
        ws.opened = true;
        clients.add(ws);
        resolve(ws);
      });
    });
  }

  // Echo clients: ping-pong with a checked payload of 16 B .. 4 KiB.
  for (let i = 0; i < n(20); i++) {
    loops.push(
      (async () => {
        const ws = await open('/echo');
        let k = 0;
        while (!stopping) {
          const msg = Buffer.alloc(16 + ((k * 977 + i * 131) % 4080), (k + i) & 0xff);
          msg.writeUInt32BE(k, 0);
          const got = new Promise((r) => ws.once('message', r));
          ws.send(msg);
          const back = await Promise.race([got, sleep(10000).then(() => null)]);
          if (!back || !Buffer.from(back).equals(msg)) fail(`echo mismatch ${i}/${k}`);
          else c.echo++;
          k++;
          await sleep(20 / L);
        }
        ws.close(1000);
      })()
    );
  }

  // Pub/sub: 2 rooms, n(5) subscribers each; one publisher per room, every subscriber (publisher
  // included: app.publish reaches all) checks it sees every sequence number in order.
  for (const room of ['a', 'b']) {
    const subs = await Promise.all(Array.from({ length: n(5) }, () => open(`/room/${room}`)));
    for (const ws of subs) {
      ws.expect = 0;
      ws.on('message', (d) => {
        const seq = Buffer.from(d).readUInt32BE(0);
        if (seq !== ws.expect) fail(`room ${room}: got ${seq}, expected ${ws.expect}`);
        ws.expect = seq + 1;
        c.delivered++;
      });
    }
    loops.push(
      (async () => {
        let seq = 0;
        while (!stopping) {
          const msg = Buffer.alloc(256 + (seq % 1024));
          msg.writeUInt32BE(seq++, 0);
          subs[0].send(msg);
          c.pub++;
          await sleep(50 / L);
        }
        // Wait for the last publishes to arrive everywhere before closing.
        const until = Date.now() + 10000;
        while (subs.some((s) => s.expect < seq) && Date.now() < until) await sleep(20);
        for (const s of subs) if (s.expect !== seq) fail(`room ${room}: subscriber stopped at ${s.expect}/${seq}`);
        for (const s of subs) s.close(1000);
      })()
    );
  }

  // Keep-alive HTTP: GET and POST with a body.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  for (let i = 0; i < n(4); i++) {
    loops.push(
      (async () => {
        let k = 0;
        while (!stopping) {
          try {
            if (k % 2) {
              const body = Buffer.alloc(1000 + ((k * 37) % 8000), 97);
              const r = await request(port, agent, 'POST', '/upload', body);
              if (r.status !== 200 || r.body !== String(body.length)) fail(`POST ${r.status} ${r.body}`);
            } else {
              const r = await request(port, agent, 'GET', `/http?n=${k}`);
              if (r.status !== 200 || r.body !== `hello ${k}`) fail(`GET ${r.status} ${r.body}`);
            }
            c.http++;
          } catch (e) {
            fail(`http ${e.message}`);
          }
          k++;
          await sleep(5 / L);
        }
      })()
    );
  }

  // Churn: short-lived WebSockets and one-shot HTTP connections.
  loops.push(
    (async () => {
      let k = 0;
      while (!stopping) {
        try {
          const ws = await open('/echo');
          const got = new Promise((r) => ws.once('message', r));
          ws.send(`churn ${k}`);
          const back = await Promise.race([got, sleep(10000).then(() => null)]);
          if (!back || back.toString() !== `churn ${k}`) fail(`churn echo ${k}`);
          const closed = new Promise((r) => ws.once('close', r));
          ws.close(1000);
          await closed;
          c.churnWs++;
          const r = await request(port, false, 'GET', `/http?n=c${k}`);
          if (r.status !== 200) fail(`churn http ${r.status}`);
          c.churnHttp++;
        } catch (e) {
          fail(`churn ${e.message}`);
        }
        k++;
        await sleep(100 / L);
      }
    })()
  );

  // Sampling.
  const started = Date.now();
  const samples = [];
  const header = ['t(s)', 'rss MiB', 'fds', 'clients', 'echo', 'pub', 'delivered', 'http', 'churn ws', 'churn http', 'errors'];
  const widths = header.map((h) => Math.max(h.length, 9));
  const row = (cells) => cells.map((x, i) => String(x).padStart(widths[i])).join(' ');
  console.log(`soak: ${opts.minutes} min against ${opts.impl}${opts.wrap ? ` under ${opts.wrap}` : ''}, load x${L}, server pid ${pid}, idle RSS ${(idle.rss / 1048576).toFixed(1)} MiB, ${idle.fds} fds; warm-up ${Math.round(warmupMs / 1000)} s`);
  console.log(row(header));
  const sample = () => {
    const s = { t: Math.round((Date.now() - started) / 1000), ...procStats(pid), clients: clients.size, ...c };
    samples.push(s);
    console.log(
      row([s.t, (s.rss / 1048576).toFixed(1), s.fds, s.clients, s.echo, s.pub, s.delivered, s.http, s.churnWs, s.churnHttp, s.errors])
    );
  };
  while (Date.now() - started < durationMs) {
    await sleep(Math.min(opts.interval * 1000, durationMs - (Date.now() - started)));
    sample();
  }
  stopping = true;
  await Promise.all(loops);
  agent.destroy();
  const until = Date.now() + 10000;
  while (clients.size && Date.now() < until) await sleep(50);
  await sleep(opts.wrap ? 3000 : 500);

  const end = procStats(pid);
  let st = null;
  try {
    st = JSON.parse((await request(port, false, 'GET', '/stats')).body);
  } catch (e) {
    fail(`stats ${e.message}`);
  }
  await sleep(200);
  const endFds = procStats(pid).fds;

  // Verdict.
  const after = samples.filter((s) => s.t * 1000 >= warmupMs);
  const base = after.length ? after[0].rss : NaN;
  const peak = Math.max(...after.map((s) => s.rss));
  const growth = (peak / base - 1) * 100;
  const checks = [
    [after.length >= 2, `at least 2 samples after the warm-up (${after.length})`],
    [growth <= 5, `RSS after warm-up within +5%: ${(base / 1048576).toFixed(1)} -> peak ${(peak / 1048576).toFixed(1)} MiB (${growth.toFixed(1)}%)`],
    [c.errors === 0, `no failed message or request (${c.errors})`],
    [!!st && st.wsOpen === st.wsClose, `server: every WebSocket closed (${st && st.wsOpen} opened, ${st && st.wsClose} closed)`],
    [!!st && Object.keys(st.unclean).length === 0, `server: every close was 1000 (${st && JSON.stringify(st.unclean)})`],
    [Object.keys(c.closes).every((k) => k === '1000'), `clients: every close was 1000 (${JSON.stringify(c.closes)})`],
    [endFds <= idle.fds + 1, `server fds back to idle: ${idle.fds} idle, ${endFds} at the end`],
  ];
  console.log(`\nserver at the end: RSS ${(end.rss / 1048576).toFixed(1)} MiB, counters ${JSON.stringify(st)}`);
  for (const [ok, what] of checks) console.log(`${ok ? 'PASS' : 'FAIL'} ${what}`);
  if (errors.length) console.log('first errors:\n  ' + errors.join('\n  '));

  // Graceful shutdown (the valgrind report is written when the server exits by itself).
  try {
    await request(port, false, 'GET', '/quit');
  } catch {}
  const exit = await Promise.race([server.exited, sleep(opts.wrap ? 120000 : 10000).then(() => null)]);
  if (!exit) {
    console.log('FAIL server did not exit after app.close(): killed');
    server.child.kill('SIGKILL');
    process.exitCode = 1;
  } else {
    console.log(`server exited: ${exit.signal || exit.code}`);
    if (exit.code !== 0) process.exitCode = 1;
  }
  if (checks.some(([ok]) => !ok)) process.exitCode = 1;
  console.log(process.exitCode ? 'soak: FAIL' : 'soak: PASS');
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
