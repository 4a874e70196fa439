import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SDKS, client, destroyAll, http, startServer } from './helpers.mjs';

let srv;
before(async () => (srv = await startServer()));
after(async () => (destroyAll(), await srv.close()));

test('time: 17-digit wall-clock timetokens, strictly increasing, JSON content type', async () => {
  const a = await http(srv, '/time/0');
  const b = await http(srv, '/time/0');
  assert.equal(a.status, 200);
  assert.match(a.headers.get('content-type'), /json/);
  const ta = a.text.slice(1, -1), tb = b.text.slice(1, -1);
  assert.match(ta, /^\d{17}$/);
  assert.ok(BigInt(tb) > BigInt(ta));
  assert.ok(Math.abs(Number(BigInt(ta) / 10000n) - Date.now()) < 5000);
});

test('CORS: OPTIONS preflight and CORS headers on every reply', async () => {
  const pre = await fetch(srv.url + '/v2/objects/sub-c-test/uuids/a', { method: 'OPTIONS' });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  assert.match(pre.headers.get('access-control-allow-methods'), /PATCH/);
  assert.match(pre.headers.get('access-control-allow-headers'), /If-Match/);
  const r = await http(srv, '/time/0');
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
});

test('unknown routes get a JSON 404', async () => {
  const r = await http(srv, '/nope/1');
  assert.equal(r.status, 404);
  assert.match(r.headers.get('content-type'), /json/);
  assert.equal(r.json.error, true);
});

for (const sdk of Object.keys(SDKS)) {
  test(`${sdk}: time() through the SDK`, async () => {
    const pn = client(sdk, srv, 'alice');
    const { timetoken } = await pn.time();
    assert.ok(Math.abs(Number(timetoken) / 10000 - Date.now()) < 5000);
  });
}
