//! The host as a step-by-step protocol: a handler's host calls become data the JS runtime
//! carries out, and their outcomes come back as data.
//!
//! Why: concurrent executions of a Function must share nothing, and PubNub does not say
//! whether it charges ops per `require()`d module or per async context. Here the wasm core
//! never calls JS: each step runs synchronously to the next set of host calls and returns
//! them, and the runtime (`js-shim/driver.js`) makes those calls from the execution's own
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
use crate::domain::json::{text::write_str, to_text, FromJson};
use crate::domain::{Json, JsonObject, UserId};
use crate::handlers::{Level, Report};

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
    async fn call(&self, method: &'static str, kind: OpKind, args: Vec<Json>) -> HostResult<Json> {
        let mut call = Some(Call { method, kind, args });
        let mut id = 0;
        core::future::poll_fn(move |_| {
            let mut io = io_of(&self.io);
            if let Some(call) = call.take() {
                id = io.next;
                io.next += 1;
                io.issued.push((id, call));
                return Poll::Pending;
            }
            match io.outcomes.iter().position(|(n, _)| *n == id) {
                Some(i) => Poll::Ready(io.outcomes.swap_remove(i).1),
                None => Poll::Pending,
            }
        })
        .await
    }
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
                self.waiting = issued.iter().map(|(id, call)| (*id, call.kind)).collect();
                Step::Calls(issued.into_iter().map(|(_, call)| call).collect())
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
    Json::Obj(JsonObject(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

fn strings<S: AsRef<str>>(items: &[S]) -> Json {
    Json::Arr(items.iter().map(|s| Json::str(s.as_ref())).collect())
}

/// A value serialized once and carried verbatim into the call's arguments.
fn serialized<T: Serialize + ?Sized>(v: &T) -> HostResult<Json> {
    to_text(v).map(Json::Raw).map_err(|e| HostError::BadResponse(e.0))
}

fn include_custom() -> Json {
    obj(vec![("customFields", Json::Bool(true))])
}

fn page(next: Option<&str>) -> Option<(&'static str, Json)> {
    next.map(|n| ("page", obj(vec![("next", Json::str(n))])))
}

/// `kvstore` counters: a number, or its text; absent is 0.
fn number(v: &Json, what: &'static str) -> HostResult<i64> {
    match v {
        Json::Num(n) => Ok(*n as i64),
        Json::Null => Ok(0),
        Json::Str(s) => s.parse().map_err(|_| HostError::BadResponse(what)),
        _ => Err(HostError::BadResponse(what)),
    }
}

impl PubNub for StepHost {
    async fn publish<M: Serialize>(&self, channel: &str, message: &M) -> HostResult<()> {
        let args = vec![obj(vec![("channel", Json::str(channel)), ("message", serialized(message)?)])];
        shapes::publish_result(&self.call("pubnub.publish", OpKind::Publish, args).await?)
    }

    async fn fire<M: Serialize>(&self, channel: &str, message: &M) -> HostResult<()> {
        let args = vec![obj(vec![("channel", Json::str(channel)), ("message", serialized(message)?)])];
        shapes::publish_result(&self.call("pubnub.fire", OpKind::Publish, args).await?)
    }

    async fn here_now(&self, channels: &[String], include_uuids: bool, limit: u32, offset: u32) -> HostResult<HereNow> {
        let mut params =
            vec![("channels", strings(channels)), ("includeUUIDs", Json::Bool(include_uuids)), ("includeState", Json::Bool(false))];
        if include_uuids {
            params.push(("limit", Json::num(limit as u64)));
            params.push(("offset", Json::num(offset as u64)));
        }
        let result = self.call("pubnub.hereNow", OpKind::Api, vec![obj(params)]).await?;
        shapes::here_now(&result, channels)
    }

    async fn where_now(&self, user: &UserId) -> HostResult<Vec<String>> {
        let args = vec![obj(vec![("uuid", Json::str(user.as_str()))])];
        // `{channels}` (SDK) or `{payload: {channels}}` (REST): the channel-group reply's shapes.
        shapes::channels_response(&self.call("pubnub.whereNow", OpKind::Api, args).await?)
    }

    async fn get_user(&self, id: &UserId) -> HostResult<Option<UserRecord>> {
        let args = vec![obj(vec![("uuid", Json::str(id.as_str())), ("include", include_custom())])];
        match self.call("pubnub.objects.getUUIDMetadata", OpKind::Api, args).await {
            Ok(v) => shapes::user_response(&v),
            Err(HostError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_users(&self, ids: &[UserId]) -> HostResult<Vec<UserRecord>> {
        let list: Vec<&str> = ids.iter().map(UserId::as_str).collect();
        let params = vec![("filter", Json::Str(shapes::id_filter("id", &list))), ("include", include_custom()), ("limit", Json::num(100))];
        shapes::users_response(&self.call("pubnub.objects.getAllUUIDMetadata", OpKind::Api, vec![obj(params)]).await?)
    }

    async fn list_users(&self, filter: UserFilter, limit: u32, next: Option<&str>) -> HostResult<UsersPage> {
        let mut params = vec![
            ("filter", Json::Str(filter.expression())),
            ("sort", obj(vec![("id", Json::str("asc"))])),
            ("include", include_custom()),
            ("limit", Json::num(limit.clamp(1, 100) as u64)),
        ];
        params.extend(page(next));
        shapes::users_page(&self.call("pubnub.objects.getAllUUIDMetadata", OpKind::Api, vec![obj(params)]).await?)
    }

    async fn set_user_custom(&self, id: &UserId, custom: &JsonObject, if_match: Option<&str>) -> HostResult<()> {
        let mut params = vec![("uuid", Json::str(id.as_str())), ("data", obj(vec![("custom", Json::Obj(custom.clone()))]))];
        if let Some(tag) = if_match {
            params.push(("ifMatchesEtag", Json::str(tag)));
        }
        self.call("pubnub.objects.setUUIDMetadata", OpKind::Api, vec![obj(params)]).await.map(|_| ())
    }

    async fn get_members(&self, channel: &str, filter: MemberFilter, limit: u32, next: Option<&str>) -> HostResult<MembersPage> {
        let include = obj(vec![
            ("customFields", Json::Bool(true)),
            ("UUIDFields", Json::Bool(true)),
            ("customUUIDFields", Json::Bool(true)),
            ("totalCount", Json::Bool(true)),
        ]);
        let mut params = vec![("channel", Json::str(channel)), ("limit", Json::num(limit.clamp(1, 100) as u64)), ("include", include)];
        params.extend(page(next));
        if let Some(expr) = filter.expression() {
            params.push(("filter", Json::Str(expr)));
        }
        shapes::members_response(&self.call("pubnub.objects.getChannelMembers", OpKind::Api, vec![obj(params)]).await?)
    }

    async fn get_member(&self, channel: &str, user: &UserId) -> HostResult<Option<Member>> {
        let params = vec![
            ("channel", Json::str(channel)),
            ("filter", Json::Str(shapes::id_filter("uuid.id", &[user.as_str()]))),
            ("limit", Json::num(1)),
            ("include", obj(vec![("customFields", Json::Bool(true)), ("UUIDFields", Json::Bool(true))])),
        ];
        let page = shapes::members_response(&self.call("pubnub.objects.getChannelMembers", OpKind::Api, vec![obj(params)]).await?)?;
        Ok(page.members.into_iter().find(|m| m.user.id == user.as_str()))
    }

    async fn get_memberships(&self, user: &UserId, prefix: &str) -> HostResult<Vec<(String, JsonObject)>> {
        let mut filter = String::from("channel.id LIKE \"");
        filter.push_str(prefix);
        filter.push_str("*\"");
        let params = vec![
            ("uuid", Json::str(user.as_str())),
            ("filter", Json::Str(filter)),
            ("limit", Json::num(100)),
            ("include", include_custom()),
        ];
        shapes::memberships_response(&self.call("pubnub.objects.getMemberships", OpKind::Api, vec![obj(params)]).await?)
    }

    async fn set_members(&self, channel: &str, members: &[(UserId, JsonObject)]) -> HostResult<()> {
        let list = members.iter().map(|(id, custom)| obj(vec![("id", Json::str(id.as_str())), ("custom", Json::Obj(custom.clone()))]));
        let params = vec![("channel", Json::str(channel)), ("uuids", Json::Arr(list.collect()))];
        self.call("pubnub.objects.setChannelMembers", OpKind::Api, vec![obj(params)]).await.map(|_| ())
    }

    async fn remove_members(&self, channel: &str, users: &[UserId]) -> HostResult<()> {
        let ids: Vec<&str> = users.iter().map(UserId::as_str).collect();
        let params = vec![("channel", Json::str(channel)), ("uuids", strings(&ids))];
        self.call("pubnub.objects.removeChannelMembers", OpKind::Api, vec![obj(params)]).await.map(|_| ())
    }

    async fn add_channels(&self, group: &str, channels: &[String]) -> HostResult<()> {
        let params = vec![("channelGroup", Json::str(group)), ("channels", strings(channels))];
        self.call("pubnub.channelGroups.addChannels", OpKind::Api, vec![obj(params)]).await.map(|_| ())
    }

    async fn remove_channels(&self, group: &str, channels: &[String]) -> HostResult<()> {
        let params = vec![("channelGroup", Json::str(group)), ("channels", strings(channels))];
        self.call("pubnub.channelGroups.removeChannels", OpKind::Api, vec![obj(params)]).await.map(|_| ())
    }

    async fn list_channels(&self, group: &str) -> HostResult<Vec<String>> {
        let args = vec![obj(vec![("channelGroup", Json::str(group))])];
        shapes::channels_response(&self.call("pubnub.channelGroups.listChannels", OpKind::Api, args).await?)
    }
}

impl KvStore for StepHost {
    async fn get<T: FromJson>(&self, key: &str) -> HostResult<Option<T>> {
        match self.call("kvstore.get", OpKind::Kv, vec![Json::str(key)]).await? {
            Json::Null => Ok(None),
            v => T::from_json(&v).map(Some).map_err(HostError::BadResponse),
        }
    }

    async fn set<T: Serialize>(&self, key: &str, value: &T, ttl_minutes: u32) -> HostResult<()> {
        let args = vec![Json::str(key), serialized(value)?, Json::num(ttl_minutes as u64)];
        self.call("kvstore.set", OpKind::Kv, args).await.map(|_| ())
    }

    async fn remove(&self, key: &str) -> HostResult<()> {
        self.call("kvstore.removeItem", OpKind::Kv, vec![Json::str(key)]).await.map(|_| ())
    }

    async fn incr_counter(&self, key: &str, by: i64) -> HostResult<i64> {
        number(&self.call("kvstore.incrCounter", OpKind::Kv, vec![Json::str(key), Json::Num(by as f64)]).await?, "kvstore.incrCounter")
    }

    async fn get_counter(&self, key: &str) -> HostResult<i64> {
        number(&self.call("kvstore.getCounter", OpKind::Kv, vec![Json::str(key)]).await?, "kvstore.getCounter")
    }
}
