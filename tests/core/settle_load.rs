//! Throughput of the settle path (deferred changes), against the fake host with the
//! settler at the deployed 10 s period. `cargo test --test core settle_load -- --nocapture`
//! prints the numbers the README quotes.

use friends_presence::core::settle::lane_chunks;
use friends_presence::core::Config;
use friends_presence::domain::shard_of;
use friends_presence::handlers::presence as ph;
use friends_presence::host::fake::{block_on, FakeHost};
use serde_json::json;

use super::{drain_fired, json, settle_run, T0};

fn event(host: &FakeHost, cfg: &Config, user: &str, present: bool) {
    let channel = format!("presence.shard-{}", shard_of(user, cfg.shard_count));
    host.set_present(&channel, user, present);
    let action = if present { "join" } else { "leave" };
    let event = json(json!({ "action": action, "uuid": user, "occupancy": 1, "timestamp": host.now() / 1000 }));
    let exec = host.execution();
    let report = block_on(ph::after_presence(&exec, cfg, &channel, &event, host.now()));
    assert!(report.rejected.is_none(), "{report:?}");
    drain_fired(host, cfg);
}

fn converged(host: &FakeHost, user: &str, present: bool) -> bool {
    let online = host.user_custom(user).is_some_and(|c| c["online"] == present);
    let last = host.published_on(&format!("status.{user}")).last().map(|m| m["type"].as_str().unwrap().to_owned());
    online && last.as_deref() == Some(if present { "friend.online" } else { "friend.offline" })
}

/// Queue chunks written so far (every deferral is one; `settle:{slot}` counts them).
fn deferred(host: &FakeHost) -> usize {
    host.calls().iter().filter(|c| c.op == "kvstore.incrCounter" && c.target.starts_with("settle:")).count()
}

/// The probe, natively: 200 users flapping, 100 presence changes/s for 30 s, spread over
/// the shards (no storm batching), the settler every 10 s. Most changes land inside a user's
/// debounce window and go through the settle queue; every user's final state must be announced
/// within 20 s of the burst's end (the old settle path, 60 chunks per run, left most behind).
#[test]
fn settle_load_100_changes_per_second_on_200_flapping_users_converge_within_20_s() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    let users: Vec<String> = (0..200).map(|i| format!("flap-{i:03}")).collect();
    for u in &users {
        host.add_user(u, u);
    }
    let mut present = vec![false; users.len()];
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut next_settle = T0 + 10_000;
    let mut busiest_run = 0;
    let end = T0 + 30_000;
    while host.now() < end {
        let i = (rand() % users.len() as u64) as usize;
        present[i] = !present[i];
        event(&host, &cfg, &users[i], present[i]);
        host.advance(10); // 100 changes/s
        if host.now() >= next_settle {
            let before = deferred(&host);
            settle_run(&host, &cfg);
            busiest_run = busiest_run.max(before);
            next_settle += 10_000;
        }
    }
    let queued = deferred(&host);
    let mut waited = 0;
    while !users.iter().zip(&present).all(|(u, p)| converged(&host, u, *p)) {
        let wrong = users.iter().zip(&present).filter(|(u, p)| !converged(&host, u, **p)).count();
        assert!(waited < 20_000, "{wrong}/200 users not converged {waited} ms after the burst");
        host.advance(next_settle - host.now());
        next_settle += 10_000;
        waited = host.now() - end;
        settle_run(&host, &cfg);
    }
    println!(
        "settle load: 3,000 changes on 200 users in 30 s, {queued} deferred through the settle queue \
         ({:.0}/s); every user converged {waited} ms after the burst (settler every 10 s)",
        queued as f64 / 30.0
    );
    host.assert_within_budget();
}

/// Capacity: 3,000 users each with one deferred change (3,000 one-entry queue chunks, the worst
/// case: individual events, no two of one user), due within 9 s. A settler run hands out 600
/// chunks (10 lanes × 10 workers × 6 chunks), so the backlog drains in five runs.
#[test]
fn settle_load_a_backlog_of_3000_deferred_changes_drains_at_600_per_settler_run() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    let users: Vec<String> = (0..3_000).map(|i| format!("back-{i:04}")).collect();
    for u in &users {
        host.add_user(u, u);
    }
    settle_run(&host, &cfg); // the cursor, before anything is due
                             // Joins 3 ms apart, each user leaving 2 s after joining (inside the debounce window):
                             // ~7 events/s per shard, under the storm threshold, so each is decided alone.
    let lag = 2_000 / 3;
    for i in 0..users.len() + lag {
        if let Some(u) = users.get(i) {
            event(&host, &cfg, u, true);
        }
        if let Some(u) = i.checked_sub(lag).and_then(|j| users.get(j)) {
            event(&host, &cfg, u, false);
        }
        host.advance(3);
    }
    assert_eq!(deferred(&host), 3_000, "every departure deferred");
    let due = host.now() + cfg.debounce_ms;
    let mut runs = 0;
    let mut drained_at = None;
    for _ in 0..8 {
        host.advance(10_000 - host.now() % 10_000);
        settle_run(&host, &cfg);
        runs += 1;
        if users.iter().all(|u| converged(&host, u, false)) {
            drained_at = Some(host.now());
            break;
        }
    }
    let left = users.iter().filter(|u| !converged(&host, u, false)).count();
    let at = drained_at.unwrap_or_else(|| panic!("{left}/3000 deferred changes still unannounced after {runs} settler runs"));
    println!(
        "settle capacity: 3,000 one-change chunks drained in {runs} settler runs, {} ms after the last was due \
         ({} chunks per run, {:.0} deferred changes/s at a 10 s settler period)",
        at - due,
        lane_chunks(cfg.fan_out()) * cfg.fan_out(),
        (lane_chunks(cfg.fan_out()) * cfg.fan_out()) as f64 / 10.0
    );
    assert!(runs <= 5, "{runs} runs");
    host.assert_within_budget();
}
