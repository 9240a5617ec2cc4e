#!/usr/bin/env node
'use strict';
// Memory regression benchmark: the uWebSockets.js issue 1150 scenario (a server sends 100 MiB
// to each of 10 clients as 100 x 1 MiB binary messages once all are open), run against uws-rs,
// the real uWebSockets.js v20.30 (pre-fix) and `ws`, each server in a fresh child process
// (bench/memory/server.js) and the `ws` clients in another (bench/memory/clients.js).
//
//   node bench/memory-regression.js                      full run: 8 modes x 3 servers
//   node bench/memory-regression.js --clients 2 --mb 20  quick run
//
// Flags:
//   --modes a,b      mode names or prefixes (naive-fast, drain-slow-fresh, drain, ...); default all
//   --servers a,b    uws-rs,uws,ws (default all three, in that order)
//   --clients N      clients (default 10)         --mb N     MiB per client (default 100)
//   --rate N         throttled clients read N MiB/s each (default 10)
//   --limit N        drain pattern: send while getBufferedAmount() < N KiB (default 1024)
//   --timeout S      delivery timeout per run, s (default: 30 + 2 x expected for throttled, 60)
//   --stall S        a run is 'stalled' when no client received a byte for S s (default 5)
//   --gc-probe       after the "+2s" mark, force a GC in the server and record RSS ("gc" mark)
//   --out DIR        results directory (default bench/results)
//
// Modes are <send>-<clients>-<payload>:
//   send:    naive  all messages to every client at once, return values ignored (maxBackpressure 0)
//            drain  while (getBufferedAmount() < limit) send(...), resumed from `drain`
//   clients: fast   read at full speed;  slow  each reads at --rate MiB/s (socket pause/resume)
//   payload: shared one buffer for every message; fresh  a new (filled) buffer per message
//
// Server RSS (process.memoryUsage().rss in the server) is recorded at: idle (after listen and a
// GC), after-send (every message handed to send()), peak (VmHWM), delivered (the client process
// got every byte), +2 s, closed (the server saw every close), +2 s. The chart uses RSS read from
// /proc/<pid>/statm by this process every 100 ms (so a busy server loop leaves no gap); the
// server's own 100 ms samples are in the JSON too. Units: MiB (2^20 bytes) throughout.

const { fork, execSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { performance } = require('perf_hooks');
const { chart } = require('./memory/svg.js');

const MiB = 1024 * 1024;
const ALL_SERVERS = ['uws-rs', 'uws', 'ws'];
const ALL_MODES = [];
for (const send of ['naive', 'drain'])
  for (const speed of ['fast', 'slow'])
    for (const payload of ['shared', 'fresh']) ALL_MODES.push(`${send}-${speed}-${payload}`);

// ---- CLI ---------------------------------------------------------------------------------
function parseArgs(argv) {
  const o = {
    modes: ALL_MODES, servers: ALL_SERVERS, clients: 10, mb: 100, rate: 10, limit: 1024,
    timeout: null, stall: 5, gcProbe: false, out: path.join(__dirname, 'results'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const name = a.split('=')[0];
    if (name === '--modes') {
      const want = val().split(',').filter(Boolean);
      o.modes = ALL_MODES.filter((m) => want.some((w) => m === w || m.startsWith(`${w}-`)));
      const unknown = want.filter((w) => !ALL_MODES.some((m) => m === w || m.startsWith(`${w}-`)));
      if (unknown.length) throw new Error(`unknown mode(s): ${unknown.join(', ')} (modes: ${ALL_MODES.join(', ')})`);
    } else if (name === '--servers') {
      o.servers = val().split(',').filter(Boolean);
      const bad = o.servers.filter((s) => !ALL_SERVERS.includes(s));
      if (bad.length) throw new Error(`unknown server(s): ${bad.join(', ')} (servers: ${ALL_SERVERS.join(', ')})`);
    } else if (name === '--clients') o.clients = posInt(val(), a);
    else if (name === '--mb') o.mb = posInt(val(), a);
    else if (name === '--rate') o.rate = Number(val());
    else if (name === '--limit') o.limit = posInt(val(), a);
    else if (name === '--timeout') o.timeout = Number(val());
    else if (name === '--stall') o.stall = Number(val());
    else if (name === '--gc-probe') o.gcProbe = true;
    else if (name === '--out') o.out = path.resolve(val());
    else if (name === '--help' || name === '-h') {
      console.log(usage());
      process.exit(0);
    } else throw new Error(`unknown flag ${a} (see --help)`);
  }
  return o;
}
function usage() {
  const lines = fs.readFileSync(__filename, 'utf8').split('\n').slice(2);
  const end = lines.findIndex((l) => !l.startsWith('//'));
  return lines.slice(0, end).map((l) => l.replace(/^\/\/ ?/, '')).join('\n');
}
function posInt(v, flag) {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} wants a positive integer, got ${v}`);
  return n;
}

// ---- child process plumbing --------------------------------------------------------------
/** Collects IPC messages of a child; wait(type, ms) resolves with the next one of that type. */
function inbox(child, name) {
  const queued = [];
  const waiters = [];
  let exited = null;
  child.on('message', (m) => {
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
    else queued.push(m);
  });
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    for (const w of waiters.splice(0)) w.resolve(null);
  });
  return {
    wait(type, ms) {
      const i = queued.findIndex((m) => m.type === type);
      if (i >= 0) return Promise.resolve(queued.splice(i, 1)[0]);
      if (exited) return Promise.resolve(null);
      return new Promise((resolve) => {
        const w = { type, resolve };
        waiters.push(w);
        if (ms != null) {
          setTimeout(() => {
            const j = waiters.indexOf(w);
            if (j >= 0) { waiters.splice(j, 1); resolve(null); }
          }, ms);
        }
      });
    },
    has(type) { return queued.some((m) => m.type === type); },
    get exited() { return exited; },
    name,
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

let PAGE = 4096;
try { PAGE = Number(execSync('getconf PAGESIZE', { encoding: 'utf8' }).trim()) || 4096; } catch { /* keep 4096 */ }

/** RSS of `pid` from /proc every 100 ms (independent of the server's event loop). */
function externalSampler(pid) {
  const series = [];
  const tick = () => {
    try {
      const statm = fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
      series.push([now(), Number(statm[1]) * PAGE]);
    } catch { /* gone */ }
  };
  tick();
  const timer = setInterval(tick, 100);
  return { series, stop: () => clearInterval(timer) };
}

// ---- one server x one mode ---------------------------------------------------------------
async function runOne(mode, server, o) {
  const [send, speed, payload] = mode.split('-');
  const messages = o.mb; // 1 MiB messages
  const msgSize = MiB;
  const rate = speed === 'slow' ? o.rate * MiB : 0;
  const expected = rate ? (messages * msgSize) / rate : 0;
  const timeoutS = o.timeout || (rate ? 30 + 2 * expected : 60);
  const rec = {
    mode, server, send, speed, payload, clients: o.clients, messages, msgSize,
    marks: {}, stalled: false, errors: [], loadavg: require('os').loadavg(),
  };

  const scfg = { server, send, payload, clients: o.clients, messages, msgSize, limit: o.limit * 1024 };
  const srv = fork(path.join(__dirname, 'memory', 'server.js'), [JSON.stringify(scfg)], {
    execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const sIn = inbox(srv, 'server');
  const ext = externalSampler(srv.pid);
  let cli = null;
  const markAt = async (label) => {
    srv.send({ cmd: 'mark', label });
    const m = await sIn.wait('mark', 10000);
    if (m) rec.marks[label] = m.mark;
    else rec.errors.push(`server did not answer mark ${label}`);
  };
  try {
    const ready = await sIn.wait('ready', 20000);
    if (!ready) throw new Error(`server ${server} did not start (${JSON.stringify(sIn.exited)})`);
    rec.marks.idle = ready.mark;

    const ccfg = {
      port: ready.port, clients: o.clients, messages, msgSize, rate,
      check: payload === 'shared' && server === 'ws' ? 'fixed' : 'index',
    };
    cli = fork(path.join(__dirname, 'memory', 'clients.js'), [JSON.stringify(ccfg)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const cIn = inbox(cli, 'clients');
    const start = await sIn.wait('sendStart', 20000);
    if (!start) throw new Error(`clients never all opened on ${server}`);
    rec.tSendStart = start.t;

    // Wait for delivery; poll progress each second and call the run stalled when no client
    // received a byte for --stall seconds (or at the overall timeout).
    let delivered = null;
    let lastBytes = -1;
    let lastChange = now();
    const deadline = now() + timeoutS * 1000;
    for (;;) {
      delivered = await cIn.wait('delivered', 1000);
      if (delivered || cIn.exited) break;
      cli.send({ cmd: 'progress' });
      const p = await cIn.wait('progress', 5000);
      if (cIn.has('delivered')) continue;
      const bytes = p ? p.clients.reduce((a, c) => a + c.bytes, 0) : lastBytes;
      if (bytes !== lastBytes) {
        lastBytes = bytes;
        lastChange = now();
      }
      if (now() - lastChange > o.stall * 1000 || now() > deadline) break;
    }
    if (delivered) {
      rec.tDelivered = delivered.t;
      rec.deliverySeconds = (delivered.t - start.t) / 1000;
      rec.clientReport = delivered.clients;
      await markAt('delivered');
    } else {
      rec.stalled = true;
      cli.send({ cmd: 'progress' });
      const p = await cIn.wait('progress', 5000);
      rec.clientReport = p ? p.clients : null;
      await markAt('timeout');
    }
    const after = await sIn.wait('afterSend', 1); // arrived already unless stalled before the last send
    if (after) rec.marks.afterSend = after.mark;

    await sleep(2000);
    await markAt('delivered+2s');
    if (o.gcProbe) {
      srv.send({ cmd: 'gc', label: 'gc' });
      const m = await sIn.wait('mark', 10000);
      if (m) rec.marks.gc = m.mark;
    }

    cli.send({ cmd: 'close' });
    let closed = await sIn.wait('closed', 10000);
    if (!closed) {
      rec.errors.push('clients did not close cleanly within 10 s; terminated');
      cli.send({ cmd: 'terminate' });
      closed = await sIn.wait('closed', 10000);
    }
    if (closed) {
      rec.marks.closed = closed.mark;
      await sleep(2000);
      await markAt('closed+2s');
    } else rec.errors.push('server never saw every close');

    srv.send({ cmd: 'final' });
    const fin = await sIn.wait('final', 10000);
    if (fin) {
      rec.peak = fin.hwm;
      rec.finalStats = fin.stats;
      rec.sendResults = fin.results;
      rec.sentMessages = fin.sentMessages;
      rec.drainCalls = fin.drainCalls;
      rec.internalSamples = fin.samples;
    }
    const bad = (rec.clientReport || []).filter((c) => c.errors || c.socketError);
    if (bad.length) rec.errors.push(`content/order errors: ${JSON.stringify(bad.slice(0, 3))}`);
  } catch (e) {
    rec.errors.push(e.message);
  } finally {
    ext.stop();
    rec.externalSamples = ext.series;
    for (const c of [cli, srv]) {
      if (c && c.exitCode === null && c.signalCode === null) {
        try { c.send({ cmd: 'exit' }); } catch { /* gone */ }
      }
    }
    await sleep(200);
    for (const c of [cli, srv]) if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  return rec;
}

// ---- report ------------------------------------------------------------------------------
const mib = (b) => (b == null ? '-' : (b / MiB).toFixed(1));
const pad = (s, n) => String(s).padStart(n);
const padr = (s, n) => String(s).padEnd(n);

function bytesSent(r) {
  // 1 MiB payload: 2-byte header + 8-byte extended length, unmasked (server to client)
  return r.clients * r.messages * (r.msgSize + 10);
}

function table(runs) {
  const head = ['mode', 'server', 'idle', 'after-send', 'peak', 'delivered', '+2s', 'closed', '+2s', 'delivery s'];
  const w = [18, 7, 7, 10, 7, 9, 7, 7, 7, 10];
  const lines = [];
  lines.push(head.map((h, i) => (i < 2 ? padr(h, w[i]) : pad(h, w[i]))).join(' '));
  lines.push(w.map((n) => '-'.repeat(n)).join(' '));
  for (const r of runs) {
    const m = r.marks;
    const row = [
      r.mode, r.server, mib(m.idle?.rss), mib(m.afterSend?.rss), mib(r.peak),
      r.stalled ? `${mib(m.timeout?.rss)}*` : mib(m.delivered?.rss), mib(m['delivered+2s']?.rss),
      mib(m.closed?.rss), mib(m['closed+2s']?.rss),
      r.stalled ? 'stalled' : r.deliverySeconds != null ? r.deliverySeconds.toFixed(2) : '-',
    ];
    lines.push(row.map((h, i) => (i < 2 ? padr(h, w[i]) : pad(h, w[i]))).join(' '));
  }
  return lines.join('\n');
}

function statsLines(runs) {
  const lines = [];
  for (const r of runs.filter((x) => x.server === 'uws-rs' && x.finalStats)) {
    const s0 = r.marks.idle?.stats || { copiedBytes: 0 };
    const s = r.finalStats;
    const copied = s.copiedBytes - s0.copiedBytes;
    lines.push(
      `${padr(r.mode, 18)} uws-rs stats: peakQueued ${mib(s.peakQueuedBytes)} MiB, copied ${mib(copied)} MiB ` +
      `of ${mib(bytesSent(r))} MiB sent (${((100 * copied) / bytesSent(r)).toFixed(1)}%), ` +
      `at end: queued ${s.queuedBytes} B, chunks ${s.chunksAlive}`
    );
  }
  return lines.join('\n');
}

function ratioLines(runs, modes) {
  const lines = [];
  const above = (r, label) => {
    const v = label === 'peak' ? r.peak : r.marks[label]?.rss;
    return v == null || r.marks.idle == null ? null : (v - r.marks.idle.rss) / MiB;
  };
  for (const mode of modes) {
    const rs = runs.find((r) => r.mode === mode && r.server === 'uws-rs');
    if (!rs) continue;
    const parts = [];
    for (const other of runs.filter((r) => r.mode === mode && r.server !== 'uws-rs')) {
      for (const [label, name] of [['peak', 'peak'], ['delivered+2s', 'delivered+2s'], ['closed+2s', 'closed+2s']]) {
        const a = above(rs, label), b = above(other, label);
        if (a == null || b == null) continue;
        // floor at 1 MiB so a ~0 baseline does not produce an absurd ratio
        parts.push(`${other.server} ${name} ${b.toFixed(0)}/${a.toFixed(0)} MiB = ${(Math.max(b, 1) / Math.max(a, 1)).toFixed(1)}x`);
      }
      if (rs.deliverySeconds && other.deliverySeconds) {
        parts.push(`${other.server} delivery ${(other.deliverySeconds / rs.deliverySeconds).toFixed(2)}x`);
      }
    }
    lines.push(`${padr(mode, 18)} ${parts.join('; ')}`);
  }
  return lines.join('\n');
}

function targets(runs) {
  const out = [];
  const add = (ok, text) => out.push({ ok, text });
  for (const r of runs.filter((x) => x.server === 'uws-rs')) {
    const idle = r.marks.idle?.rss;
    const p2 = r.marks['delivered+2s']?.rss;
    if (r.stalled) add(false, `${r.mode}: delivery completed (stalled)`);
    if (r.errors.length) add(false, `${r.mode}: run clean (${r.errors.join('; ')})`);
    if (r.payload === 'shared' && idle != null && p2 != null) {
      const a0 = r.marks.idle.rssAnon, a2 = r.marks['delivered+2s'].rssAnon;
      const f0 = r.marks.idle.rssFile, f2 = r.marks['delivered+2s'].rssFile;
      if (p2 <= idle + 4 * MiB || a0 == null || a2 == null) {
        add(p2 <= idle + 4 * MiB, `${r.mode}: delivered+2s ${mib(p2)} <= idle ${mib(idle)} + 4 MiB`);
      } else {
        // Above the bound in total: file-backed pages are code (node, the addon) run for the
        // first time after the idle sample, not retained data, so the bound is applied to the
        // anonymous (data) part, and both parts are shown.
        add(a2 - a0 <= 4 * MiB,
          `${r.mode}: delivered+2s data memory (RssAnon) +${mib(a2 - a0)} <= 4 MiB ` +
          `(total +${mib(p2 - idle)} MiB of which code paged in +${mib(f2 - f0)} MiB)`);
      }
    }
    if (r.send === 'naive' && r.speed === 'slow' && r.finalStats && idle != null && r.peak != null) {
      const lim = idle + 1.05 * r.finalStats.peakQueuedBytes;
      const text = `${r.mode}: peak ${mib(r.peak)} <= idle + 1.05 x peakQueued ${mib(r.finalStats.peakQueuedBytes)} = ${mib(lim)}`;
      // With a fresh buffer per message the peak also holds the application's own buffers until
      // V8 collects them: reported, but not a queue target.
      if (r.payload === 'shared') add(r.peak <= lim, text);
      else add(null, `${text} (fresh buffers: includes JS garbage awaiting GC)`);
    }
    if (r.finalStats) {
      const copied = r.finalStats.copiedBytes - (r.marks.idle?.stats?.copiedBytes || 0);
      add(copied <= bytesSent(r), `${r.mode}: copied ${mib(copied)} <= sent ${mib(bytesSent(r))}`);
    }
    if (r.speed === 'fast') {
      const u = runs.find((x) => x.mode === r.mode && x.server === 'uws');
      if (u && r.deliverySeconds != null) {
        if (u.stalled) add(true, `${r.mode}: delivery ${r.deliverySeconds.toFixed(2)} s (uWebSockets.js stalled)`);
        else if (u.deliverySeconds != null) {
          add(r.deliverySeconds <= u.deliverySeconds,
            `${r.mode}: delivery ${r.deliverySeconds.toFixed(2)} s <= uWebSockets.js ${u.deliverySeconds.toFixed(2)} s`);
        }
      }
    }
  }
  return out;
}

// ---- main --------------------------------------------------------------------------------
async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!o.modes.length) throw new Error('no modes selected');
  const stamp = new Date().toISOString().replace(/\..*/, '').replace(/:/g, '-');
  let rev = null;
  try { rev = execSync('git rev-parse --short HEAD', { cwd: __dirname, encoding: 'utf8' }).trim(); } catch { /* not a repo */ }
  let addon = null;
  try { addon = fs.statSync(path.join(__dirname, '..', 'uws_rs.node')).mtime.toISOString(); } catch { /* none */ }
  console.log(
    `memory regression: ${o.clients} clients x ${o.mb} x 1 MiB, throttled ${o.rate} MiB/s, drain limit ${o.limit} KiB; ` +
    `modes ${o.modes.join(',')}; servers ${o.servers.join(',')}; node ${process.version}; git ${rev}; addon built ${addon}`
  );
  const runs = [];
  for (const mode of o.modes) {
    for (const server of o.servers) {
      const t = Date.now();
      const r = await runOne(mode, server, o);
      runs.push(r);
      console.log(
        `  ${padr(mode, 18)} ${padr(server, 7)} ${((Date.now() - t) / 1000).toFixed(1)} s, load ${r.loadavg[0].toFixed(1)}` +
        `${r.stalled ? '  STALLED' : ''}${r.errors.length ? `  errors: ${r.errors.join('; ')}` : ''}`
      );
      if (r.stalled && r.clientReport) {
        const short = r.clientReport.filter((c) => c.messages < r.messages).map((c) => `#${c.id}: ${c.messages}/${r.messages} msgs`);
        console.log(`    stalled clients: ${short.join(', ')}`);
      }
    }
  }

  console.log('\nServer RSS in MiB (peak = VmHWM; * = at the delivery timeout); delivery = first send to last byte at the clients\n');
  console.log(table(runs));
  const sl = statsLines(runs);
  if (sl) console.log(`\n${sl}`);
  console.log('\nAbove idle, other server / uws-rs:');
  console.log(ratioLines(runs, o.modes));
  const tg = targets(runs);
  if (tg.length) {
    console.log('\nTargets (uws-rs):');
    for (const t of tg) console.log(`  ${t.ok === null ? 'info' : t.ok ? 'PASS' : 'FAIL'}  ${t.text}`);
  }

  fs.mkdirSync(o.out, { recursive: true });
  const jsonFile = path.join(o.out, `memory-${stamp}.json`);
  const svgFile = path.join(o.out, `memory-${stamp}.svg`);
  fs.writeFileSync(jsonFile, JSON.stringify({
    date: new Date().toISOString(), git: rev, addonBuilt: addon, node: process.version, options: o,
    targets: tg, runs,
  }, null, 1));
  const chartRuns = runs.map((r) => ({
    mode: r.mode, server: r.server, stalled: r.stalled,
    t0: r.tSendStart || r.marks.idle?.t || 0,
    series: r.externalSamples.length ? r.externalSamples : (r.internalSamples || []).map((s) => [s[0], s[1]]),
    queued: r.server === 'uws-rs' && r.internalSamples ? r.internalSamples.map((s) => [s[0], s[2]]) : null,
    marks: { afterSend: r.marks.afterSend?.t, delivered: r.marks.delivered?.t, closed: r.marks.closed?.t },
  }));
  fs.writeFileSync(svgFile, chart(o.modes, chartRuns,
    `Server RSS, ${o.clients} clients x ${o.mb} MiB (uws-rs / uWebSockets.js v20.30 / ws), ${stamp}`));
  console.log(`\nwrote ${path.relative(process.cwd(), jsonFile)} and ${path.relative(process.cwd(), svgFile)}`);
  process.exitCode = tg.some((t) => t.ok === false) ? 1 : 0;
}

main().catch((e) => {
  console.error(e.stack || e.message);
  process.exit(2);
});
