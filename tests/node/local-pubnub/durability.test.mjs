import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { ROOT, client, destroyAll, startServer, tmpDir } from './helpers.mjs';

after(() => destroyAll());

async function writeSome(srv, tag) {
  const pn = client('v11', srv, 'admin');
  await pn.objects.setUUIDMetadata({ uuid: `u-${tag}`, data: { name: tag, custom: { n: 1 } } });
  await pn.objects.setChannelMembers({ channel: `friends.${tag}`, uuids: [{ id: 'bob', custom: { status: 'accepted' } }] });
  await pn.channelGroups.addChannels({ channelGroup: `cg-${tag}`, channels: ['a', 'b'] });
  await pn.channelGroups.removeChannels({ channelGroup: `cg-${tag}`, channels: ['a'] });
  return pn;
}

async function checkSome(srv, tag) {
  const pn = client('v10', srv, 'admin');
  const u = await pn.objects.getUUIDMetadata({ uuid: `u-${tag}` });
  assert.deepEqual([u.data.name, u.data.custom], [tag, { n: 1 }]);
  const m = await pn.objects.getChannelMembers({ channel: `friends.${tag}`, include: { customFields: true } });
  assert.deepEqual(m.data.map((x) => [x.uuid.id, x.custom.status]), [['bob', 'accepted']]);
  assert.deepEqual((await pn.channelGroups.listChannels({ channelGroup: `cg-${tag}` })).channels, ['b']);
}

test('state survives a clean restart; KV TTL and counters too', async () => {
  const dataDir = tmpDir();
  let srv = await startServer({ dataDir });
  await writeSome(srv, 'clean');
  await srv.commit(srv.kv.set('k', { v: 1 }, 60));
  await srv.commit(srv.kv.set('short', 'x', 1));
  await srv.commit(srv.kv.incr('ctr', 5).records);
  await srv.commit(srv.kv.incr('ctr', 2).records);
  await srv.close();
  srv = await startServer({ dataDir });
  try {
    await checkSome(srv, 'clean');
    assert.deepEqual(srv.kv.get('k'), { v: 1 });
    assert.equal(srv.kv.getCounter('ctr'), 7);
    const realNow = Date.now;
    Date.now = () => realNow() + 2 * 60e3; // past the 1-minute TTL of 'short'
    try {
      assert.equal(srv.kv.get('short'), null);
      assert.deepEqual(srv.kv.get('k'), { v: 1 });
    } finally {
      Date.now = realNow;
    }
  } finally {
    destroyAll();
    await srv.close();
  }
});

test('compaction keeps the state and shrinks the log; a torn last line is ignored', async () => {
  const dataDir = tmpDir();
  let srv = await startServer({ dataDir, compactEvery: 5 });
  for (let i = 0; i < 12; i++) await srv.commit(srv.kv.set(`k${i}`, i, 60));
  await srv.commit(srv.kv.remove('k0'));
  await writeSome(srv, 'compact');
  await srv.close();
  assert.ok(fs.existsSync(path.join(dataDir, 'snapshot.jsonl')));
  const logLines = fs.readFileSync(path.join(dataDir, 'log.jsonl'), 'utf8').split('\n').filter(Boolean).length;
  assert.ok(logLines < 5, `log compacted (${logLines} lines)`);
  fs.appendFileSync(path.join(dataDir, 'log.jsonl'), '{"op":"kv.set","k":"torn","v":');
  srv = await startServer({ dataDir });
  try {
    assert.equal(srv.kv.get('k0'), null);
    assert.equal(srv.kv.get('k11'), 11);
    assert.equal(srv.kv.get('torn'), null);
    await checkSome(srv, 'compact');
    // Writes after the torn tail must not be glued to it.
    await srv.commit(srv.kv.set('after-torn', 1, 60));
    await srv.close();
    srv = await startServer({ dataDir });
    assert.equal(srv.kv.get('after-torn'), 1);
    assert.equal(srv.kv.get('k11'), 11);
  } finally {
    destroyAll();
    await srv.close();
  }
});

/** The pid of a process that has exited (for a stale lock). */
async function deadPid() {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid;
}

test('one server per data dir: a second one fails to start; the lock goes on close; a stale lock is taken over', async () => {
  const dataDir = tmpDir();
  const lock = path.join(dataDir, 'local-pubnub.lock');
  const first = await startServer({ dataDir });
  try {
    await first.commit(first.kv.set('k', 1, 60));
    assert.equal(fs.readFileSync(lock, 'utf8').trim(), String(process.pid));
    await assert.rejects(startServer({ dataDir }), (e) => /in use by another local-pubnub/.test(e.message) && e.message.includes(lock));
    await first.commit(first.kv.set('k2', 2, 60)); // the refused start touched nothing
  } finally {
    await first.close();
  }
  assert.equal(fs.existsSync(lock), false, 'lock removed on close');
  fs.writeFileSync(lock, `${await deadPid()}\n`);
  const second = await startServer({ dataDir });
  try {
    assert.equal(second.kv.get('k'), 1);
    assert.equal(second.kv.get('k2'), 2);
    assert.equal(fs.readFileSync(lock, 'utf8').trim(), String(process.pid));
  } finally {
    await second.close();
  }
});

/** Run scripts/local-pubnub to its exit → {code, stderr}; one that starts serving is stopped (code 'started'). */
function runCliToExit(args) {
  const child = spawn(path.join(ROOT, 'scripts/local-pubnub'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '', started = false;
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => {
    if (!started && /^http:/.test(String(d))) (started = true), child.kill('SIGTERM');
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code: started ? 'started' : code, stderr })));
}

/** Run scripts/local-pubnub; resolves with {child, srv-like {origin}} once it printed its URL. */
function runCli(args) {
  const child = spawn(path.join(ROOT, 'scripts/local-pubnub'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^http:\/\/([\d.]+:\d+)\n/);
      if (m) resolve({ child, srv: { origin: m[1], url: `http://${m[1]}` } });
    });
    child.on('exit', (code) => reject(new Error(`local-pubnub exited ${code}: ${out}`)));
  });
}

test('everything acknowledged survives kill -9 (CLI process); the dead process\'s lock is taken over', async () => {
  const dataDir = tmpDir();
  const first = await runCli(['--port', '0', '--data-dir', dataDir, '--quiet']);
  await writeSome(first.srv, 'killed');
  // A second process on the same data dir is refused with a clear message.
  const refused = await runCliToExit(['--port', '0', '--data-dir', dataDir, '--quiet']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^local-pubnub: data dir .* is in use by another local-pubnub \(pid \d+/);
  const exited = new Promise((r) => first.child.once('exit', r));
  first.child.kill('SIGKILL');
  await exited;
  destroyAll();
  const second = await runCli(['--port', '0', '--data-dir', dataDir, '--quiet']);
  try {
    await checkSome(second.srv, 'killed');
  } finally {
    destroyAll();
    const exited2 = new Promise((r) => second.child.once('exit', r));
    second.child.kill('SIGTERM');
    await exited2;
  }
});
