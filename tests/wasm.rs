//! The wasm adapters against JS host objects, in Node (`cargo test --target
//! wasm32-unknown-unknown --test wasm`; the runner is set in .cargo/config.toml).
#![cfg(target_arch = "wasm32")]

use friends_presence::core::friends::PendingRequest;
use friends_presence::domain::{Json, JsonObject, UserId};
use friends_presence::host::{HostError, KvStore, OpKind, PubNub};
use friends_presence::wasm::adapter::{JsHost, JsKvStore, JsPubNub};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

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
export function calls(pn) { return JSON.stringify(pn.calls); }
"#)]
extern "C" {
    fn rawRestPubNub() -> JsValue;
    fn memoryKv() -> JsValue;
    fn calls(pn: &JsValue) -> String;
}

fn id(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

#[wasm_bindgen_test]
async fn publish_passes_the_message_and_reads_the_raw_array() {
    let js = rawRestPubNub();
    let pn = JsPubNub::new(&js);
    let mut msg = JsonObject::default();
    msg.set("type", Json::str("friend.online"));
    pn.publish("status.a", &msg).await.unwrap();
    assert_eq!(calls(&js), r#"[["publish","status.a","{\"type\":\"friend.online\"}"]]"#);
    // `[0, reason]` is a failed publish.
    match pn.fire("presence-work.1", &msg).await {
        Err(HostError::Rejected { message, .. }) => assert_eq!(message, "Invalid key"),
        other => panic!("{other:?}"),
    }
}

#[wasm_bindgen_test]
async fn here_now_accepts_the_raw_rest_shape() {
    let pn = JsPubNub::new(&rawRestPubNub());
    let h = pn.here_now(&["presence.shard-1".into()], true, 1000, 0).await.unwrap();
    assert_eq!(h.total_occupancy, 3);
    assert_eq!(h.channels[0].uuids, ["a", "b", "c"]);
}

#[wasm_bindgen_test]
async fn sdk_errors_become_typed_errors() {
    let js = rawRestPubNub();
    let pn = JsPubNub::new(&js);
    assert_eq!(pn.get_user(&id("nobody")).await.unwrap(), None, "404 is absence");
    let users = pn.get_users(&[id("a"), id("b")]).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].custom.str("statusMessage"), Some("hi"));
    assert_eq!(users[0].etag.as_deref(), Some("E1"));
    assert_eq!(pn.set_user_custom(&id("a"), &users[0].custom, Some("E1")).await, Err(HostError::PreconditionFailed));
    assert!(calls(&js).contains(r#"["getAll","id == \"a\" || id == \"b\""]"#), "{}", calls(&js));
    assert!(calls(&js).contains(r#"["set","a","E1","{\"custom\":{\"online\":true,\"statusMessage\":\"hi\"}}"]"#), "{}", calls(&js));
    assert_eq!(pn.list_channels("cg-friends-a").await.unwrap(), ["status.x"]);
    assert_eq!(pn.add_channels("cg-friends-a", &["status.b".into()]).await, Err(HostError::BudgetExceeded(OpKind::Api)));
    // A method the host lacks is a typed error, not a trap.
    assert_eq!(pn.remove_members("friends.a", &[id("b")]).await, Err(HostError::InvalidHost("pubnub.objects.removeChannelMembers")));
}

#[wasm_bindgen_test]
async fn kv_round_trips_values_and_counters() {
    let host = JsHost { pubnub: JsPubNub::new(&JsValue::NULL), kv: JsKvStore::new(&memoryKv()) };
    let pending = PendingRequest { id: "evt_1".into(), at: 1_767_225_600_000 };
    host.set("k", &pending, 5).await.unwrap();
    assert_eq!(host.get::<PendingRequest>("k").await.unwrap(), Some(pending));
    // Numbers this system does not read (fractions, exponents) and any text round-trip exactly
    // (beyond 2^53 JS itself rounds, as on the platform).
    let foreign = Json::parse(r#"{"rating":4.75,"tiny":1.5e-7,"s":"é\u0000\"x"}"#).unwrap();
    host.set("j", &foreign, 5).await.unwrap();
    assert_eq!(host.get::<Json>("j").await.unwrap(), Some(foreign));
    assert_eq!(host.get::<u64>("missing").await.unwrap(), None);
    assert_eq!(host.incr_counter("c", 2).await.unwrap(), 2);
    assert_eq!(host.incr_counter("c", -1).await.unwrap(), 1);
    assert_eq!(host.get_counter("c").await.unwrap(), 1);
    assert_eq!(host.publish("x", &1).await, Err(HostError::InvalidHost("pubnub.publish")));
}
