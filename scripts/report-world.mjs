// A deterministic little PubNub for the reports: the built Functions on the in-memory host
// (js-shim/dev/memory-host/memory.mjs), with what the platform would do between executions done here:
// a publish or fire on a bound channel runs the After Publish Functions bound to it (up to
// PubNub's 3 hops), a presence event runs After Presence, On Interval Functions run when
// asked. Everything is counted per step (the executions it caused, their host calls by name,
// publish payloads, deliveries to subscribers) into report-lib tallies, and each execution's
// sequential rounds of host calls are recorded. Time is simulated (`advance`).
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFunction, trigger } from '../js-shim/dev/memory-host/load-function.mjs';
import { MemoryPubNub } from '../js-shim/dev/memory-host/memory.mjs';
import { emptyTally, countCall, rounds } from './report-lib.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const FUNCTIONS_DIR = join(ROOT, 'pkg/functions');
export const T0 = Date.UTC(2026, 0, 1);
const MAX_CHAIN = 3; // PubNub: 3 hops of Function → publish → Function

const matches = (pattern, ch) => typeof pattern === 'string' && (pattern === ch || (pattern.endsWith('.*') && ch.startsWith(pattern.slice(0, -1))));
const bytes = (message) => Buffer.byteLength(JSON.stringify(message));

/** The SETTINGS line compiled into a bundle (shardCount, debounceMs, opsLimit). */
export function builtSettings(dir = FUNCTIONS_DIR) {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const src = readFileSync(join(dir, manifest.functions[0].file), 'utf8');
  const m = /^const SETTINGS = (\{[^}]*\});$/m.exec(src);
  if (!m) throw new Error(`${manifest.functions[0].file}: no SETTINGS line`);
  return JSON.parse(m[1]);
}

/**
 * `manifest`: {functions: [{name, file, type, channels?}]} with files under `dir` (default the
 * built pkg/functions); `settings` overrides the bundles' compiled-in SETTINGS fields.
 */
export async function createWorld({ dir = FUNCTIONS_DIR, manifest, settings, opsLimit } = {}) {
  manifest ??= JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const pn = new MemoryPubNub(opsLimit ? { opsLimit } : {});
  let now = T0;
  pn.now = () => now;
  const merged = settings ? { ...builtSettings(dir), ...settings } : undefined;
  const fns = [];
  for (const def of manifest.functions) {
    const fn = await loadFunction(join(dir, def.file), { now: () => now, settings: merged });
    fns.push({ ...def, fn });
  }
  const log = []; // every execution: {name, depth, calls, rounds, error?}

  /** Subscribers a message on `channel` reaches: friends through cg-friends-* groups, the user on the own inbox. */
  const subscribers = (channel) => {
    let n = channel.startsWith('inbox.') ? 1 : 0;
    for (const set of pn.groups.values()) if (set.has(channel)) n++;
    return n;
  };

  /** Runs `def` on `request`, charges it to `tally`, queues what its publishes and fires trigger. */
  async function execute(def, request, depth, tally, queue) {
    const calls0 = pn.calls.length, pub0 = pn.published.length, fire0 = pn.fired.length;
    const events = [];
    const mods = pn.execution();
    const track = (obj) => {
      const out = {};
      for (const [k, v] of Object.entries(obj)) {
        if (typeof v === 'function') {
          out[k] = (...args) => {
            events.push('start');
            return Promise.resolve(v.apply(obj, args)).finally(() => events.push('end'));
          };
        } else if (v && typeof v === 'object') out[k] = track(v);
        else out[k] = v;
      }
      return out;
    };
    let error;
    try {
      await def.fn.run(trigger(request), { pubnub: track(mods.pubnub), kvstore: track(mods.kvstore), used: mods.used });
    } catch (e) {
      error = e?.message ?? String(e);
    }
    const errors = def.fn.logs.splice(0).filter((l) => l.level === 'error' || /rejected|trap|failed/.test(l.text));
    if (!error && errors.length) error = errors[0].text;
    tally.executions[def.name] = (tally.executions[def.name] ?? 0) + 1;
    const calls = pn.calls.slice(calls0);
    const published = pn.published.slice(pub0);
    const fired = pn.fired.slice(fire0);
    let p = 0, f = 0;
    for (const c of calls) {
      const payload = c.op === 'publish' ? published[p++]?.message : c.op === 'fire' ? fired[f++]?.message : undefined;
      countCall(tally, c.op, payload === undefined ? 0 : bytes(payload));
    }
    for (const m of published) tally.deliveries += subscribers(m.channel);
    for (const m of [...published, ...fired]) queue.push({ channel: m.channel, message: m.message, publisher: 'pn-functions', depth: depth + 1 });
    log.push({ name: def.name, depth, calls: calls.map((c) => c.op), rounds: rounds(events), error });
  }

  /** Runs the queue: After Publish Functions of each message, within the hop limit. */
  async function drain(tally, queue) {
    while (queue.length) {
      const m = queue.shift();
      const bound = fns.filter((d) => d.type === 'AFTER_PUBLISH' && matches(d.channels, m.channel));
      if (bound.length && m.depth >= MAX_CHAIN) {
        tally.chainLimited++;
        continue;
      }
      for (const def of bound) {
        await execute(def, { channels: [m.channel], params: { uuid: m.publisher }, message: m.message }, m.depth, tally, queue);
      }
    }
  }

  const world = {
    pn,
    log,
    fns,
    now: () => now,
    advance(ms) {
      now += ms;
    },
    addUser(id, name = id, custom = {}) {
      pn.addUser(id, name, custom);
    },
    /** A client's publish on `channel` and all it causes. */
    async clientPublish(channel, message, publisher) {
      const tally = emptyTally();
      tally.clientPublishes++;
      tally.deliveries += subscribers(channel);
      const log0 = log.length;
      await drain(tally, [{ channel, message, publisher, depth: 0 }]);
      return { tally, executions: log.slice(log0) };
    },
    /** A presence event on `channel` (the user's device joined or left) and all it causes. */
    async presence(channel, action, uuid) {
      const occ = pn.occupants.get(channel) ?? new Set();
      if (action === 'join') occ.add(uuid);
      else occ.delete(uuid);
      pn.occupants.set(channel, occ);
      const tally = emptyTally();
      tally.presenceEvents++;
      const queue = [];
      const log0 = log.length;
      for (const def of fns.filter((d) => d.type === 'AFTER_PRESENCE' && matches(d.channels, channel))) {
        await execute(def, { channels: [channel], message: { action, uuid, occupancy: occ.size, timestamp: Math.floor(now / 1000) } }, 0, tally, queue);
      }
      await drain(tally, queue);
      return { tally, executions: log.slice(log0) };
    },
    /** One run of On Interval Function `name` and all it causes. */
    async interval(name) {
      const def = fns.find((d) => d.name === name && d.type === 'ON_INTERVAL');
      if (!def) throw new Error(`no ON_INTERVAL Function ${name}`);
      const tally = emptyTally();
      const queue = [];
      const log0 = log.length;
      await execute(def, { verb: 'interval', timestamp: now }, 0, tally, queue);
      await drain(tally, queue);
      return { tally, executions: log.slice(log0) };
    },
    intervalFunctions: () => fns.filter((d) => d.type === 'ON_INTERVAL').map((d) => d.name),
  };
  return world;
}
