'use strict';
// WebSocket throughput benchmark: uws-rs against uWebSockets.js v20 (and `ws`), same loads, same
// client (bench/loadgen, Rust), alternating servers A B C A B C ... so drift hits all of them alike.
//
//   npm run bench                              full run (~10 minutes)
//   node bench/echo.js --quick                 1 round, 2 s runs
//   node bench/echo.js --rows p1,p128 --servers uws-rs,uws --rounds 5 --duration 10
//
// Flags: --rounds R (3), --duration D seconds measured per run (5), --warmup W (1),
//   --rows ids (all default rows; see ROWS), --servers ids (uws-rs,uws,ws), --threads T (loadgen
//   client threads, 1), --quick, --build (rebuild the addon first), --out FILE (raw JSON results;
//   default bench/results/echo-<time>.json), --pin (server on CPU 0, load generator on CPU 1,
//   with taskset: much steadier on a shared 2-core machine; the default leaves both unpinned).
// Env: UWS_REFERENCE=<path to another uWebSockets.js build> replaces the `uws` server's module;
//   UWS_RS_ADDON=<.node/.so> picks the uws-rs addon (default target/release/libuws_rs.so, else
//   uws_rs.node), which is copied with index.js and lib/ to a temporary directory first.
//
// Reported per load, medians over rounds: messages/s (echo: messages echoed back; broadcast:
// deliveries), latency p50/p99 (send to echo/delivery), server CPU seconds per million messages
// (all server threads, measured over the timed window), and the load generator's own CPU share.

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { buildLoadgen, runLoadgen } = require('./lib/loadgen.js');
const { Server, fileLimit, pinning } = require('./lib/servers.js');
const harness = require('./lib/harness.js');
const { gitDescribe, snapshotUwsRs, sleep } = harness;
const { median, fmtRate, fmtNum, fmtUs, table } = require('./lib/stats.js');

const root = path.join(__dirname, '..');

const ROWS = [
  { id: 'p1', name: '100 x 32 B, P=1', connections: 100, size: 32, inflight: 1 },
  { id: 'p8', name: '100 x 32 B, P=8', connections: 100, size: 32, inflight: 8 },
  { id: 'p32', name: '100 x 32 B, P=32', connections: 100, size: 32, inflight: 32 },
  { id: 'p128', name: '100 x 32 B, P=128', connections: 100, size: 32, inflight: 128 },
  { id: '4k', name: '100 x 4 KiB, P=1', connections: 100, size: 4096, inflight: 1 },
  { id: '256k', name: '10 x 256 KiB, P=1', connections: 10, size: 256 * 1024, inflight: 1 },
  { id: '1m', name: '4 x 1 MiB, P=1', connections: 4, size: 1024 * 1024, inflight: 1 },
  { id: 'c1000', name: '1000 x 32 B, P=1', connections: 1000, size: 32, inflight: 1 },
  { id: 'text', name: '100 x 32 B text, P=8', connections: 100, size: 32, inflight: 8, text: true },
  { id: 'bcast', name: 'publish 1 -> 99 x 32 B, P=16', connections: 100, size: 32, inflight: 16, broadcast: true },
  // permessage-deflate (SHARED_COMPRESSOR), 1 KiB JSON-like text messages sent compressed
  { id: 'inflate', name: '100 x 1 KiB deflated in, P=1', connections: 100, size: 1024, inflight: 1, text: true, deflate: true, path: '/deflate' },
  { id: 'deflate', name: '100 x 1 KiB deflated both ways', connections: 100, size: 1024, inflight: 1, text: true, deflate: true, path: '/deflate-both' },
  { id: 'dedicated', name: '100 x 1 KiB, dedicated compressors', connections: 100, size: 1024, inflight: 1, text: true, deflate: true, path: '/deflate-dedicated' },
  // short-lived connections: connect, upgrade, one 32 B echo, close frame, close (msg/s = lives/s)
  { id: 'churn', name: '50 x (connect, 1 echo, close)', connections: 50, size: 32, inflight: 1, churn: true },
];
const DEFAULT_ROWS = ROWS.map((r) => r.id);

const SERVERS = {
  'uws-rs': { kind: 'uws-rs', label: 'uws-rs', module: root },
  uws: { kind: 'uws', label: 'uWS.js', module: process.env.UWS_REFERENCE || null },
  ws: { kind: 'ws', label: 'ws', module: null },
};

function parseArgs(argv) {
  return harness.parseArgs(argv, {
    rows: ROWS, servers: SERVERS, defaultServers: ['uws-rs', 'uws', 'ws'], quick: { rounds: 1, duration: 2, warmup: 0.5 }, helpFile: __filename,
  });
}




async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const rows = ROWS.filter((r) => opt.rows.includes(r.id));

  if (opt.build) {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.js')], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status || 1);
  }
  let snapshot = null;
  if (opt.servers.includes('uws-rs')) {
    snapshot = snapshotUwsRs();
    SERVERS['uws-rs'].module = snapshot.dir;
  }
  buildLoadgen();

  const maxConns = Math.max(...rows.map((r) => r.connections));
  const lim = fileLimit(2 * maxConns + 256);
  if (lim.raise != null && lim.raise < 2 * maxConns + 256) {
    console.error(`! open-files limit ${lim.soft} (hard ${lim.hard}) is too low for ${maxConns} connections; raise it with \`ulimit -n\``);
  }

  const pin = opt.pin ? pinning() : null;
  if (opt.pin && !pin) console.error('! --pin needs taskset and 2 CPUs: running unpinned');
  const servers = opt.servers.map((id) => new Server(SERVERS[id].kind, SERVERS[id].label, SERVERS[id].module, lim.raise));
  if (pin) for (const s of servers) s.cpus = pin.server;
  const cleanup = () => servers.forEach((s) => s.stop());
  process.on('exit', cleanup);
  process.on('SIGINT', () => { cleanup(); process.exit(130); });
  for (const s of servers) await s.start();

  const runs = opt.rounds * rows.length * servers.length;
  const perRun = opt.duration + opt.warmup + 0.6;
  console.log(`uws-rs echo benchmark @ ${gitDescribe()}: node ${process.version}, ${require('os').cpus().length} CPUs, ` +
    `${opt.rounds} round(s) x ${rows.length} load(s) x ${servers.length} server(s), ${opt.warmup}+${opt.duration} s each ` +
    `(~${Math.ceil((runs * perRun) / 60)} min), loadgen threads ${opt.threads}, open files ${lim.raise ?? lim.soft}` +
    (pin ? `, pinned: server CPU ${pin.server}, load generator CPU ${pin.client}` : ''));
  if (snapshot) console.log(`uws-rs addon: ${path.relative(root, snapshot.addon) || snapshot.addon} (${(snapshot.size / 1024).toFixed(0)} KiB, built ${snapshot.mtime.toISOString()})`);
  if (process.env.UWS_REFERENCE) console.log(`uWS.js reference: ${process.env.UWS_REFERENCE}`);
  const load = require('os').loadavg()[0];
  if (load > 0.5) console.log(`! load average ${load.toFixed(2)} before starting: other processes compete for the CPUs`);

  const results = {}; // row id -> server id -> [report]
  for (const r of rows) results[r.id] = Object.fromEntries(opt.servers.map((s) => [s, []]));

  let done = 0;
  for (let round = 0; round < opt.rounds; round++) {
    for (const row of rows) {
      for (let k = 0; k < servers.length; k++) {
        const srv = servers[k];
        const id = opt.servers[k];
        await srv.ensure();
        let rep;
        try {
          rep = await runLoadgen(row, { port: srv.port, duration: opt.duration, warmup: opt.warmup, threads: opt.threads, serverPid: srv.pid, cpus: pin && pin.client });
        } catch (e) {
          console.error(`! ${row.name} on ${srv.label}: ${e.message}`);
          rep = { failed: true, error: e.message };
        }
        if (!rep.failed && (rep.errors || rep.closed)) {
          console.error(`! ${row.name} on ${srv.label}: ${rep.errors} bad frames, ${rep.closed} connections closed by the server`);
        }
        if (!rep.failed && rep.system_busy_s != null && rep.server_cpu_s != null) {
          // CPU used by neither the server nor the load generator during the window (other processes)
          rep.foreign_cpu_share = Math.max(0, (rep.system_busy_s - rep.server_cpu_s - rep.client_cpu_s) / rep.duration_s);
          if (rep.foreign_cpu_share > 0.15) console.error(`! ${row.name} on ${srv.label}: other processes used ${(rep.foreign_cpu_share * 100).toFixed(0)}% of a CPU during the run`);
        }
        results[row.id][id].push(rep);
        done++;
        process.stderr.write(`  [${done}/${runs}] round ${round + 1} ${row.name.padEnd(30)} ${srv.label.padEnd(7)} ` +
          (rep.failed ? 'FAILED\n' : `${fmtRate(rep.msgs_per_s).padStart(7)} msg/s  p50 ${fmtUs(rep.p50_us)} us  p99 ${fmtUs(rep.p99_us)} us  ` +
            `server ${fmtNum(rep.server_cpu_s)} s  client ${fmtNum(rep.client_cpu_s)} s\n`));
        await sleep(300); // let the server reap the closed connections
      }
    }
  }
  cleanup();

  // Summaries (medians over rounds).
  const summary = {};
  for (const row of rows) {
    summary[row.id] = {};
    for (const id of opt.servers) {
      const reps = results[row.id][id].filter((r) => !r.failed);
      const cpuPerM = reps.map((r) => (r.server_cpu_s != null && r.messages > 0 ? (r.server_cpu_s / r.messages) * 1e6 : null));
      summary[row.id][id] = reps.length === 0 ? null : {
        msgs_per_s: median(reps.map((r) => r.msgs_per_s)),
        p50_us: median(reps.map((r) => r.p50_us)),
        p99_us: median(reps.map((r) => r.p99_us)),
        server_cpu_s_per_M: median(cpuPerM),
        client_cpu_share: median(reps.map((r) => r.client_cpu_share)),
        runs: reps.length,
      };
    }
  }

  const has = (id) => opt.servers.includes(id);
  const ratio = (row, key) => {
    const a = summary[row.id]['uws-rs'];
    const b = summary[row.id].uws;
    return a && b && b[key] ? a[key] / b[key] : null;
  };
  const labels = opt.servers.map((id) => SERVERS[id].label);
  // A row where the load generator itself nearly saturates its core is bounded by the client.
  const CLIENT_BOUND = 0.9;
  const clientBound = (row) => ['uws-rs', 'uws'].some((id) => (summary[row.id][id]?.client_cpu_share ?? 0) >= CLIENT_BOUND);

  console.log(`\nThroughput (messages/s, median of ${opt.rounds}; broadcast counts deliveries)`);
  const t1 = [['load', ...labels.map((l) => `${l} msg/s`)]];
  if (has('uws-rs') && has('uws')) t1[0].push('uws-rs / uWS.js');
  for (const row of rows) {
    const line = [row.name, ...opt.servers.map((id) => fmtRate(summary[row.id][id]?.msgs_per_s))];
    if (has('uws-rs') && has('uws')) {
      const x = ratio(row, 'msgs_per_s');
      line.push(x == null ? '-' : `${x.toFixed(2)}x${clientBound(row) ? ' *' : ''}`);
    }
    t1.push(line);
  }
  console.log(table(t1));
  if (rows.some(clientBound)) {
    console.log(`* the load generator used ${CLIENT_BOUND * 100}% or more of its core against uws-rs or uWS.js: ` +
      'that row measures the client as much as the servers (compare server CPU per message below).');
  }

  console.log('\nLatency p50 / p99 (us, median over rounds)');
  const t2 = [['load', ...labels]];
  for (const row of rows) {
    t2.push([row.name, ...opt.servers.map((id) => {
      const s = summary[row.id][id];
      return s ? `${fmtUs(s.p50_us)} / ${fmtUs(s.p99_us)}` : '-';
    })]);
  }
  console.log(table(t2));

  console.log('\nServer CPU seconds per million messages (all server threads; lower is better) and load generator CPU share (of one core)');
  const t3 = [['load', ...labels.map((l) => `${l} s/M`), ...labels.map((l) => `client % (${l})`)]];
  for (const row of rows) {
    t3.push([row.name,
      ...opt.servers.map((id) => fmtNum(summary[row.id][id]?.server_cpu_s_per_M, 3)),
      ...opt.servers.map((id) => { const s = summary[row.id][id]; return s ? `${(s.client_cpu_share * 100).toFixed(0)}%` : '-'; })]);
  }
  console.log(table(t3));

  const out = opt.out || path.join(root, 'bench', 'results', `echo-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ commit: gitDescribe(), node: process.version, options: opt, rows, summary, results }, null, 1));
  console.log(`\nraw results: ${path.relative(process.cwd(), out)}`);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
