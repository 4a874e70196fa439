//! The order of docs/design.md §4, end to end: the handlers on the fake host make the
//! messages, a client view (`client::FriendsView`) receives them in every arrival order, and
//! must end showing the last change, whatever the sources and however their times compare.

use friends_presence::client::FriendsView;
use friends_presence::core::Config;
use friends_presence::domain::UserId;
use friends_presence::handlers::friends as fh;
use friends_presence::host::fake::{block_on, FakeHost};
use serde_json::{json, Value};

use super::friends::{befriend, command, on_management, on_requests, sync_request};
use super::{json, presence_event, settle_run, T0};

/// Every order of `0..n` (Heap's algorithm); n ≤ 6 here.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn heap(k: usize, a: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..k {
            heap(k - 1, a, out);
            let j = if k % 2 == 0 { i } else { 0 };
            a.swap(j, k - 1);
        }
    }
    let mut out = Vec::new();
    heap(n, &mut (0..n).collect(), &mut out);
    out
}

fn settings(host: &FakeHost, me: &str, payload: Value, id: &str) {
    let mut p = payload;
    p["userA"] = json!(me);
    let msg = json!({ "type": "user.settings", "schemaVersion": "1.0.0", "eventId": id, "ts": "2026-01-01T00:00:00.000Z", "payload": p });
    let exec = host.execution();
    let r = block_on(fh::user_settings(&exec, &Config::default(), &format!("friend-management.{me}"), Some(me), &json(msg), host.now()));
    assert!(r.rejected.is_none(), "{r:?}");
}

/// amy and dee are friends; dee joined at T0 (announced). Returns the host with the
/// messages so far taken (amy's view gets them first, in order: see [`view_after`]).
fn world() -> (FakeHost, Vec<(String, Value)>) {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("amy", "Amy");
    host.add_user("dee", "Dee");
    befriend(&host, "amy", "dee");
    presence_event(&host, "dee", "join");
    let before = host.take_published();
    (host, before)
}

/// Settle runs every second for `ms`.
fn settle_for(host: &FakeHost, ms: u64) {
    for _ in 0..ms / 1_000 {
        host.advance(1_000);
        settle_run(host, &Config::default());
    }
}

/// amy's view after `before` (in order), then `msgs` in `order`.
fn view_after(before: &[(String, Value)], msgs: &[(String, Value)], order: &[usize]) -> FriendsView {
    let mut view = FriendsView::new(UserId::parse("amy").unwrap());
    for (channel, m) in before.iter().chain(order.iter().map(|&i| &msgs[i])) {
        view.apply(Some(channel), &json(m.clone()));
    }
    view
}

/// Messages amy receives (dee's status, amy's inbox) published since the last take.
fn for_amy(host: &FakeHost) -> Vec<(String, Value)> {
    host.take_published().into_iter().filter(|(c, _)| c == "status.dee" || c == "inbox.amy").collect()
}

/// In every arrival order of `msgs`, amy's view ends as dee's record says: online and the
/// status message.
fn assert_last_change_wins(before: &[(String, Value)], msgs: &[(String, Value)], host: &FakeHost, case: &str) {
    let custom = host.user_custom("dee").unwrap();
    let online = custom["online"] == true;
    let message = custom["statusMessage"].as_str().map(str::to_owned);
    assert!(!msgs.is_empty(), "{case}: no messages");
    // No two status messages carry one version (a version is published only once committed).
    let mut versions: Vec<u64> = before
        .iter()
        .chain(msgs)
        .filter(|(c, _)| c.starts_with("status."))
        .map(|(_, m)| m["payload"]["version"].as_u64().expect("a status message carries its version"))
        .collect();
    let n = versions.len();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), n, "{case}: a version published twice");
    for order in permutations(msgs.len()) {
        let view = view_after(before, msgs, &order);
        let dee = view.friend("dee").unwrap_or_else(|| panic!("{case}: dee not listed in order {order:?}"));
        assert_eq!(dee.online, online, "{case}: arrival order {order:?} of {msgs:#?}");
        assert_eq!(dee.status_message, message, "{case}: status message, arrival order {order:?}");
    }
}

/// The case: dee appears offline, then visible again at …:29.606 (`friend.online`
/// stamped with the Function's clock), then leaves at …:29 (`friend.offline` stamped with the
/// whole-second presence time, held by the debounce and published by the settle path).
#[test]
fn visible_then_leave_in_one_second_ends_offline_in_every_arrival_order() {
    let (host, before) = world();
    host.set_now(T0 + 10_000);
    settings(&host, "dee", json!({ "invisible": true }), "s1");
    host.set_now(T0 + 29_606);
    settings(&host, "dee", json!({ "invisible": false }), "s2");
    host.set_now(T0 + 29_800);
    presence_event(&host, "dee", "leave");
    settle_for(&host, 20_000);
    let msgs = for_amy(&host);
    let kinds: Vec<&str> = msgs.iter().map(|(_, m)| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["friend.offline", "friend.online", "friend.offline"]);
    assert!(msgs[2].1["ts"].as_str().unwrap() < msgs[1].1["ts"].as_str().unwrap(), "the offline carries the earlier time");
    assert_eq!(host.user_custom("dee").unwrap()["online"], false);
    assert_last_change_wins(&before, &msgs, &host, "visible then leave");
    host.assert_within_budget();
}

/// One source's change of dee, at the host's time.
#[derive(Clone, Copy, Debug)]
enum Change {
    Join,
    Leave,
    Invisible(bool),
    StatusMessage(&'static str),
    /// amy's initial load (a reader: its page carries dee's version).
    Sync,
    /// eli and dee become friends: the recount writes dee's record (`friendCount`), ETag and all.
    Befriend,
}

fn apply(host: &FakeHost, change: Change, n: usize) {
    match change {
        Change::Join => {
            presence_event(host, "dee", "join");
        }
        Change::Leave => {
            presence_event(host, "dee", "leave");
        }
        Change::Invisible(on) => settings(host, "dee", json!({ "invisible": on }), &format!("inv-{n}")),
        Change::StatusMessage(text) => settings(host, "dee", json!({ "statusMessage": text }), &format!("msg-{n}")),
        Change::Befriend => {
            befriend(host, "eli", "dee");
            assert_eq!(host.user_custom("dee").unwrap()["friendCount"], 2, "the recount wrote dee's record");
        }
        Change::Sync => {
            // Every page in one answer (online friends first, then the others).
            let mut request = sync_request("amy", &format!("sync-{n}"), None);
            request["payload"]["pages"] = json!(9);
            let r = on_management(host, "amy", request);
            assert!(r.rejected.is_none(), "{r:?}");
        }
    }
}

/// `setup` first (outside the second), then `first` and `second` inside one wall-clock second
/// (at .100 and .900, so the Functions' millisecond clocks and the whole-second presence times
/// disagree), then the settle path for 20 s and a last sync; every arrival order of what amy
/// got since `setup` ends on dee's last state.
fn pair(setup: &[Change], first: Change, second: Change) {
    let (host, before) = world();
    for (n, &c) in setup.iter().enumerate() {
        host.advance(7_000); // past the debounce window: each is announced at once
        apply(&host, c, n);
    }
    let mut before = before;
    before.extend(for_amy(&host));
    let second_start = (host.now() / 1_000 + 7) * 1_000;
    host.set_now(second_start + 100);
    apply(&host, first, 100);
    host.set_now(second_start + 900);
    apply(&host, second, 101);
    settle_for(&host, 20_000);
    let mut msgs = for_amy(&host);
    apply(&host, Change::Sync, 102);
    msgs.extend(for_amy(&host).into_iter().filter(|(_, m)| m["type"] == "friends.sync"));
    // Keep the permutations few: status messages and sync pages only (amy's other inbox
    // messages are command results of nobody's).
    msgs.retain(|(_, m)| m["type"] != "friend.command.result");
    assert!(msgs.len() <= 6, "{first:?} {second:?}: {} messages", msgs.len());
    assert_last_change_wins(&before, &msgs, &host, &format!("{setup:?} then {first:?}, {second:?}"));
    host.assert_within_budget();
}

#[test]
fn presence_and_settings_in_one_second_in_both_orders() {
    use Change::*;
    pair(&[], Invisible(true), Leave);
    pair(&[], Leave, Invisible(true));
    pair(&[Invisible(true)], Invisible(false), Leave);
    pair(&[Invisible(true)], Leave, Invisible(false));
    pair(&[], StatusMessage("busy"), Leave);
    pair(&[], Leave, StatusMessage("busy"));
    pair(&[Leave], Join, StatusMessage("back"));
    pair(&[Leave], StatusMessage("back"), Join);
    pair(&[Leave], Join, Invisible(true));
    pair(&[Leave], Invisible(true), Join);
}

/// The settle path's publish (a held offline) and a settings change or presence event in the
/// second it goes out.
#[test]
fn the_settlers_publish_and_another_source_in_one_second() {
    use Change::*;
    // Leave right after a join: held; the settler publishes it while dee changes settings.
    pair(&[Leave], Join, Leave);
    pair(&[Leave, Join], Leave, StatusMessage("away"));
    pair(&[Leave, Join], Leave, Join);
    pair(&[Leave, Join], Leave, Invisible(true));
}

/// A friendship's recount writes the record in the second of a presence change.
#[test]
fn a_recount_and_a_presence_change_in_one_second() {
    use Change::*;
    pair(&[], Leave, Befriend);
    pair(&[], Befriend, Leave);
    pair(&[Leave], Befriend, Join);
    pair(&[], Befriend, StatusMessage("new friend"));
}

/// A sync page read between two changes, or after them, in every arrival order.
#[test]
fn a_sync_page_and_a_change_in_one_second() {
    use Change::*;
    pair(&[], Sync, Leave);
    pair(&[], Leave, Sync);
    pair(&[], Sync, StatusMessage("lunch"));
    pair(&[Leave], Sync, Join);
    pair(&[], Invisible(true), Sync);
}

// ---- requests: ordered per request ------------------------------------------------------

fn inbox_of(host: &FakeHost, user: &str) -> Vec<(String, Value)> {
    let channel = format!("inbox.{user}");
    host.published().into_iter().filter(|(c, m)| *c == channel && m["type"] != "friend.command.result").collect()
}

fn view_of(user: &str, msgs: &[(String, Value)], order: &[usize], track: &[Value]) -> FriendsView {
    let mut view = FriendsView::new(UserId::parse(user).unwrap());
    for t in track {
        view.track(&json(t.clone())).unwrap();
    }
    for &i in order {
        view.apply(Some(&msgs[i].0), &json(msgs[i].1.clone()));
    }
    view
}

/// B loads the page after A's request (the page lists it, stamped later than the request);
/// A cancels: in every arrival order of the notice, the page and the cancel, B lists nothing.
#[test]
fn a_cancel_after_the_load_takes_the_request_off_in_every_arrival_order() {
    let host = super::friends::setup();
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    host.advance(2_000);
    on_management(&host, "bob", sync_request("bob", "sync-b", None));
    host.advance(500);
    on_requests(&host, "alice", command("friend.request.cancel", "alice", "bob", "c1"));
    let msgs = inbox_of(&host, "bob");
    let kinds: Vec<&str> = msgs.iter().map(|(_, m)| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["friend.request.received", "friends.sync", "friend.request.cancelled"]);
    assert_eq!(msgs[1].1["payload"]["incoming"][0]["requestId"], "r1");
    for order in permutations(msgs.len()) {
        let view = view_of("bob", &msgs, &order, &[]);
        assert!(view.incoming().is_empty(), "order {order:?}: {:?}", view.incoming());
    }
    // A asks again: a new request, listed whatever came before.
    host.advance(1_000);
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r2"));
    let msgs = inbox_of(&host, "bob");
    for order in permutations(msgs.len()).into_iter().filter(|o| o.last() == Some(&3)) {
        let view = view_of("bob", &msgs, &order, &[]);
        let listed: Vec<_> = view.incoming().iter().map(|r| r.request_id.clone()).collect();
        assert_eq!(listed, [Some("r2".to_owned())], "order {order:?}");
    }
    host.assert_within_budget();
}

/// The load and the cancel inside one second, in both orders, every arrival order.
#[test]
fn a_cancel_and_a_load_in_one_second_in_both_orders() {
    for cancel_first in [false, true] {
        let host = super::friends::setup();
        on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
        host.set_now(T0 + 3_100);
        let sync = || on_management(&host, "bob", sync_request("bob", "sync-b", None));
        let cancel = || on_requests(&host, "alice", command("friend.request.cancel", "alice", "bob", "c1"));
        if cancel_first {
            cancel();
            host.set_now(T0 + 3_900);
            sync();
        } else {
            sync();
            host.set_now(T0 + 3_900);
            cancel();
        }
        let msgs = inbox_of(&host, "bob");
        assert_eq!(msgs.len(), 3);
        for order in permutations(msgs.len()) {
            assert!(view_of("bob", &msgs, &order, &[]).incoming().is_empty(), "cancel first {cancel_first}, order {order:?}");
        }
        host.assert_within_budget();
    }
}

/// A loads the page after its own request; B declines: A's outgoing ends empty in every
/// arrival order (the answer to A's own request included).
#[test]
fn a_decline_after_the_load_takes_the_outgoing_request_off_in_every_arrival_order() {
    let host = super::friends::setup();
    let request = command("friend.request", "alice", "bob", "r1");
    on_requests(&host, "alice", request.clone());
    host.advance(2_000);
    on_management(&host, "alice", sync_request("alice", "sync-a", None));
    host.advance(500);
    on_requests(&host, "bob", command("friend.request.declined", "alice", "bob", "d1"));
    let channel = "inbox.alice".to_owned();
    let msgs: Vec<(String, Value)> = host.published().into_iter().filter(|(c, _)| *c == channel).collect();
    let kinds: Vec<&str> = msgs.iter().map(|(_, m)| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["friend.command.result", "friends.sync", "friend.request.declined"]);
    for order in permutations(msgs.len()) {
        let view = view_of("alice", &msgs, &order, std::slice::from_ref(&request));
        assert!(view.outgoing().is_empty(), "order {order:?}: {:?}", view.outgoing());
    }
    host.assert_within_budget();
}

// ---- a committed change whose publish failed is announced again -------------------------

fn down() -> friends_presence::host::HostError {
    friends_presence::host::HostError::Rejected { status: 503, message: "down".into() }
}

#[test]
fn a_status_publish_that_fails_after_its_write_is_announced_again_by_the_settle_path() {
    let (host, before) = world();
    host.advance(7_000);
    host.fail_next("publish", "status.dee", down());
    presence_event(&host, "dee", "leave");
    assert_eq!(host.user_custom("dee").unwrap()["online"], false, "the write is committed first");
    assert!(for_amy(&host).is_empty(), "nothing reached amy");
    settle_for(&host, 15_000);
    let msgs = for_amy(&host);
    let kinds: Vec<&str> = msgs.iter().map(|(_, m)| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["friend.offline"], "announced again, once");
    assert_eq!(msgs[0].1["payload"]["version"], host.user_custom("dee").unwrap()["version"]);
    assert_last_change_wins(&before, &msgs, &host, "publish failed");
    host.assert_within_budget();
}

#[test]
fn a_settings_publish_that_fails_after_its_write_is_announced_again_by_the_settle_path() {
    let (host, before) = world();
    host.advance(7_000);
    host.fail_next("publish", "status.dee", down());
    settings(&host, "dee", json!({ "invisible": true }), "s1");
    assert_eq!(super::friends::outcome(&host, "dee", "s1"), Some(Ok(())), "queued, so answered");
    settle_for(&host, 15_000);
    let msgs = for_amy(&host);
    let kinds: Vec<&str> = msgs.iter().map(|(_, m)| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["friend.offline"]);
    assert_last_change_wins(&before, &msgs, &host, "settings publish failed");
    host.assert_within_budget();
}

/// A superseded re-announcement is dropped: a later write (here a join) was announced itself.
#[test]
fn a_failed_publish_superseded_by_a_later_change_is_not_announced_again() {
    let (host, before) = world();
    host.advance(7_000);
    host.fail_next("publish", "status.dee", down());
    presence_event(&host, "dee", "leave");
    host.advance(1_000);
    presence_event(&host, "dee", "join");
    settle_for(&host, 15_000);
    let msgs = for_amy(&host);
    let kinds: Vec<&str> = msgs.iter().map(|(_, m)| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["friend.online"]);
    assert_last_change_wins(&before, &msgs, &host, "superseded");
    host.assert_within_budget();
}

// ---- presence timing: a page reload --------------------------------------------------------

/// A reload: leave, then join 1.5 s later. The leave (outside a window) goes out at once, the
/// join at once after it: friends see dee offline only between the two events.
#[test]
fn a_page_reload_shows_the_user_offline_for_at_most_the_gap() {
    let (host, before) = world();
    host.advance(60_000);
    presence_event(&host, "dee", "leave");
    let left = host.now();
    host.advance(1_500);
    presence_event(&host, "dee", "join");
    let publishes: Vec<u64> = host.calls().iter().filter(|c| c.op == "publish" && c.target == "status.dee").map(|c| c.at_ms).collect();
    let msgs = for_amy(&host);
    let kinds: Vec<&str> = msgs.iter().map(|(_, m)| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["friend.offline", "friend.online"], "the join is not held");
    let offline_for = publishes[publishes.len() - 1] - publishes[publishes.len() - 2];
    assert!(offline_for <= 2_000, "offline to friends for {offline_for} ms");
    assert_eq!(publishes[publishes.len() - 2], left, "the leave at once");
    settle_for(&host, 20_000);
    assert!(for_amy(&host).is_empty(), "nothing more: dee is online");
    assert_last_change_wins(&before, &msgs, &host, "reload");
    host.assert_within_budget();
}

/// Flapping still publishes at most one online and one (held) offline per window.
#[test]
fn a_flapping_user_publishes_at_most_an_online_and_a_held_offline_per_window() {
    let (host, before) = world();
    host.advance(60_000);
    let start = host.now();
    for i in 0..10 {
        presence_event(&host, "dee", if i % 2 == 0 { "leave" } else { "join" });
        host.advance(500);
        settle_run(&host, &Config::default());
    }
    settle_for(&host, 20_000);
    let times: Vec<u64> =
        host.calls().iter().filter(|c| c.op == "publish" && c.target == "status.dee" && c.at_ms >= start).map(|c| c.at_ms).collect();
    let msgs = for_amy(&host);
    let kinds: Vec<&str> = msgs.iter().map(|(_, m)| m["type"].as_str().unwrap()).collect();
    for w in 0..times.len() {
        let in_window: Vec<&str> = (w..times.len()).take_while(|&j| times[j] < times[w] + 5_000).map(|j| kinds[j]).collect();
        assert!(
            in_window.len() <= 2 && (in_window.len() < 2 || in_window == ["friend.offline", "friend.online"]),
            "{kinds:?} at {times:?}"
        );
    }
    assert_eq!(host.user_custom("dee").unwrap()["online"], true, "ends online (the last event a join)");
    assert_last_change_wins(&before, &msgs[msgs.len().saturating_sub(5)..], &host, "flapping");
    host.assert_within_budget();
}
