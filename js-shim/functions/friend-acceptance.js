// After Publish on `friend-requests.*`: friend.request, friend.request.accepted,
// friend.request.declined. The publisher (`request.params.uuid`) must own the channel.
export default async (request) => {
  await runCore('friendRequests', { pubnub: require('pubnub'), kvstore: require('kvstore') }, request);
  return request.ok();
};
