// End to end on the local PubNub runtime: the built pkg/functions/*.js loaded per their
// manifest, driven by the real `pubnub` SDK (v10 and v11) through the flow in e2e-flow.mjs.
// (deploy.test.mjs runs the same flow on Functions uploaded through the Admin API.)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, client, events, destroyAll, ROOT, SDKS } from './local-pubnub/helpers.mjs';
import { friendsComeAndGo, until } from './e2e-flow.mjs';
import { command } from './commands.mjs';
import { shardOf } from '../../js-shim/dev/demo/seed.mjs';

const MANIFEST = join(ROOT, 'pkg/functions/manifest.json');

let srv;
after(async () => {
  destroyAll();
  await srv?.close();
});

for (const sdk of Object.keys(SDKS)) {
  test(`friends see each other come and go (pubnub ${sdk})`, { timeout: 60000 }, async () => {
    srv ??= await startServer({ functions: MANIFEST, functionIntervalMs: 500 });
    await friendsComeAndGo(srv, sdk);
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
