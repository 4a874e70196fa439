//! A presence event → observations: storms batched, departures checked against presence.

#[allow(unused_imports)]
use crate::prelude::*;

use super::dispatch::dispatch;
use crate::core::keys::{storm_key, JobQueue};
use crate::core::metrics::{event_counter, Counter};
use crate::core::presence::{
    parse_presence_event, plan_presence_read, resolve_check, Observation, PresenceCheck, PresenceInput, PresenceRead, HERE_NOW_PAGE,
};
use crate::core::reconcile::{storm_mode, ScanState, StormMode};
use crate::core::settle::{self};
use crate::core::Config;
use crate::domain::channels::presence_shard;
use crate::domain::{Json, UserId};
use crate::handlers::queues::push_job;
use crate::handlers::{cat, flush_metrics, num, Report};
use crate::host::{KvStore, PubNub};

pub async fn after_presence<H: PubNub + KvStore>(host: &H, cfg: &Config, channel: &str, event: &Json, now_ms: u64) -> Report {
    let mut report = Report::new("after-presence");
    decide_event(host, cfg, channel, event, now_ms, &mut report).await;
    finish(host, cfg, &mut report).await;
    report
}

/// The execution's metrics, written last. Not under the legacy 3-op budget, which the
/// presence paths already use up.
pub(super) async fn finish<H: KvStore>(host: &H, cfg: &Config, report: &mut Report) {
    if !cfg.legacy_budget() {
        flush_metrics(host, report).await;
    }
}

// Long on purpose: one arm per kind of presence event (individual, interval, state-change), each
// reading what its decision needs.
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
