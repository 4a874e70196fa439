//! The trailing edge of the debounce, without timers.
//!
//! A decision that must wait is written to a KV queue bucketed by due time: each execution
//! takes a fresh index from an atomic counter (`settle:{slot}`) and writes its whole batch
//! under `settle:{slot}:{n}` — no shared value is ever read-modified-written. The presence
//! settler (On Interval) walks the slots that have come due and re-decides every entry
//! against App Context, so duplicated, reordered or superseded entries are harmless.

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use super::presence::Observation;
use crate::domain::json::{FromJson, Json};

/// Slot width. With a 10 s settler interval, a deferred state is published at most
/// debounce + slot + grace + interval after it was observed (5 + 2.5 + 1 + 10 s < 20 s).
pub const SLOT_MS: u64 = 2_500;
/// How far back a settler with no cursor looks.
pub const FIRST_RUN_LOOKBACK_SLOTS: u64 = 4;

/// How long after its end a slot is still open to writers: Functions run on many hosts whose
/// clocks differ a little, and a write into a slot the settler already passed would be lost.
pub const SLOT_GRACE_MS: u64 = 1_000;

pub fn slot_of(due_ms: u64) -> u64 {
    due_ms.div_ceil(SLOT_MS)
}

/// The slot a writer at `now_ms` puts an entry due at `due_ms` in: never one that is already
/// complete by the writer's own clock (an entry due now goes to the slot ending next).
pub fn slot_for(due_ms: u64, now_ms: u64) -> u64 {
    slot_of(due_ms.max(now_ms + 1))
}

/// Slot `s` is complete (every entry in it is due, and written) once `now ≥ s · SLOT_MS + grace`.
pub fn last_complete_slot(now_ms: u64) -> u64 {
    now_ms.saturating_sub(SLOT_GRACE_MS) / SLOT_MS
}

/// One execution's deferred presence observations.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SettleChunk {
    #[serde(rename = "e", default)]
    pub entries: Vec<Observation>,
}

/// Where the settler is in each queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Cursor {
    /// Every slot ≤ this one has been handed to a worker.
    pub done: u64,
    /// Chunks of slot `done + 1` already handed out (a slot too big for one run).
    pub partial: i64,
    /// Jobs of the FIFO queues handed out so far (their counters' values then).
    pub scans: i64,
    pub recounts: i64,
}

impl FromJson for SettleChunk {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        let obj = v.as_object().ok_or("settle chunk is not an object")?;
        Ok(SettleChunk { entries: obj.field_or("e", Vec::new())? })
    }
}

impl FromJson for Cursor {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        let obj = v.as_object().ok_or("settle cursor is not an object")?;
        let count = |k| obj.field_or::<u64>(k, 0).map(|n| n as i64);
        Ok(Cursor { done: obj.field("done")?, partial: count("partial")?, scans: count("scans")?, recounts: count("recounts")? })
    }
}

/// A recount job: users whose `friendCount` must be refreshed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Recount {
    #[serde(rename = "u")]
    pub users: Vec<String>,
}

impl FromJson for Recount {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        let obj = v.as_object().ok_or("recount job is not an object")?;
        Ok(Recount { users: obj.field("u")? })
    }
}

/// Job indices `(handed, available]`, at most `max` of them.
pub fn new_jobs(handed: i64, available: i64, max: usize) -> core::ops::RangeInclusive<i64> {
    let end = available.min(handed.saturating_add(max as i64));
    handed + 1..=end
}

/// Slots the settler should look at now, at most `max` of them (the rest wait for the next run).
pub fn slots_to_scan(cursor: Option<Cursor>, now_ms: u64, max: u64) -> core::ops::RangeInclusive<u64> {
    let last = last_complete_slot(now_ms);
    let first = match cursor {
        Some(c) => c.done + 1,
        None => last.saturating_sub(FIRST_RUN_LOOKBACK_SLOTS),
    };
    let end = last.min(first + max.max(1) - 1);
    first..=end
}
