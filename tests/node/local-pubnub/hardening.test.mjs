// Findings of issue 20 against the local runtime: heartbeat state behind Access Manager, no 500
// for any input, no credential in the log, the Admin API on localhost, presence rules.
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { client, connected, destroyAll, events, http, startServer, until } from './helpers.mjs';
import { MAX_FILTER_DEPTH } from '../../../js-shim/dev/local-pubnub/filter.mjs';
import { MAX_JSON_DEPTH, redact } from '../../../js-shim/dev/local-pubnub/util.mjs';

const SECRET = 'sec-c-hardening';
const json = (v) => encodeURIComponent(JSON.stringify(v));

describe('Access Manager checks every channel a presence state names', () => {
  let srv, token;
  before(async () => {
    srv = await startServer({ secretKey: SECRET, publishKey: 'pub-c-test' });
    // What the auth service grants a user: read on the own shard, status.global and the own inbox.
    const server = client('v11', srv, 'server', { secretKey: SECRET });
    token = await server.grantToken({
      ttl: 5, authorized_uuid: 'mallory', resources: { channels: { 'presence.shard-1': { read: true }, 'status.global': { read: true }, 'inbox.mallory': { read: true } } },
    });
  });
  after(async () => (destroyAll(), await srv.close()));

  test('heartbeat and subscribe `state` on a channel without a grant: 403, and no state anywhere', async () => {
    for (const target of ['presence.shard-42', 'status.bob', 'inbox.bob']) {
      const state = json({ [target]: { mood: 'x' } });
      const hb = await http(srv, `/v2/presence/sub-key/s/channel/presence.shard-1/heartbeat?uuid=mallory&auth=${token}&state=${state}`);
      assert.equal(hb.status, 403, `heartbeat state on ${target}`);
      assert.deepEqual(hb.json.payload, { channels: [target] });
      const sub = await http(srv, `/v2/subscribe/s/presence.shard-1/0?uuid=mallory&auth=${token}&state=${state}`);
      assert.equal(sub.status, 403, `subscribe state on ${target}`);
      assert.deepEqual(srv.presence.getState('mallory', target), {});
      assert.equal(srv.hereNow({ channels: [target] })[target].occupancy, 0);
    }
    // State on a granted channel still works.
    const ok = await http(srv, `/v2/presence/sub-key/s/channel/presence.shard-1/heartbeat?uuid=mallory&auth=${token}&state=${json({ 'presence.shard-1': { mood: 'ok' } })}`);
    assert.equal(ok.status, 200);
    assert.deepEqual(srv.presence.getState('mallory', 'presence.shard-1'), { mood: 'ok' });
  });
});

describe('no 500 for any input', () => {
  let srv;
  before(async () => (srv = await startServer()));
  after(async () => (destroyAll(), await srv.close()));

  const deep = (n) => '['.repeat(n) + ']'.repeat(n);
  const deepFilter = (n) => '('.repeat(n) + 'data.a == 1' + ')'.repeat(n);

  test('a publish body nested 16,000 deep is a 400; at the depth limit it is published', async () => {
    const post = (body) => http(srv, '/publish/p/s/0/deep/0?uuid=u', { method: 'POST', body });
    const refused = await post(deep(16000));
    assert.equal(refused.status, 400);
    assert.match(refused.json[1], /nested deeper than/);
    // In a URL (Node's 16 KB header limit answers 431 above that): 2,000 deep.
    assert.equal((await http(srv, `/publish/p/s/0/deep/0/${encodeURIComponent(deep(2000))}?uuid=u`)).status, 400);
    assert.equal((await post(deep(MAX_JSON_DEPTH))).status, 200);
    assert.equal((await post(deep(MAX_JSON_DEPTH + 1))).status, 400);
    // Brackets inside strings are not nesting.
    assert.equal((await post(JSON.stringify('['.repeat(1000)))).status, 200);
  });

  test('deep JSON elsewhere (meta, state, App Context bodies) is a 400', async () => {
    assert.equal((await http(srv, `/publish/p/s/0/deep/0/1?uuid=u&meta=${encodeURIComponent(deep(2000))}`)).status, 400);
    assert.equal((await http(srv, `/v2/subscribe/s/deep/0?uuid=u&state=${encodeURIComponent(deep(2000))}`)).status, 400);
    assert.equal((await http(srv, `/v2/presence/sub-key/s/channel/deep/heartbeat?uuid=u&state=${encodeURIComponent(deep(2000))}`)).status, 400);
    const body = `{"name":"n","custom":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
    assert.equal((await http(srv, '/v2/objects/s/uuids/deep', { method: 'PATCH', body })).status, 400);
  });

  test('a subscribe filter nested 5,000 deep, or longer than the cap, is a 400', async () => {
    assert.equal((await http(srv, `/v2/subscribe/s/deep/0?uuid=u&filter-expr=${encodeURIComponent(deepFilter(5000))}`)).status, 400);
    assert.equal((await http(srv, `/v2/subscribe/s/deep/0?uuid=u&filter-expr=${encodeURIComponent('!'.repeat(5000) + 'data.a == 1')}`)).status, 400);
    const long = Array.from({ length: 300 }, () => 'data.a == 1').join(' && ');
    assert.equal((await http(srv, `/v2/subscribe/s/deep/0?uuid=u&filter-expr=${encodeURIComponent(long)}`)).status, 400);
    assert.equal((await http(srv, `/v2/objects/s/uuids?filter=${encodeURIComponent(deepFilter(5000))}`)).status, 400);
    assert.equal((await http(srv, `/v2/subscribe/s/deep/0?uuid=u&filter-expr=${encodeURIComponent(deepFilter(MAX_FILTER_DEPTH))}`)).status, 200);
    assert.equal((await http(srv, `/v2/subscribe/s/deep/0?uuid=u&filter-expr=${encodeURIComponent(deepFilter(MAX_FILTER_DEPTH + 1))}`)).status, 400);
  });
});

describe('no credential in the log', () => {
  test('auth=, signature=, tokens and secret keys are redacted from every log line', async () => {
    const srv = await startServer({ secretKey: SECRET, publishKey: 'pub-c-test' });
    try {
      const token = await client('v11', srv, 'server', { secretKey: SECRET }).grantToken({ ttl: 5, resources: { channels: { a: { read: true } } } });
      srv.log(`GET /v2/subscribe/s/a/0?uuid=u&auth=${encodeURIComponent(token)}&signature=v2.abc&timestamp=1`);
      srv.log(`a Function printed ${token} and ${SECRET}`);
      const text = srv.lines.join('\n');
      assert.ok(!text.includes(token) && !text.includes(token.slice(0, 40)), text);
      assert.ok(!text.includes('v2.abc') && !text.includes(SECRET), text);
      assert.match(text, /auth=\[redacted\]/);
      assert.match(text, /printed \[redacted token\]/);
    } finally {
      destroyAll();
      await srv.close();
    }
    // Ordinary long ids (hashes, eTags) stay readable.
    assert.equal(redact('eTag 0f3067e0988bc7ded57f36d075b98eaf0f3067e0988bc7ded57f36d075b98eaf'), 'eTag 0f3067e0988bc7ded57f36d075b98eaf0f3067e0988bc7ded57f36d075b98eaf');
  });
});

describe('the Admin API answers only on this machine', () => {
  const external = Object.values(os.networkInterfaces()).flat().find((a) => a && !a.internal && a.family === 'IPv4')?.address;

  test('listening on every interface: the Admin API is 404 from another address unless adminRemote', { skip: !external && 'no non-loopback IPv4 address' }, async () => {
    for (const adminRemote of [false, true]) {
      const srv = await startServer({ host: '0.0.0.0', adminApiKey: 'admin-key', adminRemote });
      try {
        const get = (host) => fetch(`http://${host}:${srv.port}/v2/faas/packages`, { headers: { Authorization: 'admin-key', 'PubNub-Version': '2024-01-01' } });
        assert.notEqual((await get('127.0.0.1')).status, 404, 'from localhost');
        assert.equal((await get(external)).status, adminRemote ? (await get('127.0.0.1')).status : 404, `from ${external}, adminRemote ${adminRemote}`);
        // The rest of the API is served to everyone.
        assert.equal((await fetch(`http://${external}:${srv.port}/time/0`)).status, 200);
      } finally {
        await srv.close();
      }
    }
  });
});

describe('presence rules: only the tracked channels have presence', () => {
  let srv;
  const QUIET = { pattern: 'room.quiet', events: ['join', 'leave', 'timeout', 'interval'] };
  before(async () => (srv = await startServer({ presenceChannels: ['presence.shard-*', QUIET] })));
  after(async () => (destroyAll(), await srv.close()));

  test('subscribing to status.global makes no occupant, no join, no state; the shard does', async () => {
    const watcher = client('v11', srv, 'watcher');
    const ev = events(watcher);
    watcher.subscribe({ channels: ['status.global', 'presence.shard-7'], withPresence: true });
    await connected(ev);
    const alice = client('v11', srv, 'rules-alice');
    alice.subscribe({ channels: ['status.global', 'presence.shard-7'] });
    await ev.next('presence', (e) => e.action === 'join' && e.uuid === 'rules-alice' && e.channel === 'presence.shard-7');
    await alice.setState({ channels: ['status.global', 'presence.shard-7'], state: { mood: 'here' } });
    await ev.next('presence', (e) => e.action === 'state-change' && e.channel === 'presence.shard-7');
    const here = await watcher.hereNow({ channels: ['status.global', 'presence.shard-7'] });
    assert.equal(here.channels['status.global']?.occupancy ?? 0, 0);
    assert.deepEqual(here.channels['presence.shard-7'].occupants.map((o) => o.uuid).sort(), ['rules-alice', 'watcher']);
    const single = await http(srv, '/v2/presence/sub-key/s/channel/status.global?uuid=x');
    assert.deepEqual([single.json.occupancy, single.json.uuids], [0, []]);
    assert.deepEqual((await watcher.whereNow({ uuid: 'rules-alice' })).channels, ['presence.shard-7']);
    assert.deepEqual(srv.presence.getState('rules-alice', 'status.global'), {});
    alice.unsubscribeAll();
    await ev.next('presence', (e) => e.action === 'leave' && e.uuid === 'rules-alice' && e.channel === 'presence.shard-7');
    await until(() => ev.seen.presence.filter((e) => e.channel === 'presence.shard-7').length >= 3);
    assert.deepEqual(ev.seen.presence.filter((e) => e.channel === 'status.global'), [], 'no presence event on an untracked channel');
  });

  test('a rule without state-change: the state is kept, no state-change is announced', async () => {
    const watcher = client('v11', srv, 'quiet-watcher');
    const ev = events(watcher);
    watcher.subscribe({ channels: ['room.quiet'], withPresence: true });
    await connected(ev);
    const bob = client('v11', srv, 'quiet-bob');
    bob.subscribe({ channels: ['room.quiet'] });
    await ev.next('presence', (e) => e.action === 'join' && e.uuid === 'quiet-bob');
    await bob.setState({ channels: ['room.quiet'], state: { mood: 'quiet' } });
    assert.deepEqual(srv.presence.getState('quiet-bob', 'room.quiet'), { mood: 'quiet' });
    bob.unsubscribeAll();
    await ev.next('presence', (e) => e.action === 'leave' && e.uuid === 'quiet-bob');
    assert.deepEqual(ev.seen.presence.filter((e) => e.action === 'state-change'), []);
  });
});
