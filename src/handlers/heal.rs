//! The heal sweep's shells (`core::heal`): the sweep, run by the count-aggregator every period,
//! and the scanner it fires (the recount worker, `heal.work`). The third part, finishing a
//! journal, is the command's own Function (`friends::heal`).

#[allow(unused_imports)]
use crate::prelude::*;

use super::{cat, num, Report};
use crate::core::friends::CommandRecord;
use crate::core::heal::{self, FriendHeal, HealCursor, HealItem, JournalAction, FRIEND_HEAL, HEAL_WORK};
use crate::core::keys::{self, JobQueue};
use crate::core::work::{heal_scan_channel, recount_channel, FriendsWork, RECOUNT_WORK};
use crate::host::{KvStore, PubNub};

/// Journals a count worker's sweep scans itself (`count-work.heal`, round mode): 3 KV for the
/// sweep and 2 per journal leave room for 3 within its 10 KV.
pub const SWEEP_SCAN_JOURNALS: usize = 3;

/// Hands the journal references old enough to scanners, at hop 1. Ops: 3 KV (cursor, counter,
/// cursor), ≤ [`heal::SCAN_FIRES`] fires. A failed read skips the run; a failed fire stops the
/// run there (the cursor does not pass it).
pub async fn sweep<H: PubNub + KvStore>(host: &H, now_ms: u64, report: &mut Report) {
    let Some((cursor, sweep)) = plan(host, now_ms, heal::SCAN_FIRES, report).await else { return };
    let mut fired = 0;
    for jobs in &sweep.scans {
        if let Err(e) = host.fire(&heal_scan_channel(), &HealItem { kind: HEAL_WORK, hop: 1, jobs }).await {
            report.error(cat(&["heal scan not fired: ", &e.describe()]));
            break;
        }
        fired += 1;
    }
    advance(host, cursor, &sweep, fired, report).await;
}

/// The sweep and its one scan in a single execution at hop 1 (a count worker on
/// `count-work.heal`, fired by an aggregator counting in rounds): the journals it finishes
/// get `friend.heal` at hop 2, as from a scanner. Ops: ≤ 9 KV (the sweep's 3, 2 per journal),
/// ≤ [`SWEEP_SCAN_JOURNALS`] fires. The cursor passes only the journals scanned.
pub async fn sweep_and_scan<H: PubNub + KvStore>(host: &H, now_ms: u64, report: &mut Report) {
    let Some((cursor, mut sweep)) = plan(host, now_ms, 1, report).await else { return };
    // One scan, cut to what this execution's KV allows; the rest stays for the next run.
    sweep.scans.truncate(1);
    if let Some(jobs) = sweep.scans.first_mut() {
        jobs.truncate(SWEEP_SCAN_JOURNALS);
        scan(host, jobs, report).await;
    }
    let scanned = sweep.scans.len();
    advance(host, cursor, &sweep, scanned, report).await;
}

async fn plan<H: KvStore>(host: &H, now_ms: u64, fires: usize, report: &mut Report) -> Option<(Option<HealCursor>, heal::Sweep)> {
    let read = async {
        Ok::<_, crate::host::HostError>((
            host.get::<HealCursor>(keys::HEAL_CURSOR_KEY).await?,
            host.get_counter(JobQueue::Journals.counter_key()).await?,
        ))
    };
    match read.await {
        Ok((cursor, queued)) => Some((cursor, heal::plan_sweep(cursor, queued, now_ms, fires))),
        Err(e) => {
            report.error(cat(&["heal sweep skipped: ", &e.describe()]));
            None
        }
    }
}

async fn advance<H: KvStore>(host: &H, cursor: Option<HealCursor>, sweep: &heal::Sweep, handed: usize, report: &mut Report) {
    let next = sweep.cursor_after(handed);
    if Some(next) != cursor {
        if let Err(e) = host.set(keys::HEAL_CURSOR_KEY, &next, keys::HEAL_CURSOR_TTL_MINUTES).await {
            report.error(cat(&["heal cursor not advanced (the next run hands the same again): ", &e.describe()]));
        }
    }
    if handed > 0 {
        report.info(cat(&["heal sweep: journals to #", &num(next.handed as u64), " handed on"]));
    }
}

/// A scanner (hop 1): reads each journal the references name and has an unfinished one
/// finished by its Function, or both users of a finished friendship change recounted, at hop 2.
/// Ops: ≤ 8 KV (reference, record), ≤ 4 fires. A failure skips that journal: a command whose
/// journal is never looked at again is one its client did not re-send either.
pub async fn scan<H: PubNub + KvStore>(host: &H, jobs: &[i64], report: &mut Report) {
    for &job in jobs {
        let what = cat(&["journal #", &num(job as u64)]);
        let key = match host.get::<String>(&JobQueue::Journals.job_key(job)).await {
            Ok(Some(key)) => key,
            Ok(None) => continue, // the command stopped before it wrote its journal
            Err(e) => {
                report.error(cat(&[&what, " not read: ", &e.describe()]));
                continue;
            }
        };
        let Some((sender, event_id)) = keys::parse_result_key(&key) else { continue };
        let record = match host.get::<CommandRecord>(&key).await {
            Ok(record) => record,
            Err(e) => {
                report.error(cat(&[&what, " record not read: ", &e.describe()]));
                continue;
            }
        };
        let result = match heal::decide_journal(&sender, event_id, record.as_ref()) {
            JournalAction::Nothing => continue,
            JournalAction::Finish(cmd) => {
                report.info(cat(&[&what, ": ", cmd.kind.name(), " of ", sender.as_str(), " is unfinished; healing"]));
                host.fire(&heal::heal_channel(&cmd), &FriendHeal { kind: FRIEND_HEAL, event_id }).await
            }
            JournalAction::Recount([a, b]) => {
                host.fire(&recount_channel(), &FriendsWork { kind: RECOUNT_WORK, hop: 2, users: &[a.as_str(), b.as_str()], hole: None })
                    .await
            }
        };
        if let Err(e) = result {
            report.error(cat(&[&what, " not handed on: ", &e.describe()]));
        }
    }
}
