// scripts/deploy --probe against the local runtime: with every capability on it finds nothing
// blocking; with each one switched off in turn (runtime switches, as the CLI flags set them) it
// names the Functions that cannot run and why, having seen only what PubNub would show — a
// missing global, a refused op, a refused upload. Every run removes what it created.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { startServer, ROOT } from './local-pubnub/helpers.mjs';
import { budgetOf, probe, verdict } from '../../js-shim/dev/deploy/probe.mjs';
import { readBundles } from '../../js-shim/dev/deploy/deploy.mjs';

const MANIFEST = path.join(ROOT, 'pkg/functions/manifest.json');
const KEY = 'admin-key-probe-test';
const ALL = readBundles(MANIFEST).map((b) => b.name);
const servers = [];
after(async () => {
  for (const s of servers) await s.close();
});

/** Probe a fresh runtime started with `opts`; also checks that nothing of the probe is left. */
async function probed(opts = {}) {
  const srv = await startServer({ adminApiKey: KEY, keysetId: '4242', ...opts });
  servers.push(srv);
  const lines = [];
  const out = await probe({ manifest: MANIFEST, origin: srv.url, apiKey: KEY, keysetId: '4242', liveWaitMs: 2000, log: (l) => lines.push(l) });
  assert.equal(srv.admin.packages.size, 0, 'the probe package is removed');
  assert.equal(srv.admin.deployments.size, 0, 'its deployment is removed');
  assert.equal(srv.functions.fns.length, 0, 'nothing stays hosted');
  return { ...out, text: lines.join('\n'), srv };
}
const blockedNames = (v) => [...v.blocked.keys()].sort();

test('every capability on: a verdict with nothing blocked, and the facts it found', async () => {
  const { verdict: v, findings: f, text } = await probed();
  assert.deepEqual(blockedNames(v), []);
  assert.match(text, /verdict: every Function can run on this keyset/);
  assert.equal(f.env.webAssembly, 'object');
  assert.equal(f.env.wasm.instantiated, true);
  assert.deepEqual([f.ops.kv.ok, f.ops.publish.ok, f.ops.api.ok], [10, 10, 10]);
  assert.equal(f.functions.accepted, true);
  assert.equal(f.interval.minAccepted, 1000);
  assert.equal(f.globals.persisted, true);
  assert.match(text, /op budget: 10 each/);
  assert.match(text, /concurrent executions seen in one replica: up to \d+/);
});

test('no WebAssembly: every Function is named, because the sandbox lacks the global', async () => {
  const { verdict: v, findings: f, text } = await probed({ noWebAssembly: true });
  assert.equal(f.env.webAssembly, 'undefined');
  assert.deepEqual(blockedNames(v), [...ALL].sort());
  assert.match(text, /- friend-acceptance: the sandbox has no WebAssembly/);
  assert.match(text, /what to change:\n {2}- WebAssembly: ask PubNub support/);
});

test('the older 3-ops-combined budget: found by the 4th op being refused; every Function is named, acceptance first', async () => {
  const { verdict: v, findings: f, text } = await probed({ opsLimit: 3 });
  assert.deepEqual([f.ops.kv.ok, f.ops.publish.ok, f.ops.api.ok], [3, 0, 0]);
  assert.deepEqual(blockedNames(v), [...ALL].sort());
  assert.match(text, /- friend-acceptance: the keyset enforces the older budget of 3 ops combined per execution; an acceptance needs 5 KV \+ 1 publish/);
  assert.match(text, /3 combined is not supported/);
});

test('a lower code size limit: the bundles whose upload is refused are named; the probe falls back to a smaller bundle', async () => {
  const sizes = readBundles(MANIFEST).map((b) => b.bytes).sort((a, b) => a - b);
  const limit = sizes[Math.floor(sizes.length / 2)]; // about half the bundles fit
  const { verdict: v, findings: f, text } = await probed({ maxFunctionBytes: limit });
  const over = readBundles(MANIFEST).filter((b) => b.bytes > limit).map((b) => b.name).sort();
  assert.ok(over.length > 0 && over.length < ALL.length);
  assert.deepEqual(blockedNames(v), over);
  assert.ok(f.env.wasm.instantiated, 'the sandbox was still probed');
  assert.match(text, /source was refused/);
  assert.match(text, /can run: /);
});

test('fewer Functions per package than the manifest has: the count accepted is found and every Function named', async () => {
  const { verdict: v, findings: f, text } = await probed({ maxFunctions: 4 });
  assert.deepEqual([f.functions.accepted, f.functions.max], [false, 4]);
  assert.deepEqual(blockedNames(v), [...ALL].sort());
  assert.match(text, /one package may hold at most 4 Functions here .*FAAS-1006/);
});

test('a longer shortest On Interval period: the On Interval Functions are named, with the setting to change', async () => {
  const { verdict: v, findings: f, text } = await probed({ minIntervalMs: 30000 });
  assert.equal(f.interval.minAccepted, 30000);
  const onInterval = readBundles(MANIFEST).filter((b) => b.type === 'ON_INTERVAL').map((b) => b.name).sort();
  assert.deepEqual(blockedNames(v), onInterval);
  assert.match(text, /On Interval: set onIntervalMs in deploy\/config\.json to 30000 or more/);
});

test('text codecs: absent by default (the bundles\' fallbacks round-trip), native with --text-codecs', async () => {
  const absent = await probed();
  assert.equal(absent.findings.env.textEncoder, 'undefined');
  assert.equal(absent.findings.env.codecRoundTrip, true);
  assert.match(absent.text, /TextEncoder absent, the bundles' fallback in use/);
  const native = await probed({ textCodecs: true });
  assert.equal(native.findings.env.textEncoder, 'function');
  assert.equal(native.findings.env.codecRoundTrip, true);
  assert.match(native.text, /TextEncoder native/);
  assert.deepEqual(blockedNames(native.verdict), []);
});

test('from the command line: scripts/local-pubnub --no-webassembly, then scripts/deploy --probe exits 1 with the verdict', { timeout: 60_000 }, async () => {
  const child = spawn(path.join(ROOT, 'scripts/local-pubnub'), ['--port', '0', '--quiet', '--admin-api-key', KEY, '--keyset-id', '77', '--no-webassembly'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise((resolve, reject) => {
      readline.createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`local-pubnub exited ${code}`)));
    });
    const out = await promisify(execFile)(path.join(ROOT, 'scripts/deploy'), ['--probe', '--origin', url, '--keyset-id', '77'], { cwd: ROOT, env: { ...process.env, PUBNUB_API_KEY: KEY } }).catch((e) => e);
    assert.equal(out.code, 1);
    assert.match(out.stdout, /verdict: 10 Functions cannot run on this keyset/);
    assert.match(out.stdout, /no WebAssembly/);
  } finally {
    child.kill('SIGTERM');
  }
});

test('verdict: a check the probe could not complete is reported as not determined, never as passed', () => {
  const bundles = readBundles(MANIFEST);
  const v = verdict({ upload: { ok: true }, unanswered: ['the op budget check: timed out'] }, bundles);
  assert.deepEqual(v.undetermined, ['the probe did not answer the op budget check: timed out']);
  assert.equal(v.blocked.size, 0);
  const refused = verdict({ upload: { ok: false, refused: ['probe.js (60000 bytes): HTTP 400'] } }, bundles);
  assert.match(refused.undetermined[0], /the probe Function itself was refused/);
  // A budget that is neither 10 each nor 3 combined blocks every Function, with the counts.
  const ops = { kv: { ok: 5, refused: 'x' }, publish: { ok: 10, refused: 'x' }, api: { ok: 10, refused: 'x' } };
  assert.equal(budgetOf(ops), 'other');
  assert.equal(verdict({ upload: { ok: true }, ops }, bundles).blocked.size, bundles.length);
});

test('globals that do not survive an execution, and executions that overlap: both are found, neither blocks a Function', async () => {
  const fresh = await probed({ freshModules: true });
  assert.equal(fresh.findings.globals.persisted, false);
  assert.equal(fresh.findings.globals.instances, 3);
  assert.match(fresh.text, /module globals did not persist over 3 calls \(3 module instances\): every execution compiles the wasm again/);
  assert.deepEqual(blockedNames(fresh.verdict), []);
  // Host calls that take 30 ms: the 8 simultaneous calls overlap in the one module instance.
  const slow = await probed({ wan: { clientMs: [0, 0], hostCallMs: [30, 30] } });
  assert.ok(slow.findings.concurrency.maxActive > 1, `overlap seen: ${slow.findings.concurrency.maxActive}`);
  assert.equal(slow.findings.concurrency.instances, 1);
  assert.deepEqual(blockedNames(slow.verdict), []);
});
