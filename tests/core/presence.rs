use friends_presence::core::settle::SLOT_MS;
use friends_presence::core::Config;
use friends_presence::domain::shard_of;
use friends_presence::handlers::presence as ph;
use friends_presence::host::fake::{block_on, FakeHost};
use friends_presence::host::OpBudget;
use serde_json::json;

use friends_presence::handlers::Report;

use super::{drain_fired, json, settle_run, T0};

/// The presence channel `user` is assigned to (clients subscribe to it, the settle path reads it).
fn shard_channel(user: &str) -> String {
    format!("presence.shard-{}", shard_of(user, 100))
}

/// Presence as a client makes it: `user` subscribed to (or gone from) its shard.
fn here(host: &FakeHost, user: &str, present: bool) {
    host.set_present(&shard_channel(user), user, present);
}

fn presence(host: &FakeHost, cfg: &Config, action: &str, uuid: &str) -> friends_presence::handlers::Report {
    let event = json(json!({ "action": action, "uuid": uuid, "occupancy": 1, "timestamp": host.now() / 1000 }));
    let exec = host.execution();
    block_on(ph::after_presence(&exec, cfg, &shard_channel(uuid), &event, host.now()))
}

fn status_types(host: &FakeHost, user: &str) -> Vec<String> {
    host.published_on(&format!("status.{user}")).iter().map(|m| m["type"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn join_publishes_once_and_writes_app_context() {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("alice", "Alice");
    let cfg = Config::default();
    let report = presence(&host, &cfg, "join", "alice");
    assert!(report.rejected.is_none(), "{report:?}");
    assert_eq!(status_types(&host, "alice"), ["friend.online"]);
    let custom = host.user_custom("alice").unwrap();
    assert_eq!(custom["online"], true);
    assert_eq!(custom["shardId"], 40); // shard_of("alice", 100)
    assert_eq!(host.published().len(), 1, "exactly one publish, on the user's own channel");
    let ops = host.ops_used(1);
    assert_eq!((ops.api, ops.publish, ops.kv), (2, 1, 3), "batched read + write, one publish, the storm counter, two metrics");
    assert_eq!((host.counter("metric:presence.events.join"), host.counter("metric:status.published.1s")), (1, 1));
    host.assert_within_budget();
}

#[test]
fn connect_disconnect_connect_within_3s_publishes_exactly_once() {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("bob", "Bob");
    let cfg = Config::default();
    here(&host, "bob", true);
    presence(&host, &cfg, "join", "bob");
    host.advance(1_500);
    here(&host, "bob", false);
    presence(&host, &cfg, "leave", "bob");
    host.advance(1_500);
    here(&host, "bob", true);
    presence(&host, &cfg, "join", "bob");
    for _ in 0..4 {
        host.advance(10_000);
        settle_run(&host, &cfg);
    }
    assert_eq!(status_types(&host, "bob"), ["friend.online"]);
    assert_eq!(host.user_custom("bob").unwrap()["online"], true);
    host.assert_within_budget();
}

#[test]
fn a_flap_inside_the_window_still_converges_to_the_final_state() {
    // Seed defect: "too soon → skip" leaves the user online forever.
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("carol", "Carol");
    let cfg = Config::default();
    presence(&host, &cfg, "join", "carol");
    host.advance(2_000);
    presence(&host, &cfg, "leave", "carol");
    assert_eq!(status_types(&host, "carol"), ["friend.online"], "inside the window: deferred");
    // Debounce window + one settler interval, with the settler running every 10 s.
    let mut waited = 0;
    while host.user_custom("carol").unwrap()["online"] != false {
        assert!(waited <= 20_000, "not converged within 20 s");
        host.advance(10_000);
        waited += 10_000;
        settle_run(&host, &cfg);
    }
    assert_eq!(status_types(&host, "carol"), ["friend.online", "friend.offline"]);
    host.assert_within_budget();
}

#[test]
fn interval_event_with_750_joins_reaches_everyone_within_budget() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    let users: Vec<String> = (0..750).map(|i| format!("user-{i:03}")).collect();
    for u in &users {
        host.add_user(u, u);
    }
    let event = json(json!({ "action": "interval", "occupancy": 5000, "timestamp": T0 / 1000, "join": users }));
    let exec = host.execution();
    block_on(ph::after_presence(&exec, &cfg, "presence.shard-9", &event, host.now()));
    drain_fired(&host, &cfg);
    for u in &users {
        assert_eq!(status_types(&host, u), ["friend.online"], "{u}");
    }
    host.assert_within_budget();
    let max = host.max_ops();
    assert!(max.api <= 10 && max.publish <= 10 && max.kv <= 10, "{max:?}");
}

#[test]
fn an_etag_conflict_is_retried_through_the_queue() {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("dave", "Dave");
    let cfg = Config::default();
    host.fail_next("setUUIDMetadata", "dave", friends_presence::host::HostError::PreconditionFailed);
    here(&host, "dave", true);
    presence(&host, &cfg, "join", "dave");
    assert_ne!(host.user_custom("dave").unwrap()["online"], true);
    // Due now: its slot ends within SLOT_MS and is handed out grace + hereNow cache later.
    host.advance(SLOT_MS * 3);
    settle_run(&host, &cfg);
    assert_eq!(host.user_custom("dave").unwrap()["online"], true);
    host.assert_within_budget();
}

#[test]
fn state_change_and_foreign_channels_are_ignored() {
    let host = FakeHost::default();
    let cfg = Config::default();
    let before = host.snapshot();
    for (channel, event) in [
        ("presence.shard-1", json!({"action": "state-change", "uuid": "a", "timestamp": 1})),
        ("presence.lobby", json!({"action": "join", "uuid": "a", "timestamp": 1})),
    ] {
        let exec = host.execution();
        let report = block_on(ph::after_presence(&exec, &cfg, channel, &json(event), T0));
        assert!(report.lines.iter().any(|(_, l)| l.starts_with("ignored")), "{report:?}");
    }
    assert_eq!(host.snapshot(), before);
}

#[test]
fn malformed_presence_is_rejected_without_state_change() {
    let host = FakeHost::default();
    host.add_user("ok", "Ok");
    let cfg = Config::default();
    let before = host.snapshot();
    for event in [
        json!("text"),
        json!(null),
        json!({"action": "join"}),
        json!({"action": "join", "uuid": "a b"}),
        json!({"action": "join", "uuid": "ok", "timestamp": "soon"}),
        json!({"action": "interval", "join": "ok"}),
        json!({"action": "explode", "uuid": "ok"}),
    ] {
        let exec = host.execution();
        let report = block_on(ph::after_presence(&exec, &cfg, "presence.shard-1", &json(event.clone()), T0));
        assert!(report.is_rejected(), "{event}: {report:?}");
    }
    assert_eq!(host.snapshot(), before);
}

#[test]
fn legacy_three_op_budget_is_respected() {
    let host = FakeHost::new(OpBudget::LEGACY);
    host.set_now(T0);
    host.add_user("erin", "Erin");
    let cfg = Config { budget: OpBudget::LEGACY, ..Config::default() };
    presence(&host, &cfg, "join", "erin");
    assert_eq!(status_types(&host, "erin"), ["friend.online"]);
    host.assert_within_budget();
}

// ---- interval deltas carry no order; a leave is one device's ---------------------------

fn interval(host: &FakeHost, cfg: &Config, shard: u32, occupancy: u64, join: &[&str], leave: &[&str], timeout: &[&str]) -> Report {
    let event = json(json!({
        "action": "interval", "occupancy": occupancy, "timestamp": host.now() / 1000,
        "join": join, "leave": leave, "timeout": timeout,
    }));
    let exec = host.execution();
    let report = block_on(ph::after_presence(&exec, cfg, &format!("presence.shard-{shard}"), &event, host.now()));
    drain_fired(host, cfg);
    report
}

/// Online, announced, and past the debounce window.
fn online_user(host: &FakeHost, cfg: &Config, user: &str) {
    host.add_user(user, user);
    here(host, user, true);
    presence(host, cfg, "join", user);
    assert_eq!(status_types(host, user), ["friend.online"]);
    host.advance(6_000);
}

fn settle_for(host: &FakeHost, cfg: &Config, ms: u64) {
    for _ in 0..ms / 10_000 {
        host.advance(10_000);
        settle_run(host, cfg);
    }
}

#[test]
fn leave_and_rejoin_inside_one_interval_ends_online() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    online_user(&host, &cfg, "erin");
    // A reload: erin left and came back; presence has her, the arrays name her twice.
    for (leave, timeout) in [(&["erin"][..], &[][..]), (&[][..], &["erin"][..])] {
        let report = interval(&host, &cfg, shard_of("erin", 100), 200, &["erin"], leave, timeout);
        assert!(report.rejected.is_none(), "{report:?}");
        settle_for(&host, &cfg, 30_000);
        assert_eq!(status_types(&host, "erin"), ["friend.online"], "never announced offline");
        assert_eq!(host.user_custom("erin").unwrap()["online"], true);
    }
    host.assert_within_budget();
}

#[test]
fn join_and_leave_inside_one_interval_ends_offline() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    // Online before: came back and went again within the interval.
    online_user(&host, &cfg, "finn");
    here(&host, "finn", false);
    interval(&host, &cfg, shard_of("finn", 100), 200, &["finn"], &[], &["finn"]);
    settle_for(&host, &cfg, 30_000);
    assert_eq!(status_types(&host, "finn"), ["friend.online", "friend.offline"]);
    assert_eq!(host.user_custom("finn").unwrap()["online"], false);
    // Never seen before: came and went; never announced online.
    host.add_user("gus", "gus");
    interval(&host, &cfg, shard_of("gus", 100), 200, &["gus"], &["gus"], &[]);
    settle_for(&host, &cfg, 30_000);
    assert!(!status_types(&host, "gus").contains(&"friend.online".to_owned()));
    assert_eq!(host.user_custom("gus").unwrap()["online"], false);
    host.assert_within_budget();
}

/// A 5,000-user shard in interval mode: 30 users named twice are resolved by paging the
/// shard once (6 hereNow calls), not one whereNow each; the joins that stand alone and the
/// rest are split with fire and every execution stays within budget.
#[test]
fn many_ambiguous_users_in_a_big_shard_are_read_from_paged_herenow() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    let back: Vec<String> = (0..15).map(|i| format!("back-{i:02}")).collect();
    let gone: Vec<String> = (0..15).map(|i| format!("gone-{i:02}")).collect();
    let new: Vec<String> = (0..20).map(|i| format!("new-{i:02}")).collect();
    for i in 0..4_980 {
        host.set_present("presence.shard-7", &format!("filler-{i:04}"), true);
    }
    for u in back.iter().chain(&gone).chain(&new) {
        host.add_user(u, u);
    }
    for u in back.iter().chain(&new) {
        host.set_present("presence.shard-7", u, true);
    }
    let both: Vec<&str> = back.iter().chain(&gone).map(String::as_str).collect();
    let joined: Vec<&str> = both.iter().copied().chain(new.iter().map(String::as_str)).collect();
    let report = interval(&host, &cfg, 7, 5_015, &joined, &both, &[]);
    let first = host.calls().into_iter().filter(|c| c.execution == 1).collect::<Vec<_>>();
    assert_eq!(first.iter().filter(|c| c.op == "hereNow").count(), 6, "{report:?}");
    assert_eq!(first.iter().filter(|c| c.op == "whereNow").count(), 0);
    for u in back.iter().chain(&new) {
        assert_eq!(status_types(&host, u), ["friend.online"], "{u}");
    }
    for u in &gone {
        assert_eq!(status_types(&host, u), ["friend.offline"], "{u}: came and went, never online");
    }
    host.assert_within_budget();
}

/// More users to check than any read within budget can answer (a shard over 7,000): the shard
/// is reconciled instead, and nothing is decided from the arrays.
#[test]
fn unreadable_departures_queue_a_reconciliation_instead_of_guessing() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    let both: Vec<String> = (0..9).map(|i| format!("both{i}")).collect();
    let names: Vec<&str> = both.iter().map(String::as_str).collect();
    let report = interval(&host, &cfg, 5, 7_500, &names, &names, &[]);
    assert!(report.lines.iter().any(|(_, l)| l.contains("shard reconciliation queued")), "{report:?}");
    assert_eq!(host.counter("scan"), 1);
    assert!(host.published().is_empty());
    host.assert_within_budget();
}

// ---- several devices, one user ----------------------------------------------------------

#[test]
fn closing_one_of_two_devices_changes_nothing_and_the_last_one_announces_offline() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    online_user(&host, &cfg, "hana");
    // The second device joins: already online.
    presence(&host, &cfg, "join", "hana");
    host.advance(6_000);
    // One device leaves; presence still lists hana (her other device).
    let report = presence(&host, &cfg, "leave", "hana");
    assert!(report.lines.iter().any(|(_, l)| l.contains("still here")), "{report:?}");
    settle_for(&host, &cfg, 30_000);
    assert_eq!(status_types(&host, "hana"), ["friend.online"]);
    // The same in interval mode.
    interval(&host, &cfg, shard_of("hana", 100), 300, &[], &[], &["hana"]);
    settle_for(&host, &cfg, 30_000);
    assert_eq!(status_types(&host, "hana"), ["friend.online"]);
    // The last device times out.
    here(&host, "hana", false);
    presence(&host, &cfg, "timeout", "hana");
    assert_eq!(status_types(&host, "hana"), ["friend.online", "friend.offline"]);
    let last = host.calls().into_iter().filter(|c| c.op == "whereNow").count();
    assert_eq!(last, 3, "each individual leave/timeout and the interval's one departure: one whereNow each");
    host.assert_within_budget();
}

#[test]
fn a_leave_is_taken_as_it_came_when_presence_cannot_be_read() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    online_user(&host, &cfg, "ivan");
    host.fail_next("whereNow", "ivan", friends_presence::host::HostError::Rejected { status: 503, message: "down".into() });
    presence(&host, &cfg, "leave", "ivan");
    assert_eq!(status_types(&host, "ivan"), ["friend.online", "friend.offline"]);
    let ops = host.max_ops();
    assert!(ops.api <= 3, "{ops:?}");
    host.assert_within_budget();
}

// ---- a settler running late never announces a state over a newer one -------------------

/// `user` is announced `first` (presence agreeing), flips within the debounce window (deferred),
/// and flips back `back_after_ms` after the first publish (past the old 20 s horizon: the old
/// code dropped that change as unchanged). The settler, paused since before the first publish,
/// resumes `late_ms` after it and catches up. Returns what friends were told.
fn late_settler(user: &str, first: bool, back_after_ms: u64, late_ms: u64) -> (FakeHost, Vec<String>) {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    host.add_user(user, user);
    settle_run(&host, &cfg); // the settler's cursor, from now on paused
    let event = |present: bool| {
        here(&host, user, present);
        presence(&host, &cfg, if present { "join" } else { "leave" }, user);
    };
    event(first);
    host.advance(2_000);
    event(!first);
    // Inside the window an offline is held; an online after an offline goes out at once.
    assert_eq!(status_types(&host, user).len(), if first { 1 } else { 2 }, "inside the window");
    host.advance(back_after_ms - 2_000);
    event(first);
    host.advance(late_ms - back_after_ms);
    // Catch up: each run walks ≤ 6 slots from the cursor; runs 1 s apart until it is current.
    for _ in 0..late_ms / 10_000 + 10 {
        settle_run(&host, &cfg);
        host.advance(1_000);
    }
    host.assert_within_budget();
    let types = status_types(&host, user);
    (host, types)
}

#[test]
fn a_settler_30_s_late_does_not_announce_a_deferred_offline_over_the_users_return() {
    let (host, types) = late_settler("kim", true, 25_000, 30_000);
    assert_eq!(types, ["friend.online"], "kim came back online; the deferred offline is older");
    assert_eq!(host.user_custom("kim").unwrap()["online"], true);
}

#[test]
fn a_settler_5_min_late_does_not_announce_a_deferred_offline_over_the_users_return() {
    let (host, types) = late_settler("lou", true, 240_000, 300_000);
    assert_eq!(types, ["friend.online"]);
    assert_eq!(host.user_custom("lou").unwrap()["online"], true);
}

#[test]
fn a_late_settler_does_not_announce_an_online_over_the_users_departure() {
    for (user, back, late) in [("max", 25_000, 30_000), ("ned", 240_000, 300_000)] {
        let (host, types) = late_settler(user, false, back, late);
        // The return online is never held; the settler, however late, adds nothing after the
        // second departure.
        assert_eq!(types, ["friend.offline", "friend.online", "friend.offline"], "{user}");
        assert_eq!(host.user_custom(user).unwrap()["online"], false, "{user}");
    }
}

/// Presence is read when the settle path acts, so a deferred change presence still agrees with
/// is announced with its own event time, however late.
#[test]
fn a_late_settler_still_announces_a_deferred_change_presence_agrees_with() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    host.add_user("ora", "ora");
    settle_run(&host, &cfg);
    here(&host, "ora", true);
    presence(&host, &cfg, "join", "ora");
    host.advance(2_000);
    here(&host, "ora", false);
    presence(&host, &cfg, "leave", "ora");
    host.advance(298_000);
    for _ in 0..40 {
        settle_run(&host, &cfg);
        host.advance(1_000);
    }
    assert_eq!(status_types(&host, "ora"), ["friend.online", "friend.offline"]);
    let offline = host.published_on("status.ora")[1].clone();
    assert_eq!(offline["payload"]["lastSeen"], "2026-01-01T00:00:02.000Z", "the leave's own time");
    host.assert_within_budget();
}
