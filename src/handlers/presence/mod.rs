//! After Presence (`presence.*`), the presence worker (`presence-work.*`, fed by `fire`) and
//! the presence settler (On Interval), by concept: `event` turns a presence event into
//! observations, `dispatch` decides and publishes them (or splits them across executions), and
//! `settle` publishes what had to wait (and runs the heal sweep). Where a presence event becomes
//! a publish: `event::after_presence` → `dispatch::dispatch` → `apply` →
//! `PubNub::publish(status.{userId})`.

mod dispatch;
mod event;
mod settle;

pub use dispatch::{dispatch, presence_worker};
pub use event::after_presence;
pub use settle::presence_settler;
