//! Which handler an execution runs, and its inputs, from what the runtime hands over:
//! `{"handler": <export name>, "channel", "publisher", "message", "now", "settings"}`.
//! A bundle carries only its own handler; any other name is refused with a report.

// A one-Function build uses only some of what is below.
#![cfg_attr(not(feature = "all-functions"), allow(dead_code, unused_imports, unused_variables))]

#[allow(unused_imports)]
use crate::prelude::*;

use super::Report;
use crate::core::Config;
use crate::domain::{Json, JsonObject};
use crate::host::step::{Execution, StepHost};
use crate::host::OpBudget;

/// Deployment settings: `{shardCount, debounceMs, opsLimit: 10|3}`; out-of-range values keep
/// the defaults.
pub fn config(settings: Option<&JsonObject>) -> Config {
    let mut cfg = Config::default();
    let Some(s) = settings else { return cfg };
    if let Some(n) = s.u64("shardCount").filter(|n| (1..=crate::core::count::MAX_SHARDS as u64).contains(n)) {
        cfg.shard_count = n as u32;
    }
    if let Some(ms) = s.u64("debounceMs").filter(|n| *n <= 3_600_000) {
        cfg.debounce_ms = ms;
    }
    if s.u64("opsLimit") == Some(3) {
        cfg.budget = OpBudget::LEGACY;
    }
    cfg
}

/// The execution for `input`, or the report that refuses it.
pub fn execution(input: &Json) -> Result<Execution, Box<Report>> {
    let empty = JsonObject::default();
    let o = input.as_object().unwrap_or(&empty);
    let cfg = config(o.get("settings").and_then(Json::as_object));
    let channel = o.str("channel").unwrap_or("").to_owned();
    let publisher = o.str("publisher").map(str::to_owned);
    let message = o.get("message").cloned().unwrap_or(Json::Null);
    let now = o.u64("now").unwrap_or(0);
    let execution = match o.str("handler").unwrap_or("") {
        #[cfg(any(feature = "all-functions", feature = "after-presence"))]
        "afterPresence" => {
            Some(Execution::new(move |h: StepHost| async move { super::presence::after_presence(&h, &cfg, &channel, &message, now).await }))
        }
        #[cfg(any(feature = "all-functions", feature = "presence-worker"))]
        "presenceWorker" => {
            Some(Execution::new(move |h: StepHost| async move { super::presence::presence_worker(&h, &cfg, &message, now).await }))
        }
        #[cfg(any(feature = "all-functions", feature = "presence-settler"))]
        "presenceSettler" => Some(Execution::new(move |h: StepHost| async move { super::presence::presence_settler(&h, &cfg, now).await })),
        #[cfg(any(feature = "all-functions", feature = "reconcile-worker"))]
        "reconcileWorker" => {
            Some(Execution::new(move |h: StepHost| async move { super::reconcile::reconcile_worker(&h, &cfg, &message, now).await }))
        }
        #[cfg(any(feature = "all-functions", feature = "recount-worker"))]
        "recountWorker" => Some(Execution::new(move |h: StepHost| async move { super::recount::recount_worker(&h, &message).await })),
        #[cfg(any(feature = "all-functions", feature = "friend-acceptance"))]
        "friendRequests" => Some(Execution::new(move |h: StepHost| async move {
            super::friends::friend_requests(&h, &cfg, &channel, publisher.as_deref(), &message, now).await
        })),
        #[cfg(any(feature = "all-functions", feature = "friend-removal"))]
        "friendManagement" => Some(Execution::new(move |h: StepHost| async move {
            super::friends::friend_management(&h, &cfg, &channel, publisher.as_deref(), &message, now).await
        })),
        #[cfg(any(feature = "all-functions", feature = "user-settings"))]
        "userSettings" => Some(Execution::new(move |h: StepHost| async move {
            // The initial load is user-settings' too (the same channels; handlers/sync.rs).
            if message.as_object().and_then(|m| m.str("type")) == Some(crate::domain::contract::FRIENDS_SYNC_REQUEST) {
                return super::sync::friends_sync(&h, &cfg, &channel, publisher.as_deref(), &message, now).await;
            }
            super::friends::user_settings(&h, &cfg, &channel, publisher.as_deref(), &message, now).await
        })),
        #[cfg(any(feature = "all-functions", feature = "count-worker"))]
        "countWorker" => Some(Execution::new(move |h: StepHost| async move { super::count::count_worker(&h, &message).await })),
        #[cfg(any(feature = "all-functions", feature = "count-aggregator"))]
        "countAggregator" => Some(Execution::new(move |h: StepHost| async move { super::count::count_aggregator(&h, &cfg, now).await })),
        _ => None,
    };
    execution.ok_or_else(|| {
        let mut report = Report::new("runtime");
        report.reject(crate::core::Rejection::new("this bundle has no such handler"));
        Box::new(report)
    })
}
