// Request bodies: a size limit on what arrives and on what it inflates to, answered with a 413
// that reaches the client; Access Manager is asked before anything is inflated.
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { client, destroyAll, http, startServer } from './helpers.mjs';

// 16 MB of JSON whitespace around `1`: a valid message once inflated, ~16 KB on the wire.
const BOMB = Buffer.concat([Buffer.alloc(16 << 20, ' '), Buffer.from('1')]);
const post = (srv, path, body, headers = {}) => http(srv, path, { method: 'POST', body, headers });

describe('body limits', () => {
  let srv;
  before(async () => (srv = await startServer()));
  after(async () => (destroyAll(), await srv.close()));

  test('a gzip or deflate bomb is refused with 413 instead of being inflated', async () => {
    for (const [enc, data] of [['gzip', zlib.gzipSync(BOMB)], ['deflate', zlib.deflateSync(BOMB)]]) {
      assert.ok(data.length < 64 << 10);
      const r = await post(srv, '/publish/p/s/0/bomb/0?uuid=u', data, { 'Content-Encoding': enc });
      assert.equal(r.status, 413, enc);
      assert.equal(r.json.error, true);
      assert.match(r.json.message, /inflated/i);
    }
  });

  test('a raw body over the limit gets a 413 the client can read (declared length, or chunked)', async () => {
    const big = Buffer.alloc(2 << 20, 'x');
    const declared = await post(srv, '/publish/p/s/0/big/0?uuid=u', big);
    assert.equal(declared.status, 413);
    const chunks = [big.subarray(0, 1 << 20), big.subarray(1 << 20)];
    const stream = new ReadableStream({ pull: (c) => (chunks.length ? c.enqueue(chunks.shift()) : c.close()) });
    const chunked = await http(srv, '/publish/p/s/0/big/0?uuid=u', { method: 'POST', body: stream, duplex: 'half' });
    assert.equal(chunked.status, 413);
    // The server is fine afterwards.
    assert.equal((await http(srv, '/time/0')).status, 200);
  });

  test('bodies within the limit still work, compressed or not (SDK POST publish deflates)', async () => {
    const pn = client('v11', srv, 'alice');
    assert.ok((await pn.publish({ channel: 'post-ok', message: { text: 'x'.repeat(20000) }, sendByPost: true })).timetoken);
    const r = await post(srv, '/publish/p/s/0/gz/0?uuid=u', zlib.gzipSync('{"a":1}'), { 'Content-Encoding': 'gzip' });
    assert.equal(r.status, 200);
  });
});

describe('body limits with Access Manager', () => {
  let srv;
  before(async () => (srv = await startServer({ secretKey: 'sec-c-body', publishKey: 'pub-c-test' })));
  after(async () => (destroyAll(), await srv.close()));

  test('no token or a bad token: 403 before the body is inflated', async () => {
    const garbage = Buffer.from('this is not deflate data');
    const none = await post(srv, '/publish/p/s/0/ch/0?uuid=u', garbage, { 'Content-Encoding': 'deflate' });
    assert.equal(none.status, 403);
    const bad = await post(srv, '/publish/p/s/0/ch/0?uuid=u&auth=bm90LWEtdG9rZW4', zlib.deflateSync(BOMB), { 'Content-Encoding': 'deflate' });
    assert.equal(bad.status, 403);
  });

  test('a valid token does not lift the inflated limit', async () => {
    const token = srv.pam.grant({ ttl: 5, permissions: { resources: { channels: { ch: 2 } } } });
    const r = await post(srv, `/publish/p/s/0/ch/0?uuid=u&auth=${token}`, zlib.deflateSync(BOMB), { 'Content-Encoding': 'deflate' });
    assert.equal(r.status, 413);
    const ok = await post(srv, `/publish/p/s/0/ch/0?uuid=u&auth=${token}`, zlib.deflateSync('{"a":1}'), { 'Content-Encoding': 'deflate' });
    assert.equal(ok.status, 200);
  });
});
