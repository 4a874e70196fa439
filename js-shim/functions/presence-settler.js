// On Interval (10 s): hands out the deferred status changes whose debounce window ended (the
// trailing edge, without timers), queued shard reconciliations and friendCount recounts.
export default async (event) => {
  await runCore('presenceSettler', { pubnub: require('pubnub'), kvstore: require('kvstore') });
  return event.ok();
};
