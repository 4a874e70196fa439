// Overflow groups end to end on the local PubNub runtime: the built pkg/functions bundles, the
// real SDK, and the web package's subscribePlan. A user past 2,000 friends gets new friends in
// cg-friends1-{id}; a full group falls over to the next; a subscriber to the plan's groups
// receives friend.online from a friend in an overflow group; removal edits that group.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, client, connected, events, destroyAll, until, ROOT } from './local-pubnub/helpers.mjs';
import { command } from './commands.mjs';
import { initSync, subscribePlan } from '../../pkg/web/index.js';

initSync({ module: readFileSync(join(ROOT, 'pkg/web/friends_presence_bg.wasm')) });
const MANIFEST = join(ROOT, 'pkg/functions/manifest.json');

let srv;
after(async () => {
  destroyAll();
  await srv?.close();
});

test('past 2,000 friends: overflow groups are filled, fallen over to, delivered through and edited (pubnub v11)', { timeout: 60_000 }, async () => {
  srv = await startServer({ functions: MANIFEST, functionIntervalMs: 500 });
  const STAR = 'star';
  const plan = subscribePlan(STAR);
  const [g0, g1, g2] = plan.groups;
  assert.deepEqual([g0, g1, g2], ['cg-friends-star', 'cg-friends1-star', 'cg-friends2-star']);
  const channels = (g) => srv.groups.listChannels(g);
  const membership = (me, friend) => srv.objects.byChannel.get(`friends.${me}`)?.get(friend);
  // Friends that earlier acceptances placed (what the friend Functions read: the group and App
  // Context friendCount), written straight into the runtime's state. The placeholders have no
  // memberships, so the recount after each acceptance counts only the real ones: the count is
  // set again after it.
  const place = (group, from, n) => srv.bulkLoad([{ op: 'cg.add', g: group, ch: Array.from({ length: n }, (_, i) => `status.placed-${from + i}`) }]);
  const admin = client('v11', srv, 'admin');
  const friendCount = () => srv.objects.entities.uuid.get(STAR)?.custom?.friendCount;
  const setCount = (n) => admin.objects.setUUIDMetadata({ uuid: STAR, data: { name: 'Star', custom: { friendCount: n } } });
  place(g0, 0, 2000);
  await setCount(2000);
  // The runtime refuses a 2,001st channel, as PubNub does.
  await assert.rejects(admin.channelGroups.addChannels({ channelGroup: g0, channels: ['status.extra'] }), (e) => e.status?.statusCode === 400);

  const star = client('v11', srv, STAR);
  const befriend = async (id, name) => {
    await admin.objects.setUUIDMetadata({ uuid: id, data: { name } });
    const c = client('v11', srv, id);
    await c.publish({ channel: `friend-requests.${id}`, message: command('friend.request', id, STAR, `r-${id}`).message });
    // After Publish runs asynchronously: retry the acceptance until it took (duplicates are harmless).
    for (let i = 0; !membership(STAR, id); i++) {
      assert.ok(i < 20, `friendship with ${id} never established`);
      await star.publish({ channel: `friend-requests.${STAR}`, message: command('friend.request.accepted', id, STAR, `a-${id}`).message });
      await until(() => membership(STAR, id), 500).catch(() => {});
    }
    return c;
  };

  // Friend 2,001 goes into the first overflow group.
  const nova = await befriend('nova', 'Nova');
  assert.ok(channels(g1).includes('status.nova') && !channels(g0).includes('status.nova'));
  assert.equal(membership(STAR, 'nova').custom.group, 1);

  // Group 1 fills up; two removals from the primary group bring the count to 3,998, so the
  // next friend is aimed at the full group 1: the 400 sends it on to group 2.
  place(g1, 2000, 1999);
  srv.bulkLoad([{ op: 'cg.rm', g: g0, ch: ['status.placed-0', 'status.placed-1'] }]);
  await until(() => friendCount() === 1, 5000); // nova's recount
  await setCount(3998);
  const vega = await befriend('vega', 'Vega');
  assert.equal(channels(g1).length, 2000);
  assert.ok(channels(g2).includes('status.vega'));
  assert.equal(membership(STAR, 'vega').custom.group, 2);

  // Star subscribes per its plan; friends in overflow groups coming online reach it.
  const seen = events(star);
  star.subscribe({ channels: plan.channels, channelGroups: plan.groups });
  await connected(seen);
  for (const [c, id, group] of [[nova, 'nova', g1], [vega, 'vega', g2]]) {
    c.subscribe({ channels: [subscribePlan(id).presenceChannel] });
    const online = await seen.next('message', (m) => m.message?.type === 'friend.online' && m.message.payload.userId === id, 5000);
    assert.equal(online.channel, `status.${id}`);
    assert.equal(online.subscription, group);
  }

  // Removal takes vega out of group 2, where it was placed, and leaves group 1 alone.
  await star.publish({ channel: `friend-management.${STAR}`, message: command('friend.remove', STAR, 'vega', 'x-vega').message });
  await until(() => !channels(g2).includes('status.vega') && !membership(STAR, 'vega'), 5000);
  assert.equal(channels(g1).length, 2000);
  assert.ok(channels(g1).includes('status.nova'));
});
