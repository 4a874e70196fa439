//! Channel and channel-group names (docs/design.md §3). Every name the system uses is built here.

use super::ids::UserId;
#[allow(unused_imports)]
use crate::prelude::*;

pub const STATUS_GLOBAL: &str = "status.global";
/// The operators' metrics snapshots (`core::metrics`): granted to no user token.
pub const OPERATORS_METRICS: &str = "operators.metrics";
/// PubNub's limit for a channel id (research: "Channel ID Length: 92 characters").
pub const MAX_CHANNEL_CHARS: usize = 92;

// Prefixes of the names derived from a user id.
pub const STATUS_PREFIX: &str = "status.";
pub const INBOX_PREFIX: &str = "inbox.";
pub const FRIENDS_PREFIX: &str = "friends.";
/// A user's first friends group is `cg-friends-{id}`; overflow group `i` (1–9) is
/// `cg-friends{i}-{id}`. The character after `cg-friends` is `-` in one and a digit in the
/// other, so no id's group can be another id's, whatever the ids end in.
pub const GROUP_PREFIX: &str = "cg-friends-";
const OVERFLOW_GROUP_STEM: &str = "cg-friends";
/// PubNub delivers a channel's (or group's) presence events on `{name}-pnpres`.
pub const PRESENCE_SUFFIX: &str = "-pnpres";
pub const REQUESTS_PREFIX: &str = "friend-requests.";
pub const MANAGEMENT_PREFIX: &str = "friend-management.";
/// App Context channel whose members are the users with a request pending to its user.
pub const REQUESTS_IN_PREFIX: &str = "requests-in.";
/// App Context channel whose members are the users its user blocked.
pub const BLOCKED_PREFIX: &str = "blocked.";
/// Channels per channel group (PubNub default; the keyset can change it).
pub const CHANNELS_PER_GROUP: usize = 2000;
/// Groups one subscribe call may carry: with 2,000 channels each, up to 20,000 friends.
pub const GROUPS_PER_USER: usize = 10;
pub const MAX_FRIENDS: usize = CHANNELS_PER_GROUP * GROUPS_PER_USER;

/// The most characters any derived name adds to a user id: the longest prefix, or the group
/// prefix plus the widest overflow suffix `-{i}`. User ids are capped so that every name fits.
pub const MAX_DERIVED_EXTRA_CHARS: usize = {
    let lens = [
        STATUS_PREFIX.len(),
        INBOX_PREFIX.len(),
        FRIENDS_PREFIX.len(),
        REQUESTS_PREFIX.len(),
        MANAGEMENT_PREFIX.len(),
        REQUESTS_IN_PREFIX.len(),
        BLOCKED_PREFIX.len(),
        OVERFLOW_GROUP_STEM.len() + decimal_digits(GROUPS_PER_USER - 1) + 1,
    ];
    let (mut i, mut max) = (0, 0);
    while i < lens.len() {
        if lens[i] > max {
            max = lens[i];
        }
        i += 1;
    }
    max
};

const fn decimal_digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

pub fn status(user: &UserId) -> String {
    join(STATUS_PREFIX, user.as_str())
}

pub fn inbox(user: &UserId) -> String {
    join(INBOX_PREFIX, user.as_str())
}

/// App Context channel whose members are the user's friends.
pub fn friends(user: &UserId) -> String {
    join(FRIENDS_PREFIX, user.as_str())
}

/// `requests-in.{id}`: one member per pending request to `user` (the requester), so both
/// directions are listable: `user`'s incoming as its members, a requester's outgoing as its
/// memberships of `requests-in.*`.
pub fn requests_in(user: &UserId) -> String {
    join(REQUESTS_IN_PREFIX, user.as_str())
}

/// `blocked.{id}`: one member per user `user` blocked.
pub fn blocked(user: &UserId) -> String {
    join(BLOCKED_PREFIX, user.as_str())
}

pub fn presence_shard(shard: u32) -> String {
    let mut s = String::from("presence.shard-");
    push_u64(&mut s, shard as u64);
    s
}

/// Group `index` of a user's friends: `cg-friends-{id}` first, then overflow `cg-friends{i}-{id}`.
pub fn friends_group(user: &UserId, index: usize) -> String {
    if index == 0 {
        return join(GROUP_PREFIX, user.as_str());
    }
    let mut s = String::from(OVERFLOW_GROUP_STEM);
    push_u64(&mut s, index as u64);
    s.push('-');
    s.push_str(user.as_str());
    s
}

/// `presence.shard-17` (or its `-pnpres` form) → 17. Anything else bound by `presence.*` is not ours.
pub fn parse_presence_shard(channel: &str) -> Option<u32> {
    let channel = channel.strip_suffix(PRESENCE_SUFFIX).unwrap_or(channel);
    let digits = channel.strip_prefix("presence.shard-")?;
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The part of `prefix.{rest}` after the prefix, e.g. the publisher of `friend-requests.{id}`.
pub fn suffix_after<'a>(channel: &'a str, prefix: &str) -> Option<&'a str> {
    channel.strip_prefix(prefix).filter(|rest| !rest.is_empty())
}

fn join(prefix: &str, rest: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + rest.len());
    s.push_str(prefix);
    s.push_str(rest);
    s
}

/// Decimal digits without `core::fmt` (keeps the wasm small).
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

pub fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}
