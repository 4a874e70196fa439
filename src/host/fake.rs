//! In-memory PubNub + KV for native tests. It keeps the platform's rules (KV TTL in minutes,
//! 32,000-char values, atomic counters, App Context ETags, 2,000 channels per group) and the
//! per-execution op budget: a call over budget fails like the platform's and is remembered,
//! so `assert_within_budget` turns an overrun into a failing test.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use serde::Serialize;
use serde_json::{json, Value};

use super::*;
use crate::core::budget::OpsUsed;
use crate::domain::channels::CHANNELS_PER_GROUP;
use crate::domain::json::{to_text, FromJson};
use crate::domain::time::MINUTE_MS;
use crate::domain::Json;

pub const KV_VALUE_MAX_CHARS: usize = 32_000;

/// Which calls of one execution fail ([`FakeHost::fail_call`], [`FakeHost::crash_after`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// The `n`th call (1-based), counting only calls of `kind` when given.
    pub nth: Option<(u32, Option<OpKind>)>,
    /// Every call after the first `n`: the execution stops there, as if it crashed.
    pub crash_after: Option<u32>,
}

/// Host faults, as the platform shows them: a call rejected with a status.
#[derive(Default)]
struct Faults {
    /// Probability that any call fails, with the generator's state (xorshift64*).
    rate: f64,
    rng: u64,
    /// Applied to the next execution started.
    next: Option<Target>,
    targets: BTreeMap<u32, (Target, OpsUsed)>,
    injected: u32,
}

impl Faults {
    fn roll(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether call `kind` of execution `exec` fails.
    fn strikes(&mut self, exec: u32, kind: OpKind) -> bool {
        let targeted = match self.targets.get_mut(&exec) {
            Some((target, seen)) => {
                seen.add(kind);
                let nth = target.nth.is_some_and(|(n, only)| match only {
                    Some(k) if k == kind => count(seen, k) == n,
                    Some(_) => false,
                    None => seen.total() == n,
                });
                nth || target.crash_after.is_some_and(|n| seen.total() > n)
            }
            None => false,
        };
        let hit = targeted || (self.rate > 0.0 && self.roll() < self.rate);
        self.injected += u32::from(hit);
        hit
    }
}

fn count(used: &OpsUsed, kind: OpKind) -> u32 {
    match kind {
        OpKind::Api => used.api,
        OpKind::Publish => used.publish,
        OpKind::Kv => used.kv,
    }
}

/// What an injected fault looks like: the platform rejecting the call with a status.
pub fn injected_fault() -> HostError {
    HostError::Rejected { status: 503, message: "injected fault: service unavailable".into() }
}

/// One recorded host call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub op: &'static str,
    pub target: String,
    pub kind: OpKind,
    pub execution: u32,
    /// The fake clock when the call was made.
    pub at_ms: u64,
}

#[derive(Clone, Debug, Default)]
struct FakeUser {
    name: Option<String>,
    profile_url: Option<String>,
    custom: Value,
    version: u64,
}

#[derive(Default)]
struct State {
    kv: BTreeMap<String, (Value, u64)>,
    counters: BTreeMap<String, i64>,
    users: BTreeMap<String, FakeUser>,
    members: BTreeMap<String, BTreeMap<String, Value>>,
    groups: BTreeMap<String, BTreeSet<String>>,
    occupants: BTreeMap<String, BTreeSet<String>>,
    published: Vec<(String, Value)>,
    fired: Vec<(String, Value)>,
    calls: Vec<Call>,
    overruns: Vec<(u32, OpKind)>,
    failures: Vec<(&'static str, String, HostError)>,
}

/// The fake host. Cheap to share by reference across concurrent executions.
pub struct FakeHost {
    state: RefCell<State>,
    faults: RefCell<Faults>,
    budget: Cell<OpBudget>,
    used: RefCell<BTreeMap<u32, OpsUsed>>,
    execution: Cell<u32>,
    now_ms: Cell<u64>,
    etag_seq: Cell<u64>,
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost::new(OpBudget::CURRENT)
    }
}

impl FakeHost {
    pub fn new(budget: OpBudget) -> Self {
        FakeHost {
            state: RefCell::default(),
            faults: RefCell::default(),
            budget: Cell::new(budget),
            used: RefCell::default(),
            execution: Cell::new(0),
            now_ms: Cell::new(1_767_225_600_000), // 2026-01-01T00:00:00Z
            etag_seq: Cell::new(0),
        }
    }

    // ---- clock and executions -------------------------------------------------------

    pub fn now(&self) -> u64 {
        self.now_ms.get()
    }

    pub fn set_now(&self, ms: u64) {
        self.now_ms.set(ms);
    }

    pub fn advance(&self, ms: u64) {
        self.now_ms.set(self.now_ms.get() + ms);
    }

    pub fn set_budget(&self, budget: OpBudget) {
        self.budget.set(budget);
    }

    /// Starts a new Function execution; returns a handle whose calls are budgeted together.
    pub fn execution(&self) -> Exec<'_> {
        let id = self.execution.get() + 1;
        self.execution.set(id);
        self.used.borrow_mut().insert(id, OpsUsed::default());
        let mut faults = self.faults.borrow_mut();
        if let Some(target) = faults.next.take() {
            faults.targets.insert(id, (target, OpsUsed::default()));
        }
        Exec { host: self, id }
    }

    // ---- fault injection ------------------------------------------------------------

    /// The next call of `op` on `target` (any target if empty) fails with `error`.
    pub fn fail_next(&self, op: &'static str, target: &str, error: HostError) {
        self.state.borrow_mut().failures.push((op, target.to_owned(), error));
    }

    /// Every host call fails with probability `rate` (0 turns it off), drawn from a generator
    /// seeded with `seed`: the same seed fails the same calls.
    pub fn set_fault_rate(&self, rate: f64, seed: u64) {
        let mut faults = self.faults.borrow_mut();
        faults.rate = rate;
        faults.rng = seed | 1;
    }

    /// In the next execution started, the `n`th call (1-based; of `kind` only, when given) fails.
    pub fn fail_call(&self, n: u32, kind: Option<OpKind>) {
        let mut faults = self.faults.borrow_mut();
        let target = faults.next.get_or_insert_with(Target::default);
        target.nth = Some((n, kind));
    }

    /// The next execution started stops after its first `n` calls, as if it crashed there:
    /// every later call fails.
    pub fn crash_after(&self, n: u32) {
        let mut faults = self.faults.borrow_mut();
        faults.next.get_or_insert_with(Target::default).crash_after = Some(n);
    }

    /// Calls failed by injection so far.
    pub fn faults_injected(&self) -> u32 {
        self.faults.borrow().injected
    }

    // ---- seeding and inspection -----------------------------------------------------

    pub fn add_user(&self, id: &str, name: &str) {
        let user = FakeUser { name: Some(name.to_owned()), custom: json!({}), ..Default::default() };
        self.state.borrow_mut().users.insert(id.to_owned(), user);
    }

    pub fn user_custom(&self, id: &str) -> Option<Value> {
        self.state.borrow().users.get(id).map(|u| u.custom.clone())
    }

    pub fn set_user_custom_raw(&self, id: &str, custom: Value) {
        let mut st = self.state.borrow_mut();
        let user = st.users.entry(id.to_owned()).or_default();
        user.custom = custom;
        user.version += 1;
    }

    /// Channels earlier executions put in a group (seeding large friend lists quickly).
    pub fn seed_group(&self, group: &str, channels: impl IntoIterator<Item = String>) {
        let mut st = self.state.borrow_mut();
        let set = st.groups.entry(group.to_owned()).or_default();
        set.extend(channels);
        assert!(set.len() <= CHANNELS_PER_GROUP, "{group}: a group holds at most {CHANNELS_PER_GROUP} channels");
    }

    /// Members earlier executions put on an App Context channel (seeding large friend lists).
    pub fn seed_members(&self, channel: &str, members: impl IntoIterator<Item = (String, Value)>) {
        self.state.borrow_mut().members.entry(channel.to_owned()).or_default().extend(members);
    }

    /// A channel leaves a group outside any handler (as a removal elsewhere would do).
    pub fn state_remove_from_group(&self, group: &str, channel: &str) {
        if let Some(set) = self.state.borrow_mut().groups.get_mut(group) {
            set.remove(channel);
        }
    }

    pub fn set_counter(&self, key: &str, value: i64) {
        self.state.borrow_mut().counters.insert(key.to_owned(), value);
    }

    pub fn set_present(&self, channel: &str, uuid: &str, present: bool) {
        let mut st = self.state.borrow_mut();
        let set = st.occupants.entry(channel.to_owned()).or_default();
        if present {
            set.insert(uuid.to_owned());
        } else {
            set.remove(uuid);
        }
    }

    pub fn group(&self, group: &str) -> BTreeSet<String> {
        self.state.borrow().groups.get(group).cloned().unwrap_or_default()
    }

    pub fn groups(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.state.borrow().groups.clone()
    }

    pub fn members(&self, channel: &str) -> BTreeMap<String, Value> {
        self.state.borrow().members.get(channel).cloned().unwrap_or_default()
    }

    pub fn kv_value(&self, key: &str) -> Option<Value> {
        let st = self.state.borrow();
        st.kv.get(key).filter(|(_, exp)| *exp > self.now()).map(|(v, _)| v.clone())
    }

    /// Writes a KV value directly (a backlog left by earlier executions), TTL in minutes.
    pub fn seed_kv(&self, key: &str, value: Value, ttl_minutes: u64) {
        let expires = self.now() + ttl_minutes * MINUTE_MS;
        self.state.borrow_mut().kv.insert(key.to_owned(), (value, expires));
    }

    pub fn kv_ttl_ms(&self, key: &str) -> Option<u64> {
        self.state.borrow().kv.get(key).map(|(_, exp)| exp.saturating_sub(self.now()))
    }

    pub fn counter(&self, key: &str) -> i64 {
        self.state.borrow().counters.get(key).copied().unwrap_or(0)
    }

    pub fn published(&self) -> Vec<(String, Value)> {
        self.state.borrow().published.clone()
    }

    /// Messages published so far, no longer kept.
    pub fn take_published(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut self.state.borrow_mut().published)
    }

    pub fn published_on(&self, channel: &str) -> Vec<Value> {
        self.state.borrow().published.iter().filter(|(c, _)| c == channel).map(|(_, m)| m.clone()).collect()
    }

    /// Fired messages not yet taken: the test harness delivers them to the bound Function.
    pub fn take_fired(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut self.state.borrow_mut().fired)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.borrow().calls.clone()
    }

    pub fn ops_used(&self, execution: u32) -> OpsUsed {
        self.used.borrow().get(&execution).copied().unwrap_or_default()
    }

    /// The most ops any single execution used so far.
    pub fn max_ops(&self) -> OpsUsed {
        let used = self.used.borrow();
        let mut max = OpsUsed::default();
        for u in used.values() {
            max.api = max.api.max(u.api);
            max.publish = max.publish.max(u.publish);
            max.kv = max.kv.max(u.kv);
        }
        max
    }

    /// A snapshot of everything a handler can change: for "no state change" assertions.
    pub fn snapshot(&self) -> String {
        let st = self.state.borrow();
        let users: BTreeMap<_, _> = st.users.iter().map(|(k, u)| (k.clone(), (u.custom.clone(), u.version))).collect();
        let kv: BTreeMap<_, _> = st.kv.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect();
        serde_json::to_string(&json!({
            "kv": kv, "counters": st.counters, "users": users, "members": st.members,
            "groups": st.groups, "published": st.published, "fired": st.fired,
        }))
        .unwrap()
    }

    /// [`FakeHost::snapshot`] without what only answers a command: messages published and
    /// command records (`cmd:…`). For "a refused command changes nothing".
    pub fn snapshot_without_answers(&self) -> String {
        let st = self.state.borrow();
        let users: BTreeMap<_, _> = st.users.iter().map(|(k, u)| (k.clone(), (u.custom.clone(), u.version))).collect();
        let kv: BTreeMap<_, _> = st.kv.iter().filter(|(k, _)| !k.starts_with("cmd:")).map(|(k, (v, _))| (k.clone(), v.clone())).collect();
        // The operators' metrics count what arrived, refused or not: they are not state.
        let counters: BTreeMap<_, _> = st.counters.iter().filter(|(k, _)| !k.starts_with("metric:")).collect();
        serde_json::to_string(&json!({
            "kv": kv, "counters": counters, "users": users, "members": st.members, "groups": st.groups, "fired": st.fired,
        }))
        .unwrap()
    }

    /// Panics (fails the test) if any execution went over its op budget.
    pub fn assert_within_budget(&self) {
        let st = self.state.borrow();
        assert!(st.overruns.is_empty(), "op budget exceeded (execution, kind): {:?}", st.overruns);
    }

    // ---- internals ------------------------------------------------------------------

    fn charge(&self, exec: u32, op: &'static str, target: &str, kind: OpKind) -> HostResult<()> {
        let mut st = self.state.borrow_mut();
        st.calls.push(Call { op, target: target.to_owned(), kind, execution: exec, at_ms: self.now() });
        let mut used = self.used.borrow_mut();
        let entry = used.entry(exec).or_default();
        if !self.budget.get().allows(entry, kind) {
            st.overruns.push((exec, kind));
            return Err(HostError::BudgetExceeded(kind));
        }
        entry.add(kind);
        if let Some(i) = st.failures.iter().position(|(o, t, _)| *o == op && (t.is_empty() || t == target)) {
            return Err(st.failures.remove(i).2);
        }
        if self.faults.borrow_mut().strikes(exec, kind) {
            return Err(injected_fault());
        }
        Ok(())
    }

    fn next_etag(&self) -> u64 {
        self.etag_seq.set(self.etag_seq.get() + 1);
        self.etag_seq.get()
    }
}

/// One Function execution against the fake host: implements the host traits.
#[derive(Clone, Copy)]
pub struct Exec<'h> {
    pub host: &'h FakeHost,
    pub id: u32,
}

impl Exec<'_> {
    async fn call(&self, op: &'static str, target: &str, kind: OpKind) -> HostResult<()> {
        // Yield once so that concurrent executions interleave at every host call.
        YieldOnce(false).await;
        self.host.charge(self.id, op, target, kind)
    }

    pub fn ops(&self) -> OpsUsed {
        self.host.ops_used(self.id)
    }
}

/// Values go through the same JSON text writer the wasm build uses; serde_json then checks
/// that the text is valid JSON (a test fails if the writer ever produces anything else).
fn to_json<T: Serialize>(v: &T) -> Value {
    let text = to_text(v).expect("the handlers only write serializable values");
    serde_json::from_str(&text).expect("the JSON writer produced invalid JSON")
}

fn custom_to_json(custom: &JsonObject) -> Value {
    to_json(custom)
}

fn json_to_custom(v: &Value) -> JsonObject {
    serde_json::from_value::<Json>(v.clone()).ok().and_then(|j| j.as_object().cloned()).unwrap_or_default()
}

fn user_record(id: &str, u: &FakeUser) -> UserRecord {
    UserRecord {
        id: id.to_owned(),
        name: u.name.clone(),
        profile_url: u.profile_url.clone(),
        custom: json_to_custom(&u.custom),
        etag: Some(format!("etag-{}-{}", id, u.version)),
    }
}

impl PubNub for Exec<'_> {
    async fn publish<M: Serialize>(&self, channel: &str, message: &M) -> HostResult<()> {
        self.call("publish", channel, OpKind::Publish).await?;
        self.host.state.borrow_mut().published.push((channel.to_owned(), to_json(message)));
        Ok(())
    }

    async fn fire<M: Serialize>(&self, channel: &str, message: &M) -> HostResult<()> {
        self.call("fire", channel, OpKind::Publish).await?;
        self.host.state.borrow_mut().fired.push((channel.to_owned(), to_json(message)));
        Ok(())
    }

    async fn here_now(&self, channels: &[String], include_uuids: bool, limit: u32, offset: u32) -> HostResult<HereNow> {
        self.call("hereNow", &channels.join(","), OpKind::Api).await?;
        let st = self.host.state.borrow();
        let mut out = HereNow::default();
        for ch in channels {
            let occ = st.occupants.get(ch).cloned().unwrap_or_default();
            let uuids =
                if include_uuids { occ.iter().skip(offset as usize).take(limit.min(1000) as usize).cloned().collect() } else { Vec::new() };
            out.total_occupancy += occ.len() as u64;
            out.channels.push(ChannelOccupancy { channel: ch.clone(), occupancy: occ.len() as u64, uuids });
        }
        Ok(out)
    }

    async fn where_now(&self, user: &UserId) -> HostResult<Vec<String>> {
        self.call("whereNow", user.as_str(), OpKind::Api).await?;
        let st = self.host.state.borrow();
        Ok(st.occupants.iter().filter(|(_, set)| set.contains(user.as_str())).map(|(ch, _)| ch.clone()).collect())
    }

    async fn get_user(&self, id: &UserId) -> HostResult<Option<UserRecord>> {
        self.call("getUUIDMetadata", id.as_str(), OpKind::Api).await?;
        Ok(self.host.state.borrow().users.get(id.as_str()).map(|u| user_record(id.as_str(), u)))
    }

    async fn get_users(&self, ids: &[UserId]) -> HostResult<Vec<UserRecord>> {
        assert!(ids.len() <= 100, "getAllUUIDMetadata returns at most 100 objects per page");
        let target: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
        self.call("getAllUUIDMetadata", &target.join(","), OpKind::Api).await?;
        let st = self.host.state.borrow();
        Ok(ids.iter().filter_map(|id| st.users.get(id.as_str()).map(|u| user_record(id.as_str(), u))).collect())
    }

    async fn list_users(&self, filter: UserFilter, limit: u32, next: Option<&str>) -> HostResult<UsersPage> {
        self.call("getAllUUIDMetadata", &filter.expression(), OpKind::Api).await?;
        let st = self.host.state.borrow();
        let UserFilter::OnlineInShard(shard) = filter;
        let mut ids: Vec<&String> = st
            .users
            .iter()
            .filter(|(_, u)| {
                u.custom.get("online") == Some(&Value::Bool(true)) && u.custom.get("shardId").and_then(Value::as_u64) == Some(shard as u64)
            })
            .map(|(id, _)| id)
            .collect();
        // App Context's order (the JS one: UTF-16 code units), which the reconciliation relies on.
        ids.sort_by(|a, b| crate::core::reconcile::id_order(a, b));
        let start: usize = next.and_then(|n| n.parse().ok()).unwrap_or(0);
        let limit = limit.clamp(1, 100) as usize;
        let users = ids.iter().skip(start).take(limit).map(|id| user_record(id, &st.users[*id])).collect();
        let next = (start + limit < ids.len()).then(|| (start + limit).to_string());
        Ok(UsersPage { users, next })
    }

    async fn set_user_custom(&self, id: &UserId, custom: &JsonObject, if_match: Option<&str>) -> HostResult<()> {
        self.call("setUUIDMetadata", id.as_str(), OpKind::Api).await?;
        let mut st = self.host.state.borrow_mut();
        if let Some(tag) = if_match {
            let current = st.users.get(id.as_str()).map(|u| user_record(id.as_str(), u).etag.unwrap());
            if current.as_deref() != Some(tag) {
                return Err(HostError::PreconditionFailed);
            }
        }
        let user = st.users.entry(id.as_str().to_owned()).or_default();
        user.custom = custom_to_json(custom);
        user.version += 1;
        drop(st);
        self.host.next_etag();
        Ok(())
    }

    async fn get_members(&self, channel: &str, filter: MemberFilter, limit: u32, next: Option<&str>) -> HostResult<MembersPage> {
        self.call("getChannelMembers", channel, OpKind::Api).await?;
        let st = self.host.state.borrow();
        let online = |uuid: &str| st.users.get(uuid).map(|u| u.custom.get("online") == Some(&Value::Bool(true))).unwrap_or(false);
        let group = |custom: &Value| custom.get("group").and_then(Value::as_u64);
        let mut all: Vec<(String, Value)> = st
            .members
            .get(channel)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|(uuid, custom)| match filter {
                MemberFilter::All => true,
                MemberFilter::Online => online(uuid),
                MemberFilter::NotOnline => !online(uuid),
                MemberFilter::InGroup(n) => group(custom) == Some(n),
                MemberFilter::Part(p) => {
                    let g = p.group as u64;
                    group(custom).is_some_and(|n| if p.through { n >= g } else { n == g }) && online(uuid) == p.online
                }
            })
            .collect();
        if let MemberFilter::Part(p) = filter {
            // `sort: {uuid.id: asc|desc}`
            all.sort_by(|a, b| if p.desc { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) });
        }
        let start: usize = next.and_then(|n| n.parse().ok()).unwrap_or(0);
        let limit = limit.clamp(1, 100) as usize;
        let members = all
            .iter()
            .skip(start)
            .take(limit)
            .map(|(uuid, custom)| {
                let user =
                    st.users.get(uuid).map(|u| user_record(uuid, u)).unwrap_or(UserRecord { id: uuid.clone(), ..Default::default() });
                Member { user, custom: json_to_custom(custom) }
            })
            .collect();
        let next = (start + limit < all.len()).then(|| (start + limit).to_string());
        Ok(MembersPage { members, next, total: Some(all.len() as u64) })
    }

    async fn get_member(&self, channel: &str, user: &UserId) -> HostResult<Option<Member>> {
        self.call("getChannelMembers", channel, OpKind::Api).await?;
        let st = self.host.state.borrow();
        Ok(st.members.get(channel).and_then(|m| m.get(user.as_str())).map(|custom| Member {
            user: st.users.get(user.as_str()).map(|u| user_record(user.as_str(), u)).unwrap_or_default(),
            custom: json_to_custom(custom),
        }))
    }

    async fn get_memberships(&self, user: &UserId, prefix: &str) -> HostResult<Vec<(String, JsonObject)>> {
        self.call("getMemberships", user.as_str(), OpKind::Api).await?;
        let st = self.host.state.borrow();
        Ok(st
            .members
            .iter()
            .filter(|(channel, _)| channel.starts_with(prefix))
            .filter_map(|(channel, set)| set.get(user.as_str()).map(|custom| (channel.clone(), json_to_custom(custom))))
            .take(100)
            .collect())
    }

    async fn set_members(&self, channel: &str, members: &[(UserId, JsonObject)]) -> HostResult<()> {
        self.call("setChannelMembers", channel, OpKind::Api).await?;
        let mut st = self.host.state.borrow_mut();
        let set = st.members.entry(channel.to_owned()).or_default();
        for (id, custom) in members {
            set.insert(id.as_str().to_owned(), custom_to_json(custom));
        }
        Ok(())
    }

    async fn remove_members(&self, channel: &str, users: &[UserId]) -> HostResult<()> {
        self.call("removeChannelMembers", channel, OpKind::Api).await?;
        let mut st = self.host.state.borrow_mut();
        if let Some(set) = st.members.get_mut(channel) {
            for id in users {
                set.remove(id.as_str());
            }
        }
        Ok(())
    }

    async fn add_channels(&self, group: &str, channels: &[String]) -> HostResult<()> {
        self.call("addChannels", group, OpKind::Api).await?;
        let mut st = self.host.state.borrow_mut();
        let set = st.groups.entry(group.to_owned()).or_default();
        let new: BTreeSet<&String> = channels.iter().filter(|c| !set.contains(*c)).collect();
        if set.len() + new.len() > CHANNELS_PER_GROUP {
            return Err(HostError::Rejected { status: 400, message: "Maximum channels per group exceeded".into() });
        }
        set.extend(channels.iter().cloned());
        Ok(())
    }

    async fn remove_channels(&self, group: &str, channels: &[String]) -> HostResult<()> {
        self.call("removeChannels", group, OpKind::Api).await?;
        let mut st = self.host.state.borrow_mut();
        if let Some(set) = st.groups.get_mut(group) {
            for c in channels {
                set.remove(c);
            }
        }
        Ok(())
    }

    async fn list_channels(&self, group: &str) -> HostResult<Vec<String>> {
        self.call("listChannels", group, OpKind::Api).await?;
        Ok(self.host.group(group).into_iter().collect())
    }
}

impl KvStore for Exec<'_> {
    async fn get<T: FromJson>(&self, key: &str) -> HostResult<Option<T>> {
        self.call("kvstore.get", key, OpKind::Kv).await?;
        match self.host.kv_value(key) {
            None => Ok(None),
            // Read back through the wasm build's own parser and `FromJson`.
            Some(v) => {
                let json = Json::parse(&v.to_string()).map_err(HostError::BadResponse)?;
                T::from_json(&json).map(Some).map_err(HostError::BadResponse)
            }
        }
    }

    async fn set<T: Serialize>(&self, key: &str, value: &T, ttl_minutes: u32) -> HostResult<()> {
        self.call("kvstore.set", key, OpKind::Kv).await?;
        let v = to_json(value);
        if serde_json::to_string(&v).unwrap().chars().count() > KV_VALUE_MAX_CHARS {
            return Err(HostError::Rejected { status: 400, message: "KV value exceeds 32,000 characters".into() });
        }
        // The platform clamps TTLs to 1 minute .. 1 year.
        let ttl = (ttl_minutes.clamp(1, 525_600) as u64) * MINUTE_MS;
        let exp = self.host.now() + ttl;
        self.host.state.borrow_mut().kv.insert(key.to_owned(), (v, exp));
        Ok(())
    }

    async fn remove(&self, key: &str) -> HostResult<()> {
        self.call("kvstore.removeItem", key, OpKind::Kv).await?;
        self.host.state.borrow_mut().kv.remove(key);
        Ok(())
    }

    async fn incr_counter(&self, key: &str, by: i64) -> HostResult<i64> {
        self.call("kvstore.incrCounter", key, OpKind::Kv).await?;
        let mut st = self.host.state.borrow_mut();
        let c = st.counters.entry(key.to_owned()).or_insert(0);
        *c += by;
        Ok(*c)
    }

    async fn get_counter(&self, key: &str) -> HostResult<i64> {
        self.call("kvstore.getCounter", key, OpKind::Kv).await?;
        Ok(self.host.counter(key))
    }
}

// ---- a minimal executor, so tests can run executions concurrently ----------------------

struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Runs one future to completion (host calls never block, they only yield).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Runs futures round-robin, one host call at a time each: the interleaving concurrent
/// Function executions would have.
pub fn run_concurrently<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    let mut cx = Context::from_waker(Waker::noop());
    while out.iter().any(Option::is_none) {
        for (i, f) in futs.iter_mut().enumerate() {
            if out[i].is_none() {
                if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                    out[i] = Some(v);
                }
            }
        }
    }
    out.into_iter().map(Option::unwrap).collect()
}
