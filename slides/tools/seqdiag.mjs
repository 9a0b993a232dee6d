// seqdiag.mjs - draw a two-party TCP sequence diagram (SVG) from a text table.
//
// The source (slides/diagrams/NAME.seq) reads like the ASCII diagrams in the
// lessons' READMEs; each row is `left | middle | right`, time runs down:
//
//   actors: client | server
//   ESTABLISHED        |              | ESTABLISHED
//   close() FIN-WAIT-1 | FIN ->       |
//                      | <- ACK       | CLOSE-WAIT read() returns 0
//
// In a side cell, a TCP state name (ESTABLISHED, CLOSE-WAIT, ...) starts that
// state's coloured bar on the side's lifeline; the rest of the cell is a note
// (a call, an event). `(gone)` ends the bar. In the middle, `NAME ->` and
// `<- NAME` draw a segment travelling to the other side (it lands one row
// down); any other text is a remark across the gap. `#` starts a comment.
//
// Used by tools/build.mjs; `node tools/seqdiag.mjs FILE.seq > FILE.svg` by hand.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const STATES = {
  LISTEN: '#78909c', 'SYN-SENT': '#78909c', 'SYN-RECV': '#78909c',
  ESTABLISHED: '#2e7d32',
  'FIN-WAIT-1': '#1565c0', 'FIN-WAIT-2': '#1565c0', CLOSING: '#1565c0',
  'TIME-WAIT': '#6a1b9a',
  'CLOSE-WAIT': '#c62828', 'LAST-ACK': '#ef6c00',
  CLOSED: null, '(gone)': null,
};
const STATE_RE = new RegExp(`(^|\\s)(${Object.keys(STATES).map((s) => s.replace(/[()]/g, '\\$&')).join('|')})(?=\\s|$)`);

const W = 1000, LX = 330, RX = 670, TOP = 92, ROW = 56, BAR = 14;
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function parseCell(text) {
  const m = STATE_RE.exec(text);
  if (!m) return { state: null, note: text.trim() };
  const note = (text.slice(0, m.index) + ' ' + text.slice(m.index + m[0].length)).replace(/\s+/g, ' ').trim();
  return { state: m[2], note };
}

/** Parse a .seq source into actors and rows. */
function parse(src, name) {
  let actors = ['client', 'server'], title = '';
  const rows = [];
  src.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').replace(/\s+$/, '');
    if (!line.trim()) return;
    let m;
    if ((m = /^\s*actors:\s*(.+?)\s*\|\s*(.+?)\s*$/.exec(line))) { actors = [m[1], m[2]]; return; }
    if ((m = /^\s*title:\s*(.+)$/.exec(line))) { title = m[1].trim(); return; }
    const cells = line.split('|');
    if (cells.length !== 3) throw new Error(`${name}:${i + 1}: a row is "left | middle | right"`);
    const mid = cells[1].trim();
    let msg = null;
    if ((m = /^(.+?)\s*->$/.exec(mid))) msg = { dir: 1, label: m[1] };
    else if ((m = /^<-\s*(.+)$/.exec(mid))) msg = { dir: -1, label: m[1] };
    rows.push({ left: parseCell(cells[0]), right: parseCell(cells[2]), msg, remark: msg ? '' : mid });
  });
  if (!rows.length) throw new Error(`${name}: no rows`);
  return { actors, title, rows };
}

function sideBars(rows, side, x, bottom) {
  const out = [];
  const starts = rows.map((r, i) => [i, r[side].state]).filter(([, s]) => s);
  starts.forEach(([i, state], k) => {
    const color = STATES[state];
    if (!color) return;
    const y0 = TOP + i * ROW, y1 = k + 1 < starts.length ? TOP + starts[k + 1][0] * ROW : bottom;
    out.push(`<rect x="${x - BAR / 2}" y="${y0}" width="${BAR}" height="${y1 - y0}" rx="3" fill="${color}"/>`);
  });
  return out;
}

function sideText(row, i, side) {
  const { state, note } = row[side];
  const left = side === 'left';
  const x = left ? LX - 20 : RX + 20, anchor = left ? 'end' : 'start';
  const y = TOP + i * ROW;
  const out = [];
  if (state) {
    const color = STATES[state] || '#555';
    out.push(`<text x="${x}" y="${y + 17}" text-anchor="${anchor}" class="state" fill="${color}">${esc(state)}</text>`);
  }
  if (note) out.push(`<text x="${x}" y="${y + (state ? 42 : 19)}" text-anchor="${anchor}" class="note">${esc(note)}</text>`);
  return out;
}

function message(row, i) {
  const y0 = TOP + i * ROW + 6, y1 = y0 + ROW;
  const out = [];
  if (row.msg) {
    const [x0, x1] = row.msg.dir > 0 ? [LX + BAR / 2, RX - BAR / 2 - 2] : [RX - BAR / 2, LX + BAR / 2 + 2];
    const rst = /^RST/.test(row.msg.label);
    out.push(`<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y1}" class="msg${rst ? ' rst' : ''}" marker-end="url(#arrow${rst ? '-rst' : ''})"/>`);
    const mx = (x0 + x1) / 2, my = (y0 + y1) / 2;
    const angle = (Math.atan2(y1 - y0, x1 - x0) * 180) / Math.PI;
    const a = row.msg.dir > 0 ? angle : angle + 180;
    out.push(`<text x="${mx}" y="${my - 8}" text-anchor="middle" class="label${rst ? ' rst' : ''}" transform="rotate(${a.toFixed(1)} ${mx} ${my})">${esc(row.msg.label)}</text>`);
  } else if (row.remark) {
    out.push(`<text x="${W / 2}" y="${TOP + i * ROW + 24}" text-anchor="middle" class="remark">${esc(row.remark)}</text>`);
  }
  return out;
}

/** The SVG document for a .seq source. */
export function seqdiag(src, name = 'diagram.seq') {
  const { actors, title, rows } = parse(src, name);
  const bottom = TOP + rows.length * ROW + 10;
  const H = bottom + 14;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="'DejaVu Sans', 'Liberation Sans', Arial, sans-serif">`,
    `<!-- generated from slides/diagrams/${name} by slides/tools/seqdiag.mjs; edit the .seq, not this -->`,
    `<title>${esc(title || `${actors[0]} and ${actors[1]}`)}</title>`,
    '<style>',
    '.actor { font-size: 24px; font-weight: bold; fill: #222; }',
    '.state { font-size: 23px; font-weight: bold; font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; }',
    '.note { font-size: 20px; font-style: italic; fill: #37474f; }',
    '.label { font-size: 21px; font-weight: bold; fill: #222; font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; }',
    '.remark { font-size: 20px; font-style: italic; fill: #607d8b; }',
    '.life { stroke: #b0bec5; stroke-width: 2; stroke-dasharray: 6 5; }',
    '.msg { stroke: #222; stroke-width: 2.2; }',
    '.rst { stroke: #c62828; fill: #c62828; }',
    '</style>',
    '<defs>',
    '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#222"/></marker>',
    '<marker id="arrow-rst" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c62828"/></marker>',
    '</defs>',
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
  ];
  for (const [x, who] of [[LX, actors[0]], [RX, actors[1]]]) {
    const bw = Math.max(160, who.length * 15 + 40);
    parts.push(`<rect x="${x - bw / 2}" y="14" width="${bw}" height="44" rx="8" fill="#eceff1" stroke="#90a4ae"/>`);
    parts.push(`<text x="${x}" y="44" text-anchor="middle" class="actor">${esc(who)}</text>`);
    parts.push(`<line x1="${x}" y1="58" x2="${x}" y2="${bottom}" class="life"/>`);
  }
  parts.push(...sideBars(rows, 'left', LX, bottom), ...sideBars(rows, 'right', RX, bottom));
  rows.forEach((row, i) => parts.push(...sideText(row, i, 'left'), ...sideText(row, i, 'right'), ...message(row, i)));
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) { process.stderr.write('usage: node seqdiag.mjs FILE.seq > FILE.svg\n'); process.exit(2); }
  process.stdout.write(seqdiag(readFileSync(file, 'utf8'), file.split('/').pop()));
}
