// The demo population (js-shim/dev/demo/seed.mjs) is written straight into the runtime's state; these
// tests check it is laid out as the Functions lay it out: the built friend-acceptance and
// friend-removal Functions work on seeded users exactly as on users they befriended themselves.
// Also the churn simulator's presence changes and its latency bookkeeping.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, client, connected, destroyAll, events, tmpDir, until, ROOT } from './local-pubnub/helpers.mjs';
import { command } from './commands.mjs';
import { startLocalPubNub } from '../../js-shim/dev/local-pubnub/index.mjs';
import { Churn } from '../../js-shim/dev/demo/churn.mjs';
import { friendGraph, rng, seedPopulation, shardOf } from '../../js-shim/dev/demo/seed.mjs';

const MANIFEST = path.join(ROOT, 'pkg/functions/manifest.json');
const servers = [];
after(async () => {
  destroyAll();
  for (const s of servers) await s.close();
});


test('the friend graph is symmetric, about the asked degree, and never includes oneself', () => {
  const adj = friendGraph(500, 40, rng(1));
  let sum = 0;
  adj.forEach((set, i) => {
    assert.ok(!set.has(i));
    for (const j of set) assert.ok(adj[j].has(i), `${i}-${j} one-sided`);
    sum += set.size;
  });
  const mean = sum / adj.length;
  assert.ok(mean > 30 && mean < 50, `mean degree ${mean}`);
  // Fewer users than the degree: everybody knows everybody.
  assert.ok(friendGraph(5, 200, rng(1)).every((s) => s.size === 4));
});

test('seeded state matches what the Functions write, and they operate on it', { timeout: 60_000 }, async () => {
  const dataDir = tmpDir('seed-test-');
  const srv = await startServer({ functions: MANIFEST, dataDir, fsync: false });
  servers.push(srv);
  const { ids, friendships } = await seedPopulation(srv, { users: 20, friends: 6, online: 0.5, seed: 3 });
  assert.ok(friendships > 20);
  const members = (id) => srv.objects.byChannel.get(`friends.${id}`) ?? new Map();
  const group = (id) => srv.groups.listChannels(`cg-friends-${id}`);
  for (const id of ids) {
    const mine = [...members(id).keys()];
    const user = srv.objects.entities.uuid.get(id);
    assert.equal(user.custom.friendCount, mine.length);
    assert.equal(user.custom.shardId, shardOf(id));
    assert.equal(typeof user.custom.online, 'boolean');
    assert.ok(!Number.isNaN(Date.parse(user.custom.lastSeen)) && Date.parse(user.custom.lastSeen) <= Date.now());
    assert.deepEqual(group(id), mine.map((f) => `status.${f}`).sort());
    for (const f of mine) assert.ok(members(f).has(id), 'friendship on both sides');
  }

  // A new friendship made by the Functions has the same membership fields as a seeded one.
  const a = ids[0];
  const b = ids.find((id) => id !== a && !members(a).has(id));
  const seededFriend = [...members(a).keys()][0];
  const ca = client('v11', srv, a);
  const cb = client('v11', srv, b);
  await ca.publish({ channel: `friend-requests.${a}`, message: command('friend.request', a, b, 'seed-req').message });
  await until(() => srv.kv.get(`friend-request:${a}:${b}`), 5000);
  await cb.publish({ channel: `friend-requests.${b}`, message: command('friend.request.accepted', a, b, 'seed-acc').message });
  await until(() => members(a).has(b) && members(b).has(a) && !srv.kv.get(`friend-request:${a}:${b}`), 5000);
  const keys = (m) => Object.keys(m.custom).sort();
  assert.deepEqual(keys(members(a).get(b)), keys(members(a).get(seededFriend)));
  await until(() => srv.objects.entities.uuid.get(a).custom.friendCount === members(a).size, 5000);

  // friend-removal on a seeded friendship: group, memberships and friendCount all follow.
  const before = members(a).size;
  await ca.publish({ channel: `friend-management.${a}`, message: command('friend.remove', a, seededFriend, 'seed-rm').message });
  await until(() => !members(a).has(seededFriend) && !members(seededFriend).has(a), 5000);
  assert.ok(!group(a).includes(`status.${seededFriend}`) && !group(seededFriend).includes(`status.${a}`));
  await until(() => srv.objects.entities.uuid.get(a).custom.friendCount === before - 1, 5000);

  // The seed is durable: a restart replays it.
  await srv.close();
  servers.splice(servers.indexOf(srv), 1);
  const again = await startLocalPubNub({ dataDir, log: () => {} });
  servers.push(again);
  assert.equal(again.objects.entities.uuid.size, 20);
  assert.equal(again.groups.listChannels(`cg-friends-${a}`).length, members(a).size);
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('churn moves users on their shards and measures notification latency', { timeout: 60_000 }, async () => {
  const srv = await startServer({ functions: MANIFEST, fsync: false });
  servers.push(srv);
  const { ids } = await seedPopulation(srv, { users: 60, friends: 5, online: 0.5, seed: 9 });
  const churn = new Churn(srv, { ids, rate: 50, online: 0.5, rand: rng(5) });
  const restored = churn.restore();
  const onlineInContext = ids.filter((id) => srv.objects.entities.uuid.get(id).custom.online).length;
  assert.equal(restored, onlineInContext);
  assert.equal(churn.stats().online, restored, 'restored silently onto the shards');

  const watcher = client('v11', srv, 'watcher');
  const seen = events(watcher);
  watcher.addListener({ message: (m) => churn.observe(m.message) });
  watcher.subscribe({ channels: ['status.*'] });
  await connected(seen);
  churn.start(50);
  await until(() => churn.stats().samples >= 10, 20_000);
  churn.stop();
  const s = churn.stats();
  assert.ok(s.p99 !== null && s.p99 >= 0 && s.p99 < 5000, `p99 ${s.p99}`);
  assert.ok(s.perSecond > 0);
  // Every simulated user who is online is present on its own shard, and only there.
  for (const id of churn.sim) assert.deepEqual(srv.presence.whereNow(id), [`presence.shard-${shardOf(id)}`]);
});
