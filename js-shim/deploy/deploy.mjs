// Deploys pkg/functions/ to a keyset through PubNub's Admin API (Functions v2 "faas" endpoints),
// and checks a keyset against the checklist. Used by scripts/deploy and by scripts/dev, which
// deploys to the local runtime's Admin API (js-shim/local-pubnub/admin.mjs) the same way.
//
// Request shapes, from PubNub's Admin API docs (version 2025-11-15):
// - every request: `Authorization: <API key>`, `PubNub-Version: 2025-11-15`,
//   `Content-Type: application/json`; base URL https://admin-api.pubnub.com (Admin API intro);
// - GET /v2/faas/packages, POST /v2/faas/packages ("creates a new package with an initial revision
//   and functions"), GET /v2/faas/packages/{id}/package-revisions, POST /v2/faas/package-revisions,
//   POST /v2/faas/package-deployments ({packageRevisionId, keysetId}: "assigns a package revision to
//   a keyset", state STOPPED), PUT /v2/faas/package-deployments/{id} (rolling update);
// - a function revision is {name, language: JAVASCRIPT, type, sortOrder, code, config:
//   {type, inputChannel}} ("List functions in a revision");
// - GET /v2/keysets/{id}/config sections presence / streamController / appContext / accessManager
//   ("Update keyset configuration", "Create a new keyset").
// Not shown in the docs, so assumed (README "Deploying to PubNub"): the request bodies (taken to
// carry the fields the responses show), the `accountId`/`name` filters on the package list, the
// start path POST /v2/faas/package-deployments/{id}/start, the deployments of a revision at
// GET /v2/faas/package-revisions/{id}/package-deployments, and `config.intervalMs` for On Interval.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CHECKED, UNCHECKED } from './keyset.mjs';

export const DEFAULT_ORIGIN = 'https://admin-api.pubnub.com';
export const API_VERSION = '2025-11-15';
/** PubNub takes at most this much source per Function; larger bundles are refused before any request. */
export const MAX_BUNDLE_BYTES = 65536;
export const DEFAULT_PACKAGE = 'friends-presence';

/**
 * The bundles a manifest lists, read and measured. Throws (before anything is sent) if a file is
 * missing or any is over MAX_BUNDLE_BYTES, naming every one that is.
 */
export function readBundles(manifestPath) {
  const dir = path.dirname(path.resolve(manifestPath));
  const { functions = [] } = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  if (!functions.length) throw new Error(`${manifestPath} lists no Functions`);
  const bundles = functions.map((f) => {
    const file = path.resolve(dir, f.file);
    const bytes = fs.readFileSync(file);
    return { ...f, path: file, code: bytes.toString('utf8'), bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  });
  const over = bundles.filter((b) => b.bytes > MAX_BUNDLE_BYTES);
  if (over.length)
    throw new Error(`refusing to deploy: over PubNub's ${MAX_BUNDLE_BYTES}-byte limit per Function: ${over.map((b) => `${b.file} (${b.bytes} bytes)`).join(', ')}`);
  return bundles;
}

/** A manifest entry as an Admin API function definition. */
export function functionDef(b, i) {
  const config = b.type === 'ON_INTERVAL' ? { type: b.type, intervalMs: b.intervalMs ?? 10000 } : { type: b.type, inputChannel: b.channels };
  return { name: b.name, language: 'JAVASCRIPT', type: b.type, sortOrder: i, code: b.code, config };
}

/** Revision names are content hashes: the same bundles deploy as the same revision, never twice. */
export function revisionName(bundles) {
  const h = createHash('sha256');
  for (const [i, b] of bundles.entries()) h.update(JSON.stringify({ ...functionDef(b, i), code: b.sha256 }));
  return `fp-${h.digest('hex').slice(0, 16)}`;
}

/** HTTP client for the Admin API that prints each request; `dryRun` prints and sends nothing. */
export class AdminClient {
  constructor({ origin = DEFAULT_ORIGIN, apiKey, apiVersion = API_VERSION, dryRun = false, log = console.log }) {
    this.origin = origin.includes('://') ? origin.replace(/\/$/, '') : `https://${origin}`;
    this.apiKey = apiKey;
    this.apiVersion = apiVersion;
    this.dryRun = dryRun;
    this.log = log;
  }

  headers() {
    return { Authorization: this.apiKey ?? '', 'PubNub-Version': this.apiVersion, 'Content-Type': 'application/json' };
  }

  /** What a request looks like on the wire, with the key redacted and code bodies summarized. */
  describe(method, url, body, bundles = []) {
    const headers = { ...this.headers(), Authorization: this.apiKey ? '<redacted>' : '<PUBNUB_API_KEY unset>' };
    const lines = [`${method} ${url}`, ...Object.entries(headers).map(([k, v]) => `  ${k}: ${v}`)];
    if (body !== undefined) lines.push(indent(JSON.stringify(summarize(body, bundles), null, 2)));
    return lines.join('\n');
  }

  url(p, query) {
    const qs = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined)).toString() : '';
    return `${this.origin}${p}${qs ? '?' + qs : ''}`;
  }

  async request(method, p, { query, body, bundles } = {}) {
    const url = this.url(p, query);
    if (this.dryRun) {
      this.log(this.describe(method, url, body, bundles));
      return undefined;
    }
    this.log(`  → ${method} ${url}`);
    const res = await fetch(url, { method, headers: this.headers(), body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { raw: text };
    }
    if (!res.ok) {
      const why = json.errors?.map((e) => `${e.code}: ${e.message}`).join('; ') ?? [].concat(json.message ?? text).join('; ');
      throw Object.assign(new Error(`${method} ${p} → HTTP ${res.status}: ${why}`), { status: res.status, body: json });
    }
    return json;
  }
}

/**
 * Create or update the package, add a revision with the bundles (unless one with the same content
 * exists) and run it on the keyset (a new deployment, started; or a rolling update of the one the
 * package already has there). Returns the ids, or undefined on a dry run.
 */
export async function deploy(o) {
  const log = o.log ?? console.log;
  const bundles = readBundles(o.manifest); // size check first: nothing is sent for an oversize bundle
  for (const need of ['accountId', 'keysetId']) if (!o[need]) throw new Error(`${need} is required`);
  if (!o.apiKey && !o.dryRun) throw new Error('an Admin API key is required (PUBNUB_API_KEY)');
  const api = new AdminClient({ ...o, log });
  const name = o.packageName ?? DEFAULT_PACKAGE;
  const revName = revisionName(bundles);
  const functions = bundles.map(functionDef);
  const keysetId = /^\d+$/.test(String(o.keysetId)) ? Number(o.keysetId) : String(o.keysetId); // the docs show a numeric keysetId
  const description = `friends-presence Functions (${bundles.length}), ${revName}`;
  log(`deploy: ${bundles.length} Functions from ${o.manifest} (largest ${Math.max(...bundles.map((b) => b.bytes))} of ${MAX_BUNDLE_BYTES} bytes), revision ${revName}, package ${name}, keyset ${o.keysetId} at ${api.origin}`);

  if (o.dryRun) {
    log('\n[dry run] nothing is sent; these are the requests, in order:\n');
    log('1. find the package');
    await api.request('GET', '/v2/faas/packages', { query: { accountId: o.accountId, name } });
    log('\n2a. if there is none: create it with its first revision, then read that revision\'s id');
    await api.request('POST', '/v2/faas/packages', { body: { accountId: o.accountId, name, description, revisionName: revName, functions }, bundles });
    await api.request('GET', '/v2/faas/packages/{packageId}/package-revisions');
    log(`\n2b. if it exists: list its revisions; unless one is named ${revName}, add one`);
    await api.request('GET', '/v2/faas/packages/{packageId}/package-revisions');
    await api.request('POST', '/v2/faas/package-revisions', { body: { packageId: '{packageId}', name: revName, description, functions }, bundles });
    log('\n3. find the package\'s deployment on the keyset (for each revision that has deployments)');
    await api.request('GET', '/v2/faas/package-revisions/{revisionId}/package-deployments');
    log('\n4a. if there is one on another revision: rolling update (and start it if it is not RUNNING)');
    await api.request('PUT', '/v2/faas/package-deployments/{deploymentId}', { body: { packageRevisionId: '{newRevisionId}' } });
    log('\n4b. if there is none: assign the revision to the keyset, then start it');
    await api.request('POST', '/v2/faas/package-deployments', { body: { packageRevisionId: '{newRevisionId}', keysetId } });
    await api.request('POST', '/v2/faas/package-deployments/{deploymentId}/start');
    return undefined;
  }

  log('1. package');
  const found = (await api.request('GET', '/v2/faas/packages', { query: { accountId: o.accountId, name } })).data ?? [];
  let pkg = found.find((p) => p.name === name);
  let revision;
  let revisions;
  if (!pkg) {
    pkg = (await api.request('POST', '/v2/faas/packages', { body: { accountId: o.accountId, name, description, revisionName: revName, functions } })).data;
    log(`   created package ${pkg.id}`);
    revisions = await listRevisions(api, pkg.id);
    revision = revisions[0];
    if (!revision) throw new Error(`package ${pkg.id} was created without a revision`);
  } else {
    log(`   package ${pkg.id} exists`);
    revisions = await listRevisions(api, pkg.id);
    revision = revisions.find((r) => r.name === revName);
  }
  log('2. revision');
  if (revision) log(`   revision ${revision.id} (${revision.name}) holds these bundles`);
  else {
    revision = (await api.request('POST', '/v2/faas/package-revisions', { body: { packageId: pkg.id, name: revName, description, functions } })).data;
    log(`   created revision ${revision.id} (${revName})`);
  }

  log(`3. deployment on keyset ${o.keysetId}`);
  const current = await findDeployment(api, revisions, o.keysetId);
  let dep;
  if (current) {
    dep = current;
    if (dep.packageRevisionId !== revision.id) {
      dep = (await api.request('PUT', `/v2/faas/package-deployments/${enc(dep.id)}`, { body: { packageRevisionId: revision.id } })).data;
      log(`   rolling update of deployment ${dep.id} to revision ${revision.id}`);
    } else log(`   deployment ${dep.id} already runs this revision`);
  } else {
    dep = (await api.request('POST', '/v2/faas/package-deployments', { body: { packageRevisionId: revision.id, keysetId } })).data;
    log(`   created deployment ${dep.id} (${dep.state})`);
  }
  if (dep.state !== 'RUNNING') {
    dep = (await api.request('POST', `/v2/faas/package-deployments/${enc(dep.id)}/start`)).data;
    log(`   started deployment ${dep.id}: ${dep.state}`);
  }
  log(`deployed: ${bundles.map((b) => b.name).join(', ')}`);
  return { packageId: pkg.id, revisionId: revision.id, deploymentId: dep.id, state: dep.state };
}

async function listRevisions(api, packageId) {
  const revs = (await api.request('GET', `/v2/faas/packages/${enc(packageId)}/package-revisions`)).data ?? [];
  return [...revs].sort((a, b) => String(b.createdDttm).localeCompare(String(a.createdDttm))); // newest first
}

/** The package's deployment on the keyset, RUNNING ones first (revisions are newest first). */
async function findDeployment(api, revisions, keysetId) {
  const all = [];
  for (const r of revisions) {
    if (r.packageDeploymentsTotal === 0) continue;
    const deps = (await api.request('GET', `/v2/faas/package-revisions/${enc(r.id)}/package-deployments`)).data ?? [];
    all.push(...deps.filter((d) => String(d.keysetId) === String(keysetId)));
  }
  return all.find((d) => d.state === 'RUNNING') ?? all[0];
}

/**
 * Compare the keyset with the checklist (keyset.mjs) and the deployed Functions with the bundles.
 * Returns {ok, problems}; prints one line per setting.
 */
export async function check(o) {
  const log = o.log ?? console.log;
  if (!o.apiKey) throw new Error('an Admin API key is required (PUBNUB_API_KEY)');
  if (!o.keysetId) throw new Error('keysetId is required');
  const api = new AdminClient({ ...o, log: () => {} });
  const problems = [];
  const line = (good, text) => {
    log(`${good ? 'ok  ' : 'FAIL'} ${text}`);
    if (!good) problems.push(text);
  };
  log(`check: keyset ${o.keysetId} at ${api.origin}`);
  const config = await api.request('GET', `/v2/keysets/${enc(o.keysetId)}/config`);
  for (const [section, field, want, why] of CHECKED) {
    const got = config?.[section]?.[field];
    line(got === want, `${section}.${field} = ${JSON.stringify(got)}${got === want ? '' : ` (want ${JSON.stringify(want)}: ${why})`}`);
  }

  if (o.manifest && o.accountId) {
    const bundles = readBundles(o.manifest);
    const name = o.packageName ?? DEFAULT_PACKAGE;
    const pkg = ((await api.request('GET', '/v2/faas/packages', { query: { accountId: o.accountId, name } })).data ?? []).find((p) => p.name === name);
    const revisions = pkg ? await listRevisions(api, pkg.id) : [];
    const dep = pkg ? await findDeployment(api, revisions, o.keysetId) : undefined;
    if (!dep || dep.state !== 'RUNNING') line(false, `Functions: package ${name} has no RUNNING deployment on keyset ${o.keysetId}`);
    else {
      const rev = (await api.request('GET', `/v2/faas/package-revisions/${enc(dep.packageRevisionId)}`)).data;
      const deployed = new Map((rev.functions ?? []).map((f) => [f.name, f]));
      for (const [i, b] of bundles.entries()) {
        const f = deployed.get(b.name);
        const want = functionDef(b, i);
        const same = f && f.type === want.type && sha(f.code) === b.sha256 && JSON.stringify(pick(f.config)) === JSON.stringify(pick(want.config));
        line(!!same, `Functions: ${b.name} ${same ? 'runs' : f ? 'differs from' : 'is missing from'} revision ${rev.name} (${b.type}${b.channels ? ' ' + b.channels : ''})`);
      }
    }
  } else log('     (Functions not checked: give --account-id and a manifest)');

  log('\nnot visible through the Admin API (check by hand):');
  for (const [what, want, why] of UNCHECKED) log(`  - ${what}: ${want} — ${why}`);
  return { ok: problems.length === 0, problems };
}

const enc = encodeURIComponent;
const sha = (s) => createHash('sha256').update(String(s ?? '')).digest('hex');
const pick = (c = {}) => ({ inputChannel: c.inputChannel, intervalMs: c.intervalMs });
const indent = (s) => s.replace(/^/gm, '  ');

/** A body with each function's code replaced by its file, size and hash (dry-run output). */
function summarize(body, bundles) {
  if (!Array.isArray(body.functions)) return body;
  return {
    ...body,
    functions: body.functions.map((f) => {
      const b = bundles?.find((x) => x.name === f.name);
      return { ...f, code: b ? `<${path.basename(b.path)}: ${b.bytes} bytes, sha256 ${b.sha256.slice(0, 16)}…>` : `<${Buffer.byteLength(f.code)} bytes>` };
    }),
  };
}
