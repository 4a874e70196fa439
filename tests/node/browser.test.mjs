// The demo page end to end in headless Chromium (Debian's chromium + playwright-core, both
// installed by scripts/setup): the local runtime with the built Functions, Access Manager on and
// the auth service mounted under /auth/ (as scripts/dev runs it), and a small seeded population,
// serves the page; the page signs in at the auth service and acts only through its token; the page (real PubNub browser SDK + pkg/web) loads a seeded user's
// friends (friends.sync pages on its inbox), shows a friend coming online within 2 s, and adds a friend whose request it accepts.
// Saves target/screenshots/demo.png.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, client, destroyAll, tmpDir, ROOT } from './local-pubnub/helpers.mjs';
import { Churn } from '../../js-shim/demo/churn.mjs';
import { seedPopulation, shardOf } from '../../js-shim/demo/seed.mjs';
import { command } from './commands.mjs';
import { AuthService } from '../../js-shim/auth/service.mjs';

const MANIFEST = path.join(ROOT, 'pkg/functions/manifest.json');
const SHOT = path.join(ROOT, 'target/screenshots/demo.png');
const CHROMIUM = '/usr/bin/chromium';
const SECRET = 'sec-c-browser-test';
const KEYS = { publishKey: 'pub-c-local', subscribeKey: 'sub-c-local' };

let srv, browser;
after(async () => {
  await browser?.close();
  destroyAll();
  await srv?.close();
});

test('demo page: friends load, a friend comes online within 2 s, an accepted request adds a friend', { timeout: 120_000 }, async () => {
  let auth;
  const authCalls = [];
  srv = await startServer({
    secretKey: SECRET,
    publishKey: KEYS.publishKey,
    mount: { '/auth/': (request) => (authCalls.push(request.path), auth.handle(request)) },
    functions: MANIFEST,
    functionIntervalMs: 1000, // count aggregator and settler: the chart gets points quickly
    dataDir: tmpDir('browser-test-'),
    fsync: false,
    static: {
      '/demo/': path.join(ROOT, 'js-shim/demo/page'),
      '/pkg/web/': path.join(ROOT, 'pkg/web'),
      '/vendor/pubnub/': path.join(ROOT, 'node_modules/pubnub11/dist/web'),
    },
  });
  auth = new AuthService({ pubnub: client('v11', srv, 'auth-service', { ...KEYS, secretKey: SECRET }) });
  // Other users act through tokens from the same service.
  const user = async (id) => {
    const pn = client('v11', srv, id, KEYS);
    pn.setToken((await auth.login(id)).token);
    return pn;
  };
  const { ids } = await seedPopulation(srv, { users: 40, friends: 12, online: 0.5, seed: 7 });
  new Churn(srv, { ids, rate: 0, online: 0.5 }).restore(); // the seeded online users are present
  const me = ids[0];
  const friendIds = [...(srv.objects.byChannel.get(`friends.${me}`)?.keys() ?? [])];
  const custom = (id) => srv.objects.entities.uuid.get(id).custom;
  const onlineFriends = friendIds.filter((id) => custom(id).online);
  const offlineFriend = friendIds.find((id) => !custom(id).online);
  const stranger = ids.find((id) => id !== me && !friendIds.includes(id));
  assert.ok(friendIds.length >= 5 && offlineFriend && stranger, 'the seed gives the user friends, an offline one, and a non-friend');

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${srv.url}/demo/?user=${me}`);

  // 1. The seeded user's friends, with who is online.
  await page.waitForSelector('body[data-synced="true"]', { timeout: 15_000 });
  const shown = await page.$$eval('#friends li.friend', (lis) => lis.map((li) => [li.dataset.user, li.classList.contains('online')]));
  assert.deepEqual(shown.map(([id]) => id).sort(), [...friendIds].sort());
  assert.deepEqual(shown.filter(([, on]) => on).map(([id]) => id).sort(), [...onlineFriends].sort());
  assert.ok(shown.slice(0, onlineFriends.length).every(([, on]) => on), 'online friends are listed first');
  assert.equal(await page.textContent('#error'), '');
  assert.deepEqual(authCalls, ['/auth/login'], 'the page signed in at the auth service');

  // 2. A friend comes online (a real SDK client joins its presence shard): shown within 2 s.
  const friend = await user(offlineFriend);
  const t0 = Date.now();
  friend.subscribe({ channels: [`presence.shard-${shardOf(offlineFriend)}`] });
  await page.waitForSelector(`#friends li.friend.online[data-user="${offlineFriend}"]`, { timeout: 2000 });
  const latency = Date.now() - t0;
  assert.ok(latency < 2000, `shown online after ${latency} ms`);

  // 3. A friend request arrives; accepting it adds the friend to the list.
  const asker = await user(stranger);
  const { message } = command('friend.request', stranger, me, `req-${stranger}`);
  await asker.publish({ channel: `friend-requests.${stranger}`, message });
  await page.waitForSelector(`#requests li.request[data-request="${stranger}"]`, { timeout: 10_000 });
  await page.click(`button[data-accept="${stranger}"]`);
  await page.waitForSelector(`#friends li.friend[data-user="${stranger}"]`, { timeout: 10_000 });
  await page.waitForSelector(`#requests li.request[data-request="${stranger}"]`, { state: 'detached', timeout: 5000 });
  assert.equal(await page.$$eval('#friends li.friend', (lis) => lis.length), friendIds.length + 1);

  // The global count arrives from the count aggregator (every second here).
  await page.waitForFunction(() => /\d/.test(document.getElementById('global-count').textContent), null, { timeout: 10_000 });
  await page.waitForTimeout(1500); // a second chart point
  fs.mkdirSync(path.dirname(SHOT), { recursive: true });
  await page.screenshot({ path: SHOT });
  assert.ok(fs.statSync(SHOT).size > 10_000, 'screenshot written');
  assert.deepEqual(errors, []);
});
