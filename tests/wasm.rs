//! The step host and the exported entry points in Node, against JS host objects, with the
//! runtime's own `hostCall` (`js-shim/function/driver.js`) making the calls (`cargo test --target
//! wasm32-unknown-unknown --test wasm`; the runner is set in .cargo/config.toml).
#![cfg(target_arch = "wasm32")]

use friends_presence::core::friends::PendingRequest;
use friends_presence::domain::{Json, JsonObject, UserId};
use friends_presence::handlers::Report;
use friends_presence::host::step::{Execution, Step, StepHost};
use friends_presence::host::{HostError, KvStore, OpKind, PubNub};
use friends_presence::wasm::exports;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

#[wasm_bindgen(module = "/js-shim/function/driver.js")]
extern "C" {
    #[wasm_bindgen(js_name = hostCall)]
    fn host_call(modules: &JsValue, call: &JsValue) -> js_sys::Promise;
}

#[wasm_bindgen(inline_js = r#"
export function rawRestPubNub() {
  const calls = [];
  return {
    calls,
    // Raw REST shapes, as the Functions module may answer.
    publish: async (p) => { calls.push(['publish', p.channel, JSON.stringify(p.message)]); return [1, 'Sent', '17000000000000000']; },
    fire: async () => [0, 'Invalid key'],
    hereNow: async (p) => { calls.push(['hereNow', p.channels.join(',')]); return { status: 200, payload: { total_occupancy: 3, channels: { 'presence.shard-1': { occupancy: 3, uuids: ['a', { uuid: 'b' }, 'c'] } } } }; },
    objects: {
      getUUIDMetadata: async ({ uuid }) => { const e = new Error('not found'); e.status = { statusCode: 404 }; throw e; },
      getAllUUIDMetadata: async (p) => { calls.push(['getAll', p.filter]); return { status: 200, data: [{ id: 'a', name: 'A', custom: { online: true, statusMessage: 'hi' }, eTag: 'E1' }] }; },
      setUUIDMetadata: async (p) => { calls.push(['set', p.uuid, p.ifMatchesEtag, JSON.stringify(p.data)]); const e = new Error('Precondition Failed'); e.status = { statusCode: 412 }; throw e; },
      getChannelMembers: async () => ({ status: 200, data: [] }),
    },
    channelGroups: {
      listChannels: async () => ({ status: 200, payload: { channels: ['status.x'] } }),
      addChannels: () => { throw new Error('execution calls exceeds the limit'); },
    },
  };
}
export function memoryKv() {
  const m = new Map(); const c = new Map();
  return {
    get: async (k) => m.has(k) ? JSON.parse(m.get(k)) : null,
    set: async (k, v, ttl) => { if (typeof ttl !== 'number') throw new Error('ttl'); m.set(k, JSON.stringify(v)); },
    removeItem: async (k) => { m.delete(k); },
    incrCounter: async (k, by) => { c.set(k, (c.get(k) || 0) + by); return c.get(k); },
    getCounter: async (k) => c.get(k) || 0,
  };
}
export function modules(pubnub, kvstore) { return { pubnub, kvstore }; }
export function calls(pn) { return JSON.stringify(pn.calls); }
"#)]
extern "C" {
    fn rawRestPubNub() -> JsValue;
    fn memoryKv() -> JsValue;
    fn modules(pubnub: &JsValue, kvstore: &JsValue) -> JsValue;
    fn calls(pn: &JsValue) -> String;
}

fn id(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

/// Makes a step's calls with the runtime's `hostCall`, one after another; the outcomes text.
async fn outcomes(modules: &JsValue, step_text: &str) -> String {
    let step = js_sys::JSON::parse(step_text).unwrap();
    let list: js_sys::Array = js_sys::Reflect::get(&step, &"calls".into()).unwrap().into();
    let mut parts = Vec::new();
    for call in list.iter() {
        parts.push(JsFuture::from(host_call(modules, &call)).await.unwrap().as_string().unwrap());
    }
    format!("[{}]", parts.join(","))
}

/// Runs `body` against the JS modules, step by step, as the bundle's runtime does.
async fn with_host<F: std::future::Future<Output = ()> + 'static>(modules: JsValue, body: impl FnOnce(StepHost) -> F) {
    let mut execution = Execution::new(move |h| {
        let body = body(h);
        async move {
            body.await;
            Report::new("test")
        }
    });
    let mut step = execution.resume(Vec::new());
    while let Step::Calls(_) = step {
        let text = outcomes(&modules, &step.to_text(0)).await;
        step = execution.resume_text(&text);
    }
}

#[wasm_bindgen_test]
async fn publish_passes_the_message_and_reads_the_raw_array() {
    let js = rawRestPubNub();
    with_host(modules(&js, &JsValue::NULL), |h| async move {
        let mut msg = JsonObject::default();
        msg.set("type", Json::str("friend.online"));
        h.publish("status.a", &msg).await.unwrap();
        // `[0, reason]` is a failed publish.
        match h.fire("presence-work.1", &msg).await {
            Err(HostError::Rejected { message, .. }) => assert_eq!(message, "Invalid key"),
            other => panic!("{other:?}"),
        }
    })
    .await;
    assert_eq!(calls(&js), r#"[["publish","status.a","{\"type\":\"friend.online\"}"]]"#);
}

#[wasm_bindgen_test]
async fn here_now_accepts_the_raw_rest_shape() {
    with_host(modules(&rawRestPubNub(), &JsValue::NULL), |h| async move {
        let now = h.here_now(&["presence.shard-1".into()], true, 1000, 0).await.unwrap();
        assert_eq!(now.total_occupancy, 3);
        assert_eq!(now.channels[0].uuids, ["a", "b", "c"]);
    })
    .await;
}

#[wasm_bindgen_test]
async fn sdk_errors_become_typed_errors() {
    let js = rawRestPubNub();
    with_host(modules(&js, &JsValue::NULL), |h| async move {
        assert_eq!(h.get_user(&id("nobody")).await.unwrap(), None, "404 is absence");
        let users = h.get_users(&[id("a"), id("b")]).await.unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].custom.str("statusMessage"), Some("hi"));
        assert_eq!(users[0].etag.as_deref(), Some("E1"));
        assert_eq!(h.set_user_custom(&id("a"), &users[0].custom, Some("E1")).await, Err(HostError::PreconditionFailed));
        assert_eq!(h.list_channels("cg-friends-a").await.unwrap(), ["status.x"]);
        assert_eq!(h.add_channels("cg-friends-a", &["status.b".into()]).await, Err(HostError::BudgetExceeded(OpKind::Api)));
        // A method the host lacks is a failed call, not a trap.
        match h.remove_members("friends.a", &[id("b")]).await {
            Err(HostError::Rejected { message, .. }) => assert_eq!(message, "the host has no pubnub.objects.removeChannelMembers"),
            other => panic!("{other:?}"),
        }
    })
    .await;
    assert!(calls(&js).contains(r#"["getAll","id == \"a\" || id == \"b\""]"#), "{}", calls(&js));
    assert!(calls(&js).contains(r#"["set","a","E1","{\"custom\":{\"online\":true,\"statusMessage\":\"hi\"}}"]"#), "{}", calls(&js));
}

#[wasm_bindgen_test]
async fn kv_round_trips_values_and_counters() {
    with_host(modules(&JsValue::NULL, &memoryKv()), |h| async move {
        let pending = PendingRequest { id: "evt_1".into(), at: 1_767_225_600_000, hidden: false };
        h.set("k", &pending, 5).await.unwrap();
        assert_eq!(h.get::<PendingRequest>("k").await.unwrap(), Some(pending));
        // Numbers this system does not read (fractions, exponents) and any text round-trip
        // exactly (beyond 2^53 JS itself rounds, as on the platform).
        let foreign = Json::parse(r#"{"rating":4.75,"tiny":1.5e-7,"s":"é\u0000\"x"}"#).unwrap();
        h.set("j", &foreign, 5).await.unwrap();
        assert_eq!(h.get::<Json>("j").await.unwrap(), Some(foreign));
        assert_eq!(h.get::<u64>("missing").await.unwrap(), None);
        assert_eq!(h.incr_counter("c", 2).await.unwrap(), 2);
        assert_eq!(h.incr_counter("c", -1).await.unwrap(), 1);
        assert_eq!(h.get_counter("c").await.unwrap(), 1);
        assert!(matches!(h.publish("x", &1).await, Err(HostError::Rejected { .. })), "no pubnub module");
    })
    .await;
}

/// The exported entry points, as the bundle calls them: a friend request end to end, with
/// a second execution started and finished while the first waits on the host.
#[wasm_bindgen_test]
async fn start_and_resume_run_a_handler_beside_another_execution() {
    let (js, kv) = (rawRestPubNub(), memoryKv());
    let mods = modules(&js, &kv);
    let input = r#"{"handler":"friend-acceptance","channel":"friend-requests.a","publisher":"a","now":1767225600000,
        "message":{"type":"friend.request","schemaVersion":"1.0.0","eventId":"evt_1","ts":"2026-01-01T00:00:00.000Z",
        "payload":{"userA":"a","userB":"b"}}}"#;
    let mut step = exports::start(input);
    let first = js_sys::JSON::parse(&step).unwrap();
    let first_id = js_sys::Reflect::get(&first, &"id".into()).unwrap().as_f64().unwrap() as u32;
    // Another execution meanwhile: its own id, its own state, done in one step (no publisher:
    // no inbox to answer on).
    let other = exports::start(r#"{"handler":"friend-acceptance","channel":"friend-requests.x","message":{}}"#);
    assert!(other.starts_with(r#"{"done":{"function":"friend-acceptance","rejected":""#), "{other}");
    let mut steps = 1;
    while step.contains(r#""calls":"#) {
        let text = outcomes(&mods, &step).await;
        step = exports::resume(first_id, &text);
        steps += 1;
    }
    // users (only a exists in this host): refused without friendship writes, the reason
    // reported; steps: the command record, the users, the result recorded, the result published.
    assert!(step.contains(r#""rejected":"unknown user: b""#), "{step}");
    assert_eq!(steps, 5);
    // An id that is not running is reported, not trapped on.
    assert!(exports::resume(first_id, "[]").contains("not running"));
}
