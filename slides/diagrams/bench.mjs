// bench.mjs - the lesson 11 benchmark chart, drawn from a real tools/bench run.
//
//   node slides/diagrams/bench.mjs [RESULTS] > bench.svg
//
// The numbers come from RESULTS when given, else from bench/out/bench.txt when `make bench` left one there
// (a run on this machine), else from lessons/11-out-of-fds/bench.txt: the run
// the lesson's README shows, committed with it. Nothing in the chart is typed
// by hand, and building the slides never runs a benchmark.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const kit = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const sources = process.argv[2] ? [resolve(process.argv[2])]
  : [join(kit, 'bench/out/bench.txt'), join(kit, 'lessons/11-out-of-fds/bench.txt')];

function results() {
  const file = sources.find((f) => existsSync(f));
  if (!file) {
    process.stderr.write(`no benchmark results: neither ${sources.join(' nor ')} exists (make bench makes the first)\n`);
    process.exit(1);
  }
  return { file, text: readFileSync(file, 'utf8') };
}

/** tools/bench's table: a 44-character label, then one 19-character cell per server. */
function parse(text) {
  const lines = text.split('\n');
  const h = lines.findIndex((l) => l.startsWith('measurement'));
  if (h < 0) throw new Error('no "measurement" header in the bench output');
  const cells = (l) => {
    const out = [];
    for (let i = 44; i < l.length; i += 19) out.push(l.slice(i, i + 19).trim());
    return out.filter((c) => c !== '');
  };
  const servers = cells(lines[h]);
  const rows = {};
  for (const l of lines.slice(h + 1)) {
    if (!l.trim()) break;                        // the table ends at its first blank line
    rows[l.slice(0, 44).trim()] = cells(l).map((c) => Number.parseFloat(c));
  }
  const head = lines.find((l) => l.startsWith('bench:')) || '';
  return { servers, rows, head };
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function chart({ servers, rows, head }) {
  const pick = (prefix) => {
    const key = Object.keys(rows).find((k) => k.startsWith(prefix));
    return key ? { key, values: rows[key] } : null;
  };
  const panels = [
    [pick('memory per idle connection'), 'memory per idle connection', 'bytes'],
    [pick('reap lateness p99'), 'reaped late (p99)', 'ms past a 1 s idle timeout'],
    [pick('CPU per echo, us (50 busy + 9000 idle)'), 'CPU per echo', 'µs, 50 busy among 9000 idle'],
  ].filter(([p]) => p);
  const colors = ['#78909c', '#1565c0', '#6a1b9a'];
  const W = 1100, PW = 340, GAP = 25, X0 = 30, TOP = 70, BAR = 52, BGAP = 26;
  const H = TOP + servers.length * (BAR + BGAP) + 50;
  const p = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="'DejaVu Sans', 'Liberation Sans', Arial, sans-serif">`,
    '<!-- drawn by slides/diagrams/bench.mjs from the results of one tools/bench run (make bench); lower is better in every panel -->',
    '<title>tools/bench: threads vs poll() loop vs epoll reactor</title>',
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
  ];
  panels.forEach(([{ values }, title, unit], k) => {
    const x = X0 + k * (PW + GAP);
    const max = Math.max(...values.filter(Number.isFinite), 1);
    p.push(`<text x="${x}" y="36" font-size="21" font-weight="bold" fill="#263238">${esc(title)}</text>`);
    p.push(`<text x="${x}" y="60" font-size="16" fill="#607d8b" font-style="italic">${esc(unit)}</text>`);
    servers.forEach((name, i) => {
      const v = values[i];
      const y = TOP + i * (BAR + BGAP) + 22;
      const w = Number.isFinite(v) ? Math.max(3, (v / max) * (PW - 20)) : 0;
      p.push(`<text x="${x}" y="${y - 6}" font-size="17" fill="#37474f">${esc(name)}</text>`);
      p.push(`<rect x="${x}" y="${y}" width="${w}" height="${BAR - 22}" rx="4" fill="${colors[i % colors.length]}"/>`);
      const label = Number.isFinite(v) ? `${v}` : 'n/a';
      const inside = w > 120;
      p.push(`<text x="${inside ? x + w - 8 : x + w + 8}" y="${y + 22}" font-size="19" font-weight="bold" text-anchor="${inside ? 'end' : 'start'}" fill="${inside ? '#ffffff' : '#263238'}">${esc(label)}</text>`);
    });
  });
  p.push(`<text x="${X0}" y="${H - 16}" font-size="15" fill="#90a4ae">Lower is better everywhere. ${esc(head.replace(/^bench:\s*/, 'tools/bench: '))}</text>`);
  p.push('</svg>');
  return p.join('\n') + '\n';
}

const r = results();
process.stdout.write(chart(parse(r.text)));
