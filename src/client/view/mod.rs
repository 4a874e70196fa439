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

mod containers;
mod sync;

use containers::{heap_sort, Bounded, Listing};
use sync::SyncRun;

use alloc::collections::VecDeque;

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;

use crate::client::event::{self, ClientEvent, CommandOutcome, Incoming, NotAnEvent, PendingEntry, SyncPage};
use crate::client::lowercase::lowercase;
use crate::client::map::{HashMap, HashSet};
use crate::client::plan::{SubscribePlan, DEFAULT_SHARD_COUNT};
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

/// Status of a non-friend, kept in case they become a friend.
#[derive(Clone, Debug)]
struct Note {
    online: bool,
    at: Order,
    last_seen_ms: Option<u64>,
    status_message: Option<String>,
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

    // ------------------------------------------------------------------ initial load

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

    // Long on purpose: one arm per event type, each a few lines that call the view's own steps;
    // splitting would only move the match.
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
