// On Interval (10 s): publishes the final state of users whose change fell inside the
// debounce window (the trailing edge, without timers).
export default async (event) => {
  const pubnub = require('pubnub');
  const kvstore = require('kvstore');
  await runCore(() => presenceSettler(pubnub, kvstore, Date.now(), SETTINGS));
  return event.ok();
};
