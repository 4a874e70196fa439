//! The Rust side of the one source for PubNub's limits (`src/domain/platform.json`, which the
//! in-memory host and the local runtime read): every constant the core, the domain and the fake
//! host are sized by must say the same as that file.

use friends_presence::core::budget::OpBudget;
use friends_presence::core::work::MAX_HOP;
use friends_presence::core::{presence, reconcile};
use friends_presence::domain::names::{CHANNELS_PER_GROUP, GROUPS_PER_USER, MAX_CHANNEL_CHARS, PRESENCE_SUFFIX};
use friends_presence::domain::Json;
use friends_presence::host::fake::KV_VALUE_MAX_CHARS;

fn platform() -> Json {
    Json::parse(include_str!("../../src/domain/platform.json")).expect("platform.json parses")
}

fn number(section: &str, key: &str) -> u64 {
    let p = platform();
    let s =
        p.as_object().and_then(|o| o.get(section)).and_then(Json::as_object).unwrap_or_else(|| panic!("platform.json has no {section}"));
    s.u64(key).unwrap_or_else(|| panic!("platform.json has no {section}.{key}"))
}

#[test]
fn op_budgets_are_the_platforms() {
    let (api, publish, kv) = (number("execution", "apiCalls"), number("execution", "publishes"), number("execution", "kvCalls"));
    assert_eq!(OpBudget::CURRENT, OpBudget::Separate { api: api as u32, publish: publish as u32, kv: kv as u32 });
    assert_eq!(OpBudget::LEGACY, OpBudget::Combined(number("execution", "legacyCombinedOps") as u32));
}

#[test]
fn the_last_hop_is_the_platforms_chain_depth() {
    // Hops are counted from 0 (the execution a client or the schedule started).
    assert_eq!(MAX_HOP as u64 + 1, number("execution", "chainDepth"));
}

#[test]
fn names_and_groups_are_the_platforms() {
    assert_eq!(MAX_CHANNEL_CHARS as u64, number("names", "channelChars"));
    assert_eq!(
        Some(PRESENCE_SUFFIX),
        platform().as_object().and_then(|o| o.get("names")).and_then(Json::as_object).and_then(|n| n.str("presenceSuffix"))
    );
    assert_eq!(CHANNELS_PER_GROUP as u64, number("channelGroups", "channelsPerGroup"));
    assert_eq!(GROUPS_PER_USER as u64, number("channelGroups", "groupsPerSubscribe"));
}

#[test]
fn kv_and_presence_pages_are_the_platforms() {
    assert_eq!(KV_VALUE_MAX_CHARS as u64, number("kv", "valueChars"));
    assert_eq!(presence::HERE_NOW_PAGE, number("presence", "hereNowLimit"));
    assert_eq!(reconcile::HERE_NOW_PAGE as u64, number("presence", "hereNowLimit"));
}
