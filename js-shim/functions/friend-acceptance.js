// After Publish on `friend-requests.*`: friend.request, friend.request.accepted,
// friend.request.declined. The publisher (`request.params.uuid`) must own the channel.
export default async (request) => {
  const pubnub = require('pubnub');
  const kvstore = require('kvstore');
  await runCore(() => friendRequests(pubnub, kvstore, request, Date.now(), SETTINGS));
  return request.ok();
};
