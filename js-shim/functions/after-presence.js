// After Presence on `presence.*`: presence events of the shard channels become one publish
// per changed user on `status.{userId}` (work larger than one execution is `fire`d on).
export default async (request) => {
  const pubnub = require('pubnub');
  const kvstore = require('kvstore');
  await runCore(() => afterPresence(pubnub, kvstore, request, Date.now(), SETTINGS));
  return request.ok();
};
