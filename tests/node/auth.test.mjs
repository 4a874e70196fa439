// The auth service (js-shim/auth) against the local runtime with Access Manager on: login gives
// the user's plan and a token; the token does exactly what the plan needs (subscribe to the plan's
// channels and groups, stay present on the shard, publish on the user's own command channels)
// and is refused (403) everything else the design forbids; refresh works, and bad input or a
// bad refresh token is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, client, connected, destroyAll, events, http } from './local-pubnub/helpers.mjs';
import { startAuthServer } from '../../js-shim/auth/service.mjs';
import { userGrant } from '../../js-shim/auth/grants.mjs';
import { loadPlanner } from '../../js-shim/auth/plan.mjs';
import { shardOf } from '../../js-shim/demo/seed.mjs';
import { command } from './commands.mjs';

const SECRET = 'sec-c-auth-test';
const KEYS = { publishKey: 'pub-c-test', subscribeKey: 'sub-c-test' };
let srv, auth;
before(async () => {
  srv = await startServer({ secretKey: SECRET, publishKey: KEYS.publishKey });
  auth = await startAuthServer({ ...KEYS, secretKey: SECRET, origin: srv.origin });
});
after(async () => {
  destroyAll();
  await auth?.close();
  await srv?.close();
});

const post = async (path, body) => {
  const res = await fetch(auth.url + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
};
const login = async (userId) => {
  const r = await post('/auth/login', { userId });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
};
async function denied(promise) {
  const e = await promise.then(() => assert.fail('expected a 403'), (err) => err);
  assert.equal(e.status?.statusCode, 403, `expected 403, got ${JSON.stringify(e.status ?? e.message)}`);
  return e;
}
/** A raw subscribe handshake with the token (tt=0): 200 if allowed, 403 if not. */
const subscribeStatus = (session, channels, groups = []) =>
  http(srv, `/v2/subscribe/${KEYS.subscribeKey}/${channels.length ? channels.map(encodeURIComponent).join(',') : ','}/0?uuid=${encodeURIComponent(session.userId)}&auth=${session.token}&tt=0${groups.length ? '&channel-group=' + groups.join(',') : ''}`).then((r) => r.status);

test('login: the plan (same shard as the clients\' hash) and a token granting exactly it, for an hour', async () => {
  const s = await login('auth-alice');
  const plan = (await loadPlanner())('auth-alice');
  assert.deepEqual(s.plan, plan);
  assert.equal(s.shard, shardOf('auth-alice'));
  assert.equal(s.ttl, 60);
  const t = client('v11', srv, 'x').parseToken(s.token);
  assert.equal(t.authorized_uuid, 'auth-alice');
  assert.equal(t.ttl, 60);
  assert.deepEqual(t.patterns ?? {}, Object.fromEntries(Object.entries(t.patterns ?? {}).filter(([, v]) => Object.keys(v).length)), 'no pattern grants');
  const bits = (p) => Object.entries(p).filter(([, on]) => on).map(([k]) => k).join('+');
  const granted = Object.fromEntries(Object.entries(t.resources.channels).map(([c, p]) => [c, bits(p)]));
  assert.deepEqual(granted, {
    [`presence.shard-${s.shard}`]: 'read',
    'status.global': 'read',
    'inbox.auth-alice': 'read',
    'friend-requests.auth-alice': 'write',
    'friend-management.auth-alice': 'write',
  });
  const groups = Object.fromEntries(Object.entries(t.resources.groups).map(([g, p]) => [g, bits(p)]));
  assert.deepEqual(groups, Object.fromEntries(['cg-friends-auth-alice', ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `cg-friends${i}-auth-alice`)].map((g) => [g, 'read'])));
  assert.deepEqual(Object.keys(t.resources.uuids ?? {}), []);
  assert.ok(!Object.keys(t.resources.channels).some((c) => c.endsWith('-pnpres')), 'no presence-event channel');
  assert.deepEqual(userGrant(plan).resources, { channels: Object.fromEntries(Object.keys(granted).map((c) => [c, granted[c] === 'read' ? { read: true } : { write: true }])), groups: Object.fromEntries(Object.keys(groups).map((g) => [g, { read: true }])) });
});

test('the token does what the plan needs: subscribe to its channels and groups, be online, publish own commands', async () => {
  const s = await login('auth-bob');
  const server = client('v11', srv, 'server', { secretKey: SECRET });
  await server.channelGroups.addChannels({ channelGroup: 'cg-friends3-auth-bob', channels: ['status.auth-friend'] });
  const bob = client('v11', srv, 'auth-bob');
  bob.setToken(s.token);
  const ev = events(bob);
  bob.subscribe({ channels: s.plan.channels, channelGroups: s.plan.groups });
  await connected(ev);
  assert.deepEqual((await server.hereNow({ channels: [s.plan.presenceChannel] })).channels[s.plan.presenceChannel].occupants.map((o) => o.uuid), ['auth-bob']);
  await server.publish({ channel: 'status.auth-friend', message: { type: 'friend.online' } });
  await server.publish({ channel: 'inbox.auth-bob', message: { type: 'friend.added' } });
  await server.publish({ channel: 'status.global', message: { type: 'status.count' } });
  for (const ch of ['status.auth-friend', 'inbox.auth-bob', 'status.global']) await ev.next('message', (m) => m.channel === ch);
  await bob.publish({ channel: 'friend-requests.auth-bob', message: command('friend.request', 'auth-bob', 'auth-carol', 'q1').message });
  await bob.publish({ channel: 'friend-management.auth-bob', message: command('friend.remove', 'auth-bob', 'auth-carol', 'q2').message });
  bob.unsubscribe({ channels: [s.plan.presenceChannel] }); // going offline is a leave: allowed
  for (let i = 0; i < 100 && (await server.hereNow({ channels: [s.plan.presenceChannel] })).totalOccupancy; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal((await server.hereNow({ channels: [s.plan.presenceChannel] })).totalOccupancy, 0);
});

test('the token is refused (403) everything else: status, work channels, others\' channels and groups, manage, App Context, another uuid', async () => {
  const s = await login('auth-carol');
  const other = await login('auth-dave');
  const otherShard = [...Array(100).keys()].find((n) => n !== s.shard);
  const carol = client('v10', srv, 'auth-carol');
  carol.setToken(s.token);
  const pub = (channel) => carol.publish({ channel, message: { type: 'x' } });
  for (const ch of ['status.auth-carol', 'status.global', 'status.auth-dave', 'inbox.auth-carol', 'inbox.auth-dave', `presence-work.${s.shard}`,
    `reconcile-work.${s.shard}`, 'recount-work.jobs', 'friend-requests.auth-dave', 'friend-management.auth-dave', `presence.shard-${s.shard}`])
    await denied(pub(ch));
  for (const g of ['cg-friends-auth-carol', 'cg-friends9-auth-carol']) {
    await denied(carol.channelGroups.addChannels({ channelGroup: g, channels: ['status.mallory'] }));
    await denied(carol.channelGroups.listChannels({ channelGroup: g }));
    await denied(carol.channelGroups.removeChannels({ channelGroup: g, channels: ['status.x'] }));
  }
  await denied(carol.objects.setUUIDMetadata({ uuid: 'auth-carol', data: { name: 'me' } }));
  await denied(carol.objects.getAllUUIDMetadata({}));
  await denied(carol.hereNow({ channels: [`presence.shard-${otherShard}`] }));
  // Subscribing: the plan's channels are allowed, anything of someone else is not.
  assert.equal(await subscribeStatus(s, s.plan.channels, s.plan.groups), 200);
  for (const [chs, groups] of [[['inbox.auth-dave'], []], [[`presence.shard-${otherShard}`], []], [['status.auth-dave'], []], [['friend-requests.auth-carol'], []],
    [[], ['cg-friends-auth-dave']], [[], ['cg-friends1-auth-dave']], [['presence-work.0'], []]])
    assert.equal(await subscribeStatus(s, chs, groups), 403, `${chs}${groups}`);
  // Bound to its uuid: Dave's token is no good to Carol.
  assert.equal(await subscribeStatus({ ...other, userId: 'auth-carol' }, other.plan.channels), 403);
  const thief = client('v11', srv, 'auth-carol');
  thief.setToken(other.token);
  await denied(thief.publish({ channel: 'friend-requests.auth-dave', message: { type: 'x' } }));
});

test('refresh gives a new working token; bad ids, bodies and refresh tokens are refused', async () => {
  const s = await login('auth-erin');
  const r = await post('/auth/refresh', { refreshToken: s.refreshToken });
  assert.equal(r.status, 200);
  assert.equal(r.json.userId, 'auth-erin');
  assert.equal(client('v11', srv, 'x').parseToken(r.json.token).authorized_uuid, 'auth-erin'); // re-granted (the same bytes within one second)
  assert.ok(r.json.expiresAt >= s.expiresAt);
  const erin = client('v11', srv, 'auth-erin');
  erin.setToken(r.json.token);
  await erin.publish({ channel: 'friend-management.auth-erin', message: command('friend.remove', 'auth-erin', 'auth-x', 'r1').message });

  const [body, sig] = s.refreshToken.split('.');
  const forged = Buffer.from(JSON.stringify({ u: 'auth-admin', exp: Date.now() + 1e9 })).toString('base64url');
  for (const bad of [`${forged}.${sig}`, `${body}.${sig}x`, 'nonsense', '', 42]) {
    const out = await post('/auth/refresh', { refreshToken: bad });
    assert.equal(out.status, 401, String(bad));
  }
  // An id that would name another user's presence stream (`inbox.auth-bob-pnpres` is the
  // presence of `inbox.auth-bob`) is refused, in the id's own terms.
  const pnpres = await post('/auth/login', { userId: 'auth-bob-pnpres' });
  assert.equal(pnpres.status, 400);
  assert.match(pnpres.json.error, /^user id ends in -pnpres/);
  // Ids an app already has sign in: trailing -N, non-ASCII, UUIDs.
  const bob = await post('/auth/login', { userId: 'bob' });
  for (const userId of ['bob-1', 'player-3', 'Zoë-7', '3f2504e0-4f89-11d3-9a0c-0305e82c3301']) {
    const out = await post('/auth/login', { userId });
    assert.equal(out.status, 200, userId);
    // bob-1's groups are not bob's overflow groups, nor the other way round.
    assert.ok(!out.json.plan.groups.some((g) => bob.json.plan.groups.includes(g)), userId);
  }
  for (const userId of ['global', '', 'a,b', 'x'.repeat(75), undefined]) assert.equal((await post('/auth/login', { userId })).status, 400, String(userId));
  assert.equal((await fetch(`${auth.url}/auth/login`)).status, 405);
  assert.equal((await fetch(`${auth.url}/auth/login`, { method: 'POST', body: '{' })).status, 400);
  assert.equal((await post('/auth/other', {})).status, 404);
});

test('refresh tokens expire; a sign-in check can refuse', async () => {
  const { AuthService } = await import('../../js-shim/auth/service.mjs');
  let now = Date.now();
  const pubnub = client('v11', srv, 'auth-service', { secretKey: SECRET });
  const svc = new AuthService({ pubnub, now: () => now, refreshTtlS: 60, authenticate: (id) => id !== 'auth-blocked' });
  const s = await svc.login('auth-frank');
  now += 61e3;
  assert.equal((await svc.handle({ method: 'POST', path: '/auth/refresh', body: JSON.stringify({ refreshToken: s.refreshToken }) })).status, 401);
  assert.equal((await svc.handle({ method: 'POST', path: '/auth/login', body: JSON.stringify({ userId: 'auth-blocked' }) })).status, 401);
});
