// After Publish on `reconcile-work.*`: shard reconciliation steps (here_now_refresh, storms)
// and friendCount recounts, fired by after-presence and the presence settler. Clients must
// never be granted write on this channel.
export default async (request) => {
  const pubnub = require('pubnub');
  const kvstore = require('kvstore');
  await runCore(() => reconcileWorker(pubnub, kvstore, request, Date.now(), SETTINGS));
  return request.ok();
};
