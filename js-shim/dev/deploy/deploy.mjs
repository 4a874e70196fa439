// Deploys pkg/functions/ to a keyset through PubNub's Admin API (Functions v2 "faas" endpoints),
// rolls back, configures and checks the keyset. Used by scripts/deploy and by scripts/dev, which
// deploys to the local runtime's Admin API (js-shim/dev/local-pubnub/admin.mjs) the same way.
// Every request shape and where it comes from (PubNub's Admin API pages, PubNub's own Admin API
// client in pubnub/pubnub-mcp-server), and where those sources are silent: docs/deploy.md.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CHECKED, KEYSET_SETTINGS, UNCHECKED } from './keyset.mjs';

export const DEFAULT_ORIGIN = 'https://admin-api.pubnub.com';
/** The PubNub-Version PubNub's own client sends on /v2/faas calls (src/lib/functions/api.ts). */
export const FAAS_VERSION = '2026-05-26';
/** … and on /v2/keysets calls (src/lib/portal/api.ts). */
export const KEYSET_VERSION = '2026-03-23';
/** PubNub takes at most about this much source per Function; larger bundles are refused before any request. */
export const MAX_BUNDLE_BYTES = 65536;
export const DEFAULT_PACKAGE = 'friends-presence';
/** Page size asked for on list calls (Spring-pageable `page`/`size`, zero-based pages). */
const PAGE_SIZE = 100;

/**
 * The bundles a manifest lists, read and measured. Throws (before anything is sent) if a file is
 * missing or (unless `limit` is false: the probe tries sizes itself) any is over
 * MAX_BUNDLE_BYTES, naming every one that is.
 */
export function readBundles(manifestPath, { limit = true } = {}) {
  const dir = path.dirname(path.resolve(manifestPath));
  let manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ${manifestPath} (${e.code ?? e.message}): run scripts/build first`);
  }
  const functions = manifest.functions ?? [];
  if (!functions.length) throw new Error(`${manifestPath} lists no Functions`);
  const bundles = functions.map((f) => {
    const file = path.resolve(dir, f.file);
    const bytes = fs.readFileSync(file);
    return { ...f, path: file, code: bytes.toString('utf8'), bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  });
  const over = limit ? bundles.filter((b) => b.bytes > MAX_BUNDLE_BYTES) : [];
  if (over.length)
    throw new Error(`refusing to deploy: over PubNub's ${MAX_BUNDLE_BYTES}-byte limit per Function: ${over.map((b) => `${b.file} (${b.bytes} bytes)`).join(', ')}`);
  return bundles;
}

/** A manifest entry as an Admin API function definition. */
export function functionDef(b, i) {
  const config =
    b.type === 'ON_INTERVAL' ? { type: b.type, intervalMs: b.intervalMs ?? 10000 }
    : b.type === 'ON_REQUEST' ? { type: b.type, path: b.path }
    : { type: b.type, inputChannel: b.channels };
  return { name: b.name, language: 'JAVASCRIPT', type: b.type, sortOrder: i, code: b.code, config };
}

/** Revision names are content hashes: the same bundles deploy as the same revision, never twice. */
export function revisionName(bundles) {
  const h = createHash('sha256');
  for (const [i, b] of bundles.entries()) h.update(JSON.stringify({ ...functionDef(b, i), code: b.sha256 }));
  return `fp-${h.digest('hex').slice(0, 16)}`;
}

/** A keyset id as the Admin API takes it in a body: a number when it is one. */
const keysetIdValue = (id) => (/^\d+$/.test(String(id)) ? Number(id) : String(id));

/** HTTP client for the Admin API that prints each request; `dryRun` prints and sends nothing. */
export class AdminClient {
  constructor({ origin = DEFAULT_ORIGIN, apiKey, faasVersion = FAAS_VERSION, keysetVersion = KEYSET_VERSION, dryRun = false, log = console.log }) {
    this.origin = origin.includes('://') ? origin.replace(/\/$/, '') : `https://${origin}`;
    this.apiKey = apiKey;
    this.versions = { faas: faasVersion, keyset: keysetVersion };
    this.dryRun = dryRun;
    this.log = log;
  }

  /** Headers of a request to path `p`: FaaS and keyset calls each send their own PubNub-Version. */
  headers(p) {
    const version = p.startsWith('/v2/faas/') ? this.versions.faas : this.versions.keyset;
    return { Authorization: this.apiKey ?? '', 'PubNub-Version': version, 'Content-Type': 'application/json' };
  }

  /** What a request looks like on the wire, with the key redacted and code bodies summarized. */
  describe(method, p, url, body, bundles = []) {
    const headers = { ...this.headers(p), Authorization: this.apiKey ? '<redacted>' : '<PUBNUB_API_KEY unset>' };
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
      this.log(this.describe(method, p, url, body, bundles));
      return undefined;
    }
    this.log(`  → ${method} ${url}`);
    let res;
    try {
      res = await fetch(url, { method, headers: this.headers(p), body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      // fetch says only "fetch failed": name the host and the cause (DNS, refused, TLS, ...).
      const cause = e.cause?.code ?? e.cause?.message ?? e.message;
      throw Object.assign(new Error(`cannot reach ${this.origin} (${method} ${p}): ${cause}`), { unreachable: true });
    }
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

  /** Every item of a paged list (`page`, `size`; `meta.paging.totalPages` says when to stop). */
  async list(p, query = {}) {
    const items = [];
    for (let page = 0; ; page++) {
      const res = await this.request('GET', p, { query: { ...query, page, size: PAGE_SIZE } });
      if (!res) return items; // dry run
      items.push(...(res.data ?? []));
      const pages = res.meta?.paging?.totalPages ?? 1;
      if (page + 1 >= pages || !(res.data ?? []).length) return items;
    }
  }
}

function need(o, key, flag, env, what) {
  if (o[key] === undefined || o[key] === '') throw new Error(`${flag} is required (or ${env}): ${what}`);
}
const KEYSET_WHAT = 'the numeric id of the keyset (scripts/deploy --keysets lists them; docs/deploy.md)';

/** The package named `name` (the list is filtered with `search`, then matched exactly), or undefined. */
export async function findPackage(api, name) {
  return (await api.list('/v2/faas/packages', { search: name })).find((p) => p.name === name);
}

/** A package's revisions, newest first. */
export async function listRevisions(api, packageId) {
  const revs = await api.list(`/v2/faas/packages/${enc(packageId)}/package-revisions`);
  return [...revs].sort((a, b) => String(b.createdDttm).localeCompare(String(a.createdDttm)));
}

/** The package's deployments on the keyset, each with its revision. */
async function keysetDeployments(api, revisions, keysetId) {
  const all = [];
  for (const r of revisions) {
    if (r.packageDeploymentsTotal === 0) continue;
    const deps = await api.list(`/v2/faas/package-revisions/${enc(r.id)}/package-deployments`);
    all.push(...deps.filter((d) => String(d.keysetId) === String(keysetId)));
  }
  return all;
}

/**
 * Run `revision` on the keyset: nothing if it already runs there; a rolling update if another
 * revision of the package runs there (a deployment of the new revision is made first, then the
 * running one is swapped to it and the old one removed); else a deployment, started.
 */
async function runRevision(api, log, { revision, deployments, keysetId }) {
  const running = deployments.find((d) => d.state === 'RUNNING');
  if (running?.packageRevisionId === revision.id) {
    log(`   deployment ${running.id} already runs revision ${revision.name}`);
    return running;
  }
  // A stopped deployment of this revision on the keyset is reused rather than piled up.
  let target = deployments.find((d) => d.packageRevisionId === revision.id && d.state !== 'RUNNING');
  if (!target) {
    target = (await api.request('POST', '/v2/faas/package-deployments', { body: { packageRevisionId: revision.id, keysetId: keysetIdValue(keysetId) } })).data;
    log(`   created deployment ${target.id} of revision ${revision.name} (${target.state})`);
  }
  if (running) {
    await api.request('PUT', `/v2/faas/package-deployments/${enc(running.id)}/function-deployments`, { body: { newPackageDeploymentId: target.id } });
    log(`   rolling update: deployment ${running.id} → ${target.id}`);
    await api.request('DELETE', `/v2/faas/package-deployments/${enc(running.id)}`).then(
      () => log(`   removed the replaced deployment ${running.id}`),
      (e) => log(`   the replaced deployment ${running.id} stays (${e.message})`),
    );
  } else {
    await api.request('POST', `/v2/faas/package-deployments/${enc(target.id)}/function-deployments`);
    log(`   started deployment ${target.id}`);
  }
  const now = (await api.request('GET', `/v2/faas/package-deployments/${enc(target.id)}`)).data;
  log(`   deployment ${now.id}: ${now.state}`);
  if (now.state !== 'RUNNING') throw new Error(`deployment ${now.id} is ${now.state}, not RUNNING`);
  return now;
}

/**
 * Create or update the package, add a revision with the bundles (unless one with the same content
 * exists) and run it on the keyset. Returns the ids, or undefined on a dry run.
 */
export async function deploy(o) {
  const log = o.log ?? console.log;
  const bundles = readBundles(o.manifest); // size check first: nothing is sent for an oversize bundle
  need(o, 'keysetId', '--keyset-id', 'PUBNUB_KEYSET_ID', KEYSET_WHAT);
  if (!o.apiKey && !o.dryRun) throw new Error('an Admin API key is required in PUBNUB_API_KEY (docs/deploy.md: "The Admin API key")');
  const api = new AdminClient({ ...o, log });
  const name = o.packageName ?? DEFAULT_PACKAGE;
  const revName = revisionName(bundles);
  const functions = bundles.map(functionDef);
  const keysetId = keysetIdValue(o.keysetId);
  const description = `friends-presence Functions (${bundles.length}), ${revName}`;
  log(`deploy: ${bundles.length} Functions from ${o.manifest} (largest ${Math.max(...bundles.map((b) => b.bytes))} of ${MAX_BUNDLE_BYTES} bytes), revision ${revName}, package ${name}, keyset ${o.keysetId} at ${api.origin}`);

  if (o.dryRun) {
    log('\n[dry run] nothing is sent; these are the requests, in order:\n');
    log('1. find the package (the account is the API key\'s; paged with page/size)');
    await api.request('GET', '/v2/faas/packages', { query: { search: name, page: 0, size: PAGE_SIZE } });
    log('\n2a. if there is none: create it with its first revision, then list its revisions');
    await api.request('POST', '/v2/faas/packages', { body: { name, revisionName: revName, functions, description, apiManaged: true }, bundles });
    await api.request('GET', '/v2/faas/packages/{packageId}/package-revisions', { query: { page: 0, size: PAGE_SIZE } });
    log(`\n2b. if it exists: list its revisions; unless one is named ${revName}, add one`);
    await api.request('GET', '/v2/faas/packages/{packageId}/package-revisions', { query: { page: 0, size: PAGE_SIZE } });
    await api.request('POST', '/v2/faas/package-revisions', { body: { packageId: '{packageId}', name: revName, description, functions }, bundles });
    log(`\n3. the package's deployments on keyset ${o.keysetId} (for each revision that has any)`);
    await api.request('GET', '/v2/faas/package-revisions/{revisionId}/package-deployments', { query: { page: 0, size: PAGE_SIZE } });
    log('\n4. a deployment of the new revision on the keyset (state STOPPED)');
    await api.request('POST', '/v2/faas/package-deployments', { body: { packageRevisionId: '{newRevisionId}', keysetId } });
    log('\n5a. if another revision runs there: rolling update of the running deployment to the new one, then remove the old one');
    await api.request('PUT', '/v2/faas/package-deployments/{runningDeploymentId}/function-deployments', { body: { newPackageDeploymentId: '{newDeploymentId}' } });
    await api.request('DELETE', '/v2/faas/package-deployments/{runningDeploymentId}');
    log('\n5b. if none runs: start the new deployment');
    await api.request('POST', '/v2/faas/package-deployments/{newDeploymentId}/function-deployments');
    log('\n6. read the deployment back: it must be RUNNING');
    await api.request('GET', '/v2/faas/package-deployments/{newDeploymentId}');
    return undefined;
  }

  log('1. package');
  let pkg = await findPackage(api, name);
  let revisions;
  let revision;
  if (!pkg) {
    pkg = (await api.request('POST', '/v2/faas/packages', { body: { name, revisionName: revName, functions, description, apiManaged: true } })).data;
    log(`   created package ${pkg.id}`);
    revisions = await listRevisions(api, pkg.id);
    revision = revisions.find((r) => r.name === revName) ?? revisions[0];
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
  const deployments = await keysetDeployments(api, revisions, o.keysetId);
  const dep = await runRevision(api, log, { revision, deployments, keysetId });
  log(`deployed: ${bundles.map((b) => b.name).join(', ')}`);
  return { packageId: pkg.id, revisionId: revision.id, deploymentId: dep.id, state: dep.state };
}

/**
 * Roll the keyset back to the revision created before the one running there (a rolling update,
 * as a deploy does). Returns the ids.
 */
export async function rollback(o) {
  const log = o.log ?? console.log;
  need(o, 'keysetId', '--keyset-id', 'PUBNUB_KEYSET_ID', KEYSET_WHAT);
  if (!o.apiKey) throw new Error('an Admin API key is required in PUBNUB_API_KEY');
  const api = new AdminClient({ ...o, log });
  const name = o.packageName ?? DEFAULT_PACKAGE;
  const pkg = await findPackage(api, name);
  if (!pkg) throw new Error(`no package named ${name}: nothing to roll back`);
  const revisions = await listRevisions(api, pkg.id); // newest first
  const deployments = await keysetDeployments(api, revisions, o.keysetId);
  const running = deployments.find((d) => d.state === 'RUNNING');
  if (!running) throw new Error(`package ${name} runs nothing on keyset ${o.keysetId}: nothing to roll back`);
  const at = revisions.findIndex((r) => r.id === running.packageRevisionId);
  const previous = revisions[at + 1];
  if (at < 0 || !previous) throw new Error(`revision ${revisions[at]?.name ?? running.packageRevisionId} is the package's oldest: there is no previous revision`);
  log(`rollback: keyset ${o.keysetId} runs ${revisions[at].name}; back to ${previous.name} (created ${previous.createdDttm})`);
  const dep = await runRevision(api, log, { revision: previous, deployments, keysetId: o.keysetId });
  return { packageId: pkg.id, revisionId: previous.id, revisionName: previous.name, deploymentId: dep.id, state: dep.state };
}

/** The account's keysets (id, name, subscribe key), for finding the keyset id. */
export async function keysets(o) {
  const log = o.log ?? console.log;
  if (!o.apiKey) throw new Error('an Admin API key is required in PUBNUB_API_KEY');
  const api = new AdminClient({ ...o, log: () => {} });
  const all = [];
  for (let page = 1; ; page++) {
    const res = await api.request('GET', '/v2/keysets', { query: { page, limit: 100 } });
    all.push(...(res.keysets ?? []));
    if (all.length >= (res.total ?? 0) || !(res.keysets ?? []).length) break;
  }
  for (const k of all) log(`${k.id}\t${k.subscribeKey}\t${k.type ?? ''}\t${k.name}`);
  return all;
}

/**
 * Compare the keyset with the checklist (keyset.mjs) and the deployed Functions with the bundles.
 * Returns {ok, problems}; prints one line per setting.
 */
export async function check(o) {
  const log = o.log ?? console.log;
  need(o, 'keysetId', '--keyset-id', 'PUBNUB_KEYSET_ID', KEYSET_WHAT);
  if (!o.apiKey) throw new Error('an Admin API key is required in PUBNUB_API_KEY');
  const api = new AdminClient({ ...o, log: () => {} });
  const problems = [];
  const line = (good, text) => {
    log(`${good ? 'ok  ' : 'FAIL'} ${text}`);
    if (!good) problems.push(text);
  };
  log(`check: keyset ${o.keysetId} at ${api.origin}`);
  const config = await api.request('GET', `/v2/keysets/${enc(o.keysetId)}/config`);
  for (const [section, field, want, why] of CHECKED) {
    const has = config?.[section] && Object.hasOwn(config[section], field);
    const got = config?.[section]?.[field];
    if (!has) line(false, `${section}.${field} is not in the keyset configuration PubNub returned (want ${JSON.stringify(want)}: ${why})`);
    else line(got === want, `${section}.${field} = ${JSON.stringify(got)}${got === want ? '' : ` (want ${JSON.stringify(want)}: ${why})`}`);
  }

  if (o.manifest) {
    const bundles = readBundles(o.manifest);
    const name = o.packageName ?? DEFAULT_PACKAGE;
    const pkg = await findPackage(api, name);
    const revisions = pkg ? await listRevisions(api, pkg.id) : [];
    const dep = pkg ? (await keysetDeployments(api, revisions, o.keysetId)).find((d) => d.state === 'RUNNING') : undefined;
    if (!dep) line(false, `Functions: package ${name} has no RUNNING deployment on keyset ${o.keysetId}`);
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
  }

  log('\nnot visible through the Admin API (check by hand):');
  for (const [what, want, why] of UNCHECKED) log(`  - ${what}: ${want} — ${why}`);
  return { ok: problems.length === 0, problems };
}

/**
 * Write what the Admin API can set on the keyset (keyset.mjs KEYSET_SETTINGS) with one PATCH of
 * the fields that differ, then print the rest as a checklist. App Context needs a region when it
 * is first enabled (PubNub cannot change it later): without `appContextRegion` it is left off and
 * listed. Returns {patch, config} (the patch undefined when nothing differed).
 */
export async function configure(o) {
  const log = o.log ?? console.log;
  need(o, 'keysetId', '--keyset-id', 'PUBNUB_KEYSET_ID', KEYSET_WHAT);
  if (!o.apiKey && !o.dryRun) throw new Error('an Admin API key is required in PUBNUB_API_KEY');
  const api = new AdminClient({ ...o, log });
  const p = `/v2/keysets/${enc(o.keysetId)}/config`;
  const current = o.dryRun ? {} : await api.request('GET', p);
  const patch = {};
  const todo = [];
  for (const [section, field, want] of KEYSET_SETTINGS) {
    if (current?.[section]?.[field] === want) continue;
    if (section === 'appContext' && field === 'enabled' && want && !o.appContextRegion && !current?.appContext?.region) {
      todo.push('App Context: enable it with --app-context-region REGION (aws-iad-1, aws-pdx-1, aws-fra-1, aws-bom-1, aws-hnd-1); PubNub cannot change the region later');
      continue;
    }
    (patch[section] ??= {})[field] = want;
    if (section === 'appContext' && field === 'enabled' && want && !current?.appContext?.region) patch.appContext.region = o.appContextRegion;
  }
  log(`configure: keyset ${o.keysetId} at ${api.origin}`);
  let config = current;
  if (Object.keys(patch).length) {
    config = await api.request('PATCH', p, { body: patch });
    if (!o.dryRun) log(`   wrote ${Object.entries(patch).map(([s, f]) => Object.keys(f).map((k) => `${s}.${k}`).join(', ')).join(', ')}`);
  } else log('   every setting the Admin API can write is already as wanted');
  log('\nstill to do by hand (the Admin API cannot set these):');
  for (const t of todo) log(`  - ${t}`);
  for (const [what, want, why] of UNCHECKED) log(`  - ${what}: ${want} — ${why}`);
  return { patch: Object.keys(patch).length ? patch : undefined, config };
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
