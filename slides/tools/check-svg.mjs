// check-svg.mjs - open SVG files (tools/timeline's pictures) in headless
// Chromium and report what a projector would show: whether it parsed, its
// size, how many connection lanes it draws, drawing outside its own edges,
// console errors, anything fetched from the network.
//
//   node slides/tools/check-svg.mjs [--png OUT.png] FILE.svg ...
//
// One line per file on stdout, for tests/timeline.bats to read:
//
//   svg=timeline.svg parsed=1 width=1200 height=674 lanes=12 outside=0 errors=0 network=0
//
// followed by one indented line per problem; exit 1 if there was any.
// --png saves a screenshot of the (last) file at its own size.
//
// Chromium is Debian's (/usr/bin/chromium, or $CHROME_PATH), driven through
// puppeteer-core (pinned in slides/package.json), as slides/tools/check.mjs.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer from 'puppeteer-core';

const args = process.argv.slice(2);
const pngAt = args.indexOf('--png');
const png = pngAt >= 0 ? args[pngAt + 1] : null;
const files = args.filter((a, i) => !a.startsWith('--') && (pngAt < 0 || i !== pngAt + 1));
const chrome = process.env.CHROME_PATH || '/usr/bin/chromium';

if (!files.length || (pngAt >= 0 && !png)) {
  process.stderr.write('usage: node slides/tools/check-svg.mjs [--png OUT.png] FILE.svg...\n');
  process.exit(2);
}
if (!existsSync(chrome)) {
  process.stderr.write(`check-svg: no Chromium at ${chrome} (apt-get install chromium, or set CHROME_PATH)\n`);
  process.exit(1);
}

// The same offline flags as check.mjs: a picture must not need a network.
const profile = mkdtempSync(join(tmpdir(), 'svg-check-'));
const browser = await puppeteer.launch({
  executablePath: chrome,
  headless: true,
  userDataDir: profile,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage'],
});

let bad = 0;
async function checkSvg(file) {
  const problems = [];
  const count = { errors: 0, network: 0 };
  const url = pathToFileURL(resolve(file)).href;
  const page = await browser.newPage();
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    if (req.url() === url || req.url().startsWith('data:')) { req.continue(); return; }
    count.network++;
    problems.push(`network: the picture asked for ${req.url().slice(0, 120)} (blocked: it must work offline)`);
    req.abort();
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    count.errors++;
    problems.push(`console error: ${msg.text().slice(0, 300)}`);
  });
  page.on('pageerror', (err) => {
    count.errors++;
    problems.push(`page error: ${String(err.message || err).slice(0, 300)}`);
  });
  await page.goto(url, { waitUntil: 'load' });
  // An XML error shows as a <parsererror> page, not as a failed load.
  const seen = await page.evaluate(() => {
    const root = document.documentElement;
    const parseError = document.getElementsByTagName('parsererror')[0];
    if (root.nodeName !== 'svg' || parseError) {
      return { parsed: false, why: (parseError ? parseError.textContent : `root element <${root.nodeName}>`).slice(0, 300) };
    }
    const width = root.width.baseVal.value, height = root.height.baseVal.value;
    const box = root.getBBox();
    return {
      parsed: true,
      width, height,
      lanes: root.querySelectorAll('g.lane').length,
      scripts: root.querySelectorAll('script, foreignObject').length,
      outside: box.x < -0.5 || box.y < -0.5 || box.x + box.width > width + 0.5 || box.y + box.height > height + 0.5,
      box: [box.x, box.y, box.width, box.height].map((v) => Math.round(v)).join(' '),
    };
  });
  if (!seen.parsed) problems.push(`not a well-formed SVG: ${seen.why}`);
  if (seen.scripts) problems.push(`${seen.scripts} <script>/<foreignObject> elements: the picture should be plain SVG`);
  if (seen.outside) problems.push(`drawing outside the picture's ${seen.width}x${seen.height} (bounding box ${seen.box}): cut off when shown`);
  if (png && seen.parsed) {
    await page.setViewport({ width: Math.ceil(seen.width), height: Math.ceil(seen.height) });
    await page.screenshot({ path: png });
  }
  await page.close();
  process.stdout.write(`svg=${basename(file)} parsed=${seen.parsed ? 1 : 0} width=${seen.width ?? 0} height=${seen.height ?? 0} ` +
    `lanes=${seen.lanes ?? 0} outside=${seen.outside ? 1 : 0} errors=${count.errors} network=${count.network}\n`);
  for (const p of problems) process.stdout.write(`  ${p}\n`);
  if (problems.length) bad = 1;
}

try {
  for (const file of files) await checkSvg(file);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(bad);
