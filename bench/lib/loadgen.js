'use strict';
// Builds and runs the Rust load generator (bench/loadgen). It prints one JSON line per run.
const { spawnSync, spawn } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..', '..');
const manifest = path.join(root, 'bench', 'loadgen', 'Cargo.toml');
const binary = path.join(root, 'bench', 'loadgen', 'target', 'release', 'loadgen');

/** cargo build --release of bench/loadgen (its own workspace and target dir). */
function buildLoadgen() {
  const r = spawnSync('cargo', ['build', '--release', '-q', '--manifest-path', manifest], { stdio: 'inherit' });
  if (r.error || r.status !== 0) throw new Error(`building bench/loadgen failed${r.error ? `: ${r.error.message}` : ''}`);
  return binary;
}

/**
 * Runs one load. `load`: { connections, inflight, size, text, broadcast, deflate, churn, path }; `opts`: { port, path,
 * duration, warmup, threads, serverPid, cpus (taskset list, optional) }. Resolves with the parsed JSON report (or rejects).
 */
function runLoadgen(load, opts) {
  const args = [
    '--url', `ws://127.0.0.1:${opts.port}${load.path || (load.broadcast ? '/broadcast' : '/echo')}`,
    '-c', String(load.connections), '-p', String(load.inflight), '-s', String(load.size),
    '-d', String(opts.duration), '-w', String(opts.warmup), '-t', String(opts.threads || 1),
  ];
  if (load.text) args.push('--text');
  if (load.broadcast) args.push('--broadcast');
  if (load.deflate) args.push('--deflate');
  if (load.churn) args.push('--churn');
  if (opts.serverPid) args.push('--server-pid', String(opts.serverPid));
  return new Promise((resolve, reject) => {
    const child = opts.cpus != null
      ? spawn('taskset', ['-c', opts.cpus, binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const limit = setTimeout(() => child.kill('SIGKILL'), (opts.duration + opts.warmup + 60) * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      const line = out.trim().split('\n').pop();
      if (code === 0 && line) {
        try { resolve(JSON.parse(line)); return; } catch (e) { /* fall through */ }
      }
      reject(new Error(`loadgen ${args.join(' ')} exited ${code ?? signal}: ${err.trim() || out.trim()}`));
    });
  });
}

module.exports = { buildLoadgen, runLoadgen, loadgenBinary: binary };
