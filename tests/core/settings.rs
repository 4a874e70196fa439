//! `user.settings`: invisibility and the status message, decided (`core::settings`), carried
//! out by the user-settings handler on the fake host, and how presence takes invisibility.

use friends_presence::core::settings::{self as st, UserSettings};
use friends_presence::core::Config;
use friends_presence::domain::{Json, JsonObject};
use friends_presence::handlers::friends as fh;
use friends_presence::handlers::Report;
use friends_presence::host::fake::{block_on, FakeHost};
use friends_presence::host::UserRecord;
use serde_json::{json, Value};

use super::friends::{outcome, sync_request};
use super::{json, presence_event, T0};

fn settings(me: &str, payload: Value, id: &str) -> Value {
    let mut p = payload;
    p["userA"] = json!(me);
    json!({ "type": "user.settings", "schemaVersion": "1.0.0", "eventId": id, "ts": "2026-01-01T00:00:00.000Z", "payload": p })
}

fn on_settings(host: &FakeHost, publisher: &str, msg: Value) -> Report {
    let exec = host.execution();
    block_on(fh::user_settings(
        &exec,
        &Config::default(),
        &format!("friend-management.{publisher}"),
        Some(publisher),
        &json(msg),
        host.now(),
    ))
}

fn status_messages(host: &FakeHost, user: &str) -> Vec<(String, Value)> {
    host.published_on(&format!("status.{user}"))
        .into_iter()
        .map(|m| (m["type"].as_str().unwrap().to_owned(), m["payload"].clone()))
        .collect()
}

fn record(custom: Value) -> UserRecord {
    let custom: JsonObject = match json(custom) {
        Json::Obj(o) => o,
        _ => unreachable!(),
    };
    UserRecord { id: "alice".into(), name: Some("Alice".into()), profile_url: None, custom, etag: Some("e1".into()) }
}

#[test]
fn settings_are_parsed_strictly_and_a_long_status_message_is_invalid() {
    let parse = |p: Value| st::parse_settings(&json(settings("alice", p, "e1")));
    assert_eq!(parse(json!({ "invisible": true })).unwrap(), UserSettings { invisible: Some(true), status_message: None });
    assert_eq!(parse(json!({ "statusMessage": "hi" })).unwrap().status_message, Some(Some("hi".into())));
    assert_eq!(parse(json!({ "statusMessage": null })).unwrap().status_message, Some(None));
    assert_eq!(parse(json!({ "statusMessage": "" })).unwrap().status_message, Some(None));
    assert!(parse(json!({ "statusMessage": "é".repeat(100) })).is_ok(), "100 characters");
    for bad in [json!({}), json!({ "invisible": "yes" }), json!({ "statusMessage": 5 }), json!({ "statusMessage": "x".repeat(101) })] {
        assert_eq!(parse(bad.clone()).unwrap_err().reason.code(), "invalid", "{bad}");
    }
}

#[test]
fn invisibility_and_status_messages_decide_what_friends_are_told() {
    let online = record(json!({ "online": true, "statusMessage": "old" }));
    let on = UserSettings { invisible: Some(true), status_message: None };
    let d = st::decide_settings(&on, &online, true, 3, T0);
    assert_eq!(d.custom.bool("online"), Some(false));
    assert_eq!(d.custom.bool("invisible"), Some(true));
    assert_eq!(d.message.as_ref().unwrap().kind, "friend.offline");
    // Already invisible (offline to friends): nothing to announce, nothing about the message.
    let hidden = record(json!({ "online": false, "invisible": true }));
    let msg = UserSettings { invisible: None, status_message: Some(Some("new".into())) };
    let d = st::decide_settings(&msg, &hidden, true, 3, T0);
    assert!(d.message.is_none() && d.custom.str("statusMessage") == Some("new"));
    // Visible again: online only if connected.
    let off = UserSettings { invisible: Some(false), status_message: None };
    assert!(st::needs_presence(&off, &hidden) && !st::needs_presence(&off, &online));
    assert!(st::decide_settings(&off, &hidden, false, 3, T0).message.is_none());
    let d = st::decide_settings(&off, &hidden, true, 3, T0);
    assert_eq!((d.message.as_ref().unwrap().kind, d.custom.bool("online")), ("friend.online", Some(true)));
    // A new message while online: re-announced online with it; the same message: nothing.
    let d = st::decide_settings(&msg, &online, false, 3, T0);
    let text = serde_json::to_value(d.message.unwrap()).unwrap();
    assert_eq!((text["type"].as_str(), text["payload"]["statusMessage"].as_str()), (Some("friend.online"), Some("new")));
    let same = UserSettings { invisible: None, status_message: Some(Some("old".into())) };
    assert!(st::decide_settings(&same, &online, false, 3, T0).message.is_none());
}

#[test]
fn an_invisible_user_stays_connected_and_friends_see_them_offline_until_they_are_visible_again() {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("alice", "Alice");
    presence_event(&host, "alice", "join");
    assert_eq!(status_messages(&host, "alice").last().unwrap().0, "friend.online");
    host.advance(10_000);
    on_settings(&host, "alice", settings("alice", json!({ "invisible": true }), "v1"));
    assert_eq!(outcome(&host, "alice", "v1"), Some(Ok(())));
    assert_eq!(status_messages(&host, "alice").last().unwrap().0, "friend.offline");
    assert_eq!(host.user_custom("alice").unwrap()["online"], false);
    let published = status_messages(&host, "alice").len();
    // Reconnecting (leave, join) and the settler do not reveal her.
    host.advance(10_000);
    presence_event(&host, "alice", "leave");
    host.advance(10_000);
    presence_event(&host, "alice", "join");
    host.advance(30_000);
    super::settle_run(&host, &Config::default());
    assert_eq!(status_messages(&host, "alice").len(), published, "nothing on status.alice while invisible");
    assert_eq!(host.user_custom("alice").unwrap()["online"], false);
    // Visible again while connected: online, with her status message.
    on_settings(&host, "alice", settings("alice", json!({ "invisible": false, "statusMessage": "back" }), "v2"));
    assert_eq!(outcome(&host, "alice", "v2"), Some(Ok(())));
    let (kind, payload) = status_messages(&host, "alice").last().unwrap().clone();
    assert_eq!((kind.as_str(), payload["statusMessage"].as_str()), ("friend.online", Some("back")));
    assert_eq!(host.user_custom("alice").unwrap()["online"], true);
    host.assert_within_budget();
}

#[test]
fn a_status_message_reaches_online_friends_live_and_every_friend_on_load_and_a_long_one_is_refused() {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("alice", "Alice");
    host.add_user("bob", "Bob");
    host.seed_members("friends.bob", [("alice".to_owned(), json!({ "status": "accepted", "group": 0 }))]);
    presence_event(&host, "alice", "join");
    host.advance(10_000);
    on_settings(&host, "alice", settings("alice", json!({ "statusMessage": "lunch" }), "m1"));
    let (kind, payload) = status_messages(&host, "alice").last().unwrap().clone();
    assert_eq!((kind.as_str(), payload["statusMessage"].as_str()), ("friend.online", Some("lunch")));
    let before = host.snapshot_without_answers();
    on_settings(&host, "alice", settings("alice", json!({ "statusMessage": "x".repeat(101) }), "m2"));
    assert_eq!(outcome(&host, "alice", "m2"), Some(Err("invalid".into())));
    assert_eq!(host.snapshot_without_answers(), before, "nothing stored");
    assert_eq!(host.user_custom("alice").unwrap()["statusMessage"], "lunch");
    // On load: bob's friends.sync carries it.
    let exec = host.execution();
    block_on(friends_presence::handlers::sync::friends_sync(
        &exec,
        &Config::default(),
        "friend-management.bob",
        Some("bob"),
        &json(sync_request("bob", "s1", None)),
        host.now(),
    ));
    let page = host.published_on("inbox.bob").into_iter().rfind(|m| m["type"] == "friends.sync").unwrap();
    assert_eq!(page["payload"]["friends"][0]["statusMessage"], "lunch");
    // Other Functions' messages are left alone: exactly one answer per command.
    let r = on_settings(&host, "bob", sync_request("bob", "s2", None));
    assert!(r.rejected.is_none() && host.published_on("inbox.bob").iter().all(|m| m["payload"]["eventId"] != "s2"));
    let exec = host.execution();
    let r = block_on(fh::friend_management(
        &exec,
        &Config::default(),
        "friend-management.alice",
        Some("alice"),
        &json(settings("alice", json!({ "invisible": true }), "m3")),
        host.now(),
    ));
    assert!(r.rejected.is_none() && outcome(&host, "alice", "m3").is_none(), "friend-removal ignores user.settings");
    // Unknown user.
    on_settings(&host, "carol", settings("carol", json!({ "invisible": true }), "m4"));
    assert_eq!(outcome(&host, "carol", "m4"), Some(Err("unknown_user".into())));
    host.assert_within_budget();
}
