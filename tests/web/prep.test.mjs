// Browser tests of the client's Level 1.5 view against a real `fitsflow serve`, driven by
// Playwright in Debian's chromium. Started by tests/e2e/test_web_prep.py, which passes:
//   FF_WEB_URL (the page), FF_ARTIFACTS (screenshots), FF_CHROMIUM, and FF_EXPECT: the finished
//   session's id, per file base its ML array (path, shape, finite values, read with numpy) or
//   null, the session stack paths, and the reason text expected for the non-SDO file (or null
//   when the server's own pipeline wrote the outputs and words it).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

const URL_ = process.env.FF_WEB_URL;
const ART = process.env.FF_ARTIFACTS;
const EXPECT = JSON.parse(process.env.FF_EXPECT || '{}');
assert.ok(URL_ && ART && EXPECT.session_id, 'run me through tests/e2e/test_web_prep.py');
const SID = EXPECT.session_id;

let ctx;
let page;
let profile;
const pageErrors = [];
const failed = []; // responses of 400 and over: url and status

async function shot(name) {
  await page.screenshot({ path: path.join(ART, `${name}.png`), fullPage: true });
}

async function openSession() {
  await page.goto(`${URL_}?session=${SID}`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector('#results-panel:not([hidden]) #viewer .viewer-title', { timeout: 60_000 });
}

async function openFile(input) {
  for (let i = 0; i < 5; i++) {
    if ((await page.textContent('#viewer-title')) === input) return;
    await page.click('button[aria-label="Next file"]');
  }
  assert.fail(`file ${input} not found in the viewer`);
}

/** What the canvas holds: size, opaque pixels, distinct colours among them. */
async function canvasStats() {
  await page.waitForSelector('#viewer-panel canvas.ml-canvas');
  return page.evaluate(() => {
    const c = document.querySelector('#viewer-panel canvas.ml-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let opaque = 0;
    let transparent = 0;
    const colours = new Set();
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] === 255) {
        opaque++;
        colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      } else if (d[i + 3] === 0) transparent++;
    }
    return { w: c.width, h: c.height, opaque, transparent, colours: colours.size, finite: Number(c.dataset.finite),
      label: c.getAttribute('aria-label'), role: c.getAttribute('role') };
  });
}

before(async () => {
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ff-chromium-'));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.FF_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
  page = ctx.pages()[0] || (await ctx.newPage());
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
  });
});

after(async () => {
  await ctx?.close();
  fs.rmSync(profile, { recursive: true, force: true });
});

test('the log shows the level-1.5 step of each file like the others', async () => {
  await openSession();
  for (const base of Object.keys(EXPECT.files)) {
    const line = page.locator(`#terminal .line[data-name="${base}_log_8.txt"]`);
    await line.waitFor();
    assert.equal(await line.locator('.step').textContent(), '8/8 level 1.5');
    // From a server that records the step's outcome, the line is marked done or not done.
    if (EXPECT.real) {
      await page.waitForFunction((n) => /\b(ok|fail)\b/.test(document.querySelector(`#terminal .line[data-name="${n}"]`)?.className || ''), `${base}_log_8.txt`);
    }
    // The earlier steps are counted out of eight too, once the eighth is known.
    assert.equal(await page.locator(`#terminal .line[data-name="${base}_log_3.txt"] .step`).textContent(), '3/8 data');
  }
  assert.equal(await page.textContent('#overall-label'), 'Done.');
});

test('the ML arrays are drawn: opaque where numpy finds values, transparent at NaN', async () => {
  for (const [base, e] of Object.entries(EXPECT.files)) {
    if (!e.ml) continue;
    await openFile(e.input);
    await page.click('[role=tab]:text-is("Level 1.5")');
    assert.equal(await page.getAttribute('[role=tab]:text-is("Level 1.5")', 'aria-selected'), 'true');
    const s = await canvasStats();
    const [rows, cols] = e.ml.shape;
    assert.deepEqual([s.h, s.w], [rows, cols], `${base}: canvas size`);
    assert.equal(s.finite, e.ml.finite, `${base}: finite values, as numpy counts them`);
    assert.equal(s.opaque, e.ml.finite, `${base}: one opaque pixel per finite value`);
    assert.equal(s.transparent, rows * cols - e.ml.finite, `${base}: NaN drawn transparent`);
    assert.ok(s.colours > 20, `${base}: only ${s.colours} colours: the image is flat`);
    assert.equal(s.role, 'img');
    assert.match(s.label, new RegExp(`Level-1.5 ML array of ${base}: ${rows} × ${cols}`));
    assert.match(await page.textContent('#viewer-panel figcaption'), /solar north up/);
    const dl = page.locator('#viewer-panel .ml-links a', { hasText: 'Download the ML array' });
    assert.equal(await dl.getAttribute('download'), e.ml.path.split('/').pop());
    assert.match(await page.textContent('.viewer-side .meta'), /Level 1\.5registered, ML array made/);
    await shot(`lev15-${base}`);
  }
  // The HMI array (a smaller image padded with NaN on the grid) has places without data.
  const hmi = EXPECT.files.resampled_hmi.ml;
  assert.ok(hmi.finite > 0 && hmi.finite < hmi.shape[0] * hmi.shape[1]);
});

test('a file that was not registered says why', async () => {
  const [base, e] = Object.entries(EXPECT.files).find(([, x]) => !x.ml);
  await openFile(e.input);
  await page.click('[role=tab]:text-is("Level 1.5")');
  const text = await page.textContent('#viewer-panel');
  assert.match(text, /^No level-1.5 output for this file: \S/);
  if (EXPECT.reason) assert.ok(text.includes(EXPECT.reason), `"${text}" lacks the manifest's reason`);
  assert.equal(await page.locator('#viewer-panel canvas').count(), 0);
  assert.match(await page.textContent('.viewer-side .meta'), /Level 1\.5not made: \S/);
  await shot(`lev15-${base}-skipped`);
});

test('the session stacks are linked and download what the server has', async () => {
  assert.ok(EXPECT.stacks.length >= 3, `the manifest lists ${EXPECT.stacks.length} stacks`);
  await page.locator('#stacks').waitFor({ state: 'visible' });
  const links = await page.$$eval('#stacks a', (as) => as.map((a) => ({ text: a.textContent, href: a.href, download: a.getAttribute('download') })));
  assert.deepEqual(links.map((l) => l.text).sort(), [...EXPECT.stacks].sort());
  for (const want of ['session/stack.npy', 'session/stack_index.csv', 'session/channels.npz']) {
    const l = links.find((x) => x.text === want);
    assert.ok(l, `no link to ${want}`);
    assert.equal(l.download, want.split('/').pop());
    const r = await page.request.get(l.href);
    assert.equal(r.status(), 200, `${want}: ${r.status()}`);
    assert.ok((await r.body()).length > 0);
  }
  await shot('stacks');
});

test('keyboard: the Level 1.5 tab is reached with the arrow keys; the page passes the basics', async () => {
  const [, e] = Object.entries(EXPECT.files).find(([, x]) => x.ml);
  await openFile(e.input);
  await page.click('[role=tab]:text-is("Colour")');
  await page.focus('[role=tab][aria-selected=true]');
  let seen = false;
  for (let i = 0; i < 6 && !seen; i++) {
    await page.keyboard.press('ArrowRight');
    seen = (await page.textContent('[role=tab][aria-selected=true]')) === 'Level 1.5';
  }
  assert.ok(seen, 'the arrow keys never selected the Level 1.5 tab');
  await page.waitForSelector('#viewer-panel canvas.ml-canvas');
  const problems = await page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')) out.push(`unlabelled ${el.id || el.type}`);
    }
    for (const b of document.querySelectorAll('button, a[href]')) {
      if (!(b.textContent.trim() || b.getAttribute('aria-label'))) out.push(`nameless ${b.outerHTML.slice(0, 60)}`);
    }
    for (const i of document.querySelectorAll('img')) if (!i.hasAttribute('alt')) out.push(`img without alt ${i.src}`);
    for (const c of document.querySelectorAll('canvas')) if (c.getAttribute('role') !== 'img' || !c.getAttribute('aria-label')) out.push('canvas without role img and a name');
    return out;
  });
  assert.deepEqual(problems, []);
});

test('hostile .npy files are refused with a reason, never drawn or allocated', async () => {
  const out = await page.evaluate(async () => {
    const { parseNpy } = await import('./js/npy.js');
    const npy = (header, dataBytes, { version = 1, magic = '\x93NUMPY' } = {}) => {
      let text = header;
      const pre = magic.length + 2 + (version === 1 ? 2 : 4);
      while ((pre + text.length + 1) % 64) text += ' ';
      text += '\n';
      const buf = new Uint8Array(pre + text.length + dataBytes);
      for (let i = 0; i < magic.length; i++) buf[i] = magic.charCodeAt(i);
      buf[magic.length] = version;
      const dv = new DataView(buf.buffer);
      if (version === 1) dv.setUint16(8, text.length, true);
      else dv.setUint32(8, text.length, true);
      for (let i = 0; i < text.length; i++) buf[pre + i] = text.charCodeAt(i);
      return buf.buffer;
    };
    const tries = {
      ok: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 16),
      shortData: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (512, 512), }", 16),
      huge: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }", 16),
      overflow: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (999999999, 999999999, 999999999), }", 16),
      badType: npy("{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }", 32),
      noShape: npy("{'descr': '<f4', 'fortran_order': False}", 16),
      badMagic: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 16, { magic: '\x93NUMPZ' }),
      headerPastEnd: (() => { const b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, { version: 2 }); new DataView(b).setUint32(8, 0xffffff00, true); return b; })(),
      version9: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, { version: 9 }),
      empty: new ArrayBuffer(0),
    };
    const res = {};
    for (const [k, b] of Object.entries(tries)) {
      try {
        const r = parseNpy(b);
        res[k] = `ok ${r.shape.join('x')}`;
      } catch (e) {
        res[k] = `error: ${e.message}`;
      }
    }
    return res;
  });
  assert.equal(out.ok, 'ok 2x2');
  for (const [k, v] of Object.entries(out)) if (k !== 'ok') assert.match(v, /^error: \S/, `${k}: ${v}`);
  assert.match(out.shortData, /needs 1048576/);
  assert.match(out.huge, /more than 16777216 values/);
  assert.match(out.overflow, /more than 16777216 values/);
  assert.match(out.badType, /<c16 is not supported/);
  assert.match(out.badMagic, /not a NumPy \.npy file/);
});

test('no script errors on the page; every output it asked for was there', () => {
  // A server without a daily movie answers /api/daily-video/latest with 404, which chromium logs.
  assert.deepEqual(failed.filter((f) => !/\/api\/daily-video\/latest$/.test(f)), []);
  assert.deepEqual(pageErrors.filter((e) => !/EventSource|Failed to load resource/.test(e)), []);
});
