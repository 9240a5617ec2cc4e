'use strict';
// Pub/sub benchmark: uws-rs against uWebSockets.js v20.30 (@trufflesuite/uws-js-unofficial).
// Server and clients run in separate processes (this file, forked with a role); the clients are
// raw TCP sockets with a tiny streaming frame parser (no payload copies), so they stay cheap.
//
//   node bench/pubsub.js                    both parts (~1 minute)
//   node bench/pubsub.js --part memory      or --part throughput
//
// (a) memory: `subs` subscribers that each read at `rate` (10 MB/s, pause/resume), then
//     100 x 1 MiB app.publish()ed at once with maxBackpressure 0. Server RSS: idle (all
//     connected, after GC), peak (VmHWM, reset at idle, and 20 ms /proc sampling), after delivery
//     and 2 s later; uws-rs stats() (sharedFramesAlive, copiedBytes). uws-rs shares one frame
//     across all queues: target peak <= idle + 1.2 x 100 MiB. uWebSockets.js copies each message
//     into every subscriber's buffer (~5 GB for 50), so it runs with --uws-subs (5) and the
//     table projects its growth linearly to `subs`.
// (b) throughput: 1000 subscribers, 32-byte binary messages published from the server in a
//     setImmediate loop (a batch per turn while every socket's getBufferedAmount() is under
//     64 KiB, so publishing runs as fast as the clients drain). Deliveries per second counted by
//     the clients over the timed window; server and client CPU shares show which side is the
//     bottleneck (each gets one of the 2 cores).
//
// Flags: --part memory|throughput|all, --servers uws-rs,uws, --subs N (50), --uws-subs N (5),
//   --messages N (100), --rate MB/s (10), --tsubs N (1000), --duration S (5), --warmup S (1),
//   --rounds R (2, alternating servers), --batch B[,B..] (32,256 publishes per turn), --out FILE.
// The machine is shared: the load average before and after is printed and saved; compare rows
// from the same run only.
// Env: UWS_RS_ADDON=<.node/.so> picks the uws-rs addon (default target/release/libuws_rs.so,
//   else uws_rs.node); it is copied with index.js and lib/ to a temporary directory first.
// Writes JSON to bench/results/pubsub-<time>.json.

const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');
const crypto = require('crypto');
const { fork } = require('child_process');
const { table } = require('./lib/stats.js');

const root = path.join(__dirname, '..');
const MiB = 1024 * 1024;
const now = () => Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Role: server
// ---------------------------------------------------------------------------------------------

function serverRole(cfg) {
  const uWS = require(cfg.module);
  const hasStats = typeof uWS.stats === 'function';
  const socks = new Set();
  const send = (m) => process.send(m);
  const mark = (label) => ({ label, t: now(), rss: process.memoryUsage.rss(), stats: hasStats ? uWS.stats() : null });
  const app = uWS.App();
  app.ws('/*', {
    maxBackpressure: 0, // memory: nothing dropped; throughput: the publisher paces itself
    maxPayloadLength: 1024,
    idleTimeout: 0,
    sendPingsAutomatically: false,
    open(ws) {
      ws.subscribe('bench');
      socks.add(ws);
      if (socks.size === cfg.subs) send({ type: 'open' });
    },
    close(ws) {
      socks.delete(ws);
    },
  });
  app.listen('127.0.0.1', 0, (token) => {
    if (!token) throw new Error('listen failed');
    send({ type: 'ready', port: uWS.us_socket_local_port(token) });
  });

  process.on('message', (m) => {
    if (m.cmd === 'idle') {
      global.gc();
      try {
        fs.writeFileSync('/proc/self/clear_refs', '5'); // reset VmHWM: peak is measured from here
      } catch {}
      send({ type: 'idle', mark: mark('idle') });
    } else if (m.cmd === 'publish') {
      const buf = Buffer.alloc(cfg.size, 0x5a);
      const t0 = now();
      for (let i = 0; i < cfg.messages; i++) {
        buf.writeUInt32BE(i, 0);
        app.publish('bench', buf, true);
      }
      send({ type: 'published', ms: now() - t0, mark: mark('afterPublish') });
    } else if (m.cmd === 'mark') {
      send({ type: 'mark', mark: mark(m.label) });
    } else if (m.cmd === 'run') {
      runThroughput(m.ms, m.batch);
    }
  });

  function runThroughput(ms, batch) {
    const msg = Buffer.alloc(32, 0x5a);
    const end = now() + ms;
    let published = 0;
    let waits = 0;
    const step = () => {
      let maxBuf = 0;
      for (const ws of socks) {
        const b = ws.getBufferedAmount();
        if (b > maxBuf) maxBuf = b;
      }
      if (maxBuf < 64 * 1024) {
        for (let k = 0; k < batch; k++) app.publish('bench', msg, true);
        published += batch;
      } else waits++;
      if (now() < end) setImmediate(step);
      else send({ type: 'ran', published, waits });
    };
    step();
  }
}

// ---------------------------------------------------------------------------------------------
// Role: clients (raw sockets, streaming frame counter)
// ---------------------------------------------------------------------------------------------

function clientsRole(cfg) {
  const send = (m) => process.send(m);
  const socks = [];
  let opened = 0;
  let done = 0;

  function connect(id) {
    return new Promise((resolve, reject) => {
      const st = { id, messages: 0, bytes: 0, errors: 0, rem: 0, off: 0, hbuf: Buffer.alloc(14), hfill: 0, first: 0, upgraded: false, head: '', t0: 0 };
      const s = net.connect(cfg.port, '127.0.0.1');
      st.socket = s;
      socks.push(st);
      s.on('error', (e) => {
        st.errors++;
        st.socketError = e.message;
        reject(e);
      });
      s.on('connect', () => {
        s.write(
          `GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`
        );
      });
      s.on('data', (chunk) => {
        if (!st.upgraded) {
          st.head += chunk.toString('latin1');
          const end = st.head.indexOf('\r\n\r\n');
          if (end < 0) return;
          if (!st.head.startsWith('HTTP/1.1 101')) return reject(new Error('handshake: ' + st.head.slice(0, 40)));
          st.upgraded = true;
          const rest = Buffer.from(st.head.slice(end + 4), 'latin1');
          st.head = '';
          opened++;
          resolve();
          if (rest.length) onData(st, rest);
          return;
        }
        onData(st, chunk);
      });
    });
  }

  function onData(st, chunk) {
    if (cfg.rate > 0) throttle(st, chunk.length);
    let i = 0;
    const L = chunk.length;
    while (i < L) {
      if (st.rem === 0) {
        // Frame header (server frames are unmasked): gather 2, then 4 or 10 bytes.
        let h = chunk;
        let at = i;
        if (st.hfill > 0 || L - i < 2) {
          st.hbuf[st.hfill++] = chunk[i++];
          if (st.hfill < 2) continue;
          h = st.hbuf;
          at = 0;
        }
        const len7 = h[at + 1] & 0x7f;
        const hl = len7 === 127 ? 10 : len7 === 126 ? 4 : 2;
        if (h === st.hbuf) {
          while (st.hfill < hl && i < L) st.hbuf[st.hfill++] = chunk[i++];
          if (st.hfill < hl) continue;
        } else if (L - i < hl) {
          while (i < L) st.hbuf[st.hfill++] = chunk[i++];
          continue;
        } else i += hl;
        const len = len7 === 127 ? Number(h.readBigUInt64BE(at + 2)) : len7 === 126 ? h.readUInt16BE(at + 2) : len7;
        if (h[at] !== 0x82 || (cfg.size && len !== cfg.size)) st.errors++;
        st.hfill = 0;
        st.rem = len;
        st.off = 0;
        st.first = 0;
        if (len === 0) finish(st);
        continue;
      }
      const n = Math.min(st.rem, L - i);
      if (cfg.check && st.off < 4) {
        for (let k = 0; k < n && st.off + k < 4; k++) st.first = (st.first * 256 + chunk[i + k]) >>> 0;
      }
      st.off += n;
      st.rem -= n;
      i += n;
      if (st.rem === 0) finish(st);
    }
  }

  function finish(st) {
    if (cfg.check && st.first !== st.messages) st.errors++;
    st.bytes += st.off;
    if (++st.messages === cfg.expect && cfg.expect) {
      st.tDone = now();
      if (++done === cfg.n) send({ type: 'delivered', t: now(), summary: summary() });
    }
  }

  /** Reads at most cfg.rate bytes/s per socket: pause while ahead of schedule. */
  function throttle(st, n) {
    if (!st.t0) st.t0 = now();
    st.wire = (st.wire || 0) + n;
    const due = st.t0 + (st.wire / cfg.rate) * 1000;
    const wait = due - now();
    if (wait > 5 && !st.paused) {
      st.paused = true;
      st.socket.pause();
      setTimeout(() => {
        st.paused = false;
        st.socket.resume();
      }, wait);
    }
  }

  function summary() {
    const msgs = socks.map((s) => s.messages);
    return {
      messages: msgs.reduce((a, b) => a + b, 0),
      minMessages: Math.min(...msgs),
      bytes: socks.reduce((a, s) => a + s.bytes, 0),
      errors: socks.reduce((a, s) => a + s.errors, 0),
      lastDone: Math.max(...socks.map((s) => s.tDone || 0)),
    };
  }

  process.on('message', (m) => {
    if (m.cmd === 'count') send({ type: 'count', t: now(), summary: summary() });
  });

  (async () => {
    // Connect in batches so the listen backlog is never the limit.
    for (let i = 0; i < cfg.n; i += 100) {
      const batch = [];
      for (let k = i; k < Math.min(cfg.n, i + 100); k++) batch.push(connect(k));
      await Promise.all(batch);
    }
    send({ type: 'open', t: now() });
  })().catch((e) => {
    send({ type: 'error', message: e.message });
  });
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

/** A forked child with a message queue: wait(type) resolves with the next message of that type. */
function child(role, cfg, execArgv = []) {
  const c = fork(__filename, [role, JSON.stringify(cfg)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue = [];
  const waiters = [];
  c.on('message', (m) => {
    if (m.type === 'error') console.error(`! ${role}: ${m.message}`);
    const w = waiters.findIndex((x) => x.type === m.type);
    if (w >= 0) waiters.splice(w, 1)[0].resolve(m);
    else queue.push(m);
  });
  c.wait = (type, ms = 60000) =>
    new Promise((resolve, reject) => {
      const q = queue.findIndex((m) => m.type === type);
      if (q >= 0) return resolve(queue.splice(q, 1)[0]);
      const timer = setTimeout(() => reject(new Error(`${role}: timeout waiting for ${type}`)), ms);
      const onExit = (code) => reject(new Error(`${role} exited (${code}) while waiting for ${type}`));
      c.once('exit', onExit);
      waiters.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          c.off('exit', onExit);
          resolve(m);
        },
      });
    });
  c.ask = (msg, type, ms) => {
    c.send(msg);
    return c.wait(type, ms);
  };
  return c;
}

function procStatus(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number((new RegExp(`${k}:\\s+(\\d+) kB`).exec(s) || [0, 0])[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** utime + stime of pid in seconds. */
function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(parts[11]) + Number(parts[12])) / 100; // fields 14, 15 (USER_HZ = 100)
}

function snapshotUwsRs() {
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
  const candidates = [process.env.UWS_RS_ADDON, path.join(targetDir, 'release', 'libuws_rs.so'), path.join(root, 'uws_rs.node')];
  const addon = candidates.find((f) => f && fs.existsSync(f));
  if (!addon) throw new Error('no uws-rs addon found: run `npm run build`');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uws-rs-pubsub-'));
  fs.copyFileSync(path.join(root, 'index.js'), path.join(dir, 'index.js'));
  fs.cpSync(path.join(root, 'lib'), path.join(dir, 'lib'), { recursive: true });
  fs.copyFileSync(addon, path.join(dir, 'uws_rs.node'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, addon, mtime: fs.statSync(addon).mtime };
}

function parseArgs(argv) {
  const o = { part: 'all', servers: ['uws-rs', 'uws'], subs: 50, uwsSubs: 5, messages: 100, rate: 10, tsubs: 1000, duration: 5, warmup: 1, rounds: 2, batch: [32, 256], out: null };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? argv[i].split(/=(.*)/s) : [argv[i], null];
    const val = () => (inline != null ? inline : argv[++i]);
    switch (flag) {
      case '--part': o.part = val(); break;
      case '--servers': o.servers = val().split(','); break;
      case '--subs': o.subs = Number(val()); break;
      case '--uws-subs': o.uwsSubs = Number(val()); break;
      case '--messages': o.messages = Number(val()); break;
      case '--rate': o.rate = Number(val()); break;
      case '--tsubs': o.tsubs = Number(val()); break;
      case '--duration': o.duration = Number(val()); break;
      case '--warmup': o.warmup = Number(val()); break;
      case '--rounds': o.rounds = Number(val()); break;
      case '--batch': o.batch = val().split(',').map(Number); break;
      case '--out': o.out = val(); break;
      case '--help': case '-h':
        console.log(fs.readFileSync(__filename, 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
        process.exit(0);
        break;
      default: throw new Error(`unknown flag ${argv[i]} (try --help)`);
    }
  }
  return o;
}

async function memoryRun(o, server, module) {
  const subs = server === 'uws' ? o.uwsSubs : o.subs;
  const size = MiB;
  const srv = child('server', { module, subs, messages: o.messages, size }, ['--expose-gc']);
  let cli;
  const samples = [];
  let sampler;
  try {
    const { port } = await srv.wait('ready');
    cli = child('clients', { port, n: subs, rate: o.rate * 1e6, size, check: true, expect: o.messages });
    await cli.wait('open');
    await srv.wait('open');
    await sleep(300);
    const idle = (await srv.ask({ cmd: 'idle' }, 'idle')).mark;
    sampler = setInterval(() => {
      try {
        samples.push({ t: now(), rss: procStatus(srv.pid).rss });
      } catch {}
    }, 20);
    const pub = await srv.ask({ cmd: 'publish' }, 'published');
    const expectSecs = (o.messages * size) / (o.rate * 1e6);
    const delivered = await cli.wait('delivered', (expectSecs * 2 + 60) * 1000);
    const atDelivered = (await srv.ask({ cmd: 'mark', label: 'delivered' }, 'mark')).mark;
    await sleep(2000);
    const after2s = (await srv.ask({ cmd: 'mark', label: 'delivered+2s' }, 'mark')).mark;
    clearInterval(sampler);
    const hwm = procStatus(srv.pid).hwm;
    const peak = Math.max(hwm, ...samples.map((s) => s.rss));
    return {
      server, subs, messages: o.messages, size, rateMBps: o.rate,
      idle, afterPublish: pub.mark, publishMs: pub.ms, delivered: atDelivered, delivered2s: after2s,
      peak, hwm, deliverySeconds: (delivered.t - pub.mark.t) / 1000, clients: delivered.summary,
    };
  } finally {
    clearInterval(sampler);
    srv.kill('SIGKILL');
    if (cli) cli.kill('SIGKILL');
  }
}

async function throughputRun(o, server, module, batch) {
  const srv = child('server', { module, subs: o.tsubs });
  let cli;
  try {
    const { port } = await srv.wait('ready');
    cli = child('clients', { port, n: o.tsubs, rate: 0, size: 32, check: false, expect: 0 });
    await cli.wait('open', 60000);
    await srv.wait('open');
    await sleep(300);
    srv.send({ cmd: 'run', ms: (o.warmup + o.duration) * 1000 + 500, batch });
    await sleep(o.warmup * 1000);
    const c0 = await cli.ask({ cmd: 'count' }, 'count');
    const s0 = cpuSeconds(srv.pid);
    const k0 = cpuSeconds(cli.pid);
    await sleep(o.duration * 1000);
    const c1 = await cli.ask({ cmd: 'count' }, 'count');
    const s1 = cpuSeconds(srv.pid);
    const k1 = cpuSeconds(cli.pid);
    const ran = await srv.wait('ran', 30000);
    const secs = (c1.t - c0.t) / 1000;
    return {
      server, subs: o.tsubs, batch, seconds: secs,
      delivered: c1.summary.messages - c0.summary.messages,
      perSecond: (c1.summary.messages - c0.summary.messages) / secs,
      serverCpu: (s1 - s0) / secs, clientCpu: (k1 - k0) / secs,
      errors: c1.summary.errors, published: ran.published, publisherWaits: ran.waits,
    };
  } finally {
    srv.kill('SIGKILL');
    if (cli) cli.kill('SIGKILL');
  }
}

const mb = (x) => (x / MiB).toFixed(1);

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const modules = {};
  let snapshot = null;
  if (o.servers.includes('uws-rs')) {
    snapshot = snapshotUwsRs();
    modules['uws-rs'] = snapshot.dir;
  }
  if (o.servers.includes('uws')) modules.uws = require.resolve('@trufflesuite/uws-js-unofficial');
  const label = { 'uws-rs': 'uws-rs', uws: 'uWS.js 20.30' };
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    addon: snapshot && { path: path.relative(root, snapshot.addon), built: snapshot.mtime },
    cpus: os.cpus().length,
    options: o,
  };
  let git = null;
  try {
    git = require('child_process').execSync('git rev-parse --short HEAD', { cwd: root, encoding: 'utf8' }).trim();
  } catch {}
  result.git = git;

  if (o.part === 'all' || o.part === 'memory') {
    result.memory = [];
    for (const s of o.servers) {
      process.stderr.write(`memory: ${s} ...\n`);
      result.memory.push(await memoryRun(o, s, modules[s]));
    }
    const rows = [['server', 'subscribers', 'idle MiB', 'after publish', 'peak MiB', 'peak - idle', `peak - idle @${o.subs}`, 'delivered', '+2 s', 'delivery s', 'sharedFramesAlive', 'copied MiB', 'errors']];
    for (const r of result.memory) {
      const growth = r.peak - r.idle.rss;
      const projected = (growth * o.subs) / r.subs;
      r.projectedGrowth = projected;
      rows.push([
        label[r.server], r.subs, mb(r.idle.rss), mb(r.afterPublish.rss), mb(r.peak), mb(growth),
        (r.subs === o.subs ? '' : '~') + mb(projected) + (r.subs === o.subs ? '' : ' (proj.)'),
        mb(r.delivered.rss), mb(r.delivered2s.rss), r.deliverySeconds.toFixed(1),
        r.afterPublish.stats ? String(r.afterPublish.stats.sharedFramesAlive) : '-',
        r.delivered.stats ? mb(r.delivered.stats.copiedBytes) : '-',
        String(r.clients.errors),
      ]);
    }
    console.log(`\n(a) memory: ${o.messages} x 1 MiB app.publish()ed at once, maxBackpressure 0, subscribers read at ${o.rate} MB/s each; server RSS\n`);
    console.log(table(rows));
    const rs = result.memory.find((r) => r.server === 'uws-rs');
    if (rs) {
      const limit = rs.idle.rss + 1.2 * o.messages * MiB;
      rs.target = { text: `peak ${mb(rs.peak)} <= idle ${mb(rs.idle.rss)} + 1.2 x ${o.messages} MiB = ${mb(limit)}`, ok: rs.peak <= limit };
      console.log(`\ntarget (uws-rs): ${rs.target.text}: ${rs.target.ok ? 'ok' : 'MISSED'}`);
      console.log(`uws-rs stats after publish: ${JSON.stringify(rs.afterPublish.stats)}`);
      console.log(`uws-rs stats after delivery: ${JSON.stringify(rs.delivered.stats)}`);
    }
  }

  if (o.part === 'all' || o.part === 'throughput') {
    result.throughput = [];
    result.loadavgBefore = os.loadavg();
    for (let round = 0; round < o.rounds; round++) {
      for (const batch of o.batch) {
        for (const s of o.servers) {
          process.stderr.write(`throughput: ${s} batch ${batch} round ${round + 1} ...\n`);
          result.throughput.push(await throughputRun(o, s, modules[s], batch));
        }
      }
    }
    result.loadavgAfter = os.loadavg();
    const rows = [['server', 'batch', 'deliveries/s (best)', 'all rounds (M/s)', 'server CPU', 'client CPU', 'publisher waits', 'errors', 'ratio']];
    result.ratios = {};
    for (const batch of o.batch) {
      const best = {};
      for (const r of result.throughput) if (r.batch === batch && (!best[r.server] || r.perSecond > best[r.server].perSecond)) best[r.server] = r;
      const ratio = best['uws-rs'] && best.uws ? best['uws-rs'].perSecond / best.uws.perSecond : null;
      result.ratios[batch] = ratio;
      for (const s of o.servers) {
        const all = result.throughput.filter((r) => r.server === s && r.batch === batch);
        const b = best[s];
        rows.push([
          label[s], String(batch), (b.perSecond / 1e6).toFixed(2) + 'M', all.map((r) => (r.perSecond / 1e6).toFixed(2)).join(' / '),
          (b.serverCpu * 100).toFixed(0) + '%', (b.clientCpu * 100).toFixed(0) + '%', String(b.publisherWaits), String(b.errors),
          s === 'uws-rs' && ratio != null ? ratio.toFixed(2) + 'x' : '',
        ]);
      }
    }
    console.log(`\n(b) throughput: ${o.tsubs} subscribers, 32-byte binary app.publish() in batches per event-loop turn while all buffers < 64 KiB; ${o.duration} s windows, ${o.rounds} rounds; ratio = uws-rs / uWS.js (best rounds)\n`);
    console.log(table(rows));
    console.log(`\nload average (1/5/15 min) before ${result.loadavgBefore.map((x) => x.toFixed(1)).join(' ')}, after ${result.loadavgAfter.map((x) => x.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs`);
  }

  const out = o.out || path.join(__dirname, 'results', `pubsub-${result.date.replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 1));
  console.log(`\nresults: ${path.relative(process.cwd(), out)}`);
}

if (process.argv[2] === 'server') serverRole(JSON.parse(process.argv[3]));
else if (process.argv[2] === 'clients') clientsRole(JSON.parse(process.argv[3]));
else
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
