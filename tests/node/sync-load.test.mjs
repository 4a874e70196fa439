// The initial load of 20,000 friends (200 pages) to a slow client, through the built Functions on
// the local runtime and the real `pubnub` SDK. The runtime runs in a worker thread, so the client
// can stall its own event loop (a slow device) while the Functions keep publishing; its inbox
// queue holds 100 messages, as PubNub's subscriber queue does, and drops the oldest beyond.
// With at most 50 pages in flight (the web client's default) no page is ever dropped; with 400,
// pages are dropped and the client sees the gaps and asks again: either way every friend, once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const N = 20_000;
const ME = 'slow-me';

if (!isMainThread) {
  // The server side: the local runtime with the built Functions, one user with N friends laid
  // out as acceptances leave them (friend k in channel group ⌊k / 2,000⌋), a quarter online.
  const { startLocalPubNub } = await import('../../js-shim/dev/local-pubnub/index.mjs');
  const { dataDir } = workerData;
  const srv = await startLocalPubNub({ dataDir, fsync: false, functions: path.join(ROOT, 'pkg/functions/manifest.json'), log: () => {} });
  srv.bulkLoad(srv.objects.set('uuid', ME, { name: 'Me', custom: { online: true } }, new Set()).records);
  const members = [];
  for (let i = 0; i < N; i++) {
    const id = `friend-${String(i).padStart(5, '0')}`;
    srv.bulkLoad(srv.objects.set('uuid', id, { name: `Friend ${i}`, custom: { online: i % 4 === 0, lastSeen: '2026-01-01T00:00:00.000Z' } }, new Set()).records);
    members.push({ uuid: { id }, custom: { status: 'accepted', group: Math.floor(i / 2000) } });
  }
  srv.bulkLoad(srv.objects.setRelations('uuid', `friends.${ME}`, { set: members }, { include: new Set() }).records);
  parentPort.on('message', async (m) => {
    if (m === 'missed') parentPort.postMessage({ missed: srv.bus.missed });
    if (m === 'close') {
      await srv.close();
      parentPort.postMessage({ closed: true });
    }
  });
  parentPort.postMessage({ origin: srv.origin });
} else {
  const { default: PubNub } = await import('pubnub11');
  const { initSync, FriendsView } = await import('../../pkg/web/index.js');
  initSync({ module: fs.readFileSync(path.join(ROOT, 'pkg/web/friends_presence_bg.wasm')) });

  /** Loads the list into a client that stalls 15 ms on every message; → what it saw. */
  async function slowLoad(maxPages) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'friends-presence-slow-'));
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { dataDir } });
    const next = () => new Promise((resolve) => worker.once('message', resolve));
    const { origin } = await next();
    const pn = new PubNub({ publishKey: 'pub-c-slow', subscribeKey: 'sub-c-slow', userId: ME, origin, ssl: false });
    const view = FriendsView.create(ME, {}).view;
    let pages = 0, wake = () => {};
    try {
      pn.addListener({
        message: (m) => {
          const until = Date.now() + 15;
          while (Date.now() < until); // a slow device: the event loop (and the SDK) stalls
          if (m.message?.type === 'friends.sync') pages++;
          view.apply(m.message, m.channel);
          wake();
        },
      });
      await new Promise((resolve) => {
        pn.addListener({ status: (s) => s.category === 'PNConnectedCategory' && resolve() });
        pn.subscribe({ channels: [`inbox.${ME}`] });
      });
      view.beginSync();
      let nonce = 0, requests = 0;
      const deadline = Date.now() + 120_000;
      while (view.syncing) {
        assert.ok(Date.now() < deadline, 'the load ended');
        for (const message of view.syncAsks(Date.now(), ++nonce, maxPages, 3000)) {
          requests++;
          pn.publish({ channel: `friend-management.${ME}`, message });
        }
        await new Promise((res) => { wake = res; setTimeout(res, 100); });
      }
      worker.postMessage('missed');
      const { missed } = await next();
      const ids = view.friends().map((f) => f.userId);
      return { ids, online: view.onlineCount, missed, pages, requests };
    } finally {
      pn.destroy(true);
      worker.postMessage('close');
      await next();
      await worker.terminate();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }

  test('a slow client with 50 pages in flight loses no page of 20,000 friends', { timeout: 180_000 }, async () => {
    const r = await slowLoad(50);
    assert.equal(r.missed, 0, 'its queue never overflowed');
    assert.equal(r.ids.length, N);
    assert.equal(new Set(r.ids).size, N, 'every friend exactly once');
    assert.equal(r.online, N / 4);
    assert.ok(r.pages >= 200, `${r.pages} pages`);
  });

  test('with 400 pages in flight its queue overflows: the gaps are asked for again and every friend arrives', { timeout: 180_000 }, async () => {
    const r = await slowLoad(400);
    assert.ok(r.missed > 0, 'pages were dropped from its queue');
    assert.equal(r.ids.length, N);
    assert.equal(new Set(r.ids).size, N, 'every friend exactly once');
    assert.equal(r.online, N / 4);
  });
}
