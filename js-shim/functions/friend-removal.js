// After Publish on `friend-management.*`: friend.remove, by either friend.
export default async (request) => {
  const pubnub = require('pubnub');
  const kvstore = require('kvstore');
  await runCore(() => friendManagement(pubnub, kvstore, request, Date.now(), SETTINGS));
  return request.ok();
};
