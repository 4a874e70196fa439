// The reports' arithmetic (scripts/report-lib.mjs) and counting (scripts/report-world.mjs)
// against known inputs: transaction classes, payload units, prices, the monthly estimate,
// percentiles, sequential rounds, and the world's tally of hand-written Functions whose every
// host call is known. Run: node --experimental-vm-modules --test tests/node/reports.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  PRICES, classOf, payloadUnits, emptyTally, countCall, addTallies, transactions, price, monthly, percentile, rounds, byGroup,
} from '../../scripts/report-lib.mjs';
import { createWorld } from '../../scripts/report-world.mjs';

const close = (a, b, what) => assert.ok(Math.abs(a - b) < 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} != ${b}`);

test('host calls fall into their transaction classes; an unknown call is refused', () => {
  assert.equal(classOf('publish').tx, 'replicated');
  assert.equal(classOf('publish').documented, true);
  assert.equal(classOf('addChannels').tx, 'replicated');
  assert.equal(classOf('getUUIDMetadata').tx, 'edge');
  assert.equal(classOf('kvstore.incrCounter').tx, 'replicated');
  assert.equal(classOf('kvstore.get').tx, 'edge');
  assert.throws(() => classOf('objects.setEverything'), /no transaction class/);
});

test('payloads are billed in 2,048-byte units, at least one', () => {
  assert.equal(payloadUnits(0), 1);
  assert.equal(payloadUnits(2048), 1);
  assert.equal(payloadUnits(2049), 2);
  assert.equal(payloadUnits(8192), 4); // PubNub's example: an 8 KB publish is 4 transactions
});

test('a tally adds up to executions, replicated and edge transactions, and their price', () => {
  const t = emptyTally();
  t.executions['friend-acceptance'] = 2;
  countCall(t, 'kvstore.get');
  countCall(t, 'kvstore.get');
  countCall(t, 'kvstore.set');
  countCall(t, 'publish', 5000); // 3 units
  countCall(t, 'getUUIDMetadata');
  t.deliveries = 10;
  t.clientPublishes = 1;
  t.presenceEvents = 1;
  assert.deepEqual(t.calls, { 'kvstore.get': 2, 'kvstore.set': 1, publish: 1, getUUIDMetadata: 1 });
  assert.deepEqual(byGroup(t), { 'KV read': 2, 'KV write': 1, publish: 1, 'App Context read': 1 });
  // replicated: client publish 1 + presence event 1 + KV write 1 + publish 3 units; edge: 10 deliveries + 2 KV reads + 1 read
  assert.deepEqual(transactions(t), { executions: 2, replicated: 6, edge: 13 });
  assert.deepEqual(transactions(t, { kvBilled: false }), { executions: 2, replicated: 5, edge: 11 });
  const p = price(transactions(t));
  close(p.execution, 2 * 0.000025, 'executions');
  close(p.replicated, 6 * 0.000123, 'replicated');
  close(p.edge, 13 * 0.000033, 'edge');
  close(p.total, 0.001217, 'total');
  assert.deepEqual(PRICES, { execution: 0.000025, replicated: 0.000123, edge: 0.000033 });
  // Sums and multiples of tallies
  const twice = addTallies(t, t);
  assert.deepEqual(transactions(twice), { executions: 4, replicated: 12, edge: 26 });
  assert.deepEqual(transactions(addTallies(t, emptyTally(), 0.5, 0)), { executions: 1, replicated: 3, edge: 6.5 });
});

test('the monthly estimate multiplies each event by the model and rescales status deliveries to online friends', () => {
  const ev = (executions, deliveries = 0, replicated = 0) => {
    const t = emptyTally();
    t.executions.f = executions;
    t.deliveries = deliveries;
    for (let i = 0; i < replicated; i++) countCall(t, 'publish', 10);
    return t;
  };
  const per = {
    join: ev(1, 20, 1), leave: ev(1, 20, 1), flap: ev(4, 40, 2), request: ev(1, 2, 2), accept: ev(2), decline: ev(1),
    cancel: ev(1), remove: ev(5), block: ev(5), sync: ev(2), idleHour: ev(100), fanOutFriends: 20,
  };
  const { lines } = monthly({
    users: 10, changesPerUserHour: 1, flapShare: 0.2, commandsPerUserDay: 24, syncsPerUserDay: 0,
    commandMix: { request: 1, accept: 0, decline: 0, cancel: 0, remove: 0, block: 0 }, friends: 10, onlineShare: 0.5, subscribeRenewalsPerHour: 2,
  }, per);
  const line = (name) => lines.find((l) => l.line === name);
  // 10 users × 1 change/h × 730 h = 7,300 changes: 80 % direct, 20 % in 730 flaps (pairs)
  assert.equal(line('presence changes (direct)').count, 5840);
  assert.deepEqual(transactions(line('presence changes (direct)').tally), { executions: 5840, replicated: 5840, edge: 5840 * 5 });
  assert.equal(line('presence flaps (settled)').count, 730);
  assert.deepEqual(transactions(line('presence flaps (settled)').tally), { executions: 2920, replicated: 1460, edge: 730 * 10 });
  // 10 users × 24 commands/day × 730/24 days = 7,300 requests; deliveries not rescaled (inboxes)
  assert.equal(line('friend request').count, 7300);
  assert.deepEqual(transactions(line('friend request').tally), { executions: 7300, replicated: 14600, edge: 14600 });
  assert.equal(line('friend accept'), undefined);
  assert.equal(line('friends.sync').count, 0);
  assert.deepEqual(transactions(line('On Interval work (idle)').tally), { executions: 73000, replicated: 0, edge: 0 });
  assert.deepEqual(transactions(line('clients: subscribe renewals').tally), { executions: 0, replicated: 0, edge: 14600 });
  assert.throws(() => monthly({ commandMix: { request: 0.5 } }, per), /sum to 1/);
});

test('percentiles are nearest-rank', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([1, 2, 3], 50), 2);
  assert.equal(percentile([], 50), undefined);
});

test('sequential rounds: calls sent together count once, awaited ones each', () => {
  assert.equal(rounds([]), 0);
  assert.equal(rounds(['start', 'end', 'start', 'end']), 2);
  assert.equal(rounds(['start', 'start', 'end', 'end']), 1);
  assert.equal(rounds(['start', 'start', 'end', 'start', 'end', 'end']), 1);
  assert.equal(rounds(['start', 'start', 'end', 'end', 'start', 'end']), 2);
  assert.throws(() => rounds(['end']), /never started/);
});

test('the world counts every execution, host call, payload unit and delivery of a known chain', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fp-reports-'));
  try {
    // origin: two KV reads together, a 2-unit publish to an inbox, a publish to a status
    // channel two friends' groups hold, a fire to `next.*`. next: one counter, a fire onwards;
    // the third hop's fire is beyond PubNub's chain limit and runs nothing.
    writeFileSync(join(dir, 'origin.js'), `export default async (request) => {
  const kv = require('kvstore'); const pubnub = require('pubnub');
  await Promise.all([kv.get('a'), kv.get('b')]);
  await pubnub.publish({ channel: 'inbox.u1', message: { big: 'y'.repeat(3000) } });
  await pubnub.publish({ channel: 'status.u1', message: { type: 'friend.online' } });
  await pubnub.fire({ channel: 'next.1', message: { n: 1 } });
  return request.ok();
};`);
    writeFileSync(join(dir, 'next.js'), `export default async (request) => {
  const kv = require('kvstore'); const pubnub = require('pubnub');
  await kv.incrCounter('hops', 1);
  await pubnub.fire({ channel: 'next.' + (request.message.n + 1), message: { n: request.message.n + 1 } });
  return request.ok();
};`);
    const manifest = { functions: [
      { name: 'origin', file: 'origin.js', type: 'AFTER_PUBLISH', channels: 'in.*' },
      { name: 'next', file: 'next.js', type: 'AFTER_PUBLISH', channels: 'next.*' },
    ] };
    const w = await createWorld({ dir, manifest });
    w.pn.groups.set('cg-friends-f1', new Set(['status.u1']));
    w.pn.groups.set('cg-friends-f2', new Set(['status.u1', 'status.u9']));
    const { tally, executions } = await w.clientPublish('in.u1', { hello: 1 }, 'u1');
    assert.deepEqual(tally.executions, { origin: 1, next: 2 });
    assert.deepEqual(tally.calls, { 'kvstore.get': 2, publish: 2, fire: 3, 'kvstore.incrCounter': 2 });
    assert.deepEqual(tally.units, { 'kvstore.get': 2, publish: 3, fire: 3, 'kvstore.incrCounter': 2 });
    assert.equal(tally.deliveries, 3); // the inbox's owner + two friends
    assert.equal(tally.clientPublishes, 1);
    assert.equal(tally.chainLimited, 1);
    assert.deepEqual(executions.map((e) => [e.name, e.depth, e.rounds, e.error]), [['origin', 0, 4, undefined], ['next', 1, 2, undefined], ['next', 2, 2, undefined]]);
    // replicated: client publish 1 + publishes 3 units + fires 3 + counters 2; edge: 3 deliveries + 2 reads
    assert.deepEqual(transactions(tally), { executions: 3, replicated: 9, edge: 5 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the world drives the built friend Functions: an acceptance runs the recount it fires, each call counted once', async () => {
  const { command } = await import('./commands.mjs');
  const w = await createWorld();
  w.addUser('ann', 'Ann');
  w.addUser('ben', 'Ben');
  const req = command('friend.request', 'ann', 'ben', 1, w.now());
  const r1 = await w.clientPublish(req.channel, req.message, 'ann');
  w.advance(1000);
  const acc = command('friend.request.accepted', 'ann', 'ben', 2, w.now());
  const calls0 = w.pn.calls.length;
  const r2 = await w.clientPublish(acc.channel, acc.message, 'ben');
  assert.deepEqual(r1.executions.map((e) => e.name), ['friend-acceptance']);
  assert.equal(r2.executions[0].name, 'friend-acceptance');
  assert.ok(r2.executions.some((e) => e.name === 'recount-worker'), 'the recount fired by the acceptance ran');
  assert.ok(r2.executions.every((e) => !e.error), JSON.stringify(r2.executions));
  const counted = Object.values(r2.tally.calls).reduce((a, b) => a + b, 0);
  assert.equal(counted, w.pn.calls.length - calls0);
  assert.equal(r2.tally.calls.addChannels, 2, 'each user\'s group gets the other\'s status channel');
  // friend.added to both inboxes and the result to ben's: three deliveries
  assert.equal(r2.tally.deliveries, 3);
});

test('scripts/bench runs: its plain JS yardstick makes after-presence\'s host calls, and every row has its ratio', async () => {
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync(process.execPath, ['--experimental-vm-modules', '--no-warnings', join(import.meta.dirname, '../../scripts/bench.mjs'), '--only', 'after-presence', '--runs', '3', '--cold', '1'], { encoding: 'utf8' });
  const row = (name) => out.split('\n').find((l) => l.startsWith(name + ' '));
  assert.ok(row('plain-js'), out);
  // cpu µs, ×, cold ms, ×, (cpu), × for native text and again for the fallback.
  assert.equal(row('after-presence').trim().split(/\s+/).length, 13, out);
});
