//! The reconcile worker (After Publish on `reconcile-work.*`, fed by `fire`): shard
//! reconciliation steps (`here_now_refresh`, storms). Where a
//! dropped delta becomes a publish: `reconcile_worker` → `scan_step` → `presence.work` items
//! → `presence::dispatch` → `PubNub::publish(status.{userId})`.

#[allow(unused_imports)]
use crate::prelude::*;

use super::queues::{enqueue_at, fire_work, push_job};
use super::{cat, num, Report};
use crate::core::keys::JobQueue;
use crate::core::presence::Observation;
use crate::core::reconcile::{diff_range, id_order, ScanState};
use crate::core::work::{parse_scan_item, reconcile_channel, Scan, ScanItem, MAX_HOP, RECONCILE_WORK};
use crate::core::Config;
use crate::domain::channels::presence_shard;
use crate::domain::{Json, UserId};
use crate::host::{KvStore, PubNub, UserFilter};

/// hereNow pages (1,000 occupants each) a step may read: it must see the whole shard, and
/// keep at least one API call for App Context. Size shards below 8,000 (`shardCount`).
const MAX_HERE_NOW_PAGES: u32 = 8;
/// API calls a step may spend in all (one stays spare).
const STEP_API_CALLS: u32 = 9;
/// Observations per fired `presence.work` item (≤ 125 × ~110 bytes stays far below 32 KB).
const OBS_PER_ITEM: usize = 125;
/// At the last hop (or when a fire fails) changes go to the settle queue: ≤ 250 per chunk
/// (KV's 32,000 chars).
const OBS_PER_CHUNK: usize = 250;
/// Changes one step hands on: 6 fires, or 3 chunks (6 KV) if every fire failed, leaving the
/// job read and the continuation inside the 10 KV limit.
const CHANGES_PER_STEP: usize = 750;

pub async fn reconcile_worker<H: PubNub + KvStore>(host: &H, cfg: &Config, message: &Json, now_ms: u64) -> Report {
    let mut report = Report::new("reconcile-worker");
    match parse_scan_item(message) {
        Err(reason) => report.reject(reason),
        Ok((hop, Scan::Inline(scan))) => scan_step(host, cfg, scan, hop, now_ms, &mut report).await,
        Ok((hop, Scan::Queued(job))) => match host.get::<ScanState>(&JobQueue::Scans.job_key(job)).await {
            Ok(Some(scan)) => scan_step(host, cfg, scan, hop, now_ms, &mut report).await,
            Ok(None) => report.warn(cat(&["scan job #", &num(job as u64), " is gone (expired)"])),
            Err(e) => report.error(cat(&["cannot read scan job #", &num(job as u64), ": ", &e.describe()])),
        },
    }
    report
}

/// One step of a shard reconciliation. Ops: ≤ 9 API (hereNow pages + App Context pages),
/// ≤ 7 fires (6 work items + the continuation), ≤ 9 KV (the job, 3 chunks when the changes
/// cannot be fired, the continuation job).
async fn scan_step<H: PubNub + KvStore>(host: &H, _cfg: &Config, scan: ScanState, hop: u8, now_ms: u64, report: &mut Report) {
    let shard = scan.shard;
    if scan.due_ms.is_some_and(|due| now_ms < due) {
        // A storm's slot is still running: events batched into it may yet arrive.
        return requeue(host, &scan, report).await;
    }
    let channel = [presence_shard(shard)];
    let mut present: Vec<String> = Vec::new();
    let mut here_now_pages = 0;
    loop {
        if here_now_pages == MAX_HERE_NOW_PAGES {
            // Departures read from a partial list would be false: change nothing.
            report.error(cat(&["shard ", &num(shard as u64), " has more than 8,000 occupants; not reconciled (raise shardCount)"]));
            return;
        }
        match host.here_now(&channel, true, 1000, present.len() as u32).await {
            Ok(page) => {
                here_now_pages += 1;
                let before = present.len();
                present.extend(page.channels.into_iter().flat_map(|c| c.uuids).filter(|u| UserId::parse(u).is_ok()));
                if present.len() - before < 1000 {
                    break;
                }
            }
            Err(e) => {
                report.error(cat(&["hereNow failed, reconciliation queued: ", &e.describe()]));
                return requeue(host, &scan, report).await;
            }
        }
    }
    let mut present: Vec<&str> = present.iter().map(String::as_str).collect();
    sort_ids(&mut present);

    let at_ms = now_ms; // the read, by the clock (see `core::presence::is_stale`)
    let cap = CHANGES_PER_STEP;
    let mut changes: Vec<Observation> = Vec::new();
    // `cursor.page` fetched the page holding `cursor.after`: it is read again first, because
    // App Context cursors are offsets, and departures applied meanwhile shift the list back.
    let mut cursor = scan;
    let mut fetch = cursor.page.clone();
    let mut reread = cursor.page.is_some();
    let mut next = None;
    for _ in here_now_pages..STEP_API_CALLS {
        let page = match host.list_users(UserFilter::OnlineInShard(shard), 100, fetch.as_deref()).await {
            Ok(page) => page,
            Err(e) => {
                report.error(cat(&["App Context read failed, reconciliation continues later: ", &e.describe()]));
                next = Some(cursor.clone());
                break;
            }
        };
        let mut online: Vec<&str> = page.users.iter().map(|u| u.id.as_str()).collect();
        sort_ids(&mut online);
        if core::mem::take(&mut reread) {
            let after = cursor.after.as_deref().unwrap_or("");
            if online.first().is_none_or(|first| id_order(first, after) == core::cmp::Ordering::Greater) {
                // The list shrank past the page we stopped in: ids may have moved before it.
                report.info("online list shifted by more than a page; scanning again from its start");
                fetch = None;
                continue;
            }
        }
        // This page covers ids up to its last one; the last page covers the rest.
        let hi = match page.next {
            Some(_) => online.last().map(|s| String::from(*s)).or_else(|| cursor.after.clone()),
            None => None,
        };
        if let Some(stop) = diff_range(&present, &online, cursor.after.as_deref(), hi.as_deref(), at_ms, cap, &mut changes) {
            // Full: the next step re-reads this page from just after `stop`.
            next = Some(ScanState { after: Some(stop), page: fetch.clone(), ..cursor.clone() });
            break;
        }
        match page.next {
            None => {
                next = None;
                break;
            }
            Some(token) => {
                cursor = ScanState { after: hi, page: fetch.replace(token), ..cursor };
                next = Some(cursor.clone());
            }
        }
    }
    let joined = changes.iter().filter(|o| o.online).count() as u64;
    report.info(cat(&[
        "reconciled shard ",
        &num(shard as u64),
        ": ",
        &num(present.len() as u64),
        " present, ",
        &num(joined),
        " joined, ",
        &num(changes.len() as u64 - joined),
        " left",
        if next.is_some() { ", continuing" } else { ", done" },
    ]));
    hand_off(host, shard, changes, hop, now_ms, report).await;
    if let Some(next) = next {
        continue_scan(host, next, hop, report).await;
    }
}

/// One sort for both lists (each sort instance costs the bundle kilobytes).
fn sort_ids(ids: &mut Vec<&str>) {
    ids.sort_unstable_by(|a, b| id_order(a, b));
    ids.dedup();
}

/// Changes go to presence workers (`fire`) while hops remain, otherwise to the settle queue
/// due now: either way they are decided like any event, debounce included.
async fn hand_off<H: PubNub + KvStore>(host: &H, shard: u32, mut changes: Vec<Observation>, hop: u8, now_ms: u64, report: &mut Report) {
    if hop < MAX_HOP {
        changes = fire_work(host, shard, hop + 1, &changes, OBS_PER_ITEM, report).await;
    }
    for part in changes.chunks(OBS_PER_CHUNK) {
        enqueue_at(host, part.to_vec(), now_ms, now_ms, report).await;
    }
}

async fn continue_scan<H: PubNub + KvStore>(host: &H, next: ScanState, hop: u8, report: &mut Report) {
    if hop < MAX_HOP {
        let channel = reconcile_channel(next.shard);
        let item = ScanItem { kind: RECONCILE_WORK, hop: hop + 1, scan: Some(&next), job: None };
        match host.fire(&channel, &item).await {
            Ok(()) => return,
            Err(e) => report.warn(cat(&["fire to ", &channel, " failed, scan queued: ", &e.describe()])),
        }
    }
    requeue(host, &next, report).await
}

async fn requeue<H: KvStore>(host: &H, scan: &ScanState, report: &mut Report) {
    if let Err(e) = push_job(host, JobQueue::Scans, scan).await {
        report.error(cat(&["reconciliation of shard ", &num(scan.shard as u64), " lost: ", &e.describe()]));
    }
}
