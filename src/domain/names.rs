//! The fixed parts of channel and group names and PubNub's limits on them. A leaf: user ids
//! (`ids`) are checked against these, and `channels` builds every name from them.

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
pub(crate) const OVERFLOW_GROUP_STEM: &str = "cg-friends";
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
