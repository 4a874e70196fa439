//! Bad input never traps, never throws, never changes state, and always leaves a logged
//! reason: 102,000 random and malformed events and messages against every handler that takes
//! input (the two On Interval Functions take none). Inputs are malformed by construction —
//! random JSON, or a valid message with at least one breaking mutation — so "no state change"
//! is the right expectation for every one of them. Deterministic seed: a failure replays.

use friends_presence::core::Config;
use friends_presence::domain::ids::MAX_USER_ID_CHARS;
use friends_presence::domain::{Json, JsonObject};
use friends_presence::handlers::{friends as fh, presence as ph, reconcile, recount, Level, Report};
use friends_presence::host::fake::{block_on, FakeHost};

use super::T0;

const CASES_PER_HANDLER: usize = 17_000; // six handlers: 102,000 inputs

/// xorshift64*: small, deterministic, good enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    "action",
    "uuid",
    "uuids",
    "join",
    "leave",
    "timeout",
    "interval",
    "here_now_refresh",
    "occupancy",
    "timestamp",
    "type",
    "hop",
    "shard",
    "observations",
    "chunks",
    "u",
    "o",
    "t",
    "schemaVersion",
    "eventId",
    "ts",
    "payload",
    "userA",
    "userB",
    "page",
];
/// Keys whose values steer parsing deeper when they are real words.
const WORD_KEYS: &[&str] = &["action", "type", "schemaVersion"];
const WORDS: &[&str] = &[
    "join",
    "leave",
    "timeout",
    "interval",
    "state-change",
    "presence.work",
    "settle.work",
    "friend.request",
    "friend.request.accepted",
    "friend.request.declined",
    "friend.remove",
    "friends.sync.request",
    "1.0.0",
    "2.0",
];
/// User ids that must be refused: forbidden characters, non-printables, empty, PubNub's
/// presence suffix, the count's name, too long.
const BAD_IDS: &[&str] =
    &["a,b", "a:b", "a*b", "a/b", "a\\b", "a b", "a\u{7}b", "", "x\u{0}", "tab\there", "bob.1", "alice-pnpres", "global"];

fn bad_id(rng: &mut Rng) -> Json {
    if rng.below(6) == 0 {
        return Json::Str("x".repeat(MAX_USER_ID_CHARS + 1 + rng.below(50)));
    }
    Json::Str(rng.pick(BAD_IDS).to_owned())
}

/// Random text that is never a valid user id (it always holds a forbidden character), so a
/// random event can never be a valid one by chance.
fn random_string(rng: &mut Rng) -> String {
    const PARTS: &[&str] = &["a", "Z", "9", "-", ".", ":", ",", "*", " ", "\"", "\\", "é", "用", "😀", "\u{0}", "\n", "presence.shard-"];
    let mut s: String = (0..rng.below(12)).map(|_| rng.pick(PARTS)).collect();
    s.insert_str(rng.below(2) * s.len(), rng.pick(&[",", ":", " ", "*", "/"]));
    s
}

fn random_json(rng: &mut Rng, depth: u32) -> Json {
    match rng.below(if depth >= 4 { 6 } else { 9 }) {
        0 => Json::Null,
        1 => Json::Bool(rng.below(2) == 0),
        2 => Json::Num(((rng.next() % 2_000_001) as f64) - 1_000_000.0),
        3 => Json::Raw(["1.5", "-0.25", "1e300", "12345678901234567890"][rng.below(4)].to_owned()),
        4 => Json::Str(random_string(rng)),
        5 => Json::Str(random_string(rng)),
        6 | 7 => {
            let mut obj = JsonObject::default();
            for _ in 0..rng.below(6) {
                let key = rng.pick(KEYS);
                let value =
                    if WORD_KEYS.contains(&key) && rng.below(2) == 0 { Json::str(rng.pick(WORDS)) } else { random_json(rng, depth + 1) };
                obj.set(key, value);
            }
            Json::Obj(obj)
        }
        _ => Json::Arr((0..rng.below(5)).map(|_| random_json(rng, depth + 1)).collect()),
    }
}

fn obj(pairs: &[(&str, Json)]) -> JsonObject {
    let mut o = JsonObject::default();
    for (k, v) in pairs {
        o.set(k, v.clone());
    }
    o
}

/// Replaces `key` in `o` with a value that breaks it: removed, wrong type, or a bad id.
fn break_field(rng: &mut Rng, o: &mut JsonObject, key: &str, is_id: bool) {
    match rng.below(3) {
        0 => o.0.retain(|(k, _)| k != key),
        1 if is_id => o.set(key, bad_id(rng)),
        _ => o.set(key, [Json::Null, Json::Num(-1.0), Json::Arr(vec![]), Json::Obj(JsonObject::default())][rng.below(4)].clone()),
    }
}

/// A presence event that is broken for certain.
fn bad_presence_event(rng: &mut Rng) -> Json {
    if rng.below(3) == 0 {
        return random_json(rng, 0);
    }
    let action = rng.pick(&["join", "leave", "timeout"]);
    let mut ev = obj(&[
        ("action", Json::str(action)),
        ("uuid", Json::str("alice")),
        ("occupancy", Json::num(1)),
        ("timestamp", Json::num(T0 / 1000)),
    ]);
    if rng.below(2) == 0 {
        break_field(rng, &mut ev, "uuid", true);
    } else {
        // An interval whose every delta entry is invalid.
        ev = obj(&[("action", Json::str("interval")), ("occupancy", Json::num(3)), ("timestamp", Json::num(T0 / 1000))]);
        for list in ["join", "leave", "timeout"] {
            if rng.below(2) == 0 {
                ev.set(list, Json::Arr((0..1 + rng.below(3)).map(|_| bad_id(rng)).collect()));
            }
        }
        if ev.get("join").is_none() && ev.get("leave").is_none() {
            ev.set("join", Json::Arr(vec![bad_id(rng)]));
        }
    }
    Json::Obj(ev)
}

fn bad_work_item(rng: &mut Rng) -> Json {
    if rng.below(3) == 0 {
        return random_json(rng, 0);
    }
    let observation = Json::Obj(obj(&[("u", Json::str("alice")), ("o", Json::Bool(true)), ("t", Json::num(T0))]));
    let mut item = obj(&[
        ("type", Json::str("presence.work")),
        ("hop", Json::num(1)),
        ("shard", Json::num(3)),
        ("observations", Json::Arr(vec![observation])),
    ]);
    match rng.below(4) {
        0 => break_field(rng, &mut item, "type", false),
        1 => item.set("hop", Json::num(3 + rng.below(5) as u64)),
        2 => break_field(rng, &mut item, "shard", false),
        _ => {
            let mut o = obj(&[("u", Json::str("alice")), ("o", Json::Bool(true)), ("t", Json::num(T0))]);
            let key = rng.pick(&["u", "o", "t"]);
            break_field(rng, &mut o, key, key == "u");
            item.set("observations", Json::Arr(vec![Json::Obj(o)]));
        }
    }
    Json::Obj(item)
}

/// A shard reconciliation step that is broken for certain.
fn bad_scan_item(rng: &mut Rng) -> Json {
    if rng.below(3) == 0 {
        return random_json(rng, 0);
    }
    let mut scan = obj(&[("s", Json::num(3)), ("a", Json::str("alice"))]);
    let mut item = obj(&[("type", Json::str("reconcile.work")), ("hop", Json::num(1))]);
    match rng.below(5) {
        0 => break_field(rng, &mut item, "type", false),
        1 => item.set("hop", Json::num(3 + rng.below(5) as u64)),
        2 => break_field(rng, &mut scan, "s", false),
        3 => scan.set("a", bad_id(rng)),
        // Both a scan and a job, or neither.
        _ => item.set("job", if rng.below(2) == 0 { Json::num(1) } else { Json::Null }),
    }
    if !(item.get("job") == Some(&Json::Null)) {
        item.set("scan", Json::Obj(scan));
    }
    Json::Obj(item)
}

/// A recount item that is broken for certain.
fn bad_recount_item(rng: &mut Rng) -> Json {
    if rng.below(3) == 0 {
        return random_json(rng, 0);
    }
    let mut item = obj(&[("type", Json::str("recount.work")), ("hop", Json::num(1)), ("jobs", Json::Arr(vec![Json::num(1)]))]);
    match rng.below(3) {
        0 => break_field(rng, &mut item, "type", false),
        1 => item.set("hop", Json::num(3 + rng.below(5) as u64)),
        _ => item.set(
            "jobs",
            [
                Json::Arr(vec![]),
                Json::Arr((1..=5).map(Json::num).collect()),
                Json::Arr(vec![Json::str("x")]),
                Json::Null,
                random_json(rng, 2),
            ][rng.below(5)]
            .clone(),
        ),
    }
    Json::Obj(item)
}

/// A friend command that is broken for certain, and the channel and publisher it arrives with.
fn bad_command(rng: &mut Rng, requests: bool) -> (String, Option<String>, Json) {
    let (prefix, kinds): (&str, &[&str]) = if requests {
        ("friend-requests.", &["friend.request", "friend.request.accepted", "friend.request.declined"])
    } else {
        ("friend-management.", &["friend.remove", "friends.sync.request"])
    };
    let kind = rng.pick(kinds);
    let publisher = if kind.ends_with("accepted") || kind.ends_with("declined") { "bob" } else { "alice" };
    let mut payload = obj(&[("userA", Json::str("alice")), ("userB", Json::str("bob"))]);
    let mut msg = obj(&[
        ("type", Json::str(kind)),
        ("schemaVersion", Json::str("1.0.0")),
        ("eventId", Json::str("evt_1")),
        ("ts", Json::str("2026-01-01T00:00:00.000Z")),
    ]);
    let mut channel = format!("{prefix}{publisher}");
    let mut who = Some(publisher.to_owned());
    match rng.below(8) {
        0 => return (channel, who, random_json(rng, 0)),
        1 => {
            let key = rng.pick(&["userA", "userB"]);
            break_field(rng, &mut payload, key, true)
        }
        2 => {
            let key = rng.pick(&["type", "schemaVersion", "eventId"]);
            break_field(rng, &mut msg, key, false)
        }
        3 => msg.set("schemaVersion", Json::str("2.0.0")),
        4 => who = if rng.below(2) == 0 { None } else { Some("mallory".into()) },
        5 => channel = format!("{prefix}{}", random_string(rng)),
        6 => msg.set("eventId", Json::str(["", "a:b", &"e".repeat(129)][rng.below(3)])),
        _ if kind == "friends.sync.request" => payload.set("page", Json::str(["x:1", "o:has space", "o", ""][rng.below(4)])),
        _ => payload.set("userB", Json::str("alice")), // the same user twice
    }
    msg.set("payload", Json::Obj(payload));
    // A sync request carries no userB; a page cursor that survived unbroken must still fail.
    if kind == "friends.sync.request" {
        if let Some(Json::Obj(p)) = msg.get("payload").cloned() {
            let broken = p.get("page").is_some() || !matches!(p.get("userA"), Some(Json::Str(s)) if s == "alice");
            let rest_ok = who.as_deref() == Some("alice")
                && channel == "friend-management.alice"
                && msg.str("type") == Some(kind)
                && msg.str("schemaVersion") == Some("1.0.0")
                && msg.str("eventId") == Some("evt_1");
            if !broken && rest_ok {
                who = Some("mallory".into());
            }
        }
    }
    (channel, who, Json::Obj(msg))
}

fn world() -> FakeHost {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("alice", "Alice");
    host.add_user("bob", "Bob");
    host
}

fn assert_refused(host: &FakeHost, before: &str, report: &Report, input: &Json, case: usize) {
    assert_eq!(host.snapshot_without_answers(), before, "case {case}: state changed on {input:?}\n{report:?}");
    // A refused friend command is answered (ok: false) on its publisher's inbox, and that is all.
    for (channel, m) in host.take_published() {
        assert!(channel.starts_with("inbox.") && m["type"] == "friend.command.result" && m["payload"]["ok"] == false, "case {case}: {m}");
    }
    let reason = report.rejected.is_some() || report.lines.iter().any(|(l, t)| *l != Level::Info || t.starts_with("ignored"));
    assert!(reason, "case {case}: no logged reason for {input:?}\n{report:?}");
}

#[test]
fn a_hundred_thousand_malformed_inputs_are_refused_with_a_reason_and_change_nothing() {
    let cfg = Config::default();
    let host = world();
    let before = host.snapshot_without_answers();
    let mut rng = Rng(0x5eed_f00d_dead_beef);
    for case in 0..CASES_PER_HANDLER {
        let event = bad_presence_event(&mut rng);
        let channel = if rng.below(10) == 0 { random_string(&mut rng) } else { "presence.shard-3".to_owned() };
        let r = block_on(ph::after_presence(&host.execution(), &cfg, &channel, &event, T0));
        assert_refused(&host, &before, &r, &event, case);

        let item = bad_work_item(&mut rng);
        let r = block_on(ph::presence_worker(&host.execution(), &cfg, &item, T0));
        assert_refused(&host, &before, &r, &item, case);

        let (channel, who, msg) = bad_command(&mut rng, true);
        let r = block_on(fh::friend_requests(&host.execution(), &cfg, &channel, who.as_deref(), &msg, T0));
        assert_refused(&host, &before, &r, &msg, case);

        let (channel, who, msg) = bad_command(&mut rng, false);
        let r = block_on(fh::friend_management(&host.execution(), &cfg, &channel, who.as_deref(), &msg, T0));
        assert_refused(&host, &before, &r, &msg, case);

        let item = bad_scan_item(&mut rng);
        let r = block_on(reconcile::reconcile_worker(&host.execution(), &cfg, &item, T0));
        assert_refused(&host, &before, &r, &item, case);

        let item = bad_recount_item(&mut rng);
        let r = block_on(recount::recount_worker(&host.execution(), &item));
        assert_refused(&host, &before, &r, &item, case);
    }
    host.assert_within_budget();
}
