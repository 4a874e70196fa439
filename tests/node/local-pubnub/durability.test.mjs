import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { ROOT, client, destroyAll, runCli, startServer, tmpDir } from './helpers.mjs';

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

const logLines = (dataDir) => fs.readFileSync(path.join(dataDir, 'log.jsonl'), 'utf8').split('\n');

test('disk full: the write that does not fit gets a 500 and is not applied; writes after space is freed survive a restart', async () => {
  const dataDir = tmpDir();
  let srv = await startServer({ dataDir });
  try {
    const pn = client('v11', srv, 'admin');
    await pn.objects.setUUIDMetadata({ uuid: 'before', data: { name: 'ok' } });
    await srv.commit(srv.kv.set('a', 1, 60));
    // 20 bytes of room left: the next record is written in part (a short write), then ENOSPC.
    srv.store.maxLogBytes = fs.statSync(path.join(dataDir, 'log.jsonl')).size + 20;
    const err = await pn.objects.setUUIDMetadata({ uuid: 'lost', data: { name: 'x'.repeat(100) } }).catch((e) => e);
    assert.equal(err.status?.statusCode, 500);
    const gone = await pn.objects.getUUIDMetadata({ uuid: 'lost' }).catch((e) => e);
    assert.equal(gone.status?.statusCode, 404, 'a failed write is not readable');
    await assert.rejects(srv.commit(srv.kv.set('b', 2, 60)), (e) => e.status === 500);
    assert.equal(srv.kv.get('b'), null);
    await assert.rejects(srv.commit(srv.kv.incr('ctr', 5).records));
    assert.equal(srv.kv.getCounter('ctr'), 0, 'a failed counter increment is undone');
    await assert.rejects(srv.groupAdd('cg-full', ['x']));
    assert.deepEqual(srv.groups.listChannels('cg-full'), []);
    // The partial record was cut off again: every line on disk is whole.
    for (const line of logLines(dataDir).filter(Boolean)) JSON.parse(line);
    // Space is freed: writing works again, and nothing is glued to a torn line.
    srv.store.maxLogBytes = Infinity;
    await pn.objects.setUUIDMetadata({ uuid: 'after', data: { name: 'ok' } });
    await srv.commit(srv.kv.set('c', 3, 60));
    await srv.commit(srv.kv.incr('ctr', 1).records);
    destroyAll();
    await srv.close();
    srv = await startServer({ dataDir });
    assert.deepEqual([...srv.objects.entities.uuid.keys()].sort(), ['after', 'before']);
    assert.deepEqual([srv.kv.get('a'), srv.kv.get('b'), srv.kv.get('c'), srv.kv.getCounter('ctr')], [1, null, 3, 1]);
  } finally {
    destroyAll();
    await srv.close();
  }
});

test('random writes on a disk that fills up now and then: what is in memory is what a restart replays', async () => {
  const dataDir = tmpDir();
  const opts = { dataDir, compactEvery: 37, fsync: false };
  let srv = await startServer(opts);
  let seed = 1;
  const rnd = (n) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const state = (s) => JSON.stringify({
    kv: [...s.kv.items].map(([k, v]) => [k, v.v]).sort(),
    ctr: [...s.kv.counters].sort(),
    groups: s.groups.list().map((g) => [g, s.groups.listChannels(g)]),
    memberships: [...s.objects.byUuid].map(([u, m]) => [u, [...m.keys()].sort()]).sort(),
  });
  const ops = [
    () => srv.commit(srv.kv.set('k' + rnd(10), rnd(100), 60)),
    () => srv.commit(srv.kv.incr('k' + rnd(10), 1).records),
    () => srv.groupAdd('g' + rnd(3), ['c' + rnd(5)]),
    () => srv.groupRemove('g' + rnd(3), ['c' + rnd(5)]),
    () => srv.objectsWrite(srv.objects.setRelations('channel', 'u' + rnd(3), { set: [{ channel: { id: 'c' + rnd(4) } }], delete: [{ channel: { id: 'c' + rnd(4) } }] }, { include: new Set() })),
  ];
  let failed = 0;
  try {
    for (let round = 0; round < 10; round++) {
      const pending = [];
      for (let i = 0; i < 20; i++) {
        pending.push(ops[rnd(ops.length)]().catch(() => failed++));
        if (rnd(4) === 0) await new Promise((r) => setImmediate(r));
        srv.store.maxLogBytes = rnd(3) === 0 ? fs.statSync(path.join(dataDir, 'log.jsonl')).size + rnd(200) : Infinity;
      }
      await Promise.all(pending);
      srv.store.maxLogBytes = Infinity;
      const inMemory = state(srv);
      await srv.close();
      srv = await startServer(opts);
      assert.equal(state(srv), inMemory, `round ${round}`);
    }
    assert.ok(failed > 0, 'some writes failed');
  } finally {
    await srv.close();
  }
});

test('a failed fsync fails the write and leaves nothing behind', async () => {
  const dataDir = tmpDir();
  let srv = await startServer({ dataDir });
  const real = fs.fdatasyncSync;
  try {
    await srv.commit(srv.kv.set('a', 1, 60));
    let failures = 1;
    fs.fdatasyncSync = (fd) => {
      if (failures-- > 0) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      return real(fd);
    };
    await assert.rejects(srv.commit(srv.kv.set('b', 2, 60)), (e) => e.status === 500);
    assert.equal(srv.kv.get('b'), null);
    fs.fdatasyncSync = real;
    await srv.commit(srv.kv.set('c', 3, 60));
    await srv.close();
    srv = await startServer({ dataDir });
    assert.deepEqual([srv.kv.get('a'), srv.kv.get('b'), srv.kv.get('c')], [1, null, 3]);
  } finally {
    fs.fdatasyncSync = real;
    await srv.close();
  }
});

test('replay skips torn records — on their own line or glued to the next — and keeps every whole record after them', async () => {
  const dataDir = tmpDir();
  let srv = await startServer({ dataDir });
  await srv.commit(srv.kv.set('first', 1, 60));
  await srv.close();
  const exp = Date.now() + 3600e3;
  const rec = (k, v, s) => JSON.stringify({ op: 'kv.set', k, v, exp, s });
  // What the old writer left after a disk-full episode: a partial record, and later records
  // appended straight after it once space was freed.
  fs.appendFileSync(
    path.join(dataDir, 'log.jsonl'),
    rec('torn1', 'x'.repeat(50), 100).slice(0, 40) + '\n' +
      rec('after1', 2, 101) + '\n' +
      rec('torn2', 'é'.repeat(30), 102).slice(0, 45) + rec('glued', 3, 103) + '\n' +
      rec('after2', 4, 104) + '\n' +
      rec('tail', 5, 105).slice(0, 20),
  );
  srv = await startServer({ dataDir });
  try {
    assert.deepEqual(['first', 'after1', 'glued', 'after2'].map((k) => srv.kv.get(k)), [1, 2, 3, 4]);
    assert.deepEqual(['torn1', 'torn2', 'tail'].map((k) => srv.kv.get(k)), [null, null, null]);
    // The log was repaired: only whole records remain, and new records carry on after them.
    for (const line of logLines(dataDir).filter(Boolean)) JSON.parse(line);
    await srv.commit(srv.kv.set('new', 6, 60));
    await srv.close();
    srv = await startServer({ dataDir });
    assert.deepEqual(['first', 'after1', 'glued', 'after2', 'new'].map((k) => srv.kv.get(k)), [1, 2, 3, 4, 6]);
  } finally {
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
