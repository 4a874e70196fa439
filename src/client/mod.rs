//! The web client's core: what a signed-in user subscribes to, and the friends view kept
//! from the messages the Functions send. Pure Rust over [`crate::domain`]; the browser build
//! wraps it in `crate::wasm::client`, and the same code is tested natively.
//!
//! - [`plan`]: the subscribe plan for a user (shard channel, `status.global`, inbox, groups),
//!   the server core's own ([`crate::core::plan`]).
//! - [`event`]: a wire message (envelope) → a typed [`event::ClientEvent`], or a reason why not.
//! - [`view`]: [`view::FriendsView`], which applies events with de-duplication by `eventId`
//!   and per-subject ordering by `ts`, and answers the ordered list, the pending requests both
//!   ways, the block list, the global count and how each command the client sent ended
//!   (`friend.command.result`).

pub mod event;
pub mod lowercase;
mod map;
pub mod view;

pub use crate::core::plan;

pub use event::{ClientEvent, CommandOutcome, Incoming};
pub use plan::SubscribePlan;
pub use view::{Friend, FriendRequest, FriendsView, GroupChange, Outcome, OwnSettings};
