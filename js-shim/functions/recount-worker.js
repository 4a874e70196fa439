// After Publish on `recount-work.*`: friendCount recounts handed out by the presence
// settler. Clients must never be granted write on this channel.
export default async (request) => {
  await runCore('recountWorker', { pubnub: require('pubnub'), kvstore: require('kvstore') }, request);
  return request.ok();
};
