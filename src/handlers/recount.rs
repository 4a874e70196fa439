//! The recount worker (After Publish on `recount-work.*`): sets users' App Context
//! `friendCount` to what their memberships prove, the number of members of `friends.{id}`.
//! Fed by the friend commands (the two users of each friendship made or removed, fired) and by
//! the settler (queued recounts: a write that lost an ETag race, or did not fit). It counts
//! afresh every time, so whatever a crash or a failed call left behind, the next recount of
//! the user is exact. A Function of its own: it shares no code path with the others, and every
//! bundle must stay under PubNub's 64 KB.

#[allow(unused_imports)]
use crate::prelude::*;

use super::queues::push_job;
use super::{cat, num, Report};
use crate::core::friends::friend_count_custom;
use crate::core::keys::JobQueue;
use crate::core::settle::Recount;
use crate::core::work::{parse_recount_item, RecountWork};
use crate::domain::channels::friends;
use crate::domain::{Json, UserId};
use crate::host::{HostError, KvStore, MemberFilter, PubNub};

/// Users one worker recounts: each costs 2 API (count, write), after 1 batched read.
const RECOUNT_USERS: usize = 3;

pub async fn recount_worker<H: PubNub + KvStore>(host: &H, message: &Json) -> Report {
    let mut report = Report::new("recount-worker");
    match parse_recount_item(message) {
        Err(reason) => report.reject(reason),
        Ok(RecountWork::Users(users)) => recount(host, users.iter().filter_map(|u| UserId::parse(u).ok()).collect(), &mut report).await,
        Ok(RecountWork::Jobs(jobs)) => {
            let ids = read_jobs(host, &jobs, &mut report).await;
            recount(host, ids, &mut report).await
        }
    }
    report
}

/// The users of queued jobs, each once. Ops: ≤ 4 KV.
async fn read_jobs<H: KvStore>(host: &H, jobs: &[i64], report: &mut Report) -> Vec<UserId> {
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
    ids
}

/// Counts each user's memberships (`totalCount` of `friends.{id}`) and writes it into App
/// Context `friendCount`, ETag-conditional (`custom` is replaced as a whole). Ops: ≤ 7 API
/// (1 batched read + 2 per user), 2 KV to re-queue. What does not fit, fails, or loses an ETag
/// race goes back to the queue: a recount is never dropped while the queue can be written.
async fn recount<H: PubNub + KvStore>(host: &H, mut ids: Vec<UserId>, report: &mut Report) {
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
                let result = match host.get_members(&friends(id), MemberFilter::All, 1, None).await {
                    Ok(page) => match page.total {
                        Some(count) => host
                            .set_user_custom(id, &friend_count_custom(record, count as i64), record.etag.as_deref())
                            .await
                            .map(|()| count),
                        None => Err(HostError::BadResponse("getChannelMembers (no totalCount)")),
                    },
                    Err(e) => Err(e),
                };
                match result {
                    Ok(count) => report.info(cat(&["friendCount of ", id.as_str(), " is ", &num(count)])),
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
