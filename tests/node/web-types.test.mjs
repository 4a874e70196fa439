// pkg/web as a typed package: its declarations have no `any` and name only what it exports;
// the README's snippet and a sample app compile with `tsc --strict`; the sample app, run against
// the local runtime with the real SDK, makes two users friends and sees presence both ways, and
// uses the roster commands (the outgoing list, a status message, block and unblock).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { startServer, client, destroyAll, ROOT } from './local-pubnub/helpers.mjs';
import { loadSettings } from '../../js-shim/settings.mjs';

const WEB = path.join(ROOT, 'pkg/web');
const OUT = path.join(ROOT, 'target/tsc');
const TSC = path.join(ROOT, 'node_modules/.bin/tsc');
const STRICT = ['--strict', '--noEmitOnError', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--lib', 'es2022,dom', '--skipLibCheck'];

let srv;
after(async () => {
  destroyAll();
  await srv?.close();
});

/** The declarations without comments. */
const declarations = () => fs.readFileSync(path.join(WEB, 'index.d.ts'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');

test('the types say no `any`, and every name they declare is exported at run time', async () => {
  const dts = declarations();
  assert.doesNotMatch(dts, /\bany\b/, 'index.d.ts uses any');
  assert.ok(!fs.existsSync(path.join(WEB, 'friends_presence.d.ts')), 'wasm-bindgen\'s own (any-typed) declarations are not shipped');
  const declared = [...dts.matchAll(/^export (?:declare )?(?:function|class|const) (\w+)/gm)].map((m) => m[1]);
  const web = await import(pathToFileURL(path.join(WEB, 'index.js')).href);
  for (const name of declared) assert.equal(typeof web[name], 'function', `${name} is declared but not exported`);
  assert.equal(typeof web.default, 'function');
  for (const name of Object.keys(web)) assert.ok(name === 'default' || declared.includes(name), `${name} is exported but not declared`);
});

test('the README snippet and the sample app compile with tsc --strict', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Web client core'));
  const snippet = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(snippet, 'the README has a ts snippet in the web client section');
  fs.mkdirSync(OUT, { recursive: true });
  // As a module of the repository root: its imports resolve as they would for a reader there.
  const file = path.join(ROOT, 'target/tsc-readme.mts');
  fs.writeFileSync(file, snippet.replace("from 'pubnub'", "from 'pubnub11'").replace("'./pkg/web/index.js'", "'../pkg/web/index.js'"));
  try {
    execFileSync(TSC, [...STRICT, '--noEmit', file], { cwd: ROOT, encoding: 'utf8' });
  } catch (e) {
    assert.fail(`README snippet: ${e.stdout}${e.stderr}`);
  } finally {
    fs.rmSync(file, { force: true });
  }
  try {
    execFileSync(TSC, [...STRICT, '--outDir', OUT, '--rootDir', path.join(ROOT, 'tests/web'), path.join(ROOT, 'tests/web/sample-app.ts')], { cwd: ROOT, encoding: 'utf8' });
  } catch (e) {
    assert.fail(`sample app: ${e.stdout}${e.stderr}`);
  }
});

test('the sample app: friends through connectFriends, presence both ways, a refused request answered, the roster commands', { timeout: 90_000 }, async () => {
  const compiled = path.join(OUT, 'sample-app.js');
  assert.ok(fs.existsSync(compiled), 'compiled by the test before');
  // The compiled module imports ../../pkg/web from target/tsc: the same file as from tests/web.
  const { shardCount } = loadSettings();
  srv = await startServer({ functions: path.join(ROOT, 'pkg/functions/manifest.json'), functionIntervalMs: 500 });
  const admin = client('v11', srv, 'web-admin');
  const [alice, bob] = ['web-alice', 'web-bob'];
  for (const id of [alice, bob]) await admin.objects.setUUIDMetadata({ uuid: id, data: { name: id } });
  const { sample } = await import(pathToFileURL(compiled).href);
  const r = await sample(srv.origin, alice, bob, shardCount);
  assert.deepEqual(r, {
    requestAnswer: 'friend.request true',
    acceptAnswer: 'friend.request.accepted true',
    aliceSawBobOnline: true,
    aliceSawBobOffline: true,
    refusedReason: 'unknown_user',
    groupsInUse: 1,
    outgoingBeforeAccept: [bob],
    statusMessageSeen: true,
    blockedAfterBlock: [bob],
    friendsAfterBlock: 0,
    blockedAfterUnblock: [],
    tooLong: 'friends-presence: statusMessage is longer than 100 characters',
  });
});
