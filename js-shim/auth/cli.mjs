// scripts/auth-server: the auth service on its own port (see service.mjs for the endpoints).
import { parseArgs } from 'node:util';
import { startAuthServer } from './service.mjs';
import { AUTH_SERVER as HELP } from '../../scripts/usage.mjs';

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
