//! The friends view a client keeps: who the friends are, who is online, the global count.
//!
//! Messages reach a client more than once (reconnect catch-up, retried Function executions)
//! and out of order (different channels, groups, the initial load racing live events), so:
//! - every accepted `eventId` is remembered (bounded) and a repeat is a no-op;
//! - presence and status messages are ordered per friend by the friend's version
//!   (`version` of `friend.online`/`friend.offline` and of sync entries; docs/design.md §4):
//!   a lower one is stale; only messages without a version (older servers) fall back to the
//!   time of the status change (`ts`, `lastSeen`);
//! - friendship is ordered per user by `ts` (`friend.added`, `friend.removed`, sync pages), with
//!   a bounded tombstone per removed user, so a late `friend.added` or an older sync page cannot
//!   bring back someone removed since;
//! - status of a user who is not (yet) a friend is kept aside (bounded): `friend.added` can
//!   arrive after the new friend's first `friend.online` from the group;
//! - pending requests both ways and blocked users are lists with the same per-user ordering by
//!   `ts`: the first sync page is their snapshot, and inbox notices and the answers to this
//!   client's own commands (`friend.command.result`, matched to the command by `eventId`, see
//!   [`FriendsView::track`]) keep them up to date. A request is ordered by its own id
//!   (`requestId`), never by time: once closed (declined, cancelled, accepted) it is never
//!   listed again, however old the snapshot or late the notice.

use alloc::collections::VecDeque;

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;

use super::event::{self, ClientEvent, CommandOutcome, Incoming, NotAnEvent, PendingEntry, SyncPage};
use super::lowercase::lowercase;
use super::map::{HashMap, HashSet};
use super::plan::{SubscribePlan, DEFAULT_SHARD_COUNT};
use crate::domain::channels::{inbox, push_u64, status, STATUS_GLOBAL};
use crate::domain::contract::{CommandKind, Reason};
use crate::domain::messages::SCHEMA_VERSION;
use crate::domain::time::iso8601;
use crate::domain::{Json, JsonObject, UserId};

/// Event ids remembered for de-duplication (a reconnect replays at most PubNub's catch-up).
pub const SEEN_EVENTS: usize = 20_000;
/// Removed users remembered, against late `friend.added` / stale sync pages.
pub const TOMBSTONES: usize = 10_000;
/// Status notes kept for users who are not friends yet.
pub const STRANGERS: usize = 1_000;
/// Command outcomes kept (by the command's `eventId`): a client waits for a handful at a time.
pub const OUTCOMES: usize = 500;
/// Pending friend requests kept each way, and blocked users kept.
pub const REQUESTS: usize = 500;
/// Commands this client sent and still remembers, to act on their answers.
pub const SENT: usize = 500;
/// The global-count chart covers this much time before the newest point.
pub const HISTORY_MS: u64 = 10 * 60_000;
const HISTORY_POINTS: usize = 1_000;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Friend {
    pub user_id: String,
    pub name: Option<String>,
    pub profile_url: Option<String>,
    pub status_message: Option<String>,
    pub online: bool,
    /// ISO-8601 time of the last status change (for an online friend: when they came online).
    pub last_seen: Option<String>,
    #[serde(skip)]
    pub last_seen_ms: Option<u64>,
    /// Order of the status message held (a `friend.online`, a sync page).
    #[serde(skip)]
    status_at: Order,
    /// Order of the presence information held; the default = only a hint (`friend.added`'s
    /// `online`).
    #[serde(skip)]
    presence_at: Order,
    /// Time of the friendship information held.
    #[serde(skip)]
    member_ts: u64,
}

impl Friend {
    fn new(user: &UserId, member_ts: u64) -> Friend {
        Friend {
            user_id: user.as_str().to_owned(),
            name: None,
            profile_url: None,
            status_message: None,
            online: false,
            last_seen: None,
            last_seen_ms: None,
            status_at: Order::default(),
            presence_at: Order::default(),
            member_ts,
        }
    }

    /// The name shown and sorted by: the name, else the user id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.user_id)
    }

    fn set_presence(&mut self, online: bool, at: Order, last_seen_ms: Option<u64>) {
        self.online = online;
        self.presence_at = at;
        if let Some(ms) = last_seen_ms {
            self.last_seen_ms = Some(ms);
            self.last_seen = Some(iso8601(ms));
        }
    }

    fn set_profile(&mut self, name: &Option<String>, profile_url: &Option<String>) {
        if name.is_some() {
            self.name.clone_from(name);
        }
        if profile_url.is_some() {
            self.profile_url.clone_from(profile_url);
        }
    }
}

/// Sorts `list` in place by `less` (heapsort, O(n log n)): core's sort puts ~3 KB of wasm in
/// the web package for its one use here.
fn heap_sort<T>(list: &mut [T], less: impl Fn(&T, &T) -> bool) {
    // Moves the item at `root` down until it is not less than its children, within `..end`.
    let sift = |list: &mut [T], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && less(&list[child], &list[child + 1]) {
            child += 1;
        }
        if !less(&list[root], &list[child]) {
            break;
        }
        list.swap(root, child);
        root = child;
    };
    for root in (0..list.len() / 2).rev() {
        sift(list, root, list.len());
    }
    for end in (1..list.len()).rev() {
        list.swap(0, end);
        sift(list, 0, end);
    }
}

/// Where a piece of a user's status stands in the order of docs/design.md §4: the user's
/// version when the message carries one, else (older servers) its time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Order {
    pub version: Option<u64>,
    pub ts: u64,
}

impl Order {
    pub fn new(version: Option<u64>, ts: u64) -> Order {
        Order { version, ts }
    }

    /// Whether information at `self` may replace information at `held`: versions when both
    /// have one (an equal version is the same state), else times.
    pub fn not_before(&self, held: &Order) -> bool {
        match (self.version, held.version) {
            (Some(v), Some(h)) => v >= h,
            _ => self.ts >= held.ts,
        }
    }

    fn is_hint(&self) -> bool {
        *self == Order::default()
    }
}

/// A pending friend request: incoming (`user_id` asked this user) or outgoing (this user
/// asked `user_id`; no name or profile: the Functions list only the id).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendRequest {
    pub user_id: String,
    pub name: Option<String>,
    pub profile_url: Option<String>,
    pub requested_at: Option<String>,
    /// The request's id (docs/design.md §4), when the server or the command told it.
    pub request_id: Option<String>,
}

impl FriendRequest {
    fn of(entry: PendingEntry) -> FriendRequest {
        FriendRequest {
            user_id: entry.user.into_string(),
            name: entry.name,
            profile_url: None,
            requested_at: entry.requested_at_ms.map(iso8601),
            request_id: entry.request_id,
        }
    }
}

/// This user's own settings as the answers to its `user.settings` commands confirmed them
/// (`None`: not changed by this client since it started).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnSettings {
    pub invisible: Option<bool>,
    /// `Some(None)` once a clear was confirmed.
    #[serde(serialize_with = "flat")]
    pub status_message: Option<Option<String>>,
}

fn flat<S: serde::Serializer>(v: &Option<Option<String>>, s: S) -> Result<S::Ok, S::Error> {
    v.as_ref().and_then(Option::as_deref).serialize(s)
}

/// Friends groups to subscribe to and to leave, to move from one plan to another.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GroupChange {
    pub subscribe: Vec<String>,
    pub unsubscribe: Vec<String>,
}

trait Listed {
    fn user(&self) -> &str;
    /// The listed request's id (requests only).
    fn request(&self) -> Option<&str> {
        None
    }
    /// When the listed request was made (ISO-8601, one format: compares as text).
    fn made(&self) -> Option<&str> {
        None
    }
}

impl Listed for FriendRequest {
    fn user(&self) -> &str {
        &self.user_id
    }
    fn request(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
    fn made(&self) -> Option<&str> {
        self.requested_at.as_deref()
    }
}

impl Listed for String {
    fn user(&self) -> &str {
        self
    }
}

/// Users listed beside the friends (requests each way, blocked users), each with the time of
/// the information held, and a bounded memory of when each one left the list: an older
/// snapshot or a late notice cannot bring back an entry taken off since. Requests with an id
/// are ordered by it (docs/design.md §4): a closed id is remembered and never listed again.
#[derive(Clone, Debug)]
struct Listing<T> {
    items: Vec<(u64, T)>,
    gone: Bounded<u64>,
    closed: Bounded<()>,
    cap: usize,
}

impl<T: Listed> Listing<T> {
    fn new(cap: usize) -> Self {
        Listing { items: Vec::new(), gone: Bounded::new(cap), closed: Bounded::new(cap), cap }
    }

    fn contains(&self, user: &str) -> bool {
        self.items.iter().any(|(_, i)| i.user() == user)
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().map(|(_, i)| i)
    }

    fn is_closed(&self, item: &T) -> bool {
        item.request().is_some_and(|id| self.closed.get(id).is_some())
    }

    /// Lists `item` as of `ts`; false (stale) when its request is closed or the list holds
    /// newer news of that user. Of two requests of one user (only one can be pending), the
    /// later made stays and the other is closed.
    fn put(&mut self, ts: u64, item: T) -> bool {
        if self.is_closed(&item) || self.gone.get(item.user()).is_some_and(|at| *at > ts) {
            return false;
        }
        let user = item.user().to_owned();
        if let Some((at, held)) = self.items.iter().find(|(_, i)| i.user() == user) {
            let (newer, loser) = match (held.request(), item.request()) {
                (Some(h), Some(id)) if h == id => (true, None),
                (Some(h), Some(_)) if item.made() >= held.made() => (true, Some(h.to_owned())),
                (Some(_), Some(id)) => (false, Some(id.to_owned())),
                _ => (*at <= ts, None),
            };
            if let Some(id) = loser {
                self.closed.insert(&id, ());
            }
            if !newer {
                return false;
            }
        }
        self.items.retain(|(_, i)| i.user() != user);
        self.items.push((ts, item));
        if self.items.len() > self.cap {
            self.items.remove(0);
        }
        true
    }

    /// Takes `user` off as of `ts` (an entry newer than that stays); whether it was listed.
    /// The requests taken off are closed.
    fn take(&mut self, user: &str, ts: u64) -> bool {
        let at = self.gone.get(user).copied().unwrap_or(0).max(ts);
        self.gone.insert(user, at);
        self.remove(|t, i| i.user() == user && *t <= ts)
    }

    /// Closes the request `id` of `user` (taken off whatever the times, never listed again);
    /// without an id (older servers), takes `user` off as of `ts`.
    fn close(&mut self, user: &str, id: Option<&str>, ts: u64) -> bool {
        match id {
            Some(id) => {
                self.closed.insert(id, ());
                self.remove(|t, i| i.user() == user && (i.request() == Some(id) || (i.request().is_none() && *t <= ts)))
            }
            None => self.take(user, ts),
        }
    }

    fn remove(&mut self, mut gone: impl FnMut(&u64, &T) -> bool) -> bool {
        let before = self.items.len();
        let mut closed = Vec::new();
        self.items.retain(|(t, i)| {
            let off = gone(t, i);
            if off {
                closed.extend(i.request().map(str::to_owned));
            }
            !off
        });
        for id in closed {
            self.closed.insert(&id, ());
        }
        self.items.len() != before
    }

    /// Forgets `user` without ordering anything after it (a local dismissal).
    fn forget(&mut self, user: &str) -> bool {
        let before = self.items.len();
        self.items.retain(|(_, i)| i.user() != user);
        self.items.len() != before
    }

    /// The list as a snapshot taken at `ts` has it, plus what was listed after `ts`; minus
    /// what was taken off after `ts` and every closed request.
    fn snapshot(&mut self, ts: u64, listed: Vec<T>) {
        let newer: Vec<(u64, T)> = core::mem::take(&mut self.items).into_iter().filter(|(at, _)| *at > ts).collect();
        for item in listed {
            let user = item.user();
            if self.is_closed(&item) || newer.iter().any(|(_, i)| i.user() == user) || self.gone.get(user).is_some_and(|at| *at > ts) {
                continue;
            }
            if !self.items.iter().any(|(_, i)| i.user() == user) {
                self.items.push((ts, item));
            }
        }
        self.items.extend(newer);
        let over = self.items.len().saturating_sub(self.cap);
        self.items.drain(..over);
    }
}

/// A command this client sent (see [`FriendsView::track`]): what its answer changes.
#[derive(Clone, Debug)]
struct Sent {
    kind: CommandKind,
    /// The other user (`userB`; for an accept or decline, the requester `userA`).
    other: Option<String>,
    invisible: Option<bool>,
    status_message: Option<Option<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalCount {
    pub online_count: u64,
    pub delta_from_last: Option<i64>,
    pub peak_today: Option<u64>,
    pub calculated_at: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CountPoint {
    /// Epoch milliseconds.
    pub t: u64,
    pub count: u64,
}

/// What applying one message did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Same `eventId` seen before.
    Duplicate,
    /// Older than what the view holds for that subject.
    Stale,
    /// Well-formed but not for this view (unknown type, a stranger's status, …).
    Ignored(String),
    /// Malformed or not allowed: the reason.
    Rejected(String),
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Ignored(_) => "ignored",
            Outcome::Rejected(_) => "rejected",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Ignored(r) | Outcome::Rejected(r) => Some(r),
            _ => None,
        }
    }

    pub fn changed(&self) -> bool {
        *self == Outcome::Applied
    }
}

fn ignored(reason: &str) -> Outcome {
    Outcome::Ignored(reason.to_owned())
}

fn rejected(reason: &str) -> Outcome {
    Outcome::Rejected(reason.to_owned())
}

/// A map that forgets its oldest entries past `cap`. The values sit in a slab indexed by one
/// table type (`HashMap<String, usize>`) whatever `V` is: a table per value type would put
/// another copy of hashbrown's code in the web package for each.
#[derive(Clone, Debug)]
struct Bounded<V> {
    cap: usize,
    index: HashMap<String, usize>,
    /// `(seq, value)`; `None`: a free slot, listed in `free`.
    slots: Vec<Option<(u64, V)>>,
    free: Vec<usize>,
    order: VecDeque<(String, u64)>,
    seq: u64,
}

impl<V> Bounded<V> {
    fn new(cap: usize) -> Self {
        Bounded { cap, index: HashMap::default(), slots: Vec::new(), free: Vec::new(), order: VecDeque::new(), seq: 0 }
    }

    fn slot(&self, key: &str) -> Option<&(u64, V)> {
        self.index.get(key).and_then(|&i| self.slots.get(i)).and_then(Option::as_ref)
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.slot(key).map(|(_, v)| v)
    }

    fn insert(&mut self, key: &str, value: V) {
        self.seq += 1;
        let entry = Some((self.seq, value));
        match self.index.get(key).copied() {
            Some(i) => {
                if let Some(slot) = self.slots.get_mut(i) {
                    *slot = entry;
                }
            }
            None => {
                let i = match self.free.pop() {
                    Some(i) => {
                        if let Some(slot) = self.slots.get_mut(i) {
                            *slot = entry;
                        }
                        i
                    }
                    None => {
                        self.slots.push(entry);
                        self.slots.len() - 1
                    }
                };
                self.index.insert(key.to_owned(), i);
            }
        }
        self.order.push_back((key.to_owned(), self.seq));
        while self.index.len() > self.cap || self.order.len() > self.cap.saturating_mul(2) {
            let Some((old, seq)) = self.order.pop_front() else { break };
            // Re-inserted keys leave older order entries behind: only the newest one evicts.
            if self.slot(&old).is_some_and(|(s, _)| *s == seq) {
                self.remove(&old);
            }
        }
    }

    fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.index.remove(key)?;
        let (_, value) = self.slots.get_mut(i)?.take()?;
        self.free.push(i);
        Some(value)
    }
}

/// Status of a non-friend, kept in case they become a friend.
#[derive(Clone, Debug)]
struct Note {
    online: bool,
    at: Order,
    last_seen_ms: Option<u64>,
    status_message: Option<String>,
}

/// An initial load in progress: which friends its pages listed, and where each chain of it
/// (`core::sync`) stands.
#[derive(Clone, Debug, Default)]
struct SyncRun {
    seen: HashSet<String>,
    first_ts: Option<u64>,
    /// The first request (no cursor) until its head arrives: the head lists the chains.
    first: Option<Ask>,
    /// Every request of this load: pages answering others (the same user in another tab)
    /// are applied but do not move the chains.
    asked: HashSet<String>,
    chains: Vec<Chain>,
    /// Requests made so far: each gets an id of its own.
    asks: u64,
}

/// One chain of a load: pages `0..got` arrived; `cursor` reads page `got`.
#[derive(Clone, Debug, Default)]
struct Chain {
    got: u32,
    cursor: Option<String>,
    /// Pages that arrived past a missing one: their place and the cursor after them.
    ahead: Vec<(u32, Option<String>)>,
    done: bool,
    ask: Option<Ask>,
}

/// A request waiting for its answer: its id, the pages it asked for and those arrived.
#[derive(Clone, Debug)]
struct Ask {
    id: String,
    pages: u32,
    got: u32,
    at_ms: u64,
}

impl Chain {
    /// Page `seq` arrived with `next` after it: the chain moves on past every page in order.
    fn arrived(&mut self, seq: u32, next: Option<String>) {
        if seq > self.got {
            self.ahead.push((seq, next));
            return;
        }
        if seq < self.got || self.done {
            return;
        }
        let mut next = next;
        loop {
            self.got += 1;
            self.done = next.is_none();
            self.cursor = next;
            match self.ahead.iter().position(|(s, _)| *s == self.got) {
                Some(i) if !self.done => next = self.ahead.swap_remove(i).1,
                _ => break,
            }
        }
        let got = self.got;
        self.ahead.retain(|(s, _)| *s > got);
    }
}

#[derive(Clone, Debug)]
pub struct FriendsView {
    me: UserId,
    shard_count: u32,
    friends: HashMap<String, Friend>,
    removed: Bounded<u64>,
    strangers: Bounded<Note>,
    seen: Bounded<()>,
    count: Option<(u64, GlobalCount)>,
    history: VecDeque<CountPoint>,
    run: Option<SyncRun>,
    synced: bool,
    total_friends: Option<u64>,
    total_online: Option<u64>,
    incoming: Listing<FriendRequest>,
    outgoing: Listing<FriendRequest>,
    blocked: Listing<String>,
    sent: Bounded<Sent>,
    settings: OwnSettings,
    outcomes: Bounded<CommandOutcome>,
    version: u64,
}

impl FriendsView {
    pub fn new(me: UserId) -> FriendsView {
        FriendsView::with_shards(me, DEFAULT_SHARD_COUNT)
    }

    pub fn with_shards(me: UserId, shard_count: u32) -> FriendsView {
        FriendsView {
            me,
            shard_count: shard_count.max(1),
            friends: HashMap::default(),
            removed: Bounded::new(TOMBSTONES),
            strangers: Bounded::new(STRANGERS),
            seen: Bounded::new(SEEN_EVENTS),
            count: None,
            history: VecDeque::new(),
            run: None,
            synced: false,
            total_friends: None,
            total_online: None,
            incoming: Listing::new(REQUESTS),
            outgoing: Listing::new(REQUESTS),
            blocked: Listing::new(REQUESTS),
            sent: Bounded::new(SENT),
            settings: OwnSettings::default(),
            outcomes: Bounded::new(OUTCOMES),
            version: 0,
        }
    }

    pub fn me(&self) -> &UserId {
        &self.me
    }

    /// The subscribe plan for the friends known so far: all ten groups until the first sync
    /// page tells the count, then the groups in use (`SubscribePlan::for_user_with_friends`),
    /// following the count as friends are added and removed.
    pub fn plan(&self) -> SubscribePlan {
        SubscribePlan::for_user_with_friends(&self.me, self.shard_count, self.known_friend_count())
    }

    /// The friend count the plan follows: the view's own once a load completed (kept by
    /// `friend.added`/`friend.removed`), else the newest sync page's total, else unknown.
    pub fn known_friend_count(&self) -> Option<u64> {
        if self.synced {
            Some(self.friends.len() as u64)
        } else {
            self.total_friends
        }
    }

    /// What to subscribe to and leave to go from the friends groups `current` to
    /// [`Self::plan`]'s.
    pub fn regroup(&self, current: &[String]) -> GroupChange {
        let want = self.plan().groups;
        GroupChange {
            subscribe: want.iter().filter(|g| !current.contains(g)).cloned().collect(),
            unsubscribe: current.iter().filter(|g| !want.contains(g)).cloned().collect(),
        }
    }

    /// Bumped by every change; a UI re-renders only when it moved.
    pub fn version(&self) -> u64 {
        self.version
    }

    // ------------------------------------------------------------------ reading

    /// Online friends first, then by name (case-insensitive), then by user id.
    pub fn ordered(&self) -> Vec<&Friend> {
        let mut list: Vec<(&Friend, String)> = self.friends.values().map(|f| (f, lowercase(f.display_name()))).collect();
        // The user id breaks every tie (keys of one map), so any correct sort gives this order.
        heap_sort(&mut list, |(a, ka), (b, kb)| (!a.online, ka, &a.user_id) < (!b.online, kb, &b.user_id));
        list.into_iter().map(|(f, _)| f).collect()
    }

    pub fn friend(&self, user: &str) -> Option<&Friend> {
        self.friends.get(user)
    }

    pub fn friend_count(&self) -> usize {
        self.friends.len()
    }

    pub fn online_count(&self) -> usize {
        self.friends.values().filter(|f| f.online).count()
    }

    pub fn global_count(&self) -> Option<&GlobalCount> {
        self.count.as_ref().map(|(_, c)| c)
    }

    /// Count points of the last [`HISTORY_MS`] before the newest, oldest first.
    pub fn count_history(&self) -> impl Iterator<Item = &CountPoint> {
        self.history.iter()
    }

    /// Pending requests to this user, oldest first.
    pub fn incoming(&self) -> Vec<&FriendRequest> {
        self.incoming.iter().collect()
    }

    /// Pending requests this user sent, oldest first.
    pub fn outgoing(&self) -> Vec<&FriendRequest> {
        self.outgoing.iter().collect()
    }

    /// Users this user blocked.
    pub fn blocked(&self) -> Vec<&str> {
        self.blocked.iter().map(String::as_str).collect()
    }

    /// This user's settings as confirmed by the answers to its own `user.settings`.
    pub fn settings(&self) -> &OwnSettings {
        &self.settings
    }

    /// How the command `event_id` this client sent ended, once its `friend.command.result`
    /// arrived. Until then the client re-sends the command (same `eventId`): a publish that
    /// succeeded does not mean the Function ran, and a re-send is answered with the same result.
    pub fn command_result(&self, event_id: &str) -> Option<&CommandOutcome> {
        self.outcomes.get(event_id)
    }

    /// `totalFriends` / `totalOnline` of the newest sync page.
    pub fn sync_totals(&self) -> (Option<u64>, Option<u64>) {
        (self.total_friends, self.total_online)
    }

    /// True once a complete initial load has been applied.
    pub fn synced(&self) -> bool {
        self.synced
    }

    // ------------------------------------------------------------------ initial load

    /// Starts an initial load: the pages applied until one without `next` form one snapshot,
    /// and friends it does not list (and not added since) are dropped at its end.
    pub fn begin_sync(&mut self) {
        self.run = Some(SyncRun::default());
    }

    /// Whether a load is in progress (begun, last page not applied yet).
    pub fn syncing(&self) -> bool {
        self.run.is_some()
    }

    /// Whether a request of the load in progress waits for (more of) its answer.
    pub fn sync_awaiting(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.first.is_some() || r.chains.iter().any(|c| c.ask.is_some()))
    }

    /// The `friends.sync.request`s to publish now on `friend-management.{userId}` (begins a
    /// load if none is in progress): the first one until its head arrives, then one per chain
    /// that is not complete and waits for nothing, while the pages asked for and not arrived
    /// stay within `max_pages` (below the ~100 messages a subscriber's queue holds, so a
    /// slow client loses none). A request unanswered after `timeout_ms`, or answered with a
    /// page missing, is asked again from the chain's last page in order. `nonce` makes the
    /// ids unique across views (a random number); an id is 1–128 characters without `:`.
    pub fn sync_asks(&mut self, now_ms: u64, nonce: u64, max_pages: u32, timeout_ms: u64) -> Vec<Json> {
        let me = self.me.clone();
        let run = self.run.get_or_insert_with(SyncRun::default);
        let stale = |a: &Option<Ask>| a.as_ref().is_some_and(|a| now_ms.saturating_sub(a.at_ms) >= timeout_ms);
        let mut out = Vec::new();
        if run.chains.is_empty() {
            if run.first.is_none() || stale(&run.first) {
                let pages = crate::core::sync::SYNC_FIRST_PAGES_MAX as u32;
                let (msg, ask) = sync_request(&me, run, None, pages, now_ms, nonce);
                run.first = Some(ask);
                out.push(msg);
            }
            return out;
        }
        let mut in_flight: u32 = 0;
        for c in run.chains.iter_mut() {
            if stale(&c.ask) || c.done {
                c.ask = None;
            }
            in_flight += c.ask.as_ref().map_or(0, |a| a.pages.saturating_sub(a.got));
        }
        for i in 0..run.chains.len() {
            let c = &run.chains[i];
            let room = max_pages.saturating_sub(in_flight).min(crate::core::sync::SYNC_PAGES_MAX as u32);
            if c.done || c.ask.is_some() || room == 0 {
                continue;
            }
            let cursor = c.cursor.clone();
            let (msg, ask) = sync_request(&me, run, cursor.as_deref(), room, now_ms, nonce);
            run.chains[i].ask = Some(ask);
            in_flight += room;
            out.push(msg);
        }
        out
    }

    // ------------------------------------------------------------------ applying

    /// Applies one message. `channel` is where it arrived (`None` for the friends-sync HTTP
    /// reply); when given it must be the channel the message type belongs on.
    pub fn apply(&mut self, channel: Option<&str>, message: &Json) -> Outcome {
        let incoming = match event::parse(message) {
            Ok(i) => i,
            Err(NotAnEvent::UnknownType(kind)) => {
                let mut r = String::from("unknown message type: ");
                r.push_str(&kind);
                return Outcome::Ignored(r);
            }
            Err(NotAnEvent::Rejected(reason)) => return Outcome::Rejected(reason),
        };
        if let Some(channel) = channel.filter(|c| !c.is_empty()) {
            if let Err(reason) = self.check_channel(channel, &incoming.event) {
                return Outcome::Rejected(reason);
            }
        }
        if self.seen.get(&incoming.event_id).is_some() {
            return Outcome::Duplicate;
        }
        let Incoming { event_id, ts_ms, event } = incoming;
        let outcome = self.apply_event(ts_ms, event);
        if !matches!(outcome, Outcome::Rejected(_)) {
            self.seen.insert(&event_id, ());
        }
        if outcome.changed() {
            self.version += 1;
        }
        outcome
    }

    fn check_channel(&self, channel: &str, event: &ClientEvent) -> Result<(), String> {
        let expected = match event {
            ClientEvent::Online { user, .. } | ClientEvent::Offline { user, .. } => status(user),
            ClientEvent::Count { .. } => STATUS_GLOBAL.to_owned(),
            _ => inbox(&self.me),
        };
        if channel == expected {
            return Ok(());
        }
        let mut r = String::from("message arrived on ");
        r.push_str(channel);
        r.push_str(", expected ");
        r.push_str(&expected);
        Err(r)
    }

    fn apply_event(&mut self, ts: u64, event: ClientEvent) -> Outcome {
        match event {
            ClientEvent::Online { user, name, profile_url, status_message, version } => {
                let at = Order::new(version, ts);
                let friend = self.friends.get_mut(user.as_str());
                let online_since = friend.as_ref().filter(|f| f.online && !f.presence_at.is_hint()).map(|f| f.presence_at);
                if let (None, Some(held), Some(f)) = (version, online_since, friend) {
                    if ts >= held.ts {
                        // No version (an older server), online already: a re-announcement (a
                        // new status message) updates fields, not presence, since the
                        // friend.offline that follows can carry an earlier ts.
                        f.set_profile(&name, &profile_url);
                        if at.not_before(&f.status_at) {
                            f.status_message = status_message;
                            f.status_at = at;
                        }
                        return Outcome::Applied;
                    }
                }
                // A re-announcement keeps the time the friend came online.
                let since = if online_since.is_some() { None } else { Some(ts) };
                let out = self.presence(&user, true, at, since, status_message.clone());
                if let (Outcome::Applied, Some(f)) = (&out, self.friends.get_mut(user.as_str())) {
                    f.set_profile(&name, &profile_url);
                    f.status_message = status_message;
                    f.status_at = at;
                }
                out
            }
            ClientEvent::Offline { user, name, last_seen_ms, version } => {
                let out = self.presence(&user, false, Order::new(version, ts), Some(last_seen_ms.unwrap_or(ts)), None);
                if let (Outcome::Applied, Some(f)) = (&out, self.friends.get_mut(user.as_str())) {
                    f.set_profile(&name, &None);
                }
                out
            }
            ClientEvent::Added { user, name, profile_url, online } => self.added(&user, ts, &name, &profile_url, online),
            ClientEvent::Removed { user } => self.removed(&user, ts),
            ClientEvent::RequestReceived { user, name, profile_url, requested_at_ms, request_id } => {
                if user == self.me {
                    return rejected("a friend request from the user itself");
                }
                if self.friends.contains_key(user.as_str()) {
                    return ignored("already friends");
                }
                if self.blocked.contains(user.as_str()) {
                    // The Functions hide a blocked user's requests; one sent in the moment of
                    // the block can still be notified (docs/design.md, "Blocking and privacy").
                    return ignored("from a blocked user");
                }
                let request = FriendRequest {
                    user_id: user.into_string(),
                    name,
                    profile_url,
                    requested_at: Some(iso8601(requested_at_ms.unwrap_or(ts))),
                    request_id,
                };
                if !self.incoming.put(ts, request) {
                    return Outcome::Stale;
                }
                Outcome::Applied
            }
            ClientEvent::RequestClosed { user, outgoing, request_id } => {
                let list = if outgoing { &mut self.outgoing } else { &mut self.incoming };
                if list.close(user.as_str(), request_id.as_deref(), ts) {
                    Outcome::Applied
                } else {
                    ignored("no such pending request listed")
                }
            }
            ClientEvent::Count { online_count, delta_from_last, peak_today, calculated_at_ms } => {
                if self.count.as_ref().is_some_and(|(held, _)| ts < *held) {
                    return Outcome::Stale;
                }
                let at = calculated_at_ms.unwrap_or(ts);
                self.count = Some((ts, GlobalCount { online_count, delta_from_last, peak_today, calculated_at: iso8601(at) }));
                self.record_point(at, online_count);
                Outcome::Applied
            }
            ClientEvent::Sync(page) => self.sync_page(ts, page),
            ClientEvent::CommandResult(outcome) => {
                if self.outcomes.get(&outcome.event_id).is_some() {
                    return Outcome::Duplicate; // answered already: a re-send's answer
                }
                self.answered(ts, &outcome);
                self.outcomes.insert(&outcome.event_id.clone(), outcome);
                Outcome::Applied
            }
        }
    }

    /// Remembers a command this client is about to publish (the `message` a builder made), so
    /// its answer updates the lists: a request sent is outgoing, an accept, decline or cancel
    /// takes the request off, a block lists the user as blocked, `user.settings` is confirmed.
    /// → the command's `eventId`, or why it is not a command of this user.
    pub fn track(&mut self, message: &Json) -> Result<String, String> {
        let msg = message.as_object().ok_or("a command is a JSON object")?;
        let kind = msg.str("type").and_then(CommandKind::from_name).ok_or("not a client command type")?;
        let event_id = msg.str("eventId").filter(|id| !id.is_empty()).ok_or("the command has no eventId")?;
        let payload = msg.get("payload").and_then(Json::as_object).ok_or("the command has no payload")?;
        let (a, b) = (payload.str("userA"), payload.str("userB"));
        let (publisher, other) = if kind.published_by_b() { (b, a) } else { (a, b) };
        if publisher != Some(self.me.as_str()) {
            return Err(String::from("the command is not published by this user"));
        }
        let sent = Sent {
            kind,
            other: if kind.about_self() { None } else { Some(other.ok_or("the command names no other user")?.to_owned()) },
            invisible: payload.bool("invisible"),
            status_message: match payload.get("statusMessage") {
                None => None,
                Some(Json::Str(m)) if !m.is_empty() => Some(Some(m.clone())),
                Some(_) => Some(None),
            },
        };
        self.sent.insert(event_id, sent);
        Ok(event_id.to_owned())
    }

    /// What the answer `outcome` (decided at `ts`) to a tracked command changes. A refusal
    /// that says the request is gone (`not_pending`, `already_friends`) takes it off too.
    fn answered(&mut self, ts: u64, outcome: &CommandOutcome) {
        let Some(sent) = self.sent.get(&outcome.event_id).cloned() else { return };
        let gone = !outcome.ok
            && outcome
                .reason
                .as_deref()
                .and_then(Reason::from_code)
                .is_some_and(|r| matches!(r, Reason::NotPending | Reason::AlreadyFriends));
        let other = sent.other.unwrap_or_default();
        match sent.kind {
            CommandKind::Request if outcome.ok => {
                let request = FriendRequest {
                    user_id: other,
                    name: None,
                    profile_url: None,
                    requested_at: Some(iso8601(ts)),
                    // A request's id is the eventId of the command that made it.
                    request_id: Some(outcome.event_id.clone()),
                };
                self.outgoing.put(ts, request);
            }
            CommandKind::Accept if outcome.ok || gone => {
                // An acceptance also deletes a request the other way (mutual requests).
                self.incoming.take(&other, ts);
                self.outgoing.take(&other, ts);
            }
            CommandKind::Decline if outcome.ok || gone => {
                self.incoming.take(&other, ts);
            }
            CommandKind::Cancel if outcome.ok || gone => {
                self.outgoing.take(&other, ts);
            }
            CommandKind::Block if outcome.ok => {
                self.incoming.take(&other, ts);
                self.outgoing.take(&other, ts);
                self.blocked.put(ts, other);
            }
            CommandKind::Unblock if outcome.ok => {
                self.blocked.take(&other, ts);
            }
            CommandKind::Settings if outcome.ok => {
                if sent.invisible.is_some() {
                    self.settings.invisible = sent.invisible;
                }
                if sent.status_message.is_some() {
                    self.settings.status_message = sent.status_message;
                }
            }
            _ => {}
        }
    }

    fn presence(&mut self, user: &UserId, online: bool, at: Order, last_seen_ms: Option<u64>, status_message: Option<String>) -> Outcome {
        if *user == self.me {
            return ignored("the user's own status");
        }
        if let Some(f) = self.friends.get_mut(user.as_str()) {
            if !at.not_before(&f.presence_at) {
                return Outcome::Stale;
            }
            f.set_presence(online, at, last_seen_ms);
            return Outcome::Applied;
        }
        if self.removed.get(user.as_str()).is_some() {
            return ignored("not a friend");
        }
        if self.strangers.get(user.as_str()).is_some_and(|n| !at.not_before(&n.at)) {
            return Outcome::Stale;
        }
        self.strangers.insert(user.as_str(), Note { online, at, last_seen_ms, status_message });
        ignored("not a friend (yet): kept for a friend.added")
    }

    fn added(&mut self, user: &UserId, ts: u64, name: &Option<String>, profile_url: &Option<String>, online: bool) -> Outcome {
        if *user == self.me {
            return rejected("friend.added names the user itself");
        }
        if self.removed.get(user.as_str()).is_some_and(|at| *at > ts) {
            return Outcome::Stale;
        }
        self.removed.remove(user.as_str());
        // A friendship made ends the requests between the two, whichever way they went.
        self.incoming.take(user.as_str(), ts);
        self.outgoing.take(user.as_str(), ts);
        let note = self.strangers.remove(user.as_str());
        let f = self.friends.entry(user.as_str().to_owned()).or_insert_with(|| {
            let mut f = Friend::new(user, ts);
            // `online` was read when the friendship was made: a hint any status event overrides.
            f.set_presence(online, Order::default(), None);
            f
        });
        f.member_ts = f.member_ts.max(ts);
        f.set_profile(name, profile_url);
        if let Some(n) = note.filter(|n| n.at.not_before(&f.presence_at)) {
            f.set_presence(n.online, n.at, n.last_seen_ms);
            if n.online && n.at.not_before(&f.status_at) {
                f.status_message = n.status_message;
                f.status_at = n.at;
            }
        }
        Outcome::Applied
    }

    fn removed(&mut self, user: &UserId, ts: u64) -> Outcome {
        if self.friends.get(user.as_str()).is_some_and(|f| f.member_ts > ts) {
            return Outcome::Stale; // re-added after this removal
        }
        let at = self.removed.get(user.as_str()).copied().unwrap_or(0).max(ts);
        self.removed.insert(user.as_str(), at);
        self.strangers.remove(user.as_str());
        match self.friends.remove(user.as_str()) {
            Some(_) => Outcome::Applied,
            None => ignored("not a friend"),
        }
    }

    fn sync_page(&mut self, ts: u64, page: SyncPage) -> Outcome {
        if page.user_id != self.me.as_str() {
            return rejected("friends.sync is for another user");
        }
        let mut listed: Vec<String> = Vec::with_capacity(page.friends.len());
        for entry in page.friends {
            if entry.user == self.me {
                continue;
            }
            let key = entry.user.as_str().to_owned();
            if self.removed.get(&key).is_some_and(|at| *at > ts) {
                continue; // removed after this snapshot was taken
            }
            self.removed.remove(&key);
            let note = self.strangers.remove(&key);
            let f = self.friends.entry(key.clone()).or_insert_with(|| Friend::new(&entry.user, ts));
            f.member_ts = f.member_ts.max(ts);
            f.set_profile(&entry.name, &entry.profile_url);
            // The page's status message (or its absence: cleared) unless a newer one is held.
            let status_at = Order::new(entry.version, ts);
            if status_at.not_before(&f.status_at) {
                f.status_message = entry.status_message;
                f.status_at = status_at;
            }
            // The entry's state is the friend's version; without one (an older server) it
            // dates from the friend's last change (`lastSeen`), unknown = oldest.
            let entry_at = Order::new(entry.version, entry.last_seen_ms.unwrap_or(0));
            if entry_at.not_before(&f.presence_at) {
                f.set_presence(entry.online, entry_at, entry.last_seen_ms);
            }
            if let Some(n) = note.filter(|n| n.at.not_before(&f.presence_at)) {
                f.set_presence(n.online, n.at, n.last_seen_ms);
            }
            listed.push(key);
        }
        // The first page carries the pending requests and the block list: their snapshot.
        if let Some(incoming) = page.incoming {
            let blocked = page.blocked.as_deref().unwrap_or_default();
            let listed = incoming.into_iter().filter(|e| e.user != self.me && !blocked.contains(&e.user)).map(FriendRequest::of);
            self.incoming.snapshot(ts, listed.collect());
        }
        if let Some(outgoing) = page.outgoing {
            self.outgoing.snapshot(ts, outgoing.into_iter().filter(|e| e.user != self.me).map(FriendRequest::of).collect());
        }
        if let Some(blocked) = page.blocked {
            self.blocked.snapshot(ts, blocked.into_iter().map(UserId::into_string).collect());
        }
        let newest_totals = self.run.as_ref().is_none_or(|r| r.first_ts.is_none_or(|t| ts >= t));
        if newest_totals {
            self.total_friends = page.total_friends.or(self.total_friends);
            self.total_online = page.total_online.or(self.total_online);
        }
        let complete_alone =
            page.next.is_none() && page.chain.is_none() && page.total_friends == Some((listed.len() + page.skipped) as u64);
        let ours = |run: &SyncRun| page.request_id.as_ref().is_some_and(|id| run.asked.contains(id));
        match self.run.as_mut().filter(|run| ours(run)) {
            Some(run) => {
                run.first_ts = Some(run.first_ts.map_or(ts, |t| t.min(ts)));
                run.seen.extend(listed);
                let id = page.request_id.as_deref();
                let mine = |a: &Option<Ask>| a.as_ref().is_some_and(|a| Some(a.id.as_str()) == id);
                if let Some(cursors) = page.chains.filter(|_| run.chains.is_empty()) {
                    // The head: the first chain's pages follow in the same answer.
                    run.chains = cursors.into_iter().map(|c| Chain { done: c.is_none(), cursor: c, ..Chain::default() }).collect();
                    if let Some(first) = run.first.take().filter(|a| Some(a.id.as_str()) == id) {
                        for c in run.chains.iter_mut().take(page.serves.unwrap_or(1) as usize).filter(|c| !c.done) {
                            c.ask = Some(first.clone());
                        }
                    }
                }
                if let Some(c) = page.chain.and_then(|i| run.chains.get_mut(i as usize)) {
                    if mine(&c.ask) {
                        let ask = c.ask.as_mut().filter(|_| page.more);
                        match ask {
                            Some(a) => a.got += 1,
                            // The answer's last page: whatever it left missing is asked again.
                            None => c.ask = None,
                        }
                    }
                    c.arrived(page.seq.unwrap_or(0), page.next);
                }
                if !run.chains.is_empty() && run.chains.iter().all(|c| c.done) {
                    let (seen, first) = (core::mem::take(&mut run.seen), run.first_ts.unwrap_or(ts));
                    self.run = None;
                    self.reconcile(&seen, first);
                }
            }
            // A page outside a load (a push) is a whole snapshot only if it says so.
            None if complete_alone => {
                let seen: HashSet<String> = listed.into_iter().collect();
                self.reconcile(&seen, ts);
            }
            None => {}
        }
        Outcome::Applied
    }

    /// End of a snapshot: friends it did not list, and not (re)added after it, are gone.
    fn reconcile(&mut self, seen: &HashSet<String>, snapshot_ts: u64) {
        self.friends.retain(|id, f| seen.contains(id) || f.member_ts > snapshot_ts);
        self.synced = true;
    }

    /// Forgets an incoming request here, without a command (the answer to a tracked decline
    /// takes it off by itself).
    pub fn dismiss_request(&mut self, user: &str) -> bool {
        let changed = self.incoming.forget(user);
        if changed {
            self.version += 1;
        }
        changed
    }

    fn record_point(&mut self, at: u64, count: u64) {
        match self.history.back() {
            Some(last) if last.t > at => {
                // A late point: insert in time order (rare; the aggregator runs every 10 s).
                let i = self.history.iter().position(|p| p.t > at).unwrap_or(self.history.len());
                self.history.insert(i, CountPoint { t: at, count });
            }
            Some(last) if last.t == at => {
                let i = self.history.len() - 1;
                self.history[i].count = count;
            }
            _ => self.history.push_back(CountPoint { t: at, count }),
        }
        let newest = self.history.back().map_or(at, |p| p.t);
        while self.history.front().is_some_and(|p| p.t + HISTORY_MS < newest) || self.history.len() > HISTORY_POINTS {
            self.history.pop_front();
        }
    }
}

/// A `friends.sync.request` for `pages` pages from `cursor` (`None`: the first request), and
/// what the run waits for.
fn sync_request(me: &UserId, run: &mut SyncRun, cursor: Option<&str>, pages: u32, now_ms: u64, nonce: u64) -> (Json, Ask) {
    run.asks += 1;
    let mut id = String::from("sync-");
    id.push_str(me.as_str());
    for n in [now_ms, nonce, run.asks] {
        id.push('-');
        push_u64(&mut id, n);
    }
    run.asked.insert(id.clone());
    let mut payload = JsonObject::default();
    payload.set("userA", Json::str(me.as_str()));
    payload.set("page", cursor.map_or(Json::Null, Json::str));
    payload.set("pages", Json::num(pages as u64));
    let mut msg = JsonObject::default();
    msg.set("type", Json::str(event::FRIENDS_SYNC_REQUEST));
    msg.set("schemaVersion", Json::str(SCHEMA_VERSION));
    msg.set("eventId", Json::Str(id.clone()));
    msg.set("ts", Json::Str(iso8601(now_ms)));
    msg.set("payload", Json::Obj(payload));
    (Json::Obj(msg), Ask { id, pages, got: 0, at_ms: now_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(b: &Bounded<u64>, all: &[&str]) -> Vec<(String, u64)> {
        all.iter().filter_map(|k| b.get(k).map(|v| ((*k).to_owned(), *v))).collect()
    }

    #[test]
    fn heap_sort_sorts_like_the_standard_sort() {
        // Every length up to 9, with repeated values, and a longer pseudo-random list.
        let mut seed = 7u64;
        let mut lists: Vec<Vec<u64>> = (0..10).map(|n| (0..n).map(|i| (i * 7919 + n) % 5).collect()).collect();
        lists.push(
            (0..2_000)
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    seed >> 40
                })
                .collect(),
        );
        for list in lists {
            let (mut ours, mut std) = (list.clone(), list);
            heap_sort(&mut ours, |a, b| a < b);
            std.sort();
            assert_eq!(ours, std);
        }
    }

    #[test]
    fn a_bounded_map_forgets_its_oldest_insertion_first() {
        let mut b = Bounded::new(3);
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            b.insert(k, i as u64);
        }
        b.insert("a", 10); // refreshed: now the newest
        b.insert("d", 3);
        assert_eq!(keys(&b, &["a", "b", "c", "d"]), [("a".into(), 10), ("c".into(), 2), ("d".into(), 3)]);
        assert_eq!(b.remove("c"), Some(2));
        assert_eq!(b.remove("c"), None);
        b.insert("e", 4); // takes the freed slot; nothing else is forgotten
        assert_eq!(keys(&b, &["a", "c", "d", "e"]), [("a".into(), 10), ("d".into(), 3), ("e".into(), 4)]);
        b.insert("f", 5);
        assert_eq!(keys(&b, &["a", "d", "e", "f"]), [("d".into(), 3), ("e".into(), 4), ("f".into(), 5)]);
        // Re-inserting one key over and over keeps the order queue within twice the bound; the
        // entries inserted before them are the oldest and go; the slots are reused.
        for i in 0..100 {
            b.insert("d", i);
        }
        assert!(b.order.len() <= 6 && b.slots.len() <= 4, "{} order entries, {} slots", b.order.len(), b.slots.len());
        assert_eq!(keys(&b, &["d", "e", "f"]), [("d".into(), 99)]);
        b.insert("g", 6);
        assert_eq!(keys(&b, &["d", "g"]), [("d".into(), 99), ("g".into(), 6)]);
        assert!(b.slots.len() <= 4);
    }
}
