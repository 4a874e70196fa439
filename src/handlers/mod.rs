//! Async shells: read what a decision needs, call the pure core, carry out its effects
//! through the host traits. One public `async fn` per deployable Function.

#[allow(unused_imports)]
use crate::prelude::*;
pub mod count;
pub mod entry;
pub mod friends;
pub mod heal;
pub mod presence;
pub(crate) mod queues;
pub mod reconcile;
pub mod recount;
pub mod sync;

pub use crate::core::report::{Level, Report};

/// `a` + `b` without `format!` (keeps `core::fmt` out of the wasm hot paths).
pub(crate) fn cat(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

pub(crate) fn num(n: u64) -> String {
    let mut s = String::new();
    crate::domain::channels::push_u64(&mut s, n);
    s
}

/// Writes what `report.metrics` counted: one atomic increment per counter touched. A failed
/// increment is logged and lost (the metric undercounts; nothing else depends on it).
pub(crate) async fn flush_metrics<H: crate::host::KvStore>(host: &H, report: &mut Report) {
    let metrics = core::mem::take(&mut report.metrics);
    for (counter, n) in metrics.increments() {
        if let Err(e) = host.incr_counter(&counter.key(), n).await {
            report.warn(cat(&["metric ", counter.name(), " not counted: ", &e.describe()]));
        }
    }
}
