// After Publish on `presence-work.*`: slices of presence work fired by after-presence and
// the presence settler. Clients must never be granted write on this channel.
export default async (request) => {
  await runCore('presenceWorker', { pubnub: require('pubnub'), kvstore: require('kvstore') }, request);
  return request.ok();
};
