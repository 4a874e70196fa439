//! friend-acceptance (After Publish on `friend-requests.*`: request, accept, decline) and
//! friend-removal (After Publish on `friend-management.*`).

use super::{cat, num, Report};
use crate::core::friends::{self as fr, Binding, Command, CommandKind, PendingRequest};
use crate::core::keys::{self, JobQueue};
use crate::core::settle::Recount;
use crate::core::{Config, Rejection};
use crate::domain::channels::{friends, friends_group, inbox, status, MAX_FRIENDS};
use crate::domain::messages::{self, Envelope, FriendAdded, FriendRemoved, FriendRequestReceived, FriendsSync, SyncedFriend, UserIdWire};
use crate::domain::time::iso8601;
use crate::domain::{Json, JsonObject, UserId};
use crate::handlers::queues::push_job;
use crate::host::{HostError, KvStore, MemberFilter, PubNub, UserRecord};
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
                CommandKind::Sync => sync(host, &cmd, now_ms, &mut report).await,
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
    if host.get_member(&friends(&cmd.user_a), &cmd.user_b).await.map_err(|e| failed("membership read", e))?.is_some() {
        report.info(cat(&[cmd.user_a.as_str(), " and ", cmd.user_b.as_str(), " are already friends"]));
        return Ok(());
    }
    let key = keys::request_key(&cmd.user_a, &cmd.user_b);
    let existing: Option<PendingRequest> = host.get(&key).await.map_err(|e| failed("pending request read", e))?;
    let pending = match existing {
        // A duplicate of the same command: already recorded and announced.
        Some(p) if p.id == cmd.event_id => {
            report.info("duplicate friend.request ignored");
            return Ok(());
        }
        _ => PendingRequest { id: cmd.event_id.clone(), at: now_ms },
    };
    host.set(&key, &pending, keys::REQUEST_TTL_MINUTES).await.map_err(|e| failed("pending request write", e))?;
    let note = Envelope::new(
        messages::FRIEND_REQUEST_RECEIVED,
        messages::event_id("request", Some(cmd.user_a.as_str()), now_ms),
        iso8601(now_ms),
        FriendRequestReceived {
            user_id: (&cmd.user_a).into(),
            name: a.name.clone(),
            profile_url: a.profile_url.clone(),
            requested_at: iso8601(pending.at),
        },
    );
    if let Err(e) = host.publish(&inbox(&cmd.user_b), &note).await {
        report.error(cat(&["friend.request.received not delivered: ", &e.describe()]));
    }
    report.info(cat(&["friend request ", cmd.user_a.as_str(), " -> ", cmd.user_b.as_str()]));
    Ok(())
}

/// B declines A's request: 1–2 KV.
async fn decline<H: KvStore>(host: &H, cmd: &Command, report: &mut Report) -> Result<(), Rejection> {
    let key = keys::request_key(&cmd.user_a, &cmd.user_b);
    let pending: Option<PendingRequest> = host.get(&key).await.map_err(|e| failed("pending request read", e))?;
    if pending.is_none() {
        return Err(Rejection::new("no pending friend request to decline"));
    }
    host.remove(&key).await.map_err(|e| failed("pending request removal", e))?;
    report.info(cat(&["friend request ", cmd.user_a.as_str(), " -> ", cmd.user_b.as_str(), " declined"]));
    Ok(())
}

/// B accepts A's request. Every step is idempotent and the counters move only for the
/// claimant, so a duplicate or a retry after a failure completes the friendship without
/// counting twice. The pending request is removed last: until then a retry can finish.
/// Ops: ≤ 9 API (7 + two group-full fallbacks), ≤ 9 KV (5 + 2 per queued recount), 2 publishes.
async fn accept<H: PubNub + KvStore>(host: &H, _cfg: &Config, cmd: &Command, now_ms: u64, report: &mut Report) -> Result<(), Rejection> {
    let (a_id, b_id) = (&cmd.user_a, &cmd.user_b);
    let key = keys::request_key(a_id, b_id);
    let pending: PendingRequest = host
        .get(&key)
        .await
        .map_err(|e| failed("pending request read", e))?
        .ok_or_else(|| Rejection::new("no pending friend request from userA to userB"))?;
    let (a, b) = both_users(host, cmd).await?;
    for user in [&a, &b] {
        if user.custom.u64("friendCount").unwrap_or(0) >= MAX_FRIENDS as u64 {
            return Err(Rejection::with("friend limit (20,000) reached for", &user.id));
        }
    }
    let claim = host.incr_counter(&keys::claim_key("accept", a_id, b_id, &pending.id), 1).await.map_err(|e| failed("claim", e))?;
    let owner = claim == 1;
    let (count_a, count_b) = counts(host, a_id, b_id, if owner { 1 } else { 0 }, report).await;

    let added_at = iso8601(now_ms);
    // Both groups first, then both memberships: a failure leaves nothing that a retry cannot
    // finish, and two full groups are undone before anything else is written.
    let mut groups = [0usize; 2];
    let mut spare_api = 2u32;
    for (i, (me, other, count)) in [(a_id, b_id, count_a), (b_id, a_id, count_b)].into_iter().enumerate() {
        let mut group = fr::group_for_count(count);
        loop {
            match host.add_channels(&friends_group(me, group), &[status(other)]).await {
                Ok(()) => break,
                // Full group (removals leave holes elsewhere): try the next one.
                Err(HostError::Rejected { status: 400, .. }) if spare_api > 0 && group + 1 < crate::domain::channels::GROUPS_PER_USER => {
                    spare_api -= 1;
                    group += 1;
                }
                Err(HostError::Rejected { status: 400, .. }) => {
                    if i == 1 {
                        let _ = host.remove_channels(&friends_group(a_id, groups[0]), &[status(b_id)]).await;
                    }
                    if owner {
                        // Give the claim and the counts back: a later retry counts afresh.
                        let _ = host.incr_counter(&keys::claim_key("accept", a_id, b_id, &pending.id), -1).await;
                        counts(host, a_id, b_id, -1, report).await;
                    }
                    return Err(Rejection::with("no room in the friends groups tried (full); nothing changed, for", me.as_str()));
                }
                Err(e) => {
                    report
                        .error(cat(&["channel group update failed; the pending request is kept so a retry completes it: ", &e.describe()]));
                    return Ok(());
                }
            }
        }
        groups[i] = group;
    }
    for (i, (me, other)) in [(a_id, b_id), (b_id, a_id)].into_iter().enumerate() {
        let mut custom = JsonObject::default();
        custom.set("status", Json::str("accepted"));
        custom.set("addedAt", Json::Str(added_at.clone()));
        custom.set("group", Json::num(groups[i] as u64));
        custom.set("requestId", Json::Str(pending.id.clone()));
        if let Err(e) = host.set_members(&friends(me), &[(other.clone(), custom)]).await {
            report.error(cat(&["membership write failed; the pending request is kept so a retry completes it: ", &e.describe()]));
            return Ok(());
        }
    }
    for (user, count) in [(&a, count_a), (&b, count_b)] {
        write_friend_count(host, user, count, report).await;
    }
    for (to, other) in [(a_id, &b), (b_id, &a)] {
        let note = Envelope::new(
            messages::FRIEND_ADDED,
            messages::event_id("added", Some(&other.id), now_ms),
            added_at.clone(),
            FriendAdded {
                user_id: UserIdWire(other.id.clone()),
                name: other.name.clone(),
                profile_url: other.profile_url.clone(),
                online: other.custom.bool("online").unwrap_or(false),
                added_at: added_at.clone(),
            },
        );
        if let Err(e) = host.publish(&inbox(to), &note).await {
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

/// One page (≤ 100) of A's friends, online ones first, published on A's private inbox:
/// the initial load. Reads only, so a failure changes nothing. Ops: 1 API, 1 KV, 1 publish.
async fn sync<H: PubNub + KvStore>(host: &H, cmd: &Command, now_ms: u64, report: &mut Report) -> Result<(), Rejection> {
    let me = &cmd.user_a;
    let cursor = cmd.page.clone().unwrap_or(fr::SyncCursor::FIRST);
    let filter = if cursor.online { MemberFilter::Online } else { MemberFilter::NotOnline };
    let page = host.get_members(&friends(me), filter, 100, cursor.token.as_deref()).await.map_err(|e| failed("friends list read", e))?;
    // The atomic counter is the exact friend count (App Context `friendCount` may lag).
    let total_friends = host.get_counter(&keys::count_key(me)).await.map_err(|e| failed("friend count read", e))?.max(0) as u64;
    let mut friends = Vec::with_capacity(page.members.len());
    let mut online_friends = Vec::new();
    for m in &page.members {
        let online = m.user.custom.bool("online") == Some(true);
        if online {
            online_friends.push(m.user.id.clone());
        }
        friends.push(SyncedFriend {
            user_id: UserIdWire(m.user.id.clone()),
            name: m.user.name.clone(),
            profile_url: m.user.profile_url.clone(),
            online,
            last_seen: m.user.custom.str("lastSeen").map(str::to_owned),
        });
    }
    // Online friends first: when they run out, the next page starts the others.
    let total_online = page.total.map(|t| if cursor.online { t } else { total_friends.saturating_sub(t) });
    let next = match (cursor.online, page.next) {
        (online, Some(token)) => Some(fr::SyncCursor { online, token: Some(token) }),
        (true, None) if total_online.map_or(true, |o| o < total_friends) => Some(fr::SyncCursor { online: false, token: None }),
        _ => None,
    };
    let count = num(friends.len() as u64);
    let message = Envelope::new(
        messages::FRIENDS_SYNC,
        // The request's id: pages asked for in the same millisecond stay distinct to clients
        // that drop a repeated eventId.
        messages::event_id("sync", Some(&cmd.event_id), now_ms),
        iso8601(now_ms),
        FriendsSync {
            user_id: me.into(),
            request_id: cmd.event_id.clone(),
            friends,
            online_friends,
            total_friends,
            total_online,
            next: next.as_ref().map(fr::SyncCursor::to_wire),
        },
    );
    host.publish(&inbox(me), &message).await.map_err(|e| failed("friends.sync publish", e))?;
    report.info(cat(&[
        "friends.sync to ",
        me.as_str(),
        ": ",
        &count,
        if next.is_some() { " friends, more to come" } else { " friends, last page" },
    ]));
    Ok(())
}

/// A removes B (either friend may). Ops: ≤ 9 API, ≤ 7 KV (3 + 2 per queued refresh), 2 publishes.
async fn remove<H: PubNub + KvStore>(host: &H, _cfg: &Config, cmd: &Command, now_ms: u64, report: &mut Report) -> Result<(), Rejection> {
    let (a_id, b_id) = (&cmd.user_a, &cmd.user_b);
    let m_a = host.get_member(&friends(a_id), b_id).await.map_err(|e| failed("membership read", e))?;
    let m_b = host.get_member(&friends(b_id), a_id).await.map_err(|e| failed("membership read", e))?;
    if m_a.is_none() && m_b.is_none() {
        return Err(Rejection::new("userA and userB are not friends"));
    }
    // The friendship instance (its request id) makes the decrement a once-only claim.
    let instance = m_a.as_ref().or(m_b.as_ref()).and_then(|m| m.custom.str("requestId")).unwrap_or("legacy").to_owned();
    let claim = host.incr_counter(&keys::claim_key("remove", a_id, b_id, &instance), 1).await.map_err(|e| failed("claim", e))?;
    let owner = claim == 1;
    let (count_a, count_b) = counts(host, a_id, b_id, if owner { -1 } else { 0 }, report).await;
    for (me, other, m) in [(a_id, b_id, &m_a), (b_id, a_id, &m_b)] {
        let group = m.as_ref().and_then(|m| m.custom.u64("group")).unwrap_or(0) as usize;
        if let Err(e) = host.remove_channels(&friends_group(me, group), &[status(other)]).await {
            report.error(cat(&["channel group removal failed; a retry completes it: ", &e.describe()]));
            return Ok(());
        }
        if let Err(e) = host.remove_members(&friends(me), &[other.clone()]).await {
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
    let removed_at = iso8601(now_ms);
    for (to, other) in [(a_id, b_id), (b_id, a_id)] {
        let note = Envelope::new(
            messages::FRIEND_REMOVED,
            messages::event_id("removed", Some(other.as_str()), now_ms),
            removed_at.clone(),
            FriendRemoved { user_id: other.into(), removed_at: removed_at.clone() },
        );
        if let Err(e) = host.publish(&inbox(to), &note).await {
            report.error(cat(&["friend.removed not delivered: ", &e.describe()]));
        }
    }
    report.info(cat(&["unfriended: ", a_id.as_str(), " x ", b_id.as_str()]));
    Ok(())
}
