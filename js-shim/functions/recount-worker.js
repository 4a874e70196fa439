// After Publish on `recount-work.*`: friendCount recounts handed out by the presence
// settler. Clients must never be granted write on this channel.
export default async (request) => {
  const pubnub = require('pubnub');
  const kvstore = require('kvstore');
  await runCore(() => recountWorker(pubnub, kvstore, request, Date.now(), SETTINGS));
  return request.ok();
};
