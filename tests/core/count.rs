//! count-aggregator: `status.count` from a snapshot of shard occupancy.

use friends_presence::core::Config;
use friends_presence::handlers::count::count_aggregator;
use friends_presence::host::fake::{block_on, FakeHost};
use friends_presence::host::HostError;
use serde_json::Value;

use super::T0;

fn run(host: &FakeHost, cfg: &Config) -> Value {
    let exec = host.execution();
    let report = block_on(count_aggregator(&exec, cfg, host.now()));
    assert!(report.rejected.is_none(), "{report:?}");
    let published = host.published_on("status.global");
    published.last().expect("status.count published").clone()
}

fn occupy(host: &FakeHost, shard: u32, users: std::ops::Range<u32>) {
    for u in users {
        host.set_present(&format!("presence.shard-{shard}"), &format!("s{shard}u{u}"), true);
    }
}

#[test]
fn status_count_over_100_shards_in_one_call() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config::default();
    occupy(&host, 0, 0..3);
    occupy(&host, 57, 0..4);
    occupy(&host, 99, 0..5);
    let m = run(&host, &cfg);
    assert_eq!(m["type"], "status.count");
    assert_eq!(m["payload"]["onlineCount"], 12);
    assert_eq!(m["payload"]["deltaFromLast"], 0);
    assert_eq!(m["payload"]["peakToday"], 12);
    assert_eq!(m["payload"]["shardsCounted"], 100);
    assert_eq!(m["payload"]["calculatedAt"], "2026-01-01T00:00:00.000Z");
    let ops = host.ops_used(1);
    assert_eq!((ops.api, ops.publish), (1, 1), "one hereNow for 100 shards, one publish");
    assert!(ops.kv <= 4, "{ops:?}");
    host.assert_within_budget();
}

#[test]
fn status_count_over_1000_shards_stays_within_budget() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config { shard_count: 1000, ..Config::default() };
    for shard in (0..1000).step_by(7) {
        occupy(&host, shard, 0..2);
    }
    let m = run(&host, &cfg);
    assert_eq!(m["payload"]["onlineCount"], 2 * 143);
    assert_eq!(m["payload"]["shardsCounted"], 1000);
    let ops = host.ops_used(1);
    assert_eq!(ops.api, 10, "ten hereNow calls of 100 shards");
    host.assert_within_budget();
}

/// The count is re-measured every time, so a presence event that never reached any Function
/// cannot skew it; the delta is against the last published count, the peak is per UTC day.
#[test]
fn no_drift_delta_and_a_daily_peak() {
    let host = FakeHost::default();
    host.set_now(T0 + 23 * 3_600_000 + 59 * 60_000 + 50_000); // 23:59:50
    let cfg = Config::default();
    occupy(&host, 3, 0..10);
    assert_eq!(run(&host, &cfg)["payload"]["onlineCount"], 10);
    // Six users leave without any event being processed.
    for u in 0..6 {
        host.set_present("presence.shard-3", &format!("s3u{u}"), false);
    }
    host.advance(10_000); // the next UTC day
    let m = run(&host, &cfg);
    assert_eq!(m["payload"]["onlineCount"], 4);
    assert_eq!(m["payload"]["deltaFromLast"], -6);
    assert_eq!(m["payload"]["peakToday"], 4, "a new day starts a new peak");
    occupy(&host, 4, 0..3);
    host.advance(10_000);
    let m = run(&host, &cfg);
    assert_eq!(
        (m["payload"]["onlineCount"].as_u64(), m["payload"]["deltaFromLast"].as_i64(), m["payload"]["peakToday"].as_u64()),
        (Some(7), Some(3), Some(7))
    );
    host.assert_within_budget();
}

#[test]
fn a_failed_batch_is_reported_and_not_counted_as_zero() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config { shard_count: 200, ..Config::default() };
    occupy(&host, 150, 0..5);
    occupy(&host, 10, 0..2);
    host.fail_next("hereNow", "", HostError::Rejected { status: 503, message: "unavailable".into() });
    let exec = host.execution();
    let report = block_on(count_aggregator(&exec, &cfg, host.now()));
    assert!(report.errors().any(|e| e.contains("hereNow failed for 100 shards")), "{report:?}");
    let m = host.published_on("status.global").pop().unwrap();
    assert_eq!(m["payload"]["shardsCounted"], 100, "the shards actually counted");
    assert_eq!(m["payload"]["onlineCount"], 5);
    host.assert_within_budget();
}
