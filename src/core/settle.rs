//! The trailing edge of the debounce, without timers.
//!
//! A decision that must wait is written to a KV queue bucketed by due time: each execution
//! takes a fresh index from an atomic counter (`settle:{slot}`) and writes its whole batch
//! under `settle:{slot}:{n}` — no shared value is ever read-modified-written. The presence
//! settler (On Interval) walks the slots that have come due and hands their chunks to presence
//! workers, which look up every entry's user in presence and decide against App Context
//! (`presence::settle_from_presence`), so duplicated, reordered, superseded or late entries are
//! harmless.

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use super::heal::{self, HealCursor};
use super::presence::Observation;
use crate::domain::json::{FromJson, Json};

/// Slot width. With a 10 s settler interval, a deferred state is published at most
/// debounce + slot + grace + hereNow cache + interval after it was observed
/// (5 + 2.5 + 1 + 3 + 10 s = 21.5 s) when the settle path keeps up.
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

/// Slot `s` is handed out once every entry in it is due and written (`s · SLOT_MS + grace`)
/// and a `hereNow` read then can no longer be an answer cached from before its last entry
/// (the settle path decides from presence: `presence::settle_from_presence`).
pub fn last_complete_slot(now_ms: u64) -> u64 {
    now_ms.saturating_sub(SLOT_GRACE_MS + super::presence::HERE_NOW_CACHE_MS) / SLOT_MS
}

/// Queue chunks one settle lane takes: it hands them on, [`CHUNKS_PER_WORKER`] to each of up
/// to `fan_out` presence workers one hop down.
///
/// [`CHUNKS_PER_WORKER`]: super::work::CHUNKS_PER_WORKER
pub fn lane_chunks(fan_out: usize) -> usize {
    super::work::CHUNKS_PER_WORKER * fan_out.max(1)
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
    /// The heal sweep's, in the journal queue (`core::heal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heal: Option<HealCursor>,
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
        Ok(Cursor {
            done: obj.field("done")?,
            partial: count("partial")?,
            scans: count("scans")?,
            recounts: count("recounts")?,
            heal: obj.field_or("heal", None)?,
        })
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

/// How many queue slots one settler run inspects (each costs one KV counter read). Real time
/// advances 4 slots per 10 s run (0.4 per 1 s run); 6 lets a settler that fell behind catch up.
/// With the cursor read and write and the two job counters, 6 slots fill its 10 KV; fewer leave
/// room for the heal sweep's counters ([`SettlePlan::heal_room`]).
pub const SLOTS_PER_RUN: u64 = 6;
/// The settler's KV ops, and those it spends whatever the slots: cursor read and write, the
/// two job counters.
const SETTLER_KV: usize = 10;
const FIXED_KV: usize = 4;
/// Fires held back from the presence slots while scans are waiting: a storm's outcome is as
/// urgent as a deferred status.
const SCAN_FIRES: usize = 3;

/// One `fire` of the settler, in the order they go out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettleFire {
    /// Queue chunks `[slot, index]` for one settle lane (`settle.work`, ≤ [`lane_chunks`]).
    Chunks(Vec<(u64, i64)>),
    /// One queued shard reconciliation for a reconcile worker, by job index.
    Scan(i64),
    /// Queued recounts for one recount worker, by job index.
    Recounts(Vec<i64>),
    /// Journal references for one heal scanner (`core::heal`), and its sweep epoch.
    Heal(Vec<i64>, u64),
}

/// One settler run being decided: built from the cursor and the job counters, fed the slot
/// counters it asks for ([`SettlePlan::slots`], [`SettlePlan::add_slot`]), then
/// [`SettlePlan::finish`]ed into what to fire. Deferred statuses (complete slots, in order)
/// come first; a few fires are kept for the job queues, so a maintenance backlog never delays
/// a status and a status backlog never starves a storm's reconciliation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlePlan {
    next: Cursor,
    slots: core::ops::RangeInclusive<u64>,
    chunks: Vec<(u64, i64)>,
    capacity: i64,
    skip: i64,
    full: bool,
    scans: core::ops::RangeInclusive<i64>,
    recounts: core::ops::RangeInclusive<i64>,
    fan_out: usize,
    held: usize,
    heal: Option<heal::Sweep>,
}

impl SettlePlan {
    /// `scans_queued` / `recounts_queued`: the job queues' counters (0 when unreadable).
    pub fn new(cursor: Option<Cursor>, now_ms: u64, scans_queued: i64, recounts_queued: i64, fan_out: usize) -> Self {
        let slots = slots_to_scan(cursor, now_ms, SLOTS_PER_RUN);
        let next = cursor.unwrap_or(Cursor { done: slots.start().saturating_sub(1), ..Cursor::default() });
        let scans = new_jobs(next.scans, scans_queued, fan_out);
        let recounts = new_jobs(next.recounts, recounts_queued, fan_out * super::work::RECOUNTS_PER_WORKER);
        let held = scans.clone().count().min(SCAN_FIRES) + usize::from(!recounts.is_empty());
        let capacity = (lane_chunks(fan_out) * fan_out.saturating_sub(held).max(1)) as i64;
        SettlePlan {
            skip: next.partial,
            next,
            slots,
            chunks: Vec::new(),
            capacity,
            full: false,
            scans,
            recounts,
            fan_out,
            held,
            heal: None,
        }
    }

    /// KV reads left for the heal sweep once the slots are read: 0 while the settler catches up
    /// on slots (the sweep waits a run), 1 for the journal counter, 2 for an epoch's
    /// acknowledgement counter too.
    pub fn heal_room(&self) -> usize {
        SETTLER_KV.saturating_sub(FIXED_KV + self.slots.clone().count()).min(2)
    }

    /// The acknowledgement counter to read this run (`heal::HealCursor::ack_slot`), if an epoch
    /// switches.
    pub fn heal_ack_slot(&self, now_ms: u64) -> Option<u64> {
        self.next.heal.filter(|c| c.switching(now_ms)).map(|c| c.ack_slot())
    }

    /// The heal sweep, before any slot is added: `journals` the reference counter, `ack` the
    /// acknowledgement counter if read. Its scanners (≤ [`heal::SCAN_FIRES`]) go out after the
    /// other fires; up to [`heal::HELD_FIRES`] of them are held back from the statuses.
    /// Returns whether an epoch is handed out again (`heal::Sweep::rewound`).
    pub fn add_heal(&mut self, journals: i64, ack: Option<i64>, now_ms: u64) -> bool {
        let sweep = heal::plan_sweep(self.next.heal, journals, ack, now_ms, heal::SCAN_FIRES);
        self.held += sweep.scans.len().min(heal::HELD_FIRES);
        self.capacity = (lane_chunks(self.fan_out) * self.fan_out.saturating_sub(self.held).max(1)) as i64;
        let rewound = sweep.rewound;
        self.heal = Some(sweep);
        rewound
    }

    /// The slot counters to read, in order; stop at the first that cannot be read, or when
    /// [`SettlePlan::add_slot`] says the run is full.
    pub fn slots(&self) -> core::ops::RangeInclusive<u64> {
        self.slots.clone()
    }

    /// Slot `slot` holds `written` chunks. Returns whether the run has room for more slots.
    pub fn add_slot(&mut self, slot: u64, written: i64) -> bool {
        if self.full {
            return false;
        }
        let n = written.max(0);
        let room = self.capacity - self.chunks.len() as i64;
        let available = (n - self.skip).max(0);
        if available > room {
            // Hand out what fits; the next run continues inside this slot.
            self.chunks.extend((self.skip + 1..=self.skip + room).map(|i| (slot, i)));
            self.next.done = slot.saturating_sub(1);
            self.next.partial = self.skip + room;
            self.full = true;
            return false;
        }
        self.chunks.extend((self.skip + 1..=n).map(|i| (slot, i)));
        self.next.done = slot;
        self.next.partial = 0;
        self.skip = 0;
        true
    }

    /// What to fire, in order, within the run's fan-out. The chunks are spread evenly over the
    /// fires left for them: up to `CHUNKS_PER_WORKER` each, a worker reads them itself (and
    /// can still hand a big chunk's users on one hop down); more, and it is a lane.
    pub fn finish(self) -> SettleHandout {
        let per = self.chunks.len().div_ceil(self.capacity as usize / lane_chunks(self.fan_out)).max(1);
        let mut fires: Vec<SettleFire> = self.chunks.chunks(per).map(|p| SettleFire::Chunks(p.to_vec())).collect();
        fires.extend(self.scans.map(SettleFire::Scan));
        let recounts: Vec<i64> = self.recounts.collect();
        fires.extend(recounts.chunks(super::work::RECOUNTS_PER_WORKER).map(|p| SettleFire::Recounts(p.to_vec())));
        if let Some(sweep) = &self.heal {
            fires.extend(sweep.scans.iter().map(|jobs| SettleFire::Heal(jobs.clone(), sweep.epoch)));
        }
        fires.truncate(self.fan_out);
        SettleHandout { fires, chunks: self.chunks.len(), next: self.next, heal: self.heal }
    }
}

/// A settler run's fires, and where its cursor goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettleHandout {
    pub fires: Vec<SettleFire>,
    /// Queue chunks handed out when every fire goes out.
    pub chunks: usize,
    next: Cursor,
    heal: Option<heal::Sweep>,
}

impl SettleHandout {
    /// The cursor once the first `fired` fires went out (the rest were not, or failed): it
    /// never passes work nobody took.
    pub fn cursor_after(&self, fired: usize) -> Cursor {
        let mut next = self.next;
        if let Some(SettleFire::Chunks(part)) = self.fires.get(fired) {
            if let Some(&(slot, index)) = part.first() {
                next.done = slot.saturating_sub(1);
                next.partial = index - 1;
            }
        }
        let mut scanners = 0;
        for fire in self.fires.iter().take(fired) {
            match fire {
                SettleFire::Chunks(_) => {}
                SettleFire::Scan(job) => next.scans = *job,
                SettleFire::Recounts(jobs) => next.recounts = jobs.last().copied().unwrap_or(next.recounts),
                SettleFire::Heal(..) => scanners += 1,
            }
        }
        if let Some(sweep) = &self.heal {
            next.heal = Some(sweep.cursor_after(scanners));
        }
        next
    }
}
