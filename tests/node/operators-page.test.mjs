// The operators' page in headless Chromium: served by the local runtime with the built
// Functions and Access Manager on, it signs in at the auth service with the operator key (a
// wrong key is refused on the page), reads operators.metrics with that token, and plots the
// snapshots live: a user's join shows up as a point in the events chart and the alerts list.
// At 375, 1280 and 1600 px wide every chart keeps a readable size, no label (titles, axis
// labels, legends, gauges, alerts) overlaps another or leaves its panel, and nothing is wider
// than the screen. Saves target/screenshots/operators-{375,1280,1600}.png.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, client, destroyAll, ROOT } from './local-pubnub/helpers.mjs';
import { AuthService } from '../../js-shim/dev/auth/service.mjs';
import { shardOf } from '../../js-shim/dev/demo/seed.mjs';

const MANIFEST = path.join(ROOT, 'pkg/functions/manifest.json');
const SHOTS = path.join(ROOT, 'target/screenshots');
const SECRET = 'sec-c-operators-page';
const KEYS = { publishKey: 'pub-c-local', subscribeKey: 'sub-c-local' };
const OPERATOR_KEY = 'page-operator-key';

let srv, browser;
after(async () => {
  await browser?.close();
  destroyAll();
  await srv?.close();
});

test('operators page: signs in with the operator key and plots the metrics snapshots live', { timeout: 60_000 }, async () => {
  let auth;
  srv = await startServer({
    secretKey: SECRET,
    publishKey: KEYS.publishKey,
    mount: { '/auth/': (request) => auth.handle(request) },
    functions: MANIFEST,
    functionIntervalMs: 1000,
    static: { '/demo/': path.join(ROOT, 'js-shim/dev/demo/page'), '/vendor/pubnub/': path.join(ROOT, 'node_modules/pubnub11/dist/web') },
  });
  const admin = client('v11', srv, 'operators-admin', { ...KEYS, secretKey: SECRET });
  auth = new AuthService({ pubnub: admin, operatorKey: OPERATOR_KEY });

  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(`${srv.url}/demo/operators.html#key=not-the-key`);
  await page.waitForFunction(() => /refused/.test(document.getElementById('state').textContent), null, { timeout: 10_000 });
  assert.match(await page.textContent('#state'), /wrong operator key/);

  await page.goto('about:blank');
  await page.goto(`${srv.url}/demo/operators.html#key=${OPERATOR_KEY}`);
  await page.waitForFunction(() => window.operators?.times.length >= 2, null, { timeout: 15_000 });
  // A user comes online: the join is counted and plotted.
  const user = client('v11', srv, 'op-page-user', KEYS);
  user.setToken((await auth.login('op-page-user')).token);
  user.subscribe({ channels: [`presence.shard-${shardOf('op-page-user')}`] });
  await page.waitForFunction(() => window.operators.series.events[0].some((v) => v > 0), null, { timeout: 15_000 });
  const alerts = await page.$$eval('#alerts li', (lis) => lis.map((li) => [li.className, li.textContent]));
  assert.deepEqual(alerts.map(([cls, text]) => [cls, text.split(':')[0].slice(2)]), [['ok', 'group_full'], ['ok', 'publish_errors'], ['ok', 'storm_protection']]);
  assert.match(await page.textContent('#state'), /last snapshot/);
  // Every chart has a legend with the latest value.
  assert.equal(await page.$$eval('[data-chart] .legend span', (s) => s.length), 16);

  fs.mkdirSync(SHOTS, { recursive: true });
  for (const [width, minChartWidth] of [[375, 300], [1280, 400], [1600, 400]]) {
    await page.setViewportSize({ width, height: 900 });
    // Drawn at this size: the page redraws on resize, each canvas to its box.
    await page.waitForFunction(
      () => [...document.querySelectorAll('[data-chart] canvas')].every((c) => c.width === Math.round(c.clientWidth * devicePixelRatio)),
      null,
      { timeout: 10_000 },
    );
    const layout = await page.evaluate(measure);
    const at = `at ${width} px`;
    assert.ok(layout.scrollWidth <= width, `the page is ${layout.scrollWidth} px wide ${at}`);
    const charts = layout.panels.filter((p) => p.chart);
    assert.equal(charts.length, 6);
    for (const { chart, canvas, ticks } of charts) {
      assert.ok(canvas.width >= minChartWidth && canvas.height >= 180, `${chart} chart is ${canvas.width}×${canvas.height} px ${at}`);
      // Three value labels and the time span's two ends, all on the chart's box.
      assert.equal(ticks.length, 5, `${chart} axis labels ${at}`);
      for (const t of ticks) assert.ok(t.text && inside(t, canvas), `${chart} label ${JSON.stringify(t)} off its chart ${at}`);
    }
    for (const { box, labels, chart } of layout.panels) {
      for (const l of labels) assert.ok(inside(l, box), `${chart ?? 'alerts'}: "${l.text}" leaves its panel ${at}`);
      for (const [a, b] of pairs(labels)) assert.ok(!overlap(a, b), `${chart ?? 'alerts'}: "${a.text}" overlaps "${b.text}" ${at}`);
    }
    for (const [a, b] of pairs(layout.panels)) assert.ok(!overlap(a.box, b.box), `panels ${a.chart} and ${b.chart} overlap ${at}`);
    await page.screenshot({ path: path.join(SHOTS, `operators-${width}.png`), fullPage: true });
  }
  assert.deepEqual(errors, []);
});

/** Where the panels, charts and every label are on the page (in the browser). */
function measure() {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height, text: el.textContent.trim().slice(0, 40) };
  };
  return {
    scrollWidth: document.documentElement.scrollWidth,
    panels: [...document.querySelectorAll('#ops > .panel')].map((p) => ({
      chart: p.dataset.chart ?? null,
      box: box(p),
      canvas: p.querySelector('canvas') ? box(p.querySelector('canvas')) : null,
      ticks: [...p.querySelectorAll('.tick')].map(box),
      labels: [...p.querySelectorAll('h2, .tick, .legend span, .gauges span, #alerts li')].map(box),
    })),
  };
}
const EPS = 0.5; // sub-pixel rounding
const inside = (a, b) => a.left >= b.left - EPS && a.right <= b.right + EPS && a.top >= b.top - EPS && a.bottom <= b.bottom + EPS;
const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > EPS && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > EPS;
const pairs = (xs) => xs.flatMap((a, i) => xs.slice(i + 1).map((b) => [a, b]));
