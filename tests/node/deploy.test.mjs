// scripts/deploy against the local runtime's Admin API (js-shim/local-pubnub/admin.mjs): the
// built bundles are uploaded as a package revision and deployed to the keyset, the runtime hosts
// what was uploaded, and the real-SDK end-to-end flow (e2e-flow.mjs) runs on it. Also: a second
// deploy of the same bundles changes nothing, changed bundles roll the deployment to a new
// revision, --dry-run sends nothing and hides the key, oversize bundles are refused before any
// request, a wrong key is refused, and --check reports the keyset against the checklist.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startServer, destroyAll, tmpDir, ROOT } from './local-pubnub/helpers.mjs';
import { friendsComeAndGo } from './e2e-flow.mjs';
import { deploy, MAX_BUNDLE_BYTES } from '../../js-shim/deploy/deploy.mjs';

const MANIFEST = path.join(ROOT, 'pkg/functions/manifest.json');
const KEY = 'admin-key-deploy-test';
const run = promisify(execFile);

/** scripts/deploy as a user runs it; resolves {code, stdout, stderr}. */
async function cli(args, env = {}) {
  try {
    const { stdout, stderr } = await run(path.join(ROOT, 'scripts/deploy'), args, { cwd: ROOT, env: { ...process.env, PUBNUB_API_KEY: '', ...env } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A copy of the manifest's bundles in a temp dir, `edit(name, code)` applied to each. */
function copyBundles(edit) {
  const dir = tmpDir('deploy-test-');
  const manifest = JSON.parse(fs.readFileSync(MANIFEST, 'utf8'));
  for (const f of manifest.functions) fs.writeFileSync(path.join(dir, f.file), edit(f.name, fs.readFileSync(path.join(path.dirname(MANIFEST), f.file), 'utf8')));
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  return path.join(dir, 'manifest.json');
}

const servers = [];
after(async () => {
  destroyAll();
  for (const s of servers) await s.close();
});
async function server(opts = {}) {
  const srv = await startServer({ adminApiKey: KEY, accountId: 'acct-1', keysetId: '4242', functionIntervalMs: 500, ...opts });
  servers.push(srv);
  return srv;
}
const target = (srv, extra = {}) => ({ manifest: MANIFEST, origin: srv.url, apiKey: KEY, accountId: 'acct-1', keysetId: '4242', log: () => {}, ...extra });

test('deploy to the local runtime, then friends see each other come and go on what was deployed', { timeout: 90_000 }, async () => {
  const srv = await server();
  assert.equal(srv.functions.fns.length, 0, 'nothing hosted before the deploy');
  const out = await cli(['--origin', srv.url, '--account-id', 'acct-1', '--keyset-id', '4242'], { PUBNUB_API_KEY: KEY });
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /created package .*\n[\s\S]*created revision|created package/);
  assert.match(out.stdout, /started deployment .*: RUNNING/);
  assert.ok(!out.stdout.includes(KEY), 'the key is never printed');
  const manifest = JSON.parse(fs.readFileSync(MANIFEST, 'utf8')).functions;
  const binding = (f) => [f.name, f.type, f.channels ?? null, f.intervalMs ?? null];
  assert.deepEqual(srv.functions.fns.map(binding), manifest.map(binding));
  for (const f of manifest) {
    const hosted = srv.functions.fns.find((x) => x.name === f.name);
    assert.equal(hosted.code, fs.readFileSync(path.join(path.dirname(MANIFEST), f.file), 'utf8'), `${f.name} runs the uploaded source`);
  }
  await friendsComeAndGo(srv, 'v11', 'deployed');
});

test('a second deploy of the same bundles adds nothing; changed bundles roll the deployment to a new revision', { timeout: 60_000 }, async () => {
  const srv = await server();
  const first = await deploy(target(srv));
  const again = await deploy(target(srv));
  assert.deepEqual(again, first);
  assert.equal(srv.admin.revisions.size, 1);
  assert.equal(srv.admin.deployments.size, 1);

  const changed = copyBundles((name, code) => (name === 'count-aggregator' ? code + '\n// v2\n' : code));
  const second = await deploy(target(srv, { manifest: changed }));
  assert.equal(second.packageId, first.packageId);
  assert.notEqual(second.revisionId, first.revisionId);
  assert.equal(second.deploymentId, first.deploymentId, 'a rolling update of the same deployment');
  assert.equal(second.state, 'RUNNING');
  assert.equal(srv.admin.revisions.size, 2);
  assert.ok(srv.functions.fns.find((f) => f.name === 'count-aggregator').code.endsWith('// v2\n'));
  await srv.functions.runInterval('count-aggregator'); // the new source runs
  assert.equal(srv.functions.executions.at(-1).result, 'ok');
});

test('--dry-run prints every request with the key redacted and sends nothing', async () => {
  const srv = await server();
  const out = await cli(['--dry-run', '--origin', srv.url, '--account-id', 'acct-1', '--keyset-id', '4242'], { PUBNUB_API_KEY: KEY });
  assert.equal(out.code, 0, out.stderr);
  assert.equal(srv.admin.requests.length, 0);
  assert.ok(!out.stdout.includes(KEY));
  assert.match(out.stdout, /Authorization: <redacted>/);
  assert.match(out.stdout, /PubNub-Version: 2025-11-15/);
  for (const line of ['GET ' + srv.url + '/v2/faas/packages?accountId=acct-1&name=friends-presence', 'POST ' + srv.url + '/v2/faas/packages',
    'POST ' + srv.url + '/v2/faas/package-revisions', 'POST ' + srv.url + '/v2/faas/package-deployments', 'PUT ' + srv.url + '/v2/faas/package-deployments/'])
    assert.ok(out.stdout.includes(line), `dry run shows ${line}`);
  assert.match(out.stdout, /"code": "<after-presence\.js: \d+ bytes, sha256 [0-9a-f]{16}…>"/);
  assert.match(out.stdout, /"keysetId": 4242/);
});

test('a bundle over 65,536 bytes is refused before anything is sent', async () => {
  const srv = await server();
  const fat = copyBundles((name, code) => (name === 'friend-removal' ? code + '/*' + 'x'.repeat(MAX_BUNDLE_BYTES - code.length) + '*/' : code));
  for (const args of [[], ['--dry-run']]) {
    const out = await cli([...args, '--manifest', fat, '--origin', srv.url, '--account-id', 'acct-1', '--keyset-id', '4242'], { PUBNUB_API_KEY: KEY });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /refusing to deploy: over PubNub's 65536-byte limit per Function: friend-removal\.js \(65540 bytes\)/);
    assert.doesNotMatch(out.stdout, /GET|POST/);
  }
  assert.equal(srv.admin.requests.length, 0);
  assert.equal(srv.functions.fns.length, 0);
  // The runtime refuses oversize code too, should another client send it.
  const res = await fetch(`${srv.url}/v2/faas/packages`, {
    method: 'POST',
    headers: { Authorization: KEY, 'PubNub-Version': '2025-11-15', 'Content-Type': 'application/json' },
    body: JSON.stringify({ accountId: 'acct-1', name: 'fat', functions: [{ name: 'f', language: 'JAVASCRIPT', type: 'AFTER_PUBLISH', code: 'x'.repeat(MAX_BUNDLE_BYTES + 1), config: { inputChannel: 'a.*' } }] }),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).errors[0].code, 'FAAS-400');
});

test('the Admin API needs the key and a PubNub-Version header', async () => {
  const srv = await server();
  const err = await deploy(target(srv, { apiKey: 'wrong' })).catch((e) => e);
  assert.equal(err.status, 401);
  assert.equal(err.body.errors[0].code, 'FAAS-401');
  assert.equal(srv.functions.fns.length, 0);
  const noVersion = await fetch(`${srv.url}/v2/faas/packages`, { headers: { Authorization: KEY } });
  assert.equal(noVersion.status, 400);
  const keyset = await fetch(`${srv.url}/v2/keysets/4242/config`, { headers: { Authorization: 'wrong', 'PubNub-Version': '2025-11-15' } });
  assert.equal(keyset.status, 401);
  assert.deepEqual((await keyset.json()).error, 'Unauthorized');
  const missing = await cli(['--origin', srv.url, '--account-id', 'acct-1', '--keyset-id', '4242']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /PUBNUB_API_KEY/);
});

test('--check: the keyset against the checklist, and the deployed Functions against the bundles', async () => {
  const good = await server({ secretKey: 'sec-c-deploy-test' });
  const args = (srv) => ['--check', '--origin', srv.url, '--account-id', 'acct-1', '--keyset-id', '4242'];
  const before = await cli(args(good), { PUBNUB_API_KEY: KEY });
  assert.equal(before.code, 1, 'nothing deployed yet');
  assert.match(before.stdout, /FAIL Functions: package friends-presence has no RUNNING deployment/);
  await deploy(target(good));
  const sent = good.admin.requests.length;
  const out = await cli(args(good), { PUBNUB_API_KEY: KEY });
  assert.equal(out.code, 0, out.stdout);
  for (const s of ['presence.deltas = true', 'presence.announceMax = 100', 'presence.interval = 10', 'streamController.channelGroupLimit = 2000',
    'appContext.disallowGetAllUserMetadata = false', 'accessManager.enabled = true', 'Functions: after-presence runs revision'])
    assert.ok(out.stdout.includes(`ok   ${s}`), s);
  assert.match(out.stdout, /not visible through the Admin API[\s\S]*presence\.shard-\*/);
  assert.ok(good.admin.requests.slice(sent).every((r) => r.method === 'GET'), '--check only reads');

  const bad = await server({ announceMax: 20, deltas: false }); // no secret key: Access Manager off
  const worse = await cli(args(bad), { PUBNUB_API_KEY: KEY });
  assert.equal(worse.code, 1);
  for (const s of ['presence.deltas = false', 'presence.announceMax = 20', 'accessManager.enabled = false']) assert.ok(worse.stdout.includes(`FAIL ${s}`), s);
});

test('the README keyset checklist shows every setting --check compares, with the same value', async () => {
  const { CHECKED } = await import('../../js-shim/deploy/keyset.mjs');
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Keyset checklist'), readme.indexOf('**Admin API shapes used**'));
  const shown = { true: /\| (on|\*\*unchecked\*\* \(`false`\)) \|/, false: /\| \*\*unchecked\*\* \(`false`\) \|/ };
  for (const [sec, field, want] of CHECKED) {
    const row = section.split('\n').find((l) => l.includes(`\`${sec}.${field}\``));
    assert.ok(row, `${sec}.${field} is in the checklist`);
    assert.ok(row.endsWith('| checked |'), `${sec}.${field} is marked checked`);
    if (typeof want === 'number') assert.ok(row.includes(`| ${want.toLocaleString('en-US')}`) || row.includes(`| ${want} `), `${sec}.${field} shows ${want}`);
    else if (field.startsWith('disallow')) assert.match(row, shown.false);
    else assert.match(row, shown[String(want)]);
  }
});
