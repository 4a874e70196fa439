// The one definition of what a signed-in user may do: the Access Manager grant for a user's
// token, derived from the user's subscribe plan (pkg/web `subscribePlan`, the core's
// src/core/plan.rs). Used by the auth service (service.mjs), the demo (scripts/dev, through the
// service) and every test that needs user tokens.
//
// Least privilege, resource by resource (all exact names, no patterns):
// - read  presence.shard-{N}: being subscribed there is what makes the user online (heartbeats
//         and leaves need read too). N is the plan's shard, the same hash the clients use.
//         Not presence.shard-{N}-pnpres: the client never subscribes to the shard's presence
//         events (it learns about friends from their status channels), and granting it would
//         hand every user the joins and leaves of up to ~5,000 strangers. (Read on the shard
//         still lets a client call hereNow on it: see js-shim/dev/local-pubnub/README.md, "Access
//         Manager and privacy".)
// - read  status.global (the online count) and inbox.{id} (friendship notices, sync pages).
// - read  the ten friends groups cg-friends-{id}, cg-friends1-{id} … cg-friends9-{id}: friends' status
//         arrives through them. No manage: only the friend Functions change them.
// - write friend-requests.{id} and friend-management.{id}: the user's own command channels
//         (request, accept, decline, remove, sync); the Functions check the publisher again.
// Nothing else: no write on status.* (only the Functions announce), none on the work channels
// presence-work.* / reconcile-work.* / recount-work.*, no App Context, no other user's anything.
// The token is bound to the user's id (authorized_uuid), so it is useless under another uuid.

/** Access token lifetime: an hour; clients refresh before it ends (service.mjs /auth/refresh). */
export const TOKEN_TTL_MINUTES = 60;

/**
 * SDK `grantToken` parameters for a user. `plan` is `subscribePlan(userId)`:
 * {userId, shard, presenceChannel, channels, groups}.
 */
export function userGrant(plan, { ttl = TOKEN_TTL_MINUTES } = {}) {
  if (!plan || plan.error || typeof plan.userId !== 'string') throw new Error(`no subscribe plan: ${plan?.error ?? 'missing'}`);
  const id = plan.userId;
  const channels = {};
  for (const c of plan.channels) channels[c] = { read: true }; // shard, status.global, inbox.{id}
  channels[`friend-requests.${id}`] = { write: true };
  channels[`friend-management.${id}`] = { write: true };
  const groups = Object.fromEntries(plan.groups.map((g) => [g, { read: true }]));
  return {
    ttl,
    authorized_uuid: id,
    resources: { channels, groups },
    meta: { role: 'user', shard: plan.shard },
  };
}

/** The operators' metrics channel (src/core/metrics.rs): no user grant names it. */
export const OPERATORS_METRICS = 'operators.metrics';

/**
 * SDK `grantToken` parameters for an operator's dashboard: read on `operators.metrics` (the
 * Functions' metrics snapshots and alerts) and nothing else — no user's channels, no write.
 */
export function operatorGrant(operatorId, { ttl = TOKEN_TTL_MINUTES } = {}) {
  if (typeof operatorId !== 'string' || !operatorId) throw new Error('an operator id is required');
  return {
    ttl,
    authorized_uuid: operatorId,
    resources: { channels: { [OPERATORS_METRICS]: { read: true } } },
    meta: { role: 'operator' },
  };
}
