// Client commands as the web package builds them (pkg/web: `friendRequest`, `acceptRequest`,
// `declineRequest`, `cancelRequest`, `removeFriend`, `blockUser`, `unblockUser`, `syncRequest`,
// from the crate's src/domain/contract.rs), so
// the tests publish what a client publishes. Needs pkg/web (scripts/build).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  initSync, friendRequest, acceptRequest, declineRequest, cancelRequest, removeFriend, blockUser, unblockUser, syncRequest,
} from '../../pkg/web/index.js';

initSync({ module: readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../pkg/web/friends_presence_bg.wasm')) });

const BUILDERS = {
  'friend.request': friendRequest,
  'friend.request.accepted': acceptRequest,
  'friend.request.declined': declineRequest,
  'friend.request.cancel': cancelRequest,
  'friend.remove': removeFriend,
  'friend.block': blockUser,
  'friend.unblock': unblockUser,
  'friends.sync.request': syncRequest,
};

/**
 * `command(type, userA, userB, nonce, nowMs)` → `{channel, message}`: the command `type` between
 * `userA` and `userB` (for `friends.sync.request`, `userB` is the page cursor or null), with
 * `eventId` `{type}-{nowMs}-{nonce}`. Throws on what the builders refuse.
 */
export function command(type, userA, userB, nonce, nowMs = Date.now()) {
  const build = BUILDERS[type];
  if (!build) throw new Error(`not a client command: ${type}`);
  const out = build(userA, userB ?? null, nowMs, nonce);
  if (out.error) throw new Error(`${type}: ${out.error}`);
  return out;
}
