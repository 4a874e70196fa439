// Counts exact under host faults (issue 20, finding 8): 12 users send every friend command at
// once on the local runtime (real SDK, the runtime's real scheduler), 10 % of every Function's
// host calls failing the whole time, each command re-sent with its eventId until answered.
// Every command must be answered; then one more removal whose recounts all die (a crash of the
// recount worker: its count is lost for good unless the heal sweep's second recount makes it up);
// then, within the bound docs/design.md states ("Friendships that heal themselves"), every pair is
// whole or absent, each friends group holds exactly the user's friends, and every friendCount
// equals the user's friends — with the faults still on and no recount asked for by the test. Scaled for CI: the On Interval period (settler,
// count-aggregator and its heal sweep) is 500 ms, a deployment setting, and clients re-send every
// 500 ms instead of 5 s; the fault rate is the issue's.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, client, destroyAll, ROOT } from './local-pubnub/helpers.mjs';
import { loadSettings } from '../../js-shim/settings.mjs';
import init, { connectFriends } from '../../pkg/web/index.js';

const MANIFEST = path.join(ROOT, 'pkg/functions/manifest.json');
const PERIOD_MS = 500;
// A journal is looked at 30-60 s after it was opened plus up to two periods in the sweep's
// queue (core::heal HEAL_AFTER_MS), then healed or recounted: a fault on that path is retried
// by the next period's sweep.
const BOUND_MS = 2 * 30_000 + 4 * PERIOD_MS + 15_000;
const { shardCount } = loadSettings();
await init();

let srv;
after(async () => {
  destroyAll();
  await srv?.close();
});

/** Memberships, groups and counts: `null` when every pair is whole or absent, each group holds the user's friends and every friendCount is exact; else what is not. */
async function broken(admin, users) {
  const members = new Map();
  for (const u of users) {
    const m = (await admin.objects.getChannelMembers({ channel: `friends.${u}`, include: { customFields: true } })).data.map((x) => x.uuid.id);
    members.set(u, new Set(m));
  }
  const wrong = [];
  for (const u of users) {
    for (const f of members.get(u)) if (!members.get(f)?.has(u)) wrong.push(`${u} lists ${f}, not the other way`);
    const grouped = (await admin.channelGroups.listChannels({ channelGroup: `cg-friends-${u}` })).channels.sort();
    const want = [...members.get(u)].map((f) => `status.${f}`).sort();
    if (JSON.stringify(grouped) !== JSON.stringify(want)) wrong.push(`cg-friends-${u} holds [${grouped}], friends [${want}]`);
    const custom = (await admin.objects.getUUIDMetadata({ uuid: u, include: { customFields: true } })).data.custom ?? {};
    if ((custom.friendCount ?? 0) !== members.get(u).size) wrong.push(`${u}: friendCount ${custom.friendCount} with ${members.get(u).size} friends`);
  }
  return wrong.length ? wrong.join('; ') : null;
}

/** Two users who are friends (by their memberships). */
async function onePair(admin, users) {
  for (const u of users) {
    for (const m of (await admin.objects.getChannelMembers({ channel: `friends.${u}` })).data) {
      const back = (await admin.objects.getChannelMembers({ channel: `friends.${m.uuid.id}` })).data;
      if (back.some((b) => b.uuid.id === u)) return [u, m.uuid.id];
    }
  }
  throw new Error('no friendship left after the traffic');
}

/**
 * 30 commands per user, 360 in all, in three waves of every user at once: requests to all 11
 * others (both ways per pair); answers to the requests received (accept, decline, or a cancel
 * of one's own request) in a pattern where both users of a pair often accept each other at
 * once; then removals, blocks, unblocks and new requests across the friendships made.
 */
function waves(users) {
  const n = users.length;
  const others = (i) => users.filter((_, j) => j !== i);
  const first = users.flatMap((u, i) => others(i).map((v) => [u, 'request', v]));
  const second = users.flatMap((u, i) =>
    users.flatMap((v, j) => {
      if (i === j) return [];
      const k = (i + j) % 3;
      return [[u, k === 0 ? 'decline' : k === 1 ? 'accept' : 'cancel', v]];
    }),
  );
  const third = users.flatMap((u, i) =>
    [1, 2, 3, 4, 5, 6, 7, 8].map((d) => {
      const v = users[(i + d) % n];
      return [u, ['remove', 'remove', 'block', 'request', 'unblock', 'remove', 'accept', 'request'][d - 1], v];
    }),
  );
  return [first, second, third];
}

test('12 users, every friend command at once, 10 % host faults, re-sent until answered, a lost recount: all answered, then pairs whole, groups and counts exact within the bound', { timeout: 170_000 }, async () => {
  srv = await startServer({ functions: MANIFEST, functionIntervalMs: PERIOD_MS, faults: { rate: 0.1, seed: Number(process.env.CF_SEED ?? 2020) } });
  const admin = client('v11', srv, 'counts-admin');
  const users = Array.from({ length: 12 }, (_, i) => `cf${String(i).padStart(2, '0')}`);
  for (const u of users) await admin.objects.setUUIDMetadata({ uuid: u, data: { name: u } });
  const conns = new Map();
  for (const u of users) {
    const pubnub = client('v11', srv, u);
    conns.set(u, await connectFriends({ pubnub, userId: u, shardCount, online: false, answerTimeoutMs: PERIOD_MS, attempts: 400 }));
  }
  const started = Date.now();
  let answered = 0;
  const outcomes = new Map();
  for (const wave of waves(users)) {
    const results = await Promise.all(wave.map(([u, cmd, v]) => conns.get(u)[cmd](v)));
    for (const r of results) {
      assert.equal(typeof r.ok, 'boolean', JSON.stringify(r));
      const key = r.ok ? 'ok' : r.reason;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
    answered += results.length;
  }
  assert.equal(answered, 360);
  const injected = srv.functions.faults.injected;
  assert.ok(injected > 200, `faults injected: ${injected}`);
  // A recount that is lost for good: one more removal, while every recount-worker execution
  // dies at its first call (a crash: nothing is re-queued), so neither user is recounted by
  // the command's own chain. Only the heal sweep's second recount can make their counts exact.
  const [x, y] = await onePair(admin, users);
  const crashes = Array.from({ length: 20 }, () => ({ fn: 'recount-worker', crashAfter: 0 }));
  for (const c of crashes) srv.functions.injectFaults(c);
  const removed = await conns.get(x).remove(y);
  assert.equal(removed.ok, true, JSON.stringify(removed));
  await new Promise((r) => setTimeout(r, 3000)); // the recounts it fired have run (and died)
  const dead = srv.functions.faults.targeted.filter((t) => t.exec !== null).length;
  srv.functions.faults.targeted.length = 0;
  assert.ok(dead > 0, 'the removal fired recounts, and they died');
  const lastAnswer = Date.now();
  for (const c of conns.values()) c.close();
  const atAnswers = await broken(admin, users);
  console.log(`# ${answered} answers in ${lastAnswer - started} ms, then ${x} removed ${y} with ${dead} recount executions crashed (${[...outcomes].map(([k, v]) => `${k} ${v}`).join(', ')}); ${injected} faults injected`);
  console.log(`# when the last answer arrived: ${atAnswers ?? 'all whole and exact'}`);
  // The faults stay on: whatever they cut off or lost must converge by the Functions alone.
  let last = atAnswers;
  while (last !== null && Date.now() - lastAnswer < BOUND_MS) {
    await new Promise((r) => setTimeout(r, 1000));
    last = await broken(admin, users);
  }
  const friends = (await Promise.all(users.map((u) => admin.objects.getChannelMembers({ channel: `friends.${u}` })))).reduce((s, r) => s + r.data.length, 0) / 2;
  console.log(`# ${friends} friendships; checked ${Date.now() - lastAnswer} ms after the last answer: ${last ?? 'whole and exact'} (${srv.functions.faults.injected} faults injected in all)`);
  assert.equal(last, null, `within ${BOUND_MS} ms of the last answer`);
  // Nothing still under way undoes it (every command was answered: no journal is left open).
  await new Promise((r) => setTimeout(r, 3 * PERIOD_MS));
  assert.equal(await broken(admin, users), null, 'and it stays so');
});
