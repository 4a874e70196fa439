// The churn simulator of scripts/dev (js-shim/dev/demo/churn.mjs) leaves alone users who have a page
// open: a user present on its shard through a real SDK client (a device the simulator did not
// make), and a user signed in at the auth service (`hold`), while it keeps churning the others;
// an invisible user is never made present (an invisible user's clients stay off the shard).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, client, destroyAll, until } from './local-pubnub/helpers.mjs';
import { Churn, SIM_DEVICE } from '../../js-shim/dev/demo/churn.mjs';
import { shardOf } from '../../js-shim/dev/demo/seed.mjs';

let srv;
after(async () => {
  destroyAll();
  await srv?.close();
});

test('churn: a user with a page open or invisible is left alone, the others keep coming and going', { timeout: 30_000 }, async () => {
  srv = await startServer();
  const ids = Array.from({ length: 12 }, (_, i) => `churner-${String(i).padStart(2, '0')}`);
  const [page, signedIn, simulated, invisible] = ids;
  const shard = (id) => `presence.shard-${shardOf(id, 100)}`;
  // After a restart App Context says who was online: the simulator makes them present again.
  const admin = client('v11', srv, 'churn-admin');
  for (const id of [page, simulated]) await admin.objects.setUUIDMetadata({ uuid: id, data: { name: id, custom: { online: true } } });
  await admin.objects.setUUIDMetadata({ uuid: invisible, data: { name: invisible, custom: { online: true, invisible: true } } });
  const churn = new Churn(srv, { ids, rate: 50, online: 0.5 });
  assert.equal(churn.restore(), 2);
  assert.deepEqual(srv.presence.whereNow(page), [shard(page)]);

  // `page` opens the demo page: a real SDK client joins its shard, beside the simulated device.
  const pn = client('v11', srv, page);
  pn.subscribe({ channels: [shard(page)] });
  await until(() => [...srv.presence.occupants.get(shard(page)).get(page).devices.keys()].some((d) => d !== SIM_DEVICE));
  assert.ok(churn.leftAlone(page));
  // `signedIn` signed in (scripts/dev holds every login): never made present by the simulator.
  churn.hold(signedIn, 60_000);
  // A signed-in user the simulator had made present keeps the simulated presence until the
  // page's client is present, then loses it without going offline (no flap).
  churn.hold(simulated, 60_000);
  assert.deepEqual(srv.presence.whereNow(simulated), [shard(simulated)], 'still online while the page connects');
  const simPage = client('v11', srv, simulated);
  simPage.subscribe({ channels: [shard(simulated)] });
  await until(() => [...srv.presence.occupants.get(shard(simulated)).get(simulated).devices.keys()].some((d) => d !== SIM_DEVICE));
  churn.tick(0);
  assert.deepEqual([...srv.presence.occupants.get(shard(simulated)).get(simulated).devices.keys()].filter((d) => d === SIM_DEVICE), [], 'the simulated device went');
  assert.deepEqual(srv.presence.whereNow(simulated), [shard(simulated)], 'and the user stayed online');
  assert.ok(!churn.leftAlone(ids[5]), 'the others are churned');

  churn.start(20);
  await new Promise((r) => setTimeout(r, 2500));
  churn.stop();
  const changed = ids.filter((id) => churn.lastChange.has(id));
  assert.ok(changed.length >= 5, `the simulator was churning (${changed.join(', ')})`);
  for (const id of [page, signedIn, simulated, invisible]) assert.ok(!churn.lastChange.has(id), `${id} left alone`);
  assert.deepEqual(srv.presence.whereNow(invisible), [], 'never on its shard');
  assert.deepEqual(srv.presence.whereNow(page), [shard(page)], 'the page stays online');
  assert.deepEqual(srv.presence.whereNow(signedIn), []);

  // The page closes (an SDK leave names no device: the user leaves on all of them): offline, and
  // the simulator's again.
  pn.unsubscribeAll();
  await until(() => !churn.leftAlone(page));
  assert.deepEqual(srv.presence.whereNow(page), []);
});
