import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HERE, SDKS, client, destroyAll, events, http, startServer, until } from './helpers.mjs';

const MANIFEST = path.join(HERE, 'functions/manifest.json');
const lastIn = (srv, ch) => srv.bus.buffers.get(ch)?.at(-1)?.env.d;
const execs = (srv, name) => srv.functions.executions.filter((e) => e.name === name);
const logged = (srv, fn, id) => srv.functions.console.filter((c) => c.fn === fn).map((c) => JSON.parse(c.text)).find((r) => r.id === id);

describe('Functions host (10-each budgets)', () => {
  let srv;
  before(async () => (srv = await startServer({ functions: MANIFEST, execTimeoutMs: 300, functionIntervalMs: 40, announceMax: 1, intervalSec: 0.2 })));
  after(async () => (destroyAll(), await srv.close()));

  for (const sdk of Object.keys(SDKS)) {
    test(`${sdk}: After Publish sees message/channel/publisher, publishes, uses KV; the reply reaches a subscriber`, async () => {
      const alice = client(sdk, srv, `alice-${sdk}`);
      const ev = events(alice);
      alice.subscribe({ channels: [`out.alice-${sdk}`] });
      await ev.next('status', (s) => s.category === 'PNConnectedCategory');
      await alice.publish({ channel: 'cmd.ping', message: { type: 'ping', sdk } });
      const m = await ev.next('message');
      assert.deepEqual(m.message.seen, { type: 'ping', sdk });
      assert.equal(m.message.channel, 'cmd.ping');
      assert.ok(m.message.count >= 1);
      await until(() => srv.kv.get('last-sent')?.tt === String(m.timetoken));
      const sent = srv.kv.get('last-sent');
      assert.deepEqual([sent.isArray, sent.first, sent.second, sent.timetoken], [true, 1, 'Sent', sent.tt]);
      const line = srv.lines.find((l) => l.startsWith('[functions] echo AFTER_PUBLISH cmd.ping'));
      assert.match(line, /\d+ms ops api=0 publish=1 kv=2 -> ok/);
      assert.ok(srv.functions.console.some((c) => c.fn === 'echo' && /^echoed cmd.ping count \d+$/.test(c.text)));
    });

    test(`${sdk}: Before Publish rewrites the message or aborts the publish`, async () => {
      const bob = client(sdk, srv, 'bob');
      const ev = events(bob);
      bob.subscribe({ channels: ['guarded.x'] });
      await ev.next('status', (s) => s.category === 'PNConnectedCategory');
      const err = await bob.publish({ channel: 'guarded.x', message: { bad: true } }).catch((e) => e);
      assert.equal(err.status.statusCode, 400);
      await bob.publish({ channel: 'guarded.x', message: { text: 'fine' } });
      const m = await ev.next('message');
      assert.deepEqual(m.message, { text: 'fine', stamped: true });
      assert.equal(ev.seen.message.length, 1);
    });
  }

  test('After Presence gets join events and interval events of presence.* channels', async () => {
    await http(srv, '/v2/presence/sub-key/s/channel/presence.shard-3/heartbeat?uuid=p1');
    const join = await until(() => srv.bus.buffers.get('presence-log')?.map((x) => x.env.d).find((d) => d.event.action === 'join'));
    assert.equal(join.channel, 'presence.shard-3');
    assert.equal(join.uuid, 'p1');
    assert.equal(join.event.occupancy, 1);
    await http(srv, '/v2/presence/sub-key/s/channel/presence.shard-3/heartbeat?uuid=p2'); // 2 > announceMax
    const iv = await until(() => srv.bus.buffers.get('presence-log')?.map((x) => x.env.d).find((d) => d.event.action === 'interval' && d.event.join.length));
    assert.deepEqual(iv.event.join, ['p2']);
    assert.equal(iv.event.occupancy, 2);
  });

  test('On Interval runs on its timer and on demand', async () => {
    await until(() => srv.kv.getCounter('ticks') >= 2);
    const before = srv.kv.getCounter('ticks');
    const out = await srv.functions.runInterval('ticker');
    assert.equal(out.result, 'ok');
    assert.ok(srv.kv.getCounter('ticks') > before);
  });

  test('On Request under /v1/blocks/sub-key/{sub}/{path}', async () => {
    const r = await http(srv, '/v1/blocks/sub-key/sub-c-test/api/items?x=1', { method: 'POST', body: '{"a":1}' });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get('x-test'), 'yes');
    assert.equal(r.json.method, 'POST');
    assert.equal(r.json.path, 'api/items');
    assert.deepEqual(r.json.query, { x: '1' });
    assert.deepEqual(r.json.body, { a: 1 });
    assert.equal(typeof r.json.ticks, 'number');
    const failed = await http(srv, '/v1/blocks/sub-key/sub-c-test/api?fail=1');
    assert.equal(failed.status, 500);
    assert.equal((await http(srv, '/v1/blocks/sub-key/sub-c-test/nothing-here')).status, 404);
  });

  test('op budgets: the 11th KV op and the 11th publish are refused with "execution calls exceeds"', async () => {
    await srv.publish({ channel: 'budget.a', message: { id: 'kv10', kv: 10 } });
    await srv.publish({ channel: 'budget.a', message: { id: 'kv11', kv: 11 } });
    await srv.publish({ channel: 'budget.a', message: { id: 'mix', kv: 10, pub: 10, api: 10 } });
    await srv.publish({ channel: 'budget.a', message: { id: 'pub11', pub: 11 } });
    const r = await until(() => ['kv10', 'kv11', 'mix', 'pub11'].every((id) => logged(srv, 'budget', id)) && ['kv10', 'kv11', 'mix', 'pub11'].map((id) => logged(srv, 'budget', id)));
    assert.deepEqual(r[0], { id: 'kv10', done: 10, error: null });
    assert.equal(r[1].done, 10);
    assert.match(r[1].error, /execution calls exceeds/);
    assert.deepEqual(r[2], { id: 'mix', done: 30, error: null }, 'budgets do not share a pool');
    assert.equal(r[3].done, 10);
    assert.match(r[3].error, /execution calls exceeds/);
  });

  test('charged by module, op budgets are per execution even when concurrent executions share a module-level scheduler', async () => {
    const rule = srv.functions.opsAttribution;
    srv.functions.opsAttribution = 'module';
    try {
      // Three concurrent executions of 8 KV ops each: 24 in all, but never more than 8 in one.
      const ids = ['q1', 'q2', 'q3'];
      await Promise.all(ids.map((id) => srv.publish({ channel: 'queued.a', message: { id, kv: 8 } })));
      const r = await until(() => ids.every((id) => logged(srv, 'shared-queue', id)) && ids.map((id) => logged(srv, 'shared-queue', id)));
      for (const [i, id] of ids.entries()) assert.deepEqual(r[i], { id, done: 8, error: null });
      const lines = srv.lines.filter((l) => l.startsWith('[functions] shared-queue AFTER_PUBLISH queued.a'));
      assert.equal(lines.length, 3);
      for (const l of lines) assert.match(l, /ops api=0 publish=0 kv=8 -> ok/);
    } finally {
      srv.functions.opsAttribution = rule;
    }
  });

  test('charged by async context, a module-level scheduler shared by executions spends one execution\'s budget for the others', async () => {
    const rule = srv.functions.opsAttribution;
    srv.functions.opsAttribution = 'context';
    try {
      const ids = ['c1', 'c2', 'c3'];
      await Promise.all(ids.map((id) => srv.publish({ channel: 'queued.a', message: { id, kv: 8 } })));
      const r = await until(() => ids.every((id) => logged(srv, 'shared-queue', id)) && ids.map((id) => logged(srv, 'shared-queue', id)));
      // What the bundles avoid by making each host call from its own execution's promise chain.
      assert.ok(r.some((x) => /execution calls exceeds/.test(x.error ?? '')), JSON.stringify(r));
    } finally {
      srv.functions.opsAttribution = rule;
    }
  });

  test('chaining stops after 3 Function hops; the last message is still delivered', async () => {
    await srv.publish({ channel: 'chain.0', message: { n: 0 } });
    await until(() => srv.bus.buffers.get('chain.3'));
    await until(() => execs(srv, 'chain').length === 3 && srv.functions.inflight.size === 0);
    assert.deepEqual(execs(srv, 'chain').map((e) => [e.target, e.depth]), [['chain.0', 0], ['chain.1', 1], ['chain.2', 2]]);
    assert.equal(srv.bus.buffers.get('chain.4'), undefined);
    assert.ok(srv.lines.some((l) => /chain limit: AFTER_PUBLISH on chain.3/.test(l)));
  });

  test('the sandbox is bare: no process/Buffer/timers/TextEncoder, require knows only pubnub and kvstore', async () => {
    await srv.publish({ channel: 'probe.1', message: { x: 1 } });
    const p = await until(() => lastIn(srv, 'probe-out'));
    assert.deepEqual([p.process, p.Buffer, p.setTimeout, p.TextEncoder], ['undefined', 'undefined', 'undefined', 'undefined']);
    assert.equal(p.WebAssembly, 'object');
    assert.match(p.fsError, /Cannot find module 'fs'/);
    assert.equal(p.messageIsObject, true, 'request objects belong to the sandbox realm');
    for (const k of ['message', 'channels', 'params', 'meta', 'verb', 'ok', 'abort']) assert.ok(p.requestKeys.includes(k), k);
  });

  test('pubnub module: App Context, hereNow and channel-group shapes like the SDK', async () => {
    await http(srv, '/v2/presence/sub-key/s/channel/presence.here/heartbeat?uuid=h1');
    await srv.publish({ channel: 'objs.1', message: {} });
    const o = await until(() => lastIn(srv, 'objs-out'));
    assert.deepEqual(o.set, { status: 200, name: 'F', custom: { online: true }, eTag: 'string' });
    assert.deepEqual(o.missing, { statusCode: 404, isError: true });
    assert.equal(o.stale, 412);
    assert.deepEqual(o.members, { totalCount: 1, items: [['bob', 'accepted']] });
    assert.deepEqual(o.hereNow, {
      totalChannels: 1,
      totalOccupancy: 1,
      channels: { 'presence.here': { name: 'presence.here', occupancy: 1, occupants: [{ uuid: 'h1', state: null }] } },
    });
    assert.deepEqual(o.group, { channels: ['status.a'] });
  });

  test('10 s limit (300 ms here): busy loops and hung promises end as timeouts', async () => {
    await srv.publish({ channel: 'slow.1', message: { sync: true } });
    await srv.publish({ channel: 'slow.2', message: { sync: false } });
    await until(() => execs(srv, 'slow').length === 2, 3000);
    assert.deepEqual(execs(srv, 'slow').map((e) => e.result), ['timeout', 'timeout']);
    // The server is still responsive.
    assert.equal((await http(srv, '/time/0')).status, 200);
  });
});

describe('Functions host ("3 combined" budget)', () => {
  let srv;
  before(async () => (srv = await startServer({ functions: MANIFEST, opsLimit: 3 })));
  after(async () => await srv.close());

  test('KV + publish + API share one budget of 3', async () => {
    await srv.publish({ channel: 'budget.b', message: { id: 'c3', kv: 1, pub: 1, api: 1 } });
    await srv.publish({ channel: 'budget.b', message: { id: 'c4', kv: 2, pub: 2 } });
    const [c3, c4] = await until(() => logged(srv, 'budget', 'c3') && logged(srv, 'budget', 'c4') && [logged(srv, 'budget', 'c3'), logged(srv, 'budget', 'c4')]);
    assert.deepEqual(c3, { id: 'c3', done: 3, error: null });
    assert.equal(c4.done, 3);
    assert.match(c4.error, /execution calls exceeds/);
  });

  test('kvstore limits: 32,000-character values, TTL in minutes, atomic counters', async () => {
    assert.throws(() => srv.kv.set('big', 'x'.repeat(32001)), /limit is 32000/);
    assert.doesNotThrow(() => srv.kv.set('ok', 'x'.repeat(31998)));
    const [rec] = srv.kv.set('ttl', 1, 60);
    assert.ok(Math.abs(rec.exp - Date.now() - 60 * 60e3) < 1000, 'ttl 60 = one hour');
    const results = await Promise.all(Array.from({ length: 20 }, async () => {
      const { value, records } = srv.kv.incr('race', 1);
      await srv.commit(records);
      return value;
    }));
    assert.equal(srv.kv.getCounter('race'), 20);
    assert.deepEqual(results.sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
  });
});
