//! The client core as JavaScript sees it (`pkg/web`), in Node: `cargo test --target
//! wasm32-unknown-unknown --test wasm_client` (the runner is set in .cargo/config.toml).
#![cfg(target_arch = "wasm32")]

use friends_presence::wasm::client::{
    accept_request, block_user, cancel_request, decline_request, friend_request, remove_friend, subscribe_plan, sync_request, unblock_user,
    user_settings, JsFriendsView,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

#[wasm_bindgen(inline_js = r#"
const iso = (ms) => new Date(ms).toISOString();
export function msg(type, eventId, ms, payload) {
  return { type, schemaVersion: '1.0.0', eventId, ts: iso(ms), payload };
}
export function status(type, user, ms) {
  return msg(type, `evt_${type}_${user}_${ms}`, ms, type === 'friend.offline' ? { userId: user, lastSeen: iso(ms) } : { userId: user, name: user.toUpperCase() });
}
export function syncPage(me, ms, friends, total, next) {
  return msg('friends.sync', `evt_sync_${me}_${ms}`, ms, {
    userId: me,
    friends: friends.map(([userId, online]) => ({ userId, name: 'N ' + userId, online, lastSeen: iso(ms - 60000) })),
    onlineFriends: friends.filter((f) => f[1]).map((f) => f[0]),
    totalFriends: total, totalOnline: friends.filter((f) => f[1]).length, next,
  });
}
export function head(me, ms, req, total, chains) {
  return msg('friends.sync', `evt_sync_${req}_${ms}`, ms, { userId: me, requestId: req, friends: [], onlineFriends: [], totalFriends: total, next: null, more: true, chains });
}
export function chainPage(me, ms, req, chain, seq, friends, next, more) {
  return msg('friends.sync', `evt_sync_${req}_${ms}_${chain}_${seq}`, ms, {
    userId: me, requestId: req, chain, seq, next, more,
    friends: friends.map(([userId, online]) => ({ userId, name: 'N ' + userId, online, lastSeen: iso(ms - 60000) })),
    onlineFriends: friends.filter((f) => f[1]).map((f) => f[0]),
  });
}
export function manyFriends(n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push([`f${String(i).padStart(4, '0')}`, i % 4 === 0]);
  return out;
}
export function slice(list, from, to) { return list.slice(from, to); }
export function get(o, k) { return o == null ? undefined : o[k]; }
export function json(v) { return JSON.stringify(v); }
export function cyclic() { const o = { type: 'friend.online' }; o.self = o; return o; }
export function view(created) { return created.view; }
"#)]
extern "C" {
    fn msg(kind: &str, event_id: &str, ms: f64, payload: JsValue) -> JsValue;
    fn status(kind: &str, user: &str, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = syncPage)]
    fn sync_page(me: &str, ms: f64, friends: JsValue, total: u32, next: JsValue) -> JsValue;
    fn head(me: &str, ms: f64, req: &str, total: u32, chains: JsValue) -> JsValue;
    #[wasm_bindgen(js_name = chainPage)]
    #[allow(clippy::too_many_arguments)]
    fn chain_page(me: &str, ms: f64, req: &str, chain: u32, seq: u32, friends: JsValue, next: JsValue, more: bool) -> JsValue;
    #[wasm_bindgen(js_name = manyFriends)]
    fn many_friends(n: u32) -> JsValue;
    fn slice(list: &JsValue, from: u32, to: u32) -> JsValue;
    fn get(o: &JsValue, k: &str) -> JsValue;
    fn json(v: &JsValue) -> String;
    fn cyclic() -> JsValue;
    fn view(created: &JsValue) -> JsFriendsView;
}

const T0: f64 = 1_767_225_600_000.0;

fn pairs(list: &[(&str, bool)]) -> JsValue {
    let arr = js_sys::Array::new();
    for (u, on) in list {
        let p = js_sys::Array::new();
        p.push(&JsValue::from_str(u));
        p.push(&JsValue::from_bool(*on));
        arr.push(&p);
    }
    arr.into()
}

fn make(me: &str) -> JsFriendsView {
    let created = JsFriendsView::create(JsValue::from_str(me), JsValue::UNDEFINED);
    assert!(get(&created, "error").is_undefined(), "{}", json(&created));
    view(&created)
}

fn outcome(result: &JsValue) -> String {
    get(result, "outcome").as_string().unwrap()
}

fn ids(v: &JsFriendsView) -> Vec<String> {
    let list: js_sys::Array = v.friends().dyn_into().unwrap();
    list.iter().map(|f| get(&f, "userId").as_string().unwrap()).collect()
}

#[wasm_bindgen_test]
fn plan_is_a_plain_object_or_an_error() {
    let plan = subscribe_plan(JsValue::from_str("alice"), JsValue::UNDEFINED);
    let channels: js_sys::Array = get(&plan, "channels").dyn_into().unwrap();
    let groups: js_sys::Array = get(&plan, "groups").dyn_into().unwrap();
    assert_eq!(channels.length(), 3);
    assert_eq!(channels.get(0).as_string(), get(&plan, "presenceChannel").as_string());
    assert_eq!(channels.get(2).as_string().as_deref(), Some("inbox.alice"));
    assert_eq!(groups.length(), 10);
    assert_eq!(groups.get(9).as_string().as_deref(), Some("cg-friends9-alice"));
    // alice's shard with 100 shards is 40 (the seed's JS hashCode; see tests/core/domain.rs).
    assert_eq!(get(&plan, "shard").as_f64(), Some(40.0));
    let opts = js_sys::JSON::parse(r#"{"shardCount": 7}"#).unwrap();
    assert_eq!(get(&subscribe_plan(JsValue::from_str("alice"), opts), "shard").as_f64(), Some(6.0));
    for bad in [JsValue::from_str("a b"), JsValue::from_f64(7.0), JsValue::NULL] {
        let out = subscribe_plan(bad, JsValue::UNDEFINED);
        assert!(get(&out, "error").as_string().is_some_and(|r| !r.is_empty()));
    }
    assert!(get(&JsFriendsView::create(JsValue::from_str(""), JsValue::UNDEFINED), "error").is_string());
    // The server's id rules: at most 74 characters (friend-management.{id} ≤ 92), no `.`, no
    // PubNub presence suffix.
    for (bad, why) in [("a".repeat(75), "74 characters"), ("bob.1".to_owned(), "."), ("bob-pnpres".to_owned(), "-pnpres")] {
        let reason = get(&subscribe_plan(JsValue::from_str(&bad), JsValue::UNDEFINED), "error").as_string().unwrap();
        assert!(reason.contains(why), "{reason}");
        assert!(get(&JsFriendsView::create(JsValue::from_str(&bad), JsValue::UNDEFINED), "error")
            .as_string()
            .is_some_and(|r| r.contains(why)));
    }
    assert!(get(&subscribe_plan(JsValue::from_str(&"a".repeat(74)), JsValue::UNDEFINED), "error").is_undefined());
}

#[wasm_bindgen_test]
fn events_apply_once_and_in_order() {
    let mut v = make("me");
    let page = sync_page("me", T0, pairs(&[("bob", false), ("amy", false)]), 2, JsValue::NULL);
    assert_eq!(outcome(&v.apply(page, JsValue::UNDEFINED)), "applied");
    assert_eq!(ids(&v), ["amy", "bob"]);
    let on = status("friend.online", "bob", T0 + 2000.0);
    assert_eq!(outcome(&v.apply(on.clone(), JsValue::from_str("status.bob"))), "applied");
    assert_eq!(ids(&v), ["bob", "amy"], "online first");
    let version = v.version();
    assert_eq!(outcome(&v.apply(on, JsValue::from_str("status.bob"))), "duplicate");
    assert_eq!(v.version(), version);
    let older = status("friend.offline", "bob", T0 + 1000.0);
    assert_eq!(outcome(&v.apply(older, JsValue::from_str("status.bob"))), "stale");
    assert_eq!(v.online_count(), 1);
    // JSON text works as well as an object.
    let text = json(&status("friend.offline", "bob", T0 + 3000.0));
    assert_eq!(outcome(&v.apply(JsValue::from_str(&text), JsValue::from_str("status.bob"))), "applied");
    assert_eq!(v.online_count(), 0);
    let bob = v.friend(JsValue::from_str("bob"));
    assert_eq!(get(&bob, "lastSeen").as_string().as_deref(), Some("2026-01-01T00:00:03.000Z"));
}

#[wasm_bindgen_test]
fn removing_an_online_friend() {
    let mut v = make("me");
    v.apply(sync_page("me", T0, pairs(&[("bob", true), ("cy", true)]), 2, JsValue::NULL), JsValue::UNDEFINED);
    assert_eq!(v.online_count(), 2);
    let removed =
        msg("friend.removed", "r1", T0 + 10.0, js_sys::JSON::parse(r#"{"userId":"bob","removedAt":"2026-01-01T00:00:00.010Z"}"#).unwrap());
    assert_eq!(outcome(&v.apply(removed, JsValue::from_str("inbox.me"))), "applied");
    assert_eq!(ids(&v), ["cy"]);
    assert_eq!(v.online_count(), 1);
    let late = status("friend.online", "bob", T0 + 20.0);
    assert_eq!(outcome(&v.apply(late, JsValue::from_str("status.bob"))), "ignored");
    assert_eq!(v.friend_count(), 1);
}

/// The first request `syncAsks` gives, and its id.
fn first_ask(v: &mut JsFriendsView) -> (JsValue, String) {
    let asks: js_sys::Array = v.sync_asks(T0, 1.0, 50.0, 5000.0).dyn_into().unwrap();
    assert_eq!(asks.length(), 1, "the first request alone");
    let ask = asks.get(0);
    let id = get(&ask, "eventId").as_string().unwrap();
    (ask, id)
}

fn one_chain() -> JsValue {
    let chains = js_sys::Array::new();
    chains.push(&JsValue::from_str("0:0"));
    chains.into()
}

#[wasm_bindgen_test]
fn a_paged_load_of_2500_friends() {
    let mut v = make("big");
    let all = many_friends(2500);
    v.begin_sync();
    assert!(v.syncing());
    let (_, req) = first_ask(&mut v);
    assert_eq!(outcome(&v.apply(head("big", T0, &req, 2500, one_chain()), JsValue::UNDEFINED)), "applied");
    for page in 0..25u32 {
        let next = if page < 24 { JsValue::from_str(&format!("0:{}", page + 1)) } else { JsValue::NULL };
        let friends = slice(&all, page * 100, page * 100 + 100);
        let out = v.apply(chain_page("big", T0 + page as f64, &req, 0, page, friends, next, page < 24), JsValue::UNDEFINED);
        assert_eq!(outcome(&out), "applied");
    }
    assert!(!v.syncing() && v.synced());
    assert_eq!((v.friend_count(), v.online_count()), (2500, 625));
    let list: js_sys::Array = v.friends().dyn_into().unwrap();
    assert_eq!(list.length(), 2500);
    assert_eq!(get(&list.get(624), "online").as_bool(), Some(true));
    assert_eq!(get(&list.get(625), "online").as_bool(), Some(false));
    assert_eq!(get(&v.totals(), "totalFriends").as_f64(), Some(2500.0));
}

#[wasm_bindgen_test]
fn bad_input_never_throws() {
    let mut v = make("me");
    let inputs = [
        JsValue::UNDEFINED,
        JsValue::NULL,
        JsValue::from_f64(3.0),
        JsValue::from_str("{not json"),
        js_sys::Function::new_no_args("return 1").into(),
        cyclic(),
        js_sys::JSON::parse(
            r#"{"type":"friend.online","schemaVersion":"1.0.0","eventId":"e","ts":"2026-01-01T00:00:00.000Z","payload":{"userId":"x y"}}"#,
        )
        .unwrap(),
    ];
    for input in inputs {
        let out = v.apply(input, JsValue::UNDEFINED);
        assert_eq!(outcome(&out), "rejected", "{}", json(&out));
        assert!(get(&out, "reason").as_string().is_some_and(|r| !r.is_empty()));
        assert_eq!(get(&out, "changed").as_bool(), Some(false));
    }
    // A message on a channel it does not belong to, and a channel that is not a string.
    let on = status("friend.online", "bob", T0);
    assert_eq!(outcome(&v.apply(on.clone(), JsValue::from_str("status.eve"))), "rejected");
    assert_eq!(outcome(&v.apply(on, JsValue::from_f64(1.0))), "ignored", "no channel check without a string; bob is no friend");
    assert_eq!(v.version(), 0.0);
    assert!(v.friend(JsValue::from_f64(1.0)).is_null());
    assert!(!v.dismiss_request(JsValue::UNDEFINED));
}

#[wasm_bindgen_test]
fn count_and_requests() {
    let mut v = make("me");
    let count = |n: u32, ms: f64| {
        let p = js_sys::JSON::parse(&format!(
            r#"{{"onlineCount":{n},"deltaFromLast":-2,"peakToday":{n},"calculatedAt":"{}","shardsCounted":100}}"#,
            js_sys::Date::new(&JsValue::from_f64(ms)).to_iso_string()
        ))
        .unwrap();
        msg("status.count", &format!("c{ms}"), ms, p)
    };
    assert_eq!(outcome(&v.apply(count(5, T0), JsValue::from_str("status.global"))), "applied");
    assert_eq!(outcome(&v.apply(count(9, T0 + 10_000.0), JsValue::from_str("status.global"))), "applied");
    let g = v.global_count();
    assert_eq!(get(&g, "onlineCount").as_f64(), Some(9.0));
    assert_eq!(get(&g, "deltaFromLast").as_f64(), Some(-2.0));
    let history: js_sys::Array = v.count_history().dyn_into().unwrap();
    assert_eq!(history.length(), 2);
    assert_eq!(get(&history.get(0), "t").as_f64(), Some(T0));
    let req = msg("friend.request.received", "q1", T0, js_sys::JSON::parse(r#"{"userId":"fay","name":"Fay"}"#).unwrap());
    assert_eq!(outcome(&v.apply(req, JsValue::from_str("inbox.me"))), "applied");
    let list: js_sys::Array = v.requests().dyn_into().unwrap();
    assert_eq!(get(&list.get(0), "name").as_string().as_deref(), Some("Fay"));
    assert!(v.dismiss_request(JsValue::from_str("fay")));
    assert_eq!(js_sys::Array::from(&v.requests()).length(), 0);
}

#[wasm_bindgen_test]
fn command_results_by_event_id() {
    let mut v = make("me");
    assert!(v.command_result(JsValue::from_str("c1")).is_null(), "not answered yet");
    let answer = js_sys::JSON::parse(r#"{"eventId":"c1","command":"friend.request","ok":false,"reason":"already_friends"}"#).unwrap();
    let res = msg("friend.command.result", "evt_result_c1", T0, answer);
    assert_eq!(outcome(&v.apply(res.clone(), JsValue::from_str("inbox.me"))), "applied");
    assert_eq!(outcome(&v.apply(res, JsValue::from_str("inbox.me"))), "duplicate");
    let r = v.command_result(JsValue::from_str("c1"));
    assert_eq!(get(&r, "ok").as_bool(), Some(false));
    assert_eq!(get(&r, "reason").as_string().as_deref(), Some("already_friends"));
    assert_eq!(get(&r, "command").as_string().as_deref(), Some("friend.request"));
    assert!(v.command_result(JsValue::from_f64(1.0)).is_null());
}

#[wasm_bindgen_test]
fn sync_request_messages_and_their_answers() {
    let mut v = make("me");
    let (req, id) = first_ask(&mut v);
    assert_eq!(get(&req, "type").as_string().as_deref(), Some("friends.sync.request"));
    assert_eq!(get(&get(&req, "payload"), "userA").as_string().as_deref(), Some("me"));
    assert!(get(&get(&req, "payload"), "page").is_null());
    assert_eq!(get(&get(&req, "payload"), "pages").as_f64(), Some(5.0));
    assert!(v.syncing() && v.sync_awaiting());
    v.apply(head("me", T0 + 5.0, &id, 1, one_chain()), JsValue::from_str("inbox.me"));
    let page = chain_page("me", T0 + 5.0, &id, 0, 0, pairs(&[("bob", true)]), JsValue::NULL, false);
    assert_eq!(outcome(&v.apply(page, JsValue::from_str("inbox.me"))), "applied");
    assert!(!v.syncing() && v.synced());
    assert_eq!(ids(&v), ["bob"]);
    // Garbage arguments still give requests, never a throw.
    let mut w = make("me");
    let odd: js_sys::Array = w.sync_asks(f64::NAN, -1.0, f64::NAN, -1.0).dyn_into().unwrap();
    assert_eq!(get(&odd.get(0), "type").as_string().as_deref(), Some("friends.sync.request"));
}

#[wasm_bindgen_test]
fn command_builders_give_the_channel_and_the_message_to_publish() {
    let s = JsValue::from_str;
    let req = friend_request(s("alice"), s("bob"), T0, JsValue::from_f64(7.0));
    assert_eq!(get(&req, "channel").as_string().as_deref(), Some("friend-requests.alice"));
    let m = get(&req, "message");
    assert_eq!(get(&m, "type").as_string().as_deref(), Some("friend.request"));
    assert_eq!(get(&m, "schemaVersion").as_string().as_deref(), Some("1.0.0"));
    assert_eq!(get(&m, "eventId").as_string().as_deref(), Some("friend-request-1767225600000-7"));
    assert_eq!(get(&m, "ts").as_string().as_deref(), Some("2026-01-01T00:00:00.000Z"));
    assert_eq!(get(&get(&m, "payload"), "userB").as_string().as_deref(), Some("bob"));
    let acc = accept_request(s("alice"), s("bob"), T0, s("a-1"));
    assert_eq!(get(&acc, "channel").as_string().as_deref(), Some("friend-requests.bob"), "the requested user answers");
    assert_eq!(get(&get(&acc, "message"), "eventId").as_string().as_deref(), Some("friend-request-accepted-1767225600000-a-1"));
    let dec = decline_request(s("alice"), s("bob"), T0, s("d"));
    assert_eq!(get(&get(&dec, "message"), "type").as_string().as_deref(), Some("friend.request.declined"));
    let rm = remove_friend(s("bob"), s("alice"), T0, s("x"));
    assert_eq!(get(&rm, "channel").as_string().as_deref(), Some("friend-management.bob"));
    let sync = sync_request(s("bob"), JsValue::NULL, T0, JsValue::from_f64(1.0));
    assert!(get(&get(&get(&sync, "message"), "payload"), "page").is_null());
    // Bad input is an {error}, never a throw.
    assert!(get(&friend_request(s("alice"), s("alice"), T0, s("1")), "error").is_string());
    assert!(get(&friend_request(s("alice"), s("bob.1"), T0, s("1")), "error").is_string());
    assert!(get(&friend_request(s("alice"), s("bob-1"), T0, s("1")), "error").is_undefined(), "an id ending in -1 is an id like any other");
    assert!(get(&remove_friend(s("alice"), s("bob"), T0, s("a:b")), "error").is_string());
    assert!(get(&sync_request(JsValue::from_f64(3.0), JsValue::NULL, T0, s("1")), "error").is_string());
}

#[wasm_bindgen_test]
fn roster_builders_refuse_what_the_functions_refuse() {
    let s = JsValue::from_str;
    let o = |text: &str| js_sys::JSON::parse(text).unwrap();
    let cancel = cancel_request(s("alice"), s("bob"), T0, s("c"));
    assert_eq!(get(&cancel, "channel").as_string().as_deref(), Some("friend-requests.alice"), "the requester withdraws it");
    assert_eq!(json(&get(&get(&cancel, "message"), "payload")), r#"{"userA":"alice","userB":"bob"}"#);
    assert_eq!(get(&get(&cancel, "message"), "type").as_string().as_deref(), Some("friend.request.cancel"));
    let block = block_user(s("alice"), s("bob"), T0, s("b"));
    assert_eq!(get(&block, "channel").as_string().as_deref(), Some("friend-management.alice"));
    assert_eq!(get(&get(&block, "message"), "type").as_string().as_deref(), Some("friend.block"));
    let unblock = unblock_user(s("alice"), s("bob"), T0, s("u"));
    assert_eq!(get(&get(&unblock, "message"), "type").as_string().as_deref(), Some("friend.unblock"));
    let settings = user_settings(s("alice"), o(r#"{"invisible":true,"statusMessage":"away"}"#), T0, s("s"));
    assert_eq!(get(&settings, "channel").as_string().as_deref(), Some("friend-management.alice"));
    assert_eq!(json(&get(&get(&settings, "message"), "payload")), r#"{"userA":"alice","invisible":true,"statusMessage":"away"}"#);
    let clear = user_settings(s("alice"), o(r#"{"statusMessage":null}"#), T0, s("s2"));
    assert_eq!(json(&get(&get(&clear, "message"), "payload")), r#"{"userA":"alice","statusMessage":null}"#);
    for bad in [r#"{}"#, r#"{"invisible":"yes"}"#, r#"{"statusMessage":5}"#] {
        assert!(get(&user_settings(s("alice"), o(bad), T0, s("1")), "error").is_string(), "{bad}");
    }
    assert!(get(&user_settings(s("alice"), s(&"x".repeat(101)), T0, s("1")), "error").is_string());
    let long = js_sys::Object::new();
    js_sys::Reflect::set(&long, &s("statusMessage"), &s(&"x".repeat(101))).unwrap();
    assert!(get(&user_settings(s("alice"), long.into(), T0, s("1")), "error").is_string());
    assert!(get(&block_user(s("alice"), s("alice"), T0, s("1")), "error").is_string());
    assert!(get(&cancel_request(s("alice"), s("bob-pnpres"), T0, s("1")), "error").is_string());
}

#[wasm_bindgen_test]
fn the_lists_from_the_first_page_and_the_answers_to_tracked_commands() {
    let mut v = make("me");
    let p = |text: &str| js_sys::JSON::parse(text).unwrap();
    let page = msg(
        "friends.sync",
        "s1",
        T0,
        p(r#"{"userId":"me","friends":[{"userId":"bob","online":true,"statusMessage":"hi"}],"totalFriends":1,"next":null,
             "incoming":[{"userId":"ann","name":"Ann","requestedAt":"2026-01-01T00:00:00.000Z","requestId":"r-ann"}],
             "outgoing":[{"userId":"cid","requestedAt":"2026-01-01T00:00:00.000Z"}],"blocked":["zed"]}"#),
    );
    assert_eq!(outcome(&v.apply(page, JsValue::from_str("inbox.me"))), "applied");
    assert_eq!(
        json(&v.incoming()),
        r#"[{"userId":"ann","name":"Ann","profileUrl":null,"requestedAt":"2026-01-01T00:00:00.000Z","requestId":"r-ann"}]"#
    );
    assert_eq!(json(&v.requests()), json(&v.incoming()));
    assert_eq!(
        json(&v.outgoing()),
        r#"[{"userId":"cid","name":null,"profileUrl":null,"requestedAt":"2026-01-01T00:00:00.000Z","requestId":null}]"#
    );
    assert_eq!(json(&v.blocked()), r#"["zed"]"#);
    assert_eq!(get(&v.friend(JsValue::from_str("bob")), "statusMessage").as_string().as_deref(), Some("hi"));

    let cancel = cancel_request(JsValue::from_str("me"), JsValue::from_str("cid"), T0, JsValue::from_str("c"));
    let tracked = v.track(get(&cancel, "message"));
    let id = get(&tracked, "eventId").as_string().unwrap();
    assert!(get(&v.track(JsValue::from_str("nonsense")), "error").is_string());
    let answer = p(&format!(r#"{{"eventId":"{id}","command":"friend.request.cancel","ok":true}}"#));
    v.apply(msg("friend.command.result", &format!("evt_result_{id}"), T0 + 10.0, answer), JsValue::from_str("inbox.me"));
    assert_eq!(json(&v.outgoing()), "[]");
    let set = user_settings(JsValue::from_str("me"), p(r#"{"invisible":true}"#), T0, JsValue::from_str("s"));
    let id = get(&v.track(get(&set, "message")), "eventId").as_string().unwrap();
    assert_eq!(json(&v.settings()), r#"{"invisible":null,"statusMessage":null}"#);
    let answer = p(&format!(r#"{{"eventId":"{id}","command":"user.settings","ok":true}}"#));
    v.apply(msg("friend.command.result", &format!("evt_result_{id}"), T0 + 20.0, answer), JsValue::from_str("inbox.me"));
    assert_eq!(json(&v.settings()), r#"{"invisible":true,"statusMessage":null}"#);
}

#[wasm_bindgen_test]
fn plans_with_the_friend_count() {
    let s = JsValue::from_str;
    let opts = |text: &str| js_sys::JSON::parse(text).unwrap();
    let groups = |plan: &JsValue| js_sys::Array::from(&get(plan, "groups")).length();
    assert_eq!(groups(&subscribe_plan(s("alice"), opts(r#"{"shardCount":100}"#))), 10, "count unknown: all ten");
    assert_eq!(groups(&subscribe_plan(s("alice"), opts(r#"{"friendCount":0}"#))), 1);
    assert_eq!(groups(&subscribe_plan(s("alice"), opts(r#"{"friendCount":1999}"#))), 1);
    assert_eq!(groups(&subscribe_plan(s("alice"), opts(r#"{"friendCount":2001}"#))), 2);
    assert_eq!(groups(&subscribe_plan(s("alice"), opts(r#"{"friendCount":99999}"#))), 10);
    assert_eq!(groups(&subscribe_plan(s("alice"), opts(r#"{"friendCount":-3}"#))), 10, "not a count: unknown");
    // The view re-plans from its count: from all ten to the one in use.
    let mut v = make("me");
    let all = get(&v.plan(), "groups");
    assert_eq!(js_sys::Array::from(&all).length(), 10);
    v.apply(sync_page("me", T0, pairs(&[("bob", true)]), 1, JsValue::NULL), JsValue::from_str("inbox.me"));
    let change = v.regroup(all);
    assert_eq!(json(&get(&change, "subscribe")), "[]");
    assert_eq!(js_sys::Array::from(&get(&change, "unsubscribe")).length(), 9);
    assert_eq!(json(&get(&v.plan(), "groups")), r#"["cg-friends-me"]"#);
    assert_eq!(json(&get(&v.regroup(JsValue::from_f64(1.0)), "subscribe")), r#"["cg-friends-me"]"#);
}

/// docs/design.md §4 through the wasm interface: the version orders status, not the time, and a
/// cancel closes its request whatever its time.
#[wasm_bindgen_test]
fn status_by_version_and_requests_by_id_through_the_wasm_view() {
    let p = |text: &str| js_sys::JSON::parse(text).unwrap();
    let inbox = || JsValue::from_str("inbox.me");
    let visible = msg("friend.online", "on6", T0 + 29_606.0, p(r#"{"userId":"dee","version":6}"#));
    let leave = msg("friend.offline", "off7", T0 + 29_000.0, p(r#"{"userId":"dee","lastSeen":"2026-01-01T00:00:29.000Z","version":7}"#));
    for (first, second) in [(&visible, &leave), (&leave, &visible)] {
        let mut v = make("me");
        v.apply(msg("friend.added", "add", T0, p(r#"{"userId":"dee","online":true,"addedAt":"2026-01-01T00:00:00.000Z"}"#)), inbox());
        v.apply(first.clone(), JsValue::from_str("status.dee"));
        v.apply(second.clone(), JsValue::from_str("status.dee"));
        assert_eq!(get(&v.friend(JsValue::from_str("dee")), "online").as_bool(), Some(false));
    }
    let mut v = make("me");
    let page = p(
        r#"{"userId":"me","friends":[],"totalFriends":0,"next":null,"incoming":[{"userId":"ann","requestedAt":"2026-01-01T00:00:00.000Z","requestId":"r1"}],"outgoing":[],"blocked":[]}"#,
    );
    v.apply(msg("friends.sync", "s1", T0 + 5_000.0, page), inbox());
    assert_eq!(js_sys::Array::from(&v.incoming()).length(), 1);
    let cancelled = p(r#"{"userId":"ann","requestedAt":"2026-01-01T00:00:00.000Z","requestId":"r1"}"#);
    assert_eq!(outcome(&v.apply(msg("friend.request.cancelled", "c1", T0, cancelled), inbox())), "applied");
    assert_eq!(json(&v.incoming()), "[]");
}
