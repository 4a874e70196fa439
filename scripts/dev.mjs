// scripts/dev: the whole system live on one machine. Starts the local runtime, deploys the built
// Functions through its Admin API exactly as scripts/deploy deploys to PubNub, serves the demo
// page, seeds a population once (kept on disk), runs the
// churn simulator and prints a live one-line summary. Ctrl-C stops cleanly; the next start
// reuses the saved state.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import PubNub from 'pubnub11';
import { AuthService, devAnyUser } from '../js-shim/dev/auth/service.mjs';
import { deploy } from '../js-shim/dev/deploy/deploy.mjs';
import { startLocalPubNub } from '../js-shim/dev/local-pubnub/index.mjs';
import { openLog } from '../js-shim/dev/local-pubnub/logfile.mjs';
import { lockHolder } from '../js-shim/dev/local-pubnub/store.mjs';
import { loadSettings } from '../js-shim/settings.mjs';

const settings = loadSettings(); // deploy/config.json: shards, presence mode, intervals
import { Churn } from '../js-shim/dev/demo/churn.mjs';
import { seedPopulation, userIds } from '../js-shim/dev/demo/seed.mjs';
import { DEV as HELP } from './usage.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { values: v } = parseArgs({
  options: {
    users: { type: 'string' }, friends: { type: 'string' }, online: { type: 'string' }, churn: { type: 'string' },
    port: { type: 'string' }, 'state-dir': { type: 'string' }, seed: { type: 'string' }, reset: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (v.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const num = (s, def, min, max) => {
  const n = s === undefined ? def : Number(s);
  if (!Number.isFinite(n) || n < min || n > max) {
    process.stderr.write(`dev: ${s} is out of range (${min}…${max})\n${HELP}`);
    process.exit(2);
  }
  return n;
};
const o = {
  users: Math.floor(num(v.users, 2000, 2, 1_000_000)),
  friends: Math.floor(num(v.friends, 200, 0, 20_000)),
  online: num(v.online, 0.3, 0, 1),
  churn: num(v.churn, 20, 0, 10_000),
  port: Math.floor(num(v.port, 8090, 0, 65535)),
  seed: Math.floor(num(v.seed, 42, 0, 2 ** 31)),
};
const stateDir = path.resolve(ROOT, v['state-dir'] ?? '.dev', `${o.users}u-${o.friends}f-s${o.seed}`);
const marker = path.join(stateDir, 'seeded.json');
const manifest = path.join(ROOT, 'pkg/functions/manifest.json');
for (const need of [manifest, path.join(ROOT, 'pkg/web/index.js')]) {
  if (!fs.existsSync(need)) {
    process.stderr.write(`dev: ${path.relative(ROOT, need)} is missing; run scripts/build (scripts/dev does)\n`);
    process.exit(1);
  }
}
// One runtime per state directory: two would interleave their appends to the same log.
const lock = path.join(stateDir, 'dev.pid');
const holder = fs.existsSync(lock) ? Number(fs.readFileSync(lock, 'utf8')) : 0;
if (holder && holder !== process.pid && alive(holder)) {
  process.stderr.write(`dev: ${path.relative(ROOT, stateDir)} is in use by process ${holder}\n`);
  process.exit(1);
}
// A scripts/local-pubnub on this state dir holds it too (its lock file): never delete it under a
// running server, whose acknowledged writes would vanish while a second server started on it.
const server = lockHolder(stateDir);
if (server && (v.reset || !fs.existsSync(marker))) {
  process.stderr.write(`dev: ${path.relative(ROOT, stateDir)} is in use by a local-pubnub (pid ${server}); stop it before ${v.reset ? '--reset' : 'seeding'}\n`);
  process.exit(1);
}
if (v.reset || !fs.existsSync(marker)) fs.rmSync(stateDir, { recursive: true, force: true }); // half-seeded state is not reused
fs.mkdirSync(stateDir, { recursive: true });
fs.writeFileSync(lock, String(process.pid));

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

const tty = process.stderr.isTTY;
function bar(phase, done, total) {
  const width = 30;
  const filled = Math.round((done / Math.max(1, total)) * width);
  const line = `seeding [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round((done / Math.max(1, total)) * 100)).padStart(3)}% ${phase}`;
  if (tty) process.stderr.write(`\r${line.padEnd(78)}`);
  else if (done === total) process.stderr.write(`${line}\n`);
}

// Access Manager is on, as on the production keyset: the page signs in at the auth service
// (mounted under /auth/ on the runtime's origin) and acts only through the token it gets. The
// secret key is made once per state dir and kept there, so tokens survive a restart.
const KEYS = { publishKey: 'pub-c-local', subscribeKey: 'sub-c-local' };
const secretFile = path.join(stateDir, 'secret-key');
if (!fs.existsSync(secretFile)) fs.writeFileSync(secretFile, `sec-c-${randomBytes(24).toString('base64url')}`, { mode: 0o600 });
const secretKey = fs.readFileSync(secretFile, 'utf8').trim();
// The operators' page signs in with this key for a read token on operators.metrics.
const operatorFile = path.join(stateDir, 'operator-key');
if (!fs.existsSync(operatorFile)) fs.writeFileSync(operatorFile, randomBytes(12).toString('base64url'), { mode: 0o600 });
const operatorKey = fs.readFileSync(operatorFile, 'utf8').trim();
let auth; // made once the runtime's address is known
let churn; // made once the population is there
/** The auth service, mounted under /auth/; a user who signs in or refreshes has a page open: churn leaves them alone. */
async function signIn(request) {
  if (!auth) return { status: 503, body: { error: 'starting' } };
  const out = await auth.handle(request);
  if (out.status === 200 && out.body?.token && out.body.userId) churn?.hold(out.body.userId, out.body.ttl * 60e3);
  return out;
}

// Function executions log a line each: to a file, so the terminal keeps the summary.
// Owner-only (0600); a full disk is reported once and the runtime keeps serving without its log.
const logFile = openLog(path.join(stateDir, 'runtime.log'), (e) =>
  process.stderr.write(`dev: cannot write runtime.log (${e.code ?? e.message}); serving on without it\n`),
);
// The Functions are not loaded from the manifest: they are uploaded and deployed through the
// runtime's Admin API below, the path scripts/deploy takes to PubNub. A fresh key per run.
const admin = { apiKey: randomBytes(18).toString('base64url'), accountId: 'local-account', keysetId: 'local-keyset' };
const options = {
  host: '127.0.0.1',
  dataDir: stateDir,
  // The production keyset's Presence Management rule (README, keyset configuration): presence is
  // tracked on the shard channels only, so status/inbox/command channels have no occupants.
  presenceChannels: [{ pattern: 'presence.shard-*', events: ['join', 'leave', 'timeout', 'interval'] }],
  announceMax: settings.presence.announceMax,
  intervalSec: settings.presence.intervalSec,
  secretKey,
  publishKey: KEYS.publishKey,
  mount: { '/auth/': signIn },
  adminApiKey: admin.apiKey,
  accountId: admin.accountId,
  keysetId: admin.keysetId,
  static: {
    '/demo/': path.join(ROOT, 'js-shim/dev/demo/page'),
    '/deploy/': path.join(ROOT, 'deploy'), // the page reads shardCount from config.json
    '/pkg/web/': path.join(ROOT, 'pkg/web'),
    '/vendor/pubnub/': path.join(ROOT, 'node_modules/pubnub11/dist/web'),
  },
  log: (line) => logFile.write(line + '\n'),
};
let rt;
try {
  rt = await startLocalPubNub({ ...options, port: o.port });
} catch (e) {
  if (e.code !== 'EADDRINUSE') throw e;
  process.stderr.write(`dev: port ${o.port} is in use; using a free one\n`);
  rt = await startLocalPubNub({ ...options, port: 0 });
}

// Development sign-in: any id signs in (and a new one is signed up: its App Context record is
// made). Sessions (refresh-token families) are kept in the state dir, so they survive a restart
// and a spent refresh token stays spent.
auth = new AuthService({ ...KEYS, secretKey, origin: rt.origin, operatorKey, identity: devAnyUser(), stateDir: path.join(stateDir, 'auth') });
const deployed = await deploy({ manifest, origin: rt.url, ...admin, log: (line) => logFile.write(`[deploy] ${line}\n`) });
process.stderr.write(`dev: Functions deployed through the Admin API (revision ${deployed.revisionId}, ${deployed.state})\n`);

const ids = userIds(o.users);
if (fs.existsSync(marker)) {
  process.stderr.write(`dev: reusing ${o.users} users from ${path.relative(ROOT, stateDir)}\n`);
} else {
  const t0 = Date.now();
  const seeded = await seedPopulation(rt, { users: o.users, friends: o.friends, online: o.online, seed: o.seed, shards: settings.shardCount, progress: bar });
  if (tty) process.stderr.write('\n');
  fs.writeFileSync(marker, JSON.stringify({ ...o, friendships: seeded.friendships, at: new Date().toISOString() }));
  process.stderr.write(`dev: seeded ${o.users} users, ${seeded.friendships} friendships in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

churn = new Churn(rt, { ids, rate: o.churn, online: o.online, shards: settings.shardCount });
const restored = churn.restore();

// A real SDK subscriber on every status channel: what the notification latency is measured on.
// It holds the secret key: a server-side observer, not a user.
const watcher = new PubNub({ ...KEYS, secretKey, userId: 'dev-watcher', origin: rt.origin, ssl: false });
let globalCount = null;
watcher.addListener({
  message: (m) => {
    if (m.channel === 'status.global') globalCount = m.message?.payload?.onlineCount ?? globalCount;
    else churn.observe(m.message);
  },
});
watcher.subscribe({ channels: ['status.*'] });
churn.start();

const page = `${rt.url}/demo/?user=${ids[0]}`;
console.log(`friends-presence demo: ${o.users} users, ~${o.friends} friends each, ${restored} online, ${o.churn} changes/s`);
console.log(`page: ${page}`);
console.log(`operators: ${rt.url}/demo/operators.html#key=${operatorKey} (metrics snapshots and alerts)`);
console.log(`state: ${path.relative(ROOT, stateDir)} (runtime log: runtime.log there) · Ctrl-C stops`);

const summary = setInterval(() => {
  const s = churn.stats();
  const p99 = s.p99 === null ? '–' : `${s.p99} ms`;
  const count = globalCount === null ? '' : ` (status.count ${globalCount})`;
  const line = `online ${s.online}${count} · ${s.perSecond.toFixed(1)} status changes/s · p99 notification ${p99} (${s.samples} in 1 min)`;
  if (process.stdout.isTTY) process.stdout.write(`\r${line.padEnd(100)}`);
  else if (Date.now() % 10_000 < 1000) console.log(line);
}, 1000);

let stopping = false;
async function stop() {
  if (stopping) process.exit(1); // a second Ctrl-C: do not wait
  stopping = true;
  clearInterval(summary);
  churn.stop();
  if (process.stdout.isTTY) process.stdout.write('\n');
  try {
    watcher.destroy(true);
    auth.close();
  } catch {
    // already gone
  }
  await rt.close(); // lets running Functions finish and flushes the state to disk
  await logFile.end();
  fs.rmSync(lock, { force: true });
  console.log(`dev: stopped; state kept in ${path.relative(ROOT, stateDir)}`);
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
