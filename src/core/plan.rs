//! What a signed-in user subscribes to (docs/design.md §3): owned by the core because it must
//! name every group the friend handlers can place a friend in. The web client re-uses it.

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use crate::domain::channels::{friends_group, inbox, presence_shard, CHANNELS_PER_GROUP, GROUPS_PER_USER, STATUS_GLOBAL};
use crate::domain::ids::InvalidUserId;
use crate::domain::{shard_of, UserId};

/// Shards the deployment uses unless told otherwise (clients and Functions must agree).
pub const DEFAULT_SHARD_COUNT: u32 = 100;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribePlan {
    pub user_id: String,
    pub shard: u32,
    /// `presence.shard-{N}`: being subscribed here is what makes the user online. Leave only
    /// this channel to appear offline while still watching friends.
    pub presence_channel: String,
    /// Every channel to subscribe to, the presence channel first.
    pub channels: Vec<String>,
    /// `cg-friends-{id}` and every overflow group `cg-friends{i}-{id}`.
    pub groups: Vec<String>,
}

impl SubscribePlan {
    /// All friends groups, always: a new friend's group depends on the friend count at the
    /// moment of acceptance and removals leave holes, so a friend may sit in an overflow group
    /// even when the count alone would not need it. Empty groups cost nothing, and the ten of
    /// them are exactly PubNub's groups-per-subscribe limit.
    pub fn for_user(user: &UserId, shard_count: u32) -> SubscribePlan {
        SubscribePlan::for_user_with_friends(user, shard_count, None)
    }

    /// The groups in use by a user with `friend_count` friends: ⌈n/2,000⌉ (at least one),
    /// since groups are kept compact (`core::friends::refill_from`); `None` (count unknown):
    /// all ten. A client re-plans when the count crosses a multiple of 2,000 (a
    /// `friend.added` or `friend.removed`). Between a removal and the refill of its hole
    /// (the recount worker, fired by the removal) one friend can still sit in the group past
    /// the count's; its changes in that moment reach only a client on the full plan.
    pub fn for_user_with_friends(user: &UserId, shard_count: u32, friend_count: Option<u64>) -> SubscribePlan {
        let groups = match friend_count {
            None => GROUPS_PER_USER,
            Some(n) => (n as usize).div_ceil(CHANNELS_PER_GROUP).clamp(1, GROUPS_PER_USER),
        };
        let shard = shard_of(user.as_str(), shard_count.max(1));
        let presence_channel = presence_shard(shard);
        SubscribePlan {
            user_id: user.as_str().to_owned(),
            shard,
            channels: vec![presence_channel.clone(), STATUS_GLOBAL.to_owned(), inbox(user)],
            presence_channel,
            groups: (0..groups).map(|i| friends_group(user, i)).collect(),
        }
    }

    pub fn parse(raw: &str, shard_count: u32) -> Result<SubscribePlan, InvalidUserId> {
        UserId::parse(raw).map(|u| SubscribePlan::for_user(&u, shard_count))
    }
}
