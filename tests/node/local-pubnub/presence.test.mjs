import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SDKS, client, destroyAll, events, http, startServer, until } from './helpers.mjs';

const heartbeat = (srv, uuid, chs, extra = '') => http(srv, `/v2/presence/sub-key/s/channel/${chs}/heartbeat?uuid=${uuid}${extra}`);

describe('presence on a default server', () => {
  let srv;
  before(async () => (srv = await startServer()));
  after(async () => (destroyAll(), await srv.close()));

  let n = 0;
  for (const sdk of Object.keys(SDKS)) {
    test(`${sdk}: heartbeat timeout produces a timeout event (client heartbeat value)`, async () => {
      const ch = `to-${++n}`;
      const bob = client(sdk, srv, 'bob');
      const ev = events(bob);
      bob.subscribe({ channels: [ch], withPresence: true });
      await ev.next('presence', (e) => e.uuid === 'bob' && e.action === 'join');
      const t0 = Date.now();
      const hb = await heartbeat(srv, 'ghost', ch, '&heartbeat=1');
      assert.deepEqual(hb.json, { status: 200, message: 'OK', service: 'Presence' });
      await ev.next('presence', (e) => e.uuid === 'ghost' && e.action === 'join');
      const to = await ev.next('presence', (e) => e.uuid === 'ghost' && e.action === 'timeout');
      assert.ok(Date.now() - t0 >= 900, 'not before the 1 s timeout');
      assert.equal(to.occupancy, 1);
    });

    test(`${sdk}: hereNow single/multi/group shapes, includeUUIDs, includeState, limit+offset`, async () => {
      const [a, b, g] = [`hn-a-${++n}`, `hn-b-${n}`, `hn-g-${n}`];
      await srv.groupAdd(g, [b]);
      for (const u of ['u1', 'u2', 'u3']) await heartbeat(srv, u, a);
      await heartbeat(srv, 'u4', b, `&state=${encodeURIComponent(JSON.stringify({ [b]: { mood: 'ok' } }))}`);
      const pn = client(sdk, srv, 'admin');
      const one = await pn.hereNow({ channels: [a] });
      assert.equal(one.totalOccupancy, 3);
      assert.deepEqual(one.channels[a].occupants.map((o) => o.uuid), ['u1', 'u2', 'u3']);
      const multi = await pn.hereNow({ channels: [a, b], includeState: true });
      assert.equal(multi.totalChannels, 2);
      assert.equal(multi.totalOccupancy, 4);
      assert.deepEqual(multi.channels[b].occupants, [{ uuid: 'u4', state: { mood: 'ok' } }]);
      const viaGroup = await pn.hereNow({ channelGroups: [g] });
      assert.deepEqual(Object.keys(viaGroup.channels), [b]);
      const count = await pn.hereNow({ channels: [a], includeUUIDs: false });
      assert.equal(count.channels[a].occupancy, 3);
      assert.deepEqual(count.channels[a].occupants, []);
      const paged = await pn.hereNow({ channels: [a], limit: 2, offset: 1 });
      assert.deepEqual(paged.channels[a].occupants.map((o) => o.uuid), ['u2', 'u3']);
      assert.equal(paged.channels[a].occupancy, 3);
    });

    test(`${sdk}: whereNow, setState/getState with a state-change event, leave`, async () => {
      const [a, b] = [`wn-a-${++n}`, `wn-b-${n}`];
      const watcher = client(sdk, srv, 'watcher');
      const ev = events(watcher);
      watcher.subscribe({ channels: [a], withPresence: true });
      await ev.next('presence', (e) => e.uuid === 'watcher' && e.action === 'join');
      const pn = client(sdk, srv, 'zed');
      await heartbeat(srv, 'zed', `${a},${b}`);
      assert.deepEqual((await pn.whereNow({ uuid: 'zed' })).channels.sort(), [a, b]);
      await pn.setState({ channels: [a], state: { typing: true } });
      const sc = await ev.next('presence', (e) => e.action === 'state-change');
      assert.equal(sc.uuid, 'zed');
      assert.deepEqual(sc.state, { typing: true });
      assert.deepEqual(await pn.getState({ uuid: 'zed', channels: [a] }), { channels: { [a]: { typing: true } } });
      // Several channels: PubNub answers `payload: {channels: {…}}` (the Python SDK's recorded
      // reply); the JS SDK hands `payload` over as it is, so its `channels` holds `channels`.
      const both = await pn.getState({ uuid: 'zed', channels: [a, b] });
      assert.deepEqual(both.channels, { channels: { [a]: { typing: true }, [b]: {} } });
      const raw = await http(srv, `/v2/presence/sub-key/s/channel/${a},${b}/uuid/zed`);
      assert.deepEqual(raw.json.payload, { channels: { [a]: { typing: true }, [b]: {} } });
      await http(srv, `/v2/presence/sub-key/s/channel/${a},${b}/leave?uuid=zed`);
      await ev.next('presence', (e) => e.uuid === 'zed' && e.action === 'leave');
      assert.deepEqual((await pn.whereNow({ uuid: 'zed' })).channels, []);
    });
  }

  test('an open long-poll keeps its uuid present past the heartbeat timeout', async () => {
    const r0 = await http(srv, '/v2/subscribe/s/held/0?uuid=holder&heartbeat=1');
    const ac = new AbortController();
    const poll = fetch(`${srv.url}/v2/subscribe/s/held/0?uuid=holder&heartbeat=1&tt=${r0.json.t.t}`, { signal: ac.signal }).catch(() => {});
    await until(() => srv.bus.waiters.has('c:held'));
    await new Promise((r) => setTimeout(r, 1200));
    assert.deepEqual(srv.presence.whereNow('holder'), ['held']);
    ac.abort();
    await poll;
    await until(() => srv.presence.whereNow('holder').length === 0, 3000);
  });
});

describe('announce max and interval mode', () => {
  let srv;
  // The interval timer is effectively off here; the tests tick it by hand so deltas never split.
  before(async () => (srv = await startServer({ announceMax: 2, intervalSec: 3600, refreshBytes: 60 })));
  after(async () => (destroyAll(), await srv.close()));

  for (const sdk of Object.keys(SDKS)) {
    test(`${sdk}: above announce max, changes arrive as interval deltas, then here_now_refresh`, async () => {
      const ch = `shard-${sdk}`;
      const watch = client(sdk, srv, 'w');
      const ev = events(watch);
      watch.subscribe({ channels: [`${ch}-x`], withPresence: false });
      // Watch only the presence channel so the watcher itself is not an occupant.
      watch.subscribe({ channels: [`${ch}-pnpres`] });
      await until(() => srv.bus.waiters.has(`c:${ch}-pnpres`));
      await heartbeat(srv, 'a', ch);
      await heartbeat(srv, 'b', ch);
      await ev.next('presence', (e) => e.action === 'join' && e.uuid === 'b');
      await heartbeat(srv, 'c', ch); // 3 > announceMax: no join event, a delta instead
      await http(srv, `/v2/presence/sub-key/s/channel/${ch}/leave?uuid=a`);
      srv.presence.interval();
      const iv = await ev.next('presence', (e) => e.action === 'interval' && e.join?.length);
      assert.equal(iv.channel, ch);
      assert.equal(iv.occupancy, 2);
      assert.deepEqual(iv.join, ['c']);
      assert.deepEqual(iv.leave, ['a']);
      assert.deepEqual(iv.timeout, []);
      assert.equal(iv.hereNowRefresh, false);
      assert.equal(ev.seen.presence.filter((e) => e.action === 'join' && e.uuid === 'c').length, 0);
      // Deltas bigger than refreshBytes (60 here, ~30 KB on PubNub) become a refresh flag.
      for (const u of ['d', 'e', 'f', 'g', 'h', 'i']) await heartbeat(srv, `user-${u}`, ch);
      srv.presence.interval();
      const refresh = await ev.next('presence', (e) => e.action === 'interval' && e.hereNowRefresh === true);
      assert.equal(refresh.occupancy, 8);
      assert.equal(refresh.join, undefined);
      // With nothing new, interval mode keeps emitting occupancy-only ticks with empty deltas.
      srv.presence.interval();
      const quiet = await ev.next('presence', (e) => e.action === 'interval' && e.timetoken > refresh.timetoken);
      assert.deepEqual([quiet.join, quiet.leave, quiet.timeout], [[], [], []]);
    });
  }

  test('deltas off: interval events carry occupancy only', async () => {
    const s2 = await startServer({ announceMax: 0, intervalSec: 0.1, deltas: false });
    try {
      await heartbeat(s2, 'a', 'nd');
      const got = await until(() => s2.bus.buffers.get('nd-pnpres')?.[0]?.env.d);
      assert.deepEqual(Object.keys(got).sort(), ['action', 'occupancy', 'timestamp']);
      assert.equal(got.action, 'interval');
    } finally {
      await s2.close();
    }
  });
});

// PubNub's presence FAQ: each device of one User ID produces its own join and leave/timeout;
// hereNow lists a user once. Here a device is an SDK instance (`useInstanceId: true`).
describe('several devices, one uuid', () => {
  let srv;
  before(async () => (srv = await startServer()));
  after(async () => (destroyAll(), await srv.close()));

  for (const sdk of Object.keys(SDKS)) {
    test(`${sdk}: the uuid stays present until its last device leaves; each device joins and leaves`, async () => {
      const ch = `dev-${sdk}`;
      const watcher = client(sdk, srv, `watcher-${sdk}`);
      const ev = events(watcher);
      watcher.subscribe({ channels: [ch], withPresence: true });
      await ev.next('presence', (e) => e.uuid === `watcher-${sdk}` && e.action === 'join');
      const user = `multi-${sdk}`;
      const [phone, laptop] = [client(sdk, srv, user, { useInstanceId: true }), client(sdk, srv, user, { useInstanceId: true })];
      phone.subscribe({ channels: [ch] });
      await ev.next('presence', (e) => e.uuid === user && e.action === 'join');
      laptop.subscribe({ channels: [ch] });
      await until(() => ev.seen.presence.filter((e) => e.uuid === user && e.action === 'join').length === 2);
      const here = async () => (await watcher.hereNow({ channels: [ch] })).channels[ch];
      assert.equal((await here()).occupancy, 2, 'watcher + the user once');
      phone.unsubscribeAll();
      await ev.next('presence', (e) => e.uuid === user && e.action === 'leave');
      assert.deepEqual((await here()).occupants.map((o) => o.uuid).sort(), [user, `watcher-${sdk}`].sort(), 'the laptop keeps the user present');
      assert.deepEqual((await watcher.whereNow({ uuid: user })).channels, [ch]);
      laptop.unsubscribeAll();
      await until(() => ev.seen.presence.filter((e) => e.uuid === user && e.action === 'leave').length === 2);
      assert.equal((await here()).occupancy, 1);
      assert.deepEqual((await watcher.whereNow({ uuid: user })).channels, []);
    });
  }

  test('a device that stops heartbeating times out alone', async () => {
    await http(srv, '/v2/presence/sub-key/s/channel/dev-to/heartbeat?uuid=z&instanceid=one&heartbeat=1');
    await http(srv, '/v2/presence/sub-key/s/channel/dev-to/heartbeat?uuid=z&instanceid=two&heartbeat=60');
    await until(() => srv.presence.hereNow('dev-to').occupancy === 1 && srv.bus.buffers.get('dev-to-pnpres')?.some((x) => x.env.d.action === 'timeout'), 5000);
    assert.deepEqual(srv.presence.whereNow('z'), ['dev-to']);
    await http(srv, '/v2/presence/sub-key/s/channel/dev-to/leave?uuid=z&instanceid=two');
    assert.deepEqual(srv.presence.whereNow('z'), []);
  });
});
