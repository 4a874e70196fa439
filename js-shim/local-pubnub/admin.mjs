// The Admin API, local edition: the Functions v2 endpoints `scripts/deploy` uses (packages,
// package revisions, package deployments) and the keyset configuration `scripts/deploy --check`
// reads, with PubNub's request shapes, so the deploy script is exercised against this runtime
// exactly as it would talk to admin-api.pubnub.com. Deploying (starting a deployment, or a
// rolling update) replaces the hosted Functions with the revision's uploaded sources.
//
// Shapes (PubNub's Admin API docs, version 2025-11-15): every request carries
// `Authorization: <API key>` and `PubNub-Version: <YYYY-MM-DD>`; Functions endpoints answer
// `{data, meta: {timestamp, correlationId, paging?}, errors: [{code, message}]}` with codes like
// FAAS-404; keyset endpoints answer errors as `{statusCode, error, message: [..]}`.
// Where the docs show no request body, the fields used here are the ones the responses carry
// (README "Deploying to PubNub" lists these assumptions).
// State is kept in memory: `scripts/dev` deploys at every start.
import { randomUUID } from 'node:crypto';
import { ApiError } from './util.mjs';

const TYPES = ['AFTER_PRESENCE', 'AFTER_PUBLISH', 'BEFORE_PUBLISH', 'ON_INTERVAL', 'ON_REQUEST'];
/** PubNub's ceiling for one Function's source; `scripts/deploy` refuses larger bundles first. */
export const MAX_CODE_BYTES = 65536;

export class AdminApi {
  /**
   * @param rt the LocalPubNub whose Functions a deployment replaces
   * @param o {adminApiKey, accountId, keysetId}
   */
  constructor(rt, o) {
    this.rt = rt;
    this.apiKey = o.adminApiKey;
    this.accountId = String(o.accountId ?? 'local-account');
    this.keysetId = String(o.keysetId ?? 'local-keyset');
    this.packages = new Map();
    this.revisions = new Map();
    this.deployments = new Map();
    this.requests = []; // {method, path}: what tests look at
  }

  /** /v2/faas/... and /v2/keysets/... → a reply object (or throws an ApiError). */
  async handle(ctx) {
    const { method, seg, req } = ctx;
    this.requests.push({ method, path: ctx.rawPath });
    const faas = seg[2] === 'faas';
    if (!this.apiKey) throw fail(faas, 404, 'The Admin API is off: start local-pubnub with an admin API key');
    // The same key check PubNub makes: a missing or wrong key is 401, before anything else.
    if (req.headers.authorization !== this.apiKey) throw fail(faas, 401, 'Invalid or missing API key in the Authorization header');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(String(req.headers['pubnub-version'] ?? '')))
      throw fail(faas, 400, 'Missing or malformed PubNub-Version header (YYYY-MM-DD)');
    const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? parseBody(faas, ctx.body) : undefined;
    const rest = seg.slice(3).map(decodeURIComponent);
    if (!faas) return this.#keysets(method, rest);
    const [kind, id, sub] = rest;
    if (kind === 'packages') {
      if (id === undefined && method === 'GET') return this.#list([...this.packages.values()].filter((p) => matches(p, ctx.query)), packageView);
      if (id === undefined && method === 'POST') return ok(packageView(this.#createPackage(body)));
      const pkg = this.#get(this.packages, id);
      if (sub === undefined && method === 'GET') return ok(packageView(pkg));
      if (sub === 'package-revisions' && method === 'GET') {
        const revs = [...this.revisions.values()].filter((r) => r.packageId === pkg.id).reverse(); // newest first
        return this.#list(revs, (r) => revisionView(r, this));
      }
    }
    if (kind === 'package-revisions') {
      if (id === undefined && method === 'POST') return ok(revisionView(this.#createRevision(this.#get(this.packages, body.packageId, 400, 'packageId'), body), this));
      const rev = this.#get(this.revisions, id);
      if (sub === undefined && method === 'GET') return ok(revisionView(rev, this));
      if (sub === 'package-deployments' && method === 'GET')
        return this.#list([...this.deployments.values()].filter((d) => d.packageRevisionId === rev.id), deploymentView);
    }
    if (kind === 'package-deployments') {
      if (id === undefined && method === 'POST') return ok(deploymentView(this.#createDeployment(body)));
      const dep = this.#get(this.deployments, id);
      if (sub === undefined && method === 'GET') return ok(deploymentView(dep));
      if (sub === undefined && method === 'PUT') {
        // Rolling update: the deployment moves to another revision of its package.
        const rev = this.#get(this.revisions, body.packageRevisionId, 400, 'packageRevisionId');
        if (rev.packageId !== this.revisions.get(dep.packageRevisionId).packageId)
          throw fail(true, 400, 'The revision belongs to another package');
        const before = dep.packageRevisionId;
        dep.packageRevisionId = rev.id;
        await this.#apply(() => (dep.packageRevisionId = before));
        return ok(deploymentView(touch(dep)));
      }
      if (sub === 'start' && method === 'POST') {
        const before = dep.state;
        dep.state = 'RUNNING';
        await this.#apply(() => (dep.state = before));
        return ok(deploymentView(touch(dep)));
      }
    }
    throw fail(true, 404, `No such Admin API endpoint: ${method} ${ctx.rawPath}`);
  }

  #keysets(method, [id, sub]) {
    if (method !== 'GET' || sub !== 'config') throw fail(false, 404, 'Not Found');
    if (id !== this.keysetId) throw fail(false, 404, `Keyset ${id} not found`);
    return this.keysetConfig();
  }

  /** The keyset's feature configuration, from the runtime's options, in the Admin API's shape. */
  keysetConfig() {
    const o = this.rt.opts;
    return {
      accessManager: { enabled: !!o.secretKey, tokenRevoke: false },
      streamController: { enabled: true, wildcardSubscribe: true, channelGroupLimit: o.channelGroupLimit },
      appContext: { enabled: true, disallowGetAllUserMetadata: false, disallowGetAllChannelMetadata: false, referentialIntegrity: false },
      presence: { enabled: true, deltas: !!o.deltas, announceMax: o.announceMax, interval: o.intervalSec, generateLeaveOnDisconnect: false },
    };
  }

  #list(items, view) {
    return {
      data: items.map(view),
      meta: { ...meta(), paging: { totalElements: items.length, totalPages: 1, pageSize: items.length, pageNumber: 0, pageOffset: 0 } },
      errors: [],
    };
  }

  #get(map, id, status = 404, what = 'id') {
    const v = typeof id === 'string' ? map.get(id) : undefined;
    if (!v) throw fail(true, status, status === 404 ? 'Entity not found' : `Unknown ${what}`);
    return v;
  }

  #createPackage(body) {
    if (String(body.accountId) !== this.accountId) throw fail(true, 403, `No access to account ${body.accountId}`);
    if (typeof body.name !== 'string' || !body.name) throw fail(true, 400, 'name is required');
    if ([...this.packages.values()].some((p) => p.name === body.name)) throw fail(true, 409, `A package named ${body.name} exists`);
    const now = new Date().toISOString();
    const pkg = { id: randomUUID(), accountId: this.accountId, name: body.name, description: body.description ?? '', tags: body.tags ?? [], createdDttm: now, updatedDttm: now };
    const functions = checkFunctions(body.functions); // before anything is stored
    this.packages.set(pkg.id, pkg);
    this.#createRevision(pkg, { name: body.revisionName ?? 'initial', description: body.description, functions }, true);
    return pkg;
  }

  #createRevision(pkg, body, checked = false) {
    const functions = checked ? body.functions : checkFunctions(body.functions);
    const now = new Date().toISOString();
    const rev = { id: randomUUID(), packageId: pkg.id, name: String(body.name ?? ''), description: body.description ?? '', createdDttm: now, updatedDttm: now };
    rev.functions = functions.map((f, i) => ({
      id: randomUUID(), functionRevisionId: randomUUID(), packageRevisionId: rev.id, sortOrder: i, createdDttm: now, updatedDttm: now, ...f,
    }));
    this.revisions.set(rev.id, rev);
    return rev;
  }

  #createDeployment(body) {
    const rev = this.#get(this.revisions, body.packageRevisionId, 400, 'packageRevisionId');
    if (String(body.keysetId) !== this.keysetId) throw fail(true, 404, `Keyset ${body.keysetId} not found`);
    const now = new Date().toISOString();
    const dep = { id: randomUUID(), packageRevisionId: rev.id, keysetId: this.keysetId, state: 'STOPPED', createdDttm: now, updatedDttm: now };
    this.deployments.set(dep.id, dep);
    return dep;
  }

  /**
   * Host what the keyset's RUNNING deployments hold. A revision whose code does not load is
   * refused (400) and the change is undone, so the previous Functions keep running.
   */
  async #apply(undo) {
    const defs = [];
    for (const dep of this.deployments.values()) {
      if (dep.state !== 'RUNNING') continue;
      for (const f of this.revisions.get(dep.packageRevisionId).functions) {
        defs.push({ name: f.name, type: f.type, channels: f.config.inputChannel, intervalMs: f.config.intervalMs, code: f.code });
      }
    }
    try {
      await this.rt.functions.install(defs);
    } catch (e) {
      undo();
      throw fail(true, 400, `Deployment failed: ${e.message}`);
    }
    this.rt.log(`[admin] deployed ${defs.length} Functions: ${defs.map((d) => d.name).join(', ') || '(none)'}`);
  }
}

/** Function definitions of a package or revision body, checked as PubNub would refuse them. */
function checkFunctions(list) {
  if (!Array.isArray(list) || !list.length) throw fail(true, 400, 'functions: a non-empty array is required');
  const names = new Set();
  return list.map((f, i) => {
    const where = `functions[${i}]`;
    if (!f || typeof f !== 'object') throw fail(true, 400, `${where}: an object is required`);
    if (typeof f.name !== 'string' || !f.name || names.has(f.name)) throw fail(true, 400, `${where}.name: a unique name is required`);
    names.add(f.name);
    if (!TYPES.includes(f.type)) throw fail(true, 400, `${where}.type: one of ${TYPES.join(', ')}`);
    if (f.language !== 'JAVASCRIPT') throw fail(true, 400, `${where}.language: JAVASCRIPT`);
    if (typeof f.code !== 'string' || !f.code) throw fail(true, 400, `${where}.code: the source is required`);
    const bytes = Buffer.byteLength(f.code);
    if (bytes > MAX_CODE_BYTES) throw fail(true, 400, `${where}.code: ${bytes} bytes, over the ${MAX_CODE_BYTES}-byte limit`);
    const c = f.config ?? {};
    if (f.type === 'ON_INTERVAL') {
      if (!Number.isInteger(c.intervalMs) || c.intervalMs < 1000) throw fail(true, 400, `${where}.config.intervalMs: whole milliseconds ≥ 1000`);
    } else if (f.type !== 'ON_REQUEST' && (typeof c.inputChannel !== 'string' || !c.inputChannel)) {
      throw fail(true, 400, `${where}.config.inputChannel: the channel (pattern) is required`);
    }
    return { name: f.name, language: f.language, type: f.type, code: f.code, config: { ...c, type: f.type } };
  });
}

const meta = () => ({ timestamp: new Date().toISOString(), correlationId: randomUUID() });
const ok = (data) => ({ data, meta: meta(), errors: [] });
const touch = (x) => ((x.updatedDttm = new Date().toISOString()), x);

function matches(pkg, query) {
  if (query.accountId !== undefined && String(query.accountId) !== pkg.accountId) return false;
  return query.name === undefined || query.name === pkg.name;
}

function packageView(p) {
  return { id: p.id, name: p.name, description: p.description, apiManaged: true, tags: p.tags, createdDttm: p.createdDttm, updatedDttm: p.updatedDttm };
}
function revisionView(r, admin) {
  const deps = [...admin.deployments.values()].filter((d) => d.packageRevisionId === r.id);
  return {
    id: r.id, packageId: r.packageId, name: r.name, description: r.description,
    packageDeploymentsTotal: deps.length, packageDeploymentsRunning: deps.filter((d) => d.state === 'RUNNING').length,
    createdDttm: r.createdDttm, updatedDttm: r.updatedDttm, functions: r.functions,
  };
}
function deploymentView(d) {
  return { id: d.id, packageRevisionId: d.packageRevisionId, keysetId: d.keysetId, state: d.state, createdDttm: d.createdDttm, updatedDttm: d.updatedDttm };
}

function parseBody(faas, text) {
  try {
    const v = JSON.parse(text || '{}');
    if (v && typeof v === 'object' && !Array.isArray(v)) return v;
  } catch {
    // answered below
  }
  throw fail(faas, 400, 'The body must be a JSON object');
}

/** An error in the shape of the API it comes from: Functions (`errors[]`) or keysets. */
function fail(faas, status, message) {
  const code = { 400: 'FAAS-400', 401: 'FAAS-401', 403: 'FAAS-403', 404: 'FAAS-404', 409: 'FAAS-409' }[status] ?? `FAAS-${status}`;
  const name = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict' }[status] ?? 'InternalError';
  return new ApiError(status, faas ? { meta: meta(), errors: [{ code, message }] } : { statusCode: status, error: name, message: [message] });
}
