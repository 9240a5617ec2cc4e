'use strict';
// Small helpers for summarising benchmark runs and printing aligned tables.

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function fmtRate(x) {
  if (x == null) return '-';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

function fmtNum(x, digits = 2) {
  return x == null ? '-' : x.toFixed(digits);
}

/** microseconds, without unit */
function fmtUs(x) {
  if (x == null) return '-';
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

/** rows: array of arrays of strings; the first row is the header. Right-aligns all but column 0. */
function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(rows[0]), sep, ...rows.slice(1).map(line)].join('\n');
}

module.exports = { median, fmtRate, fmtNum, fmtUs, table };
