//! What a handler may ask of PubNub Functions, as Rust traits. The wasm adapter
//! (`crate::wasm`) implements them over the JS `pubnub`/`kvstore` modules; the native fake
//! (`fake`) implements them in memory, records every call and enforces the op budget.

#[allow(unused_imports)]
use crate::prelude::*;
#[cfg(not(target_arch = "wasm32"))]
pub mod fake;
pub mod shapes;
pub mod step;

use serde::Serialize;

use crate::domain::json::FromJson;
use crate::domain::{JsonObject, UserId};
// What the core reads (records) and the budgets it plans within are the core's: the host
// speaks in them.
pub use crate::core::budget::{OpBudget, OpKind};
pub use crate::core::records::{ChannelOccupancy, HereNow, Member, MemberFilter, MembersPage, UserFilter, UserRecord, UsersPage};

/// A failed host call, typed so handlers can react (retry on 412, treat 404 as absent).
#[derive(Clone, Debug, PartialEq)]
pub enum HostError {
    /// 404: the object does not exist.
    NotFound,
    /// 412: the `If-Match` ETag no longer matches (someone else wrote first).
    PreconditionFailed,
    /// The platform refused the call because this execution used up its budget.
    BudgetExceeded(OpKind),
    /// Any other rejection: HTTP-like status when the host gave one, and its message.
    Rejected { status: u16, message: String },
    /// The object passed in lacks a method the handler needs.
    InvalidHost(&'static str),
    /// The host answered with a shape we do not understand.
    BadResponse(&'static str),
}

/// `a` then `b` (one copy for every description that is a prefix and a name).
fn joined(a: &str, b: &str) -> String {
    let mut s = String::from(a);
    s.push_str(b);
    s
}

impl HostError {
    pub fn describe(&self) -> String {
        match self {
            HostError::NotFound => "not found (404)".into(),
            HostError::PreconditionFailed => "ETag mismatch (412)".into(),
            HostError::BudgetExceeded(kind) => joined("execution calls exceeds the per-execution limit for ", kind.name()),
            HostError::Rejected { status, message } => {
                let mut s = String::from("rejected");
                if *status > 0 {
                    s.push_str(" (");
                    crate::domain::channels::push_u64(&mut s, *status as u64);
                    s.push(')');
                }
                s.push_str(": ");
                s.push_str(message);
                s
            }
            HostError::InvalidHost(what) => joined("host object is missing ", what),
            HostError::BadResponse(what) => joined("unexpected response from ", what),
        }
    }
}

pub type HostResult<T> = Result<T, HostError>;

/// The Functions `pubnub` module. Publish and fire count against the publish budget; the
/// rest against the PubNub API budget.
#[allow(async_fn_in_trait)]
pub trait PubNub {
    async fn publish<M: Serialize>(&self, channel: &str, message: &M) -> HostResult<()>;
    /// To Functions only (chained work); subscribers never see it.
    async fn fire<M: Serialize>(&self, channel: &str, message: &M) -> HostResult<()>;
    async fn here_now(&self, channels: &[String], include_uuids: bool, limit: u32, offset: u32) -> HostResult<HereNow>;
    /// The channels `user` is present on (any of its devices).
    async fn where_now(&self, user: &UserId) -> HostResult<Vec<String>>;
    async fn get_user(&self, id: &UserId) -> HostResult<Option<UserRecord>>;
    /// Up to 100 users in one call (`getAllUUIDMetadata` with an `id == …` filter).
    async fn get_users(&self, ids: &[UserId]) -> HostResult<Vec<UserRecord>>;
    /// One page (≤ 100) of the users matching `filter`, in ascending id order.
    async fn list_users(&self, filter: UserFilter, limit: u32, next: Option<&str>) -> HostResult<UsersPage>;
    /// Replaces `custom` (App Context has no partial update); `if_match` makes it conditional.
    async fn set_user_custom(&self, id: &UserId, custom: &JsonObject, if_match: Option<&str>) -> HostResult<()>;
    async fn get_members(&self, channel: &str, filter: MemberFilter, limit: u32, next: Option<&str>) -> HostResult<MembersPage>;
    /// The membership of one user on a channel, if any (`uuid.id == …` filter).
    async fn get_member(&self, channel: &str, user: &UserId) -> HostResult<Option<Member>>;
    /// The channels whose id starts with `prefix` that `user` is a member of (one page of
    /// ≤ 100), with the membership's custom fields (`getMemberships`, `channel.id LIKE`).
    async fn get_memberships(&self, user: &UserId, prefix: &str) -> HostResult<Vec<(String, JsonObject)>>;
    async fn set_members(&self, channel: &str, members: &[(UserId, JsonObject)]) -> HostResult<()>;
    async fn remove_members(&self, channel: &str, users: &[UserId]) -> HostResult<()>;
    async fn add_channels(&self, group: &str, channels: &[String]) -> HostResult<()>;
    async fn remove_channels(&self, group: &str, channels: &[String]) -> HostResult<()>;
    async fn list_channels(&self, group: &str) -> HostResult<Vec<String>>;
}

/// The Functions `kvstore` module. TTLs are in minutes, as the platform defines them.
#[allow(async_fn_in_trait)]
pub trait KvStore {
    async fn get<T: FromJson>(&self, key: &str) -> HostResult<Option<T>>;
    async fn set<T: Serialize>(&self, key: &str, value: &T, ttl_minutes: u32) -> HostResult<()>;
    async fn remove(&self, key: &str) -> HostResult<()>;
    /// Atomic; returns the new value.
    async fn incr_counter(&self, key: &str, by: i64) -> HostResult<i64>;
    async fn get_counter(&self, key: &str) -> HostResult<i64>;
}
