// Browser tests of the FitsFlow client (web/) against a real `fitsflow serve`, driven by
// Playwright in Debian's chromium. Started by tests/e2e/test_web.py, which passes:
//   FF_WEB_URL (the page), FF_API_URL (the server), FF_FIXTURES (FITS files made with astropy and
//   the SDO samples), FF_EXPECT (values astropy read from them), FF_ARTIFACTS (screenshots and
//   downloads), FF_LIMIT_BYTES (the server's session limit), FF_MOVIE (a daily movie path or '').
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

const URL_ = process.env.FF_WEB_URL;
const API = process.env.FF_API_URL;
const FIX = process.env.FF_FIXTURES;
const ART = process.env.FF_ARTIFACTS;
const EXPECT = JSON.parse(process.env.FF_EXPECT || '{}');
const LIMIT = Number(process.env.FF_LIMIT_BYTES);
const MOVIE = process.env.FF_MOVIE || '';
assert.ok(URL_ && API && FIX && ART, 'run me through tests/e2e/test_web.py');

const fix = (name) => path.join(FIX, name);
const PROCESS_TIMEOUT = 90_000;

let ctx;
let page;
let profile;
const pageErrors = [];

async function shot(name, opts = {}) {
  await page.screenshot({ path: path.join(ART, `${name}.png`), fullPage: true, ...opts });
}

async function fresh(url = URL_) {
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
}

async function addFiles(names) {
  await page.setInputFiles('#file-input', names.map(fix));
  await page.waitForSelector('body:not([data-selecting])', { state: 'attached' });
}

/** Waits until the text of selector matches re (content that appears after an event). */
async function waitText(selector, re) {
  await page.waitForFunction(([sel, src, flags]) => new RegExp(src, flags).test(document.querySelector(sel)?.textContent || ''),
    [selector, re.source, re.flags]);
}

async function waitResults() {
  await page.waitForSelector('#results-panel:not([hidden]) #viewer .viewer-title', { timeout: PROCESS_TIMEOUT });
}

before(async () => {
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ff-chromium-'));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.FF_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
  page = ctx.pages()[0] || (await ctx.newPage());
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
  });
});

after(async () => {
  await ctx?.close();
  fs.rmSync(profile, { recursive: true, force: true });
});

test('landing view: limit from /api/config, placeholder when there is no daily movie', async () => {
  // The server has a movie (the next test); here it answers as a server with none would.
  await page.route('**/api/daily-video/latest', (r) =>
    r.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"no daily movie has been built yet"}' }));
  await fresh();
  const storage = await page.textContent('#storage-text');
  assert.match(storage, /of 1 MB/, `storage text "${storage}" must show the server's 1 MB limit`);
  assert.match(await page.textContent('#accepted-hint'), /\.fits\.gz/);
  await page.waitForFunction(() => !/Looking for/.test(document.querySelector('#daily-caption').textContent));
  assert.match(await page.textContent('#daily-caption'), /No daily movie yet/);
  assert.equal(await page.locator('#daily-media video').count(), 0);
  assert.equal(await page.locator('#daily-media .placeholder').count(), 1);
  await shot('landing');
  await page.unroute('**/api/daily-video/latest');
});

test('landing view: the latest daily movie plays when the server has one', { skip: !MOVIE && 'no ffmpeg' }, async () => {
  // The server has the movie file under daily_videos/; its own /api/daily-video/latest names it.
  await fresh();
  await page.waitForFunction(() => {
    const v = document.querySelector('#daily-media video');
    return v && v.readyState >= 1 && v.videoWidth > 0;
  });
  assert.equal(await page.evaluate(() => document.querySelector('#daily-media video').videoWidth), 320);
  assert.match(await page.textContent('#daily-caption'), /2026-11-22/);
  await shot('landing-movie', { fullPage: false });
});

test('refusals: non-FITS name, non-FITS content, duplicate, over the limit', async () => {
  await fresh();
  await addFiles(['aia_171_level1.fits', 'notes.txt', 'fake.fits', 'too_big.fits']);
  await addFiles(['aia_171_level1.fits']);
  // The second pick replaces the refusal list: only the duplicate.
  let refusals = await page.textContent('#refusal-list');
  assert.match(refusals, /aia_171_level1\.fits.*already selected/s);
  await page.click('#reset');
  await addFiles(['aia_171_level1.fits', 'notes.txt', 'fake.fits', 'too_big.fits', 'aia_171_level1.fits']);
  refusals = await page.textContent('#refusal-list');
  assert.ok(await page.isVisible('#refusals'));
  assert.match(refusals, /notes\.txt — not a FITS file name/);
  assert.match(refusals, /fake\.fits — the content is not FITS/);
  assert.match(refusals, /too_big\.fits — .* over its limit of 1 MB/);
  assert.match(refusals, /aia_171_level1\.fits — a file named aia_171_level1\.fits .* already selected/);
  assert.equal(await page.locator('#file-list li').count(), 1);
  assert.equal(await page.isEnabled('#submit'), true);
  const bar = await page.evaluate(() => ({ v: document.querySelector('#storage-bar').value, m: document.querySelector('#storage-bar').max }));
  assert.equal(bar.m, LIMIT);
  assert.equal(bar.v, fs.statSync(fix('aia_171_level1.fits')).size);
  await shot('refusals');
  await page.click('#reset');
  assert.equal(await page.locator('#file-list li').count(), 0);
  assert.equal(await page.isVisible('#refusals'), false);
  assert.equal(await page.isEnabled('#submit'), false);
});

let sessionId = '';

test('upload three files, watch every step, see the results', async () => {
  await fresh();
  await addFiles(['aia_171_level1.fits', 'resampled_hmi.fits', 'xss_header.fits']);
  const sizes = await page.locator('.file-size').allTextContents();
  assert.equal(sizes.length, 3);
  await page.click('#submit');
  await page.waitForSelector('#progress-panel:not([hidden])');
  await waitResults();
  sessionId = await page.evaluate(() => new URL(location.href).searchParams.get('session'));
  assert.match(sessionId, /^[a-z0-9-]{8,64}$/);
  const status = await page.locator('.file-status').allTextContents();
  assert.deepEqual(status, ['Uploaded', 'Uploaded', 'Uploaded']);
  // One line per step per file, each marked from the status API, and the session's own lines.
  const lines = await page.$$eval('#terminal .line', (ls) => ls.map((l) => ({ name: l.dataset.name, cls: l.className, text: l.querySelector('.text').textContent })));
  for (const base of ['aia_171_level1', 'resampled_hmi', 'xss_header']) {
    for (let s = 1; s <= 7; s++) assert.ok(lines.some((l) => l.name === `${base}_log_${s}.txt`), `no line for ${base} step ${s}`);
  }
  assert.ok(lines.some((l) => l.name === 'summary_log_2.txt' && /ALL FILES PROCESSED SUCCESSFULLY/.test(l.text)));
  const names = lines.map((l) => l.name);
  assert.equal(new Set(names).size, names.length, 'each log shown once');
  assert.ok(lines.find((l) => l.name === 'aia_171_level1_log_3.txt').cls.includes('ok'));
  assert.ok(lines.find((l) => l.name === 'aia_171_level1_log_6.txt').cls.includes('fail'), 'offline HEK step is marked as not done');
  assert.equal(await page.getAttribute('#terminal', 'data-mode'), 'stream');
  assert.equal(await page.textContent('#overall-label'), 'Done.');
  assert.match(await page.textContent('#summary-line'), /3 processed, 0 skipped, 0 failed/);
  await shot('results');
});

async function openFile(input) {
  for (let i = 0; i < 5; i++) {
    if ((await page.textContent('#viewer-title')) === input) return;
    await page.click('button[aria-label="Next file"]');
  }
  assert.fail(`file ${input} not found in the viewer`);
}

async function imageSize() {
  const img = page.locator('#viewer-panel img');
  await img.waitFor();
  await page.waitForFunction(() => {
    const i = document.querySelector('#viewer-panel img');
    return i && i.complete && i.naturalWidth > 0;
  });
  return img.evaluate((i) => [i.naturalWidth, i.naturalHeight]);
}

test('viewer: colour and gray renders load, at the data\'s aspect ratio', async () => {
  for (const input of ['aia_171_level1.fits', 'resampled_hmi.fits']) {
    await openFile(input);
    const e = EXPECT[input];
    // A server with level 1.5 adds its tab (tests/web/prep.test.mjs tests it).
    const tabs = (await page.locator('[role=tab]').allTextContents()).filter((t) => t !== 'Level 1.5');
    assert.deepEqual(tabs, ['Colour', 'Gray', 'Header', 'HEK'], 'offline: no Helioviewer or JSOC tabs');
    for (const t of ['Colour', 'Gray']) {
      await page.click(`[role=tab]:text-is("${t}")`);
      assert.equal(await page.getAttribute(`[role=tab]:text-is("${t}")`, 'aria-selected'), 'true');
      const [w, hgt] = await imageSize();
      assert.ok(w > 0 && hgt > 0);
      assert.ok(Math.abs(w / hgt - e.NAXIS1 / e.NAXIS2) < 0.02, `${input} ${t}: ${w}x${hgt} vs ${e.NAXIS1}x${e.NAXIS2}`);
    }
    const meta = await page.textContent('.viewer-side .meta');
    assert.match(meta, /ObservatorySDO/);
  }
});

test('viewer: header table is searchable and shows TELESCOP as astropy reads it', async () => {
  await openFile('aia_171_level1.fits');
  await page.click('[role=tab]:text-is("Header")');
  await page.waitForSelector('table.kv');
  const total = await page.locator('table.kv tbody tr').count();
  assert.ok(total > 100, `only ${total} header rows`);
  await page.fill('.header-tab input[type=search]', 'telescop');
  const visible = page.locator('table.kv tbody tr:visible');
  assert.equal(await visible.count(), 1);
  assert.equal(await visible.locator('th').textContent(), 'TELESCOP');
  assert.equal(await visible.locator('td').first().textContent(), EXPECT['aia_171_level1.fits'].TELESCOP);
  assert.match(await page.textContent('.header-tab .search-row'), new RegExp(`1 of ${total} cards`));
  await shot('header-search');
  await page.fill('.header-tab input[type=search]', '');
  assert.equal(await visible.count(), total);
});

test('viewer: header values holding markup are shown as text', async () => {
  await openFile('xss_header.fits');
  await page.click('[role=tab]:text-is("Header")');
  await page.waitForSelector('table.kv');
  const value = async (key) => page.locator('table.kv tbody tr', { has: page.locator(`th:text-is("${key}")`) }).locator('td').first().textContent();
  assert.equal(await value('OBJECT'), EXPECT['xss_header.fits'].OBJECT);
  assert.equal(await value('OBSERVER'), EXPECT['xss_header.fits'].OBSERVER);
  assert.equal(await value('TELESCOP'), 'Test <b>bold</b> & co');
  assert.equal(await page.locator('#viewer script, #viewer img[src="x"], #viewer b').count(), 0);
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__ffPwned), undefined);
  await page.fill('.header-tab input[type=search]', 'script');
  await shot('header-xss');
});

test('viewer: HEK tab says why there are no events; manifest shown', async () => {
  await openFile('aia_171_level1.fits');
  await page.click('[role=tab]:text-is("HEK")');
  assert.match(await page.textContent('#viewer-panel'), /Not available: HEK events: aia_171_level1/);
  await page.click('#manifest-details summary');
  const tree = await page.textContent('#manifest-tree');
  assert.match(tree, new RegExp(sessionId));
  assert.match(tree, /files/);
  // The tree opens lazily: the first file's entry, then its outputs.
  await page.locator('#manifest-tree summary', { hasText: /^files \[3 items\]/ }).click();
  const first = page.locator('#manifest-tree summary', { hasText: /^0 \{\d+ keys\}/ });
  assert.match(await first.textContent(), /aia_171_level1\.fits/, 'an entry is summarised by its input name');
  await first.click();
  await waitText('#manifest-tree', /observation_time: "2011-02-15T00:00:01/);
  await shot('hek-manifest');
});

test('viewer: HEK events as a collapsible tree, their text never as markup', async () => {
  // The server is offline, so the HEK output is put in its status answer here, in the shape of
  // Helioviewer's events API, with event text that tries to inject markup.
  const hek = [{ name: 'Flare', pin: 'FL', groups: [{ name: 'SWPC', data: [
    { event_type: 'FL', short_label: '<img src=x onerror="window.__ffPwned=3">', event_starttime: '2011-02-15T00:05:00', fl_goescls: 'C1.2' },
    { event_type: 'FL', short_label: 'M2.0 <b>big</b>', event_starttime: '2011-02-15T00:09:00', fl_goescls: 'M2.0' },
  ] }] }, { name: 'Active Region', pin: 'AR', groups: [{ name: 'NOAA SWPC Observer', data: [{ event_type: 'AR', ar_noaanum: 11158 }] }] }];
  await page.route(`**/api/sessions/${sessionId}`, async (r) => {
    const res = await r.fetch();
    const st = await res.json();
    st.files[0].outputs.push({ path: 'hek/aia_171_level1_hek.json', bytes: 1, media_type: 'application/json' });
    await r.fulfill({ response: res, json: st });
  });
  await page.route('**/processed/hek/aia_171_level1_hek.json', (r) => r.fulfill({ json: hek }));
  await fresh(`${URL_}?session=${sessionId}`);
  await waitResults();
  await openFile('aia_171_level1.fits');
  await page.click('[role=tab]:text-is("HEK")');
  await page.waitForSelector('#viewer-panel .jt');
  assert.match(await page.textContent('#viewer-panel'), /3 HEK events around the observation time/);
  // Events are listed flat, each summarised by its label, type and time.
  const summaries = await page.locator('#viewer-panel summary').allTextContents();
  assert.deepEqual(summaries.slice(1).map((t) => t.replace(/^\d+ \{\d+ keys\} /, '')), [
    '<img src=x onerror="window.__ffPwned=3"> · FL · 2011-02-15T00:05:00',
    'M2.0 <b>big</b> · FL · 2011-02-15T00:09:00',
    'AR']);
  await page.locator('#viewer-panel summary', { hasText: /^0 \{/ }).click();
  await waitText('#viewer-panel', /short_label: "<img src=x onerror=\\"window.__ffPwned=3\\">"/);
  assert.equal(await page.locator('#viewer-panel img, #viewer-panel b').count(), 0);
  assert.equal(await page.evaluate(() => window.__ffPwned), undefined);
  await shot('hek-tree');
  await page.unroute(`**/api/sessions/${sessionId}`);
  await page.unroute('**/processed/hek/aia_171_level1_hek.json');
  await fresh(`${URL_}?session=${sessionId}`);
  await waitResults();
});

test('viewer: prev / next buttons, arrow keys and play move between files', async () => {
  await openFile('aia_171_level1.fits');
  const title = () => page.textContent('#viewer-title');
  await page.click('button[aria-label="Next file"]');
  assert.equal(await title(), 'resampled_hmi.fits');
  await page.click('button[aria-label="Previous file"]');
  assert.equal(await title(), 'aia_171_level1.fits');
  await page.locator('#results-title').click();
  await page.keyboard.press('ArrowRight');
  assert.equal(await title(), 'resampled_hmi.fits');
  await page.keyboard.press('ArrowRight');
  assert.equal(await title(), 'xss_header.fits');
  await page.keyboard.press('ArrowRight');
  assert.equal(await title(), 'aia_171_level1.fits', 'wraps around');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await title(), 'xss_header.fits');
  // Arrow keys inside the search box stay with the search box.
  await page.click('[role=tab]:text-is("Header")');
  await page.click('.header-tab input[type=search]');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await title(), 'xss_header.fits');
  // In the tab list they move between tabs.
  const tabNames = await page.locator('[role=tab]').allTextContents();
  await page.focus('[role=tab][aria-selected=true]');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await page.textContent('[role=tab][aria-selected=true]'), tabNames[tabNames.indexOf('Header') - 1]);
  assert.equal(await title(), 'xss_header.fits');
  await page.click('button[aria-pressed]');
  assert.equal(await page.getAttribute('button[aria-pressed]', 'aria-pressed'), 'true');
  await page.waitForFunction(() => document.querySelector('#viewer-title').textContent === 'aia_171_level1.fits', null, { timeout: 6000 });
  await page.click('button[aria-pressed]');
  assert.equal(await page.getAttribute('button[aria-pressed]', 'aria-pressed'), 'false');
});

test('downloads: the ZIP and a single output', async () => {
  const [zip] = await Promise.all([page.waitForEvent('download'), page.click('#zip-link')]);
  await zip.saveAs(path.join(ART, 'session.zip'));
  assert.ok(fs.statSync(path.join(ART, 'session.zip')).size > 1000);
  fs.writeFileSync(path.join(ART, 'session.json'), JSON.stringify({ session_id: sessionId }));
  await openFile('aia_171_level1.fits');
  const link = page.locator('.outputs a', { hasText: 'data/aia_171_level1_data.csv' });
  const [csv] = await Promise.all([page.waitForEvent('download'), link.click()]);
  await csv.saveAs(path.join(ART, 'aia_171_level1_data.csv'));
  const saved = fs.readFileSync(path.join(ART, 'aia_171_level1_data.csv'));
  const server = Buffer.from(await (await fetch(`${API}/temp/${sessionId}/processed/data/aia_171_level1_data.csv`)).arrayBuffer());
  assert.ok(saved.equals(server), 'the downloaded CSV is the server\'s object');
  assert.match(saved.toString('utf8').split('\n')[0], /^0,1,2,/);
});

test('a reloaded page picks the session up again from ?session=', async () => {
  await fresh(`${URL_}?session=${sessionId}`);
  await waitResults();
  assert.equal(await page.locator('#terminal .line').count() >= 22, true);
  assert.equal(await page.locator('.file-status').count(), 3);
});

test('narrow screen: one column, no sideways scrolling', async () => {
  await page.setViewportSize({ width: 380, height: 800 });
  await page.waitForTimeout(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
  await shot('narrow-results');
  await fresh();
  await shot('narrow-landing');
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('upload errors: 403 shows a message and Retry; events blocked -> polling fallback', async () => {
  await fresh();
  let refused = 0;
  await page.route(/\/temp\/[^/]+\/fits\//, (r) => {
    if (r.request().method() !== 'PUT') return r.continue();
    refused++;
    return r.fulfill({ status: 403, contentType: 'application/json', body: '{"error":"the upload link has expired"}' });
  });
  await page.route('**/events', (r) => r.abort());
  await addFiles(['resampled_hmi.fits']);
  await page.click('#submit');
  const status = page.locator('.file-status.error');
  await status.waitFor();
  assert.match(await status.textContent(), /upload link was refused or has expired \(the upload link has expired\)\. Retry/);
  assert.equal(refused, 2, 'one fresh link is tried before giving up');
  assert.ok(await page.isVisible('button[aria-label="Retry resampled_hmi.fits"]'));
  assert.match(await page.textContent('#upload-message'), /could not be uploaded/);
  await shot('upload-403');
  await page.unroute(/\/temp\/[^/]+\/fits\//);
  await page.click('button[aria-label="Retry resampled_hmi.fits"]');
  await waitResults();
  assert.equal(await page.getAttribute('#terminal', 'data-mode'), 'polling');
  assert.ok(await page.locator('#terminal .line[data-name="resampled_hmi_log_7.txt"]').count() === 1);
  await page.unroute('**/events');
});

test('upload errors: 413 names the limit; 429 waits and retries by itself', async () => {
  await fresh();
  await page.route(/\/temp\/[^/]+\/fits\/aia/, (r) => (r.request().method() === 'PUT'
    ? r.fulfill({ status: 413, contentType: 'application/json', body: '{"error":"this file would take session x past its limit"}' })
    : r.continue()));
  let busy = 0;
  await page.route(/\/temp\/[^/]+\/fits\/resampled/, (r) => {
    if (r.request().method() === 'PUT' && busy++ === 0) {
      return r.fulfill({ status: 429, headers: { 'Retry-After': '1', 'Access-Control-Expose-Headers': 'Retry-After' }, contentType: 'application/json', body: '{"error":"too many requests"}' });
    }
    return r.continue();
  });
  await addFiles(['aia_171_level1.fits', 'resampled_hmi.fits']);
  await page.click('#submit');
  const hmi = page.locator('.file', { hasText: 'resampled_hmi.fits' }).locator('.file-status');
  await page.waitForFunction(() => /busy \(429\); retrying in 1 s/.test(document.querySelector('.file-list').textContent));
  await page.locator('.file', { hasText: 'aia_171_level1.fits' }).locator('.file-status.error').waitFor();
  assert.match(await page.locator('.file', { hasText: 'aia_171_level1.fits' }).locator('.file-status').textContent(),
    /Over the session's storage limit of 1 MB \(this file would take session x past its limit\)/);
  await page.waitForFunction(() => [...document.querySelectorAll('.file-status')].some((s) => s.textContent === 'Uploaded'));
  assert.equal(await hmi.textContent(), 'Uploaded');
  assert.ok(await page.isVisible('#continue'), 'offers to go on with the uploaded file');
  await shot('upload-413-429');
  await page.click('#continue');
  await waitResults();
  assert.equal(await page.textContent('#viewer-title'), 'resampled_hmi.fits');
  await page.unroute(/\/temp\/[^/]+\/fits\/aia/);
  await page.unroute(/\/temp\/[^/]+\/fits\/resampled/);
});

test('accessibility basics: labels, names, alt text, focus order starts at the skip link', async () => {
  await fresh();
  const problems = await page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')) out.push(`unlabelled ${el.id || el.type}`);
    }
    for (const b of document.querySelectorAll('button, a[href]')) {
      if (!(b.textContent.trim() || b.getAttribute('aria-label'))) out.push(`nameless ${b.outerHTML.slice(0, 60)}`);
    }
    for (const i of document.querySelectorAll('img')) if (!i.hasAttribute('alt')) out.push(`img without alt ${i.src}`);
    for (const p of document.querySelectorAll('progress')) {
      if (!(p.labels && p.labels.length) && !p.getAttribute('aria-label') && !p.getAttribute('aria-labelledby')) out.push(`unlabelled progress ${p.id}`);
    }
    return out;
  });
  assert.deepEqual(problems, []);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  // The page switches views on 'hashchange', a task that runs after the click has returned:
  // wait for the view instead of reading its visibility once.
  await page.click('nav a[data-view="supported"]');
  await page.locator('#view-supported').waitFor({ state: 'visible' });
  for (const w of ['94', '131', '171', '193', '211', '304', '335', '1600', '1700', '4500', 'HMI', 'EIT', 'MDI', 'LASCO', 'EUVI', 'COR', 'SWAP', 'SUVI']) {
    assert.ok((await page.textContent('#view-supported')).includes(w), `Supported data lacks ${w}`);
  }
  await shot('supported');
  await page.click('nav a[data-view="about"]');
  await page.locator('#view-about').waitFor({ state: 'visible' });
  assert.equal(await page.isVisible('#view-supported'), false);
  assert.equal(await page.isVisible('#upload-panel'), false);
  await shot('about');
});

test('no script errors on the page', () => {
  // A cross-origin API makes chromium log refused requests we caused on purpose (403/413/429 above).
  const real = pageErrors.filter((e) => !/Failed to load resource|net::ERR_FAILED|EventSource/.test(e));
  assert.deepEqual(real, []);
});
