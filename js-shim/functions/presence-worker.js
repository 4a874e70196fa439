// After Publish on `presence-work.*`: slices of presence work fired by after-presence and
// the presence settler. Clients must never be granted write on this channel.
export default async (request) => {
  const pubnub = require('pubnub');
  const kvstore = require('kvstore');
  await runCore(() => presenceWorker(pubnub, kvstore, request, Date.now(), SETTINGS));
  return request.ok();
};
