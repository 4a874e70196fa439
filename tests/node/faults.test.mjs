// Host faults through the built bundles: the in-memory host (js-shim/dev/memory-host/memory.mjs) fails
// calls the way PubNub does (a rejected call with a status). A failure at every call of an
// acceptance, a crash after every call, and 20 % of all calls failing while each client
// re-sends its command (same eventId) until a friend.command.result answers it. Then: nothing
// half-made, every count exact after the recount worker, every request notified.
// Run: node --experimental-vm-modules --test tests/node/faults.test.mjs (after scripts/build)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadFunction, trigger } from '../../js-shim/dev/memory-host/load-function.mjs';
import { MemoryPubNub } from '../../js-shim/dev/memory-host/memory.mjs';
import { command } from './commands.mjs';
import { FUNCTIONS_DIR, T0, manifest as readManifest } from './helpers.mjs';

const dir = FUNCTIONS_DIR;
const manifest = readManifest();
const NAMES = ['friend-acceptance', 'friend-removal', 'recount-worker', 'presence-settler'];

async function system() {
  const pn = new MemoryPubNub();
  let now = T0;
  pn.now = () => now;
  const fns = {};
  for (const f of manifest.functions.filter((f) => NAMES.includes(f.name))) fns[f.name] = { ...f, fn: await loadFunction(join(dir, f.file), { now: () => now }) };
  const sys = {
    pn,
    advance: (ms) => { now += ms; },
    async run(name, fields) {
      return fns[name].fn.run(trigger(fields), pn.execution());
    },
    /** A client's command, published on its channel by its user. */
    async send(publisher, { channel, message }) {
      await sys.run(channel.startsWith('friend-requests.') ? 'friend-acceptance' : 'friend-removal', { channels: [channel], params: { uuid: publisher }, message });
    },
    results: (sender, eventId) => pn.published.filter((p) => p.channel === `inbox.${sender}` && p.message.type === 'friend.command.result' && p.message.payload.eventId === eventId),
    /** Re-sends until answered; returns the answer's payload. Time passes between attempts. */
    async untilAnswered(publisher, cmd) {
      for (let attempt = 1; attempt <= 1000; attempt++) {
        await sys.send(publisher, cmd);
        const got = sys.results(publisher, cmd.message.eventId);
        if (got.length) {
          for (const r of got) assert.deepEqual(r.message, got[0].message, 'every answer to a command is the same message');
          return { ...got[0].message.payload, attempt };
        }
        now += 10_000;
      }
      throw new Error(`${cmd.message.eventId} never answered`);
    },
    /** Fired recounts (and what they queue) until none is left. */
    async drain() {
      while (pn.fired.length) {
        const { channel, message } = pn.fired.shift();
        assert.ok(channel.startsWith('recount-work.'), channel);
        await sys.run('recount-worker', { channels: [channel], message });
      }
    },
    /** The recount worker for everyone: counts from the memberships. */
    async recountAll(users) {
      for (let i = 0; i < users.length; i += 2) {
        await sys.run('recount-worker', { channels: ['recount-work.jobs'], message: { type: 'recount.work', hop: 1, users: users.slice(i, i + 2) } });
      }
      for (let run = 0; run < 3; run++) { now += 10_000; await sys.run('presence-settler', {}); await sys.drain(); }
    },
    assertWithinBudget() {
      for (const f of Object.values(fns)) for (const l of f.fn.logs) assert.doesNotMatch(l.text, /exceeds the limit|per-execution limit/, `${f.name}: ${l.text}`);
    },
  };
  return sys;
}

const members = (pn, u) => pn.members.get(`friends.${u}`) || new Map();

/** Nothing half-made: both memberships or neither; each status channel in exactly the group its membership records; no request between friends. */
function assertLinked(pn, users) {
  for (const u of users) {
    for (const f of users) {
      if (u === f) continue;
      const m = members(pn, u).get(f);
      assert.equal(!!m, members(pn, f).has(u), `${u} x ${f}: membership on one side only`);
      const holding = [...pn.groups].filter(([g, set]) => (g === `cg-friends-${u}` || g.startsWith(`cg-friends-${u}-`)) && set.has(`status.${f}`)).map(([g]) => g);
      if (m) {
        assert.deepEqual(holding, [m.group === 0 ? `cg-friends-${u}` : `cg-friends${m.group}-${u}`], `${u} x ${f}`);
        assert.equal(pn.kv.get(`friend-request:${u}:${f}`), undefined, `${u} -> ${f}: a request survives the friendship`);
      } else {
        assert.deepEqual(holding, [], `${u} x ${f}: group entry without a membership`);
      }
    }
  }
}

function assertCounted(pn, users) {
  for (const u of users) assert.equal(pn.users.get(u).custom.friendCount ?? 0, members(pn, u).size, `${u}: friendCount`);
}

const accept = (n) => command('friend.request.accepted', 'alice', 'bob', `a${n}`, T0);

for (const mode of ['fail', 'crash']) {
  test(`${mode === 'fail' ? 'a failure at' : 'a crash after'} every call of an acceptance: the re-send completes it exactly`, async () => {
    // A clean acceptance's calls, to know every position.
    const clean = await system();
    for (const u of ['alice', 'bob']) clean.pn.addUser(u, u);
    await clean.send('alice', command('friend.request', 'alice', 'bob', 'r1', T0));
    const before = clean.pn.calls.length;
    await clean.send('bob', accept(0));
    const calls = clean.pn.calls.length - before;
    assert.ok(calls >= 12, `${calls} calls`);
    for (let n = mode === 'fail' ? 1 : 0; n <= calls; n++) {
      const sys = await system();
      for (const u of ['alice', 'bob']) sys.pn.addUser(u, u);
      await sys.send('alice', command('friend.request', 'alice', 'bob', 'r1', T0));
      if (mode === 'fail') sys.pn.faults.failCall(n);
      else sys.pn.faults.crashAfter(n);
      await sys.send('bob', accept(n));
      const answer = await sys.untilAnswered('bob', accept(n));
      assert.equal(answer.ok, true, `call ${n}: ${JSON.stringify(answer)}`);
      assert.ok(answer.attempt <= 2, `call ${n}: ${answer.attempt} attempts`);
      await sys.drain();
      assertLinked(sys.pn, ['alice', 'bob']);
      assertCounted(sys.pn, ['alice', 'bob']);
      assert.equal(members(sys.pn, 'alice').size, 1);
      const added = new Set(sys.pn.published.filter((p) => p.channel === 'inbox.alice' && p.message.type === 'friend.added').map((p) => p.message.eventId));
      assert.equal(added.size, 1, 'one friend.added for the client, however many attempts sent it');
      sys.assertWithinBudget();
    }
  });
}

test('20 % of host calls failing, commands re-sent until answered: nothing half-made, exact counts, every request notified', async () => {
  const sys = await system();
  const users = Array.from({ length: 12 }, (_, i) => `u${String(i).padStart(2, '0')}`);
  for (const u of users) sys.pn.addUser(u, u);
  sys.pn.faults.setRate(0.2, 0x5eed);
  let x = 0x1234567;
  const below = (n) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
  const notified = [];
  let commands = 0;
  let attempts = 0;
  for (let step = 0; step < 90; step++) {
    const a = users[below(users.length)];
    const b = users[below(users.length)];
    if (a === b) continue;
    const friends = members(sys.pn, a).has(b);
    const pending = sys.pn.kv.has(`friend-request:${a}:${b}`);
    const roll = below(10);
    let sender = a;
    let cmd;
    if (friends && roll < 4) cmd = command('friend.remove', a, b, `c${step}`, T0);
    else if (pending && roll < 8) { sender = b; cmd = command(roll < 7 ? 'friend.request.accepted' : 'friend.request.declined', a, b, `c${step}`, T0); }
    else cmd = command('friend.request', a, b, `c${step}`, T0);
    const answer = await sys.untilAnswered(sender, cmd);
    commands++;
    attempts += answer.attempt;
    if (cmd.message.type === 'friend.request' && answer.ok) notified.push([a, b, cmd.message.eventId]);
    if (step % 5 === 0) await sys.drain();
  }
  await sys.drain();
  const injected = sys.pn.faults.injected;
  sys.pn.faults.setRate(0);
  assertLinked(sys.pn, users);
  for (const [a, b, id] of notified) {
    assert.ok(sys.pn.published.some((p) => p.channel === `inbox.${b}` && p.message.eventId === `evt_request_${a}_${id}`), `${a} -> ${b} never notified`);
  }
  await sys.recountAll(users);
  assertCounted(sys.pn, users);
  const friendships = users.reduce((n, u) => n + members(sys.pn, u).size, 0) / 2;
  console.log(`# 20 % faults through the bundles: ${commands} commands, ${attempts} attempts, ${injected} calls failed, ${friendships} friendships, ${notified.length} requests notified`);
  assert.ok(injected > 50 && friendships > 2, `too little exercised: ${injected} faults, ${friendships} friendships`);
  sys.assertWithinBudget();
});
