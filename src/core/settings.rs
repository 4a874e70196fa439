//! `user.settings` (docs/design.md §3): a user's own `invisible` and `statusMessage`, kept in
//! App Context `custom`, and what friends are told when they change.

#[allow(unused_imports)]
use crate::prelude::*;

use super::friends::Refused;
use super::presence::STATUS_PUBLISHED_AT;
use super::records::UserRecord;
use super::Rejection;
use crate::domain::contract::{Reason, MAX_STATUS_MESSAGE_CHARS};
use crate::domain::messages::{self, Envelope, FriendOffline, FriendOnline, StatusPayload, UserIdWire};
use crate::domain::time::iso8601;
use crate::domain::{Json, JsonObject};

/// What a `user.settings` asks for; an absent field is left as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserSettings {
    pub invisible: Option<bool>,
    /// `Some(None)`: clear it (`null` or `""`).
    pub status_message: Option<Option<String>>,
}

/// The settings of a verified `user.settings` message (`core::friends::parse_command` checked
/// the envelope and the publisher): at least one field; `invisible` a boolean; `statusMessage`
/// a string of at most 100 characters (UTF-16 units, as a JS client counts), or `null`.
/// Anything else is `invalid` and nothing is stored.
pub fn parse_settings(message: &Json) -> Result<UserSettings, Refused> {
    let invalid = |why: &'static str| Refused::new(Reason::Invalid, Rejection::new(why));
    let payload = message.as_object().and_then(|m| m.get("payload")).and_then(Json::as_object).ok_or_else(|| invalid("no payload"))?;
    let invisible = match payload.get("invisible") {
        None => None,
        Some(Json::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid("invisible must be a boolean")),
    };
    let status_message = match payload.get("statusMessage") {
        None => None,
        Some(Json::Null) => Some(None),
        Some(Json::Str(s)) if s.encode_utf16().count() > MAX_STATUS_MESSAGE_CHARS => {
            return Err(invalid("statusMessage is longer than 100 characters"))
        }
        Some(Json::Str(s)) => Some((!s.is_empty()).then(|| s.clone())),
        Some(_) => return Err(invalid("statusMessage must be a string or null")),
    };
    if invisible.is_none() && status_message.is_none() {
        return Err(invalid("user.settings has neither invisible nor statusMessage"));
    }
    Ok(UserSettings { invisible, status_message })
}

/// Presence is read (`whereNow`) only to become visible again: then friends are told
/// "online" if the user is connected.
pub fn needs_presence(settings: &UserSettings, user: &UserRecord) -> bool {
    settings.invisible == Some(false) && super::visibility::is_invisible(Some(user))
}

/// What a `user.settings` writes and announces: `custom` (App Context, written with the
/// record's ETag) and, when friends' view changes, one message for `status.{userId}`.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingsDecision {
    pub custom: JsonObject,
    pub message: Option<Envelope<StatusPayload>>,
    /// With a message: what the settle path announces again if its publish fails.
    pub republish: Option<super::presence::Observation>,
}

/// `user` as read; `present` whether the user is connected (read only when
/// [`needs_presence`]); `shard` the user's presence shard.
/// - invisible on while friends see the user online → `friend.offline` (lastSeen now);
/// - invisible off while connected → `friend.online` (with the status message);
/// - a new status message while friends see the user online → `friend.online` again, with
///   it: the live update is a re-announcement (clients take a `friend.online` of an online
///   friend as an update of its fields), never sent while the user is invisible or offline;
/// - otherwise only `custom` changes (friends get the status message with the next
///   `friend.online` or `friends.sync`).
// Long on purpose: the whole `user.settings` decision (what changes, what friends are told, what is
// answered) in one place, as the contract states it.
pub fn decide_settings(settings: &UserSettings, user: &UserRecord, present: bool, shard: u32, now_ms: u64) -> SettingsDecision {
    let was_invisible = super::visibility::is_invisible(Some(user));
    let invisible = settings.invisible.unwrap_or(was_invisible);
    let online = user.custom.bool("online") == Some(true);
    let mut custom = user.custom.clone();
    custom.set("invisible", Json::Bool(invisible));

    let old_message = user.custom.str("statusMessage").map(str::to_owned);
    if let Some(new) = &settings.status_message {
        custom.0.retain(|(k, _)| k != "statusMessage");
        if let Some(text) = new {
            custom.set("statusMessage", Json::Str(text.clone()));
        }
    }
    let status_message = custom.str("statusMessage").map(str::to_owned);
    let now = iso8601(now_ms);
    let becomes = if invisible && online {
        Some(false)
    } else if !invisible && ((was_invisible && present) || (online && status_message != old_message)) {
        Some(true)
    } else {
        None
    };
    // A write that changes what friends see (presence, or the status message a sync page
    // carries) advances the user's version (docs/design.md §4); a re-send that changes
    // nothing writes nothing.
    let version = super::presence::next_version(&user.custom);
    if custom != user.custom || becomes.is_some() {
        custom.set(super::presence::VERSION, Json::num(version));
    }
    let Some(announce_online) = becomes else { return SettingsDecision { custom, message: None, republish: None } };
    if announce_online != online {
        // A change friends see, recorded as presence records one: the presence decisions
        // order later events against it and debounce after it.
        custom.set("online", Json::Bool(announce_online));
        custom.set("lastSeen", Json::Str(now.clone()));
        custom.set(if announce_online { "lastOnline" } else { "lastOffline" }, Json::Str(now.clone()));
        custom.set("shardId", Json::num(shard as u64));
        custom.set(STATUS_PUBLISHED_AT, Json::num(now_ms));
    }
    let id = UserIdWire(user.id.clone());
    let message = if announce_online {
        Envelope::new(
            messages::FRIEND_ONLINE,
            messages::versioned_event_id("status", &user.id, now_ms, Some(version)),
            now,
            StatusPayload::Online(FriendOnline {
                user_id: id,
                name: user.name.clone(),
                profile_url: user.profile_url.clone(),
                status_message,
                version: Some(version),
            }),
        )
    } else {
        Envelope::new(
            messages::FRIEND_OFFLINE,
            messages::versioned_event_id("status", &user.id, now_ms, Some(version)),
            now.clone(),
            StatusPayload::Offline(FriendOffline { user_id: id, name: user.name.clone(), last_seen: now, version: Some(version) }),
        )
    };
    let mut again = super::presence::Observation::event(user.id.clone(), announce_online, now_ms);
    again.republish = Some(version);
    SettingsDecision { custom, message: Some(message), republish: Some(again) }
}
