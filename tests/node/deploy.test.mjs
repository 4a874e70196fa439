// scripts/deploy against the local runtime's Admin API (js-shim/dev/local-pubnub/admin.mjs): the
// built bundles are uploaded as a package revision and deployed to the keyset, the runtime hosts
// what was uploaded, and the real-SDK end-to-end flow (e2e-flow.mjs) runs on it. Also: a second
// deploy of the same bundles changes nothing, changed bundles roll the keyset onto a new
// deployment (PUT …/function-deployments {newPackageDeploymentId}) and --rollback rolls it back,
// --dry-run shows PubNub's shapes and sends nothing, the old shapes are refused with PubNub's
// envelopes, oversize bundles are refused before any request, a wrong key is refused, errors
// name the flag or the host, --configure writes the keyset and --check reads only what PubNub
// returns.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startServer, destroyAll, tmpDir, ROOT } from './local-pubnub/helpers.mjs';
import { friendsComeAndGo } from './e2e-flow.mjs';
import { configure, deploy, rollback, FAAS_VERSION, KEYSET_VERSION, MAX_BUNDLE_BYTES } from '../../js-shim/dev/deploy/deploy.mjs';

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
  const srv = await startServer({ adminApiKey: KEY, keysetId: '4242', functionIntervalMs: 500, ...opts });
  servers.push(srv);
  return srv;
}
const target = (srv, extra = {}) => ({ manifest: MANIFEST, origin: srv.url, apiKey: KEY, keysetId: '4242', log: () => {}, ...extra });
/** An Admin API request as any client would send it. */
const admin = (srv, method, p, body, version = FAAS_VERSION) =>
  fetch(srv.url + p, { method, headers: { Authorization: KEY, 'PubNub-Version': version, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

test('deploy to the local runtime, then friends see each other come and go on what was deployed', { timeout: 90_000 }, async () => {
  const srv = await server();
  assert.equal(srv.functions.fns.length, 0, 'nothing hosted before the deploy');
  const out = await cli(['--origin', srv.url, '--keyset-id', '4242'], { PUBNUB_API_KEY: KEY });
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /created package .*\n[\s\S]*created revision|created package/);
  assert.match(out.stdout, /started deployment /);
  assert.match(out.stdout, /deployment .*: RUNNING/);
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

test('a second deploy adds nothing; changed bundles roll the keyset onto a new deployment; --rollback rolls back', { timeout: 60_000 }, async () => {
  const srv = await server({ adminPageSize: 1 }); // one item per page: every list is paged through
  const first = await deploy(target(srv));
  const again = await deploy(target(srv));
  assert.deepEqual(again, first);
  assert.equal(srv.admin.revisions.size, 1);
  assert.equal(srv.admin.deployments.size, 1);
  const original = srv.functions.fns.find((f) => f.name === 'count-aggregator').code;

  const changed = copyBundles((name, code) => (name === 'count-aggregator' ? code + '\n// v2\n' : code));
  const sent = srv.admin.requests.length;
  const second = await deploy(target(srv, { manifest: changed }));
  assert.equal(second.packageId, first.packageId);
  assert.notEqual(second.revisionId, first.revisionId);
  assert.notEqual(second.deploymentId, first.deploymentId, 'a rolling update onto a deployment made first');
  assert.equal(second.state, 'RUNNING');
  const calls = srv.admin.requests.slice(sent).map((r) => `${r.method} ${r.path}`);
  assert.ok(calls.includes(`PUT /v2/faas/package-deployments/${first.deploymentId}/function-deployments`), calls.join('\n'));
  assert.ok(calls.includes(`DELETE /v2/faas/package-deployments/${first.deploymentId}`), 'the replaced deployment is removed');
  assert.deepEqual([...srv.admin.deployments.values()].map((d) => [d.id, d.state]), [[second.deploymentId, 'RUNNING']]);
  assert.ok(srv.functions.fns.find((f) => f.name === 'count-aggregator').code.endsWith('// v2\n'));
  await srv.functions.runInterval('count-aggregator'); // the new source runs
  assert.equal(srv.functions.executions.at(-1).result, 'ok');

  const out = await cli(['--rollback', '--origin', srv.url, '--keyset-id', '4242'], { PUBNUB_API_KEY: KEY });
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, new RegExp(`rollback: keyset 4242 runs fp-\\w+; back to ${srv.admin.revisions.get(first.revisionId).name}`));
  const running = [...srv.admin.deployments.values()].filter((d) => d.state === 'RUNNING');
  assert.deepEqual(running.map((d) => d.packageRevisionId), [first.revisionId]);
  assert.equal(srv.functions.fns.find((f) => f.name === 'count-aggregator').code, original, 'the previous source runs again');
  const none = await rollback(target(srv)).catch((e) => e);
  assert.match(none.message, /is the package's oldest: there is no previous revision/);
});

test('--dry-run prints PubNub\'s requests (function-deployments, no accountId) with the key redacted, and sends nothing', async () => {
  const srv = await server();
  const out = await cli(['--dry-run', '--origin', srv.url, '--keyset-id', '4242'], { PUBNUB_API_KEY: KEY });
  assert.equal(out.code, 0, out.stderr);
  assert.equal(srv.admin.requests.length, 0);
  assert.ok(!out.stdout.includes(KEY));
  assert.match(out.stdout, /Authorization: <redacted>/);
  assert.match(out.stdout, new RegExp(`PubNub-Version: ${FAAS_VERSION}`));
  assert.doesNotMatch(out.stdout, /accountId|\/start\b/);
  for (const line of [
    `GET ${srv.url}/v2/faas/packages?search=friends-presence&page=0&size=100`,
    `POST ${srv.url}/v2/faas/packages\n`,
    `POST ${srv.url}/v2/faas/package-revisions\n`,
    `POST ${srv.url}/v2/faas/package-deployments\n`,
    `PUT ${srv.url}/v2/faas/package-deployments/{runningDeploymentId}/function-deployments\n`,
    `POST ${srv.url}/v2/faas/package-deployments/{newDeploymentId}/function-deployments\n`,
  ])
    assert.ok(out.stdout.includes(line), `dry run shows ${line}`);
  assert.match(out.stdout, /"newPackageDeploymentId": "\{newDeploymentId\}"/);
  assert.match(out.stdout, /"code": "<after-presence\.js: \d+ bytes, sha256 [0-9a-f]{16}…>"/);
  assert.match(out.stdout, /"keysetId": 4242/);
});

test('the local Admin API refuses the shapes PubNub does not define, with PubNub\'s envelopes', async () => {
  const srv = await server();
  const fn = { name: 'f', language: 'JAVASCRIPT', type: 'AFTER_PUBLISH', sortOrder: 0, code: 'export default (r) => r.ok();', config: { type: 'AFTER_PUBLISH', inputChannel: 'a.*' } };
  const faasError = async (res, status, pattern) => {
    assert.equal(res.status, status);
    const body = await res.json();
    assert.deepEqual(Object.keys(body).sort(), ['errors', 'meta']);
    assert.match(body.errors[0].code, /^FAAS-\d+$/);
    assert.match(body.errors[0].message, pattern);
  };
  await faasError(await admin(srv, 'POST', '/v2/faas/packages', { accountId: 'acct-1', name: 'p', revisionName: 'r', functions: [fn] }), 400, /unknown field accountId/);
  await faasError(await admin(srv, 'GET', '/v2/faas/packages?accountId=acct-1&name=p'), 400, /Unknown query parameter accountId/);
  const pkg = (await (await admin(srv, 'POST', '/v2/faas/packages', { name: 'p', revisionName: 'r', functions: [fn] })).json()).data;
  const [rev] = (await (await admin(srv, 'GET', `/v2/faas/packages/${pkg.id}/package-revisions`)).json()).data;
  const dep = (await (await admin(srv, 'POST', '/v2/faas/package-deployments', { packageRevisionId: rev.id, keysetId: 4242 })).json()).data;
  await faasError(await admin(srv, 'POST', `/v2/faas/package-deployments/${dep.id}/start`), 404, /No such Admin API endpoint/);
  await faasError(await admin(srv, 'PUT', `/v2/faas/package-deployments/${dep.id}`, { packageRevisionId: rev.id }), 404, /No such Admin API endpoint/);
  assert.equal((await admin(srv, 'POST', `/v2/faas/package-deployments/${dep.id}/function-deployments`)).status, 200);
  await faasError(await admin(srv, 'PUT', `/v2/faas/package-deployments/${dep.id}/function-deployments`, { packageRevisionId: rev.id }), 400, /unknown field packageRevisionId/);
  await faasError(await admin(srv, 'DELETE', `/v2/faas/packages/${pkg.id}`), 409, /running deployments/);
  // Keyset configuration is written with PATCH; errors are {statusCode, error, message: [..]}.
  const put = await admin(srv, 'PUT', '/v2/keysets/4242/config', { presence: { deltas: true } }, KEYSET_VERSION);
  assert.equal(put.status, 405);
  assert.equal((await put.json()).error, 'MethodNotAllowed');
  const bad = await admin(srv, 'PATCH', '/v2/keysets/4242/config', { presence: { announceMax: 500, interval: 5 }, bogus: {} }, KEYSET_VERSION);
  assert.equal(bad.status, 400);
  const why = await bad.json();
  assert.equal(why.statusCode, 400);
  assert.equal(why.message.length, 3, why.message.join('; '));
  assert.equal((await (await admin(srv, 'GET', '/v2/keysets/4242/config', undefined, KEYSET_VERSION)).json()).presence.announceMax, 100, 'nothing was changed');
});

test('a bundle over 65,536 bytes is refused before anything is sent', async () => {
  const srv = await server();
  const fat = copyBundles((name, code) => (name === 'friend-removal' ? code + '/*' + 'x'.repeat(MAX_BUNDLE_BYTES - code.length) + '*/' : code));
  for (const args of [[], ['--dry-run']]) {
    const out = await cli([...args, '--manifest', fat, '--origin', srv.url, '--keyset-id', '4242'], { PUBNUB_API_KEY: KEY });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /refusing to deploy: over PubNub's 65536-byte limit per Function: friend-removal\.js \(65540 bytes\)/);
    assert.doesNotMatch(out.stdout, /GET|POST/);
  }
  assert.equal(srv.admin.requests.length, 0);
  assert.equal(srv.functions.fns.length, 0);
  // The runtime refuses oversize code too, should another client send it.
  const res = await fetch(`${srv.url}/v2/faas/packages`, {
    method: 'POST',
    headers: { Authorization: KEY, 'PubNub-Version': FAAS_VERSION, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'fat', revisionName: 'r', functions: [{ name: 'f', language: 'JAVASCRIPT', type: 'AFTER_PUBLISH', code: 'x'.repeat(MAX_BUNDLE_BYTES + 1), config: { inputChannel: 'a.*' } }] }),
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
  const keyset = await fetch(`${srv.url}/v2/keysets/4242/config`, { headers: { Authorization: 'wrong', 'PubNub-Version': KEYSET_VERSION } });
  assert.equal(keyset.status, 401);
  assert.deepEqual((await keyset.json()).error, 'Unauthorized');
  const missing = await cli(['--origin', srv.url, '--keyset-id', '4242']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /PUBNUB_API_KEY/);
});

test('errors name what to do: the missing flag, or the host that cannot be reached and why', async () => {
  const noKeyset = await cli(['--dry-run'], { PUBNUB_KEYSET_ID: '' });
  assert.equal(noKeyset.code, 1);
  assert.match(noKeyset.stderr, /^deploy: --keyset-id is required \(or PUBNUB_KEYSET_ID\): the numeric id of the keyset/);
  const srv = await server();
  const closedPort = new URL(srv.url).port;
  await srv.close();
  servers.splice(servers.indexOf(srv), 1);
  const down = await cli(['--check', '--origin', `http://127.0.0.1:${closedPort}`, '--keyset-id', '4242'], { PUBNUB_API_KEY: KEY });
  assert.equal(down.code, 1);
  assert.match(down.stderr, new RegExp(`deploy: cannot reach http://127\\.0\\.0\\.1:${closedPort} \\(GET /v2/keysets/4242/config\\): ECONNREFUSED`));
});

test('--configure writes what the Admin API can set with one PATCH, then --check passes', async () => {
  const srv = await server({ secretKey: 'sec-c-deploy-test', announceMax: 20, deltas: false, channelGroupLimit: 100 });
  const out = await cli(['--configure', '--origin', srv.url, '--keyset-id', '4242'], { PUBNUB_API_KEY: KEY });
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(srv.admin.requests.map((r) => r.method), ['GET', 'PATCH']);
  assert.match(out.stdout, /wrote presence\.enabled, presence\.deltas, presence\.announceMax, streamController\.channelGroupLimit/);
  assert.match(out.stdout, /still to do by hand[\s\S]*Presence rules/);
  assert.equal(srv.presence.announceMax, 100, 'the runtime follows the keyset configuration');
  const config = await (await admin(srv, 'GET', '/v2/keysets/4242/config', undefined, KEYSET_VERSION)).json();
  assert.ok(!('enabled' in config.presence), 'the configuration PubNub returns has no presence.enabled');
  const again = await configure(target(srv));
  // A second run writes only presence.enabled, which it cannot read back.
  assert.deepEqual(again.patch, { presence: { enabled: true } });
  const checked = await cli(['--check', '--origin', srv.url, '--keyset-id', '4242'], { PUBNUB_API_KEY: KEY });
  assert.match(checked.stdout, /ok   presence\.announceMax = 100/);
  assert.match(checked.stdout, /ok   presence\.deltas = true/);
});

test('--check: the keyset against the checklist, and the deployed Functions against the bundles', async () => {
  const good = await server({ secretKey: 'sec-c-deploy-test' });
  const args = (srv) => ['--check', '--origin', srv.url, '--keyset-id', '4242'];
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
  // Only fields PubNub returns are read: a field missing from the answer is reported as missing.
  delete bad.admin.config.presence.deltas;
  const missing = await cli(args(bad), { PUBNUB_API_KEY: KEY });
  assert.match(missing.stdout, /FAIL presence\.deltas is not in the keyset configuration PubNub returned/);
  assert.doesNotMatch(missing.stdout, /presence\.enabled =/);
});

test('the keyset checklist of docs/deploy.md shows every setting --check compares, with the same value', async () => {
  const { CHECKED } = await import('../../js-shim/dev/deploy/keyset.mjs');
  const readme = fs.readFileSync(path.join(ROOT, 'docs/deploy.md'), 'utf8');
  const start = readme.indexOf('### Keyset checklist');
  const section = readme.slice(start, readme.indexOf('\n## ', start));
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
