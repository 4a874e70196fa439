//! Friend commands that finish without their client (issue 20 part 8). A command that opens a
//! journal (acceptance, decline, cancel, removal, block: `friends::CommandRecord` under way)
//! first queues a reference to it (its record's key, in [`JobQueue::Journals`]). The presence
//! settler's run (every second as deployed: `settle::SettlePlan::add_heal`) hands the references
//! older than [`HEAL_AFTER_MS`] to scanners (the recount worker, `heal.work`), up to
//! [`SCAN_FIRES`] × [`JOURNALS_PER_SCAN`] a run; a scanner reads each journal and
//!
//! - finishes one still under way: `friend.heal` to the Function that owns the command, on the
//!   sender's own command channel, which runs the very steps a re-send runs (every one
//!   idempotent) from the journal alone, and answers on the sender's inbox;
//! - recounts both users of one that made or ended a friendship: a second, later recount, so a
//!   count whose first recount was lost (a fault, a crash) still converges.
//!
//! A scanner that read and handed on all its journals acknowledges in its epoch; an epoch with
//! fewer acknowledgements than scanners is handed out again ([`plan_sweep`]), so a fire lost or
//! a scanner cut off skips nothing for good.
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
/// then was cut off.
pub const HEAL_AFTER_MS: u64 = 30_000;
/// How often the sweep notes the reference counter (a [`Mark`]): a reference is due at most
/// this long (and a settler period) after [`HEAL_AFTER_MS`].
pub const MARK_EVERY_MS: u64 = 10_000;
/// Marks a cursor keeps: the newest one already due, and those of the last [`HEAL_AFTER_MS`]
/// (at most 3, [`MARK_EVERY_MS`] apart).
pub const MARKS: usize = 4;
/// Journals one scanner reads: 2 KV each (reference, record) and 1 to acknowledge, of its 10.
pub const JOURNALS_PER_SCAN: usize = 4;
/// Scanners one settler run fires at most; [`HELD_FIRES`] of them are held back from the
/// deferred statuses while journals are due (as reconciliations are): 16 journals a run, 20
/// when the settler has fires to spare.
pub const SCAN_FIRES: usize = 5;
pub const HELD_FIRES: usize = 4;
/// How long a sweep epoch hands out scanners before the next one starts; an epoch's scanners
/// are checked one epoch later (an execution ends within 10 s, so every scanner that ran has
/// acknowledged by then).
pub const EPOCH_MS: u64 = 15_000;
/// Epochs alternate between this many acknowledgement counters (`heal:ack:{n % 2}`): the
/// epoch being checked and the one running.
pub const ACK_SLOTS: u64 = 2;
/// A sweep that starts without a cursor (first run, or one paused past the cursor's TTL) looks
/// back this many references.
pub const FIRST_RUN_LOOKBACK: i64 = 1_000;

pub const HEAL_WORK: &str = "heal.work";
pub const FRIEND_HEAL: &str = "friend.heal";

/// The reference counter read as `seen` at `at`: references `≤ seen` are due at
/// `at + HEAL_AFTER_MS`. A mark at or below the cursor's `handed` is spent (an empty slot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub seen: i64,
    pub at: u64,
}

/// Scanners handed out in one epoch: references `> from` up to where the next epoch starts,
/// `items` scanners, each acknowledging on counter `n % ACK_SLOTS`, which stood at `base`
/// when the epoch started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epoch {
    pub n: u64,
    pub from: i64,
    pub items: i64,
    pub base: i64,
    pub at: u64,
}

/// Where the sweep is (kept in the settler's cursor, `settle::Cursor`): references `≤ handed`
/// went to scanners; `marks` say which of the rest are due when; `epoch` is handing out, and
/// `checking` (the one before, if it handed anything out) waits for its acknowledgements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealCursor {
    pub handed: i64,
    pub marks: [Mark; MARKS],
    pub epoch: Epoch,
    pub checking: Option<Epoch>,
}

impl HealCursor {
    /// A cursor for a queue standing at `queued`, looking back [`FIRST_RUN_LOOKBACK`].
    pub fn start(queued: i64, now_ms: u64) -> HealCursor {
        let handed = (queued - FIRST_RUN_LOOKBACK).max(0);
        HealCursor { handed, epoch: Epoch { from: handed, at: now_ms, ..Epoch::default() }, ..HealCursor::default() }
    }

    fn live_marks(&self) -> impl Iterator<Item = &Mark> {
        self.marks.iter().filter(move |m| m.seen > self.handed)
    }

    /// Whether this run starts a new epoch (`now` one [`EPOCH_MS`] past the current one's
    /// start, and something handed out to check); it needs the acknowledgement counter
    /// [`HealCursor::ack_slot`] read first.
    pub fn switching(&self, now_ms: u64) -> bool {
        now_ms >= self.epoch.at.saturating_add(EPOCH_MS) && (self.epoch.items > 0 || self.checking.is_some())
    }

    /// The counter the next epoch acknowledges on, which the epoch being checked used.
    pub fn ack_slot(&self) -> u64 {
        (self.epoch.n + 1) % ACK_SLOTS
    }
}

/// One array of numbers, so the settler's cursor stays small (and its bundle too):
/// `[handed, the epoch's n, from, items, base, at, the checked epoch's five (all 0: none),
/// seen, at of each live mark…]`.
impl Serialize for HealCursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.checking.unwrap_or_default();
        let mut flat = Vec::with_capacity(11 + 2 * MARKS);
        for e in [&self.epoch, &c] {
            flat.extend([e.n as i64, e.from, e.items, e.base, e.at as i64]);
        }
        flat.insert(0, self.handed);
        flat.extend(self.live_marks().flat_map(|m| [m.seen, m.at as i64]));
        flat.serialize(s)
    }
}

impl FromJson for HealCursor {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        let flat: Vec<u64> = FromJson::from_json(v)?;
        if flat.len() < 11 || flat.len() % 2 == 0 || flat.len() > 11 + 2 * MARKS {
            return Err("heal cursor is not 11 numbers and its marks");
        }
        let epoch = |e: &[u64]| Epoch { n: e[0], from: e[1] as i64, items: e[2] as i64, base: e[3] as i64, at: e[4] };
        let checking = epoch(&flat[6..11]);
        let mut cursor = HealCursor {
            handed: flat[0] as i64,
            epoch: epoch(&flat[1..6]),
            checking: (checking.items > 0).then_some(checking),
            ..HealCursor::default()
        };
        for (slot, pair) in cursor.marks.iter_mut().zip(flat[11..].chunks_exact(2)) {
            *slot = Mark { seen: pair[0] as i64, at: pair[1] };
        }
        Ok(cursor)
    }
}

/// One sweep run: the scanners' job lists, in order, the epoch they acknowledge in, and the
/// cursor after them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sweep {
    pub scans: Vec<Vec<i64>>,
    pub epoch: u64,
    /// An epoch was checked and some of its scanners never acknowledged (a fire lost, a
    /// scanner that crashed or could not read a journal): its references are handed out again.
    pub rewound: bool,
    cursor: HealCursor,
    queued: i64,
    now_ms: u64,
}

/// `cursor` as read (`None`: none yet), `queued` the reference counter's value, `ack` the
/// counter [`HealCursor::ack_slot`] (`None`: not read, when [`HealCursor::switching`] said no or
/// the read failed: the epoch goes on), `fires` how many scanners this run may fire.
pub fn plan_sweep(cursor: Option<HealCursor>, queued: i64, ack: Option<i64>, now_ms: u64, fires: usize) -> Sweep {
    let mut cursor = cursor.unwrap_or_else(|| HealCursor::start(queued, now_ms));
    let mut rewound = false;
    if let (true, Some(ack)) = (cursor.switching(now_ms), ack) {
        let checked = cursor.checking.take();
        if let Some(c) = checked.filter(|c| ack - c.base < c.items) {
            // Everything from the checked epoch's start goes out again (the running epoch's
            // too: it is handed out afresh, so it needs no check of its own), due at once.
            let old = cursor.handed;
            cursor.handed = c.from;
            // Marks stay in order: this one first. With all 4 live there is no room, but then
            // one of them is due (3 at most are not, MARK_EVERY_MS apart within HEAL_AFTER_MS),
            // and it covers `old`.
            let live = cursor.marks.iter().filter(|m| m.seen > old).count();
            if live < MARKS {
                let mut marks = [Mark::default(); MARKS];
                marks[0] = Mark { seen: old, at: 0 };
                for (slot, m) in marks[1..].iter_mut().zip(cursor.marks.iter().filter(|m| m.seen > old)) {
                    *slot = *m;
                }
                cursor.marks = marks;
            }
            rewound = true;
        } else if cursor.epoch.items > 0 {
            cursor.checking = Some(cursor.epoch);
        }
        cursor.epoch = Epoch { n: cursor.epoch.n + 1, from: cursor.handed, items: 0, base: ack, at: now_ms };
    }
    let due = cursor.live_marks().filter(|m| m.at.saturating_add(HEAL_AFTER_MS) <= now_ms).map(|m| m.seen).max().unwrap_or(cursor.handed);
    let end = due.min(queued.max(cursor.handed)).min(cursor.handed.saturating_add((fires * JOURNALS_PER_SCAN) as i64));
    let mut scans = Vec::new();
    let mut first = cursor.handed + 1;
    while first <= end {
        let last = end.min(first + JOURNALS_PER_SCAN as i64 - 1);
        scans.push((first..=last).collect());
        first = last + 1;
    }
    Sweep { scans, epoch: cursor.epoch.n, rewound, cursor, queued, now_ms }
}

impl Sweep {
    /// The cursor once the first `fired` scanners went out: past what they took; marks that
    /// are spent dropped, only the newest of those already due kept, and the counter marked
    /// again when the last mark is [`MARK_EVERY_MS`] old (an idle queue: no change, no write).
    pub fn cursor_after(&self, fired: usize) -> HealCursor {
        let mut next = self.cursor;
        for scan in self.scans.iter().take(fired) {
            next.handed = scan.last().copied().unwrap_or(next.handed);
            next.epoch.items += 1;
        }
        let handed = next.handed;
        let due_at = self.now_ms.saturating_sub(HEAL_AFTER_MS);
        let newest_due = next.marks.iter().filter(|m| m.seen > handed && m.at <= due_at).map(|m| m.seen).max();
        // Marks are kept in order (oldest first), so the ones kept stay in order.
        let mut marks = [Mark::default(); MARKS];
        let mut kept = 0;
        for m in next.marks.iter().filter(|m| m.seen > handed && (m.at > due_at || Some(m.seen) == newest_due)) {
            marks[kept] = *m;
            kept += 1;
        }
        let last = marks[..kept].last();
        let quiet = last.is_none_or(|m| self.now_ms >= m.at.saturating_add(MARK_EVERY_MS));
        if self.queued > last.map_or(handed, |m| m.seen) && quiet && kept < MARKS {
            marks[kept] = Mark { seen: self.queued, at: self.now_ms };
        }
        next.marks = marks;
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
