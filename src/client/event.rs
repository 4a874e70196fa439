//! Wire messages → typed client events. Every message is an envelope (`type`,
//! `schemaVersion`, `eventId`, `ts`, `payload`; seed §6 and docs/design.md §3). Anything malformed
//! is refused with a reason; nothing here panics on input.

use crate::domain::messages::{
    FRIENDS_SYNC, FRIEND_ADDED, FRIEND_COMMAND_RESULT, FRIEND_OFFLINE, FRIEND_ONLINE, FRIEND_REMOVED, FRIEND_REQUEST_CANCELLED,
    FRIEND_REQUEST_DECLINED, FRIEND_REQUEST_RECEIVED, STATUS_COUNT,
};
use crate::domain::time::parse_iso8601;
use crate::domain::{Json, JsonObject, UserId};
#[allow(unused_imports)]
use crate::prelude::*;

/// One accepted envelope.
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    pub event_id: String,
    /// `ts` in epoch milliseconds.
    pub ts_ms: u64,
    pub event: ClientEvent,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ClientEvent {
    Online {
        user: UserId,
        name: Option<String>,
        profile_url: Option<String>,
        status_message: Option<String>,
        /// The user's version (docs/design.md §4); `None` from older servers.
        version: Option<u64>,
    },
    Offline {
        user: UserId,
        name: Option<String>,
        last_seen_ms: Option<u64>,
        version: Option<u64>,
    },
    Added {
        user: UserId,
        name: Option<String>,
        profile_url: Option<String>,
        online: bool,
    },
    Removed {
        user: UserId,
    },
    RequestReceived {
        user: UserId,
        name: Option<String>,
        profile_url: Option<String>,
        requested_at_ms: Option<u64>,
        /// The request's id (docs/design.md §4); `None` from older servers.
        request_id: Option<String>,
    },
    /// `friend.request.declined` (`outgoing`: `user` declined this user's request) or
    /// `friend.request.cancelled` (`user` took back its request to this user).
    RequestClosed {
        user: UserId,
        outgoing: bool,
        request_id: Option<String>,
    },
    Count {
        online_count: u64,
        delta_from_last: Option<i64>,
        peak_today: Option<u64>,
        calculated_at_ms: Option<u64>,
    },
    Sync(SyncPage),
    /// The answer to one of this client's commands (`friend.command.result`).
    CommandResult(CommandOutcome),
}

/// How a command this client sent ended: `eventId` and `type` are the command's; `reason` a
/// stable code (`not_pending`, `already_friends`, …) when it was refused.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandOutcome {
    pub event_id: String,
    pub command: String,
    pub ok: bool,
    pub reason: Option<String>,
}

/// The command a client publishes on `friend-management.{userId}` to get one page of its
/// friends as a `friends.sync` message on its inbox (payload `{userA, page}`).
pub use crate::domain::contract::FRIENDS_SYNC_REQUEST;

/// One page of the initial load: a `friends.sync` on the inbox (the answer to a
/// `friends.sync.request`, or a push), or the same envelope as an HTTP reply.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncPage {
    /// Whose friends these are: must be the signed-in user.
    pub user_id: String,
    /// The `eventId` of the `friends.sync.request` this page answers, if any.
    pub request_id: Option<String>,
    pub friends: Vec<SyncFriend>,
    /// Entries refused (bad user id, not an object); the rest of the page still applies.
    pub skipped: usize,
    pub total_friends: Option<u64>,
    pub total_online: Option<u64>,
    /// Cursor of the next page; `None` on the last one.
    pub next: Option<String>,
    /// Another page answering the same request follows: the cursor is not to be asked for.
    pub more: bool,
    /// The chain this page is on and its place there (`core::sync`).
    pub chain: Option<u32>,
    pub seq: Option<u32>,
    /// The head: the first cursor of every chain (`None`: known to be empty).
    pub chains: Option<Vec<Option<String>>>,
    /// The head: the chains before this index are read by the same answer.
    pub serves: Option<u32>,
    /// First page only: pending requests to this user (`None` on other pages).
    pub incoming: Option<Vec<PendingEntry>>,
    /// First page only: pending requests this user sent.
    pub outgoing: Option<Vec<PendingEntry>>,
    /// First page only: the users this user blocked.
    pub blocked: Option<Vec<UserId>>,
}

/// A pending request listed on the first sync page: the other user, and when it was sent.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingEntry {
    pub user: UserId,
    pub name: Option<String>,
    pub requested_at_ms: Option<u64>,
    pub request_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SyncFriend {
    pub user: UserId,
    pub name: Option<String>,
    pub profile_url: Option<String>,
    pub status_message: Option<String>,
    pub online: bool,
    /// The time of the friend's last status change (App Context `lastSeen`).
    pub last_seen_ms: Option<u64>,
    /// The friend's version (docs/design.md §4); `None` from older servers.
    pub version: Option<u64>,
}

/// Why a message was not turned into an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotAnEvent {
    /// A well-formed message of a type this client does not handle (newer servers may add some).
    UnknownType(String),
    Rejected(String),
}

fn reject(reason: &str) -> NotAnEvent {
    NotAnEvent::Rejected(reason.to_owned())
}

fn reject_with(reason: &str, detail: &str) -> NotAnEvent {
    let mut s = String::from(reason);
    s.push_str(": ");
    s.push_str(detail);
    NotAnEvent::Rejected(s)
}

/// `ts` as the Functions write it (ISO-8601), or epoch milliseconds.
pub fn parse_ts(v: Option<&Json>) -> Option<u64> {
    match v? {
        Json::Str(s) => parse_iso8601(s),
        Json::Num(n) if n.is_finite() && *n >= 0.0 && *n < 9.0e15 => Some(*n as u64),
        _ => None,
    }
}

fn opt_str(o: &JsonObject, key: &str) -> Option<String> {
    o.str(key).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn user_field(o: &JsonObject, key: &str) -> Result<UserId, NotAnEvent> {
    let raw = o.str(key).ok_or_else(|| reject_with("payload field missing or not a string", key))?;
    UserId::parse(raw).map_err(|e| reject_with(e.reason(), raw))
}

fn time_field(o: &JsonObject, key: &str) -> Option<u64> {
    o.get(key).and_then(|v| parse_ts(Some(v)))
}

// Long on purpose: one arm per message type, each naming its fields.
pub fn parse(message: &Json) -> Result<Incoming, NotAnEvent> {
    let msg = message.as_object().ok_or_else(|| reject("message is not a JSON object"))?;
    if let Some(error) = msg.str("error") {
        // The friends-sync endpoint answers 4xx with `{"error": reason}`.
        return Err(reject_with("server refused", error));
    }
    let kind = msg.str("type").ok_or_else(|| reject("message has no type"))?;
    match msg.str("schemaVersion") {
        Some(v) if v == "1" || v.starts_with("1.") => {}
        Some(v) => return Err(reject_with("unsupported schemaVersion", v)),
        None => return Err(reject("message has no schemaVersion")),
    }
    let event_id = match msg.str("eventId") {
        Some(id) if !id.is_empty() && id.len() <= 256 => id.to_owned(),
        Some(_) => return Err(reject("eventId must be 1-256 characters")),
        None => return Err(reject("message has no eventId")),
    };
    let ts_ms = parse_ts(msg.get("ts")).ok_or_else(|| reject("ts is missing or not an ISO-8601 time"))?;
    let payload = msg.get("payload").and_then(Json::as_object).ok_or_else(|| reject("message has no payload object"))?;
    let event = match kind {
        FRIEND_ONLINE => ClientEvent::Online {
            user: user_field(payload, "userId")?,
            name: opt_str(payload, "name"),
            profile_url: opt_str(payload, "profileUrl"),
            status_message: opt_str(payload, "statusMessage"),
            version: payload.u64("version"),
        },
        FRIEND_OFFLINE => ClientEvent::Offline {
            user: user_field(payload, "userId")?,
            name: opt_str(payload, "name"),
            last_seen_ms: time_field(payload, "lastSeen"),
            version: payload.u64("version"),
        },
        FRIEND_ADDED => ClientEvent::Added {
            user: user_field(payload, "userId")?,
            name: opt_str(payload, "name"),
            profile_url: opt_str(payload, "profileUrl"),
            online: payload.bool("online").unwrap_or(false),
        },
        FRIEND_REMOVED => ClientEvent::Removed { user: user_field(payload, "userId")? },
        FRIEND_REQUEST_RECEIVED => ClientEvent::RequestReceived {
            user: user_field(payload, "userId")?,
            name: opt_str(payload, "name"),
            profile_url: opt_str(payload, "profileUrl"),
            requested_at_ms: time_field(payload, "requestedAt"),
            request_id: opt_str(payload, "requestId"),
        },
        FRIEND_REQUEST_DECLINED | FRIEND_REQUEST_CANCELLED => ClientEvent::RequestClosed {
            user: user_field(payload, "userId")?,
            outgoing: kind == FRIEND_REQUEST_DECLINED,
            request_id: opt_str(payload, "requestId"),
        },
        STATUS_COUNT => ClientEvent::Count {
            online_count: payload.u64("onlineCount").ok_or_else(|| reject("onlineCount is missing or not a count"))?,
            delta_from_last: match payload.get("deltaFromLast") {
                Some(Json::Num(n)) if n.abs() < 9.0e15 && *n == (*n as i64) as f64 => Some(*n as i64),
                _ => None,
            },
            peak_today: payload.u64("peakToday"),
            calculated_at_ms: time_field(payload, "calculatedAt"),
        },
        FRIENDS_SYNC => ClientEvent::Sync(sync_page(payload)?),
        FRIEND_COMMAND_RESULT => ClientEvent::CommandResult(CommandOutcome {
            event_id: payload
                .str("eventId")
                .filter(|id| !id.is_empty())
                .ok_or_else(|| reject("friend.command.result has no eventId"))?
                .to_owned(),
            command: payload.str("command").unwrap_or("").to_owned(),
            ok: payload.bool("ok").ok_or_else(|| reject("friend.command.result has no ok"))?,
            reason: opt_str(payload, "reason"),
        }),
        other => return Err(NotAnEvent::UnknownType(other.to_owned())),
    };
    Ok(Incoming { event_id, ts_ms, event })
}

// Long on purpose: a field-by-field reader of one message (`friends.sync`), each field's refusal
// beside it.
fn sync_page(p: &JsonObject) -> Result<SyncPage, NotAnEvent> {
    let user_id = p.str("userId").ok_or_else(|| reject("friends.sync has no userId"))?.to_owned();
    let listed = match p.get("friends") {
        Some(Json::Arr(items)) => items.as_slice(),
        None | Some(Json::Null) => &[],
        Some(_) => return Err(reject("friends.sync friends is not an array")),
    };
    let online_ids: Vec<&str> = match p.get("onlineFriends") {
        Some(Json::Arr(ids)) => ids
            .iter()
            .filter_map(|v| match v {
                Json::Str(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut friends = Vec::with_capacity(listed.len());
    let mut skipped = 0;
    for item in listed {
        let Some(o) = item.as_object() else {
            skipped += 1;
            continue;
        };
        let Some(user) = o.str("userId").and_then(|raw| UserId::parse(raw).ok()) else {
            skipped += 1;
            continue;
        };
        let online = o.bool("online").unwrap_or_else(|| online_ids.contains(&user.as_str()));
        friends.push(SyncFriend {
            name: opt_str(o, "name"),
            profile_url: opt_str(o, "profileUrl"),
            status_message: opt_str(o, "statusMessage"),
            online,
            last_seen_ms: time_field(o, "lastSeen"),
            version: o.u64("version"),
            user,
        });
    }
    let next = match p.get("next") {
        Some(Json::Str(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let request_id = p.str("requestId").map(str::to_owned);
    // Lists of the first page; an entry with a bad id is left out, as a bad friend entry is.
    let pending = |key: &str| match p.get(key) {
        Some(Json::Arr(items)) => Some(
            items
                .iter()
                .filter_map(Json::as_object)
                .filter_map(|o| {
                    let user = UserId::parse(o.str("userId")?).ok()?;
                    Some(PendingEntry {
                        user,
                        name: opt_str(o, "name"),
                        requested_at_ms: time_field(o, "requestedAt"),
                        request_id: opt_str(o, "requestId"),
                    })
                })
                .collect::<Vec<_>>(),
        ),
        _ => None,
    };
    let blocked = match p.get("blocked") {
        Some(Json::Arr(items)) => Some(
            items
                .iter()
                .filter_map(|v| match v {
                    Json::Str(s) => UserId::parse(s).ok(),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    };
    Ok(SyncPage {
        user_id,
        request_id,
        friends,
        skipped,
        total_friends: p.u64("totalFriends"),
        total_online: p.u64("totalOnline"),
        next,
        more: p.bool("more") == Some(true),
        chain: p.u64("chain").and_then(|n| u32::try_from(n).ok()),
        serves: p.u64("serves").and_then(|n| u32::try_from(n).ok()),
        seq: p.u64("seq").and_then(|n| u32::try_from(n).ok()),
        chains: match p.get("chains") {
            Some(Json::Arr(items)) => Some(
                items
                    .iter()
                    .map(|v| match v {
                        Json::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        },
        incoming: pending("incoming"),
        outgoing: pending("outgoing"),
        blocked,
    })
}
