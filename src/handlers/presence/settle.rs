//! The presence settler: publishes the changes that waited out their debounce window, and
//! runs the heal sweep with what its reads leave.

#[allow(unused_imports)]
use crate::prelude::*;

use super::dispatch::{apply, enqueue};
use crate::core::heal::HEAL_WORK;
use crate::core::keys::{self, JobQueue};
use crate::core::metrics::SETTLE_METRICS_KV;
use crate::core::presence::{as_present, latest_per_user, settle_from_presence, Observation, HERE_NOW_PAGE};
use crate::core::settle::{Cursor, SettleChunk, SettleFire, SettlePlan};
use crate::core::work::*;
use crate::core::Config;
use crate::domain::channels::presence_shard;
use crate::domain::{shard_of, UserId};
use crate::handlers::{cat, num, Report};
use crate::host::{HostError, KvStore, PubNub};

/// On Interval: the trailing edge of the debounce, the clock of the job queues, and the heal
/// sweep (`core::heal`). Reads the cursor and the counters `SettlePlan` asks for and fires what
/// it hands out; it reads no queue value itself. Ops: ≤ 10 KV (cursor, 2 job counters, ≤ 6
/// slots, the journal counter and an epoch's acknowledgement counter when the slots leave
/// room, cursor), ≤ 10 fires.
// Long on purpose: the settler's reads, its plan and the fires that carry it out, in the order its
// KV budget is spent (the plan itself is `core::settle`).
pub async fn presence_settler<H: PubNub + KvStore>(host: &H, cfg: &Config, now_ms: u64) -> Report {
    let mut report = Report::new("presence-settler");
    let cursor: Option<Cursor> = match host.get(keys::CURSOR_KEY).await {
        Ok(c) => c,
        Err(e) => {
            report.error(cat(&["cannot read the settle cursor: ", &e.describe()]));
            return report;
        }
    };
    let mut queued = [0i64; 2];
    for (i, queue) in [JobQueue::Scans, JobQueue::Recounts].into_iter().enumerate() {
        match host.get_counter(queue.counter_key()).await {
            Ok(n) => queued[i] = n,
            Err(e) => report.error(cat(&["cannot read the ", queue.counter_key(), " queue: ", &e.describe()])),
        }
    }
    let mut plan = SettlePlan::new(cursor, now_ms, queued[0], queued[1], cfg.fan_out());
    heal_sweep(host, &mut plan, now_ms, &mut report).await;
    for slot in plan.slots() {
        match host.get_counter(&keys::slot_key(slot)).await {
            Ok(n) if plan.add_slot(slot, n) => {}
            Ok(_) => break,
            Err(e) => {
                report.error(cat(&["cannot read queue slot ", &num(slot), ": ", &e.describe()]));
                break;
            }
        }
    }
    let handout = plan.finish();
    let mut fired = 0;
    for fire in &handout.fires {
        let (channel, result) = match fire {
            SettleFire::Chunks(part) => {
                let channel = settle_channel();
                let result = host.fire(&channel, &WorkItem::settle(1, part.clone())).await;
                (channel, result)
            }
            SettleFire::Scan(job) => {
                let channel = scan_jobs_channel();
                let result = host.fire(&channel, &ScanItem { kind: RECONCILE_WORK, hop: 1, scan: None, job: Some(*job) }).await;
                (channel, result)
            }
            SettleFire::Recounts(jobs) => {
                let channel = recount_channel();
                let result = host.fire(&channel, &RecountItem { kind: RECOUNT_WORK, hop: 1, jobs, users: &[], epoch: None }).await;
                (channel, result)
            }
            SettleFire::Heal(jobs, epoch) => {
                let channel = heal_scan_channel();
                let result = host.fire(&channel, &RecountItem { kind: HEAL_WORK, hop: 1, jobs, users: &[], epoch: Some(*epoch) }).await;
                (channel, result)
            }
        };
        if let Err(e) = result {
            // Nothing after a failed fire goes out: the cursor stops before it.
            report.error(cat(&["fire to ", &channel, " failed: ", &e.describe()]));
            break;
        }
        fired += 1;
    }
    let next = handout.cursor_after(fired);
    if Some(next) != cursor {
        if let Err(e) = host.set(keys::CURSOR_KEY, &next, keys::CURSOR_TTL_MINUTES).await {
            report.error(cat(&["cannot advance the settle cursor: ", &e.describe()]));
        }
    }
    report.info(cat(&[
        "handed out ",
        &num(handout.chunks as u64),
        " queued chunks, scans to #",
        &num(next.scans as u64),
        ", recounts to #",
        &num(next.recounts as u64),
        ", journals to #",
        &num(next.heal.map_or(0, |h| h.handed) as u64),
    ]));
    report
}

/// The heal sweep's reads, when the slots leave the KV for them: the journal counter, and the
/// acknowledgement counter of the epoch checked when one switches. A failed read skips the
/// sweep (or the switch) this run.
async fn heal_sweep<H: KvStore>(host: &H, plan: &mut SettlePlan, now_ms: u64, report: &mut Report) {
    let room = plan.heal_room();
    if room == 0 {
        return;
    }
    let journals = match host.get_counter(JobQueue::Journals.counter_key()).await {
        Ok(n) => n,
        Err(e) => return report.error(cat(&["heal sweep skipped: ", &e.describe()])),
    };
    let mut ack = None;
    if let Some(slot) = plan.heal_ack_slot(now_ms).filter(|_| room > 1) {
        match host.get_counter(&keys::heal_ack_key(slot)).await {
            Ok(n) => ack = Some(n),
            Err(e) => report.error(cat(&["heal epoch not checked: ", &e.describe()])),
        }
    }
    if plan.add_heal(journals, ack, now_ms) {
        report.warn("heal: a scanner of the last epoch never acknowledged; its journals are handed out again");
    }
}

/// A settle lane (more chunks than one worker reads) hands its chunks on one hop down,
/// `CHUNKS_PER_WORKER` each; a worker reads its chunks and settles their users from presence
/// (`confirmed`), then against App Context. Ops of a worker: ≤ 8 KV reads + 2 to queue again;
/// 1 hereNow, whereNow only for users of big shards, 1 App Context read, ≤ 8 writes.
pub(super) async fn settle_chunks<H: PubNub + KvStore>(
    host: &H,
    cfg: &Config,
    chunks: &[(u64, i64)],
    hop: u8,
    now_ms: u64,
    report: &mut Report,
) {
    if chunks.len() > CHUNKS_PER_WORKER {
        let Some(next) = next_hop(hop) else {
            report.error(cat(&["more queue chunks than one worker reads at the last hop; not settled: ", &num(chunks.len() as u64)]));
            return;
        };
        let channel = settle_channel();
        let mut handed = 0;
        // Spread evenly: a worker with fewer chunks keeps KV to spread a big chunk it finds.
        let per = chunks.len().div_ceil(cfg.fan_out()).max(1);
        for part in chunks.chunks(per).take(cfg.fan_out()) {
            if let Err(e) = host.fire(&channel, &WorkItem::settle(next, part.to_vec())).await {
                report.error(cat(&["fire to ", &channel, " failed: ", &e.describe()]));
                break;
            }
            handed += part.len();
        }
        if handed < chunks.len() {
            report.error(cat(&["settle lane: queue chunks not handed out: ", &num((chunks.len() - handed) as u64)]));
        }
        return report.info(cat(&["settle lane: handed out ", &num(handed as u64), " queue chunks"]));
    }
    let mut observations: Vec<Observation> = Vec::new();
    let mut reads = 0;
    for &(slot, index) in chunks {
        reads += 1;
        match host.get::<SettleChunk>(&keys::chunk_key(slot, index)).await {
            Ok(Some(chunk)) => observations.extend(chunk.entries),
            Ok(None) => {} // expired or not yet visible (KV is eventually consistent)
            Err(HostError::BudgetExceeded(k)) => {
                report.error(cat(&["settle stopped: ", k.name(), " exhausted"]));
                break;
            }
            Err(e) => report.error(cat(&["cannot read queue chunk: ", &e.describe()])),
        }
    }
    settle(host, cfg, observations, hop, reads, now_ms, report).await
}

/// Settles deferred users: more than one execution can announce are handed on one hop down
/// (`settle.work` with observations, ≤ fan-out parts) while hops remain; at the last hop what
/// one execution cannot take is queued again, spread over as many chunks as the KV left after
/// `reads` allows, so each goes to a worker of its own on the next run. The users kept are
/// confirmed against presence first.
pub(super) async fn settle<H: PubNub + KvStore>(
    host: &H,
    cfg: &Config,
    observations: Vec<Observation>,
    hop: u8,
    reads: usize,
    now_ms: u64,
    report: &mut Report,
) {
    let mut observations = latest_per_user(observations);
    let cap = cfg.users_per_execution();
    let rest = observations.split_off(observations.len().min(cap));
    if rest.is_empty() {
        let (settled, later) = confirmed(host, cfg, observations, Vec::new(), now_ms, report).await;
        return apply(host, cfg, settled, later, true, now_ms, report).await;
    }
    observations.extend(rest);
    if let Some(next) = next_hop(hop) {
        let channel = settle_channel();
        // All of them, in parts that may exceed one execution: a worker at the last hop
        // spreads what it cannot take over several queue chunks.
        let size = observations.len().div_ceil(observations.len().div_ceil(cap).min(cfg.fan_out()));
        let mut unsent = Vec::new();
        for part in observations.chunks(size) {
            let item = WorkItem { kind: SETTLE_WORK.into(), hop: next, shard: 0, observations: part.to_vec(), chunks: Vec::new() };
            if let Err(e) = host.fire(&channel, &item).await {
                report.error(cat(&["fire to ", &channel, " failed, queued: ", &e.describe()]));
                unsent.extend(item.observations);
            }
        }
        if !unsent.is_empty() {
            enqueue(host, unsent, now_ms, report).await;
        }
        return;
    }
    let mut rest = observations.split_off(cap);
    // Two KV stay for what `apply` queues (with the last part); each other part takes two more.
    let kv = match cfg.budget {
        crate::host::OpBudget::Separate { kv, .. } => kv,
        crate::host::OpBudget::Combined(total) => total,
    };
    let parts = ((kv as usize).saturating_sub(reads + SETTLE_METRICS_KV) / 2).max(1);
    let size = rest.len().div_ceil(parts);
    while rest.len() > size {
        let part = rest.split_off(rest.len() - size);
        enqueue(host, part, now_ms, report).await;
    }
    let (settled, later) = confirmed(host, cfg, observations, rest, now_ms, report).await;
    apply(host, cfg, settled, later, true, now_ms, report).await;
}

/// The users' state now, from presence (`settle_from_presence`): one hereNow of their shards,
/// then one whereNow per user of a shard too big for one page, while the API budget holds it
/// (a whereNow and a possible App Context write per user). Users left undecided are queued
/// again, never announced from what the queue said. Returns (settled, to queue again).
async fn confirmed<H: PubNub>(
    host: &H,
    cfg: &Config,
    observations: Vec<Observation>,
    mut later: Vec<Observation>,
    now_ms: u64,
    report: &mut Report,
) -> (Vec<Observation>, Vec<Observation>) {
    let mut channels: Vec<String> = Vec::new();
    for obs in &observations {
        let channel = presence_shard(shard_of(&obs.user, cfg.shard_count));
        if !channels.contains(&channel) {
            channels.push(channel);
        }
    }
    let (mut settled, undecided) = match host.here_now(&channels, true, HERE_NOW_PAGE as u32, 0).await {
        Ok(read) => settle_from_presence(observations, &read, cfg.shard_count, now_ms),
        Err(e) => {
            report.warn(cat(&["hereNow failed; deferred changes read by whereNow or queued again: ", &e.describe()]));
            (Vec::new(), observations)
        }
    };
    let mut calls = 1;
    for obs in undecided {
        let Ok(id) = UserId::parse(&obs.user) else { continue };
        if calls as usize + settled.len() + 1 > cfg.users_per_execution() {
            later.push(obs);
            continue;
        }
        calls += 1;
        match host.where_now(&id).await {
            Ok(found) => {
                let present = found.contains(&presence_shard(shard_of(&obs.user, cfg.shard_count)));
                settled.push(as_present(obs, present, now_ms));
            }
            Err(e) => {
                report.warn(cat(&["whereNow failed, queued again: ", &e.describe()]));
                later.push(obs);
            }
        }
    }
    (settled, later)
}
