//! count-aggregator: `status.count` from a snapshot of shard occupancy.

use friends_presence::core::metrics::METRICS_CHANNEL;
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
    assert_eq!((ops.api, ops.publish), (1, 2), "one hereNow for 100 shards, one publish, the metrics snapshot's fire");
    assert!(ops.kv <= 4, "{ops:?}: last count and peak, read and written (the heal sweep is the settler's)");
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

// ---- above 1,000 shards: rounds of count workers ---------------------------------------

use friends_presence::core::count::{decide_round, leaves, plan_round, CountRound, PACK};

/// One aggregator run and every count worker it fired (and they fired).
fn round(host: &FakeHost, cfg: &Config) -> Option<Value> {
    let before = host.published_on("status.global").len();
    let exec = host.execution();
    let report = block_on(count_aggregator(&exec, cfg, host.now()));
    assert!(report.rejected.is_none(), "{report:?}");
    super::drain_fired(host, cfg);
    host.published_on("status.global").get(before).cloned()
}

#[test]
fn status_count_over_20000_shards_exact_and_every_execution_within_budget() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config { shard_count: 20_000, ..Config::default() };
    for shard in (0..20_000).step_by(7) {
        occupy(&host, shard, 0..3);
    }
    occupy(&host, 19_998, 0..5);
    let expected = 3 * (0..20_000).step_by(7).count() as u64 + 5;
    assert_eq!(round(&host, &cfg), None, "the first run starts a round; nothing to publish yet");
    let started = host.now();
    host.advance(10_000);
    let m = round(&host, &cfg).expect("the second run publishes the first round");
    assert_eq!(m["payload"]["onlineCount"], expected);
    assert_eq!(m["payload"]["shardsCounted"], 20_000);
    assert_eq!(m["payload"]["calculatedAt"], friends_presence::domain::time::iso8601(started));
    let here_now = host.calls().iter().filter(|c| c.op == "hereNow").count();
    assert_eq!(here_now, 2 * 200, "two rounds of 200 hereNow calls of 100 shards");
    let max = host.max_ops();
    assert!(max.api <= 10 && max.publish <= 10 && max.kv <= 10, "{max:?}");
    // A snapshot each round: users who left without any event are simply not there next time.
    for shard in (0..20_000).step_by(7).take(100) {
        for u in 0..3 {
            host.set_present(&format!("presence.shard-{shard}"), &format!("s{shard}u{u}"), false);
        }
    }
    host.advance(10_000);
    let m = round(&host, &cfg).unwrap();
    assert_eq!(m["payload"]["onlineCount"], expected, "published one run after it was measured");
    host.advance(10_000);
    let m = round(&host, &cfg).unwrap();
    assert_eq!(m["payload"]["onlineCount"], expected - 300);
    assert_eq!(m["payload"]["deltaFromLast"], -300);
    host.assert_within_budget();
}

#[test]
fn shards_that_could_not_be_read_are_not_counted_and_say_so() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config { shard_count: 20_000, ..Config::default() };
    occupy(&host, 5, 0..4);
    occupy(&host, 12_345, 0..6);
    round(&host, &cfg);
    host.advance(10_000);
    host.fail_next("hereNow", "", HostError::Rejected { status: 503, message: "unavailable".into() });
    round(&host, &cfg); // publishes round 1; round 2's first hereNow (shards 0..100) fails
    host.advance(10_000);
    let m = round(&host, &cfg).unwrap();
    assert_eq!(m["payload"]["shardsCounted"], 19_900, "the 100 shards of the failed call");
    assert_eq!(m["payload"]["onlineCount"], 6, "shard 5's 4 users were not read, and are not guessed");
    host.assert_within_budget();
}

#[test]
fn a_round_no_worker_reported_or_counted_twice_is_not_published() {
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config { shard_count: 5_000, ..Config::default() };
    occupy(&host, 1, 0..2);
    let exec = host.execution();
    block_on(count_aggregator(&exec, &cfg, host.now()));
    let fired = host.take_fired();
    let counting = |c: &String| c != METRICS_CHANNEL;
    assert_eq!(fired.iter().filter(|(c, _)| counting(c)).count(), 5, "five leaves of 1,000 shards");
    host.advance(10_000);
    let exec = host.execution();
    let report = block_on(count_aggregator(&exec, &cfg, host.now()));
    assert!(report.errors().any(|e| e.contains("no count worker reported")), "{report:?}");
    assert!(host.published_on("status.global").is_empty());
    // Round 2's work delivered twice.
    for (channel, message) in host.take_fired().into_iter().filter(|(c, _)| counting(c)).flat_map(|f| [f.clone(), f]) {
        assert!(channel.starts_with("count-work."));
        let exec = host.execution();
        block_on(friends_presence::handlers::count::count_worker(&exec, &super::json(message)));
    }
    host.advance(10_000);
    let exec = host.execution();
    let report = block_on(count_aggregator(&exec, &cfg, host.now()));
    assert!(report.errors().any(|e| e.contains("more shards than exist")), "{report:?}");
    assert!(host.published_on("status.global").is_empty());
    host.assert_within_budget();
}

#[test]
fn rounds_cover_every_shard_once_within_two_hops_of_fires() {
    assert_eq!(friends_presence::core::count::MAX_SHARDS, 70_000);
    for n in [1_001, 5_000, 9_000, 9_001, 20_000, 69_999, 70_000] {
        let top = plan_round(n);
        assert!(top.len() <= 7, "{n}: {} fires", top.len());
        let leaves: Vec<_> = top.iter().flat_map(|r| leaves(*r)).collect();
        for r in &top {
            assert!(leaves_of(r) <= 10, "{n}: {r:?}");
        }
        assert!(leaves.iter().all(|r| r.hi - r.lo <= 1_000));
        let covered: Vec<u32> = leaves.iter().flat_map(|r| r.lo..r.hi).collect();
        assert_eq!(covered, (0..n).collect::<Vec<_>>(), "{n}");
    }
    fn leaves_of(r: &friends_presence::core::count::CountRange) -> usize {
        leaves(*r).len()
    }
}

#[test]
fn a_round_is_the_difference_across_its_slot() {
    let r = CountRound { slot: 1, base: (7 * PACK + 300) as u64, at: 0 };
    assert_eq!(decide_round(&r, 7 * PACK + 300 + 1_234 * PACK + 20_000, 20_000), Ok((1_234, 20_000)));
    assert!(decide_round(&r, 7 * PACK + 300, 20_000).is_err());
    assert!(decide_round(&r, 7 * PACK + 300 + 40_000, 20_000).is_err());
}

/// A slot only grows (~2^40 a round with a million online) and JS numbers are exact below 2^53:
/// a round that finds its slot past 2^50 takes it back to zero, and still counts exactly.
#[test]
fn a_slot_grown_past_2_to_the_50_is_reset_and_the_round_still_counts_exactly() {
    use friends_presence::core::count::SLOT_RESET_AT;
    let host = FakeHost::default();
    host.set_now(T0);
    let cfg = Config { shard_count: 3_000, ..Config::default() };
    occupy(&host, 2, 0..7);
    occupy(&host, 2_999, 0..2);
    // Round 1 uses slot 0; its next run starts round 2 on slot 1.
    host.set_counter("count:slot:0", SLOT_RESET_AT as i64 + 12_345);
    host.set_counter("count:slot:1", SLOT_RESET_AT as i64 - 1);
    assert!(round(&host, &cfg).is_none(), "the first run only starts a round");
    assert!(host.counter("count:slot:0") < 1 << 40, "slot 0 was reset before its round: {}", host.counter("count:slot:0"));
    host.advance(10_000);
    let m = round(&host, &cfg).expect("round 1 published");
    assert_eq!((m["payload"]["onlineCount"].as_u64(), m["payload"]["shardsCounted"].as_u64()), (Some(9), Some(3_000)));
    assert!(host.counter("count:slot:1") >= SLOT_RESET_AT as i64 - 1, "a slot below the threshold is left as it is");
    host.advance(10_000);
    let m = round(&host, &cfg).expect("round 2 published");
    assert_eq!(m["payload"]["onlineCount"], 9);
    host.assert_within_budget();
}
