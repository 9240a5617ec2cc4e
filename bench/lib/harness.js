'use strict';
// What the side-by-side benchmark scripts (bench/echo.js, bench/http.js) share: the command line,
// the commit being measured, and a private snapshot of the uws-rs package.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..', '..');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Parses --rounds, --duration, --warmup, --rows, --servers, --threads, --quick, --build, --out
 * and --help (which prints the `//` header of `helpFile` and the rows).
 * `spec`: { rows: [{id, name}], servers: {id: ...}, defaultServers: [ids], quick: {...} }.
 */
function parseArgs(argv, spec) {
  const o = {
    rounds: 3, duration: 5, warmup: 1, rows: spec.rows.map((r) => r.id), servers: spec.defaultServers,
    threads: 1, build: false, out: null, pin: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? a.split(/=(.*)/s) : [a, null];
    const val = () => {
      if (inline != null) return inline;
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const list = () => val().split(',').map((s) => s.trim()).filter(Boolean);
    switch (flag) {
      case '--rounds': o.rounds = Number(val()); break;
      case '--duration': o.duration = Number(val()); break;
      case '--warmup': o.warmup = Number(val()); break;
      case '--rows': o.rows = list(); break;
      case '--servers': o.servers = list(); break;
      case '--threads': o.threads = Number(val()); break;
      case '--quick': Object.assign(o, spec.quick); break;
      case '--build': o.build = true; break;
      case '--pin': o.pin = true; break;
      case '--out': o.out = val(); break;
      case '--help': case '-h':
        console.log(fs.readFileSync(spec.helpFile, 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
        console.log(`\nrows: ${spec.rows.map((r) => `${r.id} (${r.name})`).join(', ')}`);
        process.exit(0);
        break;
      default: throw new Error(`unknown flag ${a} (try --help)`);
    }
  }
  for (const id of o.rows) if (!spec.rows.some((r) => r.id === id)) throw new Error(`unknown row ${id}; rows: ${spec.rows.map((r) => r.id).join(', ')}`);
  for (const id of o.servers) if (!spec.servers[id]) throw new Error(`unknown server ${id}; servers: ${Object.keys(spec.servers).join(', ')}`);
  if (!(o.rounds >= 1 && o.duration > 0 && o.warmup >= 0 && o.threads >= 1)) throw new Error('bad --rounds/--duration/--warmup/--threads');
  return o;
}

/** The commit measured, `+dirty` when tracked files differ from it. */
function gitDescribe() {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
  const d = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? `${r.stdout.trim()}${d.stdout.trim() ? '+dirty' : ''}` : 'unknown';
}

/**
 * Copies the uws-rs package (index.js, lib/, the release addon) to a private directory, so that a
 * concurrent rebuild (or a debug build installed as uws_rs.node) cannot change what is measured
 * mid-run. The addon is $UWS_RS_ADDON, else target/release/libuws_rs.so, else uws_rs.node.
 */
function snapshotUwsRs() {
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
  const candidates = [process.env.UWS_RS_ADDON, path.join(targetDir, 'release', 'libuws_rs.so'), path.join(root, 'uws_rs.node')];
  const addon = candidates.find((f) => f && fs.existsSync(f));
  if (!addon) throw new Error('no uws-rs addon found: run `npm run build` (or pass --build)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uws-rs-bench-'));
  fs.copyFileSync(path.join(root, 'index.js'), path.join(dir, 'index.js'));
  fs.cpSync(path.join(root, 'lib'), path.join(dir, 'lib'), { recursive: true });
  fs.copyFileSync(addon, path.join(dir, 'uws_rs.node'));
  const st = fs.statSync(addon);
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, addon, mtime: st.mtime, size: st.size };
}

module.exports = { parseArgs, gitDescribe, snapshotUwsRs, sleep, root };
