// The order of docs/design.md §4 through the built bundles (pkg/functions) on the in-memory
// host, received by the web package's view (pkg/web) in every arrival order: the issue's
// visible→leave case and the load→cancel / load→decline cases.
// Run: FP_OPS_ATTRIBUTION=module node --experimental-vm-modules --no-warnings --test tests/node/order.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { trigger } from '../../js-shim/dev/memory-host/load-function.mjs';
import { initSync, FriendsView } from '../../pkg/web/index.js';
import { ROOT, T0, bundleLoader, memoryWorld } from './helpers.mjs';

initSync({ module: readFileSync(join(ROOT, 'pkg/web/friends_presence_bg.wasm')) });

let now = T0;
const fn = bundleLoader(() => now);

/** The in-memory host with `users`, on the test's clock (`now`, back at T0). */
function world(users) {
  now = T0;
  const { pn } = memoryWorld(users);
  pn.now = () => now;
  return pn;
}

/** Every order of `list`. */
function permutations(list) {
  if (list.length <= 1) return [list];
  return list.flatMap((x, i) => permutations([...list.slice(0, i), ...list.slice(i + 1)]).map((rest) => [x, ...rest]));
}

async function run(pn, name, fields) {
  await (await fn(name)).run(trigger(fields), pn.execution());
}

const envelope = (type, payload, eventId) => ({ type, schemaVersion: '1.0.0', eventId, ts: new Date(now).toISOString(), payload });
const requests = (pn, publisher, type, userA, userB, id) =>
  run(pn, 'friend-acceptance', { channels: [`friend-requests.${publisher}`], params: { uuid: publisher }, message: envelope(type, { userA, userB }, id) });
const manage = (pn, name, publisher, type, payload, id) =>
  run(pn, name, { channels: [`friend-management.${publisher}`], params: { uuid: publisher }, message: envelope(type, payload, id) });

// Shard of a user id: the seed's hashCode, as the Functions and clients compute it.
function shardOf(id, shards = 100) {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = ((h << 5) - h + id.charCodeAt(i)) | 0;
  return Math.abs(h) % shards;
}

async function presence(pn, user, action) {
  const channel = `presence.shard-${shardOf(user)}`;
  if (!pn.occupants.has(channel)) pn.occupants.set(channel, new Set());
  if (action === 'join') pn.occupants.get(channel).add(user);
  else pn.occupants.get(channel).delete(user);
  await run(pn, 'after-presence', { channels: [channel], message: { action, uuid: user, occupancy: pn.occupants.get(channel).size, timestamp: Math.floor(now / 1000) } });
}

/** One settler run, then the work it fired, delivered to the presence worker (and on). */
async function settle(pn) {
  await run(pn, 'presence-settler', {});
  while (pn.fired.length) {
    const { channel, message } = pn.fired.shift();
    const name = channel.startsWith('presence-work.') ? 'presence-worker' : channel.startsWith('recount-work.') ? 'recount-worker' : channel.startsWith('reconcile-work.') ? 'reconcile-worker' : null;
    if (name) await run(pn, name, { channels: [channel], message });
  }
}

function viewOf(me, before, msgs, order, track = []) {
  const created = FriendsView.create(me);
  assert.ok(created.view, JSON.stringify(created));
  const { view } = created;
  for (const t of track) view.track(t);
  for (const { channel, message } of [...before, ...order.map((i) => msgs[i])]) view.apply(message, channel);
  return view;
}

test('visible then leave inside one second: the offline (whole-second time, held, settled) wins in every arrival order', async () => {
  const pn = world([['amy', 'Amy'], ['dee', 'Dee']]);
  await requests(pn, 'amy', 'friend.request', 'amy', 'dee', 'r1');
  await requests(pn, 'dee', 'friend.request.accepted', 'amy', 'dee', 'a1');
  pn.fired.length = 0; // recounts: not what this test is about
  await presence(pn, 'dee', 'join');
  now = T0 + 10_000;
  await manage(pn, 'user-settings', 'dee', 'user.settings', { userA: 'dee', invisible: true }, 's1');
  now = T0 + 29_606;
  await manage(pn, 'user-settings', 'dee', 'user.settings', { userA: 'dee', invisible: false }, 's2');
  now = T0 + 29_800;
  await presence(pn, 'dee', 'leave');
  for (let i = 0; i < 20; i++) {
    now += 1000;
    await settle(pn);
  }
  const forAmy = pn.published.filter((p) => p.channel === 'status.dee' || (p.channel === 'inbox.amy' && p.message.type === 'friend.added'));
  const before = forAmy.filter((p) => p.message.type === 'friend.added' || p.message.ts < new Date(T0 + 29_000).toISOString());
  const msgs = forAmy.filter((p) => !before.includes(p));
  assert.deepEqual(msgs.map((p) => p.message.type), ['friend.online', 'friend.offline']);
  assert.ok(msgs[1].message.ts < msgs[0].message.ts, 'the offline carries the earlier time');
  assert.ok(msgs[1].message.payload.version > msgs[0].message.payload.version, 'and the higher version');
  assert.equal(pn.users.get('dee').custom.online, false);
  for (const order of permutations([0, 1])) {
    const view = viewOf('amy', before, msgs, order);
    assert.equal(view.friend('dee').online, false, `arrival order ${order}`);
  }
});

test('load then cancel: the request is off bob\'s list in every arrival order; a new request is listed', async () => {
  const pn = world([['alice', 'Alice'], ['bob', 'Bob']]);
  await requests(pn, 'alice', 'friend.request', 'alice', 'bob', 'r1');
  now += 2000;
  await manage(pn, 'user-settings', 'bob', 'friends.sync.request', { userA: 'bob', page: null }, 'sync-b');
  now += 500;
  await requests(pn, 'alice', 'friend.request.cancel', 'alice', 'bob', 'c1');
  const msgs = pn.published.filter((p) => p.channel === 'inbox.bob' && p.message.type !== 'friend.command.result');
  assert.deepEqual(msgs.map((p) => p.message.type), ['friend.request.received', 'friends.sync', 'friend.request.cancelled']);
  for (const order of permutations([0, 1, 2])) {
    assert.deepEqual(viewOf('bob', [], msgs, order).incoming(), [], `arrival order ${order}`);
  }
  now += 1000;
  await requests(pn, 'alice', 'friend.request', 'alice', 'bob', 'r2');
  const again = pn.published.filter((p) => p.channel === 'inbox.bob' && p.message.type !== 'friend.command.result');
  for (const order of permutations([0, 1, 2]).map((o) => [...o, 3])) {
    assert.deepEqual(viewOf('bob', [], again, order).incoming().map((r) => r.requestId), ['r2'], `arrival order ${order}`);
  }
});

test('load then decline: alice\'s outgoing request is off her list in every arrival order', async () => {
  const pn = world([['alice', 'Alice'], ['bob', 'Bob']]);
  const request = envelope('friend.request', { userA: 'alice', userB: 'bob' }, 'r1');
  await requests(pn, 'alice', 'friend.request', 'alice', 'bob', 'r1');
  now += 2000;
  await manage(pn, 'user-settings', 'alice', 'friends.sync.request', { userA: 'alice', page: null }, 'sync-a');
  now += 500;
  await requests(pn, 'bob', 'friend.request.declined', 'alice', 'bob', 'd1');
  const msgs = pn.published.filter((p) => p.channel === 'inbox.alice');
  assert.deepEqual(msgs.map((p) => p.message.type), ['friend.command.result', 'friends.sync', 'friend.request.declined']);
  for (const order of permutations([0, 1, 2])) {
    assert.deepEqual(viewOf('alice', [], msgs, order, [request]).outgoing(), [], `arrival order ${order}`);
  }
});
