//! The wasm side: JS host objects behind the host traits, and the exported entry points.
//! `sys` holds the raw, untyped access to JS; `adapter` the typed trait implementations.

#[allow(unused_imports)]
use crate::prelude::*;
pub mod adapter;
#[cfg(feature = "std")]
pub mod client;
pub mod exports;
mod sys;
