use friends_presence::client::FriendsView;
use friends_presence::core::Config;
use friends_presence::domain::channels::friends_group;
use friends_presence::domain::UserId;
use friends_presence::handlers::friends as fh;
use friends_presence::handlers::Report;
use friends_presence::host::fake::{block_on, run_concurrently, FakeHost};
use serde_json::{json, Value};

use super::{json, T0};

pub fn command(kind: &str, a: &str, b: &str, id: &str) -> Value {
    json!({ "type": kind, "schemaVersion": "1.0.0", "eventId": id, "ts": "2026-01-01T00:00:00.000Z", "payload": { "userA": a, "userB": b } })
}

pub fn on_requests(host: &FakeHost, publisher: &str, msg: Value) -> Report {
    let exec = host.execution();
    block_on(fh::friend_requests(
        &exec,
        &Config::default(),
        &format!("friend-requests.{publisher}"),
        Some(publisher),
        &json(msg),
        host.now(),
    ))
}

pub fn on_management(host: &FakeHost, publisher: &str, msg: Value) -> Report {
    let exec = host.execution();
    // Deployed, user-settings (bound to the same channels) answers the initial load.
    if msg["type"] == "friends.sync.request" {
        let channel = format!("friend-management.{publisher}");
        return block_on(friends_presence::handlers::sync::friends_sync(
            &exec,
            &Config::default(),
            &channel,
            Some(publisher),
            &json(msg),
            host.now(),
        ));
    }
    block_on(fh::friend_management(
        &exec,
        &Config::default(),
        &format!("friend-management.{publisher}"),
        Some(publisher),
        &json(msg),
        host.now(),
    ))
}

/// A fresh world at T0 with alice and bob.
pub fn setup() -> FakeHost {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("alice", "Alice");
    host.add_user("bob", "Bob");
    host
}

/// The `friend.command.result`s answering `event_id`, on `sender`'s inbox.
pub fn results(host: &FakeHost, sender: &str, event_id: &str) -> Vec<Value> {
    host.published_on(&format!("inbox.{sender}"))
        .into_iter()
        .filter(|m| m["type"] == "friend.command.result" && m["payload"]["eventId"] == event_id)
        .collect()
}

/// The one answer to `event_id` so far: `Ok(())` or `Err(reason)`.
pub fn outcome(host: &FakeHost, sender: &str, event_id: &str) -> Option<Result<(), String>> {
    let got = results(host, sender, event_id);
    let first = got.first()?;
    assert!(got.iter().all(|m| m == first), "every answer to {event_id} is the same message: {got:?}");
    Some(if first["payload"]["ok"] == true { Ok(()) } else { Err(first["payload"]["reason"].as_str().unwrap().to_owned()) })
}

/// Fired recounts, delivered to the recount worker (and what it queues, by the settler).
pub fn recount(host: &FakeHost) {
    super::drain_fired(host, &Config::default());
}

/// Every user's friendships exact: [`assert_linked`] and [`assert_counted`].
pub fn assert_exact(host: &FakeHost, users: &[&str]) {
    assert_linked(host, users);
    assert_counted(host, users);
}

/// App Context `friendCount` = the members of `friends.{id}`, for every user.
pub fn assert_counted(host: &FakeHost, users: &[&str]) {
    for &u in users {
        let n = host.members(&format!("friends.{u}")).len() as u64;
        let count = host.user_custom(u).unwrap().get("friendCount").and_then(Value::as_u64).unwrap_or(0);
        assert_eq!(count, n, "{u}: friendCount {count} with {n} friends");
    }
}

/// Nothing half-made: both memberships or neither, each friend's status channel in exactly
/// the group its membership records and no other, no pending request between friends.
pub fn assert_linked(host: &FakeHost, users: &[&str]) {
    let groups = host.groups();
    for &u in users {
        let mine = host.members(&format!("friends.{u}"));
        for &f in users {
            if u == f {
                continue;
            }
            let theirs = host.members(&format!("friends.{f}"));
            assert_eq!(mine.contains_key(f), theirs.contains_key(u), "{u} x {f}: membership on one side only");
            let holding: Vec<&String> = groups
                .iter()
                .filter(|(g, set)| {
                    (0..10).any(|i| *g == &friends_group(&UserId::parse(u).unwrap(), i)) && set.contains(&format!("status.{f}"))
                })
                .map(|(g, _)| g)
                .collect();
            match mine.get(f) {
                Some(m) => {
                    let g = m["group"].as_u64().unwrap();
                    let want = if g == 0 { format!("cg-friends-{u}") } else { format!("cg-friends{g}-{u}") };
                    assert_eq!(holding, vec![&want], "{u} x {f}: group entries {holding:?}, membership says {want}");
                    assert!(host.kv_value(&format!("friend-request:{u}:{f}")).is_none(), "{u} -> {f}: a request survives the friendship");
                }
                None => assert!(holding.is_empty(), "{u} x {f}: group entry {holding:?} without a membership"),
            }
        }
    }
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
    assert_eq!(outcome(&host, "alice", "r1"), Some(Ok(())));

    let r = on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    assert!(r.rejected.is_none(), "{r:?}");
    assert!(host.group("cg-friends-alice").contains("status.bob"));
    assert!(host.group("cg-friends-bob").contains("status.alice"));
    assert_eq!(host.members("friends.alice")["bob"]["status"], "accepted");
    let added: Vec<Value> = host.published_on("inbox.alice").into_iter().filter(|m| m["type"] == "friend.added").collect();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0]["payload"]["userId"], "bob");
    assert!(host.published().iter().all(|(c, _)| !c.starts_with("status.")));
    assert!(host.kv_value("friend-request:alice:bob").is_none(), "pending request consumed");
    assert_eq!(outcome(&host, "bob", "a1"), Some(Ok(())));
    recount(&host);
    assert_eq!(host.user_custom("bob").unwrap()["friendCount"], 1);
    assert_exact(&host, &["alice", "bob"]);
    host.assert_within_budget();
}

#[test]
fn forged_or_unverified_acceptances_change_nothing() {
    let host = setup();
    host.add_user("mallory", "Mallory");
    let before = host.snapshot_without_answers();
    // No pending request.
    assert!(on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1")).is_rejected());
    assert_eq!(outcome(&host, "bob", "a1"), Some(Err("not_pending".into())));
    // The requester accepting for the target.
    assert!(on_requests(&host, "alice", command("friend.request.accepted", "alice", "bob", "a2")).is_rejected());
    assert_eq!(outcome(&host, "alice", "a2"), Some(Err("forbidden".into())));
    // Publishing on someone else's channel: answered to the publisher only.
    let exec = host.execution();
    let r = block_on(fh::friend_requests(
        &exec,
        &Config::default(),
        "friend-requests.bob",
        Some("mallory"),
        &json(command("friend.request.accepted", "alice", "bob", "a3")),
        T0,
    ));
    assert!(r.is_rejected());
    assert_eq!(outcome(&host, "mallory", "a3"), Some(Err("forbidden".into())));
    assert!(results(&host, "bob", "a3").is_empty());
    // Unknown user, and oneself.
    assert!(on_requests(&host, "alice", command("friend.request", "alice", "nobody", "r9")).is_rejected());
    assert_eq!(outcome(&host, "alice", "r9"), Some(Err("unknown_user".into())));
    assert!(on_requests(&host, "alice", command("friend.request", "alice", "alice", "r8")).is_rejected());
    assert_eq!(outcome(&host, "alice", "r8"), Some(Err("self".into())));
    assert_eq!(host.snapshot_without_answers(), before);
    assert!(host.published().iter().all(|(_, m)| m["type"] == "friend.command.result"));
}

/// Finding: a stale pending request. The pending request's final removal fails once: the
/// acceptance is not answered, the client re-sends it, and the re-send removes it.
#[test]
fn a_failed_removal_of_the_pending_request_is_finished_by_the_re_send() {
    let host = setup();
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    host.fail_next(
        "kvstore.removeItem",
        "friend-request:alice:bob",
        friends_presence::host::HostError::Rejected { status: 500, message: "x".into() },
    );
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    assert_eq!(outcome(&host, "bob", "a1"), None, "not answered: the command is not complete");
    assert!(host.kv_value("friend-request:alice:bob").is_some());
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    assert_eq!(outcome(&host, "bob", "a1"), Some(Ok(())));
    assert!(host.kv_value("friend-request:alice:bob").is_none(), "no stale request survives the acceptance");
    // Each notice went out on every attempt with the same eventId: one for the client.
    let added: std::collections::BTreeSet<_> =
        host.published_on("inbox.alice").iter().filter(|m| m["type"] == "friend.added").map(|m| m["eventId"].to_string()).collect();
    assert_eq!(added.len(), 1);
    recount(&host);
    assert_exact(&host, &["alice", "bob"]);
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
    recount(&host);
    assert_exact(&host, &["alice", "bob"]);
}

/// Finding: mutual requests counted twice. A asks B, B asks A, each accepts the other's:
/// one friendship, friendCount 1, and 0 after the removal.
#[test]
fn mutual_requests_make_one_friendship_counted_once() {
    let host = setup();
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    on_requests(&host, "bob", command("friend.request", "bob", "alice", "r2"));
    assert_eq!((outcome(&host, "alice", "r1"), outcome(&host, "bob", "r2")), (Some(Ok(())), Some(Ok(()))));
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    on_requests(&host, "alice", command("friend.request.accepted", "bob", "alice", "a2"));
    assert_eq!(outcome(&host, "bob", "a1"), Some(Ok(())));
    assert_eq!(outcome(&host, "alice", "a2"), Some(Err("already_friends".into())), "friends through the first request");
    recount(&host);
    assert_eq!(host.user_custom("alice").unwrap()["friendCount"], 1);
    assert_eq!(host.user_custom("bob").unwrap()["friendCount"], 1);
    assert_exact(&host, &["alice", "bob"]);
    on_management(&host, "alice", command("friend.remove", "alice", "bob", "x1"));
    recount(&host);
    assert_eq!(host.user_custom("alice").unwrap()["friendCount"], 0);
    assert_eq!(host.user_custom("bob").unwrap()["friendCount"], 0);
    assert_exact(&host, &["alice", "bob"]);
    host.assert_within_budget();
}

/// Mutual requests accepted at the same time: both acceptances read their request before
/// either deletes the other; the friendship is still one, and counted once.
#[test]
fn mutual_requests_accepted_concurrently_make_one_friendship() {
    let host = setup();
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    on_requests(&host, "bob", command("friend.request", "bob", "alice", "r2"));
    let cfg = Config::default();
    let (m1, m2) =
        (json(command("friend.request.accepted", "alice", "bob", "a1")), json(command("friend.request.accepted", "bob", "alice", "a2")));
    let (e1, e2) = (host.execution(), host.execution());
    let futures = vec![
        fh::friend_requests(&e1, &cfg, "friend-requests.bob", Some("bob"), &m1, T0),
        fh::friend_requests(&e2, &cfg, "friend-requests.alice", Some("alice"), &m2, T0),
    ];
    run_concurrently(futures);
    recount(&host);
    assert_eq!(host.members("friends.alice").len(), 1);
    assert_exact(&host, &["alice", "bob"]);
    host.assert_within_budget();
}

/// Finding: an old acceptance replayed after a removal brought the friendship back. Replayed
/// with its record (answered again, nothing written) or after the record expired (no request
/// left: not_pending), it re-makes nothing.
#[test]
fn an_acceptance_replayed_after_a_removal_does_not_bring_the_friendship_back() {
    let host = setup();
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    host.fail_next(
        "kvstore.removeItem",
        "friend-request:alice:bob",
        friends_presence::host::HostError::Rejected { status: 500, message: "x".into() },
    );
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    assert!(on_management(&host, "alice", command("friend.remove", "alice", "bob", "x1")).rejected.is_none());
    let before = host.snapshot_without_answers();
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    assert_eq!(outcome(&host, "bob", "a1"), Some(Ok(())), "the same answer again");
    host.advance(8 * 24 * 3600 * 1000); // the command records expire
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    assert_eq!(results(&host, "bob", "a1").last().unwrap()["payload"]["reason"], "not_pending");
    assert_eq!(host.snapshot_without_answers(), before);
    assert!(host.members("friends.alice").is_empty() && host.members("friends.bob").is_empty());
    host.assert_within_budget();
}

/// A removal that overlaps an acceptance of the same pair (a replay, or a re-send): of the
/// two, either the acceptance finds no request, or the removal finds the lease and is left to
/// its re-send. Every interleaving ends with no friendship and nothing half-made.
#[test]
fn a_removal_overlapping_a_replayed_acceptance_never_leaves_a_friendship_behind() {
    let cfg = Config::default();
    for delay in 0..12 {
        let host = setup();
        befriend(&host, "alice", "bob");
        // A stale request, as a failed removal of it used to leave.
        host.seed_kv("friend-request:alice:bob", serde_json::json!({"id": "r-alice-bob", "at": T0}), 60);
        let replay = json(command("friend.request.accepted", "alice", "bob", "a-replay"));
        let removal = json(command("friend.remove", "alice", "bob", "x1"));
        let (e1, e2) = (host.execution(), host.execution());
        let accept = fh::friend_requests(&e1, &cfg, "friend-requests.bob", Some("bob"), &replay, T0);
        let remove = async {
            for _ in 0..delay {
                friends_presence::host::KvStore::get_counter(&e2, "noop").await.ok();
            }
            fh::friend_management(&e2, &cfg, "friend-management.alice", Some("alice"), &removal, T0).await
        };
        let accept: std::pin::Pin<Box<dyn std::future::Future<Output = Report>>> = Box::pin(accept);
        let remove: std::pin::Pin<Box<dyn std::future::Future<Output = Report>>> = Box::pin(remove);
        run_concurrently(vec![accept, remove]);
        // The client re-sends the removal until it is answered.
        for _ in 0..3 {
            if outcome(&host, "alice", "x1").is_some() {
                break;
            }
            host.advance(61_000); // the lease expires
            on_management(&host, "alice", command("friend.remove", "alice", "bob", "x1"));
        }
        assert_eq!(outcome(&host, "alice", "x1"), Some(Ok(())), "delay {delay}");
        recount(&host);
        assert!(host.members("friends.alice").is_empty() && host.members("friends.bob").is_empty(), "delay {delay}: friendship back");
        assert_exact(&host, &["alice", "bob"]);
    }
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
    let futures =
        execs.iter().zip(&msgs).map(|(exec, msg)| fh::friend_requests(exec, &cfg, "friend-requests.star", Some("star"), msg, T0)).collect();
    for r in run_concurrently(futures) {
        assert!(r.rejected.is_none(), "{r:?}");
    }
    assert_eq!(host.group("cg-friends-star").len(), 100);
    assert_eq!(host.members("friends.star").len(), 100);
    // Recounts that lost the ETag race are queued: one settler pass makes App Context exact.
    recount(&host);
    host.advance(10_000);
    super::settle_run(&host, &cfg);
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
    let removed: Vec<Value> = host.published_on("inbox.alice").into_iter().filter(|m| m["type"] == "friend.removed").collect();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["payload"]["userId"], "bob");
    assert_eq!(outcome(&host, "bob", "x1"), Some(Ok(())));
    // The same removal again is answered the same; another one finds no friendship.
    on_management(&host, "bob", command("friend.remove", "bob", "alice", "x1"));
    assert_eq!(results(&host, "bob", "x1").len(), 2);
    assert!(on_management(&host, "bob", command("friend.remove", "bob", "alice", "x2")).is_rejected());
    assert_eq!(outcome(&host, "bob", "x2"), Some(Err("not_friends".into())));
    recount(&host);
    assert_exact(&host, &["alice", "bob"]);
    host.assert_within_budget();
}

pub fn sync_request(me: &str, id: &str, page: Option<&str>) -> Value {
    json!({ "type": "friends.sync.request", "schemaVersion": "1.0.0", "eventId": id, "ts": "2026-01-01T00:00:00.000Z",
            "payload": { "userA": me, "page": page } })
}

/// Friendships laid out as the accept handler leaves them (members), seeded directly.
fn seed_friends(host: &FakeHost, me: &str, n: usize, online_every: usize) {
    use friends_presence::domain::{JsonObject, UserId};
    use friends_presence::host::PubNub;
    host.add_user(me, me);
    for i in 0..n {
        let id = format!("f{i:04}");
        host.add_user(&id, &format!("Friend {i}"));
        let online = i % online_every == 0;
        host.set_user_custom_raw(&id, json!({ "online": online, "lastSeen": "2026-01-01T00:00:00.000Z" }));
        let exec = host.execution();
        let mut custom = JsonObject::default();
        custom.set("status", friends_presence::domain::Json::str("accepted"));
        custom.set("group", friends_presence::domain::Json::num((i / 2000) as u64));
        block_on(exec.set_members(&format!("friends.{me}"), &[(UserId::parse(&id).unwrap(), custom)])).unwrap();
    }
}

/// Drives a load the way the web client does: every request the view asks for is answered by
/// the sync handler (one execution each), then every new inbox message is applied, except
/// those `lose` names (by their place among the messages: a subscriber queue overflowed).
/// Returns the messages published and the requests made.
pub fn drive_load(host: &FakeHost, view: &mut FriendsView, max_pages: u32, lose: impl Fn(usize) -> bool) -> (Vec<Value>, usize) {
    use friends_presence::domain::json::to_text;
    let me = view.me().as_str().to_owned();
    let inbox = format!("inbox.{me}");
    let start = host.published_on(&inbox).len();
    let mut seen = start;
    let mut requests = 0;
    for round in 0..200 {
        for ask in view.sync_asks(host.now(), round, max_pages, 5000) {
            requests += 1;
            let r = on_management(host, &me, serde_json::from_str(&to_text(&ask).unwrap()).unwrap());
            assert!(r.rejected.is_none(), "{r:?}");
        }
        let got = host.published_on(&inbox);
        for (i, m) in got.iter().enumerate().skip(seen) {
            if !lose(i - start) {
                view.apply(Some(&inbox), &json(m.clone()));
            }
        }
        seen = got.len();
        if !view.syncing() {
            return (got[start..].to_vec(), requests);
        }
        host.advance(1000);
    }
    panic!("the load never ended");
}

#[test]
fn friends_sync_pages_the_list_online_first_on_the_private_inbox() {
    let host = FakeHost::default();
    host.set_now(T0);
    seed_friends(&host, "alice", 2250, 3); // 750 online, in two groups
    let mut view = FriendsView::new(UserId::parse("alice").unwrap());
    view.begin_sync();
    let (msgs, requests) = drive_load(&host, &mut view, 50, |_| false);
    assert!(view.synced());
    let head = &msgs[0]["payload"];
    assert_eq!((head["totalFriends"].as_u64(), head["totalOnline"].as_u64()), (Some(2250), Some(750)));
    let chains = head["chains"].as_array().unwrap();
    assert_eq!(chains.iter().filter(|c| c.is_string()).count(), 8, "two groups, four chains each");
    let mut seen = Vec::new();
    for m in &msgs {
        assert_eq!(m["type"], "friends.sync");
        for f in m["payload"]["friends"].as_array().unwrap() {
            seen.push((f["userId"].as_str().unwrap().to_owned(), f["online"].as_bool().unwrap()));
            assert_eq!(f["lastSeen"], "2026-01-01T00:00:00.000Z");
        }
    }
    assert_eq!(seen.len(), 2250, "every friend exactly once");
    let ids: std::collections::BTreeSet<_> = seen.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids.len(), 2250);
    assert_eq!(view.friend_count(), 2250);
    // Online first: every group's online chains are asked for and answered first.
    let first_offline = seen.iter().position(|(_, on)| !on).unwrap();
    assert_eq!(first_offline, 750, "all 750 online friends come first");
    assert!(requests <= 10, "{requests} requests");
    // Nothing but the caller's own inbox is ever written.
    assert!(host.published().iter().all(|(c, _)| c == "inbox.alice"));
    host.assert_within_budget();
}

#[test]
fn friends_sync_a_lost_page_is_asked_again_and_every_friend_arrives_once() {
    let host = FakeHost::default();
    host.set_now(T0);
    seed_friends(&host, "alice", 2500, 4);
    let mut view = FriendsView::new(UserId::parse("alice").unwrap());
    view.begin_sync();
    // Every fifth message is lost (the head among them): the view sees the gaps and asks again.
    let (msgs, requests) = drive_load(&host, &mut view, 30, |i| i % 5 == 0);
    assert!(view.synced());
    assert_eq!((view.friend_count(), view.online_count()), (2500, 625));
    let mut fresh = FriendsView::new(UserId::parse("alice").unwrap());
    fresh.begin_sync();
    let (_, without_loss) = drive_load(&host, &mut fresh, 30, |_| false);
    assert!(requests > without_loss && msgs.len() > 25, "{requests} vs {without_loss}");
    host.assert_within_budget();
}

#[test]
fn friends_sync_for_someone_else_or_with_a_bad_cursor_changes_nothing() {
    let host = FakeHost::default();
    host.set_now(T0);
    seed_friends(&host, "alice", 3, 1);
    host.add_user("mallory", "Mallory");
    let before = host.snapshot_without_answers();
    // Mallory asks for Alice's friends on her own channel, or on Alice's.
    assert!(on_management(&host, "mallory", sync_request("alice", "m1", None)).is_rejected());
    let exec = host.execution();
    let r = block_on(friends_presence::handlers::sync::friends_sync(
        &exec,
        &Config::default(),
        "friend-management.alice",
        Some("mallory"),
        &json(sync_request("alice", "m2", None)),
        T0,
    ));
    assert!(r.is_rejected());
    // friend-removal, bound to the same channels, leaves the load to user-settings.
    let r = block_on(fh::friend_management(
        &host.execution(),
        &Config::default(),
        "friend-management.alice",
        Some("alice"),
        &json(sync_request("alice", "m3", None)),
        T0,
    ));
    assert!(r.rejected.is_none() && host.published_on("inbox.alice").is_empty());
    for bad in ["x:abc", "o:has space", "", "o", "0=oa0:has space", "10=oa0:", "0=xa0:", "0=oa:", "0=oa1234567:"] {
        assert!(on_management(&host, "alice", sync_request("alice", "b1", Some(bad))).is_rejected(), "{bad:?}");
    }
    assert_eq!(host.snapshot_without_answers(), before);
    assert_eq!(outcome(&host, "alice", "b1"), Some(Err("invalid".into())));
    assert_eq!(outcome(&host, "mallory", "m1"), Some(Err("forbidden".into())));
}

#[test]
fn friends_sync_pages_answered_in_the_same_millisecond_have_distinct_event_ids() {
    use friends_presence::client::{FriendsView, Outcome};
    use friends_presence::domain::UserId;
    let host = FakeHost::default();
    host.set_now(T0);
    seed_friends(&host, "alice", 450, 2);
    // The web client drives the load; the clock never moves, so every page carries the same `ts`.
    let mut view = FriendsView::new(UserId::parse("alice").unwrap());
    view.begin_sync();
    let mut seen = 0;
    for nonce in 1..=3 {
        for request in view.sync_asks(T0, nonce, 50, 5000) {
            let text = friends_presence::domain::json::to_text(&request).unwrap();
            assert!(on_management(&host, "alice", serde_json::from_str(&text).unwrap()).rejected.is_none());
        }
        let pages = host.published_on("inbox.alice");
        for page in &pages[seen..] {
            assert_eq!(view.apply(Some("inbox.alice"), &json(page.clone())), Outcome::Applied, "a page of {nonce} dropped as a duplicate");
        }
        seen = pages.len();
    }
    assert!(view.synced());
    assert_eq!(view.friend_count(), 450);
    let all = host.published_on("inbox.alice");
    let ids: std::collections::BTreeSet<_> = all.iter().map(|m| m["eventId"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), all.len(), "one event id per message");
    // A redelivered request is answered with the same ids, so the client drops the repeats.
    let again = all[0].clone();
    on_management(&host, "alice", sync_request("alice", again["payload"]["requestId"].as_str().unwrap(), None));
    assert_eq!(host.published_on("inbox.alice")[all.len()]["eventId"], again["eventId"]);
    host.assert_within_budget();
}

// ---------------------------------------------------------------------------- overflow groups

/// `a` asks `b` and `b` accepts, both through the real handler (two executions), then the
/// recount they fired runs.
pub fn befriend(host: &FakeHost, a: &str, b: &str) -> Report {
    if host.user_custom(a).is_none() {
        host.add_user(a, a);
    }
    let r = on_requests(host, a, command("friend.request", a, b, &format!("r-{a}-{b}")));
    assert!(r.rejected.is_none(), "{r:?}");
    let r = on_requests(host, b, command("friend.request.accepted", a, b, &format!("a-{a}-{b}")));
    recount(host);
    r
}

/// Friends that earlier acceptances left in `star`'s group `index`: placeholders, with their
/// memberships, counted.
pub fn seed_placed_friends(host: &FakeHost, star: &str, index: usize, n: usize) {
    let group = if index == 0 { format!("cg-friends-{star}") } else { format!("cg-friends{index}-{star}") };
    host.seed_group(&group, (0..n).map(|i| format!("status.placed-{index}-{i:04}")));
    let custom = json!({"status": "accepted", "group": index, "requestId": "seed"});
    host.seed_members(&format!("friends.{star}"), (0..n).map(|i| (format!("placed-{index}-{i:04}"), custom.clone())));
    let mut record = host.user_custom(star).unwrap();
    record["friendCount"] = json!(friend_count(host, star));
    host.set_user_custom_raw(star, record);
}

/// What the memberships say, checked against App Context `friendCount`.
fn friend_count(host: &FakeHost, me: &str) -> usize {
    host.members(&format!("friends.{me}")).len()
}

fn counted(host: &FakeHost, me: &str) -> usize {
    let n = friend_count(host, me);
    assert_eq!(host.user_custom(me).unwrap()["friendCount"], n, "{me}: friendCount");
    n
}

/// The group index the membership records (what removal will edit).
fn recorded_group(host: &FakeHost, me: &str, friend: &str) -> u64 {
    host.members(&format!("friends.{me}"))[friend]["group"].as_u64().unwrap()
}

#[test]
fn past_2000_friends_go_into_overflow_groups_a_full_group_falls_over_and_removal_edits_the_right_group() {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("star", "Star");
    let size = |i: usize| host.group(&if i == 0 { "cg-friends-star".to_owned() } else { format!("cg-friends{i}-star") }).len();
    let holds = |i: usize, f: &str| {
        host.group(&if i == 0 { "cg-friends-star".to_owned() } else { format!("cg-friends{i}-star") }).contains(&format!("status.{f}"))
    };

    // 1,998 → 2,000 in the primary group, then the 2,001st opens cg-friends1-star.
    seed_placed_friends(&host, "star", 0, 1997);
    for f in ["n1998", "n1999", "n2000"] {
        assert!(befriend(&host, f, "star").rejected.is_none());
        assert!(holds(0, f) && recorded_group(&host, "star", f) == 0, "{f}");
    }
    assert_eq!(size(0), 2000);
    assert!(befriend(&host, "n2001", "star").rejected.is_none());
    assert!(holds(1, "n2001") && !holds(0, "n2001"));
    assert_eq!(recorded_group(&host, "star", "n2001"), 1);
    // The friend's side is its own primary group (its first friend).
    assert!(host.group("cg-friends-n2001").contains("status.star"));
    assert_eq!(recorded_group(&host, "n2001", "star"), 0);
    // The host refuses a 2,001st channel in a group, as PubNub does.
    let exec = host.execution();
    let full = block_on(friends_presence::host::PubNub::add_channels(&exec, "cg-friends-star", &["status.extra".to_owned()]));
    assert!(matches!(full, Err(friends_presence::host::HostError::Rejected { status: 400, .. })), "{full:?}");

    // 4,000 → 4,001: cg-friends2-star.
    seed_placed_friends(&host, "star", 1, 1998);
    assert!(befriend(&host, "n4000", "star").rejected.is_none());
    assert!(holds(1, "n4000") && size(1) == 2000);
    assert!(befriend(&host, "n4001", "star").rejected.is_none());
    assert!(holds(2, "n4001") && recorded_group(&host, "star", "n4001") == 2);
    assert_eq!(counted(&host, "star"), 4001);

    // Two removals leave holes in the primary group; the count (3,999) then points the next
    // friend at the full cg-friends1-star, whose 400 sends it on to cg-friends2-star.
    for f in ["n1999", "n2000"] {
        let r = on_management(&host, "star", command("friend.remove", "star", f, &format!("x-{f}")));
        assert!(r.rejected.is_none(), "{r:?}");
        assert!(!holds(0, f) && !host.group(&format!("cg-friends-{f}")).contains("status.star"));
    }
    // Without the refills of those holes (they failed, say), the groups stay as they are.
    for (channel, message) in host.take_fired() {
        if message.get("hole").is_none() {
            let exec = host.execution();
            block_on(friends_presence::handlers::recount::recount_worker(&exec, &json(message)));
            assert!(channel.starts_with("recount-work."));
        }
    }
    assert_eq!((size(0), size(1), counted(&host, "star")), (1998, 2000, 3999));
    let r = befriend(&host, "nfall", "star");
    assert!(r.rejected.is_none() && r.errors().next().is_none(), "{r:?}");
    assert!(holds(2, "nfall") && !holds(1, "nfall"));
    assert_eq!(recorded_group(&host, "star", "nfall"), 2, "removal must find it in -2");
    assert_eq!(size(1), 2000);

    // Up to 4,100 friends, all through the handler.
    for i in 4001..=4100 {
        assert!(befriend(&host, &format!("m{i}"), "star").rejected.is_none());
    }
    assert_eq!(counted(&host, "star"), 4100);
    assert_eq!((size(0), size(1), size(2), size(3)), (1998, 2000, 102, 0));

    // Removal takes each friend out of the group it was placed in, on both sides.
    for (f, group) in [("n2001", 1), ("nfall", 2), ("n1998", 0)] {
        let before = [size(0), size(1), size(2)];
        let r = on_management(&host, f, command("friend.remove", f, "star", &format!("x-{f}")));
        assert!(r.rejected.is_none() && r.errors().next().is_none(), "{r:?}");
        let mut expected = before;
        expected[group] -= 1;
        assert_eq!([size(0), size(1), size(2)], expected, "{f}");
        assert!(!holds(group, f) && !host.members("friends.star").contains_key(f));
        assert!(host.group(&format!("cg-friends-{f}")).is_empty());
    }
    recount(&host);
    assert_eq!(counted(&host, "star"), 4097);
    host.assert_within_budget();
}

#[test]
fn the_20000th_friend_fills_the_last_group_and_the_next_acceptance_is_refused_without_a_change() {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("star", "Star");
    for i in 0..9 {
        seed_placed_friends(&host, "star", i, 2000);
    }
    seed_placed_friends(&host, "star", 9, 1999);
    assert!(befriend(&host, "last", "star").rejected.is_none());
    assert!(host.group("cg-friends9-star").contains("status.last"));
    assert_eq!(counted(&host, "star"), 20_000);

    host.add_user("late", "Late");
    assert!(on_requests(&host, "late", command("friend.request", "late", "star", "r-late")).rejected.is_none());
    let before = host.snapshot_without_answers();
    let r = on_requests(&host, "star", command("friend.request.accepted", "late", "star", "a-late"));
    assert_eq!(r.rejected.as_deref(), Some("friend limit (20,000) reached for: star"));
    assert!(r.lines.iter().any(|(_, line)| line == "rejected: friend limit (20,000) reached for: star"), "logged: {r:?}");
    assert_eq!(host.snapshot_without_answers(), before, "no state change: the request stays pending");
    // The limit holds on either side: star's own request to someone new cannot be accepted.
    host.add_user("other", "Other");
    assert!(on_requests(&host, "star", command("friend.request", "star", "other", "r-other")).rejected.is_none());
    let before = host.snapshot_without_answers();
    assert!(on_requests(&host, "other", command("friend.request.accepted", "star", "other", "a-other")).is_rejected());
    assert_eq!(host.snapshot_without_answers(), before);
    host.assert_within_budget();
}

/// A user who once had 9,000 friends and lost the older ones: the count (6,000) points at
/// group 3, and groups 3, 4 and 5 are full. The acceptance tries two groups, then undoes
/// what it wrote (the requester's group entry, the claim, both counts) instead of leaving a
/// half-made friendship, and says why. Once a removal frees room it completes normally.
#[test]
fn three_full_groups_undo_the_acceptance_instead_of_leaving_it_half_made() {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("star", "Star");
    for g in 3..=5 {
        seed_placed_friends(&host, "star", g, 2000);
    }
    host.add_user("late", "Late");
    let r = on_requests(&host, "late", command("friend.request", "late", "star", "r-late"));
    assert!(r.rejected.is_none(), "{r:?}");
    let added = || host.published().iter().filter(|(_, m)| m["type"] == "friend.added").count();
    let published = added();
    let r = on_requests(&host, "star", command("friend.request.accepted", "late", "star", "a-late"));
    assert!(r.rejected.as_deref().is_some_and(|w| w.contains("no room") && w.contains("star")), "{:?}", r.rejected);
    // Nothing half-made: no group entry, no membership, counts and the claim given back.
    assert!(host.group("cg-friends-late").is_empty());
    assert!((3..=5).all(|g| host.group(&format!("cg-friends{g}-star")).len() == 2000));
    assert!(host.members("friends.late").is_empty() && !host.members("friends.star").contains_key("late"));
    assert_eq!(outcome(&host, "star", "a-late"), Some(Err("limit".into())));
    assert_eq!(added(), published, "no friend.added");
    assert!(host.kv_value("friend-request:late:star").is_some(), "the request stays pending");
    assert_eq!(counted(&host, "star"), 6000);
    assert_eq!(friend_count(&host, "late"), 0);

    // A removal frees a place in group 3; the retried acceptance completes there.
    host.state_remove_from_group("cg-friends3-star", "status.placed-3-0000");
    let r = on_requests(&host, "star", command("friend.request.accepted", "late", "star", "a-late-2"));
    assert!(r.rejected.is_none(), "{r:?}");
    assert_eq!(recorded_group(&host, "star", "late"), 3);
    recount(&host);
    assert_eq!(counted(&host, "star"), 6001);
    assert_eq!(counted(&host, "late"), 1);
    host.assert_within_budget();
}
