// Tries message.kv KV ops, message.pub fires and message.api API calls; logs how far it got.
export default async (request) => {
  const pubnub = require('pubnub');
  const db = require('kvstore');
  const { id, kv = 0, pub = 0, api = 0 } = request.message;
  let done = 0, error = null;
  try {
    for (let i = 0; i < kv; i++) (await db.get('x'), done++);
    for (let i = 0; i < pub; i++) (await pubnub.fire({ channel: 'budget-sink', message: i }), done++);
    for (let i = 0; i < api; i++) (await pubnub.whereNow({ uuid: 'nobody' }), done++);
  } catch (e) {
    error = e.message;
  }
  console.log(JSON.stringify({ id, done, error }));
  return request.ok();
};
