// Friend-command latency report (run through scripts/command-report): how long from a client's
// publish of a friend command until both sides are told, on the local PubNub runtime (in
// process, the built Functions) with real `pubnub` SDK clients, best run with `--wan`.
//
// Per run, fresh users A, B and C, each one SDK client subscribed to its own inbox.{id}:
//   request  A → B: B receives friend.request.received, A its friend.command.result;
//   accept   B accepts: A and B receive friend.added, B its result;
//   remove   A removes B: A and B receive friend.removed, A its result;
//   decline  A → C, then C declines: A receives friend.request.declined, C its result.
// Each command is timed from the publish call to the last of those receipts ("told"), and to
// the publisher's result alone. Runs go `--concurrency` at a time. The host calls of each
// command's execution come from the runtime's execution records (ops by kind, wall ms);
// its sequential rounds of host calls from the same bundles on the in-memory host.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import PubNub from 'pubnub10';
import { startLocalPubNub } from '../js-shim/dev/local-pubnub/index.mjs';
import { initSync, friendRequest, acceptRequest, declineRequest, removeFriend } from '../pkg/web/index.js';
import { createWorld } from './report-world.mjs';
import { percentile, teardown } from './report-lib.mjs';
import { COMMAND_REPORT as HELP } from './usage.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MANIFEST = path.join(ROOT, 'pkg/functions/manifest.json');
initSync({ module: fs.readFileSync(path.join(ROOT, 'pkg/web/friends_presence_bg.wasm')) });

const { values: v } = parseArgs({
  options: { runs: { type: 'string' }, concurrency: { type: 'string' }, wan: { type: 'boolean' }, 'timeout-ms': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
if (v.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const int = (name, dflt, min) => {
  if (v[name] === undefined) return dflt;
  const n = Number(v[name]);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} must be an integer >= ${min}\n\n${HELP}`);
    process.exit(2);
  }
  return n;
};
const runs = int('runs', 30, 1);
const concurrency = int('concurrency', 4, 1);
const timeoutMs = int('timeout-ms', 15000, 1);
const say = (s = '') => process.stdout.write(s + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ sequential rounds
// The same commands through the same bundles on the in-memory host: each execution's rounds
// of host calls (calls sent together count once), what --wan multiplies by a host call's delay.
async function roundsPerCommand() {
  const w = await createWorld();
  for (const id of ['a', 'b', 'c']) w.addUser(id, id);
  let n = 0;
  const run = async (build, publisher, x, y) => {
    const out = build(x, y, w.now(), ++n);
    const r = await w.clientPublish(out.channel, out.message, publisher);
    w.advance(1000);
    return r.executions.map((e) => `${e.name} ${e.rounds}`).join(' → ');
  };
  return {
    request: await run(friendRequest, 'a', 'a', 'b'),
    accept: await run(acceptRequest, 'b', 'a', 'b'),
    remove: await run(removeFriend, 'a', 'a', 'b'),
    decline: (await run(friendRequest, 'a', 'a', 'c'), await run(declineRequest, 'c', 'a', 'c')),
  };
}
const roundsOf = await roundsPerCommand();

// ------------------------------------------------------------------ runtime
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'friends-presence-commands-'));
const problems = [];
const srv = await startLocalPubNub({
  dataDir, fsync: false, functions: MANIFEST, wan: v.wan || undefined,
  log: (line) => {
    if (/ -> (error|timeout)|^\[fn:[^\]]*\] error:/.test(line)) problems.push(line);
  },
});
const clients = [];
const makeClient = (userId) => {
  const pn = new PubNub({ publishKey: 'pub-c-commands', subscribeKey: 'sub-c-commands', userId, origin: srv.origin, ssl: false });
  clients.push(pn);
  return pn;
};

// Receipts awaited: key `${inbox owner}|${type}|${other user or eventId}` → resolve(ms).
const waiters = new Map();
const arrived = new Map();
const keyOf = (owner, m) => {
  const p = m?.payload ?? {};
  return `${owner}|${m?.type}|${m?.type === 'friend.command.result' ? p.eventId : p.userId}`;
};
function receipt(key) {
  if (arrived.has(key)) return Promise.resolve(arrived.get(key));
  return new Promise((resolve) => {
    const timer = setTimeout(() => (waiters.delete(key), resolve(null)), timeoutMs);
    waiters.set(key, (at) => (clearTimeout(timer), resolve(at)));
  });
}
const results = new Map(); // eventId → payload of its friend.command.result

async function user(id) {
  const pn = makeClient(id);
  await new Promise((connected, fail) => {
    const t = setTimeout(() => fail(new Error(`${id} did not connect within 30 s`)), 30e3);
    pn.addListener({
      status: (s) => s.category === 'PNConnectedCategory' && (clearTimeout(t), connected()),
      message: (e) => {
        const at = performance.now();
        const key = keyOf(id, e.message);
        if (e.message?.type === 'friend.command.result') results.set(e.message.payload.eventId, e.message.payload);
        arrived.set(key, at);
        waiters.get(key)?.(at);
        waiters.delete(key);
      },
    });
    pn.subscribe({ channels: [`inbox.${id}`] });
  });
  return { id, pn };
}

let nonce = 0;
const samples = { request: [], accept: [], remove: [], decline: [] };
const sent = []; // {kind, channel, at}: to find each command's execution record
/** Publishes a command and waits for `notices` ([owner, type, other]) and the publisher's result. */
async function timed(kind, client, out, notices) {
  const waits = notices.map(([owner, type, other]) => receipt(`${owner}|${type}|${other}`));
  const result = receipt(`${client.id}|friend.command.result|${out.message.eventId}`);
  const t0 = performance.now();
  sent.push({ kind, channel: out.channel });
  await client.pn.publish({ channel: out.channel, message: out.message });
  const [resultAt, ...told] = await Promise.all([result, ...waits]);
  const ok = results.get(out.message.eventId)?.ok === true;
  const missed = [resultAt, ...told].filter((x) => x === null).length;
  samples[kind].push({ told: missed ? null : Math.max(resultAt, ...told) - t0, result: resultAt === null ? null : resultAt - t0, ok, missed });
}

async function run(r) {
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((x) => user(`cmd-${x}-${r}`)));
  const now = () => Date.now();
  await timed('request', a, friendRequest(a.id, b.id, now(), ++nonce), [[b.id, 'friend.request.received', a.id]]);
  await timed('accept', b, acceptRequest(a.id, b.id, now(), ++nonce), [[a.id, 'friend.added', b.id], [b.id, 'friend.added', a.id]]);
  await timed('remove', a, removeFriend(a.id, b.id, now(), ++nonce), [[a.id, 'friend.removed', b.id], [b.id, 'friend.removed', a.id]]);
  await timed('request', a, friendRequest(a.id, c.id, now(), ++nonce), [[c.id, 'friend.request.received', a.id]]);
  await timed('decline', c, declineRequest(a.id, c.id, now(), ++nonce), [[a.id, 'friend.request.declined', c.id]]);
}

try {
  say('friends-presence friend-command latency report (local-pubnub in process, Functions from pkg/functions/manifest.json, SDK pubnub 10)');
  say(`options: runs=${runs} concurrency=${concurrency} timeoutMs=${timeoutMs} wan=${v.wan ? 'on (client RTT 30-80 ms, host call 20-60 ms)' : 'off'}`);
  // Users exist in App Context before they befriend (the Functions read their names).
  const admin = makeClient('cmd-admin');
  for (let r = 0; r < runs; r++) {
    await Promise.all(['a', 'b', 'c'].map((x) => admin.objects.setUUIDMetadata({ uuid: `cmd-${x}-${r}`, data: { name: `User ${x}${r}` } })));
  }
  const t = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, runs) }, async () => {
    while (next < runs) await run(next++);
  }));
  const elapsed = performance.now() - t;
  while (srv.functions.inflight.size) await sleep(20);

  // Each command's execution: the records of its channel's Functions, in order of publish.
  const records = srv.functions.executions.filter((e) => /^friend-(requests|management)\./.test(e.target) && e.name !== 'user-settings');
  const byChannel = new Map();
  for (const e of records) {
    if (!byChannel.has(e.target)) byChannel.set(e.target, []);
    byChannel.get(e.target).push(e);
  }
  const ops = { request: [], accept: [], remove: [], decline: [] };
  for (const s of sent) {
    const e = byChannel.get(s.channel)?.shift();
    if (e) ops[s.kind].push(e);
  }

  say(`\n${runs} runs in ${(elapsed / 1000).toFixed(1)} s. ms from the publish call (p50 / p90 / p99 / max over the runs):`);
  say(`  ${'command'.padEnd(10)}${'n'.padStart(4)}${'both sides told'.padStart(28)}${'publisher\'s result'.padStart(28)}${'host calls'.padStart(12)}${'exec ms'.padStart(9)}  sequential rounds (in-memory host)`);
  const f = (xs) => {
    const s = xs.filter((x) => x !== null).sort((p, q) => p - q);
    return [50, 90, 99, 100].map((p) => (s.length ? Math.round(percentile(s, p)) : '-')).join(' / ');
  };
  let bad = 0;
  for (const kind of ['request', 'accept', 'decline', 'remove']) {
    const xs = samples[kind];
    bad += xs.filter((x) => !x.ok || x.missed).length;
    const e = ops[kind];
    const mean = (g) => (e.length ? e.reduce((n, x) => n + g(x), 0) / e.length : NaN);
    const calls = mean((x) => x.ops.api + x.ops.publish + x.ops.kv);
    const detail = e.length ? `${calls.toFixed(1)}` : '-';
    say(`  ${kind.padEnd(10)}${String(xs.length).padStart(4)}${f(xs.map((x) => x.told)).padStart(28)}${f(xs.map((x) => x.result)).padStart(28)}${detail.padStart(12)}${(e.length ? mean((x) => x.ms).toFixed(0) : '-').padStart(9)}  ${roundsOf[kind]}`);
  }
  for (const kind of ['request', 'accept', 'decline', 'remove']) {
    const e = ops[kind];
    if (!e.length) continue;
    const m = (k) => (e.reduce((n, x) => n + x.ops[k], 0) / e.length).toFixed(1);
    say(`  ${kind}: ${e[0].name}, mean host calls api ${m('api')} · publish ${m('publish')} · kv ${m('kv')} (${e.length} records)`);
  }
  const told = Object.values(samples).flat().map((x) => x.told).filter((x) => x !== null).sort((p, q) => p - q);
  const acceptTold = samples.accept.map((x) => x.told).filter((x) => x !== null).sort((p, q) => p - q);
  say(`\nmissed or refused: ${bad} commands; Function errors: ${problems.length}`);
  for (const line of problems.slice(0, 5)) say(`  ${line.slice(0, 300)}`);
  say(`accept → both sides told p50 ${Math.round(percentile(acceptTold, 50))} ms · p99 ${Math.round(percentile(acceptTold, 99))} ms; all commands p99 ${Math.round(percentile(told, 99))} ms`);
  if (bad || problems.length) process.exitCode = 1;
} finally {
  await teardown(clients, srv, dataDir);
}
process.exit(process.exitCode ?? 0);
