//! The heal scanner (the recount worker, `heal.work`), fired by the presence settler's sweep
//! (`core::heal`, `SettlePlan::add_heal`). The third part, finishing a journal, is the
//! command's own Function (`friends::heal`).

#[allow(unused_imports)]
use crate::prelude::*;

use super::{cat, num, Report};
use crate::core::friends::CommandRecord;
use crate::core::heal::{self, FriendHeal, JournalAction, FRIEND_HEAL};
use crate::core::keys::{self, JobQueue};
use crate::core::work::{recount_channel, FriendsWork, RECOUNT_WORK};
use crate::host::{KvStore, PubNub};

/// A scanner (hop 1): reads each journal the references name and has an unfinished one
/// finished by its Function, or both users of a finished friendship change recounted, at hop 2.
/// Once every journal was read and handed on, it acknowledges in its sweep `epoch`; a failure
/// leaves the scanner unacknowledged, and the sweep hands its epoch out again (nothing is
/// skipped for good). Ops: ≤ 9 KV (reference, record per journal; the acknowledgement),
/// ≤ 4 fires.
pub async fn scan<H: PubNub + KvStore>(host: &H, jobs: &[i64], epoch: Option<u64>, report: &mut Report) {
    let mut whole = true;
    for &job in jobs {
        let what = cat(&["journal #", &num(job as u64)]);
        let key = match host.get::<String>(&JobQueue::Journals.job_key(job)).await {
            Ok(Some(key)) => key,
            Ok(None) => continue, // the command stopped before it wrote its journal
            Err(e) => {
                report.error(cat(&[&what, " not read: ", &e.describe()]));
                whole = false;
                continue;
            }
        };
        let Some((sender, event_id)) = keys::parse_result_key(&key) else { continue };
        let record = match host.get::<CommandRecord>(&key).await {
            Ok(record) => record,
            Err(e) => {
                report.error(cat(&[&what, " record not read: ", &e.describe()]));
                whole = false;
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
            whole = false;
        }
    }
    if let (true, Some(epoch)) = (whole, epoch) {
        if let Err(e) = host.incr_counter(&keys::heal_ack_key(epoch % heal::ACK_SLOTS), 1).await {
            report.error(cat(&["heal scan not acknowledged (its epoch is handed out again): ", &e.describe()]));
        }
    }
}
