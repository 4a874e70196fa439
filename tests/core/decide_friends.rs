//! The friend commands' decisions, input → output, without a host: `core::friends`.

use friends_presence::core::friends::{self as fr, Command, CommandKind, PendingRequest, RequestDecision, SyncCursor};
use friends_presence::domain::time::iso8601;
use friends_presence::domain::{Json, JsonObject, UserId};
use friends_presence::host::{Member, MemberFilter, MembersPage, UserRecord};

use super::T0;

fn id(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn cmd(kind: CommandKind, a: &str, b: &str, event_id: &str) -> Command {
    Command { kind, user_a: id(a), user_b: id(b), event_id: event_id.into(), page: None }
}

fn user(id: &str, name: &str, fields: &[(&str, Json)]) -> UserRecord {
    let mut custom = JsonObject::default();
    for (k, v) in fields {
        custom.set(k, v.clone());
    }
    UserRecord { id: id.into(), name: Some(name.into()), profile_url: None, custom, etag: Some("e1".into()) }
}

fn membership(fields: &[(&str, Json)]) -> JsonObject {
    let mut custom = JsonObject::default();
    for (k, v) in fields {
        custom.set(k, v.clone());
    }
    custom
}

#[test]
fn a_request_is_recorded_and_announced_to_the_requested_users_inbox() {
    let c = cmd(CommandKind::Request, "alice", "bob", "r1");
    let alice = user("alice", "Alice", &[]);
    let RequestDecision::Record { pending, notice } = fr::decide_request(&c, &alice, false, None, T0) else { panic!("not recorded") };
    assert_eq!(pending, PendingRequest { id: "r1".into(), at: T0 });
    assert_eq!(notice.channel, "inbox.bob");
    assert_eq!(notice.message.kind, "friend.request.received");
    assert_eq!(notice.message.event_id, format!("evt_request_alice_{T0}"));
    assert_eq!(notice.message.payload.user_id.0, "alice");
    assert_eq!(notice.message.payload.name.as_deref(), Some("Alice"));
    assert_eq!(notice.message.payload.requested_at, iso8601(T0));
    // A new request (another id) replaces an older one.
    let older = PendingRequest { id: "r0".into(), at: T0 - 5 };
    let RequestDecision::Record { pending, .. } = fr::decide_request(&c, &alice, false, Some(&older), T0) else { panic!() };
    assert_eq!(pending.id, "r1");
}

#[test]
fn a_repeated_request_or_one_between_friends_records_nothing() {
    let c = cmd(CommandKind::Request, "alice", "bob", "r1");
    let alice = user("alice", "Alice", &[]);
    let same = PendingRequest { id: "r1".into(), at: T0 - 5 };
    assert_eq!(fr::decide_request(&c, &alice, false, Some(&same), T0), RequestDecision::Duplicate);
    assert_eq!(fr::decide_request(&c, &alice, true, None, T0), RequestDecision::AlreadyFriends);
    assert_eq!(fr::decide_request(&c, &alice, true, Some(&same), T0), RequestDecision::AlreadyFriends);
}

#[test]
fn declining_needs_a_pending_request() {
    assert!(fr::decide_decline(None).is_err());
    assert_eq!(fr::decide_decline(Some(&PendingRequest { id: "r1".into(), at: T0 })), Ok(()));
}

#[test]
fn the_friend_limit_refuses_either_user_at_20000() {
    let below = user("alice", "Alice", &[("friendCount", Json::num(19_999))]);
    let full = user("bob", "Bob", &[("friendCount", Json::num(20_000))]);
    assert_eq!(fr::check_friend_limit(&below, &below), Ok(()));
    let refused = fr::check_friend_limit(&below, &full).unwrap_err();
    assert!(refused.0.contains("bob"), "{refused:?}");
    assert!(fr::check_friend_limit(&full, &below).is_err());
}

#[test]
fn a_full_group_falls_over_to_the_next_twice_at_most_and_never_past_the_last() {
    assert_eq!(fr::fallback_group(0, 0), Some(1));
    assert_eq!(fr::fallback_group(1, 1), Some(2));
    assert_eq!(fr::fallback_group(2, 2), None);
    assert_eq!(fr::fallback_group(9, 0), None);
}

#[test]
fn an_acceptance_places_each_friend_by_count_and_tells_each_inbox_about_the_other() {
    let c = cmd(CommandKind::Accept, "alice", "bob", "a1");
    let pending = PendingRequest { id: "r1".into(), at: T0 - 1_000 };
    let alice = user("alice", "Alice", &[]);
    let bob = user("bob", "Bob", &[("online", Json::Bool(true))]);
    let plan = fr::plan_accept(&c, &pending, &alice, &bob, (1, 2_001), T0);
    let [a, b] = &plan.sides;
    assert_eq!((a.user.as_str(), a.friend.as_str(), a.group, a.count), ("alice", "bob", 0, 1));
    assert_eq!((b.user.as_str(), b.friend.as_str(), b.group, b.count), ("bob", "alice", 1, 2_001));
    assert_eq!(a.notice.channel, "inbox.alice");
    assert_eq!(a.notice.message.payload.user_id.0, "bob");
    assert!(a.notice.message.payload.online, "bob's online flag as App Context has it");
    assert_eq!(b.notice.channel, "inbox.bob");
    assert!(!b.notice.message.payload.online);
    assert_eq!(b.notice.message.event_id, format!("evt_added_alice_{T0}"));
    let m = plan.membership(3);
    assert_eq!(m.str("status"), Some("accepted"));
    assert_eq!(m.u64("group"), Some(3));
    assert_eq!(m.str("requestId"), Some("r1"), "the friendship instance a removal claims by");
    assert_eq!(m.str("addedAt").map(str::to_owned), Some(iso8601(T0)));
}

#[test]
fn a_removal_claims_the_recorded_instance_and_edits_the_recorded_groups() {
    let with_id = membership(&[("requestId", Json::str("r7")), ("group", Json::num(4))]);
    let bare = membership(&[]);
    assert!(fr::removal_instance(None, None).is_err(), "not friends");
    assert_eq!(fr::removal_instance(Some(&with_id), None).unwrap(), "r7");
    assert_eq!(fr::removal_instance(None, Some(&with_id)).unwrap(), "r7", "either side's record");
    assert_eq!(fr::removal_instance(Some(&bare), Some(&with_id)).unwrap(), "legacy", "A's record first");

    let c = cmd(CommandKind::Remove, "bob", "alice", "x1");
    let [b, a] = fr::plan_removal(&c, Some(&with_id), None, T0);
    assert_eq!((b.user.as_str(), b.friend.as_str(), b.group), ("bob", "alice", 4));
    assert_eq!((a.user.as_str(), a.friend.as_str(), a.group), ("alice", "bob", 0), "no record: the first group");
    assert_eq!(a.notice.channel, "inbox.alice");
    assert_eq!(a.notice.message.kind, "friend.removed");
    assert_eq!(a.notice.message.payload.user_id.0, "bob");
    assert_eq!(a.notice.message.payload.removed_at, iso8601(T0));
}

fn friend(id: &str, online: bool) -> Member {
    let mut u = user(id, id, &[("online", Json::Bool(online)), ("lastSeen", Json::str("2026-01-01T00:00:00.000Z"))]);
    u.profile_url = Some(format!("https://x/{id}"));
    Member { user: u, custom: JsonObject::default() }
}

fn sync_cmd(page: Option<&str>) -> Command {
    let mut c = cmd(CommandKind::Sync, "alice", "alice", "s1");
    c.page = page.map(|p| SyncCursor::parse(p).unwrap());
    c
}

#[test]
fn a_sync_reads_online_friends_first_then_the_rest_from_the_cursor() {
    assert_eq!(fr::sync_read(&sync_cmd(None)), (MemberFilter::Online, None));
    assert_eq!(fr::sync_read(&sync_cmd(Some("o:t1"))), (MemberFilter::Online, Some("t1")));
    assert_eq!(fr::sync_read(&sync_cmd(Some("r:"))), (MemberFilter::NotOnline, None));
}

#[test]
fn a_sync_page_lists_its_friends_and_points_at_the_next_page() {
    let page = MembersPage { members: vec![friend("f1", true), friend("f2", true)], next: Some("t2".into()), total: Some(3) };
    let reply = fr::sync_reply(&sync_cmd(None), page, 5, T0);
    assert_eq!(reply.channel, "inbox.alice");
    let p = &reply.message.payload;
    assert_eq!(reply.message.kind, "friends.sync");
    assert_eq!(reply.message.event_id, format!("evt_sync_s1_{T0}"), "carries the request's id");
    assert_eq!(p.request_id, "s1");
    assert_eq!(p.friends.iter().map(|f| f.user_id.0.as_str()).collect::<Vec<_>>(), ["f1", "f2"]);
    assert_eq!(p.friends[0].profile_url.as_deref(), Some("https://x/f1"));
    assert_eq!(p.friends[0].last_seen.as_deref(), Some("2026-01-01T00:00:00.000Z"));
    assert_eq!(p.online_friends, ["f1", "f2"]);
    assert_eq!((p.total_friends, p.total_online), (5, Some(3)));
    assert_eq!(p.next.as_deref(), Some("o:t2"));
}

#[test]
fn when_online_friends_run_out_the_next_page_starts_the_others() {
    let last_online = || MembersPage { members: vec![friend("f3", true)], next: None, total: Some(3) };
    let reply = fr::sync_reply(&sync_cmd(Some("o:t2")), last_online(), 5, T0);
    assert_eq!(reply.message.payload.next.as_deref(), Some("r:"), "2 friends are not online");
    let reply = fr::sync_reply(&sync_cmd(Some("o:t2")), last_online(), 3, T0);
    assert_eq!(reply.message.payload.next, None, "everyone is online: done");
    // The others: their total is the rest of the friend count.
    let rest = MembersPage { members: vec![friend("f4", false)], next: None, total: Some(2) };
    let reply = fr::sync_reply(&sync_cmd(Some("r:")), rest, 5, T0);
    let p = &reply.message.payload;
    assert_eq!((p.total_online, p.next.as_deref()), (Some(3), None));
    assert!(p.online_friends.is_empty() && !p.friends[0].online);
}
