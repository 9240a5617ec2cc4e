'use strict';
// Hand-written SVG: small multiples, one panel per mode, server RSS (MiB) over time (s since
// the first send), one line per server; uws-rs's queued bytes (stats) as a dashed line; phase
// ticks (after-send, delivered, closed) as small markers on each line.

const COLORS = { 'uws-rs': '#d62728', uws: '#1f77b4', ws: '#2ca02c' };
const MiB = 1024 * 1024;

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

function niceStep(range, ticks) {
  const raw = range / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** runs: [{ mode, server, t0, series: [[t, rss]], queued: [[t, bytes]]|null, marks: {label: t} }] */
function chart(modes, runs, title) {
  const cols = Math.min(2, modes.length);
  const rows = Math.ceil(modes.length / cols);
  const pw = 520, ph = 280, ml = 56, mr = 16, mt = 34, mb = 40;
  const W = cols * pw, H = rows * ph + 50;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`);
  // legend
  let lx = 10;
  const servers = [...new Set(runs.map((r) => r.server))];
  for (const s of servers) {
    out.push(`<line x1="${lx}" y1="36" x2="${lx + 20}" y2="36" stroke="${COLORS[s] || '#000'}" stroke-width="2"/>`);
    out.push(`<text x="${lx + 24}" y="40">${esc(s)} RSS</text>`);
    lx += 100;
  }
  out.push(`<line x1="${lx}" y1="36" x2="${lx + 20}" y2="36" stroke="${COLORS['uws-rs']}" stroke-width="1" stroke-dasharray="4 3"/>`);
  out.push(`<text x="${lx + 24}" y="40">uws-rs queuedBytes (stats)</text>`);
  lx += 190;
  out.push(`<text x="${lx}" y="40">markers: ▲ after-send  ● delivered  ■ closed</text>`);

  modes.forEach((mode, idx) => {
    const ox = (idx % cols) * pw, oy = 50 + Math.floor(idx / cols) * ph;
    const rs = runs.filter((r) => r.mode === mode);
    let tmax = 1, ymax = 1;
    for (const r of rs) {
      for (const [t, v] of r.series) { tmax = Math.max(tmax, (t - r.t0) / 1000); ymax = Math.max(ymax, v / MiB); }
      for (const [t, v] of r.queued || []) { tmax = Math.max(tmax, (t - r.t0) / 1000); ymax = Math.max(ymax, v / MiB); }
    }
    const ystep = niceStep(ymax, 5), tstep = niceStep(tmax, 8);
    ymax = Math.ceil(ymax / ystep) * ystep;
    tmax = Math.ceil(tmax / tstep) * tstep;
    const x = (t) => ox + ml + (t / tmax) * (pw - ml - mr);
    const y = (v) => oy + mt + (1 - v / ymax) * (ph - mt - mb);
    out.push(`<text x="${ox + ml}" y="${oy + 20}" font-size="12" font-weight="bold">${esc(mode)}</text>`);
    out.push(`<rect x="${ox + ml}" y="${oy + mt}" width="${pw - ml - mr}" height="${ph - mt - mb}" fill="none" stroke="#999"/>`);
    for (let v = 0; v <= ymax + 1e-9; v += ystep) {
      out.push(`<line x1="${ox + ml}" y1="${y(v).toFixed(1)}" x2="${ox + pw - mr}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
      out.push(`<text x="${ox + ml - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${+v.toFixed(1)}</text>`);
    }
    for (let t = 0; t <= tmax + 1e-9; t += tstep) {
      out.push(`<text x="${x(t).toFixed(1)}" y="${oy + ph - mb + 14}" text-anchor="middle">${+t.toFixed(1)}</text>`);
    }
    out.push(`<text x="${ox + ml + (pw - ml - mr) / 2}" y="${oy + ph - 10}" text-anchor="middle">s since first send</text>`);
    out.push(`<text transform="translate(${ox + 14},${oy + mt + (ph - mt - mb) / 2}) rotate(-90)" text-anchor="middle">RSS MiB</text>`);
    for (const r of rs) {
      const c = COLORS[r.server] || '#000';
      const pts = r.series.filter(([t]) => t >= r.t0 - 500).map(([t, v]) => `${x(Math.max(0, (t - r.t0) / 1000)).toFixed(1)},${y(v / MiB).toFixed(1)}`);
      if (pts.length) out.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
      if (r.queued && r.queued.length) {
        const q = r.queued.map(([t, v]) => `${x(Math.max(0, (t - r.t0) / 1000)).toFixed(1)},${y(v / MiB).toFixed(1)}`);
        out.push(`<polyline fill="none" stroke="${c}" stroke-width="1" stroke-dasharray="4 3" points="${q.join(' ')}"/>`);
      }
      const at = (t) => {
        // RSS value of the series nearest to time t
        let best = null;
        for (const s of r.series) if (!best || Math.abs(s[0] - t) < Math.abs(best[0] - t)) best = s;
        return best ? best[1] : 0;
      };
      for (const [label, shape] of [['afterSend', 'tri'], ['delivered', 'dot'], ['closed', 'sq']]) {
        const t = r.marks[label];
        if (t == null) continue;
        const px = x(Math.max(0, (t - r.t0) / 1000)), py = y(at(t) / MiB);
        if (shape === 'dot') out.push(`<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="3.5" fill="${c}"/>`);
        else if (shape === 'sq') out.push(`<rect x="${(px - 3).toFixed(1)}" y="${(py - 3).toFixed(1)}" width="6" height="6" fill="${c}"/>`);
        else out.push(`<path d="M${px.toFixed(1)},${(py - 4).toFixed(1)} l4,7 h-8 z" fill="${c}"/>`);
      }
      if (r.stalled) {
        out.push(`<text x="${ox + pw - mr - 4}" y="${oy + mt + 14 + 14 * servers.indexOf(r.server)}" text-anchor="end" fill="${c}">${esc(r.server)}: STALLED</text>`);
      }
    }
  });
  out.push('</svg>');
  return out.join('\n');
}

module.exports = { chart };
