import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SDKS, client, connected, destroyAll, events, http, startServer } from './helpers.mjs';
import { Pam } from '../../../js-shim/dev/local-pubnub/pam.mjs';
import { command } from '../commands.mjs';
import { userGrant } from '../../../js-shim/dev/auth/grants.mjs';
import { loadPlanner } from '../../../js-shim/dev/auth/plan.mjs';

const SECRET = 'sec-c-test';

/**
 * A request signed with the secret key the way server SDKs sign (v2: HMAC-SHA256 over method,
 * publish key, path, sorted query, body), with the `timestamp` given — to try stale ones.
 */
function signedPath(path, query, timestamp, { method = 'GET', body = '', publishKey = 'pub-c-test' } = {}) {
  const q = { ...query, ...(timestamp === undefined ? {} : { timestamp: String(timestamp) }) };
  const enc = (v) => encodeURIComponent(v).replace(/[!~*'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const qs = Object.keys(q).sort().map((k) => `${k}=${enc(q[k])}`).join('&');
  const sig = 'v2.' + createHmac('sha256', SECRET).update(`${method}\n${publishKey}\n${path}\n${qs}\n${body}`).digest('base64url');
  return `${path}?${qs}&signature=${sig}`;
}

// User tokens are the auth service's: the grant of js-shim/dev/auth/grants.mjs for the user's plan.
const planFor = await loadPlanner();
const userToken = (server, uid) => server.grantToken(userGrant(planFor(uid)));

describe('Access Manager', () => {
  let srv;
  before(async () => (srv = await startServer({ secretKey: SECRET, publishKey: 'pub-c-test' })));
  after(async () => (destroyAll(), await srv.close()));

  for (const sdk of Object.keys(SDKS)) {
    test(`${sdk}: server grants a token the SDK can parse; the user token works where granted`, async () => {
      const uid = `user_${sdk}`;
      const server = client(sdk, srv, 'server', { secretKey: SECRET });
      await server.channelGroups.addChannels({ channelGroup: `cg-friends-${uid}`, channels: ['status.friend1'] });
      const { shard } = planFor(uid);
      const token = await userToken(server, uid);
      const parsed = server.parseToken(token);
      assert.equal(parsed.authorized_uuid, uid);
      assert.equal(parsed.ttl, 60);
      assert.deepEqual(parsed.resources.channels['status.global'], { read: true, write: false, manage: false, delete: false, get: false, update: false, join: false });
      assert.equal(parsed.resources.groups[`cg-friends-${uid}`].read, true);
      assert.deepEqual(parsed.meta, { role: 'user', shard });

      const user = client(sdk, srv, uid);
      user.setToken(token);
      const ev = events(user);
      user.subscribe({ channels: [`presence.shard-${shard}`, 'status.global', `inbox.${uid}`], channelGroups: [`cg-friends-${uid}`] }); // no withPresence: the token has no -pnpres grant
      await connected(ev);
      await server.publish({ channel: 'status.friend1', message: { type: 'friend.online' } });
      const m = await ev.next('message');
      assert.equal(m.subscription, `cg-friends-${uid}`);
      await user.publish({ channel: `friend-requests.${uid}`, message: command('friend.request', uid, 'someone-else', 'pam').message });
      const here = await user.hereNow({ channels: [`presence.shard-${shard}`] });
      assert.equal(here.totalOccupancy, 1);
    });

    test(`${sdk}: the user token cannot publish to status.*, manage groups, or read another inbox`, async () => {
      const uid = `user2_${sdk}`;
      const server = client(sdk, srv, 'server', { secretKey: SECRET });
      const token = await userToken(server, uid);
      const { shard } = planFor(uid);
      const user = client(sdk, srv, uid);
      user.setToken(token);
      const denied = async (p) => {
        const e = await p.then(() => assert.fail('expected a 403'), (err) => err);
        assert.equal(e.status.statusCode, 403);
        assert.equal(e.status.category, 'PNAccessDeniedCategory');
        return e;
      };
      const e1 = await denied(user.publish({ channel: `status.${uid}`, message: { type: 'friend.online' } }));
      assert.deepEqual(e1.status.errorData.payload, { channels: [`status.${uid}`] });
      await denied(user.publish({ channel: 'status.global', message: 1 }));
      await denied(user.channelGroups.addChannels({ channelGroup: `cg-friends-${uid}`, channels: ['status.x'] }));
      await denied(user.channelGroups.listChannels({ channelGroup: `cg-friends-${uid}` }));
      await denied(user.objects.setUUIDMetadata({ uuid: uid, data: { name: 'me' } }));
      // Another user's inbox: subscribe is refused with an access-denied status.
      const ev = events(user);
      user.subscribe({ channels: ['inbox.someone-else'] });
      const st = await ev.next('status', (s) => s.error || /Denied|Error|Unexpected/.test(s.category ?? ''));
      assert.match(st.category, /PNAccessDeniedCategory|PNConnectionErrorCategory|PNDisconnectedUnexpectedlyCategory/);
      // The token is bound to its uuid.
      const thief = client(sdk, srv, 'mallory');
      thief.setToken(token);
      await denied(thief.hereNow({ channels: [`presence.shard-${shard}`] }));
      // No token at all.
      await denied(client(sdk, srv, 'anon').publish({ channel: 'x', message: 1 }));
    });
  }

  test('raw: 403 body format, tampered token, unsigned grant, wrong secret', async () => {
    const r = await http(srv, '/publish/p/s/0/ch/0/1?uuid=u');
    assert.equal(r.status, 403);
    assert.equal(r.json.service, 'Access Manager');
    assert.equal(r.json.error, true);
    const server = client('v11', srv, 'server', { secretKey: SECRET });
    const token = await server.grantToken({ ttl: 5, resources: { channels: { ch: { write: true } } } });
    assert.equal((await http(srv, `/publish/p/s/0/ch/0/1?uuid=u&auth=${token}`)).status, 200);
    const bytes = Buffer.from(token, 'base64url');
    bytes[bytes.indexOf(Buffer.from('ch')) + 1] ^= 1; // flip the resource name
    assert.equal((await http(srv, `/publish/p/s/0/ch/0/1?uuid=u&auth=${bytes.toString('base64url')}`)).status, 403);
    const unsigned = await http(srv, '/v3/pam/s/grant?uuid=u', { method: 'POST', body: JSON.stringify({ ttl: 5, permissions: {} }) });
    assert.equal(unsigned.status, 403);
    const wrong = client('v11', srv, 'server', { secretKey: 'not-the-secret' });
    const err = await wrong.grantToken({ ttl: 5, resources: { channels: { ch: { read: true } } } }).catch((e) => e);
    assert.equal(err.status.statusCode, 403);
  });

  test("the Python SDK's first signature scheme: POST publish only, the query signed, padded; tokens are padded too", async () => {
    // utils.sign_request: "{sub}\n{pub}\n{path}\n{sorted query}", URL-safe base64 with padding.
    const v1 = (path, query) => {
      const qs = Object.keys(query).sort().map((k) => `${k}=${encodeURIComponent(query[k])}`).join('&');
      const mac = createHmac('sha256', SECRET).update(`s\npub-c-test\n${path}\n${qs}`).digest('base64');
      return `${path}?${qs}&signature=${mac.replace(/\+/g, '-').replace(/\//g, '_')}`;
    };
    const query = { uuid: 'py', timestamp: String(Math.floor(Date.now() / 1000)) };
    const path = '/publish/pub-c-test/s/0/py-ch/0';
    const post = (url, body = '{"a":1}') => http(srv, url, { method: 'POST', body });
    assert.equal((await post(v1(path, query))).status, 200);
    assert.equal((await post(v1(path, { ...query, uuid: 'other' }).replace('uuid=other', 'uuid=py'))).status, 403, 'the query is covered');
    assert.equal((await http(srv, v1(`${path}/1`, query))).status, 403, 'not for GET');
    const grant = '/v3/pam/s/grant';
    assert.equal((await post(v1(grant, query), JSON.stringify({ ttl: 5, permissions: {} }))).status, 403, 'not for other paths');
    const token = await client('v11', srv, 'server', { secretKey: SECRET }).grantToken({ ttl: 5, resources: { channels: { ch: { read: true } } } });
    assert.equal(token.length % 4, 0, token);
  });

  test('signed requests must carry a timestamp within 60 s of the server clock', async () => {
    const now = Math.floor(Date.now() / 1000);
    const path = '/v1/channel-registration/sub-key/s/channel-group';
    assert.equal((await http(srv, signedPath(path, { uuid: 'server' }, now))).status, 200);
    for (const ts of [0, now - 120, now + 120, undefined, 'soon']) {
      const r = await http(srv, signedPath(path, { uuid: 'server' }, ts));
      assert.equal(r.status, 403, `timestamp ${ts}`);
      assert.match(r.json.message, /timestamp/);
    }
    // A signed grant from 1970 is no grant.
    const body = JSON.stringify({ ttl: 5, permissions: { resources: { channels: { x: { read: true } } } } });
    const stale = await http(srv, signedPath('/v3/pam/s/grant', { uuid: 'server' }, 0, { method: 'POST', body }), { method: 'POST', body });
    assert.equal(stale.status, 403);
  });

  test('whereNow and setting presence state: only for the token\'s own uuid, or with a grant on the other one', async () => {
    const server = client('v11', srv, 'server', { secretKey: SECRET });
    const own = await server.grantToken({ ttl: 5, authorized_uuid: 'wn-me', resources: { channels: { 'wn-ch': { read: true } } } });
    const peek = await server.grantToken({
      ttl: 5, authorized_uuid: 'wn-admin', resources: { channels: { 'wn-ch': { read: true } }, uuids: { 'wn-other': { get: true, update: true } } },
    });
    const unbound = await server.grantToken({ ttl: 5, resources: { channels: { 'wn-ch': { read: true } } } });
    srv.presence.touch('wn-other', ['wn-ch'], 60);
    const whereNow = (who, uuid, token) => http(srv, `/v2/presence/sub-key/s/uuid/${who}?uuid=${uuid}&auth=${token}`);
    assert.equal((await whereNow('wn-me', 'wn-me', own)).status, 200);
    const denied = await whereNow('wn-other', 'wn-me', own);
    assert.equal(denied.status, 403);
    assert.deepEqual(denied.json.payload, { uuids: ['wn-other'] });
    assert.equal((await whereNow('wn-other', 'wn-x', unbound)).status, 403, 'a token without an authorized uuid has no "own" uuid');
    assert.deepEqual((await whereNow('wn-other', 'wn-admin', peek)).json.payload.channels, ['wn-ch']);
    // Through the SDK: whereNow of someone else is refused.
    const me = client('v11', srv, 'wn-me');
    me.setToken(own);
    assert.deepEqual((await me.whereNow({ uuid: 'wn-me' })).channels, []);
    const e = await me.whereNow({ uuid: 'wn-other' }).catch((err) => err);
    assert.equal(e.status?.statusCode, 403);

    const state = encodeURIComponent(JSON.stringify({ mood: 'spoofed' }));
    const setState = (who, uuid, token) => http(srv, `/v2/presence/sub-key/s/channel/wn-ch/uuid/${who}/data?uuid=${uuid}&auth=${token}&state=${state}`);
    assert.equal((await setState('wn-other', 'wn-me', own)).status, 403);
    assert.equal((await setState('wn-other', 'wn-x', unbound)).status, 403);
    assert.deepEqual(srv.presence.getState('wn-other', 'wn-ch'), {});
    assert.equal((await setState('wn-me', 'wn-me', own)).status, 200);
    assert.equal((await setState('wn-other', 'wn-admin', peek)).status, 200);
    assert.deepEqual(srv.presence.getState('wn-other', 'wn-ch'), { mood: 'spoofed' });
  });

  test('patterns grant by regex; tokens expire after ttl minutes', () => {
    const pam = new Pam({ secretKey: 'k' });
    const token = pam.grant({ ttl: 1, permissions: { resources: {}, patterns: { channels: { '^room-.*$': 1 } } } });
    assert.doesNotThrow(() => pam.check({ auth: token, uuid: 'x' }, [['channels', 'room-1', 1]]));
    assert.throws(() => pam.check({ auth: token, uuid: 'x' }, [['channels', 'hall', 1]]), (e) => e.status === 403);
    assert.throws(() => pam.check({ auth: token, uuid: 'x' }, [['channels', 'room-1', 2]]), (e) => e.status === 403);
    const realNow = Date.now;
    Date.now = () => realNow() + 61e3;
    try {
      assert.throws(() => pam.check({ auth: token, uuid: 'x' }, [['channels', 'room-1', 1]]), /expired/);
    } finally {
      Date.now = realNow;
    }
  });
});

test('without a configured publish key, signatures are checked against publish keys seen', async () => {
  const srv = await startServer({ secretKey: SECRET });
  try {
    const server = client('v10', srv, 'server', { secretKey: SECRET, publishKey: 'pub-c-learn' });
    await server.publish({ channel: 'x', message: 1 });
    assert.ok(await server.grantToken({ ttl: 5, resources: { channels: { x: { read: true } } } }));
  } finally {
    destroyAll();
    await srv.close();
  }
});
