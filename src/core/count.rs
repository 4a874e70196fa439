//! The global online count: a snapshot sum of shard occupancies (no increment/decrement
//! counting, so a lost presence event can never make it drift).
//!
//! Up to [`INLINE_SHARDS`] shards the aggregator reads them all itself (10 `hereNow` calls of
//! 100). Above that a count is a *round*: the aggregator fires count workers over ranges of
//! shards ([`plan_round`]); each leaf worker reads ≤ 1,000 shards and adds what it read to the
//! round's slot counter in one atomic increment ([`slot_increment`]: occupancy and shards
//! counted packed together, so the two never disagree); the next aggregator run reads the slot
//! and subtracts the value it read before firing ([`decide_round`]). Each round is a fresh
//! snapshot: nothing carries over from one round to the next except through that difference.

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

/// Shards the aggregator counts alone: 10 `hereNow` calls of [`SHARDS_PER_CALL`].
pub const INLINE_SHARDS: u32 = 1_000;
/// Shards one leaf count worker reads (its 10 PubNub API calls).
pub const SHARDS_PER_WORKER: u32 = 1_000;
/// Fires the aggregator may use for a round: its 10 publishes less the `status.count` one and
/// the metrics snapshot's fire, and one spare (it was the heal sweep's, now the settler's;
/// `shardCount` settings are validated against the 70,000 this gives).
pub const ROUND_FIRES: u32 = 7;
/// The most shards a round can cover: 7 mid-level workers × 10 leaves × 1,000 shards.
pub const MAX_SHARDS: u32 = ROUND_FIRES * 10 * SHARDS_PER_WORKER;
/// Rounds rotate over this many slot counters: a worker late by up to two rounds still lands in
/// its own round's slot, never in the one being counted.
pub const SLOTS: u32 = 3;
/// The slot counter holds `occupancy × PACK + shards counted`: shards < 2^20 in any round, and
/// occupancy up to 2^33 keeps the sum exact as a JS number (< 2^53).
pub const PACK: i64 = 1 << 20;
/// Rounds only add to a slot (a million online adds ~2^40 a round), and a JS number is exact
/// only below 2^53, which such a slot passes within days: a round that finds its slot at or
/// above this takes it back to zero first ([`slot_reset`]).
pub const SLOT_RESET_AT: u64 = 1 << 50;

/// The increment that takes a slot read as `base` back to zero before its round, if it is due.
/// Safe without a lock: only the aggregator resets, before the round's fires, and a slot's
/// previous round ended two rounds earlier.
pub fn slot_reset(base: u64) -> Option<i64> {
    (base >= SLOT_RESET_AT).then(|| -(base.min(i64::MAX as u64) as i64))
}

/// A range of shards `[lo, hi)` for a count worker; one of more than [`SHARDS_PER_WORKER`]
/// splits itself into leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CountRange {
    pub lo: u32,
    pub hi: u32,
}

/// What one round fires: ≤ [`ROUND_FIRES`] ranges covering `0..shard_count` in order.
pub fn plan_round(shard_count: u32) -> Vec<CountRange> {
    let n = shard_count.min(MAX_SHARDS);
    let leaves = n.div_ceil(SHARDS_PER_WORKER);
    // Whole leaves per fire, so every leaf but the last reads full hereNow batches.
    let size = leaves.div_ceil(ROUND_FIRES) * SHARDS_PER_WORKER;
    split(0, n, size)
}

/// A mid-level range's leaves (≤ 10 of ≤ 1,000 shards); a leaf range is read as it is.
pub fn leaves(range: CountRange) -> Vec<CountRange> {
    split(range.lo, range.hi, SHARDS_PER_WORKER)
}

fn split(lo: u32, hi: u32, size: u32) -> Vec<CountRange> {
    let mut out = Vec::new();
    let mut at = lo;
    while at < hi {
        let end = at.saturating_add(size).min(hi);
        out.push(CountRange { lo: at, hi: end });
        at = end;
    }
    out
}

/// The shard channels of a leaf range, in `hereNow` batches.
pub fn range_batches(range: CountRange) -> Vec<Vec<String>> {
    let all: Vec<String> = (range.lo..range.hi).map(presence_shard).collect();
    all.chunks(SHARDS_PER_CALL).map(|c| c.to_vec()).collect()
}

/// One leaf's contribution to its round's slot counter.
pub fn slot_increment(online: u64, shards_counted: u32) -> i64 {
    (online as i64).saturating_mul(PACK).saturating_add(shards_counted as i64)
}

/// `count:round`: the round in flight — its slot, the slot counter's value before the round's
/// fires, and when they went out (the round's `calculatedAt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CountRound {
    pub slot: u32,
    /// The slot counter before the round's fires (counters start at 0 and only grow).
    pub base: u64,
    pub at: u64,
}

impl FromJson for CountRound {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        let obj = v.as_object().ok_or("count round is not an object")?;
        let slot: u64 = obj.field("slot")?;
        if slot >= SLOTS as u64 {
            return Err("count round slot out of range");
        }
        Ok(CountRound { slot: slot as u32, base: obj.field("base")?, at: obj.field("at")? })
    }
}

impl CountRound {
    /// The slot the round after `prev` uses.
    pub fn next_slot(prev: Option<&CountRound>) -> u32 {
        prev.map_or(0, |p| (p.slot + 1) % SLOTS)
    }
}

/// What a finished round counted: `(online, shards counted)`, or why it cannot be published.
pub fn decide_round(round: &CountRound, slot_now: i64, shard_count: u32) -> Result<(u64, u32), &'static str> {
    let delta = slot_now.saturating_sub(round.base.min(i64::MAX as u64) as i64);
    if delta <= 0 {
        return Err("no count worker reported for the last round; nothing published");
    }
    let shards = (delta % PACK) as u32;
    let online = (delta / PACK) as u64;
    if shards > shard_count {
        // A work item delivered twice: the sum would count shards twice.
        return Err("the last round counted more shards than exist; nothing published");
    }
    Ok((online, shards))
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
