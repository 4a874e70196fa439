// The demo page: the real PubNub browser SDK (global `PubNub`) for transport, the Rust client
// core (pkg/web) for every decision about what the page shows, and its connectFriends for the
// subscribe plan, the initial load, commands re-sent until the Functions answer them and the
// token refresh. Sign-in, sign-up and the profile go through the auth service (/auth/).
import init, { connectFriends, subscribePlan } from '/pkg/web/index.js';

const SUB_KEY = 'sub-c-local';
const PUB_KEY = 'pub-c-local';
const SHOWN = 1000; // friends rendered at once; the filter finds the rest
const RESULTS = 6; // command results listed
const $ = (id) => document.getElementById(id);

const params = new URLSearchParams(location.search);
const userId = params.get('user') || localStorage.getItem('friends-presence.user') || 'user-0001';
// The auth service (js-shim/dev/auth): scripts/dev serves it on this origin under /auth/.
const AUTH = params.get('auth') || '/auth';
// What this browser remembers between visits (the Functions are the truth once they answer).
const stored = {
  get: (key) => JSON.parse(localStorage.getItem(`friends-presence.${key}`) ?? 'null'),
  set: (key, value) => localStorage.setItem(`friends-presence.${key}`, JSON.stringify(value)),
};

let view, conn, pubnub, session;
const busy = new Set(); // `${command} ${user}` in flight: their buttons are disabled
const results = []; // {text, ok, command}, newest first
let confirming = null; // the friend whose removal waits for a confirmation

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

/** A friend's picture (App Context profileUrl), only for http(s) URLs; none: nothing. */
function avatar(url) {
  return /^https?:\/\//.test(url ?? '') ? `<img class="avatar" src="${escape(url)}" alt="" referrerpolicy="no-referrer" onerror="this.remove()">` : '';
}

const clock = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const number = (n) => Math.round(n).toLocaleString('en-US');
const disabled = (command, user) => (busy.has(`${command} ${user}`) ? 'disabled' : '');

// ------------------------------------------------------------------ rendering

let frame = 0;
let rendered = -1;
function render(force = false) {
  if (frame || !view) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (!force && rendered === view.version) return;
    rendered = view.version;
    renderFriends();
    renderRequests();
    renderBlocked();
    renderResults();
    renderCount();
  });
}

function renderFriends() {
  const needle = $('filter').value.trim().toLowerCase();
  const all = view.friends();
  const list = needle ? all.filter((f) => (f.name ?? f.userId).toLowerCase().includes(needle) || f.userId.includes(needle)) : all;
  $('friends').innerHTML = list
    .slice(0, SHOWN)
    .map((f) => {
      const id = escape(f.userId);
      const actions =
        confirming === f.userId
          ? `<span class="confirm">Remove ${escape(f.name ?? f.userId)}?
              <button class="danger" data-remove-yes="${id}">Remove</button>
              <button class="secondary" data-remove-no="${id}">Keep</button></span>`
          : `<button class="danger" data-remove="${id}" ${disabled('remove', f.userId)} title="Remove friend">Remove</button>
             <button class="secondary" data-block="${id}" ${disabled('block', f.userId)} title="Block: ends the friendship, their requests no longer reach you">Block</button>`;
      return `<li class="friend${f.online ? ' online' : ''}" data-user="${id}">
        <span class="dot" title="${f.online ? 'online' : 'offline'}"></span>${avatar(f.profileUrl)}
        <span class="who"><span class="name">${escape(f.name ?? f.userId)}</span>
          ${f.statusMessage ? `<span class="status-message">${escape(f.statusMessage)}</span>` : ''}
          <span class="seen">${id} · ${f.online ? 'online' : f.lastSeen ? 'last seen ' + ago(f.lastSeen) : 'offline'}</span></span>
        <span class="actions">${actions}</span>
      </li>`;
    })
    .join('');
  $('friends-more').textContent = list.length > SHOWN ? `and ${list.length - SHOWN} more — filter to find them` : '';
  const totals = view.totals();
  const loading = view.syncing ? ` · loading ${view.friendCount} of ${totals.totalFriends ?? '…'}` : '';
  $('friends-summary').textContent = `${view.onlineCount} online of ${view.friendCount}${loading}`;
  document.body.dataset.synced = String(view.synced);
  if (view.synced) stored.set(`friendCount.${userId}`, view.friendCount);
}

function renderRequests() {
  $('requests').innerHTML = view
    .incoming()
    .map((r) => {
      const id = escape(r.userId);
      return `<li class="request" data-request="${id}">
        <span class="who"><span class="name">${escape(r.name ?? r.userId)}</span>
          <span class="seen">${id} · asked ${ago(r.requestedAt)}</span></span>
        <span class="actions">
          <button data-accept="${id}" ${disabled('accept', r.userId)}>Accept</button>
          <button class="secondary" data-decline="${id}" ${disabled('decline', r.userId)}>Decline</button>
          <button class="secondary" data-block="${id}" ${disabled('block', r.userId)}>Block</button>
        </span>
      </li>`;
    })
    .join('');
  $('outgoing').innerHTML = view
    .outgoing()
    .map((r) => {
      const id = escape(r.userId);
      return `<li class="outgoing" data-outgoing="${id}">
        <span class="who"><span class="name">${id}</span><span class="seen">asked ${ago(r.requestedAt)}, waiting for an answer</span></span>
        <span class="actions"><button class="secondary" data-cancel="${id}" ${disabled('cancel', r.userId)}>Cancel</button></span>
      </li>`;
    })
    .join('');
  $('incoming-title').hidden = view.incoming().length === 0;
  $('outgoing-title').hidden = view.outgoing().length === 0;
}

function renderBlocked() {
  const blocked = view.blocked();
  $('blocked').innerHTML = blocked
    .map(
      (u) => `<li class="blocked" data-blocked="${escape(u)}"><span class="who"><span class="name">${escape(u)}</span></span>
        <span class="actions"><button class="secondary" data-unblock="${escape(u)}" ${disabled('unblock', u)}>Unblock</button></span></li>`,
    )
    .join('');
  $('blocked-note').textContent = blocked.length ? '' : 'nobody blocked';
}

function renderResults() {
  $('results').innerHTML = results
    .map((r) => `<li class="result ${r.ok ? 'ok' : 'error'}" data-command="${escape(r.command)}">${r.ok ? '✓' : '✗'} ${escape(r.text)}</li>`)
    .join('');
}

function renderCount() {
  const count = view.globalCount();
  if (!count) return renderLastKnown();
  stored.set('count', { onlineCount: count.onlineCount, calculatedAt: count.calculatedAt });
  $('global-count').textContent = number(count.onlineCount);
  $('global-count').classList.remove('stale');
  const points = view.countHistory();
  const newest = points[points.length - 1].t;
  // The last ten minutes, or as much as there is so far.
  const from = Math.min(newest - 1, Math.max(newest - 10 * 60e3, points[0].t));
  // Scaled to the range seen, so a churn of a few percent is visible; the axes say the scale.
  const lo = Math.min(...points.map((p) => p.count));
  const hi = Math.max(...points.map((p) => p.count));
  const pad = Math.max(1, (hi - lo) * 0.15);
  const [bottom, top] = [Math.max(0, lo - pad), hi + pad];
  const y = (c) => (120 - ((c - bottom) / (top - bottom)) * 120).toFixed(1);
  const xy = points.map((p) => `${(((p.t - from) / (newest - from)) * 600).toFixed(1)},${y(p.count)}`);
  if (xy.length === 1) xy.unshift(`0,${y(points[0].count)}`); // one point: a flat line so far
  $('chart-line').setAttribute('points', xy.join(' '));
  $('y-top').textContent = number(top);
  $('y-mid').textContent = number((top + bottom) / 2);
  $('y-bottom').textContent = number(bottom);
  $('x-from').textContent = clock(from);
  $('x-mid').textContent = clock((from + newest) / 2);
  $('x-to').textContent = clock(newest);
  const peak = count.peakToday != null ? ` · peak today ${number(count.peakToday)}` : '';
  $('count-note').textContent = `online users over time · updated ${ago(count.calculatedAt)}${peak}`;
}

/** Until the first status.count (every 10 s) arrives: the last count this browser saw, marked so. */
function renderLastKnown() {
  const last = stored.get('count');
  if (!last || $('global-count').classList.contains('stale')) return;
  $('global-count').textContent = number(last.onlineCount);
  $('global-count').classList.add('stale');
  $('count-note').textContent = `last known, at ${new Date(last.calculatedAt).toLocaleString('en-GB')} · waiting for the next status.count`;
}

// ------------------------------------------------------------------ commands out

/**
 * Sends a command through the connection (re-sent until answered) and lists its answer:
 * `what` says what was asked, `key` (command + user) disables the buttons that would repeat it.
 */
async function run(what, key, send) {
  if (!conn) return;
  fail('');
  busy.add(key);
  render(true);
  let entry;
  try {
    const answer = await send();
    entry = { command: answer.command, ok: answer.ok, text: answer.ok ? `${what}: done` : `${what}: refused (${answer.reason})` };
    return answer;
  } catch (e) {
    entry = { command: key.split(' ')[0], ok: false, text: `${what}: ${e?.message ?? e}` };
  } finally {
    busy.delete(key);
    results.unshift(entry);
    results.length = Math.min(results.length, RESULTS);
    render(true);
  }
}

function wireUi() {
  $('user').value = userId;
  $('picker').addEventListener('submit', (e) => {
    e.preventDefault();
    const next = $('user').value.trim();
    if (next && next !== userId) location.search = `?user=${encodeURIComponent(next)}`;
  });
  // Leaving the presence shard is being offline (disconnected); "appear offline" stays connected
  // but off the shard too (connectFriends keeps an invisible user off it, whatever "Online" says).
  $('online').addEventListener('change', (e) => conn?.setOnline(e.target.checked));
  $('invisible').addEventListener('change', async (e) => {
    const invisible = e.target.checked;
    const answer = await run(invisible ? 'appear offline' : 'appear online', 'user.settings invisible', () => conn.settings({ invisible }));
    if (answer?.ok) stored.set(`invisible.${userId}`, invisible);
    else e.target.checked = !invisible;
  });
  $('status-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const statusMessage = $('status-message').value.trim();
    const answer = await run(statusMessage ? `status message "${statusMessage}"` : 'status message cleared', 'user.settings message', () =>
      conn.settings({ statusMessage }),
    );
    if (answer?.ok) stored.set(`statusMessage.${userId}`, statusMessage);
  });
  $('profile-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    // Through the auth service (it holds the secret key): name and picture of the App Context record.
    const name = $('profile-name').value.trim();
    const url = $('profile-url').value.trim();
    try {
      const saved = await authCall('profile', { userId, ...(name ? { name } : {}), profileUrl: url || null });
      showProfile(saved, 'saved: friends see it on their next load');
      results.unshift({ command: 'profile', ok: true, text: `profile: saved (${saved.name})` });
    } catch (err) {
      results.unshift({ command: 'profile', ok: false, text: `profile: ${err.message}` });
    }
    results.length = Math.min(results.length, RESULTS);
    render(true);
  });
  $('filter').addEventListener('input', () => render(true));
  $('request-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const to = $('request-to').value.trim();
    if (!to) return;
    const answer = await run(`friend request to ${to}`, `request ${to}`, () => conn.request(to));
    if (answer?.ok) $('request-to').value = '';
  });
  $('block-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const who = $('block-id').value.trim();
    if (!who) return;
    const answer = await run(`block ${who}`, `block ${who}`, () => conn.block(who));
    if (answer?.ok) $('block-id').value = '';
  });
  // One handler for every list's buttons: the data attribute names the action and the user.
  document.body.addEventListener('click', (e) => {
    const d = e.target.dataset ?? {};
    if (d.accept) run(`accept ${d.accept}`, `accept ${d.accept}`, () => conn.accept(d.accept));
    else if (d.decline) run(`decline ${d.decline}`, `decline ${d.decline}`, () => conn.decline(d.decline));
    else if (d.cancel) run(`cancel the request to ${d.cancel}`, `cancel ${d.cancel}`, () => conn.cancel(d.cancel));
    else if (d.block) run(`block ${d.block}`, `block ${d.block}`, () => conn.block(d.block));
    else if (d.unblock) run(`unblock ${d.unblock}`, `unblock ${d.unblock}`, () => conn.unblock(d.unblock));
    else if (d.remove) (confirming = d.remove), render(true);
    else if (d.removeNo) (confirming = null), render(true);
    else if (d.removeYes) {
      confirming = null;
      run(`remove ${d.removeYes}`, `remove ${d.removeYes}`, () => conn.remove(d.removeYes));
    }
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

/**
 * Sign in: the token for this user's plan. scripts/dev's auth service is in development mode
 * (any id signs in); a first sign-in signs the user up (its App Context record, named after the
 * id until the profile says otherwise). No auth service (404) means Access Manager is off.
 */
async function signIn() {
  try {
    return await authCall('login', { userId });
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

/** Refresh at 80% of the token's life (the auth service says when it ends). */
const refreshIn = (s) => Math.max(1000, (s.expiresAt - Date.now()) * 0.8);

/** connectFriends' refresh hook: refresh tokens are single-use, so the new one replaces the old; a refused one (revoked, expired) signs in again. */
async function refreshSession() {
  session = await authCall('refresh', { refreshToken: session.refreshToken }).catch((e) => (e.status === 401 ? signIn() : Promise.reject(e)));
  return { token: session.token, refreshInMs: refreshIn(session) };
}

function showProfile(profile, note) {
  if (!profile) return;
  $('profile-name').value = profile.name ?? '';
  $('profile-url').value = profile.profileUrl ?? '';
  $('profile-note').textContent = note;
}

/** What the connection reports: a refused token is replaced by a new sign-in; the rest is shown. */
async function onStatus(event) {
  if (event.type === 'resumed') return fail('');
  if (event.type === 'refresh_failed' && !event.final) return;
  fail(`${event.type.replace('_', ' ')}: ${event.error?.message ?? ''}`);
  if (event.type === 'access_denied' && session) {
    try {
      const next = await signIn();
      if (next) (session = next), conn?.setToken(next.token);
    } catch (e) {
      fail(`sign-in failed: ${e.message}`);
    }
  }
}

// ------------------------------------------------------------------ start

async function main() {
  renderLastKnown(); // before anything is loaded: the last count this browser saw
  await init();
  // Clients and Functions must agree on the shard count: the deployment's (deploy/config.json).
  const { shardCount } = await fetch('/deploy/config.json').then((r) => r.json()).catch(() => ({}));
  const checked = subscribePlan(userId, { shardCount });
  if (checked.error) return fail(`cannot sign in as ${JSON.stringify(userId)}: ${checked.error}`);
  localStorage.setItem('friends-presence.user', userId);
  document.title = `${userId} · friends-presence`;
  $('invisible').checked = stored.get(`invisible.${userId}`) === true;
  $('status-message').value = stored.get(`statusMessage.${userId}`) ?? '';
  session = await signIn();
  showProfile(session?.profile, session?.signedUp ? `welcome: signed up as ${userId}` : '');
  // The sign-in says whether this user is invisible (set on another device too).
  if (typeof session?.invisible === 'boolean') $('invisible').checked = session.invisible;

  pubnub = new PubNub({
    publishKey: PUB_KEY,
    subscribeKey: SUB_KEY,
    userId,
    origin: location.host,
    ssl: location.protocol === 'https:',
    presenceTimeout: 20, // closing the tab makes you offline within seconds, not minutes
  });
  if (session) pubnub.setToken(session.token);
  pubnub.addListener({
    status: (s) => {
      // A re-plan of the friends groups changes the subscription; the line shows the connection.
      // (After a gap connectFriends loads the friends again itself.)
      if (s.category !== 'PNSubscriptionChangedCategory') $('conn').textContent = `${userId} · ${s.category.replace(/^PN|Category$/g, '')}`;
    },
  });
  addEventListener('pagehide', () => pubnub.unsubscribeAll());
  wireUi();
  fillPicker();
  // Subscribed before loading (connectFriends does both): the pages come on the inbox, and
  // nothing between the snapshot and the live stream is missed (the core drops what is stale).
  conn = await connectFriends({
    pubnub,
    userId,
    shardCount,
    // Last visit's count: the first subscribe names only the groups in use.
    friendCount: stored.get(`friendCount.${userId}`) ?? undefined,
    online: $('online').checked,
    // Invisible last time on this browser: never on the shard, not even until the switch is read.
    invisible: $('invisible').checked,
    ...(session ? { refreshToken: refreshSession, firstRefreshInMs: refreshIn(session) } : {}),
    onStatus,
    onChange: (v) => {
      view = v;
      window.demo = { view, conn }; // for the console (conn: once connected)
      render();
    },
  });
  conn.setOnline($('online').checked); // switched while connecting
  view = conn.view;
  window.demo = { view, conn };
  render(true);
}

main().catch((e) => fail(String(e?.message ?? e)));
