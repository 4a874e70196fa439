// End to end with Access Manager on: the local runtime has a secret key, a server-side admin
// SDK client (holding the secret key) creates the users and grants each one the seed's user
// token (§9.2) plus what the design adds (own inbox, own command channels). From then on the
// users act only through their tokens: A asks B, B accepts, B comes online on its shard and A
// sees friend.online through cg-friends-A, B leaves and A sees friend.offline. The same tokens
// are refused what the seed forbids: publishing status, managing groups, reading another inbox.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, client, connected, events, destroyAll, ROOT, SDKS } from './local-pubnub/helpers.mjs';
import { command } from './commands.mjs';

const MANIFEST = join(ROOT, 'pkg/functions/manifest.json');
const SECRET = 'sec-c-e2e-pam';

// The seed's JS hashCode (UTF-16 code units, 32-bit wrap); shard = |hash| % 100.
function hashCode(str) {
  let hash = 0;
  for (let i = 0; i < str.length; i++) hash = ((hash << 5) - hash + str.charCodeAt(i)) | 0;
  return hash;
}
const shardOf = (id) => Math.abs(hashCode(id)) % 100;

/**
 * What an auth server grants a user: the seed's token (read own status, own shard,
 * status.global; read but not manage own friends group) plus the design's private inbox
 * (read) and the user's own friend command channels (write). Overflow groups
 * cg-friends-{id}-{1..9} are the user's too (DESIGN §2.10), so they are readable.
 */
function userGrant(uid) {
  const shard = shardOf(uid);
  const groups = { [`cg-friends-${uid}`]: { read: true } };
  for (let i = 1; i < 10; i++) groups[`cg-friends-${uid}-${i}`] = { read: true };
  return {
    ttl: 60,
    authorized_uuid: uid,
    resources: {
      channels: {
        [`status.${uid}`]: { read: true },
        [`presence.shard-${shard}`]: { read: true },
        'status.global': { read: true },
        [`inbox.${uid}`]: { read: true },
        [`friend-requests.${uid}`]: { write: true },
        [`friend-management.${uid}`]: { write: true },
      },
      groups,
    },
    meta: { role: 'user', shardId: shard },
  };
}


/** The promise must reject with the SDK's 403 shape. */
async function denied(promise) {
  const e = await promise.then(() => assert.fail('expected a 403'), (err) => err);
  assert.equal(e.status?.statusCode, 403, `expected 403, got ${JSON.stringify(e.status ?? e.message)}`);
  assert.equal(e.status.category, 'PNAccessDeniedCategory');
  return e;
}

let srv;
before(async () => {
  srv = await startServer({ functions: MANIFEST, functionIntervalMs: 500, secretKey: SECRET, publishKey: 'pub-c-test' });
});
after(async () => {
  destroyAll();
  await srv?.close();
});

for (const sdk of Object.keys(SDKS)) {
  test(`with Access Manager, users act only through their tokens (pubnub ${sdk})`, { timeout: 60000 }, async () => {
    const A = `pam-alice-${sdk}`;
    const B = `pam-bob-${sdk}`;
    // The server side: the only client with the secret key.
    const admin = client(sdk, srv, `admin-${sdk}`, { secretKey: SECRET });
    for (const [id, name] of [[A, 'Alice'], [B, 'Bob']]) await admin.objects.setUUIDMetadata({ uuid: id, data: { name } });
    const tokenA = await admin.grantToken(userGrant(A));
    const tokenB = await admin.grantToken(userGrant(B));
    assert.equal(admin.parseToken(tokenA).authorized_uuid, A);

    // Users: no secret key, only their token.
    const user = (id, token) => {
      const pn = client(sdk, srv, id);
      pn.setToken(token);
      return pn;
    };
    const a = user(A, tokenA);
    const b = user(B, tokenB);
    const aInbox = events(a);
    const bInbox = events(b);
    a.subscribe({ channels: [`inbox.${A}`] });
    b.subscribe({ channels: [`inbox.${B}`] });
    await Promise.all([connected(aInbox), connected(bInbox)]);

    // A asks B; B hears of it on its inbox and accepts; both get friend.added.
    await a.publish({ channel: `friend-requests.${A}`, message: command('friend.request', A, B, `pr-${sdk}`).message });
    const asked = await bInbox.next('message', (m) => m.message?.type === 'friend.request.received', 5000);
    assert.equal(asked.message.payload.userId, A);
    await b.publish({ channel: `friend-requests.${B}`, message: command('friend.request.accepted', A, B, `pa-${sdk}`).message });
    const added = await aInbox.next('message', (m) => m.message?.type === 'friend.added', 5000);
    assert.equal(added.message.payload.userId, B);
    await bInbox.next('message', (m) => m.message?.type === 'friend.added' && m.message.payload.userId === A, 5000);

    // A watches its friends group (with its token: read on the group, not on status.B itself).
    const group = `cg-friends-${A}`;
    const watch = user(A, tokenA);
    const seenByA = events(watch);
    watch.subscribe({ channels: ['status.global'], channelGroups: [group] });
    await connected(seenByA);

    const shard = `presence.shard-${shardOf(B)}`;
    b.subscribe({ channels: [shard] });
    const online = await seenByA.next('message', (m) => m.message?.type === 'friend.online' && m.message.payload.userId === B, 5000);
    assert.equal(online.channel, `status.${B}`);
    assert.equal(online.subscription, group);
    assert.equal(online.message.payload.name, 'Bob');

    // Inside the debounce window: the settler (On Interval) publishes the final state.
    b.unsubscribe({ channels: [shard] });
    const offline = await seenByA.next('message', (m) => m.message?.type === 'friend.offline' && m.message.payload.userId === B, 15000);
    assert.equal(offline.subscription, group);

    // What the token must not allow.
    const e1 = await denied(a.publish({ channel: `status.${A}`, message: { type: 'friend.online' } }));
    assert.deepEqual(e1.status.errorData.payload, { channels: [`status.${A}`] });
    await denied(a.channelGroups.addChannels({ channelGroup: group, channels: ['status.mallory'] }));
    await denied(a.channelGroups.addChannels({ channelGroup: `cg-friends-${B}`, channels: [`status.${A}`] }));
    // Impersonation: answering a request on B's command channel, or feeding the presence workers.
    await denied(a.publish({ channel: `friend-requests.${B}`, message: command('friend.request.accepted', B, A, `px-${sdk}`).message }));
    await denied(a.publish({ channel: `presence-work.${shardOf(A)}`, message: { type: 'presence.work' } }));
    await denied(a.publish({ channel: `reconcile-work.${shardOf(A)}`, message: { type: 'reconcile.work' } }));
    await denied(a.publish({ channel: 'recount-work.jobs', message: { type: 'recount.work' } }));

    // Subscribing to B's inbox is refused. The SDKs report it differently: v10's subscribe
    // manager gives the 403 status itself, v11's event engine a connection error whose
    // `error` is the access-denied category.
    const snoop = user(A, tokenA);
    const snooped = events(snoop);
    snoop.subscribe({ channels: [`inbox.${B}`] });
    const st = await snooped.next('status', (s) => s.category !== 'PNConnectedCategory', 5000);
    if (sdk === 'v10') {
      assert.equal(st.category, 'PNAccessDeniedCategory');
      assert.equal(st.statusCode, 403);
      assert.deepEqual(st.errorData.payload, { channels: [`inbox.${B}`] });
    } else {
      assert.equal(st.category, 'PNConnectionErrorCategory');
      assert.equal(st.error, 'PNAccessDeniedCategory');
    }
    assert.ok(!snooped.seen.status.some((s) => s.category === 'PNConnectedCategory'), 'the snooping subscribe must never connect');
    snoop.unsubscribeAll();
  });
}
