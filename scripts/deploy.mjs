// scripts/deploy: the command line of js-shim/deploy/deploy.mjs.
import { parseArgs } from 'node:util';
import { API_VERSION, DEFAULT_ORIGIN, DEFAULT_PACKAGE, check, deploy } from '../js-shim/deploy/deploy.mjs';

const HELP = `usage: scripts/deploy [options]
Deploys the Functions in pkg/functions/ (run scripts/build first) to a keyset through PubNub's
Admin API: creates the package (or a new revision of it) and runs that revision on the keyset.

  --account-id ID    account that owns the package (env PUBNUB_ACCOUNT_ID)
  --keyset-id ID     keyset to deploy to (env PUBNUB_KEYSET_ID)
  --origin URL       Admin API host (env PUBNUB_ADMIN_ORIGIN; default ${DEFAULT_ORIGIN}),
                     e.g. http://127.0.0.1:8090 for scripts/local-pubnub --admin-api-key KEY
  --package NAME     package name (default ${DEFAULT_PACKAGE})
  --manifest FILE    Functions manifest (default pkg/functions/manifest.json)
  --api-version V    PubNub-Version header (default ${API_VERSION})
  --dry-run          print the requests instead of sending them (the API key is redacted)
  --check            report the keyset's settings against the README checklist, and whether the
                     deployed Functions are the ones in the manifest; sends only GETs
The API key comes from the environment only: PUBNUB_API_KEY.
Refuses, before sending anything, any bundle over 65,536 bytes.
`;

let v;
try {
  ({ values: v } = parseArgs({
    options: {
      'account-id': { type: 'string' }, 'keyset-id': { type: 'string' }, origin: { type: 'string' }, package: { type: 'string' },
      manifest: { type: 'string' }, 'api-version': { type: 'string' }, 'dry-run': { type: 'boolean' }, check: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
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
const env = process.env;
const o = {
  manifest: v.manifest ?? 'pkg/functions/manifest.json',
  origin: v.origin ?? env.PUBNUB_ADMIN_ORIGIN ?? DEFAULT_ORIGIN,
  apiKey: env.PUBNUB_API_KEY || undefined,
  accountId: v['account-id'] ?? env.PUBNUB_ACCOUNT_ID,
  keysetId: v['keyset-id'] ?? env.PUBNUB_KEYSET_ID,
  packageName: v.package,
  apiVersion: v['api-version'] ?? API_VERSION,
  dryRun: !!v['dry-run'],
};
try {
  if (v.check) {
    const { ok } = await check(o);
    process.exit(ok ? 0 : 1);
  }
  await deploy(o);
} catch (e) {
  process.stderr.write(`deploy: ${e.message}\n`);
  process.exit(1);
}
