use friends_presence::core::Config;
use friends_presence::handlers::friends as fh;
use friends_presence::handlers::Report;
use friends_presence::host::fake::{block_on, run_concurrently, FakeHost};
use serde_json::{json, Value};

use super::{json, T0};

fn command(kind: &str, a: &str, b: &str, id: &str) -> Value {
    json!({ "type": kind, "schemaVersion": "1.0.0", "eventId": id, "ts": "2026-01-01T00:00:00.000Z", "payload": { "userA": a, "userB": b } })
}

fn on_requests(host: &FakeHost, publisher: &str, msg: Value) -> Report {
    let exec = host.execution();
    block_on(fh::friend_requests(&exec, &Config::default(), &format!("friend-requests.{publisher}"), Some(publisher), &json(msg), host.now()))
}

fn on_management(host: &FakeHost, publisher: &str, msg: Value) -> Report {
    let exec = host.execution();
    block_on(fh::friend_management(&exec, &Config::default(), &format!("friend-management.{publisher}"), Some(publisher), &json(msg), host.now()))
}

fn setup() -> FakeHost {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("alice", "Alice");
    host.add_user("bob", "Bob");
    host
}

#[test]
fn request_accept_links_both_sides_and_notifies_both_inboxes() {
    let host = setup();
    assert!(on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1")).rejected.is_none());
    let got = host.published_on("inbox.bob");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "friend.request.received");
    assert_eq!(got[0]["payload"]["userId"], "alice");
    assert!(host.kv_ttl_ms("friend-request:alice:bob").unwrap() > 29 * 24 * 3600 * 1000, "TTL is in minutes: 30 days");

    let r = on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    assert!(r.rejected.is_none(), "{r:?}");
    assert!(host.group("cg-friends-alice").contains("status.bob"));
    assert!(host.group("cg-friends-bob").contains("status.alice"));
    assert_eq!(host.members("friends.alice")["bob"]["status"], "accepted");
    assert_eq!(host.counter("friend-count:alice"), 1);
    assert_eq!(host.user_custom("bob").unwrap()["friendCount"], 1);
    assert_eq!(host.published_on("inbox.alice")[0]["payload"]["userId"], "bob");
    assert!(host.published().iter().all(|(c, _)| !c.starts_with("status.")));
    assert!(host.kv_value("friend-request:alice:bob").is_none(), "pending request consumed");
    host.assert_within_budget();
}

#[test]
fn forged_or_unverified_acceptances_change_nothing() {
    let host = setup();
    host.add_user("mallory", "Mallory");
    let before = host.snapshot();
    // No pending request.
    assert!(on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1")).is_rejected());
    // The requester accepting for the target.
    assert!(on_requests(&host, "alice", command("friend.request.accepted", "alice", "bob", "a2")).is_rejected());
    // Publishing on someone else's channel.
    let exec = host.execution();
    let r = block_on(fh::friend_requests(&exec, &Config::default(), "friend-requests.bob", Some("mallory"), &json(command("friend.request.accepted", "alice", "bob", "a3")), T0));
    assert!(r.is_rejected());
    // Unknown user.
    assert!(on_requests(&host, "alice", command("friend.request", "alice", "nobody", "r9")).is_rejected());
    assert_eq!(host.snapshot(), before);
}

#[test]
fn duplicate_acceptance_counts_once() {
    let host = setup();
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    host.fail_next("kvstore.removeItem", "", friends_presence::host::HostError::Rejected { status: 500, message: "x".into() });
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    assert_eq!(host.counter("friend-count:alice"), 1);
    assert_eq!(host.counter("friend-count:bob"), 1);
    host.assert_within_budget();
}

#[test]
fn a_failed_group_update_is_completed_by_a_retry() {
    let host = setup();
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    host.fail_next("addChannels", "cg-friends-bob", friends_presence::host::HostError::Rejected { status: 503, message: "down".into() });
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    assert!(!host.group("cg-friends-bob").contains("status.alice"), "half done");
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    assert!(host.group("cg-friends-bob").contains("status.alice"));
    assert!(host.group("cg-friends-alice").contains("status.bob"));
    assert_eq!(host.counter("friend-count:bob"), 1);
}

#[test]
fn hundred_concurrent_acceptances_count_exactly() {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("star", "Star");
    let fans: Vec<String> = (0..100).map(|i| format!("fan{i}")).collect();
    for f in &fans {
        host.add_user(f, f);
        on_requests(&host, f, command("friend.request", f, "star", &format!("r-{f}")));
    }
    let cfg = Config::default();
    let msgs: Vec<_> = fans.iter().map(|f| json(command("friend.request.accepted", f, "star", &format!("a-{f}")))).collect();
    let execs: Vec<_> = fans.iter().map(|_| host.execution()).collect();
    let futures = execs.iter().zip(&msgs).map(|(exec, msg)| fh::friend_requests(exec, &cfg, "friend-requests.star", Some("star"), msg, T0)).collect();
    for r in run_concurrently(futures) {
        assert!(r.rejected.is_none(), "{r:?}");
    }
    assert_eq!(host.counter("friend-count:star"), 100);
    assert_eq!(host.group("cg-friends-star").len(), 100);
    assert_eq!(host.members("friends.star").len(), 100);
    // Writers that lost the ETag race queued a refresh: one settler pass makes App Context exact.
    host.advance(10_000);
    let exec = host.execution();
    block_on(friends_presence::handlers::presence::presence_settler(&exec, &cfg, host.now()));
    super::drain_fired(&host, &cfg);
    assert_eq!(host.user_custom("star").unwrap()["friendCount"], 100);
    for f in &fans {
        assert_eq!(host.user_custom(f).unwrap()["friendCount"], 1, "{f}");
    }
    host.assert_within_budget();
}

#[test]
fn removal_by_either_friend_unlinks_and_notifies() {
    let host = setup();
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    let r = on_management(&host, "bob", command("friend.remove", "bob", "alice", "x1"));
    assert!(r.rejected.is_none(), "{r:?}");
    assert!(host.group("cg-friends-alice").is_empty() && host.group("cg-friends-bob").is_empty());
    assert!(host.members("friends.alice").is_empty());
    assert_eq!(host.counter("friend-count:alice"), 0);
    assert_eq!(host.published_on("inbox.alice").last().unwrap()["type"], "friend.removed");
    assert_eq!(host.published_on("inbox.alice").last().unwrap()["payload"]["userId"], "bob");
    // A duplicate removal is rejected (not friends any more) and decrements nothing.
    assert!(on_management(&host, "bob", command("friend.remove", "bob", "alice", "x1")).is_rejected());
    assert_eq!(host.counter("friend-count:alice"), 0);
    host.assert_within_budget();
}

fn sync_request(me: &str, id: &str, page: Option<&str>) -> Value {
    json!({ "type": "friends.sync.request", "schemaVersion": "1.0.0", "eventId": id, "ts": "2026-01-01T00:00:00.000Z",
            "payload": { "userA": me, "page": page } })
}

/// Friendships laid out as the accept handler leaves them (members, counters), seeded directly.
fn seed_friends(host: &FakeHost, me: &str, n: usize, online_every: usize) {
    use friends_presence::domain::{JsonObject, UserId};
    use friends_presence::host::{KvStore, PubNub};
    host.add_user(me, me);
    for i in 0..n {
        let id = format!("f{i:04}");
        host.add_user(&id, &format!("Friend {i}"));
        let online = i % online_every == 0;
        host.set_user_custom_raw(&id, json!({ "online": online, "lastSeen": "2026-01-01T00:00:00.000Z" }));
        let exec = host.execution();
        let mut custom = JsonObject::default();
        custom.set("status", friends_presence::domain::Json::str("accepted"));
        block_on(exec.set_members(&format!("friends.{me}"), &[(UserId::parse(&id).unwrap(), custom)])).unwrap();
        block_on(exec.incr_counter(&format!("friend-count:{me}"), 1)).unwrap();
    }
}

#[test]
fn friends_sync_pages_the_list_online_first_on_the_private_inbox() {
    let host = FakeHost::default();
    host.set_now(T0);
    seed_friends(&host, "alice", 250, 3); // 84 online
    let mut seen = Vec::new();
    let mut page: Option<String> = None;
    for round in 0..10 {
        let r = on_management(&host, "alice", sync_request("alice", &format!("s{round}"), page.as_deref()));
        assert!(r.rejected.is_none(), "{r:?}");
        let got = host.published_on("inbox.alice");
        let msg = got.last().unwrap();
        assert_eq!(msg["type"], "friends.sync");
        assert_eq!(msg["payload"]["requestId"], format!("s{round}"));
        assert_eq!(msg["payload"]["totalFriends"], 250);
        assert_eq!(msg["payload"]["totalOnline"], 84);
        for f in msg["payload"]["friends"].as_array().unwrap() {
            seen.push((f["userId"].as_str().unwrap().to_owned(), f["online"].as_bool().unwrap()));
            assert_eq!(f["lastSeen"], "2026-01-01T00:00:00.000Z");
        }
        match msg["payload"]["next"].as_str() {
            Some(next) => page = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 250, "every friend exactly once");
    let ids: std::collections::BTreeSet<_> = seen.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids.len(), 250);
    // Online first across pages: no online friend after the first offline one.
    let first_offline = seen.iter().position(|(_, on)| !on).unwrap();
    assert_eq!(first_offline, 84);
    assert!(seen[first_offline..].iter().all(|(_, on)| !on));
    // Nothing but the caller's own inbox is ever written.
    assert!(host.published().iter().all(|(c, _)| c == "inbox.alice"));
    host.assert_within_budget();
}

#[test]
fn friends_sync_for_someone_else_or_with_a_bad_cursor_changes_nothing() {
    let host = FakeHost::default();
    host.set_now(T0);
    seed_friends(&host, "alice", 3, 1);
    host.add_user("mallory", "Mallory");
    let before = host.snapshot();
    // Mallory asks for Alice's friends on her own channel, or on Alice's.
    assert!(on_management(&host, "mallory", sync_request("alice", "m1", None)).is_rejected());
    let exec = host.execution();
    let r = block_on(fh::friend_management(&exec, &Config::default(), "friend-management.alice", Some("mallory"), &json(sync_request("alice", "m2", None)), T0));
    assert!(r.is_rejected());
    for bad in ["x:abc", "o:has space", "", "o"] {
        assert!(on_management(&host, "alice", sync_request("alice", "b1", Some(bad))).is_rejected(), "{bad:?}");
    }
    assert_eq!(host.snapshot(), before);
}

#[test]
fn friends_sync_pages_answered_in_the_same_millisecond_have_distinct_event_ids() {
    use friends_presence::client::{FriendsView, Outcome};
    use friends_presence::domain::{json::to_text, UserId};
    let host = FakeHost::default();
    host.set_now(T0);
    seed_friends(&host, "alice", 150, 2);
    // The web client drives the load; the clock never moves, so both pages carry the same `ts`.
    let mut view = FriendsView::new(UserId::parse("alice").unwrap());
    view.begin_sync();
    let mut cursor: Option<String> = None;
    for nonce in 1..=3 {
        let request = view.sync_request(cursor.as_deref(), T0, nonce);
        let r = on_management(&host, "alice", serde_json::from_str(&to_text(&request).unwrap()).unwrap());
        assert!(r.rejected.is_none(), "{r:?}");
        let page = host.published_on("inbox.alice").pop().unwrap();
        assert_eq!(view.apply(Some("inbox.alice"), &json(page)), Outcome::Applied, "page {nonce} dropped as a duplicate");
        match view.sync_next() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(view.synced());
    assert_eq!(view.friend_count(), 150);
    let ids: std::collections::BTreeSet<_> = host.published_on("inbox.alice").iter().map(|m| m["eventId"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 2, "two pages (75 online, then 75 others), two event ids");
    // A redelivered request is answered with the same id, so the client drops the repeat.
    let again = host.published_on("inbox.alice")[0].clone();
    on_management(&host, "alice", sync_request("alice", again["payload"]["requestId"].as_str().unwrap(), None));
    assert_eq!(host.published_on("inbox.alice").pop().unwrap()["eventId"], again["eventId"]);
    host.assert_within_budget();
}
