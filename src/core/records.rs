//! What the Functions read from PubNub, as plain records: App Context users and members, pages
//! of them, presence occupancy, and the filters that select them. The core decides on these;
//! the host (`crate::host`) produces them from the platform's responses.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::domain::JsonObject;

/// App Context user (UUID metadata). `custom` is kept whole: writes replace it entirely.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct UserRecord {
    pub id: String,
    pub name: Option<String>,
    pub profile_url: Option<String>,
    pub custom: JsonObject,
    pub etag: Option<String>,
}

/// One member of an App Context channel (a friend on `friends.{userId}`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Member {
    pub user: UserRecord,
    /// The membership's own custom fields (`status`, `addedAt`).
    pub custom: JsonObject,
}

/// Which members of a `friends.{userId}` list to read: online first, then the rest, is how
/// `friends.sync` pages a list of up to 20,000 without sorting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberFilter {
    All,
    /// `uuid.custom.online == true`
    Online,
    /// `!(uuid.custom.online == true)`
    NotOnline,
    /// `custom.group == N`: the friends a user's channel group N holds (the membership's own
    /// field), read to refill a group a removal left a hole in.
    InGroup(u64),
    /// One part of the initial load (`core::sync`), sorted by `uuid.id` one way or the other.
    Part(SyncPart),
}

/// A part of a friend list the initial load reads on a cursor chain of its own: the friends
/// of channel group `group` (every group from it on when `through`: a removal may leave a
/// friend above the groups the count needs until the recount moves it), online or not, by
/// `uuid.id` ascending or descending (two chains meet in the middle of one part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncPart {
    pub group: u8,
    pub through: bool,
    pub online: bool,
    pub desc: bool,
}

impl SyncPart {
    /// `uuid.id:asc` / `uuid.id:desc` (`getChannelMembers`' `sort`).
    pub fn sort_dir(self) -> &'static str {
        if self.desc {
            "desc"
        } else {
            "asc"
        }
    }
}

impl MemberFilter {
    /// The App Context filter expression.
    pub fn expression(self) -> Option<String> {
        match self {
            MemberFilter::All => None,
            MemberFilter::Online => Some("uuid.custom.online == true".into()),
            MemberFilter::NotOnline => Some("!(uuid.custom.online == true)".into()),
            MemberFilter::InGroup(n) => {
                let mut s = String::from("custom.group == ");
                crate::domain::channels::push_u64(&mut s, n);
                Some(s)
            }
            MemberFilter::Part(p) => {
                let mut s = String::from(if p.through { "custom.group >= " } else { "custom.group == " });
                crate::domain::channels::push_u64(&mut s, p.group as u64);
                s.push_str(if p.online { " && uuid.custom.online == true" } else { " && !(uuid.custom.online == true)" });
                Some(s)
            }
        }
    }
}

/// Which users to list with `getAllUUIDMetadata` (sorted by id, 100 per page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserFilter {
    /// Users App Context marks online in one presence shard: the set a shard
    /// reconciliation compares with who presence says is there.
    OnlineInShard(u32),
}

impl UserFilter {
    pub fn expression(self) -> String {
        match self {
            UserFilter::OnlineInShard(shard) => {
                let mut s = String::from("custom.shardId == ");
                crate::domain::channels::push_u64(&mut s, shard as u64);
                s.push_str(" && custom.online == true");
                s
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct UsersPage {
    pub users: Vec<UserRecord>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct MembersPage {
    pub members: Vec<Member>,
    pub next: Option<String>,
    pub total: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ChannelOccupancy {
    pub channel: String,
    pub occupancy: u64,
    pub uuids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct HereNow {
    pub channels: Vec<ChannelOccupancy>,
    pub total_occupancy: u64,
}
