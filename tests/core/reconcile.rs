//! Shard reconciliation (`here_now_refresh`, storms) and the job queues beside the settle slots.

use friends_presence::core::presence::Observation;
use friends_presence::core::reconcile::{diff_range, id_order, STORM_EVENTS_PER_SLOT};
use friends_presence::core::Config;
use friends_presence::domain::shard_of;
use friends_presence::handlers::presence as ph;
use friends_presence::host::fake::{block_on, FakeHost};
use serde_json::{json, Value};

use super::{drain_fired, json, settle_run, T0};

/// `n` user ids that hash to `shard` (App Context's `shardId` is the hash, as clients compute it).
fn users_of_shard(shard: u32, n: usize, prefix: &str) -> Vec<String> {
    (0..).map(|i| format!("{prefix}{i}")).filter(|u| shard_of(u, 100) == shard).take(n).collect()
}

fn last_status(host: &FakeHost, user: &str) -> Option<String> {
    host.published_on(&format!("status.{user}")).last().map(|m| m["type"].as_str().unwrap().to_owned())
}

fn online_in_app_context(host: &FakeHost, user: &str) -> bool {
    host.user_custom(user).map(|c| c["online"] == true).unwrap_or(false)
}

fn converged(host: &FakeHost, user: &str, present: bool) -> bool {
    let expected = if present { Some("friend.online") } else { Some("friend.offline") };
    let last = last_status(host, user);
    online_in_app_context(host, user) == present && (last.as_deref() == expected || (!present && last.is_none()))
}

#[test]
fn a_range_diff_finds_joins_and_departures_in_js_id_order() {
    // U+FF5E sorts after U+1F600 in UTF-16 (0xFF5E < 0xD83D is false) but before it in UTF-8.
    let present = ["a", "c", "\u{FF5E}", "😀"];
    let mut sorted = present.to_vec();
    sorted.sort_by(|a, b| id_order(a, b));
    assert_eq!(sorted, ["a", "c", "😀", "\u{FF5E}"]);
    let mut out: Vec<Observation> = Vec::new();
    // App Context says b and c are online; the range is (none, c]: a joined, b left.
    assert_eq!(diff_range(&sorted, &["b", "c"], None, Some("c"), 5, 100, &mut out), None);
    let got: Vec<(&str, bool)> = out.iter().map(|o| (o.user.as_str(), o.online)).collect();
    assert_eq!(got, [("a", true), ("b", false)]);
    assert!(out.iter().all(|o| o.reconciled && o.at_ms == 5));
    // The last page covers everything after `after`; a cap stops at an id, which is done.
    out.clear();
    assert_eq!(diff_range(&sorted, &[], Some("c"), None, 5, 1, &mut out), Some("😀".to_owned()));
    assert_eq!(out.len(), 1);
}

/// here_now_refresh on a 5,000-user shard: PubNub dropped the deltas. 1,500 users joined
/// without App Context knowing, 500 left while marked online; 2,500 are consistent.
#[test]
fn here_now_refresh_finds_every_join_and_departure_of_a_5000_user_shard() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    let shard = 9;
    let channel = format!("presence.shard-{shard}");
    let users = users_of_shard(shard, 4_500, "u");
    let (stayed, rest) = users.split_at(2_500);
    let (left, joined) = rest.split_at(500);
    let extra = users_of_shard(shard, 1_000, "idle"); // present, online and consistent
    for u in users.iter().chain(&extra) {
        host.add_user(u, u);
    }
    for u in stayed.iter().chain(left).chain(&extra) {
        host.set_user_custom_raw(u, json!({"online": true, "shardId": shard, "lastOnline": "2025-12-31T23:00:00.000Z"}));
    }
    for u in stayed.iter().chain(joined).chain(&extra) {
        host.set_present(&channel, u, true);
    }
    let before: Vec<Value> = stayed.iter().map(|u| host.user_custom(u).unwrap()).collect();

    let event = json(json!({"action": "interval", "occupancy": 5000, "timestamp": T0 / 1000, "here_now_refresh": true}));
    let exec = host.execution();
    block_on(ph::after_presence(&exec, &cfg, &channel, &event, T0));
    drain_fired(&host, &cfg);
    let mut runs = 0;
    while !(joined.iter().all(|u| converged(&host, u, true)) && left.iter().all(|u| converged(&host, u, false))) {
        runs += 1;
        let j = joined.iter().filter(|u| converged(&host, u, true)).count();
        let l = left.iter().filter(|u| converged(&host, u, false)).count();
        assert!(runs <= 22, "not converged after {runs} settler runs: {j}/1500 joined, {l}/500 left");
        host.advance(10_000);
        let reports = settle_run(&host, &cfg);
        if std::env::var("DEBUG_RECONCILE").is_ok() {
            for r in &reports {
                for (_, l) in &r.lines {
                    if !l.starts_with("friend.") {
                        println!("{}: {l}", r.function);
                    }
                }
            }
            println!("---- run {runs}: {j} {l}");
        }
    }
    println!(
        "here_now_refresh, 5,000 present / 3,500 online: converged after {runs} settler runs ({} executions)",
        host.calls().iter().map(|c| c.execution).max().unwrap()
    );
    for u in joined {
        assert_eq!(host.published_on(&format!("status.{u}")).len(), 1, "{u}: one friend.online");
    }
    for u in left {
        let msgs = host.published_on(&format!("status.{u}"));
        assert_eq!(msgs.len(), 1, "{u}: one friend.offline");
        assert_eq!(msgs[0]["type"], "friend.offline");
    }
    for (u, custom) in stayed.iter().zip(&before) {
        assert!(host.published_on(&format!("status.{u}")).is_empty(), "{u} was consistent: nothing to announce");
        assert_eq!(&host.user_custom(u).unwrap(), custom, "{u}");
    }
    host.assert_within_budget();
}

/// A shard bigger than one execution can read is left alone, loudly: departures read from a
/// partial occupant list would be false.
#[test]
fn a_shard_too_big_to_read_is_not_reconciled() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    let online = users_of_shard(4, 10, "gone");
    for u in &online {
        host.add_user(u, u);
        host.set_user_custom_raw(u, json!({"online": true, "shardId": 4}));
    }
    for i in 0..8_000 {
        host.set_present("presence.shard-4", &format!("p{i}"), true);
    }
    let event = json(json!({"action": "interval", "timestamp": T0 / 1000, "here_now_refresh": true}));
    let exec = host.execution();
    block_on(ph::after_presence(&exec, &cfg, "presence.shard-4", &event, T0));
    host.advance(10_000);
    let reports = settle_run(&host, &cfg);
    assert!(reports.iter().any(|r| r.errors().any(|e| e.contains("more than 8,000 occupants"))), "{reports:?}");
    assert!(host.published().is_empty());
    for u in &online {
        assert_eq!(host.user_custom(u).unwrap()["online"], true);
    }
    host.assert_within_budget();
}

/// 200 individual presence events per second on one shard for 30 s: users flap at random.
/// Past 25 events per 2.5 s slot the shard switches to batching; once the storm ends every
/// user's last status message and App Context `online` equal presence, no user got two
/// publishes within a debounce window, and no execution exceeded its budget.
#[test]
fn a_storm_of_200_events_per_second_degrades_to_batching_and_converges() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    let shard = 3;
    let channel = format!("presence.shard-{shard}");
    let users = users_of_shard(shard, 300, "s");
    for u in &users {
        host.add_user(u, u);
    }
    let mut present = vec![false; users.len()];
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut batched, mut single) = (0, 0);
    let mut next_settle = T0 + 10_000;
    let end = T0 + 30_000;
    while host.now() < end {
        let i = (rand() % users.len() as u64) as usize;
        present[i] = !present[i];
        host.set_present(&channel, &users[i], present[i]);
        let action = if present[i] {
            "join"
        } else if rand() % 2 == 0 {
            "leave"
        } else {
            "timeout"
        };
        let event = json(json!({"action": action, "uuid": users[i], "occupancy": 1, "timestamp": host.now() / 1000}));
        let exec = host.execution();
        let report = block_on(ph::after_presence(&exec, &cfg, &channel, &event, host.now()));
        assert!(report.rejected.is_none(), "{report:?}");
        if report.lines.iter().any(|(_, l)| l.starts_with("storm")) {
            batched += 1;
        } else {
            single += 1;
        }
        drain_fired(&host, &cfg);
        host.advance(5); // 200 events/s
        if host.now() >= next_settle {
            settle_run(&host, &cfg);
            next_settle += 10_000;
        }
    }
    assert!(batched > 5_000, "the storm was batched: {batched} batched, {single} decided alone");
    assert!(single >= 12 * STORM_EVENTS_PER_SLOT as usize, "each slot still decides its first events alone");
    let stopped = host.now();
    let mut waited = 0;
    while !users.iter().zip(&present).all(|(u, p)| converged(&host, u, *p)) {
        if waited >= 40_000 {
            for (u, p) in users.iter().zip(&present) {
                if !converged(&host, u, *p) {
                    println!("{u}: present {p}, custom {}, last {:?}", host.user_custom(u).unwrap(), last_status(&host, u));
                }
            }
            panic!("not converged {waited} ms after the storm");
        }
        host.advance(next_settle - host.now());
        next_settle += 10_000;
        waited = host.now() - stopped;
        settle_run(&host, &cfg);
    }
    println!("storm: {single} events decided alone, {batched} batched; converged {waited} ms after the storm (settler every 10 s)");
    // Inside one debounce window after a publish, only a return online follows an offline
    // (never held: docs/design.md §4); nothing else is published twice in a window.
    let calls = host.calls();
    for u in &users {
        let target = format!("status.{u}");
        let times: Vec<u64> = calls.iter().filter(|c| c.op == "publish" && c.target == target).map(|c| c.at_ms).collect();
        let types: Vec<String> = host.published_on(&target).iter().map(|m| m["type"].as_str().unwrap().to_owned()).collect();
        assert_eq!(times.len(), types.len());
        for (i, pair) in times.windows(2).enumerate() {
            let back_online = types[i] == "friend.offline" && types[i + 1] == "friend.online";
            assert!(
                pair[1] - pair[0] >= cfg.debounce_ms || back_online,
                "{u} published {:?} within {} ms: {times:?}",
                &types[i..i + 2],
                pair[1] - pair[0]
            );
        }
    }
    host.assert_within_budget();
}

/// The presence queue never waits for maintenance: with 1,400 friendCount recounts queued,
/// a flap still converges within the debounce window plus one settler interval.
#[test]
fn deferred_statuses_do_not_wait_behind_a_recount_backlog() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    for i in 1..=1_400 {
        host.seed_kv(&format!("recount:{i}"), json!({"u": [format!("busy{}", i % 50)]}), 60);
    }
    host.set_counter("recount", 1_400);
    for i in 0..50 {
        let u = format!("busy{i}");
        host.add_user(&u, &u);
        host.seed_members(&format!("friends.{u}"), (0..7).map(|f| (format!("f{f}"), json!({"status": "accepted"}))));
    }
    host.add_user("carol", "Carol");
    let flap = |action: &str| {
        let event = json(json!({"action": action, "uuid": "carol", "timestamp": host.now() / 1000}));
        let exec = host.execution();
        block_on(ph::after_presence(&exec, &cfg, "presence.shard-3", &event, host.now()));
    };
    flap("join");
    host.advance(2_000);
    flap("leave");
    let mut waited = 0;
    while host.user_custom("carol").unwrap()["online"] != false {
        assert!(waited < 20_000, "deferred offline waited behind the recount backlog");
        host.advance(10_000);
        waited += 10_000;
        settle_run(&host, &cfg);
    }
    assert_eq!(last_status(&host, "carol").as_deref(), Some("friend.offline"));
    // And the backlog drains, every user recounted: no recount is dropped.
    for _ in 0..40 {
        host.advance(10_000);
        settle_run(&host, &cfg);
    }
    for i in 0..50 {
        assert_eq!(host.user_custom(&format!("busy{i}")).unwrap()["friendCount"], 7, "busy{i}");
    }
    host.assert_within_budget();
}

/// A recount that loses the ETag race again goes back to the queue (it used to be dropped,
/// as were all but two users of a settle worker).
#[test]
fn a_recount_that_fails_is_queued_again_not_dropped() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    let users: Vec<String> = (0..9).map(|i| format!("r{i}")).collect();
    for u in &users {
        host.add_user(u, u);
        host.seed_members(&format!("friends.{u}"), (0..3).map(|f| (format!("f{f}"), json!({"status": "accepted"}))));
    }
    host.seed_kv("recount:1", json!({"u": users}), 60);
    host.set_counter("recount", 1);
    host.fail_next("setUUIDMetadata", "r0", friends_presence::host::HostError::PreconditionFailed);
    let mut runs = 0;
    while !users.iter().all(|u| host.user_custom(u).unwrap()["friendCount"] == 3) {
        runs += 1;
        assert!(runs <= 5, "recounts lost: {:?}", users.iter().map(|u| host.user_custom(u).unwrap()).collect::<Vec<_>>());
        host.advance(10_000);
        settle_run(&host, &cfg);
    }
    host.assert_within_budget();
}

/// Who wins between an event and a reconciliation read: a read loses only to an announcement
/// made after it; an event (stamped with its whole second) loses only to a change announced
/// after its second.
#[test]
fn reconciled_reads_and_events_are_ordered_by_what_each_can_know() {
    use friends_presence::core::presence::{decide_status, StatusDecision};
    use friends_presence::host::UserRecord;
    let cfg = Config { debounce_ms: 0, ..Config::default() };
    let record = |custom: Value| UserRecord { id: "u".into(), custom: serde_json::from_value(custom).unwrap(), ..Default::default() };
    let read = |online: bool, at_ms: u64| Observation { user: "u".into(), online, at_ms, reconciled: true, republish: None };
    let event = |online: bool, at_ms: u64| Observation::event("u".into(), online, at_ms);
    let announced = |decision: StatusDecision| matches!(decision, StatusDecision::Announce { .. });
    // Offline announced at 10.000 by an event, published at 10.200.
    let offline = record(json!({"online": false, "lastOffline": "2026-01-01T00:00:10.000Z", "statusPublishedAt": T0 + 10_200}));
    assert!(announced(decide_status(&read(true, T0 + 10_500), Some(&offline), 3, T0 + 11_000, &cfg)), "a read after the publish wins");
    assert_eq!(
        decide_status(&read(true, T0 + 10_100), Some(&offline), 3, T0 + 11_000, &cfg),
        StatusDecision::Stale,
        "a read before it loses"
    );
    // Online announced from a read at 20.400 (published then).
    let online = record(json!({"online": true, "lastOnline": "2026-01-01T00:00:20.400Z", "statusPublishedAt": T0 + 20_400}));
    assert!(
        announced(decide_status(&event(false, T0 + 20_000), Some(&online), 3, T0 + 21_000, &cfg)),
        "an event stamped 20 s may be after the read at 20.4 s"
    );
    assert_eq!(
        decide_status(&event(false, T0 + 19_000), Some(&online), 3, T0 + 21_000, &cfg),
        StatusDecision::Stale,
        "an event stamped 19 s is older"
    );
}
