// connectFriends: wires a `pubnub` instance to a FriendsView — the subscribe plan (its friends
// groups follow the friend count), the listener, the initial load (online friends first),
// commands re-sent until the Functions answer them, and an optional token refresh. Copied into pkg/web by scripts/build-web.mjs;
// works in browsers and in Node with the `pubnub` SDK (v10, v11).
import {
  FriendsView, subscribePlan, friendRequest, acceptRequest, declineRequest, cancelRequest, removeFriend, blockUser, unblockUser, userSettings,
} from './friends_presence.js';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nonce = () => Math.floor(Math.random() * 1e12);

/**
 * @param {object} options see index.d.ts (`ConnectOptions`)
 * @returns {Promise<import('./index.js').FriendsConnection>}
 */
export async function connectFriends(options) {
  const { pubnub, userId, shardCount, friendCount, online = true, onChange, onMessage, refreshToken, answerTimeoutMs = 5000, attempts = 5 } = options;
  const created = FriendsView.create(userId, { shardCount });
  if (created.error) throw new Error(`friends-presence: ${created.error}`);
  const view = created.view;
  let plan = subscribePlan(userId, { shardCount, friendCount });
  let closed = false;
  const waiters = new Set(); // resolved on every change of the view
  // The friends groups follow the count the view knows (all ten until a sync page tells it).
  const regroup = () => {
    if (closed) return;
    const { subscribe, unsubscribe } = view.regroup(plan.groups);
    if (!subscribe.length && !unsubscribe.length) return;
    if (unsubscribe.length) pubnub.unsubscribe({ channelGroups: unsubscribe });
    if (subscribe.length) pubnub.subscribe({ channelGroups: subscribe });
    plan = { ...plan, groups: plan.groups.filter((g) => !unsubscribe.includes(g)).concat(subscribe) };
  };
  const changed = () => {
    // A hint given as friendCount stands until the view knows the count itself.
    if (view.synced || view.totals().totalFriends !== null || friendCount === undefined) regroup();
    for (const w of [...waiters]) w();
    if (onChange) onChange(view);
  };
  const untilChanged = (ms) => new Promise((resolve) => {
    const done = () => { waiters.delete(done); clearTimeout(timer); resolve(); };
    const timer = setTimeout(done, ms);
    waiters.add(done);
  });
  const listener = {
    message: (event) => {
      const outcome = view.apply(event.message, event.channel);
      if (onMessage) onMessage(event, outcome);
      if (outcome.changed) changed();
    },
  };
  pubnub.addListener(listener);
  const connected = new Promise((resolve) => {
    const status = { status: (s) => { if (s.category === 'PNConnectedCategory') { pubnub.removeListener(status); resolve(); } } };
    pubnub.addListener(status);
  });
  // The presence shard is what makes this user online; without it the user only watches.
  const channels = online ? plan.channels : plan.channels.filter((c) => c !== plan.presenceChannel);
  pubnub.subscribe({ channels, channelGroups: plan.groups });
  await connected;

  // Token refresh: the hook returns a new token (e.g. from the auth service) and when to ask again.
  let refreshTimer;
  if (refreshToken) {
    const schedule = (ms) => { refreshTimer = setTimeout(refresh, Math.max(1000, ms)); };
    const refresh = async () => {
      if (closed) return;
      try {
        const { token, refreshInMs } = await refreshToken();
        pubnub.setToken(token);
        schedule(refreshInMs ?? 30 * 60 * 1000);
      } catch {
        schedule(10_000); // the old token may still be valid: try again soon
      }
    };
    schedule(options.firstRefreshInMs ?? 30 * 60 * 1000);
  }

  /** Publishes `{channel, message}` until its friend.command.result arrives. */
  async function send(command) {
    if (command.error) throw new Error(`friends-presence: ${command.error}`);
    // The view acts on the answer (lists, settings) once it knows what was asked.
    view.track(command.message);
    const id = command.message.eventId;
    for (let attempt = 0; attempt < attempts && !closed; attempt++) {
      await pubnub.publish({ channel: command.channel, message: command.message });
      const end = Date.now() + answerTimeoutMs;
      while (Date.now() < end && !closed) {
        const result = view.commandResult(id);
        if (result) return result;
        await untilChanged(end - Date.now());
      }
    }
    throw new Error(`friends-presence: no answer to ${command.message.type} ${id} after ${attempts} attempts`);
  }

  /** The initial load: pages are asked for in batches until every friend is in the view. */
  async function load() {
    view.beginSync();
    let tries = 0;
    while (view.syncing && !closed) {
      const message = view.syncRequest(view.syncNext() ?? null, Date.now(), nonce());
      await pubnub.publish({ channel: `friend-management.${userId}`, message });
      const end = Date.now() + answerTimeoutMs;
      while (view.syncAwaiting && Date.now() < end && !closed) await untilChanged(end - Date.now());
      if (view.syncAwaiting && ++tries >= attempts) throw new Error('friends-presence: the initial load got no answer');
      if (!view.syncAwaiting) tries = 0;
    }
  }
  await load();

  regroup(); // a load that changed nothing (no friends) still told the count

  return {
    view,
    get plan() {
      return plan;
    },
    send,
    reload: load,
    request: (to) => send(friendRequest(userId, to, Date.now(), nonce())),
    accept: (from) => send(acceptRequest(from, userId, Date.now(), nonce())),
    decline: (from) => send(declineRequest(from, userId, Date.now(), nonce())),
    cancel: (to) => send(cancelRequest(userId, to, Date.now(), nonce())),
    remove: (friend) => send(removeFriend(userId, friend, Date.now(), nonce())),
    block: (user) => send(blockUser(userId, user, Date.now(), nonce())),
    unblock: (user) => send(unblockUser(userId, user, Date.now(), nonce())),
    settings: (settings) => send(userSettings(userId, settings, Date.now(), nonce())),
    close() {
      closed = true;
      clearTimeout(refreshTimer);
      for (const w of [...waiters]) w();
      pubnub.removeListener(listener);
      pubnub.unsubscribe({ channels, channelGroups: plan.groups });
    },
  };
}
