// Friendships that heal themselves (issue 20 part 8): the runtime is killed with SIGKILL while
// friend commands are under way, and their clients never re-send them (the tabs were closed).
// The local runtime comes back on the same data with the real scheduler; only the Functions run
// (the presence settler's heal sweep, its scanners, the commands' own Functions, the settler's
// recounts). Every pair ends whole or absent and every friendCount exact, within the bound the
// README states. The On Interval period is a deployment setting (the manifest's intervalMs):
// 500 ms here, so the test waits for the heal delay (a journal is looked at 30-40 s after it
// was opened, plus periods: core::heal) rather than for longer periods.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { client, destroyAll, tmpDir, runCli, ROOT } from './local-pubnub/helpers.mjs';
import { loadSettings } from '../../js-shim/settings.mjs';
import init, { connectFriends } from '../../pkg/web/index.js';
import { command } from './commands.mjs';

const MANIFEST = path.join(ROOT, 'pkg/functions/manifest.json');
const PERIOD_MS = 500;
// docs/design.md, "Friendships that heal themselves": a journal is looked at within 60 s of
// being queued (a mark every 10 s, due 30 s later; 2 minutes after a lost scanner), then the heal
// and its recount: this test allows 2 x 30 s, a few periods and 15 s.
const BOUND_MS = 2 * 30_000 + 4 * PERIOD_MS + 15_000;
const { shardCount } = loadSettings();
await init();

const children = [];
after(async () => {
  destroyAll();
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

/** The built manifest with every On Interval period at `PERIOD_MS` (a deployment setting). */
function manifestWithPeriod() {
  const m = JSON.parse(fs.readFileSync(MANIFEST, 'utf8'));
  for (const f of m.functions) {
    f.file = path.join(path.dirname(MANIFEST), f.file);
    if (f.type === 'ON_INTERVAL') f.intervalMs = PERIOD_MS;
  }
  const file = path.join(tmpDir('heal-manifest-'), 'manifest.json');
  fs.writeFileSync(file, JSON.stringify(m));
  return file;
}

async function start(args) {
  const r = await runCli(args);
  children.push(r.child);
  return r;
}

/** Pairs whole or absent, groups as the memberships say, friendCount exact: `null`, or what is not. */
async function broken(admin, users) {
  const members = new Map();
  for (const u of users) {
    const m = (await admin.objects.getChannelMembers({ channel: `friends.${u}`, include: { customFields: true } })).data.map((x) => x.uuid.id);
    members.set(u, new Set(m));
  }
  for (const u of users) {
    for (const f of members.get(u)) if (!members.get(f)?.has(u)) return `${u} lists ${f}, not the other way`;
    const grouped = (await admin.channelGroups.listChannels({ channelGroup: `cg-friends-${u}` })).channels.sort();
    const want = [...members.get(u)].map((f) => `status.${f}`).sort();
    if (JSON.stringify(grouped) !== JSON.stringify(want)) return `cg-friends-${u} holds ${grouped}, friends ${want}`;
    const custom = (await admin.objects.getUUIDMetadata({ uuid: u, include: { customFields: true } })).data.custom ?? {};
    if ((custom.friendCount ?? 0) !== members.get(u).size) return `${u}: friendCount ${custom.friendCount} with ${members.get(u).size} friends`;
  }
  return null;
}

test('kill -9 mid-command, never re-sent: the Functions finish every command; pairs whole, counts exact, within the bound', { timeout: 240_000 }, async () => {
  const manifest = manifestWithPeriod();
  const dataDir = tmpDir();
  // Host calls take a WAN round trip each (20-60 ms), so a command is under way for ~0.5 s.
  const first = await start(['--port', '0', '--data-dir', dataDir, '--functions', manifest, '--quiet', '--wan']);
  const port = first.srv.origin.split(':')[1];
  const users = Array.from({ length: 8 }, (_, i) => `heal${i}`);
  const admin1 = client('v11', first.srv, 'heal-admin');
  for (const u of users) await admin1.objects.setUUIDMetadata({ uuid: u, data: { name: u } });
  // Answered (re-sent until answered): requests along a ring, the first four accepted.
  const conns = new Map();
  for (const u of users) {
    const pubnub = client('v11', first.srv, u);
    conns.set(u, await connectFriends({ pubnub, userId: u, shardCount, online: false, answerTimeoutMs: 2000, attempts: 50 }));
  }
  const pairs = users.map((u, i) => [u, users[(i + 1) % users.length]]);
  for (const r of await Promise.all(pairs.map(([a, b]) => conns.get(a).request(b)))) assert.equal(r.ok, true, JSON.stringify(r));
  for (const r of await Promise.all(pairs.slice(0, 4).map(([a, b]) => conns.get(b).accept(a)))) assert.equal(r.ok, true, JSON.stringify(r));
  for (const c of conns.values()) c.close();
  // Published once each and never again: the last four requests accepted, the first two
  // friendships removed and the next two ended by a block; the runtime dies under them.
  const once = [
    ...pairs.slice(4).map(([a, b]) => ['friend.request.accepted', a, b, b]),
    ...pairs.slice(0, 2).map(([a, b]) => ['friend.remove', a, b, a]),
    ...pairs.slice(2, 4).map(([a, b]) => ['friend.block', a, b, a]),
  ];
  const sent = Promise.all(once.map(([type, a, b, publisher], i) => {
    const { channel, message } = command(type, a, b, `once${i}`);
    return client('v11', first.srv, publisher).publish({ channel, message });
  }));
  // Killed as soon as a command is seen half-way: the removal of heal0 x heal1 has taken
  // status.heal1 out of heal0's group, or the acceptance of heal4 x heal5 has put status.heal5
  // in heal4's (each command's first visible write comes after its journal).
  const halfway = async () => {
    const g0 = (await admin1.channelGroups.listChannels({ channelGroup: 'cg-friends-heal0' })).channels;
    const g4 = (await admin1.channelGroups.listChannels({ channelGroup: 'cg-friends-heal4' })).channels;
    return !g0.includes('status.heal1') || g4.includes('status.heal5');
  };
  const giveUp = Date.now() + 10_000;
  let cut = false;
  while (!(cut = await halfway()) && Date.now() < giveUp);
  await sent;
  assert.ok(cut, 'a command was seen half-way before the kill');
  const exited = new Promise((r) => first.child.once('exit', r));
  first.child.kill('SIGKILL');
  await exited;
  destroyAll();

  const restarted = Date.now();
  const second = await start(['--port', port, '--data-dir', dataDir, '--functions', manifest]);
  let healed = 0;
  let lastHealMs = 0;
  // The friend Functions log each journal they finish for the sweep.
  second.child.stdout.on('data', (d) => {
    const n = (String(d).match(/heal: finishing/g) ?? []).length;
    if (n) (healed += n), (lastHealMs = Date.now() - restarted);
  });
  const admin = client('v11', second.srv, 'heal-admin-2');
  const left = await broken(admin, users);
  const friendsNow = async () => Promise.all(users.map(async (u) => `${u}:${(await admin.objects.getChannelMembers({ channel: `friends.${u}` })).data.map((m) => m.uuid.id).join('+')}`));
  console.log(`# at restart: ${(await friendsNow()).join(' ')}`);
  // Every journal is looked at within 60 s: wait that out (a pair can look whole while a
  // removal's journal still waits to be carried out), then the state must be whole and exact,
  // and stay so.
  await new Promise((r) => setTimeout(r, 2 * 30_000 + 4 * PERIOD_MS));
  let last = await broken(admin, users);
  while (last !== null && Date.now() - restarted < BOUND_MS) {
    await new Promise((r) => setTimeout(r, 500));
    last = await broken(admin, users);
  }
  const took = Date.now() - restarted;
  console.log(`# at the end: ${(await friendsNow()).join(' ')}`);
  console.log(`# heal: ${healed} commands finished by the Functions, the last ${lastHealMs} ms after the restart; at restart: ${left ?? 'no pair broken'}; checked whole and exact ${took} ms after the restart`);
  assert.equal(last, null, `within ${BOUND_MS} ms`);
  assert.notEqual(left, null, 'the kill left a pair one-sided');
  assert.ok(healed > 0, 'the kill cut commands off after their journals, and the heal sweep finished them');
  await new Promise((r) => setTimeout(r, 2_000));
  assert.equal(await broken(admin, users), null, 'and it stays so');
  const exited2 = new Promise((r) => second.child.once('exit', r));
  second.child.kill('SIGTERM');
  await exited2;
});
