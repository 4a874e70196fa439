// Loads each generated pkg/functions/*.js as PubNub would and checks the basic path of each
// Function against in-memory `pubnub`/`kvstore` modules. Run: node --experimental-vm-modules --test tests/node/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFunction, trigger } from '../../js-shim/dev/memory-host/load-function.mjs';
import { command } from './commands.mjs';
import { FUNCTIONS_DIR, T0, fnFile, manifest as readManifest, memoryWorld } from './helpers.mjs';

const dir = FUNCTIONS_DIR;
const manifest = readManifest();

function world() {
  const w = memoryWorld();
  return { ...w, at: () => w.clock.now };
}

// Functions read the clock with Date.now() inside their own context; tests drive it.
let clock = () => T0;
const load = (file, opts = {}) => loadFunction(file, { now: () => clock(), ...opts });
async function withClock(w, body) {
  clock = w.at;
  return body();
}

// The state a handler can change. A refused friend command is still answered (a
// friend.command.result on its publisher's inbox, and the command's record): that is not state.
const snapshot = (pn) => JSON.stringify({
  kv: [...pn.kv].filter(([k]) => !k.startsWith('cmd:')), counters: [...pn.counters], users: [...pn.users],
  members: [...pn.members].map(([k, v]) => [k, [...v]]), groups: [...pn.groups].map(([k, v]) => [k, [...v]]),
  published: pn.published.filter((p) => p.message?.type !== 'friend.command.result'), fired: pn.fired,
});

/** The recounts friend commands fired, run by the recount worker. */
async function recount(w) {
  const worker = await load(fnFile('recount-worker'));
  while (w.pn.fired.length) {
    const { channel, message } = w.pn.fired.shift();
    await withClock(w, () => worker.run(trigger({ channels: [channel], message }), w.pn.execution()));
  }
}

test('manifest declares every Function with its trigger', () => {
  const byName = Object.fromEntries(manifest.functions.map((f) => [f.name, f]));
  assert.equal(byName['after-presence'].type, 'AFTER_PRESENCE');
  assert.equal(byName['after-presence'].channels, 'presence.*');
  assert.equal(byName['friend-acceptance'].channels, 'friend-requests.*');
  assert.equal(byName['friend-removal'].channels, 'friend-management.*');
  assert.equal(byName['count-aggregator'].type, 'ON_INTERVAL');
  assert.equal(byName['count-aggregator'].intervalMs, 10000);
});

test('each bundle is one ES module of at most 64 KB: export default first, no imports, only built-in requires, wasm inlined', () => {
  for (const f of manifest.functions) {
    const src = readFileSync(join(dir, f.file), 'utf8');
    const code = src.replace(/\/\/.*$/gm, '').trimStart();
    assert.match(code, /^export default async \(/, f.file);
    assert.equal((src.match(/^\s*export\s/gm) || []).length, 1, `${f.file}: exactly one export`);
    assert.doesNotMatch(src, /^\s*import\s[\s\S]*?from\s/m, `${f.file}: no import statements`);
    const required = [...src.matchAll(/require\('([^']+)'\)/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(required)].sort(), ['kvstore', 'pubnub'], f.file);
    // Deflated wasm in base85 (printable ASCII without `"` and `\`), decoded by the runtime.
    assert.match(src, /const WASM_DEFLATED = "[#-[\]-x]{1000,}"/, f.file);
    // PubNub's ~64 KB ceiling for a Function's source: a bundle over it cannot be deployed.
    assert.ok(Buffer.byteLength(src) <= 64 * 1024, `${f.file}: ${Buffer.byteLength(src)} bytes, over 64 KB`);
  }
});

test('after-presence: join publishes friend.online once, leave after the debounce friend.offline', async () => {
  const w = world();
  w.pn.addUser('alice', 'Alice', { statusMessage: 'Available' });
  const fn = await load(fnFile('after-presence'));
  const join = trigger({ channels: ['presence.shard-42'], message: { action: 'join', uuid: 'alice', occupancy: 1, timestamp: T0 / 1000 } });
  await withClock(w, () => fn.run(join, w.pn.execution()));
  assert.equal(w.pn.published.length, 1);
  const { channel, message } = w.pn.published[0];
  assert.equal(channel, 'status.alice');
  assert.equal(message.type, 'friend.online');
  assert.equal(message.schemaVersion, '1.0.0');
  assert.equal(message.eventId, `evt_online_alice_${T0}_1`, 'the time and the version (docs/design.md §4)');
  assert.equal(message.ts, '2026-01-01T00:00:00.000Z');
  assert.deepEqual(message.payload, { userId: 'alice', name: 'Alice', statusMessage: 'Available', version: 1 });
  const custom = w.pn.users.get('alice').custom;
  assert.equal(custom.online, true);
  assert.equal(custom.statusMessage, 'Available', 'fields we do not own survive the write');
  assert.equal(custom.lastOnline, '2026-01-01T00:00:00.000Z');

  await withClock(w, () => fn.run(join, w.pn.execution())); // duplicate event
  assert.equal(w.pn.published.length, 1, 'a duplicated join publishes nothing');

  w.advance(6000);
  const leave = trigger({ channels: ['presence.shard-42'], message: { action: 'leave', uuid: 'alice', occupancy: 0, timestamp: w.at() / 1000 } });
  await withClock(w, () => fn.run(leave, w.pn.execution()));
  assert.equal(w.pn.published.length, 2);
  assert.equal(w.pn.published[1].message.type, 'friend.offline');
  assert.equal(w.pn.published[1].message.payload.lastSeen, '2026-01-01T00:00:06.000Z');
  assert.equal(w.pn.users.get('alice').custom.online, false);
});

test('text crosses the wasm boundary intact both ways, with the sandbox\'s TextEncoder/TextDecoder and with the fallbacks', async () => {
  // App Context's answer goes into the wasm as an outcome; the publish comes out as a step.
  const name = 'Ålice 用户 😀';
  const statusMessage = 'Café ☕ «ok» \u2028 done';
  for (const nativeText of [false, true]) {
    const w = world();
    w.pn.addUser('alice', name, { statusMessage });
    const fn = await load(fnFile('after-presence'), { nativeText });
    const join = trigger({ channels: ['presence.shard-42'], message: { action: 'join', uuid: 'alice', occupancy: 1, timestamp: T0 / 1000 } });
    await withClock(w, () => fn.run(join, w.pn.execution()));
    assert.equal(w.pn.published.length, 1, `nativeText ${nativeText}`);
    assert.deepEqual(w.pn.published[0].message.payload, { userId: 'alice', name, statusMessage, version: 1 }, `nativeText ${nativeText}`);
    assert.deepEqual(fn.logs.filter((l) => l.level === 'error'), [], `nativeText ${nativeText}`);
  }
});

test('after-presence: interval deltas are handled, not only join/leave', async () => {
  const w = world();
  for (const id of ['u1', 'u2', 'u3']) w.pn.addUser(id, id.toUpperCase());
  const fn = await load(fnFile('after-presence'));
  const ev = trigger({ channels: ['presence.shard-7'], message: { action: 'interval', occupancy: 5000, timestamp: T0 / 1000, join: ['u1', 'u2'], timeout: ['u3'] } });
  w.pn.users.get('u3').custom = { online: true, lastOnline: '2025-12-31T00:00:00.000Z' };
  await withClock(w, () => fn.run(ev, w.pn.execution()));
  const got = w.pn.published.map((p) => `${p.channel} ${p.message.type}`).sort();
  assert.deepEqual(got, ['status.u1 friend.online', 'status.u2 friend.online', 'status.u3 friend.offline']);
});

async function befriend(w, acceptance) {
  w.pn.addUser('alice', 'Alice');
  w.pn.addUser('bob', 'Bob', { online: true });
  const cmd = (type, publisher, userA, userB, id) => trigger({
    channels: [`friend-requests.${publisher}`], params: { uuid: publisher },
    message: command(type, userA, userB, id, T0).message,
  });
  await withClock(w, () => acceptance.run(cmd('friend.request', 'alice', 'alice', 'bob', 'r1'), w.pn.execution()));
  return cmd;
}

test('friend-acceptance: request, then only the target accepts; groups, memberships, inbox notices', async () => {
  const w = world();
  const fn = await load(fnFile('friend-acceptance'));
  const cmd = await befriend(w, fn);
  assert.deepEqual(w.pn.published.map((p) => [p.channel, p.message.type, p.message.payload.userId ?? p.message.payload.ok]),
    [['inbox.bob', 'friend.request.received', 'alice'], ['inbox.alice', 'friend.command.result', true]]);

  const before = snapshot(w.pn);
  await withClock(w, () => fn.run(cmd('friend.request.accepted', 'alice', 'alice', 'bob', 'a0'), w.pn.execution()));
  assert.equal(snapshot(w.pn), before, 'the requester cannot accept its own request');
  assert.ok(fn.logs.some((l) => /rejected: publisher does not own this channel|only the requested user/.test(l.text)));

  await withClock(w, () => fn.run(cmd('friend.request.accepted', 'bob', 'alice', 'bob', 'a1'), w.pn.execution()));
  assert.deepEqual([...w.pn.groups.get('cg-friends-alice')], ['status.bob']);
  assert.deepEqual([...w.pn.groups.get('cg-friends-bob')], ['status.alice']);
  assert.equal(w.pn.members.get('friends.alice').get('bob').status, 'accepted');
  assert.equal(w.pn.members.get('friends.bob').has('alice'), true);
  await recount(w);
  assert.equal(w.pn.users.get('alice').custom.friendCount, 1);
  const result = w.pn.published.find((p) => p.message.type === 'friend.command.result' && p.message.payload.command === 'friend.request.accepted' && p.channel === 'inbox.bob');
  assert.deepEqual(result && [result.channel, result.message.payload.ok], ['inbox.bob', true]);
  const added = w.pn.published.filter((p) => p.message.type === 'friend.added');
  assert.deepEqual(added.map((p) => [p.channel, p.message.payload.userId, p.message.payload.online]).sort(),
    [['inbox.alice', 'bob', true], ['inbox.bob', 'alice', false]]);
  assert.ok(w.pn.published.every((p) => !p.channel.startsWith('status.')), 'nothing about friendships on status.*');
});

test('friend-removal: either friend removes; both groups and inboxes updated', async () => {
  const w = world();
  const acceptance = await load(fnFile('friend-acceptance'));
  const cmd = await befriend(w, acceptance);
  await withClock(w, () => acceptance.run(cmd('friend.request.accepted', 'bob', 'alice', 'bob', 'a1'), w.pn.execution()));
  const removal = await load(fnFile('friend-removal'));
  const remove = trigger({ channels: ['friend-management.bob'], params: { uuid: 'bob' },
    message: command('friend.remove', 'bob', 'alice', 'x1', T0 + 1000).message });
  await withClock(w, () => removal.run(remove, w.pn.execution()));
  assert.equal(w.pn.groups.get('cg-friends-alice').size, 0);
  assert.equal(w.pn.groups.get('cg-friends-bob').size, 0);
  assert.equal(w.pn.members.get('friends.alice').size, 0);
  await recount(w);
  assert.equal(w.pn.users.get('bob').custom.friendCount, 0);
  const removed = w.pn.published.filter((p) => p.message.type === 'friend.removed');
  assert.deepEqual(removed.map((p) => [p.channel, p.message.payload.userId]).sort(), [['inbox.alice', 'bob'], ['inbox.bob', 'alice']]);
});

test('user-settings: friends.sync.request loads the friends in parallel chains, online first, each exactly once', async () => {
  const w = world();
  w.pn.addUser('alice', 'Alice');
  w.pn.members.set('friends.alice', new Map());
  const n = 2300; // two channel groups: eight chains
  for (let i = 0; i < n; i++) {
    const id = `f${String(i).padStart(4, '0')}`;
    w.pn.addUser(id, `Friend ${i}`, { online: i % 4 === 0, lastSeen: '2026-01-01T00:00:00.000Z' });
    w.pn.members.get('friends.alice').set(id, { status: 'accepted', group: Math.floor(i / 2000) });
  }
  const settings = await load(fnFile('user-settings'));
  const ask = async (page, nonce, pages) => {
    const message = command('friends.sync.request', 'alice', page, nonce, T0 + 1000).message;
    message.payload.pages = pages;
    const id = message.eventId;
    const before = w.pn.published.length;
    await withClock(w, () => settings.run(trigger({ channels: ['friend-management.alice'], params: { uuid: 'alice' }, message }), w.pn.execution()));
    const out = w.pn.published.slice(before);
    assert.ok(out.every((p) => p.channel === 'inbox.alice' && p.message.type === 'friends.sync' && p.message.payload.requestId === id));
    assert.equal(out.at(-1).message.payload.more, undefined, 'the answer\'s last page says so');
    return out.map((p) => p.message.payload);
  };
  const [head, ...first] = await ask(null, 's0', 5);
  assert.equal(head.totalFriends, n);
  assert.equal(head.totalOnline, 575);
  assert.equal(head.chains.filter(Boolean).length, 8, 'two groups, four chains each');
  const seen = first.flatMap((p) => p.friends.map((f) => f.userId));
  assert.ok(first.every((p) => p.chain === 0), 'the first answer reads the first chain');
  assert.ok(first.flatMap((p) => p.friends).every((f) => f.online), 'group 0\'s online friends first');
  // Each chain on its own request (as parallel executions would), following its cursors.
  let requests = 1;
  for (const [chain, start] of head.chains.entries()) {
    let page = chain === 0 ? first.at(-1).next : start, seq = chain === 0 ? first.length : 0;
    while (page) {
      const pages = await ask(page, `s${++requests}`, 10);
      for (const p of pages) {
        assert.deepEqual([p.chain, p.seq], [chain, seq++], 'pages in order on their chain');
        seen.push(...p.friends.map((f) => f.userId));
      }
      page = pages.at(-1).next;
    }
  }
  assert.equal(seen.length, n, 'every friend exactly once');
  assert.equal(new Set(seen).size, n);
  assert.ok(requests <= 9, `${requests} requests`);
  // friend-removal, bound to the same channels, leaves the load to user-settings.
  const removal = await load(fnFile('friend-removal'));
  const before = w.pn.published.length;
  const req = trigger({ channels: ['friend-management.alice'], params: { uuid: 'alice' }, message: command('friends.sync.request', 'alice', null, 'r1', T0 + 1000).message });
  await withClock(w, () => removal.run(req, w.pn.execution()));
  assert.equal(w.pn.published.length, before);
  // Someone else cannot ask for Alice's list.
  const forged = trigger({ channels: ['friend-management.alice'], params: { uuid: 'mallory' },
    message: command('friends.sync.request', 'alice', null, 'm1', T0 + 1000).message });
  await withClock(w, () => settings.run(forged, w.pn.execution()));
  assert.deepEqual(w.pn.published.slice(before).map((p) => [p.channel, p.message.type, p.message.payload.ok, p.message.payload.reason]),
    [['inbox.mallory', 'friend.command.result', false, 'forbidden']], 'only mallory hears, and only that it is refused');
});

test('count-aggregator: status.count from shard occupancy', async () => {
  const w = world();
  w.pn.occupants.set('presence.shard-0', new Set(['a', 'b']));
  w.pn.occupants.set('presence.shard-99', new Set(['c']));
  const fn = await load(fnFile('count-aggregator'));
  await withClock(w, () => fn.run(trigger({}), w.pn.execution()));
  const [{ channel, message }] = w.pn.published;
  assert.equal(channel, 'status.global');
  assert.equal(message.type, 'status.count');
  assert.deepEqual(message.payload, { onlineCount: 3, deltaFromLast: 0, peakToday: 3, calculatedAt: '2026-01-01T00:00:00.000Z', shardsCounted: 100 });
  w.pn.occupants.get('presence.shard-0').delete('a');
  w.advance(10000);
  await withClock(w, () => fn.run(trigger({}), w.pn.execution()));
  assert.equal(w.pn.published[1].message.payload.onlineCount, 2);
  assert.equal(w.pn.published[1].message.payload.deltaFromLast, -1);
  assert.equal(w.pn.published[1].message.payload.peakToday, 3);
});

test('malformed input: every Function returns normally, logs a reason, changes nothing', async () => {
  const bad = [
    { channels: ['presence.shard-1'], message: { action: 'join', uuid: 'a,b' } },
    { channels: ['presence.shard-1'], message: 'not an object' },
    { channels: ['presence.shard-1'], message: { action: 'join' } },
    { channels: [], message: null },
    { channels: ['friend-requests.eve'], params: { uuid: 'eve' }, message: { type: 'friend.request', payload: { userA: 'eve' } } },
    { channels: ['friend-requests.eve'], params: { uuid: 'mallory' }, message: { type: 'friend.request', schemaVersion: '1.0.0', eventId: 'e', ts: 'x', payload: { userA: 'eve', userB: 'bob' } } },
    { channels: ['friend-management.eve'], params: {}, message: [1, 2, 3] },
    { message: { type: 'presence.work', hop: 9 } },
  ];
  for (const f of manifest.functions.filter((f) => f.type !== 'ON_INTERVAL')) {
    const fn = await load(join(dir, f.file));
    for (const fields of bad) {
      const w = world();
      w.pn.addUser('bob', 'Bob');
      const before = snapshot(w.pn);
      const result = await withClock(w, () => fn.run(trigger(fields), w.pn.execution()));
      assert.deepEqual(result, { ok: true }, `${f.file} returned ok`);
      assert.equal(snapshot(w.pn), before, `${f.file} changed state on ${JSON.stringify(fields)}`);
    }
    assert.ok(fn.logs.some((l) => l.level !== 'info' && /rejected|ignored|not a presence shard/.test(l.text)) || fn.logs.some((l) => /ignored/.test(l.text)), `${f.file} logged a reason`);
  }
});

test('without WebAssembly a Function logs one clear error and returns normally', async () => {
  const fn = await load(fnFile('after-presence'), { withoutWebAssembly: true });
  const w = world();
  const result = await fn.run(trigger({ channels: ['presence.shard-1'], message: { action: 'join', uuid: 'a' } }), w.pn.execution());
  assert.deepEqual(result, { ok: true });
  assert.equal(w.pn.published.length, 0);
  assert.ok(fn.logs.some((l) => l.level === 'error' && /has no WebAssembly/.test(l.text)));
});

// The same property as tests/core/fuzz.rs, through the built bundles: malformed-by-construction
// inputs (random JSON whose strings are never valid ids, or a valid message with a breaking
// mutation) make every Function return normally, log a reason, and change nothing.
test('fuzz: 2,000 malformed inputs per Function (14,000 in all) through the bundles change nothing and log a reason', async () => {
  let seed = 0x2545f491;
  const rand = (n) => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
  const pick = (xs) => xs[rand(xs.length)];
  const badString = () => { const parts = ['a', 'Z', '9', '.', 'é', '用', '😀', '\u0000', 'presence.shard-']; let s = ''; for (let i = rand(8); i > 0; i--) s += pick(parts); return s + pick([',', ':', ' ', '*', '/']); };
  const keys = ['action', 'uuid', 'join', 'leave', 'timeout', 'type', 'hop', 'shard', 'observations', 'u', 'o', 't', 'schemaVersion', 'eventId', 'ts', 'payload', 'userA', 'userB', 'page'];
  const words = ['join', 'leave', 'interval', 'presence.work', 'friend.request', 'friend.request.accepted', 'friend.remove', 'friends.sync.request', '1.0.0'];
  const randomJson = (depth = 0) => {
    switch (rand(depth > 3 ? 5 : 7)) {
      case 0: return null;
      case 1: return rand(2) === 0;
      case 2: return rand(2000001) - 1000000;
      case 3: return 1.5;
      case 4: return badString();
      case 5: return Array.from({ length: rand(4) }, () => randomJson(depth + 1));
      default: {
        const o = {};
        for (let i = rand(6); i > 0; i--) { const k = pick(keys); o[k] = ['action', 'type', 'schemaVersion'].includes(k) && rand(2) ? pick(words) : randomJson(depth + 1); }
        return o;
      }
    }
  };
  // A value that breaks the field it replaces (event ids only refuse ':' and emptiness).
  const broken = (k) => k === 'eventId' ? pick([undefined, null, -1, [], {}, '', 'a:b']) : pick([undefined, null, -1, [], {}, badString()]);
  const inputs = {
    'after-presence': () => {
      if (rand(3) === 0) return { channels: [rand(5) ? 'presence.shard-3' : badString()], message: randomJson() };
      const ev = { action: pick(['join', 'leave', 'timeout']), uuid: 'bob', occupancy: 1, timestamp: T0 / 1000 };
      ev.uuid = broken();
      return { channels: ['presence.shard-3'], message: ev };
    },
    'presence-worker': () => {
      if (rand(3) === 0) return { channels: ['presence-work.3'], message: randomJson() };
      const item = { type: 'presence.work', hop: 1, shard: 3, observations: [{ u: 'bob', o: true, t: T0 }] };
      const k = pick(['type', 'hop', 'shard', 'u', 'o', 't']);
      if (['u', 'o', 't'].includes(k)) item.observations[0][k] = broken(); else item[k] = k === 'hop' ? 3 + rand(5) : broken();
      return { channels: ['presence-work.3'], message: item };
    },
    'reconcile-worker': () => {
      if (rand(3) === 0) return { channels: ['reconcile-work.3'], message: randomJson() };
      const item = { type: 'reconcile.work', hop: 1, scan: { s: 3, a: 'bob' } };
      const k = pick(['type', 'hop', 'scan', 's', 'a']);
      if (k === 's' || k === 'a') item.scan[k] = k === 's' ? pick([undefined, null, -1, [], {}, badString(), 1e7]) : badString(); else item[k] = k === 'hop' ? 3 + rand(5) : broken();
      return { channels: ['reconcile-work.3'], message: item };
    },
    'recount-worker': () => {
      if (rand(3) === 0) return { channels: ['recount-work.jobs'], message: randomJson() };
      const item = { type: 'recount.work', hop: 1, jobs: [1] };
      const k = pick(['type', 'hop', 'jobs']);
      item[k] = k === 'hop' ? 3 + rand(5) : k === 'jobs' ? pick([[], [1, 2, 3, 4, 5], [-1], ['x'], null, {}, badString()]) : broken();
      return { channels: ['recount-work.jobs'], message: item };
    },
    'friend-acceptance': () => {
      const msg = { type: pick(['friend.request', 'friend.request.declined']), schemaVersion: '1.0.0', eventId: 'e1', ts: '2026-01-01T00:00:00.000Z', payload: { userA: 'alice', userB: 'bob' } };
      if (rand(3) === 0) return { channels: ['friend-requests.alice'], params: { uuid: 'alice' }, message: randomJson() };
      const k = pick(['type', 'schemaVersion', 'eventId', 'userA', 'userB', 'publisher']);
      if (k === 'publisher') return { channels: ['friend-requests.alice'], params: { uuid: 'mallory' }, message: msg };
      if (k.startsWith('user')) msg.payload[k] = broken(k); else msg[k] = broken(k);
      return { channels: ['friend-requests.alice'], params: { uuid: 'alice' }, message: msg };
    },
    'friend-removal': () => {
      const msg = { type: pick(['friend.remove', 'friends.sync.request']), schemaVersion: '1.0.0', eventId: 'e1', ts: '2026-01-01T00:00:00.000Z', payload: { userA: 'alice', userB: 'bob' } };
      if (rand(3) === 0) return { channels: ['friend-management.alice'], params: { uuid: 'alice' }, message: randomJson() };
      const k = pick(['type', 'schemaVersion', 'eventId', 'userA', 'publisher']);
      if (k === 'publisher') return { channels: ['friend-management.alice'], params: { uuid: 'mallory' }, message: msg };
      if (k === 'userA') msg.payload.userA = broken(k); else msg[k] = broken(k);
      return { channels: ['friend-management.alice'], params: { uuid: 'alice' }, message: msg };
    },
    'user-settings': () => {
      const msg = { type: 'user.settings', schemaVersion: '1.0.0', eventId: 'e1', ts: '2026-01-01T00:00:00.000Z', payload: { userA: 'alice', invisible: true } };
      if (rand(3) === 0) return { channels: ['friend-management.alice'], params: { uuid: 'alice' }, message: randomJson() };
      const k = pick(['type', 'schemaVersion', 'eventId', 'userA', 'invisible', 'statusMessage', 'publisher']);
      if (k === 'publisher') return { channels: ['friend-management.alice'], params: { uuid: 'mallory' }, message: msg };
      if (k === 'invisible') msg.payload.invisible = pick([null, 1, 'yes', [], {}]);
      else if (k === 'statusMessage') { delete msg.payload.invisible; msg.payload.statusMessage = pick([1, true, [], {}, 'x'.repeat(101 + rand(50))]); }
      else if (k === 'userA') msg.payload.userA = broken(k); else msg[k] = broken(k);
      return { channels: ['friend-management.alice'], params: { uuid: 'alice' }, message: msg };
    },
  };
  for (const [name, make] of Object.entries(inputs)) {
    const fn = await load(fnFile(name));
    const w = world();
    w.pn.addUser('alice', 'Alice');
    w.pn.addUser('bob', 'Bob');
    const before = snapshot(w.pn);
    for (let i = 0; i < 2000; i++) {
      const fields = make();
      const logsBefore = fn.logs.length;
      const result = await withClock(w, () => fn.run(trigger(fields), w.pn.execution()));
      assert.deepEqual(result, { ok: true }, `${name} case ${i}`);
      assert.equal(snapshot(w.pn), before, `${name} case ${i} changed state on ${JSON.stringify(fields)}`);
      const said = fn.logs.slice(logsBefore);
      assert.ok(said.some((l) => l.level !== 'info' || /ignored|rejected/.test(l.text)), `${name} case ${i}: no logged reason for ${JSON.stringify(fields)}: ${JSON.stringify(said)}`);
    }
  }
});
