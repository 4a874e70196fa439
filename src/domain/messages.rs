//! Message contracts (seed §6, plus the inbox messages of docs/design.md §3). Field names are the
//! wire names; clients outside this repo parse them.

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use super::digits::push_u64;
use super::ids::UserId;

pub const SCHEMA_VERSION: &str = "1.0.0";

pub const FRIEND_ONLINE: &str = "friend.online";
pub const FRIEND_OFFLINE: &str = "friend.offline";
pub const STATUS_COUNT: &str = "status.count";
pub const FRIEND_ADDED: &str = "friend.added";
pub const FRIEND_REMOVED: &str = "friend.removed";
pub const FRIEND_REQUEST_RECEIVED: &str = "friend.request.received";
pub const FRIENDS_SYNC: &str = "friends.sync";
pub const FRIEND_COMMAND_RESULT: &str = "friend.command.result";
/// On the requester's inbox: the user asked declined the request.
pub const FRIEND_REQUEST_DECLINED: &str = "friend.request.declined";
/// On the asked user's inbox: the requester took the request back.
pub const FRIEND_REQUEST_CANCELLED: &str = "friend.request.cancelled";
/// On `operators.metrics` (`core::metrics`): the operators' snapshot; no user token reads it.
pub const METRICS_SNAPSHOT: &str = "metrics.snapshot";

/// Every message: `type`, `schemaVersion`, `eventId`, `ts`, `payload`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<P> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub schema_version: &'static str,
    pub event_id: String,
    pub ts: String,
    pub payload: P,
}

impl<P> Envelope<P> {
    pub fn new(kind: &'static str, event_id: String, ts: String, payload: P) -> Self {
        Envelope { kind, schema_version: SCHEMA_VERSION, event_id, ts, payload }
    }
}

/// `evt_{what}_{subject}_{ms}` as in the seed. Deterministic, so a retried execution that
/// re-sends the same decision produces the same id and clients drop the duplicate.
pub fn event_id(what: &str, subject: Option<&str>, ms: u64) -> String {
    let mut s = String::from("evt_");
    s.push_str(what);
    s.push('_');
    if let Some(subject) = subject {
        s.push_str(subject);
        s.push('_');
    }
    push_u64(&mut s, ms);
    s
}

/// `evt_{what}_{user}_{ms}_{version}`: a status message; two changes of one user stamped with
/// the same time (presence times are whole seconds) are still two messages.
pub fn versioned_event_id(what: &str, user: &str, ms: u64, version: Option<u64>) -> String {
    let mut s = event_id(what, Some(user), ms);
    if let Some(v) = version {
        s.push('_');
        push_u64(&mut s, v);
    }
    s
}

/// `evt_{what}_{subject}_{instance}`: the id of a notice about one thing that happens once
/// (a request, a friendship made or removed), whenever it is sent: every attempt of a command
/// sends the same message, and clients drop the repeats.
pub fn stable_event_id(what: &str, subject: &str, instance: &str) -> String {
    let mut s = String::from("evt_");
    for part in [what, "_", subject, "_", instance] {
        s.push_str(part);
    }
    s
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendOnline {
    pub user_id: UserIdWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// The user's version (docs/design.md §4): clients keep the highest applied per user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendOffline {
    pub user_id: UserIdWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub last_seen: String,
    /// The user's version (docs/design.md §4): clients keep the highest applied per user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// Either status message; one publish per decision on `status.{userId}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StatusPayload {
    Online(FriendOnline),
    Offline(FriendOffline),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCount {
    pub online_count: u64,
    pub delta_from_last: i64,
    pub peak_today: u64,
    pub calculated_at: String,
    pub shards_counted: u32,
}

/// On `inbox.{userId}`; `userId` is the *other* user (the new friend).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendAdded {
    pub user_id: UserIdWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_url: Option<String>,
    pub online: bool,
    pub added_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendRemoved {
    pub user_id: UserIdWire,
    pub removed_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
/// Also the payload of `friend.request.declined` and `friend.request.cancelled` (`userId` the
/// other user, `requestedAt` the request's; no profile): one payload type keeps the bundle small.
pub struct FriendRequestReceived {
    pub user_id: UserIdWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_url: Option<String>,
    pub requested_at: String,
    /// The request's id (the `eventId` of the `friend.request` that made it): requests are
    /// ordered per request, never by time (docs/design.md §4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One message of the initial load, on `inbox.{userId}` (only that user can read it) in answer
/// to a `friends.sync.request`: the head of a load (totals, lists, `chains`) or a page of
/// friends on one chain (`chain`, `seq`, `next`), online friends' chains first (`core::sync`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendsSync {
    pub user_id: UserIdWire,
    pub request_id: String,
    pub friends: Vec<SyncedFriend>,
    pub online_friends: Vec<String>,
    /// The head only (the first message of a load): the friend count and how many are online.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_friends: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_online: Option<u64>,
    /// The cursor of the chain's next page; `null` on the chain's last page.
    pub next: Option<String>,
    /// Another page answering the same request follows (the client does not ask for `next`).
    #[serde(skip_serializing_if = "core::ops::Not::not")]
    pub more: bool,
    /// Pages: the chain this page is on (its index in the head's `chains`) and its place there
    /// (0 for the first), so a client sees a page it never got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
    /// The head only: the first cursor of every chain (`core::sync`), `null` for a chain known
    /// to be empty; the answer's own pages are on the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chains: Option<Vec<Option<String>>>,
    /// The head only: the chains before this index are read by the same answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serves: Option<u32>,
    /// Head only: requests waiting for this user's answer (up to 100, newest last).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incoming: Option<Vec<PendingEntry>>,
    /// Head only: this user's requests waiting for an answer (up to 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outgoing: Option<Vec<PendingEntry>>,
    /// Head only: the users this user blocked (up to 100; private to this inbox).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Vec<String>>,
}

/// A pending request in a `friends.sync` page: the other user and when it was sent.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingEntry {
    pub user_id: UserIdWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub requested_at: String,
    /// The request's id (the `eventId` of the `friend.request` that made it): requests are
    /// ordered per request, never by time (docs/design.md §4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncedFriend {
    pub user_id: UserIdWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_url: Option<String>,
    pub online: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// The user's version (docs/design.md §4): clients keep the highest applied per user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// The answer to one client command, on the sender's `inbox.{sender}`: exactly one outcome
/// per command `eventId`. A re-sent command is answered again with the same message (same
/// `eventId`, `ts` and payload), so a client re-sends until it has one and drops repeats.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommandResult {
    /// The command's own `eventId`; `null` for a command refused for lacking a usable one.
    #[serde(rename = "eventId")]
    pub event_id: Option<String>,
    /// The command's `type`.
    pub command: String,
    pub ok: bool,
    /// A stable code ([`Reason`]) when `ok` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// `friend.command.result` for the command `event_id` of type `command` from `sender`,
/// decided at `at_ms`; `reason` is `None` when it succeeded. Its own `eventId` is derived from
/// the command's, so every answer to the same command is the same message.
pub fn command_result(
    sender: &UserId,
    event_id: Option<&str>,
    command: &str,
    reason: Option<Reason>,
    at_ms: u64,
) -> (String, Envelope<CommandResult>) {
    // Without the command's id, the answer's own is made unique by its time.
    let id = match event_id {
        Some(event_id) => {
            let mut id = String::from("evt_result_");
            id.push_str(event_id);
            id
        }
        None => self::event_id("invalid", None, at_ms),
    };
    let payload = CommandResult {
        event_id: event_id.map(str::to_owned),
        command: command.to_owned(),
        ok: reason.is_none(),
        reason: reason.map(|r| r.code()),
    };
    (super::channels::inbox(sender), Envelope::new(FRIEND_COMMAND_RESULT, id, super::time::iso8601(at_ms), payload))
}

/// A user id as it goes on the wire (a plain string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserIdWire(pub String);

impl From<&UserId> for UserIdWire {
    fn from(id: &UserId) -> Self {
        UserIdWire(id.as_str().to_owned())
    }
}

impl Serialize for UserIdWire {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Why a command was refused: the stable `reason` of a `friend.command.result` (clients
/// switch on these codes; the Function's log says more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A user named in the command has no App Context record.
    UnknownUser,
    /// `userA` and `userB` are the same user.
    SelfFriend,
    /// A request or acceptance between users who are friends already.
    AlreadyFriends,
    /// A request while the sender's earlier request to the same user still waits.
    AlreadyPending,
    /// An acceptance or decline without a pending request.
    NotPending,
    /// A removal between users who are not friends.
    NotFriends,
    /// Either user is at 20,000 friends, or the friends groups tried were full.
    Limit,
    /// The command is malformed (type, schemaVersion, eventId, ts, payload, page cursor).
    Invalid,
    /// The publisher does not own the channel, or is not the user the command type requires.
    Forbidden,
}

impl Reason {
    /// Every reason, for reading a code back.
    pub const ALL: [Reason; 9] = [
        Reason::UnknownUser,
        Reason::SelfFriend,
        Reason::AlreadyFriends,
        Reason::AlreadyPending,
        Reason::NotPending,
        Reason::NotFriends,
        Reason::Limit,
        Reason::Invalid,
        Reason::Forbidden,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::UnknownUser => "unknown_user",
            Reason::SelfFriend => "self",
            Reason::AlreadyFriends => "already_friends",
            Reason::AlreadyPending => "already_pending",
            Reason::NotPending => "not_pending",
            Reason::NotFriends => "not_friends",
            Reason::Limit => "limit",
            Reason::Invalid => "invalid",
            Reason::Forbidden => "forbidden",
        }
    }

    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }
}
