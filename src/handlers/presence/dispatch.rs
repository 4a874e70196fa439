//! Observations → decisions and publishes, or split across chained executions (the
//! presence worker runs the parts).

#[allow(unused_imports)]
use crate::prelude::*;

use super::event::finish;
use super::settle::{settle, settle_chunks};
use crate::core::metrics::{latency_counter, Counter};
use crate::core::presence::{decide_settled, decide_status, latest_per_user, Observation, StatusDecision, VERSION};
use crate::core::work::*;
use crate::core::Config;
use crate::domain::channels::{presence_shard, status};
use crate::domain::{shard_of, Json, UserId};
use crate::handlers::queues::{enqueue_at, fire_work};
use crate::handlers::{cat, num, Report};
use crate::host::{KvStore, PubNub};

/// Applies observations here if they fit this execution's budget, otherwise splits them
/// across chained executions (≤ fan-out wide, ≤ `MAX_HOP` deep). Nothing is dropped: what
/// can be neither applied nor handed on goes to the settle queue.
pub async fn dispatch<H: PubNub + KvStore>(
    host: &H,
    cfg: &Config,
    shard: u32,
    observations: Vec<Observation>,
    hop: u8,
    now_ms: u64,
    report: &mut Report,
) {
    let mut observations = latest_per_user(observations);
    let cap = cfg.users_per_execution();
    if observations.len() <= cap {
        return apply(host, cfg, observations, Vec::new(), false, now_ms, report).await;
    }
    if hop >= MAX_HOP {
        let rest = observations.split_off(cap);
        report.warn(cat(&["more users than one execution at the last hop; queued ", &num(rest.len() as u64)]));
        return apply(host, cfg, observations, rest, false, now_ms, report).await;
    }
    let parts = observations.len().div_ceil(cap).min(cfg.fan_out());
    let unsent = fire_work(host, shard, hop + 1, &observations, observations.len().div_ceil(parts), report).await;
    report.info(cat(&["split ", &num(parts as u64), " ways at hop ", &num(hop as u64)]));
    if !unsent.is_empty() {
        enqueue(host, unsent, now_ms, report).await;
    }
}

/// Decides and carries out up to `users_per_execution` observations: 1 batched App Context
/// read, then per announced user 1 publish and 1 App Context write. `later` (due now) is
/// queued with what must wait, in one queue write (2 KV). `settled`: the observations were
/// just confirmed against presence (`decide_settled`).
// Long on purpose: per user, the decision's effects in the order §4 sets (App Context write before
// the publish), with each failure's fallback beside the call that failed.
pub(super) async fn apply<H: PubNub + KvStore>(
    host: &H,
    cfg: &Config,
    mut observations: Vec<Observation>,
    mut later: Vec<Observation>,
    settled: bool,
    now_ms: u64,
    report: &mut Report,
) {
    let mut due_min = if later.is_empty() { u64::MAX } else { now_ms };
    let ids: Vec<UserId> = observations.iter().filter_map(|o| UserId::parse(&o.user).ok()).collect();
    let users = if ids.is_empty() {
        Vec::new()
    } else {
        match host.get_users(&ids).await {
            Ok(users) => users,
            Err(e) => {
                report.error(cat(&["App Context read failed, queued for retry: ", &e.describe()]));
                later.append(&mut observations);
                return enqueue(host, later, now_ms, report).await;
            }
        }
    };
    // Publishes are counted in the latency bucket of the slowest (one increment): they share
    // an event time, or come from one settle read.
    let (mut published, mut slowest) = (0i64, 0u64);
    for obs in observations {
        let Ok(id) = UserId::parse(&obs.user) else { continue };
        let record = users.iter().find(|u| u.id == obs.user);
        // The assigned shard is a pure function of the id (same hash as the clients).
        let shard = shard_of(&obs.user, cfg.shard_count);
        // An invisible user is offline to friends, whatever presence says.
        let seen = crate::core::visibility::seen_by_friends(&obs, record);
        let decision =
            if settled { decide_settled(&seen, record, shard, now_ms, cfg) } else { decide_status(&seen, record, shard, now_ms, cfg) };
        match decision {
            StatusDecision::Unchanged | StatusDecision::Stale => {}
            StatusDecision::Defer { due_ms } | StatusDecision::UnchangedQueued { due_ms } => {
                // Counted where a change is first decided; the settle path only re-queues.
                if !settled {
                    report.metrics.add(Counter::Debounced, 1);
                }
                due_min = due_min.min(due_ms);
                later.push(obs);
            }
            StatusDecision::Announce { custom, message } => {
                // Write first (ETag-conditional): a version is published only once committed,
                // so no two messages carry one version (docs/design.md §4). 412: someone wrote
                // meanwhile; re-decided against the new record later.
                let etag = record.and_then(|r| r.etag.as_deref());
                if let Err(e) = host.set_user_custom(&id, &custom, etag).await {
                    report.warn(cat(&["App Context write for ", id.as_str(), " failed, queued: ", &e.describe()]));
                    due_min = due_min.min(now_ms);
                    later.push(obs);
                    continue;
                }
                if let Err(e) = host.publish(&status(&id), &message).await {
                    // Committed but untold: the settle path announces it again while it is
                    // still the record's last write.
                    report.metrics.add(Counter::PublishErrors, 1);
                    report.error(cat(&["publish to status.", id.as_str(), " failed, queued: ", &e.describe()]));
                    due_min = due_min.min(now_ms);
                    later.push(Observation { republish: custom.u64(VERSION), ..obs });
                    continue;
                }
                published += 1;
                slowest = slowest.max(now_ms.saturating_sub(obs.at_ms));
                report.info(cat(&[message.kind, " ", id.as_str()]));
            }
        }
    }
    if published > 0 {
        report.metrics.add(latency_counter(slowest), published);
    }
    if !later.is_empty() {
        enqueue_at(host, later, due_min, now_ms, report).await;
    }
}

/// A reconciled observation is a snapshot of presence: by the time it is acted on (after a
/// debounce, a queue), a later scan may have found that user consistent and said nothing, so
/// applying the snapshot would undo the truth. One hereNow of its shard (a shard small enough
/// for one page, as every shard with individual events and storms is) checks that presence
/// still agrees; one that no longer does is dropped, since the change that made it stale is
/// an event or a scan of its own. Snapshots of other shards wait for a worker of their own.
async fn still_present<H: PubNub + KvStore>(
    host: &H,
    cfg: &Config,
    mut observations: Vec<Observation>,
    now_ms: u64,
    report: &mut Report,
) -> Vec<Observation> {
    let Some(shard) = observations.iter().find(|o| o.reconciled).map(|o| shard_of(&o.user, cfg.shard_count)) else {
        return observations;
    };
    let (other, mut mine): (Vec<Observation>, Vec<Observation>) =
        observations.drain(..).partition(|o| o.reconciled && shard_of(&o.user, cfg.shard_count) != shard);
    if !other.is_empty() {
        enqueue(host, other, now_ms, report).await;
    }
    match host.here_now(&[presence_shard(shard)], true, 1000, 0).await {
        Ok(page) if page.total_occupancy <= 1000 => {
            let present: Vec<String> = page.channels.into_iter().flat_map(|c| c.uuids).collect();
            let before = mine.len();
            mine.retain(|o| !o.reconciled || present.contains(&o.user) == o.online);
            if mine.len() < before {
                report.info(cat(&["dropped ", &num((before - mine.len()) as u64), " reconciled changes presence no longer agrees with"]));
            }
        }
        Ok(_) => {} // a big shard: one page cannot tell; its scans are rare passes
        Err(e) => report.warn(cat(&["hereNow failed; reconciled changes applied unchecked: ", &e.describe()])),
    }
    mine
}

pub(super) async fn enqueue<H: KvStore>(host: &H, entries: Vec<Observation>, now_ms: u64, report: &mut Report) {
    enqueue_at(host, entries, now_ms, now_ms, report).await
}

/// After Publish on `presence-work.*`: one slice of work from `dispatch` or the settler.
pub async fn presence_worker<H: PubNub + KvStore>(host: &H, cfg: &Config, message: &Json, now_ms: u64) -> Report {
    let mut report = Report::new("presence-worker");
    let item = match parse_work_item(message) {
        Ok(item) => item,
        Err(reason) => {
            report.reject(reason);
            return report;
        }
    };
    match item.kind.as_str() {
        PRESENCE_WORK => {
            // Hop 2 applies what it is given: a scan's changes are checked against presence first.
            let observations = if item.hop >= MAX_HOP {
                still_present(host, cfg, item.observations, now_ms, &mut report).await
            } else {
                item.observations
            };
            dispatch(host, cfg, item.shard, observations, item.hop, now_ms, &mut report).await
        }
        _ if item.chunks.is_empty() => settle(host, cfg, item.observations, item.hop, 0, now_ms, &mut report).await,
        _ => settle_chunks(host, cfg, &item.chunks, item.hop, now_ms, &mut report).await,
    }
    finish(host, cfg, &mut report).await;
    report
}
