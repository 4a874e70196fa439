// On Interval (10 s): the global online count on `status.global`.
export default async (event) => {
  await runCore('countAggregator', { pubnub: require('pubnub'), kvstore: require('kvstore') });
  return event.ok();
};
