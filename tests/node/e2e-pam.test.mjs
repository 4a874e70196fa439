// End to end with Access Manager on: the local runtime has a secret key; a server-side admin
// SDK client (holding the secret key) creates the users, and each user signs in at the auth
// service (js-shim/dev/auth), whose token is the one grant definition (js-shim/dev/auth/grants.mjs).
// From then on the users act only through their tokens: A asks B, B accepts, B comes online on
// its shard and A sees friend.online through cg-friends-A, B leaves and A sees friend.offline.
// The same tokens are refused what the design forbids: publishing status, managing groups,
// feeding the work channels, reading another inbox.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, client, connected, events, destroyAll, ROOT, SDKS } from './local-pubnub/helpers.mjs';
import { command } from './commands.mjs';
import { AuthService } from '../../js-shim/dev/auth/service.mjs';
import { shardOf } from '../../js-shim/dev/demo/seed.mjs';

const MANIFEST = join(ROOT, 'pkg/functions/manifest.json');
const SECRET = 'sec-c-e2e-pam';

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
    const auth = new AuthService({ pubnub: admin });
    const tokenA = (await auth.login(A)).token;
    const tokenB = (await auth.login(B)).token;
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
