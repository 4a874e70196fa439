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
