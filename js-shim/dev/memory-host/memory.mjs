// In-memory PubNub state plus the `pubnub` and `kvstore` modules a Function sees, with the
// JS SDK's method names and response shapes and the platform's per-execution op limits.
// For tests: every call is recorded.

import { AsyncLocalStorage } from 'node:async_hooks';
import { compileFilter } from '../local-pubnub/filter.mjs';
import { PLATFORM } from '../../platform.mjs';

/**
 * Which execution a host call is charged to. PubNub documents neither rule, so the bundles
 * must be right under both, and the Node suite runs under each (FP_OPS_ATTRIBUTION):
 * - 'module': the execution whose `require()`d `pubnub`/`kvstore` objects made the call;
 * - 'context': the execution whose async context the call was made from (a host built on
 *   AsyncLocalStorage), whichever module objects it went through.
 */
export const OPS_ATTRIBUTION = process.env.FP_OPS_ATTRIBUTION === 'context' ? 'context' : 'module';
/** The async context of each execution (js-shim/dev/memory-host/load-function.mjs enters it). */
export const executionContext = new AsyncLocalStorage();

const sdkError = (statusCode, message) => Object.assign(new Error(message), { status: { statusCode, category: 'PNBadRequestCategory' } });

/**
 * Host faults, as the platform shows them: the call is rejected with an SDK-shaped error
 * carrying a status (503). `rate`: every call fails with that probability, drawn from a
 * generator seeded with `seed` (the same seed fails the same calls); `failCall(n, kind)`: in
 * the next execution, the nth call (1-based; of `kind` 'api' | 'publish' | 'kv' only, when
 * given) fails; `crashAfter(n)`: the next execution stops after its first n calls, as if it
 * crashed there (every later call fails).
 */
export class Faults {
  constructor({ rate = 0, seed = 1 } = {}) {
    this.rate = rate;
    this.state = seed >>> 0 || 1;
    this.next = null;
    this.injected = 0;
  }

  setRate(rate, seed = this.state) {
    this.rate = rate;
    this.state = seed >>> 0 || 1;
  }

  failCall(n, kind) {
    this.next = { ...this.next, nth: n, kind };
  }

  crashAfter(n) {
    this.next = { ...this.next, crashAfter: n };
  }

  /** xorshift32 → [0, 1) */
  roll() {
    let x = this.state;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.state = x;
    return x / 4294967296;
  }

  /** A fresh per-execution view: takes the pending target. */
  forExecution() {
    const target = this.next;
    this.next = null;
    const seen = { api: 0, publish: 0, kv: 0, total: 0 };
    return (kind) => {
      seen[kind]++;
      seen.total++;
      let hit = false;
      if (target) {
        if (target.nth !== undefined) hit = target.kind ? target.kind === kind && seen[kind] === target.nth : seen.total === target.nth;
        if (target.crashAfter !== undefined && seen.total > target.crashAfter) hit = true;
      }
      if (!hit && this.rate > 0) hit = this.roll() < this.rate;
      if (hit) this.injected++;
      return hit;
    };
  }
}

export class MemoryPubNub {
  constructor({ opsLimit = PLATFORM.execution.kvCalls, opsAttribution = OPS_ATTRIBUTION } = {}) {
    this.faults = new Faults();
    this.opsLimit = opsLimit;
    this.opsAttribution = opsAttribution;
    this.kv = new Map();        // key -> { value (JSON text), expires }
    this.counters = new Map();
    this.users = new Map();     // id -> { id, name, profileUrl, custom, eTag }
    this.members = new Map();   // channel -> Map(uuid -> custom)
    this.groups = new Map();    // group -> Set(channel)
    this.occupants = new Map(); // channel -> Set(uuid)
    this.published = [];
    this.fired = [];
    this.calls = [];
    this.now = () => Date.now();
    this.etagSeq = 0;
  }

  addUser(id, name, custom = {}) {
    this.users.set(id, { id, name, custom: structuredClone(custom), eTag: 'e' + ++this.etagSeq });
  }

  /** Fresh `pubnub` and `kvstore` modules for one execution, sharing this state. */
  execution() {
    const own = { api: 0, publish: 0, kv: 0 };
    const fault = this.faults.forExecution();
    const charge = (kind, op, target) => {
      this.calls.push({ op, target });
      const used = (this.opsAttribution === 'context' && executionContext.getStore()) || own;
      const total = used.api + used.publish + used.kv;
      if (this.opsLimit === 3 ? total >= 3 : used[kind] >= this.opsLimit) {
        throw new Error(`execution calls exceeds the limit (${kind})`);
      }
      used[kind]++;
      if (fault(kind)) throw sdkError(503, 'Service Unavailable (injected fault)');
    };
    const st = this;
    const filterIds = (filter, field) => {
      const ids = [];
      const re = new RegExp(field.replace('.', '\\.') + ' == "((?:[^"\\\\]|\\\\.)*)"', 'g');
      for (const m of filter.matchAll(re)) ids.push(m[1].replace(/\\(.)/g, '$1'));
      return ids;
    };
    const userObject = (u) => ({ id: u.id, name: u.name, profileUrl: u.profileUrl, custom: structuredClone(u.custom), eTag: u.eTag, updated: '' });
    const pubnub = {
      async publish({ channel, message }) {
        charge('publish', 'publish', channel);
        st.published.push({ channel, message: JSON.parse(JSON.stringify(message)) });
        return [1, 'Sent', String(st.now() * 10000)];
      },
      async fire({ channel, message }) {
        charge('publish', 'fire', channel);
        st.fired.push({ channel, message: JSON.parse(JSON.stringify(message)) });
        return [1, 'Sent', String(st.now() * 10000)];
      },
      async hereNow({ channels = [], includeUUIDs = true, limit = 1000, offset = 0 }) {
        charge('api', 'hereNow', channels.join(','));
        const out = { totalChannels: channels.length, totalOccupancy: 0, channels: {} };
        for (const ch of channels) {
          const occ = [...(st.occupants.get(ch) || [])];
          out.totalOccupancy += occ.length;
          if (occ.length) out.channels[ch] = { name: ch, occupancy: occ.length, occupants: includeUUIDs ? occ.slice(offset, offset + limit).map((uuid) => ({ uuid })) : [] };
        }
        return out;
      },
      async whereNow({ uuid }) {
        charge('api', 'whereNow', uuid);
        return { channels: [...st.occupants].filter(([, set]) => set.has(uuid)).map(([ch]) => ch) };
      },
      objects: {
        async getUUIDMetadata({ uuid }) {
          charge('api', 'getUUIDMetadata', uuid);
          const u = st.users.get(uuid);
          if (!u) throw sdkError(404, 'Requested object was not found.');
          return { status: 200, data: userObject(u) };
        },
        // `id == …` lists (batched reads), or any filter with id order and offset pages
        // (the shard reconciliation's `custom.shardId == N && custom.online == true`).
        async getAllUUIDMetadata({ filter = '', limit = 100, page }) {
          charge('api', 'getAllUUIDMetadata', filter);
          if (/^id == "/.test(filter)) {
            const ids = filterIds(filter, 'id');
            return { status: 200, data: ids.filter((id) => st.users.has(id)).map((id) => userObject(st.users.get(id))) };
          }
          const keep = compileFilter(filter);
          const all = [...st.users.values()].filter((u) => keep(u)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
          const start = Number(page?.next || 0);
          const next = start + limit < all.length ? String(start + limit) : undefined;
          return { status: 200, data: all.slice(start, start + limit).map(userObject), next, totalCount: all.length };
        },
        async setUUIDMetadata({ uuid, data, ifMatchesEtag }) {
          charge('api', 'setUUIDMetadata', uuid);
          const u = st.users.get(uuid);
          if (ifMatchesEtag !== undefined && (!u || u.eTag !== ifMatchesEtag)) throw sdkError(412, 'Precondition Failed');
          const next = { ...(u || { id: uuid }), ...data, eTag: 'e' + ++st.etagSeq };
          st.users.set(uuid, next);
          return { status: 200, data: userObject(next) };
        },
        // Filters in PubNub's language over the member (`uuid.*`) and the membership's own
        // `custom`; `sort: {'uuid.id': 'asc'|'desc'}` as friends.sync's chains read.
        // `page.next` is an offset; totalCount counts what the filter matches, as PubNub's does.
        async getChannelMembers({ channel, filter = '', limit = 100, page, sort }) {
          charge('api', 'getChannelMembers', channel);
          const all = [...(st.members.get(channel) || new Map())];
          const keep = compileFilter(filter);
          const matched = all.filter(([id, custom]) => keep({ uuid: st.users.get(id) ?? { id }, custom }));
          const dir = sort?.['uuid.id'];
          if (dir) matched.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0) * (dir === 'desc' ? -1 : 1));
          const start = Number(page?.next || 0);
          const rows = matched.slice(start, start + limit);
          return {
            status: 200,
            totalCount: matched.length,
            next: start + limit < matched.length ? String(start + limit) : undefined,
            data: rows.map(([id, custom]) => ({ uuid: st.users.has(id) ? userObject(st.users.get(id)) : { id }, custom: structuredClone(custom) })),
          };
        },
        // The memberships of a uuid: `channel.id LIKE "prefix*"` filters, as the friend
        // Functions list a user's outgoing requests (its memberships of `requests-in.*`).
        async getMemberships({ uuid, filter = '', limit = 100 }) {
          charge('api', 'getMemberships', uuid);
          const like = /^channel\.id LIKE "([^"*]*)\*"$/.exec(filter);
          if (filter && !like) throw sdkError(400, `unsupported memberships filter: ${filter}`);
          const rows = [...st.members].filter(([ch, m]) => m.has(uuid) && (!like || ch.startsWith(like[1]))).slice(0, limit);
          return { status: 200, data: rows.map(([ch, m]) => ({ channel: { id: ch }, custom: structuredClone(m.get(uuid)) })) };
        },
        async setChannelMembers({ channel, uuids }) {
          charge('api', 'setChannelMembers', channel);
          if (!st.members.has(channel)) st.members.set(channel, new Map());
          for (const m of uuids) st.members.get(channel).set(typeof m === 'string' ? m : m.id, m.custom || {});
          return { status: 200, data: [] };
        },
        async removeChannelMembers({ channel, uuids }) {
          charge('api', 'removeChannelMembers', channel);
          for (const id of uuids) st.members.get(channel)?.delete(id);
          return { status: 200, data: [] };
        },
      },
      channelGroups: {
        async addChannels({ channelGroup, channels }) {
          charge('api', 'addChannels', channelGroup);
          const set = st.groups.get(channelGroup) || new Set();
          if (new Set([...set, ...channels]).size > 2000) throw sdkError(400, 'Maximum channels per group exceeded');
          channels.forEach((c) => set.add(c));
          st.groups.set(channelGroup, set);
          return {};
        },
        async removeChannels({ channelGroup, channels }) {
          charge('api', 'removeChannels', channelGroup);
          channels.forEach((c) => st.groups.get(channelGroup)?.delete(c));
          return {};
        },
        async listChannels({ channelGroup }) {
          charge('api', 'listChannels', channelGroup);
          return { channels: [...(st.groups.get(channelGroup) || [])] };
        },
      },
    };
    const live = (key) => {
      const e = st.kv.get(key);
      return e && e.expires > st.now() ? e : undefined;
    };
    const kvstore = {
      async get(key) {
        charge('kv', 'kvstore.get', key);
        const e = live(key);
        return e ? JSON.parse(e.value) : null;
      },
      async set(key, value, ttl = 1440) {
        charge('kv', 'kvstore.set', key);
        const text = JSON.stringify(value);
        if (text.length > PLATFORM.kv.valueChars) throw new Error(`KV value exceeds ${PLATFORM.kv.valueChars} characters`);
        const minutes = Math.min(Math.max(ttl, 1), 525600); // TTL is in minutes
        st.kv.set(key, { value: text, expires: st.now() + minutes * 60000 });
        return null;
      },
      async removeItem(key) {
        charge('kv', 'kvstore.removeItem', key);
        st.kv.delete(key);
        return null;
      },
      async incrCounter(key, by = 1) {
        charge('kv', 'kvstore.incrCounter', key);
        const v = (st.counters.get(key) || 0) + by;
        st.counters.set(key, v);
        return v;
      },
      async getCounter(key) {
        charge('kv', 'kvstore.getCounter', key);
        return st.counters.get(key) || 0;
      },
    };
    return { pubnub, kvstore, used: own };
  }
}
