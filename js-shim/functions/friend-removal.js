// After Publish on `friend-management.*`: friend.remove by either friend, and
// friends.sync.request (the initial load, answered on the publisher's inbox).
export default async (request) => {
  await runCore('friendManagement', { pubnub: require('pubnub'), kvstore: require('kvstore') }, request);
  return request.ok();
};
