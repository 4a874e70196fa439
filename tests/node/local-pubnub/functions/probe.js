// Reports what the sandbox offers.
export default async (request) => {
  const pubnub = require('pubnub');
  let fsError = null;
  try { require('fs'); } catch (e) { fsError = e.message; }
  await pubnub.publish({
    channel: 'probe-out',
    message: {
      process: typeof process, Buffer: typeof Buffer, setTimeout: typeof setTimeout, TextEncoder: typeof TextEncoder,
      WebAssembly: typeof WebAssembly, fsError, requestKeys: Object.keys(request).sort(),
      messageIsObject: request.message instanceof Object,
    },
  });
  return request.ok();
};
