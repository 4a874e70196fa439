//! The global online count: a snapshot sum of shard occupancies (no increment/decrement
//! counting, so a lost presence event can never make it drift).

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use crate::domain::channels::presence_shard;
use crate::domain::json::{FromJson, Json};
use crate::domain::messages::{self, Envelope, StatusCount};
use crate::domain::time::iso8601;

/// `hereNow` channels per call: keeps the request URL short (100 × ~18 chars).
pub const SHARDS_PER_CALL: usize = 100;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LastCount {
    pub count: u64,
    pub at: u64,
}

impl FromJson for LastCount {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        let obj = v.as_object().ok_or("last count is not an object")?;
        Ok(LastCount { count: obj.field("count")?, at: obj.field("at")? })
    }
}

/// Shard channels in `hereNow` batches.
pub fn shard_batches(shard_count: u32) -> Vec<Vec<String>> {
    let all: Vec<String> = (0..shard_count).map(presence_shard).collect();
    all.chunks(SHARDS_PER_CALL).map(|c| c.to_vec()).collect()
}

pub struct CountDecision {
    pub message: Envelope<StatusCount>,
    /// `Some` when today's peak must be raised.
    pub new_peak: Option<u64>,
    pub last: LastCount,
}

pub fn decide_count(
    online: u64,
    shards_counted: u32,
    last: Option<LastCount>,
    peak_today: Option<u64>,
    measured_at_ms: u64,
    now_ms: u64,
) -> CountDecision {
    let delta = last.map(|l| online as i64 - l.count as i64).unwrap_or(0);
    let peak = peak_today.unwrap_or(0).max(online);
    let new_peak = (peak_today != Some(peak)).then_some(peak);
    let message = Envelope::new(
        messages::STATUS_COUNT,
        messages::event_id("count", None, now_ms),
        iso8601(now_ms),
        StatusCount {
            online_count: online,
            delta_from_last: delta,
            peak_today: peak,
            calculated_at: iso8601(measured_at_ms),
            shards_counted,
        },
    );
    CountDecision { message, new_peak, last: LastCount { count: online, at: now_ms } }
}
