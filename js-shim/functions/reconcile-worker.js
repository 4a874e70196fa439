// After Publish on `reconcile-work.*`: shard reconciliation steps (here_now_refresh, storms),
// handed out by the presence settler or fired by the previous step. Clients must never be
// granted write on this channel.
export default async (request) => {
  await runCore('reconcileWorker', { pubnub: require('pubnub'), kvstore: require('kvstore') }, request);
  return request.ok();
};
