//! Pending requests as the friend Functions keep them (`requests-in.{id}` memberships beside
//! the KV request): listed both ways on the first `friends.sync` page, cancelled, expired, and
//! taken off both lists by every command that ends them.

use friends_presence::host::fake::FakeHost;
use serde_json::Value;

use super::friends::{command, on_management, on_requests, outcome, recount, sync_request};
use super::T0;

const DAY_MS: u64 = 24 * 3600 * 1000;

fn setup(users: &[&str]) -> FakeHost {
    let host = FakeHost::default();
    host.set_now(T0);
    for u in users {
        let mut name = u.to_string();
        name[..1].make_ascii_uppercase();
        host.add_user(u, &name);
    }
    host
}

/// The first `friends.sync` page `me` gets now.
pub fn first_page(host: &FakeHost, me: &str, id: &str) -> Value {
    let r = on_management(host, me, sync_request(me, id, None));
    assert!(r.rejected.is_none(), "{r:?}");
    host.published_on(&format!("inbox.{me}"))
        .into_iter()
        .rfind(|m| m["type"] == "friends.sync" && m["payload"]["requestId"] == id && m["payload"]["incoming"].is_array())
        .expect("a friends.sync page")
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array().expect("a list").iter().map(|e| e["userId"].as_str().unwrap()).collect()
}

#[test]
fn pending_requests_are_listed_both_ways_on_the_first_sync_page_with_who_and_when() {
    let host = setup(&["alice", "bob", "carol"]);
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    host.advance(1_000);
    on_requests(&host, "carol", command("friend.request", "carol", "alice", "r2"));
    let page = first_page(&host, "alice", "s1");
    assert_eq!(ids(&page["payload"]["incoming"]), ["carol"]);
    assert_eq!(page["payload"]["incoming"][0]["name"], "Carol");
    assert_eq!(page["payload"]["incoming"][0]["requestedAt"], "2026-01-01T00:00:01.000Z");
    assert_eq!(ids(&page["payload"]["outgoing"]), ["bob"]);
    assert_eq!(page["payload"]["outgoing"][0]["requestedAt"], "2026-01-01T00:00:00.000Z");
    let bob = first_page(&host, "bob", "s2");
    assert_eq!(ids(&bob["payload"]["incoming"]), ["alice"]);
    assert_eq!(ids(&bob["payload"]["outgoing"]), Vec::<&str>::new());
    host.assert_within_budget();
}

#[test]
fn a_cancelled_request_leaves_both_lists_and_can_no_longer_be_accepted() {
    let host = setup(&["alice", "bob"]);
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    on_requests(&host, "alice", command("friend.request.cancel", "alice", "bob", "c1"));
    assert_eq!(outcome(&host, "alice", "c1"), Some(Ok(())));
    assert!(host.kv_value("friend-request:alice:bob").is_none());
    assert!(host.members("requests-in.bob").is_empty());
    // Bob is told live: his list loses it without a reload.
    let told: Vec<Value> = host.published_on("inbox.bob").into_iter().filter(|m| m["type"] == "friend.request.cancelled").collect();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["payload"]["userId"], "alice");
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    assert_eq!(outcome(&host, "bob", "a1"), Some(Err("not_pending".into())));
    assert!(host.members("friends.bob").is_empty());
    // Re-sent: answered the same; a second cancel has nothing to cancel.
    on_requests(&host, "alice", command("friend.request.cancel", "alice", "bob", "c1"));
    assert_eq!(outcome(&host, "alice", "c1"), Some(Ok(())));
    on_requests(&host, "alice", command("friend.request.cancel", "alice", "bob", "c2"));
    assert_eq!(outcome(&host, "alice", "c2"), Some(Err("not_pending".into())));
    // Only the requester cancels: bob publishing it for alice is forbidden.
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r2"));
    on_requests(&host, "bob", command("friend.request.cancel", "alice", "bob", "c3"));
    assert_eq!(outcome(&host, "bob", "c3"), Some(Err("forbidden".into())));
    assert!(host.kv_value("friend-request:alice:bob").is_some());
    host.assert_within_budget();
}

/// A cancel that meets an acceptance holding the lease is not answered; its re-send, once
/// the acceptance is over, answers by what happened.
#[test]
fn a_cancel_during_an_acceptance_waits_for_its_re_send() {
    let host = setup(&["alice", "bob"]);
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    host.seed_kv("accepting:alice:bob", Value::String("a1".into()), 1);
    on_requests(&host, "alice", command("friend.request.cancel", "alice", "bob", "c1"));
    assert_eq!(outcome(&host, "alice", "c1"), None, "not answered while an acceptance runs");
    assert!(host.kv_value("friend-request:alice:bob").is_none(), "the request is gone already");
    host.advance(61_000);
    on_requests(&host, "alice", command("friend.request.cancel", "alice", "bob", "c1"));
    assert_eq!(outcome(&host, "alice", "c1"), Some(Ok(())));
    host.assert_within_budget();
}

#[test]
fn accepting_declining_or_removing_takes_requests_off_both_lists() {
    let host = setup(&["alice", "bob", "carol"]);
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    on_requests(&host, "bob", command("friend.request", "bob", "alice", "r2"));
    on_requests(&host, "carol", command("friend.request", "carol", "alice", "r3"));
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    assert_eq!(outcome(&host, "bob", "a1"), Some(Ok(())));
    assert!(host.members("requests-in.bob").is_empty() && !host.members("requests-in.alice").contains_key("bob"), "both ways");
    on_requests(&host, "alice", command("friend.request.declined", "carol", "alice", "d1"));
    assert_eq!(outcome(&host, "alice", "d1"), Some(Ok(())));
    assert!(host.members("requests-in.alice").is_empty());
    let declined = |host: &FakeHost| -> Vec<Value> {
        host.published_on("inbox.carol").into_iter().filter(|m| m["type"] == "friend.request.declined").collect()
    };
    assert_eq!(declined(&host).len(), 1, "carol is told, as RFC 6121 tells of a denial");
    assert_eq!(declined(&host)[0]["payload"]["userId"], "alice");
    // A re-send tells her again with the same eventId (clients drop the repeat).
    on_requests(&host, "alice", command("friend.request.declined", "carol", "alice", "d1"));
    let again = declined(&host);
    assert!(again.len() <= 2 && again.iter().all(|m| m["eventId"] == again[0]["eventId"]), "{again:?}");
    let page = first_page(&host, "alice", "s1");
    assert_eq!(ids(&page["payload"]["incoming"]), Vec::<&str>::new());
    assert_eq!(ids(&page["payload"]["outgoing"]), Vec::<&str>::new());
    // A request between friends (left by a crash, say) goes with the removal, both ways.
    recount(&host);
    host.seed_kv("friend-request:bob:alice", serde_json::json!({ "id": "r4", "at": T0 }), 60);
    host.seed_members("requests-in.alice", [("bob".to_owned(), serde_json::json!({ "requestId": "r4", "requestedAt": T0 }))]);
    on_management(&host, "alice", command("friend.remove", "alice", "bob", "x1"));
    assert_eq!(outcome(&host, "alice", "x1"), Some(Ok(())));
    assert!(host.kv_value("friend-request:bob:alice").is_none());
    assert!(host.members("requests-in.alice").is_empty() && host.members("requests-in.bob").is_empty());
    host.assert_within_budget();
}

#[test]
fn requests_expire_after_30_days_and_are_no_longer_listed() {
    let host = setup(&["alice", "bob"]);
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    host.advance(30 * DAY_MS - 60_000);
    assert_eq!(ids(&first_page(&host, "bob", "s1")["payload"]["incoming"]), ["alice"]);
    host.advance(60_000);
    assert!(host.kv_value("friend-request:alice:bob").is_none(), "the KV request expired (TTL in minutes)");
    assert_eq!(ids(&first_page(&host, "bob", "s2")["payload"]["incoming"]), Vec::<&str>::new());
    assert_eq!(ids(&first_page(&host, "alice", "s3")["payload"]["outgoing"]), Vec::<&str>::new());
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    assert_eq!(outcome(&host, "bob", "a1"), Some(Err("not_pending".into())));
    // A new request after the old one expired is listed again.
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r2"));
    assert_eq!(ids(&first_page(&host, "bob", "s4")["payload"]["incoming"]), ["alice"]);
    host.assert_within_budget();
}

fn block(host: &FakeHost, me: &str, other: &str, kind: &str, id: &str) {
    on_management(host, me, command(kind, me, other, id));
}

#[test]
fn a_blocked_users_requests_never_reach_the_blocker_and_the_sender_cannot_tell() {
    let host = setup(&["alice", "bob"]);
    block(&host, "alice", "bob", "friend.block", "b1");
    assert_eq!(outcome(&host, "alice", "b1"), Some(Ok(())));
    on_requests(&host, "bob", command("friend.request", "bob", "alice", "r1"));
    assert_eq!(outcome(&host, "bob", "r1"), Some(Ok(())), "answered as if sent");
    assert!(host.published_on("inbox.alice").iter().all(|m| m["type"] != "friend.request.received"), "alice is not told");
    let alice = first_page(&host, "alice", "s1");
    assert_eq!(ids(&alice["payload"]["incoming"]), Vec::<&str>::new());
    assert_eq!(alice["payload"]["blocked"], serde_json::json!(["bob"]), "the block list, on alice's own inbox only");
    let bob = first_page(&host, "bob", "s2");
    assert_eq!(ids(&bob["payload"]["outgoing"]), ["alice"], "to bob it is pending like any unanswered request");
    assert_eq!(bob["payload"]["blocked"], serde_json::json!([]));
    // A second request is refused as behind any pending one; bob can cancel it.
    on_requests(&host, "bob", command("friend.request", "bob", "alice", "r2"));
    assert_eq!(outcome(&host, "bob", "r2"), Some(Err("already_pending".into())));
    // Alice can neither accept nor decline it, nor ask bob herself while she blocks him.
    on_requests(&host, "alice", command("friend.request.accepted", "bob", "alice", "a1"));
    assert_eq!(outcome(&host, "alice", "a1"), Some(Err("not_pending".into())));
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r3"));
    assert_eq!(outcome(&host, "alice", "r3"), Some(Err("forbidden".into())));
    assert!(host.members("friends.alice").is_empty());
    on_requests(&host, "bob", command("friend.request.cancel", "bob", "alice", "c1"));
    assert_eq!(outcome(&host, "bob", "c1"), Some(Ok(())));
    assert!(host.published_on("inbox.alice").iter().all(|m| m["type"] != "friend.request.cancelled"), "nor of its cancel");
    // Unblocked: bob's next request reaches her.
    block(&host, "alice", "bob", "friend.unblock", "u1");
    assert_eq!(outcome(&host, "alice", "u1"), Some(Ok(())));
    assert!(host.members("blocked.alice").is_empty());
    on_requests(&host, "bob", command("friend.request", "bob", "alice", "r4"));
    assert!(host.published_on("inbox.alice").iter().any(|m| m["type"] == "friend.request.received"));
    assert_eq!(ids(&first_page(&host, "alice", "s3")["payload"]["incoming"]), ["bob"]);
    host.assert_within_budget();
}

#[test]
fn blocking_a_friend_ends_the_friendship_both_ways_and_every_pending_request_between_them() {
    let host = setup(&["alice", "bob", "carol"]);
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    on_requests(&host, "alice", command("friend.request", "alice", "carol", "r2"));
    on_requests(&host, "carol", command("friend.request", "carol", "alice", "r3"));
    recount(&host);
    block(&host, "alice", "bob", "friend.block", "b1");
    assert_eq!(outcome(&host, "alice", "b1"), Some(Ok(())));
    recount(&host);
    assert!(host.members("friends.alice").is_empty() && host.members("friends.bob").is_empty());
    assert!(host.group("cg-friends-alice").is_empty() && host.group("cg-friends-bob").is_empty());
    assert_eq!(host.user_custom("bob").unwrap()["friendCount"], 0);
    let removed: Vec<String> = host.published().iter().filter(|(_, m)| m["type"] == "friend.removed").map(|(c, _)| c.clone()).collect();
    assert_eq!(removed, ["inbox.alice", "inbox.bob"]);
    super::friends::assert_exact(&host, &["alice", "bob", "carol"]);
    // Requests both ways go with a block, friends or not.
    block(&host, "alice", "carol", "friend.block", "b2");
    assert!(host.kv_value("friend-request:alice:carol").is_none() && host.kv_value("friend-request:carol:alice").is_none());
    assert!(host.members("requests-in.alice").is_empty() && host.members("requests-in.carol").is_empty());
    let page = first_page(&host, "alice", "s1");
    assert_eq!((ids(&page["payload"]["incoming"]), ids(&page["payload"]["outgoing"])), (vec![], vec![]));
    assert_eq!(page["payload"]["blocked"], serde_json::json!(["bob", "carol"]));
    // Re-sent: answered the same, nothing more happens.
    let before = host.snapshot_without_answers();
    block(&host, "alice", "bob", "friend.block", "b1");
    assert_eq!(host.snapshot_without_answers(), before);
    assert_eq!(outcome(&host, "alice", "b1"), Some(Ok(())));
    host.assert_within_budget();
}

/// A block that fails midway (each call in turn) is finished by its re-send.
#[test]
fn a_block_interrupted_at_any_call_is_finished_by_its_re_send() {
    for n in 1..=18 {
        let host = setup(&["alice", "bob"]);
        on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
        on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
        on_requests(&host, "bob", command("friend.request", "bob", "alice", "r2"));
        recount(&host);
        host.fail_call(n, None);
        block(&host, "alice", "bob", "friend.block", "b1");
        let mut sends = 1;
        while outcome(&host, "alice", "b1").is_none() {
            assert!(sends < 5, "call {n}: never answered");
            block(&host, "alice", "bob", "friend.block", "b1");
            sends += 1;
        }
        assert_eq!(outcome(&host, "alice", "b1"), Some(Ok(())), "call {n}");
        recount(&host);
        super::friends::assert_exact(&host, &["alice", "bob"]);
        assert!(host.members("blocked.alice").contains_key("bob"), "call {n}");
        assert!(host.kv_value("friend-request:bob:alice").is_none() && host.members("requests-in.alice").is_empty(), "call {n}");
        host.assert_within_budget();
    }
}
