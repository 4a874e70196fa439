// Invisible means invisible (docs/design.md, "Invisible and status message"): on the local
// runtime with Access Manager on, the built Functions, the production presence rule
// (`presence.shard-*` only) and the real SDK, through tokens from the auth service. V has a
// friend F; S is a stranger on V's shard and F's friend (so V is a friend of S's friend). Once V
// goes invisible, nothing F's or S's token can call shows V connected: hereNow on status.global,
// on V's shard, on F's and S's friends groups and on V's status channel, whereNow of V, getState
// of V. F sees V offline and the global count leaves V out; V visible again → F sees V online,
// V is among the shard's occupants again and counted. A client that connects while the user is
// invisible never joins the shard.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startServer, client, destroyAll, until, ROOT, SDKS } from './local-pubnub/helpers.mjs';
import { AuthService } from '../../js-shim/dev/auth/service.mjs';
import { loadSettings } from '../../js-shim/settings.mjs';
import { shardOf } from '../../js-shim/dev/demo/seed.mjs';

const SECRET = 'sec-c-invisible';
const { shardCount } = loadSettings();

let srv, admin, auth, web;
before(async () => {
  srv = await startServer({ functions: path.join(ROOT, 'pkg/functions/manifest.json'), functionIntervalMs: 500, secretKey: SECRET, publishKey: 'pub-c-test' });
  admin = client('v12', srv, 'inv-admin', { secretKey: SECRET });
  auth = new AuthService({ pubnub: admin });
  web = await import(pathToFileURL(path.join(ROOT, 'pkg/web/index.js')).href);
  await web.default();
});
after(async () => {
  destroyAll();
  auth?.close();
  await srv?.close();
});

/** A user's own SDK instance with a token from the auth service (no secret key). */
async function signedIn(sdk, id, { signUp = true } = {}) {
  if (signUp) await admin.objects.setUUIDMetadata({ uuid: id, data: { name: id } });
  const pn = client(sdk, srv, id);
  pn.setToken((await auth.login(id)).token);
  return pn;
}

/** Who an answer names as present: hereNow's occupants (a refused call names nobody). */
async function occupants(call) {
  let r;
  try {
    r = await call();
  } catch (e) {
    assert.equal(e.status?.statusCode, 403, `refused with 403, not ${JSON.stringify(e.status ?? e.message)}`);
    return { refused: true, uuids: [] };
  }
  const uuids = Object.values(r.channels ?? {}).flatMap((c) => (c.occupants ?? []).map((o) => o.uuid));
  return { refused: false, uuids, total: r.totalOccupancy };
}

/** Every presence API a user token can call, about V, as `pn` (the token of `me`). */
async function whatRevealsV(pn, me, V, shard) {
  const shown = [];
  const here = async (what, params) => {
    const { uuids } = await occupants(() => pn.hereNow({ includeUUIDs: true, ...params }));
    if (uuids.includes(V)) shown.push(what);
  };
  await here('hereNow status.global', { channels: ['status.global'] });
  await here('global hereNow', {});
  await here(`hereNow ${shard}`, { channels: [shard] });
  await here(`hereNow cg-friends-${me}`, { channelGroups: [`cg-friends-${me}`] });
  await here(`hereNow status.${V}`, { channels: [`status.${V}`] });
  await here('hereNow status.global + own groups', { channels: ['status.global'], channelGroups: [`cg-friends-${me}`] });
  try {
    const where = await pn.whereNow({ uuid: V });
    if (where.channels.length) shown.push(`whereNow ${where.channels}`);
  } catch (e) {
    assert.equal(e.status?.statusCode, 403);
  }
  for (const params of [{ channels: [shard] }, { channels: ['status.global'] }, { channelGroups: [`cg-friends-${me}`] }]) {
    try {
      const state = await pn.getState({ uuid: V, ...params });
      const values = Object.values(state.channels ?? {}).filter((s) => s && Object.keys(s).length);
      if (values.length) shown.push(`getState ${JSON.stringify(params)}`);
    } catch (e) {
      assert.equal(e.status?.statusCode, 403);
    }
  }
  return shown;
}

for (const SDK of Object.keys(SDKS)) {
  test(`an invisible user is connected but nowhere in presence; visible again, online (pubnub ${SDK})`, { timeout: 120_000 }, async () => {
    const V = `inv-v-${SDK}`;
    const F = `inv-f-${SDK}`;
    const shard = `presence.shard-${shardOf(V, shardCount)}`;
    // A stranger on V's shard: the first id of the series that lands there.
    let S = null;
    for (let i = 0; S === null; i++) if (shardOf(`inv-s${i}-${SDK}`, shardCount) === shardOf(V, shardCount)) S = `inv-s${i}-${SDK}`;
    const [pv, pf, ps] = [await signedIn(SDK, V), await signedIn(SDK, F), await signedIn(SDK, S)];
    const connect = (pubnub, userId, extra = {}) => web.connectFriends({ pubnub, userId, shardCount, ...extra });
    let v = await connect(pv, V);
    const f = await connect(pf, F);
    const s = await connect(ps, S);

    // V and F are friends; S is F's friend, a stranger to V.
    assert.equal((await v.request(F)).ok, true);
    assert.equal((await f.accept(V)).ok, true);
    assert.equal((await s.request(F)).ok, true);
    assert.equal((await f.accept(S)).ok, true);
    await v.reload();
    await f.reload();
    await until(() => f.view.friend(V)?.online === true, 15_000);
    // Visible: V is one of the shard's occupants (what a shard shows about visible users).
    assert.ok((await occupants(() => ps.hereNow({ channels: [shard], includeUUIDs: true }))).uuids.includes(V));
    await until(() => f.view.globalCount()?.onlineCount === 3, 15_000);

    // V goes invisible: answered ok, V is off the shard, still connected.
    assert.equal((await v.settings({ invisible: true })).ok, true);
    assert.equal(v.view.settings().invisible, true);
    // A subscribe request that reaches PubNub after the leave (under way, retried, reordered)
    // joins the shard again: the client finds itself there and leaves again.
    await until(() => !srv.presence.whereNow(V).includes(shard), 5_000);
    srv.presence.touch(V, [shard], 300);
    assert.ok(srv.presence.whereNow(V).includes(shard));
    await until(() => !srv.presence.whereNow(V).includes(shard), 5_000);
    await until(() => f.view.friend(V)?.online === false, 15_000);
    for (const [pn, me] of [[pf, F], [ps, S]]) assert.deepEqual(await whatRevealsV(pn, me, V, shard), [], `${me}'s token sees V`);
    // What PubNub, which asks no permission for whereNow, would answer any token.
    assert.deepEqual((await admin.whereNow({ uuid: V })).channels, []);
    assert.equal(v.present, false);
    assert.equal(v.state, 'live');
    // The count is the shards' occupancy: V is not counted while invisible.
    await until(() => f.view.globalCount()?.onlineCount === 2, 15_000);
    // Being "online" again while invisible still keeps V off the shard.
    v.setOnline(true);
    assert.equal(v.present, false);
    // Still a connected client: a friend's notice reaches V while invisible.
    assert.equal((await f.settings({ statusMessage: 'at lunch' })).ok, true);
    await until(() => v.view.friend(F)?.statusMessage === 'at lunch', 10_000);
    assert.equal(f.view.friend(V)?.online, false, 'nothing announced V meanwhile');

    // A reload (or another device) that knows the user is invisible never joins the shard.
    v.close();
    v = await connect(await signedIn(SDK, V, { signUp: false }), V, { invisible: true });
    assert.equal(v.present, false);
    assert.equal(v.view.friend(F)?.online, true);
    assert.deepEqual(await whatRevealsV(ps, S, V, shard), [], 'after connecting invisible');
    assert.equal(f.view.friend(V)?.online, false);

    // Visible again: answered ok, V joins the shard, F sees V online and the count has V again.
    assert.equal((await v.settings({ invisible: false })).ok, true);
    assert.equal(v.present, true);
    await until(() => f.view.friend(V)?.online === true, 15_000);
    await until(async () => (await occupants(() => ps.hereNow({ channels: [shard], includeUUIDs: true }))).uuids.includes(V), 5_000);
    await until(() => f.view.globalCount()?.onlineCount === 3, 15_000);
    // Offline by choice (not invisible): off the shard, F sees V offline.
    v.setOnline(false);
    assert.equal(v.present, false);
    await until(() => f.view.friend(V)?.online === false, 15_000);
    for (const c of [v, f, s]) c.close();
  });
}
