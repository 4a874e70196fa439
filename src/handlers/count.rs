//! count-aggregator (On Interval, every 10 s): `status.count` on `status.global`.

use super::{cat, num, Report};
use crate::core::count::{decide_count, shard_batches, LastCount};
use crate::core::keys::{peak_key, LAST_COUNT_KEY, LAST_COUNT_TTL_MINUTES, PEAK_TTL_MINUTES};
use crate::core::Config;
use crate::domain::channels::STATUS_GLOBAL;
use crate::host::{KvStore, PubNub};
#[allow(unused_imports)]
use crate::prelude::*;

/// Ops: ⌈shards/100⌉ hereNow (10 for 1,000 shards), 3–4 KV, 1 publish.
pub async fn count_aggregator<H: PubNub + KvStore>(host: &H, cfg: &Config, now_ms: u64) -> Report {
    let mut report = Report::new("count-aggregator");
    let mut online = 0u64;
    let mut counted = 0u32;
    for batch in shard_batches(cfg.shard_count) {
        match host.here_now(&batch, false, 0, 0).await {
            Ok(h) => {
                // Empty channels may be left out of the answer: the batch still counted.
                online += h.channels.iter().map(|c| c.occupancy).sum::<u64>().max(h.total_occupancy);
                counted += batch.len() as u32;
            }
            Err(e) => report.error(cat(&["hereNow failed for ", &num(batch.len() as u64), " shards: ", &e.describe()])),
        }
    }
    if counted == 0 {
        report.error("no shard could be counted; nothing published");
        return report;
    }
    let peak_key = peak_key(now_ms);
    let last: Option<LastCount> = host.get(LAST_COUNT_KEY).await.unwrap_or_else(|e| {
        report.warn(cat(&["previous count unreadable: ", &e.describe()]));
        None
    });
    let peak: Option<u64> = host.get(&peak_key).await.unwrap_or_else(|e| {
        report.warn(cat(&["today's peak unreadable: ", &e.describe()]));
        None
    });
    let decision = decide_count(online, counted, last, peak, now_ms, now_ms);
    if let Err(e) = host.publish(STATUS_GLOBAL, &decision.message).await {
        report.error(cat(&["publish to status.global failed: ", &e.describe()]));
    }
    if let Some(p) = decision.new_peak {
        if let Err(e) = host.set(&peak_key, &p, PEAK_TTL_MINUTES).await {
            report.warn(cat(&["cannot store today's peak: ", &e.describe()]));
        }
    }
    if let Err(e) = host.set(LAST_COUNT_KEY, &decision.last, LAST_COUNT_TTL_MINUTES).await {
        report.warn(cat(&["cannot store the count: ", &e.describe()]));
    }
    report.info(cat(&["online ", &num(online), " over ", &num(counted as u64), " shards"]));
    report
}
