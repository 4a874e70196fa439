// Load through the settle path with the real SDK: ~200 users, each one real `pubnub` v11 client
// that subscribes to its friends' group (its view) and flaps its presence on its shard
// (subscribe / unsubscribe of presence.shard-N, announce mode: the recommended sizing), ~100
// presence changes/s for 30 s. Most changes land inside a user's 5 s debounce window, so they
// go through the settle queue (the settler runs every second here). Within 20 s of the end,
// every friend's view (the last status it received per friend) and App Context `online` must
// equal presence. Loopback only; the local runtime in process with the built Functions.
// Run: node --experimental-vm-modules --no-warnings --test tests/node/settle-load.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, client, connected, destroyAll, events, tmpDir, ROOT } from './local-pubnub/helpers.mjs';
import { seedPopulation, shardOf } from '../../js-shim/dev/demo/seed.mjs';

const MANIFEST = path.join(ROOT, 'pkg/functions/manifest.json');
const USERS = 200;
const RATE = 100; // presence changes per second, over all users
const BURST_MS = 30_000;
const BOUND_MS = 20_000;
// How long the runtime may take to see the burst's last subscribes and leaves (a loaded machine).
const PRESENCE_LAG_MS = 30_000;

let srv;
after(async () => {
  destroyAll();
  await srv?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test(`${USERS} subscribers, ${RATE} presence changes/s for 30 s on flapping users: every friend's view and App Context equal presence within 20 s`, { timeout: 150_000 }, async () => {
  srv = await startServer({ functions: MANIFEST, functionIntervalMs: 1000, dataDir: tmpDir('settle-load-'), fsync: false });
  const { ids } = await seedPopulation(srv, { users: USERS, friends: 4, online: 0, seed: 11 });
  const friendsOf = (id) => [...(srv.objects.byChannel.get(`friends.${id}`)?.keys() ?? [])];
  const shard = (id) => `presence.shard-${shardOf(id)}`;

  // One client per user: its view of its friends (last status received per friend).
  const users = ids.map((id) => ({ id, pn: client('v11', srv, id), view: new Map(), on: false }));
  await Promise.all(users.map(async (u) => {
    const ev = events(u.pn);
    u.pn.addListener({
      message: (m) => {
        const type = m.message?.type;
        if (type === 'friend.online' || type === 'friend.offline') u.view.set(m.message.payload.userId, type);
      },
    });
    u.pn.subscribe({ channelGroups: [`cg-friends-${u.id}`] });
    await connected(ev);
  }));
  const shards = new Set(ids.map(shard));
  assert.ok(shards.size > 50, `users spread over ${shards.size} shards`);

  // The burst: RATE changes per second, each a random user's subscribe to / unsubscribe from its shard.
  let seed = 0x2545f491;
  const rand = (n) => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
  const start = Date.now();
  let changes = 0;
  while (Date.now() - start < BURST_MS) {
    const due = Math.floor(((Date.now() - start) * RATE) / 1000);
    for (; changes < due; changes++) {
      const u = users[rand(users.length)];
      u.on = !u.on;
      if (u.on) u.pn.subscribe({ channels: [shard(u.id)] });
      else u.pn.unsubscribe({ channels: [shard(u.id)] });
    }
    await sleep(10);
  }
  const end = Date.now();

  // Presence is the truth: where the runtime has each user now.
  const present = (id) => srv.presence.whereNow(id).includes(shard(id));
  const wrong = () => {
    const out = { appContext: 0, views: 0, of: 0 };
    for (const u of users) {
      const truth = present(u.id);
      if ((srv.objects.entities.uuid.get(u.id)?.custom?.online === true) !== truth) out.appContext++;
      const want = truth ? 'friend.online' : 'friend.offline';
      for (const f of friendsOf(u.id)) {
        out.of++;
        const friend = users.find((x) => x.id === f);
        if ((friend.view.get(u.id) ?? 'friend.offline') !== want) out.views++;
      }
    }
    return out;
  };
  // On a loaded machine the clients' last subscribes and leaves can reach the runtime seconds
  // after the burst: the bound runs from when presence is what the clients made it.
  const lagging = () => users.filter((u) => present(u.id) !== u.on).length;
  while (lagging() && Date.now() - end < PRESENCE_LAG_MS) await sleep(250);
  const settled = Date.now();
  let last = wrong();
  const atEnd = last;
  while ((last.appContext || last.views) && Date.now() - settled < BOUND_MS) {
    await sleep(250);
    last = wrong();
  }
  const took = Date.now() - settled;
  console.log(`# settle load: ${changes} presence changes in ${((end - start) / 1000).toFixed(1)} s on ${USERS} users over ${shards.size} shards; ` +
    `at the end ${atEnd.appContext}/${USERS} App Context states and ${atEnd.views}/${atEnd.of} views wrong; ` +
    `presence followed the clients ${settled - end} ms after the end; ` +
    `${last.appContext || last.views ? 'NOT converged' : 'converged'} ${took} ms after that`);
  assert.ok(changes >= RATE * 25, `the burst made ${changes} changes`);
  assert.equal(lagging(), 0, `presence follows the clients (within ${PRESENCE_LAG_MS} ms)`);
  assert.deepEqual({ appContext: last.appContext, views: last.views }, { appContext: 0, views: 0 }, `not converged within ${BOUND_MS} ms of presence`);
  const overruns = srv.lines.filter((l) => /exceeds the limit|per-execution limit/.test(l));
  assert.deepEqual(overruns.slice(0, 3), [], 'no execution over its op budget');
});
