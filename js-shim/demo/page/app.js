// The demo page: the real PubNub browser SDK (global `PubNub`) for transport, the Rust client
// core (pkg/web) for every decision about what the friends list shows.
import init, { FriendsView, subscribePlan, friendRequest, acceptRequest, declineRequest, removeFriend } from '/pkg/web/index.js';

const SUB_KEY = 'sub-c-local';
const PUB_KEY = 'pub-c-local';
const SHOWN = 1000; // friends rendered at once; the filter finds the rest
const $ = (id) => document.getElementById(id);

const params = new URLSearchParams(location.search);
const userId = params.get('user') || localStorage.getItem('friends-presence.user') || 'user-0001';
// The auth service (js-shim/auth): scripts/dev serves it on this origin under /auth/.
const AUTH = params.get('auth') || '/auth';

let view, plan, pubnub;
const pending = new Set(); // requests answered here, waiting for the Function's outcome

function fail(text) {
  $('error').textContent = text;
}

function escape(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function ago(iso) {
  if (!iso) return 'never seen';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// ------------------------------------------------------------------ rendering

let frame = 0;
let rendered = -1;
function render(force = false) {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (!force && rendered === view.version) return;
    rendered = view.version;
    renderFriends();
    renderRequests();
    renderCount();
  });
}

function renderFriends() {
  const needle = $('filter').value.trim().toLowerCase();
  const all = view.friends();
  const list = needle ? all.filter((f) => (f.name ?? f.userId).toLowerCase().includes(needle) || f.userId.includes(needle)) : all;
  $('friends').innerHTML = list
    .slice(0, SHOWN)
    .map(
      (f) => `<li class="friend${f.online ? ' online' : ''}" data-user="${escape(f.userId)}">
        <span class="dot" title="${f.online ? 'online' : 'offline'}"></span>
        <span class="who"><span class="name">${escape(f.name ?? f.userId)}</span>
          <span class="seen">${escape(f.userId)} · ${f.online ? 'online' : f.lastSeen ? 'last seen ' + ago(f.lastSeen) : 'offline'}</span></span>
        <button class="danger" data-remove="${escape(f.userId)}" title="Remove friend">Remove</button>
      </li>`,
    )
    .join('');
  $('friends-more').textContent = list.length > SHOWN ? `and ${list.length - SHOWN} more — filter to find them` : '';
  const totals = view.totals();
  const loading = view.syncing ? ` · loading ${view.friendCount} of ${totals.totalFriends ?? '…'}` : '';
  $('friends-summary').textContent = `${view.onlineCount} online of ${view.friendCount}${loading}`;
  document.body.dataset.synced = String(view.synced);
}

function renderRequests() {
  $('requests').innerHTML = view
    .requests()
    .map(
      (r) => `<li class="request" data-request="${escape(r.userId)}">
        <span class="who"><span class="name">${escape(r.name ?? r.userId)}</span>
          <span class="seen">${escape(r.userId)} · asked ${ago(r.requestedAt)}</span></span>
        <button data-accept="${escape(r.userId)}" ${pending.has(r.userId) ? 'disabled' : ''}>Accept</button>
        <button class="secondary" data-decline="${escape(r.userId)}">Decline</button>
      </li>`,
    )
    .join('');
}

function renderCount() {
  const count = view.globalCount();
  if (!count) return;
  $('global-count').textContent = count.onlineCount.toLocaleString('en-US');
  const points = view.countHistory();
  const newest = points.length ? points[points.length - 1].t : Date.now();
  // The last ten minutes, or as much as there is so far.
  const from = Math.min(newest - 1, Math.max(newest - 10 * 60e3, points.length ? points[0].t : newest));
  // Scale to the range seen, so a churn of a few percent is visible.
  const lo = Math.min(...points.map((p) => p.count));
  const hi = Math.max(...points.map((p) => p.count));
  const pad = Math.max(1, (hi - lo) * 0.15);
  const y = (c) => (114 - ((c - lo + pad) / (hi - lo + 2 * pad)) * 108).toFixed(1);
  const xy = points.map((p) => `${(((p.t - from) / (newest - from)) * 600).toFixed(1)},${y(p.count)}`);
  if (xy.length === 1) xy.unshift(`0,${y(points[0].count)}`); // one point: a flat line so far
  $('chart-line').setAttribute('points', xy.join(' '));
  const peak = count.peakToday != null ? ` · peak today ${count.peakToday.toLocaleString('en-US')}` : '';
  const span = Math.max(1, Math.round((newest - points[0].t) / 60e3));
  $('count-note').textContent = `last ${span} min: ${lo.toLocaleString('en-US')}–${hi.toLocaleString('en-US')} · updated ${ago(count.calculatedAt)}${peak}`;
}

// ------------------------------------------------------------------ messages in

function apply(message, channel) {
  const out = view.apply(message, channel);
  if (out.outcome === 'rejected') console.warn('message refused:', out.reason, message);
  if (out.changed) render();
  return out;
}

let loading = null;
/**
 * The initial load: the friend-removal Function answers each `friends.sync.request` published on
 * `friend-management.{me}` with one page (online friends first) on the private inbox, where the
 * listener applies it. A page that does not come within 5 s is asked for again.
 */
function loadFriends() {
  loading ??= (async () => {
    view.beginSync();
    for (let tries = 0; view.syncing; ) {
      const request = view.syncRequest(view.syncNext(), Date.now(), Math.floor(Math.random() * 1e9));
      await pubnub.publish({ channel: `friend-management.${userId}`, message: request });
      if (await until(() => !view.syncAwaiting, 5000)) tries = 0;
      else if (++tries >= 5) throw new Error('friends.sync: no answer from the friend-removal Function');
    }
    render(true);
  })().finally(() => (loading = null));
  return loading;
}

function until(check, ms) {
  return new Promise((resolve) => {
    const end = Date.now() + ms;
    const poll = () => (check() ? resolve(true) : Date.now() > end ? resolve(false) : setTimeout(poll, 20));
    poll();
  });
}

// ------------------------------------------------------------------ commands out

/** Publishes a command the client core built (`{channel, message}`; `{error}` for a bad id). */
function command(built) {
  if (built.error) throw new Error(built.error);
  return pubnub.publish({ channel: built.channel, message: built.message });
}
const nonce = () => Math.random().toString(36).slice(2, 10);

async function act(what, run) {
  try {
    fail('');
    await run();
  } catch (e) {
    fail(`${what} failed: ${e?.status?.errorData?.message ?? e?.message ?? e}`);
  }
}

function wireUi() {
  $('user').value = userId;
  $('picker').addEventListener('submit', (e) => {
    e.preventDefault();
    const next = $('user').value.trim();
    if (next && next !== userId) location.search = `?user=${encodeURIComponent(next)}`;
  });
  $('online').addEventListener('change', (e) => {
    if (e.target.checked) pubnub.subscribe({ channels: [plan.presenceChannel] });
    else pubnub.unsubscribe({ channels: [plan.presenceChannel] });
  });
  $('filter').addEventListener('input', () => render(true));
  $('request-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const to = $('request-to').value.trim();
    if (!to) return;
    act('friend request', async () => {
      await command(friendRequest(userId, to, Date.now(), nonce()));
      $('request-to').value = '';
      $('request-note').textContent = `request sent to ${to}`;
    });
  });
  $('requests').addEventListener('click', (e) => {
    const accept = e.target.dataset?.accept;
    const decline = e.target.dataset?.decline;
    if (accept) {
      pending.add(accept);
      render(true);
      // The friend appears when friend.added arrives on the inbox.
      act('accept', () => command(acceptRequest(accept, userId, Date.now(), nonce())));
    } else if (decline) {
      act('decline', async () => {
        await command(declineRequest(decline, userId, Date.now(), nonce()));
        view.dismissRequest(decline);
        render();
      });
    }
  });
  $('friends').addEventListener('click', (e) => {
    const friend = e.target.dataset?.remove;
    if (friend) act('remove', () => command(removeFriend(userId, friend, Date.now(), nonce())));
  });
  setInterval(() => render(true), 30e3); // "last seen" ages
}

async function fillPicker() {
  // Listing every user needs the secret key when Access Manager is on: then the picker stays empty.
  try {
    const res = await pubnub.objects.getAllUUIDMetadata({ limit: 100, include: { customFields: true } });
    $('users').innerHTML = res.data
      .map((u) => `<option value="${escape(u.id)}">${escape(u.name ?? '')}${u.custom?.online ? ' (online)' : ''}</option>`)
      .join('');
  } catch {
    // the picker is a convenience; any id can be typed
  }
}

// ------------------------------------------------------------------ sign-in (Access Manager token)

async function authCall(what, body) {
  const res = await fetch(`${AUTH}/${what}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const out = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(`${what}: ${out.error ?? res.status}`), { status: res.status });
  return out;
}

/** Log in: the token for this user's plan. No auth service (404) means Access Manager is off. */
async function signIn() {
  try {
    return await authCall('login', { userId });
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

/** Swap in a new token at 80% of the current one's life; sign in again if the refresh is refused. */
function keepFresh(session) {
  setTimeout(async () => {
    try {
      const next = await authCall('refresh', { refreshToken: session.refreshToken }).catch((e) => (e.status === 401 ? signIn() : Promise.reject(e)));
      pubnub.setToken(next.token);
      keepFresh(next);
    } catch (e) {
      fail(`token refresh failed: ${e.message}`);
      setTimeout(() => keepFresh(session), 30e3);
    }
  }, session.ttl * 60e3 * 0.8);
}

// ------------------------------------------------------------------ start

async function main() {
  await init();
  // Clients and Functions must agree on the shard count: the deployment's (deploy/config.json).
  const { shardCount } = await fetch('/deploy/config.json').then((r) => r.json()).catch(() => ({}));
  const made = FriendsView.create(userId, { shardCount });
  if (made.error) return fail(`cannot sign in as ${JSON.stringify(userId)}: ${made.error}`);
  view = made.view;
  plan = subscribePlan(userId, { shardCount });
  localStorage.setItem('friends-presence.user', userId);
  document.title = `${userId} · friends-presence`;
  window.demo = { view, plan }; // for the console
  const session = await signIn();

  pubnub = new PubNub({
    publishKey: PUB_KEY,
    subscribeKey: SUB_KEY,
    userId,
    origin: location.host,
    ssl: location.protocol === 'https:',
    presenceTimeout: 20, // closing the tab makes you offline within seconds, not minutes
  });
  if (session) {
    pubnub.setToken(session.token);
    keepFresh(session);
  }
  pubnub.addListener({
    message: (e) => apply(e.message, e.channel),
    status: (s) => {
      $('conn').textContent = `${userId} · ${s.category.replace(/^PN|Category$/g, '')}`;
      // After a gap, load again: the core drops what is stale and dedupes the rest.
      if (s.category === 'PNReconnectedCategory') loadFriends().catch((e) => fail(e.message));
    },
  });
  wireUi();
  const channels = plan.channels.filter((c) => $('online').checked || c !== plan.presenceChannel);
  // Subscribed before loading: the pages come on the inbox, and nothing between the snapshot
  // and the live stream is missed (the core drops what is stale).
  const connected = new Promise((resolve) => pubnub.addListener({ status: (s) => s.category === 'PNConnectedCategory' && resolve() }));
  pubnub.subscribe({ channels, channelGroups: plan.groups });
  addEventListener('pagehide', () => pubnub.unsubscribeAll());
  fillPicker();
  render(true);
  try {
    await connected;
    await loadFriends();
  } catch (e) {
    fail(e.message);
  }
}

main().catch((e) => fail(String(e?.message ?? e)));
