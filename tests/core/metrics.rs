//! The operators' metrics: the pure decisions (buckets, group gauges, quantiles, the snapshot
//! and its alerts), and the counters the handlers write, end to end through the snapshot's two
//! count-worker stages, within every op budget.

use friends_presence::core::metrics::{
    decide_snapshot, groups_for, latency_counter, parse_metrics_item, quantiles, recount_metrics, Counter, History, Metrics, COUNTERS,
    HISTORY_KEY, METRICS_CHANNEL,
};
use friends_presence::core::Config;
use friends_presence::domain::json::FromJson;
use friends_presence::handlers::count::{count_aggregator, count_worker};
use friends_presence::host::fake::{block_on, FakeHost};
use serde_json::{json, Value};

use super::friends::{command, on_management, on_requests, recount, setup};
use super::{json, presence_event, T0};

fn totals(pairs: &[(Counter, u64)]) -> [u64; COUNTERS] {
    let mut v = [0; COUNTERS];
    for (c, n) in pairs {
        v[*c as usize] = *n;
    }
    v
}

fn snapshot_json(values: [u64; COUNTERS], history: Option<History>, now: u64) -> (Value, History) {
    let (m, h) = decide_snapshot(values, history, Some(5), Some(9), now);
    (serde_json::to_value(&m).unwrap(), h)
}

#[test]
fn latency_buckets_have_inclusive_upper_bounds() {
    let cases = [
        (0, Counter::Published1s),
        (1_000, Counter::Published1s),
        (1_001, Counter::Published2s),
        (2_000, Counter::Published2s),
        (4_999, Counter::Published5s),
        (15_000, Counter::Published15s),
        (15_001, Counter::PublishedSlow),
        (u64::MAX, Counter::PublishedSlow),
    ];
    for (ms, want) in cases {
        assert_eq!(latency_counter(ms), want, "{ms} ms");
    }
}

#[test]
fn group_gauges_follow_compact_groups() {
    assert_eq!(groups_for(0), (0, 0));
    assert_eq!(groups_for(1), (1, 0));
    assert_eq!(groups_for(1_900), (1, 0));
    assert_eq!(groups_for(1_901), (1, 1), "one group over 1,900");
    assert_eq!(groups_for(2_000), (1, 1));
    assert_eq!(groups_for(2_001), (2, 1), "a second group; the first is full");
    assert_eq!(groups_for(5_950), (3, 3));

    let mut m = Metrics::default();
    recount_metrics(&mut m, 1_900, 1_902);
    recount_metrics(&mut m, 10, 7);
    recount_metrics(&mut m, 3, 3);
    assert_eq!(m.get(Counter::GroupAdds), 2);
    assert_eq!(m.get(Counter::GroupRemoves), 3);
    assert_eq!(m.get(Counter::Groups), 0);
    assert_eq!(m.get(Counter::GroupsOver1900), 1);
    let touched: Vec<Counter> = m.increments().map(|(c, _)| c).collect();
    assert_eq!(touched, [Counter::GroupAdds, Counter::GroupRemoves, Counter::GroupsOver1900], "untouched counters are not written");
    recount_metrics(&mut m, 1, 0);
    assert_eq!(m.get(Counter::Groups), -1, "the last friend gone: one group fewer");
}

#[test]
fn quantiles_interpolate_within_buckets_and_say_at_least_for_the_open_one() {
    assert_eq!(quantiles(&[0; 5]), None);
    let q = quantiles(&[100, 0, 0, 0, 0]).unwrap();
    assert_eq!((q.p50, q.p95, q.p99), (500, 950, 990));
    // 90 ≤ 1 s, 8 ≤ 2 s, 1 ≤ 5 s, 1 slower.
    let q = quantiles(&[90, 8, 1, 0, 1]).unwrap();
    assert_eq!(q.p50, 555, "rank 50 of 90 in the first bucket");
    assert_eq!(q.p95, 1_625, "rank 95: 5th of 8 in 1–2 s");
    assert_eq!(q.p99, 5_000, "rank 99: the 1–5 s bucket's one, at its top");
    let q = quantiles(&[0, 0, 0, 0, 3]).unwrap();
    assert_eq!(q.p50, 15_000, "the open bucket: at least 15 s");
}

#[test]
fn a_snapshot_reports_the_interval_the_windows_and_the_alerts() {
    // First snapshot: no interval yet, everything counted since the start.
    let (s, h) = snapshot_json(totals(&[(Counter::Join, 4), (Counter::Published1s, 3), (Counter::Storms, 2)]), None, T0);
    let p = &s["payload"];
    assert_eq!(s["type"], "metrics.snapshot");
    assert_eq!(p["intervalMs"], 0);
    assert_eq!(p["presence"]["join"], 4);
    assert_eq!(p["status"]["published"], 3);
    assert_eq!(p["globalCount"], json!({"online": 5, "peakToday": 9}));
    assert_eq!(p["totals"]["presence.events.join"], 4);
    assert!(p["alerts"].as_array().unwrap().iter().all(|a| a["firing"] == false), "{}", p["alerts"]);

    // 10 s later: rates over the 10 s, one publish error in 100 attempts (not over 1 %).
    let v = totals(&[(Counter::Join, 10), (Counter::Published1s, 60), (Counter::Published2s, 39), (Counter::PublishErrors, 1)]);
    let (s, h) = snapshot_json(v, Some(h), T0 + 10_000);
    let p = &s["payload"];
    assert_eq!(p["intervalMs"], 10_000);
    assert_eq!(p["presence"]["join"], 6);
    assert_eq!(p["status"]["published"], 96);
    assert_eq!(p["status"]["windowPublished"], 96, "the window starts at the oldest point");
    assert_eq!(p["status"]["latencyBuckets"], json!([57, 39, 0, 0, 0]));
    let alert = |p: &Value, name: &str| p["alerts"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap().clone();
    assert_eq!(alert(p, "publish_errors")["value"], 103, "1 error in 97 attempts: 1.03 %, in basis points");
    assert_eq!(alert(p, "publish_errors")["firing"], true);

    // Groups: 3,801 channels over 2 groups, one over 1,900.
    let v2 = totals(&[(Counter::GroupAdds, 3_900), (Counter::GroupRemoves, 99), (Counter::Groups, 2), (Counter::GroupsOver1900, 1)]);
    let (s, _) = snapshot_json(v2, Some(h.clone()), T0 + 20_000);
    let g = &s["payload"]["channelGroups"];
    assert_eq!((g["channels"].as_u64(), g["groups"].as_u64(), g["averageSize"].as_u64()), (Some(3_801), Some(2), Some(1_900)));
    assert_eq!(alert(&s["payload"], "group_full")["firing"], true);
    // Counters that went down (a lost key) count from zero, never as a negative rate.
    assert_eq!(s["payload"]["presence"]["join"], 0);
    assert_eq!(s["payload"]["status"]["published"], 0);
}

#[test]
fn storms_are_counted_over_the_last_hour_from_points_a_minute_apart() {
    let mut history = None;
    let mut storms = 0;
    let mut last = Value::Null;
    // One storm a minute for 80 minutes, a snapshot every 10 s.
    for tick in 0..(80 * 6) {
        if tick % 6 == 0 {
            storms += 1;
        }
        let (s, h) = snapshot_json(totals(&[(Counter::Storms, storms)]), history, T0 + tick * 10_000);
        assert!(serde_json::to_string(&h_json(&h)).unwrap().len() < 32_000, "the history fits one KV value");
        assert!(h.points.len() <= 63, "{} points", h.points.len());
        history = Some(h);
        last = s;
    }
    let alert = last["payload"]["alerts"].as_array().unwrap().iter().find(|a| a["name"] == "storm_protection").unwrap().clone();
    assert_eq!(alert["threshold"], 10);
    assert!((59..=61).contains(&alert["value"].as_u64().unwrap()), "{alert}");
    assert_eq!(alert["firing"], true);
    // The stored history reads back as it was written.
    let h = history.unwrap();
    let back = History::from_json(&json(h_json(&h))).unwrap();
    assert_eq!(back, h);
}

#[test]
fn the_intervals_of_successive_snapshots_add_up_to_the_totals() {
    let mut history = None;
    let (mut joins, mut summed, mut published) = (0, 0, 0);
    for tick in 0..200u64 {
        joins += tick % 7;
        let (s, h) = snapshot_json(totals(&[(Counter::Join, joins), (Counter::Published2s, joins)]), history, T0 + tick * 10_000);
        let p = &s["payload"];
        assert_eq!(p["intervalMs"], if tick == 0 { 0 } else { 10_000 }, "tick {tick}");
        summed += p["presence"]["join"].as_u64().unwrap();
        published += p["status"]["published"].as_u64().unwrap();
        history = Some(h);
    }
    assert_eq!((summed, published), (joins, joins));
}

fn h_json(h: &History) -> Value {
    serde_json::to_value(h).unwrap()
}

#[test]
fn malformed_metrics_items_are_refused() {
    for bad in [
        json!({"type": "metrics.work", "stage": 3, "at": 1}),
        json!({"type": "metrics.work", "stage": 2, "at": 1, "values": [1, 2]}),
        json!({"type": "metrics.work", "stage": 1, "at": 1, "values": [1]}),
        json!({"type": "metrics.work", "stage": 1}),
        json!({"type": "metrics.work", "stage": 1, "at": 1, "online": "many"}),
        json!({"type": "count.work", "stage": 1, "at": 1}),
    ] {
        assert!(parse_metrics_item(&json(bad.clone())).is_err(), "{bad}");
    }
    assert!(parse_metrics_item(&json(json!({"type": "metrics.work", "stage": 1, "at": 1, "online": null}))).is_ok());
}

/// Runs the aggregator and delivers its snapshot stages; returns the snapshot published.
fn snapshot_run(host: &FakeHost) -> Value {
    let exec = host.execution();
    block_on(count_aggregator(&exec, &Config::default(), host.now()));
    for _ in 0..2 {
        let fired: Vec<_> = host.take_fired().into_iter().filter(|(c, _)| c == METRICS_CHANNEL).collect();
        assert_eq!(fired.len(), 1, "one stage at a time");
        let exec = host.execution();
        let report = block_on(count_worker(&exec, &json(fired[0].1.clone())));
        assert!(report.errors().next().is_none(), "{report:?}");
    }
    host.published_on("operators.metrics").pop().expect("a snapshot on operators.metrics")
}

#[test]
fn presence_and_friend_traffic_shows_in_the_snapshot_within_budget() {
    let host = setup();
    for u in ["carol", "dave"] {
        host.add_user(u, u);
    }
    // Three joins, published at once; a leave 1 s later is debounced; a timeout of a user
    // who never joined publishes offline.
    for u in ["alice", "bob", "carol"] {
        presence_event(&host, u, "join");
    }
    host.advance(1_000);
    presence_event(&host, "carol", "leave");
    presence_event(&host, "dave", "timeout");
    // Two friendships, one removed, each recounted before the next (channels are counted from
    // each user's recounted friends: a change undone before its recount counts nothing).
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    recount(&host);
    on_requests(&host, "carol", command("friend.request", "carol", "alice", "r2"));
    on_requests(&host, "alice", command("friend.request.accepted", "carol", "alice", "a2"));
    recount(&host);
    on_management(&host, "carol", command("friend.remove", "carol", "alice", "x1"));
    recount(&host);

    let s = snapshot_run(&host);
    let p = &s["payload"];
    assert_eq!(p["presence"], json!({"join": 3, "leave": 1, "timeout": 1, "interval": 0, "debounced": 1, "stormBatched": 0, "storms": 0}));
    assert_eq!(p["status"]["published"], 4, "three online, dave offline; carol's leave waits for the settler");
    assert_eq!(p["status"]["errors"], 0);
    assert_eq!(p["status"]["latencyBuckets"], json!([4, 0, 0, 0, 0]));
    let g = &p["channelGroups"];
    assert_eq!((g["add"].as_u64(), g["remove"].as_u64(), g["channels"].as_u64()), (Some(4), Some(2), Some(2)));
    assert_eq!((g["groups"].as_u64(), g["averageSize"].as_u64(), g["over1900"].as_u64()), (Some(2), Some(1), Some(0)));
    assert_eq!(p["globalCount"]["online"], 2, "alice and bob present");
    assert!(host.kv_value(HISTORY_KEY).is_some(), "the history is stored");

    // The next snapshot reports only what happened since.
    host.advance(10_000);
    presence_event(&host, "carol", "join");
    let s = snapshot_run(&host);
    assert_eq!(s["payload"]["presence"]["join"], 1);
    assert_eq!(s["payload"]["intervalMs"], 10_000);
    assert_eq!(s["payload"]["totals"]["presence.events.join"], 4);
    host.assert_within_budget();
}

#[test]
fn a_failed_status_publish_is_counted_as_an_error_and_the_retry_as_published() {
    let host = setup();
    host.fail_next("publish", "status.alice", friends_presence::host::HostError::Rejected { status: 503, message: "down".into() });
    presence_event(&host, "alice", "join");
    assert_eq!(host.counter("metric:status.publish.errors"), 1);
    assert_eq!(host.counter("metric:status.published.1s"), 0);
    // The settler retries it from the queue, ~3.5 s after the event: the ≤ 5 s bucket.
    host.advance(12_500);
    super::settle_run(&host, &Config::default());
    assert_eq!(host.published_on("status.alice").len(), 1);
    let slow: i64 = ["2s", "5s", "15s", "slower"].iter().map(|b| host.counter(&format!("metric:status.published.{b}"))).sum();
    assert_eq!(slow, 1, "the retry, counted by its latency from the event");
    host.assert_within_budget();
}
