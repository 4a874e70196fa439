//! What `std`'s prelude gives, from `alloc`, so every module compiles the same with and
//! without `std` (deployable bundles are `no_std`; see the crate docs).

pub use alloc::borrow::ToOwned;
pub use alloc::boxed::Box;
pub use alloc::string::{String, ToString};
pub use alloc::vec::Vec;
pub use alloc::{format, vec};
