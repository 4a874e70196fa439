//! The friend commands' decisions, input → output, without a host: `core::friends`.

use friends_presence::core::friends::{self as fr, AcceptDecision, Command, CommandKind, CommandRecord, PendingRequest, RequestDecision};
use friends_presence::domain::contract::Reason;
use friends_presence::domain::messages::CommandResult;
use friends_presence::domain::time::iso8601;
use friends_presence::domain::{Json, JsonObject, UserId};
use friends_presence::host::UserRecord;

use super::T0;

const NO_BLOCKS: fr::Blocks = fr::Blocks { a_blocked_b: false, b_blocked_a: false };

fn id(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn cmd(kind: CommandKind, a: &str, b: &str, event_id: &str) -> Command {
    Command { kind, user_a: id(a), user_b: id(b), event_id: event_id.into(), page: None, sum: 0 }
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
    let RequestDecision::Record { pending, write, notice } = fr::decide_request(&c, &alice, None, None, NO_BLOCKS, T0) else {
        panic!("not recorded")
    };
    assert_eq!(pending, PendingRequest { id: "r1".into(), at: T0, hidden: false });
    assert!(write);
    let notice = notice.expect("B is told");
    assert_eq!(notice.channel, "inbox.bob");
    assert_eq!(notice.message.kind, "friend.request.received");
    assert_eq!(notice.message.event_id, "evt_request_alice_r1", "the request's id: the same on every attempt");
    assert_eq!(notice.message.ts, iso8601(T0));
    assert_eq!(notice.message.payload.user_id.0, "alice");
    assert_eq!(notice.message.payload.name.as_deref(), Some("Alice"));
    assert_eq!(notice.message.payload.requested_at, iso8601(T0));
}

/// A re-sent request (same eventId) is announced again with the same message: a notice that
/// failed the first time reaches B on a re-send (it used to be dropped as a duplicate).
#[test]
fn a_re_sent_request_re_notifies_with_the_same_message_and_writes_nothing() {
    let c = cmd(CommandKind::Request, "alice", "bob", "r1");
    let alice = user("alice", "Alice", &[]);
    let RequestDecision::Record { notice: first, .. } = fr::decide_request(&c, &alice, None, None, NO_BLOCKS, T0) else { panic!() };
    let same = PendingRequest { id: "r1".into(), at: T0, hidden: false };
    let RequestDecision::Record { pending, write, notice } = fr::decide_request(&c, &alice, None, Some(&same), NO_BLOCKS, T0 + 9_000)
    else {
        panic!("a re-send must be announced again")
    };
    assert!(!write);
    assert_eq!(pending, same);
    assert_eq!(notice, first, "same eventId, ts and payload");
}

#[test]
fn a_request_between_friends_or_behind_another_pending_one_is_refused() {
    let c = cmd(CommandKind::Request, "alice", "bob", "r2");
    let alice = user("alice", "Alice", &[]);
    let older = PendingRequest { id: "r1".into(), at: T0 - 5, hidden: false };
    let refused = |d| match d {
        RequestDecision::Refuse(r) => r.reason,
        other => panic!("not refused: {other:?}"),
    };
    assert_eq!(refused(fr::decide_request(&c, &alice, None, Some(&older), NO_BLOCKS, T0)), Reason::AlreadyPending);
    let m = membership(&[("requestId", Json::str("r0"))]);
    assert_eq!(refused(fr::decide_request(&c, &alice, Some(&m), None, NO_BLOCKS, T0)), Reason::AlreadyFriends);
}

#[test]
fn declining_needs_a_pending_request() {
    assert_eq!(fr::decide_decline(None, None).unwrap_err().reason, Reason::NotPending);
    assert!(fr::decide_decline(None, Some(&PendingRequest { id: "r1".into(), at: T0, hidden: false })).is_ok());
    // A request hidden by a block never reached B: nothing to decline.
    assert_eq!(
        fr::decide_decline(None, Some(&PendingRequest { id: "r1".into(), at: T0, hidden: true })).unwrap_err().reason,
        Reason::NotPending
    );
    // Re-sent after it removed the request but before it answered: finished, not refused.
    assert!(fr::decide_decline(Some(&fr::CommandRecord::under_way(T0)), None).is_ok());
}

#[test]
fn the_friend_limit_refuses_either_user_at_20000() {
    let below = user("alice", "Alice", &[("friendCount", Json::num(19_999))]);
    let full = user("bob", "Bob", &[("friendCount", Json::num(20_000))]);
    assert!(fr::check_friend_limit(&below, &below).is_ok());
    let refused = fr::check_friend_limit(&below, &full).unwrap_err();
    assert_eq!(refused.reason, Reason::Limit);
    assert!(refused.why.0.contains("bob"), "{refused:?}");
    assert!(fr::check_friend_limit(&full, &below).is_err());
}

#[test]
fn a_full_group_falls_over_to_the_next_once_at_most_and_never_past_the_last() {
    assert_eq!(fr::fallback_group(0, 0), Some(1));
    assert_eq!(fr::fallback_group(1, 0), Some(2));
    assert_eq!(fr::fallback_group(1, 1), None, "one fallback in all");
    assert_eq!(fr::fallback_group(9, 0), None);
}

fn proceed(d: AcceptDecision) -> (fr::AcceptPlan, bool) {
    match d {
        AcceptDecision::Proceed { plan, fresh } => (plan, fresh),
        AcceptDecision::Refuse(r) => panic!("refused: {r:?}"),
    }
}

fn refused(d: AcceptDecision) -> Reason {
    match d {
        AcceptDecision::Refuse(r) => r.reason,
        AcceptDecision::Proceed { .. } => panic!("not refused"),
    }
}

#[test]
fn an_acceptance_places_each_friend_by_count_and_tells_each_inbox_about_the_other() {
    let c = cmd(CommandKind::Accept, "alice", "bob", "a1");
    let pending = PendingRequest { id: "r1".into(), at: T0 - 1_000, hidden: false };
    let alice = user("alice", "Alice", &[]);
    let bob = user("bob", "Bob", &[("online", Json::Bool(true)), ("friendCount", Json::num(2_000))]);
    let (plan, fresh) = proceed(fr::decide_accept(&c, None, Some(&pending), None, &alice, &bob, T0));
    assert!(fresh, "the plan is to be recorded first");
    assert_eq!(plan.record, CommandRecord { at: T0, instance: Some("r1".into()), groups: Some([0, 1]), ..Default::default() });
    let [a, b] = &plan.sides;
    assert_eq!((a.user.as_str(), a.friend.as_str(), a.group), ("alice", "bob", 0));
    assert_eq!((b.user.as_str(), b.friend.as_str(), b.group), ("bob", "alice", 1), "bob's 2,001st friend");
    assert_eq!(a.notice.channel, "inbox.alice");
    assert_eq!(a.notice.message.payload.user_id.0, "bob");
    assert!(a.notice.message.payload.online, "bob's online flag as App Context has it");
    assert_eq!(b.notice.channel, "inbox.bob");
    assert!(!b.notice.message.payload.online);
    assert_eq!(b.notice.message.event_id, "evt_added_alice_r1", "named by the friendship: the same on every attempt");
    let m = plan.membership(1, [4, 3]);
    assert_eq!(m.str("status"), Some("accepted"));
    assert_eq!((m.u64("group"), m.u64("peerGroup")), (Some(3), Some(4)), "bob's group for alice, alice's for bob");
    assert_eq!(m.str("requestId"), Some("r1"), "the friendship instance a removal claims by");
    assert_eq!(m.str("addedAt").map(str::to_owned), Some(iso8601(T0)));
}

/// A re-send carries out the recorded plan: the same groups and time, even when the counts
/// moved meanwhile (placing by the new count would leave a group entry behind).
#[test]
fn a_re_sent_acceptance_follows_its_recorded_plan() {
    let c = cmd(CommandKind::Accept, "alice", "bob", "a1");
    let pending = PendingRequest { id: "r1".into(), at: T0 - 1_000, hidden: false };
    let alice = user("alice", "Alice", &[("friendCount", Json::num(5_000))]);
    let bob = user("bob", "Bob", &[("friendCount", Json::num(20_000))]);
    let journal = CommandRecord { at: T0 - 60_000, instance: Some("r1".into()), groups: Some([1, 2]), ..Default::default() };
    let (plan, fresh) = proceed(fr::decide_accept(&c, Some(&journal), Some(&pending), None, &alice, &bob, T0));
    assert!(!fresh);
    assert_eq!(plan.record, journal);
    assert_eq!([plan.sides[0].group, plan.sides[1].group], [1, 2]);
    assert_eq!(plan.sides[0].notice.message.ts, iso8601(T0 - 60_000));
    // The request was already deleted by this command (its memberships carry its instance).
    let ours = membership(&[("requestId", Json::str("r1"))]);
    let (plan, _) = proceed(fr::decide_accept(&c, Some(&journal), None, Some(&ours), &alice, &bob, T0));
    assert_eq!(plan.instance(), "r1");
}

/// Mutual requests: whichever acceptance comes second finds the friendship the first one
/// made, with another instance, and is refused instead of counting it again.
#[test]
fn an_acceptance_is_refused_without_a_request_or_when_already_friends_through_another() {
    let c = cmd(CommandKind::Accept, "alice", "bob", "a2");
    let (alice, bob) = (user("alice", "Alice", &[]), user("bob", "Bob", &[]));
    let pending = PendingRequest { id: "r2".into(), at: T0, hidden: false };
    let other = membership(&[("requestId", Json::str("r1"))]);
    assert_eq!(refused(fr::decide_accept(&c, None, Some(&pending), Some(&other), &alice, &bob, T0)), Reason::AlreadyFriends);
    assert_eq!(refused(fr::decide_accept(&c, None, None, Some(&other), &alice, &bob, T0)), Reason::AlreadyFriends);
    assert_eq!(refused(fr::decide_accept(&c, None, None, None, &alice, &bob, T0)), Reason::NotPending);
    // Its plan was recorded, then a removal (or a decline) took the request before any
    // membership was written: nothing to finish.
    let journal = CommandRecord { at: T0, instance: Some("r2".into()), groups: Some([0, 0]), ..Default::default() };
    assert_eq!(refused(fr::decide_accept(&c, Some(&journal), None, None, &alice, &bob, T0)), Reason::NotPending);
    let newer = PendingRequest { id: "r3".into(), at: T0, hidden: false };
    assert_eq!(refused(fr::decide_accept(&c, Some(&journal), Some(&newer), None, &alice, &bob, T0)), Reason::NotPending);
    let full = user("bob", "Bob", &[("friendCount", Json::num(20_000))]);
    assert_eq!(refused(fr::decide_accept(&c, None, Some(&pending), None, &alice, &full, T0)), Reason::Limit);
}

#[test]
fn a_removal_records_the_instance_and_both_groups_from_either_side() {
    let c = cmd(CommandKind::Remove, "bob", "alice", "x1");
    assert_eq!(fr::plan_removal(&c, None, None, None, T0).unwrap_err().reason, Reason::NotFriends);
    // Only alice's side is left (a removal interrupted earlier): her record names both groups.
    let alice_side = membership(&[("requestId", Json::str("r7")), ("group", Json::num(4)), ("peerGroup", Json::num(2))]);
    let plan = fr::plan_removal(&c, None, None, Some(&alice_side), T0).unwrap();
    assert_eq!(plan.record.instance.as_deref(), Some("r7"));
    assert_eq!(plan.record.groups, Some([2, 4]), "bob's group for alice, alice's for bob");
    let [b, a] = &plan.sides;
    assert_eq!((b.user.as_str(), b.friend.as_str(), b.group), ("bob", "alice", 2));
    assert_eq!((a.user.as_str(), a.friend.as_str(), a.group), ("alice", "bob", 4));
    assert_eq!(a.notice.channel, "inbox.alice");
    assert_eq!(a.notice.message.kind, "friend.removed");
    assert_eq!(a.notice.message.event_id, "evt_removed_bob_r7");
    assert_eq!(a.notice.message.payload.removed_at, iso8601(T0));
    // Memberships made before they recorded an instance or a peer group.
    let bare = membership(&[]);
    let plan = fr::plan_removal(&c, None, Some(&bare), None, T0).unwrap();
    assert_eq!((plan.record.instance.as_deref(), plan.record.groups), (Some("legacy"), Some([0, 0])));
    // A re-send finishes the recorded plan even with both memberships gone.
    let journal = CommandRecord { at: T0 - 5, instance: Some("r7".into()), groups: Some([1, 3]), ..Default::default() };
    let plan = fr::plan_removal(&c, Some(&journal), None, None, T0).unwrap();
    assert_eq!(plan.record, journal);
    assert_eq!(plan.sides[1].notice.message.ts, iso8601(T0 - 5));
}

#[test]
fn every_command_is_answered_on_the_senders_inbox_with_its_event_id_and_a_stable_code() {
    let c = cmd(CommandKind::Accept, "alice", "bob", "a1");
    let ok = fr::command_result(&c, &CommandRecord::answered(None, T0));
    assert_eq!(ok.channel, "inbox.bob", "the acceptance's sender is bob");
    assert_eq!(ok.message.kind, "friend.command.result");
    assert_eq!(ok.message.event_id, "evt_result_a1");
    assert_eq!(ok.message.ts, iso8601(T0));
    assert_eq!(
        ok.message.payload,
        CommandResult { event_id: Some("a1".into()), command: "friend.request.accepted".into(), ok: true, reason: None }
    );
    let no = fr::command_result(&c, &CommandRecord::answered(Some(Reason::NotPending), T0));
    assert_eq!((no.message.payload.ok, no.message.payload.reason), (false, Some("not_pending")));
    for r in Reason::ALL {
        assert_eq!(Reason::from_code(r.code()), Some(r));
    }
    assert_eq!(Reason::SelfFriend.code(), "self");
}

#[test]
fn a_cancel_names_the_request_it_withdraws_and_is_too_late_once_that_request_made_friends() {
    let pending = PendingRequest { id: "r1".into(), at: T0 - 5, hidden: false };
    let record = fr::decide_cancel(None, Some(&pending), T0).unwrap();
    assert_eq!((record.done, record.instance.as_deref(), record.at), (false, Some("r1"), T0));
    assert_eq!(fr::decide_cancel(None, None, T0).unwrap_err().reason, Reason::NotPending);
    // A re-send carries on with its record, request or not.
    assert_eq!(fr::decide_cancel(Some(&record), None, T0 + 9).unwrap(), record);
    let ours = membership(&[("requestId", Json::str("r1"))]);
    let other = membership(&[("requestId", Json::str("r0"))]);
    assert_eq!(fr::cancel_outcome(&record, Some(&ours)).unwrap_err().reason, Reason::AlreadyFriends);
    assert!(fr::cancel_outcome(&record, Some(&other)).is_ok(), "friends through another request: this one is cancelled");
    assert!(fr::cancel_outcome(&record, None).is_ok());
}

#[test]
fn a_request_to_someone_who_blocked_the_sender_is_pending_to_the_sender_but_never_reaches_the_target() {
    let c = cmd(CommandKind::Request, "alice", "bob", "r1");
    let alice = user("alice", "Alice", &[]);
    let blocked_by_bob = fr::Blocks { a_blocked_b: false, b_blocked_a: true };
    let RequestDecision::Record { pending, write, notice } = fr::decide_request(&c, &alice, None, None, blocked_by_bob, T0) else {
        panic!("answered as if sent")
    };
    assert_eq!(pending, PendingRequest { id: "r1".into(), at: T0, hidden: true });
    assert!(write && notice.is_none(), "recorded, bob not told");
    assert_eq!(fr::request_listing(&pending).bool("hidden"), Some(true));
    // A re-send keeps it hidden, a second request is refused as any pending one is.
    let again = fr::decide_request(&c, &alice, None, Some(&pending), blocked_by_bob, T0 + 5);
    assert!(matches!(again, RequestDecision::Record { write: false, notice: None, .. }));
    let other = cmd(CommandKind::Request, "alice", "bob", "r2");
    assert!(matches!(
        fr::decide_request(&other, &alice, None, Some(&pending), NO_BLOCKS, T0),
        RequestDecision::Refuse(r) if r.reason == Reason::AlreadyPending
    ));
    // Bob can neither decline nor accept what never reached him.
    assert_eq!(fr::decide_decline(None, Some(&pending)).unwrap_err().reason, Reason::NotPending);
    let accept = cmd(CommandKind::Accept, "alice", "bob", "a1");
    let bob = user("bob", "Bob", &[]);
    assert!(matches!(
        fr::decide_accept(&accept, None, Some(&pending), None, &alice, &bob, T0),
        AcceptDecision::Refuse(r) if r.reason == Reason::NotPending
    ));
    // Alice asking someone she blocked herself is refused: unblock first.
    let alice_blocked_bob = fr::Blocks { a_blocked_b: true, b_blocked_a: false };
    assert!(matches!(
        fr::decide_request(&c, &alice, None, None, alice_blocked_bob, T0),
        RequestDecision::Refuse(r) if r.reason == Reason::Forbidden
    ));
}

#[test]
fn a_block_ends_a_friendship_like_a_removal_and_its_re_send_finishes_the_same_plan() {
    let c = cmd(CommandKind::Block, "alice", "bob", "b1");
    let m = |g: u64, peer: u64| membership(&[("requestId", Json::str("r1")), ("group", Json::num(g)), ("peerGroup", Json::num(peer))]);
    let plan = fr::plan_block(&c, None, Some(&m(1, 0)), Some(&m(0, 1)), T0);
    let removal = plan.removal.as_ref().expect("the friendship ends");
    assert_eq!(plan.record.instance.as_deref(), Some("r1"));
    assert_eq!([removal.sides[0].group, removal.sides[1].group], [1, 0]);
    assert_eq!(removal.sides[1].notice.channel, "inbox.bob");
    // The re-send reads nothing and finishes the recorded plan.
    assert_eq!(fr::plan_block(&c, Some(&plan.record), None, None, T0 + 50), plan);
    // Not friends: only the block (and the requests); a re-send stays that way.
    let plain = fr::plan_block(&c, None, None, None, T0);
    assert!(plain.removal.is_none() && plain.record.instance.is_none());
    assert!(fr::plan_block(&c, Some(&plain.record), Some(&m(0, 0)), None, T0).removal.is_none());
}

/// A refused acceptance takes away the group entries its journal placed, but not the
/// friendship's own: when both users accepted each other's requests at once, the one refused
/// `already_friends` placed the same channels in the same groups as the one that made it
/// (found by tests/node/counts-faults.test.mjs: the pair was left without group entries).
#[test]
fn a_refused_acceptance_removes_only_the_group_entries_the_friendship_does_not_use() {
    assert_eq!(fr::stray_groups([0, 0], None), [Some(0), Some(0)], "not friends: all go");
    let same = membership(&[("group", Json::num(0)), ("peerGroup", Json::num(0))]);
    assert_eq!(fr::stray_groups([0, 0], Some(&same)), [None, None], "the friendship's own stay");
    let moved = membership(&[("group", Json::num(1)), ("peerGroup", Json::num(0))]);
    assert_eq!(fr::stray_groups([0, 0], Some(&moved)), [Some(0), None], "A's entry is elsewhere: the placed one goes");
    assert_eq!(fr::stray_groups([2, 3], Some(&membership(&[]))), [Some(2), Some(3)], "groups unknown: all go");
}
