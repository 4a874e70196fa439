//! User ids and the presence shard a user belongs to.

#[allow(unused_imports)]
use crate::prelude::*;
use core::fmt;

use super::names::{MAX_CHANNEL_CHARS, MAX_DERIVED_EXTRA_CHARS, PRESENCE_SUFFIX};

/// The longest id whose every derived name (`friend-management.{id}` is the longest) stays
/// within PubNub's 92-character channel limit: 74.
pub const MAX_USER_ID_CHARS: usize = MAX_CHANNEL_CHARS - MAX_DERIVED_EXTRA_CHARS;

/// A user id that is safe to embed in every channel and group name the system derives
/// (`status.{id}`, `inbox.{id}`, `cg-friends-{id}`, ...).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

/// Why a user id was refused. Kept small and `'static` so rejecting needs no formatting.
/// Every reason speaks of the id itself, never of the names derived from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidUserId {
    Empty,
    TooLong,
    /// `.` `,` `:` `*` `/` `\` or a space. PubNub forbids all but `.` in channel names, and `.`
    /// separates the segments a Function binding matches (`friend-requests.*` must see one).
    ForbiddenChar,
    /// Control characters, NUL and other non-printables.
    NonPrintable,
    /// Ends in `-pnpres`: PubNub delivers a channel's presence events on `{channel}-pnpres`, so
    /// `inbox.{id}-pnpres` would be another user's presence stream.
    PresenceSuffix,
    /// `global`: `status.global` is the online count every client subscribes to.
    Reserved,
}

impl InvalidUserId {
    pub fn reason(self) -> &'static str {
        match self {
            InvalidUserId::Empty => "user id is empty",
            InvalidUserId::TooLong => "user id is longer than 74 characters",
            InvalidUserId::ForbiddenChar => "user id contains one of . , : * / \\ or a space",
            InvalidUserId::NonPrintable => "user id contains a non-printable character",
            InvalidUserId::PresenceSuffix => "user id ends in -pnpres, which PubNub reserves for presence",
            InvalidUserId::Reserved => "user id global is reserved for the online count",
        }
    }
}

impl UserId {
    pub fn parse(raw: &str) -> Result<UserId, InvalidUserId> {
        if raw.is_empty() {
            return Err(InvalidUserId::Empty);
        }
        // "Characters" as JavaScript counts them (UTF-16 code units), since clients are JS.
        if raw.encode_utf16().count() > MAX_USER_ID_CHARS {
            return Err(InvalidUserId::TooLong);
        }
        for c in raw.chars() {
            if matches!(c, '.' | ',' | ':' | '*' | '/' | '\\' | ' ') {
                return Err(InvalidUserId::ForbiddenChar);
            }
            if c.is_control() || c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{FEFF}') {
                return Err(InvalidUserId::NonPrintable);
            }
        }
        // Any case: a channel name is compared exactly, but nothing is lost by refusing `-PNPRES`.
        // Bytes and `get`, not a `str` slice: a slice's panic path would pull `core::fmt` into
        // every bundle.
        let tail = raw.as_bytes().get(raw.len().saturating_sub(PRESENCE_SUFFIX.len())..).unwrap_or_default();
        if tail.eq_ignore_ascii_case(PRESENCE_SUFFIX.as_bytes()) {
            return Err(InvalidUserId::PresenceSuffix);
        }
        if raw == "global" {
            return Err(InvalidUserId::Reserved);
        }
        Ok(UserId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The seed's JavaScript `hashCode`, bit for bit: it walks UTF-16 code units and wraps to a
/// signed 32-bit integer after every step (`hash & hash`).
pub fn js_hash_code(s: &str) -> i32 {
    let mut hash: i32 = 0;
    for unit in s.encode_utf16() {
        hash = (hash << 5).wrapping_sub(hash).wrapping_add(unit as i32);
    }
    hash
}

/// `Math.abs(hashCode(id)) % shardCount`. In JS `Math.abs(-2147483648)` is `2147483648`
/// (a double), so the absolute value is taken in 64 bits, never wrapped.
pub fn shard_of(user: &str, shard_count: u32) -> u32 {
    let abs = (js_hash_code(user) as i64).unsigned_abs();
    (abs % shard_count.max(1) as u64) as u32
}
