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
use super::{cat, flush_metrics, num, Report};
use crate::core::friends::{friend_count_custom, refill_from, refill_probes, regrouped};
use crate::core::keys::JobQueue;
use crate::core::metrics::recount_metrics;
use crate::core::settle::Recount;
use crate::core::work::{parse_recount_item, RecountWork};
use crate::domain::channels::{friends, friends_group, status};
use crate::domain::{Json, UserId};
use crate::host::{HostError, KvStore, MemberFilter, PubNub};

/// Users one worker recounts: each costs 2 API (count, write), after 1 batched read.
const RECOUNT_USERS: usize = 3;

pub async fn recount_worker<H: PubNub + KvStore>(host: &H, message: &Json) -> Report {
    let mut report = Report::new("recount-worker");
    match parse_recount_item(message) {
        Err(reason) => report.reject(reason),
        Ok(RecountWork::Users(users)) => recount(host, users.iter().filter_map(|u| UserId::parse(u).ok()).collect(), &mut report).await,
        Ok(RecountWork::Refill { user, hole }) => match UserId::parse(&user) {
            Ok(user) => refill(host, &user, hole, &mut report).await,
            Err(e) => report.reject(crate::core::Rejection::with(e.reason(), &user)),
        },
        Ok(RecountWork::Journals(jobs, epoch)) => super::heal::scan(host, &jobs, epoch, &mut report).await,
        Ok(RecountWork::Jobs(jobs)) => {
            let ids = read_jobs(host, &jobs, &mut report).await;
            recount(host, ids, &mut report).await
        }
    }
    flush_metrics(host, &mut report).await;
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
/// (1 batched read + 2 per user), 2 KV to re-queue, and ≤ 4 KV of metrics (channels added
/// and removed, groups in use and over 1,900). What does not fit, fails, or loses an ETag
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
                    Ok(count) => {
                        // The write was ETag-conditional: the count it replaced is the one this
                        // change started from, so each change of a user's friends counts once.
                        let before = record.custom.u64("friendCount").unwrap_or(0);
                        recount_metrics(&mut report.metrics, before, count);
                        report.info(cat(&["friendCount of ", id.as_str(), " is ", &num(count)]))
                    }
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

/// A removal left a hole in `user`'s group `hole`: one friend of the last group in use moves
/// into it (`refill_from`), so that n friends keep to ⌈n/2,000⌉ groups. The new group entry
/// first (the friend is never out of every group), then both memberships (`group` on the
/// user's side, `peerGroup` on the friend's), then the old entry goes. A
/// failure midway is logged and not retried: the friend stays delivered, but may sit in both
/// groups until a later refill or removal edits them. Ops: ≤ 10 API (count, ≤ 4 group
/// reads, 5 to move).
async fn refill<H: PubNub>(host: &H, user: &UserId, hole: u64, report: &mut Report) {
    let failed = |what: &str, e: HostError| cat(&["refill of ", user.as_str(), ": ", what, " failed: ", &e.describe()]);
    let total = match host.get_members(&friends(user), MemberFilter::All, 1, None).await {
        Ok(page) => page.total.unwrap_or(0),
        Err(e) => return report.error(failed("count", e)),
    };
    let Some(last) = refill_from(hole, total) else { return };
    // Holes not refilled yet (refills that failed, or removals whose refills have not run)
    // push friends past the group the count points at: the groups above it are looked at
    // first, from the top, so the friend that moves comes from the last group in use.
    let mut moving = None;
    for from in refill_probes(hole, last) {
        match host.get_members(&friends(user), MemberFilter::InGroup(from), 1, None).await {
            Ok(page) => {
                if let Some(member) = page.members.into_iter().next() {
                    moving = Some((from, member));
                    break;
                }
            }
            Err(e) => return report.error(failed("read of the last group", e)),
        }
    }
    let Some((from, member)) = moving else { return };
    let Ok(friend) = UserId::parse(&member.user.id) else { return };
    let steps = async {
        host.add_channels(&friends_group(user, hole as usize), &[status(&friend)]).await.map_err(|e| failed("group entry", e))?;
        host.set_members(&friends(user), &[(friend.clone(), regrouped(&member.custom, "group", hole))])
            .await
            .map_err(|e| failed("membership", e))?;
        if let Some(peer) = host.get_member(&friends(&friend), user).await.map_err(|e| failed("peer membership read", e))? {
            host.set_members(&friends(&friend), &[(user.clone(), regrouped(&peer.custom, "peerGroup", hole))])
                .await
                .map_err(|e| failed("peer membership", e))?;
        }
        host.remove_channels(&friends_group(user, from as usize), &[status(&friend)]).await.map_err(|e| failed("old group entry", e))
    };
    match steps.await {
        Ok(()) => report.info(cat(&["refilled group ", &num(hole), " of ", user.as_str(), " with ", friend.as_str()])),
        Err(line) => report.error(line),
    }
}
