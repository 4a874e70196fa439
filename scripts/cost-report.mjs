// Cost report (run through scripts/cost-report): what one presence change, one friend command
// and one idle hour cost in Function executions, host calls and PubNub transactions, and a
// monthly estimate for a population at PubNub's published prices.
//
// The built Functions run on the in-memory host (scripts/report-world.mjs): simulated time, no
// network, every execution a real path of the real bundles (a refused command or a failed
// execution stops the report). Counting is exact for what the Functions do; the transaction
// class of each host call and the behaviour model are stated assumptions (scripts/report-lib.mjs).
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createWorld, builtSettings, FUNCTIONS_DIR } from './report-world.mjs';
import {
  MODEL_DEFAULTS, PRICES, addTallies, byGroup, emptyTally, monthly, price, transactions, usd,
} from './report-lib.mjs';
import {
  initSync, friendRequest, acceptRequest, declineRequest, cancelRequest, removeFriend, blockUser, syncRequest,
} from '../pkg/web/index.js';
import { COST_REPORT as HELP } from './usage.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
initSync({ module: readFileSync(join(ROOT, 'pkg/web/friends_presence_bg.wasm')) });

const { values: v } = parseArgs({
  options: {
    friends: { type: 'string' }, 'idle-minutes': { type: 'string' }, shards: { type: 'string' }, users: { type: 'string' },
    'changes-per-user-hour': { type: 'string' }, 'flap-share': { type: 'string' }, 'commands-per-user-day': { type: 'string' },
    'syncs-per-user-day': { type: 'string' }, 'online-share': { type: 'string' }, 'renewals-per-hour': { type: 'string' },
    'no-kv-billed': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  },
});
if (v.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const num = (name, dflt, min = 0) => {
  if (v[name] === undefined) return dflt;
  const n = Number(v[name]);
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`--${name} must be a number >= ${min}\n\n${HELP}`);
    process.exit(2);
  }
  return n;
};
const model = {
  users: num('users', MODEL_DEFAULTS.users, 1),
  changesPerUserHour: num('changes-per-user-hour', MODEL_DEFAULTS.changesPerUserHour),
  flapShare: num('flap-share', MODEL_DEFAULTS.flapShare),
  commandsPerUserDay: num('commands-per-user-day', MODEL_DEFAULTS.commandsPerUserDay),
  syncsPerUserDay: num('syncs-per-user-day', MODEL_DEFAULTS.syncsPerUserDay),
  friends: num('friends', MODEL_DEFAULTS.friends, 1),
  onlineShare: num('online-share', MODEL_DEFAULTS.onlineShare),
  subscribeRenewalsPerHour: num('renewals-per-hour', MODEL_DEFAULTS.subscribeRenewalsPerHour),
};
const friendsN = Math.round(model.friends);
const idleMinutes = num('idle-minutes', 60, 1);
const shards = Math.round(num('shards', Math.max(1, Math.ceil(model.users / 50)), 1));
if (shards > 70_000) {
  process.stderr.write('--shards: the Functions accept at most 70,000\n');
  process.exit(2);
}
const kvBilled = !v['no-kv-billed'];
const say = (s = '') => process.stdout.write(s + '\n');
const built = builtSettings();
const manifest = JSON.parse(readFileSync(join(FUNCTIONS_DIR, 'manifest.json'), 'utf8'));

// The user's shard, as the web client computes it (|JS hashCode| % shardCount).
const hashCode = (s) => [...s].reduce((h, c) => ((h << 5) - h + c.charCodeAt(0)) | 0, 0);
const shardOf = (id, count) => `presence.shard-${Math.abs(hashCode(id)) % count}`;

// ------------------------------------------------------------------ scenarios
const w = await createWorld();
let nonce = 0;
const failures = [];
/** A client command through the world; checks it was accepted (its friend.command.result). */
async function command(build, publisher, a, b) {
  const out = build(a, b, w.now(), ++nonce);
  if (out.error) throw new Error(`builder refused: ${out.error}`);
  const pub0 = w.pn.published.length;
  const r = await w.clientPublish(out.channel, out.message, publisher);
  const mine = w.pn.published.slice(pub0);
  // A sync is answered by its pages; every other command by its friend.command.result.
  if (out.message.type === 'friends.sync.request') {
    if (!mine.some((m) => m.message?.type === 'friends.sync')) failures.push(`friends.sync.request ${a}: no page`);
  } else {
    const answer = mine.find((m) => m.message?.type === 'friend.command.result' && m.message.payload?.eventId === out.message.eventId);
    if (!answer?.message.payload.ok) failures.push(`${out.message.type} ${a}→${b}: ${answer ? answer.message.payload.reason : 'no answer'}`);
  }
  for (const e of r.executions) if (e.error) failures.push(`${e.name}: ${e.error}`);
  w.advance(1000);
  return { ...r, published: w.pn.published.slice(pub0) };
}
const sum = (rs) => rs.reduce((t, r) => addTallies(t, r.tally), emptyTally());

for (const id of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank', 'pat', 'quinn', 'rita', 'sam']) w.addUser(id, id);
const per = {};
const chains = {}; // per scenario: the executions it caused
const record = (name, r) => {
  per[name] = r.tally;
  chains[name] = r.executions;
};
record('request', await command(friendRequest, 'alice', 'alice', 'bob'));
record('accept', await command(acceptRequest, 'bob', 'alice', 'bob'));
record('remove', await command(removeFriend, 'alice', 'alice', 'bob'));
await command(friendRequest, 'carol', 'carol', 'dave');
record('decline', await command(declineRequest, 'dave', 'carol', 'dave'));
await command(friendRequest, 'erin', 'erin', 'frank');
record('cancel', await command(cancelRequest, 'erin', 'erin', 'frank'));
await command(friendRequest, 'gina', 'gina', 'hank');
await command(acceptRequest, 'hank', 'gina', 'hank');
record('block', await command(blockUser, 'gina', 'gina', 'hank'));
record('block (not friends)', await command(blockUser, 'quinn', 'quinn', 'rita'));

// The user whose presence and sync are measured, with `friendsN` friends.
const me = 'pat';
for (let i = 0; i < friendsN; i++) {
  const f = `friend-${i}`;
  w.addUser(f, `Friend ${i}`);
  await command(friendRequest, me, me, f);
  await command(acceptRequest, f, me, f);
}
// friends.sync as the web client loads it: the first request (the head and the chains it
// serves), then every other chain the head lists, each followed to its end.
{
  const rs = [];
  const withPages = (pages) => (a, page, now, n) => {
    const out = syncRequest(a, page, now, n);
    if (!out.error) out.message.payload.pages = pages;
    return out;
  };
  const follow = (r) => {
    const last = new Map(); // chain → its last page in this answer
    for (const m of r.published) if (m.message?.type === 'friends.sync' && m.message.payload.chain !== undefined) last.set(m.message.payload.chain, m.message.payload);
    return [...last.values()].map((p) => p.next).filter(Boolean);
  };
  const first = await command(withPages(5), me, me, null);
  rs.push(first);
  const head = first.published.find((m) => m.message?.payload?.chains)?.message.payload;
  const queue = [...(head?.chains ?? []).slice(head?.serves ?? 1).filter(Boolean), ...follow(first)];
  while (queue.length && rs.length < 50) {
    const r = await command(withPages(10), me, me, queue.shift());
    rs.push(r);
    queue.push(...follow(r));
  }
  per.sync = sum(rs);
  chains.sync = rs.flatMap((r) => r.executions);
  per.syncRequests = rs.length;
}

// Presence: a join and a leave far apart (each published at once), then a flap.
const shard = shardOf(me, built.shardCount);
const statusOf = (pub0, type) => w.pn.published.slice(pub0).some((m) => m.channel === `status.${me}` && m.message?.type === type);
async function change(action) {
  const pub0 = w.pn.published.length;
  const r = await w.presence(shard, action, me);
  for (const e of r.executions) if (e.error) failures.push(`${e.name}: ${e.error}`);
  return { ...r, published: statusOf(pub0, action === 'join' ? 'friend.online' : 'friend.offline') };
}
w.advance(60_000);
const joined = await change('join');
if (!joined.published) failures.push('join: no friend.online published');
record('join', joined);
w.advance(60_000);
const left = await change('leave');
if (!left.published) failures.push('leave: no friend.offline published');
record('leave', left);
w.advance(60_000);
{
  const j = await change('join');
  w.advance(1000);
  const l = await change('leave');
  if (l.published) failures.push('flap: the leave inside the debounce window was published at once');
  // The settler's runs until one publishes the deferred offline status: only that run (and
  // what it causes) is the flap's; the runs before it did nothing for it (idle cost).
  let settled = null;
  for (let i = 0; i < 30 && !settled; i++) {
    w.advance(manifest.functions.find((f) => f.name === 'presence-settler').intervalMs ?? 10_000);
    const pub0 = w.pn.published.length;
    const r = await w.interval('presence-settler');
    for (const e of r.executions) if (e.error) failures.push(`${e.name}: ${e.error}`);
    if (statusOf(pub0, 'friend.offline')) settled = { ...r, ticks: i + 1 };
  }
  if (!settled) failures.push('flap: the settler never published the deferred offline status');
  else {
    per.flap = addTallies(addTallies(j.tally, l.tally), settled.tally);
    chains.flap = [...j.executions, ...l.executions, ...settled.executions];
    per.flapTicks = settled.ticks;
  }
}

// One idle hour (idle-minutes) of On Interval work at `shards` shards: every On Interval
// Function on its period, with what it fires and publishes.
const idle = await createWorld({ settings: { shardCount: shards } });
const periods = manifest.functions.filter((f) => f.type === 'ON_INTERVAL').map((f) => ({ name: f.name, every: f.intervalMs ?? 10_000, next: f.intervalMs ?? 10_000 }));
let idleTally = emptyTally();
for (let t = 0; t < idleMinutes * 60_000;) {
  const due = Math.min(...periods.map((p) => p.next));
  if (due > idleMinutes * 60_000) break;
  idle.advance(due - t);
  t = due;
  for (const p of periods.filter((q) => q.next === due)) {
    const r = await idle.interval(p.name);
    for (const e of r.executions) if (e.error) failures.push(`${e.name} (idle): ${e.error}`);
    idleTally = addTallies(idleTally, r.tally);
    p.next += p.every;
  }
}
per.idleHour = addTallies(idleTally, emptyTally(), 60 / idleMinutes, 0);
per.fanOutFriends = friendsN;

if (failures.length) {
  process.stderr.write(`the scenarios did not run as real paths; numbers would not be of working handlers:\n  ${[...new Set(failures)].slice(0, 10).join('\n  ')}\n`);
  process.exit(1);
}

// ------------------------------------------------------------------ report
const fmt = (n, d = 0) => (Number.isInteger(n) && d === 0 ? n.toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: d }));
say('friends-presence cost report (the built Functions on the in-memory host; simulated time)');
say(`bundles: shardCount=${built.shardCount} debounceMs=${built.debounceMs} opsLimit=${built.opsLimit}; prices: execution $${PRICES.execution}, replicated $${PRICES.replicated}, edge $${PRICES.edge}, payloads in 2 KB units; KV calls ${kvBilled ? 'billed (replicated writes, edge reads: assumed)' : 'not billed'}`);
say('');
say('Per event. exec = Function executions (by Function); calls = host calls by kind; rounds = sequential rounds of host');
say('calls of the triggering execution (calls sent together count once); deliveries = messages received by subscribers');
say(`(a status to every friend: ${friendsN} here). tx = replicated / edge transactions; $ = executions + transactions.`);
const SCENARIOS = [
  ['join', 'presence join (published at once)'],
  ['leave', 'presence leave (published at once)'],
  ['flap', `flap: join, leave 1 s later, settled (${per.flapTicks} settler run${per.flapTicks > 1 ? 's' : ''} later)`],
  ['request', 'friend.request'],
  ['accept', 'friend.request.accepted'],
  ['decline', 'friend.request.declined'],
  ['cancel', 'friend.request.cancel'],
  ['remove', 'friend.remove'],
  ['block', 'friend.block (a friend)'],
  ['block (not friends)', 'friend.block (not friends)'],
  ['sync', `friends.sync of ${friendsN} friends (${per.syncRequests} request${per.syncRequests > 1 ? 's' : ''})`],
  ['idleHour', `idle hour: On Interval work at ${shards.toLocaleString('en-US')} shards`],
];
for (const [key, label] of SCENARIOS) {
  const t = per[key];
  const tx = transactions(t, { kvBilled });
  const cost = price(tx);
  const execs = Object.entries(t.executions).map(([n, c]) => `${n} ${fmt(c, 1)}`).join(', ');
  const groups = Object.entries(byGroup(t)).map(([g, c]) => `${g} ${fmt(c, 1)}`).join(', ');
  const chain = chains[key] ?? [];
  const total = Object.values(t.calls).reduce((a, b) => a + b, 0);
  say(`\n${label}`);
  say(`  exec ${fmt(tx.executions, 1)}: ${execs}`);
  say(`  calls ${fmt(total, 1)}: ${groups}`);
  if (key !== 'idleHour') say(`  rounds: ${chain.map((e) => `${e.name} ${e.rounds}`).join(' → ')}`);
  say(`  deliveries ${fmt(t.deliveries, 1)}; client publishes ${t.clientPublishes}, presence events ${t.presenceEvents}` +
    (t.chainLimited ? `; ${fmt(t.chainLimited, 1)} messages past PubNub's 3 hops ran nothing` : ''));
  say(`  tx ${fmt(tx.replicated, 1)} replicated / ${fmt(tx.edge, 1)} edge; cost ${usd(cost.total)} (executions ${usd(cost.execution)}, replicated ${usd(cost.replicated)}, edge ${usd(cost.edge)})`);
}

const est = monthly(model, per);
say(`\nMonthly estimate (730 h), model: users online ${fmt(est.model.users)}, presence changes ${est.model.changesPerUserHour}/user/h ` +
  `(${est.model.flapShare * 100}% in flaps), friend commands ${est.model.commandsPerUserDay}/user/day ` +
  `(${Object.entries(est.model.commandMix).map(([k, s]) => `${k} ${s}`).join(', ')}), syncs ${est.model.syncsPerUserDay}/user/day, ` +
  `friends ${est.model.friends} (${est.model.onlineShare * 100}% online receive a status), subscribe renewals ${est.model.subscribeRenewalsPerHour.toFixed(2)}/client/h, shards ${fmt(shards)}`);
const head = `  ${'line'.padEnd(30)}${'events'.padStart(16)}${'executions'.padStart(16)}${'replicated'.padStart(16)}${'edge'.padStart(16)}${'USD'.padStart(16)}`;
say(head);
let total = { executions: 0, replicated: 0, edge: 0 };
for (const l of est.lines) {
  const tx = transactions(l.tally, { kvBilled });
  total = { executions: total.executions + tx.executions, replicated: total.replicated + tx.replicated, edge: total.edge + tx.edge };
  const c = price(tx).total;
  say(`  ${l.line.padEnd(30)}${fmt(Math.round(l.count)).padStart(16)}${fmt(Math.round(tx.executions)).padStart(16)}${fmt(Math.round(tx.replicated)).padStart(16)}${fmt(Math.round(tx.edge)).padStart(16)}${usd(c).padStart(16)}`);
}
const all = price(total);
say(`  ${'total'.padEnd(30)}${''.padStart(16)}${fmt(Math.round(total.executions)).padStart(16)}${fmt(Math.round(total.replicated)).padStart(16)}${fmt(Math.round(total.edge)).padStart(16)}${usd(all.total).padStart(16)}`);
say(`\nmonthly ${usd(all.total)} for ${fmt(est.model.users)} users online (${usd(all.total / est.model.users)} per user): executions ${usd(all.execution)}, replicated ${usd(all.replicated)}, edge ${usd(all.edge)}`);
