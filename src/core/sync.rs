//! The initial load (`friends.sync`, docs/behaviour.md "Initial load"): how a friend list is
//! cut into parts read on cursor chains of their own, in parallel executions, and what each
//! page of a chain says.
//!
//! App Context pages 100 members per call behind an opaque cursor, so one chain is read one
//! page after another. The parallelism is in the parts: the friends of each channel group
//! (`custom.group` of the membership, ≤ 2,000 each), online or not (online first), each part
//! read from both ends (`uuid.id` ascending and descending) until the two chains meet. A page
//! names its chain and its place on it (`chain`, `seq`), so a client that lost one (its
//! subscriber queue overflowed) sees the gap and asks again from the cursor before it.

#[allow(unused_imports)]
use crate::prelude::*;

use super::friends::{Command, Notice};
use super::records::{MemberFilter, MembersPage, SyncPart};
use super::Rejection;
use crate::domain::channels::{inbox, suffix_after, CHANNELS_PER_GROUP, GROUPS_PER_USER, REQUESTS_IN_PREFIX};

const _: () = assert!(GROUPS_PER_USER <= 10, "a cursor names its group with one digit");
use crate::domain::messages::{self, FriendsSync, PendingEntry, SyncedFriend, UserIdWire};
use crate::domain::time::iso8601;
use crate::domain::{Json, JsonObject, UserId};

/// Members per App Context page (PubNub's maximum).
pub const PAGE_SIZE: u64 = 100;

/// Pages one `friends.sync.request` may ask for on a chain (`payload.pages`, default 1): one
/// App Context read and one publish each, within an execution's 10 API calls and 10 publishes.
pub const SYNC_PAGES_MAX: u64 = 10;

/// Pages the first request reads: the count, the online count and the three lists
/// (incoming, outgoing, blocked) take 5 of the 10 API calls; the head takes one publish.
pub const SYNC_FIRST_PAGES_MAX: u64 = 5;

pub fn sync_pages(message: &Json) -> u64 {
    let payload = message.as_object().and_then(|m| m.get("payload")).and_then(Json::as_object);
    payload.and_then(|p| p.u64("pages")).unwrap_or(1).clamp(1, SYNC_PAGES_MAX)
}

/// Where a `friends.sync` page starts: a part, the page's place on its chain and App Context's
/// own token (none for a chain's first page; never made up here). Wire form
/// `{group}{=|+}{o|r}{a|d}{seq}:{token}` (`+`: every group from this one on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncCursor {
    pub part: SyncPart,
    pub seq: u32,
    pub token: Option<String>,
}

impl SyncCursor {
    pub fn parse(raw: &str) -> Result<SyncCursor, Rejection> {
        let bad = || Rejection::new("page cursor is not a friends.sync cursor");
        let (head, token) = raw.split_once(':').ok_or_else(bad)?;
        // `{group}{=|+}{o|r}{a|d}{seq}`: one digit of group (there are ten), up to six of seq.
        let (group, through, online, desc, seq) = match head.as_bytes() {
            &[g @ b'0'..=b'9', t @ (b'=' | b'+'), o @ (b'o' | b'r'), d @ (b'a' | b'd'), ref seq @ ..]
                if (1..=6).contains(&seq.len()) && seq.iter().all(u8::is_ascii_digit) =>
            {
                (g - b'0', t == b'+', o == b'o', d == b'd', seq.iter().fold(0u32, |n, c| n * 10 + (c - b'0') as u32))
            }
            _ => return Err(bad()),
        };
        if token.len() > 512 || !token.bytes().all(|c| c.is_ascii_graphic()) {
            return Err(Rejection::new("page cursor is not a page token"));
        }
        let part = SyncPart { group, through, online, desc };
        Ok(SyncCursor { part, seq, token: (!token.is_empty()).then(|| token.to_owned()) })
    }

    pub fn to_wire(&self) -> String {
        let p = self.part;
        let mut s = String::new();
        crate::domain::channels::push_u64(&mut s, p.group as u64);
        s.push(if p.through { '+' } else { '=' });
        s.push(if p.online { 'o' } else { 'r' });
        s.push(if p.desc { 'd' } else { 'a' });
        crate::domain::channels::push_u64(&mut s, self.seq as u64);
        s.push(':');
        s.push_str(self.token.as_deref().unwrap_or(""));
        s
    }

    /// The chain's number, its place in the head's `chains`: every group's online chains
    /// (ascending, descending) first, then from 20 on the others', so that a client asking in
    /// order asks for the online friends first.
    pub fn chain(&self) -> u32 {
        let p = self.part;
        (if p.online { 0 } else { 2 * GROUPS_PER_USER as u32 }) + p.group as u32 * 2 + p.desc as u32
    }

    /// What this page reads: the part's filter (sorted one way) and the token.
    pub fn read(&self) -> (MemberFilter, Option<&str>) {
        (MemberFilter::Part(self.part), self.token.as_deref())
    }
}

/// Channel groups a list of `total` friends is read in: one per 2,000 (at least one).
pub fn groups_for(total: u64) -> usize {
    (total.div_ceil(CHANNELS_PER_GROUP as u64) as usize).clamp(1, GROUPS_PER_USER)
}

/// The first cursor of every chain for `total` friends, at its number ([`SyncCursor::chain`];
/// `None` for the groups not in use). The last group's parts take every group from it on.
pub fn chains(total: u64) -> Vec<Option<SyncCursor>> {
    let groups = groups_for(total);
    let mut all = vec![None; 2 * GROUPS_PER_USER + 2 * groups];
    for i in 0..groups * 4 {
        let group = (i / 4) as u8;
        let part = SyncPart { group, through: group as usize + 1 == groups, online: i % 4 < 2, desc: i % 2 == 1 };
        let c = SyncCursor { part, seq: 0, token: None };
        let at = c.chain() as usize;
        all[at] = Some(c);
    }
    all
}

/// Pages the ascending chain of a part of `size` reads (the first half, rounded up); the
/// descending one reads the rest. With no size known the ascending chain reads to the end.
fn half(size: u64) -> (u64, u64) {
    let pages = size.div_ceil(PAGE_SIZE);
    let up = pages.div_ceil(2);
    (up, pages - up)
}

/// The pending requests and blocks the head carries, as read: `incoming` the members of
/// `requests-in.{me}`, `outgoing` my memberships of `requests-in.*` (channel, custom),
/// `blocked` the members of `blocked.{me}`.
pub struct PendingRead {
    pub incoming: Vec<super::records::Member>,
    pub outgoing: Vec<(String, JsonObject)>,
    pub blocked: Vec<super::records::Member>,
}

/// A listed request is still pending while its KV request lives: [`super::keys::REQUEST_TTL_MINUTES`]
/// after it was sent. Memberships do not expire, so older ones are not listed.
fn live_request(custom: &JsonObject, now_ms: u64) -> Option<u64> {
    let at = custom.u64("requestedAt")?;
    (at.saturating_add(super::keys::REQUEST_TTL_MINUTES as u64 * 60_000) > now_ms).then_some(at)
}

/// `(incoming, outgoing, blocked)` for the head: expired requests and requests hidden from me
/// (their sender is blocked) are left out.
pub fn pending_lists(read: PendingRead, now_ms: u64) -> (Vec<PendingEntry>, Vec<PendingEntry>, Vec<String>) {
    let blocked: Vec<String> = read.blocked.into_iter().map(|m| m.user.id).collect();
    let mut incoming = Vec::new();
    for m in read.incoming {
        if m.custom.bool("hidden") == Some(true) || blocked.contains(&m.user.id) {
            continue;
        }
        if let Some(at) = live_request(&m.custom, now_ms) {
            let request_id = m.custom.str("requestId").map(str::to_owned);
            incoming.push(PendingEntry { user_id: UserIdWire(m.user.id), name: m.user.name, requested_at: iso8601(at), request_id });
        }
    }
    let mut outgoing = Vec::new();
    for (channel, custom) in read.outgoing {
        let (Some(to), Some(at)) = (suffix_after(&channel, REQUESTS_IN_PREFIX), live_request(&custom, now_ms)) else { continue };
        let request_id = custom.str("requestId").map(str::to_owned);
        outgoing.push(PendingEntry { user_id: UserIdWire(to.to_owned()), name: None, requested_at: iso8601(at), request_id });
    }
    (incoming, outgoing, blocked)
}

/// An envelope of `payload` answering `cmd`, the `index`-th message of its answer: pages of
/// one answer go out in the same millisecond, each needs an id of its own (and the request's
/// id keeps answers to requests made in the same millisecond apart).
fn envelope(cmd: &Command, index: u64, now_ms: u64, payload: FriendsSync) -> Notice<FriendsSync> {
    let mut event_id = messages::event_id("sync", Some(&cmd.event_id), now_ms);
    if index > 0 {
        event_id.push('.');
        crate::domain::channels::push_u64(&mut event_id, index);
    }
    Notice { channel: inbox(&cmd.user_a), message: messages::Envelope::new(messages::FRIENDS_SYNC, event_id, iso8601(now_ms), payload) }
}

fn payload(me: &UserId, cmd: &Command) -> FriendsSync {
    FriendsSync {
        user_id: me.into(),
        request_id: cmd.event_id.clone(),
        friends: Vec::new(),
        online_friends: Vec::new(),
        total_friends: None,
        total_online: None,
        next: None,
        more: true,
        chain: None,
        seq: None,
        chains: None,
        serves: None,
        incoming: None,
        outgoing: None,
        blocked: None,
    }
}

/// The head of a load (the first message answering a request without a cursor): the totals,
/// the pending lists, the first cursor of every chain, and the chains the same answer reads
/// next (their pages follow the head; the client asks for the others). With one group the
/// two counts are the parts' sizes: a chain with nothing to read is `null` (done), and the
/// answer reads every chain that fits its `pages`; with more, it reads the first chain.
pub fn head(
    cmd: &Command,
    total_friends: u64,
    total_online: Option<u64>,
    lists: PendingRead,
    pages: u64,
    now_ms: u64,
) -> (Notice<FriendsSync>, Vec<SyncCursor>) {
    let (incoming, outgoing, blocked) = pending_lists(lists, now_ms);
    let chains = chains(total_friends);
    let mut p = payload(&cmd.user_a, cmd);
    p.total_friends = Some(total_friends);
    p.total_online = total_online;
    let one_group = groups_for(total_friends) == 1;
    let size = |online: bool| match (one_group, total_online) {
        (true, Some(on)) => Some(if online { on } else { total_friends.saturating_sub(on) }),
        _ => None,
    };
    let mut wires = Vec::new();
    let mut served = Vec::new();
    let (mut budget, mut serves) = (pages, 0);
    for (i, c) in chains.into_iter().enumerate() {
        // Pages of the chain, when the part's size is known; `Some(0)` for none in use.
        let own = match &c {
            Some(c) => size(c.part.online).map(|n| if c.part.desc { half(n).1 } else { half(n).0 }),
            None => Some(0),
        };
        // Chains in order while they fit (the first one always, its size known or not).
        if serves == i && (own == Some(0) || i == 0 || own.is_some_and(|n| n <= budget)) {
            serves = i + 1;
            if let Some(c) = c.as_ref().filter(|_| own != Some(0)) {
                budget = budget.saturating_sub(own.unwrap_or(budget));
                served.push(c.clone());
            }
        }
        wires.push(c.filter(|_| own != Some(0)).map(|c| c.to_wire()));
    }
    p.chains = Some(wires);
    p.serves = Some(serves as u32);
    p.more = !served.is_empty();
    p.incoming = Some(incoming);
    p.outgoing = Some(outgoing);
    p.blocked = Some(blocked);
    (envelope(cmd, 0, now_ms, p), served)
}

/// The page read at `at` (with [`SyncCursor::read`]), as the `index`-th message of the answer
/// to `cmd`, and the cursor of the chain's next page (`None`: the chain ends here). `last`:
/// the answer asked for no more pages, so this one ends it (`more: false`).
///
/// The ascending chain of a part keeps the first half of its pages, the descending one the
/// rest: the size is the part's `totalCount` as this read saw it, so each friend is listed
/// once. A friend added or removed between the two chains' reads can shift one across the
/// meeting point; its own `friend.added` / `friend.removed` tells the client all the same.
pub fn page(
    cmd: &Command,
    at: &SyncCursor,
    read: MembersPage,
    index: u64,
    last: bool,
    now_ms: u64,
) -> (Notice<FriendsSync>, Option<SyncCursor>) {
    let (up, down) = read.total.map_or((u64::MAX, 0), half);
    let share = if at.part.desc { down } else { up };
    let seq = at.seq as u64;
    let mut p = payload(&cmd.user_a, cmd);
    // The descending chain's last page keeps only what the ascending one does not read.
    let keep = match read.total {
        Some(size) if at.part.desc => size.saturating_sub(PAGE_SIZE * (up + seq)),
        _ => u64::MAX,
    };
    if seq < share {
        for m in read.members.into_iter().take(keep.min(PAGE_SIZE) as usize) {
            let online = m.user.custom.bool("online") == Some(true);
            if online {
                p.online_friends.push(m.user.id.clone());
            }
            p.friends.push(SyncedFriend {
                last_seen: m.user.custom.str("lastSeen").map(str::to_owned),
                status_message: m.user.custom.str("statusMessage").map(str::to_owned),
                version: m.user.custom.u64(super::presence::VERSION),
                user_id: UserIdWire(m.user.id),
                name: m.user.name,
                profile_url: m.user.profile_url,
                online,
            });
        }
    }
    let next = match read.next {
        Some(token) if seq + 1 < share => Some(SyncCursor { part: at.part, seq: at.seq + 1, token: Some(token) }),
        _ => None,
    };
    p.chain = Some(at.chain());
    p.seq = Some(at.seq);
    p.next = next.as_ref().map(SyncCursor::to_wire);
    p.more = next.is_some() && !last;
    (envelope(cmd, index, now_ms, p), next)
}
