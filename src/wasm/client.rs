//! The web client core for JavaScript (`pkg/web`): `subscribePlan(userId)`, the
//! `FriendsView` class over [`crate::client`], and the command builders (`friendRequest`,
//! `acceptRequest`, `declineRequest`, `cancelRequest`, `removeFriend`, `blockUser`,
//! `unblockUser`, `userSettings`, `syncRequest` → `{channel, message}`, from
//! [`crate::domain::contract`]). Nothing here throws: bad input comes back as
//! `{error}` (creation) or `{outcome: "rejected", reason}` (messages).

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::client::plan::DEFAULT_SHARD_COUNT;
use crate::client::{FriendsView, SubscribePlan};
use crate::domain::contract::{self, command_event_id, CommandKind};
use crate::domain::json::to_text;
use crate::domain::{Json, UserId};

/// Rust → JS through JSON text (the crate's own writer; no serde-wasm-bindgen in the build).
fn to_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
    to_text(value).ok().and_then(|text| js_sys::JSON::parse(&text).ok()).unwrap_or(JsValue::NULL)
}

fn field(target: &JsValue, key: &str) -> JsValue {
    if !target.is_object() {
        return JsValue::UNDEFINED;
    }
    js_sys::Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in entries {
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}

fn error(reason: &str) -> JsValue {
    object(&[("error", JsValue::from_str(reason))])
}

/// `{shardCount}` from an options object; the Functions' default otherwise.
fn shard_count(options: &JsValue) -> u32 {
    field(options, "shardCount")
        .as_f64()
        .filter(|n| *n >= 1.0 && *n <= 100_000.0 && *n == (*n as u32) as f64)
        .map_or(DEFAULT_SHARD_COUNT, |n| n as u32)
}

fn user_id(raw: &JsValue) -> Result<UserId, &'static str> {
    let s = raw.as_string().ok_or("userId must be a string")?;
    UserId::parse(&s).map_err(|e| e.reason())
}

/// A message as the SDK hands it (an object) or as text (JSON).
fn message(raw: &JsValue) -> Result<Json, &'static str> {
    let text = match raw.as_string() {
        Some(text) => text,
        // undefined, functions and symbols stringify to undefined; cycles and BigInts throw.
        None => js_sys::JSON::stringify(raw).ok().and_then(|s| s.as_string()).ok_or("message is not JSON data")?,
    };
    Json::parse(&text)
}

/// `{friendCount}` from an options object: a count, or unknown (absent or not a count).
fn friend_count(options: &JsValue) -> Option<u64> {
    field(options, "friendCount").as_f64().filter(|n| *n >= 0.0 && *n < 9.0e15 && *n == (*n as u64) as f64).map(|n| n as u64)
}

/// `subscribePlan(userId, {shardCount, friendCount})` → `{userId, shard, presenceChannel,
/// channels, groups}` or `{error}`: the groups in use by `friendCount` friends (one under
/// 2,000), all ten when the count is not given.
#[wasm_bindgen(js_name = subscribePlan)]
pub fn subscribe_plan(user: JsValue, options: JsValue) -> JsValue {
    match user_id(&user) {
        Ok(u) => to_js(&SubscribePlan::for_user_with_friends(&u, shard_count(&options), friend_count(&options))),
        Err(reason) => error(reason),
    }
}

/// A nonce as given (a string, or a number taken as an integer).
fn nonce(raw: &JsValue) -> Option<String> {
    if let Some(s) = raw.as_string() {
        return Some(s);
    }
    let n = raw.as_f64().filter(|n| n.is_finite() && *n >= 0.0 && *n < 9.0e15)?;
    let mut s = String::new();
    crate::domain::channels::push_u64(&mut s, n as u64); // `as` truncates
    Some(s)
}

/// `{channel, message}` for a client command, or `{error}` for a bad id or nonce.
fn client_command(
    kind: CommandKind,
    user_a: &JsValue,
    user_b: Option<&JsValue>,
    page: Option<&str>,
    now_ms: f64,
    nonce_raw: &JsValue,
) -> JsValue {
    let a = match user_id(user_a) {
        Ok(a) => a,
        Err(reason) => return error(reason),
    };
    let b = match user_b.map(user_id) {
        None => a.clone(),
        Some(Ok(b)) => b,
        Some(Err(reason)) => return error(reason),
    };
    if kind != CommandKind::Sync && a == b {
        return error("userA and userB are the same user");
    }
    match stamp(kind, now_ms, nonce_raw) {
        Ok((now, event_id)) => to_js(&contract::command(kind, &a, &b, page, event_id, now)),
        Err(reason) => error(reason),
    }
}

/// `n` as a count of ms (an epoch time, a nonce): 0 when it is not a positive finite number
/// below 9·10^15 (exact in both `f64` and `u64`).
fn whole_ms(n: f64) -> u64 {
    if n.is_finite() && n > 0.0 && n < 9.0e15 {
        n as u64
    } else {
        0
    }
}

/// A command's time (0 when `now_ms` is not a plausible epoch ms) and its eventId from
/// `nonce_raw`, or why the nonce cannot make one.
fn stamp(kind: CommandKind, now_ms: f64, nonce_raw: &JsValue) -> Result<(u64, String), &'static str> {
    let now = whole_ms(now_ms);
    let event_id = nonce(nonce_raw).and_then(|n| command_event_id(kind, now, &n));
    event_id.map(|id| (now, id)).ok_or("nonce must be a number or a string without ':' (the eventId is at most 128 bytes)")
}

/// `friendRequest(from, to, nowMs, nonce)` → `{channel, message}`: `from` asks `to`; `from`
/// publishes it. `nonce`: any number or string that makes the command unique.
#[wasm_bindgen(js_name = friendRequest)]
pub fn friend_request(from: JsValue, to: JsValue, now_ms: f64, nonce: JsValue) -> JsValue {
    client_command(CommandKind::Request, &from, Some(&to), None, now_ms, &nonce)
}

/// `acceptRequest(from, me, nowMs, nonce)`: `me` accepts `from`'s request; `me` publishes it.
#[wasm_bindgen(js_name = acceptRequest)]
pub fn accept_request(from: JsValue, me: JsValue, now_ms: f64, nonce: JsValue) -> JsValue {
    client_command(CommandKind::Accept, &from, Some(&me), None, now_ms, &nonce)
}

/// `declineRequest(from, me, nowMs, nonce)`: `me` declines `from`'s request; `me` publishes it.
#[wasm_bindgen(js_name = declineRequest)]
pub fn decline_request(from: JsValue, me: JsValue, now_ms: f64, nonce: JsValue) -> JsValue {
    client_command(CommandKind::Decline, &from, Some(&me), None, now_ms, &nonce)
}

/// `cancelRequest(me, to, nowMs, nonce)`: `me` withdraws its pending request to `to`.
#[wasm_bindgen(js_name = cancelRequest)]
pub fn cancel_request(me: JsValue, to: JsValue, now_ms: f64, nonce: JsValue) -> JsValue {
    client_command(CommandKind::Cancel, &me, Some(&to), None, now_ms, &nonce)
}

/// `blockUser(me, other, nowMs, nonce)`: `me` blocks `other` (a friendship ends, pending
/// requests both ways are deleted, `other`'s requests no longer reach `me`).
#[wasm_bindgen(js_name = blockUser)]
pub fn block_user(me: JsValue, other: JsValue, now_ms: f64, nonce: JsValue) -> JsValue {
    client_command(CommandKind::Block, &me, Some(&other), None, now_ms, &nonce)
}

/// `unblockUser(me, other, nowMs, nonce)`.
#[wasm_bindgen(js_name = unblockUser)]
pub fn unblock_user(me: JsValue, other: JsValue, now_ms: f64, nonce: JsValue) -> JsValue {
    client_command(CommandKind::Unblock, &me, Some(&other), None, now_ms, &nonce)
}

/// `userSettings(me, {invisible?, statusMessage?}, nowMs, nonce)`: `me`'s own settings
/// (`statusMessage` ≤ 100 characters; `null` or `""` clears it) → `{channel, message}`, or
/// `{error}` for neither field, a wrong type or a message too long.
#[wasm_bindgen(js_name = userSettings)]
pub fn user_settings(me: JsValue, settings: JsValue, now_ms: f64, nonce_raw: JsValue) -> JsValue {
    let me = match user_id(&me) {
        Ok(me) => me,
        Err(reason) => return error(reason),
    };
    let invisible = match field(&settings, "invisible") {
        v if v.is_undefined() => None,
        v => match v.as_bool() {
            Some(b) => Some(b),
            None => return error("invisible must be a boolean"),
        },
    };
    let status_message = match field(&settings, "statusMessage") {
        v if v.is_undefined() => None,
        v if v.is_null() => Some(None),
        v => match v.as_string() {
            Some(m) => Some(Some(m)),
            None => return error("statusMessage must be a string or null"),
        },
    };
    let (now, event_id) = match stamp(CommandKind::Settings, now_ms, &nonce_raw) {
        Ok(stamped) => stamped,
        Err(reason) => return error(reason),
    };
    match contract::settings_command(&me, invisible, status_message.as_ref().map(Option::as_deref), event_id, now) {
        Ok(cmd) => to_js(&cmd),
        Err(reason) => error(reason),
    }
}

/// `removeFriend(me, friend, nowMs, nonce)`: `me` ends the friendship; `me` publishes it.
#[wasm_bindgen(js_name = removeFriend)]
pub fn remove_friend(me: JsValue, friend: JsValue, now_ms: f64, nonce: JsValue) -> JsValue {
    client_command(CommandKind::Remove, &me, Some(&friend), None, now_ms, &nonce)
}

/// `syncRequest(me, page, nowMs, nonce)`: one page of `me`'s friends (`page`: the previous
/// page's `next`, `null` for the first), answered on `me`'s inbox. A `FriendsView` loading
/// its friends uses `view.syncRequest`, which also records the request it waits for.
#[wasm_bindgen(js_name = syncRequest)]
pub fn sync_request(me: JsValue, page: JsValue, now_ms: f64, nonce: JsValue) -> JsValue {
    client_command(CommandKind::Sync, &me, None, page.as_string().as_deref(), now_ms, &nonce)
}

/// One signed-in user's friends view.
#[wasm_bindgen(js_name = FriendsView)]
pub struct JsFriendsView {
    view: FriendsView,
}

#[wasm_bindgen(js_class = FriendsView)]
impl JsFriendsView {
    /// `FriendsView.create(userId, {shardCount})` → `{view}` or `{error}`.
    pub fn create(user: JsValue, options: JsValue) -> JsValue {
        match user_id(&user) {
            Ok(u) => {
                let view = JsFriendsView { view: FriendsView::with_shards(u, shard_count(&options)) };
                object(&[("view", view.into())])
            }
            Err(reason) => error(reason),
        }
    }

    #[wasm_bindgen(js_name = userId, getter)]
    pub fn user_id(&self) -> String {
        self.view.me().as_str().to_owned()
    }

    /// Bumped by every change.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> f64 {
        self.view.version() as f64
    }

    /// The plan for the friends known so far: all ten groups until a sync page tells the
    /// count, then the groups in use.
    pub fn plan(&self) -> JsValue {
        to_js(&self.view.plan())
    }

    /// `{subscribe, unsubscribe}`: the friends groups to go from `current` to `plan()`'s.
    pub fn regroup(&self, current: JsValue) -> JsValue {
        let groups: Vec<String> = match current.dyn_ref::<js_sys::Array>() {
            Some(list) => list.iter().filter_map(|g| g.as_string()).collect(),
            None => Vec::new(),
        };
        to_js(&self.view.regroup(&groups))
    }

    /// Remembers a command about to be published (a builder's `message`), so its
    /// `friend.command.result` updates the lists → `{eventId}` or `{error}`.
    pub fn track(&mut self, msg: JsValue) -> JsValue {
        match message(&msg).map_err(str::to_owned).and_then(|m| self.view.track(&m)) {
            Ok(id) => object(&[("eventId", JsValue::from_str(&id))]),
            Err(reason) => error(&reason),
        }
    }

    /// Applies a message (object or JSON text). `channel` is where it arrived (the SDK's
    /// `event.channel`); omit it for the friends-sync HTTP reply. → `{outcome, reason, changed}`
    /// with outcome `applied` | `duplicate` | `stale` | `ignored` | `rejected`.
    pub fn apply(&mut self, msg: JsValue, channel: JsValue) -> JsValue {
        let outcome = match message(&msg) {
            Ok(m) => self.view.apply(channel.as_string().as_deref(), &m),
            Err(reason) => crate::client::Outcome::Rejected(reason.to_owned()),
        };
        object(&[
            ("outcome", JsValue::from_str(outcome.name())),
            ("reason", outcome.reason().map_or(JsValue::NULL, JsValue::from_str)),
            ("changed", JsValue::from_bool(outcome.changed())),
        ])
    }

    /// Starts an initial load; publish what `syncAsks` returns until `syncing` is false.
    #[wasm_bindgen(js_name = beginSync)]
    pub fn begin_sync(&mut self) {
        self.view.begin_sync();
    }

    /// The `friends.sync.request`s to publish now on `friend-management.{userId}` (begins a
    /// load if none is in progress): one per chain of the load that waits for nothing, with at
    /// most `maxPages` pages asked for and not arrived, a request unanswered after
    /// `timeoutMs` or answered with a page missing asked again. Call it again on every applied
    /// page and now and then (timeouts). `nonce`: a random number that makes the ids unique.
    #[wasm_bindgen(js_name = syncAsks)]
    pub fn sync_asks(&mut self, now_ms: f64, nonce: f64, max_pages: f64, timeout_ms: f64) -> JsValue {
        let max_pages = whole_ms(max_pages).min(u32::MAX as u64) as u32;
        to_js(&Json::Arr(self.view.sync_asks(whole_ms(now_ms), whole_ms(nonce), max_pages, whole_ms(timeout_ms))))
    }

    #[wasm_bindgen(js_name = syncAwaiting, getter)]
    pub fn sync_awaiting(&self) -> bool {
        self.view.sync_awaiting()
    }

    #[wasm_bindgen(getter)]
    pub fn syncing(&self) -> bool {
        self.view.syncing()
    }

    #[wasm_bindgen(getter)]
    pub fn synced(&self) -> bool {
        self.view.synced()
    }

    /// `[{userId, name, profileUrl, statusMessage, online, lastSeen}]`, online first, then by name.
    pub fn friends(&self) -> JsValue {
        to_js(&self.view.ordered())
    }

    pub fn friend(&self, user: JsValue) -> JsValue {
        user.as_string().and_then(|u| self.view.friend(&u).map(to_js)).unwrap_or(JsValue::NULL)
    }

    #[wasm_bindgen(js_name = friendCount, getter)]
    pub fn friend_count(&self) -> u32 {
        self.view.friend_count() as u32
    }

    #[wasm_bindgen(js_name = onlineCount, getter)]
    pub fn online_count(&self) -> u32 {
        self.view.online_count() as u32
    }

    /// `{totalFriends, totalOnline}` as the newest sync page reported them.
    pub fn totals(&self) -> JsValue {
        let (friends, online) = self.view.sync_totals();
        let num = |n: Option<u64>| n.map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64));
        object(&[("totalFriends", num(friends)), ("totalOnline", num(online))])
    }

    /// `{onlineCount, deltaFromLast, peakToday, calculatedAt}` or `null`.
    #[wasm_bindgen(js_name = globalCount)]
    pub fn global_count(&self) -> JsValue {
        self.view.global_count().map_or(JsValue::NULL, to_js)
    }

    /// `[{t, count}]` (epoch ms), oldest first, the last ten minutes before the newest point.
    #[wasm_bindgen(js_name = countHistory)]
    pub fn count_history(&self) -> JsValue {
        to_js(&self.view.count_history().collect::<Vec<_>>())
    }

    /// How the command `eventId` ended, once answered: `{eventId, command, ok, reason}`, or
    /// `null` while no `friend.command.result` arrived (re-send the command until it does).
    #[wasm_bindgen(js_name = commandResult)]
    pub fn command_result(&self, event_id: JsValue) -> JsValue {
        event_id.as_string().and_then(|id| self.view.command_result(&id).map(to_js)).unwrap_or(JsValue::NULL)
    }

    /// Pending requests to this user: `[{userId, name, profileUrl, requestedAt, requestId}]`, oldest first.
    pub fn incoming(&self) -> JsValue {
        to_js(&self.view.incoming())
    }

    /// The same as `incoming()` (its first name).
    pub fn requests(&self) -> JsValue {
        self.incoming()
    }

    /// Pending requests this user sent: `[{userId, name, profileUrl, requestedAt, requestId}]`.
    pub fn outgoing(&self) -> JsValue {
        to_js(&self.view.outgoing())
    }

    /// The users this user blocked: `[userId]`.
    pub fn blocked(&self) -> JsValue {
        to_js(&self.view.blocked())
    }

    /// `{invisible, statusMessage}` as the answers to this user's `user.settings` confirmed
    /// them (`null`: not changed by this client).
    pub fn settings(&self) -> JsValue {
        to_js(self.view.settings())
    }

    /// Forgets an incoming request (after declining it). → whether it was listed.
    #[wasm_bindgen(js_name = dismissRequest)]
    pub fn dismiss_request(&mut self, user: JsValue) -> bool {
        user.as_string().is_some_and(|u| self.view.dismiss_request(&u))
    }
}
