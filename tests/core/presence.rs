use friends_presence::core::settle::SLOT_MS;
use friends_presence::core::Config;
use friends_presence::handlers::presence as ph;
use friends_presence::host::fake::{block_on, FakeHost};
use friends_presence::host::OpBudget;
use serde_json::json;

use super::{drain_fired, json, settle_run, T0};

fn presence(host: &FakeHost, cfg: &Config, action: &str, uuid: &str) -> friends_presence::handlers::Report {
    let event = json(json!({ "action": action, "uuid": uuid, "occupancy": 1, "timestamp": host.now() / 1000 }));
    let exec = host.execution();
    block_on(ph::after_presence(&exec, cfg, "presence.shard-3", &event, host.now()))
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
    assert_eq!((ops.api, ops.publish, ops.kv), (2, 1, 1), "batched read + write, one publish, the storm counter");
    host.assert_within_budget();
}

#[test]
fn connect_disconnect_connect_within_3s_publishes_exactly_once() {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("bob", "Bob");
    let cfg = Config::default();
    presence(&host, &cfg, "join", "bob");
    host.advance(1_500);
    presence(&host, &cfg, "leave", "bob");
    host.advance(1_500);
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
    presence(&host, &cfg, "join", "dave");
    assert_ne!(host.user_custom("dave").unwrap()["online"], true);
    host.advance(SLOT_MS * 2);
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
