//! The host as a step-by-step protocol: a handler's host calls become data the JS runtime
//! carries out, and their outcomes come back as data.
//!
//! Why: concurrent executions of a Function must share nothing, and PubNub does not say
//! whether it charges ops per `require()`d module or per async context. Here the wasm core
//! never calls JS: each step runs synchronously to the next set of host calls and returns
//! them, and the runtime (`js-shim/function/driver.js`) makes those calls from the execution's own
//! promise chain, then resumes the core with their outcomes. No task queue, promise or
//! closure lives inside the wasm between steps.
//!
//! Wire format (JSON text both ways):
//! - a step: `{"id":N,"calls":[["pubnub.publish",[{…}]], …]}` or `{"done":{"function":…,
//!   "rejected":null|"reason","lines":[["info"|"warn"|"error","text"], …]}}`;
//! - outcomes, in the order of the step's calls: `[{"ok":value} | {"err":{"status":N,
//!   "message":"…"}}, …]`.
//!
//! Pure Rust, so the protocol is tested natively as well as in Node.

use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use alloc::rc::Rc;
use serde::Serialize;

#[allow(unused_imports)]
use crate::prelude::*;

use super::{
    shapes, HereNow, HostError, HostResult, KvStore, Member, MemberFilter, MembersPage, OpKind, PubNub, UserFilter, UserRecord, UsersPage,
};
use crate::core::report::{Level, Report};
use crate::domain::json::{text::write_str, to_text, FromJson};
use crate::domain::{Json, JsonObject, UserId};

/// One host call: the module method's dotted path (`kvstore.get`,
/// `pubnub.objects.getUUIDMetadata`), its op kind and its arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub method: &'static str,
    pub kind: OpKind,
    pub args: Vec<Json>,
}

#[derive(Default)]
struct Io {
    /// Calls issued since the last step, with their sequence numbers.
    issued: Vec<(u32, Call)>,
    /// Outcomes delivered and not yet taken by the call that awaits them.
    outcomes: Vec<(u32, HostResult<Json>)>,
    next: u32,
}

/// The execution's I/O, borrowed for one statement at a time (never twice at once). Not
/// `borrow_mut`: its panic formats the error, which would bring `core::fmt`'s padding into
/// every bundle.
fn io_of(io: &RefCell<Io>) -> core::cell::RefMut<'_, Io> {
    match io.try_borrow_mut() {
        Ok(io) => io,
        Err(_) => unreachable!("the I/O is borrowed once at a time"),
    }
}

/// `PubNub` + `KvStore` whose calls suspend the handler until the runtime answers them.
pub struct StepHost {
    io: Rc<RefCell<Io>>,
}

impl StepHost {
    /// The host call `method`, issued as it is made (not when first awaited): calls made one
    /// after another before the first of them is awaited go out together, in one step, and
    /// the handler waits one round trip for all of them. `read` turns the runtime's answer
    /// into the method's result. Arguments that failed to build (`args` an error) fail the
    /// call without issuing it.
    fn call<T, F: Fn(Json) -> HostResult<T>>(
        &self,
        method: &'static str,
        kind: OpKind,
        args: HostResult<Vec<Json>>,
        read: F,
    ) -> Reply<'_, F> {
        let state = match args {
            Ok(args) => State::Waiting(issue(&self.io, Call { method, kind, args })),
            // Only serializing an argument fails here (`serialized`): a static reason, so a
            // call under way needs no drop code wherever a handler holds one.
            Err(HostError::BadResponse(why)) => State::Failed(why),
            Err(_) => State::Failed("the arguments"),
        };
        Reply { io: &self.io, state, read }
    }
}

/// Queues `call` for the next step; its sequence number names its outcome.
#[inline(never)]
fn issue(io: &RefCell<Io>, call: Call) -> u32 {
    let mut io = io_of(io);
    let id = io.next;
    io.next += 1;
    io.issued.push((id, call));
    id
}

// The generic methods (`publish`, `fire`, `set`) only serialize their value: the rest of the
// call is built once, here, for every type they are used with.
impl StepHost {
    #[inline(never)]
    fn send(&self, method: &'static str, channel: &str, message: HostResult<Json>) -> Reply<'_, ReadUnit> {
        let args = message.map(|m| vec![obj(vec![("channel", Json::str(channel)), ("message", m)])]);
        self.call(method, OpKind::Publish, args, published)
    }

    /// An App Context or channel-group call that returns nothing.
    #[inline(never)]
    fn api(&self, method: &'static str, params: Vec<(&str, Json)>) -> Reply<'_, ReadUnit> {
        self.call(method, OpKind::Api, Ok(vec![obj(params)]), NOTHING)
    }

    #[inline(never)]
    fn store(&self, key: &str, value: HostResult<Json>, ttl_minutes: u32) -> Reply<'_, ReadUnit> {
        let args = value.map(|v| vec![Json::str(key), v, Json::num(ttl_minutes as u64)]);
        self.call("kvstore.set", OpKind::Kv, args, NOTHING)
    }
}

/// A host call under way (not an `async fn`: one small future type for every method, whose
/// non-generic part, [`State::step`], is shared, keeps each bundle's wasm smaller).
pub struct Reply<'a, F> {
    io: &'a RefCell<Io>,
    state: State,
    read: F,
}

enum State {
    Failed(&'static str),
    Waiting(u32),
    Over,
}

impl State {
    /// Waits for the call's outcome (it was issued when made).
    #[inline(never)]
    fn step(&mut self, io: &RefCell<Io>) -> Poll<HostResult<Json>> {
        let mut io = io_of(io);
        match core::mem::replace(self, State::Over) {
            State::Failed(why) => Poll::Ready(Err(HostError::BadResponse(why))),
            State::Waiting(id) => match io.outcomes.iter().position(|(n, _)| *n == id) {
                Some(i) => Poll::Ready(io.outcomes.swap_remove(i).1),
                None => {
                    *self = State::Waiting(id);
                    Poll::Pending
                }
            },
            // Polled after it finished: nothing more will come.
            State::Over => Poll::Pending,
        }
    }
}

impl<T, F: Fn(Json) -> HostResult<T> + Unpin> Future for Reply<'_, F> {
    type Output = HostResult<T>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<HostResult<T>> {
        let this = self.get_mut();
        this.state.step(this.io).map(|answer| answer.and_then(&this.read))
    }
}

/// How a method that returns nothing reads its answer: one type, so one `Reply::poll` for all.
type ReadUnit = fn(Json) -> HostResult<()>;
const NOTHING: ReadUnit = nothing;

/// A call's answer when the method returns nothing.
fn nothing(_: Json) -> HostResult<()> {
    Ok(())
}

fn published(v: Json) -> HostResult<()> {
    shapes::publish_result(&v)
}

/// What one step of an execution needs from the runtime.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Make these calls (concurrently if several) and resume with their outcomes.
    Calls(Vec<Call>),
    Done(Report),
}

/// One execution of a handler, driven step by step.
pub struct Execution {
    io: Rc<RefCell<Io>>,
    future: Pin<Box<dyn Future<Output = Report>>>,
    /// The calls the last step returned, in order: sequence number and op kind.
    waiting: Vec<(u32, OpKind)>,
}

impl Execution {
    /// `handler` gets the host and returns the handler's future (which owns its inputs).
    pub fn new<F: Future<Output = Report> + 'static>(handler: impl FnOnce(StepHost) -> F) -> Execution {
        let io = Rc::new(RefCell::new(Io::default()));
        let future = Box::pin(handler(StepHost { io: io.clone() }));
        Execution { io, future, waiting: Vec::new() }
    }

    /// Delivers the outcomes of the last step's calls (in order) and runs to the next step.
    /// Missing outcomes count as failed calls, extra ones are ignored: the runtime cannot
    /// make a handler wait forever.
    pub fn resume(&mut self, outcomes: Vec<HostResult<Json>>) -> Step {
        {
            let mut io = io_of(&self.io);
            let mut outcomes = outcomes.into_iter();
            for (id, _) in self.waiting.drain(..) {
                let outcome = outcomes.next().unwrap_or(Err(HostError::BadResponse("the runtime (no outcome for a call)")));
                io.outcomes.push((id, outcome));
            }
        }
        let mut cx = Context::from_waker(Waker::noop());
        match self.future.as_mut().poll(&mut cx) {
            Poll::Ready(report) => Step::Done(report),
            Poll::Pending => {
                let issued = core::mem::take(&mut io_of(&self.io).issued);
                if issued.is_empty() {
                    // Only host calls suspend a handler; anything else would wait forever.
                    let mut report = Report::new("runtime");
                    report.error("handler suspended without a host call");
                    return Step::Done(report);
                }
                // One loop, not two collects: less code in every bundle.
                let mut calls = Vec::new();
                for (id, call) in issued {
                    self.waiting.push((id, call.kind));
                    calls.push(call);
                }
                Step::Calls(calls)
            }
        }
    }

    /// [`Execution::resume`] with the outcomes as the runtime sends them.
    pub fn resume_text(&mut self, text: &str) -> Step {
        let kinds: Vec<OpKind> = self.waiting.iter().map(|(_, kind)| *kind).collect();
        self.resume(outcomes(text, &kinds))
    }
}

impl Step {
    /// The step as the runtime reads it; `id` names the execution for `resume`.
    pub fn to_text(&self, id: u32) -> String {
        let mut out = String::new();
        match self {
            Step::Calls(calls) => {
                out.push_str("{\"id\":");
                crate::domain::channels::push_u64(&mut out, id as u64);
                out.push_str(",\"calls\":[");
                for (i, call) in calls.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('[');
                    write_str(call.method, &mut out);
                    out.push(',');
                    out.push('[');
                    for (j, arg) in call.args.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        crate::domain::json::text::write(arg, &mut out);
                    }
                    out.push(']');
                    out.push(']');
                }
                out.push_str("]}");
            }
            Step::Done(report) => {
                out.push_str("{\"done\":{\"function\":");
                write_str(report.function, &mut out);
                out.push_str(",\"rejected\":");
                match &report.rejected {
                    Some(reason) => write_str(reason, &mut out),
                    None => out.push_str("null"),
                }
                out.push_str(",\"lines\":[");
                for (i, (level, text)) in report.lines.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('[');
                    write_str(level.name(), &mut out);
                    out.push(',');
                    write_str(text, &mut out);
                    out.push(']');
                }
                out.push_str("]}}");
            }
        }
        out
    }
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Reads the runtime's outcomes for calls of `kinds` (in order). Text that is not an array of
/// outcomes fails every call: the handler then reacts as to any failed host call.
pub fn outcomes(text: &str, kinds: &[OpKind]) -> Vec<HostResult<Json>> {
    let parsed = match Json::parse(text) {
        Ok(Json::Arr(items)) => items,
        _ => Vec::new(),
    };
    let mut items = parsed.into_iter();
    kinds.iter().map(|kind| outcome(items.next(), *kind)).collect()
}

fn outcome(item: Option<Json>, kind: OpKind) -> HostResult<Json> {
    let Some(Json::Obj(mut o)) = item else { return Err(HostError::BadResponse("the runtime")) };
    if let Some(i) = o.0.iter().position(|(k, _)| k == "ok") {
        return Ok(o.0.swap_remove(i).1);
    }
    let err = o.get("err").and_then(Json::as_object);
    let status = err.and_then(|e| e.u64("status")).unwrap_or(0);
    let message = err.and_then(|e| e.str("message")).unwrap_or("host call failed");
    // The platform's wording when an execution has spent its ops (PubNub Functions docs).
    if contains(message, "execution calls exceeds") {
        return Err(HostError::BudgetExceeded(kind));
    }
    Err(match status {
        404 => HostError::NotFound,
        412 => HostError::PreconditionFailed,
        _ => HostError::Rejected { status: status.min(u16::MAX as u64) as u16, message: message.to_owned() },
    })
}

/// `str::contains` pulls in the two-way searcher (~2 KB of wasm); this is a handful of bytes.
fn contains(haystack: &str, needle: &str) -> bool {
    haystack.as_bytes().windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The pairs are moved in: arguments are built once and never copied.
fn obj(pairs: Vec<(&str, Json)>) -> Json {
    // A loop, not a collect: less code in every bundle.
    let mut fields = Vec::new();
    for (k, v) in pairs {
        fields.push((k.to_owned(), v));
    }
    Json::Obj(JsonObject(fields))
}

fn strings<S: AsRef<str>>(items: &[S]) -> Json {
    let mut list = Vec::new();
    for s in items {
        list.push(Json::str(s.as_ref()));
    }
    Json::Arr(list)
}

/// A value serialized once and carried verbatim into the call's arguments.
fn serialized<T: Serialize + ?Sized>(v: &T) -> HostResult<Json> {
    raw(to_text(v))
}

/// The non-generic half of [`serialized`] (one copy, whatever the value's type).
#[inline(never)]
fn raw(text: Result<String, crate::domain::json::SerError>) -> HostResult<Json> {
    text.map(Json::Raw).map_err(|e| HostError::BadResponse(e.0))
}

fn include_custom() -> Json {
    obj(vec![("customFields", Json::Bool(true))])
}

fn page(next: Option<&str>) -> Option<(&'static str, Json)> {
    next.map(|n| ("page", obj(vec![("next", Json::str(n))])))
}

/// `str::parse::<i64>` with the same accepted set (a sign, then digits, in range) in far
/// fewer bytes of wasm.
fn integer(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        all => (false, all),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        // Built on the sign's side, so that `i64::MIN` fits.
        n = n.checked_mul(10)?;
        n = if negative { n.checked_sub(d)? } else { n.checked_add(d)? };
    }
    Some(n)
}

/// `kvstore` counters: a number, or its text; absent is 0.
fn number(v: &Json, what: &'static str) -> HostResult<i64> {
    match v {
        Json::Num(n) => Ok(*n as i64),
        Json::Null => Ok(0),
        Json::Str(s) => integer(s).ok_or(HostError::BadResponse(what)),
        _ => Err(HostError::BadResponse(what)),
    }
}

impl PubNub for StepHost {
    fn publish<M: Serialize>(&self, channel: &str, message: &M) -> impl Future<Output = HostResult<()>> {
        self.send("pubnub.publish", channel, serialized(message))
    }

    fn fire<M: Serialize>(&self, channel: &str, message: &M) -> impl Future<Output = HostResult<()>> {
        self.send("pubnub.fire", channel, serialized(message))
    }

    async fn here_now(&self, channels: &[String], include_uuids: bool, limit: u32, offset: u32) -> HostResult<HereNow> {
        let mut params =
            vec![("channels", strings(channels)), ("includeUUIDs", Json::Bool(include_uuids)), ("includeState", Json::Bool(false))];
        if include_uuids {
            params.push(("limit", Json::num(limit as u64)));
            params.push(("offset", Json::num(offset as u64)));
        }
        self.call("pubnub.hereNow", OpKind::Api, Ok(vec![obj(params)]), |v| shapes::here_now(&v, channels)).await
    }

    fn where_now(&self, user: &UserId) -> impl Future<Output = HostResult<Vec<String>>> {
        let args = vec![obj(vec![("uuid", Json::str(user.as_str()))])];
        // `{channels}` (SDK) or `{payload: {channels}}` (REST): the channel-group reply's shapes.
        self.call("pubnub.whereNow", OpKind::Api, Ok(args), |v| shapes::channels_response(&v))
    }

    async fn get_user(&self, id: &UserId) -> HostResult<Option<UserRecord>> {
        let args = vec![obj(vec![("uuid", Json::str(id.as_str())), ("include", include_custom())])];
        match self.call("pubnub.objects.getUUIDMetadata", OpKind::Api, Ok(args), Ok).await {
            Ok(v) => shapes::user_response(&v),
            Err(HostError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn get_users(&self, ids: &[UserId]) -> impl Future<Output = HostResult<Vec<UserRecord>>> {
        let mut list = Vec::new();
        for id in ids {
            list.push(id.as_str());
        }
        let params = vec![("filter", Json::Str(shapes::id_filter("id", &list))), ("include", include_custom()), ("limit", Json::num(100))];
        self.call("pubnub.objects.getAllUUIDMetadata", OpKind::Api, Ok(vec![obj(params)]), |v| shapes::users_response(&v))
    }

    fn list_users(&self, filter: UserFilter, limit: u32, next: Option<&str>) -> impl Future<Output = HostResult<UsersPage>> {
        let mut params = vec![
            ("filter", Json::Str(filter.expression())),
            ("sort", obj(vec![("id", Json::str("asc"))])),
            ("include", include_custom()),
            ("limit", Json::num(limit.clamp(1, 100) as u64)),
        ];
        params.extend(page(next));
        self.call("pubnub.objects.getAllUUIDMetadata", OpKind::Api, Ok(vec![obj(params)]), |v| shapes::users_page(&v))
    }

    fn set_user_custom(&self, id: &UserId, custom: &JsonObject, if_match: Option<&str>) -> impl Future<Output = HostResult<()>> {
        let mut params = vec![("uuid", Json::str(id.as_str())), ("data", obj(vec![("custom", Json::Obj(custom.clone()))]))];
        if let Some(tag) = if_match {
            params.push(("ifMatchesEtag", Json::str(tag)));
        }
        self.api("pubnub.objects.setUUIDMetadata", params)
    }

    fn get_members(
        &self,
        channel: &str,
        filter: MemberFilter,
        limit: u32,
        next: Option<&str>,
    ) -> impl Future<Output = HostResult<MembersPage>> {
        // A load's page needs the friend, not the membership's own fields.
        let include = obj(vec![
            ("customFields", Json::Bool(!matches!(filter, MemberFilter::Part(_)))),
            ("UUIDFields", Json::Bool(true)),
            ("customUUIDFields", Json::Bool(true)),
            ("totalCount", Json::Bool(true)),
        ]);
        let mut params = vec![("channel", Json::str(channel)), ("limit", Json::num(limit.clamp(1, 100) as u64)), ("include", include)];
        params.extend(page(next));
        if let Some(expr) = filter.expression() {
            params.push(("filter", Json::Str(expr)));
        }
        if let MemberFilter::Part(part) = filter {
            params.push(("sort", obj(vec![("uuid.id", Json::str(part.sort_dir()))])));
        }
        self.call("pubnub.objects.getChannelMembers", OpKind::Api, Ok(vec![obj(params)]), |v| shapes::members_response(&v))
    }

    fn get_member(&self, channel: &str, user: &UserId) -> impl Future<Output = HostResult<Option<Member>>> {
        let params = vec![
            ("channel", Json::str(channel)),
            ("filter", Json::Str(shapes::id_filter("uuid.id", &[user.as_str()]))),
            ("limit", Json::num(1)),
            ("include", obj(vec![("customFields", Json::Bool(true)), ("UUIDFields", Json::Bool(true))])),
        ];
        self.call("pubnub.objects.getChannelMembers", OpKind::Api, Ok(vec![obj(params)]), move |v| {
            Ok(shapes::members_response(&v)?.members.into_iter().find(|m| m.user.id == user.as_str()))
        })
    }

    fn get_memberships(&self, user: &UserId, prefix: &str) -> impl Future<Output = HostResult<Vec<(String, JsonObject)>>> {
        let mut filter = String::from("channel.id LIKE \"");
        filter.push_str(prefix);
        filter.push_str("*\"");
        let params = vec![
            ("uuid", Json::str(user.as_str())),
            ("filter", Json::Str(filter)),
            ("limit", Json::num(100)),
            ("include", include_custom()),
        ];
        self.call("pubnub.objects.getMemberships", OpKind::Api, Ok(vec![obj(params)]), |v| shapes::memberships_response(&v))
    }

    fn set_members(&self, channel: &str, members: &[(UserId, JsonObject)]) -> impl Future<Output = HostResult<()>> {
        let mut list = Vec::new();
        for (id, custom) in members {
            list.push(obj(vec![("id", Json::str(id.as_str())), ("custom", Json::Obj(custom.clone()))]));
        }
        let params = vec![("channel", Json::str(channel)), ("uuids", Json::Arr(list))];
        self.api("pubnub.objects.setChannelMembers", params)
    }

    fn remove_members(&self, channel: &str, users: &[UserId]) -> impl Future<Output = HostResult<()>> {
        let params = vec![("channel", Json::str(channel)), ("uuids", strings(users))];
        self.api("pubnub.objects.removeChannelMembers", params)
    }

    fn add_channels(&self, group: &str, channels: &[String]) -> impl Future<Output = HostResult<()>> {
        let params = vec![("channelGroup", Json::str(group)), ("channels", strings(channels))];
        self.api("pubnub.channelGroups.addChannels", params)
    }

    fn remove_channels(&self, group: &str, channels: &[String]) -> impl Future<Output = HostResult<()>> {
        let params = vec![("channelGroup", Json::str(group)), ("channels", strings(channels))];
        self.api("pubnub.channelGroups.removeChannels", params)
    }

    fn list_channels(&self, group: &str) -> impl Future<Output = HostResult<Vec<String>>> {
        let args = vec![obj(vec![("channelGroup", Json::str(group))])];
        self.call("pubnub.channelGroups.listChannels", OpKind::Api, Ok(args), |v| shapes::channels_response(&v))
    }
}

impl KvStore for StepHost {
    fn get<T: FromJson>(&self, key: &str) -> impl Future<Output = HostResult<Option<T>>> {
        self.call("kvstore.get", OpKind::Kv, Ok(vec![Json::str(key)]), |v| match v {
            Json::Null => Ok(None),
            v => T::from_json(&v).map(Some).map_err(HostError::BadResponse),
        })
    }

    fn set<T: Serialize>(&self, key: &str, value: &T, ttl_minutes: u32) -> impl Future<Output = HostResult<()>> {
        self.store(key, serialized(value), ttl_minutes)
    }

    fn remove(&self, key: &str) -> impl Future<Output = HostResult<()>> {
        self.call("kvstore.removeItem", OpKind::Kv, Ok(vec![Json::str(key)]), NOTHING)
    }

    fn incr_counter(&self, key: &str, by: i64) -> impl Future<Output = HostResult<i64>> {
        self.call("kvstore.incrCounter", OpKind::Kv, Ok(vec![Json::str(key), Json::Num(by as f64)]), |v| number(&v, "kvstore.incrCounter"))
    }

    fn get_counter(&self, key: &str) -> impl Future<Output = HostResult<i64>> {
        self.call("kvstore.getCounter", OpKind::Kv, Ok(vec![Json::str(key)]), |v| number(&v, "kvstore.getCounter"))
    }
}

#[cfg(test)]
mod tests {
    /// `integer` accepts exactly what `str::parse::<i64>` accepts, with the same value.
    #[test]
    fn integer_reads_counters_as_str_parse_does() {
        let cases = [
            "0",
            "7",
            "-7",
            "+7",
            "0042",
            "-0",
            "+",
            "-",
            "",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "--1",
            "+-1",
            "abc",
            "12a",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
            "٣",
        ];
        for case in cases {
            assert_eq!(super::integer(case), case.parse::<i64>().ok(), "{case:?}");
        }
    }
}
