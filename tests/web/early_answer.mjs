// A refused upload's answer reaches the browser (started by tests/e2e/test_serve_lingering.py):
// Debian's chromium, driven by Playwright, opens FF_PAGE (a page of the server's own origin) and
// PUTs FF_BYTES zero bytes with fetch to each URL of FF_URLS (a JSON list). The server answers
// before the body is read; the browser must see that status, not a network error. Prints one JSON
// list of {status, body} or {error} on stdout.
import { chromium } from 'playwright-core';

const browser = await chromium.launch({
  executablePath: process.env.FF_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  await page.goto(process.env.FF_PAGE);
  const out = await page.evaluate(async ([urls, n]) => {
    const res = [];
    for (const u of urls) {
      try {
        const r = await fetch(u, { method: 'PUT', body: new Uint8Array(n),
          headers: { 'Content-Type': 'application/octet-stream' } });
        res.push({ status: r.status, body: await r.text() });
      } catch (e) {
        res.push({ error: String(e) });
      }
    }
    return res;
  }, [JSON.parse(process.env.FF_URLS), Number(process.env.FF_BYTES)]);
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
