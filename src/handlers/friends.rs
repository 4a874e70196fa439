//! friend-acceptance (After Publish on `friend-requests.*`: request, accept, decline, cancel)
//! and friend-removal (After Publish on `friend-management.*`: remove, block, unblock;
//! `user.settings` and `friends.sync.request` on the same channels are user-settings' own).
//!
//! Every friend command is answered with one `friend.command.result` on the sender's inbox,
//! once it is complete: a fault or a crash midway leaves no answer, and the client re-sends the
//! command (same `eventId`) until it has one. So every step is idempotent and a re-send
//! finishes what is missing, notices included (their `eventId`s are stable); an acceptance or
//! removal first writes its plan as the command's record, so a re-send carries out the same
//! plan. Counts are not moved here: each friendship made or removed fires a recount of both
//! users, which counts their memberships. A command whose client never re-sends it is finished
//! all the same: its journal is queued as it is opened, and the heal sweep (`core::heal`) has
//! it finished here (`friend.heal`) by the same steps.

use super::queues::push_job;
use super::{cat, Report};
use crate::core::friends::{
    self as fr, AcceptDecision, Binding, Command, CommandKind, CommandRecord, PendingRequest, Refused, RequestDecision,
};
use crate::core::heal::FRIEND_HEAL;
use crate::core::keys::JobQueue;
use crate::core::settle::Recount;
use crate::core::work::{next_hop, recount_channel, FriendsWork, MAX_HOP, RECOUNT_WORK};
use crate::core::{keys, settings};
use crate::core::{Config, Rejection};
use crate::domain::channels::{blocked, friends, friends_group, parse_presence_shard, requests_in, status, suffix_after};
use crate::domain::contract::{Reason, FRIENDS_SYNC_REQUEST, MAX_EVENT_ID_BYTES, USER_SETTINGS};
use crate::domain::messages::{self, CommandResult, Envelope};
use crate::domain::shard_of;
use crate::domain::{Json, UserId};
use crate::host::{HostError, KvStore, Member, PubNub};
#[allow(unused_imports)]
use crate::prelude::*;

pub async fn friend_requests<H: PubNub + KvStore>(
    host: &H,
    _cfg: &Config,
    channel: &str,
    publisher: Option<&str>,
    message: &Json,
    now_ms: u64,
) -> Report {
    let mut report = Report::new("friend-acceptance");
    if let Some((cmd, journal, key, hop)) = prepare(host, Binding::FriendRequests, channel, publisher, message, now_ms, &mut report).await {
        run_requests(host, &cmd, journal, &key, hop, now_ms, &mut report).await;
    }
    report
}

/// What an execution of a friend command Function runs: the command (parsed, or a refusal
/// answered here), its journal if an earlier attempt wrote one, its record key and the hop.
/// A `friend.heal` (`core::heal`) is a journal its client left unfinished: the steps of a
/// re-send, at the last hop. One call site per Function keeps one copy of its dispatch.
async fn prepare<H: PubNub + KvStore>(
    host: &H,
    binding: Binding,
    channel: &str,
    publisher: Option<&str>,
    message: &Json,
    now_ms: u64,
    report: &mut Report,
) -> Option<(Command, Option<CommandRecord>, String, u8)> {
    if let Some(healing) = heal(host, binding, channel, message, report).await {
        return healing.map(|(cmd, journal, key)| (cmd, journal, key, MAX_HOP));
    }
    let cmd = match fr::parse_command(binding, channel, publisher, message) {
        Ok(cmd) => cmd,
        Err(refused) => {
            refuse_unparsed(host, publisher, message, refused, now_ms, report).await;
            return None;
        }
    };
    let key = keys::result_key(fr::sender(&cmd), &cmd.event_id);
    start(host, &cmd, &key, now_ms, report).await.map(|journal| (cmd, journal, key, 0))
}

/// friend-acceptance's commands (each bundle carries only its own: the dispatch is per
/// Function), at `hop` (0 for a client's command).
async fn run_requests<H: PubNub + KvStore>(
    host: &H,
    cmd: &Command,
    journal: Option<CommandRecord>,
    key: &str,
    hop: u8,
    now_ms: u64,
    report: &mut Report,
) {
    let outcome = match cmd.kind {
        CommandKind::Request => request(host, cmd, now_ms, report).await,
        CommandKind::Accept => accept(host, cmd, journal.as_ref(), key, hop, now_ms, report).await,
        _ => close_request(host, cmd, journal.as_ref(), key, now_ms, report).await,
    };
    finish(host, cmd, key, journal.map_or(now_ms, |j| j.at), outcome, report).await;
}

pub async fn friend_management<H: PubNub + KvStore>(
    host: &H,
    _cfg: &Config,
    channel: &str,
    publisher: Option<&str>,
    message: &Json,
    now_ms: u64,
) -> Report {
    let mut report = Report::new("friend-removal");
    match message.as_object().and_then(|m| m.str("type")) {
        // Answered by user-settings, bound to the same channels.
        Some(USER_SETTINGS) => report.info("ignored: user.settings (user-settings answers it)"),
        // Answered by user-settings too (handlers/sync.rs).
        Some(FRIENDS_SYNC_REQUEST) => report.info("ignored: friends.sync.request (user-settings answers it)"),
        _ => {
            if let Some((cmd, journal, key, hop)) =
                prepare(host, Binding::FriendManagement, channel, publisher, message, now_ms, &mut report).await
            {
                run_management(host, &cmd, journal, &key, hop, now_ms, &mut report).await;
            }
        }
    }
    report
}

/// friend-removal's commands but the sync, at `hop` (0 for a client's command).
async fn run_management<H: PubNub + KvStore>(
    host: &H,
    cmd: &Command,
    journal: Option<CommandRecord>,
    key: &str,
    hop: u8,
    now_ms: u64,
    report: &mut Report,
) {
    let outcome = match cmd.kind {
        CommandKind::Unblock => unblock(host, cmd, now_ms, report).await,
        _ => remove_or_block(host, cmd, journal.as_ref(), key, hop, now_ms, report).await,
    };
    finish(host, cmd, key, journal.map_or(now_ms, |j| j.at), outcome, report).await;
}

/// user-settings' `user.settings` (After Publish on `friend-management.*`, beside
/// friend-removal; its entry, `sync::settings_or_sync`, answers `friends.sync.request` first):
/// every other message there is friend-removal's and is left alone here (each command is
/// answered by exactly one Function).
pub async fn user_settings<H: PubNub + KvStore>(
    host: &H,
    cfg: &Config,
    channel: &str,
    publisher: Option<&str>,
    message: &Json,
    now_ms: u64,
) -> Report {
    let mut report = Report::new("user-settings");
    if message.as_object().and_then(|m| m.str("type")) != Some(USER_SETTINGS) {
        report.info("ignored: not a user.settings (friend-removal answers it)");
        return report;
    }
    let parsed = fr::parse_command(Binding::FriendManagement, channel, publisher, message)
        .and_then(|cmd| settings::parse_settings(message).map(|s| (cmd, s)));
    match parsed {
        Err(refused) => refuse_unparsed(host, publisher, message, refused, now_ms, &mut report).await,
        Ok((cmd, wanted)) => {
            let key = keys::result_key(fr::sender(&cmd), &cmd.event_id);
            if start(host, &cmd, &key, now_ms, &mut report).await.is_some() {
                let outcome = apply_settings(host, cfg, &cmd, &wanted, now_ms, &mut report).await;
                finish(host, &cmd, &key, now_ms, outcome, &mut report).await;
            }
        }
    }
    report
}

/// Reads the user (and, to become visible, where they are), then writes App Context
/// (ETag-conditional) before announcing on `status.{userId}`, as presence does: a message only
/// carries a committed version (docs/design.md §4). A failed write changes nothing and the
/// re-send decides again; a failed publish is queued for the settle path to announce again.
/// Ops: ≤ 3 API (user, `whereNow`, write), 2 KV to queue (+2), ≤ 1 publish (+1).
async fn apply_settings<H: PubNub + KvStore>(
    host: &H,
    cfg: &Config,
    cmd: &Command,
    wanted: &settings::UserSettings,
    now_ms: u64,
    report: &mut Report,
) -> Result<Decided, Incomplete> {
    let me = &cmd.user_a;
    let Some(user) = host.get_user(me).await.map_err(|e| incomplete(report, "App Context read", e))? else {
        return Ok(Decided::Refused(Refused::new(Reason::UnknownUser, Rejection::with("unknown user", me.as_str()))));
    };
    let present = if settings::needs_presence(wanted, &user) {
        let channels = host.where_now(me).await.map_err(|e| incomplete(report, "whereNow", e))?;
        channels.iter().any(|c| parse_presence_shard(c).is_some())
    } else {
        false
    };
    let decision = settings::decide_settings(wanted, &user, present, shard_of(me.as_str(), cfg.shard_count), now_ms);
    if decision.custom != user.custom {
        host.set_user_custom(me, &decision.custom, user.etag.as_deref()).await.map_err(|e| incomplete(report, "settings write", e))?;
    }
    if let Some((message, again)) = decision.message.as_ref().zip(decision.republish) {
        if let Err(e) = host.publish(&status(me), message).await {
            let chunk = crate::core::settle::SettleChunk { entries: vec![again] };
            super::queues::enqueue_chunk(host, &chunk, now_ms, now_ms).await.map_err(|e| incomplete(report, "status queue", e))?;
            report.warn(cat(&["status publish failed, queued for the settle path: ", &e.describe()]));
        }
        report.info(cat(&[message.kind, " ", me.as_str(), " (settings)"]));
    }
    Ok(Decided::Done(now_ms))
}

/// How a command ended: succeeded at this time, or refused.
enum Decided {
    Done(u64),
    Refused(Refused),
}

/// A step failed (logged): no answer, so the client re-sends and the re-send completes it.
struct Incomplete;

fn incomplete(report: &mut Report, what: &str, e: HostError) -> Incomplete {
    report.error(cat(&[what, " failed; a re-send completes the command: ", &e.describe()]));
    Incomplete
}

/// A command that did not parse is answered on the publisher's inbox, whatever its shape: the
/// answer goes only to who sent it, and names its `eventId` when it has a string one of at
/// most 128 bytes (else `null`) and its `type` when it has one. Nothing is recorded (the same
/// input is refused the same way again). Only a publisher that is no user id goes unanswered:
/// there is no inbox to answer on.
pub(super) async fn refuse_unparsed<H: PubNub>(
    host: &H,
    publisher: Option<&str>,
    message: &Json,
    refused: Refused,
    now_ms: u64,
    report: &mut Report,
) {
    report.reject(refused.why);
    let Some(sender) = publisher.and_then(|p| UserId::parse(p).ok()) else { return };
    let msg = message.as_object();
    let event_id = msg.and_then(|m| m.str("eventId")).filter(|id| !id.is_empty() && id.len() <= MAX_EVENT_ID_BYTES);
    let kind = msg.and_then(|m| m.str("type")).filter(|t| t.len() <= 64).unwrap_or("");
    answer(host, messages::command_result(&sender, event_id, kind, Some(refused.reason), now_ms), report).await;
}

/// Publishes a `friend.command.result` on the sender's inbox: every answer goes out here.
async fn answer<H: PubNub>(host: &H, (channel, result): (String, Envelope<CommandResult>), report: &mut Report) {
    if let Err(e) = host.publish(&channel, &result).await {
        report.error(cat(&["friend.command.result not delivered (a re-send is answered): ", &e.describe()]));
    }
}

/// `friend.heal` (`core::heal`): `None` for any other message. Else the journal
/// `cmd:{channel owner}:{eventId}` to finish, if it is still under way, names a command of this
/// Function whose sender owns the channel: `Some(None)` when there is nothing to finish (done,
/// gone, or not this Function's). Ops: 1 KV (the record, as a re-send's `start` reads it).
async fn heal<H: KvStore>(
    host: &H,
    binding: Binding,
    channel: &str,
    message: &Json,
    report: &mut Report,
) -> Option<Option<(Command, Option<CommandRecord>, String)>> {
    let msg = message.as_object().filter(|m| m.str("type") == Some(FRIEND_HEAL))?;
    let prefix = match binding {
        Binding::FriendRequests => fr::REQUESTS_PREFIX,
        Binding::FriendManagement => fr::MANAGEMENT_PREFIX,
    };
    let owner = suffix_after(channel, prefix).and_then(|o| UserId::parse(o).ok());
    let (Some(owner), Some(event_id)) = (owner, msg.str("eventId")) else {
        report.reject(Rejection::new("friend.heal needs a user's command channel and an eventId"));
        return Some(None);
    };
    let key = keys::result_key(&owner, event_id);
    let record = match host.get::<CommandRecord>(&key).await {
        Ok(Some(record)) if !record.done => record,
        Ok(_) => {
            report.info("heal: nothing to finish");
            return Some(None);
        }
        Err(e) => {
            report.error(cat(&["heal: record not read: ", &e.describe()]));
            return Some(None);
        }
    };
    match record.command(&owner, event_id).filter(|cmd| cmd.kind.channel_prefix() == prefix) {
        Some(cmd) => {
            report.info(cat(&["heal: finishing ", cmd.kind.name(), " ", event_id, " of ", owner.as_str()]));
            Some(Some((cmd, Some(record), key)))
        }
        None => {
            report.info("heal: the journal names no command of this Function");
            Some(None)
        }
    }
}

/// A journal is opened: a reference to it is queued for the heal sweep first (a journal the
/// sweep cannot find would wait for its client forever), then the record is written.
/// Ops: 3 KV.
async fn open_journal<H: KvStore>(host: &H, cmd: &Command, key: &str, record: &CommandRecord) -> Result<(), HostError> {
    push_job(host, JobQueue::Journals, &String::from(key)).await?;
    save(host, key, cmd, record).await
}

/// Reads the command's record: a command already done is answered again with the same
/// message (`None`: nothing left to run); otherwise its journal, if an earlier attempt wrote one.
/// A record of another command under the same `eventId` is left alone and this command refused.
async fn start<H: PubNub + KvStore>(host: &H, cmd: &Command, key: &str, now_ms: u64, report: &mut Report) -> Option<Option<CommandRecord>> {
    let record = match host.get::<CommandRecord>(key).await {
        Err(e) => {
            report.error(cat(&["command record read failed; a re-send is answered: ", &e.describe()]));
            return None;
        }
        Ok(None) => return Some(None),
        Ok(Some(record)) => record,
    };
    let reply = if !record.belongs_to(cmd) {
        reused(cmd, record.kind.unwrap_or(""), now_ms, report)
    } else if record.done {
        report.info(cat(&["answered again: ", record.reason.unwrap_or("ok")]));
        if let Some(code) = record.reason {
            report.reject(Rejection::with("refused again", code));
        }
        result_of(cmd, &record)
    } else {
        return Some(Some(record));
    };
    answer(host, reply, report).await;
    None
}

/// `cmd` reuses the `eventId` of an earlier command (`first`, its type) with another type or
/// payload: refused `invalid`, nothing run. The answer names `cmd`'s type and has an id of its
/// own, so a client matching answers on `(eventId, command)` keeps the first command's.
fn reused(cmd: &Command, first: &str, now_ms: u64, report: &mut Report) -> (String, Envelope<CommandResult>) {
    report.reject(Rejection::with("eventId already used by another command:", first));
    let (channel, mut result) =
        messages::command_result(fr::sender(cmd), Some(&cmd.event_id), cmd.kind.name(), Some(Reason::Invalid), now_ms);
    result.event_id.push('_');
    result.event_id.push_str(cmd.kind.name());
    (channel, result)
}

/// Writes `record` as `cmd`'s (naming the command: `CommandRecord::of`).
async fn save<H: KvStore>(host: &H, key: &str, cmd: &Command, record: &CommandRecord) -> Result<(), HostError> {
    host.set(key, &record.of(cmd), keys::RESULT_TTL_MINUTES).await
}

/// Records how the command ended and answers it; an incomplete one is not answered (the
/// client re-sends it). `at` is when it was first decided.
async fn finish<H: PubNub + KvStore>(
    host: &H,
    cmd: &Command,
    key: &str,
    at: u64,
    outcome: Result<Decided, Incomplete>,
    report: &mut Report,
) {
    let record = match outcome {
        Err(Incomplete) => return,
        Ok(Decided::Done(at)) => CommandRecord::answered(None, at),
        Ok(Decided::Refused(refused)) => {
            report.reject(refused.why);
            CommandRecord::answered(Some(refused.reason), at)
        }
    };
    if let Err(e) = save(host, key, cmd, &record).await {
        let _ = incomplete(report, "command result write", e);
        return;
    }
    answer(host, result_of(cmd, &record), report).await;
}

/// The answer to `cmd` its record gives.
fn result_of(cmd: &Command, record: &CommandRecord) -> (String, Envelope<CommandResult>) {
    let result = fr::command_result(cmd, record);
    (result.channel, result.message)
}

/// A → B. Everything the decision needs is read at once (one round trip); the request is
/// written to KV first, then listed and B told together, so a crash leaves either nothing, or
/// a KV request (B can accept or decline it) that may be unlisted and untold: invisible, it
/// expires, anything done to the pair takes it away, and A asking again finds it
/// (`already_pending`) and lists it and tells B then. Never a listing or a notice without the
/// request behind it. Ops: 5 API (users, friendship, both blocks, listing), 2 KV (+2: the
/// command record read and write), 1 publish (+1: the result).
async fn request<H: PubNub + KvStore>(host: &H, cmd: &Command, now_ms: u64, report: &mut Report) -> Result<Decided, Incomplete> {
    let (a_id, b_id) = (&cmd.user_a, &cmd.user_b);
    let key = keys::request_key(a_id, b_id);
    let (pair, a_friends, a_blocked, b_blocked) = ([a_id.clone(), b_id.clone()], friends(a_id), blocked(a_id), blocked(b_id));
    // Made at once, awaited in turn: one round trip (`host::step`: a call goes out when made).
    let users = host.get_users(&pair);
    let friendship = host.get_member(&a_friends, b_id);
    let a_blocked_b = host.get_member(&a_blocked, b_id);
    let b_blocked_a = host.get_member(&b_blocked, a_id);
    let existing = host.get::<PendingRequest>(&key);
    let users = users.await.map_err(|e| incomplete(report, "App Context read", e))?;
    let friendship = friendship.await.map_err(|e| incomplete(report, "membership read", e))?;
    let a_blocked_b = a_blocked_b.await.map_err(|e| incomplete(report, "block read", e))?;
    let b_blocked_a = b_blocked_a.await.map_err(|e| incomplete(report, "block read", e))?;
    let existing = existing.await.map_err(|e| incomplete(report, "pending request read", e))?;
    let blocks = fr::Blocks { a_blocked_b: a_blocked_b.is_some(), b_blocked_a: b_blocked_a.is_some() };
    let (a, _) = match fr::both_users(cmd, &users) {
        Ok(users) => users,
        Err(refused) => return Ok(Decided::Refused(refused)),
    };
    let (pending, write, notice) =
        match fr::decide_request(cmd, &a, friendship.as_ref().map(|m| &m.custom), existing.as_ref(), blocks, now_ms) {
            RequestDecision::Record { pending, write, notice } => (pending, write, notice),
            RequestDecision::Refuse(refused) => {
                // An earlier request of A's that a crash left unlisted or untold is listed and told
                // now (not if B has blocked A since: a block takes the requests away).
                if let Some((p, notice)) = existing.filter(|_| refused.reason == Reason::AlreadyPending && !blocks.b_blocked_a).map(|p| {
                    let notice = fr::request_again(&a, b_id, &p);
                    (p, notice)
                }) {
                    list_request(host, cmd, &p, notice.as_ref(), report).await?;
                }
                return Ok(Decided::Refused(refused));
            }
        };
    if write {
        host.set(&key, &pending, keys::REQUEST_TTL_MINUTES).await.map_err(|e| incomplete(report, "pending request write", e))?;
    }
    list_request(host, cmd, &pending, notice.as_ref(), report).await?;
    report.info(cat(&["friend request ", a_id.as_str(), " -> ", b_id.as_str()]));
    Ok(Decided::Done(pending.at))
}

/// The request A → B is listed for both users' initial load and B told (unless hidden), at
/// once: both idempotent, so a re-send writes the same (the notice's `eventId` is stable).
async fn list_request<H: PubNub>(
    host: &H,
    cmd: &Command,
    pending: &PendingRequest,
    notice: Option<&fr::Notice<messages::FriendRequestReceived>>,
    report: &mut Report,
) -> Result<(), Incomplete> {
    let (listing, list) = ([(cmd.user_a.clone(), fr::request_listing(pending))], requests_in(&cmd.user_b));
    let listed = host.set_members(&list, &listing);
    if let Some(notice) = notice {
        host.publish(&notice.channel, &notice.message).await.map_err(|e| incomplete(report, "friend.request.received", e))?;
    }
    listed.await.map_err(|e| incomplete(report, "pending request listing", e))
}

/// The request A → B (`key`) goes from KV and from B's list (A's outgoing), at once: a
/// listing without its KV request is refused `not_pending` when acted on, like a gone one.
async fn unlist<H: PubNub + KvStore>(host: &H, cmd: &Command, key: &str, report: &mut Report) -> Result<(), Incomplete> {
    let (list, one) = (requests_in(&cmd.user_b), [cmd.user_a.clone()]);
    let unlisted = host.remove_members(&list, &one);
    host.remove(key).await.map_err(|e| incomplete(report, "pending request removal", e))?;
    unlisted.await.map_err(|e| incomplete(report, "pending request unlisting", e))
}

/// B declines A's request, or A withdraws it (a cancel), as `fr::decide_close` decides; one
/// body for both keeps one copy of their shared steps in the bundle.
///
/// A decline is recorded before the request goes, so a crash between the two is finished by
/// the re-send instead of being refused as `not_pending`; A is told before the request goes
/// (a re-send after a failed notice still finds it). Ops: 1 API, 3 KV here (+2: the command
/// record).
///
/// A cancel: the record naming the request first, then the request goes (KV and list) before
/// the lease is read, as in a removal (see `keys::lease_key`): an acceptance either finds no
/// request or holds the lease, and then the cancel waits for its re-send, which answers
/// `already_friends` if the acceptance made the friendship. B is told last. Ops: 1 API (+1 to
/// check an acceptance), ≤ 4 KV (+2), 1 publish (+1: the answer).
async fn close_request<H: PubNub + KvStore>(
    host: &H,
    cmd: &Command,
    journal: Option<&CommandRecord>,
    record_key: &str,
    now_ms: u64,
    report: &mut Report,
) -> Result<Decided, Incomplete> {
    let cancel = cmd.kind == CommandKind::Cancel;
    let key = keys::request_key(&cmd.user_a, &cmd.user_b);
    // A cancel's re-send finishes its recorded plan: the request may be gone by its own hand.
    let pending: Option<PendingRequest> =
        if cancel && journal.is_some() { None } else { host.get(&key).await.map_err(|e| incomplete(report, "pending request read", e))? };
    let record = match fr::decide_close(cmd.kind, journal, pending.as_ref(), now_ms) {
        Ok(record) => record,
        Err(refused) => return Ok(Decided::Refused(refused)),
    };
    if journal.is_none() {
        let what = if cancel { "cancel record write" } else { "decline record write" };
        open_journal(host, cmd, record_key, &record).await.map_err(|e| incomplete(report, what, e))?;
    }
    if !cancel {
        tell_other_side(host, cmd, pending.as_ref(), report).await?;
    }
    unlist(host, cmd, &key, report).await?;
    if cancel {
        if acceptance_running(host, cmd, report).await? {
            report.warn("an acceptance of the request is running; a re-send completes the cancel");
            return Err(Incomplete);
        }
        let a_has_b = host.get_member(&friends(&cmd.user_a), &cmd.user_b).await.map_err(|e| incomplete(report, "membership read", e))?;
        if let Err(refused) = fr::cancel_outcome(&record, a_has_b.as_ref().map(|m| &m.custom)) {
            return Ok(Decided::Refused(refused));
        }
        // B is told of a request it was told of: not of a hidden one (B blocks A), and not by a
        // re-send, which no longer knows (B then finds it gone when it answers: `not_pending`).
        tell_other_side(host, cmd, pending.as_ref(), report).await?;
    }
    let (a, b) = (cmd.user_a.as_str(), cmd.user_b.as_str());
    report.info(cat(&["friend request ", a, " -> ", b, if cancel { " cancelled" } else { " declined" }]));
    Ok(Decided::Done(record.at))
}

/// A decline tells the requester, a cancel the user asked (RFC 6121's `unsubscribed`), so the
/// request leaves the other side's list live, not at its next load. Only of a request read in
/// this attempt (`pending`) that the other side was told of: not of a hidden one (the asked
/// user blocks the requester), and not by a re-send that finds the request gone (the other
/// side then finds it gone too when it acts on it: `not_pending`).
async fn tell_other_side<H: PubNub>(
    host: &H,
    cmd: &Command,
    pending: Option<&PendingRequest>,
    report: &mut Report,
) -> Result<(), Incomplete> {
    let Some(pending) = pending.filter(|p| !p.hidden) else { return Ok(()) };
    let notice = fr::request_closed(cmd, pending);
    host.publish(&notice.channel, &notice.message).await.map_err(|e| incomplete(report, notice.message.kind, e))
}

/// B accepts A's request, as `fr::decide_accept` lays it out, in rounds of host calls that
/// go out together: both users and the lease; the request and A's membership of B; the
/// journal (its reference, then the plan: this command's record); both group entries; both
/// memberships; then the recount, both notices, both pending requests (KV and listings) and
/// the lease's release. Ops: ≤ 9 API (8 + one full-group fallback), ≤ 8 KV here (the lease,
/// the request, 3 to open the journal, 1 per fallback, 2 removals, the lease's release when
/// no fallback was needed; +2: the command record; at the last hop (a heal) the journal is
/// open already and the recount is queued: 2 KV instead of a fire), 3 publishes and fires (+1).
// Long on purpose: one ordered sequence of host calls (the order rules of docs/design.md §4),
// written straight-line because that is what fits friend-acceptance's size budget (helper futures
// cost bytes it does not have).
async fn accept<H: PubNub + KvStore>(
    host: &H,
    cmd: &Command,
    journal: Option<&CommandRecord>,
    record_key: &str,
    hop: u8,
    now_ms: u64,
    report: &mut Report,
) -> Result<Decided, Incomplete> {
    let (a_id, b_id) = (&cmd.user_a, &cmd.user_b);
    let (lease, request_key, a_friends) = (keys::lease_key(a_id, b_id), keys::request_key(a_id, b_id), friends(a_id));
    let pair = [a_id.clone(), b_id.clone()];
    // The users and the lease at once (a call goes out when made: `host::step`); the lease
    // before the request is read: see `keys::lease_key`.
    let users = host.get_users(&pair);
    let leased = host.set(&lease, &record_key, keys::LEASE_TTL_MINUTES);
    let users = users.await.map_err(|e| incomplete(report, "App Context read", e))?;
    leased.await.map_err(|e| incomplete(report, "lease write", e))?;
    let (a, b) = match fr::both_users(cmd, &users) {
        Ok(users) => users,
        Err(refused) => return Ok(Decided::Refused(refused)),
    };
    let pending = host.get::<PendingRequest>(&request_key);
    let a_has_b = host.get_member(&a_friends, b_id);
    let pending = pending.await.map_err(|e| incomplete(report, "pending request read", e))?;
    let a_has_b = a_has_b.await.map_err(|e| incomplete(report, "membership read", e))?;
    let (plan, fresh) = match fr::decide_accept(cmd, journal, pending.as_ref(), a_has_b.as_ref().map(|m| &m.custom), &a, &b, now_ms) {
        AcceptDecision::Proceed { plan, fresh } => (plan, fresh),
        AcceptDecision::Refuse(refused) => {
            if refused.reason == Reason::AlreadyFriends && pending.is_some() {
                // Friends through the other request: this one is stale.
                unlist(host, cmd, &request_key, report).await?;
            }
            if let Some(groups) = journal.and_then(|j| j.groups) {
                // An earlier attempt may have placed group entries before a decline or a
                // removal took the request away: they go too, but for the friendship's own.
                let stray = fr::stray_groups(groups, a_has_b.as_ref().map(|m| &m.custom));
                for (user, friend, group) in [(a_id, b_id, stray[0]), (b_id, a_id, stray[1])] {
                    let Some(group) = group else { continue };
                    host.remove_channels(&friends_group(user, group as usize), &[status(friend)])
                        .await
                        .map_err(|e| incomplete(report, "channel group cleanup", e))?;
                }
            }
            release(host, &lease, report).await;
            return Ok(Decided::Refused(refused));
        }
    };
    let mut record = plan.record.clone();
    if fresh {
        open_journal(host, cmd, record_key, &record).await.map_err(|e| incomplete(report, "acceptance plan write", e))?;
    }

    // Both groups first, then both memberships: full groups are undone before anything else
    // is written. Both entries go out at once; a full group is then retried on the next one,
    // side by side.
    let [(g0, s0), (g1, s1)] = plan.sides.each_ref().map(|side| (friends_group(&side.user, side.group), [status(&side.friend)]));
    let placing = host.add_channels(&g1, &s1);
    let mut placed = [host.add_channels(&g0, &s0).await, placing.await];
    let mut groups = [plan.sides[0].group, plan.sides[1].group];
    let mut fallbacks = 0u32;
    for (i, side) in plan.sides.iter().enumerate() {
        loop {
            match core::mem::replace(&mut placed[i], Ok(())) {
                Ok(()) => break,
                // Full group (removals leave holes elsewhere): try the next one, recorded
                // first so that a re-send looks where this attempt may have placed it.
                Err(HostError::Rejected { status: 400, .. }) => match fr::fallback_group(groups[i], fallbacks) {
                    Some(next) => {
                        fallbacks += 1;
                        groups[i] = next;
                        if let Some(g) = record.groups.as_mut() {
                            g[i] = next as u64;
                        }
                        save(host, record_key, cmd, &record).await.map_err(|e| incomplete(report, "plan update", e))?;
                        placed[i] = host.add_channels(&friends_group(&side.user, next), &[status(&side.friend)]).await;
                    }
                    None => {
                        // The other side's entry, if it was placed, goes too.
                        let other = &plan.sides[1 - i];
                        host.remove_channels(&friends_group(&other.user, groups[1 - i]), &[status(&other.friend)])
                            .await
                            .map_err(|e| incomplete(report, "channel group cleanup", e))?;
                        release(host, &lease, report).await;
                        let why = Rejection::with("no room in the friends groups tried (full); nothing changed, for", side.user.as_str());
                        return Ok(Decided::Refused(Refused::new(Reason::Limit, why)));
                    }
                },
                Err(e) => return Err(incomplete(report, "channel group update", e)),
            }
        }
    }
    let [(f0, m0), (f1, m1)] = [0, 1].map(|i| (friends(&plan.sides[i].user), [(plan.sides[i].friend.clone(), plan.membership(i, groups))]));
    let second = host.set_members(&f1, &m1);
    host.set_members(&f0, &m0).await.map_err(|e| incomplete(report, "membership write", e))?;
    second.await.map_err(|e| incomplete(report, "membership write", e))?;
    // Then, at once: the recount, both notices, and no pending request either way survives the
    // friendship (a stale one could be accepted again after a removal); the memberships are
    // written, so the lease goes too (after a fallback the KV budget is spent: it expires).
    let (n0, n1) = (&plan.sides[0].notice, &plan.sides[1].notice);
    let other_key = keys::request_key(b_id, a_id);
    let (a_in, b_in, a_one, b_one) = (requests_in(a_id), requests_in(b_id), [a_id.clone()], [b_id.clone()]);
    let counted = recount_both(host, a_id, b_id, hop);
    let (told_a, told_b) = (host.publish(&n0.channel, &n0.message), host.publish(&n1.channel, &n1.message));
    let (gone, gone_too) = (host.remove(&request_key), host.remove(&other_key));
    let (unlisted, unlisted_too) = (host.remove_members(&b_in, &a_one), host.remove_members(&a_in, &b_one));
    let released = (fallbacks == 0).then(|| host.remove(&lease));
    counted.await.map_err(|e| incomplete(report, "recount", e))?;
    told_a.await.and(told_b.await).map_err(|e| incomplete(report, "friend.added", e))?;
    gone.await.and(gone_too.await).map_err(|e| incomplete(report, "pending request removal", e))?;
    unlisted.await.and(unlisted_too.await).map_err(|e| incomplete(report, "pending request unlisting", e))?;
    if let Some(released) = released {
        // Not released, it expires within a minute.
        let _ = released.await;
    }
    report.info(cat(&["friends: ", a_id.as_str(), " <-> ", b_id.as_str(), if fresh { "" } else { " (completed by a re-send)" }]));
    Ok(Decided::Done(record.at))
}

/// Whether an acceptance of the pair holds the lease (`keys::lease_key`) and is not done: the
/// lease names the acceptance's record, and one found done is over (its lease was left to
/// expire). Ops: 1 KV, +1 when there is a lease.
async fn acceptance_running<H: KvStore>(host: &H, cmd: &Command, report: &mut Report) -> Result<bool, Incomplete> {
    let lease: Option<String> =
        host.get(&keys::lease_key(&cmd.user_a, &cmd.user_b)).await.map_err(|e| incomplete(report, "lease read", e))?;
    let Some(record_key) = lease else { return Ok(false) };
    let record: Option<CommandRecord> = host.get(&record_key).await.map_err(|e| incomplete(report, "lease record read", e))?;
    Ok(record.is_none_or(|r| !r.done))
}

/// The lease expires on its own; deleting it only lets a removal of the pair run sooner.
async fn release<H: KvStore>(host: &H, lease: &str, report: &mut Report) {
    if let Err(e) = host.remove(lease).await {
        report.warn(cat(&["lease not released (it expires within a minute): ", &e.describe()]));
    }
}

/// Both users' `friendCount`, recounted from their memberships by the recount worker: fired
/// one hop down, or, at the last hop (a heal), queued for the settler to hand out (+2 KV).
async fn recount_both<H: PubNub + KvStore>(host: &H, a: &UserId, b: &UserId, hop: u8) -> Result<(), HostError> {
    match next_hop(hop) {
        Some(next) => {
            host.fire(&recount_channel(), &FriendsWork { kind: RECOUNT_WORK, hop: next, users: &[a.as_str(), b.as_str()], hole: None })
                .await
        }
        None => push_job(host, JobQueue::Recounts, &Recount { users: vec![a.as_str().to_owned(), b.as_str().to_owned()] }).await,
    }
}

/// A removes B (either friend may) or blocks B, as `fr::plan_ending` lays it out: the plan
/// (this command's record); for a block, B on `blocked.{A}` (from then on B's requests are
/// hidden from A); both pending requests (KV and listings); then, if the friendship ends,
/// [`unfriend`]. One body for both keeps one copy of the shared steps in the bundle.
/// Ops, removal: ≤ 8 API, 4 KV (+2: the command record), 3 publishes (+1). Block: ≤ 9 API (2
/// membership reads, the block, 2 listings, 4 for the friendship), 4 KV (+2), 3 publishes (+1).
async fn remove_or_block<H: PubNub + KvStore>(
    host: &H,
    cmd: &Command,
    journal: Option<&CommandRecord>,
    record_key: &str,
    hop: u8,
    now_ms: u64,
    report: &mut Report,
) -> Result<Decided, Incomplete> {
    let blocking = cmd.kind == CommandKind::Block;
    let (m_a, m_b) = memberships(host, cmd, journal, report).await?;
    let plan = match fr::plan_ending(cmd, journal, m_a.as_ref().map(|m| &m.custom), m_b.as_ref().map(|m| &m.custom), now_ms) {
        Ok(plan) => plan,
        Err(refused) => return Ok(Decided::Refused(refused)),
    };
    if journal.is_none() {
        let what = if blocking { "block plan write" } else { "removal plan write" };
        open_journal(host, cmd, record_key, &plan.record).await.map_err(|e| incomplete(report, what, e))?;
    }
    if blocking {
        host.set_members(&blocked(&cmd.user_a), &[(cmd.user_b.clone(), fr::blocked_listing(plan.record.at))])
            .await
            .map_err(|e| incomplete(report, "block write", e))?;
    }
    drop_requests(host, cmd, report).await?;
    if let Some(removal) = &plan.removal {
        unfriend(host, cmd, removal, hop, report).await?;
    }
    let (a, b) = (cmd.user_a.as_str(), cmd.user_b.as_str());
    report.info(if blocking { cat(&["blocked: ", a, " blocks ", b]) } else { cat(&["unfriended: ", a, " x ", b]) });
    Ok(Decided::Done(plan.record.at))
}

/// Both memberships of the pair, read at once, unless the plan is recorded already (then it
/// is finished, whatever is left of the friendship).
async fn memberships<H: PubNub>(
    host: &H,
    cmd: &Command,
    journal: Option<&CommandRecord>,
    report: &mut Report,
) -> Result<(Option<Member>, Option<Member>), Incomplete> {
    if journal.is_some() {
        return Ok((None, None));
    }
    let (a_id, b_id) = (&cmd.user_a, &cmd.user_b);
    let (a_friends, b_friends) = (friends(a_id), friends(b_id));
    let m_b = host.get_member(&b_friends, a_id);
    let m_a = host.get_member(&a_friends, b_id).await.map_err(|e| incomplete(report, "membership read", e))?;
    Ok((m_a, m_b.await.map_err(|e| incomplete(report, "membership read", e))?))
}

/// The pending requests between the pair go, both ways, from KV and from the lists, all at
/// once. Before the lease is read (see `keys::lease_key`): a stale one could otherwise be
/// accepted again.
async fn drop_requests<H: PubNub + KvStore>(host: &H, cmd: &Command, report: &mut Report) -> Result<(), Incomplete> {
    let (a_id, b_id) = (&cmd.user_a, &cmd.user_b);
    let (ab, ba) = (keys::request_key(a_id, b_id), keys::request_key(b_id, a_id));
    let (a_in, b_in, a_one, b_one) = (requests_in(a_id), requests_in(b_id), [a_id.clone()], [b_id.clone()]);
    let (gone, gone_too) = (host.remove(&ab), host.remove(&ba));
    let (unlisted, unlisted_too) = (host.remove_members(&b_in, &a_one), host.remove_members(&a_in, &b_one));
    gone.await.and(gone_too.await).map_err(|e| incomplete(report, "pending request removal", e))?;
    unlisted.await.and(unlisted_too.await).map_err(|e| incomplete(report, "pending request unlisting", e))
}

/// The friendship of `plan` ends: unless an acceptance of the pair holds the lease, per side
/// the group entry and the membership, a recount of both, a refill of each hole, both
/// notices. Ops: 4 API, 1 KV, 5 publishes/fires.
async fn unfriend<H: PubNub + KvStore>(
    host: &H,
    cmd: &Command,
    plan: &fr::RemovalPlan,
    hop: u8,
    report: &mut Report,
) -> Result<(), Incomplete> {
    if acceptance_running(host, cmd, report).await? {
        report.warn("an acceptance between them is running; a re-send completes the command");
        return Err(Incomplete);
    }
    // Both group entries and both memberships at once: the plan is recorded, so a re-send
    // removes whatever of them is left.
    let [one, other] = &plan.sides;
    let [(g0, s0, f0, u0), (g1, s1, f1, u1)] = [one, other]
        .map(|side| (friends_group(&side.user, side.group), [status(&side.friend)], friends(&side.user), [side.friend.clone()]));
    let (ungrouped, ungrouped_too) = (host.remove_channels(&g0, &s0), host.remove_channels(&g1, &s1));
    let (unlisted, unlisted_too) = (host.remove_members(&f0, &u0), host.remove_members(&f1, &u1));
    ungrouped.await.and(ungrouped_too.await).map_err(|e| incomplete(report, "channel group removal", e))?;
    unlisted.await.and(unlisted_too.await).map_err(|e| incomplete(report, "membership removal", e))?;
    // A recount of both (as `recount_both`), then the recount worker refills each hole from
    // the user's last group (if it is not the last itself), keeping the groups compact. A
    // refill that does not happen (or cannot: no hop left) leaves the friends where they are,
    // only less compact. The recount, the refills and both notices go out at once.
    let (a, b) = (cmd.user_a.as_str(), cmd.user_b.as_str());
    let [n0, n1] = [&one.notice, &other.notice];
    let (told, told_too) = (host.publish(&n0.channel, &n0.message), host.publish(&n1.channel, &n1.message));
    match next_hop(hop) {
        None => push_job(host, JobQueue::Recounts, &Recount { users: vec![a.to_owned(), b.to_owned()] })
            .await
            .map_err(|e| incomplete(report, "recount", e))?,
        Some(next) => {
            let (pair, one_user, other_user) = ([a, b], [one.user.as_str()], [other.user.as_str()]);
            let works = [
                FriendsWork { kind: RECOUNT_WORK, hop: next, users: &pair, hole: None },
                FriendsWork { kind: RECOUNT_WORK, hop: next, users: &one_user, hole: Some(one.group as u64) },
                FriendsWork { kind: RECOUNT_WORK, hop: next, users: &other_user, hole: Some(other.group as u64) },
            ];
            let channel = recount_channel();
            let (counted, refilled, refilled_too) =
                (host.fire(&channel, &works[0]), host.fire(&channel, &works[1]), host.fire(&channel, &works[2]));
            counted.await.map_err(|e| incomplete(report, "recount", e))?;
            if let Err(e) = refilled.await.and(refilled_too.await) {
                report.warn(cat(&["group refill not fired: ", &e.describe()]));
            }
        }
    }
    told.await.and(told_too.await).map_err(|e| incomplete(report, "friend.removed", e))?;
    Ok(())
}

/// A unblocks B. Requests B sent while blocked stay hidden until they expire or B cancels
/// them (B was never told either way). Ops: 1 API, 0 KV (+2), 0 publishes (+1).
async fn unblock<H: PubNub>(host: &H, cmd: &Command, now_ms: u64, report: &mut Report) -> Result<Decided, Incomplete> {
    host.remove_members(&blocked(&cmd.user_a), core::slice::from_ref(&cmd.user_b)).await.map_err(|e| incomplete(report, "unblock", e))?;
    Ok(Decided::Done(now_ms))
}
