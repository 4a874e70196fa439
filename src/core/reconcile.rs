//! Shard reconciliation: who presence says is in a shard vs who App Context marks online.
//!
//! Used when per-user events cannot be trusted to arrive one by one: `here_now_refresh`
//! (PubNub dropped the deltas, so departures are known to nobody) and storms (a shard's
//! individual events are only counted, then the shard is reconciled once the burst has
//! passed). Presence itself is the truth; the differences become ordinary observations that
//! go through the same debounced decision as events do.
//!
//! A step walks App Context's online users of the shard in ascending id order, one page at a
//! time, and compares each id range with the (sorted) present ids: present but not online →
//! joined; online but not present → left. A step that runs out of budget hands on a
//! [`ScanState`], so a 5,000-user shard takes several chained steps.

#[allow(unused_imports)]
use crate::prelude::*;
use core::cmp::Ordering;
use serde::Serialize;

use super::presence::Observation;
use crate::domain::json::{FromJson, Json};
use crate::domain::UserId;

/// App Context and the JS SDK order ids by UTF-16 code units; Rust's `str` order (bytes)
/// differs for characters above U+FFFF, so ranges are compared the JS way.
pub fn id_order(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Where a shard scan continues: after id `after`, reading App Context from page `page`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ScanState {
    #[serde(rename = "s")]
    pub shard: u32,
    /// Every id ≤ this one is reconciled.
    #[serde(rename = "a", skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// App Context cursor of the page holding `after`, read again first: cursors are offsets,
    /// and departures applied meanwhile shift the list back.
    #[serde(rename = "p", skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Not before this time (epoch ms): a storm's scan waits until its slot has passed.
    #[serde(rename = "d", skip_serializing_if = "Option::is_none")]
    pub due_ms: Option<u64>,
}

impl ScanState {
    pub fn shard(shard: u32) -> Self {
        ScanState { shard, ..Default::default() }
    }
}

impl FromJson for ScanState {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        let obj = v.as_object().ok_or("shard scan is not an object")?;
        let shard = obj.u64("s").filter(|s| *s < 1_000_000).ok_or("shard scan has no shard")? as u32;
        let after: Option<String> = obj.field_or("a", None)?;
        if let Some(a) = &after {
            UserId::parse(a).map_err(|e| e.reason())?;
        }
        let page: Option<String> = obj.field_or("p", None)?;
        if page.as_ref().is_some_and(|p| p.len() > 1000) {
            return Err("shard scan page cursor is too long");
        }
        Ok(ScanState { shard, after, page, due_ms: obj.field_or("d", None)? })
    }
}

/// Compares the ids in `(after, hi]` (`hi = None`: to the end) of `present` (sorted by
/// [`id_order`]) with `online` (App Context's online users of the shard in that range,
/// sorted). Appends the differences to `out` until it holds `cap`; returns the id it
/// stopped at (everything up to it is done) when the cap cut the range short.
pub fn diff_range(
    present: &[&str],
    online: &[&str],
    after: Option<&str>,
    hi: Option<&str>,
    at_ms: u64,
    cap: usize,
    out: &mut Vec<Observation>,
) -> Option<String> {
    let in_range =
        |id: &str| after.is_none_or(|a| id_order(id, a) == Ordering::Greater) && hi.is_none_or(|h| id_order(id, h) != Ordering::Greater);
    let mut p = present.iter().copied().filter(|id| in_range(id)).peekable();
    let mut o = online.iter().copied().filter(|id| in_range(id)).peekable();
    loop {
        let (id, online_now) = match (p.peek(), o.peek()) {
            (None, None) => return None,
            (Some(&x), None) => {
                p.next();
                (x, true)
            }
            (None, Some(&y)) => {
                o.next();
                (y, false)
            }
            (Some(&x), Some(&y)) => match id_order(x, y) {
                Ordering::Equal => {
                    p.next();
                    o.next();
                    continue; // present and marked online: nothing to do
                }
                Ordering::Less => {
                    p.next();
                    (x, true)
                }
                Ordering::Greater => {
                    o.next();
                    (y, false)
                }
            },
        };
        out.push(Observation { user: id.to_owned(), online: online_now, at_ms, reconciled: true });
        if out.len() >= cap {
            return Some(id.to_owned());
        }
    }
}

/// Storm detection: individual presence events one shard may see per settle slot (2.5 s)
/// before it switches to batching (10 events/s).
pub const STORM_EVENTS_PER_SLOT: i64 = 25;

/// What a storm-counted event does: the counter value `n` is this event's place in the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StormMode {
    /// Below the threshold: decide this event on its own.
    Single,
    /// The first event over the threshold: schedule one reconciliation of the shard for the
    /// end of the slot, and batch this event into it.
    Begin,
    /// Batched: the scheduled reconciliation reads the outcome from presence.
    Batched,
}

pub fn storm_mode(n: i64) -> StormMode {
    match n {
        n if n <= STORM_EVENTS_PER_SLOT => StormMode::Single,
        n if n == STORM_EVENTS_PER_SLOT + 1 => StormMode::Begin,
        _ => StormMode::Batched,
    }
}
