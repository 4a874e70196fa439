// The friend features through the built bundles (pkg/functions) on the in-memory host: pending
// requests listed on load and cancelled, blocks, invisibility, status messages, compact groups.
// Commands are written here as the contract says (docs/design.md §3), independently of the web
// package's builders (tests/client.rs checks those against the Functions). Run: node --experimental-vm-modules --test tests/node/roster.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trigger } from '../../js-shim/dev/memory-host/load-function.mjs';
import { T0, bundleLoader, memoryWorld } from './helpers.mjs';

const DAY = 24 * 3600 * 1000;

let now = T0;
const fn = bundleLoader(() => now);

/** The in-memory host with `users`, on the test's clock (`now`, back at T0). */
function world(users) {
  now = T0;
  const { pn } = memoryWorld(users);
  pn.now = () => now;
  return pn;
}

// The Functions bound to each channel (friend-management.*: friend-removal, and user-settings,
// which answers user.settings and friends.sync.request).
const CHANNEL = { 'friend-requests': ['friend-acceptance'], 'friend-management': ['friend-removal', 'user-settings'] };

/** Publishes `type` with `payload` as `publisher` on its own `{prefix}.{publisher}`, as a client would. */
async function send(pn, prefix, publisher, type, payload, eventId) {
  const message = { type, schemaVersion: '1.0.0', eventId, ts: new Date(now).toISOString(), payload };
  for (const name of CHANNEL[prefix]) {
    const f = await fn(name);
    await f.run(trigger({ channels: [`${prefix}.${publisher}`], params: { uuid: publisher }, message }), pn.execution());
  }
}
const requests = (pn, publisher, type, userA, userB, id) => send(pn, 'friend-requests', publisher, type, { userA, userB }, id);
const manage = (pn, publisher, type, payload, id) => send(pn, 'friend-management', publisher, type, payload, id);

/** The one `friend.command.result` answering `eventId` on `sender`'s inbox: true or the reason. */
function answer(pn, sender, eventId) {
  const got = pn.published.filter((p) => p.channel === `inbox.${sender}` && p.message.type === 'friend.command.result' && p.message.payload.eventId === eventId);
  assert.ok(got.length >= 1, `${eventId} answered`);
  return got[0].message.payload.ok ? true : got[0].message.payload.reason;
}

async function firstPage(pn, me, id) {
  await manage(pn, me, 'friends.sync.request', { userA: me, page: null }, id);
  // The head of the load carries the lists.
  const page = pn.published.findLast((p) => p.channel === `inbox.${me}` && p.message.type === 'friends.sync' && p.message.payload.requestId === id && p.message.payload.chains);
  assert.ok(page, `a friends.sync head for ${id}`);
  return page.message.payload;
}
const ids = (list) => list.map((e) => e.userId);

async function recount(pn) {
  const worker = await fn('recount-worker');
  while (pn.fired.length) {
    const { channel, message } = pn.fired.shift();
    await worker.run(trigger({ channels: [channel], message }), pn.execution());
  }
}

test('pending requests: listed both ways on the first sync page, cancelled, expired after 30 days', async () => {
  const pn = world([['alice', 'Alice'], ['bob', 'Bob'], ['carol', 'Carol']]);
  await requests(pn, 'alice', 'friend.request', 'alice', 'bob', 'r1');
  await requests(pn, 'carol', 'friend.request', 'carol', 'alice', 'r2');
  let page = await firstPage(pn, 'alice', 's1');
  assert.deepEqual(page.incoming, [{ userId: 'carol', name: 'Carol', requestedAt: new Date(T0).toISOString(), requestId: 'r2' }]);
  assert.deepEqual(page.outgoing, [{ userId: 'bob', requestedAt: new Date(T0).toISOString(), requestId: 'r1' }]);

  await requests(pn, 'alice', 'friend.request.cancel', 'alice', 'bob', 'c1');
  assert.equal(answer(pn, 'alice', 'c1'), true);
  await requests(pn, 'bob', 'friend.request.accepted', 'alice', 'bob', 'a1');
  assert.equal(answer(pn, 'bob', 'a1'), 'not_pending', 'a cancelled request cannot be accepted');
  assert.deepEqual(ids((await firstPage(pn, 'bob', 's2')).incoming), []);

  await requests(pn, 'alice', 'friend.request.accepted', 'carol', 'alice', 'a2');
  assert.equal(answer(pn, 'alice', 'a2'), true);
  page = await firstPage(pn, 'alice', 's3');
  assert.deepEqual([ids(page.incoming), ids(page.outgoing)], [[], []], 'accepted: off both lists');

  await requests(pn, 'bob', 'friend.request', 'bob', 'alice', 'r3');
  now += 30 * DAY;
  assert.deepEqual(ids((await firstPage(pn, 'alice', 's4')).incoming), [], 'expired after 30 days');
  assert.deepEqual(ids((await firstPage(pn, 'bob', 's5')).outgoing), []);
});

test('block: the blocked sender is answered as if sent and never reaches the blocker; a friendship ends both ways; the list is private', async () => {
  const pn = world([['alice', 'Alice'], ['bob', 'Bob'], ['carol', 'Carol']]);
  await requests(pn, 'alice', 'friend.request', 'alice', 'bob', 'r1');
  await requests(pn, 'bob', 'friend.request.accepted', 'alice', 'bob', 'a1');
  await recount(pn);
  await manage(pn, 'alice', 'friend.block', { userA: 'alice', userB: 'bob' }, 'b1');
  assert.equal(answer(pn, 'alice', 'b1'), true);
  await recount(pn);
  assert.equal(pn.members.get('friends.alice').size + pn.members.get('friends.bob').size, 0);
  assert.equal(pn.groups.get('cg-friends-alice').size + pn.groups.get('cg-friends-bob').size, 0);
  assert.equal(pn.users.get('bob').custom.friendCount, 0);
  assert.deepEqual(pn.published.filter((p) => p.message.type === 'friend.removed').map((p) => p.channel), ['inbox.alice', 'inbox.bob']);

  const noticesBefore = pn.published.filter((p) => p.channel === 'inbox.alice').length;
  await requests(pn, 'bob', 'friend.request', 'bob', 'alice', 'r2');
  assert.equal(answer(pn, 'bob', 'r2'), true, 'answered as if sent');
  assert.equal(pn.published.filter((p) => p.channel === 'inbox.alice').length, noticesBefore, 'nothing reaches alice');
  const alice = await firstPage(pn, 'alice', 's1');
  assert.deepEqual([ids(alice.incoming), alice.blocked], [[], ['bob']]);
  const bob = await firstPage(pn, 'bob', 's2');
  assert.deepEqual([ids(bob.outgoing), bob.blocked], [['alice'], []]);
  await requests(pn, 'alice', 'friend.request.accepted', 'bob', 'alice', 'a2');
  assert.equal(answer(pn, 'alice', 'a2'), 'not_pending');

  await manage(pn, 'alice', 'friend.unblock', { userA: 'alice', userB: 'bob' }, 'u1');
  assert.equal(answer(pn, 'alice', 'u1'), true);
  assert.deepEqual((await firstPage(pn, 'alice', 's3')).blocked, []);
});

test('user.settings through user-settings: invisible friends see offline while connected, status messages live and on load; friend-removal leaves it alone', async () => {
  const pn = world([['alice', 'Alice'], ['bob', 'Bob']]);
  pn.members.set('friends.bob', new Map([['alice', { status: 'accepted', group: 0 }]]));
  const presence = await fn('after-presence');
  const settings = async (payload, id) => {
    const message = { type: 'user.settings', schemaVersion: '1.0.0', eventId: id, ts: new Date(now).toISOString(), payload: { userA: 'alice', ...payload } };
    const t = trigger({ channels: ['friend-management.alice'], params: { uuid: 'alice' }, message });
    // Both Functions bound to friend-management.* run; exactly one answers.
    await (await fn('user-settings')).run(t, pn.execution());
    await (await fn('friend-removal')).run(t, pn.execution());
  };
  const onStatus = () => pn.published.filter((p) => p.channel === 'status.alice').map((p) => [p.message.type, p.message.payload.statusMessage]);
  const event = (action) => trigger({ channels: ['presence.shard-7'], message: { action, uuid: 'alice', occupancy: 1, timestamp: Math.floor(now / 1000) } });
  await presence.run(event('join'), pn.execution());
  assert.deepEqual(onStatus(), [['friend.online', undefined]]);

  now += 10_000;
  await settings({ statusMessage: 'lunch' }, 'm1');
  assert.equal(answer(pn, 'alice', 'm1'), true);
  assert.equal(pn.published.filter((p) => p.message.payload?.eventId === 'm1').length, 1, 'one answer');
  assert.deepEqual(onStatus().at(-1), ['friend.online', 'lunch']);

  now += 10_000;
  await settings({ invisible: true }, 'v1');
  assert.deepEqual(onStatus().at(-1), ['friend.offline', undefined]);
  assert.equal(pn.users.get('alice').custom.online, false);
  now += 10_000;
  await presence.run(event('join'), pn.execution());
  assert.equal(onStatus().length, 3, 'reconnecting does not reveal her');

  await manage(pn, 'bob', 'friends.sync.request', { userA: 'bob', page: null, pages: 2 }, 's1');
  const friends = pn.published.filter((p) => p.channel === 'inbox.bob' && p.message.type === 'friends.sync').flatMap((p) => p.message.payload.friends);
  assert.deepEqual(friends.map((f) => [f.userId, f.online, f.statusMessage]), [['alice', false, 'lunch']], 'offline to friends, with her message');

  pn.occupants.set('presence.shard-7', new Set(['alice']));
  now += 10_000;
  await settings({ invisible: false }, 'v2');
  assert.deepEqual(onStatus().at(-1), ['friend.online', 'lunch'], 'visible again while connected');

  await settings({ statusMessage: 'x'.repeat(101) }, 'm2');
  assert.equal(answer(pn, 'alice', 'm2'), 'invalid');
  assert.equal(pn.users.get('alice').custom.statusMessage, 'lunch');
});

test('compact groups: a removal refills its hole from the last group through the recount worker', async () => {
  const pn = world([['star', 'Star']]);
  const placed = new Map(Array.from({ length: 1999 }, (_, i) => [`p${i}`, { status: 'accepted', group: 0, requestId: 'seed' }]));
  pn.members.set('friends.star', placed);
  pn.groups.set('cg-friends-star', new Set([...placed.keys()].map((id) => `status.${id}`)));
  pn.users.get('star').custom.friendCount = 1999;
  for (const f of ['n2000', 'n2001']) {
    pn.addUser(f, f);
    await requests(pn, f, 'friend.request', f, 'star', `r-${f}`);
    await requests(pn, 'star', 'friend.request.accepted', f, 'star', `a-${f}`);
    await recount(pn);
  }
  assert.ok(pn.groups.get('cg-friends1-star').has('status.n2001'));
  await manage(pn, 'star', 'friend.remove', { userA: 'star', userB: 'n2000' }, 'x1');
  assert.equal(answer(pn, 'star', 'x1'), true);
  await recount(pn);
  assert.equal(pn.groups.get('cg-friends1-star').size, 0, '2,000 friends: one group');
  assert.equal(pn.groups.get('cg-friends-star').size, 2000);
  assert.ok(pn.groups.get('cg-friends-star').has('status.n2001'));
  assert.equal(pn.members.get('friends.star').get('n2001').group, 0);
  assert.equal(pn.members.get('friends.n2001').get('star').peerGroup, 0);
});
