//! Friend commands that finish without their client (issue 20 part 8). A command that opens a
//! journal (acceptance, decline, cancel, removal, block: `friends::CommandRecord` under way)
//! first queues a reference to it (its record's key, in [`JobQueue::Journals`]). The
//! count-aggregator's run hands the references older than [`HEAL_AFTER_MS`] to scanners (the
//! recount worker, `heal.work`); a scanner reads each journal and
//!
//! - finishes one still under way: `friend.heal` to the Function that owns the command, on the
//!   sender's own command channel, which runs the very steps a re-send runs (every one
//!   idempotent) from the journal alone, and answers on the sender's inbox;
//! - recounts both users of one that made or ended a friendship: a second, later recount, so a
//!   count whose first recount was lost (a fault, a crash) still converges.
//!
//! [`JobQueue::Journals`]: super::keys::JobQueue::Journals

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use super::friends::{sender, Command, CommandKind, CommandRecord};
use crate::domain::json::FromJson;
use crate::domain::{Json, UserId};

/// How old a journal reference is before a scanner looks at it: a client that is still there
/// re-sends within seconds, and an execution ends within 10 s, so a journal still under way
/// then was cut off. The sweep marks what is queued once it has handed out its previous mark,
/// so a journal is looked at 1 to 2 × [`HEAL_AFTER_MS`] plus up to two sweep periods after it
/// was opened (≤ 80 s with the default 10 s period).
pub const HEAL_AFTER_MS: u64 = 30_000;
/// Scanners one sweep fires, and journals each reads (2 KV per journal: its reference and its
/// record; 1 fire per journal). 6 × 4 = 24 journals per sweep run.
pub const SCAN_FIRES: usize = 6;
pub const JOURNALS_PER_SCAN: usize = 4;
/// A sweep that starts without a cursor (first run, or one paused past the cursor's TTL) looks
/// back this many references.
pub const FIRST_RUN_LOOKBACK: i64 = 1_000;

pub const HEAL_WORK: &str = "heal.work";
pub const FRIEND_HEAL: &str = "friend.heal";

/// Where the sweep is: references `≤ handed` went to scanners; those `≤ seen` were queued by
/// `at` (the counter's value then), so they are all old enough at `at + HEAL_AFTER_MS`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HealCursor {
    pub handed: i64,
    pub seen: i64,
    pub at: u64,
}

impl FromJson for HealCursor {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        let obj = v.as_object().ok_or("heal cursor is not an object")?;
        let n = |k| obj.field_or::<u64>(k, 0).map(|n| n as i64);
        Ok(HealCursor { handed: n("handed")?, seen: n("seen")?, at: obj.field_or("at", 0)? })
    }
}

/// One sweep run: the scanners' job lists, in order, and the cursor after them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sweep {
    pub scans: Vec<Vec<i64>>,
    cursor: HealCursor,
    queued: i64,
    now_ms: u64,
}

/// `cursor` as read (`None`: none yet), `queued` the reference counter's value, `fires` how
/// many scanners this run may fire.
pub fn plan_sweep(cursor: Option<HealCursor>, queued: i64, now_ms: u64, fires: usize) -> Sweep {
    let cursor = cursor.unwrap_or(HealCursor { handed: (queued - FIRST_RUN_LOOKBACK).max(0), seen: queued, at: now_ms });
    let mut scans = Vec::new();
    if now_ms >= cursor.at.saturating_add(HEAL_AFTER_MS) {
        let due: Vec<i64> = (cursor.handed + 1..=cursor.seen).take(fires * JOURNALS_PER_SCAN).collect();
        scans = due.chunks(JOURNALS_PER_SCAN).map(<[i64]>::to_vec).collect();
    }
    Sweep { scans, cursor, queued, now_ms }
}

impl Sweep {
    /// The cursor once the first `fired` scanners went out: past what they took; once every
    /// reference seen is handed, what was queued since is seen now (an idle queue leaves the
    /// cursor as it is: no write).
    pub fn cursor_after(&self, fired: usize) -> HealCursor {
        let mut next = self.cursor;
        if let Some(last) = self.scans.iter().take(fired).flat_map(|s| s.last()).last() {
            next.handed = *last;
        }
        if next.handed >= next.seen && self.queued > next.seen {
            next.seen = self.queued.max(next.handed);
            next.at = self.now_ms;
        }
        next
    }
}

/// What a scanner does about one journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalAction {
    /// Still under way: the command's Function finishes it (`friend.heal`).
    Finish(Command),
    /// Made or ended a friendship: both users recounted once more.
    Recount([String; 2]),
    Nothing,
}

/// `record` is what the journal reference `cmd:{sender}:{eventId}` holds (`None`: gone, or the
/// command stopped before it wrote anything, which leaves nothing to finish).
pub fn decide_journal(sender: &UserId, event_id: &str, record: Option<&CommandRecord>) -> JournalAction {
    let Some(record) = record else { return JournalAction::Nothing };
    let Some(cmd) = record.command(sender, event_id) else { return JournalAction::Nothing };
    if !record.done {
        return JournalAction::Finish(cmd);
    }
    let changed = matches!(cmd.kind, CommandKind::Accept | CommandKind::Remove | CommandKind::Block) && record.reason.is_none();
    if changed {
        JournalAction::Recount([cmd.user_a.into_string(), cmd.user_b.into_string()])
    } else {
        JournalAction::Nothing
    }
}

/// `heal.work` on `recount-work.heal`: references for one scanner.
#[derive(Serialize)]
pub struct HealItem<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub hop: u8,
    pub jobs: &'a [i64],
}

/// `friend.heal` for `cmd`: `{type, eventId}` on the sender's own command channel, where only
/// the Function owning the command acts on it. It carries nothing but the `eventId`: the
/// journal under `cmd:{channel owner}:{eventId}` says the rest, so whoever publishes it (the
/// sender itself may) can only have a command of the channel's owner finished.
#[derive(Serialize)]
pub struct FriendHeal<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "eventId")]
    pub event_id: &'a str,
}

/// The channel a `friend.heal` for `cmd` goes on.
pub fn heal_channel(cmd: &Command) -> String {
    let mut s = String::from(cmd.kind.channel_prefix());
    s.push_str(sender(cmd).as_str());
    s
}
