// CPU per execution and cold start of every deployable Function, with and without native
// TextEncoder/TextDecoder in the sandbox (PubNub documents neither). Each bundle runs in a bare
// vm context against the in-memory host, as in tests/node/; a cold start (evaluate the bundle,
// inflate and compile the wasm, instantiate, first execution) is timed in a fresh process each
// time, so no compiled code is reused. A plain JS handler making after-presence's host calls
// is the yardstick.
//
//   node --experimental-vm-modules scripts/bench.mjs [--runs 300] [--cold 7] [--phases] [--dir pkg/functions]
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import vm from 'node:vm';
import { buildSync } from 'esbuild';
import { loadFunction, trigger } from '../js-shim/dev/memory-host/load-function.mjs';
import { MemoryPubNub } from '../js-shim/dev/memory-host/memory.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
// Another build's bundles (e.g. main's, to compare): `--dir path/to/pkg/functions`.
const dir = arg('--dir', join(root, 'pkg/functions'));
const RUNS = Number(arg('--runs', 300));
const COLD = Number(arg('--cold', 7));
const T0 = Date.UTC(2026, 0, 1);

// The plain JS yardstick: the host calls after-presence makes for the same event, in the same
// order, deciding the same way (publish only on a change), with no wasm: the storm counter, a
// leave's whereNow, the user's metadata, then the metadata update (with the version) and the publish, and the
// operators' counters.
const PLAIN = `export default async (request) => {
  const pubnub = require('pubnub'); const kvstore = require('kvstore');
  const m = request.message; const online = m.action === 'join';
  await kvstore.incrCounter('storm:' + request.channels[0].split('-')[1] + ':' + Math.floor(Date.now() / 2500), 1);
  if (!online) await pubnub.whereNow({ uuid: m.uuid });
  const users = await pubnub.objects.getAllUUIDMetadata({ filter: 'id == "' + m.uuid + '"', include: { customFields: true }, limit: 100 });
  const u = users.data[0];
  const changed = u && u.custom.online !== online;
  if (changed) {
    const ts = new Date().toISOString();
    const payload = online ? { userId: m.uuid, name: u.name } : { userId: m.uuid, name: u.name, lastSeen: ts };
    // The user's record (with its next version) is written before the publish: docs/design.md §4.
    const version = (u.custom.version ?? 0) + 1;
    const custom = { ...u.custom, online, version, lastSeen: ts, [online ? 'lastOnline' : 'lastOffline']: ts, statusPublishedAt: Date.now() };
    await pubnub.objects.setUUIDMetadata({ uuid: m.uuid, data: { custom }, ifMatchesEtag: u.eTag });
    await pubnub.publish({ channel: 'status.' + m.uuid, message: { type: online ? 'friend.online' : 'friend.offline', schemaVersion: '1.0.0', eventId: 'evt_' + (online ? 'online_' : 'offline_') + m.uuid + '_' + Date.now(), ts, payload: { ...payload, version } } });
  }
  await kvstore.incrCounter('metric:presence.events.' + m.action, 1);
  if (changed) await kvstore.incrCounter('metric:status.published.slower', 1);
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
    // friends.sync.request is user-settings' now: friend-removal blocks and unblocks a non-friend in turn.
    'friend-removal': (i) => {
      const other = `u${41 + (Math.floor(i / 2) % 9)}`;
      return cmd('friend-management.u0', 'u0', i % 2 ? 'friend.unblock' : 'friend.block', { userA: 'u0', userB: other }, i);
    },
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

// `--phases`: where a cold start goes. Each run is a fresh process that evaluates the bundle as
// a script in a bare context and times the runtime's own steps one by one: evaluate; decode the
// first stage (JS base85); copy the payload into the stage, decode and inflate it (wasm);
// compile; instantiate; the first execution; a second. The steps are js-shim/function/runtime.js's
// exports, bundled by esbuild into the same context, so they run on the context's globals (the
// fallback codecs where it has no TextEncoder) and on the bundle's own payload.
const PHASES = ['evaluate', 'stage', 'inflate', 'compile', 'instantiate', 'first run', 'second run'];
if (process.argv[2] === '--phases-one') {
  const [, , , name, file, native, type] = process.argv;
  const { pn, next } = scenario(name);
  const context = vm.createContext({ console: { log() {}, info() {}, warn() {}, error() {} } });
  if (native === '1') Object.assign(context, { TextEncoder, TextDecoder });
  const source = readFileSync(file, 'utf8').replace(/^export default /m, 'globalThis.handler = ');
  const steps = buildSync({
    stdin: { contents: "export * from './js-shim/function/runtime.js'; export { drive } from './js-shim/function/driver.js';", resolveDir: root },
    bundle: true, format: 'iife', globalName: 'steps', target: 'es2020', write: false,
  }).outputFiles[0].text;
  const times = [];
  let t = performance.now();
  const step = async (code, extra) => {
    Object.assign(context, extra);
    await vm.runInContext(code, context);
    const now = performance.now();
    times.push(now - t);
    t = now;
  };
  await step(source);
  vm.runInContext(steps, context);
  t = performance.now();
  await step('globalThis.stageBytes = steps.decodeBase85(INFLATE_WASM, INFLATE_WASM_SIZE)');
  await step('globalThis.wasmBytes = steps.inflateWasm(WASM_DEFLATED, WASM_SIZE, stageBytes)');
  await step('globalThis.wasmCode = new WebAssembly.Module(wasmBytes)');
  await step('globalThis.core = steps.instantiate(wasmCode)');
  // As the handler runs it: an On Interval Function has no request.
  const run = `steps.drive(core, modules, steps.coreInput('${name}', request, SETTINGS))`;
  const request = (i) => (type === 'ON_INTERVAL' ? undefined : trigger(next(i)));
  await step(run, { modules: pn.execution(), request: request(0) });
  await step(run, { modules: pn.execution(), request: request(1) });
  process.stdout.write(times.join(' '));
  process.exit(0);
}

function phasesReport(functions) {
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const native of [true, false]) {
    console.log(`\nCold start by phase, ms (medians of ${COLD} fresh processes), ${native ? 'native TextEncoder/TextDecoder' : 'the bundle\'s fallbacks'}. Node ${process.version}.`);
    console.log(`${'function'.padEnd(20)}${PHASES.map((p) => pad(p, 12)).join('')}${pad('sum', 8)}`);
    for (const { name, file, type } of functions) {
      const runs = [];
      for (let k = 0; k < COLD; k++) {
        const out = execFileSync(process.execPath, ['--experimental-vm-modules', '--no-warnings', fileURLToPath(import.meta.url), '--phases-one', name, join(dir, file), native ? '1' : '0', type], { encoding: 'utf8' });
        runs.push(out.trim().split(' ').map(Number));
      }
      const med = PHASES.map((_, i) => median(runs.map((r) => r[i])));
      const sum = median(runs.map((r) => r.slice(0, 6).reduce((a, b) => a + b, 0)));
      console.log(`${name.padEnd(20)}${med.map((v) => pad(v.toFixed(2), 12)).join('')}${pad(sum.toFixed(2), 8)}`);
    }
  }
  console.log('sum: the median of evaluate … first run (the cold start without the harness\'s own setup).');
}

const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
const plainFile = join(mkdtempSync(join(tmpdir(), 'fp-bench-')), 'plain-js.js');
writeFileSync(plainFile, PLAIN);
const pad = (s, n) => String(s).padStart(n);

// `--only a,b`: just those Functions (and the yardstick).
const only = arg('--only', '') ? arg('--only', '').split(',') : null;
const chosen = manifest.functions.filter((f) => !only || only.includes(f.name));

if (process.argv.includes('--phases')) {
  phasesReport(chosen);
  process.exit(0);
}

/** The host calls (method paths) `name`'s first `n` executions make, in order. */
async function callsOf(name, file, n) {
  const { pn, next, tick } = scenario(name);
  const fn = await load(file, { native: true });
  const made = [];
  const record = (target, path) => new Proxy(target, {
    get(t, key) {
      const v = t[key];
      if (typeof v === 'function') return (...args) => { made.push(`${path}.${String(key)}`); return v.apply(t, args); };
      return v && typeof v === 'object' ? record(v, `${path}.${String(key)}`) : v;
    },
  });
  for (let i = 0; i < n; i++) {
    const ex = pn.execution();
    await fn.run(trigger(next(i)), { ...ex, pubnub: record(ex.pubnub, 'pubnub'), kvstore: record(ex.kvstore, 'kvstore') });
    made.push('|');
    tick();
  }
  return made.join(' ');
}

// The yardstick is fair only if it makes after-presence's calls: checked, not assumed.
{
  const wasm = await callsOf('after-presence', join(dir, 'after-presence.js'), 12);
  const plain = await callsOf('plain-js', plainFile, 12);
  if (wasm !== plain) {
    console.error(`the plain JS yardstick does not make after-presence's host calls:\n  after-presence: ${wasm}\n  plain-js:       ${plain}`);
    process.exit(1);
  }
}

// The yardstick first, so every row can say how many times it costs.
const rows = [['plain-js', plainFile], ...chosen.map((f) => [f.name, join(dir, f.file)])];
console.log(`Per Function: CPU µs per warm execution (mean of ${RUNS}) and cold start, wall and CPU ms (medians of ${COLD} fresh processes),`);
console.log('with the sandbox\'s native TextEncoder/TextDecoder and with the bundle\'s fallbacks; ×: times the plain JS handler\'s. Node ' + process.version + '.');
const half = `${pad('cpu µs', 8)}${pad('×', 5)}${pad('cold ms', 9)}${pad('×', 5)}${pad('(cpu)', 7)}${pad('×', 5)}`;
console.log(`${''.padEnd(20)}${pad('native text', 24)}${pad('', 15)}${pad('fallback text', 26)}`);
console.log(`${'function'.padEnd(20)}${half}   ${half}`);
let failed = false;
let plain;
// Measured first, the yardstick would pay for warming up the in-memory host's own code, which
// every later row gets warm: one discarded pass warms it.
await warm('plain-js', plainFile, true);
for (const [name, file] of rows) {
  const m = { n: await warm(name, file, true), f: await warm(name, file, false), cn: cold(name, file, true), cf: cold(name, file, false) };
  plain = plain || m;
  if (m.n.errors || m.f.errors) failed = true;
  const x = (v, base) => pad((v / base).toFixed(1), 5);
  const cols = (w, c, pw, pc) => `${pad(w.cpu.toFixed(0), 8)}${x(w.cpu, pw.cpu)}${pad(c.wall.toFixed(1), 9)}${x(c.wall, pc.wall)}${pad(c.cpu.toFixed(1), 7)}${x(c.cpu, pc.cpu)}`;
  console.log(`${name.padEnd(20)}${cols(m.n, m.cn, plain.n, plain.cn)}   ${cols(m.f, m.cf, plain.f, plain.cf)}${m.n.errors || m.f.errors ? '  (errors logged!)' : ''}`);
}
if (failed) { console.error('some executions failed: the numbers above are not of working handlers'); process.exit(1); }
