// Republishes to chain.{n+1}, to show how far chaining goes.
export default async (request) => {
  const pubnub = require('pubnub');
  const n = request.message.n;
  await pubnub.publish({ channel: `chain.${n + 1}`, message: { n: n + 1 } });
  return request.ok();
};
