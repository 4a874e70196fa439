// Command line for local-pubnub (see scripts/local-pubnub --help). Runs in the foreground until
// SIGINT/SIGTERM, printing the URL on its first line so wrappers can read it.
import { parseArgs } from 'node:util';
import { startLocalPubNub } from '../js-shim/dev/local-pubnub/server.mjs';

const HELP = `usage: local-pubnub [options]
  --port N                 listen port (default 0 = any free port)
  --host H                 listen address (default 127.0.0.1)
  --data-dir DIR           keep KV, App Context and channel groups here (default: in memory)
  --secret-key KEY         turn Access Manager on (grant tokens, check auth=)
  --publish-key KEY        publish key that signed requests use (default: learn from publish paths)
  --functions FILE         Functions manifest (e.g. pkg/functions/manifest.json)
  --admin-api-key KEY      serve the Admin API (Functions deployments, keyset config) to this key;
                           also read from LOCAL_PUBNUB_ADMIN_API_KEY. Whoever holds it runs code
                           on this machine as this process's user (deployed Functions)
  --admin-remote           serve the Admin API to other machines too (default: localhost only)
  --keyset-id ID           keyset id the Admin API answers for (default local-keyset)
  --ops-limit 10|3         per-execution op budget: 10 each (default) or 3 combined
Platform switches (what scripts/deploy --probe must detect; tests use them):
  --no-webassembly         the Functions sandbox has no WebAssembly global
  --text-codecs            the sandbox offers native TextEncoder/TextDecoder (default: absent)
  --fresh-modules          every Function execution evaluates its module anew (no global survives)
  --max-function-bytes N   Admin API refuses Function code over N bytes (default 65536)
  --max-functions N        Admin API refuses a revision of more than N Functions (FAAS-1006)
  --min-interval-ms N      Admin API refuses On Interval periods under N ms (default 1000)
  --announce-max N         presence announce max (default 100)
  --interval-sec N         presence interval (default 10)
  --no-deltas              interval events without join/leave/timeout deltas
  --presence-timeout N     seconds, when a client sends no heartbeat value (default 300)
  --presence-channels P    Presence Management rule: track presence only on channels matching P
                           (\`x*\` a prefix, else an exact name); repeatable (default: every channel)
  --channel-group-limit N  channels per group (default 2000)
  --groups-per-subscribe N channel groups per subscribe (default 10)
  --hold N                 long-poll hold in seconds (default 280)
  --static PREFIX=DIR      serve DIR's files under URL PREFIX (e.g. /demo/=js-shim/dev/demo); repeatable
  --wan                    WAN delays: 30-80 ms per client round trip, 20-60 ms per Function host call (wan.mjs)
  --quiet                  do not log Function executions
`;

const { values: v } = parseArgs({
  options: {
    port: { type: 'string' }, host: { type: 'string' }, 'data-dir': { type: 'string' }, 'secret-key': { type: 'string' },
    'publish-key': { type: 'string' }, functions: { type: 'string' },
    'admin-api-key': { type: 'string' }, 'admin-remote': { type: 'boolean' }, 'presence-channels': { type: 'string', multiple: true }, 'keyset-id': { type: 'string' }, 'ops-limit': { type: 'string' },
    'no-webassembly': { type: 'boolean' }, 'text-codecs': { type: 'boolean' }, 'fresh-modules': { type: 'boolean' }, 'max-function-bytes': { type: 'string' },
    'max-functions': { type: 'string' }, 'min-interval-ms': { type: 'string' },
    'announce-max': { type: 'string' }, 'interval-sec': { type: 'string' }, 'no-deltas': { type: 'boolean' },
    'presence-timeout': { type: 'string' }, 'channel-group-limit': { type: 'string' }, 'groups-per-subscribe': { type: 'string' },
    hold: { type: 'string' }, wan: { type: 'boolean' }, static: { type: 'string', multiple: true }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  },
});
if (v.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const num = (s) => (s === undefined ? undefined : Number(s));
if (v['ops-limit'] !== undefined && !['10', '3'].includes(v['ops-limit'])) {
  process.stderr.write('--ops-limit must be 10 or 3\n');
  process.exit(2);
}
const server = await startLocalPubNub({
  port: num(v.port) ?? 0,
  host: v.host,
  dataDir: v['data-dir'],
  secretKey: v['secret-key'],
  publishKey: v['publish-key'],
  functions: v.functions,
  adminApiKey: v['admin-api-key'] ?? process.env.LOCAL_PUBNUB_ADMIN_API_KEY,
  adminRemote: v['admin-remote'] || undefined,
  presenceChannels: v['presence-channels']?.length ? v['presence-channels'] : undefined,
  keysetId: v['keyset-id'],
  opsLimit: num(v['ops-limit']),
  noWebAssembly: v['no-webassembly'] || undefined,
  textCodecs: v['text-codecs'] || undefined,
  freshModules: v['fresh-modules'] || undefined,
  maxFunctionBytes: num(v['max-function-bytes']),
  maxFunctions: num(v['max-functions']),
  minIntervalMs: num(v['min-interval-ms']),
  announceMax: num(v['announce-max']),
  intervalSec: num(v['interval-sec']),
  deltas: v['no-deltas'] ? false : undefined,
  presenceTimeoutDefault: num(v['presence-timeout']),
  channelGroupLimit: num(v['channel-group-limit']),
  groupsPerSubscribe: num(v['groups-per-subscribe']),
  hold: num(v.hold),
  wan: v.wan || undefined,
  static: v.static?.length ? Object.fromEntries(v.static.map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)])) : undefined,
  log: v.quiet ? () => {} : (line) => console.log(line),
}).catch((e) => {
  // A refused start (data dir locked, port in use, a broken Function) is one line, not a stack.
  process.stderr.write(`local-pubnub: ${e.message}\n`);
  process.exit(1);
});
console.log(server.url);
if (v['secret-key'] && v['publish-key'] === undefined)
  console.log('[local-pubnub] note: no --publish-key; signatures are checked against publish keys seen in publish paths');
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
