//! count-aggregator (On Interval, every 10 s): `status.count` on `status.global`; and the
//! count workers (After Publish on `count-work.*`) it fans out to above 1,000 shards.

use super::{cat, num, Report};
use crate::core::count::{
    decide_count, decide_round, leaves, plan_round, range_batches, shard_batches, slot_increment, slot_reset, CountRange, CountRound,
    LastCount, INLINE_SHARDS,
};
use crate::core::keys::{
    count_slot_key, peak_key, COUNT_ROUND_KEY, COUNT_ROUND_TTL_MINUTES, LAST_COUNT_KEY, LAST_COUNT_TTL_MINUTES, PEAK_TTL_MINUTES,
};
use crate::core::metrics::{
    decide_snapshot, parse_metrics_item, Counter, History, MetricsItem, COUNTERS, HISTORY_KEY, HISTORY_TTL_MINUTES, METRICS_CHANNEL,
    METRICS_WORK, STAGE_ONE,
};
use crate::core::work::{count_channel, parse_count_item, CountItem, COUNT_WORK};
use crate::core::Config;
use crate::domain::channels::{OPERATORS_METRICS, STATUS_GLOBAL};
use crate::domain::Json;
use crate::host::{KvStore, PubNub};
#[allow(unused_imports)]
use crate::prelude::*;

/// Up to 1,000 shards, ops: ⌈shards/100⌉ hereNow (10 for 1,000), 3–4 KV, 1 publish, and the
/// metrics snapshot's fire. Above: a round (`core::count`): 0 API; KV ≤ 9 (round, slot, next
/// slot's base and its occasional reset, round, last and peak); 1 publish + ≤ 7 fires + the
/// snapshot's fire. The count published is the previous round's. (The heal sweep is the
/// settler's: `core::heal`.)
pub async fn count_aggregator<H: PubNub + KvStore>(host: &H, cfg: &Config, now_ms: u64) -> Report {
    let mut report = Report::new("count-aggregator");
    let count = if cfg.shard_count > INLINE_SHARDS {
        count_round(host, cfg, now_ms, &mut report).await
    } else {
        let (online, counted) = count_batches(host, shard_batches(cfg.shard_count), &mut report).await;
        if counted == 0 {
            report.error("no shard could be counted; nothing published");
            None
        } else {
            publish_count(host, online, counted, now_ms, now_ms, &mut report).await
        }
    };
    // The operators' metrics snapshot (`core::metrics`): two count-worker stages read the counters.
    if let Err(e) = host.fire(METRICS_CHANNEL, &MetricsItem::first(now_ms, count)).await {
        report.warn(cat(&["metrics snapshot not started: ", &e.describe()]));
    }
    report
}

/// Sums the occupancy of the shards in `batches` (one `hereNow` each): `(online, shards read)`.
async fn count_batches<H: PubNub>(host: &H, batches: Vec<Vec<String>>, report: &mut Report) -> (u64, u32) {
    let mut online = 0u64;
    let mut counted = 0u32;
    for batch in batches {
        match host.here_now(&batch, false, 0, 0).await {
            Ok(h) => {
                // Empty channels may be left out of the answer: the batch still counted.
                online += h.channels.iter().map(|c| c.occupancy).sum::<u64>().max(h.total_occupancy);
                counted += batch.len() as u32;
            }
            Err(e) => report.error(cat(&["hereNow failed for ", &num(batch.len() as u64), " shards: ", &e.describe()])),
        }
    }
    (online, counted)
}

/// Publishes the round that ended (if its workers reported), then starts the next one.
/// Returns what it published: `(online, peak today)`.
async fn count_round<H: PubNub + KvStore>(host: &H, cfg: &Config, now_ms: u64, report: &mut Report) -> Option<(u64, u64)> {
    let prev: Option<CountRound> = match host.get(COUNT_ROUND_KEY).await {
        Ok(r) => r,
        Err(e) => {
            report.error(cat(&["cannot read the count round: ", &e.describe()]));
            return None;
        }
    };
    let mut published = None;
    if let Some(round) = &prev {
        match host.get_counter(&count_slot_key(round.slot)).await {
            Ok(now_value) => match decide_round(round, now_value, cfg.shard_count) {
                Ok((online, counted)) => {
                    if counted < cfg.shard_count {
                        report.warn(cat(&["last round counted ", &num(counted as u64), " of ", &num(cfg.shard_count as u64), " shards"]));
                    }
                    published = publish_count(host, online, counted, round.at, now_ms, report).await;
                }
                Err(why) => report.error(why),
            },
            Err(e) => report.error(cat(&["cannot read the count slot: ", &e.describe()])),
        }
    }
    let slot = CountRound::next_slot(prev.as_ref());
    let base = match host.get_counter(&count_slot_key(slot)).await {
        Ok(v) => v.max(0) as u64,
        Err(e) => {
            report.error(cat(&["cannot read the next count slot; no round started: ", &e.describe()]));
            return published;
        }
    };
    let base = match slot_reset(base) {
        None => base,
        Some(by) => match host.incr_counter(&count_slot_key(slot), by).await {
            Ok(v) => v.max(0) as u64,
            Err(e) => {
                report.error(cat(&["cannot reset the next count slot; no round started: ", &e.describe()]));
                return published;
            }
        },
    };
    let mut fired = 0u32;
    for range in plan_round(cfg.shard_count) {
        let item = CountItem { kind: COUNT_WORK, hop: 1, slot, lo: range.lo, hi: range.hi };
        match host.fire(&count_channel(slot), &item).await {
            Ok(()) => fired += 1,
            // The round goes on without that range: its shards are missing from shardsCounted.
            Err(e) => report.error(cat(&["count work not fired for shards ", &num(range.lo as u64), "..: ", &e.describe()])),
        }
    }
    let round = CountRound { slot, base, at: now_ms };
    if let Err(e) = host.set(COUNT_ROUND_KEY, &round, COUNT_ROUND_TTL_MINUTES).await {
        report.error(cat(&["cannot store the count round: ", &e.describe()]));
    }
    report.info(cat(&["count round started: ", &num(fired as u64), " work items over ", &num(cfg.shard_count as u64), " shards"]));
    published
}

/// Returns what was published, `(online, peak today)`, or `None` if the publish failed.
async fn publish_count<H: PubNub + KvStore>(
    host: &H,
    online: u64,
    counted: u32,
    measured_at: u64,
    now_ms: u64,
    report: &mut Report,
) -> Option<(u64, u64)> {
    let peak_key = peak_key(now_ms);
    let last: Option<LastCount> = host.get(LAST_COUNT_KEY).await.unwrap_or_else(|e| {
        report.warn(cat(&["previous count unreadable: ", &e.describe()]));
        None
    });
    let peak: Option<u64> = host.get(&peak_key).await.unwrap_or_else(|e| {
        report.warn(cat(&["today's peak unreadable: ", &e.describe()]));
        None
    });
    let decision = decide_count(online, counted, last, peak, measured_at, now_ms);
    let published = match host.publish(STATUS_GLOBAL, &decision.message).await {
        Ok(()) => Some((online, decision.message.payload.peak_today)),
        Err(e) => {
            report.error(cat(&["publish to status.global failed: ", &e.describe()]));
            None
        }
    };
    if let Some(p) = decision.new_peak {
        if let Err(e) = host.set(&peak_key, &p, PEAK_TTL_MINUTES).await {
            report.warn(cat(&["cannot store today's peak: ", &e.describe()]));
        }
    }
    if let Err(e) = host.set(LAST_COUNT_KEY, &decision.last, LAST_COUNT_TTL_MINUTES).await {
        report.warn(cat(&["cannot store the count: ", &e.describe()]));
    }
    report.info(cat(&["online ", &num(online), " over ", &num(counted as u64), " shards"]));
    published
}

/// After Publish on `count-work.*`. A range wider than one leaf is split into ≤ 10 leaves
/// (≤ 10 fires); a leaf reads its ≤ 1,000 shards (≤ 10 hereNow) and adds them to its round's
/// slot in one atomic increment (1 KV). Shards it could not read are simply not added. Also
/// the metrics snapshot's stages.
pub async fn count_worker<H: PubNub + KvStore>(host: &H, message: &Json) -> Report {
    let mut report = Report::new("count-worker");
    if message.as_object().and_then(|o| o.str("type")) == Some(METRICS_WORK) {
        match parse_metrics_item(message) {
            Ok(item) => metrics_stage(host, item, &mut report).await,
            Err(reason) => report.reject(reason),
        }
        return report;
    }
    let item = match parse_count_item(message) {
        Ok(item) => item,
        Err(reason) => {
            report.reject(reason);
            return report;
        }
    };
    let range = CountRange { lo: item.lo, hi: item.hi };
    let parts = leaves(range);
    if parts.len() > 1 {
        for part in parts {
            let leaf = CountItem { hop: item.hop + 1, lo: part.lo, hi: part.hi, ..item.clone() };
            if let Err(e) = host.fire(&count_channel(item.slot), &leaf).await {
                report.error(cat(&["count work not fired for shards ", &num(part.lo as u64), "..: ", &e.describe()]));
            }
        }
        return report;
    }
    let (online, counted) = count_batches(host, range_batches(range), &mut report).await;
    if counted > 0 {
        if let Err(e) = host.incr_counter(&count_slot_key(item.slot), slot_increment(online, counted)).await {
            report.error(cat(&["cannot add to the count slot: ", &e.describe()]));
        }
    }
    report.info(cat(&["counted ", &num(online), " over ", &num(counted as u64), " shards"]));
    report
}

/// A stage of the operators' snapshot (`core::metrics`). Stage 1 reads the first
/// `STAGE_ONE` counters (9 KV) and hands them on (1 fire); stage 2 reads the rest and the
/// history (9 KV), publishes the snapshot on `operators.metrics` and stores the history (1 KV).
/// A counter that cannot be read ends the snapshot: one with a hole would show a false drop.
async fn metrics_stage<H: PubNub + KvStore>(host: &H, item: MetricsItem, report: &mut Report) {
    let range = if item.stage == 1 { 0..STAGE_ONE } else { STAGE_ONE..COUNTERS };
    let mut values = item.values.clone();
    for counter in &Counter::ALL[range] {
        match host.get_counter(&counter.key()).await {
            Ok(n) => values.push(n.max(0) as u64),
            Err(e) => return report.error(cat(&["metrics snapshot skipped: ", counter.name(), " unreadable: ", &e.describe()])),
        }
    }
    if item.stage == 1 {
        let next = MetricsItem { stage: 2, values, ..item };
        if let Err(e) = host.fire(METRICS_CHANNEL, &next).await {
            report.error(cat(&["metrics snapshot not handed on: ", &e.describe()]));
        }
        return;
    }
    let history: Option<History> = host.get(HISTORY_KEY).await.unwrap_or_else(|e| {
        report.warn(cat(&["metrics history unreadable, starting afresh: ", &e.describe()]));
        None
    });
    let mut totals = [0u64; COUNTERS];
    totals.copy_from_slice(&values);
    let (snapshot, history) = decide_snapshot(totals, history, item.online, item.peak, item.at);
    if let Err(e) = host.publish(OPERATORS_METRICS, &snapshot).await {
        report.error(cat(&["publish to operators.metrics failed: ", &e.describe()]));
    }
    if let Err(e) = host.set(HISTORY_KEY, &history, HISTORY_TTL_MINUTES).await {
        report.warn(cat(&["cannot store the metrics history: ", &e.describe()]));
    }
    let firing = snapshot.payload.alerts.iter().filter(|a| a.firing).map(|a| a.name).collect::<Vec<_>>();
    if firing.is_empty() {
        report.info("metrics snapshot published");
    } else {
        let mut line = String::from("metrics snapshot published; alerts firing:");
        for name in firing {
            line.push(' ');
            line.push_str(name);
        }
        report.warn(line);
    }
}
