// What the keyset must be set to for the Functions and clients to work: the single list behind
// README "Keyset checklist", `scripts/deploy --configure` and `--check`. The fields are those of
// the Admin API's keyset configuration: what "Update keyset configuration" (PATCH
// /v2/keysets/{id}/config) takes, and what PubNub's own client reads back (pubnub/pubnub-mcp-server
// src/lib/portal/types.ts KeysetConfigResponse) — which has no `presence.enabled`.

/** Settings `--check` reads from the keyset configuration: [section, field, expected, why]. */
export const CHECKED = [
  ['presence', 'deltas', true, 'interval events must carry join/leave/timeout arrays; without them every interval is a here_now_refresh and a full reconciliation'],
  ['presence', 'announceMax', 100, 'shards at or under 100 occupants announce each change; larger shards (the design has ~5,000 per shard) switch to interval events'],
  ['presence', 'interval', 10, 'seconds between interval events; the 10 s settler and the latency figures assume it'],
  ['streamController', 'enabled', true, 'friends are delivered through channel groups cg-friends-{id} and cg-friends1-{id} … cg-friends9-{id}'],
  ['streamController', 'channelGroupLimit', 2000, 'friend n goes to group ⌊(n−1)/2,000⌋: a smaller limit makes acceptances overflow early and fail at 10 × limit'],
  ['appContext', 'enabled', true, 'user status, friend memberships and the reconcile walk live in App Context'],
  ['appContext', 'disallowGetAllUserMetadata', false, 'the reconcile worker lists a shard\'s online users with getAllUUIDMetadata'],
  ['accessManager', 'enabled', true, 'clients act only through tokens from the auth service (js-shim/dev/auth)'],
];

/**
 * What `--configure` writes: every checked setting, and `presence.enabled`, which the request
 * takes although the configuration PubNub returns does not show it.
 */
export const KEYSET_SETTINGS = [['presence', 'enabled', true], ...CHECKED.map(([s, f, want]) => [s, f, want])];

/** Settings the Admin API's keyset configuration does not show: checked by hand. */
export const UNCHECKED = [
  ['Presence enabled', 'on (After Presence is bound to presence.*)',
    '`--configure` writes presence.enabled, but the configuration PubNub returns has no such field: see it in the Admin Portal'],
  ['Presence rules', 'track selected channels only, one rule: pattern presence.shard-*, events join, leave, timeout, interval (state-change not needed)',
    'the keyset configuration has no presence-rule field'],
  ['Presence timeout', 'set by each client (SDK presenceTimeout / heartbeat); the demo page uses 20 s, the SDK default is 300 s',
    'not a keyset setting'],
  ['Channel groups per subscribe', '10 (the plan subscribes to exactly 10 friends groups)',
    'a platform limit, not a keyset setting'],
];
