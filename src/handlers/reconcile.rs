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
use crate::core::reconcile::{
    after_occupants_page, sort_ids, Occupants, ScanState, ScanWalk, WalkPage, HERE_NOW_PAGE, OBS_PER_CHUNK, OBS_PER_ITEM,
};
use crate::core::work::{next_hop, parse_scan_item, reconcile_channel, Scan, ScanItem, RECONCILE_WORK};
use crate::core::Config;
use crate::domain::channels::presence_shard;
use crate::domain::{Json, UserId};
use crate::host::{KvStore, PubNub, UserFilter};

pub async fn reconcile_worker<H: PubNub + KvStore>(host: &H, _cfg: &Config, message: &Json, now_ms: u64) -> Report {
    let mut report = Report::new("reconcile-worker");
    match parse_scan_item(message) {
        Err(reason) => report.reject(reason),
        Ok((hop, Scan::Inline(scan))) => scan_step(host, scan, hop, now_ms, &mut report).await,
        Ok((hop, Scan::Queued(job))) => match host.get::<ScanState>(&JobQueue::Scans.job_key(job)).await {
            Ok(Some(scan)) => scan_step(host, scan, hop, now_ms, &mut report).await,
            Ok(None) => report.warn(cat(&["scan job #", &num(job as u64), " is gone (expired)"])),
            Err(e) => report.error(cat(&["cannot read scan job #", &num(job as u64), ": ", &e.describe()])),
        },
    }
    report
}

/// One step of a shard reconciliation: the occupants (hereNow), then App Context's online
/// users as `ScanWalk` asks for them; the changes go to presence workers. Ops: ≤ 9 API
/// (hereNow pages + App Context pages), ≤ 7 fires (6 work items + the continuation), ≤ 9 KV
/// (the job, 3 chunks when the changes cannot be fired, the continuation job).
// Long on purpose: one reconciliation step's reads, the walk's decision and the hand-off, in budget
// order (the walk itself is `core::reconcile`'s `ScanWalk`).
async fn scan_step<H: PubNub + KvStore>(host: &H, scan: ScanState, hop: u8, now_ms: u64, report: &mut Report) {
    let shard = scan.shard;
    if !scan.is_due(now_ms) {
        return requeue(host, &scan, report).await;
    }
    let channel = [presence_shard(shard)];
    let mut present: Vec<String> = Vec::new();
    let mut here_now_pages = 0;
    loop {
        let page = match host.here_now(&channel, true, HERE_NOW_PAGE, present.len() as u32).await {
            Ok(page) => page,
            Err(e) => {
                report.error(cat(&["hereNow failed, reconciliation queued: ", &e.describe()]));
                return requeue(host, &scan, report).await;
            }
        };
        here_now_pages += 1;
        let before = present.len();
        present.extend(page.channels.into_iter().flat_map(|c| c.uuids).filter(|u| UserId::parse(u).is_ok()));
        match after_occupants_page(here_now_pages, present.len() - before) {
            Occupants::Complete => break,
            Occupants::ReadMore => {}
            Occupants::TooMany => {
                report.error(cat(&["shard ", &num(shard as u64), " has more than 8,000 occupants; not reconciled (raise shardCount)"]));
                return;
            }
        }
    }
    let mut present: Vec<&str> = present.iter().map(String::as_str).collect();
    sort_ids(&mut present);

    let mut walk = ScanWalk::new(scan, here_now_pages, now_ms);
    while let Some(fetch) = walk.next_page() {
        match host.list_users(UserFilter::OnlineInShard(shard), 100, fetch).await {
            Ok(page) => {
                if walk.page(&present, &page) == WalkPage::Shifted {
                    report.info("online list shifted by more than a page; scanning again from its start");
                }
            }
            Err(e) => {
                report.error(cat(&["App Context read failed, reconciliation continues later: ", &e.describe()]));
                walk.read_failed();
            }
        }
    }
    let (changes, next) = walk.finish();
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

/// Changes go to presence workers (`fire`) while hops remain, otherwise to the settle queue
/// due now: either way they are decided like any event, debounce included.
async fn hand_off<H: PubNub + KvStore>(host: &H, shard: u32, mut changes: Vec<Observation>, hop: u8, now_ms: u64, report: &mut Report) {
    if let Some(hop) = next_hop(hop) {
        changes = fire_work(host, shard, hop, &changes, OBS_PER_ITEM, report).await;
    }
    for part in changes.chunks(OBS_PER_CHUNK) {
        enqueue_at(host, part.to_vec(), now_ms, now_ms, report).await;
    }
}

async fn continue_scan<H: PubNub + KvStore>(host: &H, next: ScanState, hop: u8, report: &mut Report) {
    if let Some(hop) = next_hop(hop) {
        let channel = reconcile_channel(next.shard);
        let item = ScanItem { kind: RECONCILE_WORK, hop, scan: Some(&next), job: None };
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
