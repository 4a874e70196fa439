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

/// What one execution did, for the Function's log. Handlers never panic or throw: a bad
/// input ends as a `Rejected` report with the reason, and no state changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub function: &'static str,
    pub lines: Vec<(Level, String)>,
    pub rejected: Option<String>,
    /// What this execution adds to the operators' counters (`core::metrics`), written at its
    /// end by [`flush_metrics`].
    pub metrics: crate::core::metrics::Metrics,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Report {
    pub fn new(function: &'static str) -> Self {
        Report { function, ..Default::default() }
    }

    pub fn info(&mut self, line: impl Into<String>) {
        self.line(Level::Info, line.into());
    }

    pub fn warn(&mut self, line: impl Into<String>) {
        self.line(Level::Warn, line.into());
    }

    pub fn error(&mut self, line: impl Into<String>) {
        self.line(Level::Error, line.into());
    }

    /// The one copy of the push the generic methods above share (smaller bundles).
    #[inline(never)]
    fn line(&mut self, level: Level, line: String) {
        self.lines.push((level, line));
    }

    pub fn reject(&mut self, reason: crate::core::Rejection) {
        let mut line = String::from("rejected: ");
        line.push_str(&reason.0);
        self.line(Level::Warn, line);
        self.rejected = Some(reason.0);
    }

    pub fn is_rejected(&self) -> bool {
        self.rejected.is_some()
    }

    pub fn errors(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter(|(l, _)| *l == Level::Error).map(|(_, s)| s.as_str())
    }
}

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
