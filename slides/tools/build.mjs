// build.mjs - turn every slides/NN-slug.md into slides/build/NN-slug.html.
//
//   node slides/tools/build.mjs [--pdf] [NN ...]      (slides/build runs it)
//
// A deck's source is Markdown that reads as plain text. Before Marp sees it,
// this script expands three things, so nothing in a slide can drift from the
// code or from a real run:
//
//   ```snippet                 each line `PATH NAME` becomes the code between
//   PATH NAME                  /* include NAME */ and /* end NAME */ in PATH
//   PATH NAME no-comments      (without the lines that are only comments);
//   diff OLD NEW NAME          a `diff` line shows NAME's change from OLD to NEW
//                              (no-comments works here too)
//   ```
//
//   ```capture                 a recipe run by slides/tools/capture against the
//   server lessons/...         real servers on port 0; the block becomes what
//   show ss -tan ...           the terminal showed (cached by the recipe and
//   ```                        the sources of what it runs, in slides/captures/,
//                              committed: a fresh clone need not run them)
//                              A recipe that needs network namespaces (lesson 06)
//                              and cannot have them here shows a note instead,
//                              never cached; SLIDES_STRICT=1 makes that an error.
//
//   ```timeline                a capture recipe that records its runs with
//   title TEXT                 tools/timeline (`record LABEL` after a server
//   server lessons/...         starts; slides/tools/capture --timeline): the
//   record the starter: ...    block becomes the picture of every run, bug
//   client ...                 above fix on one time axis, inlined as an SVG
//   stop-server                image (cached like a capture, by the recipe,
//   server solutions/...       the sources it runs and tools/timeline). Where
//   record the solution: ...   the recipe cannot run (no network namespaces),
//   ...                        the note shows instead, as for a capture.
//   ```
//
//   ![alt](diagrams/NAME.svg)  inlined as a data: URI. NAME.svg is drawn at build
//                              time from NAME.seq (tools/seqdiag.mjs), NAME.tl
//                              (tools/timeline.mjs) or by NAME.mjs (a script that
//                              prints it); else it is hand-written SVG.
//
// It also refuses what would let a slide drift: a ```c block typed by hand,
// `ss` rows or server log lines typed into a code block, images from
// elsewhere, and a deck outside 8-15 slides.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seqdiag } from './seqdiag.mjs';
import { timeline } from './timeline.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const kit = resolve(here, '../..');
const slidesDir = join(kit, 'slides');
const out = join(slidesDir, 'build');
const MIN_SLIDES = 8, MAX_SLIDES = 15;
const CAPTURE_JOBS = 4;
// A real run can lose a race its recipe waits for: on a loaded machine a
// stray RST may end a TIME-WAIT early (lesson 07's README). Such a capture
// runs again, saying so; one that fails CAPTURE_ATTEMPTS times fails the build.
const CAPTURE_ATTEMPTS = 3;

const args = process.argv.slice(2);
const pdf = args.includes('--pdf');
const wanted = args.filter((a) => !a.startsWith('--'));

const sha = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
};
const fileSha = (path) => sha(readFileSync(path));
const rel = (path) => relative(kit, path);
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const say = (msg) => process.stdout.write(`slides: ${msg}\n`);

class DeckError extends Error {}

// ---------------------------------------------------------------- decks

/** The decks to build: slides/NN-slug.md, or those named on the command line. */
function findDecks() {
  const all = readdirSync(slidesDir).filter((f) => /^\d\d-[a-z0-9-]+\.md$/.test(f)).sort();
  const decks = wanted.length ? all.filter((f) => wanted.some((w) => f.startsWith(w))) : all;
  if (wanted.length && decks.length === 0) throw new DeckError(`no deck matches ${wanted.join(' ')}`);
  return decks.map((f) => ({ file: join(slidesDir, f), name: basename(f, '.md') }));
}

/** Split a deck into lines, tagged with the fenced block (if any) they belong to. */
function parseBlocks(text, deck) {
  const items = []; // {kind:'line', text, n} | {kind:'fence', info, body:[], n}
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]);
    if (!m) { items.push({ kind: 'line', text: lines[i], n: i + 1 }); continue; }
    const fence = m[1], start = i;
    const body = [];
    for (i++; i < lines.length && !lines[i].startsWith(fence); i++) body.push(lines[i]);
    if (i >= lines.length) throw new DeckError(`${deck}:${start + 1}: a code block that never ends`);
    items.push({ kind: 'fence', info: m[2].trim(), body, n: start + 1 });
  }
  return items;
}

/** The number of slides a deck source will give: its `---` separators plus one. */
export function countSlides(text) {
  let n = 1, inFence = null;
  for (const line of text.split('\n')) {
    const m = /^(`{3,}|~{3,})/.exec(line);
    if (m) { if (!inFence) inFence = m[1]; else if (line.startsWith(inFence)) inFence = null; continue; }
    if (!inFence && line === '---') n++;
  }
  return n;
}

// ---------------------------------------------------------------- snippets

/** The lines between `include NAME` and `end NAME` markers of PATH, dedented. */
function extractSnippet(path, name, where) {
  const full = join(kit, path);
  if (!existsSync(full)) throw new DeckError(`${where}: no file ${path}`);
  const lines = readFileSync(full, 'utf8').split('\n');
  const marker = (word) => new RegExp(`^\\s*(/\\*|//|#)\\s*${word}\\s+${name}\\s*(\\*/)?\\s*$`);
  const begin = lines.findIndex((l) => marker('include').test(l));
  if (begin < 0) throw new DeckError(`${where}: ${path} has no /* include ${name} */ marker`);
  const end = lines.findIndex((l, i) => i > begin && marker('end').test(l));
  if (end < 0) throw new DeckError(`${where}: ${path} has no /* end ${name} */ after its include marker`);
  const anyMarker = /^\s*(\/\*|\/\/|#)\s*(include|end)\s+[\w-]+\s*(\*\/)?\s*$/;
  const body = lines.slice(begin + 1, end).filter((l) => !anyMarker.test(l));
  while (body.length && body[0].trim() === '') body.shift();
  while (body.length && body[body.length - 1].trim() === '') body.pop();
  if (body.length === 0) throw new DeckError(`${where}: snippet ${name} in ${path} is empty`);
  const indent = Math.min(...body.filter((l) => l.trim()).map((l) => /^ */.exec(l)[0].length));
  return body.map((l) => l.slice(indent).replace(/\s+$/, ''));
}

/** Code without the lines that are only a comment (comments after code stay). */
function withoutCommentLines(lines) {
  const out = [];
  let inComment = false;
  for (const line of lines) {
    const t = line.trim();
    if (inComment) { if (t.includes('*/')) inComment = false; continue; }
    if (t.startsWith('//')) continue;
    if (t.startsWith('/*')) { if (!t.includes('*/')) inComment = true; continue; }
    if (t === '' && (out.length === 0 || out[out.length - 1].trim() === '')) continue;
    out.push(line);
  }
  return out;
}

const langOf = (path) => ({ c: 'c', h: 'c', sh: 'bash', bash: 'bash', bats: 'bash', mk: 'makefile' })[path.split('.').pop()] ?? '';

let diffCount = 0;

/** A unified diff of snippet NAME from OLD to NEW, without the file headers. */
async function snippetDiff(oldPath, newPath, name, where, noComments) {
  let a = extractSnippet(oldPath, name, where), b = extractSnippet(newPath, name, where);
  if (noComments) { a = withoutCommentLines(a); b = withoutCommentLines(b); }
  const dir = join(out, 'tmp');
  mkdirSync(dir, { recursive: true });
  const id = `${process.pid}.${++diffCount}`;
  const fa = join(dir, `${id}.a`), fb = join(dir, `${id}.b`);
  writeFileSync(fa, a.join('\n') + '\n');
  writeFileSync(fb, b.join('\n') + '\n');
  const { stdout } = await run('diff', ['-U', '1', fa, fb], { okCodes: [0, 1] });
  rmSync(fa); rmSync(fb);
  // The changed lines with one line of context; `...` where lines are left out.
  const lines = stdout.split('\n').filter((l) => l && !/^(---|\+\+\+) /.test(l));
  if (!lines.length) throw new DeckError(`${where}: snippet ${name} is the same in ${oldPath} and ${newPath}`);
  const shown = lines.map((l) => (l.startsWith('@@') ? ' ...' : l)).filter((l, i) => !(i === 0 && l === ' ...'));
  while (shown.length && shown[0].trim() === '') shown.shift();
  while (shown.length && shown[shown.length - 1].trim() === '') shown.pop();
  return shown;
}

async function expandSnippets(block, where) {
  const parts = [];
  for (const raw of block.body) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const w = line.split(/\s+/);
    if (w[0] === 'diff' && (w.length === 4 || (w.length === 5 && w[4] === 'no-comments'))) {
      parts.push('```diff', ...(await snippetDiff(w[1], w[2], w[3], where, !!w[4])), '```', '',
        `<div class="src">${w[3]}: ${w[1]} &rarr; ${w[2]}${w[4] ? ' (comment lines left out)' : ''}</div>`, '');
    } else if (w.length === 2 || (w.length === 3 && w[2] === 'no-comments')) {
      let code = extractSnippet(w[0], w[1], where);
      if (w[2]) code = withoutCommentLines(code);
      parts.push('```' + langOf(w[0]), ...code, '```', '',
        `<div class="src">${w[0]}${w[2] ? ' (comment lines left out)' : ''}</div>`, '');
    } else {
      throw new DeckError(`${where}: a snippet line is "PATH NAME [no-comments]" or "diff OLD NEW NAME [no-comments]", not "${line}"`);
    }
  }
  return parts;
}

// ---------------------------------------------------------------- captures

function run(cmd, argv, { input, okCodes = [0], cwd = kit, liveStderr = false } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, argv, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; if (liveStderr) process.stdout.write(d); });
    child.on('error', reject);
    child.on('close', (code) => {
      if (okCodes.includes(code)) resolvePromise({ stdout, stderr, code });
      else reject(new DeckError(`${cmd} exited with status ${code}\n${stderr.trim()}`));
    });
    child.stdin.on('error', () => {}); // a child that exits before reading its input
    child.stdin.end(input ?? '');
  });
}

// Captures and timelines are kept in slides/captures/, committed, so a fresh
// clone builds its decks without running them (the runs took most of a fresh
// clone's `make check`). So they are keyed by sources, not binaries: a
// binary's debug information holds its path, so it differs from clone to
// clone. A full build removes the ones no deck uses any more.
const captureDir = join(slidesDir, 'captures');
const capturesUsed = new Set();

/** The files a binary's behaviour comes from: its C source and what that
 * includes (a server links all of lib/), or the script itself. */
function sourcesOf(bin) {
  if (!existsSync(join(kit, `${bin}.c`))) return [bin];
  const files = [`${bin}.c`];
  if (bin.startsWith('tools/')) files.push('tools/cli.h');
  if (bin === 'tools/timeline') files.push('tools/timeline-render.c');
  if (basename(bin) === 'server') {
    for (const f of readdirSync(join(kit, 'lib')).sort()) if (/\.[ch]$/.test(f)) files.push(`lib/${f}`);
  }
  return files;
}

/** Everything a capture's output depends on: the recipe, the script, the
 * sources of the binaries it runs (which must be built). */
function captureKey(recipe, extra = []) {
  const bins = ['tools/client', ...extra];
  for (const line of recipe.split('\n')) {
    const m = /^\s*(?:show\s+)?server(?:-again)?\s+(\S+)/.exec(line);
    if (m) bins.push(m[1]);
    if (/^\s*netpair\s*$/.test(line)) bins.push('tools/netpair');
  }
  const parts = [recipe, 'slides/tools/capture', fileSha(join(kit, 'slides/tools/capture'))];
  for (const bin of bins) {
    if (!existsSync(join(kit, bin))) throw new DeckError(`a capture needs ${bin}: run make first`);
    for (const f of sourcesOf(bin)) parts.push(f, fileSha(join(kit, f)));
  }
  return sha(...parts);
}

/** The cache file of a capture (ext txt) or timeline (svg) with this key. */
function cacheFile(key, ext) {
  const name = `${key.slice(0, 16)}.${ext}`;
  capturesUsed.add(name);
  return join(captureDir, name);
}

const running = new Set(); // settled-safe promises of the captures running now
const stats = { run: 0, cached: 0, skipped: [] };

// A capture that exits with this status could not run here (lesson 06's
// recipes need network namespaces: root, or unprivileged user namespaces).
// What it printed, a note saying so, goes on the slide; it is never cached,
// so the next build that can run it does. SLIDES_STRICT=1 makes it an error.
const CAPTURE_SKIPPED = 3;

/** Run a recipe's real run, again if it fails, up to CAPTURE_ATTEMPTS times. */
async function runCapture(recipe, where, argv = []) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run(join(slidesDir, 'tools/capture'), argv, { input: recipe, okCodes: [0, CAPTURE_SKIPPED] });
    } catch (e) {
      if (!(e instanceof DeckError) || attempt >= CAPTURE_ATTEMPTS) throw e;
      const why = e.message.trim().split('\n').slice(-2).join('\n  ');
      console.log(`slides: ${where}: the capture failed (attempt ${attempt} of ${CAPTURE_ATTEMPTS}), running it again:\n  ${why}`);
    }
  }
}

/** Run one recipe (at most CAPTURE_JOBS at once), or reuse its cached output. */
async function capture(recipe, where) {
  mkdirSync(captureDir, { recursive: true });
  const file = cacheFile(captureKey(recipe), 'txt');
  if (existsSync(file)) { stats.cached++; return readFileSync(file, 'utf8'); }
  while (running.size >= CAPTURE_JOBS) await Promise.race(running);
  const job = runCapture(recipe, where);
  const slot = job.catch(() => {});
  running.add(slot);
  try {
    const { stdout, code } = await job;
    if (code === CAPTURE_SKIPPED) {
      if (process.env.SLIDES_STRICT) throw new DeckError(`not run here (SLIDES_STRICT is set):\n${stdout.trim()}`);
      stats.skipped.push(where);
      return stdout.replace(/\n+$/, '') + '\n';
    }
    const text = stdout.replace(/\x1b\[[0-9;]*m/g, '').split('\n').map((l) => l.replace(/\s+$/, '')).join('\n').replace(/\n+$/, '');
    if (!text) throw new DeckError(`${where}: the capture printed nothing (no \`show\` step?)`);
    writeFileSync(file, text + '\n');
    stats.run++;
    return text + '\n';
  } catch (e) {
    throw new DeckError(`${where}: the capture failed:\n${e.message}`);
  } finally {
    running.delete(slot);
  }
}

/**
 * A ```timeline block: run its recipe with capture --timeline (at most
 * CAPTURE_JOBS recipes at once, captures included), or reuse the cached
 * picture. Returns { svg } or, where the recipe cannot run here, { note }.
 */
async function timelinePicture(recipe, where) {
  mkdirSync(captureDir, { recursive: true });
  const file = cacheFile(captureKey(recipe, ['tools/timeline']), 'svg');
  if (existsSync(file)) { stats.cached++; return { svg: readFileSync(file, 'utf8') }; }
  while (running.size >= CAPTURE_JOBS) await Promise.race(running);
  const tmp = join(out, `${basename(file)}.${process.pid}.tmp.svg`);
  const job = runCapture(recipe, where, ['--timeline', tmp]);
  const slot = job.catch(() => {});
  running.add(slot);
  try {
    const { stdout, code } = await job;
    if (code === CAPTURE_SKIPPED) {
      if (process.env.SLIDES_STRICT) throw new DeckError(`not run here (SLIDES_STRICT is set):\n${stdout.trim()}`);
      stats.skipped.push(where);
      return { note: stdout.replace(/\n+$/, '') + '\n' };
    }
    const svg = existsSync(tmp) ? readFileSync(tmp, 'utf8') : '';
    rmSync(tmp, { force: true });
    if (!/^\s*(<\?xml[^>]*>\s*)?<svg[\s>]/.test(svg) || !/<\/svg>\s*$/.test(svg))
      throw new DeckError('tools/timeline drew no SVG');
    writeFileSync(file, svg);
    stats.run++;
    return { svg };
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new DeckError(`${where}: the timeline recipe failed:\n${e.message}`);
  } finally {
    running.delete(slot);
  }
}

// ---------------------------------------------------------------- diagrams

const diagramDir = join(slidesDir, 'diagrams');

const scripts = new Map(); // NAME -> the promise of what diagrams/NAME.mjs printed

/** Run diagrams/NAME.mjs once per build (a benchmark chart may take a while). */
function scriptDiagram(name) {
  if (!scripts.has(name)) {
    scripts.set(name, run(process.execPath, [join(diagramDir, `${name}.mjs`)], { liveStderr: true })
      .then((r) => r.stdout, (e) => { throw new DeckError(`diagrams/${name}.mjs failed: ${e.message}`); }));
  }
  return scripts.get(name);
}

/** The SVG text of diagrams/NAME.svg: hand-written, or generated now. */
async function diagram(name, where) {
  const base = join(diagramDir, name);
  let svg;
  try {
    if (existsSync(`${base}.seq`)) svg = seqdiag(readFileSync(`${base}.seq`, 'utf8'), `${name}.seq`);
    else if (existsSync(`${base}.tl`)) svg = timeline(readFileSync(`${base}.tl`, 'utf8'), `${name}.tl`);
    else if (existsSync(`${base}.mjs`)) svg = await scriptDiagram(name);
    else if (existsSync(`${base}.svg`)) svg = readFileSync(`${base}.svg`, 'utf8');
  } catch (e) {
    throw new DeckError(`${where}: ${e.message}`);
  }
  if (svg === undefined) throw new DeckError(`${where}: no diagrams/${name}.svg, .seq, .tl or .mjs`);
  if (!/^\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<svg[\s>]/.test(svg) || !/<\/svg>\s*$/.test(svg))
    throw new DeckError(`${where}: diagrams/${name} is not an SVG document`);
  mkdirSync(join(out, 'diagrams'), { recursive: true });
  writeFileSync(join(out, 'diagrams', `${name}.svg`), svg);
  return svg;
}

// ---------------------------------------------------------------- lint

const SS_ROW = /^\s*(State\s+)?Recv-Q\s+Send-Q|^\s*\d+\s+\d+\s+[\d.*[\]:a-f]+:\d+\s+[\d.*[\]:a-f]+:[\d*]+/;
const TYPED_OUTPUT = [
  [SS_ROW, 'ss output'],
  [/^listening on \S+:\d+$/, "a server's ready line"],
  [/^close \S+:\d+ reason=/, 'a server log line'],
  [/^conn=\d+ mode=/, 'tools/client output'],
];

function lintFence(block, where) {
  const lang = block.info.split(/\s+/)[0];
  if (['c', 'h', 'cpp', 'C'].includes(lang))
    throw new DeckError(`${where}: C code typed into a deck; mark it in the source file with /* include NAME */ ... /* end NAME */ and use a \`\`\`snippet block`);
  for (const line of block.body) {
    for (const [re, what] of TYPED_OUTPUT) {
      if (re.test(line))
        throw new DeckError(`${where}: this looks like ${what} typed by hand ("${line.trim()}"); show it with a \`\`\`capture block instead`);
    }
  }
}

// ---------------------------------------------------------------- one deck

const IMAGE = /^!\[([^\]]*)\]\(diagrams\/([\w.-]+)\.svg\)\s*$/;

async function expandDeck(deck) {
  const text = readFileSync(deck.file, 'utf8');
  const src = `slides/${deck.name}.md`;
  const slides = countSlides(text);
  if (slides < MIN_SLIDES || slides > MAX_SLIDES)
    throw new DeckError(`${src}: ${slides} slides; a deck has ${MIN_SLIDES} to ${MAX_SLIDES}`);
  const items = parseBlocks(text, src);
  const title = (/^# (.+)$/m.exec(text) || [, deck.name])[1].replace(/[`*_]/g, '');
  const count = { snippets: 0, captures: 0, diagrams: 0, timelines: 0 };
  // Expand everything at once: captures run in parallel.
  const parts = await Promise.all(items.map(async (item, idx) => {
    const where = `${src}:${item.n}`;
    if (item.kind === 'line') {
      const line = item.text;
      if (line === '---' && idx > 0 && items[idx - 1].kind === 'line' && items[idx - 1].text.trim() !== '')
        throw new DeckError(`${where}: put a blank line before ---, or Markdown reads the line above as a heading`);
      if (/^\s*(\*\s*){3,}$|^\s*(_\s*){3,}$|^\s*(-\s+){2,}-\s*$/.test(line))
        throw new DeckError(`${where}: separate slides with --- only`);
      const img = IMAGE.exec(line);
      if (img) {
        count.diagrams++;
        const svg = await diagram(img[2], where);
        const uri = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
        return ['', `<p class="diagram"><img alt="${img[1].replace(/"/g, '&quot;')}" src="${uri}"></p>`, ''];
      }
      if (/!\[[^\]]*\]\(/.test(line) || /<img\s/i.test(line))
        throw new DeckError(`${where}: an image must stand alone on its line as ![alt](diagrams/NAME.svg)`);
      return [line];
    }
    if (item.info === 'snippet') { count.snippets++; return expandSnippets(item, where); }
    if (item.info === 'capture') {
      count.captures++;
      const shown = await capture(item.body.join('\n') + '\n', where);
      return ['```console', ...shown.replace(/\n$/, '').split('\n'), '```'];
    }
    if (item.info === 'timeline') {
      count.timelines++;
      const recipe = item.body.join('\n') + '\n';
      const pic = await timelinePicture(recipe, where);
      if (pic.note) return ['```console', ...pic.note.replace(/\n$/, '').split('\n'), '```'];
      const alt = (/^\s*title\s+(.+)$/m.exec(recipe) || [, 'the bug and the fix, recorded'])[1].trim();
      const uri = `data:image/svg+xml;base64,${Buffer.from(pic.svg).toString('base64')}`;
      return ['', `<p class="diagram timeline"><img alt="${alt.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}" src="${uri}"></p>`, ''];
    }
    lintFence(item, where);
    return ['```' + item.info, ...item.body, '```'];
  }));
  const front = [
    '---', 'marp: true', 'theme: kit', 'paginate: true', 'lang: en',
    `title: ${JSON.stringify(title)}`,
    `footer: ${JSON.stringify(deck.name === '00-intro' ? 'TCP connection lifetimes' : `TCP connection lifetimes · ${deck.name}`)}`,
    '---', '',
  ];
  return { md: front.concat(parts.flat()).join('\n'), slides, count };
}

// ---------------------------------------------------------------- main

async function main() {
  mkdirSync(out, { recursive: true });
  const decks = findDecks();
  say(`${decks.length} deck${decks.length === 1 ? "" : "s"}: expanding snippets, captures and timelines (real runs) and diagrams`);
  const theme = join(slidesDir, 'theme/kit.css');
  const marpPkg = JSON.parse(readFileSync(join(slidesDir, 'node_modules/@marp-team/marp-cli/package.json'), 'utf8'));
  const config = join(slidesDir, 'marp.config.mjs');
  const toolKey = sha(readFileSync(theme), readFileSync(config), marpPkg.version, readFileSync(fileURLToPath(import.meta.url)));
  // Script diagrams (the benchmark chart) first, alone: a benchmark must not
  // share the machine with the captures.
  for (const deck of decks) {
    for (const m of readFileSync(deck.file, 'utf8').matchAll(/^!\[[^\]]*\]\(diagrams\/([\w.-]+)\.svg\)\s*$/gm)) {
      const name = m[1];
      if (!existsSync(join(diagramDir, `${name}.seq`)) && !existsSync(join(diagramDir, `${name}.tl`)) &&
          existsSync(join(diagramDir, `${name}.mjs`))) {
        await scriptDiagram(name).catch(() => {}); // a failure is reported with its deck below
      }
    }
  }
  const stale = [];
  const failures = [];
  const results = await Promise.all(decks.map(async (deck) => {
    try {
      const r = await expandDeck(deck);
      const mdFile = join(out, `${deck.name}.md`);
      const html = join(out, `${deck.name}.html`);
      const stamp = join(out, `.${deck.name}.sha`);
      const key = sha(r.md, toolKey, pdf ? 'pdf' : '');
      const fresh = existsSync(html) && existsSync(stamp) && readFileSync(stamp, 'utf8') === key &&
        (!pdf || existsSync(join(out, `${deck.name}.pdf`)));
      writeFileSync(mdFile, r.md);
      if (!fresh) stale.push({ deck, mdFile, stamp, key });
      const c = r.count;
      say(`  ${deck.name.padEnd(22)} ${String(r.slides).padStart(2)} slides, ${c.snippets} snippets, ${c.captures} captures, ${c.timelines} timeline${c.timelines === 1 ? '' : 's'}, ${c.diagrams} diagrams${fresh ? ' (up to date)' : ''}`);
      return r;
    } catch (e) {
      if (!(e instanceof DeckError)) throw e;
      failures.push(e.message);
      return null;
    }
  }));
  if (failures.length) {
    for (const f of failures) process.stderr.write(`slides: ${f}\n`);
    process.exitCode = 1;
    return;
  }
  say(`captures and timelines: ${stats.run} run, ${stats.cached} cached${stats.skipped.length ? `, ${stats.skipped.length} not run` : ''} (${elapsed()})`);
  if (wanted.length === 0) {
    for (const f of readdirSync(captureDir)) {
      if (/^[0-9a-f]{16}\.(txt|svg)$/.test(f) && !capturesUsed.has(f)) rmSync(join(captureDir, f));
    }
  }
  if (stats.run) say(`${stats.run} new in slides/captures/: commit them, so a fresh clone need not run them`);
  if (stats.skipped.length) {
    say(`NOTE: ${stats.skipped.length} capture${stats.skipped.length === 1 ? '' : 's'} need${stats.skipped.length === 1 ? 's' : ''} network namespaces, which this build cannot make`);
    say('      (not root and no unprivileged user namespaces, or CAPTURE_NO_NETPAIR is set): their slides show a note instead');
    say(`      of a real run (${[...new Set(stats.skipped.map((w) => w.replace(/:\d+$/, '')))].join(', ')}).`);
    say('      Build as root to capture them: sudo make slides');
  }
  if (stale.length) {
    say(`marp: converting ${stale.map((s) => s.deck.name).join(' ')}`);
    const marp = join(slidesDir, 'node_modules/@marp-team/marp-cli/marp-cli.js');
    const base = ['--config-file', config];
    const files = stale.map((s) => s.mdFile);
    await run(process.execPath, [marp, ...base, ...files], { cwd: out });
    if (pdf) {
      say('marp: PDF (headless Chromium)');
      await run(process.execPath, [marp, ...base, '--pdf', '--browser', 'chrome',
        '--browser-path', process.env.CHROME_PATH || '/usr/bin/chromium', ...files], { cwd: out });
    }
    for (const s of stale) writeFileSync(s.stamp, s.key);
  }
  for (const deck of decks) {
    const html = join(out, `${deck.name}.html`);
    say(`  ${rel(html)}  ${(statSync(html).size / 1024).toFixed(0)} KiB${pdf ? `, ${rel(html).replace(/html$/, 'pdf')}` : ''}`);
  }
  say(`done in ${elapsed()}`);
  void results;
}

main().catch((e) => {
  process.stderr.write(`slides: ${e instanceof DeckError ? e.message : e.stack}\n`);
  process.exitCode = 1;
});
