// timeline.mjs - draw deadline timelines (SVG) from a small text source.
//
// slides/diagrams/NAME.tl, one lane per `lane:` line, time in ms:
//
//   title: an idle deadline vs a line deadline
//   axis: 0 3000 500                   from, to, a tick every (ms)
//   lane: idle deadline, 500 ms
//   bytes: 0 200 400 600 800           data arriving (one mark each)
//   window: 0 500                      a deadline window: from .. deadline
//   rows: 1                            draw this lane's windows in N rows (wrapping)
//   cut: 1000 line-timeout: close      the server gives up here (red)
//   ok: 2400 the line is complete      a good ending (green)
//   note: 1200 text                    a remark under the lane
//
// Each window of a lane gets its own row; a window that a later one replaces
// before it runs out (an idle deadline pushed back by every byte) is drawn
// faint. ` / ` in a lane's name breaks the line.
// Used by tools/build.mjs; `node tools/timeline.mjs FILE.tl > FILE.svg` by hand.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const W = 1100, X0 = 330, X1 = 1040, TOP = 20, ROW = 15;
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function parse(src, name) {
  const d = { title: '', axis: null, lanes: [] };
  src.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\s+#.*$|^#.*$/, '').trim();
    if (!line) return;
    const m = /^([a-z]+):\s*(.*)$/.exec(line);
    if (!m) throw new Error(`${name}:${i + 1}: expected "key: value"`);
    const [, key, val] = m;
    const lane = d.lanes[d.lanes.length - 1];
    const num = (s) => {
      const n = Number(s);
      if (!Number.isFinite(n)) throw new Error(`${name}:${i + 1}: "${s}" is not a number of ms`);
      return n;
    };
    const timeAndText = () => {
      const [t, ...rest] = val.split(/\s+/);
      return { t: num(t), text: rest.join(' ') };
    };
    if (key !== 'title' && key !== 'axis' && key !== 'lane' && !lane) throw new Error(`${name}:${i + 1}: "${key}" before any lane`);
    switch (key) {
      case 'title': d.title = val; break;
      case 'axis': { const [a, b, s] = val.split(/\s+/).map(num); d.axis = { from: a, to: b, step: s }; break; }
      case 'lane': d.lanes.push({ label: val, bytes: [], windows: [], marks: [], rows: Infinity }); break;
      case 'rows': lane.rows = num(val); break;
      case 'bytes': lane.bytes.push(...val.split(/\s+/).map(num)); break;
      case 'window': { const [a, b, ...rest] = val.split(/\s+/); lane.windows.push({ from: num(a), to: num(b), text: rest.join(' ') }); break; }
      case 'cut': case 'ok': case 'note': lane.marks.push({ kind: key, ...timeAndText() }); break;
      default: throw new Error(`${name}:${i + 1}: unknown key "${key}"`);
    }
  });
  if (!d.axis) throw new Error(`${name}: no "axis: FROM TO STEP" line`);
  if (!d.lanes.length) throw new Error(`${name}: no lanes`);
  return d;
}

/** The SVG document for a .tl source. */
export function timeline(src, name = 'diagram.tl') {
  const d = parse(src, name);
  const { from, to, step } = d.axis;
  const x = (t) => X0 + ((t - from) / (to - from)) * (X1 - X0);
  // Lane heights: room for one row per window above the time line.
  const tops = [];
  let yy = TOP;
  for (const lane of d.lanes) {
    const rows = Math.max(1, Math.min(lane.rows, lane.windows.length));
    const labels = lane.label.split(' / ').length;
    lane.top = yy;
    lane.base = yy + Math.max(14 + rows * ROW + 22, 30 + labels * 25);
    yy = lane.base + 44;
    tops.push(lane.top);
  }
  const H = yy + 30;
  const p = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="'DejaVu Sans', 'Liberation Sans', Arial, sans-serif">`,
    `<!-- generated from slides/diagrams/${name} by slides/tools/timeline.mjs; edit the .tl, not this -->`,
    `<title>${esc(d.title || name)}</title>`,
    '<style>',
    '.lane { font-size: 21px; font-weight: bold; fill: #263238; }',
    '.win { fill: #bbdefb; stroke: #1565c0; stroke-width: 1.5; }',
    '.old { opacity: 0.35; }',
    '.dl { stroke: #1565c0; stroke-width: 3; }',
    '.wtext { font-size: 16px; fill: #0d47a1; }',
    '.byte { fill: #2e7d32; }',
    '.cut { stroke: #c62828; stroke-width: 4; }',
    '.cuttext { font-size: 19px; font-weight: bold; fill: #c62828; }',
    '.ok { stroke: #2e7d32; stroke-width: 4; }',
    '.oktext { font-size: 19px; font-weight: bold; fill: #2e7d32; }',
    '.note { font-size: 18px; font-style: italic; fill: #455a64; }',
    '.axis { stroke: #90a4ae; stroke-width: 1.5; }',
    '.tick { font-size: 16px; fill: #607d8b; }',
    '</style>',
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
  ];
  d.lanes.forEach((lane, i) => {
    const y = lane.top, base = lane.base;
    if (i > 0) p.push(`<line x1="20" y1="${y - 8}" x2="${W - 20}" y2="${y - 8}" stroke="#eceff1" stroke-width="2"/>`);
    const labelLines = lane.label.split(' / ');
    labelLines.forEach((l, k) => p.push(`<text x="24" y="${base - 8 - (labelLines.length - 1 - k) * 25}" class="lane">${esc(l)}</text>`));
    p.push(`<line x1="${X0}" y1="${base}" x2="${X1}" y2="${base}" class="axis"/>`);
    lane.windows.forEach((w, k) => {
      const wy = y + 8 + (k % lane.rows) * ROW;
      const replaced = lane.windows.some((o, j) => j > k && o.from < w.to);
      p.push(`<g${replaced ? ' class="old"' : ''}>`);
      p.push(`<rect x="${x(w.from)}" y="${wy}" width="${Math.max(2, x(w.to) - x(w.from))}" height="10" rx="3" class="win"/>`);
      p.push(`<line x1="${x(w.to)}" y1="${wy - 3}" x2="${x(w.to)}" y2="${wy + 13}" class="dl"/>`);
      if (w.text) p.push(`<text x="${x(w.to) + 6}" y="${wy + 10}" class="wtext">${esc(w.text)}</text>`);
      p.push('</g>');
    });
    for (const t of lane.bytes) p.push(`<rect x="${x(t) - 3}" y="${base - 16}" width="6" height="16" rx="1" class="byte"/>`);
    for (const m of lane.marks) {
      if (m.kind === 'note') {
        p.push(`<text x="${x(m.t)}" y="${base + 24}" class="note">${esc(m.text)}</text>`);
        continue;
      }
      const cls = m.kind === 'cut' ? 'cut' : 'ok';
      p.push(`<line x1="${x(m.t)}" y1="${y}" x2="${x(m.t)}" y2="${base + 6}" class="${cls}"/>`);
      const anchor = x(m.t) > X1 - 260 ? 'end' : 'start';
      const tx = anchor === 'end' ? x(m.t) - 8 : x(m.t) + 8;
      p.push(`<text x="${tx}" y="${base + 26}" text-anchor="${anchor}" class="${cls}text">${esc(m.text)}</text>`);
    }
  });
  const ay = yy - 10;
  p.push(`<line x1="${X0}" y1="${ay}" x2="${X1}" y2="${ay}" class="axis"/>`);
  for (let t = from; t <= to + 1e-9; t += step) {
    p.push(`<line x1="${x(t)}" y1="${ay}" x2="${x(t)}" y2="${ay + 7}" class="axis"/>`);
    p.push(`<text x="${x(t)}" y="${ay + 27}" text-anchor="middle" class="tick">${t} ms</text>`);
  }
  p.push('</svg>');
  return p.join('\n') + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) { process.stderr.write('usage: node timeline.mjs FILE.tl > FILE.svg\n'); process.exit(2); }
  process.stdout.write(timeline(readFileSync(file, 'utf8'), file.split('/').pop()));
}
