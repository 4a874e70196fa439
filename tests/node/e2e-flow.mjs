// The end-to-end flow, shared by e2e.test.mjs (Functions loaded from the manifest) and
// deploy.test.mjs (Functions uploaded through the Admin API by scripts/deploy): two users become
// friends through the friend commands; B comes online on its presence shard and A, subscribed to
// its friends group, receives friend.online (< 2 s); B leaves and A receives friend.offline; A
// also receives status.count. Needs a runtime with the Functions running and the settler fast
// (functionIntervalMs ≈ 500).
import assert from 'node:assert/strict';
import { client, events } from './local-pubnub/helpers.mjs';
import { command } from './commands.mjs';
import { shardOf } from '../../js-shim/dev/demo/seed.mjs';
import { until } from './helpers.mjs';

export { until };

export async function friendsComeAndGo(srv, sdk, tag = sdk) {
  const A = `alice-${tag}`;
  const B = `bob-${tag}`;
  const admin = client(sdk, srv, `admin-${tag}`);
  for (const [id, name] of [[A, 'Alice'], [B, 'Bob']]) await admin.objects.setUUIDMetadata({ uuid: id, data: { name } });

  const a = client(sdk, srv, A);
  const b = client(sdk, srv, B);
  await a.publish({ channel: `friend-requests.${A}`, message: command('friend.request', A, B, `r-${tag}`).message });
  // After Publish handlers run asynchronously: like a real client, retry the acceptance
  // until the request has been recorded (a duplicate acceptance is harmless).
  const group = `cg-friends-${A}`;
  const linked = async () => (await admin.channelGroups.listChannels({ channelGroup: group })).channels.includes(`status.${B}`);
  for (let i = 0; !(await linked()); i++) {
    assert.ok(i < 20, 'friendship never established');
    await b.publish({ channel: `friend-requests.${B}`, message: command('friend.request.accepted', A, B, `a-${tag}`).message });
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
}
