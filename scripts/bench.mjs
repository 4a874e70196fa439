// CPU per execution and cold start of every deployable Function, with and without native
// TextEncoder/TextDecoder in the sandbox (PubNub documents neither). Each bundle runs in a bare
// vm context against the in-memory host, as in tests/node/; a cold start (evaluate the bundle,
// inflate and compile the wasm, instantiate, first execution) is timed in a fresh process each
// time, so no compiled code is reused. A plain JS handler making after-presence's host calls
// is the yardstick.
//
//   node --experimental-vm-modules scripts/bench.mjs [--runs 300] [--cold 7]
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { loadFunction, trigger } from '../js-shim/host/load-function.mjs';
import { MemoryPubNub } from '../js-shim/host/memory.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'pkg/functions');
const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? Number(process.argv[i + 1]) : dflt; };
const RUNS = arg('--runs', 300);
const COLD = arg('--cold', 7);
const T0 = Date.UTC(2026, 0, 1);

// The plain JS yardstick: after-presence's host calls for one join, no wasm.
const PLAIN = `export default async (request) => {
  const pubnub = require('pubnub'); const kvstore = require('kvstore');
  const m = request.message;
  await kvstore.incrCounter('storm:' + request.channels[0] + ':' + Math.floor(Date.now() / 2500), 1);
  const users = await pubnub.objects.getAllUUIDMetadata({ filter: 'id == "' + m.uuid + '"', include: { customFields: true } });
  const u = users.data[0];
  await pubnub.publish({ channel: 'status.' + m.uuid, message: { type: 'friend.online', schemaVersion: '1.0.0', eventId: 'evt_online_' + m.uuid + '_' + Date.now(), ts: new Date().toISOString(), payload: { userId: m.uuid, name: u.name } } });
  await pubnub.objects.setUUIDMetadata({ uuid: m.uuid, data: { custom: { ...u.custom, online: true, lastOnline: new Date().toISOString() } }, ifMatchesEtag: u.eTag });
  return request.ok();
};`;

/** A world for `name` and a function giving the i-th execution's trigger. */
function scenario(name) {
  const pn = new MemoryPubNub();
  let now = T0;
  pn.now = () => now;
  const cmd = (channel, publisher, type, payload, i) => ({
    channels: [channel], params: { uuid: publisher },
    message: { type, schemaVersion: '1.0.0', eventId: `e${i}`, ts: '2026-01-01T00:00:00.000Z', payload },
  });
  for (let i = 0; i < 50; i++) pn.addUser(`u${i}`, `User ${i}`, { online: i % 2 === 0, shardId: 7 });
  const friendsOfU0 = new Map();
  for (let i = 0; i < 40; i++) friendsOfU0.set(`u${i + 1}`, { status: 'accepted', addedAt: '2026-01-01T00:00:00.000Z', group: 0 });
  pn.members.set('friends.u0', friendsOfU0);
  const join = (i) => ({ channels: [`presence.shard-${i % 100}`], message: { action: i % 4 < 2 ? 'join' : 'leave', uuid: `u${i % 50}`, occupancy: 1, timestamp: Math.floor(now / 1000) } });
  const next = {
    'after-presence': join,
    'plain-js': join,
    'presence-worker': (i) => ({ channels: ['presence-work.7'], message: { type: 'presence.work', hop: 1, shard: 7, chunks: [], observations: Array.from({ length: 8 }, (_, k) => ({ u: `u${(i + k) % 50}`, o: (i + k) % 2 === 0, t: now - 1000 })) } }),
    'presence-settler': () => ({}),
    'reconcile-worker': () => ({ channels: ['reconcile-work.scan'], message: { type: 'reconcile.work', hop: 1, scan: { s: 7 } } }),
    'recount-worker': (i) => ({ channels: ['recount-work.jobs'], message: { type: 'recount.work', hop: 1, users: [`u${i % 50}`, `u${(i + 1) % 50}`] } }),
    // A new pair every time (i < 2,401), never from u0 (whose friends are seeded): a repeated
    // request, or one between friends, would measure its refusal.
    'friend-acceptance': (i) => {
      const a = 1 + (Math.floor(i / 49) % 49), b = (a + 1 + (i % 49)) % 50;
      return cmd(`friend-requests.u${a}`, `u${a}`, 'friend.request', { userA: `u${a}`, userB: `u${b}` }, i);
    },
    'friend-removal': (i) => cmd('friend-management.u0', 'u0', 'friends.sync.request', { userA: 'u0' }, i),
    'user-settings': (i) => cmd('friend-management.u0', 'u0', 'user.settings', { userA: 'u0', statusMessage: `s${i}` }, i),
    'count-aggregator': () => ({}),
    'count-worker': (i) => ({ channels: ['count-work.0'], message: { type: 'count.work', hop: 2, slot: 0, lo: (i % 20) * 1000, hi: (i % 20) * 1000 + 1000 } }),
  }[name];
  return { pn, next, tick: () => { now += 700; } };
}

async function load(file, { native }) {
  const fn = await loadFunction(file, { now: () => Date.now(), nativeText: native });
  return fn;
}

/** CPU µs per warm execution (user + system, averaged over RUNS). */
async function warm(name, file, native) {
  const { pn, next, tick } = scenario(name);
  const fn = await load(file, { native });
  for (let i = 0; i < 20; i++) { await fn.run(trigger(next(i)), pn.execution()); tick(); }
  const start = process.cpuUsage();
  for (let i = 0; i < RUNS; i++) { await fn.run(trigger(next(i + 20)), pn.execution()); tick(); }
  const used = process.cpuUsage(start);
  const bad = fn.logs.filter((l) => (l.level === 'error' && /failed|trap/.test(l.text)) || /rejected:/.test(l.text));
  if (bad.length && process.env.BENCH_DEBUG) console.error(name, bad.slice(0, 3).map((l) => l.text));
  const errors = bad.length;
  return { cpu: (used.user + used.system) / RUNS, errors };
}

/**
 * Cold start in a fresh process: evaluate, compile, instantiate, first execution. Medians of
 * wall ms and of CPU ms (all the process's threads): on a busy machine the wall time includes
 * waiting for a core, the CPU time does not.
 */
function cold(name, file, native) {
  const wall = [], cpu = [];
  for (let k = 0; k < COLD; k++) {
    const out = execFileSync(process.execPath, ['--experimental-vm-modules', '--no-warnings', fileURLToPath(import.meta.url), '--cold-one', name, file, native ? '1' : '0'], { encoding: 'utf8' });
    const [w, c] = out.trim().split(' ').map(Number);
    wall.push(w);
    cpu.push(c);
  }
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { wall: median(wall), cpu: median(cpu) };
}

if (process.argv[2] === '--cold-one') {
  const [, , , name, file, native] = process.argv;
  const { pn, next } = scenario(name);
  const t = performance.now();
  const c = process.cpuUsage();
  const fn = await load(file, { native: native === '1' });
  await fn.run(trigger(next(0)), pn.execution());
  const used = process.cpuUsage(c);
  process.stdout.write(`${performance.now() - t} ${(used.user + used.system) / 1000}`);
  process.exit(0);
}

const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
const plainFile = join(mkdtempSync(join(tmpdir(), 'fp-bench-')), 'plain-js.js');
writeFileSync(plainFile, PLAIN);
const rows = [...manifest.functions.map((f) => [f.name, join(dir, f.file)]), ['plain-js', plainFile]];
const pad = (s, n) => String(s).padStart(n);
console.log(`Per Function: CPU µs per warm execution (mean of ${RUNS}) and cold start, wall and CPU ms (medians of ${COLD} fresh processes),`);
console.log('with the sandbox\'s native TextEncoder/TextDecoder and with the bundle\'s fallbacks. Node ' + process.version + '.');
console.log(`${''.padEnd(20)}${pad('native text', 26)}${pad('fallback text', 29)}`);
console.log(`${'function'.padEnd(20)}${pad('cpu µs', 9)}${pad('cold ms', 9)}${pad('(cpu)', 8)}${pad('cpu µs', 12)}${pad('cold ms', 9)}${pad('(cpu)', 8)}`);
let failed = false;
for (const [name, file] of rows) {
  const n = await warm(name, file, true);
  const f = await warm(name, file, false);
  const cn = cold(name, file, true);
  const cf = cold(name, file, false);
  if (n.errors || f.errors) failed = true;
  const row = [pad(n.cpu.toFixed(0), 9), pad(cn.wall.toFixed(1), 9), pad(cn.cpu.toFixed(1), 8), pad(f.cpu.toFixed(0), 12), pad(cf.wall.toFixed(1), 9), pad(cf.cpu.toFixed(1), 8)];
  console.log(`${name.padEnd(20)}${row.join('')}${n.errors || f.errors ? '  (errors logged!)' : ''}`);
}
if (failed) { console.error('some executions failed: the numbers above are not of working handlers'); process.exit(1); }
