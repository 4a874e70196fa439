// After Presence: forwards every presence event (incl. interval) to presence-log.
const pubnub = require('pubnub');
export default async (request) => {
  await pubnub.publish({ channel: 'presence-log', message: { channel: request.channels[0], event: request.message, uuid: request.params.uuid } });
  return request.ok();
};
