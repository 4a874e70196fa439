// The arithmetic of scripts/cost-report and scripts/command-report, kept pure so that
// tests/node/reports.test.mjs checks it against known inputs: which PubNub transaction class
// each counted host call falls into, how calls add up into transactions, their price, the
// monthly estimate from a behaviour model, and percentiles. Plus the one side-effecting helper
// the reports on the local runtime share: `teardown`.
import { rmSync } from 'node:fs';

/**
 * PubNub's published prices, USD per unit (https://www.pubnub.com/docs/general/resources/pricing):
 * a Function execution, a replicated transaction, an edge transaction; payloads are billed in
 * 2,048-byte units (https://www.pubnub.com/pricing/transaction-classification/).
 */
export const PRICES = Object.freeze({ execution: 0.000025, replicated: 0.000123, edge: 0.000033 });
export const PAYLOAD_UNIT = 2048;
export const HOURS_PER_MONTH = 730; // 365 × 24 / 12

/**
 * The transaction class of each host call a Function makes, and whether PubNub's pages say so
 * (`documented`) or it is our assumption. PubNub's pages classify client API calls; they do not
 * say how a Function's own calls, its KV store or `fire` are billed. Reads answered by one point
 * of presence are taken as edge, writes that must reach every point of presence as replicated.
 */
export const CALL_CLASSES = Object.freeze({
  publish: { group: 'publish', tx: 'replicated', documented: true }, // "publishing a message"
  fire: { group: 'fire', tx: 'replicated', documented: false }, // no subscriber; may be free
  hereNow: { group: 'presence read', tx: 'edge', documented: false },
  whereNow: { group: 'presence read', tx: 'edge', documented: false },
  getUUIDMetadata: { group: 'App Context read', tx: 'edge', documented: false },
  getAllUUIDMetadata: { group: 'App Context read', tx: 'edge', documented: false },
  getChannelMembers: { group: 'App Context read', tx: 'edge', documented: false },
  getMemberships: { group: 'App Context read', tx: 'edge', documented: false },
  setUUIDMetadata: { group: 'App Context write', tx: 'replicated', documented: false },
  setChannelMembers: { group: 'App Context write', tx: 'replicated', documented: false },
  removeChannelMembers: { group: 'App Context write', tx: 'replicated', documented: false },
  setMemberships: { group: 'App Context write', tx: 'replicated', documented: false },
  removeMemberships: { group: 'App Context write', tx: 'replicated', documented: false },
  addChannels: { group: 'channel group write', tx: 'replicated', documented: true }, // Stream Controller
  removeChannels: { group: 'channel group write', tx: 'replicated', documented: true },
  listChannels: { group: 'channel group read', tx: 'edge', documented: false },
  'kvstore.get': { group: 'KV read', tx: 'edge', documented: false },
  'kvstore.getCounter': { group: 'KV read', tx: 'edge', documented: false },
  'kvstore.set': { group: 'KV write', tx: 'replicated', documented: false },
  'kvstore.removeItem': { group: 'KV write', tx: 'replicated', documented: false },
  'kvstore.incrCounter': { group: 'KV write', tx: 'replicated', documented: false },
});

/** The class of host call `op`; an op not in the table is an error (the table must grow). */
export function classOf(op) {
  const c = CALL_CLASSES[op];
  if (!c) throw new Error(`no transaction class for host call ${op}`);
  return c;
}

/** Billing units of a payload of `bytes` (at least one). */
export const payloadUnits = (bytes) => Math.max(1, Math.ceil(bytes / PAYLOAD_UNIT));

/**
 * An empty tally. Fields:
 * - executions: {functionName: n}
 * - calls: {op: n}; units: {op: billing units}, > calls where a publish's payload is over 2 KB
 * - deliveries: messages received by subscribers (each an edge transaction)
 * - clientPublishes, presenceEvents: replicated transactions made outside the Functions
 * - chainLimited: messages on bound channels that ran nothing, past PubNub's 3 hops
 */
export const emptyTally = () => ({ executions: {}, calls: {}, units: {}, deliveries: 0, clientPublishes: 0, presenceEvents: 0, chainLimited: 0 });

/** Adds one host call (`bytes`: the payload of a publish or fire, else 0) to `t`. */
export function countCall(t, op, bytes = 0) {
  classOf(op);
  t.calls[op] = (t.calls[op] ?? 0) + 1;
  t.units[op] = (t.units[op] ?? 0) + (op === 'publish' || op === 'fire' ? payloadUnits(bytes) : 1);
  return t;
}

/** `a` + `b`, each multiplied by its factor (a new tally). */
export function addTallies(a, b, fa = 1, fb = 1) {
  const out = emptyTally();
  for (const key of ['executions', 'calls', 'units']) {
    for (const [k, n] of Object.entries(a[key])) out[key][k] = (out[key][k] ?? 0) + n * fa;
    for (const [k, n] of Object.entries(b[key])) out[key][k] = (out[key][k] ?? 0) + n * fb;
  }
  for (const key of ['deliveries', 'clientPublishes', 'presenceEvents', 'chainLimited']) out[key] = (a[key] ?? 0) * fa + (b[key] ?? 0) * fb;
  return out;
}

export const scaleTally = (t, f) => addTallies(t, emptyTally(), f, 0);

/** Host calls of a tally per group (publish, KV read, App Context write, ...). */
export function byGroup(t) {
  const out = {};
  for (const [op, n] of Object.entries(t.calls)) {
    const g = classOf(op).group;
    out[g] = (out[g] ?? 0) + n;
  }
  return out;
}

/**
 * Billable units of a tally: Function executions, replicated and edge transactions (host
 * calls by their class in billing units, client publishes and presence events replicated,
 * deliveries edge). `kvBilled: false` leaves the KV store's calls out (see CALL_CLASSES).
 */
export function transactions(t, { kvBilled = true } = {}) {
  const out = { executions: 0, replicated: t.clientPublishes + t.presenceEvents, edge: t.deliveries };
  for (const n of Object.values(t.executions)) out.executions += n;
  for (const [op, units] of Object.entries(t.units)) {
    if (!kvBilled && op.startsWith('kvstore.')) continue;
    out[classOf(op).tx] += units;
  }
  return out;
}

/** USD of `tx` ({executions, replicated, edge}) at `prices`, per class and in total. */
export function price(tx, prices = PRICES) {
  const execution = tx.executions * prices.execution;
  const replicated = tx.replicated * prices.replicated;
  const edge = tx.edge * prices.edge;
  return { execution, replicated, edge, total: execution + replicated + edge };
}

/**
 * The behaviour model of the monthly estimate, defaults stated (scripts/cost-report flags):
 * - users: users online at every moment (the README's sizing: 1M);
 * - changesPerUserHour: presence changes (a join or a leave) per online user per hour;
 * - flapShare: the share of changes that are half of a flap (a join and a leave inside the
 *   debounce window: the leave is published later by the settler);
 * - commandsPerUserDay: friend commands per user per day, split by `commandMix`;
 * - syncsPerUserDay: friends.sync requests per user per day (app starts, reconnects);
 * - friends: friends per user; onlineShare: the share of them online (who receive a status);
 * - subscribeRenewalsPerHour: a connected client's empty long-poll returns per hour (PubNub
 *   holds a subscribe up to ~280 s: 3600 / 280), each an edge transaction; 0 leaves the
 *   clients' own connection cost out.
 */
export const MODEL_DEFAULTS = Object.freeze({
  users: 1_000_000,
  changesPerUserHour: 2,
  flapShare: 0.1,
  commandsPerUserDay: 1,
  commandMix: Object.freeze({ request: 0.4, accept: 0.3, decline: 0.1, cancel: 0.05, remove: 0.1, block: 0.05 }),
  syncsPerUserDay: 4,
  friends: 50,
  onlineShare: 0.3,
  subscribeRenewalsPerHour: 3600 / 280,
});

/**
 * Monthly tallies per line of the estimate. `per` holds measured tallies per event:
 * {join, leave, flap, request, accept, decline, cancel, remove, block, sync, idleHour};
 * `per.fanOutFriends` is the friend count the presence scenarios were measured with (their
 * deliveries are rescaled to `friends × onlineShare`). `idleHour` is the whole deployment's
 * On Interval work for one hour at the model's size.
 */
export function monthly(model, per) {
  const m = { ...MODEL_DEFAULTS, ...model, commandMix: { ...MODEL_DEFAULTS.commandMix, ...model.commandMix } };
  const mixSum = Object.values(m.commandMix).reduce((a, b) => a + b, 0);
  if (Math.abs(mixSum - 1) > 1e-9) throw new Error(`commandMix must sum to 1, sums to ${mixSum}`);
  const hours = HOURS_PER_MONTH;
  const days = hours / 24;
  const receivers = m.friends * m.onlineShare;
  // A status reaches each online friend: rescale the measured deliveries to the model's.
  const withFanOut = (t) => ({ ...t, deliveries: per.fanOutFriends ? (t.deliveries / per.fanOutFriends) * receivers : t.deliveries });
  const changes = m.users * m.changesPerUserHour * hours;
  const direct = addTallies(withFanOut(per.join), withFanOut(per.leave), 0.5, 0.5);
  const lines = [];
  lines.push({ line: 'presence changes (direct)', count: changes * (1 - m.flapShare), tally: scaleTally(direct, changes * (1 - m.flapShare)) });
  // `per.flap` is a pair of changes (the join and the leave the settler publishes).
  const flaps = (changes * m.flapShare) / 2;
  lines.push({ line: 'presence flaps (settled)', count: flaps, tally: scaleTally(withFanOut(per.flap), flaps) });
  const commands = m.users * m.commandsPerUserDay * days;
  for (const [kind, share] of Object.entries(m.commandMix)) {
    if (share) lines.push({ line: `friend ${kind}`, count: commands * share, tally: scaleTally(per[kind], commands * share) });
  }
  const syncs = m.users * m.syncsPerUserDay * days;
  lines.push({ line: 'friends.sync', count: syncs, tally: scaleTally(per.sync, syncs) });
  lines.push({ line: 'On Interval work (idle)', count: hours, tally: scaleTally(per.idleHour, hours) });
  const renewals = { ...emptyTally(), deliveries: m.users * m.subscribeRenewalsPerHour * hours };
  lines.push({ line: 'clients: subscribe renewals', count: renewals.deliveries, tally: renewals });
  return { model: m, lines };
}

/** The `p`-th percentile (nearest rank) of ascending `sorted`; undefined when empty. */
export function percentile(sorted, p) {
  if (!sorted.length) return undefined;
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Sequential rounds of host calls of one execution, from its calls' start/end events in order
 * (['start', 'end', ...]): a round starts when a call starts while none is in flight, so calls
 * sent together (Promise.all) are one round and calls awaited one after another are one each.
 */
export function rounds(events) {
  let inFlight = 0;
  let n = 0;
  for (const e of events) {
    if (e === 'start') {
      if (inFlight === 0) n++;
      inFlight++;
    } else if (e === 'end') {
      if (inFlight === 0) throw new Error('a call ended that never started');
      inFlight--;
    } else throw new Error(`not a call event: ${e}`);
  }
  return n;
}

/** USD with enough digits for one event's cost or a month's. */
export function usd(x) {
  if (x === 0) return '$0';
  if (x < 0.01) return `$${x.toPrecision(3)}`;
  return `$${x.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** The end of a report on the local runtime: its SDK clients destroyed, the runtime closed, its data dir removed. */
export async function teardown(clients, srv, dataDir) {
  for (const pn of clients) {
    try {
      pn.removeAllListeners?.();
      pn.destroy(true);
    } catch {
      // already torn down
    }
  }
  await srv.close();
  rmSync(dataDir, { recursive: true, force: true });
}
