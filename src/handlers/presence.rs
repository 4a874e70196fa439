//! After Presence (`presence.*`), the presence worker (`presence-work.*`, fed by `fire`) and
//! the presence settler (On Interval). Where a presence event becomes a publish:
//! `after_presence` → `dispatch` → `apply` → `PubNub::publish(status.{userId})`.

#[allow(unused_imports)]
use crate::prelude::*;

use super::queues::{enqueue_at, fire_work, push_job};
use super::{cat, flush_metrics, num, Report};
use crate::core::heal::HEAL_WORK;
use crate::core::keys::{self, storm_key, JobQueue};
use crate::core::metrics::{event_counter, latency_counter, Counter, SETTLE_METRICS_KV};
use crate::core::presence::{
    as_present, decide_settled, decide_status, latest_per_user, parse_presence_event, plan_presence_read, resolve_check,
    settle_from_presence, Observation, PresenceCheck, PresenceInput, PresenceRead, StatusDecision, HERE_NOW_PAGE, VERSION,
};
use crate::core::reconcile::{storm_mode, ScanState, StormMode};
use crate::core::settle::{self, Cursor, SettleChunk, SettleFire, SettlePlan};
use crate::core::work::*;
use crate::core::Config;
use crate::domain::channels::{presence_shard, status};
use crate::domain::{shard_of, Json, UserId};
use crate::host::{HostError, KvStore, PubNub};

pub async fn after_presence<H: PubNub + KvStore>(host: &H, cfg: &Config, channel: &str, event: &Json, now_ms: u64) -> Report {
    let mut report = Report::new("after-presence");
    decide_event(host, cfg, channel, event, now_ms, &mut report).await;
    finish(host, cfg, &mut report).await;
    report
}

/// The execution's metrics, written last. Not under the legacy 3-op budget, which the
/// presence paths already use up.
async fn finish<H: KvStore>(host: &H, cfg: &Config, report: &mut Report) {
    if !cfg.legacy_budget() {
        flush_metrics(host, report).await;
    }
}

async fn decide_event<H: PubNub + KvStore>(host: &H, cfg: &Config, channel: &str, event: &Json, now_ms: u64, report: &mut Report) {
    match parse_presence_event(channel, event, now_ms) {
        Err(reason) => report.reject(reason),
        Ok(PresenceInput::Ignored(why)) => report.info(cat(&["ignored: ", why])),
        // PubNub dropped the deltas: nobody knows who left, so the shard is reconciled.
        // The settler hands it to a reconcile worker on its next run (≤ 10 s).
        Ok(PresenceInput::Refresh { shard }) => {
            report.metrics.add(Counter::Interval, 1);
            match push_job(host, JobQueue::Scans, &ScanState::shard(shard)).await {
                Ok(()) => report.info("here_now_refresh: shard reconciliation queued"),
                Err(e) => report.error(cat(&["here_now_refresh: reconciliation not queued: ", &e.describe()])),
            }
        }
        Ok(PresenceInput::Single { shard, observation }) => {
            report.metrics.add(event_counter(event), 1);
            // Under the legacy 3-op budget the counter would cost a third of the execution,
            // and a presence check another third: there, events are taken as they come.
            let current = !cfg.legacy_budget();
            if current && storm_batched(host, shard, now_ms, report).await {
                return;
            }
            if observation.online || !current {
                return dispatch(host, cfg, shard, vec![observation], 0, now_ms, report).await;
            }
            // A leave or timeout is one device's: the user is offline only if no other is left.
            let check = PresenceCheck { users: vec![observation.user.clone()], occupancy: 0, at_ms: observation.at_ms };
            let (resolved, calls) = checked(host, shard, check, report).await;
            let observations = resolved.unwrap_or_else(|| {
                report.warn("presence unreadable: the leave is taken as it came");
                vec![observation]
            });
            let cfg = cfg.after_api_calls(calls);
            dispatch(host, &cfg, shard, observations, 0, now_ms, report).await;
        }
        Ok(PresenceInput::Observations { shard, mut observations, checks, skipped }) => {
            report.metrics.add(Counter::Interval, 1);
            for bad in &skipped {
                report.warn(cat(&["skipped an invalid uuid in the interval deltas: ", bad]));
            }
            if observations.is_empty() && checks.users.is_empty() && skipped.is_empty() {
                // Deltas off (or nothing changed): say so, a silent interval hides a misconfiguration.
                report.info("ignored: interval event without join/leave/timeout deltas (enable presence deltas)");
            }
            let mut spent = 0;
            if !checks.users.is_empty() {
                let (resolved, calls) = checked(host, shard, checks, report).await;
                spent = calls;
                match resolved {
                    Some(resolved) => observations.extend(resolved),
                    // Who is gone cannot be told from the arrays: the shard's reconciliation
                    // reads everyone's state from presence (≤ 10 s, the settler's next run).
                    None => match push_job(host, JobQueue::Scans, &ScanState::shard(shard)).await {
                        Ok(()) => report.warn("departures not checked here: shard reconciliation queued"),
                        Err(e) => report.error(cat(&["departures unchecked and no reconciliation queued: ", &e.describe()])),
                    },
                }
            }
            let cfg = cfg.after_api_calls(spent);
            dispatch(host, &cfg, shard, observations, 0, now_ms, report).await;
        }
    }
}

/// At most this many PubNub API calls of an After Presence execution read presence: three
/// stay for one batched App Context read and the first writes (or the split goes on by fire).
const CHECK_CALLS: u32 = 7;

/// Reads presence for `check` as `plan_presence_read` says and returns the users'
/// observations with the API calls spent, or `None` when presence could not answer for all.
async fn checked<H: PubNub>(host: &H, shard: u32, check: PresenceCheck, report: &mut Report) -> (Option<Vec<Observation>>, u32) {
    let channel = presence_shard(shard);
    let mut present: Vec<String> = Vec::new();
    let mut calls = 0;
    match plan_presence_read(&check, CHECK_CALLS) {
        PresenceRead::Nothing => {}
        PresenceRead::Reconcile => return (None, 0),
        PresenceRead::WhereNow => {
            for user in &check.users {
                let Ok(id) = UserId::parse(user) else { continue };
                calls += 1;
                match host.where_now(&id).await {
                    Ok(channels) if channels.contains(&channel) => present.push(user.clone()),
                    Ok(_) => {}
                    Err(e) => {
                        report.warn(cat(&["whereNow failed: ", &e.describe()]));
                        return (None, calls);
                    }
                }
            }
        }
        PresenceRead::HereNowPages(pages) => {
            for page in 0..pages {
                let offset = page * HERE_NOW_PAGE as u32;
                calls += 1;
                match host.here_now(core::slice::from_ref(&channel), true, HERE_NOW_PAGE as u32, offset).await {
                    Ok(h) => {
                        let total = h.total_occupancy;
                        present.extend(h.channels.into_iter().flat_map(|c| c.uuids));
                        if total <= offset as u64 + HERE_NOW_PAGE {
                            break;
                        }
                        if page + 1 == pages {
                            // More occupants than the pages planned: the last ones are unread.
                            return (None, calls);
                        }
                    }
                    Err(e) => {
                        report.warn(cat(&["hereNow failed: ", &e.describe()]));
                        return (None, calls);
                    }
                }
            }
        }
    }
    let n = check.users.len();
    let resolved = resolve_check(check, &present);
    let staying = resolved.iter().filter(|o| o.online).count();
    if staying > 0 {
        report.info(cat(&["presence says ", &num(staying as u64), " of ", &num(n as u64), " users named as gone are still here"]));
    }
    (Some(resolved), calls)
}

/// Storms: a shard's individual events are counted per settle slot (1 KV). Past the threshold
/// they are not decided one by one; the first one over schedules a reconciliation of the
/// shard for the end of the slot, which reads everyone's final state from presence at once.
/// Returns whether this event was batched.
async fn storm_batched<H: KvStore>(host: &H, shard: u32, now_ms: u64, report: &mut Report) -> bool {
    let slot = now_ms / settle::SLOT_MS; // the storm window this event falls in
    let n = match host.incr_counter(&storm_key(shard, slot), 1).await {
        Ok(n) => n,
        Err(e) => {
            report.warn(cat(&["storm counter unavailable, deciding this event alone: ", &e.describe()]));
            return false;
        }
    };
    match storm_mode(n) {
        StormMode::Single => false,
        StormMode::Batched => {
            report.metrics.add(Counter::StormBatched, 1);
            report.info("storm: batched into the shard's reconciliation");
            true
        }
        StormMode::Begin => {
            // One scan when the slot ends, and a repair scan once every status deferred before
            // it has been settled: a deferred change of a user whose later events were batched
            // could otherwise overwrite what the first scan found consistent.
            let end = (slot + 1) * settle::SLOT_MS;
            let scan = ScanState { due_ms: Some(end), ..ScanState::shard(shard) };
            let repair = ScanState { due_ms: Some(end + crate::core::presence::SETTLE_HORIZON_MS), ..ScanState::shard(shard) };
            match push_job(host, JobQueue::Scans, &scan).await.and(push_job(host, JobQueue::Scans, &repair).await) {
                Ok(()) => {
                    report.metrics.add(Counter::Storms, 1);
                    report.metrics.add(Counter::StormBatched, 1);
                    report.warn(cat(&["storm on shard ", &num(shard as u64), ": batching until the slot ends"]));
                    true
                }
                // No reconciliation scheduled: nothing may be batched into it.
                Err(e) => {
                    report.error(cat(&["storm reconciliation not queued, deciding alone: ", &e.describe()]));
                    false
                }
            }
        }
    }
}

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
async fn apply<H: PubNub + KvStore>(
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

async fn enqueue<H: KvStore>(host: &H, entries: Vec<Observation>, now_ms: u64, report: &mut Report) {
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

/// On Interval: the trailing edge of the debounce, the clock of the job queues, and the heal
/// sweep (`core::heal`). Reads the cursor and the counters `SettlePlan` asks for and fires what
/// it hands out; it reads no queue value itself. Ops: ≤ 10 KV (cursor, 2 job counters, ≤ 6
/// slots, the journal counter and an epoch's acknowledgement counter when the slots leave
/// room, cursor), ≤ 10 fires.
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
async fn settle_chunks<H: PubNub + KvStore>(host: &H, cfg: &Config, chunks: &[(u64, i64)], hop: u8, now_ms: u64, report: &mut Report) {
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
async fn settle<H: PubNub + KvStore>(
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
