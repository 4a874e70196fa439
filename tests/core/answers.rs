//! Every friend command gets exactly one answer, whatever its shape: without an `eventId`,
//! with a `ts` that is no ISO 8601 time, nested past what JSON is read to, or reusing the
//! `eventId` of another command (issue 18 part 8, issue 20 parts 6 and 7).

use friends_presence::core::Config;
use friends_presence::domain::time::parse_iso8601;
use friends_presence::domain::Json;
use friends_presence::handlers::friends as fh;
use friends_presence::host::fake::block_on;
use serde_json::{json, Value};

use super::friends::{assert_exact, command, on_management, on_requests, outcome, setup};
use super::T0;

/// Every `friend.command.result` on `user`'s inbox.
fn answers(host: &friends_presence::host::fake::FakeHost, user: &str) -> Vec<Value> {
    host.published_on(&format!("inbox.{user}")).into_iter().filter(|m| m["type"] == "friend.command.result").collect()
}

#[test]
fn a_command_without_a_usable_event_id_is_answered_invalid_with_a_null_event_id() {
    let host = setup();
    let mut no_id = command("friend.request", "alice", "bob", "x");
    no_id.as_object_mut().unwrap().remove("eventId");
    let bad_ids = [json!(12), json!(null), json!(""), json!("a".repeat(129)), json!({"id": "x"})];
    let state = host.snapshot_without_answers();
    let r = on_requests(&host, "alice", no_id.clone());
    assert!(r.rejected.is_some());
    for id in &bad_ids {
        let mut msg = no_id.clone();
        msg["eventId"] = id.clone();
        on_requests(&host, "alice", msg);
    }
    let mut removal = command("friend.remove", "alice", "bob", "x");
    removal.as_object_mut().unwrap().remove("eventId");
    on_management(&host, "alice", removal);
    let got = answers(&host, "alice");
    assert_eq!(got.len(), 2 + bad_ids.len(), "one answer per command: {got:#?}");
    for (i, a) in got.iter().enumerate() {
        assert_eq!(a["payload"]["eventId"], Value::Null, "{a}");
        assert_eq!(a["payload"]["ok"], false);
        assert_eq!(a["payload"]["reason"], "invalid");
        let want = if i == got.len() - 1 { "friend.remove" } else { "friend.request" };
        assert_eq!(a["payload"]["command"], want);
    }
    assert_eq!(host.snapshot_without_answers(), state, "nothing changed");
    assert!(host.published_on("inbox.bob").is_empty(), "only the sender is answered");
    // A ':' in a string eventId: refused, and the answer names it.
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "a:b"));
    assert_eq!(outcome(&host, "alice", "a:b"), Some(Err("invalid".into())));
    host.assert_within_budget();
}

#[test]
fn ts_must_be_an_iso_8601_date_and_time() {
    let host = setup();
    for (i, ts) in [
        json!("yesterday"),
        json!(1_767_225_600_000u64),
        json!(null),
        json!("2026-02-30T00:00:00Z"),
        json!("2026-01-01"),
        json!("2026-01-01T00:00:00"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("t{i}");
        let mut msg = command("friend.request", "alice", "bob", &id);
        msg["ts"] = ts.clone();
        on_requests(&host, "alice", msg);
        assert_eq!(outcome(&host, "alice", &id), Some(Err("invalid".into())), "ts {ts}");
    }
    assert!(host.kv_value("friend-request:alice:bob").is_none(), "no request was made");
    // What other languages write is accepted: a fraction of any length, an offset.
    let mut msg = command("friend.request", "alice", "bob", "ok1");
    msg["ts"] = json!("2026-01-01T01:00:00.123456+01:00");
    on_requests(&host, "alice", msg);
    assert_eq!(outcome(&host, "alice", "ok1"), Some(Ok(())));
    host.assert_within_budget();
}

#[test]
fn iso_8601_parsing_takes_rfc_3339_forms_and_nothing_else() {
    let t = T0; // 2026-01-01T00:00:00Z
    for (text, want) in [
        ("2026-01-01T00:00:00Z", Some(t)),
        ("2026-01-01T00:00:00.5Z", Some(t + 500)),
        ("2026-01-01T00:00:00.25z", Some(t + 250)),
        ("2026-01-01t00:00:00.123456789Z", Some(t + 123)),
        ("2026-01-01T02:30:00+02:30", Some(t)),
        ("2025-12-31T23:00:00-01:00", Some(t)),
        ("2024-02-29T00:00:00Z", Some(1_709_164_800_000)),
        ("2025-02-29T00:00:00Z", None),
        ("2026-04-31T00:00:00Z", None),
        ("2026-01-01T00:00:00.Z", None),
        ("2026-01-01T00:00:00+0100", None),
        ("2026-01-01T00:00:00+24:00", None),
        ("2026-01-01 00:00:00Z", None),
        ("2026-01-01T00:00:00Zjunk", None),
        ("yesterday", None),
    ] {
        assert_eq!(parse_iso8601(text), want, "{text}");
    }
}

/// `message` as the runtime hands it over: inside the execution's input, parsed as one text
/// (so its depth counts from the input, as in a bundle).
fn through_input(host: &friends_presence::host::fake::FakeHost, publisher: &str, message: &str) -> friends_presence::handlers::Report {
    let input = format!(
        r#"{{"handler":"friend-acceptance","channel":"friend-requests.{publisher}","publisher":"{publisher}","message":{message},"now":{T0}}}"#
    );
    let input = Json::parse(&input).expect("the runtime's input parses whatever the nesting");
    let message = input.as_object().unwrap().get("message").unwrap().clone();
    let exec = host.execution();
    block_on(fh::friend_requests(&exec, &Config::default(), &format!("friend-requests.{publisher}"), Some(publisher), &message, host.now()))
}

#[test]
fn a_command_nested_past_the_json_limit_is_answered_invalid_and_62_levels_are_answered_ok() {
    let host = setup();
    let nested = |levels: usize, id: &str| {
        let extra = "[".repeat(levels) + &"]".repeat(levels);
        format!(
            r#"{{"type":"friend.request","schemaVersion":"1.0.0","eventId":"{id}","ts":"2026-01-01T00:00:00.000Z","payload":{{"userA":"alice","userB":"bob","extra":{extra}}}}}"#
        )
    };
    for levels in [63, 64, 1000, 20_000] {
        let id = format!("deep{levels}");
        let r = through_input(&host, "alice", &nested(levels, &id));
        assert!(r.rejected.is_some());
        assert_eq!(outcome(&host, "alice", &id), Some(Err("invalid".into())), "{levels} levels");
        assert_eq!(answers(&host, "alice").iter().filter(|a| a["payload"]["eventId"] == id.as_str()).count(), 1);
    }
    assert!(host.kv_value("friend-request:alice:bob").is_none(), "nothing was written");
    let r = through_input(&host, "alice", &nested(62, "ok62"));
    assert!(r.rejected.is_none(), "{r:?}");
    assert_eq!(outcome(&host, "alice", "ok62"), Some(Ok(())));
    host.assert_within_budget();
}

#[test]
fn an_event_id_reused_for_another_command_is_refused_and_runs_nothing() {
    let host = setup();
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "E"));
    assert_eq!(outcome(&host, "bob", "E"), Some(Ok(())));
    let state = host.snapshot_without_answers();
    // The same eventId on a removal: refused, the friendship stays, and the answer names
    // the removal under an id of its own (a client keyed on eventId + command keeps the first).
    let r = on_management(&host, "bob", command("friend.remove", "bob", "alice", "E"));
    assert!(r.rejected.is_some());
    assert_eq!(host.snapshot_without_answers(), state, "nothing removed");
    let got: Vec<Value> = answers(&host, "bob").into_iter().filter(|a| a["payload"]["eventId"] == "E").collect();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0]["payload"]["command"], "friend.request.accepted");
    assert_eq!(got[0]["payload"]["ok"], true);
    assert_eq!(got[1]["payload"]["command"], "friend.remove");
    assert_eq!((got[1]["payload"]["ok"].clone(), got[1]["payload"]["reason"].clone()), (json!(false), json!("invalid")));
    assert_ne!(got[0]["eventId"], got[1]["eventId"], "the refusal is a message of its own");
    // A re-send of the acceptance is still answered with its own result.
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "E"));
    let again: Vec<Value> = answers(&host, "bob").into_iter().filter(|a| a["payload"]["eventId"] == "E").collect();
    assert_eq!(again[2], got[0]);
    // Same type, another payload: refused too.
    host.add_user("carol", "Carol");
    on_requests(&host, "alice", command("friend.request", "alice", "carol", "r1"));
    assert!(host.kv_value("friend-request:alice:carol").is_none(), "no request to carol under r1");
    let r1: Vec<Value> = answers(&host, "alice").into_iter().filter(|a| a["payload"]["eventId"] == "r1").collect();
    assert_eq!(r1.last().unwrap()["payload"]["reason"], "invalid");
    // With a fresh eventId the removal runs.
    on_management(&host, "bob", command("friend.remove", "bob", "alice", "E2"));
    assert_eq!(outcome(&host, "bob", "E2"), Some(Ok(())));
    assert!(host.members("friends.alice").is_empty());
    super::friends::recount(&host);
    assert_exact(&host, &["alice", "bob", "carol"]);
    host.assert_within_budget();
}

#[test]
fn an_event_id_reused_while_its_command_is_under_way_does_not_run_on_its_journal() {
    let host = setup();
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    on_requests(&host, "bob", command("friend.request", "bob", "alice", "r2"));
    // Bob's acceptance crashes right after writing its plan (its 8th call).
    host.crash_after(8);
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "E"));
    let journal = host.kv_value("cmd:bob:E").expect("the plan is written");
    assert_eq!(journal["done"], false);
    assert_eq!(journal["cmd"], "friend.request.accepted");
    // A decline of alice's request under E: refused, the journal untouched, the request kept.
    on_requests(&host, "bob", command("friend.request.declined", "alice", "bob", "E"));
    assert_eq!(host.kv_value("cmd:bob:E").unwrap(), journal);
    let got: Vec<Value> = answers(&host, "bob").into_iter().filter(|a| a["payload"]["eventId"] == "E").collect();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0]["payload"]["command"].clone(), got[0]["payload"]["reason"].clone()),
        (json!("friend.request.declined"), json!("invalid"))
    );
    // The acceptance's re-send finishes it.
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "E"));
    assert_eq!(outcome_of(&host, "bob", "E", "friend.request.accepted"), Some(json!(true)));
    super::friends::recount(&host);
    assert_exact(&host, &["alice", "bob"]);
}

fn outcome_of(host: &friends_presence::host::fake::FakeHost, user: &str, id: &str, kind: &str) -> Option<Value> {
    answers(host, user)
        .into_iter()
        .find(|a| a["payload"]["eventId"] == id && a["payload"]["command"] == kind)
        .map(|a| a["payload"]["ok"].clone())
}

/// The shard hash examples docs/design.md gives ("Writing a client in another language").
#[test]
fn the_documented_shard_hash_examples_hold() {
    use friends_presence::domain::ids::{js_hash_code, shard_of};
    for (id, hash, shard) in [("alice", 92_903_040, 40), ("bob", 97_717, 17), ("user-0203", 291_270_727, 27), ("é用😀", 37_536_514, 14)]
    {
        assert_eq!((js_hash_code(id), shard_of(id, 100)), (hash, shard), "{id}");
    }
}
