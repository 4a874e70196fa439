// The operators' metrics end to end: the built Functions on the local runtime with Access
// Manager on, traffic from real SDK clients acting through their tokens (joins, leaves, a
// rejoin inside the debounce window, friendships made and one removed), and the snapshots on
// operators.metrics read with the operator token from the auth service. The snapshot must say
// what happened — events by type, status publishes (against what a status.* watcher saw),
// channel-group adds and removes and the groups in use — and no execution may exceed its op
// budget. A user token cannot read operators.metrics; a wrong operator key gets no token.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, client, connected, events, destroyAll, until, ROOT } from './local-pubnub/helpers.mjs';
import { command } from './commands.mjs';
import { AuthService } from '../../js-shim/dev/auth/service.mjs';
import { shardOf } from '../../js-shim/dev/demo/seed.mjs';

const MANIFEST = join(ROOT, 'pkg/functions/manifest.json');
const SECRET = 'sec-c-metrics';
const OPERATOR_KEY = 'operator-key-for-tests';

let srv;
after(async () => {
  destroyAll();
  await srv?.close();
});

test('the metrics snapshot on operators.metrics matches the traffic, within every op budget', { timeout: 90_000 }, async () => {
  srv = await startServer({ functions: MANIFEST, functionIntervalMs: 1000, secretKey: SECRET, publishKey: 'pub-c-test' });
  const admin = client('v11', srv, 'metrics-admin', { secretKey: SECRET });
  const auth = new AuthService({ pubnub: admin, operatorKey: OPERATOR_KEY });
  const ids = Array.from({ length: 8 }, (_, i) => `met${i}`);
  for (const id of ids) await admin.objects.setUUIDMetadata({ uuid: id, data: { name: id } });

  // What happened, as a server-side watcher of every status channel sees it.
  const watcher = client('v11', srv, 'metrics-watcher', { secretKey: SECRET });
  const statusSeen = events(watcher);
  watcher.subscribe({ channels: ['status.*'] });
  await connected(statusSeen);
  const statuses = () => statusSeen.seen.message.filter((m) => m.channel !== 'status.global' && /^friend\.(online|offline)$/.test(m.message?.type));

  // The operator's dashboard: a token for operators.metrics only.
  await assert.rejects(auth.operator('wrong key'), (e) => e.status === 401);
  const session = await auth.operator(OPERATOR_KEY);
  const granted = admin.parseToken(session.token).resources;
  assert.deepEqual(Object.keys(granted.channels), ['operators.metrics']);
  assert.deepEqual(Object.entries(granted.channels['operators.metrics']).filter(([, on]) => on).map(([r]) => r), ['read']);
  assert.ok(!granted.groups || Object.keys(granted.groups).length === 0);
  const operator = client('v11', srv, session.operatorId);
  operator.setToken(session.token);
  const dash = events(operator);
  operator.subscribe({ channels: [session.channel] });
  await connected(dash);
  const snapshots = () => dash.seen.message.filter((m) => m.message?.type === 'metrics.snapshot').map((m) => m.message.payload);

  // A user's token does not reach it.
  const users = {};
  for (const id of ids) {
    const pn = client('v11', srv, id, { presenceTimeout: 20 });
    pn.setToken((await auth.login(id)).token);
    users[id] = { pn, ev: events(pn) };
  }
  const snoop = client('v11', srv, ids[0]);
  snoop.setToken((await auth.login(ids[0])).token);
  const snoopEv = events(snoop);
  snoop.subscribe({ channels: ['operators.metrics'] });
  const denied = await snoopEv.next('status', (s) => s.category !== 'PNConnectedCategory', 5000);
  assert.equal(denied.error ?? denied.category, 'PNAccessDeniedCategory');
  snoop.unsubscribeAll();

  // Presence: 8 joins, published at once.
  const shard = (id) => `presence.shard-${shardOf(id)}`;
  for (const id of ids) users[id].pn.subscribe({ channels: [shard(id)] });
  await until(() => statuses().filter((m) => m.message.type === 'friend.online').length === 8, 10_000);
  // Past the debounce window: 3 leave, published at once; a 4th leaves and is back at once (a
  // return online is never held: docs/design.md §4), then leaves again inside the window
  // (debounced, then published by the settler).
  await new Promise((r) => setTimeout(r, 5_500));
  for (const id of ids.slice(0, 4)) users[id].pn.unsubscribe({ channels: [shard(id)] });
  await until(() => statuses().filter((m) => m.message.type === 'friend.offline').length === 4, 10_000);
  users[ids[3]].pn.subscribe({ channels: [shard(ids[3])] });
  await until(() => statuses().filter((m) => m.message.type === 'friend.online').length === 9, 10_000);
  users[ids[3]].pn.unsubscribe({ channels: [shard(ids[3])] });

  // Friends: 4-5, 6-7, 4-6 made (each answered and recounted), then 4-6 removed.
  const [, , , , a, b, c, d] = ids;
  const befriend = async (x, y, n) => {
    await users[x].pn.publish({ channel: `friend-requests.${x}`, message: command('friend.request', x, y, `mr${n}`).message });
    await users[y].pn.publish({ channel: `friend-requests.${y}`, message: command('friend.request.accepted', x, y, `ma${n}`).message });
  };
  const friendCount = async (id) => (await admin.objects.getUUIDMetadata({ uuid: id, include: { customFields: true } })).data.custom?.friendCount ?? 0;
  await befriend(a, b, 1);
  await befriend(c, d, 2);
  await until(async () => (await friendCount(b)) === 1 && (await friendCount(d)) === 1, 10_000);
  await befriend(a, c, 3);
  await until(async () => (await friendCount(a)) === 2 && (await friendCount(c)) === 2, 10_000);
  await users[a].pn.publish({ channel: `friend-management.${a}`, message: command('friend.remove', a, c, 'mx1').message });
  await until(async () => (await friendCount(a)) === 1 && (await friendCount(c)) === 1, 10_000);

  // The settler publishes the second leave; then a snapshot must agree with all of it.
  await until(() => statuses().length === 14, 20_000);
  const want = {
    'presence.events.join': 9,
    'presence.events.leave': 5,
    'presence.events.timeout': 0,
    'channelgroup.add': 6,
    'channelgroup.remove': 2,
    'channelgroup.groups': 4,
    'channelgroup.over1900': 0,
  };
  const agrees = (p) => {
    const published = ['1s', '2s', '5s', '15s', 'slower'].reduce((n, b) => n + p.totals[`status.published.${b}`], 0);
    return published === statuses().length && Object.entries(want).every(([k, v]) => p.totals[k] === v);
  };
  const last = await until(() => snapshots().find(agrees), 20_000).catch(() => {
    throw new Error(`no snapshot agrees with the traffic; the last: ${JSON.stringify(snapshots().at(-1))}`);
  });
  assert.equal(last.totals['presence.events.debounced'], 1, 'the second leave inside the window');
  assert.equal(last.totals['status.publish.errors'], 0);
  assert.equal(last.channelGroups.channels, 4);
  assert.equal(last.channelGroups.averageSize, 1);
  assert.ok(last.alerts.every((x) => !x.firing), JSON.stringify(last.alerts));
  assert.equal(last.globalCount.online, 4, 'four users present');
  // Joins published within the 2 s goal: the ≤ 1 s and ≤ 2 s buckets hold all of them (timestamps are whole seconds).
  assert.ok(last.totals['status.published.1s'] + last.totals['status.published.2s'] >= 12, JSON.stringify(last.totals));
  // Each snapshot counts what happened since the one before (the first: since the start), so
  // they add up to the totals.
  const all = snapshots();
  const upTo = all.slice(0, all.indexOf(last) + 1);
  assert.ok(upTo.length > 3 && upTo.slice(1).every((p) => p.intervalMs > 0));
  for (const [rate, total] of [['join', 'presence.events.join'], ['leave', 'presence.events.leave'], ['debounced', 'presence.events.debounced']]) {
    assert.equal(upTo.reduce((n, p) => n + p.presence[rate], 0), last.totals[total], rate);
  }
  assert.equal(upTo.reduce((n, p) => n + p.channelGroups.add, 0), 6);

  // No execution went over a budget.
  const over = srv.lines.filter((l) => /exceeds the limit|per-execution limit/.test(l));
  assert.deepEqual(over, []);
  for (const e of srv.functions.executions) {
    assert.ok(e.ops.api <= 10 && e.ops.publish <= 10 && e.ops.kv <= 10, `${e.name}: ${JSON.stringify(e.ops)}`);
  }
  const stages = srv.functions.executions.filter((e) => e.name === 'count-worker' && e.target === 'count-work.metrics');
  assert.ok(stages.length >= 2 && stages.every((e) => e.result === 'ok'), JSON.stringify(stages.slice(-2)));
});

test('a failed status publish is counted, raises the publish-error alert, and its retry is counted as published', { timeout: 60_000 }, async () => {
  await srv?.close();
  destroyAll();
  srv = await startServer({ functions: MANIFEST, functionIntervalMs: 1000 });
  const admin = client('v11', srv, 'metrics-admin-2');
  const ids = ['fault0', 'fault1', 'fault2'];
  for (const id of ids) await admin.objects.setUUIDMetadata({ uuid: id, data: { name: id } });
  const dash = events(admin);
  admin.subscribe({ channels: ['operators.metrics', 'status.*'] });
  await connected(dash);
  // The next after-presence execution's first publish fails, as PubNub's would (503).
  srv.functions.injectFaults({ fn: 'after-presence', failCall: 1, kind: 'publish' });
  const ran = () => srv.functions.executions.filter((e) => e.name === 'after-presence').length;
  for (const [i, id] of ids.entries()) {
    client('v11', srv, id).subscribe({ channels: [`presence.shard-${shardOf(id)}`] });
    await until(() => ran() === i + 1, 5000); // one join at a time: the fault hits fault0's
  }
  const snaps = () => dash.seen.message.filter((m) => m.message?.type === 'metrics.snapshot').map((m) => m.message.payload);
  const alerted = await until(() => snaps().find((p) => p.totals['status.publish.errors'] === 1 && p.alerts.find((a) => a.name === 'publish_errors').firing), 15_000);
  assert.ok(alerted.alerts.find((a) => a.name === 'publish_errors').value > 100, JSON.stringify(alerted.alerts));
  // The failed change was queued: the settler publishes it, and it is counted.
  await until(() => dash.seen.message.some((m) => m.channel === `status.${ids[0]}` && m.message.type === 'friend.online'), 20_000);
  const published = (p) => ['1s', '2s', '5s', '15s', 'slower'].reduce((n, b) => n + p.totals[`status.published.${b}`], 0);
  await until(() => snaps().some((p) => published(p) === 3 && p.totals['status.publish.errors'] === 1), 10_000);
  assert.deepEqual(srv.lines.filter((l) => /exceeds the limit|per-execution limit/.test(l)), []);
});
