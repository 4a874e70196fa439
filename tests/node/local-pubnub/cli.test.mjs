import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { HERE, ROOT, runCli } from './helpers.mjs';

const CLI = path.join(ROOT, 'scripts/local-pubnub');

test('--help lists the options; a bad --ops-limit is refused', async () => {
  const { stdout } = await promisify(execFile)(CLI, ['--help']);
  for (const opt of ['--port', '--data-dir', '--secret-key', '--announce-max', '--ops-limit']) assert.ok(stdout.includes(opt), opt);
  const bad = await promisify(execFile)(CLI, ['--ops-limit', '5']).catch((e) => e);
  assert.equal(bad.code, 2);
});

test('starts in the foreground, prints its URL, honours options, stops on SIGTERM', async () => {
  const child = spawn(CLI, [
    '--port', '0', '--secret-key', 'sec', '--publish-key', 'pub', '--announce-max', '5', '--ops-limit', '3',
    '--functions', path.join(HERE, 'functions/manifest.json'), '--quiet',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^(http:\/\/127\.0\.0\.1:\d+)\n/);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}`)));
  });
  try {
    assert.equal((await fetch(`${url}/time/0`)).status, 200);
    assert.equal((await fetch(`${url}/publish/pub/sub/0/ch/0/1?uuid=u`)).status, 403, 'Access Manager is on');
    const onRequest = await fetch(`${url}/v1/blocks/sub-key/sub/api`);
    assert.equal(onRequest.status, 201, 'Functions are loaded');
  } finally {
    const code = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    assert.equal(await code, 0);
  }
});

test('--presence-channels: presence only on the channels the rule names', async () => {
  const { child, srv } = await runCli(['--port', '0', '--presence-channels', 'presence.shard-*', '--quiet']);
  try {
    assert.equal((await fetch(`${srv.url}/v2/presence/sub-key/s/channel/presence.shard-3,status.x/heartbeat?uuid=u`)).status, 200);
    const here = await (await fetch(`${srv.url}/v2/presence/sub-key/s/channel/presence.shard-3,status.x?uuid=u`)).json();
    assert.deepEqual(Object.keys(here.payload.channels), ['presence.shard-3']);
  } finally {
    const code = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    assert.equal(await code, 0);
  }
});
