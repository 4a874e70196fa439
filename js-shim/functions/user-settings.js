// After Publish on `friend-management.*`, beside friend-removal: user.settings only (invisible,
// statusMessage); every other message there is friend-removal's and is ignored here.
export default async (request) => {
  await runCore('userSettings', { pubnub: require('pubnub'), kvstore: require('kvstore') }, request);
  return request.ok();
};
