// After Presence on `presence.*`: presence events of the shard channels become one publish
// per changed user on `status.{userId}` (work larger than one execution is `fire`d on).
export default async (request) => {
  await runCore('afterPresence', { pubnub: require('pubnub'), kvstore: require('kvstore') }, request);
  return request.ok();
};
