//! What one execution did: its log lines, a refusal, and what it adds to the operators'
//! counters. Decisions and shells both write it; the host hands it back to the runtime.

#[allow(unused_imports)]
use crate::prelude::*;

/// What one execution did, for the Function's log. Handlers never panic or throw: a bad
/// input ends as a `Rejected` report with the reason, and no state changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub function: &'static str,
    pub lines: Vec<(Level, String)>,
    pub rejected: Option<String>,
    /// What this execution adds to the operators' counters (`core::metrics`), written at its
    /// end by `handlers::flush_metrics`.
    pub metrics: super::metrics::Metrics,
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

    pub fn reject(&mut self, reason: super::Rejection) {
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
