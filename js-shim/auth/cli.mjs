// scripts/auth-server: the auth service on its own port (see service.mjs for the endpoints).
import { parseArgs } from 'node:util';
import { startAuthServer } from './service.mjs';

const HELP = `usage: scripts/auth-server [options]
  --port N             listen port (default 8091; 0 = any)
  --host H             listen address (default 127.0.0.1)
  --publish-key K      keyset publish key (env PUBNUB_PUBLISH_KEY)
  --subscribe-key K    keyset subscribe key (env PUBNUB_SUBSCRIBE_KEY)
  --origin HOST:PORT   PubNub origin (default PubNub's; e.g. 127.0.0.1:8090 for scripts/local-pubnub)
  --ttl MINUTES        token lifetime (default 60)
The secret key comes from the environment only: PUBNUB_SECRET_KEY. POST /auth/operator (a
read token on operators.metrics, for the operators' page) is on only when FP_OPERATOR_KEY is set.
Demo sign-in: any valid user id is accepted; put a real identity check in AuthService's
\`authenticate\` before exposing it.
`;
const { values: v } = parseArgs({
  options: {
    port: { type: 'string' }, host: { type: 'string' }, 'publish-key': { type: 'string' }, 'subscribe-key': { type: 'string' },
    origin: { type: 'string' }, ttl: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  },
});
if (v.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const env = process.env;
const o = {
  port: Number(v.port ?? 8091),
  host: v.host,
  publishKey: v['publish-key'] ?? env.PUBNUB_PUBLISH_KEY,
  subscribeKey: v['subscribe-key'] ?? env.PUBNUB_SUBSCRIBE_KEY,
  secretKey: env.PUBNUB_SECRET_KEY,
  origin: v.origin,
  ssl: v.origin ? !/^(127\.|localhost)/.test(v.origin) : true,
  ttlMinutes: v.ttl === undefined ? undefined : Number(v.ttl),
  operatorKey: env.FP_OPERATOR_KEY,
};
for (const [k, name] of [['publishKey', '--publish-key'], ['subscribeKey', '--subscribe-key'], ['secretKey', 'PUBNUB_SECRET_KEY']])
  if (!o[k]) {
    process.stderr.write(`auth-server: ${name} is required\n${HELP}`);
    process.exit(2);
  }
const server = await startAuthServer(o);
console.log(server.url);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
