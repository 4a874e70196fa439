//! Channel and channel-group names (docs/design.md §3). Every name the system uses is built here.

use super::ids::UserId;
#[allow(unused_imports)]
use crate::prelude::*;

pub use super::digits::{push_i64, push_u64};
use super::names::OVERFLOW_GROUP_STEM;
pub use super::names::*;

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
