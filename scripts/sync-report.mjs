// Initial-load report (run through scripts/sync-report): how long a signed-in user waits for
// their friends list. The local PubNub runtime runs in this process with the built Functions;
// one user with N friends (a quarter online) is written straight into its state, as
// js-shim/dev/demo/seed.mjs lays it out; then a real `pubnub` SDK client subscribed to its inbox
// drives the web client core's load (pkg/web FriendsView.syncAsks: the first request's head
// lists the chains of the list, four per channel group, online ones first; each chain is
// asked for in batches of up to 10 pages, at most 50 pages in flight). Timed from the first
// request's publish call.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import PubNub from 'pubnub11';
import { startLocalPubNub } from '../js-shim/dev/local-pubnub/index.mjs';
import { initSync, FriendsView } from '../pkg/web/index.js';
import { SYNC_REPORT } from './usage.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
initSync({ module: fs.readFileSync(path.join(ROOT, 'pkg/web/friends_presence_bg.wasm')) });
const { values: v } = parseArgs({ options: { friends: { type: 'string' }, wan: { type: 'boolean' }, runs: { type: 'string' }, help: { type: 'boolean' } } });
if (v.help) {
  process.stdout.write(SYNC_REPORT);
  process.exit(0);
}
const n = Number(v.friends ?? 2000);
const runs = Number(v.runs ?? 3);
if (!Number.isInteger(n) || n < 1 || n > 20000 || !Number.isInteger(runs) || runs < 1) {
  process.stderr.write('--friends must be 1..20000, --runs >= 1\n');
  process.exit(2);
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'friends-presence-sync-'));
const srv = await startLocalPubNub({ dataDir, fsync: false, functions: path.join(ROOT, 'pkg/functions/manifest.json'), wan: v.wan || undefined, log: () => {} });
const me = 'sync-me';
const now = Date.now();
const iso = (ms) => new Date(ms).toISOString();
srv.bulkLoad(srv.objects.set('uuid', me, { name: 'Me', custom: { online: true } }, new Set()).records);
const members = [];
for (let i = 0; i < n; i++) {
  const id = `sync-friend-${String(i).padStart(5, '0')}`;
  const online = i % 4 === 0;
  srv.bulkLoad(srv.objects.set('uuid', id, { name: `Friend ${i}`, custom: { online, lastSeen: iso(now - i * 1000) } }, new Set()).records);
  // Friend k sits in channel group ⌊k / 2,000⌋, as an acceptance places it (`custom.group`).
  members.push({ uuid: { id }, custom: { status: 'accepted', addedAt: iso(now - 86400e3), group: Math.min(Math.floor(i / 2000), 9) } });
}
srv.bulkLoad(srv.objects.setRelations('uuid', `friends.${me}`, { set: members }, { include: new Set() }).records);
srv.bulkLoad([{ op: 'kv.ctr', k: `friend-count:${me}`, n }]);
const online = Math.ceil(n / 4);

const pn = new PubNub({ publishKey: 'pub-c-sync', subscribeKey: 'sub-c-sync', userId: me, origin: srv.origin, ssl: false });
const say = (s) => process.stdout.write(s + '\n');
const results = [];
try {
  let view, wake = () => {};
  pn.addListener({
    message: (m) => {
      view?.apply(m.message, m.channel);
      wake();
    },
  });
  await new Promise((resolve) => {
    pn.addListener({ status: (s) => s.category === 'PNConnectedCategory' && resolve() });
    pn.subscribe({ channels: [`inbox.${me}`] });
  });
  let nonce = 0;
  for (let r = 0; r < runs; r++) {
    view = FriendsView.create(me, {}).view;
    view.beginSync();
    let onlineAt = null, requests = 0;
    const t0 = performance.now();
    const deadline = t0 + 60_000;
    while (view.syncing) {
      for (const message of view.syncAsks(Date.now(), ++nonce, 50, 5000)) {
        requests++;
        pn.publish({ channel: `friend-management.${me}`, message });
      }
      if (onlineAt === null && view.onlineCount >= online) onlineAt = performance.now() - t0;
      if (performance.now() > deadline) throw new Error('the load did not complete within 60 s');
      await new Promise((res) => { wake = res; setTimeout(res, 200); });
    }
    if (onlineAt === null) onlineAt = performance.now() - t0;
    const all = performance.now() - t0;
    if (view.friendCount !== n || view.onlineCount !== online) throw new Error(`loaded ${view.friendCount} friends, ${view.onlineCount} online; expected ${n}, ${online}`);
    results.push({ all, onlineAt, requests });
    say(`run ${r + 1}: ${n} friends (${online} online) in ${requests} requests: all ${Math.round(all)} ms, online ${Math.round(onlineAt)} ms`);
  }
  const median = (k) => results.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
  say(`wan=${v.wan ? 'on (client RTT 30-80 ms, host call 20-60 ms)' : 'off'}; median of ${runs} runs`);
  say(`friends ${n}: all loaded in ${Math.round(median('all'))} ms, online friends in ${Math.round(median('onlineAt'))} ms`);
} finally {
  pn.destroy(true);
  await srv.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
process.exit(0);
