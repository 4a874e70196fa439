// The operators' page in headless Chromium: served by the local runtime with the built
// Functions and Access Manager on, it signs in at the auth service with the operator key (a
// wrong key is refused on the page), reads operators.metrics with that token, and plots the
// snapshots live: a user's join shows up as a point in the events chart and the alerts list.
// Saves target/screenshots/operators.png.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, client, destroyAll, ROOT } from './local-pubnub/helpers.mjs';
import { AuthService } from '../../js-shim/auth/service.mjs';
import { shardOf } from '../../js-shim/demo/seed.mjs';

const MANIFEST = path.join(ROOT, 'pkg/functions/manifest.json');
const SHOT = path.join(ROOT, 'target/screenshots/operators.png');
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
    static: { '/demo/': path.join(ROOT, 'js-shim/demo/page'), '/vendor/pubnub/': path.join(ROOT, 'node_modules/pubnub11/dist/web') },
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
  // Every chart has axes labels and a legend with the latest value.
  assert.equal(await page.$$eval('.chart .legend span', (s) => s.length), 16);
  fs.mkdirSync(path.dirname(SHOT), { recursive: true });
  await page.screenshot({ path: SHOT, fullPage: true });
  assert.deepEqual(errors, []);
});
