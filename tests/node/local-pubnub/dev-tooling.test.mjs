// scripts/dev's own robustness (issue 20, finding 9): its log on a full disk, and `--reset` on a
// state dir that a running scripts/local-pubnub holds. Runs scripts/dev.mjs directly (what
// scripts/dev execs once setup and build are done) on a tiny population.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { openLog } from '../../../js-shim/dev/local-pubnub/logfile.mjs';
import { ROOT, http, runCli, tmpDir, until } from './helpers.mjs';

const DEV = path.join(ROOT, 'scripts/dev.mjs');
const TINY = ['--users', '12', '--friends', '3', '--churn', '0', '--port', '0', '--seed', '7'];
const populationDir = (stateDir) => path.join(stateDir, '12u-3f-s7');

function runDev(args) {
  const child = spawn(process.execPath, ['--experimental-vm-modules', '--no-warnings', DEV, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (out.stdout += d));
  child.stderr.on('data', (d) => (out.stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out, exited };
}

test('the log file: mode 0600 (also an existing 0644 one), lines redacted, a full disk reported once', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'runtime.log');
  fs.writeFileSync(file, 'old\n', { mode: 0o644 });
  fs.chmodSync(file, 0o644);
  const log = openLog(file, () => assert.fail('no error expected'));
  log.write('GET /v2/subscribe/s/a/0?uuid=u&auth=secret-token-value');
  await log.end();
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.readFileSync(file, 'utf8'), 'old\nGET /v2/subscribe/s/a/0?uuid=u&auth=[redacted]\n');

  const errors = [];
  const full = openLog('/dev/full', (e) => errors.push(e.code));
  for (let i = 0; i < 50; i++) full.write(`line ${i}`);
  await full.end();
  assert.deepEqual(errors, ['ENOSPC']);
});

test('scripts/dev on a full disk: reports that runtime.log cannot be written and keeps serving', { timeout: 120000 }, async () => {
  const stateDir = tmpDir('dev-full-');
  const pop = populationDir(stateDir);
  fs.mkdirSync(pop, { recursive: true });
  fs.writeFileSync(path.join(pop, 'seeded.json'), '{}'); // reuse: do not seed (nor wipe the dir)
  fs.symlinkSync('/dev/full', path.join(pop, 'runtime.log')); // every write: ENOSPC
  const dev = runDev([...TINY, '--state-dir', stateDir]);
  try {
    const url = await until(() => dev.out.stdout.match(/^page: (http:\/\/[\d.]+:\d+)\//m)?.[1] ?? (dev.child.exitCode !== null && 'exited'), 90000, { step: 100 });
    assert.notEqual(url, 'exited', `dev exited: ${dev.out.stderr}`);
    assert.match(dev.out.stderr, /cannot write runtime\.log \(ENOSPC\); serving on without it/);
    assert.equal(dev.out.stderr.match(/cannot write runtime\.log/g).length, 1, 'reported once');
    assert.equal((await http({ url }, '/time/0')).status, 200);
    assert.equal((await http({ url }, '/demo/')).status, 200);
    assert.equal(dev.child.exitCode, null, 'still running');
  } finally {
    dev.child.kill('SIGTERM');
    await dev.exited;
  }
});

test('scripts/dev --reset refuses a state dir a running scripts/local-pubnub holds; its data stays', { timeout: 60000 }, async () => {
  const stateDir = tmpDir('dev-reset-');
  const pop = populationDir(stateDir);
  fs.mkdirSync(pop, { recursive: true });
  const { child: server, srv } = await runCli(['--port', '0', '--data-dir', pop, '--quiet']);
  try {
    const body = JSON.stringify({ name: 'acknowledged' });
    assert.equal((await http(srv, '/v2/objects/s/uuids/kept', { method: 'PATCH', body })).status, 200);
    for (const args of [['--reset'], []]) {
      const dev = runDev([...TINY, '--state-dir', stateDir, ...args]);
      assert.equal(await dev.exited, 1, `dev ${args.join(' ')}: ${dev.out.stderr}`);
      assert.match(dev.out.stderr, new RegExp(`in use by a local-pubnub \\(pid ${server.pid}\\)`));
    }
    assert.equal((await http(srv, '/v2/objects/s/uuids/kept')).json.data.name, 'acknowledged');
    assert.ok(fs.existsSync(path.join(pop, 'local-pubnub.lock')), 'the server still holds its data dir');
  } finally {
    server.kill('SIGTERM');
  }
});
