// Exactly one friend.command.result for every friend command, whatever its shape, through the
// built bundles (issue 18 part 8, issue 20 parts 6 and 7): no eventId, a ts that is no ISO 8601
// time, an extra field nested 63 levels (past what the bundle's JSON reader takes as values),
// and an eventId reused by another command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { command } from './commands.mjs';
import { T0, answersTo as answers, bundleLoader, memoryWorld, publishAs } from './helpers.mjs';

const load = bundleLoader();
const world = () => memoryWorld([['alice', 'Alice'], ['bob', 'Bob']]).pn;
const on = (fn, pn, prefix, publisher, message) => publishAs(fn, pn, `${prefix}.${publisher}`, publisher, message);
const nested = (levels) => { let v = []; for (let i = 1; i < levels; i++) v = [v]; return v; };

test('a command nested 63 levels deep is answered invalid; 62 levels is answered ok', async () => {
  const acceptance = await load('friend-acceptance');
  for (const [levels, ok] of [[63, false], [200, false], [62, true]]) {
    const pn = world();
    const { message } = command('friend.request', 'alice', 'bob', `n${levels}`, T0);
    message.payload.extra = nested(levels);
    assert.deepEqual(await on(acceptance, pn, 'friend-requests', 'alice', message), { ok: true });
    const got = answers(pn, 'alice');
    assert.equal(got.length, 1, `${levels} levels: exactly one answer`);
    assert.equal(got[0].payload.eventId, message.eventId);
    assert.equal(got[0].payload.command, 'friend.request');
    assert.equal(got[0].payload.ok, ok, `${levels} levels`);
    if (!ok) assert.equal(got[0].payload.reason, 'invalid');
  }
});

test('a command without an eventId, or with a ts that is no ISO 8601 time, gets one answer: invalid', async () => {
  const acceptance = await load('friend-acceptance');
  const removal = await load('friend-removal');
  const settings = await load('user-settings');
  const pn = world();
  const { message: noId } = command('friend.request', 'alice', 'bob', 'x', T0);
  delete noId.eventId;
  await on(acceptance, pn, 'friend-requests', 'alice', noId);
  const { message: yesterday } = command('friend.request', 'alice', 'bob', 'y1', T0);
  const y1 = yesterday.eventId;
  yesterday.ts = 'yesterday';
  await on(acceptance, pn, 'friend-requests', 'alice', yesterday);
  const { message: removeNoId } = command('friend.remove', 'alice', 'bob', 'x', T0);
  delete removeNoId.eventId;
  // Both Functions bound to friend-management.* see it; only friend-removal answers.
  await on(removal, pn, 'friend-management', 'alice', removeNoId);
  await on(settings, pn, 'friend-management', 'alice', removeNoId);
  const got = answers(pn, 'alice').map((m) => [m.payload.eventId, m.payload.command, m.payload.ok, m.payload.reason]);
  assert.deepEqual(got, [[null, 'friend.request', false, 'invalid'], [y1, 'friend.request', false, 'invalid'], [null, 'friend.remove', false, 'invalid']]);
  assert.equal(pn.kv.has('friend-request:alice:bob'), false, 'nothing was requested');
});

test('an eventId reused by a removal after an acceptance is refused, names the removal, and removes nothing', async () => {
  const acceptance = await load('friend-acceptance');
  const removal = await load('friend-removal');
  const pn = world();
  await on(acceptance, pn, 'friend-requests', 'alice', command('friend.request', 'alice', 'bob', 'r1', T0).message);
  const accept = command('friend.request.accepted', 'alice', 'bob', 'E', T0).message;
  await on(acceptance, pn, 'friend-requests', 'bob', accept);
  const remove = command('friend.remove', 'bob', 'alice', 'E', T0).message;
  remove.eventId = accept.eventId;
  await on(removal, pn, 'friend-management', 'bob', remove);
  const got = answers(pn, 'bob').filter((m) => m.payload.eventId === accept.eventId);
  assert.deepEqual(got.map((m) => [m.payload.command, m.payload.ok, m.payload.reason]), [
    ['friend.request.accepted', true, undefined],
    ['friend.remove', false, 'invalid'],
  ]);
  assert.notEqual(got[0].eventId, got[1].eventId, 'the refusal is a message of its own');
  assert.ok(pn.members.get('friends.alice')?.has('bob') && pn.members.get('friends.bob')?.has('alice'), 'the friendship stays');
});
