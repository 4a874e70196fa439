// End to end on the local PubNub runtime: the built pkg/functions/*.js deployed per their
// manifest, driven by the real `pubnub` SDK (v10 and v11). Two users become friends through
// the friend commands; B comes online on its presence shard and A, subscribed to its friends
// group, receives friend.online (< 2 s); B leaves and A receives friend.offline; A also
// receives status.count.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, client, events, destroyAll, ROOT, SDKS } from './local-pubnub/helpers.mjs';
import { command } from './commands.mjs';

const MANIFEST = join(ROOT, 'pkg/functions/manifest.json');

function hashCode(str) {
  let hash = 0;
  for (let i = 0; i < str.length; i++) hash = ((hash << 5) - hash + str.charCodeAt(i)) | 0;
  return hash;
}
const shardOf = (id) => Math.abs(hashCode(id)) % 100;

async function until(check, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}


let srv;
after(async () => {
  destroyAll();
  await srv?.close();
});

for (const sdk of Object.keys(SDKS)) {
  test(`friends see each other come and go (pubnub ${sdk})`, { timeout: 60000 }, async () => {
    srv ??= await startServer({ functions: MANIFEST, functionIntervalMs: 500 });
    const A = `alice-${sdk}`;
    const B = `bob-${sdk}`;
    const admin = client(sdk, srv, `admin-${sdk}`);
    for (const [id, name] of [[A, 'Alice'], [B, 'Bob']]) await admin.objects.setUUIDMetadata({ uuid: id, data: { name } });

    const a = client(sdk, srv, A);
    const b = client(sdk, srv, B);
    await a.publish({ channel: `friend-requests.${A}`, message: command('friend.request', A, B, `r-${sdk}`).message });
    // After Publish handlers run asynchronously: like a real client, retry the acceptance
    // until the request has been recorded (a duplicate acceptance is harmless).
    const group = `cg-friends-${A}`;
    const linked = async () => (await admin.channelGroups.listChannels({ channelGroup: group })).channels.includes(`status.${B}`);
    for (let i = 0; !(await linked()); i++) {
      assert.ok(i < 20, 'friendship never established');
      await b.publish({ channel: `friend-requests.${B}`, message: command('friend.request.accepted', A, B, `a-${sdk}`).message });
      await until(linked, 500).catch(() => {});
    }

    const seenByA = events(a);
    a.subscribe({ channels: ['status.global', `inbox.${A}`], channelGroups: [group] });
    await seenByA.next('status', (s) => s.category === 'PNConnectedCategory');

    const t0 = Date.now();
    b.subscribe({ channels: [`presence.shard-${shardOf(B)}`] });
    const online = await seenByA.next('message', (m) => m.message?.type === 'friend.online' && m.message.payload.userId === B, 2000);
    const latency = Date.now() - t0;
    assert.ok(latency < 2000, `friend.online after ${latency} ms`);
    assert.equal(online.channel, `status.${B}`);
    assert.equal(online.subscription, group);
    assert.equal(online.message.payload.name, 'Bob');

    b.unsubscribeAll();
    // The leave comes inside the 5 s debounce window after the online publish: the settler
    // publishes the final state when the window ends.
    const offline = await seenByA.next('message', (m) => m.message?.type === 'friend.offline' && m.message.payload.userId === B, 15000);
    assert.equal(offline.subscription, group);
    const count = await seenByA.next('message', (m) => m.channel === 'status.global' && m.message?.type === 'status.count', 5000);
    assert.equal(typeof count.message.payload.onlineCount, 'number');
  });
}

// PubNub's presence FAQ: each device of one User ID produces its own join and its own
// leave/timeout. The local runtime tells devices apart by the SDK's `instanceid`.
test('two devices, one userId: closing one announces nothing, closing both announces offline (pubnub v11)', { timeout: 60000 }, async () => {
  srv ??= await startServer({ functions: MANIFEST, functionIntervalMs: 500 });
  const A = 'alice-devices';
  const B = 'bob-devices';
  const admin = client('v11', srv, 'admin-devices');
  for (const [id, name] of [[A, 'Alice'], [B, 'Bob']]) await admin.objects.setUUIDMetadata({ uuid: id, data: { name } });
  const a = client('v11', srv, A);
  const phone = client('v11', srv, B, { useInstanceId: true });
  const laptop = client('v11', srv, B, { useInstanceId: true });
  await a.publish({ channel: `friend-requests.${A}`, message: command('friend.request', A, B, 'r-devices').message });
  const group = `cg-friends-${A}`;
  const linked = async () => (await admin.channelGroups.listChannels({ channelGroup: group })).channels.includes(`status.${B}`);
  for (let i = 0; !(await linked()); i++) {
    assert.ok(i < 20, 'friendship never established');
    await phone.publish({ channel: `friend-requests.${B}`, message: command('friend.request.accepted', A, B, 'a-devices').message });
    await until(linked, 500).catch(() => {});
  }
  const seenByA = events(a);
  a.subscribe({ channels: [`inbox.${A}`], channelGroups: [group] });
  await seenByA.next('status', (s) => s.category === 'PNConnectedCategory');
  const shard = `presence.shard-${shardOf(B)}`;
  const statuses = () => seenByA.seen.message.filter((m) => m.channel === `status.${B}`).map((m) => m.message.type);

  phone.subscribe({ channels: [shard] });
  await seenByA.next('message', (m) => m.message?.type === 'friend.online' && m.message.payload.userId === B, 2000);
  laptop.subscribe({ channels: [shard] });
  await until(async () => (await admin.hereNow({ channels: [shard] })).channels[shard]?.occupancy === 1);
  // Past the debounce window, so a wrong offline would be published at once, not deferred.
  await new Promise((r) => setTimeout(r, 5500));
  phone.unsubscribeAll();
  await new Promise((r) => setTimeout(r, 3000));
  assert.deepEqual(statuses(), ['friend.online'], 'closing one of two devices changes nothing for friends');
  assert.deepEqual((await admin.whereNow({ uuid: B })).channels, [shard], 'the laptop keeps bob present');

  laptop.unsubscribeAll();
  await seenByA.next('message', (m) => m.message?.type === 'friend.offline' && m.message.payload.userId === B, 5000);
  assert.deepEqual(statuses(), ['friend.online', 'friend.offline']);
});
