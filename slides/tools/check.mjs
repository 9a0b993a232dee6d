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
// The omnibox popup features: headless Chromium still preloads the address
// bar's drop-down, a WebUI page in a renderer of its own, and that costs
// as much CPU as checking three decks; nothing here has an address bar.
const profile = mkdtempSync(join(tmpdir(), 'slides-check-'));
const browser = await puppeteer.launch({
  executablePath: chrome,
  headless: true,
  userDataDir: profile,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage', '--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup',
    `--window-size=${W},${H}`],
});

// One tab for every deck, each loaded in turn: a tab of its own for each
// costs a renderer's start and stop, more than half the CPU of checking the
// deck. The handlers count what the page does against `current`, the deck
// being checked; between decks (current = null) nothing counts, as after a
// tab's close.
let current = null;
const page = (await browser.pages())[0] || await browser.newPage();
await page.setViewport({ width: W, height: H });
await page.setRequestInterception(true);
page.on('request', (req) => {
  const url = req.url();
  if (url.startsWith('data:') || url === 'about:blank' ||
      (current && (url === current.url || url.startsWith(`${current.url}#`)))) {
    req.continue();
    return;
  }
  req.abort();
  if (!current) return;
  current.network++;
  current.problems.push(`network: the deck asked for ${url.slice(0, 120)} (blocked: a deck must work offline)`);
});
page.on('console', (msg) => {
  if (!current || msg.type() !== 'error') return;
  current.errors++;
  current.problems.push(`console error: ${msg.text().slice(0, 300)}`);
});
page.on('pageerror', (err) => {
  if (!current) return;
  current.errors++;
  current.problems.push(`page error: ${String(err.message || err).slice(0, 300)}`);
});

// showSlide: put slide n on screen (Marp's bespoke navigation follows the
// URL's #n), wait until it is the active one (5 s at most), then two frames
// so that it is laid out and painted. One call into the page, not one per
// step: every round trip keeps the deck open longer, and an open deck with
// code on it draws a frame 60 times a second.
async function showSlide(n) {
  await page.evaluate(async (k) => {
    if (k > 1 || location.hash) location.hash = `#${k}`;
    const frame = () => new Promise((r) => requestAnimationFrame(r));
    const start = performance.now();
    for (;;) {
      const svg = document.querySelector(`section[id="${k}"]`)?.closest('svg');
      if (svg && (!svg.classList.contains('bespoke-marp-slide') || svg.classList.contains('bespoke-marp-active'))) break;
      if (performance.now() - start > 5000) throw new Error(`slide ${k} did not come on screen within 5 s`);
      await frame();
    }
    await frame();
    await frame();
  }, n);
}

async function checkDeck(file) {
  const name = basename(file, '.html');
  const url = pathToFileURL(resolve(file)).href;
  const deck = { url, problems: [], errors: 0, network: 0 };
  const problems = deck.problems;
  current = deck;
  await page.goto(url, { waitUntil: 'load' });
  const seen = await page.evaluate(async () => {
    // The on-screen controller shows until the mouse rests: not part of a slide.
    const osc = document.createElement('style');
    osc.textContent = '.bespoke-marp-osc { display: none !important; }';
    document.head.append(osc);
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

  // The PNG shows slide 1 as a projector would: taken before the
  // measurement below lays out every slide at once.
  const png = join(dirname(file), `${name}.png`);
  await showSlide(1);
  await page.screenshot({ path: png });

  // --all-slides: a picture of every slide, each as it shows on its own.
  // Taken before the measurement below too, so that no slide is drawn after
  // the page has laid them all out at once.
  if (allSlides) {
    const shots = join(dirname(file), 'shots');
    mkdirSync(shots, { recursive: true });
    for (let k = 1; k <= seen.slides; k++) {
      await showSlide(k);
      await page.screenshot({ path: join(shots, `${name}-${String(k).padStart(2, '0')}.png`) });
    }
  }

  // Content that runs into the footer, or past the slide's edge, is cut off
  // on a projector. Marp lays out only the slide on screen (the others are
  // content-visibility: hidden, or display: none); putting each on screen
  // in turn costs a navigation and two frames a slide. A style that shows
  // them all lets one call measure every slide instead: each is a 1280x720
  // <section> of its own, laid out the same whether or not it is the active
  // one (being active only changes opacity, z-index and pointer events).
  const overflow = await page.evaluate(async (count) => {
    const all = document.createElement('style');
    all.textContent = 'svg.bespoke-marp-slide { display: block !important; content-visibility: visible !important; }';
    document.head.append(all);
    // Two frames, as for a slide put on screen: code blocks shrink to fit
    // (Marp's auto-scaling) in a ResizeObserver, which runs with a frame.
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const over = [];
    for (let n = 1; n <= count; n++) {
      const s = document.querySelector(`section[id="${n}"]`);
      const footer = s.querySelector(':scope > footer');
      const limit = footer ? footer.offsetTop : s.clientHeight;
      const bottoms = [...s.children].filter((e) => !['HEADER', 'FOOTER'].includes(e.tagName))
        .map((e) => e.offsetTop + e.offsetHeight);
      if (Math.max(0, ...bottoms) > limit || s.scrollWidth > s.clientWidth + 1) over.push(n);
    }
    all.remove();
    return over;
  }, seen.slides);
  for (const k of overflow) {
    problems.push(`slide ${k}: its content runs into the footer or past the slide's edge (cut off on a projector)`);
  }

  // Leave the deck before the next one counts: what it might still log or
  // ask for as it unloads is no longer counted (as when its tab closed).
  current = null;
  await page.goto('about:blank');
  process.stdout.write(`deck=${name} slides=${seen.slides} images=${seen.images} broken=${seen.broken.length} ` +
    `outside=${seen.outside.length} overflow=${overflow.length} errors=${deck.errors} network=${deck.network} png=${relative(kit, png)}\n`);
  for (const p of problems) process.stdout.write(`  ${p}\n`);
}

try {
  for (const deck of decks) await checkDeck(deck);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
