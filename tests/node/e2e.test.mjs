// End to end on the local PubNub runtime: the built pkg/functions/*.js loaded per their
// manifest, driven by the real `pubnub` SDK (v10 and v11) through the flow in e2e-flow.mjs.
// (deploy.test.mjs runs the same flow on Functions uploaded through the Admin API.)
import { test, after } from 'node:test';
import { join } from 'node:path';
import { startServer, destroyAll, ROOT, SDKS } from './local-pubnub/helpers.mjs';
import { friendsComeAndGo } from './e2e-flow.mjs';

const MANIFEST = join(ROOT, 'pkg/functions/manifest.json');

let srv;
after(async () => {
  destroyAll();
  await srv?.close();
});

for (const sdk of Object.keys(SDKS)) {
  test(`friends see each other come and go (pubnub ${sdk})`, { timeout: 60000 }, async () => {
    srv ??= await startServer({ functions: MANIFEST, functionIntervalMs: 500 });
    await friendsComeAndGo(srv, sdk);
  });
}
