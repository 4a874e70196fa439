//! Per-execution operation limits of PubNub Functions (docs/design.md §1).

#[allow(unused_imports)]
use crate::prelude::*;
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// hereNow, whereNow, App Context, channel groups.
    Api,
    /// publish, fire, signal.
    Publish,
    Kv,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Api => "PubNub API calls",
            OpKind::Publish => "publishes",
            OpKind::Kv => "KV operations",
        }
    }
}

/// Current docs: 10 of each kind. Older docs: 3 in total across KV, XHR, publish and fire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpBudget {
    Separate { api: u32, publish: u32, kv: u32 },
    Combined(u32),
}

impl OpBudget {
    pub const CURRENT: OpBudget = OpBudget::Separate { api: 10, publish: 10, kv: 10 };
    pub const LEGACY: OpBudget = OpBudget::Combined(3);

    /// Would one more op of `kind` still fit, given what was used so far?
    pub fn allows(&self, used: &OpsUsed, kind: OpKind) -> bool {
        match *self {
            OpBudget::Separate { api, publish, kv } => match kind {
                OpKind::Api => used.api < api,
                OpKind::Publish => used.publish < publish,
                OpKind::Kv => used.kv < kv,
            },
            OpBudget::Combined(total) => used.total() < total,
        }
    }
}

impl Default for OpBudget {
    fn default() -> Self {
        OpBudget::CURRENT
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpsUsed {
    pub api: u32,
    pub publish: u32,
    pub kv: u32,
}

impl OpsUsed {
    pub fn total(&self) -> u32 {
        self.api + self.publish + self.kv
    }

    pub fn add(&mut self, kind: OpKind) {
        match kind {
            OpKind::Api => self.api += 1,
            OpKind::Publish => self.publish += 1,
            OpKind::Kv => self.kv += 1,
        }
    }
}
