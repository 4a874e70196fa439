// local-pubnub: a single-keyset PubNub look-alike for development and tests. It speaks the HTTP
// protocol of the `pubnub` JS SDK (see shared/research/pubnub-wire.md) and hosts PubNub Functions.
// The sub/pub keys in request paths are accepted as they come; there is one namespace.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { compileFilter } from './filter.mjs';
import { Bus } from './pubsub.mjs';
import { AdminApi } from './admin.mjs';
import { FunctionsHost } from './functions.mjs';
import { Groups, validateName } from './groups.mjs';
import { KvStore } from './kvstore.mjs';
import { Objects, relationItems } from './objects.mjs';
import { BITS, Pam } from './pam.mjs';
import { Presence } from './presence.mjs';
import { wanProfile, wanWait } from './wan.mjs';
import { Store } from './store.mjs';
import {
  ApiError, Clock, MAX_JSON_DEPTH, PNPRES, basePresenceName, isPresenceName, isWildcard, nameProblem, nestsDeeperThan, parseTT, pathNames,
  redact, serviceError, splitList,
} from './util.mjs';
import { PLATFORM } from '../../platform.mjs';

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET,POST,PATCH,DELETE,OPTIONS',
  'Access-Control-Allow-Headers': 'Content-Type,Content-Encoding,If-Match,Accept',
  'Access-Control-Expose-Headers': 'Date',
};
const JSON_TYPE = 'application/json; charset=UTF-8';
// The largest presence timeout (heartbeat value) taken; larger ones are clamped. The SDKs clamp
// `presenceTimeout` to 320 s themselves (PRESENCE_TIMEOUT_MAXIMUM); a raw request asking for
// 1e12 s would otherwise keep a uuid present for ever.
export const PRESENCE_TIMEOUT_MAX = PLATFORM.presence.timeoutMaxSeconds;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const STATIC_TYPES = {
  '.html': 'text/html; charset=UTF-8', '.js': 'text/javascript; charset=UTF-8', '.mjs': 'text/javascript; charset=UTF-8',
  '.css': 'text/css; charset=UTF-8', '.json': 'application/json; charset=UTF-8', '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ts': 'text/plain; charset=UTF-8', '.map': 'application/json',
};

const DEFAULTS = {
  port: 0,
  host: '127.0.0.1',
  subscribeKey: 'sub-c-local',
  presenceTimeoutDefault: 300, // s, when a request carries no `heartbeat`
  announceMax: 100,
  intervalSec: 10,
  deltas: true,
  refreshBytes: 30000, // interval deltas above this become here_now_refresh
  channelGroupLimit: 2000,
  groupsPerSubscribe: 10,
  channelsPerAdd: 200,
  holdMs: 280e3, // long-poll hold (PubNub: 280 s)
  sweepMs: 1000, // presence timeout sweep period
  bufferSize: 100, // catch-up messages kept per channel
  bufferAgeMs: 20 * 60e3,
  maxPerReply: 100,
  publishMaxBytes: PLATFORM.messages.publishMaxBytes,
  signalMaxBytes: 64,
  maxBodyBytes: 1 << 20, // request body, both as sent and once inflated
  compactEvery: 20000,
  fsync: true,
};

/**
 * Start a server. Returns the runtime: `{port, url, close(), ...}` plus internal APIs that tests
 * and the Functions host use (publish, hereNow, commit ...).
 */
export async function startLocalPubNub(options = {}) {
  const rt = new LocalPubNub(options);
  try {
    await rt.start();
  } catch (e) {
    await rt.store.close(); // e.g. port in use or a broken Function: release the data dir
    throw e;
  }
  return rt;
}

export class LocalPubNub {
  constructor(options) {
    const o = (this.opts = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) });
    if (options.hold !== undefined) o.holdMs = options.hold * 1000; // `hold` in seconds, as in the brief
    // Every line is redacted: request URLs carry tokens and signatures, Function output anything.
    const sink = o.log ?? ((line) => console.log(line));
    this.log = (line) => sink(redact(line));
    this.clock = new Clock();
    this.groups = new Groups(o);
    this.bus = new Bus(this.groups, o);
    this.presence = new Presence({ ...o, emit: (ch, payload) => this.#presenceEvent(ch, payload) });
    this.objects = new Objects();
    this.kv = new KvStore();
    this.pam = o.secretKey ? new Pam(o) : null;
    this.store = new Store(o.dataDir, {
      apply: (rec) => this.#apply(rec),
      snapshot: () => this.#snapshot(),
      compactEvery: o.compactEvery,
      fsync: o.fsync,
      maxLogBytes: o.maxLogBytes,
      log: this.log,
    });
    this.functions = new FunctionsHost(this, o);
    this.wan = wanProfile(o.wan); // network delays (wan.mjs), off by default
    this.admin = new AdminApi(this, o);
    this.closers = new Set(); // open long-polls, answered (empty) on close
    this.timers = [];
  }

  async start() {
    const o = this.opts;
    await this.functions.load();
    this.server = http.createServer((req, res) => this.#handle(req, res));
    this.server.keepAliveTimeout = 65e3;
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(o.port, o.host, resolve);
    });
    this.port = this.server.address().port;
    this.url = `http://${o.host}:${this.port}`;
    this.origin = `${o.host}:${this.port}`;
    let sweeps = 0;
    this.#every(o.sweepMs, () => {
      this.presence.sweep();
      if (++sweeps % 60 === 0) this.bus.prune();
    });
    this.#every(o.intervalSec * 1000, () => this.presence.interval());
    this.functions.startIntervals();
  }

  #every(ms, fn) {
    const t = setInterval(() => {
      try {
        fn();
      } catch (e) {
        this.log(`[local-pubnub] timer error: ${e.stack ?? e}`);
      }
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await this.functions.close();
    for (const finish of [...this.closers]) finish([]);
    await new Promise((r) => setImmediate(r)); // let those empty replies go out
    await new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await this.store.close();
  }

  // ---------------------------------------------------------------- state changes
  /**
   * Apply records now, and resolve once they are durable (fsync'ed) — then it is safe to reply.
   * Applying first keeps read-modify-write steps (counters, PATCH on the current object) atomic;
   * if the records cannot be made durable they are undone and the promise rejects (500).
   */
  commit(records) {
    if (!this.store.dir) {
      for (const r of records) this.#apply(r);
      return Promise.resolve();
    }
    const undos = records.map((r) => {
      const undo = this.#owner(r).undo(r); // what r is about to change, taken before it does
      this.#apply(r);
      return undo;
    });
    return this.store.append(records, () => {
      for (let i = undos.length - 1; i >= 0; i--) undos[i]();
    });
  }
  /**
   * Bulk load (seeding a demo population): apply records now and write the whole state as one
   * snapshot, instead of one log append per record and a full compaction every `compactEvery`.
   * Only while nothing else writes.
   */
  bulkLoad(records) {
    for (const r of records) this.#apply(r);
  }
  async snapshotNow() {
    await this.store.compactNow();
  }
  #owner(rec) {
    return rec.op.startsWith('cg.') ? this.groups : rec.op.startsWith('kv.') ? this.kv : this.objects;
  }
  #apply(rec) {
    this.#owner(rec).apply(rec);
  }
  *#snapshot() {
    yield* this.groups.snapshot();
    yield* this.objects.snapshot();
    yield* this.kv.snapshot();
  }

  // ---------------------------------------------------------------- internal API (HTTP + Functions)
  /**
   * Publish, signal or fire. Before Publish Functions may rewrite or abort the message; After
   * Publish Functions run after delivery. `depth` counts Function-to-Function hops.
   * @returns {Promise<bigint>} the timetoken
   */
  async publish({ channel, message, publisher = '', meta, cmt, verb = 'publish', depth = 0, subKey = this.opts.subscribeKey }) {
    if (typeof channel !== 'string' || isPresenceName(channel) || nameProblem(channel)) throw new ApiError(400, [0, 'Invalid Channel']);
    const limit = verb === 'signal' ? this.opts.signalMaxBytes : this.opts.publishMaxBytes;
    if (Buffer.byteLength(JSON.stringify(message) ?? '') > limit)
      throw new ApiError(400, [0, verb === 'signal' ? 'Signal size too large' : 'Message Too Large']);
    const event = { channel, message, publisher, meta, verb, depth, subKey };
    if (verb !== 'signal') event.message = await this.functions.beforePublish(event);
    const tt = this.clock.next();
    if (verb !== 'fire') {
      const env = { a: '1', f: 0, i: publisher, p: { t: String(tt), r: 1 }, k: subKey, c: channel, d: event.message };
      if (verb === 'signal') env.e = 1; // never e:0 — the SDK reads that as a file event (§0.2)
      if (meta !== undefined) env.u = meta;
      if (cmt) env.cmt = cmt;
      this.bus.push(tt, env);
    }
    if (verb !== 'signal') this.functions.afterPublish({ ...event, timetoken: String(tt) });
    return tt;
  }

  #presenceEvent(ch, payload) {
    const events = this.#presenceRule(ch)?.events;
    if (events && !events.includes(payload.action)) return; // the rule does not track this event
    const tt = this.clock.next();
    this.bus.push(tt, { a: '1', f: 0, p: { t: String(tt), r: 1 }, k: this.opts.subscribeKey, c: ch + PNPRES, d: payload });
    this.functions.afterPresence(ch, payload);
  }

  /**
   * Does this keyset track presence on `ch`? Every channel, unless `presenceChannels` lists the
   * Presence Management rules ("selected channels only"). An untracked channel has no occupants,
   * no join/leave/timeout and no state.
   */
  tracksPresence(ch) {
    return !this.opts.presenceChannels || !!this.#presenceRule(ch);
  }

  /**
   * The rule of `presenceChannels` that covers `ch`: a rule is a channel pattern (`x*` a prefix,
   * else an exact name; every event) or `{pattern, events}` (only those events are announced,
   * e.g. without `state-change`).
   */
  #presenceRule(ch) {
    for (const r of this.opts.presenceChannels ?? []) {
      const rule = typeof r === 'string' ? { pattern: r } : r;
      const p = rule.pattern;
      if (p.endsWith('*') ? ch.startsWith(p.slice(0, -1)) : ch === p) return rule;
    }
    return undefined;
  }

  /** Channels a uuid is present on through a subscribe/heartbeat: direct ones plus group members. */
  presenceTargets(channels, groups) {
    const out = new Set(channels.filter((c) => !isPresenceName(c) && !isWildcard(c)));
    for (const g of groups) if (!isPresenceName(g)) for (const c of this.groups.channelsOf(g)) out.add(c);
    return [...out].filter((c) => this.tracksPresence(c));
  }

  /**
   * What a subscribe/heartbeat `state` touches, for Access Manager: read on every channel or group
   * it names (state on a channel is an event there, and runs its After Presence Functions).
   */
  stateNeeds(stateJson) {
    if (!stateJson) return [];
    const state = parseJson(stateJson, 'state');
    if (!isObject(state)) return [];
    return Object.keys(state).map((name) => {
      const problem = nameProblem(name);
      if (problem) throw serviceError(400, `Invalid state: channel name ${JSON.stringify(name)}: ${problem}`, 'Presence');
      return this.groups.groups.has(name) ? ['groups', name, BITS.read] : ['channels', name, BITS.read];
    });
  }

  /** Presence state keyed by channel or group name (subscribe/heartbeat `state`). */
  applyStateParam(uuid, stateJson) {
    if (!stateJson) return;
    const state = parseJson(stateJson, 'state');
    if (!isObject(state) || !Object.values(state).every((v) => v === null || isObject(v)))
      throw serviceError(400, 'Invalid state: a JSON object of per-channel state objects is expected', 'Presence');
    for (const [name, s] of Object.entries(state)) {
      const chans = this.groups.groups.has(name) ? [...this.groups.channelsOf(name)] : [name];
      this.presence.setState(uuid, chans.filter((c) => this.tracksPresence(c)), s);
    }
  }

  /** hereNow over channels + groups → `{ch: {occupancy, uuids:[uuid | {uuid,state}]}}`. */
  hereNow({ channels = [], groups = [], uuids = true, state = false, limit = 1000, offset = 0, all = false }) {
    const names = all ? this.presence.channels() : [...new Set([...channels, ...groups.flatMap((g) => [...this.groups.channelsOf(g)])])];
    const out = {};
    for (const ch of names) {
      const h = this.presence.hereNow(ch, { limit: Math.min(1000, Math.max(0, limit)), offset });
      out[ch] = { occupancy: h.occupancy };
      if (uuids) out[ch].uuids = state ? h.uuids.map((u) => ({ uuid: u, state: h.state(u) ?? null })) : h.uuids;
    }
    return out;
  }

  async groupAdd(group, channels) {
    if (channels.length > this.opts.channelsPerAdd)
      throw serviceError(400, `At most ${this.opts.channelsPerAdd} channels per add`, 'channel-registry');
    this.groups.checkAdd(group, channels);
    await this.commit([{ op: 'cg.add', g: group, ch: channels }]);
  }
  async groupRemove(group, channels) {
    validateName(group, 'channel group');
    if (this.groups.groups.has(group)) await this.commit([{ op: 'cg.rm', g: group, ch: channels }]);
  }
  async groupDelete(group) {
    validateName(group, 'channel group');
    if (this.groups.groups.has(group)) await this.commit([{ op: 'cg.del', g: group }]);
  }

  /** Run an objects write `{records, reply}` durably, then build the reply from the new state. */
  async objectsWrite({ records, reply }) {
    await this.commit(records);
    return reply();
  }

  // ---------------------------------------------------------------- HTTP
  async #handle(req, res) {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...CORS, 'Access-Control-Max-Age': '86400' });
      return res.end();
    }
    try {
      const q = req.url.indexOf('?');
      const rawPath = q < 0 ? req.url : req.url.slice(0, q);
      const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
      const params = new URLSearchParams(rawQuery);
      const functionsRoute = rawPath.startsWith('/v1/blocks/');
      const adminRoute = isAdminPath(rawPath) || !!this.#mounted(rawPath);
      // The Admin API key deploys code that runs as this process's user: served to this machine
      // only, unless `adminRemote` says otherwise (when the runtime listens beyond localhost).
      if (isAdminPath(rawPath) && !this.opts.adminRemote && !isLoopback(req.socket.remoteAddress))
        throw serviceError(404, 'Not Found', 'local-pubnub');
      const ctx = {
        req,
        res,
        method: req.method,
        rawPath,
        rawQuery,
        params,
        query: Object.fromEntries(params),
        seg: rawPath.split('/'), // split before decoding (§0.9); decode per use
      };
      const raw = await readBody(req, this.opts.maxBodyBytes);
      const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase();
      const compressed = raw.length > 0 && (encoding === 'gzip' || encoding === 'deflate');
      // Access Manager before inflating: an unauthorized client must not make us inflate anything.
      // (On Request Functions are public endpoints; they are not behind Access Manager. Nor is
      // the Admin API, which checks its own key.)
      if (compressed && this.pam && !functionsRoute && !adminRoute) this.pam.precheck(ctx.query);
      // PubNub's API takes UTF-8 JSON: a body that is not UTF-8 is refused, not "repaired" with U+FFFD.
      // On Request Functions get the body as before (lenient), as they may take other text.
      ctx.body = decodeBody(compressed ? encoding : '', raw, this.opts.maxBodyBytes, !functionsRoute);
      if (this.wan) await wanWait(this.wan.clientMs, 0.5);
      const out = await this.#route(ctx);
      if (this.wan && out !== undefined) await wanWait(this.wan.clientMs, 0.5);
      if (out !== undefined && !res.headersSent) send(res, 200, out);
    } catch (e) {
      if (res.headersSent || res.destroyed) return;
      if (e instanceof ApiError) send(res, e.status, e.body, e.status === 413 ? { Connection: 'close' } : {});
      else if (e instanceof URIError) send(res, 400, { status: 400, error: true, message: 'Malformed percent-encoding', service: 'local-pubnub' });
      else {
        this.log(`[local-pubnub] ${req.method} ${req.url}: ${e.stack ?? e}`);
        send(res, 500, { status: 500, error: true, message: String(e.message ?? e), service: 'local-pubnub' });
      }
    }
  }

  /** The `mount` handler (e.g. the demo's auth service) serving this path, if any. */
  #mounted(rawPath) {
    const prefix = Object.keys(this.opts.mount ?? {}).find((p) => rawPath.startsWith(p));
    return prefix && this.opts.mount[prefix];
  }

  #route(ctx) {
    const s = ctx.seg;
    const mounted = this.#mounted(ctx.rawPath);
    if (mounted) return this.#serveMounted(mounted, ctx);
    if (this.opts.static && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      const served = this.#serveStatic(ctx);
      if (served !== undefined) return served;
    }
    switch (s[1]) {
      case 'time':
        return `[${this.clock.next()}]`;
      case 'publish':
      case 'signal':
        return this.#httpPublish(ctx);
      case 'v2':
        if (s[2] === 'subscribe') return this.#httpSubscribe(ctx);
        if (s[2] === 'presence' && s[3] === 'sub-key') return this.#httpPresence(ctx);
        if (s[2] === 'objects') return this.#httpObjects(ctx);
        if (isAdminPath(ctx.rawPath)) return this.admin.handle(ctx);
        break;
      case 'v1':
        if (s[2] === 'channel-registration' && s[3] === 'sub-key') return this.#httpGroups(ctx);
        if (s[2] === 'blocks' && s[3] === 'sub-key') return this.functions.onRequest(ctx);
        break;
      case 'v3':
        if (s[2] === 'pam' && s[4] === 'grant' && ctx.method === 'POST') return this.#httpGrant(ctx);
        break;
    }
    throw serviceError(404, 'Not Found', 'local-pubnub');
  }

  /**
   * Static files (the demo page, pkg/web, the browser SDK): `static` maps a URL prefix such as
   * `/demo/` to a directory; `/` redirects to the first prefix. PubNub's own paths never collide
   * (they start with /time, /publish, /signal, /v1, /v2, /v3).
   */
  #serveStatic(ctx) {
    const { res, rawPath } = ctx;
    const prefixes = Object.keys(this.opts.static);
    if (rawPath === '/' && prefixes.length) {
      res.writeHead(302, { Location: prefixes[0] });
      res.end();
      return null;
    }
    const prefix = prefixes.find((p) => rawPath.startsWith(p) || rawPath + '/' === p);
    if (!prefix) return undefined;
    if (rawPath + '/' === prefix) {
      res.writeHead(301, { Location: prefix });
      res.end();
      return null;
    }
    const root = path.resolve(this.opts.static[prefix]);
    let rel = decodeURIComponent(rawPath.slice(prefix.length)) || 'index.html';
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.resolve(root, rel);
    if (file !== root && !file.startsWith(root + path.sep)) throw serviceError(403, 'Forbidden', 'local-pubnub');
    let body;
    try {
      body = fs.readFileSync(file);
    } catch {
      throw serviceError(404, 'Not Found', 'local-pubnub');
    }
    const type = STATIC_TYPES[path.extname(file)] ?? 'application/octet-stream';
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': body.length, 'Cache-Control': 'no-cache', ...CORS });
    res.end(ctx.method === 'HEAD' ? undefined : body);
    return null;
  }

  /**
   * Extra HTTP services under a URL prefix (`mount: {'/auth/': handler}`): `handler({method,
   * path, query, body, req})` resolves {status, body, headers?}. The demo serves its auth service
   * this way, on the page's own origin. Not behind Access Manager: such a service has its own rules.
   */
  async #serveMounted(handler, ctx) {
    const out = await handler({ method: ctx.method, path: ctx.rawPath, query: ctx.query, body: ctx.body, req: ctx.req });
    send(ctx.res, out.status ?? 200, out.body ?? {}, { 'Cache-Control': 'no-store', ...(out.headers ?? {}) });
    return null;
  }

  /** Access Manager gate: off without secretKey; signed requests pass; else the token decides. */
  #auth(ctx, needs, opts) {
    if (!this.pam || this.pam.signed(ctx)) return;
    this.pam.check(ctx.query, needs, opts);
  }

  // /publish/{pub}/{sub}/0/{channel}/0[/{json}]   and   /signal/{pub}/{sub}/0/{channel}/0/{json}
  async #httpPublish(ctx) {
    const { seg, query } = ctx;
    const verb = seg[1] === 'signal' ? 'signal' : query.norep === 'true' && query.store === '0' ? 'fire' : 'publish';
    if (seg.length < 7) throw new ApiError(400, [0, 'Invalid request']);
    const channel = decodeURIComponent(seg[5]);
    this.#auth(ctx, [['channels', channel, BITS.write]]);
    if (this.pam && seg[2]) this.pam.seenPublishKeys.add(decodeURIComponent(seg[2]));
    const text = ctx.method === 'POST' ? ctx.body : decodeURIComponent(seg.slice(7).join('/'));
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) throw new ApiError(400, [0, `Invalid JSON: nested deeper than ${MAX_JSON_DEPTH}`, String(this.clock.current())]);
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      throw new ApiError(400, [0, 'Invalid JSON', String(this.clock.current())]);
    }
    const meta = query.meta ? parseJson(query.meta, 'meta') : undefined;
    const tt = await this.publish({
      channel, message, meta, verb, publisher: query.uuid ?? '', cmt: query.custom_message_type, subKey: decodeURIComponent(seg[3]),
    });
    return `[1,"Sent","${tt}"]`;
  }

  // /v2/subscribe/{sub}/{channels}/0
  #httpSubscribe(ctx) {
    const { query, seg, res } = ctx;
    const channels = pathNames(seg[4]);
    const groups = splitList(query['channel-group']);
    const baseGroups = new Set(groups.map(basePresenceName));
    if (baseGroups.size > this.opts.groupsPerSubscribe)
      throw serviceError(400, `Too many channel groups in one subscribe: ${baseGroups.size} > ${this.opts.groupsPerSubscribe}`, 'Presence');
    if (!channels.length && !groups.length) throw serviceError(400, 'No channels or channel groups to subscribe to', 'Presence');
    checkNames(channels, groups, 'Presence');
    this.#auth(ctx, [...channels.map((c) => ['channels', c, BITS.read]), ...groups.map((g) => ['groups', g, BITS.read]), ...this.stateNeeds(query.state)]);
    const uuid = query.uuid ?? '';
    const since = parseTT(query.tt);
    const spec = { channels, groups, filter: query['filter-expr'] ? compileFilter(query['filter-expr']) : undefined };
    // Take the cursor before this subscribe's own join events, so the next poll delivers them.
    const high = this.clock.current();
    const present = this.presenceTargets(channels, groups);
    this.applyStateParam(uuid, query.state);
    this.presence.touch(uuid, present, this.#timeoutParam(query), query.instanceid);
    const reply = (items) => {
      // When the reply is capped, the cursor is the last delivered message, so the rest follow.
      const capped = items.length === this.opts.maxPerReply;
      const t = capped ? items[items.length - 1].tt : this.clock.current();
      return { t: { t: String(t), r: 1 }, m: items.map((x) => x.env) };
    };
    // Handshake (no tt / tt=0): answer at once with a cursor only (the event engine would drop messages).
    if (since === 0n) return { t: { t: String(high), r: 1 }, m: [] };
    const ready = this.bus.collect(spec, since);
    if (ready.length) return reply(ready);
    return new Promise((resolve) => {
      let done = false, scheduled = false;
      const finish = (items) => {
        if (done) return;
        done = true;
        stop();
        clearTimeout(timer);
        this.closers.delete(finish);
        this.presence.pollEnd(uuid, present, query.instanceid);
        resolve(items ? reply(items) : undefined);
      };
      const waiter = {
        channels, groups,
        // Batch wake-ups from one burst of publishes into one reply.
        wake: () => {
          if (scheduled || done) return;
          scheduled = true;
          setImmediate(() => {
            scheduled = false;
            if (done) return;
            const items = this.bus.collect(spec, since);
            if (items.length) finish(items);
          });
        },
      };
      const stop = this.bus.listen(waiter);
      const timer = setTimeout(() => finish([]), this.opts.holdMs);
      this.closers.add(finish);
      this.presence.pollStart(uuid, present, query.instanceid);
      // An aborted poll (the SDK cancels on every subscription change) is just dropped: no leave.
      res.on('close', () => finish(null));
    });
  }

  #timeoutParam(query) {
    const n = Number(query.heartbeat);
    return Number.isFinite(n) && n > 0 ? Math.min(n, PRESENCE_TIMEOUT_MAX) : this.opts.presenceTimeoutDefault;
  }

  // /v2/presence/sub-key/{sub}[/channel/{chs}[/heartbeat|/leave|/uuid/{uuid}[/data]]] | /uuid/{uuid}
  #httpPresence(ctx) {
    const { seg, query } = ctx;
    const ok = (extra = {}) => ({ status: 200, message: 'OK', ...extra, service: 'Presence' });
    if (seg[5] === 'uuid') {
      const uuid = decodeURIComponent(seg[6] ?? '');
      // PubNub asks no permission for whereNow; we do: anyone's whereabouts are not anyone's business.
      this.#auth(ctx, [], { onUuid: [uuid, BITS.get] });
      return ok({ payload: { channels: this.presence.whereNow(uuid) } });
    }
    const all = seg[5] !== 'channel';
    const channels = all ? [] : pathNames(seg[6]);
    const groups = splitList(query['channel-group']);
    checkNames(channels, groups, 'Presence');
    const reads = [...channels.map((c) => ['channels', c, BITS.read]), ...groups.map((g) => ['groups', g, BITS.read])];
    const uuid = query.uuid ?? '';
    const action = seg[7];
    if (action === 'heartbeat') {
      this.#auth(ctx, [...reads, ...this.stateNeeds(query.state)]);
      this.applyStateParam(uuid, query.state);
      this.presence.touch(uuid, this.presenceTargets(channels, groups), this.#timeoutParam(query), query.instanceid);
      return ok();
    }
    if (action === 'leave') {
      this.#auth(ctx, []);
      this.presence.leave(uuid, this.presenceTargets(channels, groups), 'leave', query.instanceid);
      return ok({ action: 'leave' });
    }
    if (action === 'uuid') {
      const who = decodeURIComponent(seg[8] ?? '');
      // Setting state speaks for `who`: only as yourself, or with update granted on that uuid.
      this.#auth(ctx, reads, seg[9] === 'data' ? { onUuid: [who, BITS.update] } : undefined);
      const targets = this.presenceTargets(channels, groups);
      if (seg[9] === 'data') {
        const state = parseJson(query.state ?? '{}', 'state');
        if (!isObject(state)) throw serviceError(400, 'Invalid state: a JSON object is expected', 'Presence');
        this.presence.setState(who, targets, state);
        return ok({ payload: state });
      }
      if (channels.length === 1 && !groups.length) return ok({ uuid: who, channel: channels[0], payload: this.presence.getState(who, channels[0]) });
      // Several channels: `payload.channels`, as PubNub answers (the Python SDK's recorded reply,
      // tests/integrational/fixtures/native_sync/state/state_of_multiple_channels.yaml).
      return ok({ uuid: who, payload: { channels: Object.fromEntries(targets.map((c) => [c, this.presence.getState(who, c)])) } });
    }
    if (action !== undefined) throw serviceError(404, 'Not Found', 'Presence');
    // hereNow. The SDK picks the single-channel shape iff the reply has a top-level `occupancy`.
    if (all) this.#auth(ctx, [], { serverOnly: true });
    else this.#auth(ctx, reads);
    // limit=0 is a count without occupants (the core's count handler asks for that).
    const limit = countParam(query, 'limit', 1000, 'Presence');
    const offset = countParam(query, 'offset', 0, 'Presence');
    const result = this.hereNow({ channels, groups, all, limit, offset, uuids: query.disable_uuids !== '1', state: query.state === '1' });
    if (channels.length === 1 && !groups.length && !all) return ok(result[channels[0]]);
    // Multi-channel replies list only occupied channels, as PubNub does.
    const occupied = Object.fromEntries(Object.entries(result).filter(([, v]) => v.occupancy > 0));
    const total = Object.values(occupied).reduce((n, v) => n + v.occupancy, 0);
    return ok({ payload: { channels: occupied, total_channels: Object.keys(occupied).length, total_occupancy: total } });
  }

  // /v1/channel-registration/sub-key/{sub}/channel-group[/{group}[/remove]]
  async #httpGroups(ctx) {
    const { seg, query } = ctx;
    const ok = (payload, extra = {}) => ({ status: 200, ...extra, payload, service: 'channel-registry', error: false });
    if (seg[5] !== 'channel-group') throw serviceError(404, 'Not Found', 'channel-registry');
    if (seg[6] === undefined || seg[6] === '') {
      this.#auth(ctx, [], { serverOnly: true });
      return ok({ groups: this.groups.list() });
    }
    const group = decodeURIComponent(seg[6]);
    this.#auth(ctx, [['groups', group, BITS.manage]]);
    if (seg[7] === 'remove') {
      await this.groupDelete(group);
      return ok({}, { message: 'OK' });
    }
    if (query.add !== undefined) {
      await this.groupAdd(group, splitList(query.add));
      return ok({}, { message: 'OK' });
    }
    if (query.remove !== undefined) {
      await this.groupRemove(group, splitList(query.remove));
      return ok({}, { message: 'OK' });
    }
    return ok({ channels: this.groups.listChannels(group), group });
  }

  // /v2/objects/{sub}/(uuids|channels)[/{id}[/(channels|uuids)]]
  async #httpObjects(ctx) {
    const { seg, params, method, req } = ctx;
    const kind = { uuids: 'uuid', channels: 'channel' }[seg[4]];
    if (!kind || seg.length > 7) throw serviceError(404, 'Not Found', 'objects');
    const q = {
      include: new Set(splitList(params.get('include'))),
      // `count=true` (JS SDK) or `count=True` (the Python SDK sends str(True)).
      count: /^(true|1)$/i.test(params.get('count') ?? ''),
      limit: params.has('limit') ? Number(params.get('limit')) : undefined,
      filter: params.get('filter') ?? undefined,
      sort: params.getAll('sort').flatMap(splitList),
      start: params.get('start') ?? undefined,
      end: params.get('end') ?? undefined,
    };
    const res = kind === 'uuid' ? 'uuids' : 'channels';
    if (seg[5] === undefined || seg[5] === '') {
      if (method !== 'GET') throw serviceError(405, 'Method Not Allowed', 'objects');
      this.#auth(ctx, [], { serverOnly: true });
      return this.objects.list(kind, q);
    }
    const id = decodeURIComponent(seg[5]);
    if (seg[6] !== undefined) {
      // memberships of a uuid (/uuids/{id}/channels) or members of a channel (/channels/{id}/uuids)
      const side = kind === 'uuid' ? 'channel' : 'uuid';
      if (seg[6] !== (side === 'uuid' ? 'uuids' : 'channels')) throw serviceError(404, 'Not Found', 'objects');
      if (method === 'GET') {
        this.#auth(ctx, [[res, id, BITS.get]]);
        return this.objects.relations(side, id, q);
      }
      if (method !== 'PATCH') throw serviceError(405, 'Method Not Allowed', 'objects');
      const body = parseJson(ctx.body || '{}', 'body');
      // Set members: manage on the channel. Set memberships: update on the uuid, join on each channel.
      const { set, remove } = relationItems(side, body);
      const needs = kind === 'channel'
        ? [['channels', id, BITS.manage]]
        : [['uuids', id, BITS.update], ...[...set, ...remove].map((m) => ['channels', m.channel.id, BITS.join])];
      this.#auth(ctx, needs);
      return this.objectsWrite(this.objects.setRelations(side, id, body, q));
    }
    if (method === 'GET') {
      this.#auth(ctx, [[res, id, BITS.get]]);
      return this.objects.get(kind, id, q.include);
    }
    if (method === 'PATCH') {
      this.#auth(ctx, [[res, id, BITS.update]]);
      return this.objectsWrite(this.objects.set(kind, id, parseJson(ctx.body || '{}', 'body'), q.include, req.headers['if-match']));
    }
    if (method === 'DELETE') {
      this.#auth(ctx, [[res, id, BITS.delete]]);
      return this.objectsWrite(this.objects.remove(kind, id));
    }
    throw serviceError(405, 'Method Not Allowed', 'objects');
  }

  // POST /v3/pam/{sub}/grant — only from a client holding the secret key (a signed request).
  #httpGrant(ctx) {
    if (!this.pam) throw serviceError(400, 'Access Manager is off: start local-pubnub with a secret key', 'Access Manager');
    if (!this.pam.signed(ctx)) throw new ApiError(403, { status: 403, error: true, message: 'Missing signature', service: 'Access Manager' });
    const token = this.pam.grant(parseJson(ctx.body, 'body'));
    return { status: 200, data: { message: 'Success', token }, service: 'Access Manager' };
  }
}

function send(res, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Cache-Control': 'no-cache', ...CORS, ...headers });
  res.end(text);
}

function parseJson(text, what) {
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) throw serviceError(400, `Invalid JSON in ${what}: nested deeper than ${MAX_JSON_DEPTH}`, 'local-pubnub');
  try {
    return JSON.parse(text);
  } catch {
    throw serviceError(400, `Invalid JSON in ${what}`, 'local-pubnub');
  }
}

/**
 * Read the raw body, at most `limit` bytes. Over the limit (declared, or as it streams in) the
 * request is answered 413 (with Connection: close) at once; the rest of the upload is read and
 * dropped so the client gets to see that answer, up to 16× the limit, after which it is cut off.
 */
function readBody(req, limit) {
  if (req.method === 'GET' || req.method === 'HEAD') return Promise.resolve(Buffer.alloc(0));
  const tooLarge = () => serviceError(413, `Request body too large: the limit is ${limit} bytes`, 'local-pubnub');
  if (Number(req.headers['content-length']) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
      else if (size - c.length <= limit) reject(tooLarge());
      else if (size > 16 * limit) req.destroy();
    });
    req.on('error', reject);
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/**
 * Inflate `Content-Encoding: deflate|gzip` (the SDK deflates POST publish, §0.7) with the output
 * capped at `limit`: zlib stops there instead of allocating whatever the body expands to.
 */
function decodeBody(encoding, raw, limit, strictUtf8) {
  let buf = raw;
  if (encoding) {
    try {
      buf = (encoding === 'gzip' ? zlib.gunzipSync : zlib.inflateSync)(raw, { maxOutputLength: limit });
    } catch (e) {
      if (e.code === 'ERR_BUFFER_TOO_LARGE') throw serviceError(413, `Inflated request body too large: the limit is ${limit} bytes`, 'local-pubnub');
      throw serviceError(400, 'Cannot decode request body', 'local-pubnub');
    }
  }
  if (!strictUtf8) return buf.toString('utf8');
  try {
    return UTF8.decode(buf);
  } catch {
    throw serviceError(400, 'Request body is not valid UTF-8', 'local-pubnub');
  }
}

const isLoopback = (addr = '') => /^(127\.|::1$|::ffff:127\.)/.test(addr);

/** Admin API paths (admin.mjs): Functions v2 packages/revisions/deployments and keyset config. */
const isAdminPath = (p) => p.startsWith('/v2/faas/') || p.split('?')[0] === '/v2/keysets' || p.startsWith('/v2/keysets/');

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Channel names in a subscribe or presence request, each checked after splitting (`.*` allowed). */
function checkNames(channels, groups, service) {
  for (const c of channels) {
    const problem = nameProblem(c, { wildcard: true, presence: true });
    if (problem) throw serviceError(400, `Invalid channel name ${JSON.stringify(c)}: ${problem}`, service);
  }
  for (const g of groups) validateName(g, 'channel group', service, { presence: true });
}

/** A non-negative whole number query parameter, or `dflt` when absent. */
function countParam(query, name, dflt, service) {
  if (query[name] === undefined) return dflt;
  if (!/^\d{1,9}$/.test(query[name])) throw serviceError(400, `Invalid ${name}: a whole number from 0 is expected`, service);
  return Number(query[name]);
}
