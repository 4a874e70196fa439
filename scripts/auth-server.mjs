// scripts/auth-server: the auth service on its own port (see service.mjs for the endpoints,
// docs/auth.md for running it in production).
import { parseArgs } from 'node:util';
import { devAnyUser, jwtIdentity, startAuthServer } from '../js-shim/dev/auth/service.mjs';
import { AUTH_SERVER as HELP } from './usage.mjs';

const { values: v } = parseArgs({
  options: {
    port: { type: 'string' }, host: { type: 'string' }, 'publish-key': { type: 'string' }, 'subscribe-key': { type: 'string' },
    origin: { type: 'string' }, ttl: { type: 'string' }, 'state-dir': { type: 'string' }, 'jwt-audience': { type: 'string' },
    'jwt-issuer': { type: 'string' }, 'jwks-url': { type: 'string' }, 'dev-any-user': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  },
});
if (v.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const env = process.env;
const fail = (why) => {
  process.stderr.write(`auth-server: ${why}\n${HELP}`);
  process.exit(2);
};
let identity;
try {
  if (v['dev-any-user']) {
    if (v['jwt-audience'] || v['jwks-url']) fail('--dev-any-user and a JWT check exclude each other');
    identity = devAnyUser();
  } else if (v['jwt-audience']) {
    identity = jwtIdentity({ audience: v['jwt-audience'], issuer: v['jwt-issuer'], jwksUrl: v['jwks-url'], secret: v['jwks-url'] ? undefined : env.FP_JWT_SECRET });
  } else fail('say who signs in: --jwt-audience with --jwks-url or FP_JWT_SECRET, or --dev-any-user');
} catch (e) {
  fail(e.message);
}
if (!identity.devMode && !v['state-dir']) fail('--state-dir is required: refresh tokens must stay spent across a restart');
const o = {
  port: Number(v.port ?? 8091),
  host: v.host,
  publishKey: v['publish-key'] ?? env.PUBNUB_PUBLISH_KEY,
  subscribeKey: v['subscribe-key'] ?? env.PUBNUB_SUBSCRIBE_KEY,
  secretKey: env.PUBNUB_SECRET_KEY,
  origin: v.origin,
  ssl: v.origin ? !/^(127\.|localhost)/.test(v.origin) : true,
  ttlMinutes: v.ttl === undefined ? undefined : Number(v.ttl),
  stateDir: v['state-dir'],
  identity,
  operatorKey: env.FP_OPERATOR_KEY,
};
for (const [k, name] of [['publishKey', '--publish-key'], ['subscribeKey', '--subscribe-key'], ['secretKey', 'PUBNUB_SECRET_KEY']]) if (!o[k]) fail(`${name} is required`);
const server = await startAuthServer(o);
if (identity.devMode) process.stderr.write('auth-server: DEVELOPMENT MODE (--dev-any-user): anyone signs in as any id\n');
console.log(server.url);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
