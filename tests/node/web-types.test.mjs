// pkg/web as a typed package: its declarations have no `any` and name only what it exports;
// the snippets of docs/client.md and a sample app compile with the `tsc` command that page gives
// (TypeScript 7, `pubnub` 12); the sample app, run against the local runtime with the real SDK,
// makes two users friends and sees presence both ways, and uses the roster commands (the
// outgoing list, a status message, block and unblock). A connection that cannot hang or lie:
// the snippet's token refresh, run with a token lifetime of seconds; a refused token rejects
// connectFriends within 5 s (SDK v10, v11, v12); a token lost mid-way is reported and resumed
// by setToken; an unreachable origin, failing publishes and a failing refresh give up, reported.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import PubNub12 from 'pubnub12';
import { startServer, client, destroyAll, http, ROOT, SDKS } from './local-pubnub/helpers.mjs';
import { loadSettings } from '../../js-shim/settings.mjs';
import { AuthService, devAnyUser } from '../../js-shim/dev/auth/service.mjs';
import { forbidden } from '../../js-shim/dev/local-pubnub/util.mjs';

const WEB = path.join(ROOT, 'pkg/web');
const OUT = path.join(ROOT, 'target/tsc');
const TSC = path.join(ROOT, 'node_modules/.bin/tsc');
// Exactly the command docs/client.md gives (plus where the output goes).
const STRICT = ['--strict', '--module', 'nodenext', '--target', 'es2022', '--skipLibCheck'];
const CLIENT_DOC = path.join(ROOT, 'docs/client.md');
const SNIPPET_DIR = path.join(ROOT, 'target/snippet');

let srv, pamSrv;
const extra = []; // SDK clients made here (v12 is not in the helpers' list)
after(async () => {
  for (const pn of extra.splice(0)) pn.destroy?.(true);
  destroyAll();
  await srv?.close();
  await pamSrv?.close();
});

/** The ```ts blocks of a markdown text. */
const tsBlocks = (text) => [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
/** A snippet as a module in target/snippet: `pubnub` is the v12 alias, pkg/web the built package. */
function snippetModule(name, code) {
  fs.mkdirSync(SNIPPET_DIR, { recursive: true });
  const file = path.join(SNIPPET_DIR, name);
  fs.writeFileSync(file, code.replace("from 'pubnub'", "from 'pubnub12'").replace("'./pkg/web/index.js'", "'../../pkg/web/index.js'"));
  return file;
}
function tsc(args, what) {
  try {
    execFileSync(TSC, [...STRICT, ...args], { cwd: ROOT, encoding: 'utf8' });
  } catch (e) {
    assert.fail(`${what}: ${e.stdout}${e.stderr}`);
  }
}

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

test('the client doc\'s snippets, the README\'s and the sample app compile with tsc --strict, TypeScript 7 and pubnub 12', () => {
  assert.match(execFileSync(TSC, ['--version'], { encoding: 'utf8' }), /Version 7\./);
  const blocks = tsBlocks(fs.readFileSync(CLIENT_DOC, 'utf8'));
  assert.equal(blocks.length, 2, 'docs/client.md: a connect snippet and a use snippet');
  const doc = fs.readFileSync(CLIENT_DOC, 'utf8');
  assert.ok(doc.includes(`npx tsc ${STRICT.join(' ')} app.mts`), 'the doc gives the flags this test uses');
  tsc(['--noEmit', snippetModule('doc.mts', blocks.join('\n'))], 'docs/client.md snippets');
  // --skipLibCheck skips every .d.ts, ours too: the declarations are checked on their own without it.
  try {
    execFileSync(TSC, ['--strict', '--noEmit', '--module', 'nodenext', '--target', 'es2022', path.join(WEB, 'index.d.ts')], { cwd: ROOT, encoding: 'utf8' });
  } catch (e) {
    assert.fail(`index.d.ts: ${e.stdout}${e.stderr}`);
  }
  const readme = tsBlocks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  assert.ok(readme.length >= 1, 'the README shows the client in use');
  for (const [i, code] of readme.entries()) tsc(['--noEmit', snippetModule(`readme-${i}.mts`, code)], `README snippet ${i}`);
  tsc(['--noEmitOnError', '--outDir', OUT, '--rootDir', path.join(ROOT, 'tests/web'), path.join(ROOT, 'tests/web/sample-app.ts')], 'sample app');
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

// ---------------------------------------------------------------- a connection that cannot hang or lie
// The local runtime with Access Manager on, the Functions, and the auth service mounted under
// /auth/ as scripts/dev runs it. PubNub's shortest token lives a minute; here a token can be made
// to end sooner: `lifetimeMs` (the runtime refuses it after that, and the auth service's answer
// says so in `expiresAt`), and `revoke(token)` ends one at once.
const PAM_SECRET = 'sec-c-web-types';
const LOCAL_KEYS = { publishKey: 'pub-c-local', subscribeKey: 'sub-c-local' };
const tokenEnds = new Map(); // token → ms
const authCalls = [];
let auth, lifetimeMs = null;
async function pamServer() {
  if (pamSrv) return pamSrv;
  pamSrv = await startServer({
    functions: path.join(ROOT, 'pkg/functions/manifest.json'),
    functionIntervalMs: 500,
    secretKey: PAM_SECRET,
    publishKey: LOCAL_KEYS.publishKey,
    mount: {
      '/auth/': async (request) => {
        const out = await auth.handle(request);
        authCalls.push([request.path, out.status]);
        if (out.status === 200 && out.body?.token && lifetimeMs) {
          out.body.expiresAt = Date.now() + lifetimeMs;
          tokenEnds.set(out.body.token, out.body.expiresAt);
        }
        return out;
      },
    },
  });
  const check = pamSrv.pam.token.bind(pamSrv.pam);
  pamSrv.pam.token = (token) => {
    if (tokenEnds.has(token) && tokenEnds.get(token) <= Date.now()) throw forbidden({}, 'Token is expired');
    return check(token);
  };
  auth = new AuthService({ pubnub: client('v11', pamSrv, 'auth-service', { ...LOCAL_KEYS, secretKey: PAM_SECRET }), identity: devAnyUser() });
  return pamSrv;
}
const revoke = (token) => tokenEnds.set(token, 0);
/** A user's SDK client (v10, v11 or v12) on the Access Manager runtime. */
function sdkClient(sdk, userId, origin = pamSrv.origin) {
  if (sdk !== 'v12') return client(sdk, { origin }, userId, LOCAL_KEYS);
  const pn = new PubNub12({ ...LOCAL_KEYS, userId, origin, ssl: false, keepAlive: false });
  extra.push(pn);
  return pn;
}
const web = () => import(pathToFileURL(path.join(WEB, 'index.js')).href).then(async (m) => (await m.default(), m));
const elapsed = (t0) => Date.now() - t0;

test('the client doc\'s snippet: signs up and in, and its token refresh keeps it connected with a token lifetime of 3 s', { timeout: 90_000 }, async () => {
  await pamServer();
  const { shardCount } = loadSettings();
  const [connect] = tsBlocks(fs.readFileSync(CLIENT_DOC, 'utf8'));
  assert.ok(connect.includes("const ORIGIN = '127.0.0.1:8090';") && connect.includes(`shardCount: ${shardCount},`), 'the snippet names scripts/dev\'s origin and the shard count');
  const file = snippetModule('run.mts', `${connect.replace("const ORIGIN = '127.0.0.1:8090';", `const ORIGIN = '${pamSrv.origin}';`)}
export { friends, pubnub };
export const current = () => session;
`);
  tsc(['--noEmitOnError', '--outDir', SNIPPET_DIR, file], 'the snippet to run');
  lifetimeMs = 3000;
  const logged = [];
  const log = console.log;
  console.log = (...args) => logged.push(args.join(' '));
  let mod;
  try {
    mod = await import(pathToFileURL(path.join(SNIPPET_DIR, 'run.mjs')).href);
    const first = mod.current().token;
    assert.equal(pamSrv.objects.entities.uuid.get('alice')?.name, 'Alice', 'signed up at the first sign-in');
    // Four lifetimes: the first token has long ended, the refreshed ones keep the subscription and the publishes going.
    await new Promise((r) => setTimeout(r, 4 * lifetimeMs));
    assert.ok(tokenEnds.get(first) < Date.now());
    const refused = await http(pamSrv, `/publish/${LOCAL_KEYS.publishKey}/${LOCAL_KEYS.subscribeKey}/0/friend-management.alice/0/1?uuid=alice&auth=${first}`);
    assert.equal(refused.status, 403, 'the first token has ended at the runtime');
    const refreshes = authCalls.filter(([p, status]) => p === '/auth/refresh' && status === 200).length;
    assert.ok(refreshes >= 4, `refreshed ${refreshes} times in ${4 * lifetimeMs} ms`);
    assert.equal(mod.friends.state, 'live');
    // A command now: published with the current token, answered on the inbox (the subscription).
    const answer = await mod.friends.settings({ statusMessage: 'still here' });
    assert.equal(answer.ok, true);
    assert.deepEqual(logged.filter((l) => /signed out|cannot connect/.test(l)), []);
  } finally {
    console.log = log;
    mod?.friends.close();
    mod?.pubnub.destroy(true);
    lifetimeMs = null;
  }
});

for (const sdk of ['v10', 'v11', 'v12']) {
  test(`connectFriends rejects a missing, bad or another user's token within 5 s, naming the cause, and leaves nothing subscribed (pubnub ${sdk})`, { timeout: 60_000 }, async () => {
    await pamServer();
    const { connectFriends, FriendsError } = await web();
    const { shardCount } = loadSettings();
    const me = `refused-${sdk}`;
    const others = (await auth.login(`other-${sdk}`)).token;
    for (const token of [null, 'not-a-token', others]) {
      const pubnub = sdkClient(sdk, me);
      if (token) pubnub.setToken(token);
      const t0 = Date.now();
      const e = await connectFriends({ pubnub, userId: me, shardCount }).then(() => assert.fail('connected'), (err) => err);
      assert.ok(elapsed(t0) < 5000, `rejected after ${elapsed(t0)} ms`);
      assert.ok(e instanceof FriendsError, String(e));
      assert.equal(e.code, 'access_denied', e.message);
      assert.equal(e.statusCode, 403);
      assert.match(e.message, /^friends-presence: the subscribe was refused \(403\)/);
      assert.deepEqual([pubnub.getSubscribedChannels(), pubnub.getSubscribedChannelGroups()], [[], []]);
    }
  });
}

test('a token lost mid-way is reported (state, onStatus, sends refused at once) and setToken resumes the connection and reloads', { timeout: 60_000 }, async () => {
  await pamServer();
  const { connectFriends } = await web();
  const { shardCount } = loadSettings();
  for (const sdk of ['v10', 'v11', 'v12']) {
    const me = `midway-${sdk}`;
    const session = await auth.login(me);
    const pubnub = sdkClient(sdk, me);
    pubnub.setToken(session.token);
    const seen = [];
    const conn = await connectFriends({ pubnub, userId: me, shardCount, onStatus: (e) => seen.push(e) });
    assert.equal(conn.state, 'live');
    revoke(session.token);
    // The long poll in flight ends with a message; the next subscribe carries the revoked token.
    const admin = client('v11', pamSrv, 'web-admin', { ...LOCAL_KEYS, secretKey: PAM_SECRET });
    await admin.publish({ channel: `inbox.${me}`, message: { type: 'nudge' } });
    for (let i = 0; conn.state === 'live'; i++) {
      assert.ok(i < 100, 'the refusal is noticed');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(conn.state, 'token_refused', sdk);
    assert.deepEqual(seen.map((e) => [e.type, e.error?.code]), [['access_denied', 'access_denied']]);
    const t0 = Date.now();
    const refused = await conn.request(`${me}-x`).then(() => assert.fail('sent'), (e) => e);
    assert.equal(refused.code, 'access_denied');
    assert.ok(elapsed(t0) < 2000, 'refused at once, not re-sent');
    assert.throws(() => conn.setToken(undefined), (e) => e.code === 'invalid');
    let fresh = (await auth.login(me)).token;
    while (fresh === session.token) fresh = (await new Promise((r) => setTimeout(r, 200)), await auth.login(me)).token; // the same bytes within one second
    conn.setToken(fresh);
    for (let i = 0; conn.state !== 'live'; i++) {
      assert.ok(i < 200, `resumed (${sdk}): ${JSON.stringify(seen)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(seen.map((e) => e.type), ['access_denied', 'resumed']);
    const answer = await conn.request(`${me}-nobody`);
    assert.equal(answer.reason, 'unknown_user', 'published and answered again');
    conn.close();
    assert.equal(conn.state, 'closed');
  }
});

test('every loop gives up and says so: an unreachable origin, failing publishes, a failing refresh', { timeout: 60_000 }, async () => {
  await pamServer();
  const { connectFriends, FriendsError } = await web();
  const { shardCount } = loadSettings();
  // Nothing listens on port 9 (discard): v10 reports a network failure, v11 and v12 retry silently until the timeout.
  for (const [sdk, code] of [['v10', 'network'], ['v11', 'timeout'], ['v12', 'timeout']]) {
    const t0 = Date.now();
    const e = await connectFriends({ pubnub: sdkClient(sdk, 'nowhere', '127.0.0.1:9'), userId: 'nowhere', shardCount, connectTimeoutMs: 1500 }).then(
      () => assert.fail('connected'),
      (err) => err,
    );
    assert.ok(e instanceof FriendsError);
    assert.equal(e.code, code, `${sdk}: ${e.message}`);
    assert.ok(elapsed(t0) < 3000, `${sdk} gave up after ${elapsed(t0)} ms`);
  }

  // Publishes that fail with a network error: re-sent `attempts` times, then rejected with the cause.
  const me = 'flaky-publisher';
  const pn = sdkClient('v11', me);
  pn.setToken((await auth.login(me)).token);
  let failing = false;
  let publishes = 0;
  const pubnub = {
    addListener: (l) => pn.addListener(l),
    removeListener: (l) => pn.removeListener(l),
    subscribe: (p) => pn.subscribe(p),
    unsubscribe: (p) => pn.unsubscribe(p),
    setToken: (t) => pn.setToken(t),
    reconnect: () => pn.reconnect(),
    publish: (p) => {
      if (!failing) return pn.publish(p);
      publishes += 1;
      return Promise.reject(Object.assign(new Error('REST API request processing error'), { status: { statusCode: 0, category: 'PNNetworkIssuesCategory' } }));
    },
  };
  const seen = [];
  let hookCalls = 0;
  const conn = await connectFriends({
    pubnub, userId: me, shardCount, attempts: 3, answerTimeoutMs: 400, onStatus: (e) => seen.push(e),
    firstRefreshInMs: 100, refreshRetryMs: 100, refreshAttempts: 3,
    refreshToken: async () => {
      hookCalls += 1;
      return hookCalls === 1 ? { token: undefined } : Promise.reject(new Error('auth service down'));
    },
  });
  failing = true;
  const e = await conn.request('anyone').then(() => assert.fail('sent'), (err) => err);
  assert.equal(e.code, 'network');
  assert.match(e.message, /gave up after 3 attempts/);
  assert.equal(publishes, 3);
  // The refresh: a hook that returns no token and then fails is retried 3 times in all, reported each time, then left.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(hookCalls, 3);
  assert.deepEqual(seen.map((s) => [s.type, s.final, s.error.code]), [['refresh_failed', false, 'refresh_failed'], ['refresh_failed', false, 'refresh_failed'], ['refresh_failed', true, 'refresh_failed']]);
  assert.match(seen[0].error.message, /1\/3 failed/);
  assert.equal(conn.state, 'live', 'the token it has is still good');
  conn.close();
});
