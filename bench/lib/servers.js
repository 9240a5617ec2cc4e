'use strict';
// Starts benchmark servers (bench/lib/echo-server.js) as child processes and keeps track of them.
const { spawn, spawnSync } = require('child_process');
const path = require('path');

const serverScript = path.join(__dirname, 'echo-server.js');

/** The open-files limit children get: raised (up to the hard limit) when below `need`. */
function fileLimit(need) {
  const r = spawnSync('sh', ['-c', 'ulimit -n; ulimit -Hn'], { encoding: 'utf8' });
  const [soft, hard] = (r.stdout || '').trim().split('\n');
  const num = (v) => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: num(soft), hard: num(hard), raise: num(soft) < need ? Math.min(num(hard), 65536) : null };
}

class Server {
  /** kind: 'uws-rs' | 'uws' | 'ws'; modulePath: optional module to load instead of the default;
   * script: the server script (default bench/lib/echo-server.js). */
  constructor(kind, label, modulePath, nofile, script) {
    this.kind = kind;
    this.script = script || serverScript;
    this.label = label;
    this.modulePath = modulePath;
    this.nofile = nofile;
    this.child = null;
    this.port = 0;
    this.stderr = '';
    /** CPU list for `taskset -c` (null: not pinned). */
    this.cpus = null;
  }

  get pid() { return this.child ? this.child.pid : 0; }
  get alive() { return !!this.child && this.child.exitCode === null && this.child.signalCode === null; }

  start() {
    const nodeArgs = [this.script, this.kind];
    if (this.modulePath) nodeArgs.push(this.modulePath);
    // `exec` keeps the pid: /proc/<pid>/stat is node's own.
    const quoted = [process.execPath, ...nodeArgs].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    // taskset execs node in turn, so the pid is still node's.
    const pin = this.cpus != null ? `taskset -c ${this.cpus} ` : '';
    const cmd = `${this.nofile ? `ulimit -n ${this.nofile} && ` : ''}exec ${pin}${quoted}`;
    this.stderr = '';
    this.child = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d) => { this.stderr = (this.stderr + d).slice(-4000); });
    return new Promise((resolve, reject) => {
      let out = '';
      const onData = (d) => {
        out += d;
        const m = /PORT (\d+)/.exec(out);
        if (m) {
          this.port = Number(m[1]);
          this.child.stdout.off('data', onData);
          this.child.stdout.resume();
          resolve(this);
        }
      };
      this.child.stdout.on('data', onData);
      this.child.once('exit', (code, sig) => reject(new Error(`${this.label} server exited (${code ?? sig}) before listening: ${this.stderr.trim()}`)));
    });
  }

  async ensure() {
    if (!this.alive) {
      if (this.child) console.error(`! ${this.label} server died (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr.trim().slice(-500)}; restarting`);
      await this.start();
    }
  }

  stop() {
    if (this.alive) this.child.kill('SIGKILL');
  }
}

/**
 * CPUs for `--pin`: the server on CPU 0 and the load generator on CPU 1, so that neither is
 * moved around or shares a core with the other (the runs' spread shrinks a lot on a shared
 * 2-core machine). Null when taskset is missing or there is only one CPU.
 */
function pinning() {
  if (require('os').cpus().length < 2) return null;
  if (spawnSync('taskset', ['-c', '0', 'true']).status !== 0) return null;
  return { server: '0', client: '1' };
}

module.exports = { Server, fileLimit, pinning };
