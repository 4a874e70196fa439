// scripts/deploy: the command line of js-shim/dev/deploy/deploy.mjs and probe.mjs.
import { parseArgs } from 'node:util';
import { DEFAULT_ORIGIN, DEFAULT_PACKAGE, FAAS_VERSION, KEYSET_VERSION, check, configure, deploy, keysets, rollback } from '../js-shim/dev/deploy/deploy.mjs';
import { probe } from '../js-shim/dev/deploy/probe.mjs';

const HELP = `usage: scripts/deploy [action] [options]
Deploys the Functions in pkg/functions/ (run scripts/build first) to a keyset through PubNub's
Admin API: creates the package (or a new revision of it) and runs that revision on the keyset
(a new deployment, started; or a rolling update onto a new deployment). Step by step, from an
account to a running app: docs/deploy.md.

actions (default: deploy)
  --dry-run          print the deploy's requests instead of sending them (the API key is redacted)
  --rollback         roll the keyset back to the package revision made before the running one
  --probe            deploy a throwaway probe, call it, remove it, and say which Functions can
                     run on this keyset and what to change
  --configure        write the keyset settings the Admin API can set (presence, App Context,
                     Access Manager, Stream Controller); print the rest as a checklist
  --check            compare the keyset's settings and the deployed Functions with pkg/functions/;
                     sends only GETs
  --keysets          list the account's keysets: id, subscribe key, type, name

options
  --keyset-id ID     the keyset's numeric id (env PUBNUB_KEYSET_ID; --keysets lists them)
  --origin URL       Admin API host (env PUBNUB_ADMIN_ORIGIN; default ${DEFAULT_ORIGIN}),
                     e.g. http://127.0.0.1:8090 for scripts/local-pubnub --admin-api-key KEY
  --package NAME     package name (default ${DEFAULT_PACKAGE})
  --manifest FILE    Functions manifest (default pkg/functions/manifest.json)
  --app-context-region R   --configure: the region to enable App Context in, if it is off
                     (aws-iad-1, aws-pdx-1, aws-fra-1, aws-bom-1, aws-hnd-1; cannot change later)
  --pubnub-origin URL      --probe: where On Request Functions answer (default https://ps.pndsn.com,
                     or --origin when that is not PubNub's Admin API)
  --faas-version V   PubNub-Version of /v2/faas requests (default ${FAAS_VERSION})
  --keyset-version V PubNub-Version of /v2/keysets requests (default ${KEYSET_VERSION})
  --verbose          print every request (--probe, --check)
The API key comes from the environment only: PUBNUB_API_KEY.
Refuses, before sending anything, any bundle over 65,536 bytes.
`;

let v;
try {
  ({ values: v } = parseArgs({
    options: {
      'keyset-id': { type: 'string' }, origin: { type: 'string' }, package: { type: 'string' }, manifest: { type: 'string' },
      'faas-version': { type: 'string' }, 'keyset-version': { type: 'string' }, 'app-context-region': { type: 'string' },
      'pubnub-origin': { type: 'string' }, verbose: { type: 'boolean' },
      'dry-run': { type: 'boolean' }, check: { type: 'boolean' }, rollback: { type: 'boolean' }, probe: { type: 'boolean' },
      configure: { type: 'boolean' }, keysets: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (e) {
  process.stderr.write(`deploy: ${e.message}\n${HELP}`);
  process.exit(2);
}
if (v.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const actions = ['check', 'rollback', 'probe', 'configure', 'keysets'].filter((a) => v[a]);
if (actions.length > 1 || (actions.length && v['dry-run'] && !v.configure)) {
  process.stderr.write(`deploy: choose one action (got ${[...actions, ...(v['dry-run'] ? ['dry-run'] : [])].map((a) => '--' + a).join(', ')})\n`);
  process.exit(2);
}
const env = process.env;
const o = {
  manifest: v.manifest ?? 'pkg/functions/manifest.json',
  origin: v.origin ?? env.PUBNUB_ADMIN_ORIGIN ?? DEFAULT_ORIGIN,
  apiKey: env.PUBNUB_API_KEY || undefined,
  keysetId: v['keyset-id'] ?? env.PUBNUB_KEYSET_ID,
  packageName: v.package,
  faasVersion: v['faas-version'] ?? FAAS_VERSION,
  keysetVersion: v['keyset-version'] ?? KEYSET_VERSION,
  appContextRegion: v['app-context-region'],
  pubnubOrigin: v['pubnub-origin'],
  verbose: !!v.verbose,
  dryRun: !!v['dry-run'],
};
try {
  if (v.check) {
    const { ok } = await check(o);
    process.exit(ok ? 0 : 1);
  }
  if (v.probe) {
    const { verdict } = await probe(o);
    process.exit(verdict.blocked.size || verdict.undetermined.length ? 1 : 0);
  }
  if (v.rollback) await rollback(o);
  else if (v.configure) await configure(o);
  else if (v.keysets) await keysets(o);
  else await deploy(o);
} catch (e) {
  process.stderr.write(`deploy: ${e.message}\n`);
  process.exit(1);
}
