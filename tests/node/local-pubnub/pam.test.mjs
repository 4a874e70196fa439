import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SDKS, client, connected, destroyAll, events, http, startServer } from './helpers.mjs';
import { Pam } from '../../../js-shim/local-pubnub/pam.mjs';
import { command } from '../commands.mjs';

const SECRET = 'sec-c-test';

// The seed's user token (§9.2) plus the design's private inbox and the user's command channels.
const userGrant = (uid, shard) => ({
  ttl: 60,
  authorized_uuid: uid,
  resources: {
    channels: {
      [`status.${uid}`]: { read: true },
      [`presence.shard-${shard}`]: { read: true },
      'status.global': { read: true },
      [`inbox.${uid}`]: { read: true },
      [`friend-requests.${uid}`]: { write: true },
    },
    groups: { [`cg-friends-${uid}`]: { read: true } },
  },
  meta: { role: 'user', shardId: shard },
});

describe('Access Manager', () => {
  let srv;
  before(async () => (srv = await startServer({ secretKey: SECRET, publishKey: 'pub-c-test' })));
  after(async () => (destroyAll(), await srv.close()));

  for (const sdk of Object.keys(SDKS)) {
    test(`${sdk}: server grants a token the SDK can parse; the user token works where granted`, async () => {
      const uid = `user_${sdk}`;
      const server = client(sdk, srv, 'server', { secretKey: SECRET });
      await server.channelGroups.addChannels({ channelGroup: `cg-friends-${uid}`, channels: ['status.friend1'] });
      const shard = sdk === 'v10' ? 42 : 43;
      const token = await server.grantToken(userGrant(uid, shard));
      const parsed = server.parseToken(token);
      assert.equal(parsed.authorized_uuid, uid);
      assert.equal(parsed.ttl, 60);
      assert.deepEqual(parsed.resources.channels['status.global'], { read: true, write: false, manage: false, delete: false, get: false, update: false, join: false });
      assert.equal(parsed.resources.groups[`cg-friends-${uid}`].read, true);
      assert.deepEqual(parsed.meta, { role: 'user', shardId: shard });

      const user = client(sdk, srv, uid);
      user.setToken(token);
      const ev = events(user);
      user.subscribe({ channels: [`presence.shard-${shard}`, 'status.global', `inbox.${uid}`], channelGroups: [`cg-friends-${uid}`], withPresence: true });
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
      const token = await server.grantToken(userGrant(uid, 7));
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
      await denied(thief.hereNow({ channels: ['presence.shard-7'] }));
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
