// Ids an app already has — a trailing -N, non-ASCII — befriend and see each other through the
// built Functions on the local runtime, with Access Manager on and the real SDK; `bob`, whose
// name `bob-1` once shadowed, hears nothing of `bob-1`'s friends; an id that would name another
// user's presence stream cannot sign in.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, client, connected, events, destroyAll, ROOT } from './local-pubnub/helpers.mjs';
import { command } from './commands.mjs';
import { AuthService } from '../../js-shim/dev/auth/service.mjs';

const SECRET = 'sec-c-app-ids';
let srv;
before(async () => {
  srv = await startServer({ functions: join(ROOT, 'pkg/functions/manifest.json'), functionIntervalMs: 500, secretKey: SECRET, publishKey: 'pub-c-test' });
});
after(async () => {
  destroyAll();
  await srv?.close();
});

test('bob-1 and Zoë-7 befriend and see each other online; bob hears nothing of it', { timeout: 60000 }, async () => {
  const admin = client('v11', srv, 'admin', { secretKey: SECRET });
  const auth = new AuthService({ pubnub: admin });
  const [BOB, BOB1, ZOE] = ['bob', 'bob-1', 'Zoë-7'];
  for (const [id, name] of [[BOB, 'Bob'], [BOB1, 'Bob One'], [ZOE, 'Zoë']]) await admin.objects.setUUIDMetadata({ uuid: id, data: { name } });
  const session = {};
  const user = {};
  for (const id of [BOB, BOB1, ZOE]) {
    session[id] = await auth.login(id);
    user[id] = client('v11', srv, id);
    user[id].setToken(session[id].token);
  }
  // No group of bob-1's plan is one of bob's.
  assert.ok(!session[BOB1].plan.groups.some((g) => session[BOB].plan.groups.includes(g)), JSON.stringify(session[BOB1].plan.groups));

  // Each subscribes to the whole plan (inbox, the count, every friends group), not yet to the shard.
  const seen = {};
  for (const id of [BOB, BOB1, ZOE]) {
    const p = session[id].plan;
    seen[id] = events(user[id]);
    user[id].subscribe({ channels: p.channels.filter((c) => c !== p.presenceChannel), channelGroups: p.groups });
  }
  await Promise.all(Object.values(seen).map(connected));

  await user[BOB1].publish({ channel: `friend-requests.${BOB1}`, message: command('friend.request', BOB1, ZOE, 'ids-req').message });
  await seen[ZOE].next('message', (m) => m.message?.type === 'friend.request.received' && m.message.payload.userId === BOB1, 5000);
  await user[ZOE].publish({ channel: `friend-requests.${ZOE}`, message: command('friend.request.accepted', BOB1, ZOE, 'ids-acc').message });
  const added = await seen[BOB1].next('message', (m) => m.message?.type === 'friend.added', 5000);
  assert.equal(added.message.payload.userId, ZOE);

  // Zoë-7 comes online on its shard: bob-1 sees it through its own group; bob sees nothing.
  user[ZOE].subscribe({ channels: [session[ZOE].plan.presenceChannel] });
  const online = await seen[BOB1].next('message', (m) => m.message?.type === 'friend.online' && m.message.payload.userId === ZOE, 5000);
  assert.equal(online.channel, `status.${ZOE}`);
  assert.equal(online.subscription, `cg-friends-${BOB1}`);
  assert.equal(online.message.payload.name, 'Zoë');
  // And the other way: bob-1 online reaches Zoë-7.
  user[BOB1].subscribe({ channels: [session[BOB1].plan.presenceChannel] });
  await seen[ZOE].next('message', (m) => m.message?.type === 'friend.online' && m.message.payload.userId === BOB1, 5000);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(seen[BOB].seen.message.filter((m) => m.channel.startsWith('status.') && m.channel !== 'status.global'), [], 'bob hears nothing of bob-1\'s friends');
});

test('an id that names another user\'s presence stream cannot sign in; the reason speaks of the id', async () => {
  const admin = client('v11', srv, 'admin2', { secretKey: SECRET });
  const auth = new AuthService({ pubnub: admin });
  for (const [id, reason] of [['user-0040-pnpres', /^user id ends in -pnpres/], ['alice.smith', /^user id contains one of \./], ['global', /^user id global is reserved/]]) {
    await assert.rejects(auth.login(id), (e) => reason.test(e.message) && !/cg-friends|\{id\}/.test(e.message), id);
  }
});
