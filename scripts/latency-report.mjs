// Latency report (run through scripts/latency-report): how long a friend waits for
// friend.online / friend.offline after a user's client subscribes to / leaves its presence shard.
//
// It starts the local PubNub runtime in this process (temp data dir, the built Functions from
// pkg/functions/manifest.json), seeds users and friendships through the real friend commands,
// subscribes one watcher client per user to its cg-friends-{id} group, and has one driver client
// per user subscribe to / unsubscribe from presence.shard-{N}. Every client is the real `pubnub`
// SDK. Each change is timed from the subscribe/unsubscribe call to each friend's receipt.
//
// The Functions publish a user's status at once only if the last publish was at least
// debounceMs ago; otherwise the presence-settler (On Interval) publishes it later. Changes of
// one user are therefore spaced by more than the debounce window (many users run in parallel),
// and receipts that came through the settler are reported apart.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import PubNub10 from 'pubnub10';
import PubNub11 from 'pubnub11';
import { startLocalPubNub } from '../js-shim/dev/local-pubnub/index.mjs';
import { loadSettings } from '../js-shim/settings.mjs';
import { initSync, friendRequest, acceptRequest } from '../pkg/web/index.js';
import { teardown } from './report-lib.mjs';
import { LATENCY_REPORT as HELP } from './usage.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MANIFEST = path.join(ROOT, 'pkg/functions/manifest.json');
initSync({ module: fs.readFileSync(path.join(ROOT, 'pkg/web/friends_presence_bg.wasm')) });
const SDKS = { 10: { PubNub: PubNub10, pkg: 'pubnub10' }, 11: { PubNub: PubNub11, pkg: 'pubnub11' } };

// ---------------------------------------------------------------- options
const { values: v } = parseArgs({
  options: {
    users: { type: 'string' }, friends: { type: 'string' }, changes: { type: 'string' }, sdk: { type: 'string' },
    'gap-ms': { type: 'string' }, 'jitter-ms': { type: 'string' }, 'timeout-ms': { type: 'string' }, 'function-interval-ms': { type: 'string' },
    'announce-max': { type: 'string' }, 'interval-sec': { type: 'string' }, 'drain-settle-queue': { type: 'boolean' }, 'no-fsync': { type: 'boolean' }, wan: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (v.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
function intOpt(name, def, min) {
  if (v[name] === undefined) return def;
  const n = Number(v[name]);
  if (!Number.isInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}`);
  return n;
}
function usage(msg) {
  process.stderr.write(`${msg}\n\n${HELP}`);
  process.exit(2);
}
const users = intOpt('users', 200, 3);
const friendsPer = intOpt('friends', Math.min(10, users - 1 - ((users - 1) % 2)), 2);
if (friendsPer % 2 || friendsPer >= users) usage('--friends must be even and smaller than --users');
const changes = intOpt('changes', 1000, 1);
const sdk = v.sdk ?? '10';
if (!SDKS[sdk]) usage('--sdk must be 10 or 11');
const timeoutMs = intOpt('timeout-ms', 20000, 1);
const functionIntervalMs = v['function-interval-ms'] === undefined ? undefined : intOpt('function-interval-ms', 0, 1);
// Presence defaults are the deployment's (deploy/config.json).
const deploy = loadSettings();
const announceMax = intOpt('announce-max', deploy.presence.announceMax, 0);
const intervalSec = intOpt('interval-sec', deploy.presence.intervalSec, 1);

// The debounce is compiled into the bundles (SETTINGS); read it rather than assume it.
const manifest = JSON.parse(fs.readFileSync(MANIFEST, 'utf8'));
const bundle = fs.readFileSync(path.join(path.dirname(MANIFEST), manifest.functions.find((f) => f.type === 'AFTER_PRESENCE').file), 'utf8');
const built = JSON.parse(/const SETTINGS = (\{[^}]*\});/.exec(bundle)?.[1] ?? '{}');
const debounceMs = Number(built.debounceMs);
const shardCount = Number(built.shardCount);
if (!Number.isFinite(debounceMs) || !Number.isFinite(shardCount)) throw new Error('cannot read debounceMs/shardCount from the after-presence bundle');
const manifestIntervals = [...new Set(manifest.functions.filter((f) => f.type === 'ON_INTERVAL').map((f) => f.intervalMs))].join('/');

// ---------------------------------------------------------------- population
// The seed's JS hashCode (UTF-16 code units, 32-bit wrap); shard = |hash| % shardCount (the bundle's).
function hashCode(str) {
  let hash = 0;
  for (let i = 0; i < str.length; i++) hash = ((hash << 5) - hash + str.charCodeAt(i)) | 0;
  return hash;
}
const shardOf = (id) => Math.abs(hashCode(id)) % shardCount;

const people = Array.from({ length: users }, (_, i) => {
  const id = `lat-user-${String(i).padStart(4, '0')}`;
  return { i, id, name: `User ${i}`, shard: `presence.shard-${shardOf(id)}`, friends: new Set() };
});
// A ring lattice: every user has exactly `friendsPer` friends and no pair repeats.
const pairs = [];
for (const p of people)
  for (let d = 1; d <= friendsPer / 2; d++) {
    const q = people[(p.i + d) % users];
    pairs.push([p, q]);
    p.friends.add(q.id);
    q.friends.add(p.id);
  }
const perShard = new Map();
for (const p of people) perShard.set(p.shard, (perShard.get(p.shard) ?? 0) + 1);
const maxShard = Math.max(...perShard.values());
// A shard whose occupancy can exceed announce max reports joins/leaves only in interval events.
const intervalMode = maxShard > announceMax;
const gapMs = intOpt('gap-ms', (intervalMode ? Math.max(debounceMs, intervalSec * 1000) : debounceMs) + 500, 0);
// Without jitter, each user's next change would land at the same point of the interval cycle
// as its last receipt (right after a tick), and every change would wait almost a full interval.
const jitterMs = intOpt('jitter-ms', intervalMode ? intervalSec * 1000 : 0, 0);

// ---------------------------------------------------------------- runtime
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'friends-presence-latency-'));
const problems = { errors: [], warnings: [] };
const srv = await startLocalPubNub({
  dataDir,
  fsync: !v['no-fsync'],
  functions: MANIFEST,
  functionIntervalMs,
  announceMax,
  intervalSec,
  wan: v.wan || undefined,
  // One line per execution: keep only failures and Function warnings for the summary.
  log: (line) => {
    if (/ -> (error|timeout)|^\[local-pubnub\]|^\[fn:[^\]]*\] error:/.test(line)) problems.errors.push(line);
    else if (/^\[fn:[^\]]*\] warn:/.test(line)) problems.warnings.push(line);
  },
});

/**
 * The observations the Functions deferred to the settler: every chunk of the settle queue in KV
 * (`settle:{slot}:{n}` → `{e: [{u: user, o: online, t: event ms}]}`, src/core/settle.rs; the
 * chunks live 60 min). A status message whose user, state and event time (`ts`) match one went
 * through the settler; any other was published directly by After Presence.
 */
function settleQueue() {
  const queued = new Set();
  let chunks = 0;
  // The settler's cursor (`settle:cursor` → {done: last slot handed out, partial: chunks of the
  // next slot handed out}) tells which chunks still wait for a settler run: the backlog.
  const cursor = srv.kv.get('settle:cursor');
  let backlog = 0;
  for (let page = srv.kv.keys(), last; page.length; last = page.at(-1), page = srv.kv.keys(last)) {
    for (const key of page) {
      const m = /^settle:(\d+):(\d+)$/.exec(key);
      if (!m) continue;
      chunks++;
      const [slot, n] = [Number(m[1]), Number(m[2])];
      if (!cursor || slot > cursor.done + 1 || (slot === cursor.done + 1 && n > (cursor.partial ?? 0))) backlog++;
      for (const o of srv.kv.get(key)?.e ?? []) queued.add(`${o.u}|${o.o ? 'friend.online' : 'friend.offline'}|${o.t}`);
    }
  }
  return { queued, chunks, backlog };
}

const { PubNub } = SDKS[sdk];
const sdkVersion = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', SDKS[sdk].pkg, 'package.json'), 'utf8')).version;
const clients = [];
function makeClient(userId) {
  const pn = new PubNub({ publishKey: 'pub-c-latency', subscribeKey: 'sub-c-latency', userId, origin: srv.origin, ssl: false });
  clients.push(pn);
  return pn;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Run `fn` over `items` with at most `n` in flight. */
async function pool(items, n, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}
/** Wait until no Function execution is running (After Publish handlers run after the reply). */
async function functionsIdle() {
  while (srv.functions.inflight.size) await sleep(20);
}
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
const say = (s) => process.stdout.write(s + '\n');

try {
  say(`friends-presence latency report (local-pubnub in process, Functions from pkg/functions/manifest.json)`);
  say(`options: users=${users} friends/user=${friendsPer} changes=${changes} sdk=pubnub ${sdkVersion} (v${sdk}) ` +
    `debounceMs=${debounceMs} shardCount=${shardCount} (from the bundle) gapMs=${gapMs} jitterMs=${jitterMs} timeoutMs=${timeoutMs} ` +
    `functionIntervalMs=${functionIntervalMs ?? `manifest (${manifestIntervals})`} announceMax=${announceMax} intervalSec=${intervalSec} fsync=${!v['no-fsync']} wan=${v.wan ? 'on (client RTT 30-80 ms, host call 20-60 ms)' : 'off'}`);
  say(`presence: up to ${maxShard} users per shard, so shard changes arrive as ${intervalMode ? 'interval events with deltas where a shard is above announce max (up to intervalSec late)' : 'individual join/leave events'}`);

  // ---------------------------------------------------------------- seed
  const admin = makeClient('lat-admin');
  let t = performance.now();
  await pool(people, 20, (p) => admin.objects.setUUIDMetadata({ uuid: p.id, data: { name: p.name } }));
  for (const p of people) p.driver = makeClient(p.id);
  // Commands as the web client core builds them ({channel, message}); the nonce keeps them apart.
  let nonce = 0;
  // Friendships through the friend commands, as clients make them: A requests, then B accepts.
  await pool(pairs, 20, ([a, b]) => a.driver.publish(friendRequest(a.id, b.id, Date.now(), ++nonce)));
  await functionsIdle();
  let missing = pairs;
  for (let round = 1; missing.length; round++) {
    if (round > 3) throw new Error(`${missing.length} friendships not established after 3 rounds of acceptances; first Function messages:\n${[...problems.errors, ...problems.warnings].slice(0, 10).join('\n')}`);
    await pool(missing, 20, ([a, b]) => b.driver.publish(acceptRequest(a.id, b.id, Date.now(), ++nonce)));
    await functionsIdle();
    // Check the result as a client of the channel-group API sees it.
    const linked = new Map();
    await pool(people, 20, async (p) => linked.set(p.id, new Set((await admin.channelGroups.listChannels({ channelGroup: `cg-friends-${p.id}` })).channels)));
    missing = pairs.filter(([a, b]) => !linked.get(a.id).has(`status.${b.id}`) || !linked.get(b.id).has(`status.${a.id}`));
  }
  say(`seeded: ${users} users, ${pairs.length} friendships through the friend commands (friend.request + friend.request.accepted) in ${secs(performance.now() - t)}`);
  if (v['drain-settle-queue']) {
    t = performance.now();
    while (settleQueue().backlog) await sleep(250);
    await functionsIdle();
    say(`settle queue drained in ${secs(performance.now() - t)}`);
  }
  say(`settle queue: ${settleQueue().backlog} chunks waiting for the settler when driving starts (a deferred status is settled after them)`);

  // ---------------------------------------------------------------- watchers
  const pending = new Map(); // userId → the change of that user whose receipts are awaited
  // Receipts and changes carry `key` (user|type|event time) to find their path in the settle queue.
  const receipts = []; // {kind, ms, key}
  const perChange = []; // {kind, ms (last friend) | null, key, missed}
  let strays = 0; // receipts no awaited change explains (late after a timeout, duplicates)
  let wrongType = 0; // the opposite status arrived while a change was awaited
  t = performance.now();
  await Promise.all(people.map((p) => {
    const watcher = makeClient(p.id);
    return new Promise((connected, fail) => {
      setTimeout(() => fail(new Error(`watcher ${p.id} did not connect within 30 s`)), 30e3).unref();
      watcher.addListener({
        status: (s) => s.category === 'PNConnectedCategory' && connected(),
        message: (m) => {
          const type = m.message?.type;
          if (type !== 'friend.online' && type !== 'friend.offline') return;
          const at = performance.now();
          const c = pending.get(m.message.payload?.userId);
          if (!c || !c.waiting.has(p.id)) return void strays++;
          if (type !== c.type) return void wrongType++;
          c.waiting.delete(p.id);
          const key = `${c.user}|${type}|${Date.parse(m.message.ts)}`;
          c.key ??= key;
          receipts.push({ kind: type, ms: at - c.t0, key });
          if (!c.waiting.size) c.done(at);
        },
      });
      watcher.subscribe({ channelGroups: [`cg-friends-${p.id}`] });
    });
  }));
  say(`watchers: ${users} clients subscribed to their cg-friends-{id} groups in ${secs(performance.now() - t)}`);

  // ---------------------------------------------------------------- drive
  // Every user alternates online/offline. User starts are staggered over one gap, and at least
  // one debounce window, so the load is even (a small --gap-ms must not start everyone at
  // once). The next change of a user waits for all friends' receipts (or the timeout), then
  // gapMs plus up to jitterMs.
  const stagger = Math.max(gapMs, debounceMs);
  const base = Math.floor(changes / users);
  t = performance.now();
  await Promise.all(people.map(async (p) => {
    const mine = base + (p.i < changes % users ? 1 : 0);
    await sleep((p.i / users) * stagger);
    let online = false;
    for (let j = 0; j < mine; j++) {
      if (j) await sleep(gapMs + Math.random() * jitterMs);
      const c = { user: p.id, type: online ? 'friend.offline' : 'friend.online', waiting: new Set(p.friends), key: undefined };
      const done = new Promise((r) => (c.done = r));
      pending.set(p.id, c);
      c.t0 = performance.now();
      if (online) p.driver.unsubscribe({ channels: [p.shard] });
      else p.driver.subscribe({ channels: [p.shard] });
      online = !online;
      const end = await Promise.race([done, sleep(timeoutMs).then(() => null)]);
      pending.delete(p.id);
      perChange.push({ kind: c.type, ms: end === null ? null : end - c.t0, key: c.key, missed: c.waiting.size });
    }
  }));
  const driveMs = performance.now() - t;
  await functionsIdle();

  // ---------------------------------------------------------------- report
  const { queued, chunks } = settleQueue();
  for (const x of [...receipts, ...perChange]) x.path = x.key === undefined ? 'none' : queued.has(x.key) ? 'settler' : 'direct';
  const pct = (sorted, p) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
  const row = (label, list) => {
    const ms = list.map((x) => x.ms).sort((a, b) => a - b);
    const f = (x) => (x === undefined ? '-' : Math.round(x)).toString().padStart(7);
    return `  ${label.padEnd(22)}${String(ms.length).padStart(7)}${f(pct(ms, 50))}${f(pct(ms, 90))}${f(pct(ms, 95))}${f(pct(ms, 99))}${f(ms[ms.length - 1])}`;
  };
  const table = (title, list) => {
    say(`\n${title}`);
    say(`  ${''.padEnd(22)}${'count'.padStart(7)}${'p50'.padStart(7)}${'p90'.padStart(7)}${'p95'.padStart(7)}${'p99'.padStart(7)}${'max'.padStart(7)}`);
    for (const route of ['direct', 'settler']) {
      const mine = list.filter((x) => x.path === route && x.ms !== null);
      if (!mine.length && route !== 'direct') continue;
      const tag = route === 'direct' ? '' : ` (${route})`;
      say(row(`online${tag}`, mine.filter((x) => x.kind === 'friend.online')));
      say(row(`offline${tag}`, mine.filter((x) => x.kind === 'friend.offline')));
      say(row(`all${tag}`, mine));
    }
  };
  const online = perChange.filter((c) => c.kind === 'friend.online').length;
  say(`\ndriven: ${perChange.length} presence changes (${online} online, ${perChange.length - online} offline) by ${users} driver clients on presence.shard-{N} in ${secs(driveMs)}`);
  table('latency per receipt, ms (subscribe/unsubscribe call -> a friend receives friend.online/offline via cg-friends-{id}):', receipts);
  table('latency per change, ms (until the last of the user\'s friends received it):', perChange);
  const byPath = (route) => perChange.filter((c) => c.path === route).length;
  say(`\npaths: ${byPath('direct')} changes published directly (After Presence), ${byPath('settler')} through the presence-settler ` +
    `(settle queue: ${chunks} chunks, ${queued.size} observations)`);
  const missedReceipts = perChange.reduce((n, c) => n + c.missed, 0);
  say(`missed: ${missedReceipts} receipts (${perChange.filter((c) => c.missed).length} changes) not received within ${timeoutMs} ms; ` +
    `${wrongType} opposite-status and ${strays} unmatched receipts while waiting`);
  say(`runtime: ${problems.errors.length} Function errors/timeouts, ${problems.warnings.length} Function warnings`);
  for (const line of [...problems.errors.slice(0, 5), ...problems.warnings.slice(0, 5)]) say(`  ${line.slice(0, 300)}`);
  // One line to compare runs by: p99 per receipt over both paths, and every receipt missed.
  const p99 = (kind) => {
    const ms = receipts.filter((x) => x.kind === kind && x.ms !== null).map((x) => x.ms).sort((a, b) => a - b);
    return ms.length ? Math.round(pct(ms, 99)) : '-';
  };
  say(`\nonline p99 ${p99('friend.online')} ms · offline p99 ${p99('friend.offline')} ms · missed ${missedReceipts}`);
  // Held by the debounce (through the settler) or not (published at once), per receipt, against
  // the bound of docs/design.md §4: debounce + 2.5 s slot + 1 s grace + 3 s hereNow cache + the
  // settler's period.
  const settlerMs = functionIntervalMs ?? manifest.functions.find((f) => f.name === 'presence-settler')?.intervalMs;
  const boundMs = debounceMs + 2500 + 1000 + 3000 + settlerMs;
  const pcts = (route) => {
    const ms = receipts.filter((x) => x.path === route && x.ms !== null).map((x) => x.ms).sort((a, b) => a - b);
    return ms.length ? `p95 ${Math.round(pct(ms, 95))} ms, p99 ${Math.round(pct(ms, 99))} ms, max ${Math.round(ms.at(-1))} ms (${ms.length})` : 'none';
  };
  say(`rate ${(perChange.length / (driveMs / 1000)).toFixed(1)} changes/s · not held: ${pcts('direct')} · held by the debounce: ${pcts('settler')}, bound ${boundMs} ms`);
} finally {
  await teardown(clients, srv, dataDir);
}
// SDK timers (retries, keep-alive agents) must not keep the report from ending.
process.exit(0);
