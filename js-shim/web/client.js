// connectFriends: wires a `pubnub` instance to a FriendsView — the subscribe plan (its friends
// groups follow the friend count), the listener, the initial load (online friends first),
// commands re-sent until the Functions answer them, and the token: refreshed through the app's
// hook, and a refused one reported (never hanging, never failing silently). Copied into pkg/web by
// scripts/build-web.mjs; works in browsers and in Node with the `pubnub` SDK (v10, v11, v12).
// docs/client.md says how an app uses it.
import {
  FriendsView, subscribePlan, friendRequest, acceptRequest, declineRequest, cancelRequest, removeFriend, blockUser, unblockUser, userSettings,
} from './friends_presence.js';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nonce = () => Math.floor(Math.random() * 1e12);

/**
 * Why something failed, as a `code` an app can switch on: `access_denied` (Access Manager
 * refused the token: missing, expired, revoked, or not this user's), `network` (PubNub could not
 * be reached or answered with an error), `timeout` (no connection in time), `no_answer` (a
 * command or sync page got no answer after every attempt), `invalid` (a command the core
 * refused to build), `refresh_failed` (the app's refreshToken hook failed), `closed`.
 */
export class FriendsError extends Error {
  constructor(code, message, { statusCode = null, cause } = {}) {
    super(`friends-presence: ${message}`, cause === undefined ? undefined : { cause });
    this.name = 'FriendsError';
    this.code = code;
    this.statusCode = statusCode;
  }
}

// SDK v10 reports a refused subscribe as its category; v11 and v12 (event engine) as the
// `error` of PNConnectionErrorCategory (connecting) or PNDisconnectedUnexpectedlyCategory (later).
const FAILED = new Set([
  'PNAccessDeniedCategory', 'PNNetworkIssuesCategory', 'PNNetworkDownCategory', 'PNTimeoutCategory', 'PNConnectionErrorCategory',
  'PNDisconnectedUnexpectedlyCategory', 'PNBadRequestCategory', 'PNMalformedResponseCategory', 'PNServerErrorCategory', 'PNUnknownCategory',
]);

/** A failed subscribe status → FriendsError, or null for any other status. */
function subscribeFailure(s) {
  // v10 also reports failed heartbeats (and other operations) here; only the subscribe matters.
  if (s.operation && s.operation !== 'PNSubscribeOperation') return null;
  const reason = typeof s.error === 'string' ? s.error : s.category;
  if (!FAILED.has(s.category) && !FAILED.has(reason)) return null;
  const statusCode = typeof s.statusCode === 'number' && s.statusCode > 0 ? s.statusCode : null;
  if (reason === 'PNAccessDeniedCategory' || statusCode === 403)
    return new FriendsError('access_denied', 'the subscribe was refused (403): the token is missing, expired, revoked or not for this user', { statusCode: 403 });
  return new FriendsError('network', `the subscribe failed (${reason.replace(/^PN|Category$/g, '')}${statusCode ? `, ${statusCode}` : ''})`, { statusCode });
}

/** A rejected publish → FriendsError. */
function publishFailure(e, what) {
  if (e instanceof FriendsError) return e;
  const statusCode = e?.status?.statusCode || null;
  if (statusCode === 403 || e?.status?.category === 'PNAccessDeniedCategory')
    return new FriendsError('access_denied', `${what} was refused (403): the token is missing, expired, revoked or not for this user`, { statusCode: 403, cause: e });
  return new FriendsError('network', `${what} could not be published (${statusCode ?? e?.status?.category ?? e?.message ?? e})`, { statusCode, cause: e });
}

/**
 * @param {object} options see index.d.ts (`ConnectOptions`)
 * @returns {Promise<import('./index.js').FriendsConnection>}
 */
export async function connectFriends(options) {
  const {
    pubnub, userId, shardCount, friendCount, online = true, invisible = false, onChange, onMessage, onStatus, refreshToken,
    answerTimeoutMs = 5000, attempts = 5, connectTimeoutMs = 10_000, refreshAttempts = 5, refreshRetryMs = 10_000,
    syncPagesInFlight = 50,
  } = options;
  const created = FriendsView.create(userId, { shardCount });
  if (created.error) throw new FriendsError('invalid', created.error);
  const view = created.view;
  let plan = subscribePlan(userId, { shardCount, friendCount });
  let closed = false;
  // The initial load: when a friends.sync last arrived, and a publish failure that ends it.
  let lastSyncAt = 0, loadFailure = null;
  // 'connecting' → 'live'; 'token_refused' or 'disconnected' until the SDK connects again.
  let state = 'connecting';
  let connecting = null; // {resolve, reject} while the first subscribe is pending
  let refreshTimer;
  const waiters = new Set(); // resolved on every change of the view
  const report = (event) => {
    if (!onStatus) return;
    try {
      onStatus(event);
    } catch {
      // the app's handler must not break the connection
    }
  };
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
    // Not from inside the SDK's listener: its subscribe loop, after the listeners, can re-send
    // the request it had (shard included), which would join the shard again after our leave.
    setTimeout(place, 0);
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
      const sync = event.message?.type === 'friends.sync';
      if (sync) lastSyncAt = Date.now();
      const outcome = view.apply(event.message, event.channel);
      if (onMessage) onMessage(event, outcome);
      if (outcome.changed) changed();
      // Even a page that changed nothing may end a request: the load asks for what is next.
      else if (sync) for (const w of [...waiters]) w();
    },
    status: (s) => {
      if (closed) return;
      if (s.category === 'PNConnectedCategory' || s.category === 'PNReconnectedCategory') {
        if (connecting) return connecting.resolve();
        const gap = state !== 'live' || s.category === 'PNReconnectedCategory';
        state = 'live';
        if (gap) {
          report({ type: 'resumed' });
          // What was published during the gap: load again (the view drops what is stale).
          load().catch((error) => report({ type: 'reload_failed', error: publishFailure(error, 'the reload') }));
        }
        return;
      }
      const error = subscribeFailure(s);
      if (!error) return;
      if (connecting) return connecting.reject(error);
      if (state === 'token_refused') return; // told once; the SDK may say it again until setToken
      state = error.code === 'access_denied' ? 'token_refused' : 'disconnected';
      report({ type: state === 'token_refused' ? 'access_denied' : 'disconnected', error });
    },
  };
  // The presence shard is what makes this user online; without it the user only watches. A
  // shard's hereNow is open to every user of the shard, so an invisible user is never on it:
  // present = wanted online and not invisible (the app's `invisible`, then what the answers to
  // this user's own user.settings confirmed, as the view keeps them).
  let wantOnline = online;
  let hidden = invisible === true;
  let onShard = wantOnline && !hidden;
  const channels = () => (onShard ? plan.channels : plan.channels.filter((c) => c !== plan.presenceChannel));
  /** Joins or leaves the shard when being there changed; not before the first subscribe connected. */
  function place() {
    const known = view.settings().invisible;
    if (typeof known === 'boolean') hidden = known;
    const want = wantOnline && !hidden;
    if (closed || connecting || want === onShard) return;
    onShard = want;
    if (want) pubnub.subscribe({ channels: [plan.presenceChannel] });
    else {
      pubnub.unsubscribe({ channels: [plan.presenceChannel] }); // a leave: gone from hereNow at once
      if (hidden) confirmLeft(0);
    }
  }
  /**
   * A subscribe request already on its way when the SDK left (or retried, or reordered on
   * another connection) joins the shard again after the leave. So, for an invisible user, a
   * second later presence is asked (whereNow of one's own id needs no grant) and, while it
   * still lists the shard, left again (a leave is only sent for a subscribed channel: subscribe,
   * then unsubscribe), up to 3 times.
   */
  function confirmLeft(attempt) {
    if (attempt >= 3 || typeof pubnub.whereNow !== 'function') return;
    setTimeout(async () => {
      if (closed || onShard || !hidden) return;
      let listed;
      try {
        listed = (await pubnub.whereNow({ uuid: userId })).channels.includes(plan.presenceChannel);
      } catch {
        return; // unknown: the next change of the connection decides again
      }
      if (!listed || closed || onShard || !hidden) return;
      pubnub.subscribe({ channels: [plan.presenceChannel] });
      setTimeout(() => {
        if (onShard) return; // joined meanwhile: it stays
        pubnub.unsubscribe({ channels: [plan.presenceChannel] }); // also after close(): it was subscribed here
        if (!closed) confirmLeft(attempt + 1);
      }, 0);
    }, 1000);
  }
  const stop = () => {
    closed = true;
    clearTimeout(refreshTimer);
    for (const w of [...waiters]) w();
    pubnub.removeListener(listener);
    pubnub.unsubscribe({ channels: channels(), channelGroups: plan.groups });
  };
  /**
   * Subscribes again (after a refused token or a lost connection). SDK v11 and v12 stop their
   * subscribe loop and restart it only through reconnect(); v10 restarts it with a subscribe
   * (its reconnect() does not, after a 403). Each is harmless to the other.
   */
  const resume = () => {
    if (closed) return;
    if (typeof pubnub.reconnect === 'function') pubnub.reconnect();
    pubnub.subscribe({ channels: channels(), channelGroups: plan.groups });
  };
  const setToken = (token) => {
    if (typeof token !== 'string' || !token) throw new FriendsError('invalid', 'setToken needs the token as a non-empty string');
    pubnub.setToken(token);
    if (state === 'token_refused' || state === 'disconnected') resume();
  };

  pubnub.addListener(listener);
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new FriendsError('timeout', `not connected after ${connectTimeoutMs} ms (PubNub unreachable, or the SDK still retrying)`)),
        connectTimeoutMs,
      );
      connecting = {
        resolve: () => { clearTimeout(timer); resolve(); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      pubnub.subscribe({ channels: channels(), channelGroups: plan.groups });
    });
    connecting = null;
    state = 'live';
    await load();
  } catch (e) {
    connecting = null;
    stop(); // nothing stays subscribed or listening after a failed connect
    throw e;
  }
  regroup(); // a load that changed nothing (no friends) still told the count
  place(); // what the load (or the app, meanwhile) changed about being on the shard

  // Token refresh: the hook returns a new token (e.g. from the auth service) and when to ask
  // again. A failure is retried `refreshAttempts` times in a row, each reported, then given up.
  if (refreshToken) {
    let failures = 0;
    const schedule = (ms) => { refreshTimer = setTimeout(refresh, Math.max(500, ms)); };
    const refresh = async () => {
      if (closed) return;
      let next;
      try {
        next = await refreshToken();
        if (closed) return;
        setToken(next?.token);
      } catch (cause) {
        if (closed) return;
        failures += 1;
        const final = failures >= refreshAttempts;
        const error = new FriendsError('refresh_failed', `token refresh ${failures}/${refreshAttempts} failed: ${cause?.message ?? cause}`, { cause });
        report({ type: 'refresh_failed', error, final });
        if (!final) schedule(refreshRetryMs); // the current token may still be valid for a while
        return;
      }
      failures = 0;
      schedule(next.refreshInMs ?? 30 * 60 * 1000);
    };
    schedule(options.firstRefreshInMs ?? 30 * 60 * 1000);
  }

  /** Publishes `message` on `channel`; a refused token is reported to onStatus too. */
  async function publish(channel, message, what) {
    try {
      await pubnub.publish({ channel, message });
    } catch (e) {
      const error = publishFailure(e, what);
      if (error.code === 'access_denied' && state === 'live') report({ type: 'access_denied', error });
      throw error;
    }
  }

  /** Publishes `{channel, message}` until its friend.command.result arrives (at most `attempts` times). */
  async function send(command) {
    if (command.error) throw new FriendsError('invalid', command.error);
    if (closed) throw new FriendsError('closed', 'the connection is closed');
    // The view acts on the answer (lists, settings) once it knows what was asked.
    view.track(command.message);
    const id = command.message.eventId;
    let failure = null;
    for (let attempt = 0; attempt < attempts && !closed; attempt++) {
      try {
        await publish(command.channel, command.message, `${command.message.type} ${id}`);
        failure = null;
      } catch (e) {
        if (e.code === 'access_denied') throw e; // the same token will not do better
        failure = e; // network: the next attempt re-sends (same eventId: the Functions act once)
      }
      const end = Date.now() + answerTimeoutMs;
      while (Date.now() < end && !closed) {
        const result = view.commandResult(id);
        if (result) return result;
        if (failure) {
          await sleep(Math.min(end - Date.now(), 1000 * 2 ** attempt));
          break;
        }
        await untilChanged(end - Date.now());
      }
    }
    if (closed) throw new FriendsError('closed', `the connection closed before ${command.message.type} ${id} was answered`);
    if (failure) throw new FriendsError(failure.code, `${command.message.type} ${id} gave up after ${attempts} attempts: ${failure.message}`, { statusCode: failure.statusCode, cause: failure });
    throw new FriendsError('no_answer', `no answer to ${command.message.type} ${id} after ${attempts} attempts`);
  }

  /**
   * The initial load: the view asks for the chains of the friend list in parallel (at most
   * `syncPagesInFlight` pages asked for and not arrived, so the subscriber queue never
   * overflows), and again for a page that went missing or an answer that never came.
   */
  async function load() {
    view.beginSync();
    let failures = 0;
    lastSyncAt = Date.now();
    while (view.syncing && !closed) {
      if (Date.now() - lastSyncAt > attempts * answerTimeoutMs)
        throw new FriendsError('no_answer', `the initial load got no answer after ${attempts} attempts`);
      for (const message of view.syncAsks(Date.now(), nonce(), syncPagesInFlight, answerTimeoutMs)) {
        publish(`friend-management.${userId}`, message, 'a sync request').then(() => { failures = 0; }, (e) => {
          // Unanswered, the request is asked again after answerTimeoutMs.
          if (e.code === 'access_denied' || ++failures >= attempts) loadFailure ??= e;
        });
      }
      if (loadFailure) {
        const failure = loadFailure;
        loadFailure = null;
        throw failure.code === 'access_denied' ? failure
          : new FriendsError(failure.code, `the initial load gave up after ${attempts} attempts: ${failure.message}`, { statusCode: failure.statusCode, cause: failure });
      }
      await untilChanged(Math.min(answerTimeoutMs, 1000));
    }
  }

  return {
    view,
    get plan() {
      return plan;
    },
    get state() {
      return closed ? 'closed' : state;
    },
    get present() {
      return !closed && onShard;
    },
    setOnline: (value) => {
      wantOnline = value === true;
      place();
    },
    send,
    reload: load,
    setToken,
    resume,
    request: (to) => send(friendRequest(userId, to, Date.now(), nonce())),
    accept: (from) => send(acceptRequest(from, userId, Date.now(), nonce())),
    decline: (from) => send(declineRequest(from, userId, Date.now(), nonce())),
    cancel: (to) => send(cancelRequest(userId, to, Date.now(), nonce())),
    remove: (friend) => send(removeFriend(userId, friend, Date.now(), nonce())),
    block: (user) => send(blockUser(userId, user, Date.now(), nonce())),
    unblock: (user) => send(unblockUser(userId, user, Date.now(), nonce())),
    // Resolves once the shard was joined or left as the answer says (`present`).
    settings: async (settings) => {
      const result = await send(userSettings(userId, settings, Date.now(), nonce()));
      await sleep(0);
      place();
      return result;
    },
    close: stop,
  };
}
