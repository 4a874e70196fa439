#![cfg(not(target_arch = "wasm32"))]
//! Native tests of the handlers against the recording fake host. Every test ends with
//! `assert_within_budget`: an execution that exceeds its op budget fails the test.

mod answers;
mod contract;
mod count;
mod decide_friends;
mod decide_scan;
mod decide_settle;
mod domain;
mod faults;
mod friends;
mod fuzz;
mod groups;
mod heal;
mod metrics;
mod order;
mod plan;
mod platform;
mod presence;
mod reconcile;
mod requests;
mod settings;
mod settle_load;
mod step;
mod sync;

use friends_presence::core::Config;
use friends_presence::domain::Json;
use friends_presence::handlers::{presence as ph, Report};
use friends_presence::host::fake::{block_on, FakeHost};
use serde_json::Value;

pub const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

pub fn json(v: Value) -> Json {
    serde_json::from_value(v).unwrap()
}

/// `user`'s `action` (join, leave, timeout) on its shard as an After Presence execution at the
/// host's time, with the shard's occupants changed to match (present after a join only).
pub fn presence_event(host: &FakeHost, user: &str, action: &str) -> Report {
    let shard = friends_presence::domain::shard_of(user, Config::default().shard_count);
    let channel = format!("presence.shard-{shard}");
    host.set_present(&channel, user, action == "join");
    let event = serde_json::json!({ "action": action, "uuid": user, "occupancy": 1, "timestamp": host.now() / 1000 });
    let exec = host.execution();
    block_on(ph::after_presence(&exec, &Config::default(), &channel, &json(event), host.now()))
}

/// One presence-settler run, then everything it fired (and what that fired), each as its
/// own execution. Returns every report.
pub fn settle_run(host: &FakeHost, cfg: &Config) -> Vec<Report> {
    let exec = host.execution();
    let mut reports = vec![block_on(ph::presence_settler(&exec, cfg, host.now()))];
    reports.extend(drain_fired(host, cfg));
    reports
}

/// Delivers fired work items to the presence worker until none are left, each as its own
/// execution, and returns the reports.
pub fn drain_fired(host: &FakeHost, cfg: &Config) -> Vec<Report> {
    let mut reports = Vec::new();
    loop {
        let fired = host.take_fired();
        if fired.is_empty() {
            return reports;
        }
        for (channel, message) in fired {
            let exec = host.execution();
            let report = if channel.starts_with("presence-work.") {
                block_on(ph::presence_worker(&exec, cfg, &json(message), host.now()))
            } else if channel.starts_with("recount-work.") {
                block_on(friends_presence::handlers::recount::recount_worker(&exec, &json(message)))
            } else if channel.starts_with("count-work.") {
                block_on(friends_presence::handlers::count::count_worker(&exec, &json(message)))
            } else if channel.starts_with("reconcile-work.") {
                block_on(friends_presence::handlers::reconcile::reconcile_worker(&exec, cfg, &json(message), host.now()))
            } else if channel.starts_with("friend-requests.") {
                // A heal (`core::heal`): fired, so no publisher.
                block_on(friends_presence::handlers::friends::friend_requests(&exec, cfg, &channel, None, &json(message), host.now()))
            } else if channel.starts_with("friend-management.") {
                block_on(friends_presence::handlers::friends::friend_management(&exec, cfg, &channel, None, &json(message), host.now()))
            } else {
                panic!("fired to an unbound channel {channel}");
            };
            assert!(report.rejected.is_none(), "our own work item was rejected: {report:?}");
            reports.push(report);
        }
    }
}
