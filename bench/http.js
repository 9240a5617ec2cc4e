'use strict';
// HTTP throughput benchmark: uws-rs against uWebSockets.js v20 and node:http, same loads, same
// client (wrk), alternating servers A B C A B C ... so drift hits all of them alike.
//
//   npm run bench:http                          full run (~4 minutes)
//   node bench/http.js --quick                  1 round, 2 s runs
//   node bench/http.js --rows hello,params --servers uws-rs,uws --rounds 5 --duration 10
//
// Flags: --rounds R (3), --duration D seconds measured per run (5), --warmup W (1; whole seconds,
//   as wrk takes them; 0 for none),
//   --rows ids (all; see ROWS), --servers ids (uws-rs,uws,node), --threads T (wrk threads, 1),
//   --quick, --build (rebuild the addon first), --out FILE (raw JSON results; default
//   bench/results/http-<time>.json), --pin (server on CPU 0, wrk on CPU 1, with taskset).
// Env: UWS_REFERENCE=<path to another uWebSockets.js build> replaces the `uws` server's module;
//   UWS_RS_ADDON=<.node/.so> picks the uws-rs addon (default target/release/libuws_rs.so, else
//   uws_rs.node), copied with index.js and lib/ to a temporary directory first.
//
// Needs wrk (Debian/Ubuntu: `apt-get install -y wrk`). Reported per load, medians over rounds:
// requests/s, wrk's latency p50/p99 (per request; pipelined: per batch of 16), server CPU
// seconds per million requests (all server threads, over the timed run, from /proc), the
// client's CPU share, and the ratio of uws-rs to uWebSockets.js.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { Server, fileLimit, pinning } = require('./lib/servers.js');
const harness = require('./lib/harness.js');
const { gitDescribe, snapshotUwsRs, sleep } = harness;
const { median, fmtRate, fmtNum, fmtUs, table } = require('./lib/stats.js');

const root = path.join(__dirname, '..');
const serverScript = path.join(__dirname, 'lib', 'http-server.js');

const ROWS = [
  { id: 'hello', name: 'GET / hello, c100', path: '/', connections: 100 },
  { id: 'params', name: 'params+headers JSON, c100', path: '/user/123/posts/456?x=1', connections: 100 },
  { id: '64k', name: '64 KiB body, c100', path: '/64k', connections: 100 },
  { id: 'hello-p16', name: 'GET / hello, c100, pipeline 16', path: '/', connections: 100, pipeline: 16 },
  { id: 'params-p16', name: 'params+headers, c100, pipeline 16', path: '/user/123/posts/456?x=1', connections: 100, pipeline: 16 },
  // a new connection per request: accept, one request, close (wrk reconnects after each response)
  { id: 'close', name: 'GET / hello, Connection: close, c50', path: '/', connections: 50, headers: ['Connection: close'] },
];
const DEFAULT_ROWS = ROWS.map((r) => r.id);

const SERVERS = {
  'uws-rs': { kind: 'uws-rs', label: 'uws-rs', module: root },
  uws: { kind: 'uws', label: 'uWS.js', module: process.env.UWS_REFERENCE || null },
  node: { kind: 'node', label: 'node:http', module: null },
};

function parseArgs(argv) {
  return harness.parseArgs(argv, {
    rows: ROWS, servers: SERVERS, defaultServers: ['uws-rs', 'uws', 'node'], quick: { rounds: 1, duration: 2, warmup: 1 }, helpFile: __filename,
  });
}




function findWrk() {
  const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (r.error) {
    console.error('wrk not found: install it (Debian/Ubuntu: `sudo apt-get update && sudo apt-get install -y wrk`; ' +
      'macOS: `brew install wrk`; or build https://github.com/wg/wrk) and run again.');
    process.exit(1);
  }
  return ((r.stdout || '') + (r.stderr || '')).split('\n')[0].trim();
}

// The wrk script: optional pipelining (init args: depth), and a JSON summary line in done().
const WRK_LUA = `
local depth = 1
local batch = nil
init = function(args)
  depth = tonumber(args[1] or "1") or 1
  if depth > 1 then
    local r = {}
    for i = 1, depth do r[i] = wrk.format(nil, wrk.path) end
    batch = table.concat(r)
  end
end
request = function()
  if batch then return batch end
  return wrk.format(nil, wrk.path)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p99_us":%d,"mean_us":%f,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
`;

/** utime+stime of a process (all threads), in seconds; null when it is gone. */
function procCpu(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return null;
  }
}
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** Busy CPU seconds of the whole machine (all CPUs). */
function systemBusy() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line;
  return (user + nice + system + irq + softirq + steal) / TICKS;
}

function runWrk(row, { port, duration, threads, serverPid, luaPath, cpus }) {
  const args = ['-t', String(threads), '-c', String(row.connections), '-d', `${Math.max(1, Math.round(duration))}s`, '--latency',
    '-H', 'User-Agent: wrk-bench/1.0', '-s', luaPath, `http://127.0.0.1:${port}${row.path}`];
  for (const h of row.headers || []) args.splice(args.indexOf('-s'), 0, '-H', h);
  if (row.pipeline) args.push('--', String(row.pipeline));
  return new Promise((resolve, reject) => {
    const srv0 = serverPid ? procCpu(serverPid) : null;
    const sys0 = systemBusy();
    const t0 = process.hrtime.bigint();
    // taskset execs wrk, so child.pid is wrk's (its CPU time is read from /proc).
    const child = cpus != null
      ? spawn('taskset', ['-c', cpus, 'wrk', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let clientCpu = 0;
    const poll = setInterval(() => { const c = procCpu(child.pid); if (c != null) clientCpu = c; }, 100);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const limit = setTimeout(() => child.kill('SIGKILL'), (duration + 60) * 1000);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(limit);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const srv1 = serverPid ? procCpu(serverPid) : null;
      const sys1 = systemBusy();
      const m = /WRKJSON (\{.*\})/.exec(out);
      if (code !== 0 || !m) {
        reject(new Error(`wrk ${args.join(' ')} exited ${code ?? signal}: ${err.trim() || out.trim()}`));
        return;
      }
      const rep = JSON.parse(m[1]);
      rep.duration_s = rep.duration_us / 1e6;
      rep.reqs_per_s = rep.requests / rep.duration_s;
      // wrk's percentile() occasionally answers 0 for high percentiles of pipelined runs (its
      // histogram count and buckets disagree): report no value rather than a wrong one.
      if (!(rep.p99_us > 0)) rep.p99_us = null;
      if (!(rep.p50_us > 0)) rep.p50_us = null;
      // wrk counts the server's close after each `Connection: close` response as a read error
      rep.errors = rep.err_connect + (row.headers?.includes('Connection: close') ? 0 : rep.err_read) +
        rep.err_write + rep.err_status + rep.err_timeout;
      rep.server_cpu_s = srv0 != null && srv1 != null ? srv1 - srv0 : null;
      rep.client_cpu_s = clientCpu;
      rep.client_cpu_share = clientCpu / rep.duration_s;
      rep.system_busy_s = sys1 - sys0;
      rep.wall_s = wall;
      resolve(rep);
    });
  });
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const rows = ROWS.filter((r) => opt.rows.includes(r.id));
  const wrkVersion = findWrk();

  if (opt.build) {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.js')], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status || 1);
  }
  let snapshot = null;
  if (opt.servers.includes('uws-rs')) {
    snapshot = snapshotUwsRs();
    SERVERS['uws-rs'].module = snapshot.dir;
  }
  const luaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uws-rs-wrk-'));
  const luaPath = path.join(luaDir, 'bench.lua');
  fs.writeFileSync(luaPath, WRK_LUA);
  process.on('exit', () => fs.rmSync(luaDir, { recursive: true, force: true }));

  const maxConns = Math.max(...rows.map((r) => r.connections));
  const lim = fileLimit(2 * maxConns + 256);
  const pin = opt.pin ? pinning() : null;
  if (opt.pin && !pin) console.error('! --pin needs taskset and 2 CPUs: running unpinned');
  const servers = opt.servers.map((id) => new Server(SERVERS[id].kind, SERVERS[id].label, SERVERS[id].module, lim.raise, serverScript));
  if (pin) for (const s of servers) s.cpus = pin.server;
  const cleanup = () => servers.forEach((s) => s.stop());
  process.on('exit', cleanup);
  process.on('SIGINT', () => { cleanup(); process.exit(130); });
  for (const s of servers) await s.start();

  const runs = opt.rounds * rows.length * servers.length;
  const perRun = opt.duration + opt.warmup + 0.8;
  console.log(`uws-rs HTTP benchmark @ ${gitDescribe()}: node ${process.version}, ${os.cpus().length} CPUs, ${wrkVersion}, ` +
    `${opt.rounds} round(s) x ${rows.length} load(s) x ${servers.length} server(s), ${opt.warmup}+${opt.duration} s each ` +
    `(~${Math.ceil((runs * perRun) / 60)} min), wrk threads ${opt.threads}` +
    (pin ? `, pinned: server CPU ${pin.server}, wrk CPU ${pin.client}` : ''));
  if (snapshot) console.log(`uws-rs addon: ${path.relative(root, snapshot.addon) || snapshot.addon} (${(snapshot.size / 1024).toFixed(0)} KiB, built ${snapshot.mtime.toISOString()})`);
  if (process.env.UWS_REFERENCE) console.log(`uWS.js reference: ${process.env.UWS_REFERENCE}`);
  const load = os.loadavg()[0];
  if (load > 0.5) console.log(`! load average ${load.toFixed(2)} before starting: other processes compete for the CPUs`);
  if (os.cpus().length <= 2) console.log(`! only ${os.cpus().length} CPUs: wrk and the server share them (compare ratios, not absolute numbers)`);

  const results = {};
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
          const cpus = pin && pin.client;
          if (opt.warmup > 0) await runWrk(row, { port: srv.port, duration: opt.warmup, threads: opt.threads, luaPath, cpus });
          rep = await runWrk(row, { port: srv.port, duration: opt.duration, threads: opt.threads, serverPid: srv.pid, luaPath, cpus });
        } catch (e) {
          console.error(`! ${row.name} on ${srv.label}: ${e.message}`);
          rep = { failed: true, error: e.message };
        }
        if (!rep.failed && rep.errors) {
          console.error(`! ${row.name} on ${srv.label}: wrk errors connect ${rep.err_connect} read ${rep.err_read} write ${rep.err_write} status ${rep.err_status} timeout ${rep.err_timeout}`);
        }
        if (!rep.failed && rep.server_cpu_s != null) {
          rep.foreign_cpu_share = Math.max(0, (rep.system_busy_s - rep.server_cpu_s - rep.client_cpu_s) / rep.wall_s);
          if (rep.foreign_cpu_share > 0.15) console.error(`! ${row.name} on ${srv.label}: other processes used ${(rep.foreign_cpu_share * 100).toFixed(0)}% of a CPU during the run`);
        }
        results[row.id][id].push(rep);
        done++;
        process.stderr.write(`  [${done}/${runs}] round ${round + 1} ${row.name.padEnd(34)} ${srv.label.padEnd(9)} ` +
          (rep.failed ? 'FAILED\n' : `${fmtRate(rep.reqs_per_s).padStart(7)} req/s  p50 ${fmtUs(rep.p50_us)} us  p99 ${fmtUs(rep.p99_us)} us  ` +
            `server ${fmtNum(rep.server_cpu_s)} s  client ${fmtNum(rep.client_cpu_s)} s\n`));
        await sleep(300);
      }
    }
  }
  cleanup();

  const summary = {};
  for (const row of rows) {
    summary[row.id] = {};
    for (const id of opt.servers) {
      const reps = results[row.id][id].filter((r) => !r.failed);
      summary[row.id][id] = reps.length === 0 ? null : {
        reqs_per_s: median(reps.map((r) => r.reqs_per_s)),
        p50_us: median(reps.map((r) => r.p50_us)),
        p99_us: median(reps.map((r) => r.p99_us)),
        server_cpu_s_per_M: median(reps.map((r) => (r.server_cpu_s != null && r.requests > 0 ? (r.server_cpu_s / r.requests) * 1e6 : null))),
        client_cpu_share: median(reps.map((r) => r.client_cpu_share)),
        runs: reps.length,
      };
    }
  }

  const both = opt.servers.includes('uws-rs') && opt.servers.includes('uws');
  const ratio = (row, key) => {
    const a = summary[row.id]['uws-rs'];
    const b = summary[row.id].uws;
    return a && b && b[key] ? a[key] / b[key] : null;
  };
  const fx = (x) => (x == null ? '-' : `${x.toFixed(2)}x`);
  const labels = opt.servers.map((id) => SERVERS[id].label);

  console.log(`\nThroughput (requests/s, median of ${opt.rounds}) and server CPU seconds per million requests (lower is better)`);
  const t1 = [['load', ...labels.map((l) => `${l} req/s`), ...labels.map((l) => `${l} s/M`)]];
  if (both) t1[0].push('req/s rs/uWS', 'CPU/req rs/uWS');
  for (const row of rows) {
    const line = [row.name,
      ...opt.servers.map((id) => fmtRate(summary[row.id][id]?.reqs_per_s)),
      ...opt.servers.map((id) => fmtNum(summary[row.id][id]?.server_cpu_s_per_M, 2))];
    if (both) line.push(fx(ratio(row, 'reqs_per_s')), fx(ratio(row, 'server_cpu_s_per_M')));
    t1.push(line);
  }
  console.log(table(t1));

  console.log('\nLatency p50 / p99 (us, wrk; pipelined rows: per batch), and wrk CPU share of one core');
  const t2 = [['load', ...labels, ...labels.map((l) => `wrk % (${l})`)]];
  for (const row of rows) {
    t2.push([row.name,
      ...opt.servers.map((id) => { const s = summary[row.id][id]; return s ? `${fmtUs(s.p50_us)} / ${fmtUs(s.p99_us)}` : '-'; }),
      ...opt.servers.map((id) => { const s = summary[row.id][id]; return s ? `${(s.client_cpu_share * 100).toFixed(0)}%` : '-'; })]);
  }
  console.log(table(t2));

  const out = opt.out || path.join(root, 'bench', 'results', `http-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ commit: gitDescribe(), node: process.version, wrk: wrkVersion, options: opt, rows, summary, results }, null, 1));
  console.log(`\nraw results: ${path.relative(process.cwd(), out)}`);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
