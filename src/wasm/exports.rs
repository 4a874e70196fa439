//! The functions the shims call. Each takes the `pubnub` and `kvstore` modules, the trigger
//! object and `Date.now()`, logs what happened, and resolves to a report object. None of
//! them throws: bad input is a logged rejection.

// A one-Function build uses only some of the helpers below.
#![cfg_attr(not(feature = "all-functions"), allow(dead_code, unused_imports))]

#[allow(unused_imports)]
use crate::prelude::*;
use wasm_bindgen::prelude::*;

use super::adapter::{JsHost, JsKvStore, JsPubNub};
use super::sys::{console_error, console_log, console_warn, get, object};
use crate::core::Config;
use crate::domain::Json;
use crate::handlers::{count, friends, presence, reconcile, recount, Level, Report};
use crate::host::OpBudget;

fn host(pubnub: &JsValue, kvstore: &JsValue) -> JsHost {
    JsHost { pubnub: JsPubNub::new(pubnub), kv: JsKvStore::new(kvstore) }
}

/// Optional settings object from the shim: `{shardCount, debounceMs, opsLimit: 10|3}`.
fn config(settings: &JsValue) -> Config {
    let mut cfg = Config::default();
    if let Some(n) = get(settings, "shardCount").as_f64().filter(|n| *n >= 1.0 && *n <= 100_000.0) {
        cfg.shard_count = n as u32;
    }
    if let Some(ms) = get(settings, "debounceMs").as_f64().filter(|n| *n >= 0.0 && *n <= 3_600_000.0) {
        cfg.debounce_ms = ms as u64;
    }
    if get(settings, "opsLimit").as_f64() == Some(3.0) {
        cfg.budget = OpBudget::LEGACY;
    }
    cfg
}

fn now(now_ms: f64) -> u64 {
    if now_ms.is_finite() && now_ms > 0.0 {
        now_ms as u64
    } else {
        0
    }
}

/// The trigger's payload as JSON; a value that is not JSON-like becomes `null` (rejected later).
fn message(request: &JsValue) -> Json {
    super::sys::to_json(&get(request, "message"), "message").unwrap_or(Json::Null)
}

fn first_channel(request: &JsValue) -> String {
    let channels = get(request, "channels");
    let first = get(&channels, "0").as_string();
    first.or_else(|| get(request, "channel").as_string()).unwrap_or_default()
}

fn publisher(request: &JsValue) -> Option<String> {
    get(&get(request, "params"), "uuid").as_string()
}

fn finish(report: Report) -> JsValue {
    let lines = js_sys::Array::new();
    for (level, text) in &report.lines {
        let mut line = String::from("[");
        line.push_str(report.function);
        line.push_str("] ");
        line.push_str(text);
        match level {
            Level::Info => console_log(&line),
            Level::Warn => console_warn(&line),
            Level::Error => console_error(&line),
        }
        let tag = match level {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        lines.push(&object(&[("level", JsValue::from_str(tag)), ("text", JsValue::from_str(text))]));
    }
    let rejected = report.rejected.as_deref().map(JsValue::from_str).unwrap_or(JsValue::NULL);
    object(&[("function", JsValue::from_str(report.function)), ("rejected", rejected), ("lines", lines.into())])
}

#[cfg(any(feature = "all-functions", feature = "after-presence"))]
#[wasm_bindgen(js_name = afterPresence)]
pub async fn after_presence(pubnub: JsValue, kvstore: JsValue, request: JsValue, now_ms: f64, settings: JsValue) -> JsValue {
    let h = host(&pubnub, &kvstore);
    finish(presence::after_presence(&h, &config(&settings), &first_channel(&request), &message(&request), now(now_ms)).await)
}

#[cfg(any(feature = "all-functions", feature = "presence-worker"))]
#[wasm_bindgen(js_name = presenceWorker)]
pub async fn presence_worker(pubnub: JsValue, kvstore: JsValue, request: JsValue, now_ms: f64, settings: JsValue) -> JsValue {
    let h = host(&pubnub, &kvstore);
    finish(presence::presence_worker(&h, &config(&settings), &message(&request), now(now_ms)).await)
}

#[cfg(any(feature = "all-functions", feature = "presence-settler"))]
#[wasm_bindgen(js_name = presenceSettler)]
pub async fn presence_settler(pubnub: JsValue, kvstore: JsValue, now_ms: f64, settings: JsValue) -> JsValue {
    let h = host(&pubnub, &kvstore);
    finish(presence::presence_settler(&h, &config(&settings), now(now_ms)).await)
}

#[cfg(any(feature = "all-functions", feature = "reconcile-worker"))]
#[wasm_bindgen(js_name = reconcileWorker)]
pub async fn reconcile_worker(pubnub: JsValue, kvstore: JsValue, request: JsValue, now_ms: f64, settings: JsValue) -> JsValue {
    let h = host(&pubnub, &kvstore);
    finish(reconcile::reconcile_worker(&h, &config(&settings), &message(&request), now(now_ms)).await)
}

#[cfg(any(feature = "all-functions", feature = "recount-worker"))]
#[wasm_bindgen(js_name = recountWorker)]
pub async fn recount_worker(pubnub: JsValue, kvstore: JsValue, request: JsValue, _now_ms: f64, _settings: JsValue) -> JsValue {
    let h = host(&pubnub, &kvstore);
    finish(recount::recount_worker(&h, &message(&request)).await)
}

#[cfg(any(feature = "all-functions", feature = "friend-acceptance"))]
#[wasm_bindgen(js_name = friendRequests)]
pub async fn friend_requests(pubnub: JsValue, kvstore: JsValue, request: JsValue, now_ms: f64, settings: JsValue) -> JsValue {
    let h = host(&pubnub, &kvstore);
    let (channel, who) = (first_channel(&request), publisher(&request));
    finish(friends::friend_requests(&h, &config(&settings), &channel, who.as_deref(), &message(&request), now(now_ms)).await)
}

#[cfg(any(feature = "all-functions", feature = "friend-removal"))]
#[wasm_bindgen(js_name = friendManagement)]
pub async fn friend_management(pubnub: JsValue, kvstore: JsValue, request: JsValue, now_ms: f64, settings: JsValue) -> JsValue {
    let h = host(&pubnub, &kvstore);
    let (channel, who) = (first_channel(&request), publisher(&request));
    finish(friends::friend_management(&h, &config(&settings), &channel, who.as_deref(), &message(&request), now(now_ms)).await)
}

#[cfg(any(feature = "all-functions", feature = "count-aggregator"))]
#[wasm_bindgen(js_name = countAggregator)]
pub async fn count_aggregator(pubnub: JsValue, kvstore: JsValue, now_ms: f64, settings: JsValue) -> JsValue {
    let h = host(&pubnub, &kvstore);
    finish(count::count_aggregator(&h, &config(&settings), now(now_ms)).await)
}
