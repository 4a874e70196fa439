//! Every KV key this system writes, and how long each value lives. KV TTLs are in minutes
//! (the platform's unit). Counters (`incrCounter`) take no TTL; they are listed with the
//! values they index.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::domain::channels::push_u64;
use crate::domain::time::utc_day;
use crate::domain::UserId;

const HOUR_MINUTES: u32 = 60;
const DAY_MINUTES: u32 = 24 * HOUR_MINUTES;

// ---- friend commands ------------------------------------------------------------------

/// `friend-request:{from}:{to}`: a request waiting for `to`'s answer.
pub fn request_key(from: &UserId, to: &UserId) -> String {
    join(&["friend-request", from.as_str(), to.as_str()])
}

/// A request unanswered for 30 days is forgotten.
pub const REQUEST_TTL_MINUTES: u32 = 30 * DAY_MINUTES;

/// `cmd:{sender}:{eventId}`: a friend command's outcome ([`super::friends::CommandRecord`]).
/// While an acceptance or removal is under way it holds that command's plan (a journal), so
/// a re-send with the same `eventId` finishes the same plan; once done, it holds the result,
/// and a re-send is answered with it again. Event ids hold no `:`.
pub fn result_key(sender: &UserId, event_id: &str) -> String {
    join(&["cmd", sender.as_str(), event_id])
}

/// The sender and `eventId` a [`result_key`] names (a journal reference, `core::heal`).
pub fn parse_result_key(key: &str) -> Option<(UserId, &str)> {
    let rest = key.strip_prefix("cmd:")?;
    let (sender, event_id) = rest.split_once(':')?;
    Some((UserId::parse(sender).ok()?, event_id))
}

/// A week: clients re-send a command until it is answered, within minutes; a device that
/// comes back later than this gets the command decided afresh.
pub const RESULT_TTL_MINUTES: u32 = 7 * DAY_MINUTES;

/// `accepting:{lo}:{hi}`: an acceptance between the two users is running. It is written before
/// the acceptance reads the pending request, and a removal deletes the pending requests before
/// it reads this, so of an acceptance and a removal that overlap, either the acceptance finds
/// no request or the removal finds the lease and waits for a re-send (it never removes a
/// friendship that is being written). The pair is ordered, so either side names the same key.
/// Its value is the acceptance's record key: a lease whose acceptance is done does not hold
/// anything back (an acceptance that fell over to another group leaves its lease to expire).
pub fn lease_key(a: &UserId, b: &UserId) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    join(&["accepting", lo.as_str(), hi.as_str()])
}

/// The platform's shortest TTL; an acceptance takes seconds, and one that crashed holds
/// removals of the pair back for at most this long.
pub const LEASE_TTL_MINUTES: u32 = 1;

// ---- settle queue (the debounce's trailing edge, `core::settle`) ----------------------

/// `settle:cursor`: where the settler is in the slots and the job queues.
pub const CURSOR_KEY: &str = "settle:cursor";
/// A day: a settler paused longer starts over from its look-back, as on a first run.
pub const CURSOR_TTL_MINUTES: u32 = DAY_MINUTES;

/// `settle:{slot}` (counter): chunks written into a queue slot so far.
pub fn slot_key(slot: u64) -> String {
    let mut s = String::from("settle:");
    push_u64(&mut s, slot);
    s
}

/// `settle:{slot}:{n}`: one execution's deferred observations.
pub fn chunk_key(slot: u64, index: i64) -> String {
    indexed(slot_key(slot), index)
}

/// Queue values (chunks and jobs) outlive any plausible settler outage, then expire.
pub const QUEUE_TTL_MINUTES: u32 = HOUR_MINUTES;

/// Work that is not due at a time but in order: FIFO queues beside the settle slots, each an
/// atomic counter (`{queue}`) handing out indices and one KV value per job (`{queue}:{n}`,
/// [`QUEUE_TTL_MINUTES`]). They keep slow maintenance out of the presence slots: a backlog
/// there never delays a deferred status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobQueue {
    /// Shard reconciliation steps still to run ([`super::reconcile::ScanState`]).
    Scans,
    /// Users whose App Context `friendCount` lost an ETag race and must be re-copied from
    /// their atomic counter (a [`super::settle::Recount`]).
    Recounts,
    /// Friend command journals, each queued as it is opened (its record's key, a
    /// [`result_key`]), for the heal sweep to look at a little later (`core::heal`).
    Journals,
}

impl JobQueue {
    /// `scan` / `recount` (counter): jobs queued so far.
    pub fn counter_key(self) -> &'static str {
        match self {
            JobQueue::Scans => "scan",
            JobQueue::Recounts => "recount",
            JobQueue::Journals => "journal",
        }
    }

    /// How long one job lives.
    pub fn ttl_minutes(self) -> u32 {
        match self {
            JobQueue::Journals => JOURNAL_TTL_MINUTES,
            _ => QUEUE_TTL_MINUTES,
        }
    }

    /// `scan:{n}` / `recount:{n}` / `journal:{n}`: one job.
    pub fn job_key(self, index: i64) -> String {
        indexed(String::from(self.counter_key()), index)
    }
}

/// `heal:ack:{k}` (counter, k < `heal::ACK_SLOTS`): heal scanners that read all their journals,
/// for the sweep epochs using slot k (`core::heal::Epoch`); only ever increased. Two in all.
pub fn heal_ack_key(slot: u64) -> String {
    let mut s = String::from("heal:ack:");
    push_u64(&mut s, slot);
    s
}
/// A journal reference outlives any plausible sweep backlog (the sweep looks at it within a
/// minute of its being queued), then expires.
pub const JOURNAL_TTL_MINUTES: u32 = DAY_MINUTES;

// ---- storms (`core::reconcile`) --------------------------------------------------------

/// `storm:{shard}:{slot}` (counter): a shard's individual presence events in one settle slot.
pub fn storm_key(shard: u32, slot: u64) -> String {
    let mut s = String::from("storm:");
    push_u64(&mut s, shard as u64);
    s.push(':');
    push_u64(&mut s, slot);
    s
}

// ---- the global count (`core::count`) ---------------------------------------------------

/// `count:last`: the previous count, for `deltaFromLast`.
pub const LAST_COUNT_KEY: &str = "count:last";
/// An hour: after a longer gap a delta means nothing, and a missing one is reported as 0.
pub const LAST_COUNT_TTL_MINUTES: u32 = HOUR_MINUTES;

/// `count:round`: the count round in flight above `INLINE_SHARDS` shards (`core::count::CountRound`).
pub const COUNT_ROUND_KEY: &str = "count:round";
/// An hour, like the last count: an older round is not worth publishing.
pub const COUNT_ROUND_TTL_MINUTES: u32 = HOUR_MINUTES;

/// `count:slot:{k}` (counter, k < `count::SLOTS`): what the count workers of the rounds using
/// slot k have added; only ever increased, a round is the difference across it. Three in all.
pub fn count_slot_key(slot: u32) -> String {
    let mut s = String::from("count:slot:");
    push_u64(&mut s, slot as u64);
    s
}

/// `count:peak:{YYYY-MM-DD}`: today's peak (UTC day).
pub fn peak_key(now_ms: u64) -> String {
    let mut s = String::from("count:peak:");
    s.push_str(&utc_day(now_ms));
    s
}

/// 2 days: the key is per UTC day, so it only has to outlive its day.
pub const PEAK_TTL_MINUTES: u32 = 2 * DAY_MINUTES;

// ---- the operators' metrics (`core::metrics`) -------------------------------------------

/// `metric:{name}` (counter): one per metric, only ever incremented: rates are differences
/// between snapshots, so nothing expires or is reset.
pub const METRIC_PREFIX: &str = "metric:";
/// `metrics:history`: the snapshot's points (a minute apart over an hour, and the latest).
pub const METRICS_HISTORY_KEY: &str = "metrics:history";
/// 2 hours: the hour the storm alert looks back, and a margin; a longer gap starts afresh.
pub const METRICS_HISTORY_TTL_MINUTES: u32 = 2 * HOUR_MINUTES;

/// `a:b:c`. A loop, not `[&str]::join` (~1 KB of wasm in every bundle).
fn join(parts: &[&str]) -> String {
    let mut s = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(part);
    }
    s
}

fn indexed(mut key: String, index: i64) -> String {
    key.push(':');
    push_u64(&mut key, index.max(0) as u64);
    key
}
