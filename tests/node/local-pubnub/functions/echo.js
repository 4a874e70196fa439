// Echoes a command to out.{publisher} and counts commands in KV.
export default async (request) => {
  const pubnub = require('pubnub');
  const db = require('kvstore');
  const count = await db.incrCounter('commands', 1);
  const sent = await pubnub.publish({
    channel: `out.${request.params.uuid}`,
    message: { seen: request.message, channel: request.channels[0], count },
  });
  console.log('echoed', request.channels[0], 'count', count);
  await db.set('last-sent', { tt: sent[2], isArray: Array.isArray(sent), timetoken: sent.timetoken, first: sent[0], second: sent[1] });
  return request.ok();
};
