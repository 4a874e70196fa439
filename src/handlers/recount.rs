//! The recount worker (After Publish on `recount-work.*`, fed by the presence settler):
//! copies users' atomic friend counters into App Context `friendCount` after an acceptance or
//! removal lost the ETag race for that write. A Function of its own: it shares no code path
//! with the others, and every bundle must stay under PubNub's 64 KB.

#[allow(unused_imports)]
use crate::prelude::*;

use super::queues::push_job;
use super::{cat, num, Report};
use crate::core::friends::friend_count_custom;
use crate::core::keys::{count_key, JobQueue};
use crate::core::settle::Recount;
use crate::core::work::parse_recount_item;
use crate::domain::{Json, UserId};
use crate::host::{KvStore, PubNub};

/// Users one worker recounts: each costs 1 KV (counter) and 1 API (write).
const RECOUNT_USERS: usize = 3;

pub async fn recount_worker<H: PubNub + KvStore>(host: &H, message: &Json) -> Report {
    let mut report = Report::new("recount-worker");
    match parse_recount_item(message) {
        Err(reason) => report.reject(reason),
        Ok(jobs) => recount(host, &jobs, &mut report).await,
    }
    report
}

/// Copies each user's atomic friend counter into App Context `friendCount`. Ops: ≤ 4 KV job
/// reads + 3 counters + 2 to re-queue, ≤ 4 API. What does not fit, or loses an ETag race
/// again, goes back to the queue: a recount is never dropped.
async fn recount<H: PubNub + KvStore>(host: &H, jobs: &[i64], report: &mut Report) {
    let mut ids: Vec<UserId> = Vec::new();
    for &job in jobs {
        match host.get::<Recount>(&JobQueue::Recounts.job_key(job)).await {
            Ok(Some(r)) => {
                for id in r.users.iter().filter_map(|u| UserId::parse(u).ok()) {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
            Ok(None) => report.warn(cat(&["recount job #", &num(job as u64), " is gone (expired)"])),
            Err(e) => report.error(cat(&["cannot read recount job #", &num(job as u64), ": ", &e.describe()])),
        }
    }
    let mut later: Vec<String> = ids.split_off(ids.len().min(RECOUNT_USERS)).into_iter().map(UserId::into_string).collect();
    match host.get_users(&ids).await {
        Err(e) => {
            report.error(cat(&["App Context read failed, recount queued: ", &e.describe()]));
            later.extend(ids.into_iter().map(UserId::into_string));
        }
        Ok(records) => {
            for id in &ids {
                // A user deleted meanwhile has nothing to recount.
                let Some(record) = records.iter().find(|r| r.id == id.as_str()) else { continue };
                let result = match host.get_counter(&count_key(id)).await {
                    Ok(count) => host.set_user_custom(id, &friend_count_custom(record, count), record.etag.as_deref()).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => report.info(cat(&["friendCount of ", id.as_str(), " refreshed"])),
                    Err(e) => {
                        report.warn(cat(&["friendCount of ", id.as_str(), " not refreshed, queued again: ", &e.describe()]));
                        later.push(id.as_str().to_owned());
                    }
                }
            }
        }
    }
    if !later.is_empty() {
        if let Err(e) = push_job(host, JobQueue::Recounts, &Recount { users: later }).await {
            report.error(cat(&["recount could not be queued again: ", &e.describe()]));
        }
    }
}
