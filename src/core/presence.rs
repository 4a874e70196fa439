//! Presence events → per-user observations → status decisions.
//!
//! Shards of ~5,000 users are always in interval mode (announce max ≤ 100), so `interval`
//! events with `join`/`leave`/`timeout` arrays are the normal case, not an edge case.

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use super::records::UserRecord;
use super::{Config, Rejection};
use crate::domain::channels::parse_presence_shard;
use crate::domain::json::FromJson;
use crate::domain::messages::{self, Envelope, FriendOffline, FriendOnline, StatusPayload};
use crate::domain::time::{iso8601, parse_iso8601};
use crate::domain::{Json, JsonObject, UserId};

/// "User `u` was seen online/offline at `t`" — the unit all presence work is made of.
/// Short field names: these travel in fired work items and KV queue chunks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Observation {
    #[serde(rename = "u")]
    pub user: String,
    #[serde(rename = "o")]
    pub online: bool,
    /// Event time, epoch ms.
    #[serde(rename = "t")]
    pub at_ms: u64,
    /// Read from presence by a shard reconciliation at `at_ms` (clock time, not an event
    /// time): it is newer than every change announced before that moment.
    #[serde(rename = "r", skip_serializing_if = "core::ops::Not::not")]
    pub reconciled: bool,
    /// The user's version whose announcement was committed but not published (the publish
    /// failed after the write): the settle path announces the state again if it is still the
    /// record's (docs/design.md §4).
    #[serde(rename = "p", skip_serializing_if = "Option::is_none")]
    pub republish: Option<u64>,
}

impl Observation {
    pub fn event(user: String, online: bool, at_ms: u64) -> Self {
        Observation { user, online, at_ms, reconciled: false, republish: None }
    }
}

/// Work items and queue chunks are written by this system, but KV and `fire` are still
/// input: an entry with an invalid user id is refused, not acted on.
impl FromJson for Observation {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        let obj = v.as_object().ok_or("observation is not an object")?;
        let user: String = obj.field("u").map_err(|_| "observation has no user")?;
        UserId::parse(&user).map_err(|e| e.reason())?;
        let online = obj.bool("o").ok_or("observation has no online flag")?;
        let at_ms = obj.u64("t").ok_or("observation has no time")?;
        Ok(Observation { user, online, at_ms, reconciled: obj.bool("r").unwrap_or(false), republish: obj.u64("p") })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PresenceInput {
    /// `join`/`leave`/`timeout`: one user, one execution (shards under announce max).
    Single { shard: u32, observation: Observation },
    /// `interval` deltas: `observations` are users who only joined; `checks` are users whose
    /// final state presence must decide (see [`PresenceCheck`]); `occupancy` is the event's.
    Observations { shard: u32, observations: Vec<Observation>, checks: PresenceCheck, skipped: Vec<String> },
    /// `here_now_refresh: true`: the deltas were dropped; occupancy must be re-read.
    Refresh { shard: u32 },
    /// Valid but not ours to act on (e.g. `state-change`).
    Ignored(&'static str),
}

/// Reads an After-Presence request: `channel` is the bound channel, `event` the payload.
// Long on purpose: a field-by-field reader of PubNub's presence event (individual and interval
// forms), each refusal beside its field.
pub fn parse_presence_event(channel: &str, event: &Json, now_ms: u64) -> Result<PresenceInput, Rejection> {
    let Some(shard) = parse_presence_shard(channel) else {
        return Ok(PresenceInput::Ignored("channel is not a presence shard"));
    };
    let Some(event) = event.as_object() else {
        return Err(Rejection::new("presence event is not an object"));
    };
    let Some(action) = event.str("action") else {
        return Err(Rejection::new("presence event has no action"));
    };
    // PubNub presence timestamps are unix seconds; fall back to the clock if absent.
    let at_ms = match event.get("timestamp") {
        None | Some(Json::Null) => now_ms,
        Some(Json::Num(s)) if *s >= 0.0 && *s < 1e11 => (*s * 1000.0) as u64,
        Some(_) => return Err(Rejection::new("presence timestamp is not a number of seconds")),
    };
    match action {
        "join" | "leave" | "timeout" => {
            let Some(uuid) = event.str("uuid") else {
                return Err(Rejection::new("presence event has no uuid"));
            };
            let user = UserId::parse(uuid).map_err(|e| Rejection::with(e.reason(), uuid))?;
            Ok(PresenceInput::Single { shard, observation: Observation::event(user.into_string(), action == "join", at_ms) })
        }
        "interval" => {
            if event.bool("here_now_refresh") == Some(true) {
                return Ok(PresenceInput::Refresh { shard });
            }
            let mut joined = Vec::new();
            let mut gone = Vec::new();
            let mut skipped = Vec::new();
            for (key, online) in [("join", true), ("leave", false), ("timeout", false)] {
                match event.get(key) {
                    None | Some(Json::Null) => {}
                    Some(Json::Arr(items)) => {
                        for item in items {
                            match item {
                                Json::Str(s) if UserId::parse(s).is_ok() => {
                                    if online {
                                        joined.push(s.clone())
                                    } else {
                                        gone.push(s.clone())
                                    }
                                }
                                // One bad id must not cost the other users their update.
                                Json::Str(s) => skipped.push(s.chars().take(100).collect()),
                                _ => skipped.push(String::from("<not a string>")),
                            }
                        }
                    }
                    Some(_) => return Err(Rejection::with("interval delta is not an array", key)),
                }
            }
            // The arrays carry no order: a user named in `join` and in `leave`/`timeout` may
            // have left and come back (a reload) or come and gone, and a user in `leave` may
            // still be connected from another device. Only a join stands on its own; every
            // other user named goes to presence, which decides (`PresenceCheck`).
            let mut observations = Vec::with_capacity(joined.len());
            for user in joined {
                if !gone.contains(&user) {
                    push_unique(&mut observations, Observation::event(user, true, at_ms));
                }
            }
            let mut users: Vec<String> = Vec::with_capacity(gone.len());
            for user in gone {
                if !users.contains(&user) {
                    users.push(user);
                }
            }
            let occupancy = event.u64("occupancy").unwrap_or(0);
            Ok(PresenceInput::Observations { shard, observations, checks: PresenceCheck { users, occupancy, at_ms }, skipped })
        }
        "state-change" => Ok(PresenceInput::Ignored("state-change does not change online status")),
        other => Err(Rejection::with("unknown presence action", other)),
    }
}

/// Users whose state after an event only presence can tell: every user an event says left or
/// timed out (PubNub sends a leave per device, so the user may still be connected from
/// another one), and every user an interval event names both as joined and as gone (the
/// arrays carry no order). Resolved by reading presence (`plan_presence_read`), never by
/// the arrays.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PresenceCheck {
    pub users: Vec<String>,
    /// The shard's occupancy as the event reported it: how many hereNow pages a read takes.
    pub occupancy: u64,
    /// The event's time: what the resolved observations are stamped with.
    pub at_ms: u64,
}

/// How to read presence for a [`PresenceCheck`] within `max_calls` PubNub API calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PresenceRead {
    /// Nothing to check.
    Nothing,
    /// One `whereNow` per user (fewer calls than paging the shard).
    WhereNow,
    /// `hereNow` of the shard with uuids, this many pages of [`HERE_NOW_PAGE`].
    HereNowPages(u32),
    /// Neither fits: the shard is reconciled instead (it reads everyone's state).
    Reconcile,
}

/// Occupants per `hereNow` page (PubNub's maximum `limit`).
pub const HERE_NOW_PAGE: u64 = 1_000;

/// The cheaper read that answers for every user in `check`. One page more than the event's
/// occupancy asks for, since occupants who joined after the event push the list on.
pub fn plan_presence_read(check: &PresenceCheck, max_calls: u32) -> PresenceRead {
    let n = check.users.len() as u64;
    if n == 0 {
        return PresenceRead::Nothing;
    }
    let pages = check.occupancy / HERE_NOW_PAGE + 1;
    if n <= pages && n <= max_calls as u64 {
        PresenceRead::WhereNow
    } else if pages <= max_calls as u64 {
        PresenceRead::HereNowPages(pages as u32)
    } else {
        PresenceRead::Reconcile
    }
}

/// The checked users' observations from what presence said: online exactly when present.
/// Stamped with the event's time, as the event caused them. (A linear scan: sorting would
/// cost the bundle more than the few users an event names cost here.)
pub fn resolve_check(check: PresenceCheck, present: &[String]) -> Vec<Observation> {
    let at = check.at_ms;
    check.users.into_iter().map(|u| Observation::event(u.clone(), present.contains(&u), at)).collect()
}

fn push_unique(list: &mut Vec<Observation>, obs: Observation) {
    if !list.iter().any(|o| o.user == obs.user) {
        list.push(obs);
    }
}

/// The presence fields this system owns in App Context `custom` (seed §5.1).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PresenceFields {
    pub online: Option<bool>,
    /// Event time of the last announced change.
    pub changed_at_ms: Option<u64>,
    /// Clock time of the last status publish (debounce bookkeeping).
    pub published_at_ms: Option<u64>,
}

pub const STATUS_PUBLISHED_AT: &str = "statusPublishedAt";
/// App Context `custom` field: the user's version (docs/design.md §4), advanced by every write
/// that changes what friends see; status messages and sync entries carry it.
pub const VERSION: &str = "version";

/// The version a write of `custom` commits: one past the record's.
pub fn next_version(custom: &JsonObject) -> u64 {
    custom.u64(VERSION).unwrap_or(0) + 1
}

impl PresenceFields {
    pub fn read(custom: &JsonObject) -> Self {
        let last = |k| custom.str(k).and_then(parse_iso8601);
        PresenceFields {
            online: custom.bool("online"),
            changed_at_ms: last("lastOnline").max(last("lastOffline")),
            published_at_ms: custom.u64(STATUS_PUBLISHED_AT),
        }
    }
}

/// Event times order events. A reconciled observation is a read of presence at `at_ms`: only
/// an announcement made after that read (by the clock) can be newer than it. An event is
/// stamped with its whole second and may have happened up to 999 ms later, so it loses only
/// to a change announced after that second: one raised just after a reconciliation's read,
/// in the same second, still wins.
fn is_stale(obs: &Observation, fields: &PresenceFields) -> bool {
    if obs.reconciled {
        fields.published_at_ms.is_some_and(|p| p > obs.at_ms)
    } else {
        fields.changed_at_ms.is_some_and(|c| obs.at_ms.saturating_add(999) < c)
    }
}

/// After a publish, how long a deferred entry may still be waiting in the settle queue when the
/// settler keeps up (debounce window + slot + grace + hereNow cache + settler interval: 21.5 s,
/// with margin): a storm's repair scan runs this long after its first scan.
pub const SETTLE_HORIZON_MS: u64 = 25_000;

/// How old a `hereNow` answer may be: PubNub caches it for 3 s.
pub const HERE_NOW_CACHE_MS: u64 = 3_000;

// One decision per observation, acted on at once and never stored in bulk: its size is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum StatusDecision {
    /// Friends already have this state.
    Unchanged,
    /// Friends already have this state, but a deferred opposite state may still be queued
    /// (however late the settler is): this observation is queued too (due with it), so the
    /// settle path looks at this user again after the opposite one.
    UnchangedQueued { due_ms: u64 },
    /// Older than the change already announced (out-of-order delivery).
    Stale,
    /// Inside the debounce window: publish the final state at `due_ms` (trailing edge).
    Defer { due_ms: u64 },
    /// Publish `message` on `status.{user}`, then write `custom` to App Context.
    Announce { custom: JsonObject, message: Envelope<StatusPayload> },
}

pub fn decide_status(obs: &Observation, user: Option<&UserRecord>, shard: u32, now_ms: u64, cfg: &Config) -> StatusDecision {
    let empty = JsonObject::default();
    let custom = user.map(|u| &u.custom).unwrap_or(&empty);
    let fields = PresenceFields::read(custom);
    let decision = if is_stale(obs, &fields) {
        StatusDecision::Stale
    } else if fields.online == Some(obs.online) {
        // No time bound: a settler running late still holds the deferred opposite state, and
        // dropping this one would let that older state be announced over it.
        match fields.published_at_ms {
            Some(p) => StatusDecision::UnchangedQueued { due_ms: p.saturating_add(cfg.debounce_ms).max(now_ms) },
            None => StatusDecision::Unchanged,
        }
    } else {
        match fields.published_at_ms {
            // Only a change to offline is held: a change to online after an announced offline
            // (a page reload's join) goes out at once (docs/design.md §4).
            Some(published) if !obs.online && now_ms < published.saturating_add(cfg.debounce_ms) => {
                StatusDecision::Defer { due_ms: published.saturating_add(cfg.debounce_ms) }
            }
            _ => {
                let (custom, message) = announce(obs, user, custom, shard, now_ms);
                return StatusDecision::Announce { custom, message };
            }
        }
    };
    // A committed announcement whose publish failed is sent again while it is still the
    // record's last write, under a new version; a later write made it moot.
    match (obs.republish, fields.online, &decision) {
        (Some(v), Some(online), StatusDecision::Unchanged | StatusDecision::UnchangedQueued { .. } | StatusDecision::Stale)
            if custom.u64(VERSION) == Some(v) =>
        {
            let again = Observation { online, at_ms: fields.changed_at_ms.unwrap_or(obs.at_ms), ..obs.clone() };
            let (custom, message) = announce(&again, user, custom, shard, now_ms);
            StatusDecision::Announce { custom, message }
        }
        _ => decision,
    }
}

/// [`decide_status`] for an observation the settle path has just confirmed against presence
/// ([`settle_from_presence`]): it is the user's state now, and any opposite entry still queued
/// is confirmed in turn when handled, so an unchanged state is final, never queued again.
pub fn decide_settled(obs: &Observation, user: Option<&UserRecord>, shard: u32, now_ms: u64, cfg: &Config) -> StatusDecision {
    match decide_status(obs, user, shard, now_ms, cfg) {
        StatusDecision::UnchangedQueued { .. } => StatusDecision::Unchanged,
        d => d,
    }
}

/// The settle path's observations as presence says they are now. A queued observation can be
/// arbitrarily old (a settler running late, a backlog), and a newer opposite change may have
/// been found unchanged meanwhile: so what the queue says only names the users to look at,
/// presence says their state. An observation presence agrees with is kept as it came (its
/// event time); one it contradicts becomes presence's answer, a read stamped
/// [`HERE_NOW_CACHE_MS`] before `read_at_ms` (reconciled: only a later publish is newer).
/// `read` is one `hereNow` of the users' shards: a shard missing from it is empty. A shard with
/// more occupants than one page lists (interval sizing) cannot answer: a scan's snapshot of it
/// is kept as it came (a read of presence already, and only a later publish is newer); events
/// of its users are returned apart, undecided.
pub fn settle_from_presence(
    observations: Vec<Observation>,
    read: &super::records::HereNow,
    shard_count: u32,
    read_at_ms: u64,
) -> (Vec<Observation>, Vec<Observation>) {
    let mut settled = Vec::with_capacity(observations.len());
    let mut undecided = Vec::new();
    for obs in observations {
        let channel = crate::domain::channels::presence_shard(crate::domain::shard_of(&obs.user, shard_count));
        match read.channels.iter().find(|c| c.channel == channel) {
            Some(c) if c.occupancy > c.uuids.len() as u64 => match obs.reconciled {
                true => settled.push(obs),
                false => undecided.push(obs),
            },
            found => {
                let present = found.is_some_and(|c| c.uuids.contains(&obs.user));
                settled.push(as_present(obs, present, read_at_ms));
            }
        }
    }
    (settled, undecided)
}

/// `obs` if presence agrees with it, else presence's answer read at `read_at_ms` (see
/// [`settle_from_presence`]).
pub fn as_present(obs: Observation, present: bool, read_at_ms: u64) -> Observation {
    if obs.online == present {
        return obs;
    }
    Observation { online: present, at_ms: read_at_ms.saturating_sub(HERE_NOW_CACHE_MS), reconciled: true, ..obs }
}

fn status_custom(obs: &Observation, base: &JsonObject, shard: u32, now_ms: u64) -> JsonObject {
    let at = iso8601(obs.at_ms);
    let mut custom = base.clone();
    custom.set("online", Json::Bool(obs.online));
    custom.set("lastSeen", Json::Str(at.clone()));
    custom.set(if obs.online { "lastOnline" } else { "lastOffline" }, Json::Str(at));
    custom.set("shardId", Json::num(shard as u64));
    custom.set(STATUS_PUBLISHED_AT, Json::num(now_ms));
    custom.set(VERSION, Json::num(next_version(base)));
    custom
}

fn announce(
    obs: &Observation,
    user: Option<&UserRecord>,
    base: &JsonObject,
    shard: u32,
    now_ms: u64,
) -> (JsonObject, Envelope<StatusPayload>) {
    let custom = status_custom(obs, base, shard, now_ms);
    let version = custom.u64(VERSION);
    let name = user.and_then(|u| u.name.clone());
    let id = crate::domain::messages::UserIdWire(obs.user.clone());
    let ts = iso8601(obs.at_ms);
    let message = if obs.online {
        Envelope::new(
            messages::FRIEND_ONLINE,
            messages::versioned_event_id("online", &obs.user, obs.at_ms, version),
            ts,
            StatusPayload::Online(FriendOnline {
                user_id: id,
                name,
                profile_url: user.and_then(|u| u.profile_url.clone()),
                status_message: base.str("statusMessage").map(str::to_owned),
                version,
            }),
        )
    } else {
        Envelope::new(
            messages::FRIEND_OFFLINE,
            messages::versioned_event_id("offline", &obs.user, obs.at_ms, version),
            ts.clone(),
            StatusPayload::Offline(FriendOffline { user_id: id, name, last_seen: ts, version }),
        )
    };
    (custom, message)
}

/// Keeps the latest observation per user (input order breaks ties: later wins).
pub fn latest_per_user(observations: Vec<Observation>) -> Vec<Observation> {
    let mut out: Vec<Observation> = Vec::with_capacity(observations.len());
    for obs in observations {
        // A pending re-announcement survives the merge (the later observation may be unchanged).
        match out.iter_mut().find(|o| o.user == obs.user) {
            Some(slot) if slot.at_ms <= obs.at_ms => {
                let republish = obs.republish.or(slot.republish);
                *slot = Observation { republish, ..obs }
            }
            Some(slot) => slot.republish = slot.republish.or(obs.republish),
            None => out.push(obs),
        }
    }
    out
}
