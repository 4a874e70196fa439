import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SDKS, client, destroyAll, http, startServer } from './helpers.mjs';
import { compileFilter } from '../../../js-shim/dev/local-pubnub/filter.mjs';

let srv;
before(async () => (srv = await startServer()));
after(async () => (destroyAll(), await srv.close()));

for (const sdk of Object.keys(SDKS)) {
  const id = (s) => `${sdk}-${s}`;

  test(`${sdk}: uuid metadata set/get/remove, custom replaced wholesale, 404 after remove`, async () => {
    const pn = client(sdk, srv, 'admin');
    const set = await pn.objects.setUUIDMetadata({ uuid: id('alice'), data: { name: 'Alice', custom: { online: true, shardId: 4 } } });
    assert.equal(set.status, 200);
    assert.equal(set.data.id, id('alice'));
    assert.equal(set.data.name, 'Alice');
    assert.deepEqual(set.data.custom, { online: true, shardId: 4 });
    assert.match(set.data.updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.ok(set.data.eTag);
    const upd = await pn.objects.setUUIDMetadata({ uuid: id('alice'), data: { custom: { online: false } } });
    assert.equal(upd.data.name, 'Alice', 'properties not sent are kept');
    assert.deepEqual(upd.data.custom, { online: false }, 'custom is replaced, not merged');
    assert.notEqual(upd.data.eTag, set.data.eTag);
    const got = await pn.objects.getUUIDMetadata({ uuid: id('alice') });
    assert.deepEqual(got.data, upd.data);
    const noCustom = await pn.objects.getUUIDMetadata({ uuid: id('alice'), include: { customFields: false } });
    assert.equal('custom' in noCustom.data, false);
    await pn.objects.removeUUIDMetadata({ uuid: id('alice') });
    const err = await pn.objects.getUUIDMetadata({ uuid: id('alice') }).catch((e) => e);
    assert.equal(err.status.statusCode, 404);
  });

  test(`${sdk}: If-Match — matching eTag writes, stale eTag gets 412`, async () => {
    const pn = client(sdk, srv, 'admin');
    const first = await pn.objects.setUUIDMetadata({ uuid: id('etag'), data: { name: 'v1' } });
    const second = await pn.objects.setUUIDMetadata({ uuid: id('etag'), data: { name: 'v2' }, ifMatchesEtag: first.data.eTag });
    assert.equal(second.data.name, 'v2');
    const err = await pn.objects.setUUIDMetadata({ uuid: id('etag'), data: { name: 'v3' }, ifMatchesEtag: first.data.eTag }).catch((e) => e);
    assert.equal(err.status.statusCode, 412);
    assert.equal((await pn.objects.getUUIDMetadata({ uuid: id('etag') })).data.name, 'v2');
    const ch = await pn.objects.setChannelMetadata({ channel: id('ch-etag'), data: { name: 'c' } });
    const chErr = await pn.objects.setChannelMetadata({ channel: id('ch-etag'), data: { name: 'd' }, ifMatchesEtag: 'nope' }).catch((e) => e);
    assert.equal(chErr.status.statusCode, 412);
    assert.equal(ch.data.description, null);
  });

  test(`${sdk}: getAllUUIDMetadata with filters, sort, limit, cursors and totalCount`, async () => {
    const pn = client(sdk, srv, 'admin');
    for (let i = 0; i < 5; i++)
      await pn.objects.setUUIDMetadata({ uuid: id(`f${i}`), data: { name: `n${i}`, custom: { grp: i % 2 ? 'odd' : 'even', rank: i } } });
    const prefix = `id LIKE "${sdk}-f*"`;
    const byId = await pn.objects.getAllUUIDMetadata({ filter: `id == "${id('f3')}"` });
    assert.deepEqual(byId.data.map((u) => u.id), [id('f3')]);
    const or = await pn.objects.getAllUUIDMetadata({ filter: `id == "${id('f1')}" || id == "${id('f4')}"`, sort: { id: 'desc' } });
    assert.deepEqual(or.data.map((u) => u.id), [id('f4'), id('f1')]);
    const and = await pn.objects.getAllUUIDMetadata({ filter: `${prefix} && custom.grp == "even" && custom.rank >= 2`, include: { customFields: true } });
    assert.deepEqual(and.data.map((u) => u.id), [id('f2'), id('f4')]);
    assert.equal(and.data[0].custom.grp, 'even');
    const p1 = await pn.objects.getAllUUIDMetadata({ filter: prefix, limit: 2, include: { totalCount: true } });
    assert.equal(p1.totalCount, 5);
    assert.deepEqual(p1.data.map((u) => u.id), [id('f0'), id('f1')]);
    const p2 = await pn.objects.getAllUUIDMetadata({ filter: prefix, limit: 2, page: { next: p1.next } });
    assert.deepEqual(p2.data.map((u) => u.id), [id('f2'), id('f3')]);
    const p3 = await pn.objects.getAllUUIDMetadata({ filter: prefix, limit: 2, page: { next: p2.next } });
    assert.deepEqual(p3.data.map((u) => u.id), [id('f4')]);
    assert.equal(p3.next, undefined);
    const back = await pn.objects.getAllUUIDMetadata({ filter: prefix, limit: 2, page: { prev: p3.prev } });
    assert.deepEqual(back.data.map((u) => u.id), [id('f2'), id('f3')]);
  });

  test(`${sdk}: channel members and memberships, include flags, remove`, async () => {
    const pn = client(sdk, srv, 'admin');
    const ch = id('friends.alice');
    await pn.objects.setUUIDMetadata({ uuid: id('bob'), data: { name: 'Bob', custom: { online: true } } });
    const set = await pn.objects.setChannelMembers({
      channel: ch,
      uuids: [id('bob'), { id: id('carol'), custom: { status: 'pending', addedAt: 5 } }],
      include: { customFields: true, totalCount: true },
    });
    assert.equal(set.totalCount, 2);
    const members = await pn.objects.getChannelMembers({
      channel: ch,
      include: { customFields: true, UUIDFields: true, customUUIDFields: true, totalCount: true },
    });
    assert.deepEqual(members.data.map((m) => m.uuid.id), [id('bob'), id('carol')]);
    assert.equal(members.data[0].uuid.name, 'Bob');
    assert.deepEqual(members.data[0].uuid.custom, { online: true });
    assert.deepEqual(members.data[1].custom, { status: 'pending', addedAt: 5 });
    assert.deepEqual(members.data[1].uuid, { id: id('carol') }, 'no metadata: just the id');
    const filtered = await pn.objects.getChannelMembers({ channel: ch, filter: 'custom.status == "pending"' });
    assert.deepEqual(filtered.data.map((m) => m.uuid.id), [id('carol')]);
    const ms = await pn.objects.getMemberships({ uuid: id('carol'), include: { customFields: true, totalCount: true } });
    assert.equal(ms.totalCount, 1);
    assert.equal(ms.data[0].channel.id, ch);
    assert.deepEqual(ms.data[0].custom, { status: 'pending', addedAt: 5 });
    await pn.objects.setMemberships({ uuid: id('carol'), channels: [{ id: id('friends.dave'), custom: { status: 'accepted' } }] });
    assert.equal((await pn.objects.getMemberships({ uuid: id('carol') })).data.length, 2);
    await pn.objects.removeChannelMembers({ channel: ch, uuids: [id('carol')] });
    assert.deepEqual((await pn.objects.getChannelMembers({ channel: ch })).data.map((m) => m.uuid.id), [id('bob')]);
    await pn.objects.removeMemberships({ uuid: id('carol'), channels: [id('friends.dave')] });
    assert.deepEqual((await pn.objects.getMemberships({ uuid: id('carol') })).data, []);
  });

  test(`${sdk}: channel metadata get/getAll/remove`, async () => {
    const pn = client(sdk, srv, 'admin');
    await pn.objects.setChannelMetadata({ channel: id('cm'), data: { name: 'C', description: 'd', custom: { x: 1 } } });
    const got = await pn.objects.getChannelMetadata({ channel: id('cm') });
    assert.equal(got.data.description, 'd');
    assert.deepEqual(got.data.custom, { x: 1 });
    const all = await pn.objects.getAllChannelMetadata({ filter: `name == "C" && id == "${id('cm')}"` });
    assert.deepEqual(all.data.map((c) => c.id), [id('cm')]);
    await pn.objects.removeChannelMetadata({ channel: id('cm') });
    assert.equal((await pn.objects.getChannelMetadata({ channel: id('cm') }).catch((e) => e)).status.statusCode, 404);
  });
}

test('raw: errors use the objects error envelope; nested custom is refused', async () => {
  const r = await http(srv, '/v2/objects/s/uuids/none');
  assert.equal(r.status, 404);
  assert.equal(r.json.error.source, 'objects');
  const bad = await http(srv, '/v2/objects/s/uuids/x', { method: 'PATCH', body: JSON.stringify({ custom: { a: { b: 1 } } }), headers: { 'content-type': 'application/json' } });
  assert.equal(bad.status, 400);
  const badFilter = await http(srv, '/v2/objects/s/uuids?filter=' + encodeURIComponent('id == '));
  assert.equal(badFilter.status, 400);
});

test('filter language: precedence, parentheses, negation, LIKE, numbers, booleans', () => {
  const rec = { id: 'u1', name: 'Ann Lee', custom: { n: 3, on: true } };
  const t = (src) => compileFilter(src)(rec);
  assert.equal(t('id == "u2" || id == "u1" && name LIKE "ann*"'), true);
  assert.equal(t('(id == "u2" || id == "u1") && custom.n > 3'), false);
  assert.equal(t('!(custom.n <= 2) && custom.on == true'), true);
  assert.equal(t("name != 'Ann Lee'"), false);
  assert.equal(t('custom.missing == null'), true);
  assert.throws(() => compileFilter('id === "x"'));
});
