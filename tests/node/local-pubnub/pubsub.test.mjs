import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { client, connected, destroyAll, events, http, startServer, until } from './helpers.mjs';

let srv;
before(async () => (srv = await startServer({ holdMs: 300, maxPerReply: 5 })));
after(async () => (destroyAll(), await srv.close()));

// Both subscribe flows of both SDK majors: v10 legacy loop (default), v10 event engine,
// v11 event engine (default), v11 legacy loop.
const FLAVOURS = [
  ['v10', {}],
  ['v10', { enableEventEngine: true }],
  ['v11', {}],
  ['v11', { enableEventEngine: false }],
];

let n = 0;
for (const [sdk, extra] of FLAVOURS) {
  const flavour = `${sdk}${extra.enableEventEngine === true ? '+ee' : extra.enableEventEngine === false ? '+legacy' : ''}`;
  describe(`SDK ${flavour}`, () => {
    test('publish (GET and deflated POST) and signal reach a subscriber', async () => {
      const ch = `room.${++n}`;
      const bob = client(sdk, srv, 'bob', extra);
      const alice = client(sdk, srv, 'alice', extra);
      const ev = events(bob);
      bob.subscribe({ channels: [ch] });
      await connected(ev);
      const { timetoken } = await alice.publish({ channel: ch, message: { text: 'hi' }, meta: { k: 1 } });
      const m = await ev.next('message', (e) => e.message.text === 'hi');
      assert.equal(m.channel, ch);
      assert.equal(m.publisher, 'alice');
      assert.equal(String(m.timetoken), String(timetoken));
      assert.deepEqual(m.userMetadata, { k: 1 });
      await alice.publish({ channel: ch, message: { text: 'by post' }, sendByPost: true });
      await ev.next('message', (e) => e.message.text === 'by post');
      await alice.signal({ channel: ch, message: 'typing' });
      const s = await ev.next('signal');
      assert.equal(s.message, 'typing');
      assert.equal(s.publisher, 'alice');
      assert.equal(ev.seen.message.length, 2, 'a signal is not a message');
    });

    test('channel-group delivery carries the group as subscription, and follows live group changes', async () => {
      const g = `g-${++n}`, ch = `via-group-${n}`, late = `late-${n}`;
      const admin = client(sdk, srv, 'admin', extra);
      await admin.channelGroups.addChannels({ channelGroup: g, channels: [ch] });
      const bob = client(sdk, srv, 'bob', extra);
      const ev = events(bob);
      bob.subscribe({ channelGroups: [g] });
      await connected(ev);
      await admin.publish({ channel: ch, message: 'one' });
      const m = await ev.next('message');
      assert.equal(m.channel, ch);
      assert.equal(m.subscription, g);
      // Added while bob's long-poll is waiting: the next publish must still reach him.
      await admin.channelGroups.addChannels({ channelGroup: g, channels: [late] });
      await admin.publish({ channel: late, message: 'two' });
      const m2 = await ev.next('message', (e) => e.message === 'two');
      assert.equal(m2.channel, late);
    });

    test('presence join and leave events', async () => {
      const ch = `lobby-${++n}`;
      const bob = client(sdk, srv, 'bob', extra);
      const ev = events(bob);
      bob.subscribe({ channels: [ch], withPresence: true });
      const selfJoin = await ev.next('presence', (e) => e.action === 'join' && e.uuid === 'bob');
      assert.equal(selfJoin.channel, ch);
      const carol = client(sdk, srv, 'carol', extra);
      carol.subscribe({ channels: [ch] });
      const join = await ev.next('presence', (e) => e.action === 'join' && e.uuid === 'carol');
      assert.equal(join.occupancy, 2);
      carol.unsubscribe({ channels: [ch] });
      const leave = await ev.next('presence', (e) => e.action === 'leave' && e.uuid === 'carol');
      assert.equal(leave.occupancy, 1);
    });

    test('subscribe filter expressions (meta.* and data.*) drop messages server-side', async () => {
      const ch = `filtered-${++n}`;
      const bob = client(sdk, srv, 'bob', extra);
      bob.setFilterExpression('meta.kind == "keep" || data.urgent == true');
      const ev = events(bob);
      bob.subscribe({ channels: [ch] });
      await connected(ev);
      await bob.publish({ channel: ch, message: { i: 1 }, meta: { kind: 'drop' } });
      await bob.publish({ channel: ch, message: { i: 2 }, meta: { kind: 'keep' } });
      await bob.publish({ channel: ch, message: { i: 3, urgent: true } });
      await bob.publish({ channel: ch, message: { i: 4, last: true }, meta: { kind: 'keep' } });
      await ev.next('message', (e) => e.message.last);
      assert.deepEqual(ev.seen.message.map((e) => e.message.i), [2, 3, 4]);
    });

    test('fire() is acknowledged but not delivered', async () => {
      const ch = `fire-${++n}`;
      const bob = client(sdk, srv, 'bob', extra);
      const ev = events(bob);
      bob.subscribe({ channels: [ch] });
      await connected(ev);
      // The SDK's fire() always passes a callback, so its promise resolves to undefined.
      await bob.fire({ channel: ch, message: { fired: true } });
      assert.equal(srv.bus.buffers.get(ch), undefined, 'fire is not stored for delivery');
      await bob.publish({ channel: ch, message: { after: true } });
      await ev.next('message', (e) => e.message.after);
      assert.equal(ev.seen.message.filter((e) => e.message.fired).length, 0);
    });
  });
}

describe('subscribe protocol (raw HTTP)', () => {
  const sub = (path) => http(srv, `/v2/subscribe/sub-c-test/${path}`);

  test('handshake answers at once with a cursor, r:1 and no messages', async () => {
    await srv.publish({ channel: 'hs', message: 1 });
    const r = await sub('hs/0?uuid=u1');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.m, []);
    assert.equal(r.json.t.r, 1);
    assert.match(r.json.t.t, /^\d{17}$/);
  });

  test('catch-up from an old tt, capped per reply, never e:0, cursor advances', async () => {
    const r0 = await sub('cu/0?uuid=u1');
    for (let i = 0; i < 7; i++) await srv.publish({ channel: 'cu', message: { i }, publisher: 'p' });
    await srv.publish({ channel: 'cu', message: 's', verb: 'signal', publisher: 'p' });
    const r1 = await sub(`cu/0?uuid=u1&tt=${r0.json.t.t}&tr=1`);
    assert.deepEqual(r1.json.m.map((e) => e.d.i), [0, 1, 2, 3, 4]); // maxPerReply = 5
    assert.equal(r1.json.t.t, r1.json.m[4].p.t);
    for (const e of r1.json.m) {
      assert.equal('e' in e, false);
      assert.equal('b' in e, false);
      assert.equal(e.c, 'cu');
      assert.equal(e.i, 'p');
    }
    const r2 = await sub(`cu/0?uuid=u1&tt=${r1.json.t.t}&tr=1`);
    assert.deepEqual(r2.json.m.map((e) => e.d.i ?? e.d), [5, 6, 's']);
    assert.equal(r2.json.m[2].e, 1);
  });

  test('an idle poll is held, then answered empty with the current cursor', async () => {
    const r0 = await sub('idle/0?uuid=u1');
    const t0 = Date.now();
    const r1 = await sub(`idle/0?uuid=u1&tt=${r0.json.t.t}`);
    assert.ok(Date.now() - t0 >= 250, 'held for about holdMs');
    assert.deepEqual(r1.json.m, []);
    assert.ok(BigInt(r1.json.t.t) >= BigInt(r0.json.t.t));
  });

  test('a held poll wakes on publish; wildcard and group matches carry b', async () => {
    await srv.groupAdd('raw-g', ['raw-in-group']);
    const path = 'a.*,direct/0?uuid=u1&channel-group=raw-g,raw-g-pnpres';
    const r0 = await sub(path);
    // u1 joined raw-in-group through the group: its own join arrives through raw-g-pnpres.
    const r1 = await sub(`${path}&tt=${r0.json.t.t}`);
    assert.equal(r1.json.m.length, 1);
    assert.equal(r1.json.m[0].c, 'raw-in-group-pnpres');
    assert.equal(r1.json.m[0].b, 'raw-g-pnpres');
    assert.equal(r1.json.m[0].d.action, 'join');
    const poll = sub(`${path}&tt=${r1.json.t.t}`);
    await until(() => srv.bus.waiters.has('w:a.*'));
    await srv.publish({ channel: 'a.b', message: 'w' });
    const r2 = await poll;
    assert.deepEqual(r2.json.m.map((e) => [e.c, e.b]), [['a.b', 'a.*']]);
    const poll2 = sub(`${path}&tt=${r2.json.t.t}`);
    await until(() => srv.bus.waiters.has('g:raw-g'));
    await srv.publish({ channel: 'raw-in-group', message: 'g' });
    const r3 = await poll2;
    assert.deepEqual(r3.json.m.map((e) => [e.c, e.b, e.d]), [['raw-in-group', 'raw-g', 'g']]);
  });

  test('an aborted poll is dropped without a leave', async () => {
    const r0 = await sub('ab/0?uuid=quitter');
    const ac = new AbortController();
    const p = fetch(`${srv.url}/v2/subscribe/sub-c-test/ab/0?uuid=quitter&tt=${r0.json.t.t}`, { signal: ac.signal }).catch(() => 'aborted');
    await until(() => srv.bus.waiters.has('c:ab'));
    ac.abort();
    assert.equal(await p, 'aborted');
    await until(() => !srv.bus.waiters.has('c:ab'));
    assert.deepEqual(srv.presence.whereNow('quitter'), ['ab']);
  });

  test('publish errors: invalid JSON and oversized signal', async () => {
    const bad = await http(srv, '/publish/pub-c-test/sub-c-test/0/x/0/%7Bnot-json?uuid=u');
    assert.equal(bad.status, 400);
    assert.equal(bad.json[0], 0);
    const big = encodeURIComponent(JSON.stringify('x'.repeat(100)));
    const sig = await http(srv, `/signal/pub-c-test/sub-c-test/0/x/0/${big}?uuid=u`);
    assert.equal(sig.status, 400);
  });
});
