//! friend-acceptance (After Publish on `friend-requests.*`: request, accept, decline) and
//! friend-removal (After Publish on `friend-management.*`).

use super::queues::push_job;
use super::{cat, num, Report};
use crate::core::friends::{self as fr, Binding, Command, CommandKind, PendingRequest, RequestDecision};
use crate::core::keys::{self, JobQueue};
use crate::core::settle::Recount;
use crate::core::{Config, Rejection};
use crate::domain::channels::{friends, friends_group, status};
use crate::domain::{Json, UserId};
use crate::host::{HostError, KvStore, PubNub, UserRecord};
#[allow(unused_imports)]
use crate::prelude::*;

pub async fn friend_requests<H: PubNub + KvStore>(
    host: &H,
    cfg: &Config,
    channel: &str,
    publisher: Option<&str>,
    message: &Json,
    now_ms: u64,
) -> Report {
    let mut report = Report::new("friend-acceptance");
    match fr::parse_command(Binding::FriendRequests, channel, publisher, message) {
        Err(reason) => report.reject(reason),
        Ok(cmd) => {
            let result = match cmd.kind {
                CommandKind::Request => request(host, &cmd, now_ms, &mut report).await,
                CommandKind::Accept => accept(host, cfg, &cmd, now_ms, &mut report).await,
                _ => decline(host, &cmd, &mut report).await,
            };
            if let Err(reason) = result {
                report.reject(reason);
            }
        }
    }
    report
}

pub async fn friend_management<H: PubNub + KvStore>(
    host: &H,
    cfg: &Config,
    channel: &str,
    publisher: Option<&str>,
    message: &Json,
    now_ms: u64,
) -> Report {
    let mut report = Report::new("friend-removal");
    match fr::parse_command(Binding::FriendManagement, channel, publisher, message) {
        Err(reason) => report.reject(reason),
        Ok(cmd) => {
            let result = match cmd.kind {
                CommandKind::Sync => sync(host, &cmd, fr::sync_pages(message), now_ms, &mut report).await,
                _ => remove(host, cfg, &cmd, now_ms, &mut report).await,
            };
            if let Err(reason) = result {
                report.reject(reason);
            }
        }
    }
    report
}

/// Host failures before any write are rejections too: nothing changed, the client may retry.
fn failed(what: &str, e: HostError) -> Rejection {
    Rejection(cat(&[what, " failed: ", &e.describe()]))
}

async fn both_users<H: PubNub>(host: &H, cmd: &Command) -> Result<(UserRecord, UserRecord), Rejection> {
    let users = host.get_users(&[cmd.user_a.clone(), cmd.user_b.clone()]).await.map_err(|e| failed("App Context read", e))?;
    let find = |id: &UserId| users.iter().find(|u| u.id == id.as_str()).cloned();
    match (find(&cmd.user_a), find(&cmd.user_b)) {
        (Some(a), Some(b)) => Ok((a, b)),
        (None, _) => Err(Rejection::with("unknown user", cmd.user_a.as_str())),
        (_, None) => Err(Rejection::with("unknown user", cmd.user_b.as_str())),
    }
}

/// A → B: ops 2 API, 2 KV, 1 publish.
async fn request<H: PubNub + KvStore>(host: &H, cmd: &Command, now_ms: u64, report: &mut Report) -> Result<(), Rejection> {
    let (a, _) = both_users(host, cmd).await?;
    let already = host.get_member(&friends(&cmd.user_a), &cmd.user_b).await.map_err(|e| failed("membership read", e))?.is_some();
    let key = keys::request_key(&cmd.user_a, &cmd.user_b);
    let existing: Option<PendingRequest> =
        if already { None } else { host.get(&key).await.map_err(|e| failed("pending request read", e))? };
    match fr::decide_request(cmd, &a, already, existing.as_ref(), now_ms) {
        RequestDecision::AlreadyFriends => report.info(cat(&[cmd.user_a.as_str(), " and ", cmd.user_b.as_str(), " are already friends"])),
        RequestDecision::Duplicate => report.info("duplicate friend.request ignored"),
        RequestDecision::Record { pending, notice } => {
            host.set(&key, &pending, keys::REQUEST_TTL_MINUTES).await.map_err(|e| failed("pending request write", e))?;
            if let Err(e) = host.publish(&notice.channel, &notice.message).await {
                report.error(cat(&["friend.request.received not delivered: ", &e.describe()]));
            }
            report.info(cat(&["friend request ", cmd.user_a.as_str(), " -> ", cmd.user_b.as_str()]));
        }
    }
    Ok(())
}

/// B declines A's request: 1–2 KV.
async fn decline<H: KvStore>(host: &H, cmd: &Command, report: &mut Report) -> Result<(), Rejection> {
    let key = keys::request_key(&cmd.user_a, &cmd.user_b);
    let pending: Option<PendingRequest> = host.get(&key).await.map_err(|e| failed("pending request read", e))?;
    fr::decide_decline(pending.as_ref())?;
    host.remove(&key).await.map_err(|e| failed("pending request removal", e))?;
    report.info(cat(&["friend request ", cmd.user_a.as_str(), " -> ", cmd.user_b.as_str(), " declined"]));
    Ok(())
}

/// B accepts A's request, as `fr::plan_accept` lays it out. Every step is idempotent and the
/// counters move only for the claimant, so a duplicate or a retry after a failure completes
/// the friendship without counting twice. The pending request is removed last: until then a
/// retry can finish. Ops: ≤ 9 API (7 + two group-full fallbacks), ≤ 9 KV (5 + 2 per queued
/// recount), 2 publishes.
async fn accept<H: PubNub + KvStore>(host: &H, _cfg: &Config, cmd: &Command, now_ms: u64, report: &mut Report) -> Result<(), Rejection> {
    let (a_id, b_id) = (&cmd.user_a, &cmd.user_b);
    let key = keys::request_key(a_id, b_id);
    let pending: PendingRequest = host
        .get(&key)
        .await
        .map_err(|e| failed("pending request read", e))?
        .ok_or_else(|| Rejection::new("no pending friend request from userA to userB"))?;
    let (a, b) = both_users(host, cmd).await?;
    fr::check_friend_limit(&a, &b)?;
    let claim_key = keys::claim_key("accept", a_id, b_id, &pending.id);
    let owner = host.incr_counter(&claim_key, 1).await.map_err(|e| failed("claim", e))? == 1;
    let moved = counts(host, a_id, b_id, if owner { 1 } else { 0 }, report).await;
    let plan = fr::plan_accept(cmd, &pending, &a, &b, moved, now_ms);

    // Both groups first, then both memberships: a failure leaves nothing that a retry cannot
    // finish, and full groups are undone before anything else is written.
    let mut groups = [0usize; 2];
    let mut fallbacks = 0u32;
    for (i, side) in plan.sides.iter().enumerate() {
        let mut group = side.group;
        loop {
            match host.add_channels(&friends_group(&side.user, group), &[status(&side.friend)]).await {
                Ok(()) => break,
                // Full group (removals leave holes elsewhere): try the next one.
                Err(HostError::Rejected { status: 400, .. }) => match fr::fallback_group(group, fallbacks) {
                    Some(next) => {
                        fallbacks += 1;
                        group = next;
                    }
                    None => {
                        if i == 1 {
                            let _ = host.remove_channels(&friends_group(a_id, groups[0]), &[status(b_id)]).await;
                        }
                        if owner {
                            // Give the claim and the counts back: a later retry counts afresh.
                            let _ = host.incr_counter(&claim_key, -1).await;
                            counts(host, a_id, b_id, -1, report).await;
                        }
                        return Err(Rejection::with(
                            "no room in the friends groups tried (full); nothing changed, for",
                            side.user.as_str(),
                        ));
                    }
                },
                Err(e) => {
                    report
                        .error(cat(&["channel group update failed; the pending request is kept so a retry completes it: ", &e.describe()]));
                    return Ok(());
                }
            }
        }
        groups[i] = group;
    }
    for (side, group) in plan.sides.iter().zip(groups) {
        if let Err(e) = host.set_members(&friends(&side.user), &[(side.friend.clone(), plan.membership(group))]).await {
            report.error(cat(&["membership write failed; the pending request is kept so a retry completes it: ", &e.describe()]));
            return Ok(());
        }
    }
    for (user, side) in [&a, &b].into_iter().zip(&plan.sides) {
        write_friend_count(host, user, side.count, report).await;
    }
    for side in &plan.sides {
        if let Err(e) = host.publish(&side.notice.channel, &side.notice.message).await {
            report.error(cat(&["friend.added not delivered: ", &e.describe()]));
        }
    }
    if let Err(e) = host.remove(&key).await {
        report.warn(cat(&["pending request not removed (it expires): ", &e.describe()]));
    }
    report.info(cat(&["friends: ", a_id.as_str(), " <-> ", b_id.as_str(), if owner { "" } else { " (completed by a duplicate)" }]));
    Ok(())
}

/// Moves both friend counters by `delta` (0 = just read them). Returns the values.
async fn counts<H: KvStore>(host: &H, a: &UserId, b: &UserId, delta: i64, report: &mut Report) -> (i64, i64) {
    let mut out = [0i64; 2];
    for (i, user) in [a, b].into_iter().enumerate() {
        let key = keys::count_key(user);
        let r = if delta == 0 { host.get_counter(&key).await } else { host.incr_counter(&key, delta).await };
        out[i] = r.unwrap_or_else(|e| {
            report.error(cat(&["friend counter for ", user.as_str(), " failed: ", &e.describe()]));
            0
        });
    }
    (out[0].max(0), out[1].max(0))
}

/// App Context `friendCount` mirrors the atomic counter. `custom` is replaced as a whole, so
/// this is an ETag-conditional write; if another writer got there first, the user goes to the
/// recount queue and a reconcile worker copies the counter's value then (convergent, never a
/// stale overwrite).
async fn write_friend_count<H: PubNub + KvStore>(host: &H, user: &UserRecord, count: i64, report: &mut Report) {
    let Ok(id) = UserId::parse(&user.id) else { return };
    if let Err(e) = host.set_user_custom(&id, &fr::friend_count_custom(user, count), user.etag.as_deref()).await {
        report.info(cat(&["friendCount of ", &user.id, " queued for a recount: ", &e.describe()]));
        if let Err(e) = push_job(host, JobQueue::Recounts, &Recount { users: vec![user.id.clone()] }).await {
            report.error(cat(&["friendCount recount not queued: ", &e.describe()]));
        }
    }
}

/// Up to `pages` pages (≤ 100 friends each) of A's friends, online ones first, published on
/// A's private inbox, each with the cursor after it: the initial load. Every page but the last
/// says `more`, so the client asks for the next batch only after the last one. Reads only, so
/// a failure changes nothing. Ops: ≤ 9 API, 1 KV, ≤ 9 publishes.
async fn sync<H: PubNub + KvStore>(host: &H, cmd: &Command, pages: u64, now_ms: u64, report: &mut Report) -> Result<(), Rejection> {
    let me = &cmd.user_a;
    let total_friends = host.get_counter(&keys::count_key(me)).await.map_err(|e| failed("friend count read", e))?.max(0) as u64;
    let mut part = cmd.clone();
    let mut sent = 0u64;
    for i in 0..pages {
        let (filter, token) = fr::sync_read(&part);
        let page = host.get_members(&friends(me), filter, 100, token).await.map_err(|e| failed("friends list read", e))?;
        let mut reply = fr::sync_reply(&part, page, total_friends, now_ms);
        let next = reply.message.payload.next.as_deref().map(fr::SyncCursor::parse).transpose()?;
        reply.message.payload.more = next.is_some() && i + 1 < pages;
        if i > 0 {
            // Pages of one answer go out in the same millisecond: each needs an id of its own.
            reply.message.event_id.push('.');
            reply.message.event_id.push_str(&num(i));
        }
        host.publish(&reply.channel, &reply.message).await.map_err(|e| failed("friends.sync publish", e))?;
        sent += reply.message.payload.friends.len() as u64;
        if !reply.message.payload.more {
            break;
        }
        part.page = next;
    }
    report.info(cat(&["friends.sync to ", me.as_str(), ": ", &num(sent), " friends"]));
    Ok(())
}

/// A removes B (either friend may), as `fr::plan_removal` lays it out. Ops: ≤ 9 API, ≤ 7 KV
/// (3 + 2 per queued refresh), 2 publishes.
async fn remove<H: PubNub + KvStore>(host: &H, _cfg: &Config, cmd: &Command, now_ms: u64, report: &mut Report) -> Result<(), Rejection> {
    let (a_id, b_id) = (&cmd.user_a, &cmd.user_b);
    let m_a = host.get_member(&friends(a_id), b_id).await.map_err(|e| failed("membership read", e))?;
    let m_b = host.get_member(&friends(b_id), a_id).await.map_err(|e| failed("membership read", e))?;
    let (m_a, m_b) = (m_a.as_ref().map(|m| &m.custom), m_b.as_ref().map(|m| &m.custom));
    // The friendship instance (its request id) makes the decrement a once-only claim.
    let instance = fr::removal_instance(m_a, m_b)?;
    let claim = host.incr_counter(&keys::claim_key("remove", a_id, b_id, &instance), 1).await.map_err(|e| failed("claim", e))?;
    let owner = claim == 1;
    let (count_a, count_b) = counts(host, a_id, b_id, if owner { -1 } else { 0 }, report).await;
    let sides = fr::plan_removal(cmd, m_a, m_b, now_ms);
    for side in &sides {
        if let Err(e) = host.remove_channels(&friends_group(&side.user, side.group), &[status(&side.friend)]).await {
            report.error(cat(&["channel group removal failed; a retry completes it: ", &e.describe()]));
            return Ok(());
        }
        if let Err(e) = host.remove_members(&friends(&side.user), core::slice::from_ref(&side.friend)).await {
            report.error(cat(&["membership removal failed; a retry completes it: ", &e.describe()]));
            return Ok(());
        }
    }
    if let Ok(users) = host.get_users(&[a_id.clone(), b_id.clone()]).await {
        for (id, count) in [(a_id, count_a), (b_id, count_b)] {
            if let Some(user) = users.iter().find(|u| u.id == id.as_str()) {
                write_friend_count(host, user, count, report).await;
            }
        }
    }
    for side in &sides {
        if let Err(e) = host.publish(&side.notice.channel, &side.notice.message).await {
            report.error(cat(&["friend.removed not delivered: ", &e.describe()]));
        }
    }
    report.info(cat(&["unfriended: ", a_id.as_str(), " x ", b_id.as_str()]));
    Ok(())
}
