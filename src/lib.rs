//! friends-presence: "which of my friends are online" and the global online count, as
//! PubNub Functions written in Rust.
//!
//! - [`domain`]: ids, channel names, message contracts, time.
//! - [`core`]: pure decisions (input + state read + now → effects).
//! - [`host`]: the `PubNub`/`KvStore` traits, op budgets, and the native fake host.
//! - [`handlers`]: one async shell per Function: read, decide, act.
//! - `wasm` (wasm32 only): bindings to the JS `pubnub`/`kvstore` modules and the exports the
//!   shims in `js-shim/` call.

pub mod core;
pub mod domain;
pub mod handlers;
pub mod host;

#[cfg(target_arch = "wasm32")]
pub mod wasm;
