//! Friend commands (docs/design.md §3): who may send which command, and the keys and records
//! that make every command idempotent.

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use super::Rejection;
use crate::domain::channels::{inbox, MAX_FRIENDS};
use crate::domain::channels::{suffix_after, CHANNELS_PER_GROUP, GROUPS_PER_USER};
pub use crate::domain::channels::{MANAGEMENT_PREFIX, REQUESTS_PREFIX};
use crate::domain::contract::MAX_EVENT_ID_BYTES;
use crate::domain::json::FromJson;
use crate::domain::messages::{self, Envelope, FriendAdded, FriendRemoved, FriendRequestReceived, FriendsSync, SyncedFriend, UserIdWire};
use crate::domain::time::iso8601;
use crate::domain::{Json, JsonObject, UserId};
use crate::host::{MemberFilter, MembersPage, UserRecord};

pub use crate::domain::contract::CommandKind;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub kind: CommandKind,
    pub user_a: UserId,
    pub user_b: UserId,
    pub event_id: String,
    /// `friends.sync.request` only: the `next` cursor of the previous page.
    pub page: Option<SyncCursor>,
}

/// Where a `friends.sync` page starts: online friends first, then the rest. The wire form
/// is `o:{token}` / `r:{token}` (App Context's own page token; empty for the first page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncCursor {
    pub online: bool,
    pub token: Option<String>,
}

impl SyncCursor {
    pub const FIRST: SyncCursor = SyncCursor { online: true, token: None };

    pub fn parse(raw: &str) -> Result<SyncCursor, Rejection> {
        let (online, token) = match (raw.get(..2), raw.get(2..)) {
            (Some("o:"), Some(t)) => (true, t),
            (Some("r:"), Some(t)) => (false, t),
            _ => return Err(Rejection::new("page cursor must start with o: or r:")),
        };
        if token.len() > 512 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Rejection::new("page cursor is not a page token"));
        }
        Ok(SyncCursor { online, token: (!token.is_empty()).then(|| token.to_owned()) })
    }

    pub fn to_wire(&self) -> String {
        let mut s = String::from(if self.online { "o:" } else { "r:" });
        s.push_str(self.token.as_deref().unwrap_or(""));
        s
    }
}

/// Which binding delivered the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    FriendRequests,
    FriendManagement,
}

/// Verifies a command: the channel belongs to the publisher, the publisher is the user the
/// command type requires, and the body is well formed. `publisher` is `request.params.uuid`,
/// which PubNub binds to the token's authorized uuid.
pub fn parse_command(binding: Binding, channel: &str, publisher: Option<&str>, message: &Json) -> Result<Command, Rejection> {
    let prefix = match binding {
        Binding::FriendRequests => REQUESTS_PREFIX,
        Binding::FriendManagement => MANAGEMENT_PREFIX,
    };
    let owner = suffix_after(channel, prefix).ok_or_else(|| Rejection::with("not a friend command channel", channel))?;
    let publisher = publisher.ok_or_else(|| Rejection::new("publisher uuid is missing"))?;
    if publisher != owner {
        return Err(Rejection::with("publisher does not own this channel", publisher));
    }
    let msg = message.as_object().ok_or_else(|| Rejection::new("message is not a JSON object"))?;
    let kind_name = msg.str("type").ok_or_else(|| Rejection::new("message has no type"))?;
    let kind = CommandKind::from_name(kind_name)
        .filter(|k| k.channel_prefix() == prefix)
        .ok_or_else(|| Rejection::with("unknown command type on this channel", kind_name))?;
    match msg.str("schemaVersion") {
        Some(v) if v == "1" || v.starts_with("1.") => {}
        Some(v) => return Err(Rejection::with("unsupported schemaVersion", v)),
        None => return Err(Rejection::new("message has no schemaVersion")),
    }
    let event_id = match msg.str("eventId") {
        Some(id) if !id.is_empty() && id.len() <= MAX_EVENT_ID_BYTES && !id.contains(':') => id.to_owned(),
        Some(_) => return Err(Rejection::new("eventId must be 1-128 characters without ':'")),
        None => return Err(Rejection::new("message has no eventId")),
    };
    if !matches!(msg.get("ts"), Some(Json::Str(_)) | Some(Json::Num(_))) {
        return Err(Rejection::new("message has no ts"));
    }
    let payload = msg.get("payload").and_then(Json::as_object).ok_or_else(|| Rejection::new("message has no payload object"))?;
    let user = |key: &str| -> Result<UserId, Rejection> {
        let raw = payload.str(key).ok_or_else(|| Rejection::with("payload field missing or not a string", key))?;
        UserId::parse(raw).map_err(|e| Rejection::with(e.reason(), raw))
    };
    if kind == CommandKind::Sync {
        let me = user("userA")?;
        if me.as_str() != publisher {
            return Err(Rejection::new("userA must be the publisher"));
        }
        let page = match payload.get("page") {
            None | Some(Json::Null) => None,
            Some(Json::Str(raw)) => Some(SyncCursor::parse(raw)?),
            Some(_) => return Err(Rejection::new("page must be a string")),
        };
        return Ok(Command { kind, user_a: me.clone(), user_b: me, event_id, page });
    }
    let (user_a, user_b) = (user("userA")?, user("userB")?);
    if user_a == user_b {
        return Err(Rejection::new("userA and userB are the same user"));
    }
    let acting = if kind.published_by_b() { &user_b } else { &user_a };
    if acting.as_str() != publisher {
        return Err(Rejection::new(if kind.published_by_b() {
            "only the requested user (userB) can answer a friend request"
        } else {
            "userA must be the publisher"
        }));
    }
    Ok(Command { kind, user_a, user_b, event_id, page: None })
}

/// A request from `from` to `to`, waiting for `to`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PendingRequest {
    pub id: String,
    pub at: u64,
}

impl FromJson for PendingRequest {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        let obj = v.as_object().ok_or("pending request is not an object")?;
        Ok(PendingRequest { id: obj.field("id")?, at: obj.field("at")? })
    }
}

/// The record's `custom` with `friendCount` set to the atomic counter's value. App Context
/// replaces `custom` as a whole, so every other field is kept.
pub fn friend_count_custom(record: &UserRecord, count: i64) -> JsonObject {
    let mut custom = record.custom.clone();
    custom.set("friendCount", Json::num(count.max(0) as u64));
    custom
}

/// The group a new friend goes into: the one the `count`-th friend falls in.
pub fn group_for_count(count: i64) -> usize {
    (((count.max(1) - 1) as usize) / CHANNELS_PER_GROUP).min(GROUPS_PER_USER - 1)
}

// ---- decisions: command + what was read + now → what to write and send -----------------

/// A message for one user's private `inbox.{userId}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice<P> {
    pub channel: String,
    pub message: Envelope<P>,
}

/// `friend.request.received` on B's inbox: who asks (`requester`'s profile) and since when.
pub fn request_received(requester: &UserRecord, to: &UserId, pending: &PendingRequest, now_ms: u64) -> Notice<FriendRequestReceived> {
    let message = Envelope::new(
        messages::FRIEND_REQUEST_RECEIVED,
        messages::event_id("request", Some(&requester.id), now_ms),
        iso8601(now_ms),
        FriendRequestReceived {
            user_id: UserIdWire(requester.id.clone()),
            name: requester.name.clone(),
            profile_url: requester.profile_url.clone(),
            requested_at: iso8601(pending.at),
        },
    );
    Notice { channel: inbox(to), message }
}

/// `friend.added` on `to`'s inbox about the new friend `other`, as App Context has them.
pub fn friend_added(to: &UserId, other: &UserRecord, added_at: &str, now_ms: u64) -> Notice<FriendAdded> {
    let message = Envelope::new(
        messages::FRIEND_ADDED,
        messages::event_id("added", Some(&other.id), now_ms),
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

/// `friend.removed` on `to`'s inbox about the former friend `other`.
pub fn friend_removed(to: &UserId, other: &UserId, now_ms: u64) -> Notice<FriendRemoved> {
    let removed_at = iso8601(now_ms);
    let message = Envelope::new(
        messages::FRIEND_REMOVED,
        messages::event_id("removed", Some(other.as_str()), now_ms),
        removed_at.clone(),
        FriendRemoved { user_id: other.into(), removed_at },
    );
    Notice { channel: inbox(to), message }
}

/// What a `friend.request` (A → B) does.
// One per execution, matched at once: boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum RequestDecision {
    /// A and B are friends already: nothing to ask.
    AlreadyFriends,
    /// The same command again (same `eventId`): already recorded and announced.
    Duplicate,
    /// Write `pending` under [`super::keys::request_key`], then tell B. A new request from A replaces
    /// an older one (its id, its time).
    Record { pending: PendingRequest, notice: Notice<FriendRequestReceived> },
}

/// `requester` is A's record; `existing` the pending request A → B, if any (not read when
/// they are friends already: it cannot change the outcome).
pub fn decide_request(
    cmd: &Command,
    requester: &UserRecord,
    already_friends: bool,
    existing: Option<&PendingRequest>,
    now_ms: u64,
) -> RequestDecision {
    if already_friends {
        return RequestDecision::AlreadyFriends;
    }
    if existing.is_some_and(|p| p.id == cmd.event_id) {
        return RequestDecision::Duplicate;
    }
    let pending = PendingRequest { id: cmd.event_id.clone(), at: now_ms };
    let notice = request_received(requester, &cmd.user_b, &pending, now_ms);
    RequestDecision::Record { pending, notice }
}

/// `friend.request.declined`: removes the pending request; there must be one.
pub fn decide_decline(pending: Option<&PendingRequest>) -> Result<(), Rejection> {
    match pending {
        Some(_) => Ok(()),
        None => Err(Rejection::new("no pending friend request to decline")),
    }
}

/// An acceptance is refused, before anything is written, when either user is at the limit.
pub fn check_friend_limit(a: &UserRecord, b: &UserRecord) -> Result<(), Rejection> {
    for user in [a, b] {
        if user.custom.u64("friendCount").unwrap_or(0) >= MAX_FRIENDS as u64 {
            return Err(Rejection::with("friend limit (20,000) reached for", &user.id));
        }
    }
    Ok(())
}

/// Groups past the first choice an acceptance may try in all (each costs an API call):
/// two keep it within its 9 API calls.
pub const GROUP_FALLBACKS: u32 = 2;

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
    /// The group to try first: the one `user`'s friend number `count` falls in.
    pub group: usize,
    /// `user`'s friend count after this acceptance, for App Context `friendCount`.
    pub count: i64,
    /// `friend.added` on `user`'s inbox.
    pub notice: Notice<FriendAdded>,
}

/// What an acceptance writes, in order: both group entries (falling over to the next group
/// when one is full), both memberships, both `friendCount`s, both notices, and last the
/// removal of the pending request, so a retry can finish what a failure interrupted.
#[derive(Clone, Debug, PartialEq)]
pub struct AcceptPlan {
    /// `[A's side, B's side]`.
    pub sides: [AcceptSide; 2],
    pub added_at: String,
    /// The friendship instance: the request's id (a later removal claims by it).
    pub request_id: String,
}

impl AcceptPlan {
    /// The membership's custom fields on `friends.{user}`, with the group the entry went into
    /// (removal edits that group).
    pub fn membership(&self, group: usize) -> JsonObject {
        let mut custom = JsonObject::default();
        custom.set("status", Json::str("accepted"));
        custom.set("addedAt", Json::Str(self.added_at.clone()));
        custom.set("group", Json::num(group as u64));
        custom.set("requestId", Json::Str(self.request_id.clone()));
        custom
    }
}

/// B accepts A's `pending` request; `counts` are A's and B's friend counters after the claim
/// (moved by one if this execution owns the claim, as read otherwise).
pub fn plan_accept(cmd: &Command, pending: &PendingRequest, a: &UserRecord, b: &UserRecord, counts: (i64, i64), now_ms: u64) -> AcceptPlan {
    let added_at = iso8601(now_ms);
    let side = |user: &UserId, friend: &UserId, other: &UserRecord, count: i64| AcceptSide {
        user: user.clone(),
        friend: friend.clone(),
        group: group_for_count(count),
        count,
        notice: friend_added(user, other, &added_at, now_ms),
    };
    let sides = [side(&cmd.user_a, &cmd.user_b, b, counts.0), side(&cmd.user_b, &cmd.user_a, a, counts.1)];
    AcceptPlan { sides, added_at, request_id: pending.id.clone() }
}

/// The friendship instance a removal claims: the request id the memberships record (either
/// side's), `legacy` for memberships made before they recorded one. Refused when neither
/// side has the other as a friend.
pub fn removal_instance(a_has_b: Option<&JsonObject>, b_has_a: Option<&JsonObject>) -> Result<String, Rejection> {
    let Some(m) = a_has_b.or(b_has_a) else {
        return Err(Rejection::new("userA and userB are not friends"));
    };
    Ok(m.str("requestId").unwrap_or("legacy").to_owned())
}

/// One side of a removal: `status.{friend}` leaves `group`, `friend` leaves `friends.{user}`.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoveSide {
    pub user: UserId,
    pub friend: UserId,
    /// The group the membership recorded (the first one when it recorded none).
    pub group: usize,
    /// `friend.removed` on `user`'s inbox.
    pub notice: Notice<FriendRemoved>,
}

/// A removes B: per side the group entry then the membership, then both `friendCount`s,
/// then both notices. `a_has_b` / `b_has_a` are the memberships' custom fields as read.
pub fn plan_removal(cmd: &Command, a_has_b: Option<&JsonObject>, b_has_a: Option<&JsonObject>, now_ms: u64) -> [RemoveSide; 2] {
    let side = |user: &UserId, friend: &UserId, m: Option<&JsonObject>| RemoveSide {
        user: user.clone(),
        friend: friend.clone(),
        group: m.and_then(|m| m.u64("group")).unwrap_or(0) as usize,
        notice: friend_removed(user, friend, now_ms),
    };
    [side(&cmd.user_a, &cmd.user_b, a_has_b), side(&cmd.user_b, &cmd.user_a, b_has_a)]
}

/// Pages one `friends.sync.request` may ask for (`payload.pages`, default 1): each is one App
/// Context read and one publish, and one KV read (the friend counter) is shared, so 9 pages
/// (~900 friends) fit an execution's 10 API calls and 10 publishes.
pub const SYNC_PAGES_MAX: u64 = 9;

pub fn sync_pages(message: &Json) -> u64 {
    let payload = message.as_object().and_then(|m| m.get("payload")).and_then(Json::as_object);
    payload.and_then(|p| p.u64("pages")).unwrap_or(1).clamp(1, SYNC_PAGES_MAX)
}

/// Which page of A's friends a `friends.sync.request` reads: online ones first, then the rest.
pub fn sync_read(cmd: &Command) -> (MemberFilter, Option<&str>) {
    match &cmd.page {
        None => (MemberFilter::Online, None),
        Some(c) => (if c.online { MemberFilter::Online } else { MemberFilter::NotOnline }, c.token.as_deref()),
    }
}

/// The `friends.sync` answering `cmd` with `page` (read with [`sync_read`]); `total_friends`
/// is A's friend counter (exact; App Context `friendCount` may lag).
pub fn sync_reply(cmd: &Command, page: MembersPage, total_friends: u64, now_ms: u64) -> Notice<FriendsSync> {
    let me = &cmd.user_a;
    let reading_online = cmd.page.as_ref().is_none_or(|c| c.online);
    let mut friends = Vec::with_capacity(page.members.len());
    let mut online_friends = Vec::new();
    for m in page.members {
        let online = m.user.custom.bool("online") == Some(true);
        if online {
            online_friends.push(m.user.id.clone());
        }
        friends.push(SyncedFriend {
            last_seen: m.user.custom.str("lastSeen").map(str::to_owned),
            user_id: UserIdWire(m.user.id),
            name: m.user.name,
            profile_url: m.user.profile_url,
            online,
        });
    }
    // Online friends first: when they run out, the next page starts the others.
    let total_online = page.total.map(|t| if reading_online { t } else { total_friends.saturating_sub(t) });
    let next = match (reading_online, page.next) {
        (online, Some(token)) => Some(SyncCursor { online, token: Some(token) }),
        (true, None) if total_online.is_none_or(|o| o < total_friends) => Some(SyncCursor { online: false, token: None }),
        _ => None,
    };
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
            next: next.as_ref().map(SyncCursor::to_wire),
            more: false,
        },
    );
    Notice { channel: inbox(me), message }
}
