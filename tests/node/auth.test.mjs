// The auth service (js-shim/dev/auth) against the local runtime with Access Manager on: login gives
// the user's plan and a token; the token does exactly what the plan needs (subscribe to the plan's
// channels and groups, stay present on the shard, publish on the user's own command channels)
// and is refused (403) everything else the design forbids; refresh works, and bad input or a
// bad refresh token is refused. Refresh tokens are single-use (a replay revokes the session),
// also across a restart; the app's identity check (a JWT: shared secret, JWKS object, JWKS URL)
// decides who signs in; a first sign-in creates the App Context record, a profile change never
// touches `custom`, and a friend sees the new name on the next load.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, client, connected, destroyAll, events, http } from './local-pubnub/helpers.mjs';
import fs from 'node:fs';
import nodeHttp from 'node:http';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { AuthService, devAnyUser, jwtIdentity, startAuthServer } from '../../js-shim/dev/auth/service.mjs';
import { ROOT, tmpDir } from './local-pubnub/helpers.mjs';
import { loadSettings } from '../../js-shim/settings.mjs';
import { userGrant } from '../../js-shim/dev/auth/grants.mjs';
import { loadPlanner } from '../../js-shim/dev/auth/plan.mjs';
import { shardOf } from '../../js-shim/dev/demo/seed.mjs';
import { command } from './commands.mjs';

const SECRET = 'sec-c-auth-test';
const KEYS = { publishKey: 'pub-c-test', subscribeKey: 'sub-c-test' };
let srv, auth;
before(async () => {
  srv = await startServer({ secretKey: SECRET, publishKey: KEYS.publishKey });
  auth = await startAuthServer({ ...KEYS, secretKey: SECRET, origin: srv.origin, identity: devAnyUser() });
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
  let now = Date.now();
  const pubnub = client('v11', srv, 'auth-service', { secretKey: SECRET });
  const svc = new AuthService({ pubnub, now: () => now, refreshTtlS: 60, authenticate: (id) => id !== 'auth-blocked' });
  const s = await svc.login('auth-frank');
  now += 61e3;
  assert.equal((await svc.handle({ method: 'POST', path: '/auth/refresh', body: JSON.stringify({ refreshToken: s.refreshToken }) })).status, 401);
  assert.equal((await svc.handle({ method: 'POST', path: '/auth/login', body: JSON.stringify({ userId: 'auth-blocked' }) })).status, 401);
});

/** An AuthService on the test runtime (its own SDK client), closed by the caller. */
const service = (o = {}) => new AuthService({ pubnub: client('v11', srv, 'auth-service', { secretKey: SECRET }), identity: devAnyUser(), ...o });
const call = (svc, route, body, headers = {}) =>
  svc.handle({ method: 'POST', path: route, body: JSON.stringify(body), req: { headers } }).then((r) => ({ status: r.status, json: r.body }));

test('a refresh token is single-use: used again it is refused and its session revoked, the newer token too', async () => {
  const s = await login('auth-grace');
  const r1 = await post('/auth/refresh', { refreshToken: s.refreshToken });
  assert.equal(r1.status, 200);
  const replay = await post('/auth/refresh', { refreshToken: s.refreshToken });
  assert.equal(replay.status, 401);
  assert.match(replay.json.error, /already used: the session is revoked/);
  const after = await post('/auth/refresh', { refreshToken: r1.json.refreshToken });
  assert.equal(after.status, 401, 'the family is revoked: the thief\'s or the user\'s newer token no longer refreshes');
  assert.match(after.json.error, /session revoked/);
  // A fresh sign-in is a new family.
  const again = await login('auth-grace');
  assert.equal((await post('/auth/refresh', { refreshToken: again.refreshToken })).status, 200);

  // Two exchanges of one token at once: one wins, the other is a replay (and ends the session).
  const t = await login('auth-grace');
  const both = await Promise.all([1, 2].map(() => post('/auth/refresh', { refreshToken: t.refreshToken })));
  assert.deepEqual(both.map((r) => r.status).sort(), [200, 401]);
  const winner = both.find((r) => r.status === 200).json;
  assert.equal((await post('/auth/refresh', { refreshToken: winner.refreshToken })).status, 401);

  // Logout revokes the session.
  const l = await login('auth-grace');
  assert.deepEqual((await post('/auth/logout', { refreshToken: l.refreshToken })).json, { revoked: true });
  assert.equal((await post('/auth/refresh', { refreshToken: l.refreshToken })).status, 401);
  assert.equal((await post('/auth/logout', { refreshToken: 'nonsense' })).status, 401);
});

test('spent stays spent across a restart: the state dir keeps the signing key and the families; without one a restart ends every session', async () => {
  const stateDir = tmpDir('auth-state-');
  let svc = service({ stateDir });
  const s = await svc.login('auth-henry');
  const r1 = await call(svc, '/auth/refresh', { refreshToken: s.refreshToken });
  assert.equal(r1.status, 200);
  const ended = await svc.login('auth-henry'); // a second session, ended by logout
  svc.logout(ended.refreshToken);
  svc.close();
  assert.equal(fs.statSync(path.join(stateDir, 'refresh-secret')).mode & 0o777, 0o600);
  fs.appendFileSync(path.join(stateDir, 'refresh-families.log'), '{"f":"torn'); // a crash mid-write

  svc = service({ stateDir });
  assert.equal((await call(svc, '/auth/refresh', { refreshToken: s.refreshToken })).status, 401, 'the spent token stays spent');
  svc.close();
  svc = service({ stateDir });
  const r1b = await call(svc, '/auth/refresh', { refreshToken: r1.json.refreshToken });
  assert.equal(r1b.status, 401, 'the replay above revoked the family, and that too outlived a restart');
  assert.equal((await call(svc, '/auth/refresh', { refreshToken: ended.refreshToken })).status, 401, 'logged out stays logged out');
  const live = await svc.login('auth-henry');
  svc.close();
  svc = service({ stateDir });
  assert.equal((await call(svc, '/auth/refresh', { refreshToken: live.refreshToken })).status, 200, 'a live session outlives a restart');
  svc.close();

  // No state dir: a new signing key per process, so nothing issued before a restart refreshes.
  const memory = service();
  const m = await memory.login('auth-henry');
  memory.close();
  const restarted = service();
  assert.equal((await call(restarted, '/auth/refresh', { refreshToken: m.refreshToken })).status, 401);
  restarted.close();
  assert.throws(() => service({ refreshSecret: 'fixed' }), /needs a stateDir/);
});

test('the identity check: an app-issued JWT (shared secret, JWKS object, JWKS URL) signs its subject in; anything else is refused', async () => {
  const secret = 'app-shared-secret-of-at-least-32-bytes!!';
  const hs = (claims, { aud = 'friends-presence', exp = '2m', key = secret, sub = 'auth-ivy' } = {}) => {
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setAudience(aud).setIssuer('https://app.example');
    if (sub) jwt.setSubject(sub);
    if (exp) jwt.setExpirationTime(exp);
    return jwt.sign(new TextEncoder().encode(key));
  };
  const svc = service({ identity: jwtIdentity({ secret, audience: 'friends-presence', issuer: 'https://app.example' }) });
  const bearer = async (token, body = {}) => call(svc, '/auth/login', body, { authorization: `Bearer ${token}` });
  const ok = await bearer(await hs({ name: 'Ivy', picture: 'https://img.example/ivy.png' }));
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.equal(ok.json.userId, 'auth-ivy');
  assert.equal(client('v11', srv, 'x').parseToken(ok.json.token).authorized_uuid, 'auth-ivy');
  assert.equal((await call(svc, '/auth/login', { idToken: await hs({}) })).status, 200, 'or as idToken in the body');
  const refused = {
    'no token': await call(svc, '/auth/login', { userId: 'auth-ivy' }),
    'another audience': await bearer(await hs({}, { aud: 'other-app' })),
    expired: await bearer(await hs({}, { exp: Math.floor(Date.now() / 1000) - 120 })),
    'no exp': await bearer(await hs({}, { exp: null })),
    'no sub': await bearer(await hs({}, { sub: null })),
    'another key': await bearer(await hs({}, { key: 'not-the-apps-secret-but-long-enough!!' })),
    garbage: await bearer('a.b.c'),
  };
  for (const [why, r] of Object.entries(refused)) assert.equal(r.status, 401, `${why}: ${JSON.stringify(r.json)}`);
  assert.match(refused['another audience'].json.error, /identity token refused/);
  const impostor = await bearer(await hs({}), { userId: 'auth-admin' });
  assert.equal(impostor.status, 403, 'a body userId must be the token\'s subject');
  const badId = await bearer(await hs({}, { sub: 'bob-pnpres' }));
  assert.equal(badId.status, 400, 'an id the Functions refuse');
  // The profile is changed under the same check: the token's subject, nobody else.
  assert.equal((await call(svc, '/auth/profile', { userId: 'auth-ivy', name: 'Mallory' })).status, 401);
  const own = await call(svc, '/auth/profile', { name: 'Ivy Green' }, { authorization: `Bearer ${await hs({})}` });
  assert.deepEqual(own, { status: 200, json: { userId: 'auth-ivy', name: 'Ivy Green', profileUrl: 'https://img.example/ivy.png' } });
  assert.equal((await call(svc, '/auth/profile', { userId: 'auth-jade', name: 'x' }, { authorization: `Bearer ${await hs({})}` })).status, 403);
  svc.close();

  // Public keys: a JWKS object, and a JWKS URL (the app's published keys, fetched by jose).
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
  const es = (sub) => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject(sub).setAudience('fp').setExpirationTime('1m').sign(privateKey);
  const keys = nodeHttp.createServer((req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(jwks)));
  await new Promise((r) => keys.listen(0, '127.0.0.1', r));
  try {
    for (const identity of [jwtIdentity({ jwks, audience: 'fp' }), jwtIdentity({ jwksUrl: `http://127.0.0.1:${keys.address().port}/jwks.json`, audience: 'fp' })]) {
      const pk = service({ identity });
      const r = await call(pk, '/auth/login', {}, { authorization: `Bearer ${await es('auth-jade')}` });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.userId, 'auth-jade');
      const hsForged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('auth-jade').setAudience('fp').setExpirationTime('1m').sign(new TextEncoder().encode(JSON.stringify(jwks)));
      assert.equal((await call(pk, '/auth/login', {}, { authorization: `Bearer ${hsForged}` })).status, 401, 'no algorithm confusion');
      pk.close();
    }
  } finally {
    keys.close();
  }
  assert.throws(() => jwtIdentity({ secret }), /audience is required/);
  assert.throws(() => jwtIdentity({ audience: 'x' }), /exactly one of/);
  const none = new AuthService({ pubnub: client('v11', srv, 'auth-service', { secretKey: SECRET }) });
  assert.equal((await call(none, '/auth/login', { userId: 'auth-ivy' })).status, 401, 'no identity check configured: nobody signs in over HTTP');
  none.close();
});

test('sign-up and profile: a first sign-in creates the App Context record (once), a profile change keeps custom, bad profiles are refused', async () => {
  const admin = client('v11', srv, 'admin', { secretKey: SECRET });
  const record = async (id) => (await admin.objects.getUUIDMetadata({ uuid: id, include: { customFields: true } })).data;
  await assert.rejects(record('auth-kim'), (e) => e.status?.statusCode === 404);
  const first = await post('/auth/login', { userId: 'auth-kim', name: 'Kim', profileUrl: 'https://img.example/kim.png' });
  assert.equal(first.status, 200);
  assert.equal(first.json.signedUp, true);
  assert.deepEqual(first.json.profile, { name: 'Kim', profileUrl: 'https://img.example/kim.png' });
  assert.deepEqual([(await record('auth-kim')).name, (await record('auth-kim')).profileUrl], ['Kim', 'https://img.example/kim.png']);
  // What the Functions keep in custom (presence, counts) and a field this system does not own.
  await admin.objects.setUUIDMetadata({ uuid: 'auth-kim', data: { custom: { online: true, shardId: 7, friendCount: 3, theme: 'dark' } } });
  const second = await post('/auth/login', { userId: 'auth-kim', name: 'Someone else' });
  assert.equal(second.json.signedUp, false, 'idempotent: the record is there');
  assert.equal(first.json.invisible, false);
  assert.equal(second.json.invisible, false);
  // A user who went invisible on another device: the sign-in says so, so the new client stays off the shard.
  await admin.objects.setUUIDMetadata({ uuid: 'auth-kim', data: { custom: { online: true, shardId: 7, friendCount: 3, theme: 'dark', invisible: true } } });
  assert.equal((await post('/auth/login', { userId: 'auth-kim' })).json.invisible, true);
  await admin.objects.setUUIDMetadata({ uuid: 'auth-kim', data: { custom: { online: true, shardId: 7, friendCount: 3, theme: 'dark' } } });
  assert.equal((await record('auth-kim')).name, 'Kim', 'a later sign-in does not rename');
  const changed = await post('/auth/profile', { userId: 'auth-kim', name: '  Kimberly  ', profileUrl: 'https://img.example/k2.png' });
  assert.deepEqual(changed, { status: 200, json: { userId: 'auth-kim', name: 'Kimberly', profileUrl: 'https://img.example/k2.png' } });
  const after = await record('auth-kim');
  assert.deepEqual(after.custom, { online: true, shardId: 7, friendCount: 3, theme: 'dark' }, 'custom is untouched');
  assert.equal((await post('/auth/profile', { userId: 'auth-kim', profileUrl: null })).json.profileUrl, null, 'null clears the picture');
  assert.equal((await record('auth-kim')).name, 'Kimberly');
  for (const bad of [{ name: '' }, { name: 'x'.repeat(101) }, { name: 'a\u0007b' }, { profileUrl: 'javascript:alert(1)' }, { profileUrl: 'not a url' }, { name: 42 }, {}])
    assert.equal((await post('/auth/profile', { userId: 'auth-kim', ...bad })).status, 400, JSON.stringify(bad));
  assert.equal((await post('/auth/profile', { userId: 'bob.1', name: 'x' })).status, 400);
  assert.deepEqual((await record('auth-kim')).custom, { online: true, shardId: 7, friendCount: 3, theme: 'dark' });
  // A bad picture at sign-up is left out rather than refusing the sign-in.
  const odd = await post('/auth/login', { userId: 'auth-lee', profileUrl: 'ftp://x' });
  assert.equal(odd.status, 200);
  assert.deepEqual(odd.json.profile, { name: 'auth-lee', profileUrl: null });
});

test('a friend sees a changed name and picture on the next load (the Functions\' friends.sync pages)', { timeout: 60_000 }, async () => {
  const fsrv = await startServer({ functions: path.join(ROOT, 'pkg/functions/manifest.json'), functionIntervalMs: 500, secretKey: SECRET, publishKey: KEYS.publishKey });
  const svc = new AuthService({ pubnub: client('v11', fsrv, 'auth-service', { secretKey: SECRET }), identity: devAnyUser() });
  try {
    const web = await import(pathToFileURL(path.join(ROOT, 'pkg/web/index.js')).href);
    await web.default();
    const { shardCount } = loadSettings();
    const connect = async (id, name) => {
      const s = await call(svc, '/auth/login', { userId: id, name });
      assert.equal(s.json.signedUp, true);
      const pn = client('v11', fsrv, id);
      pn.setToken(s.json.token);
      return web.connectFriends({ pubnub: pn, userId: id, shardCount });
    };
    const ann = await connect('prof-ann', 'Ann');
    const ben = await connect('prof-ben', 'Ben');
    assert.equal((await ann.request('prof-ben')).ok, true);
    assert.equal((await ben.accept('prof-ann')).ok, true);
    await ann.reload();
    assert.equal(ann.view.friend('prof-ben')?.name, 'Ben');
    const changed = await call(svc, '/auth/profile', { userId: 'prof-ben', name: 'Benjamin', profileUrl: 'https://img.example/ben.png' });
    assert.equal(changed.status, 200);
    await ann.reload();
    assert.deepEqual([ann.view.friend('prof-ben')?.name, ann.view.friend('prof-ben')?.profileUrl], ['Benjamin', 'https://img.example/ben.png']);
    assert.equal(fsrv.objects.entities.uuid.get('prof-ben').custom.friendCount, 1, 'the Functions\' custom fields are still there');
    ann.close();
    ben.close();
  } finally {
    svc.close();
    await fsrv.close();
  }
});

/** scripts/auth-server as a process; resolves {url, stop} once it prints its URL. */
async function authServerProcess(args, env) {
  const child = spawn(path.join(ROOT, 'scripts/auth-server'), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const url = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(String(d).trim()));
    child.once('exit', (code) => reject(new Error(`auth-server exited ${code}: ${err}`)));
  });
  return { url, err: () => err, stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) };
}

test('scripts/auth-server in production mode: JWT sign-in, single-use refresh tokens across a restart; it refuses to start without an identity check or a state dir', { timeout: 60_000 }, async () => {
  const stateDir = tmpDir('auth-server-');
  const env = { PUBNUB_SECRET_KEY: SECRET, FP_JWT_SECRET: 'the-apps-shared-secret-0123456789abcdef' };
  const args = ['--port', '0', '--publish-key', KEYS.publishKey, '--subscribe-key', KEYS.subscribeKey, '--origin', srv.origin, '--jwt-audience', 'fp-app', '--state-dir', stateDir];
  const jwt = await new SignJWT({ name: 'Max' }).setProtectedHeader({ alg: 'HS256' }).setSubject('auth-max').setAudience('fp-app').setExpirationTime('1m')
    .sign(new TextEncoder().encode(env.FP_JWT_SECRET));
  const at = (url) => (route, body, headers = {}) =>
    fetch(url + route, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, json: await r.json() }));
  let server = await authServerProcess(args, env);
  let req = at(server.url);
  assert.equal((await req('/auth/login', { userId: 'auth-max' })).status, 401, 'no identity token');
  const s = await req('/auth/login', {}, { Authorization: `Bearer ${jwt}` });
  assert.equal(s.status, 200, JSON.stringify(s.json));
  assert.deepEqual([s.json.userId, s.json.profile.name], ['auth-max', 'Max']);
  const r1 = await req('/auth/refresh', { refreshToken: s.json.refreshToken });
  assert.equal(r1.status, 200);
  await server.stop();
  server = await authServerProcess(args, env); // a restart (or a roll-back to the previous release on the same state dir)
  req = at(server.url);
  assert.equal((await req('/auth/refresh', { refreshToken: r1.json.refreshToken })).status, 200, 'the live session survived the restart');
  assert.equal((await req('/auth/refresh', { refreshToken: s.json.refreshToken })).status, 401, 'the spent token stayed spent');
  await server.stop();
  assert.doesNotMatch(server.err(), /DEVELOPMENT/);

  for (const [bad, why] of [[args.filter((a) => a !== '--state-dir' && a !== stateDir), /--state-dir is required/], [args.slice(0, 8), /say who signs in/]]) {
    const e = await authServerProcess(bad, env).then(() => assert.fail('started'), (err) => err);
    assert.match(e.message, why);
  }
});
