import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SDKS, client, destroyAll, events, http, startServer } from './helpers.mjs';

let srv;
before(async () => (srv = await startServer({ channelGroupLimit: 3, groupsPerSubscribe: 2 })));
after(async () => (destroyAll(), await srv.close()));

for (const sdk of Object.keys(SDKS)) {
  test(`${sdk}: add, list, remove, delete, listGroups`, async () => {
    const pn = client(sdk, srv, 'admin');
    const g = `cg-${sdk}`;
    await pn.channelGroups.addChannels({ channelGroup: g, channels: ['b', 'a'] });
    assert.deepEqual((await pn.channelGroups.listChannels({ channelGroup: g })).channels, ['a', 'b']);
    assert.ok((await pn.channelGroups.listGroups()).groups.includes(g));
    await pn.channelGroups.removeChannels({ channelGroup: g, channels: ['a'] });
    assert.deepEqual((await pn.channelGroups.listChannels({ channelGroup: g })).channels, ['b']);
    await pn.channelGroups.deleteGroup({ channelGroup: g });
    assert.deepEqual((await pn.channelGroups.listChannels({ channelGroup: g })).channels, []);
    assert.ok(!(await pn.channelGroups.listGroups()).groups.includes(g));
  });

  test(`${sdk}: channelGroupLimit per group is enforced atomically, as a 400 the SDK reports`, async () => {
    const pn = client(sdk, srv, 'admin');
    const g = `full-${sdk}`;
    await pn.channelGroups.addChannels({ channelGroup: g, channels: ['x1', 'x2', 'x3'] });
    await pn.channelGroups.addChannels({ channelGroup: g, channels: ['x1'] }); // already there: fine
    const err = await pn.channelGroups.addChannels({ channelGroup: g, channels: ['x4', 'x5'] }).catch((e) => e);
    assert.equal(err.status.statusCode, 400);
    assert.equal(err.status.category, 'PNBadRequestCategory');
    assert.match(err.status.errorData.message, /limit is 3/);
    assert.deepEqual((await pn.channelGroups.listChannels({ channelGroup: g })).channels, ['x1', 'x2', 'x3']);
  });

  test(`${sdk}: more groups than groupsPerSubscribe in one subscribe is refused`, async () => {
    const pn = client(sdk, srv, 'u-' + sdk);
    const ev = events(pn);
    pn.subscribe({ channelGroups: ['g1', 'g2', 'g3'], withPresence: true });
    const st = await ev.next('status', (s) => s.error || /Bad|Denied|Disconnected|Unexpected/.test(s.category ?? ''));
    assert.match(st.category, /PNBadRequestCategory|PNDisconnectedUnexpectedlyCategory|PNConnectionErrorCategory/);
  });
}

test('raw: the 400 for too many groups is a JSON error; -pnpres twins do not count', async () => {
  const ok = await http(srv, '/v2/subscribe/s/,/0?uuid=u&channel-group=g1,g1-pnpres,g2,g2-pnpres');
  assert.equal(ok.status, 200);
  const bad = await http(srv, '/v2/subscribe/s/,/0?uuid=u&channel-group=g1,g2,g3');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error, true);
  assert.match(bad.json.message, /Too many channel groups/);
});

test('raw: invalid names are refused', async () => {
  const r = await http(srv, '/v1/channel-registration/sub-key/s/channel-group/g?add=' + encodeURIComponent('bad,na me'));
  assert.equal(r.status, 400);
});
