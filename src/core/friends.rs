//! Friend commands (docs/design.md §3): who may send which command, and the keys and records
//! that make every command idempotent.

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use super::records::UserRecord;
use super::Rejection;
use crate::domain::channels::{inbox, MAX_FRIENDS};
use crate::domain::channels::{suffix_after, CHANNELS_PER_GROUP, GROUPS_PER_USER};
pub use crate::domain::channels::{MANAGEMENT_PREFIX, REQUESTS_PREFIX};
use crate::domain::contract::{Reason, MAX_EVENT_ID_BYTES};
use crate::domain::json::FromJson;
use crate::domain::messages::{self, CommandResult, Envelope, FriendAdded, FriendRemoved, FriendRequestReceived, UserIdWire};
use crate::domain::time::{iso8601, parse_iso8601};
use crate::domain::{Json, JsonObject, UserId};

pub use crate::domain::contract::CommandKind;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub kind: CommandKind,
    pub user_a: UserId,
    pub user_b: UserId,
    pub event_id: String,
    /// `friends.sync.request` only: the `next` cursor of the previous page.
    pub page: Option<SyncCursor>,
    /// A digest of the payload as sent ([`payload_digest`]): an `eventId` reused for another
    /// payload is told apart from a re-send of the same command.
    pub sum: u32,
}

/// FNV-1a over the payload's JSON text, fields in the order sent (a re-send is the same text).
pub fn payload_digest(payload: &JsonObject) -> u32 {
    let mut text = String::new();
    crate::domain::json::text::write(&Json::Obj(payload.clone()), &mut text);
    text.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

pub use super::sync::SyncCursor;

/// Which binding delivered the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    FriendRequests,
    FriendManagement,
}

/// A refused command: the stable code its `friend.command.result` carries, and the reason
/// for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub reason: Reason,
    pub why: Rejection,
}

impl Refused {
    pub fn new(reason: Reason, why: Rejection) -> Self {
        Refused { reason, why }
    }
}

/// Verifies a command: the channel belongs to the publisher, the publisher is the user the
/// command type requires, and the body is well formed. `publisher` is `request.params.uuid`,
/// which PubNub binds to the token's authorized uuid.
pub fn parse_command(binding: Binding, channel: &str, publisher: Option<&str>, message: &Json) -> Result<Command, Refused> {
    parse(binding, channel, publisher, message).map_err(|(reason, why)| Refused { reason, why })
}

// Long on purpose: every check of a command (binding, publisher, envelope, payload), in the order a
// refusal must be decided, each reason beside its check.
fn parse(binding: Binding, channel: &str, publisher: Option<&str>, message: &Json) -> Result<Command, (Reason, Rejection)> {
    let invalid = |r: Rejection| (Reason::Invalid, r);
    let forbidden = |r: Rejection| (Reason::Forbidden, r);
    let prefix = match binding {
        Binding::FriendRequests => REQUESTS_PREFIX,
        Binding::FriendManagement => MANAGEMENT_PREFIX,
    };
    let owner = suffix_after(channel, prefix).ok_or_else(|| forbidden(Rejection::with("not a friend command channel", channel)))?;
    let publisher = publisher.ok_or_else(|| forbidden(Rejection::new("publisher uuid is missing")))?;
    if publisher != owner {
        return Err(forbidden(Rejection::with("publisher does not own this channel", publisher)));
    }
    let msg = message.as_object().ok_or_else(|| invalid(Rejection::new("message is not a JSON object")))?;
    if message.nested_too_deep() {
        return Err(invalid(Rejection::new("message is nested deeper than JSON is read (64 levels)")));
    }
    let kind_name = msg.str("type").ok_or_else(|| invalid(Rejection::new("message has no type")))?;
    let kind = CommandKind::from_name(kind_name)
        .filter(|k| k.channel_prefix() == prefix)
        .ok_or_else(|| invalid(Rejection::with("unknown command type on this channel", kind_name)))?;
    match msg.str("schemaVersion") {
        Some(v) if v == "1" || v.starts_with("1.") => {}
        Some(v) => return Err(invalid(Rejection::with("unsupported schemaVersion", v))),
        None => return Err(invalid(Rejection::new("message has no schemaVersion"))),
    }
    let event_id = match msg.str("eventId") {
        Some(id) if !id.is_empty() && id.len() <= MAX_EVENT_ID_BYTES && !id.contains(':') => id.to_owned(),
        Some(_) => return Err(invalid(Rejection::new("eventId must be 1-128 characters without ':'"))),
        None => return Err(invalid(Rejection::new("message has no eventId"))),
    };
    if msg.str("ts").and_then(parse_iso8601).is_none() {
        return Err(invalid(Rejection::new("ts is not an ISO 8601 date and time (RFC 3339: 2026-01-31T10:05:23.000Z)")));
    }
    let payload = msg.get("payload").and_then(Json::as_object).ok_or_else(|| invalid(Rejection::new("message has no payload object")))?;
    let sum = payload_digest(payload);
    let user = |key: &str| -> Result<UserId, (Reason, Rejection)> {
        let raw = payload.str(key).ok_or_else(|| invalid(Rejection::with("payload field missing or not a string", key)))?;
        UserId::parse(raw).map_err(|e| invalid(Rejection::with(e.reason(), raw)))
    };
    if kind.about_self() {
        let me = user("userA")?;
        if me.as_str() != publisher {
            return Err(forbidden(Rejection::new("userA must be the publisher")));
        }
        // `user.settings` fields are read by `super::settings::parse_settings`. Only
        // user-settings answers `friends.sync.request` (handlers/sync.rs): the other bundles
        // carry no cursor parser.
        #[cfg(any(feature = "all-functions", feature = "user-settings"))]
        let page = match payload.get("page").filter(|_| kind == CommandKind::Sync) {
            None | Some(Json::Null) => None,
            Some(Json::Str(raw)) => Some(SyncCursor::parse(raw).map_err(invalid)?),
            Some(_) => return Err(invalid(Rejection::new("page must be a string"))),
        };
        #[cfg(not(any(feature = "all-functions", feature = "user-settings")))]
        let page = None;
        return Ok(Command { kind, user_a: me.clone(), user_b: me, event_id, page, sum });
    }
    let (user_a, user_b) = (user("userA")?, user("userB")?);
    if user_a == user_b {
        return Err((Reason::SelfFriend, Rejection::new("userA and userB are the same user")));
    }
    let acting = if kind.published_by_b() { &user_b } else { &user_a };
    if acting.as_str() != publisher {
        return Err(forbidden(Rejection::new(if kind.published_by_b() {
            "only the requested user (userB) can answer a friend request"
        } else {
            "userA must be the publisher"
        })));
    }
    Ok(Command { kind, user_a, user_b, event_id, page: None, sum })
}

/// A request from `from` to `to`, waiting for `to`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PendingRequest {
    pub id: String,
    pub at: u64,
    /// Sent while `to` had blocked `from`: it never reaches `to` (no notice, not listed, cannot
    /// be accepted or declined), and to `from` it is an unanswered request like any other.
    #[serde(skip_serializing_if = "core::ops::Not::not")]
    pub hidden: bool,
}

impl FromJson for PendingRequest {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        let obj = v.as_object().ok_or("pending request is not an object")?;
        Ok(PendingRequest { id: obj.field("id")?, at: obj.field("at")?, hidden: obj.bool("hidden") == Some(true) })
    }
}

/// Whether either user of a command blocked the other (members of `blocked.{A}`, `blocked.{B}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Blocks {
    pub a_blocked_b: bool,
    pub b_blocked_a: bool,
}

/// The record's `custom` with `friendCount` set to `count` (the members of `friends.{id}`).
/// App Context replaces `custom` as a whole, so every other field is kept.
pub fn friend_count_custom(record: &UserRecord, count: i64) -> JsonObject {
    let mut custom = record.custom.clone();
    custom.set("friendCount", Json::num(count.max(0) as u64));
    custom
}

/// The group a new friend goes into: the one the `count`-th friend falls in.
pub fn group_for_count(count: i64) -> usize {
    (((count.max(1) - 1) as usize) / CHANNELS_PER_GROUP).min(GROUPS_PER_USER - 1)
}

/// Who sends a command (and reads its `friend.command.result`): the publisher it requires.
pub fn sender(cmd: &Command) -> &UserId {
    if cmd.kind.published_by_b() {
        &cmd.user_b
    } else {
        &cmd.user_a
    }
}

// ---- the command record: journal, then result ---------------------------------------------

/// A friend command's outcome under [`super::keys::result_key`]. An acceptance or removal
/// writes its plan here before its first write, so a re-send (same `eventId`) carries out the
/// same plan whatever changed meanwhile; `done` once every step succeeded, and from then on a
/// re-send is only answered, with the same result. Every record also says which command it is
/// ([`CommandRecord::of`]): an `eventId` reused for another command is refused, never answered
/// with this one's result or run on its journal, and the heal sweep (`handlers::heal`) finishes
/// a journal from the record alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CommandRecord {
    pub done: bool,
    /// The refusal's code; absent when the command succeeded (or is under way).
    #[serde(rename = "reason", skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// When the command was decided: the `ts` of every answer to it and of its notices.
    pub at: u64,
    /// The friendship instance made or removed: the accepted request's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// `[userA's group holding status.{userB}, userB's group holding status.{userA}]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<[u64; 2]>,
    /// The command's `type`, `userA`, `userB` and payload digest (absent in records written
    /// before they carried them).
    #[serde(rename = "cmd", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<u32>,
}

impl CommandRecord {
    pub fn answered(reason: Option<Reason>, at: u64) -> Self {
        CommandRecord { done: true, reason: reason.map(Reason::code), at, ..Default::default() }
    }

    /// Decided, not yet answered: a re-send finishes it instead of deciding again.
    pub fn under_way(at: u64) -> Self {
        CommandRecord { at, ..Default::default() }
    }

    /// This record as written for `cmd`: naming the command it belongs to.
    pub fn of(&self, cmd: &Command) -> Self {
        CommandRecord {
            kind: Some(cmd.kind.name()),
            a: Some(cmd.user_a.as_str().to_owned()),
            b: Some(cmd.user_b.as_str().to_owned()),
            sum: Some(cmd.sum),
            ..self.clone()
        }
    }

    /// Whether this record is `cmd`'s own (same type and payload), not another command's under
    /// the same `eventId`. A record without the fields (older) is taken as the command's.
    pub fn belongs_to(&self, cmd: &Command) -> bool {
        self.kind.is_none_or(|k| k == cmd.kind.name() && self.sum == Some(cmd.sum))
    }

    /// The command a record names, rebuilt to be finished without its sender (`sender` from
    /// the record's key): `None` for an older record or one that names no users.
    pub fn command(&self, sender: &UserId, event_id: &str) -> Option<Command> {
        let kind = CommandKind::from_name(self.kind?)?;
        let (a, b) = (UserId::parse(self.a.as_deref()?).ok()?, UserId::parse(self.b.as_deref()?).ok()?);
        let cmd = Command { kind, user_a: a, user_b: b, event_id: event_id.to_owned(), page: None, sum: self.sum.unwrap_or(0) };
        (self::sender(&cmd) == sender).then_some(cmd)
    }

    pub fn refusal(&self) -> Option<Reason> {
        self.reason.and_then(Reason::from_code)
    }

    fn groups(&self) -> [usize; 2] {
        let g = self.groups.unwrap_or([0, 0]);
        [g[0] as usize, g[1] as usize]
    }
}

impl FromJson for CommandRecord {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        let obj = v.as_object().ok_or("command record is not an object")?;
        let reason = match obj.str("reason") {
            None => None,
            Some(code) => Some(Reason::from_code(code).ok_or("command record has an unknown reason")?.code()),
        };
        // Absent or null is `None`; else a number or a text, or the record does not read.
        let number = |key| obj.field_or::<Option<u64>>(key, None);
        let text = |key| obj.field_or::<Option<String>>(key, None);
        let groups = match obj.get("groups") {
            None | Some(Json::Null) => None,
            Some(Json::Arr(items)) => {
                let mut pair = [0; 2];
                for (i, item) in items.iter().enumerate() {
                    let group = u64::from_json(item)?;
                    if let Some(slot) = pair.get_mut(i) {
                        *slot = group;
                    }
                }
                if items.len() != 2 {
                    return Err("command record groups is not a pair");
                }
                Some(pair)
            }
            Some(_) => return Err("expected an array"),
        };
        Ok(CommandRecord {
            done: obj.bool("done").unwrap_or(false),
            reason,
            at: obj.field("at")?,
            instance: text("instance")?,
            groups,
            kind: obj.str("cmd").and_then(CommandKind::from_name).map(CommandKind::name),
            a: text("a")?,
            b: text("b")?,
            sum: number("sum")?.map(|n| n as u32),
        })
    }
}

/// The answer to `cmd`: `friend.command.result` on the sender's inbox.
pub fn command_result(cmd: &Command, record: &CommandRecord) -> Notice<CommandResult> {
    let (channel, message) = messages::command_result(sender(cmd), Some(&cmd.event_id), cmd.kind.name(), record.refusal(), record.at);
    Notice { channel, message }
}

// ---- decisions: command + what was read + now → what to write and send -----------------

/// A message for one user's private `inbox.{userId}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice<P> {
    pub channel: String,
    pub message: Envelope<P>,
}

/// `friend.request.received` on B's inbox: who asks (`requester`'s profile) and since when.
/// Its `eventId` is the request's, so a re-sent request re-notifies with the same message.
pub fn request_received(requester: &UserRecord, to: &UserId, pending: &PendingRequest) -> Notice<FriendRequestReceived> {
    let message = Envelope::new(
        messages::FRIEND_REQUEST_RECEIVED,
        messages::stable_event_id("request", &requester.id, &pending.id),
        iso8601(pending.at),
        FriendRequestReceived {
            user_id: UserIdWire(requester.id.clone()),
            name: requester.name.clone(),
            profile_url: requester.profile_url.clone(),
            requested_at: iso8601(pending.at),
            request_id: Some(pending.id.clone()),
        },
    );
    Notice { channel: inbox(to), message }
}

/// `friend.added` on `to`'s inbox about the new friend `other`, as App Context has them; the
/// `eventId` names the friendship instance, so every attempt sends the same message.
pub fn friend_added(to: &UserId, other: &UserRecord, instance: &str, added_at: &str) -> Notice<FriendAdded> {
    let message = Envelope::new(
        messages::FRIEND_ADDED,
        messages::stable_event_id("added", &other.id, instance),
        added_at.to_owned(),
        FriendAdded {
            user_id: UserIdWire(other.id.clone()),
            name: other.name.clone(),
            profile_url: other.profile_url.clone(),
            online: other.custom.bool("online").unwrap_or(false),
            added_at: added_at.to_owned(),
        },
    );
    Notice { channel: inbox(to), message }
}

/// `friend.removed` on `to`'s inbox about the former friend `other` (instance as above).
pub fn friend_removed(to: &UserId, other: &UserId, instance: &str, at_ms: u64) -> Notice<FriendRemoved> {
    let removed_at = iso8601(at_ms);
    let message = Envelope::new(
        messages::FRIEND_REMOVED,
        messages::stable_event_id("removed", other.as_str(), instance),
        removed_at.clone(),
        FriendRemoved { user_id: other.into(), removed_at },
    );
    Notice { channel: inbox(to), message }
}

/// The other side of a request that ended without a friendship: `friend.request.declined` on
/// the requester's inbox (`cmd` a decline) or `friend.request.cancelled` on the asked user's (a
/// cancel), naming the other user and the request's time. The `eventId` names the request, so
/// every attempt sends the same message.
pub fn request_closed(cmd: &Command, pending: &PendingRequest) -> Notice<FriendRequestReceived> {
    let (kind, what, to, other) = if cmd.kind.published_by_b() {
        (messages::FRIEND_REQUEST_DECLINED, "declined", &cmd.user_a, &cmd.user_b)
    } else {
        (messages::FRIEND_REQUEST_CANCELLED, "cancelled", &cmd.user_b, &cmd.user_a)
    };
    let requested_at = iso8601(pending.at);
    let message = Envelope::new(
        kind,
        messages::stable_event_id(what, other.as_str(), &pending.id),
        requested_at.clone(),
        FriendRequestReceived { user_id: other.into(), name: None, profile_url: None, requested_at, request_id: Some(pending.id.clone()) },
    );
    Notice { channel: inbox(to), message }
}

/// `users` as read (one batched read) → A's and B's records, or `unknown_user`.
pub fn both_users(cmd: &Command, users: &[UserRecord]) -> Result<(UserRecord, UserRecord), Refused> {
    let find = |id: &UserId| {
        users
            .iter()
            .find(|u| u.id == id.as_str())
            .cloned()
            .ok_or_else(|| Refused::new(Reason::UnknownUser, Rejection::with("unknown user", id.as_str())))
    };
    Ok((find(&cmd.user_a)?, find(&cmd.user_b)?))
}

/// What a `friend.request` (A → B) does.
// One per execution, matched at once: boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum RequestDecision {
    /// Write `pending` under [`super::keys::request_key`] (unless it is there already: the
    /// same command re-sent), then tell B.
    Record {
        pending: PendingRequest,
        write: bool,
        /// `None` for a hidden request: B blocked A and is not told.
        notice: Option<Notice<FriendRequestReceived>>,
    },
    Refuse(Refused),
}

/// `requester` is A's record; `friends` A's membership of B, if any; `existing` the pending
/// request A → B, if any; `blocks` as read. A request the other way (B → A) stays: whichever
/// is accepted first makes the one friendship and deletes the other.
///
/// A request to someone A blocked is refused (`forbidden`: unblock first). A request to
/// someone who blocked A is answered as if sent and is pending to A (listed, cancellable,
/// `already_pending` on a second one), but hidden from B: no notice, not listed, and B cannot
/// act on it. So a blocked user cannot tell a block from a request left unanswered.
pub fn decide_request(
    cmd: &Command,
    requester: &UserRecord,
    friends: Option<&JsonObject>,
    existing: Option<&PendingRequest>,
    blocks: Blocks,
    now_ms: u64,
) -> RequestDecision {
    if friends.is_some() {
        return RequestDecision::Refuse(Refused::new(Reason::AlreadyFriends, Rejection::new("userA and userB are already friends")));
    }
    if blocks.a_blocked_b {
        return RequestDecision::Refuse(Refused::new(Reason::Forbidden, Rejection::new("userA blocked userB: unblock first")));
    }
    let (pending, write) = match existing {
        Some(p) if p.id == cmd.event_id => (p.clone(), false),
        Some(_) => {
            return RequestDecision::Refuse(Refused::new(
                Reason::AlreadyPending,
                Rejection::new("an earlier request from userA to userB is pending"),
            ))
        }
        None => (PendingRequest { id: cmd.event_id.clone(), at: now_ms, hidden: blocks.b_blocked_a }, true),
    };
    let notice = (!pending.hidden).then(|| request_received(requester, &cmd.user_b, &pending));
    RequestDecision::Record { pending, write, notice }
}

/// A request of A's found pending when A asks again (`already_pending`): B is told of it
/// again (the same notice, same `eventId`), unless it is hidden (B blocked A). A crash may
/// have cut the first attempt off after its KV write, before the listing and the notice.
pub fn request_again(requester: &UserRecord, to: &UserId, pending: &PendingRequest) -> Option<Notice<FriendRequestReceived>> {
    (!pending.hidden).then(|| request_received(requester, to, pending))
}

/// The membership of the requester on `requests-in.{to}` that lists a pending request:
/// `{requestId, requestedAt}` (epoch ms). The KV request is what accepting reads; this is
/// what the initial load lists (KV cannot list).
pub fn request_listing(pending: &PendingRequest) -> JsonObject {
    let mut custom = JsonObject::default();
    custom.set("requestId", Json::Str(pending.id.clone()));
    custom.set("requestedAt", Json::num(pending.at));
    if pending.hidden {
        custom.set("hidden", Json::Bool(true));
    }
    custom
}

/// A cancel (A withdraws its request to B) after `journal` (this command's record, if an
/// earlier attempt wrote one) and `pending` (the request A → B): the record to write first,
/// naming the request cancelled, or `not_pending`.
pub fn decide_cancel(journal: Option<&CommandRecord>, pending: Option<&PendingRequest>, now_ms: u64) -> Result<CommandRecord, Refused> {
    if let Some(j) = journal {
        return Ok(j.clone());
    }
    match pending {
        Some(p) => Ok(CommandRecord { at: now_ms, instance: Some(p.id.clone()), ..Default::default() }),
        None => Err(Refused::new(Reason::NotPending, Rejection::new("no pending friend request to cancel"))),
    }
}

/// A decline or a cancel (`kind`) of the request A → B: the record to write first (a
/// decline's is only under way; a cancel's names the request), or the refusal
/// (`decide_decline`, `decide_cancel`).
pub fn decide_close(
    kind: CommandKind,
    journal: Option<&CommandRecord>,
    pending: Option<&PendingRequest>,
    now_ms: u64,
) -> Result<CommandRecord, Refused> {
    if kind == CommandKind::Cancel {
        return decide_cancel(journal, pending, now_ms);
    }
    decide_decline(journal, pending)?;
    Ok(journal.cloned().unwrap_or_else(|| CommandRecord::under_way(now_ms)))
}

/// After the request is gone and no acceptance holds the lease: if A's membership of B names
/// the cancelled request, an acceptance got there first and the cancel is too late.
pub fn cancel_outcome(record: &CommandRecord, a_has_b: Option<&JsonObject>) -> Result<(), Refused> {
    match a_has_b {
        Some(m) if record.instance.is_some() && m.str("requestId") == record.instance.as_deref() => {
            Err(Refused::new(Reason::AlreadyFriends, Rejection::new("the request was accepted before the cancel")))
        }
        _ => Ok(()),
    }
}

/// `friend.request.declined`: removes the pending request; there must be one that reached B,
/// unless this command already decided (its record is under way): then the request may be gone
/// by its own hand, and the re-send only finishes.
pub fn decide_decline(journal: Option<&CommandRecord>, pending: Option<&PendingRequest>) -> Result<(), Refused> {
    match (journal, pending) {
        (Some(_), _) => Ok(()),
        (None, Some(p)) if !p.hidden => Ok(()),
        _ => Err(Refused::new(Reason::NotPending, Rejection::new("no pending friend request to decline"))),
    }
}

/// An acceptance is refused, before anything is written, when either user is at the limit.
pub fn check_friend_limit(a: &UserRecord, b: &UserRecord) -> Result<(), Refused> {
    for user in [a, b] {
        if user.custom.u64("friendCount").unwrap_or(0) >= MAX_FRIENDS as u64 {
            return Err(Refused::new(Reason::Limit, Rejection::with("friend limit (20,000) reached for", &user.id)));
        }
    }
    Ok(())
}

/// Groups stay compact: friend n goes into group ⌊(n−1)/2,000⌋, and a removal that leaves a
/// hole in a group before the last one in use is refilled from the last: with `total` friends
/// left, the last group holding any is ⌊total/2,000⌋ (one friend over the full groups spills
/// into it while the hole lasts). `Some(from)` when a friend of group `from` must move into
/// `hole`, so that a user with n friends uses ⌈n/2,000⌉ groups.
pub fn refill_from(hole: u64, total: u64) -> Option<u64> {
    let last = (total / CHANNELS_PER_GROUP as u64).min(GROUPS_PER_USER as u64 - 1);
    (hole < last).then_some(last)
}

/// The groups a refill of `hole` reads, in order, for a friend to move (`last` from
/// [`refill_from`]): up to 4 (what an execution's API calls leave), from 3 above `last` down,
/// never `hole` itself or past the last group.
pub fn refill_probes(hole: u64, last: u64) -> impl Iterator<Item = u64> {
    let top = (last + 3).min(GROUPS_PER_USER as u64 - 1);
    (hole + 1..=top).rev().take(4)
}

/// A friend's membership custom fields with `key` (`group`, `peerGroup`) set to `group`.
pub fn regrouped(custom: &JsonObject, key: &str, group: u64) -> JsonObject {
    let mut custom = custom.clone();
    custom.set(key, Json::num(group));
    custom
}

/// Groups past the first choice an acceptance may try in all: one. Each costs an API call and
/// a KV write (the plan, updated first), and the KV is spent: the acceptance queues its journal
/// for the heal sweep. With compact groups (refills) the group the count points at is full
/// only while the count lags, so the next one has room; two full groups in a row refuse
/// `limit`, and nothing is left written.
pub const GROUP_FALLBACKS: u32 = 1;

/// The group to try after `group` was full, when `used` fallbacks were spent already.
pub fn fallback_group(group: usize, used: u32) -> Option<usize> {
    (used < GROUP_FALLBACKS && group + 1 < GROUPS_PER_USER).then_some(group + 1)
}

/// One side of a friendship: `user`'s group gets `status.{friend}`, `user`'s friends list
/// gets `friend`.
#[derive(Clone, Debug, PartialEq)]
pub struct AcceptSide {
    pub user: UserId,
    pub friend: UserId,
    /// The group to try first (the plan's).
    pub group: usize,
    /// `friend.added` on `user`'s inbox.
    pub notice: Notice<FriendAdded>,
}

/// What an acceptance writes, in order: the plan (its command record), both group entries
/// (falling over to the next group when one is full), both memberships, a recount of both
/// users, both notices, then the removal of both pending requests (this one and any the other
/// way) and the result. Every step is idempotent, so a re-send finishes whatever a fault or a
/// crash interrupted.
#[derive(Clone, Debug, PartialEq)]
pub struct AcceptPlan {
    /// `[A's side, B's side]`.
    pub sides: [AcceptSide; 2],
    /// The command record to write first (the journal: instance, groups, time).
    pub record: CommandRecord,
}

impl AcceptPlan {
    /// The membership's custom fields on `friends.{user}` for side `i` with `groups` as
    /// placed: this user's group for the friend (removal edits it), and the friend's group for
    /// this user (so a removal that finds only one side still edits both groups).
    pub fn membership(&self, i: usize, groups: [usize; 2]) -> JsonObject {
        let mut custom = JsonObject::default();
        custom.set("status", Json::str("accepted"));
        custom.set("addedAt", Json::Str(iso8601(self.record.at)));
        custom.set("group", Json::num(groups[i & 1] as u64));
        custom.set("peerGroup", Json::num(groups[(i + 1) & 1] as u64));
        custom.set("requestId", Json::Str(self.record.instance.clone().unwrap_or_default()));
        custom
    }

    pub fn instance(&self) -> &str {
        self.record.instance.as_deref().unwrap_or("")
    }
}

/// The group entries a refused acceptance takes away, of those its journal placed
/// (`placed`: A's group, B's): all of them, unless the pair is friends (`a_has_b`, A's
/// membership of B), then only those outside the friendship's own groups (`group` on A's side,
/// `peerGroup` on B's): an entry there is the same channel in the same group, the friendship's,
/// placed by the acceptance that made it (the reverse request's, accepted at the same time).
pub fn stray_groups(placed: [u64; 2], a_has_b: Option<&JsonObject>) -> [Option<u64>; 2] {
    let kept = a_has_b.map(|m| [m.u64("group"), m.u64("peerGroup")]);
    let stray = |i: usize| match kept {
        Some(k) if k[i] == Some(placed[i]) => None,
        _ => Some(placed[i]),
    };
    [stray(0), stray(1)]
}

/// What a `friend.request.accepted` (B accepts A) does.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum AcceptDecision {
    /// Carry out the plan; `fresh` when its record is still to be written.
    Proceed { plan: AcceptPlan, fresh: bool },
    /// Nothing to write: the refusal is the command's result.
    Refuse(Refused),
}

/// B accepts A's request. `journal` is this command's record if an earlier attempt wrote
/// one; `pending` the request A → B as read (after the lease); `a_has_b` A's membership of B.
/// - a friendship already made by another request (mutual requests: the other one was
///   accepted first) → `already_friends`;
/// - no request and no journal → `not_pending`; a journal whose request is gone and whose
///   friendship is not there → `not_pending` too (a removal or decline came between);
/// - else the plan: the journal's if any (same groups, same time), or a new one placing each
///   friend by the friend count App Context holds (a full group falls over to the next).
pub fn decide_accept(
    cmd: &Command,
    journal: Option<&CommandRecord>,
    pending: Option<&PendingRequest>,
    a_has_b: Option<&JsonObject>,
    a: &UserRecord,
    b: &UserRecord,
    now_ms: u64,
) -> AcceptDecision {
    // A hidden request never reached B: B cannot accept it.
    let pending = pending.filter(|p| !p.hidden);
    let instance = journal.and_then(|j| j.instance.as_deref()).or(pending.map(|p| p.id.as_str()));
    let ours = |m: &JsonObject| instance.is_some() && m.str("requestId") == instance;
    if let Some(m) = a_has_b {
        if !ours(m) {
            return AcceptDecision::Refuse(Refused::new(Reason::AlreadyFriends, Rejection::new("userA and userB are already friends")));
        }
    }
    let Some(instance) = instance else {
        return AcceptDecision::Refuse(Refused::new(Reason::NotPending, Rejection::new("no pending friend request from userA to userB")));
    };
    if pending.is_none_or(|p| p.id != instance) && a_has_b.is_none() {
        return AcceptDecision::Refuse(Refused::new(
            Reason::NotPending,
            Rejection::new("the request was declined or the friendship removed meanwhile"),
        ));
    }
    let (record, fresh) = match journal {
        Some(j) => (j.clone(), false),
        None => {
            if let Err(refused) = check_friend_limit(a, b) {
                return AcceptDecision::Refuse(refused);
            }
            let count = |u: &UserRecord| u.custom.u64("friendCount").unwrap_or(0) as i64 + 1;
            let groups = [group_for_count(count(a)) as u64, group_for_count(count(b)) as u64];
            (CommandRecord { at: now_ms, instance: Some(instance.to_owned()), groups: Some(groups), ..Default::default() }, true)
        }
    };
    let added_at = iso8601(record.at);
    let groups = record.groups();
    let side = |i: usize, user: &UserId, friend: &UserId, other: &UserRecord| AcceptSide {
        user: user.clone(),
        friend: friend.clone(),
        group: groups[i],
        notice: friend_added(user, other, instance, &added_at),
    };
    let sides = [side(0, &cmd.user_a, &cmd.user_b, b), side(1, &cmd.user_b, &cmd.user_a, a)];
    AcceptDecision::Proceed { plan: AcceptPlan { sides, record }, fresh }
}

/// One side of a removal: `status.{friend}` leaves `group`, `friend` leaves `friends.{user}`.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoveSide {
    pub user: UserId,
    pub friend: UserId,
    pub group: usize,
    /// `friend.removed` on `user`'s inbox.
    pub notice: Notice<FriendRemoved>,
}

/// A removal: its record (the journal: instance, groups, time), then per side the group entry
/// and the membership, a recount of both, both notices.
#[derive(Clone, Debug, PartialEq)]
pub struct RemovalPlan {
    pub sides: [RemoveSide; 2],
    pub record: CommandRecord,
}

/// A removes B. `journal` is this command's record if an earlier attempt wrote one (its plan
/// is finished whatever the memberships say now); else `a_has_b` / `b_has_a` are the
/// memberships' custom fields as read: the instance is either side's request id (`legacy` for
/// memberships made before they recorded one), and each group is the one its own side recorded,
/// else the one the other side recorded for it, else the first. Neither → `not_friends`.
pub fn plan_removal(
    cmd: &Command,
    journal: Option<&CommandRecord>,
    a_has_b: Option<&JsonObject>,
    b_has_a: Option<&JsonObject>,
    now_ms: u64,
) -> Result<RemovalPlan, Refused> {
    let record = match journal {
        Some(j) => j.clone(),
        None => {
            let Some(m) = a_has_b.or(b_has_a) else {
                return Err(Refused::new(Reason::NotFriends, Rejection::new("userA and userB are not friends")));
            };
            let group = |own: Option<&JsonObject>, other: Option<&JsonObject>| {
                own.and_then(|m| m.u64("group")).or_else(|| other.and_then(|m| m.u64("peerGroup"))).unwrap_or(0)
            };
            CommandRecord {
                at: now_ms,
                instance: Some(m.str("requestId").unwrap_or("legacy").to_owned()),
                groups: Some([group(a_has_b, b_has_a), group(b_has_a, a_has_b)]),
                ..Default::default()
            }
        }
    };
    let instance = record.instance.clone().unwrap_or_default();
    let groups = record.groups();
    let side = |i: usize, user: &UserId, friend: &UserId| RemoveSide {
        user: user.clone(),
        friend: friend.clone(),
        group: groups[i],
        notice: friend_removed(user, friend, &instance, record.at),
    };
    let sides = [side(0, &cmd.user_a, &cmd.user_b), side(1, &cmd.user_b, &cmd.user_a)];
    Ok(RemovalPlan { sides, record })
}

/// A block: its record (the journal), and the removal of the friendship when there is one.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockPlan {
    pub record: CommandRecord,
    pub removal: Option<RemovalPlan>,
}

/// A blocks B: the friendship, if any (memberships as read, or this command's journal: an
/// `instance` there means there was one), ends as a removal does; the pending requests both
/// ways go whatever the friendship.
pub fn plan_block(
    cmd: &Command,
    journal: Option<&CommandRecord>,
    a_has_b: Option<&JsonObject>,
    b_has_a: Option<&JsonObject>,
    now_ms: u64,
) -> BlockPlan {
    let friends = journal.map_or(a_has_b.is_some() || b_has_a.is_some(), |j| j.instance.is_some());
    let removal = if friends { plan_removal(cmd, journal, a_has_b, b_has_a, now_ms).ok() } else { None };
    let record = match (&removal, journal) {
        (Some(r), _) => r.record.clone(),
        (None, Some(j)) => j.clone(),
        (None, None) => CommandRecord::under_way(now_ms),
    };
    BlockPlan { record, removal }
}

/// A removal or a block (`cmd.kind`), as one plan: a removal is refused without a friendship
/// (`plan_removal`) and always ends one; a block ends one if there is one (`plan_block`).
pub fn plan_ending(
    cmd: &Command,
    journal: Option<&CommandRecord>,
    a_has_b: Option<&JsonObject>,
    b_has_a: Option<&JsonObject>,
    now_ms: u64,
) -> Result<BlockPlan, Refused> {
    if cmd.kind == CommandKind::Block {
        return Ok(plan_block(cmd, journal, a_has_b, b_has_a, now_ms));
    }
    let removal = plan_removal(cmd, journal, a_has_b, b_has_a, now_ms)?;
    Ok(BlockPlan { record: removal.record.clone(), removal: Some(removal) })
}

/// B's membership on `blocked.{A}`: `{blockedAt}`.
pub fn blocked_listing(at_ms: u64) -> JsonObject {
    let mut custom = JsonObject::default();
    custom.set("blockedAt", Json::Str(iso8601(at_ms)));
    custom
}
