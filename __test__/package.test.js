'use strict';
// The npm package as a user gets it: `npm pack` (prepack stages the release addon under prebuilds/),
// then `npm install <tarball>` into a fresh project with default npm settings and no Rust toolchain
// on PATH, then a WebSocket echo round trip from that project through require() and import.
// Also: the loader's order and error message, on a copy of the installed package.
// The pack runs cargo build --release (a no-op when target/release is up to date, 1-2 min when not).
// SKIP_PACK_TEST=1 skips this file.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const platform = require('../lib/platform');

const repo = path.join(__dirname, '..');
const skip = process.env.SKIP_PACK_TEST === '1' ? 'SKIP_PACK_TEST=1' : false;
const key = platform.platformKey();
const wsPath = path.dirname(require.resolve('ws/package.json', { paths: [repo] }));

/** PATH without any directory that holds cargo or rustc: installing must not need them. */
function pathWithoutRust() {
  return (process.env.PATH || '').split(path.delimiter)
    .filter((d) => d && !['cargo', 'rustc'].some((b) => fs.existsSync(path.join(d, b))))
    .join(path.delimiter);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, ...opts });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status} ${r.signal || ''}):\n${out}`);
  return out;
}

// An echo server on a free port and a `ws` client (from the repo's node_modules, so the temp
// project needs nothing but uws-rs); prints the echoed text and the .node file that was loaded.
const ECHO_BODY = `
const app = uWS.App().ws('/*', { message: (ws, msg, isBinary) => ws.send(msg, isBinary) });
app.listen(0, (token) => {
  if (!token) { console.error('listen failed'); process.exit(1); }
  const port = uWS.us_socket_local_port(token);
  const c = new WebSocket('ws://127.0.0.1:' + port + '/echo');
  c.on('open', () => c.send('round trip ' + MODE));
  c.on('message', (data) => {
    const addon = Object.keys(requireFn.cache).find((f) => f.endsWith('.node'));
    console.log(JSON.stringify({ echo: data.toString(), addon }));
    c.close();
    uWS.us_listen_socket_close(token);
  });
  c.on('error', (e) => { console.error(e); process.exit(1); });
});
setTimeout(() => { console.error('timeout'); process.exit(1); }, 10000).unref();
`;
const ECHO_CJS = `'use strict';
const MODE = 'cjs';
const uWS = require('uws-rs');
const WebSocket = require(process.env.WS_PATH);
const requireFn = require;
${ECHO_BODY}`;
const ECHO_MJS = `import uWS from 'uws-rs';
import { App } from 'uws-rs';
import { createRequire } from 'node:module';
const MODE = 'esm';
const requireFn = createRequire(import.meta.url);
const WebSocket = requireFn(process.env.WS_PATH);
if (App !== uWS.App) throw new Error('named export differs from default export');
${ECHO_BODY}`;

describe('npm package', { skip, timeout: 900_000 }, () => {
  let tmp;
  let tarball;
  let files;
  let project;
  let installOutput;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uws-rs-pack-'));
    // stdout is npm's JSON; prepack and cargo write to stderr.
    const r = spawnSync('npm', ['pack', '--json', '--pack-destination', tmp], {
      cwd: repo, encoding: 'utf8', timeout: 600_000,
    });
    assert.equal(r.status, 0, `npm pack failed:\n${r.stderr}`);
    const info = JSON.parse(r.stdout)[0];
    tarball = path.join(tmp, info.filename);
    files = info.files.map((f) => f.path);
    console.log(`${info.filename}: ${(info.size / 1024).toFixed(0)} KiB packed, ` +
      `${(info.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${info.entryCount} files`);

    project = path.join(tmp, 'project');
    fs.mkdirSync(project);
    run('npm', ['init', '-y'], { cwd: project });
    // Default npm settings (install scripts of dependencies not pre-approved); --foreground-scripts
    // only makes the install script's output visible; no Rust toolchain on PATH.
    installOutput = run('npm', ['install', tarball, '--foreground-scripts', '--no-audit', '--no-fund'], {
      cwd: project, env: { ...process.env, PATH: pathWithoutRust() },
    });
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the tarball holds the prebuilt addon, the JS, the types and the Rust sources, and nothing else', () => {
    assert.ok(files.includes(`prebuilds/${key}/uws_rs.node`), `no prebuilds/${key}/uws_rs.node in ${files}`);
    for (const f of ['package.json', 'index.js', 'index.mjs', 'index.d.ts', 'lib/native.js', 'lib/platform.js',
      'scripts/build.js', 'Cargo.toml', 'Cargo.lock', 'build.rs', 'src/lib.rs',
      'crates/uws-core/Cargo.toml', 'crates/uws-core/src/lib.rs', 'README.md', 'LICENSE', 'CHANGELOG.md']) {
      assert.ok(files.includes(f), `${f} missing from the tarball`);
    }
    const stray = files.filter((f) =>
      /^(target|__test__|bench|fuzz|examples|node_modules|\.ci)\//.test(f) ||
      f === 'uws_rs.node' || f === 'scripts/prepack.js' || f.endsWith('.tgz'));
    assert.deepEqual(stray, []);
  });

  it('installing needs no build: the install script finds the prebuilt binary, cargo never runs', () => {
    const installed = path.join(project, 'node_modules', 'uws-rs');
    assert.match(installOutput, /using the prebuilt binary/);
    assert.doesNotMatch(installOutput, /Compiling|cargo build|built (release|debug) addon/);
    assert.ok(!fs.existsSync(path.join(installed, 'uws_rs.node')), 'a local build appeared');
    assert.ok(!fs.existsSync(path.join(installed, 'target')), 'cargo ran');
  });

  for (const [mode, file, source] of [['cjs', 'echo.cjs', ECHO_CJS], ['esm', 'echo.mjs', ECHO_MJS]]) {
    it(`echo round trip from the installed package (${mode})`, () => {
      fs.writeFileSync(path.join(project, file), source);
      const r = spawnSync(process.execPath, [file], {
        cwd: project, encoding: 'utf8', timeout: 20_000, env: { ...process.env, WS_PATH: wsPath, UWS_RS_NATIVE: '' },
      });
      assert.equal(r.status, 0, `${file} failed:\n${r.stdout}\n${r.stderr}`);
      const result = JSON.parse(r.stdout.trim().split('\n').pop());
      assert.equal(result.echo, `round trip ${mode}`);
      assert.equal(result.addon,
        fs.realpathSync(path.join(project, 'node_modules', 'uws-rs', 'prebuilds', key, 'uws_rs.node')));
    });
  }

  it('installing with --ignore-scripts works the same (no install script needed at all)', () => {
    const p2 = path.join(tmp, 'project-ignore-scripts');
    fs.mkdirSync(p2);
    run('npm', ['init', '-y'], { cwd: p2 });
    run('npm', ['install', tarball, '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: p2, env: { ...process.env, PATH: pathWithoutRust() },
    });
    fs.writeFileSync(path.join(p2, 'echo.cjs'), ECHO_CJS);
    const out = run(process.execPath, ['echo.cjs'], { cwd: p2, env: { ...process.env, WS_PATH: wsPath, UWS_RS_NATIVE: '' } });
    assert.match(out, /"echo":"round trip cjs"/);
  });

  it('the shipped Rust sources form a complete cargo workspace (metadata; a full build with UWS_RS_PACK_TEST_BUILD=1)', (t) => {
    const installed = path.join(project, 'node_modules', 'uws-rs');
    if (spawnSync('cargo', ['--version']).status !== 0) return t.skip('no cargo on PATH');
    const r = spawnSync('cargo', ['metadata', '--offline', '--no-deps', '--format-version', '1'], {
      cwd: installed, encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const names = JSON.parse(r.stdout).packages.map((p) => p.name).sort();
    assert.deepEqual(names, ['uws-core', 'uws-rs']);
    if (process.env.UWS_RS_PACK_TEST_BUILD !== '1') return;
    // What `npm rebuild uws-rs` does where no prebuilt binary matches (forced here: one does).
    const copy = path.join(tmp, 'from-source', 'node_modules', 'uws-rs');
    fs.cpSync(installed, copy, { recursive: true });
    const { CARGO_TARGET_DIR, ...env } = process.env;
    run(process.execPath, ['scripts/build.js', '--install'], {
      cwd: copy, env: { ...env, UWS_RS_BUILD_FROM_SOURCE: '1' },
    });
    assert.ok(fs.existsSync(path.join(copy, 'uws_rs.node')));
    assert.ok(!fs.existsSync(path.join(copy, 'target')), 'cargo intermediates left in node_modules');
  });

  describe('loader', () => {
    // A copy of the installed package, changed per case.
    function copyPackage(name) {
      const dir = path.join(tmp, name, 'node_modules', 'uws-rs');
      fs.cpSync(path.join(project, 'node_modules', 'uws-rs'), dir, { recursive: true });
      return dir;
    }
    function loaded(dir, env = {}) {
      const code = "require('./index.js'); console.log(Object.keys(require.cache).find((f) => f.endsWith('.node')))";
      return spawnSync(process.execPath, ['-e', code], {
        cwd: dir, encoding: 'utf8', env: { ...process.env, UWS_RS_NATIVE: '', ...env },
      });
    }

    it('a local build (uws_rs.node) wins over the prebuilt binary; UWS_RS_NATIVE wins over both', () => {
      const dir = copyPackage('order');
      const prebuilt = path.join(dir, 'prebuilds', key, 'uws_rs.node');
      fs.copyFileSync(prebuilt, path.join(dir, 'uws_rs.node'));
      const other = path.join(tmp, 'elsewhere.node');
      fs.copyFileSync(prebuilt, other);
      let r = loaded(dir);
      assert.equal(r.stdout.trim(), fs.realpathSync(path.join(dir, 'uws_rs.node')), r.stderr);
      r = loaded(dir, { UWS_RS_NATIVE: other });
      assert.equal(r.stdout.trim(), fs.realpathSync(other), r.stderr);
    });

    it('a file that exists but does not load is an error naming it, with no fallback', () => {
      const dir = copyPackage('broken');
      fs.writeFileSync(path.join(dir, 'uws_rs.node'), 'not an ELF file');
      const r = loaded(dir);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /could not load the native addon .*uws_rs\.node \(local build\)/);
    });

    it('no binary for the platform: the error names the platform and how to build from source', () => {
      const dir = copyPackage('none');
      fs.rmSync(path.join(dir, 'prebuilds', key), { recursive: true });
      const r = loaded(dir);
      assert.notEqual(r.status, 0);
      assert.ok(r.stderr.includes(`no native addon for ${key}`), r.stderr);
      assert.match(r.stderr, /npm install-scripts approve uws-rs && npm rebuild uws-rs/);
      assert.match(r.stderr, /rustup\.rs/);
    });
  });
});
