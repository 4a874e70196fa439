//! The client commands (docs/design.md §3): what a client publishes to the friend Functions, on
//! which channel, and who must publish it. Every command is an envelope
//! `{type, schemaVersion, eventId, ts, payload: {userA, userB?, page?, invisible?, statusMessage?}}`;
//! the Functions verify
//! it (`core::friends::parse_command`), clients build it here. The messages the Functions
//! send are in [`super::messages`].

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use super::digits::push_u64;
use super::ids::UserId;
use super::messages::Envelope;
use super::names::{MANAGEMENT_PREFIX, REQUESTS_PREFIX};
use super::time::iso8601;

pub const FRIEND_REQUEST: &str = "friend.request";
pub const FRIEND_REQUEST_ACCEPTED: &str = "friend.request.accepted";
pub const FRIEND_REQUEST_DECLINED: &str = "friend.request.declined";
pub const FRIEND_REMOVE: &str = "friend.remove";
pub const FRIENDS_SYNC_REQUEST: &str = "friends.sync.request";
pub const FRIEND_REQUEST_CANCEL: &str = "friend.request.cancel";
pub const FRIEND_BLOCK: &str = "friend.block";
pub const FRIEND_UNBLOCK: &str = "friend.unblock";
pub const USER_SETTINGS: &str = "user.settings";
/// The longest `statusMessage` (UTF-16 units, as a JS client counts `length`).
pub const MAX_STATUS_MESSAGE_CHARS: usize = 100;

pub use super::messages::Reason;

/// The longest `eventId` a command may carry (no `:` either: it is part of KV keys).
pub const MAX_EVENT_ID_BYTES: usize = 128;

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
    /// friends on its own inbox (no `userB`; `page` is the cursor, `null` for the first).
    Sync,
    /// `friend.request.cancel` on `friend-requests.{userA}`: A withdraws its request to B.
    Cancel,
    /// `friend.block` on `friend-management.{userA}`: A blocks B.
    Block,
    /// `friend.unblock` on `friend-management.{userA}`.
    Unblock,
    /// `user.settings` on `friend-management.{userA}` (no `userB`): `invisible`,
    /// `statusMessage`.
    Settings,
}

impl CommandKind {
    pub fn name(self) -> &'static str {
        match self {
            CommandKind::Request => FRIEND_REQUEST,
            CommandKind::Accept => FRIEND_REQUEST_ACCEPTED,
            CommandKind::Decline => FRIEND_REQUEST_DECLINED,
            CommandKind::Remove => FRIEND_REMOVE,
            CommandKind::Sync => FRIENDS_SYNC_REQUEST,
            CommandKind::Cancel => FRIEND_REQUEST_CANCEL,
            CommandKind::Block => FRIEND_BLOCK,
            CommandKind::Unblock => FRIEND_UNBLOCK,
            CommandKind::Settings => USER_SETTINGS,
        }
    }

    pub fn from_name(name: &str) -> Option<CommandKind> {
        [
            CommandKind::Request,
            CommandKind::Accept,
            CommandKind::Decline,
            CommandKind::Remove,
            CommandKind::Sync,
            CommandKind::Cancel,
            CommandKind::Block,
            CommandKind::Unblock,
            CommandKind::Settings,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }

    /// The prefix of the channel it goes on; the rest of the name is the publisher's id.
    pub fn channel_prefix(self) -> &'static str {
        match self {
            CommandKind::Request | CommandKind::Accept | CommandKind::Decline | CommandKind::Cancel => REQUESTS_PREFIX,
            CommandKind::Remove | CommandKind::Sync | CommandKind::Block | CommandKind::Unblock | CommandKind::Settings => {
                MANAGEMENT_PREFIX
            }
        }
    }

    /// Commands about the publisher alone: no `userB`.
    pub fn about_self(self) -> bool {
        matches!(self, CommandKind::Sync | CommandKind::Settings)
    }

    /// Whether the publisher must be `userB` (the requested user answers) rather than `userA`.
    pub fn published_by_b(self) -> bool {
        matches!(self, CommandKind::Accept | CommandKind::Decline)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandPayload {
    pub user_a: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_b: Option<String>,
    /// `friends.sync.request` only: `Some(None)` is the first page (`null` on the wire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<Option<String>>,
    /// `user.settings` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invisible: Option<bool>,
    /// `user.settings` only: `Some(None)` clears the message (`null` on the wire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<Option<String>>,
}

/// A command ready to publish: `{channel, message}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClientCommand {
    pub channel: String,
    pub message: Envelope<CommandPayload>,
}

/// `{type without dots}-{nowMs}-{nonce}`: unique per sender as long as the nonce is (a
/// counter, a random number). Without the user id, so every valid id fits the 128 bytes.
/// `None` when the nonce would make it too long or holds a `:`.
pub fn command_event_id(kind: CommandKind, now_ms: u64, nonce: &str) -> Option<String> {
    let mut s: String = kind.name().chars().map(|c| if c == '.' { '-' } else { c }).collect();
    s.push('-');
    push_u64(&mut s, now_ms);
    s.push('-');
    s.push_str(nonce);
    (!nonce.is_empty() && !nonce.contains(':') && s.len() <= MAX_EVENT_ID_BYTES).then_some(s)
}

/// A command between `user_a` and `user_b` (for `Sync`, `user_b` is ignored: A asks about
/// itself), published by the user the kind requires, on that user's channel.
pub fn command(kind: CommandKind, user_a: &UserId, user_b: &UserId, page: Option<&str>, event_id: String, now_ms: u64) -> ClientCommand {
    let publisher = if kind.published_by_b() { user_b } else { user_a };
    let mut channel = String::from(kind.channel_prefix());
    channel.push_str(publisher.as_str());
    let sync = kind == CommandKind::Sync;
    let payload = CommandPayload {
        user_a: user_a.as_str().to_owned(),
        user_b: (!kind.about_self()).then(|| user_b.as_str().to_owned()),
        page: sync.then(|| page.map(str::to_owned)),
        invisible: None,
        status_message: None,
    };
    ClientCommand { channel, message: Envelope::new(kind.name(), event_id, iso8601(now_ms), payload) }
}

/// `user.settings` from `user` about itself: `invisible`, and `status_message` (`Some(None)` or
/// `Some(Some(""))` clears it). Refused here as the Functions would refuse it (`invalid`):
/// neither field, or a message over [`MAX_STATUS_MESSAGE_CHARS`] UTF-16 units. Only clients
/// build it: no Function bundle links this.
pub fn settings_command(
    user: &UserId,
    invisible: Option<bool>,
    status_message: Option<Option<&str>>,
    event_id: String,
    now_ms: u64,
) -> Result<ClientCommand, &'static str> {
    if invisible.is_none() && status_message.is_none() {
        return Err("user.settings needs invisible or statusMessage");
    }
    if status_message.flatten().is_some_and(|m| m.encode_utf16().count() > MAX_STATUS_MESSAGE_CHARS) {
        return Err("statusMessage is longer than 100 characters");
    }
    let mut cmd = command(CommandKind::Settings, user, user, None, event_id, now_ms);
    cmd.message.payload.invisible = invisible;
    cmd.message.payload.status_message = status_message.map(|m| m.filter(|m| !m.is_empty()).map(str::to_owned));
    Ok(cmd)
}
