//! Pure decisions: input + state read + now → what to do. No host calls, no clock.
//! The async shells in `crate::handlers` read what these need and carry out the result.

#[allow(unused_imports)]
use crate::prelude::*;
pub mod budget;
pub mod count;
pub mod friends;
pub mod heal;
pub mod keys;
pub mod metrics;
pub mod plan;
pub mod presence;
pub mod reconcile;
pub mod records;
pub mod report;
pub mod settings;
pub mod settle;
pub mod sync;
pub mod visibility;
pub mod work;

use budget::OpBudget;

/// Deployment settings shared by every handler.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Presence shards (`presence.shard-0` … `presence.shard-{n-1}`); must match the clients.
    pub shard_count: u32,
    /// At most one status publish per user per window; the final state is published after it.
    pub debounce_ms: u64,
    pub budget: OpBudget,
}

impl Default for Config {
    fn default() -> Self {
        Config { shard_count: plan::DEFAULT_SHARD_COUNT, debounce_ms: 5_000, budget: OpBudget::CURRENT }
    }
}

impl Config {
    /// Users one execution can take to a published status: one batched App Context read,
    /// then per user one publish and one App Context write; one API call (the presence check
    /// of reconciled changes) and two KV ops (queueing what must wait) stay for the rest. A
    /// conflict is re-queued, not retried inline.
    pub fn users_per_execution(&self) -> usize {
        match self.budget {
            OpBudget::Separate { api, publish, kv } => {
                let by_api = api.saturating_sub(2);
                let by_kv = kv.saturating_sub(2);
                by_api.min(publish).min(by_kv).max(1) as usize
            }
            OpBudget::Combined(_) => 1,
        }
    }

    /// The same settings for the rest of an execution that already made `calls` PubNub API
    /// calls: `users_per_execution` then counts only what is left.
    pub fn after_api_calls(&self, calls: u32) -> Config {
        let mut cfg = *self;
        if let OpBudget::Separate { api, publish, kv } = self.budget {
            cfg.budget = OpBudget::Separate { api: api.saturating_sub(calls), publish, kv };
        }
        cfg
    }

    /// The older docs' budget, 3 ops in all: paths that spend extra ops (the storm counter, a
    /// presence check, metrics) are left out under it.
    pub fn legacy_budget(&self) -> bool {
        matches!(self.budget, OpBudget::Combined(_))
    }

    /// How many `fire`s one execution may use to split work.
    pub fn fan_out(&self) -> usize {
        match self.budget {
            OpBudget::Separate { publish, .. } => publish.clamp(1, 10) as usize,
            OpBudget::Combined(total) => total.clamp(1, 10) as usize,
        }
    }
}

/// Why an input was refused. Handlers log it and change nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection(pub String);

impl Rejection {
    pub fn new(reason: &str) -> Self {
        Rejection(reason.to_owned())
    }

    pub fn with(reason: &str, detail: &str) -> Self {
        let mut s = String::from(reason);
        s.push_str(": ");
        // Echo at most a short prefix of untrusted text into logs.
        s.extend(detail.chars().take(100));
        Rejection(s)
    }
}
