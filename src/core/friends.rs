//! Friend commands (DESIGN.md §3): who may send which command, and the keys and records
//! that make every command idempotent.

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use super::Rejection;
use crate::domain::channels::{suffix_after, CHANNELS_PER_GROUP, GROUPS_PER_USER};
pub use crate::domain::channels::{MANAGEMENT_PREFIX, REQUESTS_PREFIX};
use crate::domain::json::FromJson;
use crate::domain::{Json, JsonObject, UserId};
use crate::host::UserRecord;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandKind {
    /// `friend.request` on `friend-requests.{userA}`: A asks B.
    Request,
    /// `friend.request.accepted` on `friend-requests.{userB}`: B accepts A's request.
    Accept,
    /// `friend.request.declined` on `friend-requests.{userB}`.
    Decline,
    /// `friend.remove` on `friend-management.{userA}`: A removes B.
    Remove,
    /// `friends.sync.request` on `friend-management.{userA}`: A asks for a page of its
    /// friends on its own inbox (`userB` is A as well; `page` is the cursor).
    Sync,
}

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
    let kind = match (binding, kind_name) {
        (Binding::FriendRequests, "friend.request") => CommandKind::Request,
        (Binding::FriendRequests, "friend.request.accepted") => CommandKind::Accept,
        (Binding::FriendRequests, "friend.request.declined") => CommandKind::Decline,
        (Binding::FriendManagement, "friend.remove") => CommandKind::Remove,
        (Binding::FriendManagement, "friends.sync.request") => CommandKind::Sync,
        _ => return Err(Rejection::with("unknown command type on this channel", kind_name)),
    };
    match msg.str("schemaVersion") {
        Some(v) if v == "1" || v.starts_with("1.") => {}
        Some(v) => return Err(Rejection::with("unsupported schemaVersion", v)),
        None => return Err(Rejection::new("message has no schemaVersion")),
    }
    let event_id = match msg.str("eventId") {
        Some(id) if !id.is_empty() && id.len() <= 128 && !id.contains(':') => id.to_owned(),
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
    let acting = match kind {
        CommandKind::Request | CommandKind::Remove | CommandKind::Sync => &user_a,
        CommandKind::Accept | CommandKind::Decline => &user_b,
    };
    if acting.as_str() != publisher {
        return Err(Rejection::new(match kind {
            CommandKind::Accept | CommandKind::Decline => "only the requested user (userB) can answer a friend request",
            _ => "userA must be the publisher",
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
