// PubNub Functions host. Each Function from pkg/functions/manifest.json is an ES module evaluated in
// its own bare vm context — ECMAScript built-ins, a captured `console` and a `require` that knows
// only 'pubnub' and 'kvstore' (no process, Buffer, timers, TextEncoder...), like PubNub's sandbox.
// Needs node --experimental-vm-modules (vm.SourceTextModule).
//
// Per execution: op budgets (10 PubNub API + 10 publish/fire/signal + 10 KV, or 3 combined),
// a 10 s limit, a 3-deep Function→publish→Function chain, one log line.
import fs from 'node:fs';
import path from 'node:path';
import { format } from 'node:util';
import vm from 'node:vm';
import { AsyncLocalStorage } from 'node:async_hooks';
import { ApiError, channelMatches, jsonCopy } from './util.mjs';
import { wanProfile, wanWait } from './wan.mjs';
import { PLATFORM } from '../../platform.mjs';

const TYPES = ['AFTER_PRESENCE', 'AFTER_PUBLISH', 'BEFORE_PUBLISH', 'ON_INTERVAL', 'ON_REQUEST'];
const KEEP = 1000; // captured console lines and execution records kept for inspection

// Realm helpers evaluated inside each context, so what a Function receives (results, errors,
// promises, request objects) is made of that context's own built-ins (instanceof works there).
const REALM = `({
  copy: (json) => (json === undefined ? undefined : JSON.parse(json)),
  error: (message, extra) => Object.assign(new Error(message), JSON.parse(extra)),
  promise: (run) => new Promise(run),
  sent: (tt) => Object.assign([1, 'Sent', tt], { timetoken: tt }),
  request: (json, extra) => {
    let outcome = 'ok';
    const r = Object.assign(JSON.parse(json), extra);
    r.ok = function () { outcome = 'ok'; return Promise.resolve(this); };
    r.abort = function () { outcome = 'abort'; return Promise.resolve(this); };
    return [r, () => outcome];
  },
})`;
// Calling the handler through a script lets vm's timeout stop a synchronous runaway loop.
const CALL = new vm.Script('(() => { const c = globalThis.__lpCall; delete globalThis.__lpCall; return c.f(c.a, c.b); })()');

export class FunctionsHost {
  constructor(rt, o) {
    this.rt = rt;
    this.manifest = o.functions; // path of manifest.json, or undefined for none
    this.opsLimit = Number(o.opsLimit ?? PLATFORM.execution.kvCalls); // 10 = 10 each; 3 = 3 combined (older docs)
    this.noWebAssembly = !!o.noWebAssembly;
    this.textCodecs = !!o.textCodecs;
    this.freshModules = !!o.freshModules;
    // Who pays for a host call: 'module' — the execution that require()d the module object
    // it went through; 'context' — the execution whose async context made it (PubNub
    // documents neither; the suite runs under both, FP_OPS_ATTRIBUTION).
    this.opsAttribution = o.opsAttribution ?? (process.env.FP_OPS_ATTRIBUTION === 'context' ? 'context' : 'module');
    // Host-call faults, as the platform's would look (a rejected call, status 503): a seeded
    // rate over every call, and targeted ones for the next execution of a Function.
    const rate = o.faults?.rate ?? Number(process.env.FP_FAULT_RATE ?? 0);
    this.faults = { rate, seed: o.faults?.seed ?? Number(process.env.FP_FAULT_SEED ?? 1), injected: 0, targeted: [] };
    this.random = seeded(this.faults.seed);
    this.maxChain = o.maxChain ?? PLATFORM.execution.chainDepth;
    this.execTimeoutMs = o.execTimeoutMs ?? 10e3;
    this.intervalOverrideMs = o.functionIntervalMs; // tests: run On Interval Functions faster
    this.fns = [];
    this.console = []; // {fn, level, text}
    this.executions = []; // {name, type, target, ms, ops, result, error}
    this.inflight = new Set();
    this.timers = new Map();
    this.als = new AsyncLocalStorage();
    this.wan = wanProfile(o.wan); // each host call waits a round trip inside PubNub (wan.mjs)
  }

  async load() {
    if (!this.manifest) return;
    const dir = path.dirname(path.resolve(this.manifest));
    const { functions = [] } = JSON.parse(fs.readFileSync(this.manifest, 'utf8'));
    const defs = functions.map((def) => {
      const file = path.resolve(dir, def.file);
      return { ...def, file, code: fs.readFileSync(file, 'utf8') };
    });
    await this.install(defs);
  }

  /**
   * Replace every hosted Function with `defs` ({name, type, channels?, intervalMs?, code, file?}):
   * what a manifest load and an Admin API deployment (admin.mjs) both end in. All of them are
   * compiled first, so a broken one leaves the running set untouched. Executions already
   * running finish in their old context; On Interval timers of the old set stop, the new
   * set's start if the runtime has started them.
   */
  async install(defs) {
    const fns = [];
    for (const def of defs) {
      if (!TYPES.includes(def.type)) throw new Error(`Function ${def.name}: unknown type ${def.type}`);
      if (typeof def.code !== 'string') throw new Error(`Function ${def.name}: no source code`);
      fns.push({ ...def, ...(await this.#compile(def.name, def.code, def.file ?? `deployed:${def.name}`)) });
    }
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.fns = fns;
    if (this.intervalsStarted) this.startIntervals();
  }

  async #compile(name, source, identifier) {
    // Under 'module' attribution, a module required inside a handler belongs to that
    // execution: its ops count there even when a scheduler inside the Function makes the call
    // from another execution's async context. Required at top level, it has no owner and the
    // async context decides. Under 'context' attribution only the async context decides.
    const require = (id) => {
      if (id === 'pubnub') return this.#pubnubModule(realm, this.als.getStore());
      if (id === 'kvstore') return this.#kvModule(realm, this.als.getStore());
      throw new Error(`Cannot find module '${id}' (Functions offer 'pubnub' and 'kvstore' here)`);
    };
    // The sandbox's globals, switchable to find out what the probe detects (scripts/deploy
    // --probe): no WebAssembly; native TextEncoder/TextDecoder (absent by default, as PubNub
    // documents neither); and (freshModules, in #execute) no module global surviving an execution.
    const globals = { console: this.#console(name), require };
    if (this.textCodecs) Object.assign(globals, { TextEncoder, TextDecoder });
    const context = vm.createContext(globals, { name: `function:${name}` });
    if (this.noWebAssembly) vm.runInContext('delete globalThis.WebAssembly', context);
    const realm = vm.runInContext(REALM, context);
    const mod = new vm.SourceTextModule(source, { context, identifier });
    await mod.link((spec) => {
      throw new Error(`Function ${name}: import '${spec}' is not available in Functions`);
    });
    await mod.evaluate({ timeout: this.execTimeoutMs });
    const handler = mod.namespace.default;
    if (typeof handler !== 'function') throw new Error(`Function ${name}: no default export function in ${identifier}`);
    return { context, realm, handler };
  }

  #console(fn) {
    const out = {};
    for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
      out[level] = (...args) => {
        const text = format(...args);
        keep(this.console, { fn, level, text });
        this.rt.log(`[fn:${fn}] ${level === 'log' ? '' : level + ': '}${text}`);
      };
    }
    return out;
  }

  // ------------------------------------------------------------------ triggers
  #bound(type, channel) {
    return this.fns.filter((f) => f.type === type && channelMatches(f.channels, channel));
  }

  /** Before Publish Functions in manifest order; each may rewrite `request.message` or abort. */
  async beforePublish(ev) {
    let message = ev.message;
    if (ev.depth >= this.maxChain) return message;
    for (const fn of this.#bound('BEFORE_PUBLISH', ev.channel)) {
      const out = await this.#execute(fn, ev.channel, ev.depth, (realm) => realm.request(JSON.stringify(requestFields({ ...ev, message })), {}));
      if (out.result === 'abort') throw new ApiError(400, { status: 400, error: true, message: `Message aborted by Function ${fn.name}`, service: 'Functions' });
      if (out.result === 'ok') message = out.message;
    }
    return message;
  }

  afterPublish(ev) {
    const fns = this.#bound('AFTER_PUBLISH', ev.channel);
    if (ev.depth >= this.maxChain) {
      if (fns.length) this.rt.log(`[functions] chain limit: AFTER_PUBLISH on ${ev.channel} not run (hop ${ev.depth + 1} > ${this.maxChain})`);
      return;
    }
    for (const fn of fns) this.#execute(fn, ev.channel, ev.depth, (realm) => realm.request(JSON.stringify(requestFields(ev)), {}));
  }

  /** After Presence: `message` is the presence payload, `channels` the (non -pnpres) channel. */
  afterPresence(channel, payload) {
    for (const fn of this.#bound('AFTER_PRESENCE', channel)) {
      const fields = requestFields({ channel, message: payload, publisher: payload.uuid, verb: 'presence', subKey: this.rt.opts.subscribeKey });
      this.#execute(fn, channel, 0, (realm) => realm.request(JSON.stringify(fields), {}));
    }
  }

  startIntervals() {
    this.intervalsStarted = true;
    for (const fn of this.fns.filter((f) => f.type === 'ON_INTERVAL')) this.#schedule(fn);
  }
  #schedule(fn) {
    // The next run is timed from the end of the previous one, as PubNub does.
    const t = setTimeout(async () => {
      await this.runInterval(fn.name).catch(() => {}); // replaced by a deployment meanwhile
      if (this.timers.get(fn.name) === t && this.fns.includes(fn)) this.#schedule(fn);
    }, this.intervalOverrideMs ?? fn.intervalMs ?? 10e3);
    t.unref();
    this.timers.set(fn.name, t);
  }

  /** Run an On Interval Function now (also what the timer does). */
  runInterval(name) {
    const fn = this.fns.find((f) => f.name === name && f.type === 'ON_INTERVAL');
    if (!fn) throw new Error(`no ON_INTERVAL Function named ${name}`);
    return this.#execute(fn, 'interval', 0, (realm) => realm.request(JSON.stringify({ verb: 'interval', timestamp: Date.now() }), {}));
  }

  /** /v1/blocks/sub-key/{sub}/{path...} → the On Request Function bound to that path. */
  async onRequest(ctx) {
    const rest = ctx.seg.slice(5).join('/');
    const fn = this.fns.find((f) => f.type === 'ON_REQUEST' && typeof f.path === 'string' && (rest === f.path || rest.startsWith(f.path + '/')));
    if (!fn) throw new ApiError(404, { status: 404, error: true, message: `No On Request Function at ${rest}`, service: 'Functions' });
    const { req } = ctx;
    const fields = {
      method: req.method, verb: 'rest', path: rest, uri: ctx.rawPath, params: ctx.query, query: ctx.query, headers: req.headers,
      body: ctx.body, meta: { clientip: req.socket.remoteAddress, origin: req.headers.host, useragent: req.headers['user-agent'] },
    };
    const response = { status: 200, headers: {}, body: undefined, sent: false };
    const out = await this.#execute(fn, rest, 0, (realm, context) => {
      const [request, outcome] = realm.request(JSON.stringify(fields), {
        json: () => realm.promise((res, rej) => {
          try {
            res(realm.copy(JSON.stringify(JSON.parse(ctx.body))));
          } catch (e) {
            rej(realm.error(`request body is not JSON: ${e.message}`, '{}'));
          }
        }),
      });
      const resp = vm.runInContext('({ status: 200, headers: {} })', context);
      resp.send = (body, status) => {
        Object.assign(response, { body, status: status ?? resp.status, headers: { ...resp.headers }, sent: true });
        return realm.promise((ok) => ok());
      };
      return [request, outcome, resp];
    });
    const { res } = ctx;
    if (!response.sent) {
      const message = out.result === 'ok' ? 'Function did not call response.send()' : `Function ${out.result}: ${out.error ?? ''}`;
      throw new ApiError(500, { status: 500, error: true, message, service: 'Functions' });
    }
    const isText = typeof response.body === 'string';
    const headers = { 'Access-Control-Allow-Origin': '*', ...lower(response.headers) };
    headers['content-type'] ??= isText ? 'text/plain; charset=UTF-8' : 'application/json; charset=UTF-8';
    res.writeHead(response.status, headers);
    res.end(isText ? response.body : JSON.stringify(response.body ?? null));
  }

  // ------------------------------------------------------------------ execution
  /**
   * Run one execution. `make(realm)` builds the handler's arguments: [request, outcome] or
   * [request, outcome, response]. Resolves to {result: ok|abort|error|timeout, message?, error?}.
   */
  #execute(fn, target, depth, make) {
    const exec = { fn: fn.name, depth, ops: { api: 0, publish: 0, kv: 0 } };
    const started = performance.now();
    const run = (async () => {
      let result = 'ok', error, message, timer;
      try {
        // freshModules: the module is evaluated anew for every execution (no global survives).
        const inst = this.freshModules ? await this.#compile(fn.name, fn.code, `${fn.file ?? `deployed:${fn.name}`}#${this.executions.length}`) : fn;
        const [request, outcome, response] = make(inst.realm, inst.context);
        inst.context.__lpCall = { f: inst.handler, a: request, b: response };
        const returned = this.als.run(exec, () => CALL.runInContext(inst.context, { timeout: this.execTimeoutMs }));
        const limit = new Promise((_, reject) => {
          timer = setTimeout(() => reject(Object.assign(new Error(`execution exceeded ${this.execTimeoutMs} ms`), { timeout: true })), this.execTimeoutMs);
        });
        await Promise.race([Promise.resolve(returned), limit]);
        result = outcome();
        message = jsonCopy(request.message);
      } catch (e) {
        result = e?.timeout || e?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT' ? 'timeout' : 'error';
        error = e?.message ?? String(e);
      } finally {
        clearTimeout(timer);
      }
      const ms = Math.round(performance.now() - started);
      const ops = exec.ops;
      keep(this.executions, { name: fn.name, type: fn.type, target, depth, ms, ops: { ...ops }, result, error });
      this.rt.log(`[functions] ${fn.name} ${fn.type} ${target} ${ms}ms ops api=${ops.api} publish=${ops.publish} kv=${ops.kv} -> ${result}${error ? ': ' + error : ''}`);
      return { result, message, error };
    })();
    this.inflight.add(run);
    run.finally(() => this.inflight.delete(run));
    return run;
  }

  /** The execution a host call belongs to, by the attribution rule in force. */
  #execOf(owner) {
    return this.opsAttribution === 'context' ? this.als.getStore() : owner ?? this.als.getStore();
  }

  /** Count one op of `kind` for `exec`; throw once its budget is spent. */
  #spend(kind, exec) {
    if (!exec) return; // module top level: not inside an execution
    const o = exec.ops;
    if (this.opsLimit === 3 ? o.api + o.publish + o.kv >= 3 : o[kind] >= this.opsLimit) {
      const what = this.opsLimit === 3 ? 'combined' : kind;
      throw new Error(`${what} execution calls exceeds the limit of ${this.opsLimit} per execution`);
    }
    o[kind]++;
  }

  /**
   * Faults to inject: `{rate, seed}` for every host call from now on, and targeted ones for the
   * next execution of Function `fn`: `{fn, failCall: n, kind?}` fails its n-th call (of `kind`:
   * api, publish or kv, if given); `{fn, crashAfter: n}` fails every call after its n-th, as if
   * the execution had died there (a failed call changes nothing, as a call never made).
   */
  injectFaults({ rate, seed, fn, failCall, kind, crashAfter } = {}) {
    if (rate !== undefined) this.faults.rate = rate;
    if (seed !== undefined) this.random = seeded((this.faults.seed = seed));
    if (fn) this.faults.targeted.push({ fn, failCall, kind, crashAfter, exec: null });
  }

  /** Whether this call of `exec` fails; counts the calls of targeted executions. */
  #faulty(kind, exec) {
    if (!exec) return false;
    for (const t of this.faults.targeted) {
      if (t.exec === null && t.fn === exec.fn) t.exec = exec; // the next execution of fn
      if (t.exec !== exec) continue;
      exec.calls = (exec.calls ?? 0) + 1;
      exec.callsOf = exec.callsOf ?? { api: 0, publish: 0, kv: 0 };
      exec.callsOf[kind]++;
      if (t.crashAfter !== undefined && exec.calls > t.crashAfter) return true;
      if (t.failCall !== undefined && (t.kind ? t.kind === kind && exec.callsOf[kind] === t.failCall : exec.calls === t.failCall)) return true;
      return false;
    }
    return this.faults.rate > 0 && this.random() < this.faults.rate;
  }

  /** Wrap a host call as a context-realm promise: args copied in, results and errors copied out. */
  #wrap(realm, owner, kind, fn, shape = (v) => realm.copy(JSON.stringify(v))) {
    return (...args) =>
      realm.promise((resolve, reject) => {
        Promise.resolve()
          .then(() => {
            const exec = this.#execOf(owner);
            this.#spend(kind, exec);
            if (this.#faulty(kind, exec)) {
              this.faults.injected++;
              throw new ApiError(503, { status: 503, error: true, message: 'Service Unavailable (injected fault)', service: 'local-pubnub' });
            }
            const copied = args.map(jsonCopy);
            return this.wan ? wanWait(this.wan.hostCallMs).then(() => fn(...copied)) : fn(...copied);
          })
          .then((v) => resolve(shape(v)), (e) => reject(toRealmError(realm, e)));
      });
  }

  // ------------------------------------------------------------------ modules
  #kvModule(realm, owner) {
    const { rt } = this;
    const w = (fn, shape) => this.#wrap(realm, owner, 'kv', fn, shape);
    const set = async (key, value, ttl) => void (await rt.commit(rt.kv.set(key, value, ttl)));
    const kv = {
      get: w(async (key) => rt.kv.get(key)),
      set: w(set),
      getItem: w(async (key) => rt.kv.get(key)),
      setItem: w(async (key, value, ttl) => {
        if (typeof value !== 'string') throw new TypeError('kvstore.setItem expects a string value');
        return set(key, value, ttl);
      }),
      removeItem: w(async (key) => void (await rt.commit(rt.kv.remove(key)))),
      incrCounter: w(async (key, by = 1) => {
        const { value, records } = rt.kv.incr(key, by);
        await rt.commit(records);
        return value;
      }),
      getCounter: w(async (key) => rt.kv.getCounter(key)),
      getKeys: w(async (after) => rt.kv.keys(after)),
    };
    return kv;
  }

  #pubnubModule(realm, owner) {
    const { rt } = this;
    const api = (fn) => this.#wrap(realm, owner, 'api', fn);
    const publishing = (verb) =>
      this.#wrap(
        realm,
        owner,
        'publish',
        async (p = {}) => {
          const depth = ((owner ?? this.als.getStore())?.depth ?? -1) + 1;
          const tt = await rt.publish({ channel: p.channel, message: p.message, meta: p.meta, verb, depth, cmt: p.customMessageType, publisher: 'pn-functions' });
          return String(tt);
        },
        (tt) => realm.sent(tt), // `[1,"Sent",tt]`, with `.timetoken` for SDK-shaped callers
      );
    return {
      publish: publishing('publish'),
      fire: publishing('fire'),
      signal: publishing('signal'),
      time: api(async () => ({ timetoken: Number(rt.clock.next()) })),
      hereNow: api(async (p = {}) => {
        const includeUUIDs = p.includeUUIDs ?? true;
        const raw = rt.hereNow({
          channels: p.channels ?? [], groups: p.channelGroups ?? [], uuids: includeUUIDs, state: !!p.includeState,
          limit: p.limit ?? 1000, offset: p.offset ?? 0,
          all: !(p.channels?.length || p.channelGroups?.length),
        });
        // The SDK's shape: occupants as {uuid, state}, totals over the channels returned.
        const channels = Object.fromEntries(
          Object.entries(raw).map(([name, v]) => [name, { name, occupancy: v.occupancy, occupants: (v.uuids ?? []).map((u) => (typeof u === 'string' ? { uuid: u, state: null } : u)) }]),
        );
        return { totalChannels: Object.keys(channels).length, totalOccupancy: Object.values(channels).reduce((n, c) => n + c.occupancy, 0), channels };
      }),
      whereNow: api(async (p = {}) => ({ channels: rt.presence.whereNow(p.uuid) })),
      setState: api(async (p = {}) => {
        rt.presence.setState(p.uuid ?? 'pn-functions', rt.presenceTargets(p.channels ?? [], p.channelGroups ?? []), p.state);
        return { state: p.state };
      }),
      getState: api(async (p = {}) => {
        const targets = rt.presenceTargets(p.channels ?? [], p.channelGroups ?? []);
        return { channels: Object.fromEntries(targets.map((c) => [c, rt.presence.getState(p.uuid, c)])) };
      }),
      grantToken: api(async (p = {}) => {
        if (!rt.pam) throw new ApiError(400, { status: 400, error: true, message: 'Access Manager is off (no secret key)', service: 'Access Manager' });
        return rt.pam.grant(grantBody(p));
      }),
      channelGroups: {
        addChannels: api(async (p = {}) => (await rt.groupAdd(p.channelGroup, p.channels ?? []), {})),
        removeChannels: api(async (p = {}) => (await rt.groupRemove(p.channelGroup, p.channels ?? []), {})),
        deleteGroup: api(async (p = {}) => (await rt.groupDelete(p.channelGroup), {})),
        listChannels: api(async (p = {}) => ({ channels: rt.groups.listChannels(p.channelGroup) })),
        listGroups: api(async () => ({ groups: rt.groups.list() })),
      },
      objects: {
        getUUIDMetadata: api(async (p) => rt.objects.get('uuid', need(p, 'uuid'), entityInclude(p))),
        setUUIDMetadata: api(async (p) => rt.objectsWrite(rt.objects.set('uuid', need(p, 'uuid'), p.data, entityInclude(p), p.ifMatchesEtag))),
        removeUUIDMetadata: api(async (p) => rt.objectsWrite(rt.objects.remove('uuid', need(p, 'uuid')))),
        getAllUUIDMetadata: api(async (p = {}) => rt.objects.list('uuid', listQuery(p, entityInclude(p, false)))),
        getChannelMetadata: api(async (p) => rt.objects.get('channel', need(p, 'channel'), entityInclude(p))),
        setChannelMetadata: api(async (p) => rt.objectsWrite(rt.objects.set('channel', need(p, 'channel'), p.data, entityInclude(p), p.ifMatchesEtag))),
        removeChannelMetadata: api(async (p) => rt.objectsWrite(rt.objects.remove('channel', need(p, 'channel')))),
        getAllChannelMetadata: api(async (p = {}) => rt.objects.list('channel', listQuery(p, entityInclude(p, false)))),
        getChannelMembers: api(async (p) => rt.objects.relations('uuid', need(p, 'channel'), listQuery(p, sdkIncludeFlags(p.include, 'uuid')))),
        setChannelMembers: api(async (p) => relationsWrite(rt, 'uuid', need(p, 'channel'), 'set', p.uuids, p)),
        removeChannelMembers: api(async (p) => relationsWrite(rt, 'uuid', need(p, 'channel'), 'delete', p.uuids, p)),
        getMemberships: api(async (p) => rt.objects.relations('channel', need(p, 'uuid'), listQuery(p, sdkIncludeFlags(p.include, 'channel')))),
        setMemberships: api(async (p) => relationsWrite(rt, 'channel', need(p, 'uuid'), 'set', p.channels, p)),
        removeMemberships: api(async (p) => relationsWrite(rt, 'channel', need(p, 'uuid'), 'delete', p.channels, p)),
      },
    };
  }

  async close() {
    this.intervalsStarted = false;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inflight]);
  }
}

// ---------------------------------------------------------------------- helpers

/** The fields of a Function request object for a publish-like trigger. */
function requestFields({ channel, message, publisher, meta, verb, subKey, timetoken }) {
  return {
    message,
    channels: [channel],
    params: { uuid: publisher ?? '', ...(meta !== undefined ? { meta: JSON.stringify(meta) } : {}) },
    meta: { clientip: '127.0.0.1', origin: 'local-pubnub', useragent: 'local-pubnub', ...(meta !== undefined ? { userMetadata: meta } : {}) },
    verb,
    subkey: subKey,
    version: '2.0',
    ...(timetoken ? { timetoken } : {}),
  };
}

/** SDK-like rejection: a PubNubError-style error with `status.statusCode` and `status.errorData`. */
/** A small seeded PRNG (mulberry32): fault runs repeat exactly for a seed. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function toRealmError(realm, e) {
  if (e instanceof ApiError) {
    const category = { 400: 'PNBadRequestCategory', 403: 'PNAccessDeniedCategory' }[e.status] ?? (e.status >= 500 ? 'PNServerErrorCategory' : 'PNUnknownCategory');
    const status = { error: true, statusCode: e.status, category, errorData: e.body };
    return realm.error('REST API request processing error, check status for details', JSON.stringify({ name: 'PubNubError', status }));
  }
  return realm.error(e?.message ?? String(e), JSON.stringify({ name: e?.name ?? 'Error' }));
}

function need(p, key) {
  const v = p?.[key];
  if (typeof v !== 'string' || !v) throw new ApiError(400, { status: 400, error: { message: `'${key}' cannot be empty`, source: 'objects' } });
  return v;
}

/** uuid/channel metadata include: status and type always, custom unless customFields:false. */
function entityInclude(p, customDefault = true) {
  return new Set(['status', 'type', ...((p?.include?.customFields ?? customDefault) ? ['custom'] : [])]);
}

/** Members ('uuid' side) / memberships ('channel' side) include flags, as the SDK builds them. */
function sdkIncludeFlags(inc = {}, side, always = []) {
  const Side = side === 'uuid' ? 'UUID' : 'channel';
  const flags = new Set(always);
  if (inc.statusField) flags.add('status');
  if (inc.typeField) flags.add('type');
  if (inc.customFields) flags.add('custom');
  if (inc[`${Side}Fields`]) flags.add(side);
  if (inc[`${Side}StatusField`]) flags.add(`${side}.status`);
  if (inc[`${Side}TypeField`]) flags.add(`${side}.type`);
  if (inc[`custom${side === 'uuid' ? 'UUID' : 'Channel'}Fields`]) flags.add(`${side}.custom`);
  return flags;
}

function listQuery(p = {}, include) {
  const sort = typeof p.sort === 'string' ? [p.sort] : Object.entries(p.sort ?? {}).map(([k, dir]) => (dir ? `${k}:${dir}` : k));
  return { include, count: !!p.include?.totalCount, limit: p.limit, filter: p.filter, sort, start: p.page?.next, end: p.page?.prev };
}

/** set/remove members or memberships with the SDK's argument forms (`'id'` or `{id, custom...}`). */
function relationsWrite(rt, side, key, op, list, p) {
  const items = (list ?? []).map((x) => {
    const { id, ...rest } = typeof x === 'string' ? { id: x } : x ?? {};
    return op === 'set' ? { [side]: { id }, ...rest } : { [side]: { id } };
  });
  const always = side === 'uuid' ? ['uuid.status', 'uuid.type', 'type'] : ['channel.status', 'channel.type', 'status'];
  return rt.objectsWrite(rt.objects.setRelations(side, key, { [op]: items }, listQuery(p, sdkIncludeFlags(p.include, side, always))));
}

/** SDK grantToken parameters → the REST body (permissions as bit masks). */
function grantBody(p) {
  const bits = (o = {}) => (o.read ? 1 : 0) | (o.write ? 2 : 0) | (o.manage ? 4 : 0) | (o.delete ? 8 : 0) | (o.get ? 32 : 0) | (o.update ? 64 : 0) | (o.join ? 128 : 0);
  const section = (s = {}) => Object.fromEntries(
    [['channels', s.channels ?? s.spaces], ['groups', s.groups], ['uuids', s.uuids ?? s.users]].map(([k, v]) => [k, Object.fromEntries(Object.entries(v ?? {}).map(([n, o]) => [n, bits(o)]))]),
  );
  const uuid = p.authorized_uuid ?? p.authorizedUserId;
  return { ttl: p.ttl, permissions: { ...(uuid ? { uuid } : {}), resources: section(p.resources), patterns: section(p.patterns), meta: p.meta ?? {} } };
}

function lower(headers) {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

function keep(list, item) {
  list.push(item);
  if (list.length > KEEP) list.splice(0, list.length - KEEP);
}
