// Host faults and crashes on the local runtime with the real SDK: the built Functions run with
// 20 % of their host calls failing (or the runtime is killed with SIGKILL mid-traffic), and the
// clients (pkg/web connectFriends) re-send each command until its friend.command.result
// arrives. Afterwards: no half-made friendship, every friendCount exact, every request notified.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, client, destroyAll, tmpDir, runCli, ROOT, until } from './local-pubnub/helpers.mjs';
import { loadSettings } from '../../js-shim/settings.mjs';
import init, { connectFriends } from '../../pkg/web/index.js';

const MANIFEST = path.join(ROOT, 'pkg/functions/manifest.json');
const { shardCount } = loadSettings();
await init();

let srv;
after(async () => {
  destroyAll();
  await srv?.close();
});

const ids = (tag, n) => Array.from({ length: n }, (_, i) => `${tag}${i}`);


/** Signed-in users whose connections re-send quickly (this is loopback). */
async function connectAll(origin, users) {
  const seen = new Map(users.map((u) => [u, []]));
  const conns = new Map();
  for (const u of users) {
    const pubnub = client('v11', { origin }, u);
    conns.set(u, await connectFriends({
      pubnub, userId: u, shardCount, online: false, answerTimeoutMs: 400, attempts: 400,
      onMessage: (e) => seen.get(u).push(e.message?.type),
    }));
  }
  return { conns, seen };
}

/**
 * Requests along a ring (u_i asks u_{i+1}); the first `accepted` are accepted, one is declined,
 * then the first two friendships are removed. Every command in a phase goes out at once.
 */
async function traffic(conns, users, accepted) {
  const pairs = users.map((u, i) => [u, users[(i + 1) % users.length]]);
  const answers = await Promise.all(pairs.map(([a, b]) => conns.get(a).request(b)));
  for (const r of answers) assert.equal(r.ok, true, JSON.stringify(r));
  const accepting = pairs.slice(0, accepted);
  for (const r of await Promise.all(accepting.map(([a, b]) => conns.get(b).accept(a)))) assert.equal(r.ok, true, JSON.stringify(r));
  const [da, db] = pairs[accepted];
  assert.equal((await conns.get(db).decline(da)).ok, true);
  for (const r of await Promise.all(accepting.slice(0, 2).map(([a, b]) => conns.get(a).remove(b)))) assert.equal(r.ok, true, JSON.stringify(r));
  return { pairs, friends: accepting.slice(2) };
}

/**
 * Memberships, groups and friendCount against what the commands made. Each friendship change
 * fires a recount; under injected faults the last one of a user can fail along with its
 * re-queue, so, as an operator would, the test asks the recount worker once more for everyone
 * (it counts the memberships, whatever the counter said).
 */
async function assertExact(admin, users, friends) {
  const expected = new Map(users.map((u) => [u, new Set()]));
  for (const [a, b] of friends) expected.get(a).add(b), expected.get(b).add(a);
  for (const u of users) {
    const members = (await admin.objects.getChannelMembers({ channel: `friends.${u}`, include: { customFields: true } })).data.map((m) => m.uuid.id).sort();
    assert.deepEqual(members, [...expected.get(u)].sort(), `memberships of ${u}`);
    const grouped = (await admin.channelGroups.listChannels({ channelGroup: `cg-friends-${u}` })).channels.sort();
    assert.deepEqual(grouped, [...expected.get(u)].map((f) => `status.${f}`).sort(), `group of ${u}`);
  }
  for (let i = 0; i < users.length; i += 2) {
    await admin.publish({ channel: 'recount-work.repair', message: { type: 'recount.work', hop: 1, users: users.slice(i, i + 2) } });
  }
  await until(async () => {
    for (const u of users) {
      const custom = (await admin.objects.getUUIDMetadata({ uuid: u, include: { customFields: true } })).data.custom ?? {};
      if ((custom.friendCount ?? 0) !== expected.get(u).size) return false;
    }
    return true;
  }, 20_000, { step: 100, what: 'friendCount of every user equals its friends' });
}

test('20 % of host calls failing: re-sent commands leave nothing half-made, every count exact, every request notified', { timeout: 180_000 }, async () => {
  srv = await startServer({ functions: MANIFEST, functionIntervalMs: 500, faults: { rate: 0.2, seed: 20 } });
  // Each attempt of a command makes ~10-16 host calls, so at 20 % most attempts fail somewhere:
  // clients re-send (every 400 ms, up to 400 times) until the answer arrives.
  const admin = client('v11', srv, 'faults-admin');
  const users = ids('rf', 8);
  for (const u of users) await admin.objects.setUUIDMetadata({ uuid: u, data: { name: u } });
  const { conns, seen } = await connectAll(srv.origin, users);
  const { pairs, friends } = await traffic(conns, users, 5);
  srv.functions.injectFaults({ rate: 0 }); // let the fired recounts land
  assert.ok(srv.functions.faults.injected > 50, `faults injected: ${srv.functions.faults.injected}`);
  for (const [a, b] of pairs) assert.ok(seen.get(b).includes('friend.request.received'), `${b} was told of ${a}'s request`);
  await assertExact(admin, users, friends);
  for (const c of conns.values()) c.close();
  console.log(`# runtime faults: ${srv.functions.faults.injected} injected; ${friends.length} friendships exact`);
});

test('targeted faults: a failed n-th call, or a crash after it, in an acceptance is completed by the re-send', { timeout: 120_000 }, async () => {
  srv.functions.injectFaults({ rate: 0 });
  const users = ids('tf', 2);
  const admin = client('v11', srv, 'targeted-admin');
  for (const u of users) await admin.objects.setUUIDMetadata({ uuid: u, data: { name: u } });
  const { conns } = await connectAll(srv.origin, users);
  const [a, b] = users;
  assert.equal((await conns.get(a).request(b)).ok, true);
  const before = srv.functions.faults.injected;
  srv.functions.injectFaults({ fn: 'friend-acceptance', failCall: 3 });
  srv.functions.injectFaults({ fn: 'friend-acceptance', crashAfter: 5 });
  assert.equal((await conns.get(b).accept(a)).ok, true);
  assert.ok(srv.functions.faults.injected > before, 'the targeted faults were hit');
  await assertExact(admin, users, [[a, b]]);
  for (const c of conns.values()) c.close();
});

test('kill -9 of the runtime mid-traffic: re-sent commands complete everything exactly once', { timeout: 180_000 }, async () => {
  const dataDir = tmpDir();
  const first = await runCli(['--port', '0', '--data-dir', dataDir, '--functions', MANIFEST, '--quiet']);
  const port = first.srv.origin.split(':')[1];
  const users = ids('kf', 8);
  const admin1 = client('v11', first.srv, 'kill-admin');
  for (const u of users) await admin1.objects.setUUIDMetadata({ uuid: u, data: { name: u } });
  const { conns, seen } = await connectAll(first.srv.origin, users);
  // The runtime dies while the commands are in flight and comes back on the same port and data.
  let second;
  const killed = (async () => {
    await new Promise((r) => setTimeout(r, 400));
    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await exited;
    second = await runCli(['--port', port, '--data-dir', dataDir, '--functions', MANIFEST, '--quiet']);
  })();
  try {
    const { pairs, friends } = await traffic(conns, users, 5);
    await killed;
    for (const [a, b] of pairs) assert.ok(seen.get(b).includes('friend.request.received'), `${b} was told of ${a}'s request`);
    await assertExact(client('v11', second.srv, 'kill-admin-2'), users, friends);
  } finally {
    for (const c of conns.values()) c.close();
    destroyAll();
    await killed.catch(() => {});
    if (second) {
      const exited = new Promise((r) => second.child.once('exit', r));
      second.child.kill('SIGTERM');
      await exited;
    }
  }
});

