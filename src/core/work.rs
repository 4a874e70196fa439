//! Work one execution hands to another with `fire`: the items, the channels the worker
//! Functions are bound to, and the parsers that refuse a malformed item (`fire` is input too).
//!
//! - `presence.work` / `settle.work` on `presence-work.*` ([`WorkItem`]): observations to
//!   decide; settle-queue chunks to read, or their users to settle from presence.
//! - `reconcile.work` on `reconcile-work.*` ([`ScanItem`]): one shard reconciliation step.
//! - `recount.work` on `recount-work.*` ([`RecountItem`]): `friendCount` recounts, queued
//!   (job indices, fired by the settler) or named (the two users of a friend command).

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use super::presence::Observation;
use super::reconcile::ScanState;
use super::Rejection;
use crate::domain::channels::push_u64;
use crate::domain::json::FromJson;
use crate::domain::Json;

/// Chained executions below the triggering one (PubNub allows 3 hops in all).
pub const MAX_HOP: u8 = 2;

/// Channel prefix the presence workers are bound to (After Publish on `presence-work.*`).
pub const WORK_PREFIX: &str = "presence-work.";
pub const PRESENCE_WORK: &str = "presence.work";
pub const SETTLE_WORK: &str = "settle.work";
/// Channel prefix the reconcile worker is bound to.
pub const RECONCILE_PREFIX: &str = "reconcile-work.";
pub const RECONCILE_WORK: &str = "reconcile.work";
/// Channel prefix the recount worker is bound to.
pub const RECOUNT_PREFIX: &str = "recount-work.";
pub const RECOUNT_WORK: &str = "recount.work";

/// Settle-queue chunks one presence worker reads (KV), keeping two KV ops to re-queue and
/// two for its metrics (`metrics::SETTLE_METRICS_KV`).
pub const CHUNKS_PER_WORKER: usize = 6;
/// Recount jobs one recount worker takes.
pub const RECOUNTS_PER_WORKER: usize = 4;

/// A slice of presence work handed to another execution with `fire`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkItem {
    #[serde(rename = "type")]
    pub kind: String,
    pub hop: u8,
    pub shard: u32,
    pub observations: Vec<Observation>,
    /// For `settle.work`: queue chunks to read, as `[slot, index]`.
    pub chunks: Vec<(u64, i64)>,
}

impl WorkItem {
    pub fn presence(shard: u32, hop: u8, observations: Vec<Observation>) -> Self {
        WorkItem { kind: PRESENCE_WORK.into(), hop, shard, observations, chunks: Vec::new() }
    }

    /// Settle work: a lane at hop 1 below the settler, its workers at hop 2.
    pub fn settle(hop: u8, chunks: Vec<(u64, i64)>) -> Self {
        WorkItem { kind: SETTLE_WORK.into(), hop, shard: 0, observations: Vec::new(), chunks }
    }
}

/// The channel presence work for `shard` is fired on.
pub fn work_channel(shard: u32) -> String {
    numbered(WORK_PREFIX, shard as u64)
}

/// The channel the settler fires settle work on.
pub fn settle_channel() -> String {
    let mut s = String::from(WORK_PREFIX);
    s.push_str("settle");
    s
}

/// The channel a shard's scan continues on (inline state, fired by the previous step).
pub fn reconcile_channel(shard: u32) -> String {
    numbered(RECONCILE_PREFIX, shard as u64)
}

/// The channel the settler fires queued scans on.
pub fn scan_jobs_channel() -> String {
    let mut s = String::from(RECONCILE_PREFIX);
    s.push_str("scan");
    s
}

/// The channel the settler fires recount jobs on.
pub fn recount_channel() -> String {
    let mut s = String::from(RECOUNT_PREFIX);
    s.push_str("jobs");
    s
}

/// The channel the heal sweep fires its scanners on (`core::heal`).
pub fn heal_scan_channel() -> String {
    let mut s = String::from(RECOUNT_PREFIX);
    s.push_str("heal");
    s
}

fn numbered(prefix: &str, n: u64) -> String {
    let mut s = String::from(prefix);
    push_u64(&mut s, n);
    s
}

fn hop(obj: &crate::domain::JsonObject, what: &'static str) -> Result<u8, Rejection> {
    obj.u64("hop").filter(|h| (1..=MAX_HOP as u64).contains(h)).map(|h| h as u8).ok_or_else(|| Rejection::new(what))
}

pub fn parse_work_item(message: &Json) -> Result<WorkItem, Rejection> {
    let obj = message.as_object().ok_or_else(|| Rejection::new("work item is not an object"))?;
    let kind = obj.str("type").ok_or_else(|| Rejection::new("work item has no type"))?;
    if kind != PRESENCE_WORK && kind != SETTLE_WORK {
        return Err(Rejection::with("unknown work item type", kind));
    }
    let hop = hop(obj, "work item hop is not 1 or 2")?;
    let shard = obj.u64("shard").filter(|s| *s < 1_000_000).ok_or_else(|| Rejection::new("work item shard is not a number"))? as u32;
    let mut item = WorkItem { kind: kind.to_owned(), hop, shard, observations: Vec::new(), chunks: Vec::new() };
    if let Some(Json::Arr(list)) = obj.get("observations") {
        for entry in list {
            item.observations.push(Observation::from_json(entry).map_err(Rejection::new)?);
        }
    }
    if let Some(Json::Arr(list)) = obj.get("chunks") {
        for entry in list {
            match entry {
                Json::Arr(pair) if pair.len() == 2 => match (&pair[0], &pair[1]) {
                    (Json::Num(s), Json::Num(i)) if *s >= 0.0 && *i >= 0.0 => item.chunks.push((*s as u64, *i as i64)),
                    _ => return Err(Rejection::new("work item chunk is not [slot, index]")),
                },
                _ => return Err(Rejection::new("work item chunk is not [slot, index]")),
            }
        }
    }
    if item.observations.is_empty() && item.chunks.is_empty() {
        return Err(Rejection::new("work item carries no work"));
    }
    Ok(item)
}

/// `reconcile.work`: a scan step carried inline (`scan`) or queued (`job`, an index).
#[derive(Serialize)]
pub struct ScanItem<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub hop: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<&'a ScanState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<i64>,
}

/// Where a step's scan state is: carried in the item, or queued under a job index.
#[derive(Clone, Debug, PartialEq)]
pub enum Scan {
    Inline(ScanState),
    Queued(i64),
}

pub fn parse_scan_item(message: &Json) -> Result<(u8, Scan), Rejection> {
    let obj = message.as_object().ok_or_else(|| Rejection::new("reconcile item is not an object"))?;
    let hop = hop(obj, "reconcile item hop is not 1 or 2")?;
    match obj.str("type") {
        Some(RECONCILE_WORK) => {
            let scan: Option<ScanState> = obj.field_or("scan", None).map_err(Rejection::new)?;
            let job = obj.u64("job").map(|n| n as i64);
            match (scan, job) {
                (Some(scan), None) => Ok((hop, Scan::Inline(scan))),
                (None, Some(job)) => Ok((hop, Scan::Queued(job))),
                _ => Err(Rejection::new("reconcile item needs exactly one of scan or job")),
            }
        }
        Some(other) => Err(Rejection::with("unknown reconcile item type", other)),
        None => Err(Rejection::new("reconcile item has no type")),
    }
}

/// `recount.work`: indices of queued recount jobs (`jobs`), or the users to recount
/// (`users`: the two users of a friendship a friend command just made or removed); or
/// `heal.work`: journal references for a heal scanner (`jobs`, `epoch`).
#[derive(Serialize)]
pub struct RecountItem<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub hop: u8,
    #[serde(skip_serializing_if = "<[i64]>::is_empty")]
    pub jobs: &'a [i64],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub users: &'a [String],
    /// `heal.work` (the same shape: one serializer in the settler): the sweep epoch its scanner
    /// acknowledges in (`core::heal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
}

/// `recount.work` as the friend commands fire it: the users of a friendship made or removed
/// (parsed as [`RecountWork::Users`]), or one user and `hole`, the group a removal took one
/// of the user's friends out of, to refill ([`RecountWork::Refill`]). One type for both, so a
/// bundle carries one serializer for its fires.
#[derive(Serialize)]
pub struct FriendsWork<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub hop: u8,
    pub users: &'a [&'a str],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hole: Option<u64>,
}

/// What a recount item asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecountWork {
    Jobs(Vec<i64>),
    /// `heal.work`: journal references to scan (`core::heal`), by job index, and the sweep
    /// epoch to acknowledge in (`None`: an item from before epochs, not acknowledged).
    Journals(Vec<i64>, Option<u64>),
    Users(Vec<String>),
    /// Refill `user`'s group `hole` from its last group (`core::friends::refill_from`).
    Refill {
        user: String,
        hole: u64,
    },
}

pub fn parse_recount_item(message: &Json) -> Result<RecountWork, Rejection> {
    let obj = message.as_object().ok_or_else(|| Rejection::new("recount item is not an object"))?;
    let heal = obj.str("type") == Some(super::heal::HEAL_WORK);
    if obj.str("type") != Some(RECOUNT_WORK) && !heal {
        return Err(Rejection::new("recount item type is not recount.work or heal.work"));
    }
    // A scanner fires at the next hop: it must have one.
    if hop(obj, "recount item hop is not 1 or 2")? != 1 && heal {
        return Err(Rejection::new("heal.work runs at hop 1"));
    }
    if obj.get("users").is_some() {
        let users: Vec<String> = obj.field("users").map_err(|_| Rejection::new("recount item users is not a list of ids"))?;
        if users.is_empty() || users.len() > 2 {
            return Err(Rejection::new("recount item names 1 or 2 users"));
        }
        if obj.get("hole").is_some() {
            let hole = obj.u64("hole").filter(|g| *g < crate::domain::channels::GROUPS_PER_USER as u64);
            return match (hole, users.as_slice()) {
                (Some(hole), [user]) => Ok(RecountWork::Refill { user: user.clone(), hole }),
                _ => Err(Rejection::new("a refill names one user and a group index")),
            };
        }
        return Ok(RecountWork::Users(users));
    }
    let jobs: Vec<u64> = obj.field("jobs").map_err(|_| Rejection::new("recount item has no job list"))?;
    let most = if heal { super::heal::JOURNALS_PER_SCAN } else { RECOUNTS_PER_WORKER };
    if jobs.is_empty() || jobs.len() > most {
        return Err(Rejection::new("recount item job list is empty or too long"));
    }
    let jobs = jobs.into_iter().map(|n| n as i64).collect();
    Ok(if heal { RecountWork::Journals(jobs, obj.u64("epoch")) } else { RecountWork::Jobs(jobs) })
}

/// Channel prefix the count workers are bound to (After Publish on `count-work.*`).
pub const COUNT_PREFIX: &str = "count-work.";
pub const COUNT_WORK: &str = "count.work";

/// `count.work`: count the shards `[lo, hi)` into round slot `slot` (`core::count`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CountItem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub hop: u8,
    pub slot: u32,
    pub lo: u32,
    pub hi: u32,
}

/// The channel count work for a round slot is fired on.
pub fn count_channel(slot: u32) -> String {
    numbered(COUNT_PREFIX, slot as u64)
}

pub fn parse_count_item(message: &Json) -> Result<CountItem, Rejection> {
    use super::count::{MAX_SHARDS, ROUND_FIRES, SHARDS_PER_WORKER, SLOTS};
    let obj = message.as_object().ok_or_else(|| Rejection::new("count item is not an object"))?;
    if obj.str("type") != Some(COUNT_WORK) {
        return Err(Rejection::new("count item type is not count.work"));
    }
    let hop = hop(obj, "count item hop is not 1 or 2")?;
    let field = |k| obj.u64(k).filter(|n| *n <= MAX_SHARDS as u64).map(|n| n as u32);
    let (Some(slot), Some(lo), Some(hi)) = (field("slot"), field("lo"), field("hi")) else {
        return Err(Rejection::new("count item needs slot, lo and hi"));
    };
    // A range larger than a leaf splits into ≤ 10 leaves, one hop further down.
    let most = if hop < MAX_HOP { MAX_SHARDS / ROUND_FIRES } else { SHARDS_PER_WORKER };
    if slot >= SLOTS || lo >= hi || hi - lo > most {
        return Err(Rejection::new("count item range or slot out of bounds"));
    }
    Ok(CountItem { kind: COUNT_WORK, hop, slot, lo, hi })
}

/// The hop chained work goes out at while hops remain; `None`: it goes to a KV queue instead.
pub fn next_hop(hop: u8) -> Option<u8> {
    (hop < MAX_HOP).then_some(hop + 1)
}
