// On Interval (10 s): the global online count on `status.global`.
export default async (event) => {
  const pubnub = require('pubnub');
  const kvstore = require('kvstore');
  await runCore(() => countAggregator(pubnub, kvstore, Date.now(), SETTINGS));
  return event.ok();
};
