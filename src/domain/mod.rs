//! The vocabulary of the system: user ids, channel and group names, message contracts, time.
//! Pure data and pure functions; nothing here talks to a host.

#[allow(unused_imports)]
use crate::prelude::*;
pub mod channels;
pub mod contract;
pub mod digits;
pub mod ids;
pub mod json;
pub mod messages;
pub mod names;
pub mod time;

pub use ids::{js_hash_code, shard_of, UserId};
pub use json::{Json, JsonObject};
