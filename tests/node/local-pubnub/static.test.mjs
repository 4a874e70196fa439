// Static files (the demo page, pkg/web, the browser SDK) next to the PubNub protocol.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, http, tmpDir } from './helpers.mjs';

const dir = tmpDir('static-');
fs.writeFileSync(path.join(dir, 'index.html'), '<h1>hi</h1>');
fs.writeFileSync(path.join(dir, 'x.wasm'), Buffer.from([0, 97, 115, 109]));
fs.writeFileSync(path.join(path.dirname(dir), 'secret.txt'), 'no');
const srv = await startServer({ static: { '/demo/': dir } });
after(() => srv.close());

test('files are served with their types; / and the bare prefix redirect', async () => {
  const page = await http(srv, '/demo/');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  assert.equal(page.text, '<h1>hi</h1>');
  const wasm = await http(srv, '/demo/x.wasm');
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  assert.equal((await http(srv, '/', { redirect: 'manual' })).headers.get('location'), '/demo/');
  assert.equal((await http(srv, '/demo', { redirect: 'manual' })).headers.get('location'), '/demo/');
});

test('nothing outside the directory, and PubNub paths still answer', async () => {
  assert.equal((await http(srv, '/demo/missing.js')).status, 404);
  // `%2e%2e` is normalized away by the URL parser; an encoded slash reaches the server.
  assert.notEqual((await http(srv, '/demo/%2e%2e/secret.txt')).text, 'no');
  assert.equal((await http(srv, '/demo/..%2fsecret.txt')).status, 403);
  const time = await http(srv, '/time/0');
  assert.equal(time.status, 200);
  assert.match(time.text, /^\[\d{17}\]$/);
});
