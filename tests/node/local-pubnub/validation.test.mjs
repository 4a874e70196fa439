// Input that PubNub refuses is refused here too, with a 400 — not accepted, not a 500.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { destroyAll, http, startServer } from './helpers.mjs';

const json = (v) => encodeURIComponent(JSON.stringify(v));
const patch = (srv, path, body) => http(srv, path, { method: 'PATCH', body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) });

describe('validation', () => {
  let srv;
  before(async () => (srv = await startServer()));
  after(async () => (destroyAll(), await srv.close()));

  test('channel names: no space, / \\ , : *, NUL, newline or other control character, at most 92 characters', async () => {
    const bad = ['a%20b', 'a%2Fb', 'a%5Cb', 'a%2Cb', 'a%3Ab', 'a*b', 'a%00b', 'a%0Ab', 'a%09b', 'c'.repeat(93)];
    for (const ch of bad) {
      assert.equal((await http(srv, `/publish/p/s/0/${ch}/0/1?uuid=u`)).status, 400, `publish ${ch}`);
      assert.equal((await http(srv, `/v2/subscribe/s/${ch}/0?uuid=u`)).status, 400, `subscribe ${ch}`);
      assert.equal((await http(srv, `/v2/presence/sub-key/s/channel/${ch}/heartbeat?uuid=u`)).status, 400, `heartbeat ${ch}`);
      assert.equal((await http(srv, `/v2/presence/sub-key/s/channel/${ch}?uuid=u`)).status, 400, `hereNow ${ch}`);
    }
    // Per name after splitting: one bad name in a list is refused; good ones (also unicode) pass.
    assert.equal((await http(srv, '/v2/subscribe/s/ok,a%20b/0?uuid=u')).status, 400);
    assert.equal((await http(srv, `/publish/p/s/0/${'c'.repeat(92)}/0/1?uuid=u`)).status, 200);
    assert.equal((await http(srv, `/publish/p/s/0/${encodeURIComponent('kanał.żółw-1_x@y')}/0/1?uuid=u`)).status, 200);
    // Wildcard subscribe: a trailing `.*` (and its -pnpres) is fine; a `*` elsewhere is not.
    for (const ch of ['a.*', 'a.b.*', 'a.*-pnpres', 'x-pnpres', 'ok,friends.*']) assert.equal((await http(srv, `/v2/subscribe/s/${ch}/0?uuid=u`)).status, 200, ch);
    for (const ch of ['*', '.*', 'a*', 'a.*.b', 'a.**']) assert.equal((await http(srv, `/v2/subscribe/s/${ch}/0?uuid=u`)).status, 400, ch);
    // Channel groups in a subscribe, and App Context channel ids.
    assert.equal((await http(srv, '/v2/subscribe/s/,/0?uuid=u&channel-group=g%20x')).status, 400);
    assert.equal((await patch(srv, '/v2/objects/s/channels/a%20b', { name: 'n' })).status, 400);
    assert.equal((await patch(srv, `/v2/objects/s/uuids/${'u'.repeat(93)}`, { name: 'n' })).status, 400);
    assert.equal((await patch(srv, '/v2/objects/s/uuids/u1/channels', { set: [{ channel: { id: 'a b' } }] })).status, 400);
  });

  test('App Context: name at most 200 characters, string fields are strings, custom at most 100 flat keys, a record at most 32 KiB', async () => {
    const u = '/v2/objects/s/uuids/limits';
    assert.equal((await patch(srv, u, { name: 'n'.repeat(200) })).status, 200);
    assert.equal((await patch(srv, u, { name: 'n'.repeat(201) })).status, 400);
    assert.equal((await patch(srv, '/v2/objects/s/channels/limits', { name: 'n'.repeat(201) })).status, 400);
    for (const body of [{ name: { x: 1 } }, { email: 5 }, { status: [] }, { type: true }, { profileUrl: {} }])
      assert.equal((await patch(srv, u, body)).status, 400, JSON.stringify(body));
    const custom = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    assert.equal((await patch(srv, u, { custom: custom(100) })).status, 200);
    assert.equal((await patch(srv, u, { custom: custom(101) })).status, 400);
    assert.equal((await patch(srv, u, { custom: { big: 'x'.repeat(33 * 1024) } })).status, 400);
    assert.equal((await patch(srv, u, { custom: { big: 'x'.repeat(30 * 1024) } })).status, 200);
    const m = '/v2/objects/s/channels/limits/uuids';
    assert.equal((await patch(srv, m, { set: [{ uuid: { id: 'a' }, custom: custom(101) }] })).status, 400);
    assert.equal((await patch(srv, m, { set: [{ uuid: { id: 'a' }, status: 7 }] })).status, 400);
    assert.deepEqual(srv.objects.entities.uuid.get('limits').custom.big.length, 30 * 1024, 'refused writes changed nothing');
  });

  test('a body that is not valid UTF-8 is refused, not silently repaired', async () => {
    const bytes = Buffer.concat([Buffer.from('{"name":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    assert.equal((await patch(srv, '/v2/objects/s/uuids/utf8', bytes)).status, 400);
    assert.equal(srv.objects.entities.uuid.has('utf8'), false);
    const pub = await http(srv, '/publish/p/s/0/utf8/0?uuid=u', { method: 'POST', body: Buffer.from([0x22, 0xff, 0xfe, 0x22]) });
    assert.equal(pub.status, 400);
    assert.equal((await patch(srv, '/v2/objects/s/uuids/utf8', Buffer.from('{"name":"café ✓"}'))).status, 200);
  });

  test('paging: limit must be a positive number on App Context lists (0 used to hand out a cursor to itself)', async () => {
    for (const path of ['/v2/objects/s/uuids', '/v2/objects/s/channels', '/v2/objects/s/uuids/u1/channels', '/v2/objects/s/channels/c1/uuids'])
      for (const limit of ['0', '-1', 'abc', '1.5', ''])
        assert.equal((await http(srv, `${path}?limit=${limit}`)).status, 400, `${path} limit=${limit}`);
    for (let i = 0; i < 3; i++) await patch(srv, `/v2/objects/s/uuids/page-${i}`, { name: 'p' });
    const r = await http(srv, `/v2/objects/s/uuids?limit=500&filter=${encodeURIComponent('id LIKE "page-*"')}`);
    assert.equal(r.status, 200, 'above the maximum is clamped, as before');
    assert.equal(r.json.data.length, 3);
    // hereNow: limit 0 is a count without occupants (the core's count handler uses it); negative is not.
    assert.equal((await http(srv, '/v2/presence/sub-key/s/channel/hn?limit=0&disable_uuids=1')).status, 200);
    for (const q of ['limit=-1', 'limit=abc', 'offset=-1', 'offset=x']) assert.equal((await http(srv, `/v2/presence/sub-key/s/channel/hn?${q}`)).status, 400, q);
  });

  test('heartbeat: an absurd presence timeout is clamped to 320 s (the SDKs\' maximum)', async () => {
    await http(srv, '/v2/presence/sub-key/s/channel/hb/heartbeat?uuid=hb1&heartbeat=1000000000000');
    // One device per uuid here (no instanceid): its presence timeout.
    const timeout = (uuid) => [...srv.presence.occupants.get('hb').get(uuid).devices.values()][0].timeoutMs;
    assert.equal(timeout('hb1'), 320e3);
    await http(srv, '/v2/subscribe/s/hb/0?uuid=hb2&heartbeat=1e12');
    assert.equal(timeout('hb2'), 320e3);
    await http(srv, '/v2/presence/sub-key/s/channel/hb/heartbeat?uuid=hb3&heartbeat=60');
    assert.equal(timeout('hb3'), 60e3);
  });

  test('malformed bodies and parameters get 400, not 500', async () => {
    for (const path of ['/v2/objects/s/uuids/u1/channels', '/v2/objects/s/channels/c1/uuids'])
      for (const body of ['null', '5', '[]', '{"set":5}', '{"set":{}}', '{"delete":{}}', '{"set":[null]}', '{"delete":["x"]}', '{"set":[{"channel":{"id":5}},{"uuid":{"id":5}}]}'])
        assert.equal((await patch(srv, path, body)).status, 400, `${path} ${body}`);
    for (const state of [5, 'x', [1], null]) {
      assert.equal((await http(srv, `/v2/presence/sub-key/s/channel/st/uuid/u/data?uuid=u&state=${json(state)}`)).status, 400, `set state ${state}`);
      assert.equal((await http(srv, `/v2/presence/sub-key/s/channel/st/heartbeat?uuid=u&state=${json(state)}`)).status, 400, `heartbeat state ${state}`);
    }
    assert.equal((await http(srv, `/v2/presence/sub-key/s/channel/st/heartbeat?uuid=u&state=${json({ st: 5 })}`)).status, 400);
    assert.equal((await http(srv, `/v2/presence/sub-key/s/channel/st/heartbeat?uuid=u&state=${json({ st: { ok: 1 } })}`)).status, 200);
  });
});

describe('validation with Access Manager', () => {
  const SECRET = 'sec-c-val';
  let srv;
  before(async () => (srv = await startServer({ secretKey: SECRET, publishKey: 'pub-c-test' })));
  after(async () => (destroyAll(), await srv.close()));

  test('malformed membership items and grant bodies get 400, not 500', async () => {
    const token = srv.pam.grant({ ttl: 5, permissions: { resources: { uuids: { me: 255 }, channels: { c: 255 } } } });
    for (const body of ['null', '{"set":5}', '{"set":[null]}', '{"set":[{"uuid":{"id":"x"}}]}', '{"set":[{"channel":5}]}', '{"set":[{"channel":{"id":5}}]}', '{"delete":"abc"}'])
      assert.equal((await patch(srv, `/v2/objects/s/uuids/me/channels?uuid=me&auth=${token}`, body)).status, 400, body);
    const grant = async (body) => {
      const ts = String(Math.floor(Date.now() / 1000));
      const qs = `timestamp=${ts}&uuid=server`;
      const sig = 'v2.' + createHmac('sha256', SECRET).update(`POST\npub-c-test\n/v3/pam/s/grant\n${qs}\n${body}`).digest('base64url');
      return http(srv, `/v3/pam/s/grant?${qs}&signature=${sig}`, { method: 'POST', body });
    };
    for (const permissions of [{ resources: null }, { patterns: null }, { resources: 5 }, { resources: { channels: 5 } }, { resources: { channels: { a: 'x' } } }, { resources: { uuids: { a: { read: true } } } }, { meta: 5 }])
      assert.equal((await grant(JSON.stringify({ ttl: 5, permissions }))).status, 400, JSON.stringify(permissions));
    assert.equal((await grant(JSON.stringify({ ttl: 5, permissions: { resources: { channels: { a: 3 } } } }))).status, 200);
  });
});
