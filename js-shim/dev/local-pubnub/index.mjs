// Public entry point of local-pubnub.
export { startLocalPubNub, LocalPubNub } from './server.mjs';
