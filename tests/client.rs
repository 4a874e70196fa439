#![cfg(not(target_arch = "wasm32"))]
//! The web client core, natively: the subscribe plan and the friends view's event handling
//! (duplicates, stale and out-of-order events, removals, large paged loads, bad input).

use friends_presence::client::view::HISTORY_MS;
use friends_presence::client::{FriendsView, Outcome, SubscribePlan};
use friends_presence::domain::time::iso8601;
use friends_presence::domain::{shard_of, Json, UserId};
use serde_json::{json, Value};

const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn j(v: Value) -> Json {
    serde_json::from_value(v).unwrap()
}

fn id(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn env(kind: &str, event_id: &str, at: u64, payload: Value) -> Json {
    j(json!({"type": kind, "schemaVersion": "1.0.0", "eventId": event_id, "ts": iso8601(at), "payload": payload}))
}

fn online(user: &str, at: u64) -> Json {
    env("friend.online", &format!("evt_online_{user}_{at}"), at, json!({"userId": user, "name": user.to_uppercase()}))
}

fn offline(user: &str, at: u64) -> Json {
    env("friend.offline", &format!("evt_offline_{user}_{at}"), at, json!({"userId": user, "lastSeen": iso8601(at)}))
}

fn added(user: &str, at: u64, is_online: bool) -> Json {
    env(
        "friend.added",
        &format!("evt_added_{user}_{at}"),
        at,
        json!({"userId": user, "name": user, "online": is_online, "addedAt": iso8601(at)}),
    )
}

fn removed(user: &str, at: u64) -> Json {
    env("friend.removed", &format!("evt_removed_{user}_{at}"), at, json!({"userId": user, "removedAt": iso8601(at)}))
}

/// One friends-sync page, as the friends-sync Function answers (contract in the issue).
fn sync_page(me: &str, at: u64, friends: &[(String, bool, u64)], total: usize, next: Option<&str>) -> Json {
    let list: Vec<Value> = friends
        .iter()
        .map(|(u, on, seen)| json!({"userId": u, "name": format!("Name {u}"), "online": on, "lastSeen": iso8601(*seen)}))
        .collect();
    let online_ids: Vec<&String> = friends.iter().filter(|f| f.1).map(|f| &f.0).collect();
    env(
        "friends.sync",
        &format!("evt_sync_{me}_{at}_{}", next.unwrap_or("end")),
        at,
        json!({"userId": me, "friends": list, "onlineFriends": online_ids, "totalFriends": total,
               "totalOnline": online_ids.len(), "next": next}),
    )
}

/// The head of a load answering request `req`: the totals and the first cursor of each chain.
fn head(me: &str, at: u64, req: &str, total: usize, chains: &[String]) -> Json {
    let chains: Vec<Option<&String>> = chains.iter().map(Some).collect();
    env(
        "friends.sync",
        &format!("evt_sync_{req}_{at}"),
        at,
        json!({"userId": me, "requestId": req, "friends": [], "onlineFriends": [], "totalFriends": total, "next": null,
               "more": true, "chains": chains}),
    )
}

/// Page `seq` of chain `chain` answering `req`; `more`: the answer has pages after this one.
#[allow(clippy::too_many_arguments)]
fn chain_page(
    me: &str,
    at: u64,
    req: &str,
    chain: usize,
    seq: usize,
    friends: &[(String, bool, u64)],
    next: Option<&str>,
    more: bool,
) -> Json {
    let list: Vec<Value> = friends
        .iter()
        .map(|(u, on, seen)| json!({"userId": u, "name": format!("Name {u}"), "online": on, "lastSeen": iso8601(*seen)}))
        .collect();
    env(
        "friends.sync",
        &format!("evt_sync_{req}_{at}_{chain}_{seq}"),
        at,
        json!({"userId": me, "requestId": req, "friends": list, "next": next, "more": more, "chain": chain, "seq": seq}),
    )
}

type Pages = Vec<Vec<(String, bool, u64)>>;

/// Serves a load as the sync Function answers it, from `chains` (each a list of pages, cursor
/// `"{chain}:{seq}"`): the head and the first chain to the first request, then up to `pages`
/// pages of a chain from its cursor. A page `lose(chain, seq)` names is lost the first time it
/// is sent (its subscriber queue overflowed). Returns the requests made.
fn serve(v: &mut FriendsView, me: &str, at: u64, max_pages: u32, chains: &[Pages], lose: impl Fn(usize, usize) -> bool) -> usize {
    let total: usize = chains.iter().flatten().map(Vec::len).sum();
    let mut lost = std::collections::HashSet::new();
    let (mut requests, mut now) = (0, at);
    while v.syncing() {
        assert!(requests < 1000, "the load never ended");
        let asks = v.sync_asks(now, 7, max_pages, 5000);
        if asks.is_empty() {
            now += 5000; // nothing to ask for: what is missing is asked again after the timeout
            continue;
        }
        for ask in asks {
            requests += 1;
            let msg = sync_json(&ask);
            let req = msg["eventId"].as_str().unwrap().to_owned();
            let pages = msg["payload"]["pages"].as_u64().unwrap() as usize;
            let (chain, from) = match msg["payload"]["page"].as_str() {
                None => {
                    let cursors: Vec<String> = (0..chains.len()).map(|c| format!("{c}:0")).collect();
                    assert_eq!(v.apply(Some(&format!("inbox.{me}")), &head(me, now, &req, total, &cursors)), Outcome::Applied);
                    (0, 0)
                }
                Some(c) => {
                    let (a, b) = c.split_once(':').unwrap();
                    (a.parse().unwrap(), b.parse().unwrap())
                }
            };
            let end = (from + pages).min(chains[chain].len());
            for seq in from..end {
                let next = (seq + 1 < chains[chain].len()).then(|| format!("{chain}:{}", seq + 1));
                let page = chain_page(me, now, &req, chain, seq, &chains[chain][seq], next.as_deref(), seq + 1 < end);
                if lose(chain, seq) && lost.insert((chain, seq)) {
                    continue;
                }
                v.apply(Some(&format!("inbox.{me}")), &page);
            }
        }
    }
    requests
}

fn view_with(me: &str, friends: &[(&str, bool)]) -> FriendsView {
    let mut v = FriendsView::new(id(me));
    let list: Vec<(String, bool, u64)> = friends.iter().map(|(u, on)| (u.to_string(), *on, T0 - 60_000)).collect();
    assert_eq!(v.apply(None, &sync_page(me, T0, &list, list.len(), None)), Outcome::Applied);
    v
}

fn names(v: &FriendsView) -> Vec<(String, bool)> {
    v.ordered().iter().map(|f| (f.user_id.clone(), f.online)).collect()
}

// ---------------------------------------------------------------------------- plan

#[test]
fn plan_lists_shard_global_inbox_and_every_friends_group() {
    let plan = SubscribePlan::for_user(&id("alice"), 100);
    let shard = shard_of("alice", 100);
    assert_eq!(plan.shard, shard);
    assert_eq!(plan.presence_channel, format!("presence.shard-{shard}"));
    assert_eq!(plan.channels, vec![format!("presence.shard-{shard}"), "status.global".into(), "inbox.alice".into()]);
    let mut expected = vec!["cg-friends-alice".to_string()];
    expected.extend((1..10).map(|i| format!("cg-friends{i}-alice")));
    assert_eq!(plan.groups, expected);
    // Another shard count moves the shard, nothing else.
    let p7 = SubscribePlan::for_user(&id("alice"), 7);
    assert_eq!(p7.presence_channel, format!("presence.shard-{}", shard_of("alice", 7)));
    assert_eq!(p7.groups, plan.groups);
}

#[test]
fn plan_refuses_ids_that_cannot_be_channel_names() {
    for bad in ["", "a,b", "a b", "x:y", "a/b", "a.b", "bob-pnpres", &"a".repeat(75)] {
        assert!(SubscribePlan::parse(bad, 100).is_err(), "{bad:?}");
    }
    assert!(SubscribePlan::parse(&"a".repeat(74), 100).is_ok());
    assert_eq!(SubscribePlan::parse("bob", 100).unwrap().channels[2], "inbox.bob");
}

// ---------------------------------------------------------------------------- duplicates and ordering

#[test]
fn a_repeated_event_id_changes_nothing() {
    let mut v = view_with("me", &[("bob", false)]);
    assert_eq!(v.apply(Some("status.bob"), &online("bob", T0 + 1000)), Outcome::Applied);
    let version = v.version();
    assert_eq!(v.apply(Some("status.bob"), &online("bob", T0 + 1000)), Outcome::Duplicate);
    assert_eq!(v.version(), version);
    // A replay of an old event after a newer one stays a no-op even at an equal ts.
    assert_eq!(v.apply(Some("status.bob"), &offline("bob", T0 + 1000)), Outcome::Applied);
    assert_eq!(v.apply(Some("status.bob"), &online("bob", T0 + 1000)), Outcome::Duplicate);
    assert!(!v.friend("bob").unwrap().online);
}

#[test]
fn an_older_status_event_is_stale() {
    let mut v = view_with("me", &[("bob", false), ("carol", false)]);
    assert_eq!(v.apply(None, &offline("bob", T0 + 5000)), Outcome::Applied);
    assert_eq!(v.apply(None, &online("bob", T0 + 4000)), Outcome::Stale);
    assert!(!v.friend("bob").unwrap().online);
    // Another friend's clock is separate.
    assert_eq!(v.apply(None, &online("carol", T0 + 4000)), Outcome::Applied);
    assert!(v.friend("carol").unwrap().online);
    assert_eq!(v.online_count(), 1);
    // A stale event is remembered: replaying it is a duplicate.
    assert_eq!(v.apply(None, &online("bob", T0 + 4000)), Outcome::Duplicate);
}

#[test]
fn a_sync_page_older_than_a_held_event_keeps_the_event() {
    let mut v = view_with("me", &[("bob", false)]);
    assert_eq!(v.apply(None, &online("bob", T0 + 10_000)), Outcome::Applied);
    // A reload whose snapshot predates bob's change (lastSeen T0+3s, offline).
    let page = sync_page("me", T0 + 11_000, &[("bob".into(), false, T0 + 3000)], 1, None);
    assert_eq!(v.apply(None, &page), Outcome::Applied);
    assert!(v.friend("bob").unwrap().online, "the older snapshot must not undo the newer event");
    // A later change in a later snapshot does apply.
    let page = sync_page("me", T0 + 30_000, &[("bob".into(), false, T0 + 20_000)], 1, None);
    v.apply(None, &page);
    let bob = v.friend("bob").unwrap();
    assert!(!bob.online);
    assert_eq!(bob.last_seen.as_deref(), Some(iso8601(T0 + 20_000).as_str()));
}

#[test]
fn the_list_is_online_first_then_by_name() {
    let mut v = FriendsView::new(id("me"));
    let page = env(
        "friends.sync",
        "s1",
        T0,
        json!({"userId": "me", "totalFriends": 5, "next": null, "friends": [
            {"userId": "u1", "name": "zoe", "online": false},
            {"userId": "u2", "name": "Adam", "online": false},
            {"userId": "u3", "name": "bea", "online": true},
            {"userId": "u4", "online": true},
            {"userId": "u5", "name": "Ann", "online": true},
        ]}),
    );
    assert_eq!(v.apply(None, &page), Outcome::Applied);
    let order: Vec<&str> = v.ordered().iter().map(|f| f.user_id.as_str()).collect();
    // Online: Ann, bea, u4 (no name: sorted by id); then offline: Adam, zoe.
    assert_eq!(order, ["u5", "u3", "u4", "u2", "u1"]);
    assert_eq!((v.friend_count(), v.online_count()), (5, 3));
    v.apply(None, &offline("u5", T0 + 1));
    let order: Vec<&str> = v.ordered().iter().map(|f| f.user_id.as_str()).collect();
    assert_eq!(order, ["u3", "u4", "u2", "u5", "u1"]);
}

/// Names where lowercasing is more than a table lookup: a Greek capital sigma at the end of a
/// word (ς) or not (σ), with case-ignorable marks and apostrophes around it, `İ` (two
/// characters), `ß`, titlecase `ǅ`/`ᾼ`, modifier letters that are cased and ignorable at once.
const TRICKY: [&str; 24] = [
    "ΟΔΥΣΣΕΥΣ",
    "Σ",
    "ΣΑ",
    "ΑΣ",
    "ΑΣ ΣΑ",
    "ΑΣ.",
    "Α'Σ",
    "ΑΣ'Β",
    "Α\u{301}Σ",
    "ΑΣ\u{301}",
    "ΑΣ\u{301}Β",
    "1Σ",
    "ʰΣ",
    "ᵃΣ",
    "İstanbul",
    "STRASSE ß",
    "ǅemal",
    "ᾼΣ",
    "Ⅻ Σ",
    "ⅫΣ",
    "Σ̈Σ",
    "ΑΣ\u{200d}",
    "Ω\u{345}Σ",
    "ÀΣΣÀ",
];

#[test]
fn names_lowercase_exactly_as_str_to_lowercase_does() {
    use friends_presence::client::lowercase::lowercase;
    for name in TRICKY {
        assert_eq!(lowercase(name), name.to_lowercase(), "{name:?}");
    }
    // Every string of up to four characters over the characters the final-sigma rule looks at.
    let alphabet = ['Σ', 'σ', 'ς', 'A', 'a', '\'', '.', ' ', '\u{301}', 'ʰ', 'ǅ', 'İ', '1', 'Ⅻ', '\u{345}', '\u{200d}'];
    let mut names = vec![String::new()];
    for _ in 0..4 {
        names = names.iter().flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}"))).collect();
        for name in &names {
            assert_eq!(lowercase(name), name.to_lowercase(), "{name:?}");
        }
    }
}

#[test]
fn friends_are_ordered_by_the_lowercase_str_to_lowercase_gives() {
    let friends: Vec<Value> = TRICKY.iter().enumerate().map(|(i, name)| json!({"userId": format!("u{i:02}"), "name": name})).collect();
    let mut v = FriendsView::new(id("me"));
    let page = env("friends.sync", "s1", T0, json!({"userId": "me", "totalFriends": TRICKY.len(), "friends": friends}));
    assert_eq!(v.apply(None, &page), Outcome::Applied);
    let order: Vec<&str> = v.ordered().iter().map(|f| f.user_id.as_str()).collect();
    let mut expected: Vec<(String, String)> = TRICKY.iter().enumerate().map(|(i, n)| (n.to_lowercase(), format!("u{i:02}"))).collect();
    expected.sort();
    assert_eq!(order, expected.iter().map(|(_, u)| u.as_str()).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------- friendship changes

#[test]
fn removing_an_online_friend_takes_them_out_and_keeps_them_out() {
    let mut v = view_with("me", &[("bob", true), ("carol", true)]);
    assert_eq!(v.online_count(), 2);
    assert_eq!(v.apply(Some("inbox.me"), &removed("bob", T0 + 1000)), Outcome::Applied);
    assert_eq!(names(&v), vec![("carol".into(), true)]);
    assert_eq!(v.online_count(), 1);
    // bob's status still reaches the group for a moment: it must not bring bob back.
    assert!(matches!(v.apply(Some("status.bob"), &offline("bob", T0 + 2000)), Outcome::Ignored(_)));
    assert!(matches!(v.apply(Some("status.bob"), &online("bob", T0 + 3000)), Outcome::Ignored(_)));
    assert!(v.friend("bob").is_none());
    // A delayed friend.added from before the removal is stale; an older snapshot too.
    assert_eq!(v.apply(Some("inbox.me"), &added("bob", T0 + 500, true)), Outcome::Stale);
    let old = sync_page("me", T0 + 900, &[("bob".into(), true, T0), ("carol".into(), true, T0)], 2, None);
    v.apply(None, &old);
    assert!(v.friend("bob").is_none());
    assert_eq!(v.friend_count(), 1);
    // Becoming friends again later works.
    assert_eq!(v.apply(Some("inbox.me"), &added("bob", T0 + 5000, false)), Outcome::Applied);
    assert!(v.friend("bob").is_some());
}

#[test]
fn a_removal_older_than_the_friendship_is_stale() {
    let mut v = FriendsView::new(id("me"));
    assert_eq!(v.apply(None, &added("bob", T0 + 5000, true)), Outcome::Applied);
    assert_eq!(v.apply(None, &removed("bob", T0 + 1000)), Outcome::Stale);
    assert!(v.friend("bob").is_some());
}

#[test]
fn status_before_friend_added_is_kept_for_the_new_friend() {
    let mut v = FriendsView::new(id("me"));
    // The group delivers dan's friend.online before the inbox delivers friend.added.
    assert!(matches!(v.apply(Some("status.dan"), &online("dan", T0 + 2000)), Outcome::Ignored(_)));
    assert_eq!(v.friend_count(), 0);
    // friend.added read dan as offline a moment earlier: the status event wins.
    assert_eq!(v.apply(Some("inbox.me"), &added("dan", T0 + 2500, false)), Outcome::Applied);
    assert!(v.friend("dan").unwrap().online);
    // Without a held status, friend.added's online flag is used, and any status event overrides it.
    assert_eq!(v.apply(None, &added("eve", T0 + 3000, true)), Outcome::Applied);
    assert!(v.friend("eve").unwrap().online);
    assert_eq!(v.apply(None, &offline("eve", T0 + 1000)), Outcome::Applied);
    assert!(!v.friend("eve").unwrap().online);
}

#[test]
fn incoming_requests_are_listed_until_answered() {
    let mut v = view_with("me", &[("bob", false)]);
    let req = |user: &str, at: u64| {
        env(
            "friend.request.received",
            &format!("evt_request_{user}_{at}"),
            at,
            json!({"userId": user, "name": "Fay", "requestedAt": iso8601(at)}),
        )
    };
    assert_eq!(v.apply(Some("inbox.me"), &req("fay", T0)), Outcome::Applied);
    assert_eq!(v.apply(Some("inbox.me"), &req("gus", T0)), Outcome::Applied);
    assert!(matches!(v.apply(Some("inbox.me"), &req("bob", T0)), Outcome::Ignored(_)), "bob is already a friend");
    let ids: Vec<&str> = v.incoming().iter().map(|r| r.user_id.as_str()).collect();
    assert_eq!(ids, ["fay", "gus"]);
    // Accepted: friend.added clears the request; declined: dismissed by the page.
    v.apply(Some("inbox.me"), &added("fay", T0 + 10, false));
    assert!(v.dismiss_request("gus"));
    assert!(v.incoming().is_empty());
    assert!(v.friend("fay").is_some());
}

// ---------------------------------------------------------------------------- initial load

#[test]
fn thousands_of_friends_across_groups_load_in_pages() {
    // 2,500 friends: more than one channel group (2,000 channels each) holds them.
    let me = "big";
    let all: Vec<(String, bool, u64)> = (0..2500).map(|i| (format!("f{i:04}"), i % 3 == 0, T0 - 100_000 + i as u64)).collect();
    let mut v = FriendsView::new(id(me));
    v.begin_sync();
    // Four chains (online friends' first), as the Function cuts the list.
    let part = |online: bool| -> Pages {
        all.iter().filter(|f| f.1 == online).cloned().collect::<Vec<_>>().chunks(100).map(<[_]>::to_vec).collect()
    };
    let (on, off) = (part(true), part(false));
    let chains = [on[..5].to_vec(), on[5..].to_vec(), off[..9].to_vec(), off[9..].to_vec()];
    let requests = serve(&mut v, me, T0, 50, &chains, |_, _| false);
    assert!(!v.syncing() && v.synced());
    assert!(requests <= 6, "the head's request, then one per chain (within 50 pages in flight): {requests}");
    assert_eq!(v.friend_count(), 2500);
    let expect_online = all.iter().filter(|f| f.1).count();
    assert_eq!(v.online_count(), expect_online);
    assert_eq!(v.sync_totals(), (Some(2500), None), "totals of the head");
    let list = v.ordered();
    assert!(list[..expect_online].iter().all(|f| f.online) && list[expect_online..].iter().all(|f| !f.online));
    assert!(list
        .windows(2)
        .all(|w| w[0].online != w[1].online || w[0].display_name().to_lowercase() <= w[1].display_name().to_lowercase()));
    // Status of a friend who sits in an overflow group (friend #2,300) arrives via that group,
    // which the plan for 2,500 friends names (groups are kept compact: two in use).
    let plan = v.plan();
    assert_eq!(plan.groups, ["cg-friends-big", "cg-friends1-big"]);
    assert_eq!(v.apply(Some("status.f2300"), &online("f2300", T0 + 1_000_000)), Outcome::Applied);
    assert!(v.friend("f2300").unwrap().online);
    assert_eq!(v.online_count(), expect_online + usize::from(!all[2300].1));

    // A later full load that no longer lists f0001..f0010 drops them; f2300 keeps its newer state.
    v.begin_sync();
    let rest: Vec<(String, bool, u64)> = all.iter().filter(|f| !(1..=10).any(|k| f.0 == format!("f{k:04}"))).cloned().collect();
    serve(&mut v, me, T0 + 2_000_000, 50, &[rest.chunks(100).map(<[_]>::to_vec).collect()], |_, _| false);
    assert_eq!(v.friend_count(), 2490);
    assert!(v.friend("f0005").is_none());
    assert!(v.friend("f2300").unwrap().online);
}

#[test]
fn a_page_lost_on_the_way_is_asked_again_and_the_load_ends_with_every_friend_once() {
    let me = "me";
    let all: Vec<(String, bool, u64)> = (0..3000).map(|i| (format!("f{i:04}"), i % 4 == 0, T0)).collect();
    let chains: Vec<Pages> = all.chunks(500).map(|c| c.chunks(100).map(<[_]>::to_vec).collect()).collect();
    // Lost: a page in the middle of an answer, the last page of an answer (only the timeout
    // tells), and the first page of a chain.
    let lose = |chain: usize, seq: usize| matches!((chain, seq), (0, 2) | (1, 4) | (3, 0));
    let mut v = FriendsView::new(id(me));
    v.begin_sync();
    let requests = serve(&mut v, me, T0, 50, &chains, lose);
    assert!(v.synced() && v.friend_count() == 3000 && v.online_count() == 750);
    assert!(requests > 1 + 5, "what was lost was asked for again: {requests} requests");
    // Without a loss, the same list takes one request per chain.
    let mut w = FriendsView::new(id(me));
    w.begin_sync();
    assert_eq!(serve(&mut w, me, T0, 50, &chains, |_, _| false), 6);
}

#[test]
fn pages_asked_for_stay_within_the_limit_in_flight() {
    let all: Vec<(String, bool, u64)> = (0..4000).map(|i| (format!("f{i:04}"), false, T0)).collect();
    let mut v = FriendsView::new(id("me"));
    v.begin_sync();
    let first = v.sync_asks(T0, 1, 12, 5000);
    assert_eq!(first.len(), 1, "the first request alone until its head lists the chains");
    assert!(v.sync_asks(T0 + 10, 1, 12, 5000).is_empty(), "it waits for its answer");
    let req = request_id(&first[0]);
    let cursors: Vec<String> = (0..8).map(|c| format!("{c}:0")).collect();
    v.apply(Some("inbox.me"), &head("me", T0, &req, 4000, &cursors));
    // The first request covers 5 pages of chain 0; 7 more fit in 12: one request of 7 pages.
    let asks: Vec<Value> = v.sync_asks(T0 + 20, 1, 12, 5000).iter().map(sync_json).collect();
    assert_eq!(asks.len(), 1);
    assert_eq!((asks[0]["payload"]["page"].as_str(), asks[0]["payload"]["pages"].as_u64()), (Some("1:0"), Some(7)));
    // A page of chain 0 arrives: one more page may be asked for.
    v.apply(Some("inbox.me"), &chain_page("me", T0, &req, 0, 0, &all[..100], Some("0:1"), true));
    let asks: Vec<Value> = v.sync_asks(T0 + 30, 1, 12, 5000).iter().map(sync_json).collect();
    assert_eq!((asks.len(), asks[0]["payload"]["page"].as_str(), asks[0]["payload"]["pages"].as_u64()), (1, Some("2:0"), Some(1)));
    // After the timeout, the unanswered requests are asked again from where their chains stand.
    let again: Vec<Value> = v.sync_asks(T0 + 6000, 1, 50, 5000).iter().map(sync_json).collect();
    let pages: Vec<_> = again.iter().map(|a| a["payload"]["page"].as_str().unwrap().to_owned()).collect();
    assert_eq!(pages[..3], ["0:1", "1:0", "2:0"]);
    assert!(again.iter().map(|a| a["payload"]["pages"].as_u64().unwrap()).sum::<u64>() <= 50);
}

#[test]
fn a_friend_added_during_a_load_survives_its_end() {
    let mut v = FriendsView::new(id("me"));
    v.begin_sync();
    let req = request_id(&v.sync_asks(T0, 1, 50, 5000)[0]);
    v.apply(None, &head("me", T0, &req, 2, &["0:0".to_owned()]));
    v.apply(None, &chain_page("me", T0, &req, 0, 0, &[("a".into(), false, T0 - 1)], Some("0:1"), true));
    assert_eq!(v.apply(Some("inbox.me"), &added("new", T0 + 50, true)), Outcome::Applied);
    v.apply(None, &chain_page("me", T0 + 10, &req, 0, 1, &[("b".into(), true, T0 - 1)], None, false));
    assert!(v.synced());
    let mut ids: Vec<String> = v.ordered().iter().map(|f| f.user_id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["a", "b", "new"]);
}

#[test]
fn a_partial_push_adds_but_never_drops() {
    let mut v = view_with("me", &[("a", false), ("b", false)]);
    // A pushed page (no load begun) that is not the whole list: upsert only.
    v.apply(Some("inbox.me"), &sync_page("me", T0 + 100, &[("c".into(), true, T0 + 50)], 3, Some("more")));
    assert_eq!(v.friend_count(), 3);
    // A pushed page that is the whole list replaces it.
    v.apply(Some("inbox.me"), &sync_page("me", T0 + 200, &[("c".into(), true, T0 + 50)], 1, None));
    assert_eq!(names(&v), vec![("c".into(), true)]);
}

// ---------------------------------------------------------------------------- global count

#[test]
fn global_count_ignores_older_counts_and_keeps_a_window_of_history() {
    let mut v = FriendsView::new(id("me"));
    let count = |n: u64, at: u64| {
        env(
            "status.count",
            &format!("evt_count_{at}"),
            at,
            json!({"onlineCount": n, "deltaFromLast": 1, "peakToday": n, "calculatedAt": iso8601(at), "shardsCounted": 100}),
        )
    };
    assert_eq!(v.apply(Some("status.global"), &count(10, T0)), Outcome::Applied);
    assert_eq!(v.apply(Some("status.global"), &count(20, T0 + 10_000)), Outcome::Applied);
    assert_eq!(v.apply(Some("status.global"), &count(15, T0 + 5_000)), Outcome::Stale);
    assert_eq!(v.global_count().unwrap().online_count, 20);
    for k in 2..100u64 {
        v.apply(Some("status.global"), &count(k, T0 + k * 10_000));
    }
    let points: Vec<_> = v.count_history().copied().collect();
    let newest = points.last().unwrap().t;
    assert_eq!(newest, T0 + 99 * 10_000);
    assert!(points.iter().all(|p| p.t + HISTORY_MS >= newest));
    assert_eq!(points.len(), (HISTORY_MS / 10_000 + 1) as usize);
    assert!(points.windows(2).all(|w| w[0].t < w[1].t));
}

// ---------------------------------------------------------------------------- bad input

#[test]
fn bad_input_is_refused_with_a_reason_and_changes_nothing() {
    let mut v = view_with("me", &[("bob", false)]);
    let version = v.version();
    let cases: Vec<(Option<&str>, Json)> = vec![
        (None, j(json!("text"))),
        (None, j(json!(null))),
        (None, j(json!({"type": "friend.online"}))),
        (
            None,
            j(json!({"type": "friend.online", "schemaVersion": "2.0.0", "eventId": "x", "ts": iso8601(T0), "payload": {"userId": "bob"}})),
        ),
        (None, j(json!({"type": "friend.online", "schemaVersion": "1.0.0", "ts": iso8601(T0), "payload": {"userId": "bob"}}))),
        (
            None,
            j(json!({"type": "friend.online", "schemaVersion": "1.0.0", "eventId": "x", "ts": "yesterday", "payload": {"userId": "bob"}})),
        ),
        (
            None,
            j(
                json!({"type": "friend.online", "schemaVersion": "1.0.0", "eventId": "x", "ts": iso8601(T0), "payload": {"userId": "b o b"}}),
            ),
        ),
        (None, j(json!({"type": "friend.online", "schemaVersion": "1.0.0", "eventId": "x", "ts": iso8601(T0), "payload": []}))),
        (
            None,
            j(json!({"type": "status.count", "schemaVersion": "1.0.0", "eventId": "x", "ts": iso8601(T0), "payload": {"onlineCount": -3}})),
        ),
        (None, j(json!({"error": "userId is not a known user"}))),
        // Right message, wrong channel: a status event must come from the subject's channel.
        (Some("status.mallory"), online("bob", T0 + 1)),
        (Some("inbox.someone-else"), removed("bob", T0 + 1)),
        (Some("status.bob"), removed("bob", T0 + 1)),
        // Somebody else's friend list.
        (None, sync_page("other", T0 + 1, &[("x".into(), true, T0)], 1, None)),
        (None, added("me", T0 + 1, true)),
    ];
    for (channel, msg) in cases {
        let out = v.apply(channel, &msg);
        assert!(matches!(out, Outcome::Rejected(ref r) if !r.is_empty()), "{msg:?} on {channel:?}: {out:?}");
    }
    assert_eq!(v.version(), version);
    assert_eq!(names(&v), vec![("bob".into(), false)]);
    // A well-formed message of an unknown type is ignored (newer servers), not an error.
    let future = env("friend.typing", "t1", T0, json!({"userId": "bob"}));
    assert!(matches!(v.apply(None, &future), Outcome::Ignored(_)));
    // A refused message is not remembered: once correct, the same id applies.
    let fixed = online("bob", T0 + 1);
    assert!(matches!(v.apply(Some("status.mallory"), &fixed), Outcome::Rejected(_)));
    assert_eq!(v.apply(Some("status.bob"), &fixed), Outcome::Applied);
}

#[test]
fn sync_entries_with_bad_ids_are_skipped_not_fatal() {
    let mut v = FriendsView::new(id("me"));
    let page = env(
        "friends.sync",
        "s",
        T0,
        json!({"userId": "me", "totalFriends": 4, "next": null, "friends": [
            {"userId": "ok1", "online": true}, {"userId": "bad id"}, 7, {"userId": "ok2"}
        ], "onlineFriends": ["ok2"]}),
    );
    assert_eq!(v.apply(None, &page), Outcome::Applied);
    assert_eq!(names(&v), vec![("ok1".into(), true), ("ok2".into(), true)], "onlineFriends fills a missing online flag");
    assert!(v.synced(), "a complete page (2 listed + 2 skipped = totalFriends) is a snapshot");
}

// ---------------------------------------------------------------------------- the inbox sync protocol

fn request_id(msg: &Json) -> String {
    msg.as_object().unwrap().str("eventId").unwrap().to_owned()
}

#[test]
fn sync_requests_are_well_formed_commands() {
    let mut v = FriendsView::new(id("alice"));
    assert!(!v.syncing());
    let msg = v.sync_asks(T0, 7, 50, 5000).remove(0);
    assert!(v.syncing() && v.sync_awaiting(), "a request begins a load and waits for its page");
    let o = msg.as_object().unwrap();
    assert_eq!(o.str("type"), Some("friends.sync.request"));
    assert_eq!(o.str("schemaVersion"), Some("1.0.0"));
    assert_eq!(o.str("ts"), Some(iso8601(T0).as_str()));
    let id = request_id(&msg);
    assert!(!id.contains(':') && id.len() <= 128, "{id}");
    let payload = o.get("payload").and_then(Json::as_object).unwrap();
    assert_eq!(payload.str("userA"), Some("alice"));
    assert_eq!(payload.get("page"), Some(&Json::Null));
    assert_eq!(payload.u64("pages"), Some(5));
    // Asked again after the timeout: another id.
    let again = v.sync_asks(T0 + 5000, 7, 50, 5000).remove(0);
    assert_ne!(request_id(&again), id);
}

#[test]
fn a_page_answering_another_request_neither_advances_nor_ends_the_load() {
    let mut v = view_with("me", &[("old", false)]);
    v.begin_sync();
    let mine = request_id(&v.sync_asks(T0, 1, 50, 5000)[0]);
    // Another tab's head and last page: their friends are applied, this load goes on and drops no one.
    v.apply(Some("inbox.me"), &head("me", T0 + 1, "other-tab", 2, &["0:0".to_owned()]));
    let theirs = chain_page("me", T0 + 1, "other-tab", 0, 0, &[("a".into(), true, T0)], None, false);
    assert_eq!(v.apply(Some("inbox.me"), &theirs), Outcome::Applied);
    assert!(v.syncing() && v.sync_awaiting());
    assert!(v.friend("old").is_some() && v.friend("a").is_some());
    // The answer to this load's request advances it.
    v.apply(Some("inbox.me"), &head("me", T0 + 2, &mine, 2, &["0:0".to_owned(), "1:0".to_owned()]));
    v.apply(Some("inbox.me"), &chain_page("me", T0 + 2, &mine, 0, 0, &[("a".into(), true, T0)], None, false));
    assert!(v.syncing() && !v.sync_awaiting());
    let second = request_id(&v.sync_asks(T0 + 3, 2, 50, 5000)[0]);
    assert_eq!(
        v.apply(Some("inbox.me"), &chain_page("me", T0 + 4, &second, 1, 0, &[("b".into(), false, T0)], None, false)),
        Outcome::Applied
    );
    assert!(!v.syncing() && v.synced());
    let mut ids: Vec<String> = v.ordered().iter().map(|f| f.user_id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["a", "b"], "the finished load dropped the friend it did not list");
}

/// Json → serde_json (tests only), to edit a built message.
fn sync_json(v: &Json) -> Value {
    serde_json::from_str(&v.to_text()).unwrap()
}

/// The client core driving the real friends.sync handler (user-settings Function) on the fake
/// host: every request it asks for is answered, every page published on the inbox applied,
/// until the load ends.
#[test]
fn the_core_loads_what_the_friends_sync_function_publishes() {
    use friends_presence::core::Config;
    use friends_presence::domain::JsonObject;
    use friends_presence::handlers::sync::friends_sync;
    use friends_presence::host::fake::{block_on, FakeHost};
    use friends_presence::host::PubNub;

    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("alice", "Alice");
    let n = 2600;
    for i in 0..n {
        let f = format!("f{i:04}");
        host.add_user(&f, &format!("Friend {i:04}"));
        host.set_user_custom_raw(&f, json!({"online": i % 4 == 1, "lastSeen": iso8601(T0 - 60_000 - i as u64)}));
        let exec = host.execution();
        let mut custom = JsonObject::default();
        custom.set("status", Json::str("accepted"));
        custom.set("group", Json::num((i / 2000) as u64));
        block_on(exec.set_members("friends.alice", &[(id(&f), custom)])).unwrap();
    }
    let mut v = FriendsView::new(id("alice"));
    v.begin_sync();
    let (mut requests, mut seen) = (0, 0);
    while v.syncing() {
        let asks = v.sync_asks(host.now(), 1, 50, 5000);
        assert!(!asks.is_empty(), "a load in progress waits only for what it asked");
        for request in asks {
            requests += 1;
            assert!(requests < 40, "the load never ended");
            let exec = host.execution();
            let report = block_on(friends_sync(&exec, &Config::default(), "friend-management.alice", Some("alice"), &request, host.now()));
            assert!(report.rejected.is_none(), "{report:?}");
        }
        let pages = host.published_on("inbox.alice");
        for page in &pages[seen..] {
            assert_eq!(v.apply(Some("inbox.alice"), &j(page.clone())), Outcome::Applied);
        }
        seen = pages.len();
        host.advance(5);
    }
    assert!(v.synced());
    assert_eq!(v.friend_count(), n);
    assert_eq!(v.online_count(), n / 4);
    assert_eq!(v.sync_totals(), (Some(n as u64), Some(n as u64 / 4)));
    let list = v.ordered();
    assert!(list[..n / 4].iter().all(|f| f.online) && list[n / 4..].iter().all(|f| !f.online));
    assert_eq!(list[n / 4].name.as_deref(), Some("Friend 0000"), "offline friends by name");
    assert_eq!(list[n / 4].last_seen.as_deref(), Some(iso8601(T0 - 60_000).as_str()));
    // Two groups, four chains each (online ascending and descending, the rest likewise): the
    // head's request and one per chain but the first, each ≤ 10 pages (group 0's rest: 15 pages
    // from two ends).
    assert_eq!(requests, 8, "{requests}");
    host.assert_within_budget();
}

fn result(event_id: &str, command: &str, ok: bool, reason: Option<&str>) -> Json {
    let mut payload = json!({"eventId": event_id, "command": command, "ok": ok});
    if let Some(r) = reason {
        payload["reason"] = json!(r);
    }
    env("friend.command.result", &format!("evt_result_{event_id}"), T0, payload)
}

#[test]
fn a_command_result_tells_how_the_command_ended_once_however_often_it_is_answered() {
    let mut v = FriendsView::new(id("alice"));
    assert_eq!(v.command_result("c1"), None, "not answered yet: the client re-sends");
    assert_eq!(v.apply(Some("inbox.alice"), &result("c1", "friend.request", false, Some("already_pending"))), Outcome::Applied);
    let got = v.command_result("c1").unwrap();
    assert_eq!((got.command.as_str(), got.ok, got.reason.as_deref()), ("friend.request", false, Some("already_pending")));
    // A re-send is answered with the same message: dropped.
    assert_eq!(v.apply(Some("inbox.alice"), &result("c1", "friend.request", false, Some("already_pending"))), Outcome::Duplicate);
    // Only on the user's own inbox; and a result must name its command.
    assert!(matches!(v.apply(Some("inbox.bob"), &result("c2", "friend.remove", true, None)), Outcome::Rejected(_)));
    assert_eq!(v.command_result("c2"), None);
    let nameless = env("friend.command.result", "evt_result_x", T0, json!({"ok": true}));
    assert!(matches!(v.apply(Some("inbox.alice"), &nameless), Outcome::Rejected(_)));
    assert_eq!(v.apply(Some("inbox.alice"), &result("c2", "friend.remove", true, None)), Outcome::Applied);
    assert_eq!(v.command_result("c2").map(|r| (r.ok, r.reason.clone())), Some((true, None)));
}

/// The client's side of the contract, against the friend Functions on a failing host: a
/// command is re-sent (same eventId) until the view holds its result, and it ends exactly once.
#[test]
fn a_client_re_sends_an_acceptance_until_the_view_holds_its_result() {
    use friends_presence::core::Config;
    use friends_presence::domain::contract::{command, command_event_id, CommandKind};
    use friends_presence::domain::json::to_text;
    use friends_presence::handlers::friends as fh;
    use friends_presence::host::fake::{block_on, FakeHost};

    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("alice", "Alice");
    host.add_user("bob", "Bob");
    let send = |kind: CommandKind, nonce: &str| {
        let cmd = command(kind, &id("alice"), &id("bob"), None, command_event_id(kind, T0, nonce).unwrap(), T0);
        let publisher = cmd.channel.rsplit('.').next().unwrap().to_owned();
        let message = j(serde_json::from_str(&to_text(&cmd.message).unwrap()).unwrap());
        block_on(fh::friend_requests(&host.execution(), &Config::default(), &cmd.channel, Some(&publisher), &message, host.now()));
        cmd.message.event_id
    };
    send(CommandKind::Request, "1");
    let mut bob = FriendsView::new(id("bob"));
    // Every attempt makes all of an acceptance's ~19 host calls (each step is idempotent, none
    // is skipped): at 20 % a whole attempt succeeds about once in 70.
    host.set_fault_rate(0.2, 7);
    let mut attempts = 0;
    let event_id = loop {
        attempts += 1;
        assert!(attempts < 500, "never answered");
        let event_id = send(CommandKind::Accept, "2");
        for m in host.take_published().into_iter().filter(|(c, _)| c == "inbox.bob") {
            bob.apply(Some("inbox.bob"), &j(m.1));
        }
        if bob.command_result(&event_id).is_some() {
            break event_id;
        }
        host.advance(1_000);
    };
    assert!(attempts > 1, "the faults interrupted at least one attempt");
    assert_eq!(bob.command_result(&event_id).map(|r| r.ok), Some(true));
    assert_eq!(bob.friend_count(), 1, "friend.added applied once");
    assert!(host.members("friends.alice").contains_key("bob") && host.members("friends.bob").contains_key("alice"));
}

// ---------------------------------------------------------------------------- roster: requests, blocks, settings

fn request_received(user: &str, at: u64) -> Json {
    env("friend.request.received", &format!("evt_request_{user}_{at}"), at, json!({"userId": user, "requestedAt": iso8601(at)}))
}

/// A first sync page (no friends) carrying the lists.
fn lists_page(me: &str, at: u64, incoming: &[&str], outgoing: &[&str], blocked: &[&str]) -> Json {
    let entries = |list: &[&str]| -> Vec<Value> {
        list.iter().map(|u| json!({"userId": u, "name": format!("Name {u}"), "requestedAt": iso8601(at - 1000)})).collect()
    };
    env(
        "friends.sync",
        &format!("evt_sync_{me}_{at}"),
        at,
        json!({"userId": me, "requestId": format!("q{at}"), "friends": [], "onlineFriends": [], "totalFriends": 0, "next": null,
               "incoming": entries(incoming), "outgoing": entries(outgoing), "blocked": blocked}),
    )
}

/// A command `me` publishes, built as the web package builds it, tracked by `v`.
fn sent(v: &mut FriendsView, kind: friends_presence::domain::contract::CommandKind, a: &str, b: &str, nonce: &str) -> String {
    use friends_presence::domain::contract::{command, command_event_id};
    use friends_presence::domain::json::to_text;
    let cmd = command(kind, &id(a), &id(b), None, command_event_id(kind, T0, nonce).unwrap(), T0);
    let message = Json::parse(&to_text(&cmd.message).unwrap()).unwrap();
    assert_eq!(v.track(&message), Ok(cmd.message.event_id.clone()));
    cmd.message.event_id
}

fn answer(event_id: &str, command: &str, at: u64, reason: Option<&str>) -> Json {
    let mut payload = json!({"eventId": event_id, "command": command, "ok": reason.is_none()});
    if let Some(r) = reason {
        payload["reason"] = json!(r);
    }
    env("friend.command.result", &format!("evt_result_{event_id}"), at, payload)
}

fn listed(list: Vec<&friends_presence::client::FriendRequest>) -> Vec<&str> {
    list.into_iter().map(|r| r.user_id.as_str()).collect()
}

#[test]
fn the_first_sync_page_lists_requests_both_ways_and_the_blocked_users() {
    let mut v = FriendsView::new(id("me"));
    v.begin_sync();
    assert_eq!(v.apply(Some("inbox.me"), &lists_page("me", T0, &["ann", "bea", "zed"], &["cid"], &["zed"])), Outcome::Applied);
    assert_eq!(listed(v.incoming()), ["ann", "bea"], "a blocked user's request is never listed");
    assert_eq!(v.incoming()[0].name.as_deref(), Some("Name ann"));
    assert_eq!(v.incoming()[0].requested_at.as_deref(), Some(iso8601(T0 - 1000).as_str()));
    assert_eq!(listed(v.outgoing()), ["cid"]);
    assert_eq!(v.blocked(), ["zed"]);
    // A page without the lists (a later page) leaves them; a newer first page replaces them.
    v.apply(Some("inbox.me"), &sync_page("me", T0 + 10, &[], 0, None));
    assert_eq!(listed(v.incoming()), ["ann", "bea"]);
    assert_eq!(v.apply(Some("inbox.me"), &lists_page("me", T0 + 20, &["bea"], &[], &[])), Outcome::Applied);
    assert_eq!((listed(v.incoming()), listed(v.outgoing()), v.blocked()), (vec!["bea"], vec![], vec![]));
    // A request notified after the snapshot survives an older one arriving late.
    assert_eq!(v.apply(Some("inbox.me"), &request_received("dee", T0 + 40)), Outcome::Applied);
    v.apply(Some("inbox.me"), &lists_page("me", T0 + 30, &["bea"], &[], &[]));
    assert_eq!(listed(v.incoming()), ["bea", "dee"]);
}

/// The other side's answer arrives live: a decline takes an outgoing request off, a cancel an
/// incoming one, and an older first page arriving late does not bring either back.
#[test]
fn declines_and_cancels_by_the_other_user_take_requests_off_live() {
    let mut v = FriendsView::new(id("me"));
    v.apply(Some("inbox.me"), &lists_page("me", T0, &["ann", "bea"], &["cid", "dan"], &[]));
    let closed = |kind: &str, user: &str, at: u64| {
        env(kind, &format!("evt_{kind}_{user}"), at, json!({ "userId": user, "requestedAt": iso8601(T0 - 1000) }))
    };
    assert_eq!(v.apply(Some("inbox.me"), &closed("friend.request.cancelled", "ann", T0 + 10)), Outcome::Applied);
    assert_eq!(v.apply(Some("inbox.me"), &closed("friend.request.declined", "dan", T0 + 10)), Outcome::Applied);
    assert_eq!((listed(v.incoming()), listed(v.outgoing())), (vec!["bea"], vec!["cid"]));
    v.apply(Some("inbox.me"), &lists_page("me", T0 + 5, &["ann", "bea"], &["cid", "dan"], &[]));
    assert_eq!((listed(v.incoming()), listed(v.outgoing())), (vec!["bea"], vec!["cid"]), "an older snapshot does not bring them back");
    // A decline names the outgoing side only: "bea declined" is not "bea cancelled".
    assert!(matches!(v.apply(Some("inbox.me"), &closed("friend.request.declined", "bea", T0 + 20)), Outcome::Ignored(_)));
    assert_eq!(listed(v.incoming()), ["bea"]);
    // Only on the user's own inbox.
    assert!(matches!(v.apply(Some("inbox.bea"), &closed("friend.request.cancelled", "bea", T0 + 30)), Outcome::Rejected(_)));
}

#[test]
fn answers_to_this_clients_commands_keep_the_lists() {
    use friends_presence::domain::contract::CommandKind::*;
    let mut v = FriendsView::new(id("me"));
    v.apply(Some("inbox.me"), &lists_page("me", T0, &["ann", "bea", "cid"], &["dan"], &[]));

    let r = sent(&mut v, Request, "me", "eve", "1");
    assert!(listed(v.outgoing()) == ["dan"], "nothing changes before the answer");
    v.apply(Some("inbox.me"), &answer(&r, "friend.request", T0 + 10, None));
    assert_eq!(listed(v.outgoing()), ["dan", "eve"]);
    assert_eq!(v.outgoing()[1].requested_at.as_deref(), Some(iso8601(T0 + 10).as_str()));
    let refused = sent(&mut v, Request, "me", "nobody", "2");
    v.apply(Some("inbox.me"), &answer(&refused, "friend.request", T0 + 11, Some("unknown_user")));
    assert_eq!(listed(v.outgoing()), ["dan", "eve"], "a refused request is not pending");

    let c = sent(&mut v, Cancel, "me", "dan", "3");
    v.apply(Some("inbox.me"), &answer(&c, "friend.request.cancel", T0 + 20, None));
    assert_eq!(listed(v.outgoing()), ["eve"]);

    let d = sent(&mut v, Decline, "ann", "me", "4");
    v.apply(Some("inbox.me"), &answer(&d, "friend.request.declined", T0 + 30, None));
    // An acceptance refused because the request is gone (cancelled meanwhile) takes it off too.
    let a = sent(&mut v, Accept, "bea", "me", "5");
    v.apply(Some("inbox.me"), &answer(&a, "friend.request.accepted", T0 + 31, Some("not_pending")));
    // One refused for another reason keeps it, to try again.
    let l = sent(&mut v, Accept, "cid", "me", "6");
    v.apply(Some("inbox.me"), &answer(&l, "friend.request.accepted", T0 + 32, Some("limit")));
    assert_eq!(listed(v.incoming()), ["cid"]);

    let b = sent(&mut v, Block, "me", "cid", "7");
    v.apply(Some("inbox.me"), &answer(&b, "friend.block", T0 + 40, None));
    assert_eq!((listed(v.incoming()), v.blocked()), (vec![], vec!["cid"]), "a block moves the user to blocked");
    assert!(matches!(v.apply(Some("inbox.me"), &request_received("cid", T0 + 41)), Outcome::Ignored(_)), "never listed while blocked");
    let u = sent(&mut v, Unblock, "me", "cid", "8");
    v.apply(Some("inbox.me"), &answer(&u, "friend.unblock", T0 + 50, None));
    assert!(v.blocked().is_empty());

    // An answer to a command this client did not send (another tab) changes no list.
    v.apply(Some("inbox.me"), &answer("elsewhere", "friend.request.cancel", T0 + 60, None));
    assert_eq!(listed(v.outgoing()), ["eve"]);
    // friend.added ends a request either way.
    v.apply(Some("inbox.me"), &added("eve", T0 + 70, true));
    assert!(v.outgoing().is_empty() && v.friend("eve").is_some());
}

#[test]
fn an_older_snapshot_does_not_bring_back_an_answered_request() {
    use friends_presence::domain::contract::CommandKind::*;
    let mut v = FriendsView::new(id("me"));
    v.apply(Some("inbox.me"), &request_received("ann", T0));
    let d = sent(&mut v, Decline, "ann", "me", "1");
    v.apply(Some("inbox.me"), &answer(&d, "friend.request.declined", T0 + 100, None));
    // A first page read before the decline arrives late: ann stays off.
    v.apply(Some("inbox.me"), &lists_page("me", T0 + 50, &["ann"], &[], &[]));
    assert!(v.incoming().is_empty());
    // Asked again later: listed again (notice or newer snapshot).
    assert_eq!(v.apply(Some("inbox.me"), &request_received("ann", T0 + 200)), Outcome::Applied);
    assert_eq!(listed(v.incoming()), ["ann"]);
    // A late notice older than the decline is stale.
    let mut w = FriendsView::new(id("me"));
    let d = sent(&mut w, Decline, "bob", "me", "2");
    w.apply(Some("inbox.me"), &answer(&d, "friend.request.declined", T0 + 100, None));
    assert_eq!(w.apply(Some("inbox.me"), &request_received("bob", T0 + 50)), Outcome::Stale);
}

#[test]
fn track_takes_only_this_users_commands() {
    use friends_presence::domain::contract::CommandKind::*;
    use friends_presence::domain::contract::{command, command_event_id};
    use friends_presence::domain::json::to_text;
    let mut v = FriendsView::new(id("me"));
    // An acceptance is published by the requested user (userB): me accepting ann's is mine.
    sent(&mut v, Accept, "ann", "me", "1");
    let theirs = command(Request, &id("ann"), &id("me"), None, command_event_id(Request, T0, "2").unwrap(), T0);
    assert!(v.track(&Json::parse(&to_text(&theirs.message).unwrap()).unwrap()).is_err());
    assert!(v.track(&j(json!({"type": "friend.online", "eventId": "x", "payload": {"userA": "me"}}))).is_err());
    assert!(v.track(&j(json!([1]))).is_err());
}

#[test]
fn settings_are_confirmed_by_their_answer_and_built_as_the_functions_take_them() {
    use friends_presence::domain::contract::{command_event_id, settings_command, CommandKind};
    use friends_presence::domain::json::to_text;
    let me = id("me");
    let event = |n: &str| command_event_id(CommandKind::Settings, T0, n).unwrap();
    let cmd = settings_command(&me, Some(true), Some(Some("at lunch")), event("1"), T0).unwrap();
    assert_eq!(cmd.channel, "friend-management.me");
    let wire: Value = serde_json::from_str(&to_text(&cmd.message).unwrap()).unwrap();
    assert_eq!(wire["type"], "user.settings");
    assert_eq!(wire["payload"], json!({"userA": "me", "invisible": true, "statusMessage": "at lunch"}));
    let clear = settings_command(&me, None, Some(None), event("2"), T0).unwrap();
    let wire: Value = serde_json::from_str(&to_text(&clear.message).unwrap()).unwrap();
    assert_eq!(wire["payload"], json!({"userA": "me", "statusMessage": null}));
    // The Functions' limits: 100 UTF-16 units (an emoji is two), at least one field.
    assert!(settings_command(&me, None, Some(Some(&"x".repeat(100))), event("3"), T0).is_ok());
    assert!(settings_command(&me, None, Some(Some(&"x".repeat(101))), event("4"), T0).is_err());
    assert!(settings_command(&me, None, Some(Some(&"😀".repeat(51))), event("5"), T0).is_err());
    assert!(settings_command(&me, None, None, event("6"), T0).is_err());

    let mut v = FriendsView::new(me);
    assert_eq!(v.settings().invisible, None);
    let on = v.track(&Json::parse(&to_text(&cmd.message).unwrap()).unwrap()).unwrap();
    v.apply(Some("inbox.me"), &answer(&on, "user.settings", T0, None));
    assert_eq!((v.settings().invisible, v.settings().status_message.clone()), (Some(true), Some(Some("at lunch".into()))));
    let refused = settings_command(&id("me"), Some(false), None, event("7"), T0).unwrap();
    let off = v.track(&Json::parse(&to_text(&refused.message).unwrap()).unwrap()).unwrap();
    v.apply(Some("inbox.me"), &answer(&off, "user.settings", T0 + 1, Some("unknown_user")));
    assert_eq!(v.settings().invisible, Some(true), "a refused change changes nothing");
}

fn online_with(user: &str, at: u64, message: Option<&str>) -> Json {
    let mut payload = json!({"userId": user});
    if let Some(m) = message {
        payload["statusMessage"] = json!(m);
    }
    env("friend.online", &format!("evt_status_{user}_{at}"), at, payload)
}

#[test]
fn status_messages_come_from_sync_pages_and_re_announcements() {
    let mut v = FriendsView::new(id("me"));
    let page = |at: u64, message: Option<&str>| {
        let mut friend = json!({"userId": "bob", "online": true, "lastSeen": iso8601(T0)});
        if let Some(m) = message {
            friend["statusMessage"] = json!(m);
        }
        env("friends.sync", &format!("evt_sync_{at}"), at, json!({"userId": "me", "friends": [friend], "totalFriends": 1, "next": null}))
    };
    v.apply(None, &page(T0 + 10, Some("hello")));
    assert_eq!(v.friend("bob").unwrap().status_message.as_deref(), Some("hello"));
    // A re-announcement: online already, a new message; still online since the same moment,
    // and not a presence change: an offline stamped a little earlier (whole-second presence
    // times) still applies after it.
    assert_eq!(v.apply(Some("status.bob"), &online_with("bob", T0 + 1500, Some("at lunch"))), Outcome::Applied);
    let bob = v.friend("bob").unwrap();
    assert_eq!((bob.status_message.as_deref(), bob.last_seen.clone()), (Some("at lunch"), Some(iso8601(T0))));
    let mut later = v.clone();
    assert_eq!(later.apply(Some("status.bob"), &offline("bob", T0 + 1000)), Outcome::Applied);
    assert!(!later.friend("bob").unwrap().online);
    // An older page keeps the newer message; a newer page without one clears it.
    v.apply(None, &page(T0 + 15, Some("hello")));
    assert_eq!(v.friend("bob").unwrap().status_message.as_deref(), Some("at lunch"));
    v.apply(None, &page(T0 + 3000, None));
    assert_eq!(v.friend("bob").unwrap().status_message, None);
    // A not-yet friend's message is kept for the friend.added that follows.
    v.apply(Some("status.cat"), &online_with("cat", T0 + 4000, Some("new here")));
    v.apply(Some("inbox.me"), &added("cat", T0 + 4001, false));
    let cat = v.friend("cat").unwrap();
    assert_eq!((cat.online, cat.status_message.as_deref()), (true, Some("new here")));
}

#[test]
fn the_plan_follows_the_friend_count_once_known() {
    let mut v = FriendsView::new(id("me"));
    let all_ten = v.plan().groups;
    assert_eq!(all_ten.len(), 10, "count unknown: every group");
    assert_eq!(v.regroup(&all_ten).subscribe, Vec::<String>::new());
    // The first page of a load tells the total: two groups for 2,100 friends.
    v.begin_sync();
    let first: Vec<(String, bool, u64)> = (0..100).map(|i| (format!("f{i:04}"), false, T0)).collect();
    v.apply(None, &sync_page("me", T0, &first, 2100, Some("c1")));
    assert_eq!(v.known_friend_count(), Some(2100));
    let change = v.regroup(&all_ten);
    assert!(change.subscribe.is_empty());
    assert_eq!(change.unsubscribe, all_ten[2..].to_vec());
    // A completed load of 1,999 friends: one group; a 2,001st friend adds the second.
    let mut w = FriendsView::new(id("me"));
    let list: Vec<(String, bool, u64)> = (0..1999).map(|i| (format!("f{i:04}"), false, T0)).collect();
    w.apply(None, &sync_page("me", T0, &list, 1999, None));
    assert_eq!(w.plan().groups, ["cg-friends-me"]);
    w.apply(Some("inbox.me"), &added("n1", T0 + 1, false));
    assert_eq!(w.plan().groups.len(), 1, "2,000 friends fit one group");
    w.apply(Some("inbox.me"), &added("n2", T0 + 2, false));
    let change = w.regroup(&["cg-friends-me".to_string()]);
    assert_eq!((change.subscribe, change.unsubscribe), (vec!["cg-friends1-me".to_string()], vec![]));
    w.apply(Some("inbox.me"), &removed("n2", T0 + 3));
    assert_eq!(w.regroup(&all_ten_of("me")).unsubscribe, all_ten_of("me")[1..].to_vec());
}

fn all_ten_of(me: &str) -> Vec<String> {
    SubscribePlan::for_user(&id(me), 100).groups
}

/// The client core against the friend Functions on the fake host: requests made before the
/// client started are listed by its first load, and answering them from the lists (commands
/// built by the contract builders and tracked) takes them off as the Functions answer.
#[test]
fn the_lists_follow_the_friend_functions() {
    use friends_presence::core::Config;
    use friends_presence::domain::contract::CommandKind::{self, *};
    use friends_presence::domain::contract::{command, command_event_id};
    use friends_presence::domain::json::to_text;
    use friends_presence::handlers::friends as fh;
    use friends_presence::host::fake::{block_on, FakeHost};

    let host = FakeHost::default();
    host.set_now(T0);
    for u in ["alice", "bob", "carol", "dan"] {
        host.add_user(u, &u.to_uppercase());
    }
    let mut v = FriendsView::new(id("alice"));
    let mut n = 0;
    let mut publish = |v: Option<&mut FriendsView>, kind: CommandKind, a: &str, b: &str| {
        n += 1;
        let cmd = command(kind, &id(a), &id(b), None, command_event_id(kind, host.now(), &n.to_string()).unwrap(), host.now());
        let message = Json::parse(&to_text(&cmd.message).unwrap()).unwrap();
        if let Some(v) = v {
            v.track(&message).unwrap();
        }
        let publisher = cmd.channel.split_once('.').unwrap().1.to_owned();
        let exec = host.execution();
        let report = if kind.channel_prefix().starts_with("friend-requests") {
            block_on(fh::friend_requests(&exec, &Config::default(), &cmd.channel, Some(&publisher), &message, host.now()))
        } else {
            block_on(fh::friend_management(&exec, &Config::default(), &cmd.channel, Some(&publisher), &message, host.now()))
        };
        assert!(report.rejected.is_none(), "{report:?}");
        host.advance(10);
    };
    publish(None, Request, "bob", "alice");
    publish(None, Request, "carol", "alice");
    publish(None, Request, "alice", "dan");
    publish(None, Block, "alice", "carol");
    host.take_published();

    // Alice has no friend: the head's own answer is the whole load (its chains are known empty).
    let request = v.sync_asks(host.now(), 1, 50, 5000).remove(0);
    block_on(friends_presence::handlers::sync::friends_sync(
        &host.execution(),
        &Config::default(),
        "friend-management.alice",
        Some("alice"),
        &request,
        host.now(),
    ));
    let deliver = |v: &mut FriendsView| {
        for (channel, m) in host.take_published().into_iter().filter(|(c, _)| c == "inbox.alice") {
            v.apply(Some(&channel), &j(m));
        }
    };
    deliver(&mut v);
    assert!(v.synced());
    assert_eq!((listed(v.incoming()), listed(v.outgoing()), v.blocked()), (vec!["bob"], vec!["dan"], vec!["carol"]));
    assert_eq!(v.incoming()[0].name.as_deref(), Some("BOB"));

    publish(Some(&mut v), Accept, "bob", "alice");
    deliver(&mut v);
    publish(Some(&mut v), Cancel, "alice", "dan");
    deliver(&mut v);
    publish(Some(&mut v), Unblock, "alice", "carol");
    deliver(&mut v);
    assert_eq!((listed(v.incoming()), listed(v.outgoing()), v.blocked()), (vec![], vec![], vec![]));
    assert!(v.friend("bob").is_some(), "accepted from the list");
    host.assert_within_budget();
}

// ---- the order of docs/design.md §4 -------------------------------------------------------

fn status_v(kind: &str, user: &str, at: u64, version: u64, message: Option<&str>) -> Json {
    let mut payload = json!({"userId": user, "version": version});
    if kind == "friend.offline" {
        payload["lastSeen"] = json!(iso8601(at));
    }
    if let Some(m) = message {
        payload["statusMessage"] = json!(m);
    }
    env(kind, &format!("evt_{kind}_{user}_{at}_{version}"), at, payload)
}

/// The version decides, whatever the times say: a later version with an earlier `ts` (a
/// whole-second presence time after a millisecond one) applies, a lower one is stale.
#[test]
fn status_is_ordered_by_version_not_by_time() {
    let base = FriendsView::new(id("me"));
    let mut v = base.clone();
    v.apply(Some("inbox.me"), &added("dee", T0, true));
    let visible = status_v("friend.online", "dee", T0 + 29_606, 6, Some("back"));
    let leave = status_v("friend.offline", "dee", T0 + 29_000, 7, None);
    for order in [[&visible, &leave], [&leave, &visible]] {
        let mut w = v.clone();
        for m in order {
            w.apply(Some("status.dee"), m);
        }
        assert!(!w.friend("dee").unwrap().online, "version 7 (offline) is the last change");
    }
    // A sync entry is ordered the same way: version 5 is older than the live version 7.
    v.apply(Some("status.dee"), &leave);
    let page = env(
        "friends.sync",
        "evt_sync_v",
        T0 + 60_000,
        json!({"userId": "me", "friends": [{"userId": "dee", "online": true, "lastSeen": iso8601(T0 + 50_000), "version": 5}],
               "totalFriends": 1, "next": null}),
    );
    v.apply(None, &page);
    assert!(!v.friend("dee").unwrap().online, "an older version in a newer page is stale");
    // Equal versions are one state (a re-send with another eventId): applied, no change.
    assert_eq!(v.apply(Some("status.dee"), &status_v("friend.offline", "dee", T0 + 29_001, 7, None)), Outcome::Applied);
    assert_eq!(v.apply(Some("status.dee"), &status_v("friend.online", "dee", T0 + 90_000, 6, None)), Outcome::Stale);
    // A re-announcement under a new version keeps the time the friend came online.
    v.apply(Some("status.dee"), &status_v("friend.online", "dee", T0 + 100_000, 8, None));
    v.apply(Some("status.dee"), &status_v("friend.online", "dee", T0 + 100_500, 9, Some("busy")));
    let dee = v.friend("dee").unwrap();
    assert_eq!((dee.online, dee.status_message.as_deref(), dee.last_seen.clone()), (true, Some("busy"), Some(iso8601(T0 + 100_000))));
}

/// Messages without a version (older servers) keep the time order.
#[test]
fn status_without_a_version_falls_back_to_time() {
    let mut v = FriendsView::new(id("me"));
    v.apply(Some("inbox.me"), &added("eve", T0, true));
    v.apply(Some("status.eve"), &offline("eve", T0 + 2_000));
    assert_eq!(v.apply(Some("status.eve"), &online("eve", T0 + 1_000)), Outcome::Stale);
    assert!(!v.friend("eve").unwrap().online);
}

fn request_notice(kind: &str, user: &str, at: u64, request: &str) -> Json {
    env(kind, &format!("evt_{kind}_{user}_{request}_{at}"), at, json!({"userId": user, "requestedAt": iso8601(at), "requestId": request}))
}

fn first_page(at: u64, incoming: Value) -> Json {
    env(
        "friends.sync",
        &format!("evt_sync_{at}"),
        at,
        json!({"userId": "me", "friends": [], "totalFriends": 0, "next": null, "incoming": incoming, "outgoing": [], "blocked": []}),
    )
}

/// A request is ordered by its id: a cancel closes it however old its time, a closed id is
/// never listed again, and a new id (a new request) is.
#[test]
fn requests_are_ordered_by_their_id() {
    let mut v = FriendsView::new(id("me"));
    let listed = |v: &FriendsView| v.incoming().iter().map(|r| r.request_id.clone().unwrap_or_default()).collect::<Vec<_>>();
    v.apply(Some("inbox.me"), &request_notice("friend.request.received", "amy", T0, "r1"));
    v.apply(None, &first_page(T0 + 5_000, json!([{"userId": "amy", "requestedAt": iso8601(T0), "requestId": "r1"}])));
    assert_eq!(listed(&v), ["r1"]);
    assert_eq!(v.apply(Some("inbox.me"), &request_notice("friend.request.cancelled", "amy", T0, "r1")), Outcome::Applied);
    assert!(listed(&v).is_empty(), "the cancel carries the request's (older) time, still closes it");
    // A late snapshot or a repeated notice of r1 does not bring it back.
    v.apply(None, &first_page(T0 + 6_000, json!([{"userId": "amy", "requestedAt": iso8601(T0), "requestId": "r1"}])));
    assert_eq!(v.apply(Some("inbox.me"), &request_notice("friend.request.received", "amy", T0 + 1, "r1")), Outcome::Stale);
    assert!(listed(&v).is_empty());
    // A new request (a new id) is listed, even with an earlier time than the snapshot.
    v.apply(Some("inbox.me"), &request_notice("friend.request.received", "amy", T0 + 5_500, "r2"));
    assert_eq!(listed(&v), ["r2"]);
    // Of two ids of one user, the later made stays (only one can be pending).
    assert_eq!(v.apply(Some("inbox.me"), &request_notice("friend.request.received", "amy", T0 + 100, "r0")), Outcome::Stale);
    assert_eq!(listed(&v), ["r2"]);
}
