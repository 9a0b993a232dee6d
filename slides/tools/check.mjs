// check.mjs - open built decks in headless Chromium and report what a
// projector would show: how many slides, broken or outside images, slides
// whose content is cut off, console errors, anything fetched from the network. Saves a PNG of the first slide.
//
//   node slides/tools/check.mjs [--all-slides] slides/build/NN-slug.html ...
//
// One line per deck on stdout, for tests/slides.bats to read:
//
//   deck=01-close-wait-leak slides=12 images=1 broken=0 outside=0 overflow=0 errors=0 network=0 png=slides/build/01-close-wait-leak.png
//
// followed by one indented line per problem. --all-slides also saves every
// slide as slides/build/shots/NN-slug-K.png (to look at the decks).
//
// Chromium is Debian's (/usr/bin/chromium, or $CHROME_PATH), driven through
// puppeteer-core (pinned in slides/package.json); nothing is downloaded.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import puppeteer from 'puppeteer-core';

const kit = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const allSlides = args.includes('--all-slides');
const decks = args.filter((a) => !a.startsWith('--'));
const chrome = process.env.CHROME_PATH || '/usr/bin/chromium';
const W = 1280, H = 720;

if (!decks.length) {
  process.stderr.write('usage: node slides/tools/check.mjs [--all-slides] DECK.html...\n');
  process.exit(2);
}
if (!existsSync(chrome)) {
  process.stderr.write(`check: no Chromium at ${chrome} (apt-get install chromium, or set CHROME_PATH)\n`);
  process.exit(1);
}

// Flags that keep Chromium from calling home: this machine (and a projector
// in a classroom) may have no network, and a deck must not need one.
const profile = mkdtempSync(join(tmpdir(), 'slides-check-'));
const browser = await puppeteer.launch({
  executablePath: chrome,
  headless: true,
  userDataDir: profile,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage', `--window-size=${W},${H}`],
});

async function checkDeck(file) {
  const name = basename(file, '.html');
  const problems = [];
  const count = { errors: 0, network: 0 };
  const page = await browser.newPage();
  await page.setViewport({ width: W, height: H });
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const url = req.url();
    if (url.startsWith('data:') || url === pageUrl || url.startsWith(`${pageUrl}#`)) { req.continue(); return; }
    count.network++;
    problems.push(`network: the deck asked for ${url.slice(0, 120)} (blocked: a deck must work offline)`);
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
  const pageUrl = pathToFileURL(resolve(file)).href;
  await page.goto(pageUrl, { waitUntil: 'load' });
  // The on-screen controller shows until the mouse rests: not part of a slide.
  await page.addStyleTag({ content: '.bespoke-marp-osc { display: none !important; }' });
  const seen = await page.evaluate(async () => {
    const imgs = [...document.querySelectorAll('img')];
    await Promise.all(imgs.map((img) => (img.complete ? null : new Promise((r) => { img.onload = img.onerror = r; }))));
    await document.fonts.ready;
    return {
      slides: document.querySelectorAll('svg[data-marpit-svg] > foreignObject > section').length,
      images: imgs.length,
      broken: imgs.filter((img) => !img.complete || img.naturalWidth === 0).map((img) => img.alt || img.src.slice(0, 60)),
      outside: imgs.filter((img) => !img.src.startsWith('data:')).map((img) => img.src.slice(0, 120)),
    };
  });
  for (const b of seen.broken) problems.push(`broken image: ${b}`);
  for (const o of seen.outside) problems.push(`image not inlined: ${o}`);

  // Visit every slide: Marp lays out only the one on screen. Content that
  // runs into the footer, or past the slide's edge, is cut off on a projector.
  const png = join(dirname(file), `${name}.png`);
  const shots = join(dirname(file), 'shots');
  if (allSlides) mkdirSync(shots, { recursive: true });
  const overflow = [];
  for (let k = 1; k <= seen.slides; k++) {
    await page.evaluate((n) => { if (n > 1 || location.hash) location.hash = `#${n}`; }, k);
    await page.waitForFunction((n) => {
      const svg = document.querySelector(`section[id="${n}"]`)?.closest('svg');
      return svg && (!svg.classList.contains('bespoke-marp-slide') || svg.classList.contains('bespoke-marp-active'));
    }, { timeout: 5000 }, k);
    const over = await page.evaluate(async (n) => {
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      const s = document.querySelector(`section[id="${n}"]`);
      const footer = s.querySelector(':scope > footer');
      const limit = footer ? footer.offsetTop : s.clientHeight;
      const bottoms = [...s.children].filter((e) => !['HEADER', 'FOOTER'].includes(e.tagName))
        .map((e) => e.offsetTop + e.offsetHeight);
      return Math.max(0, ...bottoms) > limit || s.scrollWidth > s.clientWidth + 1;
    }, k);
    if (over) {
      overflow.push(k);
      problems.push(`slide ${k}: its content runs into the footer or past the slide's edge (cut off on a projector)`);
    }
    if (k === 1) await page.screenshot({ path: png });
    if (allSlides) await page.screenshot({ path: join(shots, `${name}-${String(k).padStart(2, '0')}.png`) });
  }
  await page.close();
  process.stdout.write(`deck=${name} slides=${seen.slides} images=${seen.images} broken=${seen.broken.length} ` +
    `outside=${seen.outside.length} overflow=${overflow.length} errors=${count.errors} network=${count.network} png=${relative(kit, png)}\n`);
  for (const p of problems) process.stdout.write(`  ${p}\n`);
}

try {
  for (const deck of decks) await checkDeck(deck);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
