// After Publish on `count-work.*`: one range of shards of a global-count round, fired by the
// count aggregator above 1,000 shards. Clients must never be granted write on this channel.
export default async (request) => {
  await runCore('countWorker', { pubnub: require('pubnub'), kvstore: require('kvstore') }, request);
  return request.ok();
};
