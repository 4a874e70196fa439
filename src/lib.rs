//! friends-presence: "which of my friends are online" and the global online count, as
//! PubNub Functions written in Rust.
//!
//! - [`domain`]: ids, channel names, message contracts, time.
//! - [`core`]: pure decisions (input + state read + now → effects).
//! - [`host`]: the `PubNub`/`KvStore` traits, op budgets, and the native fake host.
//! - [`handlers`]: one async shell per Function: read, decide, act.
//! - [`client`]: the web client's core (subscribe plan, friends view); `pkg/web` in the browser.
//! - `wasm` (wasm32 only): a Function's entry points (plain exports over linear memory, which
//!   `js-shim/function/runtime.js` calls) and the web client's JS API.
//!
//! A deployable Function is built for wasm32 without the `std` feature: then the crate is
//! `no_std` with its own panic handler and allocator (`bundle`), which keeps `core::fmt`
//! panic formatting and dlmalloc out of a bundle that must fit in PubNub's ~64 KB.

#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]

extern crate alloc;

#[cfg(feature = "web")]
pub mod client;
pub mod core;
pub mod domain;
pub mod handlers;
pub mod host;
pub mod prelude;

#[cfg(all(target_arch = "wasm32", not(feature = "inflate-stage")))]
pub mod wasm;

// The bundle's first stage, built alone for wasm (see `stage0`); natively for its tests.
#[cfg(any(feature = "inflate-stage", not(target_arch = "wasm32")))]
pub mod stage0;

#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
mod bundle;
