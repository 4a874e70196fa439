// The Admin API, local edition: the Functions v2 endpoints and the keyset endpoints
// `scripts/deploy` uses, with the request shapes PubNub's Admin API pages and PubNub's own Admin
// API client (pubnub/pubnub-mcp-server src/lib/functions/api.ts, schemas.ts, src/lib/portal/)
// use — docs/deploy.md lists each with its source. Shapes nobody documents are refused here
// (an unknown body field or query parameter, `accountId` in a body, `…/start`, a rolling update
// by `packageRevisionId`), so a client that drifts from PubNub's shapes fails a test here
// instead of on a real keyset. Deploying (starting a deployment, or a rolling update) replaces
// the hosted Functions with what every RUNNING deployment holds.
//
// Envelopes: Functions endpoints answer `{data, meta: {timestamp, correlationId, paging?},
// errors: [{code, message}]}` with codes like FAAS-404; keyset endpoints answer bare objects,
// and errors as `{statusCode, error, message: [..]}`.
// Platform limits the tests switch (the probe finds them by PubNub's behaviour, a refused
// request): `maxFunctionBytes`, `maxFunctions` (per revision, FAAS-1006 as PubNub documents),
// `minIntervalMs`. State is kept in memory: `scripts/dev` deploys at every start.
import { randomUUID } from 'node:crypto';
import { ApiError } from './util.mjs';

const TYPES = ['AFTER_PRESENCE', 'AFTER_PUBLISH', 'BEFORE_PUBLISH', 'ON_INTERVAL', 'ON_REQUEST'];
/** PubNub's ceiling for one Function's source ("approximately 64 KB"); a switch lowers it. */
export const MAX_CODE_BYTES = 65536;
const LIST_QUERY = ['search', 'page', 'size', 'sort'];
// Body fields each create/update takes (PubNub's client: schemas.ts "data" descriptions).
const PACKAGE_FIELDS = ['name', 'revisionName', 'functions', 'description', 'tags', 'apiManaged'];
const REVISION_FIELDS = ['packageId', 'name', 'description', 'functions'];
const DEPLOYMENT_FIELDS = ['packageRevisionId', 'keysetId'];
const FUNCTION_FIELDS = ['name', 'language', 'type', 'sortOrder', 'code', 'config'];
// Keyset configuration sections and fields ("Update keyset configuration" request).
const CONFIG_FIELDS = {
  accessManager: ['enabled', 'tokenRevoke'],
  files: ['enabled', 'retention', 'region'],
  streamController: ['enabled', 'wildcardSubscribe', 'channelGroupLimit'],
  appContext: ['enabled', 'userMetadataEvents', 'channelMetadataEvents', 'membershipEvents', 'disallowGetAllChannelMetadata', 'disallowGetAllUserMetadata', 'referentialIntegrity', 'region'],
  dataSync: ['enabled', 'region'],
  apns: ['enabled', 'teamId', 'authKeyId', 'filename'],
  fcm: ['filename'],
  messagePersistence: ['enabled', 'includePresenceEvents', 'deleteFromHistory', 'retention'],
  presence: ['enabled', 'deltas', 'generateLeaveOnDisconnect', 'streamFiltering', 'activeNoticeChannel', 'announceMax', 'interval', 'debounce'],
};
const APP_CONTEXT_REGIONS = ['aws-iad-1', 'aws-pdx-1', 'aws-fra-1', 'aws-bom-1', 'aws-hnd-1'];

export class AdminApi {
  /**
   * @param rt the LocalPubNub whose Functions a deployment replaces
   * @param o {adminApiKey, keysetId, subscribeKey?, maxFunctionBytes?, maxFunctions?, minIntervalMs?, adminPageSize?}
   */
  constructor(rt, o) {
    this.rt = rt;
    this.apiKey = o.adminApiKey;
    this.keysetId = String(o.keysetId ?? 'local-keyset');
    this.limits = {
      codeBytes: o.maxFunctionBytes ?? MAX_CODE_BYTES,
      functions: o.maxFunctions ?? Infinity,
      intervalMs: o.minIntervalMs ?? 1000,
      pageSize: o.adminPageSize ?? 100,
    };
    this.packages = new Map();
    this.revisions = new Map();
    this.deployments = new Map();
    this.requests = []; // {method, path}: what tests look at
    this.config = this.#initialConfig();
  }

  /** /v2/faas/... and /v2/keysets[/...] → a reply object (or throws an ApiError). */
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
    if (!faas) return this.#keysets(method, rest, ctx.query, body);
    const [kind, id, sub, extra] = rest;
    if (extra !== undefined) throw notFound(method, ctx.rawPath);
    if (kind === 'packages') {
      if (id === undefined && method === 'GET') return this.#list(ctx.query, [...this.packages.values()].filter((p) => !ctx.query.search || p.name.includes(ctx.query.search)), packageView);
      if (id === undefined && method === 'POST') return ok(packageView(this.#createPackage(body)));
      if (id === undefined) throw notFound(method, ctx.rawPath);
      const pkg = this.#get(this.packages, id);
      if (sub === undefined && method === 'GET') return ok(packageView(pkg));
      if (sub === undefined && method === 'DELETE') return ok(packageView(this.#deletePackage(pkg)));
      if (sub === 'package-revisions' && method === 'GET') {
        const revs = [...this.revisions.values()].filter((r) => r.packageId === pkg.id && (!ctx.query.search || r.name.includes(ctx.query.search))).reverse(); // newest first
        return this.#list(ctx.query, revs, (r) => revisionView(r, this));
      }
    }
    if (kind === 'package-revisions') {
      if (id === undefined && method === 'POST') {
        strict(body, REVISION_FIELDS, 'package revision');
        return ok(revisionView(this.#createRevision(this.#get(this.packages, body.packageId, 400, 'packageId'), body), this));
      }
      if (id === undefined) throw notFound(method, ctx.rawPath);
      const rev = this.#get(this.revisions, id);
      if (sub === undefined && method === 'GET') return ok(revisionView(rev, this));
      if (sub === 'package-deployments' && method === 'GET')
        return this.#list(ctx.query, [...this.deployments.values()].filter((d) => d.packageRevisionId === rev.id), deploymentView);
    }
    if (kind === 'package-deployments') {
      if (id === undefined && method === 'POST') return ok(deploymentView(this.#createDeployment(body)));
      if (id === undefined) throw notFound(method, ctx.rawPath);
      const dep = this.#get(this.deployments, id);
      if (sub === undefined && method === 'GET') return ok(deploymentView(dep));
      if (sub === undefined && method === 'DELETE') {
        if (dep.state === 'RUNNING') throw fail(true, 409, 'The deployment is running: stop it first');
        this.deployments.delete(dep.id);
        return ok(deploymentView(dep));
      }
      if (sub === 'function-deployments' && method === 'POST') return ok(deploymentView(await this.#start(dep)));
      if (sub === 'function-deployments' && method === 'DELETE') return ok(deploymentView(await this.#stop(dep)));
      if (sub === 'function-deployments' && method === 'PUT') return ok(deploymentView(await this.#rollingUpdate(dep, body)));
    }
    throw notFound(method, ctx.rawPath);
  }

  // ------------------------------------------------------------------ keysets
  #keysets(method, [id, sub, extra], query, body) {
    const keyset = () => ({
      id: keysetIdValue(this.keysetId), name: 'local keyset', appId: 'local-app', type: 'testing',
      publishKey: this.rt.opts.publishKey ?? 'pub-c-local', subscribeKey: this.rt.opts.subscribeKey ?? 'sub-c-local',
    });
    if (extra !== undefined) throw fail(false, 404, 'Not Found');
    if (id === undefined && method === 'GET') {
      for (const k of Object.keys(query)) if (!['page', 'limit'].includes(k)) throw fail(false, 400, `Unknown query parameter ${k}`);
      const page = Number(query.page ?? 1);
      return { keysets: page === 1 ? [keyset()] : [], total: 1 };
    }
    if (id === undefined) throw fail(false, 404, 'Not Found');
    if (id !== this.keysetId) throw fail(false, 404, `Keyset ${id} not found`);
    if (sub === undefined && method === 'GET') return keyset();
    if (sub === 'config' && method === 'GET') return this.keysetConfig();
    if (sub === 'config' && method === 'PATCH') return this.#patchConfig(body);
    throw fail(false, method === 'PUT' || method === 'POST' ? 405 : 404, method === 'PUT' || method === 'POST' ? `${method} is not allowed here: keyset configuration is written with PATCH` : 'Not Found');
  }

  #initialConfig() {
    const o = this.rt.opts;
    return {
      accessManager: { enabled: !!o.secretKey, tokenRevoke: false },
      messagePersistence: { enabled: false, retention: null, includePresenceEvents: false, deleteFromHistory: false },
      appContext: { enabled: true, region: 'aws-iad-1', userMetadataEvents: false, channelMetadataEvents: false, membershipEvents: false, disallowGetAllChannelMetadata: false, disallowGetAllUserMetadata: false, referentialIntegrity: false },
      files: { enabled: false, retention: null, region: null },
      streamController: { enabled: true, wildcardSubscribe: true, channelGroupLimit: o.channelGroupLimit ?? 2000 },
      // No `enabled`: PubNub's configuration response does not carry it (portal/types.ts).
      presence: { announceMax: o.announceMax ?? 100, interval: o.intervalSec ?? 10, deltas: o.deltas ?? true, generateLeaveOnDisconnect: false, streamFiltering: false, activeNoticeChannel: null, debounce: null },
      apns: { enabled: false, teamId: null, authKeyId: null, filename: null },
      fcm: { filename: null },
    };
  }

  /** The keyset's configuration in the shape PubNub returns it. */
  keysetConfig() {
    return structuredClone(this.config);
  }

  /**
   * A partial update, checked whole before anything changes (PubNub's client schema: announce
   * max 0..100, interval ≥ 10 s, a region to enable App Context, which cannot change later).
   * The presence and channel-group settings take effect in the runtime at once; Access Manager
   * stays what the secret key makes it (the runtime cannot check tokens without one).
   */
  #patchConfig(body) {
    const bad = [];
    for (const [section, fields] of Object.entries(body)) {
      if (!CONFIG_FIELDS[section]) bad.push(`property ${section} should not exist`);
      else if (!fields || typeof fields !== 'object' || Array.isArray(fields)) bad.push(`${section} must be an object`);
      else for (const f of Object.keys(fields)) if (!CONFIG_FIELDS[section].includes(f)) bad.push(`property ${section}.${f} should not exist`);
    }
    const p = body.presence ?? {};
    if (p.announceMax !== undefined && !(Number.isInteger(p.announceMax) && p.announceMax >= 0 && p.announceMax <= 100)) bad.push('presence.announceMax must be an integer from 0 to 100');
    if (p.interval !== undefined && !(Number.isInteger(p.interval) && p.interval >= 10)) bad.push('presence.interval must be an integer ≥ 10');
    for (const [section, fields] of Object.entries(body)) {
      for (const [f, v] of Object.entries(fields ?? {})) {
        if (['enabled', 'deltas', 'tokenRevoke', 'wildcardSubscribe'].includes(f) || f.startsWith('disallow') || f.endsWith('Events') || f === 'referentialIntegrity')
          if (typeof v !== 'boolean') bad.push(`${section}.${f} must be a boolean`);
      }
    }
    const ac = body.appContext;
    if (ac?.region !== undefined && !APP_CONTEXT_REGIONS.includes(ac.region)) bad.push(`appContext.region must be one of ${APP_CONTEXT_REGIONS.join(', ')}`);
    if (ac?.region !== undefined && this.config.appContext.region && ac.region !== this.config.appContext.region) bad.push('appContext.region cannot be changed once set');
    if (ac?.enabled && !this.config.appContext.region && ac.region === undefined) bad.push('appContext.region is required when enabling App Context');
    if (bad.length) throw fail(false, 400, bad);
    for (const [section, fields] of Object.entries(body)) Object.assign((this.config[section] ??= {}), fields);
    delete this.config.presence.enabled; // written, but not part of what PubNub returns
    const { presence, groups } = this.rt;
    if (presence && p.announceMax !== undefined) presence.announceMax = p.announceMax;
    if (presence && p.deltas !== undefined) presence.deltas = p.deltas;
    if (groups && body.streamController?.channelGroupLimit !== undefined) groups.limit = body.streamController.channelGroupLimit;
    return this.keysetConfig();
  }

  // ------------------------------------------------------------------ Functions
  #list(query, items, view) {
    for (const k of Object.keys(query)) if (!LIST_QUERY.includes(k)) throw fail(true, 400, `Unknown query parameter ${k} (lists take ${LIST_QUERY.join(', ')})`);
    const size = Math.min(Number(query.size ?? 20), this.limits.pageSize);
    const page = Number(query.page ?? 0);
    if (!Number.isInteger(size) || size < 1 || !Number.isInteger(page) || page < 0) throw fail(true, 400, 'page must be ≥ 0 and size ≥ 1');
    const slice = items.slice(page * size, (page + 1) * size);
    return {
      data: slice.map(view),
      meta: { ...meta(), paging: { totalElements: items.length, totalPages: Math.ceil(items.length / size), pageSize: size, pageNumber: page, pageOffset: page * size } },
      errors: [],
    };
  }

  #get(map, id, status = 404, what = 'id') {
    const v = typeof id === 'string' ? map.get(id) : undefined;
    if (!v) throw fail(true, status, status === 404 ? 'Entity not found' : `Unknown ${what}`);
    return v;
  }

  #createPackage(body) {
    strict(body, PACKAGE_FIELDS, 'package'); // no accountId: the account is the API key's
    if (typeof body.name !== 'string' || !body.name) throw fail(true, 400, 'name is required');
    if (typeof body.revisionName !== 'string' || !body.revisionName) throw fail(true, 400, 'revisionName is required');
    if ([...this.packages.values()].some((p) => p.name === body.name)) throw fail(true, 409, `A package named ${body.name} exists`);
    const functions = this.#checkFunctions(body.functions); // before anything is stored
    const now = new Date().toISOString();
    const pkg = { id: randomUUID(), name: body.name, description: body.description ?? '', tags: body.tags ?? [], apiManaged: body.apiManaged ?? false, createdDttm: now, updatedDttm: now };
    this.packages.set(pkg.id, pkg);
    this.#createRevision(pkg, { name: body.revisionName, description: body.description, functions }, true);
    return pkg;
  }

  #deletePackage(pkg) {
    const revs = [...this.revisions.values()].filter((r) => r.packageId === pkg.id);
    const deps = [...this.deployments.values()].filter((d) => revs.some((r) => r.id === d.packageRevisionId));
    if (deps.some((d) => d.state === 'RUNNING')) throw fail(true, 409, 'The package has running deployments: stop them first');
    for (const d of deps) this.deployments.delete(d.id);
    for (const r of revs) this.revisions.delete(r.id);
    this.packages.delete(pkg.id);
    return pkg;
  }

  #createRevision(pkg, body, checked = false) {
    const functions = checked ? body.functions : this.#checkFunctions(body.functions);
    const now = new Date().toISOString();
    const rev = { id: randomUUID(), packageId: pkg.id, name: String(body.name ?? ''), description: body.description ?? '', createdDttm: now, updatedDttm: now };
    // Creation times must order revisions even within one millisecond (rollback goes by them).
    const last = [...this.revisions.values()].at(-1);
    if (last && last.createdDttm >= now) rev.createdDttm = rev.updatedDttm = new Date(Date.parse(last.createdDttm) + 1).toISOString();
    rev.functions = functions.map((f, i) => ({
      id: randomUUID(), functionRevisionId: randomUUID(), packageRevisionId: rev.id, sortOrder: i, createdDttm: now, updatedDttm: now, ...f,
    }));
    this.revisions.set(rev.id, rev);
    return rev;
  }

  #createDeployment(body) {
    strict(body, DEPLOYMENT_FIELDS, 'package deployment');
    const rev = this.#get(this.revisions, body.packageRevisionId, 400, 'packageRevisionId');
    if (String(body.keysetId) !== this.keysetId) throw fail(true, 404, `Keyset ${body.keysetId} not found`);
    const now = new Date().toISOString();
    const dep = { id: randomUUID(), packageRevisionId: rev.id, keysetId: keysetIdValue(this.keysetId), state: 'STOPPED', createdDttm: now, updatedDttm: now };
    this.deployments.set(dep.id, dep);
    return dep;
  }

  async #start(dep) {
    const before = dep.state;
    dep.state = 'RUNNING';
    await this.#apply(() => (dep.state = before));
    return touch(dep);
  }

  async #stop(dep) {
    const before = dep.state;
    dep.state = 'STOPPED';
    await this.#apply(() => (dep.state = before));
    return touch(dep);
  }

  /** The running deployment `dep` hands over to `newPackageDeploymentId` (made beforehand). */
  async #rollingUpdate(dep, body) {
    strict(body, ['newPackageDeploymentId'], 'rolling update');
    const next = this.#get(this.deployments, body.newPackageDeploymentId, 400, 'newPackageDeploymentId');
    if (dep.state !== 'RUNNING') throw fail(true, 400, 'Only a running deployment can be rolled');
    if (next.id === dep.id || String(next.keysetId) !== String(dep.keysetId)) throw fail(true, 400, 'The new deployment must be another deployment on the same keyset');
    dep.state = 'STOPPED';
    const before = next.state;
    next.state = 'RUNNING';
    await this.#apply(() => ((dep.state = 'RUNNING'), (next.state = before)));
    touch(dep);
    return touch(next);
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
        defs.push({ name: f.name, type: f.type, channels: f.config.inputChannel, intervalMs: f.config.intervalMs, path: f.config.path, code: f.code });
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

  /** Function definitions of a package or revision body, checked as PubNub would refuse them. */
  #checkFunctions(list) {
    if (!Array.isArray(list) || !list.length) throw fail(true, 400, 'functions: a non-empty array is required');
    if (list.length > this.limits.functions) throw fail(true, 400, 'Functions per package revision limit reached', 'FAAS-1006');
    const names = new Set();
    return list.map((f, i) => {
      const where = `functions[${i}]`;
      if (!f || typeof f !== 'object') throw fail(true, 400, `${where}: an object is required`);
      strict(f, FUNCTION_FIELDS, where);
      if (typeof f.name !== 'string' || !f.name || names.has(f.name)) throw fail(true, 400, `${where}.name: a unique name is required`);
      names.add(f.name);
      if (!TYPES.includes(f.type)) throw fail(true, 400, `${where}.type: one of ${TYPES.join(', ')}`);
      if (f.language !== 'JAVASCRIPT') throw fail(true, 400, `${where}.language: JAVASCRIPT`);
      if (typeof f.code !== 'string' || !f.code) throw fail(true, 400, `${where}.code: the source is required`);
      const bytes = Buffer.byteLength(f.code);
      if (bytes > this.limits.codeBytes) throw fail(true, 400, `${where}.code: ${bytes} bytes, over the code size limit`);
      const c = f.config ?? {};
      if (f.type === 'ON_INTERVAL') {
        if (!Number.isInteger(c.intervalMs) || c.intervalMs < this.limits.intervalMs) throw fail(true, 400, `${where}.config.intervalMs: whole milliseconds ≥ ${this.limits.intervalMs}`);
      } else if (f.type === 'ON_REQUEST') {
        if (typeof c.path !== 'string' || !/^[\w.-]+(\/[\w.-]+)*$/.test(c.path)) throw fail(true, 400, `${where}.config.path: the URI path is required`);
      } else if (typeof c.inputChannel !== 'string' || !c.inputChannel) {
        throw fail(true, 400, `${where}.config.inputChannel: the channel (pattern) is required`);
      }
      return { name: f.name, language: f.language, type: f.type, code: f.code, config: { ...c, type: f.type } };
    });
  }
}

const meta = () => ({ timestamp: new Date().toISOString(), correlationId: randomUUID() });
const ok = (data) => ({ data, meta: meta(), errors: [] });
const touch = (x) => ((x.updatedDttm = new Date().toISOString()), x);
const keysetIdValue = (id) => (/^\d+$/.test(id) ? Number(id) : id);
const notFound = (method, p) => fail(true, 404, `No such Admin API endpoint: ${method} ${p.split('?')[0]}`);

/** Refuses a body with a field the endpoint does not take. */
function strict(body, fields, what) {
  const unknown = Object.keys(body ?? {}).filter((k) => !fields.includes(k));
  if (unknown.length) throw fail(true, 400, `${what}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (takes ${fields.join(', ')})`);
}

function packageView(p) {
  return { id: p.id, name: p.name, description: p.description, apiManaged: p.apiManaged, tags: p.tags, createdDttm: p.createdDttm, updatedDttm: p.updatedDttm };
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
function fail(faas, status, message, code = `FAAS-${status}`) {
  const name = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict' }[status] ?? 'InternalError';
  const messages = [].concat(message);
  return new ApiError(status, faas ? { meta: meta(), errors: messages.map((m) => ({ code, message: m })) } : { statusCode: status, error: name, message: messages });
}
