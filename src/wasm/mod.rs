//! The wasm side: the exported entry points of a deployable Function (`exports`, driven
//! step by step by the JS runtime, see `host::step`) and the web client's JS API (`client`).

#[allow(unused_imports)]
use crate::prelude::*;
#[cfg(feature = "web")]
pub mod client;
pub mod exports;
