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
use super::records::UsersPage;
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
        out.push(Observation { user: id.to_owned(), online: online_now, at_ms, reconciled: true, republish: None });
        if out.len() >= cap {
            return Some(id.to_owned());
        }
    }
}

/// hereNow pages (1,000 occupants each) a step may read: it must see the whole shard, and
/// keep at least one API call for App Context. Size shards below 8,000 (`shardCount`).
pub const MAX_HERE_NOW_PAGES: u32 = 8;
pub const HERE_NOW_PAGE: u32 = 1000;
/// API calls a step may spend in all (one stays spare).
pub const STEP_API_CALLS: u32 = 9;
/// Changes one step hands on: 6 fires, or 3 chunks (6 KV) if every fire failed, leaving the
/// job read and the continuation inside the 10 KV limit.
pub const CHANGES_PER_STEP: usize = 750;
/// Observations per fired `presence.work` item (≤ 125 × ~110 bytes stays far below 32 KB).
pub const OBS_PER_ITEM: usize = 125;
/// At the last hop (or when a fire fails) changes go to the settle queue: ≤ 250 per chunk
/// (KV's 32,000 chars).
pub const OBS_PER_CHUNK: usize = 250;

impl ScanState {
    /// A storm's scan waits until its slot has passed: events batched into it may yet arrive.
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.due_ms.is_none_or(|due| now_ms >= due)
    }
}

/// After a hereNow page of the shard that held `added` (valid) occupants, `pages` read in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occupants {
    /// A short page: everyone is known.
    Complete,
    /// A full page: read the next one.
    ReadMore,
    /// More than a step can read: departures read from a partial list would be false, so the
    /// shard is not reconciled.
    TooMany,
}

pub fn after_occupants_page(pages: u32, added: usize) -> Occupants {
    if added < HERE_NOW_PAGE as usize {
        Occupants::Complete
    } else if pages >= MAX_HERE_NOW_PAGES {
        Occupants::TooMany
    } else {
        Occupants::ReadMore
    }
}

/// Sorts ids the JS way ([`id_order`]) and drops repeats. One sort for both lists of a step
/// (each sort instance costs the bundle kilobytes).
pub fn sort_ids(ids: &mut Vec<&str>) {
    ids.sort_unstable_by(|a, b| id_order(a, b));
    ids.dedup();
}

/// The App Context half of a scan step: walks the shard's online users page by page from
/// the scan state and compares each id range with who is present. Feed it the pages it asks
/// for ([`ScanWalk::next_page`]); [`ScanWalk::finish`] gives the changes and where the next
/// step continues (`None`: the shard is done).
#[derive(Clone, Debug, PartialEq)]
pub struct ScanWalk {
    cursor: ScanState,
    /// The page to read next.
    fetch: Option<String>,
    /// `cursor.page` fetched the page holding `cursor.after`: it is read again first, because
    /// App Context cursors are offsets, and departures applied meanwhile shift the list back.
    reread: bool,
    next: Option<ScanState>,
    calls_left: u32,
    changes: Vec<Observation>,
    at_ms: u64,
}

/// What one App Context page did to the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkPage {
    Compared,
    /// The list shrank past the page the scan stopped in: ids may have moved before it, so
    /// the walk starts again from the first page.
    Shifted,
}

impl ScanWalk {
    /// `here_now_pages`: API calls the step spent on occupants; `at_ms`: the time of the
    /// reads, by the clock (see `core::presence::is_stale`).
    pub fn new(scan: ScanState, here_now_pages: u32, at_ms: u64) -> Self {
        ScanWalk {
            fetch: scan.page.clone(),
            reread: scan.page.is_some(),
            cursor: scan,
            next: None,
            calls_left: STEP_API_CALLS.saturating_sub(here_now_pages),
            changes: Vec::new(),
            at_ms,
        }
    }

    /// The App Context page to read next (`Some(None)`: the first), or `None` when the step
    /// is over.
    pub fn next_page(&self) -> Option<Option<&str>> {
        (self.calls_left > 0).then_some(self.fetch.as_deref())
    }

    /// The read failed: the next step continues from where this one stands.
    pub fn read_failed(&mut self) {
        self.next = Some(self.cursor.clone());
        self.calls_left = 0;
    }

    /// One page of online users; `present` are the shard's occupants, sorted by [`sort_ids`].
    pub fn page(&mut self, present: &[&str], page: &UsersPage) -> WalkPage {
        self.calls_left = self.calls_left.saturating_sub(1);
        let mut online: Vec<&str> = page.users.iter().map(|u| u.id.as_str()).collect();
        sort_ids(&mut online);
        if core::mem::take(&mut self.reread) {
            let after = self.cursor.after.as_deref().unwrap_or("");
            if online.first().is_none_or(|first| id_order(first, after) == Ordering::Greater) {
                self.fetch = None;
                return WalkPage::Shifted;
            }
        }
        // This page covers ids up to its last one; the last page covers the rest.
        let hi = match page.next {
            Some(_) => online.last().map(|s| String::from(*s)).or_else(|| self.cursor.after.clone()),
            None => None,
        };
        let cursor = &self.cursor;
        if let Some(stop) =
            diff_range(present, &online, cursor.after.as_deref(), hi.as_deref(), self.at_ms, CHANGES_PER_STEP, &mut self.changes)
        {
            // Full: the next step re-reads this page from just after `stop`.
            self.next = Some(ScanState { after: Some(stop), page: self.fetch.clone(), ..cursor.clone() });
            self.calls_left = 0;
            return WalkPage::Compared;
        }
        match &page.next {
            None => {
                self.next = None;
                self.calls_left = 0;
            }
            Some(token) => {
                let page = self.fetch.replace(token.clone());
                self.cursor = ScanState { after: hi, page, ..self.cursor.clone() };
                self.next = Some(self.cursor.clone());
            }
        }
        WalkPage::Compared
    }

    /// The changes found (≤ [`CHANGES_PER_STEP`]) and the state the next step starts from.
    pub fn finish(self) -> (Vec<Observation>, Option<ScanState>) {
        (self.changes, self.next)
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
