//! Operational metrics (seed §12): what the Functions did, kept where an operator can read it
//! at any scale, and the seed's alerts evaluated on it.
//!
//! **Counters.** Every metric is a cumulative KV counter (`metric:{name}`, atomic
//! `incrCounter`): executions only ever add, so concurrent executions never lose an update and
//! no value is read-modified-written. An execution adds up what it did in a [`Metrics`] and
//! writes it at its end, one increment per counter it touched (≤ 4 on every path; each path's
//! op budget counts them). Cumulative values never need resetting and stay exact as JS numbers
//! (< 2^53) for longer than any deployment lives.
//!
//! **Snapshot.** The count aggregator (On Interval) fires a `metrics.work` item each run; a
//! count worker reads the first [`STAGE_ONE`] counters and hands them on, the next reads the
//! rest and the history, and [`decide_snapshot`] turns the totals into a `metrics.snapshot`
//! on `operators.metrics` (a channel no user token can read): rates over the last interval,
//! publish latency quantiles and the error rate over 5 minutes, storms over an hour, the
//! channel-group gauges, the global count, and the alerts.

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use super::Rejection;
use crate::domain::channels::CHANNELS_PER_GROUP;
use crate::domain::json::{FromJson, Json, JsonObject};
use crate::domain::messages::{self, Envelope};
use crate::domain::time::iso8601;

/// The counters, in the order the snapshot reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Individual presence events by action (After Presence).
    Join,
    Leave,
    Timeout,
    /// `interval` events (with deltas or `here_now_refresh`).
    Interval,
    /// Status changes held back by the debounce (queued for the trailing edge).
    Debounced,
    /// Individual events batched into a storm's reconciliation instead of decided alone.
    StormBatched,
    /// Storm protection triggered: a shard slot went past the threshold.
    Storms,
    /// Status changes published on `status.{userId}`, by latency from the change (or from the
    /// presence read that found it) to the publish: ≤ 1 s, ≤ 2 s, ≤ 5 s, ≤ 15 s, more.
    /// Presence timestamps are whole seconds, so a latency reads up to 1 s high.
    Published1s,
    Published2s,
    Published5s,
    Published15s,
    PublishedSlow,
    /// Status publishes that failed (the change is queued and tried again).
    PublishErrors,
    /// Channels added to / removed from friends groups (from each user's recounted friends).
    GroupAdds,
    GroupRemoves,
    /// Friends groups in use (n friends use ⌈n/2,000⌉), and those holding > 1,900 channels.
    Groups,
    GroupsOver1900,
}

pub const COUNTERS: usize = 17;

impl Counter {
    pub const ALL: [Counter; COUNTERS] = [
        Counter::Join,
        Counter::Leave,
        Counter::Timeout,
        Counter::Interval,
        Counter::Debounced,
        Counter::StormBatched,
        Counter::Storms,
        Counter::Published1s,
        Counter::Published2s,
        Counter::Published5s,
        Counter::Published15s,
        Counter::PublishedSlow,
        Counter::PublishErrors,
        Counter::GroupAdds,
        Counter::GroupRemoves,
        Counter::Groups,
        Counter::GroupsOver1900,
    ];

    /// The seed's metric names (a latency bucket names its upper bound).
    pub fn name(self) -> &'static str {
        match self {
            Counter::Join => "presence.events.join",
            Counter::Leave => "presence.events.leave",
            Counter::Timeout => "presence.events.timeout",
            Counter::Interval => "presence.events.interval",
            Counter::Debounced => "presence.events.debounced",
            Counter::StormBatched => "presence.events.storm",
            Counter::Storms => "presence.storms",
            Counter::Published1s => "status.published.1s",
            Counter::Published2s => "status.published.2s",
            Counter::Published5s => "status.published.5s",
            Counter::Published15s => "status.published.15s",
            Counter::PublishedSlow => "status.published.slower",
            Counter::PublishErrors => "status.publish.errors",
            Counter::GroupAdds => "channelgroup.add",
            Counter::GroupRemoves => "channelgroup.remove",
            Counter::Groups => "channelgroup.groups",
            Counter::GroupsOver1900 => "channelgroup.over1900",
        }
    }

    /// `metric:{name}`: the counter's KV key (a counter: no TTL, only ever added to).
    pub fn key(self) -> String {
        let mut s = String::from(super::keys::METRIC_PREFIX);
        s.push_str(self.name());
        s
    }
}

/// Upper bounds (ms) of the latency buckets; the last bucket is open.
pub const LATENCY_BOUNDS_MS: [u64; 4] = [1_000, 2_000, 5_000, 15_000];
const LATENCY: [Counter; 5] =
    [Counter::Published1s, Counter::Published2s, Counter::Published5s, Counter::Published15s, Counter::PublishedSlow];

/// The bucket of a publish `latency_ms` after its change.
pub fn latency_counter(latency_ms: u64) -> Counter {
    let i = LATENCY_BOUNDS_MS.iter().position(|b| latency_ms <= *b).unwrap_or(LATENCY_BOUNDS_MS.len());
    LATENCY[i]
}

/// The counter of a presence event that passed `parse_presence_event`: its action, or
/// `Interval` for `interval` events.
pub fn event_counter(event: &Json) -> Counter {
    match event.as_object().and_then(|o| o.str("action")) {
        Some("join") => Counter::Join,
        Some("leave") => Counter::Leave,
        Some("timeout") => Counter::Timeout,
        _ => Counter::Interval,
    }
}

/// KV a settle worker keeps for its metrics: the latency bucket of what it published and its
/// publish errors (debounced changes are counted where first decided, not when settled).
pub const SETTLE_METRICS_KV: usize = 2;

/// What one execution adds to the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    pub counts: [i64; COUNTERS],
}

impl Metrics {
    pub fn add(&mut self, counter: Counter, n: i64) {
        let i = counter as usize;
        self.counts[i] = self.counts[i].saturating_add(n);
    }

    pub fn get(&self, counter: Counter) -> i64 {
        self.counts[counter as usize]
    }

    /// The increments to write: one per counter touched.
    pub fn increments(&self) -> impl Iterator<Item = (Counter, i64)> + '_ {
        Counter::ALL.into_iter().zip(self.counts).filter(|(_, n)| *n != 0)
    }
}

/// Friends groups in use for `friends` friends, and how many hold more than 1,900 channels:
/// groups are kept compact (`docs/design.md`), so all but the last hold 2,000.
pub fn groups_for(friends: u64) -> (i64, i64) {
    let per = CHANNELS_PER_GROUP as u64;
    let groups = friends.div_ceil(per);
    let full = friends / per;
    let over = full + u64::from(friends % per > 1_900);
    (groups as i64, over as i64)
}

/// A user's recount from `old` to `new` friends, as counter increments: the channels added or
/// removed, and the change in groups in use and in groups over 1,900. Derived from counts the
/// recount worker writes ETag-conditionally, so a recount that changes nothing adds nothing.
pub fn recount_metrics(metrics: &mut Metrics, old: u64, new: u64) {
    if new > old {
        metrics.add(Counter::GroupAdds, (new - old) as i64);
    } else {
        metrics.add(Counter::GroupRemoves, (old - new) as i64);
    }
    let (g0, o0) = groups_for(old);
    let (g1, o1) = groups_for(new);
    metrics.add(Counter::Groups, g1 - g0);
    metrics.add(Counter::GroupsOver1900, o1 - o0);
}

// ---- the snapshot --------------------------------------------------------------------------

/// Counters the first snapshot stage reads (9 KV); the second reads the other 8 and the
/// history, and writes the history back (10 KV).
pub const STAGE_ONE: usize = 9;
pub const METRICS_WORK: &str = "metrics.work";
/// The channel the snapshot stages are fired on (the count workers' binding).
pub const METRICS_CHANNEL: &str = "count-work.metrics";
pub use super::keys::{METRICS_HISTORY_KEY as HISTORY_KEY, METRICS_HISTORY_TTL_MINUTES as HISTORY_TTL_MINUTES};
/// History points are kept a minute apart over an hour (the storm alert's window).
const POINT_SPACING_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;
/// Latency quantiles and the publish error rate are taken over this window.
pub const WINDOW_MS: u64 = 5 * 60_000;

/// Alert thresholds (seed §12.5).
pub const GROUP_FULL_CHANNELS: u64 = 1_900;
pub const PUBLISH_ERRORS_BASIS_POINTS: u64 = 100; // 1 %
pub const STORMS_PER_HOUR: u64 = 10;

/// `metrics.work`: a snapshot stage. `values`: what stage 1 read, handed to stage 2.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MetricsItem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub stage: u8,
    pub at: u64,
    pub online: Option<u64>,
    pub peak: Option<u64>,
    pub values: Vec<u64>,
}

impl MetricsItem {
    pub fn first(at: u64, count: Option<(u64, u64)>) -> Self {
        MetricsItem { kind: METRICS_WORK, stage: 1, at, online: count.map(|c| c.0), peak: count.map(|c| c.1), values: Vec::new() }
    }
}

pub fn parse_metrics_item(message: &Json) -> Result<MetricsItem, Rejection> {
    let bad = || Rejection::new("metrics item needs stage 1 or 2, at, and stage 2 the first counters");
    let obj = message.as_object().ok_or_else(bad)?;
    if obj.str("type") != Some(METRICS_WORK) {
        return Err(Rejection::new("metrics item type is not metrics.work"));
    }
    let stage = obj.u64("stage").filter(|s| *s == 1 || *s == 2).ok_or_else(bad)? as u8;
    let at = obj.u64("at").ok_or_else(bad)?;
    let online: Option<u64> = obj.field_or("online", None).map_err(|_| bad())?;
    let peak: Option<u64> = obj.field_or("peak", None).map_err(|_| bad())?;
    let values: Vec<u64> = obj.field_or("values", Vec::new()).map_err(|_| bad())?;
    if values.len() != if stage == 1 { 0 } else { STAGE_ONE } {
        return Err(bad());
    }
    Ok(MetricsItem { kind: METRICS_WORK, stage, at, online, peak, values })
}

/// Totals at a moment: `(at, counters)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    pub at: u64,
    pub values: [u64; COUNTERS],
}

impl Point {
    fn get(&self, c: Counter) -> u64 {
        self.values[c as usize]
    }
}

/// `metrics:history`: points a minute apart over the last hour, and the latest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub points: Vec<Point>,
}

impl Serialize for History {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.points.len()))?;
        for p in &self.points {
            let mut row: Vec<u64> = Vec::with_capacity(COUNTERS + 1);
            row.push(p.at);
            row.extend_from_slice(&p.values);
            seq.serialize_element(&row)?;
        }
        seq.end()
    }
}

impl FromJson for History {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        let rows: Vec<Vec<u64>> = Vec::from_json(v).map_err(|_| "metrics history is not a list of rows")?;
        let mut points = Vec::with_capacity(rows.len());
        for row in rows {
            if row.len() != COUNTERS + 1 {
                return Err("metrics history row has the wrong length");
            }
            let mut values = [0u64; COUNTERS];
            values.copy_from_slice(&row[1..]);
            points.push(Point { at: row[0], values });
        }
        Ok(History { points })
    }
}

impl History {
    /// The history with `now` added: the latest point always, older ones a minute apart and
    /// no older than an hour and a minute.
    fn with(mut self, now: Point) -> History {
        self.points.retain(|p| p.at < now.at && p.at + HOUR_MS + POINT_SPACING_MS >= now.at);
        // The last point stays only if it is a minute past the one before it.
        if let [.., before, last] = self.points.as_slice() {
            if last.at < before.at + POINT_SPACING_MS {
                self.points.pop();
            }
        }
        self.points.push(now);
        self
    }

    /// Where a window of `window_ms` ending at the latest point starts: the newest earlier point
    /// at least that old, else the oldest earlier one; `None` before a second point.
    fn baseline(&self, window_ms: u64) -> Option<&Point> {
        let (now, earlier) = self.points.split_last()?;
        earlier.iter().rev().find(|p| p.at + window_ms <= now.at).or(earlier.first())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceRates {
    pub join: u64,
    pub leave: u64,
    pub timeout: u64,
    pub interval: u64,
    pub debounced: u64,
    pub storm_batched: u64,
    pub storms: u64,
}

/// Publish latency quantiles in ms (linear within a bucket; an open-bucket quantile is that
/// bucket's lower bound, 15,000, meaning "at least").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Quantiles {
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusMetrics {
    /// Over the last interval.
    pub published: u64,
    pub errors: u64,
    /// Over the latency window: publishes by bucket (≤ 1, ≤ 2, ≤ 5, ≤ 15 s, more) and the
    /// quantiles, `null` without publishes.
    pub window_ms: u64,
    pub window_published: u64,
    pub latency_buckets: [u64; 5],
    pub latency_ms: Option<Quantiles>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMetrics {
    /// Over the last interval.
    pub add: u64,
    pub remove: u64,
    /// Gauges: channels in friends groups, groups in use, their mean size, groups over 1,900.
    pub channels: u64,
    pub groups: u64,
    pub average_size: u64,
    pub over1900: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalMetrics {
    pub online: Option<u64>,
    pub peak_today: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub name: &'static str,
    pub firing: bool,
    pub value: u64,
    pub threshold: u64,
    pub unit: &'static str,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSnapshot {
    /// Milliseconds since the previous snapshot: the rates' interval (0 on the first).
    pub interval_ms: u64,
    pub presence: PresenceRates,
    pub status: StatusMetrics,
    pub channel_groups: GroupMetrics,
    pub global_count: GlobalMetrics,
    pub alerts: Vec<Alert>,
    /// Every counter's total, by name.
    pub totals: JsonObject,
}

/// The snapshot for counter totals `values` read at `now` (stage 1's and stage 2's reads, in
/// [`Counter::ALL`] order), and the history to store. A counter that went down (a key lost or
/// reset) counts as a fresh start: its delta is its value.
// Long on purpose: the snapshot's fields are built side by side from the same deltas (counts,
// rates, alerts); split apart, each piece would need the deltas passed to it again.
pub fn decide_snapshot(
    values: [u64; COUNTERS],
    history: Option<History>,
    online: Option<u64>,
    peak: Option<u64>,
    now: u64,
) -> (Envelope<MetricsSnapshot>, History) {
    let point = Point { at: now, values };
    let zero = Point { at: now, values: [0; COUNTERS] };
    let history = history.unwrap_or_default();
    // The interval is since the latest point, which `with` may thin out of the history.
    let prev = history.points.last().filter(|p| p.at < now).cloned();
    let history = history.with(point.clone());
    let prev = prev.as_ref().unwrap_or(&zero);
    let delta = |from: &Point, c: Counter| {
        let (a, b) = (from.get(c), point.get(c));
        if b >= a {
            b - a
        } else {
            b
        }
    };
    let d = |c| delta(prev, c);

    let window = history.baseline(WINDOW_MS).unwrap_or(&zero);
    let buckets = LATENCY.map(|c| delta(window, c));
    let window_published: u64 = buckets.iter().sum();
    let window_errors = delta(window, Counter::PublishErrors);
    let hour = history.baseline(HOUR_MS).unwrap_or(&zero);
    let storms_hour = delta(hour, Counter::Storms);

    let channels = point.get(Counter::GroupAdds).saturating_sub(point.get(Counter::GroupRemoves));
    let groups = point.get(Counter::Groups);
    let over = point.get(Counter::GroupsOver1900);
    let attempts = window_published + window_errors;
    let error_bp = (window_errors * 10_000).checked_div(attempts).unwrap_or(0);
    let alerts = vec![
        Alert { name: "group_full", firing: over > 0, value: over, threshold: 0, unit: "groups over 1,900 channels" },
        Alert {
            name: "publish_errors",
            firing: error_bp > PUBLISH_ERRORS_BASIS_POINTS,
            value: error_bp,
            threshold: PUBLISH_ERRORS_BASIS_POINTS,
            unit: "basis points of status publishes over 5 min",
        },
        Alert {
            name: "storm_protection",
            firing: storms_hour > STORMS_PER_HOUR,
            value: storms_hour,
            threshold: STORMS_PER_HOUR,
            unit: "storms in the last hour",
        },
    ];
    let mut totals = JsonObject::default();
    for c in Counter::ALL {
        totals.set(c.name(), Json::num(point.get(c)));
    }
    let snapshot = MetricsSnapshot {
        interval_ms: now - prev.at,
        presence: PresenceRates {
            join: d(Counter::Join),
            leave: d(Counter::Leave),
            timeout: d(Counter::Timeout),
            interval: d(Counter::Interval),
            debounced: d(Counter::Debounced),
            storm_batched: d(Counter::StormBatched),
            storms: d(Counter::Storms),
        },
        status: StatusMetrics {
            published: LATENCY.iter().map(|c| d(*c)).sum(),
            errors: d(Counter::PublishErrors),
            window_ms: now - window.at,
            window_published,
            latency_buckets: buckets,
            latency_ms: quantiles(&buckets),
        },
        channel_groups: GroupMetrics {
            add: d(Counter::GroupAdds),
            remove: d(Counter::GroupRemoves),
            channels,
            groups,
            average_size: channels.checked_div(groups).unwrap_or(0),
            over1900: over,
        },
        global_count: GlobalMetrics { online, peak_today: peak },
        alerts,
        totals,
    };
    let message = Envelope::new(messages::METRICS_SNAPSHOT, messages::event_id("metrics", None, now), iso8601(now), snapshot);
    (message, history)
}

/// p50/p95/p99 of publishes counted in `buckets`; `None` without any.
pub fn quantiles(buckets: &[u64; 5]) -> Option<Quantiles> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let at = |per_mille: u64| {
        // The rank of the quantile, 1-based: ⌈q·n⌉.
        let rank = (total * per_mille).div_ceil(1000).max(1);
        let mut below = 0;
        for (i, &count) in buckets.iter().enumerate() {
            if count > 0 && below + count >= rank {
                let lo = if i == 0 { 0 } else { LATENCY_BOUNDS_MS[i - 1] };
                let Some(&hi) = LATENCY_BOUNDS_MS.get(i) else { return lo };
                return lo + (hi - lo) * (rank - below) / count;
            }
            below += count;
        }
        LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1]
    };
    Some(Quantiles { p50: at(500), p95: at(950), p99: at(990) })
}
